"""``m2mclient modem ...``: drive a cellular module from the shell, or emulate one on a pty.

Every command opens the port, brings the module up through the same driver the
SDK uses (:func:`~m2mclient.platform.modems.open_modem`), does one thing and
closes the port again, so it can be run between two runs of an application:

* ``info`` - identity, registration, operator, signal and the PSM / eDRX the
  network granted, as one JSON object;
* ``psm`` / ``edrx`` - request timers (or switch them off) and print what was
  requested, as coded, next to what the network granted;
* ``sms send`` / ``sms listen`` - binary or text SMS in PDU mode;
* ``udp-echo`` - one datagram through the module's own socket and its reply;
* ``at`` - one raw command line, for everything else;
* ``emulate`` - a module on a pty (:class:`~m2mclient.platform.emulator.ModemEmulator`)
  for all of the above without hardware.

Results go to stdout (JSON, or one JSON line per event); a failure is one line on
stderr and a non-zero exit status (``m2mclient.cli.main`` prints typed errors
with their hint). The drivers are imported when a command runs, not when the
parser is built, so ``m2mclient --help`` stays quick on a Pi (DESIGN.md rule 7).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import random
import re
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from m2mclient.errors import M2MError

if TYPE_CHECKING:
    from m2mclient.platform.emulator import EnergyReport, ModemEmulator
    from m2mclient.platform.modems import Modem, ModemIdentity, Operator, Registration, Signal
    from m2mclient.platform.power import EdrxGrant, EdrxValue, PsmGrant, TimerValue
    from m2mclient.platform.sms_pdu import Alphabet, SmsMessage

__all__ = ["EMULATED_MODELS", "MODELS", "add_modem_commands"]

_T = TypeVar("_T")

EXIT_FAILURE = 1

#: What ``--model`` accepts: the registered drivers and their aliases, plus ``auto``. Kept as
#: data here so building the parser does not import the drivers; tests/test_cli_modem.py
#: checks it against ``available_models()``.
MODELS = ("auto", "bc66", "bc95", "bg95", "bg96", "generic", "sara-r4", "sim7020", "sim7070", "sim7080")
#: The dialects ``modem emulate --model`` accepts (``DIALECTS`` of the emulator, checked the same way).
EMULATED_MODELS = ("bc66", "bc95", "bg96", "sara-r4", "sim7020", "sim7080")

_MODEM_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 info
  m2mclient modem --port /dev/serial0 --model sim7080 psm --tau 1h --active 20s
  m2mclient modem --port /dev/ttyUSB2 psm --off
  m2mclient modem --port /dev/ttyUSB2 edrx --cycle 81.92s --rat lte-m
  m2mclient modem --port /dev/ttyUSB2 sms send --to +4915100000001 --hex 48656c6c6f
  m2mclient modem --port /dev/ttyUSB2 sms listen
  m2mclient modem --port /dev/ttyUSB2 udp-echo 203.0.113.7 7 --payload ping
  m2mclient modem --port /dev/ttyUSB2 --transcript - at "AT+CSQ"

No module at hand? Emulate one and point the commands at the pty it prints:
  m2mclient modem emulate --model sim7080          (prints e.g. /dev/pts/7)
  m2mclient modem --port /dev/pts/7 info

Each command opens the port, initialises the module (AT, ATE0, AT+CMEE=1, AT+CFUN,
AT+CPIN?, AT+CEREG=4), does its work and closes the port. --transcript records every
AT line in and out with a time stamp ('-' for stderr): attach it to a bug report.
Durations are seconds or d/h/m/s parts: 20s, 90m, 1h30m, 20.48s.
"""

_INFO_EPILOG = """\
example:
  m2mclient modem --port /dev/ttyUSB2 info

Prints one JSON object: identity (IMEI, IMSI, ICCID, firmware), registration (+CEREG
stat, TAC, cell, access technology), operator (+COPS), signal in dBm / dB (+CSQ,
+CESQ), the PSM timers the network granted (+CEREG mode 4) and the eDRX it granted
(+CEDRXRDP). A part the module cannot answer is null and listed in "unavailable".
"""

_PSM_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 psm --tau 1h --active 20s
  m2mclient modem --port /dev/ttyUSB2 psm --tau 24h --active 0s --wait 30s
  m2mclient modem --port /dev/ttyUSB2 psm --off

