"""The generic 3GPP TS 27.007 / 27.005 modem driver, and the data every module file fills in.

One engine, per-module tables (STYLE.md: Zephyr ``modem_cellular``). :class:`Modem`
drives any module through the standard commands: init (``AT``, ``ATE0``,
``AT+CMEE=1``, ``AT+CFUN``, ``AT+CPIN?``), identity, ``+CEREG`` registration with the
PSM timers the network granted, ``+COPS``, ``+CGDCONT``, ``+CGATT``, ``+CSQ`` /
``+CESQ``, ``+CCLK``, ``+CPSMS`` / ``+CEDRXS``, NIDD (``+CSODCP`` / ``+CRTDCP``) and
SMS in PDU mode (``+CMGS``, ``+CMT`` / ``+CMTI``). What a module says differently
lives in its :class:`ModemProfile` (command names, URC texts, timeouts, quirks,
capabilities); what a table cannot say (the socket command set) is a few method
overrides in its own file (``bc95.py``, ``bg96.py``, ``sim7020.py``,
``sim7080.py``, ``sara_r4.py``), which registers its class in :data:`MODEM_CLASSES`.
A new module is a new file, never an ``if model ==`` branch (DESIGN.md rule 3).

Sockets have one API for every family: :meth:`Modem.open_udp` returns a socket
handle, :meth:`Modem.send_to` sends a datagram (with a release assistance
indication where the module has one), received datagrams land in
:meth:`Modem.receive_queue` as :class:`Datagram` (the driver answers the module's
"data arrived" URC with its read command in a task of its own, never in the AT
reader), :meth:`Modem.close_socket` closes.

References in comments are to shared/reference/modems-at-commands.md ("ref §").
This module imports nothing above the platform layer (DESIGN.md rule 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import ipaddress
import itertools
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from types import MappingProxyType, TracebackType
from typing import Any, Literal, NamedTuple, NoReturn, TypeVar

from m2mclient.errors import M2MError
from m2mclient.platform.at import (
    CTRL_Z,
    AtCommandError,
    AtEngine,
    AtError,
    AtProtocolError,
    AtResponse,
    AtTimeoutError,
    Subscription,
    Urc,
    parse_fields,
    unquote,
)
from m2mclient.platform.links import LinkClosedError, LinkError, PayloadTooLargeError
from m2mclient.platform.power import (
    EdrxGrant,
    EdrxValue,
    PowerValueError,
    PsmGrant,
    Rat,
    TimerValue,
    cedrxs_command,
    cpsms_command,
    encode_edrx,
    encode_ptw,
    encode_t3324,
    encode_t3412,
    parse_cedrx,
    parse_duration,
)
from m2mclient.platform.sms_pdu import (
    DeliverPdu,
    Reassembler,
    SmsMessage,
    SmsPduError,
    SubmitPdu,
    decode,
)

__all__ = [
    "GENERIC_PROFILE",
    "MODEM_CLASSES",
    "Capabilities",
    "Datagram",
    "EdrxRequest",
    "Modem",
    "ModemCapabilityError",
    "ModemError",
    "ModemIdentity",
    "ModemProfile",
    "ModemSocketClosedError",
    "ModemSocketError",
    "Operator",
    "PdpContext",
    "PowerEvent",
    "PsmRequest",
    "Rai",
    "Registration",
    "RegistrationStatus",
    "Signal",
    "SimError",
    "SimPinRequiredError",
    "Timeouts",
    "cesq_rsrp_to_dbm",
    "cesq_rsrq_to_db",
    "csq_to_dbm",
    "parse_cclk",
    "parse_cereg",
    "register_modem",
    "sync_at",
]

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound="Modem")
_C = TypeVar("_C")

Hook = Callable[[], "Awaitable[object] | object"]
"""A pin action the driver calls: raise DTR before sleep, pulse PSM_EINT / lower DTR to wake.

Plain or async: a gpiozero pin's ``on`` / ``off``, ``lambda: power_key.pulse(1.0)``
(:class:`~m2mclient.platform.gpio.PowerKey`), the emulator's ``wake`` or
``lambda: emu.set_dtr(True)`` (a pty has no modem lines).
"""


# --------------------------------------------------------------------------- errors


class ModemError(M2MError):
    """The module cannot do what was asked right now (not registered, timed out, refused)."""


class SimError(ModemError):
    """The SIM is absent, locked or broken; ``state`` is the ``+CPIN`` text or the CME meaning."""

    def __init__(self, message: str, *, state: str):
        self.state = state
        super().__init__(message)


class SimPinRequiredError(SimError):
    """The SIM waits for its PIN: pass ``pin=`` to :meth:`Modem.init` or call :meth:`Modem.unlock_sim`."""


class ModemCapabilityError(ModemError):
    """The module (or its driver) has no way to do this: a socket type, RAI, PTW, NIDD or SMS."""


class ModemSocketError(ModemError, LinkError):
    """A modem socket could not be opened, written or read."""


class ModemSocketClosedError(ModemSocketError, LinkClosedError):
    """The modem socket is closed (by us, by the peer, or because the module dropped it)."""


# --------------------------------------------------------------------------- data


class RegistrationStatus(IntEnum):
    """``<stat>`` of ``+CEREG`` (TS 27.007 §10.1.22; ref §3.1). 90 is Nordic's UICC failure."""

    NOT_REGISTERED = 0
    REGISTERED_HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    REGISTERED_ROAMING = 5
    REGISTERED_SMS_ONLY_HOME = 6
    REGISTERED_SMS_ONLY_ROAMING = 7
    EMERGENCY_ONLY = 8
    REGISTERED_CSFB_NOT_PREFERRED_HOME = 9
    REGISTERED_CSFB_NOT_PREFERRED_ROAMING = 10
    TEMPORARY_CONNECTION_LOST = 80
    UICC_FAILURE = 90

    @property
    def registered(self) -> bool:
        """True when the module is registered for EPS (packet data), at home or roaming."""
        return self in _REGISTERED


_REGISTERED = frozenset(
    {
        RegistrationStatus.REGISTERED_HOME,
        RegistrationStatus.REGISTERED_ROAMING,
        RegistrationStatus.REGISTERED_CSFB_NOT_PREFERRED_HOME,
        RegistrationStatus.REGISTERED_CSFB_NOT_PREFERRED_ROAMING,
    }
)


@dataclass(frozen=True)
class Registration:
    """Where the module is registered, from ``+CEREG`` (read answer or URC).

    ``tac`` (2-byte hex) and ``ci`` (4-byte hex) are strings as reported; ``act`` is
    ``<AcT>`` (7 E-UTRAN / Cat-M, 9 NB-S1; ref §3.1). ``psm`` is what the network
    granted (``+CEREG`` mode 4/5 only; ``None`` when the line carries no timers).
    """

    stat: RegistrationStatus
    tac: str | None = None
    ci: str | None = None
    act: int | None = None
    psm: PsmGrant | None = None
    cause_type: int | None = None
    reject_cause: int | None = None

    @property
    def registered(self) -> bool:
        """True when registered at home or roaming."""
        return self.stat.registered

    @property
    def rat(self) -> Rat | None:
        """LTE-M or NB-IoT from ``act``; ``None`` when unknown or neither."""
        if self.act is None:
            return None
        try:
            return Rat.from_cereg_act(self.act)
        except PowerValueError:
            return None


@dataclass(frozen=True)
class ModemIdentity:
    """Who the module and its SIM are."""

    manufacturer: str
    model: str
    firmware: str
    imei: str
    imsi: str | None
    iccid: str | None


@dataclass(frozen=True)
class Operator:
    """``+COPS?``: selection mode (0 automatic, 1 manual, 2 deregistered), the name in ``format``
    (0 long, 1 short, 2 numeric PLMN), and ``<AcT>`` (ref §3.2). ``name`` is None while unregistered.
    """

    mode: int
    format: int | None = None
    name: str | None = None
    act: int | None = None


@dataclass(frozen=True)
class PdpContext:
    """One ``+CGDCONT`` context: id, PDP type (``IP``, ``IPV6``, ``IPV4V6``, ``Non-IP``) and APN."""

    cid: int
    pdp_type: str
    apn: str


