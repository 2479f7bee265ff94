"""A cellular module on a pseudo-terminal: NB-IoT / LTE-M AT dialects, bridged to loopback peers.

:class:`ModemEmulator` opens a pty and answers on it the way a BC95, BC66, BG96,
SIM7020, SIM7080 or SARA-R4 answers on its UART, so drivers, the AT engine and the
hardware-in-the-loop tests run in CI without a module (DESIGN.md "Testing against
the real world")::

    clock = ManualClock()
    emu = ModemEmulator("bg96", clock=clock, granted_psm=(2, 3600))
    await emu.start()
    channel = open_serial(emu.port_path)      # the code under test opens it like /dev/ttyUSB2
    ...
    clock.advance(60)                         # timers (RRC release, T3324, T3412) fire now
    emu.wake()                                # PSM_EINT / PWRKEY / DTR, per module
    print(emu.energy_report())
    await emu.stop()

What is emulated (references are to shared/reference/modems-at-commands.md, "ref §"):

* **AT framing** (ref §1): CR-terminated input, LF ignored, spaces outside quotes
  ignored, ``;`` chains, echo (``ATE``), ``\\r\\n``-framed output, final result codes
  ``OK`` / ``ERROR`` / ``+CME ERROR`` / ``+CMS ERROR`` per ``AT+CMEE``, data prompts
  without line ending (``> ``, u-blox ``@``), URCs held while a command is in
  flight (BC95 promises that, ref §1.4; holding them is valid for every module).
* **A generic 3GPP TS 27.007 / 27.005 table** and per-module tables for what
  differs (Zephyr style, see STYLE.md): identity, sleep, power-down, PSM URCs and
  the socket command set with its URCs and payload coding. :data:`DIALECTS` holds
  them; a module is one :class:`Dialect` value, not an ``if model ==`` branch.
* **Sockets bridged to 127.0.0.0/8**: what the driver sends with ``AT+NSOST``,
  ``AT+QISEND``, ``AT+CASEND``, ``AT+CSOSEND``, ``AT+USOST`` leaves a real UDP (or
  TCP) socket; what comes back raises the module's URC and waits in the module's
  buffer for its read command. Any other destination is refused (``ERROR``, logged).
* **NIDD** (``AT+CSODCP`` / ``+CRTDCP``) and **SMS** in PDU mode (``AT+CMGS``,
  ``+CMT`` / ``+CMTI`` + ``AT+CMGR`` per ``AT+CNMI``) through test hooks: the
  "network" side is :attr:`ModemEmulator.nidd_uplink`, :attr:`~ModemEmulator.sms_outbox`,
  :meth:`~ModemEmulator.deliver_nidd` and :meth:`~ModemEmulator.deliver_sms`.
* **Registration, PSM, eDRX, sleep**: ``+CEREG`` modes 0-5 with the PSM timers the
  network granted (as asked, or overridden), RRC connection and release
  (``+CSCON``), T3324 expiry into PSM, T3412 periodic TAU, wake by pin or UART per
  module, UART sleep (``AT+QSCLK``, ``AT+CSCLK`` with DTR), boot-ROM junk on wake.
  Downlink for a module in PSM is held by the "network" until the module next
  talks to it (a periodic TAU or its own uplink), as a network with extended
  buffering does.
* **An energy ledger** (:class:`EnergyLedger`): seconds in CONNECTED, IDLE, PSM
  and OFF from traffic and timers on the injected clock, and mAh from per-state
  currents (typical datasheet orders of magnitude, not measurements).

What it is not: a radio simulator (no coverage, no retransmissions, no latency), a
complete command set (unknown commands answer ``ERROR`` / ``+CME ERROR: 4``), or
an authority on syntax the reference marks unverified ([U]); those spots say so
in a comment, and a driver should be checked on the real module there.

The pty has no modem control lines, so DTR and the module's power and wake pins
are methods: :meth:`~ModemEmulator.set_dtr`, :meth:`~ModemEmulator.wake`,
:meth:`~ModemEmulator.press_pwrkey`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import logging
import os
import re
import socket
import time
import tty
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType, TracebackType
from typing import Any, Literal, TypeAlias

__all__ = [
    "DIALECTS",
    "TYPICAL_CURRENTS_MA",
    "TYPICAL_IDLE_EDRX_MA",
    "Clock",
    "Command",
    "Dialect",
    "EnergyLedger",
    "EnergyReport",
    "ManualClock",
    "ModemEmulator",
    "PowerState",
]

_log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Clocks
# ---------------------------------------------------------------------------------------------

#: Seconds on a monotonic scale. The emulator reads time only through one of these, so tests
#: can move it (DESIGN.md rule 1: time is passed in).
Clock: TypeAlias = Callable[[], float]


class ManualClock:
    """A clock that moves only when told, so PSM and TAU timers fire deterministically in tests.

    An emulator given a :class:`ManualClock` subscribes to it and runs every timer that
    fell due, at its exact due time, inside :meth:`advance`; URCs those timers raise are
    written to the pty before :meth:`advance` returns. Any other clock is assumed to
    advance in real seconds and the emulator arms loop timers for it.
    """

    def __init__(self, start: float = 0.0) -> None:
        """Start at ``start`` seconds."""
        self._now = float(start)
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        """The current time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and let every subscriber run its due timers."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, got {seconds!r} s")
        self._now += seconds
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after each :meth:`advance`."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)


# ---------------------------------------------------------------------------------------------
# GPRS Timer 2 / 3 (TS 24.008 10.5.7.4a / 10.5.7.3), ref §4.2-4.4. platform/power.py owns the
# public codec; this private copy keeps the emulator free of the code it is used to test.
# ---------------------------------------------------------------------------------------------

_DEACTIVATED = "11100000"
_T3412_UNIT_S: Mapping[int, int] = {0: 600, 1: 3600, 2: 36000, 3: 2, 4: 30, 5: 60, 6: 1_152_000}
# 24.008: T3324 units other than 000/001/010/111 "shall be interpreted as multiples of 1 minute".
_T3324_UNIT_S: Mapping[int, int] = {0: 2, 1: 60, 2: 360}
_BITS8 = re.compile(r"[01]{8}")
_BITS4 = re.compile(r"[01]{4}")


def _timer_seconds(bits: str, units: Mapping[int, int]) -> int | None:
    unit = int(bits[:3], 2)
    if unit == 0b111:
        return None
    return int(bits[3:], 2) * units.get(unit, 60)


def _t3412_seconds(bits: str) -> int | None:
    return _timer_seconds(bits, _T3412_UNIT_S)


def _t3324_seconds(bits: str) -> int | None:
    return _timer_seconds(bits, _T3324_UNIT_S)


def _encode_timer(seconds: int | None, units: Mapping[int, int]) -> str:
    """The exact coding with the smallest unit if one exists, else the largest value not above it."""
    if seconds is None:
        return _DEACTIVATED
    if seconds < 0:
        raise ValueError(f"a timer is not negative, got {seconds}")
    by_size = sorted(units.items(), key=lambda item: item[1])
    for unit, size in by_size:
        if seconds % size == 0 and seconds // size <= 31:
            return f"{unit:03b}{seconds // size:05b}"
    for unit, size in by_size:
        if seconds // size <= 31:
            return f"{unit:03b}{seconds // size:05b}"
    return f"{by_size[-1][0]:03b}11111"


def _timer_bits(value: int | str, units: Mapping[int, int], what: str) -> str:
    if isinstance(value, str):
        if not _BITS8.fullmatch(value):
            raise ValueError(f"{what} must be seconds or an 8-character bit string like '00100001', got {value!r}")
        return value
    return _encode_timer(value, units)


# ---------------------------------------------------------------------------------------------
# Energy ledger
# ---------------------------------------------------------------------------------------------


class PowerState(str, Enum):
    """Where the module's current goes (the radio's view, ref §4)."""

    #: RRC connected: sending, receiving, or waiting for the network's inactivity timer.
    CONNECTED = "connected"
    #: Registered and idle (DRX or eDRX paging), or awake with the radio off (``AT+CFUN=0/4``).
    IDLE = "idle"
    #: Power saving mode: unreachable, UART asleep, until T3412, an uplink or a wake pin.
    PSM = "psm"
    #: Powered down (``AT+CPOWD``, ``AT+QPOWD``, power key) or not started.
    OFF = "off"


#: Typical per-state supply currents in mA for NB-IoT / LTE-M modules, used when none are
#: given. They are orders of magnitude from module datasheets, not measurements: PSM is a few
#: µA, DRX idle 1-3 mA, and the average while RRC connected spans roughly 50-250 mA with the
#: TX power (coverage). Pass the figures of your module and network for real estimates.
TYPICAL_CURRENTS_MA: Mapping[PowerState, float] = MappingProxyType(
    {PowerState.CONNECTED: 100.0, PowerState.IDLE: 1.5, PowerState.PSM: 0.005, PowerState.OFF: 0.0}
)
#: Typical average idle current with eDRX in use (paging every tens of seconds or more):
#: below 1 mA on the same datasheets; also typical, not measured.
TYPICAL_IDLE_EDRX_MA = 0.3


@dataclass(frozen=True)
class EnergyReport:
    """Seconds and charge per power state over the ledger's life so far."""

    seconds: Mapping[PowerState, float]
    mah: Mapping[PowerState, float]
    #: The part of ``seconds[IDLE]`` spent with eDRX granted (charged at ``idle_edrx_ma``).
    idle_edrx_seconds: float
    currents_ma: Mapping[PowerState, float]
    idle_edrx_ma: float

    @property
    def total_seconds(self) -> float:
        """All states together: the time since the emulator started (until it stopped)."""
        return sum(self.seconds.values())

    @property
    def total_mah(self) -> float:
        """The charge drawn, in mAh."""
        return sum(self.mah.values())

    def __str__(self) -> str:
        rows = [f"{state.value:>9}: {self.seconds[state]:12.3f} s {self.mah[state]:12.6f} mAh" for state in PowerState]
        rows.append(f"{'total':>9}: {self.total_seconds:12.3f} s {self.total_mah:12.6f} mAh")
        return "\n".join(rows)


class EnergyLedger:
    """Time spent per :class:`PowerState`, switched by the emulator at the exact times events happen.

    Transitions carry their own time stamp (a timer that fell due at t=22 s is booked at
    22 s even when the clock is only looked at when it says 100 s), so the totals are
    exact and always add up to the elapsed time.
    """

    def __init__(
        self,
        clock: Clock,
        currents_ma: Mapping[PowerState | str, float] | None = None,
        idle_edrx_ma: float | None = None,
    ) -> None:
        """Book time on ``clock``; ``currents_ma`` overrides :data:`TYPICAL_CURRENTS_MA` per state."""
        self._clock = clock
        currents = dict(TYPICAL_CURRENTS_MA)
        for key, value in (currents_ma or {}).items():
            currents[PowerState(key)] = float(value)
        self.currents_ma: Mapping[PowerState, float] = MappingProxyType(currents)
        self.idle_edrx_ma = TYPICAL_IDLE_EDRX_MA if idle_edrx_ma is None else float(idle_edrx_ma)
        self._seconds = dict.fromkeys(PowerState, 0.0)
        self._edrx_seconds = 0.0
        self._state: PowerState | None = None
        self._edrx = False
        self._since = 0.0
        self._started_at: float | None = None
        self._stopped_at: float | None = None

    @property
    def state(self) -> PowerState:
        """The current state (OFF before the emulator starts and after it stops)."""
        if self._state is None or self._stopped_at is not None:
            return PowerState.OFF
        return self._state

    @property
    def elapsed(self) -> float:
        """Seconds since the ledger started (frozen once stopped)."""
        if self._started_at is None:
            return 0.0
        end = self._clock() if self._stopped_at is None else self._stopped_at
        return max(0.0, end - self._started_at)

    def seconds(self) -> dict[PowerState, float]:
        """Seconds per state, including the running state up to now."""
        out = dict(self._seconds)
        if self._state is not None and self._stopped_at is None:
            out[self._state] += max(0.0, self._clock() - self._since)
        return out

    def report(self) -> EnergyReport:
        """Seconds and mAh per state; eDRX idle time is charged at :attr:`idle_edrx_ma`."""
        seconds = self.seconds()
        edrx = self._edrx_seconds
        if self._edrx and self._state is PowerState.IDLE and self._stopped_at is None:
            edrx += max(0.0, self._clock() - self._since)
        mah = {state: seconds[state] * self.currents_ma[state] / 3600.0 for state in PowerState}
        mah[PowerState.IDLE] = (
            (seconds[PowerState.IDLE] - edrx) * self.currents_ma[PowerState.IDLE] + edrx * self.idle_edrx_ma
        ) / 3600.0
        return EnergyReport(
            seconds=MappingProxyType(seconds),
            mah=MappingProxyType(mah),
            idle_edrx_seconds=edrx,
            currents_ma=self.currents_ma,
            idle_edrx_ma=self.idle_edrx_ma,
        )

    def _switch(self, state: PowerState, at: float, *, edrx: bool = False) -> None:
        if self._stopped_at is not None:
            return
        if self._state is None:
            self._started_at = at
        else:
            at = max(at, self._since)
            self._book(at)
        self._state = state
        self._edrx = edrx and state is PowerState.IDLE
        self._since = at

    def _book(self, until: float) -> None:
        if self._state is None:
            return
        spent = max(0.0, until - self._since)
        self._seconds[self._state] += spent
        if self._edrx:
            self._edrx_seconds += spent
        self._since = until

    def _stop(self, at: float) -> None:
        if self._state is not None and self._stopped_at is None:
            self._book(max(at, self._since))
            self._stopped_at = max(at, self._since)


# ---------------------------------------------------------------------------------------------
# Commands and replies
# ---------------------------------------------------------------------------------------------

_BASIC = re.compile(r"(&?[A-Z])(\d*)")