--tau is the periodic TAU (T3412 extended: how often the module wakes to tell the
network it is alive), --active the active time (T3324: how long it stays reachable
after each contact before PSM). Both are coded as 3GPP TS 24.008 GPRS timers; a value
that cannot be coded exactly is rounded up and shown with "exact": false. The network
decides what it grants, usually at the next attach or TAU: --wait waits that long for
its +CEREG answer before reading the grant.
"""

_EDRX_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 edrx --cycle 81.92s --rat lte-m
  m2mclient modem --port /dev/ttyUSB2 edrx --cycle 20.48s --rat nb-iot
  m2mclient modem --port /dev/ttyUSB2 edrx --off

The cycle is rounded down to one the access technology allows (LTE-M 5.12 s ..
2621.44 s, NB-IoT 20.48 s .. 10485.76 s), so paging never takes longer than asked.
Without --rat the one the module is registered on is used.
"""

_SMS_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 sms send --to +4915100000001 --hex 48656c6c6f
  m2mclient modem --port /dev/ttyUSB2 sms send --to +4915100000001 --text "hello" --class 1
  m2mclient modem --port /dev/ttyUSB2 sms listen
"""

_SMS_SEND_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 sms send --to +4915100000001 --hex c0ffee
  m2mclient modem --port /dev/ttyUSB2 sms send --to +4915100000001 --hex c0ffee --class 2

--hex sends 8-bit binary data (what the LwM2M SMS binding uses, class 2 = SIM),
--text sends GSM 7-bit text (UCS2 when a character needs it). Longer payloads go as a
concatenated SMS. Prints {"to", "parts", "tp_mr": [...]}: the TP-MR the SMSC gave
each part (status reports refer to it).
"""

_SMS_LISTEN_EPILOG = """\
example:
  m2mclient modem --port /dev/ttyUSB2 sms listen

Prints one JSON line per message ({"from", "timestamp", "parts", "hex" or "text"}),
concatenated parts joined, until Ctrl-C. Messages stored on the SIM while nobody
listened are printed first and deleted once printed.
"""

_UDP_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 udp-echo 203.0.113.7 7
  m2mclient modem --port /dev/ttyUSB2 udp-echo echo.example.net 7 --payload "hello" --timeout 60

Waits for registration, opens a UDP socket on the module, sends one datagram and
prints the reply as JSON ({"from", "reply_hex", "reply_text", "round_trip_s"}). A host
name is resolved on this computer (module DNS differs per vendor). The echo peer must
be reachable from the module's network: a private APN may not reach the internet.
"""

_AT_EPILOG = """\
examples:
  m2mclient modem --port /dev/ttyUSB2 at "AT+CSQ"
  m2mclient modem --port /dev/ttyUSB2 at "AT+CGDCONT?"
  m2mclient modem --port /dev/ttyUSB2 --model bg96 at 'AT+QCFG="nwscanmode"' --timeout 10

The module is not initialised (no ATE0, no SIM check): only woken with AT. Prints the
answer lines, then the final result; an error result exits 1 with its 3GPP meaning on
stderr. Commands that ask for data after a '>' prompt are not supported here.
"""

_EMULATE_EPILOG = """\
examples:
  m2mclient modem emulate --model sim7080
  m2mclient modem emulate --model bc66 --energy --granted-psm 20s,1h
  m2mclient modem emulate --model bg96 --registration 2        (searching: never registers)

Prints the pty path on the first line, then serves until Ctrl-C / SIGTERM (with
--energy it then prints the energy report: seconds and mAh in the connected, idle,
PSM and off states, from typical datasheet currents). Sockets reach 127.0.0.0/8 only.
Type commands on its stdin to play the network:
  sms FROM HEX          deliver an 8-bit SMS (e.g. sms +4915100000001 c0ffee)
  text FROM TEXT...     deliver a text SMS
  nidd HEX              deliver non-IP data
  register STAT         change the +CEREG stat (1 home, 5 roaming, 2 searching, 3 denied)
  signal DBM            change the RSSI
  wake                  pulse the wake pin (leave PSM, wake the UART)
  energy | state        the energy report so far | the power state
  help | quit