@dataclass(frozen=True)
class Signal:
    """Signal quality in physical units (ref §3.3); ``None`` = the module does not know (99 / 255).

    ``rssi_dbm`` and ``ber`` (RXQUAL 0..7) from ``+CSQ``; ``rsrp_dbm`` and ``rsrq_db``
    from ``+CESQ`` when the module has it. ``csq`` / ``cesq`` keep the raw indices.
    """

    rssi_dbm: int | None
    ber: int | None
    rsrp_dbm: int | None = None
    rsrq_db: float | None = None
    csq: tuple[int, int] | None = None
    cesq: tuple[int, ...] | None = None


class Datagram(NamedTuple):
    """What a socket received: the bytes and who sent them (for TCP: the connected peer)."""

    data: bytes
    host: str
    port: int


class Rai(IntEnum):
    """Release Assistance Indication, numbered as ``AT+CSODCP`` ``<RAI>`` (ref §4.6, §6)."""

    NONE = 0
    """No information."""
    LAST_UPLINK = 1
    """No further uplink or downlink expected after this one: release the connection now."""
    AFTER_REPLY = 2
    """Exactly one downlink (the reply) expected: release after it."""


class PowerEvent(Enum):
    """What the module said about its power state (URCs, ref §4.7, §3.2 ``+CSCON``)."""

    PSM_ENTERED = "psm_entered"
    PSM_EXITED = "psm_exited"
    SLEEPING = "sleeping"
    """The module's UART / core went to sleep (BC66 ``+QATSLEEP``)."""
    AWAKE = "awake"
    """The module woke or restarted (``RDY``, BC66 ``+QATWAKEUP`` or its boot ROM text)."""
    RRC_CONNECTED = "rrc_connected"
    RRC_IDLE = "rrc_idle"


@dataclass(frozen=True)
class PsmRequest:
    """The timers :meth:`Modem.set_psm` asked for, as coded (``exact`` False when rounded)."""

    tau: TimerValue | None
    active_time: TimerValue | None


@dataclass(frozen=True)
class EdrxRequest:
    """The eDRX cycle (and PTW, where settable) :meth:`Modem.set_edrx` asked for on ``rat``."""

    rat: Rat
    cycle: EdrxValue
    ptw: EdrxValue | None = None


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Capabilities:
    """What a module (and its driver) can do. ``rai`` is per-datagram RAI on *sockets*;
    NIDD carries RAI in ``AT+CSODCP`` wherever ``nidd`` is set (ref §4.6)."""

    udp: bool = False
    tcp: bool = False
    nidd: bool = False
    sms: bool = False
    rai: bool = False
    psm: bool = True  # AT+CPSMS
    edrx: bool = True  # AT+CEDRXS / AT+CEDRXRDP
    cesq: bool = True  # AT+CESQ next to AT+CSQ
    cscon: bool = True  # AT+CSCON=1 RRC state URCs


@dataclass(frozen=True)
class Timeouts:
    """Seconds per operation; defaults from real drivers (ref §1.5)."""

    command: float = 5.0  # the AT engine's default (open_modem passes it)
    sync_probe: float = 0.5  # Zephyr's SIM7080 autobaud: AT with 500 ms timeout, 5 tries (ref §2.2)
    sync_attempts: int = 5
    cfun: float = 30.0
    sim_ready_attempts: int = 5  # CME 14 "SIM busy" right after boot [M-DEV]
    sim_retry_delay: float = 1.0
    registration: float = 180.0  # Zephyr BG9X / SIM7080 (ref §1.5)
    attach: float = 180.0
    pdp_activate: float = 150.0
    socket_open: float = 150.0  # BG96 QIOPEN (ref §1.5)
    socket_close: float = 20.0  # mbed BG96 close
    send: float = 10.0
    prompt: float = 5.0  # BG96 QISEND prompt (Zephyr)
    sms_prompt: float = 3.0  # python-gsmmodem (ref §1.5)
    sms_send: float = 15.0