class _CmeError(Exception):
    """Ends a command with ``+CME ERROR: <code>`` (or ``ERROR`` per ``AT+CMEE``)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _CmsError(_CmeError):
    """Ends an SMS command with ``+CMS ERROR: <code>`` (TS 27.005 3.2.5)."""


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _strip_spaces(text: str) -> str:
    # BC95 manual: "spaces are ignored except inside quoted strings" (ref §1.1); no module minds.
    out: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == " " and not quoted:
            continue
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Command:
    """One parsed command: ``AT+CEREG=4`` is ``Command("+CEREG", "set", ("4",))``.

    ``kind`` is ``exec`` (``AT+CGSN``), ``read`` (``AT+CEREG?``), ``test`` (``AT+CEREG=?``)
    or ``set`` (``AT+CEREG=4``). Basic commands keep their letter as name (``ATE0`` is
    ``Command("E", "set", ("0",))``). ``args`` have quotes removed; an omitted argument
    (``AT+CPSMS=1,,,"x"``) is ``None``; ``quoted`` says which ones were quoted.
    """

    name: str
    kind: Literal["exec", "read", "test", "set"]
    args: tuple[str | None, ...] = ()
    quoted: tuple[bool, ...] = ()
    params: str = ""

    @classmethod
    def parse(cls, text: str) -> Command:
        """Parse one command of a line, without its ``AT`` (``+CEREG?``, ``E0``, ``I``, ``""``)."""
        if not text:
            return cls("", "exec")
        if text[0] in "+*$%^#":
            cut = next((i for i, char in enumerate(text) if char in "=?"), len(text))
            name, rest = text[:cut].upper(), text[cut:]
            if rest == "":
                return cls(name, "exec")
            if rest == "?":
                return cls(name, "read")
            if rest == "=?":
                return cls(name, "test")
            if rest.startswith("="):
                params = rest[1:]
                args: list[str | None] = []
                quoted: list[bool] = []
                for part in _split_outside_quotes(params, ","):
                    was_quoted = part.startswith('"') and part.endswith('"') and len(part) >= 2
                    value = part[1:-1] if was_quoted else part
                    args.append(value if (value or was_quoted) else None)
                    quoted.append(was_quoted)
                return cls(name, "set", tuple(args), tuple(quoted), params)
            return cls(text.upper(), "exec")  # "+CEREG?X": no such command
        match = _BASIC.fullmatch(text.upper())
        if match is None:
            return cls(text.upper(), "exec")
        if match[2]:
            return cls(match[1], "set", (match[2],), (False,), match[2])
        return cls(match[1], "exec")

    def has(self, index: int) -> bool:
        """Whether argument ``index`` was given (not omitted)."""
        return index < len(self.args) and self.args[index] is not None

    def int_arg(self, index: int, default: int | None = None, *, lo: int | None = None, hi: int | None = None) -> int:
        """Argument ``index`` as an integer in ``lo..hi``; ``default`` when omitted, else CME 50."""
        value = self.args[index] if index < len(self.args) else None
        if value is None:
            if default is None:
                raise _CmeError(50)
            return default
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise _CmeError(50) from None
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise _CmeError(50)
        return number

    def str_arg(self, index: int, default: str | None = None) -> str:
        """Argument ``index`` as text (quotes removed); ``default`` when omitted, else CME 50."""
        value = self.args[index] if index < len(self.args) else None
        if value is None:
            if default is None:
                raise _CmeError(50)
            return default
        return value


@dataclass(frozen=True)
class _DataRequest:
    """The command wants bytes after a prompt: exactly ``length`` of them, or up to Ctrl-Z."""

    on_data: Callable[[bytes], Reply]
    length: int | None = None
    prompt: bytes = b"\r\n> "
    max_length: int = 4096


class _Deferred:
    """The final result code comes later (a TCP connect in progress)."""


_DEFERRED = _Deferred()

#: What a handler returns: None = ``OK``; a string = that final line ("" = none at all, the
#: handler printed its own); a data request; or "deferred". Errors are raised (_CmeError).
Reply: TypeAlias = str | _DataRequest | _Deferred | None
Handler: TypeAlias = Callable[["ModemEmulator", Command], Reply]
#: Socket URC hooks of a dialect: data arrived (socket, payload, source) / the peer closed.
_DataHook: TypeAlias = Callable[["ModemEmulator", "_ModemSocket", bytes, "tuple[str, int]"], None]
_CloseHook: TypeAlias = Callable[["ModemEmulator", "_ModemSocket"], None]

_CME_TEXT: Mapping[int, str] = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    16: "incorrect password",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
}
_CMS_TEXT: Mapping[int, str] = {
    302: "operation not allowed",
    304: "invalid PDU mode parameter",
    321: "invalid memory index",
    322: "memory full",
    331: "no network service",
    500: "unknown error",
}


# ---------------------------------------------------------------------------------------------
# Dialects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """What one module says differently from the generic 27.007 table: data, not branches.

    ``commands`` are added to (or, mapped to ``None``, removed from) the generic table.
    """

    model: str
    manufacturer: str
    model_name: str
    firmware: str
    #: ``ATI`` lines; ``{firmware}`` and ``{imei}`` are filled in.
    ati: tuple[str, ...]
    commands: Mapping[str, Handler | None]
    on_socket_data: _DataHook
    on_socket_closed: _CloseHook
    #: Between ``+CMD:`` and its parameters. The Neul stack of the BC95 / SARA-N2 prints
    #: none (``+NSONMI:1,12``, ``+CEREG:1``), everyone else one space (ref §1.4).
    colon: str = ": "
    #: ``<AcT>`` reported in ``+CEREG`` / ``+COPS``: 7 E-UTRAN (Cat-M), 9 NB-S1 (ref §3.1).
    default_act: int = 9
    boot_text: tuple[str, ...] = ()
    #: Printed whenever the module leaves PSM (the BC66 boot ROM, ref §1.4).
    psm_wake_text: tuple[str, ...] = ()
    psm_enter_urc: str | None = None
    psm_exit_urc: str | None = None
    #: Printed (as URC) when powered down by the power key or the power-down command.
    power_down_text: str | None = None
    #: Whether a character on the UART wakes the module from PSM (BC95 / SARA-N2, ref §4.7).
    wakes_on_uart_in_psm: bool = False
    #: Extra field after ``<AcT>`` in ``+CEREG`` modes 4/5 (SIM7020 ``"00"``, ref §1.4, §3.1).
    cereg_after_act: str | None = None
    #: Mode 4/5 shows ``"11100000"`` timers while PSM is off (the SIM7020 trace, ref §3.1).
    cereg_shows_deactivated_timers: bool = False
    pdp_types: tuple[str, ...] = ("IP", "IPV6", "IPV4V6", "Non-IP")
    #: Largest payload one send command takes.
    max_datagram: int = 512
    #: Socket ids the module hands out / accepts.
    socket_ids: range = range(7)


# ---------------------------------------------------------------------------------------------
# Sockets
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _ModemSocket:
    """One module socket and the real loopback socket behind it."""

    sid: int
    proto: Literal["udp", "tcp"]
    sock: socket.socket
    #: The peer for sends without a destination (TCP, BG96 "UDP", SIM7080 CAOPEN, CSOCON).
    peer: tuple[str, int] | None = None
    #: BG96 "UDP SERVICE": destination per send, source shown on read (ref §5.2).
    service: bool = False
    #: Raise the data URC at all (BC95 NSOCR <receive_control>).
    notify: bool = True
    #: Data travels inside the URC instead of waiting for a read command (BG96 access mode 1,
    #: SIM7080 recv mode 1).
    push: bool = False
    #: BG96 buffer mode: the next arrival raises "recv"; cleared until the buffer is drained.
    announce: bool = True
    connected: bool = False
    bound: bool = False
    watching: bool = False
    datagrams: deque[tuple[bytes, tuple[str, int]]] = field(default_factory=deque)
    stream: bytearray = field(default_factory=bytearray)
    sent: int = 0
    received: int = 0
    read: int = 0

    @property
    def unread(self) -> int:
        """Bytes waiting in the module's buffer."""
        return len(self.stream) + sum(len(data) for data, _ in self.datagrams)

    def take(self, limit: int) -> tuple[bytes, tuple[str, int] | None]:
        """Up to ``limit`` bytes: of the first datagram (UDP keeps boundaries) or of the stream."""
        if self.proto == "tcp":
            data = bytes(self.stream[:limit])
            del self.stream[:limit]
            self.read += len(data)
            return data, self.peer
        if not self.datagrams:
            return b"", None
        data, source = self.datagrams[0]
        # A read shorter than the datagram leaves the rest for the next read rather than
        # dropping it: the modules disagree here and losing bytes silently helps nobody.
        if len(data) > limit:
            self.datagrams[0] = (data[limit:], source)
            data = data[:limit]
        else:
            self.datagrams.popleft()
        self.read += len(data)
        return data, source


def _unhex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise _CmeError(50) from None


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