"""


# --- the parser --------------------------------------------------------------------------


def add_modem_commands(areas: Any) -> None:
    """Add the ``modem`` area (info, psm, edrx, sms, udp-echo, at, emulate) to ``m2mclient``'s areas."""
    modem = areas.add_parser(
        "modem",
        help="drive a cellular module (info, PSM, eDRX, SMS, UDP, raw AT) or emulate one",
        description="Talk to an NB-IoT / LTE-M module over its AT port through m2mclient's drivers.",
        epilog=_MODEM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modem.add_argument("--port", help="the module's AT port: /dev/ttyUSB2, /dev/serial0, a pty from 'emulate'")
    modem.add_argument(
        "--model",
        default="auto",
        choices=MODELS,
        metavar="MODEL",
        help=f"the driver: {', '.join(MODELS)} (default auto: ask the module with ATI / AT+CGMM)",
    )
    modem.add_argument("--baudrate", type=int, default=115200, metavar="N", help="serial speed (default 115200)")
    modem.add_argument(
        "--transcript", metavar="FILE", help="append every AT line in and out, time-stamped, to FILE ('-': stderr)"
    )
    modem.add_argument("--pin", help="the SIM PIN, if the SIM asks for one")
    modem.set_defaults(handler=_help_handler(modem))
    commands = modem.add_subparsers(title="commands", metavar="COMMAND")
    _add_power_commands(commands)
    _add_sms_commands(commands)
    _add_socket_and_at_commands(commands)
    _add_emulate_command(commands)


def _add_power_commands(commands: Any) -> None:
    info = _add(commands, "info", "identity, registration, operator, signal, granted PSM / eDRX as JSON", _INFO_EPILOG)
    info.set_defaults(handler=_info_command)

    psm = _add(commands, "psm", "request PSM timers (or switch PSM off); prints requested vs granted", _PSM_EPILOG)
    psm.add_argument("--tau", type=_duration, metavar="DURATION", help="periodic TAU, T3412 extended (e.g. 1h)")
    psm.add_argument("--active", type=_duration, metavar="DURATION", help="active time, T3324 (e.g. 20s)")
    psm.add_argument("--off", action="store_true", help="switch PSM off (AT+CPSMS=0)")
    psm.add_argument(
        "--wait",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="wait up to this long for the network's +CEREG answer before reading the grant (default 0)",
    )
    psm.set_defaults(handler=_psm_command)

    edrx = _add(
        commands, "edrx", "request an eDRX cycle (or switch eDRX off); prints requested vs granted", _EDRX_EPILOG
    )
    edrx.add_argument("--cycle", type=_duration, metavar="DURATION", help="the eDRX cycle (e.g. 81.92s)")
    edrx.add_argument("--ptw", type=_duration, metavar="DURATION", help="paging time window, where the module sets it")
    edrx.add_argument("--rat", type=_rat, metavar="RAT", help="nb-iot or lte-m (default: the one registered on)")
    edrx.add_argument("--off", action="store_true", help="switch eDRX off (AT+CEDRXS=0)")
    edrx.set_defaults(handler=_edrx_command)


def _add_socket_and_at_commands(commands: Any) -> None:
    udp = _add(commands, "udp-echo", "send a datagram through the module's UDP socket and print the reply", _UDP_EPILOG)
    udp.add_argument("host", help="the echo peer's IP address or name")
    udp.add_argument("udp_port", type=_port, metavar="PORT", help="its UDP port")
    body = udp.add_mutually_exclusive_group()
    body.add_argument("--payload", metavar="TEXT", help="the datagram as text (default 'm2mclient udp-echo')")
    body.add_argument("--hex", type=_hex, metavar="HEX", help="the datagram as hex digits")
    udp.add_argument(
        "--timeout", type=_duration, default=30.0, metavar="DURATION", help="wait for registration and reply (30s)"
    )
    udp.add_argument("--local-port", type=_port, metavar="N", help="bind the module's socket to this port")
    udp.set_defaults(handler=_udp_echo_command)

    at = _add(commands, "at", "send one raw AT command and print the answer", _AT_EPILOG)
    at.add_argument("line", metavar="COMMAND", help='the command line, e.g. "AT+CSQ"')
    at.add_argument("--timeout", type=_duration, default=10.0, metavar="DURATION", help="wait this long (10s)")
    at.set_defaults(handler=_at_command)


def _add_sms_commands(commands: Any) -> None:
    sms = _add(commands, "sms", "send or receive SMS in PDU mode", _SMS_EPILOG)
    sms.set_defaults(handler=_help_handler(sms))
    sms_commands = sms.add_subparsers(title="commands", metavar="COMMAND")
    send = _add(sms_commands, "send", "send one SMS (binary or text); prints its TP-MR", _SMS_SEND_EPILOG)
    send.add_argument("--to", required=True, metavar="MSISDN", help="the destination, e.g. +4915100000001")
    payload = send.add_mutually_exclusive_group(required=True)
    payload.add_argument("--hex", type=_hex, metavar="PAYLOAD", help="8-bit data as hex digits")
    payload.add_argument("--text", help="text (GSM 7-bit, UCS2 where needed)")
    send.add_argument("--class", dest="message_class", type=int, choices=range(4), metavar="0-3", help="message class")
    send.set_defaults(handler=_sms_send_command)
    listen = _add(sms_commands, "listen", "print each received SMS as a JSON line until Ctrl-C", _SMS_LISTEN_EPILOG)
    listen.set_defaults(handler=_sms_listen_command)


def _add_emulate_command(commands: Any) -> None:
    emulate = _add(commands, "emulate", "emulate a module on a pty until interrupted", _EMULATE_EPILOG)
    # Its own dest: the area's --model names a driver, this one a dialect ("modem --model bc66
    # emulate" is understood too, see _emulate_command).
    emulate.add_argument(
        "--model",
        dest="emulated_model",
        choices=EMULATED_MODELS,
        metavar="MODEL",
        help=f"the module to be: {', '.join(EMULATED_MODELS)} (default bg96)",
    )
    emulate.add_argument("--energy", action="store_true", help="print the energy report (JSON) at exit")
    emulate.add_argument("--rssi", type=int, default=-73, metavar="DBM", help="the signal +CSQ reports (-73)")
    emulate.add_argument(
        "--registration", type=int, default=1, metavar="STAT", help="the +CEREG stat the network gives (1: home)"
    )
    emulate.add_argument(
        "--granted-psm",
        type=_psm_pair,
        metavar="ACTIVE,TAU",
        help="grant these PSM timers whatever is asked (default: grant what is asked)",
    )
    emulate.set_defaults(handler=_emulate_command)


def _add(commands: Any, name: str, summary: str, epilog: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _help_handler(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_FAILURE

    return show_help


# --- option types (argparse reports their ArgumentTypeError as "invalid value: <reason>") ----


def _duration(text: str) -> float:
    from m2mclient.platform.power import PowerValueError, parse_duration

    try:
        return parse_duration(text)
    except PowerValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _psm_pair(text: str) -> tuple[int, int]:
    active, comma, tau = text.partition(",")
    if not comma:
        raise argparse.ArgumentTypeError(f"expected ACTIVE,TAU such as 20s,1h; got {text!r}")
    return round(_duration(active)), round(_duration(tau))


def _rat(text: str) -> str:
    from m2mclient.platform.power import PowerValueError, Rat

    try:
        Rat.parse(text)
    except PowerValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _hex(text: str) -> bytes:
    digits = "".join(text.split())
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex digits: {text!r} (e.g. 48656c6c6f)") from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {text!r}")
    return value


# --- opening the module ------------------------------------------------------------------


@contextlib.contextmanager
def _transcript(path: str | None) -> Iterator[TextIO | None]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stderr
    else:
        with open(path, "a", encoding="utf-8", buffering=1) as handle:
            yield handle


async def _with_modem(args: argparse.Namespace, work: Callable[[Modem], Awaitable[_T]], *, init: bool = True) -> _T:
    """Open ``--port`` with ``--model``, run ``work(modem)``, close the port whatever happens."""
    from m2mclient.platform.modems import open_modem

    if not args.port:
        raise M2MError(
            "give the module's port: m2mclient modem --port /dev/ttyUSB2 ... "
            "(or the pty path 'm2mclient modem emulate' printed)"
        )
    with _transcript(args.transcript) as transcript:
        modem = await open_modem(
            args.port, args.model, baudrate=args.baudrate, transcript=transcript, pin=args.pin, init=init
        )
        async with modem:
            return await work(modem)


def _emit(document: object) -> None:
    print(json.dumps(document), flush=True)


async def _until_signalled(work: Awaitable[None]) -> None:
    """Run ``work`` until it ends or SIGINT / SIGTERM arrives; then cancel it so it cleans up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        task.cancel()
        await asyncio.wait({task, stopper})
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if not task.cancelled():
        task.result()  # re-raises what made the work fail


# --- JSON views of the driver's data ------------------------------------------------------


def _timer_json(value: TimerValue | None) -> dict[str, Any] | None:
    from m2mclient.platform.power import format_duration

    if value is None:
        return None
    return {
        "bits": value.bits,
        "seconds": value.seconds,
        "duration": None if value.seconds is None else format_duration(value.seconds),
        "exact": value.exact,
    }


def _psm_grant_json(grant: PsmGrant | None) -> dict[str, Any] | None:
    from m2mclient.platform.power import format_duration

    if grant is None:
        return None
    return {
        "psm": grant.psm,
        "active_time_s": grant.active_time_s,
        "tau_s": grant.tau_s,
        "active_time": None if grant.active_time_s is None else format_duration(grant.active_time_s),
        "tau": None if grant.tau_s is None else format_duration(grant.tau_s),
        "active_time_bits": grant.active_time_bits,
        "tau_bits": grant.tau_bits,
    }


def _edrx_value_json(value: EdrxValue | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"bits": value.bits, "seconds": value.seconds, "exact": value.exact}


def _edrx_grant_json(grant: EdrxGrant | None) -> dict[str, Any] | None:
    if grant is None:
        return None
    return {
        "in_use": grant.in_use,
        "rat": None if grant.rat is None else grant.rat.label,
        "requested_s": grant.requested_s,
        "cycle_s": grant.cycle_s,
        "ptw_s": grant.ptw_s,
        "requested_bits": grant.requested_bits,
        "cycle_bits": grant.cycle_bits,
        "ptw_bits": grant.ptw_bits,
    }


def _identity_json(identity: ModemIdentity) -> dict[str, Any]:
    return {
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "firmware": identity.firmware,
        "imei": identity.imei,
        "imsi": identity.imsi,
        "iccid": identity.iccid,
    }


def _registration_json(registration: Registration) -> dict[str, Any]:
    rat = registration.rat
    document: dict[str, Any] = {
        "stat": registration.stat.name.lower(),
        "stat_code": int(registration.stat),
        "registered": registration.registered,
        "tac": registration.tac,
        "ci": registration.ci,
        "act": registration.act,
        "rat": None if rat is None else rat.label,
    }
    if registration.reject_cause is not None:
        document["cause_type"] = registration.cause_type
        document["reject_cause"] = registration.reject_cause
    return document


def _operator_json(operator: Operator) -> dict[str, Any]:
    return {"mode": operator.mode, "format": operator.format, "name": operator.name, "act": operator.act}


def _signal_json(quality: Signal) -> dict[str, Any]:
    return {
        "rssi_dbm": quality.rssi_dbm,
        "ber": quality.ber,
        "rsrp_dbm": quality.rsrp_dbm,
        "rsrq_db": quality.rsrq_db,
    }


def _message_json(message: SmsMessage) -> dict[str, Any]:
    from m2mclient.platform.sms_pdu import DeliverPdu

    first = message.parts[0]
    document: dict[str, Any] = {
        "from": str(message.peer),
        "timestamp": first.timestamp.isoformat() if isinstance(first, DeliverPdu) else None,
        "parts": len(message.parts),
        "class": first.data_coding.message_class,
    }
    if message.ports is not None:
        document["ports"] = list(message.ports)
    data = message.user_data
    if isinstance(data, bytes):
        document["hex"] = data.hex()
    else:
        document["text"] = data
    return document


def _energy_json(report: EnergyReport) -> dict[str, Any]:
    return {
        "seconds": {state.value: round(value, 3) for state, value in report.seconds.items()},
        "mah": {state.value: round(value, 6) for state, value in report.mah.items()},
        "idle_edrx_seconds": round(report.idle_edrx_seconds, 3),
        "total_seconds": round(report.total_seconds, 3),
        "total_mah": round(report.total_mah, 6),
        "currents_ma": {state.value: value for state, value in report.currents_ma.items()},
    }


# --- info --------------------------------------------------------------------------------


def _info_command(args: argparse.Namespace) -> int:
    _emit(asyncio.run(_with_modem(args, _info)))
    return 0


async def _info(modem: Modem) -> dict[str, Any]:
    unavailable: dict[str, str] = {}

    async def optional(name: str, read: Callable[[], Awaitable[_T]]) -> _T | None:
        # A diagnostic shows what it can: one refused query does not hide the others.
        try:
            return await read()
        except M2MError as exc:
            unavailable[name] = str(exc).splitlines()[0]
            return None

    identity = await modem.identity()
    registration = await modem.registration()
    operator = await optional("operator", modem.operator)
    quality = await optional("signal", modem.signal)
    edrx = await optional("edrx", modem.granted_edrx) if modem.profile.capabilities.edrx else None
    return {
        "driver": modem.profile.name,
        "identity": _identity_json(identity),
        "registration": _registration_json(registration),
        "operator": None if operator is None else _operator_json(operator),
        "signal": None if quality is None else _signal_json(quality),
        "psm": _psm_grant_json(registration.psm),
        "edrx": _edrx_grant_json(edrx),
        "cereg_mode": modem.cereg_mode,
        "unavailable": unavailable,
    }


# --- psm / edrx --------------------------------------------------------------------------


def _psm_command(args: argparse.Namespace) -> int:
    if args.off and (args.tau is not None or args.active is not None):
        raise M2MError("--off switches PSM off; leave out --tau and --active")
    if not args.off and args.tau is None and args.active is None:
        raise M2MError("give --tau and/or --active (e.g. psm --tau 1h --active 20s), or --off")

    async def work(modem: Modem) -> dict[str, Any]:
        answered = _next_registration_report(modem)
        try:
            if args.off:
                await modem.disable_psm()
                document: dict[str, Any] = {"requested": "off"}
            else:
                request = await modem.set_psm(tau=args.tau, active_time=args.active)
                document = {
                    "requested": {"tau": _timer_json(request.tau), "active_time": _timer_json(request.active_time)}
                }
            if args.wait > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(answered), args.wait)
        finally:
            answered.cancel()
        document["granted"] = _psm_grant_json(await modem.granted_psm())
        return document

    _emit(asyncio.run(_with_modem(args, work)))
    return 0


def _next_registration_report(modem: Modem) -> asyncio.Future[None]:
    """A future done at the next ``+CEREG`` URC (the network's answer to a timer request)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def seen(_: object) -> None:
        if not future.done():
            future.set_result(None)

    unsubscribe = modem.subscribe_registration(seen)
    future.add_done_callback(lambda _: unsubscribe())
    return future


def _edrx_command(args: argparse.Namespace) -> int:
    if args.off and (args.cycle is not None or args.ptw is not None):
        raise M2MError("--off switches eDRX off; leave out --cycle and --ptw")
    if not args.off and args.cycle is None:
        raise M2MError("give --cycle (e.g. edrx --cycle 81.92s --rat lte-m), or --off")

    async def work(modem: Modem) -> dict[str, Any]:
        if args.off:
            await modem.disable_edrx(args.rat)
            document: dict[str, Any] = {"requested": "off"}
        else:
            request = await modem.set_edrx(args.cycle, args.rat, ptw=args.ptw)
            document = {
                "requested": {
                    "rat": request.rat.label,
                    "cycle": _edrx_value_json(request.cycle),
                    "ptw": _edrx_value_json(request.ptw),
                }
            }
        document["granted"] = _edrx_grant_json(await modem.granted_edrx())
        return document

    _emit(asyncio.run(_with_modem(args, work)))
    return 0


# --- sms ---------------------------------------------------------------------------------


def _sms_send_command(args: argparse.Namespace) -> int:
    from m2mclient.platform.sms_pdu import encode_submit

    payload: bytes | str = args.hex if args.hex is not None else args.text
    parts = encode_submit(
        args.to,
        payload,
        encoding="8bit" if isinstance(payload, bytes) else "auto",
        message_class=args.message_class,
        # The concatenation reference tells this message's parts from another's; a random
        # one keeps two runs of this command apart without a counter on disk.
        reference=random.randrange(256),
    )

    async def work(modem: Modem) -> dict[str, Any]:
        references = await modem.send_sms(parts)
        return {"to": str(parts[0].destination), "parts": len(parts), "bytes": _size(payload), "tp_mr": references}

    _emit(asyncio.run(_with_modem(args, work)))
    return 0


def _size(payload: bytes | str) -> int:
    return len(payload) if isinstance(payload, bytes) else len(payload.encode())


def _sms_listen_command(args: argparse.Namespace) -> int:
    async def work(modem: Modem) -> None:
        await modem.enable_sms(store=True)
        while True:
            _emit(_message_json(await modem.receive_sms()))

    asyncio.run(_until_signalled(_with_modem(args, work)))
    return 0


# --- udp-echo ------------------------------------------------------------------------------


def _resolve(host: str, port: int) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise M2MError(f"cannot resolve {host!r} on this computer ({exc}); give the peer's IP address") from None
    # IPv4 first: most NB-IoT / LTE-M subscriptions have no IPv6.
    answers.sort(key=lambda answer: answer[0] != socket.AF_INET)
    return str(answers[0][4][0])


def _udp_echo_command(args: argparse.Namespace) -> int:
    from m2mclient.platform.modems import ModemError

    address = _resolve(args.host, args.udp_port)
    payload: bytes = args.hex if args.hex is not None else (args.payload or "m2mclient udp-echo").encode()

    async def work(modem: Modem) -> dict[str, Any]:
        await modem.wait_registered(timeout=args.timeout)
        loop = asyncio.get_running_loop()
        handle = await modem.open_udp(args.local_port)
        try:
            started = loop.time()
            await modem.send_to(handle, address, args.udp_port, payload)
            try:
                reply = await asyncio.wait_for(modem.receive_from(handle), args.timeout)
            except asyncio.TimeoutError:
                raise ModemError(
                    f"no reply from {address}:{args.udp_port} within {args.timeout:g} s: is the echo peer running, "
                    "and reachable from the module's network (APN, firewall)? --transcript - shows the AT traffic"
                ) from None
            elapsed = loop.time() - started
        finally:
            await modem.close_socket(handle)
        document: dict[str, Any] = {
            "to": f"{address}:{args.udp_port}",
            "from": f"{reply.host}:{reply.port}",
            "sent_hex": payload.hex(),
            "reply_hex": reply.data.hex(),
            "round_trip_s": round(elapsed, 3),
        }
        with contextlib.suppress(UnicodeDecodeError):
            document["reply_text"] = reply.data.decode()
        return document

    _emit(asyncio.run(_with_modem(args, work)))
    return 0


# --- at ----------------------------------------------------------------------------------

_CM_ERROR = re.compile(r"^\+(CM[ES]) ERROR:\s*(.*?)\s*$")


def _at_command(args: argparse.Namespace) -> int:
    line = args.line.strip()
    if not line:
        raise M2MError('give a command line, e.g. at "AT+CSQ"')
    if not line.upper().startswith("AT"):
        line = "AT" + line  # "+CSQ" is what people mean by "AT+CSQ"

    async def work(modem: Modem) -> tuple[list[str], str, str | None]:
        from m2mclient.platform.modems.generic import sync_at

        timeouts = modem.profile.timeouts
        await sync_at(modem.at, attempts=timeouts.sync_attempts, probe_timeout=timeouts.sync_probe)
        response = await modem.at.command_raw_line(line, timeout=args.timeout)
        explanation = None if response.ok else _explain_final(modem, response.final)
        return list(response.lines), response.final, explanation

    lines, final, explanation = asyncio.run(_with_modem(args, work, init=False))
    for text in lines:
        print(text)
    print(final, flush=True)
    if explanation is not None:
        print(f"m2mclient: error: {line!r} answered {final}: {explanation}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _explain_final(modem: Modem, final: str) -> str:
    from m2mclient.platform.at import CME_ERRORS, CMS_ERRORS

    match = _CM_ERROR.match(final)
    if match is None:
        if final == "ERROR":
            return "rejected without a reason (send AT+CMEE=1 first for numbered errors; check the syntax)"
        return "an error result"
    kind, value = match.group(1), match.group(2)
    if not value.isdigit():
        return value or "an error result"  # AT+CMEE=2: the module said it in words
    code = int(value)
    table = {**CME_ERRORS, **modem.profile.cme_meanings} if kind == "CME" else CMS_ERRORS
    meaning = table.get(code)
    where = "3GPP TS 27.007 §9.2" if kind == "CME" else "3GPP TS 27.005 §3.2.5"
    return f"{meaning} (see {where})" if meaning else f"code {code} (see {where} or the module's manual)"


# --- emulate -----------------------------------------------------------------------------


def _emulate_command(args: argparse.Namespace) -> int:
    from m2mclient.platform.emulator import ModemEmulator

    model = args.emulated_model or (args.model if args.model in EMULATED_MODELS else "bg96")

    async def serve() -> None:
        emulator = ModemEmulator(
            model,
            rssi_dbm=args.rssi,
            registration_stat=args.registration,
            granted_psm=args.granted_psm,
        )
        await emulator.start()
        try:
            console = _EmulatorConsole(emulator, _emit_line)
            _emit_line(emulator.port_path)
            await _until_signalled(console.run(_stdin_lines()))
        finally:
            await emulator.stop()
        if args.energy:
            _emit(_energy_json(emulator.energy.report()))

    asyncio.run(serve())
    return 0


def _emit_line(text: str) -> None:
    print(text, flush=True)


async def _stdin_lines() -> AsyncIterator[str]:
    """Lines typed on stdin. A daemon thread reads the raw descriptor: a read blocked in it never
    holds up the exit, and it takes no lock of ``sys.stdin`` that interpreter shutdown would need."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin at all (closed, replaced)
        return

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                put(raw.decode("utf-8", "replace"))
        if pending:
            put(pending.decode("utf-8", "replace"))
        put(None)

    threading.Thread(target=pump, name="emulator console", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class _EmulatorConsole:
    """Typed lines that play the network side of an emulated module (see the emulate epilog)."""

    def __init__(self, emulator: ModemEmulator, output: Callable[[str], None]):
        self.emulator = emulator
        self.output = output

    async def run(self, lines: Any) -> None:
        """Execute each line; ``quit`` ends the run. End of input leaves the module serving."""
        async for line in lines:
            words = line.split()
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                return
            try:
                self.output(self.execute(words[0], words[1:]))
            except IndexError:
                self.output(f"error: {words[0]} needs more arguments; type 'help'")
            except (M2MError, ValueError, argparse.ArgumentTypeError) as exc:
                self.output(f"error: {exc}")
        await asyncio.Event().wait()  # stdin ended (e.g. /dev/null): serve until a signal

    def execute(self, command: str, rest: Sequence[str]) -> str:
        """One console command; returns the line to print."""
        emulator = self.emulator
        if command == "help":
            return _EMULATE_EPILOG.split("Type commands on its stdin to play the network:\n", 1)[1].rstrip()
        if command == "sms":
            return self._deliver_sms(rest[0], _hex(rest[1]))
        if command == "text":
            return self._deliver_sms(rest[0], " ".join(rest[1:]))
        if command == "nidd":
            emulator.deliver_nidd(_hex(rest[0]))
            return f"nidd delivered ({len(_hex(rest[0]))} bytes)"
        if command == "register":
            emulator.set_registration(int(rest[0]))
            return f"registration stat {int(rest[0])}"
        if command == "signal":
            emulator.set_signal(rssi_dbm=int(rest[0]))
            return f"rssi {int(rest[0])} dBm"
        if command == "wake":
            emulator.wake()
            return f"woken: {emulator.power_state.value}"
        if command == "energy":
            return json.dumps(_energy_json(emulator.energy_report()))
        if command == "state":
            return emulator.power_state.value
        return f"unknown command {command!r}; type 'help'"

    def _deliver_sms(self, sender: str, payload: bytes | str) -> str:
        from m2mclient.platform.sms_pdu import Address, DataCoding, DeliverPdu, gsm7_encodable

        alphabet: Alphabet = "8bit"
        if isinstance(payload, str):
            alphabet = "gsm7" if gsm7_encodable(payload) else "ucs2"
        pdu = DeliverPdu(
            originator=Address.parse(sender),
            timestamp=dt.datetime.now(dt.timezone.utc),
            user_data=payload,
            data_coding=DataCoding.for_alphabet(alphabet),
        )
        self.emulator.deliver_sms(pdu.hex)
        return f"sms delivered from {sender}"