@dataclass(frozen=True)
class ModemProfile:
    """One module described as data: what :class:`Modem` needs to know that 27.007 does not say.

    Command templates are ``str.format`` strings. ``power_urcs`` maps a URC's text
    (spaces after the colon do not matter; a line that continues with ``,...`` also
    matches) to the :class:`PowerEvent` it means.
    """

    name: str
    title: str
    #: Regular expressions over the ``ATI`` / ``AT+CGMM`` / ``AT+CGMI`` text that pick this module.
    detect: tuple[str, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: Sent after the generic init; a failure fails init.
    init_commands: tuple[str, ...] = ()
    #: Sent after the generic init; a failure is logged and ignored (nice-to-have URCs).
    optional_init_commands: tuple[str, ...] = ()
    imei_command: str = "AT+CGSN"
    iccid_command: str | None = "AT+CCID"
    #: The ICCID answer's prefix; None when the module answers a bare line.
    iccid_prefix: str | None = "+CCID"
    #: How to set an APN; fields ``{cid}``, ``{pdp_type}``, ``{apn}``.
    apn_commands: tuple[str, ...] = ('AT+CGDCONT={cid},"{pdp_type}","{apn}"',)
    #: The PDP type NIDD uses in ``+CGDCONT`` (BC95 lists ``NONIP``, ref §3.2, §6).
    non_ip_pdp_type: str = "Non-IP"
    #: The command turning PSM / sleep URCs on.
    psm_urc_command: str | None = None
    power_urcs: Mapping[str, PowerEvent] = field(default_factory=lambda: MappingProxyType({}))
    #: Lets the UART sleep (with DTR high where the module wants it); None: the module sleeps in PSM by itself.
    sleep_command: str | None = None
    sleep_disable_command: str | None = None
    #: A character on the UART wakes the module, and is lost (BC95 / SARA-N2, SIMCom CSCLK=2; ref §4.7).
    wake_by_uart: bool = False
    #: Sets the eDRX paging time window; fields ``{rat}``, ``{ptw}``, ``{cycle}``. None: no verified command.
    edrx_ptw_command: str | None = None
    #: Vendor ``+CME ERROR`` codes for the AT engine (BC95: 159 uplink busy, ref §1.2).
    cme_meanings: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Largest datagram one send command takes.
    max_datagram: int = 512
    max_nidd: int = 512  # u-blox +CSODCP=? says 512 (ref §6)
    #: Socket ids the driver may choose, for modules where the host picks them (BG96, SIM7080).
    socket_ids: range = range(7)

    def matches(self, text: str) -> bool:
        """Whether ``text`` (identification answers) names this module."""
        return any(re.search(pattern, text, re.IGNORECASE) for pattern in self.detect)


GENERIC_PROFILE = ModemProfile(
    name="generic",
    title="any 3GPP TS 27.007 module (registration, power, SMS, NIDD; no sockets)",
    capabilities=Capabilities(sms=True, nidd=True),
)

#: Every driver by name (and alias): what :func:`~m2mclient.platform.modems.detect.open_modem` chooses from.
MODEM_CLASSES: dict[str, type[Modem]] = {}


def register_modem(*aliases: str) -> Callable[[type[_M]], type[_M]]:
    """Class decorator: put a driver in :data:`MODEM_CLASSES` under its profile name and ``aliases``."""

    def register(cls: type[_M]) -> type[_M]:
        for name in (cls.profile.name, *aliases):
            known = MODEM_CLASSES.get(name)
            if known is not None and known is not cls:
                raise ValueError(f"modem name {name!r} is taken by {known.__name__}")
            MODEM_CLASSES[name] = cls
        return cls

    return register


# --------------------------------------------------------------------------- parsing (sans-IO)


def csq_to_dbm(rssi: int) -> int | None:
    """``+CSQ`` ``<rssi>`` in dBm (TS 27.007 §8.5; ref §3.3): 0 = -113 or less, 2..30 = -109..-53,
    31 = -51 or more, 99 unknown (None). 100..191 are the TD-SCDMA extension (-116 .. -25 dBm)."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    if 100 <= rssi <= 191:
        return rssi - 216
    return None


def cesq_rsrp_to_dbm(rsrp: int) -> int | None:
    """``+CESQ`` ``<rsrp>`` 0..97 in dBm as ``n - 140`` (ref §3.3 [NRF-CESQ], Zephyr SARA); 255 = None."""
    return rsrp - 140 if 0 <= rsrp <= 97 else None


def cesq_rsrq_to_db(rsrq: int) -> float | None:
    """``+CESQ`` ``<rsrq>`` 0..34 in dB as ``n/2 - 19.5`` (ref §3.3 [NRF-CESQ]); 255 = None."""
    return rsrq / 2 - 19.5 if 0 <= rsrq <= 34 else None


def _int_field(value: str, what: str, line: str) -> int:
    text = unquote(value)
    try:
        return int(text)
    except ValueError:
        raise AtProtocolError(f"{what} is not a number in {line!r}") from None


def _optional_int(value: str | None) -> int | None:
    if value is None:
        return None
    text = unquote(value)
    return int(text) if text.isdigit() else None


def parse_cereg(line: str, *, read_response: bool = False) -> tuple[int | None, Registration]:
    """Parse a ``+CEREG`` URC, or the ``AT+CEREG?`` answer (which starts with ``<n>``; ref §3.1).

    Returns ``(n, registration)``; ``n`` is None for a URC. Layout (TS 27.007
    §10.1.22): ``<stat>[,<tac>,<ci>,<AcT>[,<cause_type>,<reject_cause>[,<Active-Time>,
    <Periodic-TAU>]]]``. The PSM timers are the *last two* fields, which copes with
    SIM7020's extra field after ``<AcT>`` (ref §1.4). Raises :class:`AtProtocolError`.
    """
    fields = parse_fields(line, "+CEREG")
    n: int | None = None
    if read_response:
        if not fields:
            raise AtProtocolError(f"an AT+CEREG? answer without <n>: {line!r}")
        n = _int_field(fields.pop(0), "+CEREG <n>", line)
    if not fields:
        raise AtProtocolError(f"a +CEREG line without <stat>: {line!r}")
    code = _int_field(fields[0], "+CEREG <stat>", line)
    try:
        stat = RegistrationStatus(code)
    except ValueError:
        raise AtProtocolError(f"+CEREG <stat> {code} is not in TS 27.007 §10.1.22: {line!r}") from None
    padded = [unquote(value) or None for value in fields] + [None] * 6
    psm: PsmGrant | None = None
    cause = (padded[4], padded[5])
    if len(fields) >= 8:
        cause = (padded[len(fields) - 4], padded[len(fields) - 3])
        try:
            grant = PsmGrant.from_bits(fields[-2], fields[-1])
        except PowerValueError as exc:
            raise AtProtocolError(f"bad PSM timers in {line!r}: {exc}") from None
        if grant.active_time_bits is not None or grant.tau_bits is not None:
            psm = grant
    return n, Registration(
        stat=stat,
        tac=padded[1],
        ci=padded[2],
        act=_optional_int(padded[3]),
        psm=psm,
        cause_type=_optional_int(cause[0]),
        reject_cause=_optional_int(cause[1]),
    )


_CCLK = re.compile(r"(\d{2}|\d{4})/(\d{1,2})/(\d{1,2}),(\d{1,2}):(\d{1,2}):(\d{1,2})(?:([+-])(\d{1,2}))?")


def parse_cclk(line: str) -> dt.datetime:
    """``+CCLK: "yy/MM/dd,hh:mm:ss±zz"`` as an aware datetime (TS 27.007 §8.15).

    ``zz`` is the offset of the shown local time from UTC in quarters of an hour;
    without it the time is taken as UTC. Quotes are optional (BC95 prints none).
    """
    fields = parse_fields(line, "+CCLK")
    text = ",".join(unquote(value) for value in fields)
    match = _CCLK.fullmatch(text.strip())
    if match is None:
        raise AtProtocolError(f'expected +CCLK: "yy/MM/dd,hh:mm:ss±zz", got {line!r}')
    year = int(match[1])
    year += 2000 if year < 100 else 0
    quarters = int(match[8] or 0) * (-1 if match[7] == "-" else 1)
    zone = dt.timezone(dt.timedelta(minutes=15 * quarters))
    month, day, hour, minute, second = (int(match[i]) for i in range(2, 7))
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise AtProtocolError(f"impossible time in {line!r}: {exc}") from None


def _normalise_urc(text: str) -> str:
    return re.sub(r":\s*", ":", text.strip())


def _urc_prefix(text: str) -> str:
    """The subscription prefix of a power URC: the name before the colon, or the whole text."""
    head, colon, _ = text.partition(":")
    return head if colon and head.startswith("+") else text


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _first_value(response: AtResponse) -> str:
    """The value of a one-line answer: bare (``Quectel``) or named (``+CGSN: 490...``)."""
    if not response.lines:
        raise AtProtocolError(f"{response.command!r} answered {response.final} without a value")
    return unquote(",".join(parse_fields(response.lines[0]))).strip()


_DIGITS = re.compile(r"\d{6,20}")


def _digits(response: AtResponse, what: str) -> str:
    """The first long digit run in the answer (IMEI, IMSI, ICCID), whatever prefix the module prints."""
    for line in response.lines:
        match = _DIGITS.search(line.replace('"', ""))
        if match:
            return match.group(0)
    raise AtProtocolError(f"{response.command!r} answered no {what}: {list(response.lines)}")


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


async def sync_at(at: AtEngine, *, attempts: int = 5, probe_timeout: float = 0.5) -> None:
    """Send ``AT`` until the module answers: autobaud, the echo of a module just booted, or the
    character a sleeping module swallows when it wakes (ref §1.4, §2.2 Zephyr autobaud, §4.7).

    Any final result counts (an ``ERROR`` still proves the module listens). Raises
    :class:`ModemError` with what to check when nothing answers.
    """
    last: AtError | None = None
    for _ in range(max(1, attempts)):
        try:
            await at.command("AT", timeout=probe_timeout)
            return
        except AtCommandError:
            return
        except AtTimeoutError as exc:
            last = exc
    raise ModemError(
        f"the module does not answer AT ({attempts} tries, {probe_timeout:g} s each): is it powered on "
        f"(power key), the port and baud rate right, or is it asleep without a wake line? Last: {last}"
    )


# --------------------------------------------------------------------------- socket state


@dataclass(eq=False)
class _Socket:
    """One socket handle and how it maps onto the module's socket ids."""

    handle: int
    kind: Literal["udp", "tcp"]
    module_id: int | None = None
    #: TCP, or a UDP socket the module keeps connected to one peer.
    peer: tuple[str, int] | None = None
    #: Families whose UDP sockets are connected (SIM7020, SIM7080): one module socket per peer.
    links: dict[tuple[str, int], int] = field(default_factory=dict)
    local_port: int | None = None
    queue: asyncio.Queue[Datagram] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set on every arrival and on close, for :meth:`Modem.receive_from`.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""
    #: The module closed it; set ``closed`` once what it still holds was read.
    close_pending: str | None = None
    drain: _Drain | None = None


class _Drain:
    """Runs ``job`` in a task of its own each time it is kicked; kicks during a run make one more run.

    URC callbacks run in the AT reader and must not send commands (at.py); a kick
    only sets an event, the job reads in this task. A failed run is logged and the
    data stays in the module until the next announcement (nothing is discarded).
    """

    def __init__(self, name: str, job: Callable[[], Coroutine[Any, Any, None]]):
        self._name = name
        self._job = job
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def kick(self) -> None:
        if self._stopping:
            return
        self._event.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        # The flag, not only the cancellation, ends the loop: on Python < 3.12 asyncio.wait_for
        # (used by the AT engine's writes) can swallow a cancel that lands as its inner
        # awaitable finishes (CPython gh-86296), and the task would then wait here forever.
        while True:
            await self._event.wait()
            self._event.clear()
            if self._stopping:
                return
            try:
                await self._job()
            except asyncio.CancelledError:
                raise
            except (AtError, M2MError) as exc:
                logger.warning(
                    "%s: read failed, the data stays in the module until it announces more: %s", self._name, exc
                )

    async def cancel(self) -> None:
        """Stop for good; returns once the task ended. The caller's own cancellation still propagates."""
        self._stopping = True
        self._event.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # unlike "await task", never mistakes its CancelledError for ours


# --------------------------------------------------------------------------- the driver


class Modem:
    """The generic 27.007 driver over one :class:`~m2mclient.platform.at.AtEngine`.

    ``profile`` replaces the class's :attr:`profile` (e.g. shorter timeouts via
    ``dataclasses.replace``). ``on_sleep`` / ``on_wake`` drive the module's lines
    (:data:`Hook`): DTR high after the sleep command, PSM_EINT pulse or DTR low to
    wake. ``owns_engine`` makes :meth:`close` close the engine too (set by
    :func:`~m2mclient.platform.modems.detect.open_modem`). Call :meth:`init` first.
    """

    #: The module description; module files set their own, an instance may get a replacement.
    profile: ModemProfile = GENERIC_PROFILE

    def __init__(
        self,
        at: AtEngine,
        *,
        profile: ModemProfile | None = None,
        on_sleep: Hook | None = None,
        on_wake: Hook | None = None,
        owns_engine: bool = False,
    ):
        """Attach to ``at`` and subscribe to the module's URCs; nothing is sent until :meth:`init`."""
        self.at = at
        self.profile = profile if profile is not None else type(self).profile
        self.on_sleep = on_sleep
        self.on_wake = on_wake
        self._owns_engine = owns_engine
        self.nidd_cid = 1
        self.cereg_mode: int | None = None
        self._registration_callbacks: list[Callable[[Registration], None]] = []
        self._power_callbacks: list[Callable[[PowerEvent], None]] = []
        self._edrx_callbacks: list[Callable[[EdrxGrant], None]] = []
        self._last_registration: Registration | None = None
        self._subscriptions: list[Subscription] = []
        self._sockets: dict[int, _Socket] = {}
        # Sockets the module closed (peer hung up) whose received data was not read yet.
        self._retired: dict[int, _Socket] = {}
        self._drains: set[_Drain] = set()
        self._by_module_id: dict[int, tuple[_Socket, tuple[str, int] | None]] = {}
        self._handles = itertools.count()
        #: Complete SMS messages (concatenated parts joined), after :meth:`enable_sms`.
        self.sms_queue: asyncio.Queue[SmsMessage] = asyncio.Queue()
        #: NIDD downlink payloads, after :meth:`enable_nidd`.
        self.nidd_queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._reassembler = Reassembler()
        self._sms_indexes: deque[int] = deque()
        self._sms_drain = _Drain(f"{self.profile.name} SMS reader", self._read_stored_sms)
        self._sms_mode_set = False
        self._power_urcs = {_normalise_urc(text): event for text, event in self.profile.power_urcs.items()}
        self._subscribe_urcs()

    # ----------------------------------------------------------------- lifecycle

    async def init(self, *, pin: str | None = None) -> None:
        """Bring the module to a known state (ref §2.1 generic init, mbed / python-gsmmodem):

        ``AT`` until it answers, ``ATE0``, ``AT+CMEE=1``, ``AT+CFUN=1`` unless already
        on, ``AT+CPIN?`` (unlocking with ``pin`` if the SIM asks), the profile's init
        commands, ``+CEREG`` reports in mode 4 (2 where the module refuses 4), RRC and
        PSM URCs. Raises :class:`SimError` / :class:`SimPinRequiredError` for SIM
        trouble, :class:`ModemError` when the module does not answer.
        """
        timeouts = self.profile.timeouts
        await sync_at(self.at, attempts=timeouts.sync_attempts, probe_timeout=timeouts.sync_probe)
        # mbed retries E0 / CMEE / CFUN up to 3 times (ref §2.1): a module just booted may
        # still answer ERROR to the first ones.
        await self._retry("ATE0")
        await self._retry("AT+CMEE=1")
        await self._full_functionality()
        await self._check_sim(pin)
        for command in self.profile.init_commands:
            await self.at.command(command)
        await self._enable_cereg()
        if self.profile.capabilities.cscon:
            await self._optional("AT+CSCON=1")
        optional = list(self.profile.optional_init_commands)
        if self.profile.psm_urc_command:
            optional.append(self.profile.psm_urc_command)
        for command in optional:
            await self._optional(command)

    async def close(self) -> None:
        """Close the open sockets (best effort), stop the readers, drop the URC subscriptions,
        and close the engine if owned. Idempotent."""
        sockets = [*self._sockets.values(), *self._retired.values()]
        for sock in sockets:
            self._forget(sock, "the modem driver was closed")
        self._retired.clear()
        for drain in list(self._drains):
            await drain.cancel()
        self._drains.clear()
        for sock in sockets:
            if not self.at.closed:
                try:
                    await self._close(sock)
                except AtError as exc:  # the module may be off or asleep: its sockets die with it
                    logger.debug("%s: socket %d not closed on the module: %s", self.profile.name, sock.handle, exc)
        await self._sms_drain.cancel()
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        if self._owns_engine:
            await self.at.close()

    async def __aenter__(self) -> Modem:
        """``async with await open_modem(...) as modem:`` closes it on the way out."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the driver."""
        await self.close()

    def __repr__(self) -> str:
        """Model and engine, for logs."""
        return f"<{type(self).__name__} {self.profile.name} on {self.at!r}>"

    async def _retry(self, command: str, attempts: int = 3) -> AtResponse:
        for attempt in range(attempts):
            try:
                return await self.at.command(command)
            except AtCommandError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _optional(self, command: str) -> bool:
        try:
            await self.at.command(command)
        except AtCommandError as exc:
            logger.info("%s: optional %r refused, carrying on without it: %s", self.profile.name, command, exc)
            return False
        return True

    async def _full_functionality(self) -> None:
        response = await self.at.command("AT+CFUN?", prefix="+CFUN")
        if _int_field(response.fields()[0], "+CFUN", response.line()) != 1:
            await self.at.command("AT+CFUN=1", timeout=self.profile.timeouts.cfun)

    async def _check_sim(self, pin: str | None) -> None:
        timeouts = self.profile.timeouts
        for _ in range(max(1, timeouts.sim_ready_attempts)):
            state = await self._sim_state()
            if state == "READY":
                return
            if state == "SIM PIN" and pin is not None:
                await self.unlock_sim(pin)
                continue
            if state not in ("NOT READY", "SIM BUSY"):
                break
            await asyncio.sleep(timeouts.sim_retry_delay)  # the SIM is still starting (CME 14 [M-DEV])
        raise _sim_error(state)

    async def _sim_state(self) -> str:
        try:
            response = await self.at.command("AT+CPIN?", prefix="+CPIN")
        except AtCommandError as exc:
            if exc.kind == "CME" and exc.code == 14:
                return "SIM BUSY"
            if exc.kind == "CME" and exc.code in (10, 13, 15):
                raise SimError(
                    f"SIM problem: {exc.meaning} (+CME ERROR: {exc.code}): power the module off, "
                    "insert or reseat the SIM, power it on",
                    state=exc.meaning or str(exc.code),
                ) from exc
            raise
        return unquote(response.fields()[0]).upper().replace("_", "-")

    async def unlock_sim(self, pin: str) -> None:
        """``AT+CPIN="<pin>"``. A wrong PIN raises :class:`SimError` (three wrong ones block the SIM)."""
        try:
            await self.at.command(f'AT+CPIN="{pin}"', timeout=self.profile.timeouts.cfun)
        except AtCommandError as exc:
            raise SimError(
                f"the SIM refused the PIN ({exc.final}); after three wrong PINs it needs its PUK", state="SIM PIN"
            ) from exc

    async def _enable_cereg(self) -> None:
        # Mode 4 reports the PSM timers the network granted; modules without it take 2 (ref §3.1).
        for mode in (4, 2):
            try:
                await self.at.command(f"AT+CEREG={mode}")
            except AtCommandError:
                continue
            self.cereg_mode = mode
            return
        raise ModemError(f"{self.profile.name} accepts neither AT+CEREG=4 nor AT+CEREG=2")

    # ----------------------------------------------------------------- URCs

    def _subscribe(self, prefix: str, callback: Callable[[Urc], None], **options: Any) -> None:
        self._subscriptions.append(self.at.subscribe(prefix, callback, **options))

    def _subscribe_urcs(self) -> None:
        """Subscribe to the URCs this driver handles; subclasses add their socket URCs."""
        self._subscribe("+CEREG", self._on_cereg)
        self._subscribe("+CSCON", self._on_cscon)
        self._subscribe("+CEDRXP", self._on_cedrxp)
        self._subscribe("+CRTDCP", self._on_crtdcp)
        self._subscribe("+CMTI", self._on_cmti)
        self._subscribe("+CMT", self._on_cmt, extra_lines=1)
        for prefix in {_urc_prefix(text) for text in self.profile.power_urcs}:
            self._subscribe(prefix, self._on_power_urc)

    def _on_cereg(self, urc: Urc) -> None:
        try:
            _, registration = parse_cereg(urc.line)
        except AtError as exc:
            logger.warning("%s: unreadable +CEREG URC ignored: %s", self.profile.name, exc)
            return
        self._last_registration = registration
        for callback in list(self._registration_callbacks):
            callback(registration)

    def _on_cscon(self, urc: Urc) -> None:
        fields = urc.fields()
        if len(fields) == 1:  # a URC has only <mode>; the read answer "<n>,<mode>" is not ours
            self._emit_power(PowerEvent.RRC_CONNECTED if unquote(fields[0]) == "1" else PowerEvent.RRC_IDLE)

    def _on_cedrxp(self, urc: Urc) -> None:
        try:
            grant = parse_cedrx(urc.line)
        except PowerValueError as exc:
            logger.warning("%s: unreadable +CEDRXP URC ignored: %s", self.profile.name, exc)
            return
        for callback in list(self._edrx_callbacks):
            callback(grant)

    def _on_power_urc(self, urc: Urc) -> None:
        text = _normalise_urc(urc.line)
        for known, event in self._power_urcs.items():
            if text == known or text.startswith(known + ","):
                self._emit_power(event)
                return

    def _emit_power(self, event: PowerEvent) -> None:
        for callback in list(self._power_callbacks):
            callback(event)

    def subscribe_registration(self, callback: Callable[[Registration], None]) -> Callable[[], None]:
        """Call ``callback(registration)`` on every ``+CEREG`` URC; returns the unsubscribe function.

        Callbacks run in the AT reader: keep them short, start a task for AT work.
        """
        return _add(self._registration_callbacks, callback)

    def subscribe_power(self, callback: Callable[[PowerEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for PSM entry/exit, sleep/wake and RRC state URCs; returns the unsubscribe."""
        return _add(self._power_callbacks, callback)

    def subscribe_edrx(self, callback: Callable[[EdrxGrant], None]) -> Callable[[], None]:
        """Call ``callback(grant)`` for each ``+CEDRXP`` URC (after :meth:`set_edrx`); returns the unsubscribe."""
        return _add(self._edrx_callbacks, callback)

    # ----------------------------------------------------------------- identity, network

    async def identity(self) -> ModemIdentity:
        """Manufacturer, model, firmware (``+CGMI/CGMM/CGMR``), IMEI, IMSI and ICCID.

        IMSI and ICCID are None when the SIM does not give them (locked, absent).
        """
        manufacturer = _first_value(await self.at.command("AT+CGMI"))
        model = _first_value(await self.at.command("AT+CGMM"))
        firmware = re.sub(r"^Revision:\s*", "", _first_value(await self.at.command("AT+CGMR")), flags=re.I)
        imei = _digits(await self.at.command(self.profile.imei_command), "IMEI")
        imsi: str | None = None
        iccid: str | None = None
        with contextlib.suppress(AtCommandError):
            imsi = _digits(await self.at.command("AT+CIMI"), "IMSI")
        if self.profile.iccid_command is not None:
            with contextlib.suppress(AtCommandError):
                iccid = await self._iccid()
        return ModemIdentity(manufacturer, model, firmware, imei, imsi, iccid)

    async def _iccid(self) -> str:
        assert self.profile.iccid_command is not None
        response = await self.at.command(self.profile.iccid_command, prefix=self.profile.iccid_prefix)
        # ICCIDs may end in F padding or a letter check digit; keep the text, not only digits.
        value = _first_value(response)
        if not re.fullmatch(r"[0-9A-Fa-f]{10,22}", value):
            raise AtProtocolError(f"{self.profile.iccid_command!r} answered no ICCID: {list(response.lines)}")
        return value

    async def registration(self) -> Registration:
        """``AT+CEREG?``: the registration state and, in mode 4, the PSM timers granted (ref §3.1)."""
        # A read answer always starts "<n>,<stat>"; a +CEREG URC never does, so one arriving
        # in the middle goes to the subscribers instead of into the answer (at.py rule 1).
        response = await self.at.command("AT+CEREG?", prefix="+CEREG", expect=r"\+CEREG: ?\d+,\d+")
        _, registration = parse_cereg(response.line(), read_response=True)
        self._last_registration = registration
        return registration

    async def wait_registered(self, timeout: float | None = None) -> Registration:
        """Wait until registered (home or roaming), default up to the profile's 180 s (ref §1.5)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Registration] = loop.create_future()

        def on_registration(registration: Registration) -> None:
            if registration.registered and not done.done():
                done.set_result(registration)

        unsubscribe = self.subscribe_registration(on_registration)
        try:
            current = await self.registration()
            if current.registered:
                return current
            limit = self.profile.timeouts.registration if timeout is None else timeout
            try:
                return await asyncio.wait_for(done, limit)
            except asyncio.TimeoutError:
                last = self._last_registration or current
                raise ModemError(
                    f"not registered after {limit:g} s (last +CEREG stat: {last.stat.name}"
                    + (f", reject cause {last.reject_cause}" if last.reject_cause is not None else "")
                    + "): check antenna, coverage, bands, the SIM's plan and AT+COPS"
                ) from None
        finally:
            unsubscribe()

    async def operator(self) -> Operator:
        """``AT+COPS?`` -> mode, format, operator name/PLMN and AcT (ref §3.2)."""
        response = await self.at.command("AT+COPS?", prefix="+COPS")
        fields = response.fields()
        line = response.line()
        mode = _int_field(fields[0], "+COPS <mode>", line)
        padded = [*fields[1:], "", "", ""]
        name = unquote(padded[1]) or None
        return Operator(mode, _optional_int(padded[0]), name, _optional_int(padded[2]))

    async def select_operator(self, plmn: str | None = None) -> None:
        """``AT+COPS=0`` (automatic) or ``AT+COPS=1,2,"<plmn>"`` (manual, numeric) (ref §3.2)."""
        command = "AT+COPS=0" if plmn is None else f'AT+COPS=1,2,"{plmn}"'
        await self.at.command(command, timeout=self.profile.timeouts.registration)

    async def pdp_contexts(self) -> list[PdpContext]:
        """Every ``+CGDCONT`` context the module has."""
        response = await self.at.command("AT+CGDCONT?", prefix="+CGDCONT")
        contexts = []
        for line in response.lines:
            fields = parse_fields(line, "+CGDCONT")
            if len(fields) >= 2:
                apn = unquote(fields[2]) if len(fields) > 2 else ""
                contexts.append(PdpContext(_int_field(fields[0], "<cid>", line), unquote(fields[1]), apn))
        return contexts

    async def apn(self, cid: int = 1) -> PdpContext | None:
        """The context ``cid`` (its APN and PDP type), None if the module has none."""
        return next((context for context in await self.pdp_contexts() if context.cid == cid), None)

    async def set_apn(self, apn: str, *, pdp_type: str = "IP", cid: int = 1) -> None:
        """Set the APN with the profile's commands (``+CGDCONT``, plus ``AT+QICSGP`` / ``AT+CNCFG`` /
        ``AT*MCGDEFCONT`` where the module reads those, ref §2.2, §3.2). ``pdp_type`` ``"Non-IP"``
        is translated to the module's spelling (BC95 ``NONIP``)."""
        if '"' in apn:
            raise ValueError(f"an APN cannot contain a double quote: {apn!r}")
        if pdp_type.upper().replace("-", "") == "NONIP":
            pdp_type = self.profile.non_ip_pdp_type
        for template in self.profile.apn_commands:
            command = template.format(cid=cid, pdp_type=pdp_type, apn=apn)
            await self.at.command(command, timeout=self.profile.timeouts.cfun)

    async def attach(self) -> None:
        """``AT+CGATT=1`` (up to the attach timeout, ref §3.2)."""
        await self.at.command("AT+CGATT=1", timeout=self.profile.timeouts.attach)

    async def detach(self) -> None:
        """``AT+CGATT=0``."""
        await self.at.command("AT+CGATT=0", timeout=self.profile.timeouts.attach)

    async def attached(self) -> bool:
        """``AT+CGATT?`` -> ``+CGATT: 1``."""
        response = await self.at.command("AT+CGATT?", prefix="+CGATT")
        return unquote(response.fields()[0]) == "1"

    async def signal(self) -> Signal:
        """``AT+CSQ`` and, where the module has it, ``AT+CESQ``, in dBm / dB per the 27.007 tables (ref §3.3)."""
        response = await self.at.command("AT+CSQ", prefix="+CSQ")
        fields = response.fields()
        if len(fields) < 2:
            raise AtProtocolError(f"+CSQ needs <rssi>,<ber>: {response.line()!r}")
        rssi, ber = (_int_field(value, "+CSQ field", response.line()) for value in fields[:2])
        signal = Signal(csq_to_dbm(rssi), ber if 0 <= ber <= 7 else None, csq=(rssi, ber))
        if not self.profile.capabilities.cesq:
            return signal
        try:
            cesq = await self.at.command("AT+CESQ", prefix="+CESQ")
        except AtCommandError as exc:
            logger.debug("%s: no AT+CESQ: %s", self.profile.name, exc)
            return signal
        values = tuple(_int_field(value, "+CESQ field", cesq.line()) for value in cesq.fields())
        if len(values) < 6:
            raise AtProtocolError(f"+CESQ needs six fields: {cesq.line()!r}")
        return Signal(
            signal.rssi_dbm,
            signal.ber,
            rsrp_dbm=cesq_rsrp_to_dbm(values[5]),
            rsrq_db=cesq_rsrq_to_db(values[4]),
            csq=signal.csq,
            cesq=values,
        )

    async def clock(self) -> dt.datetime:
        """``AT+CCLK?`` as an aware datetime (network time where the network sent it)."""
        return parse_cclk((await self.at.command("AT+CCLK?", prefix="+CCLK")).line())

    # ----------------------------------------------------------------- power

    @property
    def supports_rai(self) -> bool:
        """Whether :meth:`send_to` can carry a release assistance indication on this module."""
        return self.profile.capabilities.rai

    async def set_psm(
        self,
        *,
        tau: float | str | TimerValue | None = None,
        active_time: float | str | TimerValue | None = None,
    ) -> PsmRequest:
        """Request PSM: periodic TAU (T3412 ext) and active time (T3324), seconds, ``"1h30m"`` or coded.

        ``AT+CPSMS=1,,,"<tau>","<active>"`` (ref §4.1); None leaves a timer at the
        module's default. The network decides: read the grant with
        :meth:`granted_psm` (or from :meth:`subscribe_registration`).
        """
        self._require("psm", "PSM")
        coded_tau = tau if isinstance(tau, TimerValue) or tau is None else encode_t3412(_seconds(tau))
        coded_active = (
            active_time
            if isinstance(active_time, TimerValue) or active_time is None
            else encode_t3324(_seconds(active_time))
        )
        await self.at.command(cpsms_command(coded_tau, coded_active))
        return PsmRequest(coded_tau, coded_active)

    async def disable_psm(self) -> None:
        """``AT+CPSMS=0``."""
        await self.at.command(cpsms_command(enable=False))

    async def granted_psm(self) -> PsmGrant | None:
        """The PSM timers the network granted, from ``AT+CEREG?`` in mode 4 (None: not reported)."""
        return (await self.registration()).psm

    async def set_edrx(
        self,
        cycle: float | str | EdrxValue,
        rat: Rat | int | str | None = None,
        *,
        ptw: float | str | EdrxValue | None = None,
    ) -> EdrxRequest:
        """Request eDRX with ``AT+CEDRXS=2,<AcT-type>,"<cycle>"`` (URCs on; ref §4.5).

        ``rat`` defaults to the one the module is registered on. ``ptw`` needs a
        module command (:attr:`ModemProfile.edrx_ptw_command`); 27.007 has none.
        """
        self._require("edrx", "eDRX")
        which = Rat.parse(rat) if rat is not None else await self._current_rat()
        value = cycle if isinstance(cycle, EdrxValue) else encode_edrx(_seconds(cycle), which)
        window: EdrxValue | None = None
        if ptw is not None:
            if self.profile.edrx_ptw_command is None:
                raise ModemCapabilityError(
                    f"{self.profile.title}: no verified AT command sets the paging time window; "
                    "leave ptw=None (the network picks it) or give the profile an edrx_ptw_command"
                )
            window = ptw if isinstance(ptw, EdrxValue) else encode_ptw(_seconds(ptw), which)
        await self.at.command(cedrxs_command(which, value))
        if window is not None and self.profile.edrx_ptw_command is not None:
            await self.at.command(
                self.profile.edrx_ptw_command.format(rat=int(which), ptw=window.bits, cycle=value.bits)
            )
        return EdrxRequest(which, value, window)

    async def disable_edrx(self, rat: Rat | int | str | None = None) -> None:
        """``AT+CEDRXS=0,<AcT-type>``."""
        which = Rat.parse(rat) if rat is not None else await self._current_rat()
        await self.at.command(cedrxs_command(which, enable=False))

    async def granted_edrx(self) -> EdrxGrant:
        """``AT+CEDRXRDP``: the eDRX cycle and PTW the network gave (``rat`` None: not in use)."""
        response = await self.at.command("AT+CEDRXRDP", prefix="+CEDRXRDP")
        try:
            return parse_cedrx(response.line())
        except PowerValueError as exc:
            raise AtProtocolError(str(exc)) from None

    async def _current_rat(self) -> Rat:
        registration = self._last_registration or await self.registration()
        if registration.rat is None:
            registration = await self.registration()
        if registration.rat is None:
            raise ModemError("the radio access technology is not known yet (not registered): pass rat=")
        return registration.rat

    async def enable_sleep(self) -> None:
        """Let the module sleep: its sleep command (``AT+QSCLK=1``, ``AT+CSCLK=1``), then the
        ``on_sleep`` hook (raise DTR). Modules without one sleep in PSM by themselves (ref §4.7)."""
        if self.profile.sleep_command is not None:
            await self.at.command(self.profile.sleep_command)
        if self.on_sleep is not None:
            await _call(self.on_sleep)

    async def disable_sleep(self) -> None:
        """Keep the UART awake (``AT+QSCLK=0`` / ``AT+CSCLK=0``); call after :meth:`wake`."""
        if self.profile.sleep_disable_command is not None:
            await self.at.command(self.profile.sleep_disable_command)

    async def wake(self) -> None:
        """Wake the module (the ``on_wake`` hook: PSM_EINT pulse, DTR low, PWRKEY), then send ``AT``
        until it answers; BC95 and SIMCom in ``CSCLK=2`` lose the first characters (ref §4.7)."""
        if self.on_wake is not None:
            await _call(self.on_wake)
        elif not self.profile.wake_by_uart:
            logger.debug("%s: no on_wake hook; trying the UART alone", self.profile.name)
        timeouts = self.profile.timeouts
        await sync_at(self.at, attempts=timeouts.sync_attempts, probe_timeout=timeouts.sync_probe)

    # ----------------------------------------------------------------- NIDD (TS 27.007 §10.1.43/44, ref §6)

    async def enable_nidd(self) -> None:
        """``AT+CRTDCP=1``: downlink non-IP data arrives as ``+CRTDCP`` URCs in :attr:`nidd_queue`."""
        self._require("nidd", "NIDD")
        await self.at.command("AT+CRTDCP=1")

    async def send_nidd(
        self, data: bytes, *, rai: Rai | int | None = None, exception: bool = False, cid: int | None = None
    ) -> None:
        """``AT+CSODCP=<cid>,<len>,"<hex>"[,<RAI>[,<type>]]``: one uplink over the control plane.

        ``rai`` tells the network what follows (:class:`Rai`); ``exception`` marks it
        exception data (type 1). The length counts bytes, the data is hex (ref §6).
        """
        self._require("nidd", "NIDD")
        payload = bytes(data)
        if len(payload) > self.profile.max_nidd:
            raise PayloadTooLargeError(len(payload), self.profile.max_nidd, f"{self.profile.name} NIDD")
        args = [str(self.nidd_cid if cid is None else cid), str(len(payload)), f'"{payload.hex().upper()}"']
        if rai is not None or exception:
            args.append(str(int(Rai(rai if rai is not None else 0))))
        if exception:
            args.append("1")
        await self.at.command("AT+CSODCP=" + ",".join(args), timeout=self.profile.timeouts.send)

    async def receive_nidd(self) -> bytes:
        """The next NIDD downlink payload."""
        return await self.nidd_queue.get()

    def _on_crtdcp(self, urc: Urc) -> None:
        # +CRTDCP: <cid>,<cpdata_length>,"<hex>" (ref §6); some count hex characters.
        fields = urc.fields()
        try:
            data = bytes.fromhex(unquote(fields[2]))
            length = int(unquote(fields[1]))
        except (IndexError, ValueError):
            logger.warning("%s: unreadable +CRTDCP URC, NIDD downlink lost: %r", self.profile.name, urc.line)
            return
        if length not in (len(data), 2 * len(data)):
            logger.warning(
                "%s: +CRTDCP length %d does not fit its %d bytes; kept as is", self.profile.name, length, len(data)
            )
        self.nidd_queue.put_nowait(data)

    # ----------------------------------------------------------------- SMS (TS 27.005 PDU mode, ref §7)

    async def enable_sms(self, *, store: bool = True) -> None:
        """PDU mode and new-message indications, then pick up messages already stored.

        ``store=True``: ``AT+CNMI=2,1`` (``+CMTI``; each message is read with ``AT+CMGR``
        and deleted after it was decoded), which keeps messages in the SIM while
        nobody listens (DESIGN.md rule 6). ``store=False``: ``AT+CNMI=2,2`` routes them
        in ``+CMT`` URCs. Class 2 messages are always stored (ref §7.1).
        """
        self._require("sms", "SMS")
        await self._pdu_mode()
        await self.at.command(f"AT+CNMI=2,{1 if store else 2},0,0,0")
        listing = await self.at.command("AT+CMGL=4", prefix="+CMGL", timeout=self.profile.timeouts.sms_send)
        for header, pdu in itertools.pairwise(listing.lines):
            if not header.startswith("+CMGL"):
                continue
            # +CMGL: <index>,<stat>,[<alpha>],<length>; only received ones (0 REC UNREAD, 1 REC READ),
            # not the module's own stored outgoing messages (ref §7.1).
            fields = [*parse_fields(header, "+CMGL"), "", ""]
            index, stat = _optional_int(fields[0]), _optional_int(fields[1])
            if index is not None and stat in (0, 1):
                self._take_pdu(pdu, f"stored SMS {index}")
                await self.at.command(f"AT+CMGD={index}")

    async def _pdu_mode(self) -> None:
        if not self._sms_mode_set:
            await self.at.command("AT+CMGF=0")
            self._sms_mode_set = True

    async def send_sms(self, parts: Sequence[SubmitPdu | str]) -> list[int]:
        """Send SMS-SUBMIT PDUs (from :func:`~m2mclient.platform.sms_pdu.encode_submit`, or hex with
        the SMSC field) with ``AT+CMGS=<TPDU length>``, ``> ``, the PDU and Ctrl-Z (ref §7.1).

        Returns each part's TP-MR from ``+CMGS: <mr>``.
        """
        self._require("sms", "SMS")
        await self._pdu_mode()
        references = []
        for part in parts:
            text, length = (part.hex, part.tpdu_length) if isinstance(part, SubmitPdu) else _hex_pdu(part)
            response = await self.at.command_with_data(
                f"AT+CMGS={length}",
                text.encode("ascii"),
                end=CTRL_Z,
                prefix="+CMGS",
                prompt_timeout=self.profile.timeouts.sms_prompt,
                timeout=self.profile.timeouts.sms_send,
            )
            references.append(_int_field(response.fields()[0], "+CMGS <mr>", response.line()))
        return references

    async def receive_sms(self) -> SmsMessage:
        """The next complete message."""
        return await self.sms_queue.get()

    def _on_cmt(self, urc: Urc) -> None:
        if urc.lines:
            self._take_pdu(urc.lines[0], "+CMT")
        else:
            logger.warning("%s: +CMT without its PDU line: %r", self.profile.name, urc.line)

    def _on_cmti(self, urc: Urc) -> None:
        index = _optional_int((urc.fields() or [""])[-1])
        if index is None:
            logger.warning("%s: unreadable +CMTI: %r", self.profile.name, urc.line)
            return
        self._sms_indexes.append(index)
        self._sms_drain.kick()

    async def _read_stored_sms(self) -> None:
        while self._sms_indexes:
            index = self._sms_indexes[0]
            try:
                response = await self.at.command(f"AT+CMGR={index}", prefix="+CMGR")
            except AtCommandError as exc:  # the slot is empty or gone (CMS 321): nothing to read
                logger.warning("%s: AT+CMGR=%d failed, skipped: %s", self.profile.name, index, exc)
                self._sms_indexes.popleft()
                continue
            if len(response.lines) >= 2:
                self._take_pdu(response.lines[1], f"SMS {index}")
            else:
                logger.warning("%s: AT+CMGR=%d gave no PDU: %s", self.profile.name, index, list(response.lines))
            await self.at.command(f"AT+CMGD={index}")
            self._sms_indexes.popleft()

    def _take_pdu(self, pdu: str, where: str) -> None:
        now = asyncio.get_running_loop().time()
        try:
            part = decode(pdu.strip())
        except SmsPduError as exc:
            # Not silent (rule 5): the PDU goes to the log so it can be recovered.
            logger.warning("%s: %s is not a valid PDU (%s); it was: %s", self.profile.name, where, exc, pdu)
            return
        if not isinstance(part, DeliverPdu):
            logger.info("%s: %s is not a received message (%s), ignored", self.profile.name, where, type(part).__name__)
            return
        message = self._reassembler.add(part, now)
        for incomplete in self._reassembler.expire(now):
            logger.warning(
                "%s: concatenated SMS %d from %s incomplete (%s), parts %s missing",
                self.profile.name,
                incomplete.reference,
                incomplete.peer,
                incomplete.reason,
                incomplete.missing,
            )
        if message is not None:
            self.sms_queue.put_nowait(message)

    # ----------------------------------------------------------------- sockets: public API

    async def open_udp(self, local_port: int | None = None) -> int:
        """Open a UDP socket (``local_port`` None: the module picks); returns its handle."""
        self._require("udp", "UDP sockets")
        try:
            sock = await self._open_udp(local_port)
        except AtError as exc:
            raise ModemSocketError(f"{self.profile.name}: cannot open a UDP socket: {exc}") from exc
        return sock.handle

    async def open_tcp(self, host: str, port: int) -> int:
        """Connect a TCP socket to ``host``:``port``; returns its handle. Data arrives in the same queue."""
        self._require("tcp", "TCP sockets")
        try:
            sock = await self._open_tcp(host, port)
        except AtError as exc:
            raise ModemSocketError(f"{self.profile.name}: cannot connect to {host}:{port}: {exc}") from exc
        return sock.handle

    async def send_to(self, handle: int, host: str, port: int, data: bytes, *, rai: Rai | int | None = None) -> None:
        """Send one datagram to ``host``:``port`` (an IP literal on most modules).

        ``rai`` (:class:`Rai`) asks the network to release the connection after
        this datagram or after its reply; where the module cannot say it
        (:attr:`supports_rai` False) a request other than ``None`` raises
        :class:`ModemCapabilityError`.
        """
        sock = self._socket(handle, "udp")
        payload = bytes(data)
        if len(payload) > self.profile.max_datagram:
            raise PayloadTooLargeError(len(payload), self.profile.max_datagram, f"the {self.profile.name} UDP socket")
        hint = None if rai is None else Rai(rai)
        if hint is not None and not self.supports_rai:
            raise ModemCapabilityError(f"{self.profile.title} sockets carry no release assistance indication")
        if not 0 < port < 65536:
            raise ValueError(f"a destination port is 1..65535, got {port}")
        try:
            await self._send_to(sock, host, port, payload, hint)
        except AtError as exc:
            raise ModemSocketError(f"{self.profile.name}: sending to {host}:{port} failed: {exc}") from exc

    async def send(self, handle: int, data: bytes) -> None:
        """Write ``data`` to a TCP socket, in pieces the module takes."""
        sock = self._socket(handle, "tcp")
        payload = bytes(data)
        step = self.profile.max_datagram
        try:
            for start in range(0, len(payload), step):
                await self._send_stream(sock, payload[start : start + step])
        except AtError as exc:
            raise ModemSocketError(f"{self.profile.name}: writing to socket {handle} failed: {exc}") from exc

    def receive_queue(self, handle: int) -> asyncio.Queue[Datagram]:
        """The queue received datagrams of socket ``handle`` land in."""
        return self._socket(handle).queue

    async def receive_from(self, handle: int) -> Datagram:
        """The next datagram of socket ``handle``; raises :class:`ModemSocketClosedError` once it
        closed and nothing is left."""
        sock = self._sockets.get(handle) or self._retired.get(handle) or self._closed_socket(handle)
        # Nothing is taken from the queue until it can be returned: a cancelled call loses no datagram.
        while sock.queue.empty():
            if sock.closed.is_set():
                self._retired.pop(handle, None)
                raise ModemSocketClosedError(f"socket {handle} is closed: {sock.close_reason}")
            sock.changed.clear()
            await sock.changed.wait()
        return sock.queue.get_nowait()

    async def close_socket(self, handle: int) -> None:
        """Close socket ``handle`` on the module; idempotent."""
        sock = self._sockets.get(handle) or self._retired.pop(handle, None)
        if sock is None:
            return
        self._forget(sock, "closed by the application")
        if sock.drain is not None:
            self._drains.discard(sock.drain)
            await sock.drain.cancel()
        try:
            await self._close(sock)
        except AtError as exc:
            logger.warning("%s: closing socket %d on the module failed: %s", self.profile.name, handle, exc)

    # ----------------------------------------------------------------- sockets: for the module files

    async def _open_udp(self, local_port: int | None) -> _Socket:
        raise ModemCapabilityError(f"{self.profile.title} has no UDP socket driver")

    async def _open_tcp(self, host: str, port: int) -> _Socket:
        raise ModemCapabilityError(f"{self.profile.title} has no TCP socket driver")

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        raise ModemCapabilityError(f"{self.profile.title} has no UDP socket driver")

    async def _send_stream(self, sock: _Socket, data: bytes) -> None:
        raise ModemCapabilityError(f"{self.profile.title} has no TCP socket driver")

    async def _read_available(self, sock: _Socket) -> None:
        """Read what the module announced for ``sock`` and :meth:`_deliver` it (module files override)."""

    async def _close(self, sock: _Socket) -> None:
        """Close the module's socket(s) behind ``sock``."""

    def _new_socket(self, kind: Literal["udp", "tcp"], *, module_id: int | None = None) -> _Socket:
        sock = _Socket(next(self._handles), kind)
        self._sockets[sock.handle] = sock
        sock.drain = _Drain(f"{self.profile.name} socket {sock.handle} reader", lambda: self._drain_socket(sock))
        self._drains.add(sock.drain)
        if module_id is not None:
            self._map_module_id(sock, module_id)
        return sock

    def _map_module_id(self, sock: _Socket, module_id: int, peer: tuple[str, int] | None = None) -> None:
        if sock.module_id is None:
            sock.module_id = module_id
        self._by_module_id[module_id] = (sock, peer)

    def _owner(self, module_id: int) -> tuple[_Socket, tuple[str, int] | None] | None:
        """The socket (and peer, for per-peer families) behind a module socket id from a URC."""
        owner = self._by_module_id.get(module_id)
        if owner is None:
            logger.debug("%s: a URC for module socket %d nobody opened", self.profile.name, module_id)
        return owner

    def _data_available(self, module_id: int) -> None:
        """A URC said module socket ``module_id`` holds data: read it in the socket's task."""
        owner = self._owner(module_id)
        if owner is not None and owner[0].drain is not None:
            owner[0].drain.kick()

    def _deliver(self, sock: _Socket, data: bytes, host: str, port: int) -> None:
        sock.queue.put_nowait(Datagram(data, host, port))
        sock.changed.set()

    def _peer_closed(self, module_id: int, reason: str) -> None:
        """The module closed its socket (peer closed, network dropped it)."""
        owner = self._owner(module_id)
        if owner is None:
            return
        sock, peer = owner
        if peer is not None:  # one of several per-peer links: the socket lives on without it
            sock.links.pop(peer, None)
            self._by_module_id.pop(module_id, None)
            return
        self._unmap(sock)
        self._sockets.pop(sock.handle, None)
        self._retired[sock.handle] = sock  # until the application has read what arrived
        sock.close_pending = reason
        if sock.drain is not None:
            # The data URC may still be on its way to the reader task: read what the module
            # holds first, then report the close, so the last bytes before a FIN are not lost.
            sock.drain.kick()

    async def _drain_socket(self, sock: _Socket) -> None:
        try:
            await self._read_available(sock)
        finally:
            if sock.close_pending is not None:
                _mark_closed(sock, sock.close_pending)

    def _unmap(self, sock: _Socket) -> None:
        for module_id in [mid for mid, (owner, _) in self._by_module_id.items() if owner is sock]:
            del self._by_module_id[module_id]

    def _forget(self, sock: _Socket, reason: str) -> None:
        self._sockets.pop(sock.handle, None)
        self._unmap(sock)
        _mark_closed(sock, reason)

    def _socket(self, handle: int, kind: Literal["udp", "tcp"] | None = None) -> _Socket:
        sock = self._sockets.get(handle)
        if sock is None:
            self._closed_socket(handle)
        if kind is not None and sock.kind != kind:
            raise ModemSocketError(f"socket {handle} is {sock.kind.upper()}, not {kind.upper()}")
        return sock

    def _closed_socket(self, handle: int) -> NoReturn:
        raise ModemSocketClosedError(f"no open socket {handle} on the {self.profile.name}")

    def _free_module_id(self) -> int:
        used = set(self._by_module_id)
        free = next((i for i in self.profile.socket_ids if i not in used), None)
        if free is None:
            raise ModemSocketError(f"all {len(self.profile.socket_ids)} {self.profile.name} sockets are in use")
        return free

    @staticmethod
    def _require_ip(host: str) -> str:
        text = host.strip()
        if not _is_ip_literal(text):
            raise ModemSocketError(
                f"{host!r} is not an IP address: resolve it first (this send command takes no names)"
            )
        return text

    def _require(self, capability: str, what: str) -> None:
        if not getattr(self.profile.capabilities, capability):
            raise ModemCapabilityError(f"{self.profile.title}: {what} not supported by this module or its driver")


register_modem()(Modem)


def _mark_closed(sock: _Socket, reason: str) -> None:
    if not sock.closed.is_set():
        sock.close_reason = reason
        sock.closed.set()
        sock.changed.set()


def _sim_error(state: str) -> SimError:
    if state == "SIM PIN":
        return SimPinRequiredError(
            "the SIM asks for its PIN: pass pin= to init(), call unlock_sim(pin), or remove the PIN lock in a phone",
            state=state,
        )
    hints = {
        "SIM PUK": "the SIM is blocked after wrong PINs: unblock it with its PUK in a phone",
        "PH-SIM PIN": "the module is locked to another SIM (PH-SIM PIN): use the SIM it was locked to",
        "NOT INSERTED": "no SIM card: power the module off, insert the SIM, power it on",
        "NOT READY": "the SIM did not become ready: reseat it, or it may be broken",
        "SIM BUSY": "the SIM stayed busy: reseat it, or wait longer after power-on",
    }
    return SimError(f"+CPIN: {state}: {hints.get(state, 'the SIM is not ready; see TS 27.007 §8.3')}", state=state)


def _add(callbacks: list[_C], callback: _C) -> Callable[[], None]:
    callbacks.append(callback)

    def unsubscribe() -> None:
        with contextlib.suppress(ValueError):
            callbacks.remove(callback)

    return unsubscribe


def _seconds(value: float | str) -> float:
    return parse_duration(value) if isinstance(value, str) else float(value)


def _hex_pdu(text: str) -> tuple[str, int]:
    """Upper-case hex and its ``AT+CMGS`` length (TPDU octets, SMSC field excluded; ref §7.1)."""
    pdu = "".join(text.split()).upper()
    try:
        raw = bytes.fromhex(pdu)
    except ValueError:
        raise SmsPduError(f"an SMS PDU is hex, got {text!r}") from None
    if not raw or len(raw) <= raw[0] + 1:
        raise SmsPduError(f"too short for an SMSC field and a TPDU: {text!r}")
    return pdu, len(raw) - 1 - raw[0]