class ModemEmulator:
    """A cellular module answering AT commands on a pty, with sockets, SMS and NIDD on loopback.

    ``model`` picks the dialect (a key of :data:`DIALECTS`: ``bc95``, ``bc66``, ``bg96``,
    ``sim7020``, ``sim7080``, ``sara-r4``). The keywords describe the SIM, the network
    and the timers:

    * ``imei``, ``imsi``, ``iccid``, ``firmware``: what the identity commands answer.
    * ``registration_stat``: the ``<stat>`` the network gives (1 home, 5 roaming, 2
      searching, 3 denied, ...); change it later with :meth:`set_registration`.
    * ``operator`` (numeric PLMN), ``operator_name``, ``act``, ``tac``, ``cell_id``.
    * ``rssi_dbm``, ``rsrp_dbm``, ``rsrq_db``: the signal, reported through ``+CSQ`` /
      ``+CESQ`` with the 3GPP mappings (ref §3.3); change with :meth:`set_signal`.
    * ``granted_psm``: ``None`` grants PSM timers as requested; ``(active, tau)`` (seconds
      or 8-bit strings) is what the network grants instead. ``psm_supported=False``
      refuses PSM altogether. Same for eDRX: ``granted_edrx`` (a 4-bit string),
      ``edrx_supported``, ``paging_time_window``.
    * ``clock``: monotonic seconds (:class:`ManualClock` in tests; ``time.monotonic``
      by default). ``network_time`` / ``timezone_quarters`` feed ``AT+CCLK?``.
    * ``rrc_inactivity_s``: how long the network keeps the RRC connection after the
      last packet (typical network settings are 10-20 s); ``signalling_s``: how long
      an attach or TAU without data keeps it. ``auto_sleep_s``: UART idle time
      before ``AT+CSCLK=2`` sleeps.
    * ``currents_ma`` / ``idle_edrx_ma``: per-state currents for :meth:`energy_report`.
    * ``sim_pin``: the SIM asks for this PIN (``+CPIN: SIM PIN``) until given.
    * ``announce_boot``: print the module's boot text at :meth:`start`.
    """

    def __init__(
        self,
        model: str = "bg96",
        *,
        imei: str = "490154203237518",
        imsi: str = "001010123456789",
        iccid: str = "89001012012341234012",
        firmware: str | None = None,
        registration_stat: int = 1,
        operator: str = "00101",
        operator_name: str = "M2M Test",
        act: int | None = None,
        tac: str = "1A2B",
        cell_id: str = "01A2B3C4",
        rssi_dbm: int | None = -73,
        rsrp_dbm: int | None = -95,
        rsrq_db: float | None = -10.0,
        granted_psm: tuple[int | str, int | str] | None = None,
        psm_supported: bool = True,
        granted_edrx: str | None = None,
        edrx_supported: bool = True,
        paging_time_window: str = "0011",
        clock: Clock | None = None,
        network_time: dt.datetime | None = None,
        timezone_quarters: int = 0,
        rrc_inactivity_s: float = 20.0,
        signalling_s: float = 2.0,
        auto_sleep_s: float = 5.0,
        currents_ma: Mapping[PowerState | str, float] | None = None,
        idle_edrx_ma: float | None = None,
        sim_pin: str | None = None,
        announce_boot: bool = True,
    ) -> None:
        """Describe the module and its network; nothing opens until :meth:`start`."""
        key = model.lower()
        if key not in DIALECTS:
            raise ValueError(f"unknown modem model {model!r}; choose one of {', '.join(sorted(DIALECTS))}")
        self.dialect: Dialect = DIALECTS[key]
        self.model = key
        merged: dict[str, Handler | None] = {**_GENERIC_COMMANDS, **self.dialect.commands}
        self._commands: dict[str, Handler] = {name: h for name, h in merged.items() if h is not None}
        self.imei, self.imsi, self.iccid = imei, imsi, iccid
        self.firmware = firmware if firmware is not None else self.dialect.firmware
        self._stat = registration_stat
        self._reject_cause: int | None = None
        self.operator, self.operator_name = operator, operator_name
        self._act = act if act is not None else self.dialect.default_act
        self._tac, self._ci = tac, cell_id
        self._rssi_dbm, self._rsrp_dbm, self._rsrq_db = rssi_dbm, rsrp_dbm, rsrq_db
        self._psm_override: tuple[str, str] | None = None
        if granted_psm is not None:
            active, tau = granted_psm
            self._psm_override = (
                _timer_bits(active, _T3324_UNIT_S, "granted Active-Time"),
                _timer_bits(tau, _T3412_UNIT_S, "granted Periodic-TAU"),
            )
        self._psm_supported = psm_supported
        if granted_edrx is not None and not _BITS4.fullmatch(granted_edrx):
            raise ValueError(f"granted_edrx is a 4-character bit string like '0101', got {granted_edrx!r}")
        if not _BITS4.fullmatch(paging_time_window):
            raise ValueError(f"paging_time_window is a 4-character bit string, got {paging_time_window!r}")
        self._edrx_override, self._edrx_supported, self._ptw = granted_edrx, edrx_supported, paging_time_window
        self._clock: Clock = time.monotonic if clock is None else clock
        self._utc_base = network_time if network_time is not None else dt.datetime.now(dt.timezone.utc)
        if self._utc_base.tzinfo is None:
            raise ValueError("network_time must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc))")
        self._utc_base_clock = self._clock()
        self._tz_quarters = timezone_quarters
        self._rrc_inactivity_s, self._signalling_s, self._auto_sleep_s = rrc_inactivity_s, signalling_s, auto_sleep_s
        self._sim_pin = sim_pin
        self._announce_boot = announce_boot

        #: The energy ledger (seconds per :class:`PowerState`); see :meth:`energy_report`.
        self.energy = EnergyLedger(self._clock, currents_ma, idle_edrx_ma)
        #: Test hook, the network side of NIDD: payloads the module sent with ``AT+CSODCP``.
        self.nidd_uplink: asyncio.Queue[bytes] = asyncio.Queue()
        #: Test hook, the SMSC: PDUs (hex, upper case, with their SMSC field) sent with ``AT+CMGS``.
        self.sms_outbox: asyncio.Queue[str] = asyncio.Queue()
        #: Input bytes the module did not hear (asleep, in PSM, powered down, or consumed by a wake).
        self.ignored_input_bytes = 0
        #: NIDD downlink dropped because ``AT+CRTDCP`` reporting was off.
        self.nidd_dropped = 0

        self._init_non_volatile()
        self._reset_volatile()
        self._init_runtime()

    def _init_non_volatile(self) -> None:
        """Settings that survive reboots, as they do in the modules' NV memory."""
        self._psm_mode = 0
        self._psm_req_tau: str | None = None
        self._psm_req_active: str | None = None
        self._edrx_req: dict[int, str] = {}
        self._edrx_urc = False
        self._contexts: dict[int, tuple[str, str]] = {1: ("IP", "")}
        self._sms_store: dict[int, tuple[int, str]] = {}
        self._sca = ("+10000000000", 145)
        self._pin_ok = self._sim_pin is None
        self._mr = 0
        self._dtr_high = False

    def _init_runtime(self) -> None:
        """The pty, the radio and the timers: nothing runs until start()."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._port_path: str | None = None
        self._powered = False
        self._radio = PowerState.OFF
        self._deadlines: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._running_timers = False
        self._out = bytearray()
        self._writer_armed = False
        self._held_urcs: deque[bytes] = deque()
        self._held_downlink: deque[Callable[[], None]] = deque()
        self._release_after_downlink = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()

    def _reset_volatile(self) -> None:
        """What a reboot resets: the UART session, URC modes, sockets, sleep configuration."""
        self._echo = True
        self._cmee = 0
        self._cereg_n = 0
        self._creg_n = 0
        self._cgreg_n = 0
        self._cscon_n = 0
        self._cfun = 1
        self._attached = True
        self._cops_mode = 0
        self._cops_format = 2
        self._cmgf = 0
        self._cnmi = [2, 1, 0, 0, 0]
        self._crtdcp = 0
        self._psm_urc_on = False
        self._wake_urc_on = False
        self._uart_sleep: Literal["off", "dtr", "auto"] = "off"
        self._sleep_value = 0
        self._auto_asleep = False
        self._hex_mode = False
        self._rcv_hex = True
        self._pdp_active: set[int] = set()
        self._sockets: dict[int, _ModemSocket] = {}
        self._settings: dict[str, str] = {}
        self._keyed: dict[str, dict[str, str]] = {}
        self._line = bytearray()
        self._data_req: _DataRequest | None = None
        self._data_buf = bytearray()
        self._busy = False
        self._queued_lines: deque[str] = deque()
        self._post_final: list[Callable[[], None]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pty, power the module on (boot text, attach) and serve on the loop."""
        if self._master is not None:
            raise RuntimeError("the emulator is already started")
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        # Raw: no kernel echo, line editing or CR/LF translation; the emulated module decides
        # all of that, as a UART passes bytes through untouched.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._port_path = os.ttyname(slave)
        self._loop.add_reader(master, self._on_readable)
        if isinstance(self._clock, ManualClock):
            self._clock.subscribe(self._run_timers)
        self._boot(self._clock(), direct=False)
        self._run_timers()

    async def stop(self) -> None:
        """Close sockets and the pty; the energy ledger stops counting here."""
        if self._master is None or self._loop is None:
            return
        self._run_timers()
        for sock in list(self._sockets.values()):
            self._close_socket(sock)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.energy._stop(self._clock())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if isinstance(self._clock, ManualClock):
            self._clock.unsubscribe(self._run_timers)
        self._loop.remove_reader(self._master)
        if self._writer_armed:
            self._loop.remove_writer(self._master)
            self._writer_armed = False
        os.close(self._master)
        if self._slave is not None:
            os.close(self._slave)
        self._master = self._slave = None
        self._powered = False
        self._notify()

    async def __aenter__(self) -> ModemEmulator:
        """``async with ModemEmulator(...) as emu:`` starts and stops it."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the emulator."""
        await self.stop()

    @property
    def port_path(self) -> str:
        """The pty device (``/dev/pts/N``) to open like the module's serial port."""
        if self._port_path is None:
            raise RuntimeError("start() the emulator first; the pty exists only while it runs")
        return self._port_path

    # -- state the tests look at ------------------------------------------------------------

    @property
    def power_state(self) -> PowerState:
        """The radio's state right now (timers that fell due are applied first)."""
        self._run_timers()
        return self._radio

    @property
    def in_psm(self) -> bool:
        """Whether the module is in PSM (unreachable, UART asleep)."""
        return self.power_state is PowerState.PSM

    @property
    def uart_awake(self) -> bool:
        """Whether the module would hear an AT command now."""
        if not self._powered or self._radio is PowerState.PSM:
            return False
        if self._uart_sleep == "dtr" and self._dtr_high:
            return False
        return not self._auto_asleep

    @property
    def held_downlink(self) -> int:
        """Downlink items (datagrams, SMS, NIDD) the network holds while the module is in PSM."""
        return len(self._held_downlink)

    @property
    def granted_psm(self) -> tuple[str, str] | None:
        """The (Active-Time, Periodic-TAU) bit strings the network granted, or None without PSM."""
        return self._granted_psm()

    def energy_report(self) -> EnergyReport:
        """Seconds and mAh per :class:`PowerState` since :meth:`start` (until :meth:`stop`)."""
        self._run_timers()
        return self.energy.report()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every emulator event.

        For tests that must know the emulator has seen something (a datagram arrived and is
        held, input was ignored) without sleeping for it.
        """

        async def until() -> None:
            while not predicate():
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    # -- the network and the pins (test hooks) ----------------------------------------------

    def set_registration(self, stat: int, *, reject_cause: int | None = None) -> None:
        """The network changes the registration ``<stat>``; ``+CEREG`` URCs follow the mode set."""
        self._run_timers()
        before = self._reg_stat()
        self._stat, self._reject_cause = stat, reject_cause
        self._registration_changed(before)
        self._run_timers()

    def set_signal(
        self, *, rssi_dbm: int | None = None, rsrp_dbm: int | None = None, rsrq_db: float | None = None
    ) -> None:
        """Change the signal ``+CSQ`` / ``+CESQ`` report (None leaves a value unchanged)."""
        if rssi_dbm is not None:
            self._rssi_dbm = rssi_dbm
        if rsrp_dbm is not None:
            self._rsrp_dbm = rsrp_dbm
        if rsrq_db is not None:
            self._rsrq_db = rsrq_db

    def deliver_nidd(self, data: bytes, cid: int = 1) -> None:
        """The network sends non-IP data: ``+CRTDCP: <cid>,<len>,"<hex>"`` when reporting is on."""
        self._downlink(functools.partial(self._nidd_arrived, bytes(data), cid), "NIDD")

    def deliver_sms(self, pdu_hex: str) -> None:
        """The SMSC delivers an SMS-DELIVER PDU (hex, with its SMSC field): ``+CMT`` or ``+CMTI``."""
        pdu = pdu_hex.strip().upper()
        if _tpdu_length(pdu) is None:
            raise ValueError(f"not a PDU in hex with an SMSC field: {pdu_hex!r}")
        self._downlink(functools.partial(self._sms_arrived, pdu), "SMS")

    def wake(self) -> None:
        """Drive the module's wake line: PSM_EINT (BC66, BG96), PON_TRIG / PWRKEY (BG95,
        SIM7020, SARA-R4), DTR low (SIMCom / BG96 UART sleep), per ref §4.7.

        Leaves PSM (printing what the module prints then), wakes a sleeping UART and leaves
        DTR low. The module then stays up for its Active-Time and returns to PSM without
        traffic. Held downlink waits for the module's next uplink or TAU, as on a real
        network, where leaving PSM alone does not make the module reachable.
        """
        self._run_timers()
        if not self._powered:
            return
        now = self._clock()
        self._dtr_high = False
        self._auto_asleep = False
        if self._radio is PowerState.PSM:
            self._leave_psm(now)
            self._restart_active_timer(now)
        self._arm_auto_sleep(now)
        self._flush_held()
        self._run_timers()

    def set_dtr(self, high: bool) -> None:
        """Set the DTR line level: high lets ``AT+QSCLK=1`` / ``AT+CSCLK=1`` sleep, low wakes (ref §4.7)."""
        self._run_timers()
        self._dtr_high = high
        self._flush_held()
        self._notify()

    def press_pwrkey(self) -> None:
        """A power-key pulse: boots a powered-down module, powers down a running one (ref §8.2)."""
        self._run_timers()
        now = self._clock()
        if self._powered:
            self._power_down(now)
        else:
            self._boot(now, direct=False)
        self._run_timers()

    # -- pty I/O ------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO would mean no device end is open; we hold one
            _log.debug("pty read failed: %s", exc)
            return
        if data:
            self._feed(data)

    def _write(self, data: bytes) -> None:
        if self._master is None or not data:
            return
        self._out += data
        self._flush_out()

    def _flush_out(self) -> None:
        assert self._master is not None and self._loop is not None
        while self._out:
            try:
                written = os.write(self._master, self._out)
            except BlockingIOError:
                # Nobody reads the device end right now: keep the bytes, as a UART FIFO with
                # flow control would, and continue when the kernel takes more.
                if not self._writer_armed:
                    self._loop.add_writer(self._master, self._flush_out)
                    self._writer_armed = True
                return
            except OSError as exc:
                _log.warning("pty write failed, %d bytes dropped: %s", len(self._out), exc)
                self._out.clear()
                break
            del self._out[:written]
        if self._writer_armed:
            self._loop.remove_writer(self._master)
            self._writer_armed = False

    def _fmt(self, prefix: str, params: str) -> str:
        return f"{prefix}{self.dialect.colon}{params}"

    def _info(self, text: str) -> None:
        self._write(b"\r\n" + text.encode("latin-1") + b"\r\n")

    def _info_bytes(self, header: str, payload: bytes, separator: bytes = b"\r\n") -> None:
        self._write(b"\r\n" + header.encode("latin-1") + separator + payload + b"\r\n")

    def _urc(self, text: str) -> None:
        self._urc_bytes(text.encode("latin-1"))

    def _urc_bytes(self, payload: bytes) -> None:
        if not self._powered:
            return
        framed = b"\r\n" + payload + b"\r\n"
        if self._busy or not self.uart_awake:
            self._held_urcs.append(framed)
            return
        self._write(framed)

    def _flush_held(self) -> None:
        while self._held_urcs and not self._busy and self.uart_awake:
            self._write(self._held_urcs.popleft())

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- input: lines, data mode, wake by UART -------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._run_timers()
        now = self._clock()
        if not self._powered:
            self.ignored_input_bytes += len(data)
        elif not self.uart_awake:
            if self._wakes_on_input():
                self._wake_by_uart(now)
            # The bytes that woke the module are lost, as on the real ones: SIMCom says to
            # send "AT" twice after CSCLK=2 sleep (ref §4.7).
            self.ignored_input_bytes += len(data)
        else:
            self._arm_auto_sleep(now)
            index = 0
            while index < len(data):
                if self._data_req is not None:
                    index = self._feed_data(self._data_req, data, index)
                    continue
                byte = data[index]
                index += 1
                if self._echo and not self._busy:
                    self._write(bytes((byte,)))
                if byte == 0x0D:
                    line = self._line.decode("latin-1")
                    self._line.clear()
                    self._on_line(line)
                elif byte in (0x08, 0x7F):
                    del self._line[-1:]
                elif byte >= 0x20 and len(self._line) < 4096:
                    self._line.append(byte)
                # LF and other control bytes are dropped: BC95 "a newline character is ignored"
                # (ref §1.1), and Zephyr appends a stray Ctrl-Z after CASEND data (ref §1.3).
        self._run_timers()

    def _feed_data(self, request: _DataRequest, data: bytes, index: int) -> int:
        if request.length is not None:
            chunk = data[index : index + request.length - len(self._data_buf)]
            self._data_buf += chunk
            if len(self._data_buf) == request.length:
                self._finish_data(bytes(self._data_buf))
            return index + len(chunk)
        while index < len(data):
            byte = data[index]
            index += 1
            if byte == 0x1A:  # Ctrl-Z sends (27.005 3.5.1)
                self._finish_data(bytes(self._data_buf))
                return index
            if byte == 0x1B:  # ESC cancels without sending
                self._data_req = None
                self._data_buf.clear()
                self._final("OK")
                return index
            self._data_buf.append(byte)
            if len(self._data_buf) > request.max_length:
                self._data_req = None
                self._data_buf.clear()
                self._final(self._error_text(_CmeError(50)))
                return index
        return index

    def _finish_data(self, payload: bytes) -> None:
        request = self._data_req
        self._data_req = None
        self._data_buf.clear()
        assert request is not None
        try:
            reply = request.on_data(payload)
        except _CmeError as exc:
            self._final(self._error_text(exc))
            return
        except Exception:
            _log.exception("emulator failed handling data of a command")
            self._final("ERROR")
            return
        self._conclude(reply)

    def _on_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if self._busy:
            self._queued_lines.append(text)
            return
        if text[:2].upper() != "AT":
            _log.debug("not a command, ignored: %r", text)
            return
        self._execute(text[2:])

    def _execute(self, body: str) -> None:
        self._busy = True
        reply: Reply = None
        try:
            parts = _split_outside_quotes(_strip_spaces(body), ";")
            for index, part in enumerate(parts):
                command = Command.parse(part)
                handler = self._commands.get(command.name)
                if handler is None:
                    _log.debug("unknown command AT%s", part)
                    raise _CmeError(4)
                reply = handler(self, command)
                last = index == len(parts) - 1
                if not last and isinstance(reply, (_DataRequest, _Deferred)):
                    raise _CmeError(3)  # a prompt or a pending result ends a chain
                if not last and reply not in (None, "OK"):
                    break
        except _CmeError as exc:
            reply = self._error_text(exc)
        except Exception:
            # Rule 5 for a test double: a bug here shows up as ERROR and a log, not a dead pty.
            _log.exception("emulator failed on AT%s", body)
            reply = "ERROR"
        self._conclude(reply)

    def _conclude(self, reply: Reply) -> None:
        if isinstance(reply, _DataRequest):
            self._data_req = reply
            self._data_buf.clear()
            self._write(reply.prompt)
        elif not isinstance(reply, _Deferred):
            self._final("OK" if reply is None else reply)

    def _complete(self, result: str | _CmeError | None) -> None:
        """End a deferred command."""
        if not self._busy:
            return
        self._final(self._error_text(result) if isinstance(result, _CmeError) else (result or "OK"))

    def _final(self, text: str) -> None:
        if text:
            self._info(text)
        self._busy = False
        actions, self._post_final = self._post_final, []
        for action in actions:
            action()
        self._flush_held()
        while self._queued_lines and not self._busy:
            self._on_line(self._queued_lines.popleft())

    def _error_text(self, error: _CmeError) -> str:
        kind = "+CMS ERROR" if isinstance(error, _CmsError) else "+CME ERROR"
        if self._cmee == 0:
            return "ERROR"
        if self._cmee == 1:
            return self._fmt(kind, str(error.code))
        table = _CMS_TEXT if isinstance(error, _CmsError) else _CME_TEXT
        return self._fmt(kind, table.get(error.code, "unknown"))

    # -- timers ----------------------------------------------------------------------------------

    def _run_timers(self) -> None:
        """Apply every deadline that fell due, each at its own time, then arm the next one."""
        if self._running_timers:
            return
        self._running_timers = True
        try:
            now = self._clock()
            while self._deadlines:
                name, due = min(self._deadlines.items(), key=lambda item: item[1])
                if due > now:
                    break
                del self._deadlines[name]
                self._fire(name, due)
        finally:
            self._running_timers = False
        self._arm_timer()
        self._notify()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if isinstance(self._clock, ManualClock) or self._loop is None or self._master is None or not self._deadlines:
            return
        delay = max(0.0, min(self._deadlines.values()) - self._clock())
        self._timer = self._loop.call_later(delay, self._run_timers)

    def _fire(self, name: str, at: float) -> None:
        if name == "rrc_release":
            self._release(at)
        elif name == "psm":
            self._enter_psm(at)
        elif name == "tau":
            # T3412 expiry: the module wakes, tells the network it is still there (and gets
            # what the network held for it), then sleeps again (ref §4.1-4.3).
            self._connect(at, self._signalling_s)
        elif name == "uart_sleep":
            if self._busy or self._data_req is not None:
                self._deadlines["uart_sleep"] = at + self._auto_sleep_s
            else:
                self._auto_asleep = True

    def _arm_auto_sleep(self, now: float) -> None:
        if self._uart_sleep == "auto":
            self._deadlines["uart_sleep"] = now + self._auto_sleep_s
        else:
            self._deadlines.pop("uart_sleep", None)

    # -- radio: connection, release, PSM -----------------------------------------------------

    def _reg_stat(self) -> int:
        if not self._powered or not self._pin_ok or self._cfun != 1 or self._cops_mode == 2 or not self._attached:
            return 0
        return self._stat

    def _registered(self) -> bool:
        return self._reg_stat() in (1, 5)

    def _require_service(self) -> None:
        if not self._registered():
            raise _CmeError(30)

    def _edrx_act_type(self) -> int:
        # +CEDRXS <AcT-type>: 4 WB-S1 (LTE-M, +CEREG AcT 7/8), 5 NB-S1 (AcT 9) (ref §4.5).
        return 5 if self._act == 9 else 4

    def _edrx_grant(self) -> tuple[str, str, str] | None:
        requested = self._edrx_req.get(self._edrx_act_type())
        if requested is None or not self._edrx_supported:
            return None
        return requested, self._edrx_override or requested, self._ptw

    def _idle_state(self, at: float) -> None:
        self._radio = PowerState.IDLE
        self.energy._switch(PowerState.IDLE, at, edrx=self._edrx_grant() is not None)

    def _connect(self, at: float, hold_s: float) -> None:
        """Traffic or signalling: RRC connected until ``hold_s`` after the last of it."""
        if not self._powered:
            return
        if self._radio is PowerState.PSM:
            self._leave_psm(at)
        if self._radio is not PowerState.CONNECTED:
            self._radio = PowerState.CONNECTED
            self.energy._switch(PowerState.CONNECTED, at)
            if self._cscon_n:
                self._urc(self._fmt("+CSCON", "1"))
        # T3324 and T3412 run from the release, not while connected (24.301 5.3.11).
        self._deadlines.pop("psm", None)
        self._deadlines.pop("tau", None)
        if self._held_downlink:  # delivering what the network held is traffic too
            hold_s = max(hold_s, self._rrc_inactivity_s)
        release = at + hold_s
        if release > self._deadlines.get("rrc_release", -1.0):
            self._deadlines["rrc_release"] = release
        while self._held_downlink:
            self._held_downlink.popleft()()

    def _release(self, at: float) -> None:
        if self._radio is not PowerState.CONNECTED:
            return
        self._idle_state(at)
        self._release_after_downlink = False
        if self._cscon_n:
            self._urc(self._fmt("+CSCON", "0"))
        self._restart_active_timer(at)

    def _restart_active_timer(self, at: float) -> None:
        active, tau = self._psm_seconds()
        if active is None:
            self._deadlines.pop("psm", None)
            self._deadlines.pop("tau", None)
            return
        self._deadlines["psm"] = at + active
        if tau is not None and "tau" not in self._deadlines:
            self._deadlines["tau"] = at + tau

    def _enter_psm(self, at: float) -> None:
        if self._radio is not PowerState.IDLE or not self._registered():
            return
        # The URCs go out before the UART sleeps, as the modules print them (ref §4.7).
        if self._psm_urc_on and self.dialect.psm_enter_urc:
            self._urc(self.dialect.psm_enter_urc)
        if self._wake_urc_on:  # only the BC66's AT+QATWAKEUP=1 sets it
            self._urc("+QATSLEEP")  # [P] BC66 deep-sleep indication (ref §4.7)
        self._radio = PowerState.PSM
        self.energy._switch(PowerState.PSM, at)
        self._auto_asleep = False
        if self._data_req is not None:  # a half-typed payload dies with the UART session
            self._data_req = None
            self._data_buf.clear()
            self._busy = False

    def _leave_psm(self, at: float) -> None:
        self._idle_state(at)
        for line in self.dialect.psm_wake_text:
            self._urc(line)
        if self._psm_urc_on and self.dialect.psm_exit_urc:
            self._urc(self.dialect.psm_exit_urc)
        if self._wake_urc_on:
            self._urc("+QATWAKEUP")  # BC66 AT+QATWAKEUP=1 (ref §4.7) [P]
        self._flush_held()

    def _wakes_on_input(self) -> bool:
        if self._radio is PowerState.PSM:
            return self.dialect.wakes_on_uart_in_psm
        return self._auto_asleep

    def _wake_by_uart(self, now: float) -> None:
        self._auto_asleep = False
        if self._radio is PowerState.PSM:
            self._leave_psm(now)
            self._restart_active_timer(now)
        self._arm_auto_sleep(now)
        self._flush_held()

    def _drop_connection(self, at: float) -> None:
        for name in ("rrc_release", "psm", "tau"):
            self._deadlines.pop(name, None)
        if self._radio is PowerState.CONNECTED and self._cscon_n:
            self._urc(self._fmt("+CSCON", "0"))
        if self._radio in (PowerState.CONNECTED, PowerState.PSM):
            self._idle_state(at)

    def _uplink(self, rai: int = 0) -> None:
        """The module sent something. ``rai`` 1: release right after it, 2: after the reply (ref §4.6)."""
        now = self._clock()
        self._connect(now, self._rrc_inactivity_s)
        if rai == 1:
            self._deadlines["rrc_release"] = now
        elif rai == 2:
            self._release_after_downlink = True

    def _downlink(self, action: Callable[[], None], what: str) -> None:
        self._run_timers()
        if not self._powered or not self._registered():
            _log.warning("%s for a module that is not registered is lost", what)
        elif self._radio is PowerState.PSM:
            self._held_downlink.append(action)
        else:
            now = self._clock()
            self._connect(now, self._rrc_inactivity_s)
            action()
            if self._release_after_downlink:
                self._release_after_downlink = False
                self._deadlines["rrc_release"] = now
        self._run_timers()

    # -- power --------------------------------------------------------------------------------

    def _boot(self, at: float, *, direct: bool) -> None:
        self._powered = True
        self._reset_volatile()
        self._pin_ok = self._sim_pin is None
        self._auto_asleep = False
        if self._registered():
            self._connect(at, self._signalling_s)  # attach
        else:
            self._idle_state(at)
        if self._announce_boot or direct:
            for line in self.dialect.boot_text:
                if direct:
                    self._info(line)
                else:
                    self._urc(line)

    def _power_down(self, at: float) -> None:
        if self.dialect.power_down_text:
            self._urc(self.dialect.power_down_text)
        for sock in list(self._sockets.values()):
            self._close_socket(sock)
        self._powered = False
        self._radio = PowerState.OFF
        self.energy._switch(PowerState.OFF, at)
        self._deadlines.clear()
        self._held_urcs.clear()
        self._data_req = None
        self._busy = False

    def _reboot(self, *, direct: bool = False) -> None:
        now = self._clock()
        for sock in list(self._sockets.values()):
            self._close_socket(sock)
        self._deadlines.clear()
        self._radio = PowerState.OFF
        self._boot(now, direct=direct)

    # -- registration -------------------------------------------------------------------------

    def _registration_changed(self, before: int) -> None:
        after = self._reg_stat()
        if after == before:
            return
        if self._cereg_n:
            self._urc(self._fmt("+CEREG", self._cereg_params(self._cereg_n)))
        if self._cgreg_n:
            self._urc(self._fmt("+CGREG", self._creg_params(self._cgreg_n)))
        if self._creg_n:
            self._urc(self._fmt("+CREG", self._creg_params(self._creg_n)))
        now = self._clock()
        if after in (1, 5) and before not in (1, 5):
            self._connect(now, self._signalling_s)  # attach
        elif after not in (1, 5) and before in (1, 5):
            self._drop_connection(now)

    def _granted_psm(self) -> tuple[str, str] | None:
        if self._psm_mode != 1:
            return None
        if not self._psm_supported:
            return (_DEACTIVATED, _DEACTIVATED)
        if self._psm_override is not None:
            return self._psm_override
        # Requested values, or what the module asks by default when none were given [U].
        return (self._psm_req_active or "00100001", self._psm_req_tau or "00000110")

    def _psm_seconds(self) -> tuple[int | None, int | None]:
        granted = self._granted_psm()
        if granted is None:
            return None, None
        active = _t3324_seconds(granted[0])
        if active is None:  # T3324 deactivated: no PSM (ref §4.3)
            return None, None
        return active, _t3412_seconds(granted[1])

    def _psm_changed(self, before: tuple[str, str] | None) -> None:
        after = self._granted_psm()
        if after == before or not self._registered():
            return
        # New timers are negotiated in a TAU (24.301 5.5.3): a short connection, then the
        # network's answer shows in +CEREG mode 4/5 (ref §3.1, §4.1).
        self._connect(self._clock(), self._signalling_s)
        if self._cereg_n >= 4:
            self._urc(self._fmt("+CEREG", self._cereg_params(self._cereg_n)))

    def _edrx_changed(self, before: tuple[str, str, str] | None) -> None:
        after = self._edrx_grant()
        if after == before or not self._registered():
            return
        self._connect(self._clock(), self._signalling_s)
        if self._edrx_urc:
            act = self._edrx_act_type()
            self._urc(self._fmt("+CEDRXP", f'{act},"{after[0]}","{after[1]}","{after[2]}"' if after else str(act)))

    def _cereg_params(self, n: int) -> str:
        stat = self._reg_stat()
        registered = stat in (1, 5)
        fields = [str(stat)]
        cause = ["0", str(self._reject_cause)] if self._reject_cause is not None and n in (3, 5) else ["", ""]
        if n >= 2 and (registered or cause[1]):
            fields += [f'"{self._tac}"', f'"{self._ci}"', str(self._act)] if registered else ["", "", ""]
            if n >= 4 and registered and self.dialect.cereg_after_act is not None:
                fields.append(self.dialect.cereg_after_act)
            fields += cause
            if n >= 4 and registered:
                timers = self._granted_psm()
                if timers is None and self.dialect.cereg_shows_deactivated_timers:
                    timers = (_DEACTIVATED, _DEACTIVATED)
                if timers is not None:
                    fields += [f'"{timers[0]}"', f'"{timers[1]}"']
        while fields and fields[-1] == "":
            fields.pop()
        return ",".join(fields)

    def _creg_params(self, n: int) -> str:
        stat = self._reg_stat()
        if n >= 2 and stat in (1, 5):
            return f'{stat},"{self._tac}","{self._ci}",{self._act}'
        return str(stat)

    # -- SMS and NIDD arrivals ----------------------------------------------------------------

    def _nidd_arrived(self, data: bytes, cid: int) -> None:
        if not self._crtdcp:
            self.nidd_dropped += 1
            _log.warning("NIDD downlink of %d bytes dropped: reporting is off (AT+CRTDCP=1 enables it)", len(data))
            return
        self._urc(self._fmt("+CRTDCP", f'{cid},{len(data)},"{data.hex().upper()}"'))

    def _sms_arrived(self, pdu: str) -> None:
        length = _tpdu_length(pdu) or 0
        mt = self._cnmi[1]
        # Class 2 (SIM) messages are always stored and indicated as for mt=1 (ref §7.1, TELIT-CNMI).
        if mt == 2 and _sms_class(pdu) != 2:
            self._urc(self._fmt("+CMT", f",{length}") + "\r\n" + pdu)
            return
        index = next((i for i in range(1, _SMS_SLOTS + 1) if i not in self._sms_store), None)
        if index is None:
            _log.warning("SMS lost: the emulated SIM store is full (%d messages); delete with AT+CMGD", _SMS_SLOTS)
            return
        self._sms_store[index] = (0, pdu)
        if mt in (1, 2, 3):
            self._urc(self._fmt("+CMTI", f'"SM",{index}'))

    # -- sockets --------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _loopback(self, host: str, port: int, *, allow_port_zero: bool = False) -> tuple[str, int]:
        """The destination if it is on IPv4 loopback; anything else is refused (ERROR, logged)."""
        name = "127.0.0.1" if host.strip().lower() == "localhost" else host.strip()
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
        except ValueError:
            address = None
        port_ok = 0 < port < 65536 or (allow_port_zero and port == 0)
        if address is None or address.version != 4 or not address.is_loopback or not port_ok:
            _log.warning(
                "refused %s:%s: the modem emulator only bridges to IPv4 loopback peers (127.0.0.0/8)", host, port
            )
            raise _CmeError(3)
        return str(address), port

    def _free_sid(self) -> int:
        sid = next((i for i in self.dialect.socket_ids if i not in self._sockets), None)
        if sid is None:
            raise _CmeError(3)
        return sid

    def _socket(self, sid: int) -> _ModemSocket:
        sock = self._sockets.get(sid)
        if sock is None:
            raise _CmeError(50)
        return sock

    def _open_socket(self, sid: int, proto: Literal["udp", "tcp"], *, local_port: int = 0, bind: bool) -> _ModemSocket:
        """A module socket on a real one; raises OSError when the local port is taken."""
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        raw.setblocking(False)
        sock = _ModemSocket(sid, proto, raw)
        if bind:
            try:
                self._bind(sock, local_port)
            except OSError:
                raw.close()
                raise
        self._sockets[sid] = sock
        return sock

    def _bind(self, sock: _ModemSocket, port: int) -> None:
        sock.sock.bind(("127.0.0.1", port))
        sock.bound = True
        self._watch(sock)

    def _watch(self, sock: _ModemSocket) -> None:
        assert self._loop is not None
        if not sock.watching:
            self._loop.add_reader(sock.sock.fileno(), self._on_socket_readable, sock)
            sock.watching = True

    def _unwatch(self, sock: _ModemSocket) -> None:
        if sock.watching and self._loop is not None:
            self._loop.remove_reader(sock.sock.fileno())
            sock.watching = False

    def _close_socket(self, sock: _ModemSocket) -> None:
        self._unwatch(sock)
        sock.sock.close()
        if self._sockets.get(sock.sid) is sock:
            del self._sockets[sock.sid]

    def _on_socket_readable(self, sock: _ModemSocket) -> None:
        if sock.proto == "udp":
            while True:
                try:
                    data, source = sock.sock.recvfrom(65535)
                except BlockingIOError:
                    break
                except OSError as exc:  # ICMP errors never reach a module over the air
                    _log.debug("socket %d: %s", sock.sid, exc)
                    break
                self._downlink(functools.partial(self._socket_data, sock, data, (source[0], source[1])), "datagram")
            return
        try:
            data = sock.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            assert sock.peer is not None
            self._downlink(functools.partial(self._socket_data, sock, data, sock.peer), "TCP data")
        else:
            self._unwatch(sock)  # EOF stays readable; stop looking before the loop spins on it
            self._downlink(functools.partial(self._socket_closed, sock), "TCP close")

    def _socket_data(self, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
        if self._sockets.get(sock.sid) is not sock:
            return
        sock.received += len(data)
        self.dialect.on_socket_data(self, sock, data, source)

    def _socket_closed(self, sock: _ModemSocket) -> None:
        if self._sockets.get(sock.sid) is sock and sock.connected:
            sock.connected = False
            self.dialect.on_socket_closed(self, sock)

    def _send(self, sock: _ModemSocket, data: bytes, destination: tuple[str, int] | None = None) -> bool:
        """Send over the bridge; False when the socket cannot send (TCP not connected)."""
        if sock.proto == "tcp":
            if not sock.connected:
                return False
            try:
                sent = sock.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                _log.debug("socket %d: %s", sock.sid, exc)
                return False
            if sent < len(data):
                assert self._loop is not None
                self._spawn(self._send_rest(sock, data[sent:]))
        else:
            target = destination or sock.peer
            if target is None:
                return False
            if not sock.bound:
                self._bind(sock, 0)
            try:
                sock.sock.sendto(data, target)
            except OSError as exc:  # a real network gives the module no ICMP feedback either
                _log.debug("socket %d: %s", sock.sid, exc)
        sock.sent += len(data)
        return True

    async def _send_rest(self, sock: _ModemSocket, data: bytes) -> None:
        assert self._loop is not None
        try:
            await self._loop.sock_sendall(sock.sock, data)
        except OSError as exc:
            _log.debug("socket %d: %s", sock.sid, exc)

    def _connect_tcp(self, sock: _ModemSocket, peer: tuple[str, int], done: Callable[[bool], None]) -> None:
        async def connect() -> None:
            assert self._loop is not None
            try:
                await self._loop.sock_connect(sock.sock, peer)
                ok = True
            except OSError as exc:
                _log.debug("socket %d: connect to %s:%d failed: %s", sock.sid, *peer, exc)
                ok = False
            if self._sockets.get(sock.sid) is not sock:
                return
            if ok:
                sock.connected, sock.peer = True, peer
                self._watch(sock)
                self._uplink()  # the SYN went over the air
            done(ok)
            self._run_timers()

        self._spawn(connect())


# ---------------------------------------------------------------------------------------------
# Helpers for the command handlers
# ---------------------------------------------------------------------------------------------

#: Messages the emulated SIM stores ("SM").
_SMS_SLOTS = 20
_HEX = frozenset("0123456789ABCDEFabcdef")


def _tpdu_length(pdu: str) -> int | None:
    """TPDU octets: the ``AT+CMGS`` / ``+CMT`` length, which excludes the SMSC field (ref §7.1)."""
    if len(pdu) < 4 or len(pdu) % 2 or not set(pdu) <= _HEX:
        return None
    length = len(pdu) // 2 - 1 - int(pdu[:2], 16)
    return length if length > 0 else None


def _sms_class(pdu: str) -> int | None:
    """The message class in TP-DCS of an SMS-DELIVER (ref §7.3-7.4), None when it has none."""
    try:
        octets = bytes.fromhex(pdu)
        index = 1 + octets[0] + 1  # SMSC field, first octet
        index += 2 + (octets[index] + 1) // 2  # TP-OA: digit count, TOA, semi-octets
        dcs = octets[index + 1]  # after TP-PID
    except (ValueError, IndexError):
        return None
    if dcs & 0xC0 == 0 and dcs & 0x10:  # group 00xx with "class meaningful"
        return dcs & 0x03
    if dcs & 0xF0 == 0xF0:  # group 1111
        return dcs & 0x03
    return None


def _csq(rssi_dbm: int | None) -> int:
    # 0 = -113 dBm or less, 2..30 = -109..-53 dBm, 31 = -51 or more, 99 unknown (ref §3.3).
    return 99 if rssi_dbm is None else min(31, max(0, (rssi_dbm + 113) // 2))


def _cesq_rsrp(rsrp_dbm: int | None) -> int:
    return 255 if rsrp_dbm is None else min(97, max(0, rsrp_dbm + 140))  # n - 140 dBm (ref §3.3)


def _cesq_rsrq(rsrq_db: float | None) -> int:
    return 255 if rsrq_db is None else min(34, max(0, round((rsrq_db + 19.5) * 2)))  # n/2 - 19.5 dB


def _bits_arg(command: Command, index: int, pattern: re.Pattern[str]) -> str | None:
    if not command.has(index):
        return None
    value = command.str_arg(index)
    if not pattern.fullmatch(value):
        raise _CmeError(50)
    return value


def _require_sim(emu: ModemEmulator) -> None:
    if not emu._pin_ok:
        raise _CmeError(11)


def _info_line(text: Callable[[ModemEmulator], str]) -> Handler:
    """An exec command that answers one line (identity commands)."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind == "test":
            return None
        emu._info(text(emu))
        return None

    return handler


def _setting(name: str, default: str | None = None) -> Handler:
    """Accept and remember a vendor setting; the read form answers it back."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind == "set":
            emu._settings[name] = command.params
        elif command.kind == "read":
            value = emu._settings.get(name, default)
            if value is not None:
                emu._info(emu._fmt(name, value))
        return None

    return handler


def _keyed_setting(name: str, on_set: Callable[[ModemEmulator, str, Command], None] | None = None) -> Handler:
    """``AT+QCFG="key",values`` style: store per key; ``AT+QCFG="key"`` answers the values."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        store = emu._keyed.setdefault(name, {})
        if command.kind == "read":
            for shown in store.values():
                emu._info(emu._fmt(name, shown))
            return None
        if command.kind != "set":
            return None
        key = command.str_arg(0).lower()
        head, _, values = command.params.partition(",")
        if not values:
            if key in store:
                emu._info(emu._fmt(name, store[key]))
            return None
        store[key] = f"{head},{values}"
        if on_set is not None:
            on_set(emu, key, command)
        return None

    return handler


# ---------------------------------------------------------------------------------------------
# The generic 27.007 / 27.005 table
# ---------------------------------------------------------------------------------------------


def _at(emu: ModemEmulator, command: Command) -> Reply:
    return None


def _ate(emu: ModemEmulator, command: Command) -> Reply:
    emu._echo = command.int_arg(0, 0, lo=0, hi=1) == 1
    return None


def _atv(emu: ModemEmulator, command: Command) -> Reply:
    if command.int_arg(0, 0) != 1:
        raise _CmeError(4)  # numeric result codes (ATV0) are not emulated
    return None


def _atz(emu: ModemEmulator, command: Command) -> Reply:
    # The factory profile: echo on, plain ERROR (python-gsmmodem sends ATZ then ATE0, ref §2.1).
    emu._echo, emu._cmee = True, 0
    return None


def _ati(emu: ModemEmulator, command: Command) -> Reply:
    for line in emu.dialect.ati:
        emu._info(line.format(firmware=emu.firmware, imei=emu.imei))
    return None


def _cmee(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CMEE", str(emu._cmee)))
    elif command.kind == "test":
        emu._info(emu._fmt("+CMEE", "(0-2)"))
    elif command.kind == "set":
        emu._cmee = command.int_arg(0, 0, lo=0, hi=2)
    return None


def _cfun(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CFUN", str(emu._cfun)))
        return None
    if command.kind == "test":
        emu._info(emu._fmt("+CFUN", "(0,1,4),(0,1)"))
        return None
    fun = command.int_arg(0)
    if fun not in (0, 1, 4):  # 0 minimum, 1 full, 4 airplane (ref §2.1)
        raise _CmeError(50)
    reset = command.int_arg(1, 0, lo=0, hi=1)
    before = emu._reg_stat()
    emu._cfun = fun
    emu._registration_changed(before)
    if reset:
        emu._post_final.append(emu._reboot)
    return None


def _cpin(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CPIN", "READY" if emu._pin_ok else "SIM PIN"))
        return None
    if command.kind != "set":
        return None
    if emu._pin_ok:
        raise _CmeError(3)
    if command.str_arg(0) != emu._sim_pin:
        raise _CmeError(16)
    before = emu._reg_stat()
    emu._pin_ok = True
    emu._registration_changed(before)
    return None


def _cgsn(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "test":
        emu._info(emu._fmt("+CGSN", "(0-3)"))
        return None
    which = command.int_arg(0, 0, lo=0, hi=3) if command.kind == "set" else 0
    # 27.007 8.2: 0 = serial number bare, 1 = IMEI, 2 = IMEISV, 3 = SVN (BC66 init uses =1, ref §2.2).
    if which == 0:
        emu._info(emu.imei)
    elif which == 1:
        emu._info(emu._fmt("+CGSN", emu.imei))
    elif which == 2:
        emu._info(emu._fmt("+CGSN", emu.imei[:14] + "01"))
    else:
        emu._info(emu._fmt("+CGSN", "01"))
    return None


def _cimi(emu: ModemEmulator, command: Command) -> Reply:
    _require_sim(emu)
    if command.kind == "exec":
        emu._info(emu.imsi)
    return None


def _iccid(name: str | None) -> Handler:
    """The vendor ICCID command: ``name`` is the response prefix, None for a bare line [U]."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        _require_sim(emu)
        if command.kind in ("exec", "read"):
            emu._info(emu.iccid if name is None else emu._fmt(name, emu.iccid))
        return None

    return handler


def _cereg(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        # A read answer prepends <n>; a URC never has it (ref §3.1).
        emu._info(emu._fmt("+CEREG", f"{emu._cereg_n},{emu._cereg_params(emu._cereg_n)}"))
    elif command.kind == "test":
        emu._info(emu._fmt("+CEREG", "(0-5)"))
    elif command.kind == "set":
        emu._cereg_n = command.int_arg(0, 0, lo=0, hi=5)
    return None


def _legacy_reg(name: str, get: Callable[[ModemEmulator], int], put: Callable[[ModemEmulator, int], None]) -> Handler:
    """``AT+CREG`` / ``AT+CGREG``: SARA-R4 init sets ``AT+CREG=1`` (ref §2.2); modes 0-2 here."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind == "read":
            emu._info(emu._fmt(name, f"{get(emu)},{emu._creg_params(get(emu))}"))
        elif command.kind == "test":
            emu._info(emu._fmt(name, "(0-2)"))
        elif command.kind == "set":
            put(emu, command.int_arg(0, 0, lo=0, hi=2))
        return None

    return handler


def _set_creg(emu: ModemEmulator, n: int) -> None:
    emu._creg_n = n


def _set_cgreg(emu: ModemEmulator, n: int) -> None:
    emu._cgreg_n = n


def _cops(emu: ModemEmulator, command: Command) -> Reply:
    names = {0: emu.operator_name, 1: emu.operator_name, 2: emu.operator}
    if command.kind == "read":
        if emu._registered():
            oper = names[emu._cops_format]
            emu._info(emu._fmt("+COPS", f'{emu._cops_mode},{emu._cops_format},"{oper}",{emu._act}'))
        else:
            emu._info(emu._fmt("+COPS", str(emu._cops_mode)))
        return None
    if command.kind == "test":
        entry = f'(2,"{emu.operator_name}","{emu.operator_name}","{emu.operator}",{emu._act})'
        emu._info(emu._fmt("+COPS", f"{entry},,(0-4),(0-2)"))
        return None
    if command.kind != "set":
        return None
    mode = command.int_arg(0, 0, lo=0, hi=4)
    if command.has(1):
        emu._cops_format = command.int_arg(1, lo=0, hi=2)
    if mode == 3:  # only sets the format
        return None
    if mode == 1 and command.str_arg(2) not in (emu.operator, emu.operator_name):
        raise _CmeError(30)  # manual selection of a network that is not there (4 falls back to automatic)
    before = emu._reg_stat()
    emu._cops_mode = 0 if mode == 4 else mode
    emu._registration_changed(before)
    return None


def _cgdcont(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        for cid, (pdp, apn) in sorted(emu._contexts.items()):
            emu._info(emu._fmt("+CGDCONT", f'{cid},"{pdp}","{apn}","0.0.0.0",0,0'))
        return None
    if command.kind == "test":
        types = ",".join(f'"{pdp}"' for pdp in emu.dialect.pdp_types)
        emu._info(emu._fmt("+CGDCONT", f"(1-10),({types})"))
        return None
    if command.kind != "set":
        return None
    cid = command.int_arg(0, lo=0, hi=10)
    if not command.has(1):  # mbed clears a context with AT+CGDCONT=<cid> (ref §3.2)
        emu._contexts.pop(cid, None)
        return None
    wanted = command.str_arg(1).upper()
    pdp_type = next((known for known in emu.dialect.pdp_types if known.upper() == wanted), None)
    if pdp_type is None:
        raise _CmeError(50)
    emu._contexts[cid] = (pdp_type, command.str_arg(2, ""))
    return None


def _cgatt(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CGATT", "1" if emu._registered() else "0"))
    elif command.kind == "test":
        emu._info(emu._fmt("+CGATT", "(0,1)"))
    elif command.kind == "set":
        before = emu._reg_stat()
        emu._attached = command.int_arg(0, lo=0, hi=1) == 1
        emu._registration_changed(before)
    return None


def _cgact(emu: ModemEmulator, command: Command) -> Reply:
    # The default EPS bearer is up while attached (LTE attaches with a PDN connection).
    if command.kind == "read":
        for cid in sorted(emu._contexts):
            emu._info(emu._fmt("+CGACT", f"{cid},{1 if emu._registered() else 0}"))
    elif command.kind == "set" and command.int_arg(0, lo=0, hi=1) == 1:
        emu._require_service()
    return None


def _cgpaddr(emu: ModemEmulator, command: Command) -> Reply:
    cids = [command.int_arg(0)] if command.kind == "set" else sorted(emu._contexts)
    for cid in cids:
        pdp = emu._contexts.get(cid, ("IP", ""))[0]
        if pdp.upper() in ("NON-IP", "NONIP") or not emu._registered():
            emu._info(emu._fmt("+CGPADDR", str(cid)))
        else:  # the bridge's address: what the loopback peers see as the source
            emu._info(emu._fmt("+CGPADDR", f'{cid},"127.0.0.1"'))
    return None


def _csq_cmd(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "test":
        emu._info(emu._fmt("+CSQ", "(0-31,99),(0-7,99)"))
    elif command.kind == "exec":
        rssi = _csq(emu._rssi_dbm) if emu._registered() else 99
        emu._info(emu._fmt("+CSQ", f"{rssi},99"))
    return None


def _cesq(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "exec":
        registered = emu._registered()
        rsrq = _cesq_rsrq(emu._rsrq_db) if registered else 255
        rsrp = _cesq_rsrp(emu._rsrp_dbm) if registered else 255
        emu._info(emu._fmt("+CESQ", f"99,99,255,255,{rsrq},{rsrp}"))
    return None


_CCLK = re.compile(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d{1,2})?")


def _cclk(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        utc = emu._utc_base + dt.timedelta(seconds=emu._clock() - emu._utc_base_clock)
        local = utc + dt.timedelta(minutes=15 * emu._tz_quarters)
        sign = "-" if emu._tz_quarters < 0 else "+"
        # <time> "yy/MM/dd,hh:mm:ss±zz", zz in quarters of an hour (27.007 8.15).
        emu._info(emu._fmt("+CCLK", f'"{local:%y/%m/%d,%H:%M:%S}{sign}{abs(emu._tz_quarters):02d}"'))
    elif command.kind == "set":
        match = _CCLK.fullmatch(command.str_arg(0))
        if match is None:
            raise _CmeError(50)
        quarters = int(match[7] or 0)
        try:
            month, day, hour, minute, second = (int(match[i]) for i in range(2, 7))
            local = dt.datetime(2000 + int(match[1]), month, day, hour, minute, second, tzinfo=dt.timezone.utc)
        except ValueError:
            raise _CmeError(50) from None
        emu._utc_base = local - dt.timedelta(minutes=15 * quarters)
        emu._utc_base_clock = emu._clock()
        emu._tz_quarters = quarters
    return None


def _cpsms(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        shown_tau = f'"{emu._psm_req_tau}"' if emu._psm_req_tau else ""
        shown_active = f'"{emu._psm_req_active}"' if emu._psm_req_active else ""
        emu._info(emu._fmt("+CPSMS", f"{emu._psm_mode},,,{shown_tau},{shown_active}"))
        return None
    if command.kind == "test":
        span = '("00000000"-"11111111")'
        emu._info(emu._fmt("+CPSMS", f"(0-2),,,{span},{span}"))
        return None
    if command.kind != "set":
        return None
    # AT+CPSMS=[<mode>[,<RAU>[,<READY>[,<TAU>[,<Active-Time>]]]]]; all omitted = mode 0 (ref §4.1).
    mode = command.int_arg(0, 0, lo=0, hi=2)
    tau = _bits_arg(command, 3, _BITS8)
    active = _bits_arg(command, 4, _BITS8)
    before = emu._granted_psm()
    if mode == 2:  # disable and reset to defaults (BC26/BC95 family)
        emu._psm_mode, emu._psm_req_tau, emu._psm_req_active = 0, None, None
    else:
        emu._psm_mode = mode
        emu._psm_req_tau = tau or emu._psm_req_tau
        emu._psm_req_active = active or emu._psm_req_active
    emu._psm_changed(before)
    if emu._granted_psm() is None:
        emu._deadlines.pop("psm", None)
        emu._deadlines.pop("tau", None)
    return None


def _cedrxs(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        for act_type, requested in sorted(emu._edrx_req.items()):
            emu._info(emu._fmt("+CEDRXS", f'{act_type},"{requested}"'))
        return None
    if command.kind == "test":
        emu._info(emu._fmt("+CEDRXS", '(0-3),(4,5),("0000"-"1111")'))
        return None
    if command.kind != "set":
        return None
    # AT+CEDRXS=<mode>,<AcT-type>,"<value>": 0 off, 1 on, 2 on + URC, 3 off + reset (ref §4.5).
    mode = command.int_arg(0, 0, lo=0, hi=3)
    act = command.int_arg(1, 0 if not command.has(1) else None, lo=0, hi=5)
    value = _bits_arg(command, 2, _BITS4)
    before = emu._edrx_grant()
    if mode in (0, 3):
        if act and not (mode == 3 and not command.has(1)):
            emu._edrx_req.pop(act, None)
        else:
            emu._edrx_req.clear()
        if mode == 3:
            emu._edrx_urc = False
    else:
        if act not in (4, 5):
            raise _CmeError(50)
        emu._edrx_req[act] = value or emu._edrx_req.get(act) or "0101"
        emu._edrx_urc = mode == 2
    emu._edrx_changed(before)
    if emu._radio is PowerState.IDLE:
        emu._idle_state(emu._clock())  # the ledger books eDRX idle from now
    return None


def _cedrxrdp(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "exec":
        grant = emu._edrx_grant()
        if grant is None or not emu._registered():
            emu._info(emu._fmt("+CEDRXRDP", "0"))  # AcT-type 0: the cell does not use eDRX
        else:
            act = emu._edrx_act_type()
            emu._info(emu._fmt("+CEDRXRDP", f'{act},"{grant[0]}","{grant[1]}","{grant[2]}"'))
    return None


def _cscon(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        state = 1 if emu._radio is PowerState.CONNECTED else 0
        emu._info(emu._fmt("+CSCON", f"{emu._cscon_n},{state}"))
    elif command.kind == "test":
        emu._info(emu._fmt("+CSCON", "(0,1)"))
    elif command.kind == "set":
        emu._cscon_n = command.int_arg(0, 0, lo=0, hi=3)
    return None


def _csodcp(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "test":
        emu._info(emu._fmt("+CSODCP", "(0-10),(512),(0-2),(0,1)"))  # the u-blox limits (ref §6)
        return None
    if command.kind != "set":
        raise _CmeError(50)
    # AT+CSODCP=<cid>,<cpdata_length>,"<hex>"[,<RAI>[,<type_of_user_data>]] (ref §6).
    command.int_arg(0, lo=0, hi=10)
    length = command.int_arg(1, lo=0, hi=512)
    data = _unhex(command.str_arg(2, ""))
    rai = command.int_arg(3, 0, lo=0, hi=2)
    command.int_arg(4, 0, lo=0, hi=1)
    if len(data) != length:
        raise _CmeError(50)
    emu._require_service()
    if length:  # mbed polls for missed URCs with an empty CSODCP (ref §6): nothing goes out
        emu.nidd_uplink.put_nowait(data)
        emu._uplink(rai)
    return None


def _crtdcp(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CRTDCP", str(emu._crtdcp)))
    elif command.kind == "test":
        emu._info(emu._fmt("+CRTDCP", "(0,1)"))
    elif command.kind == "set":
        emu._crtdcp = command.int_arg(0, 0, lo=0, hi=1)
    return None


def _cmgf(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CMGF", str(emu._cmgf)))
    elif command.kind == "test":
        emu._info(emu._fmt("+CMGF", "(0,1)"))
    elif command.kind == "set":
        emu._cmgf = command.int_arg(0, 0, lo=0, hi=1)
    return None


def _csca(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CSCA", f'"{emu._sca[0]}",{emu._sca[1]}'))
    elif command.kind == "set":
        address = command.str_arg(0)
        emu._sca = (address, command.int_arg(1, 145 if address.startswith("+") else 129))
    return None


def _csms(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CSMS", "0,1,1,1"))
    elif command.kind == "test":
        emu._info(emu._fmt("+CSMS", "(0,1)"))
    elif command.kind == "set":
        command.int_arg(0, lo=0, hi=1)
        emu._info(emu._fmt("+CSMS", "1,1,1"))  # [U] exact format (ref §7.1)
    return None


def _cpms(emu: ModemEmulator, command: Command) -> Reply:
    used = len(emu._sms_store)
    if command.kind == "read":
        emu._info(emu._fmt("+CPMS", ",".join([f'"SM",{used},{_SMS_SLOTS}'] * 3)))
    elif command.kind == "test":
        emu._info(emu._fmt("+CPMS", '("SM"),("SM"),("SM")'))
    elif command.kind == "set":
        if any(arg is not None and arg.upper() != "SM" for arg in command.args):
            raise _CmsError(302)  # only the SIM store is emulated
        emu._info(emu._fmt("+CPMS", ",".join([f"{used},{_SMS_SLOTS}"] * 3)))
    return None


def _cnmi(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CNMI", ",".join(map(str, emu._cnmi))))
    elif command.kind == "test":
        emu._info(emu._fmt("+CNMI", "(0-2),(0-3),(0,2),(0-2),(0,1)"))
    elif command.kind == "set":
        # AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>; <mt> 1 store + +CMTI, 2 route +CMT (ref §7.1).
        limits = (2, 3, 3, 2, 1)
        emu._cnmi = [command.int_arg(i, emu._cnmi[i], lo=0, hi=limits[i]) for i in range(5)]
    return None


def _cmgs(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "test":
        return None
    if emu._cmgf != 0:
        raise _CmsError(302)  # only PDU mode is emulated
    length = command.int_arg(0, lo=1, hi=175)

    def send(data: bytes) -> Reply:
        pdu = data.decode("latin-1").strip().upper()
        if _tpdu_length(pdu) != length:  # <length> counts TPDU octets, not the SMSC field
            raise _CmsError(304)
        if not emu._registered():
            raise _CmsError(331)
        mr = emu._mr
        emu._mr = (emu._mr + 1) % 256
        emu.sms_outbox.put_nowait(pdu)
        emu._uplink()
        emu._info(emu._fmt("+CMGS", str(mr)))
        return None

    # The prompt is "> " without line ending; the PDU ends with Ctrl-Z (ref §1.3, §7.1).
    return _DataRequest(send, prompt=b"\r\n> ", max_length=2 * 176)


def _cmgr(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    if emu._cmgf != 0:
        raise _CmsError(302)
    index = command.int_arg(0)
    if index not in emu._sms_store:
        raise _CmsError(321)
    stat, pdu = emu._sms_store[index]
    emu._sms_store[index] = (1 if stat == 0 else stat, pdu)  # REC UNREAD -> REC READ
    emu._info_bytes(emu._fmt("+CMGR", f"{stat},,{_tpdu_length(pdu)}"), pdu.encode("latin-1"))
    return None


def _cmgl(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind not in ("set", "exec"):
        return None
    wanted = command.int_arg(0, 4, lo=0, hi=4)
    for index, (stat, pdu) in sorted(emu._sms_store.items()):
        if wanted in (4, stat):
            emu._info_bytes(emu._fmt("+CMGL", f"{index},{stat},,{_tpdu_length(pdu)}"), pdu.encode("latin-1"))
            if stat == 0:
                emu._sms_store[index] = (1, pdu)
    return None


def _cmgd(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    index = command.int_arg(0)
    flag = command.int_arg(1, 0, lo=0, hi=4)
    if flag == 0:
        if emu._sms_store.pop(index, None) is None:
            raise _CmsError(321)
        return None
    # 1 read, 2 read + sent, 3 read + sent + unsent, 4 all (27.005 3.5.4)
    doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag]
    for key in [key for key, (stat, _) in emu._sms_store.items() if stat in doomed]:
        del emu._sms_store[key]
    return None


_GENERIC_COMMANDS: Mapping[str, Handler | None] = {
    "": _at,
    "E": _ate,
    "V": _atv,
    "Q": _at,
    "Z": _atz,
    "&F": _atz,
    "&W": _at,
    "H": _at,
    "I": _ati,
    "+CMEE": _cmee,
    "+CFUN": _cfun,
    "+CPIN": _cpin,
    "+CGSN": _cgsn,
    "+GSN": _info_line(lambda emu: emu.imei),
    "+CIMI": _cimi,
    "+CGMI": _info_line(lambda emu: emu.dialect.manufacturer),
    "+GMI": _info_line(lambda emu: emu.dialect.manufacturer),
    "+CGMM": _info_line(lambda emu: emu.dialect.model_name),
    "+GMM": _info_line(lambda emu: emu.dialect.model_name),
    "+CGMR": _info_line(lambda emu: emu.firmware),
    "+GMR": _info_line(lambda emu: emu.firmware),
    "+CEREG": _cereg,
    "+CREG": _legacy_reg("+CREG", lambda emu: emu._creg_n, _set_creg),
    "+CGREG": _legacy_reg("+CGREG", lambda emu: emu._cgreg_n, _set_cgreg),
    "+COPS": _cops,
    "+CGDCONT": _cgdcont,
    "+CGATT": _cgatt,
    "+CGACT": _cgact,
    "+CGPADDR": _cgpaddr,
    "+CSQ": _csq_cmd,
    "+CESQ": _cesq,
    "+CCLK": _cclk,
    "+CPSMS": _cpsms,
    "+CEDRXS": _cedrxs,
    "+CEDRXRDP": _cedrxrdp,
    "+CSCON": _cscon,
    "+CSODCP": _csodcp,
    "+CRTDCP": _crtdcp,
    "+CMGF": _cmgf,
    "+CSCA": _csca,
    "+CSMS": _csms,
    "+CPMS": _cpms,
    "+CNMI": _cnmi,
    "+CSMP": _setting("+CSMP"),
    "+CMGS": _cmgs,
    "+CMGR": _cmgr,
    "+CMGL": _cmgl,
    "+CMGD": _cmgd,
    "+CNMA": _at,
    "+CSCS": _setting("+CSCS", '"GSM"'),
    "+IPR": _setting("+IPR", "115200"),
    "+IFC": _setting("+IFC", "0,0"),
    "+CGEREP": _setting("+CGEREP", "0,0"),
    "+CCIOTOPT": _setting("+CCIOTOPT"),  # mbed enables CP CIoT with it before NIDD (ref §6)
}


# ---------------------------------------------------------------------------------------------
# Vendor commands: sleep, PSM URCs, power
# ---------------------------------------------------------------------------------------------


def _sleep_command(
    name: str, *, allowed: tuple[int, ...], dtr: tuple[int, ...] = (), auto: tuple[int, ...] = ()
) -> Handler:
    """``AT+QSCLK`` / ``AT+CSCLK`` (ref §4.7): values in ``dtr`` put the UART to sleep while DTR is
    high; values in ``auto`` after ``auto_sleep_s`` of UART silence, and input wakes it."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind == "read":
            emu._info(emu._fmt(name, str(emu._sleep_value)))
        elif command.kind == "test":
            emu._info(emu._fmt(name, "(" + ",".join(map(str, allowed)) + ")"))
        elif command.kind == "set":
            value = command.int_arg(0)
            if value not in allowed:
                raise _CmeError(50)
            emu._sleep_value = value
            emu._uart_sleep = "dtr" if value in dtr else "auto" if value in auto else "off"
            emu._auto_asleep = False
            emu._arm_auto_sleep(emu._clock())
        return None

    return handler


def _psm_urc_switch(name: str) -> Handler:
    """The command that turns the module's PSM entry / exit URCs on (``AT+NPSMR=1``, ...)."""

    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind == "read":
            emu._info(emu._fmt(name, "1" if emu._psm_urc_on else "0"))
        elif command.kind == "test":
            emu._info(emu._fmt(name, "(0,1)"))
        elif command.kind == "set":
            emu._psm_urc_on = command.int_arg(0, lo=0, hi=1) == 1
        return None

    return handler


def _qatwakeup(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+QATWAKEUP", "1" if emu._wake_urc_on else "0"))
    elif command.kind == "set":
        emu._wake_urc_on = command.int_arg(0, lo=0, hi=1) == 1
    return None


def _cpowd(emu: ModemEmulator, command: Command) -> Reply:
    """SIMCom ``AT+CPOWD=1`` prints ``NORMAL POWER DOWN`` and no OK; ``=0`` is silent (ref §2.2)."""
    if command.kind == "test":
        return None
    if command.int_arg(0, 1, lo=0, hi=1) == 1:
        emu._info("NORMAL POWER DOWN")
    emu._power_down(emu._clock())
    return ""


def _power_down_after_ok(emu: ModemEmulator, command: Command) -> Reply:
    """``AT+QPOWD`` (then ``POWERED DOWN``), u-blox ``AT+CPWROFF``: OK, then the module is off."""
    if command.kind != "test":
        emu._post_final.append(lambda: emu._power_down(emu._clock()))
    return None


def _reboot_after_ok(emu: ModemEmulator, command: Command) -> Reply:
    """``AT+RESET`` (SIM7020), ``AT+QRST=1`` (BC66) [U]: OK, then the boot text."""
    if command.kind != "test":
        emu._post_final.append(emu._reboot)
    return None


def _nrb(emu: ModemEmulator, command: Command) -> Reply:
    """BC95 / SARA-N2 ``AT+NRB``: ``REBOOTING``, the boot text, then ``OK`` (ref §2.2)."""
    emu._info("REBOOTING")
    emu._reboot(direct=True)
    return None


def _nuestats(emu: ModemEmulator, command: Command) -> Reply:
    # BC95 / SARA-N2 cell statistics [EE-TERM]; values in tenths of dB(m), a few of the fields.
    rsrp = emu._rsrp_dbm if emu._rsrp_dbm is not None else -140
    rsrq = emu._rsrq_db if emu._rsrq_db is not None else -20.0
    for line in (
        f"Signal power:{rsrp * 10}",
        f"Total power:{rsrp * 10 + 80}",
        "TX power:-32768",
        f"Cell ID:{int(emu._ci, 16)}",
        "ECL:0",
        "SNR:100",
        "EARFCN:6300",
        "PCI:1",
        f"RSRQ:{round(rsrq * 10)}",
    ):
        emu._info(line)
    return None


def _qcfg_set(emu: ModemEmulator, key: str, command: Command) -> None:
    if key == "psm/urc":  # [U] BG96 AT+QCFG="psm/urc",1 turns PSM URCs on (ref §9)
        emu._psm_urc_on = command.int_arg(1, 0, lo=0, hi=1) == 1


def _qiact(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        for ctx in sorted(emu._pdp_active):
            emu._info(emu._fmt("+QIACT", f'{ctx},1,1,"127.0.0.1"'))
    elif command.kind == "set":
        ctx = command.int_arg(0, lo=1, hi=16)
        emu._require_service()
        emu._pdp_active.add(ctx)
    return None


def _qideact(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._pdp_active.discard(command.int_arg(0, lo=1, hi=16))
    return None


def _mcgdefcont(emu: ModemEmulator, command: Command) -> Reply:
    """SIM7020 ``AT*MCGDEFCONT="IP","<apn>"``: only with the radio off (``AT+CFUN=0``), ref §2.2."""
    if command.kind == "read":
        pdp, apn = emu._contexts.get(1, ("IP", ""))
        emu._info(emu._fmt("*MCGDEFCONT", f'"{pdp}","{apn}"'))
        return None
    if command.kind != "set":
        return None
    if emu._cfun != 0:
        raise _CmeError(3)
    wanted = command.str_arg(0).upper()
    pdp_type = next((known for known in emu.dialect.pdp_types if known.upper() == wanted), None)
    if pdp_type is None:
        raise _CmeError(50)
    emu._contexts[1] = (pdp_type, command.str_arg(1, ""))
    return None


def _cnact(emu: ModemEmulator, command: Command) -> Reply:
    """SIM7080 ``AT+CNACT=<pdp>,<action>``: OK, then ``+APP PDP: <pdp>,ACTIVE|DEACTIVE`` (ref §2.2)."""
    if command.kind == "read":
        for pdp in range(4):
            up = pdp in emu._pdp_active
            emu._info(emu._fmt("+CNACT", f'{pdp},{1 if up else 0},"{"127.0.0.1" if up else "0.0.0.0"}"'))
        return None
    if command.kind != "set":
        return None
    pdp = command.int_arg(0, lo=0, hi=3)
    if command.int_arg(1, lo=0, hi=2) == 0:
        emu._pdp_active.discard(pdp)
        emu._urc(f"+APP PDP: {pdp},DEACTIVE")
        return None
    emu._require_service()
    emu._pdp_active.add(pdp)
    emu._urc(f"+APP PDP: {pdp},ACTIVE")
    return None


def _cmnb(emu: ModemEmulator, command: Command) -> Reply:
    """SIM7080 ``AT+CMNB``: 1 Cat-M (AcT 7), 2 NB-IoT (AcT 9), 3 both (ref §2.2)."""
    if command.kind == "read":
        emu._info(emu._fmt("+CMNB", {7: "1", 9: "2"}.get(emu._act, "3")))
    elif command.kind == "set":
        choice = command.int_arg(0, lo=1, hi=3)
        if choice != 3:
            emu._act = 7 if choice == 1 else 9
    return None


def _cdnsgip(emu: ModemEmulator, command: Command) -> Reply:
    """SIM7080 DNS: OK, then ``+CDNSGIP: 1,"<host>","<ip>"`` for loopback names only (ref §5.4)."""
    if command.kind != "set":
        return None
    host = command.str_arg(0)
    if host.lower() == "localhost" or host.startswith("127."):
        emu._urc(f'+CDNSGIP: 1,"{host}","{"127.0.0.1" if host.lower() == "localhost" else host}"')
    else:
        _log.warning("the emulator resolves loopback names only, not %r", host)
        emu._urc("+CDNSGIP: 0,8")
    return None


def _csorcvflag(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        emu._info(emu._fmt("+CSORCVFLAG", "0" if emu._rcv_hex else "1"))
    elif command.kind == "set":
        emu._rcv_hex = command.int_arg(0, lo=0, hi=1) == 0  # 0 hex, 1 binary (ref §5.3)
    return None


def _udconf_set(emu: ModemEmulator, key: str, command: Command) -> None:
    if key == "1":  # AT+UDCONF=1,1: HEX mode for +USOST / +USORF / +USORD data (ref §5.5)
        emu._hex_mode = command.int_arg(1, 0, lo=0, hi=1) == 1


# ---------------------------------------------------------------------------------------------
# Sockets, BC95 / BC66 family: AT+NSO* (ref §5.1). Hex payloads, prefix-less answers.
# ---------------------------------------------------------------------------------------------


def _nsocr(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+NSOCR=DGRAM,17,<listen_port>[,<receive_control>[,AF_INET]] -> <socket> OK
    if command.str_arg(0).upper() != "DGRAM" or command.int_arg(1) != 17:
        raise _CmeError(4)  # STREAM / TCP (BC95-G AT+NSOCO, AT+NSOSD) is not emulated
    port = command.int_arg(2, 0, lo=0, hi=65535)
    receive_control = command.int_arg(3, 1, lo=0, hi=1)
    sid = emu._free_sid()
    try:
        sock = emu._open_socket(sid, "udp", local_port=port, bind=True)
    except OSError:
        raise _CmeError(3) from None
    sock.notify = receive_control == 1
    emu._info(str(sid))
    return None


def _nsost(with_flags: bool) -> Handler:
    def handler(emu: ModemEmulator, command: Command) -> Reply:
        if command.kind != "set":
            return None
        # AT+NSOST=<s>,<ip>,<port>,<len>,<hex>; AT+NSOSTF=<s>,<ip>,<port>,<flag>,<len>,<hex> (ref §5.1, §4.6)
        sock = emu._socket(command.int_arg(0))
        destination = emu._loopback(command.str_arg(1), command.int_arg(2))
        flag = 0
        if with_flags:
            try:  # the flag is written in hex, with or without 0x: 0x200 release after this message
                flag = int(command.str_arg(3).lower().removeprefix("0x"), 16)
            except ValueError:
                raise _CmeError(50) from None
        at = 4 if with_flags else 3
        length = command.int_arg(at, lo=1, hi=emu.dialect.max_datagram)
        data = _unhex(command.str_arg(at + 1))
        if len(data) != length:
            raise _CmeError(50)
        emu._require_service()
        emu._send(sock, data, destination)
        emu._uplink(1 if flag & 0x200 else 2 if flag & 0x400 else 0)
        emu._info(f"{sock.sid},{length}")
        return None

    return handler


def _nsorf(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+NSORF=<s>,<req_length> -> <s>,<ip>,<port>,<length>,<hex>,<remaining_length> (ref §5.1)
    sock = emu._socket(command.int_arg(0))
    want = command.int_arg(1, lo=1)
    if not sock.datagrams:
        return None
    remaining = max(0, len(sock.datagrams[0][0]) - want)  # what is left of this datagram
    data, source = sock.take(want)
    assert source is not None
    emu._info(f"{sock.sid},{source[0]},{source[1]},{len(data)},{data.hex().upper()},{remaining}")
    return None


def _nsocl(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._close_socket(emu._socket(command.int_arg(0)))
    return None


def _nso_data(emu: ModemEmulator, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
    sock.datagrams.append((data, source))
    if sock.notify:
        emu._urc(emu._fmt("+NSONMI", f"{sock.sid},{len(data)}"))


def _nso_closed(emu: ModemEmulator, sock: _ModemSocket) -> None:
    emu._urc(emu._fmt("+NSOCLI", str(sock.sid)))


_NSO_COMMANDS: Mapping[str, Handler | None] = {
    "+NSOCR": _nsocr,
    "+NSOST": _nsost(False),
    "+NSOSTF": _nsost(True),
    "+NSORF": _nsorf,
    "+NSOCL": _nsocl,
}


# ---------------------------------------------------------------------------------------------
# Sockets, BG96 / BG95: AT+QI* (ref §5.2). Raw payloads after "> ", SEND OK, "recv" URCs.
# ---------------------------------------------------------------------------------------------


def _qiopen(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+QIOPEN=<ctx>,<id>,"UDP"|"TCP"|"UDP SERVICE",<host>,<rport>[,<lport>[,<access_mode>]]
    # -> OK, then +QIOPEN: <id>,<err>. Error codes: 0 ok, 556 bind failed (ref §1.2); 561 "open PDP
    # context failed", 563 "socket identity used", 566 "socket connect failed" [U] (QIGETERROR table).
    ctx = command.int_arg(0, lo=1, hi=16)
    sid = command.int_arg(1, lo=0, hi=11)
    service = command.str_arg(2).upper()
    if service not in ("UDP", "TCP", "UDP SERVICE"):
        raise _CmeError(4)  # listeners are not emulated
    remote_port = command.int_arg(4, 0, lo=0, hi=65535)
    local_port = command.int_arg(5, 0, lo=0, hi=65535)
    mode = command.int_arg(6, 0, lo=0, hi=2)
    if mode == 2:
        raise _CmeError(4)  # transparent mode is not emulated
    peer = emu._loopback(command.str_arg(3), remote_port, allow_port_zero=service == "UDP SERVICE")
    if sid in emu._sockets:
        emu._urc(f"+QIOPEN: {sid},563")
        return None
    if ctx not in emu._pdp_active:
        emu._urc(f"+QIOPEN: {sid},561")
        return None
    proto: Literal["udp", "tcp"] = "tcp" if service == "TCP" else "udp"
    try:
        sock = emu._open_socket(sid, proto, local_port=local_port, bind=proto == "udp")
    except OSError:
        emu._urc(f"+QIOPEN: {sid},556")
        return None
    sock.push, sock.service = mode == 1, service == "UDP SERVICE"
    if proto == "udp":
        sock.peer = None if sock.service else peer
        sock.connected = True
        emu._urc(f"+QIOPEN: {sid},0")  # held until after OK: the URC follows the OK
        return None

    def opened(ok: bool) -> None:
        emu._urc(f"+QIOPEN: {sid},{0 if ok else 566}")
        if not ok:
            emu._close_socket(sock)

    emu._connect_tcp(sock, peer, opened)
    return None


def _qisend(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    sock = emu._socket(command.int_arg(0))
    if command.has(1) and command.int_arg(1) == 0 and not command.has(2):
        # AT+QISEND=<id>,0 -> +QISEND: <total>,<acked>,<unacked>; loopback loses nothing.
        emu._info(f"+QISEND: {sock.sent},{sock.sent},0")
        return None
    destination = None
    if sock.service:  # AT+QISEND=<id>,<len>,"<ip>",<port> (UDP SERVICE only)
        destination = emu._loopback(command.str_arg(2), command.int_arg(3))
    length = command.int_arg(1, lo=1, hi=emu.dialect.max_datagram) if command.has(1) else None

    def send(data: bytes) -> Reply:
        if not emu._registered() or not emu._send(sock, data, destination):
            return "SEND FAIL"
        emu._uplink()
        return "SEND OK"

    # Fixed length: exactly <len> bytes after "> "; without <len>: up to Ctrl-Z (ref §1.3, §5.2).
    return _DataRequest(send, length=length, max_length=emu.dialect.max_datagram)


def _qird(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    sock = emu._socket(command.int_arg(0))
    if sock.push:
        raise _CmeError(3)  # direct push mode has nothing to read
    if command.has(1) and command.int_arg(1) == 0:
        emu._info(f"+QIRD: {sock.received},{sock.read},{sock.unread}")
        return None
    data, source = sock.take(command.int_arg(1, 1500, lo=1, hi=1500))
    if sock.unread == 0:
        sock.announce = True  # the next arrival raises "recv" again (ref §5.2, buffer mode)
    if not data:
        emu._info("+QIRD: 0")
        return None
    header = f"+QIRD: {len(data)}"
    if sock.service and source is not None:
        header += f',"{source[0]}",{source[1]}'
    emu._info_bytes(header, data)
    return None


def _qiclose(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._close_socket(emu._socket(command.int_arg(0)))
    return None


def _qi_data(emu: ModemEmulator, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
    if sock.push:  # +QIURC: "recv",<id>,<len>[,"<ip>",<port>]<CR><LF><data>
        header = f'+QIURC: "recv",{sock.sid},{len(data)}'
        if sock.service:
            header += f',"{source[0]}",{source[1]}'
        sock.read += len(data)
        emu._urc_bytes(header.encode("latin-1") + b"\r\n" + data)
        return
    if sock.proto == "tcp":
        sock.stream += data
    else:
        sock.datagrams.append((data, source))
    if sock.announce:  # buffer mode: no new "recv" until the buffer was drained (ref §5.2)
        sock.announce = False
        emu._urc(f'+QIURC: "recv",{sock.sid}')


def _qi_closed(emu: ModemEmulator, sock: _ModemSocket) -> None:
    emu._urc(f'+QIURC: "closed",{sock.sid}')


_QI_COMMANDS: Mapping[str, Handler | None] = {
    "+QICSGP": _keyed_setting("+QICSGP"),
    "+QIACT": _qiact,
    "+QIDEACT": _qideact,
    "+QIOPEN": _qiopen,
    "+QISEND": _qisend,
    "+QIRD": _qird,
    "+QICLOSE": _qiclose,
}


# ---------------------------------------------------------------------------------------------
# Sockets, SIM7080G: AT+CA* (ref §5.4). Raw payloads, +CADATAIND then AT+CARECV.
# ---------------------------------------------------------------------------------------------


def _caopen(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CAOPEN=<cid>,<pdp_index>,"TCP"|"UDP","<server>",<port>[,<recv_mode>] -> OK, then
    # +CAOPEN: <cid>,<result> (ref §1.2, §5.4; some code expects it before OK [P]). TinyGSM
    # leaves out <pdp_index> and even the type ("TCP" then), so both are optional here.
    cid = command.int_arg(0, lo=0, hi=12)
    index = 1
    pdp = 0
    if command.has(index) and not command.quoted[index]:
        pdp = command.int_arg(index, lo=0, hi=3)
        index += 1
    kind = "TCP"
    if command.has(index) and command.str_arg(index).upper() in ("TCP", "UDP"):
        kind = command.str_arg(index).upper()
        index += 1
    peer = emu._loopback(command.str_arg(index), command.int_arg(index + 1, lo=1, hi=65535))
    recv_mode = command.int_arg(index + 2, 0, lo=0, hi=1)
    if cid in emu._sockets:
        emu._urc(f"+CAOPEN: {cid},1")
        return None
    if pdp not in emu._pdp_active:
        emu._urc(f"+CAOPEN: {cid},21")  # 21 network not active (ref §5.4)
        return None
    proto: Literal["udp", "tcp"] = "udp" if kind == "UDP" else "tcp"
    try:
        sock = emu._open_socket(cid, proto, bind=proto == "udp")
    except OSError:
        emu._urc(f"+CAOPEN: {cid},12")  # 12 can't bind port
        return None
    sock.push = recv_mode == 1
    if proto == "udp":
        sock.peer, sock.connected = peer, True
        emu._urc(f"+CAOPEN: {cid},0")
        return None

    def opened(ok: bool) -> None:
        emu._urc(f"+CAOPEN: {cid},{0 if ok else 27}")  # 27 connect failed
        if not ok:
            emu._close_socket(sock)

    emu._connect_tcp(sock, peer, opened)
    return None


def _casend(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CASEND=<cid>,<len>[,<inputtime>] -> "> ", exactly <len> bytes (no Ctrl-Z), OK (ref §1.3)
    sock = emu._socket(command.int_arg(0))
    length = command.int_arg(1, lo=1, hi=emu.dialect.max_datagram)
    if not sock.connected:
        raise _CmeError(3)

    def send(data: bytes) -> Reply:
        emu._require_service()
        if not emu._send(sock, data):
            raise _CmeError(3)
        emu._uplink()
        return None

    return _DataRequest(send, length=length)


def _carecv(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":  # [U] per-socket pending lengths
        for sid, sock in sorted(emu._sockets.items()):
            emu._info(f"+CARECV: {sid},{sock.unread}")
        return None
    if command.kind != "set":
        return None
    # AT+CARECV=<cid>,<readlen> -> +CARECV: <len>,<raw data> (TinyGSM: no <cid>, ref §1.4, §5.4)
    sock = emu._socket(command.int_arg(0))
    data, _ = sock.take(command.int_arg(1, lo=1, hi=1460))
    if not data:
        emu._info("+CARECV: 0")
    else:
        emu._info_bytes(f"+CARECV: {len(data)}", data, separator=b",")
    return None


def _caclose(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._close_socket(emu._socket(command.int_arg(0)))
    return None


def _castate(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "read":
        for sid, sock in sorted(emu._sockets.items()):
            emu._info(f"+CASTATE: {sid},{1 if sock.connected else 0}")
    return None


def _ca_data(emu: ModemEmulator, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
    if sock.push:  # recv_mode 1: +CAURC: "recv",<id>,<len>,<ip>,<port><CR><LF><data> (ref §5.4)
        sock.read += len(data)
        header = f'+CAURC: "recv",{sock.sid},{len(data)},{source[0]},{source[1]}'
        emu._urc_bytes(header.encode("latin-1") + b"\r\n" + data)
        return
    was_empty = sock.unread == 0
    if sock.proto == "tcp":
        sock.stream += data
    else:
        sock.datagrams.append((data, source))
    if was_empty:  # +CADATAIND: <cid> carries no length (ref §5.4); one per empty->data edge
        emu._urc(f"+CADATAIND: {sock.sid}")


def _ca_closed(emu: ModemEmulator, sock: _ModemSocket) -> None:
    emu._urc(f"+CASTATE: {sock.sid},0")


_CA_COMMANDS: Mapping[str, Handler | None] = {
    "+CNCFG": _setting("+CNCFG"),
    "+CNACT": _cnact,
    "+CAOPEN": _caopen,
    "+CASEND": _casend,
    "+CARECV": _carecv,
    "+CACLOSE": _caclose,
    "+CASTATE": _castate,
    "+CACID": _setting("+CACID"),
    "+CDNSGIP": _cdnsgip,
}


# ---------------------------------------------------------------------------------------------
# Sockets, SIM7020: AT+CSO* (ref §5.3). Data arrives inside +CSONMI (hex by default).
# ---------------------------------------------------------------------------------------------


def _csoc(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CSOC=<domain>,<type>,<protocol> -> +CSOC: <id>; domain 1 IPv4, type 1 TCP / 2 UDP
    domain, kind = command.int_arg(0), command.int_arg(1)
    command.int_arg(2, 1)
    if domain != 1 or kind not in (1, 2):
        raise _CmeError(4)  # IPv6 and RAW sockets are not emulated
    sid = emu._free_sid()
    emu._open_socket(sid, "tcp" if kind == 1 else "udp", bind=False)
    emu._info(emu._fmt("+CSOC", str(sid)))
    return None


def _csob(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    sock = emu._socket(command.int_arg(0))
    if sock.bound or sock.proto != "udp":
        raise _CmeError(3)
    try:
        emu._bind(sock, command.int_arg(1, lo=0, hi=65535))
    except OSError:
        raise _CmeError(3) from None
    return None


def _csocon(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CSOCON=<id>,<remote_port>,"<remote_ip>"
    sock = emu._socket(command.int_arg(0))
    peer = emu._loopback(command.str_arg(2), command.int_arg(1))
    if sock.proto == "udp":
        sock.peer, sock.connected = peer, True
        if not sock.bound:
            emu._bind(sock, 0)
        return None

    def connected(ok: bool) -> None:
        emu._complete(None if ok else _CmeError(3))

    emu._connect_tcp(sock, peer, connected)
    return _DEFERRED


def _csosend(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CSOSEND=<id>,<len>,<data>: hex, where sources disagree whether <len> counts hex characters
    # or bytes (ref §5.3 [P]) - both are accepted; <len> 0 with a quoted string sends the text.
    sock = emu._socket(command.int_arg(0))
    length = command.int_arg(1, lo=0)
    text = command.str_arg(2)
    if length == 0 and command.quoted[2]:
        data = text.encode("latin-1")
    else:
        data = _unhex(text)
        if length not in (len(data), 2 * len(data)):
            raise _CmeError(50)
    if not data or len(data) > emu.dialect.max_datagram:
        raise _CmeError(50)
    emu._require_service()
    if not emu._send(sock, data):
        raise _CmeError(3)
    emu._uplink()
    return None


def _csodsend(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+CSODSEND=<id>,<len> -> "> ", raw bytes -> DATA ACCEPT: <n> (ref §1.2, §5.3)
    sock = emu._socket(command.int_arg(0))
    length = command.int_arg(1, lo=1, hi=emu.dialect.max_datagram)

    def send(data: bytes) -> Reply:
        emu._require_service()
        if not emu._send(sock, data):
            raise _CmeError(3)
        emu._uplink()
        return f"DATA ACCEPT: {len(data)}"

    return _DataRequest(send, length=length)


def _csocl(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._close_socket(emu._socket(command.int_arg(0)))
    return None


def _cso_data(emu: ModemEmulator, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
    sock.read += len(data)
    if emu._rcv_hex:  # +CSONMI: <id>,<hex characters>,<hex> (ref §5.3)
        emu._urc(f"+CSONMI: {sock.sid},{2 * len(data)},{data.hex().upper()}")
    else:  # AT+CSORCVFLAG=1: raw bytes, length in bytes [U]
        emu._urc_bytes(f"+CSONMI: {sock.sid},{len(data)},".encode("latin-1") + data)


def _cso_closed(emu: ModemEmulator, sock: _ModemSocket) -> None:
    emu._urc(f"+CSOERR: {sock.sid},4")  # [P] URC seen in drivers; the code's meaning is [U]


_CSO_COMMANDS: Mapping[str, Handler | None] = {
    "+CSOC": _csoc,
    "+CSOB": _csob,
    "+CSOCON": _csocon,
    "+CSOSEND": _csosend,
    "+CSODSEND": _csodsend,
    "+CSOCL": _csocl,
    "+CSORCVFLAG": _csorcvflag,
}


# ---------------------------------------------------------------------------------------------
# Sockets, u-blox SARA-R4: AT+USO* (ref §5.5). Quoted text or HEX (AT+UDCONF=1,1), "@" prompt.
# ---------------------------------------------------------------------------------------------


def _uso_payload(emu: ModemEmulator, data: bytes) -> bytes:
    return data.hex().upper().encode("latin-1") if emu._hex_mode else data


def _uso_decode(emu: ModemEmulator, text: bytes, length: int) -> bytes:
    data = _unhex(text.decode("latin-1")) if emu._hex_mode else text
    if len(data) != length:
        raise _CmeError(50)
    return data


def _usocr(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+USOCR=17|6[,<local_port>] -> +USOCR: <socket>
    protocol = command.int_arg(0)
    if protocol not in (6, 17):
        raise _CmeError(50)
    sid = emu._free_sid()
    proto: Literal["udp", "tcp"] = "udp" if protocol == 17 else "tcp"
    try:
        emu._open_socket(sid, proto, local_port=command.int_arg(1, 0, lo=0, hi=65535), bind=proto == "udp")
    except OSError:
        raise _CmeError(3) from None
    emu._info(emu._fmt("+USOCR", str(sid)))
    return None


def _usost(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+USOST=<s>,"<ip>",<port>,<len>[,"<data>"] -> +USOST: <s>,<len> (ref §5.5); without data:
    # "@", wait, then <len> bytes - hex characters in HEX mode, as Zephyr found (ref §5.5 [P]).
    sock = emu._socket(command.int_arg(0))
    destination = emu._loopback(command.str_arg(1), command.int_arg(2))
    limit = 512 if emu._hex_mode else 1024
    length = command.int_arg(3, lo=1, hi=limit)

    def send(data: bytes) -> Reply:
        emu._require_service()
        emu._send(sock, data, destination)
        emu._uplink()
        emu._info(emu._fmt("+USOST", f"{sock.sid},{len(data)}"))
        return None

    if command.has(4):
        return send(_uso_decode(emu, command.str_arg(4).encode("latin-1"), length))
    return _DataRequest(
        lambda raw: send(_uso_decode(emu, raw, length)), length=2 * length if emu._hex_mode else length, prompt=b"@"
    )


def _usorf(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+USORF=<s>,<len> -> +USORF: <s>,"<ip>",<port>,<len>,"<data>"; <len> 0 -> +USORF: <s>,<unread>
    sock = emu._socket(command.int_arg(0))
    want = command.int_arg(1, lo=0, hi=1024)
    if want == 0 or not sock.datagrams:
        emu._info(emu._fmt("+USORF", f"{sock.sid},{sock.unread}"))
        return None
    data, source = sock.take(want)
    assert source is not None
    header = emu._fmt("+USORF", f'{sock.sid},"{source[0]}",{source[1]},{len(data)},"')
    emu._write(b"\r\n" + header.encode("latin-1") + _uso_payload(emu, data) + b'"\r\n')
    return None


def _usoco(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    sock = emu._socket(command.int_arg(0))
    peer = emu._loopback(command.str_arg(1), command.int_arg(2))
    if sock.proto == "udp":
        sock.peer, sock.connected = peer, True
        return None
    emu._connect_tcp(sock, peer, lambda ok: emu._complete(None if ok else _CmeError(3)))
    return _DEFERRED


def _usowr(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    # AT+USOWR=<s>,<len>[,"<data>"] -> +USOWR: <s>,<len>
    sock = emu._socket(command.int_arg(0))
    length = command.int_arg(1, lo=1, hi=512 if emu._hex_mode else 1024)

    def send(data: bytes) -> Reply:
        emu._require_service()
        if not emu._send(sock, data):
            raise _CmeError(3)
        emu._uplink()
        emu._info(emu._fmt("+USOWR", f"{sock.sid},{len(data)}"))
        return None

    if command.has(2):
        return send(_uso_decode(emu, command.str_arg(2).encode("latin-1"), length))
    return _DataRequest(
        lambda raw: send(_uso_decode(emu, raw, length)), length=2 * length if emu._hex_mode else length, prompt=b"@"
    )


def _usord(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind != "set":
        return None
    sock = emu._socket(command.int_arg(0))
    want = command.int_arg(1, lo=0, hi=1024)
    if want == 0:
        emu._info(emu._fmt("+USORD", f"{sock.sid},{sock.unread}"))
        return None
    data, _ = sock.take(want)
    header = emu._fmt("+USORD", f'{sock.sid},{len(data)},"')
    emu._write(b"\r\n" + header.encode("latin-1") + _uso_payload(emu, data) + b'"\r\n')
    return None


def _usocl(emu: ModemEmulator, command: Command) -> Reply:
    if command.kind == "set":
        emu._close_socket(emu._socket(command.int_arg(0)))
    return None


def _uso_data(emu: ModemEmulator, sock: _ModemSocket, data: bytes, source: tuple[str, int]) -> None:
    if sock.proto == "tcp":
        sock.stream += data
        emu._urc(emu._fmt("+UUSORD", f"{sock.sid},{sock.unread}"))
    else:
        sock.datagrams.append((data, source))
        emu._urc(emu._fmt("+UUSORF", f"{sock.sid},{len(data)}"))


def _uso_closed(emu: ModemEmulator, sock: _ModemSocket) -> None:
    emu._urc(emu._fmt("+UUSOCL", str(sock.sid)))


_USO_COMMANDS: Mapping[str, Handler | None] = {
    "+USOCR": _usocr,
    "+USOST": _usost,
    "+USORF": _usorf,
    "+USOCO": _usoco,
    "+USOWR": _usowr,
    "+USORD": _usord,
    "+USOCL": _usocl,
    "+UDCONF": _keyed_setting("+UDCONF", _udconf_set),
}


# ---------------------------------------------------------------------------------------------
# The modules. Identity strings are plausible, not copied from units: [U] unless tagged.
# ---------------------------------------------------------------------------------------------

_SIMCOM_SLEEP = _sleep_command("+CSCLK", allowed=(0, 1, 2), dtr=(1,), auto=(2,))  # ref §4.7
# BC66 boot-ROM text on power-up and on every wake from PSM (QFORUM-BC66, ref §1.4).
_BC66_BROM = ("F1: 0000 0000", "V0: 0000 0000 [0001]", "00: 0006 000C", "Leaving the BROM")

#: Every emulated module by model key.
DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {
        "bc95": Dialect(
            model="bc95",
            manufacturer="Quectel",
            model_name="BC95HB-02-STD_900",
            firmware="V150R100C10B200SP1",
            ati=("Quectel", "BC95HB-02-STD_900", "Revision:{firmware}"),
            commands={
                **_NSO_COMMANDS,
                "+NCCID": _iccid("+NCCID"),
                "+NPSMR": _psm_urc_switch("+NPSMR"),
                "+NRB": _nrb,
                "+NCONFIG": _keyed_setting("+NCONFIG"),
                "+NBAND": _setting("+NBAND", "8,20"),
                "+NUESTATS": _nuestats,
            },
            on_socket_data=_nso_data,
            on_socket_closed=_nso_closed,
            colon=":",  # the Neul stack prints no space after the colon (ref §1.4)
            default_act=9,
            # AT+NRB prints the reboot cause and the stack name, then OK (SARA-N2 trace, ref §2.2).
            boot_text=("REBOOT_CAUSE_APPLICATION_AT", "Neul"),
            psm_enter_urc="+NPSMR:1",
            psm_exit_urc="+NPSMR:0",
            wakes_on_uart_in_psm=True,  # "wake up when receiving serial data" (ref §4.7)
            pdp_types=("IP", "NONIP", "IPV6", "IPV4V6"),  # BC95 lists "NONIP" (ref §3.2)
            max_datagram=512,
        ),
        "bc66": Dialect(
            model="bc66",
            manufacturer="Quectel_Ltd",
            model_name="Quectel_BC66",
            firmware="BC66NBR01A11",
            ati=("Quectel_Ltd", "Quectel_BC66", "Revision: {firmware}"),  # observed (ref §2.2) [P]
            commands={
                # The BC66 socket syntax is unverified (ref §9): the emulator offers the NSO* set the
                # BC95 uses; check your firmware's manual (later ones document AT+QIOPEN).
                **_NSO_COMMANDS,
                "+QCCID": _iccid("+QCCID"),
                "+QSCLK": _sleep_command("+QSCLK", allowed=(0, 1, 2)),  # values [U]: stored only
                "+QNBIOTEVENT": _psm_urc_switch("+QNBIOTEVENT"),
                "+QATWAKEUP": _qatwakeup,
                "+QICFG": _keyed_setting("+QICFG"),
                "+QRST": _reboot_after_ok,
            },
            on_socket_data=_nso_data,
            on_socket_closed=_nso_closed,
            default_act=9,
            boot_text=_BC66_BROM,
            psm_wake_text=_BC66_BROM,
            psm_enter_urc='+QNBIOTEVENT: "ENTER PSM"',
            psm_exit_urc='+QNBIOTEVENT: "EXIT PSM"',
            max_datagram=512,
        ),
        "bg96": Dialect(
            model="bg96",
            manufacturer="Quectel",
            model_name="BG96",
            firmware="BG96MAR02A07M1G",
            ati=("Quectel", "BG96", "Revision: {firmware}"),
            commands={
                **_QI_COMMANDS,
                "+QCCID": _iccid("+QCCID"),
                "+QSCLK": _sleep_command("+QSCLK", allowed=(0, 1), dtr=(1,)),  # QSCLK=1 + DTR high
                "+QCFG": _keyed_setting("+QCFG", _qcfg_set),
                "+QPOWD": _power_down_after_ok,
            },
            on_socket_data=_qi_data,
            on_socket_closed=_qi_closed,
            default_act=7,
            boot_text=("RDY", "+CPIN: READY"),  # mbed / Zephyr wait for these (ref §2.2)
            psm_wake_text=("RDY",),  # [U] the module restarts from PSM
            psm_enter_urc="PSM POWER DOWN",  # [U] with AT+QCFG="psm/urc",1
            power_down_text="POWERED DOWN",  # [U]
            max_datagram=1460,  # QISEND 0-1460 bytes (ref §5.2)
            socket_ids=range(12),
        ),
        "sim7020": Dialect(
            model="sim7020",
            manufacturer="SIMCOM_Ltd",
            model_name="SIM7020E",
            firmware="1752B12SIM7020E",
            ati=("SIM7020E", "Revision:{firmware}"),
            commands={
                **_CSO_COMMANDS,
                "+CCID": _iccid(None),
                "*MCGDEFCONT": _mcgdefcont,
                "+CSCLK": _SIMCOM_SLEEP,
                "+CPSMSTATUS": _psm_urc_switch("+CPSMSTATUS"),
                "+CPOWD": _cpowd,
                "+RESET": _reboot_after_ok,
                "+CNBIOTRAI": _setting("+CNBIOTRAI", "0"),
            },
            on_socket_data=_cso_data,
            on_socket_closed=_cso_closed,
            default_act=9,
            psm_enter_urc='+CPSMSTATUS: "ENTER PSM"',
            psm_exit_urc='+CPSMSTATUS: "EXIT PSM"',
            power_down_text="NORMAL POWER DOWN",
            cereg_after_act='"00"',  # the extra field of the real trace (ref §3.1) [P]
            cereg_shows_deactivated_timers=True,
            max_datagram=512,  # Kampi's CSOSEND limit (ref §5.3)
            socket_ids=range(5),
        ),
        "sim7080": Dialect(
            model="sim7080",
            manufacturer="SIMCOM_Ltd",
            model_name="SIMCOM_SIM7080G",
            firmware="1951B08SIM7080",
            ati=("SIM7080 R1951.08", "Revision:{firmware}"),
            commands={
                **_CA_COMMANDS,
                "+CCID": _iccid(None),
                "+CSCLK": _SIMCOM_SLEEP,
                "+CPSMSTATUS": _psm_urc_switch("+CPSMSTATUS"),  # [U] SIM7080 PSM URC (ref §9)
                "+CPOWD": _cpowd,
                "+CNMP": _setting("+CNMP", "2"),
                "+CMNB": _cmnb,
                "+CBANDCFG": _keyed_setting("+CBANDCFG"),
            },
            on_socket_data=_ca_data,
            on_socket_closed=_ca_closed,
            default_act=7,
            # No boot text: the SIM7080 autobauds and says nothing until it has seen "AT" (ref §2.2).
            psm_enter_urc='+CPSMSTATUS: "ENTER PSM"',
            psm_exit_urc='+CPSMSTATUS: "EXIT PSM"',
            power_down_text="NORMAL POWER DOWN",
            max_datagram=1024,  # Zephyr / TinyGSM cap one transfer at 1024 (ref §5.4)
            socket_ids=range(13),
        ),
        "sara-r4": Dialect(
            model="sara-r4",
            manufacturer="u-blox",
            model_name="SARA-R410M-02B",
            firmware="L0.0.00.00.05.08",
            ati=("SARA-R410M-02B",),
            commands={
                **_USO_COMMANDS,
                "+CCID": _iccid("+CCID"),
                "+UPSMR": _psm_urc_switch("+UPSMR"),
                "+CPWROFF": _power_down_after_ok,
            },
            on_socket_data=_uso_data,
            on_socket_closed=_uso_closed,
            default_act=7,
            psm_enter_urc="+UUPSMR: 1",  # 1 entering PSM, 0 out of PSM (ref §4.7)
            psm_exit_urc="+UUPSMR: 0",
            max_datagram=1024,
            socket_ids=range(7),
        ),
    }
)
