"""The AT command engine: one reader, one command at a time, URCs at any time.

Every modem driver talks to its module through one :class:`AtEngine` over a byte
channel (a :class:`~m2mclient.platform.serialport.SerialChannel`, or anything with
``async read()``, ``async write(data)`` and ``close()``)::

    at = AtEngine(open_serial("/dev/ttyUSB2"), transcript=sys.stderr)
    await at.start()
    unsubscribe = at.subscribe("+NSONMI", lambda urc: on_data(urc.fields()))
    rssi, ber = (await at.command("AT+CSQ", prefix="+CSQ")).fields()
    await at.command_with_data("AT+QISEND=0,5", b"hello", terminators=("SEND OK", "SEND FAIL"))

How input is read (references are to shared/reference/modems-at-commands.md §1):

* One task reads the channel and cuts the bytes into lines at CR or LF (modules send
  CR LF, some a lone CR or LF; empty lines are skipped, NUL bytes dropped) (§1.1).
* A data prompt (``> `` or u-blox ``@``) has no line ending (§1.3), so it is looked
  for in the unterminated rest of the input, and only while a command is waiting
  for one; at any other time a ``>`` is just text.
* Final result codes end a command: ``OK``, ``ERROR``, ``+CME ERROR: <n>``,
  ``+CMS ERROR: <n>``, ``NO CARRIER`` and friends, and per command the vendor
  lines given as ``terminators`` (``SEND OK``, ``DATA ACCEPT:``, ``+QIOPEN:``) (§1.2).
* The first line equal to the command is its echo (``ATE1``, or before ``ATE0``
  took effect) and is skipped (§1.4).
* Any other line is either part of the pending command's answer or unsolicited.
  Which one is decided with what the command declared, because the same text can
  be both: ``+CEREG: 1,5`` is the answer to ``AT+CEREG?`` *and* ``+CEREG: 5`` a URC
  that may arrive in the middle of it. The rules, in order:

  1. a line starting with one of the command's ``prefix`` es is an answer line,
     unless it fails the command's ``expect`` pattern or ``expect_lines`` answer
     lines were already collected. So ``AT+CEREG?`` is sent with
     ``expect=r"\\+CEREG: ?\\d+,\\d+"``: a read answer always starts ``<n>,<stat>``,
     a URC never does (its second field, if any, is the quoted ``<tac>``), and an
     interleaved URC goes to the ``+CEREG`` subscribers instead of into the answer;
  2. a line whose prefix someone subscribed to is a URC;
  3. a line shaped like another command's answer (``+XYZ: ...``) while the command
     declared a prefix is a URC (nobody subscribed: logged);
  4. anything else (``Quectel``, a BC95-style bare ``1`` or ``0,12``, the PDU line
     after ``+CMGR:``) is an answer line, subject to ``expect`` / ``expect_lines``;
     when the command declared a prefix, only after its first prefixed line, so
     boot-ROM text that lands before the answer stays out of it.
  With no command pending every line is unsolicited: dispatched to the
  subscribers of its prefix, or logged at debug level as junk.
* Lines with control characters or bytes that are not UTF-8 (boot ROM output,
  garbage at the wrong baud rate or after a wake-up) are junk: logged, never
  parsed (§1.4).
* Binary payloads that may contain CR/LF (``+QIRD: 5<CR><LF><5 bytes>``,
  ``+CARECV: 5,<5 bytes>``) are taken by length when the command or a subscription
  declares a :class:`RawPayload`.

Errors are typed (DESIGN.md rule 5): :class:`AtTimeoutError` (with what arrived so
far and a hint), :class:`AtCommandError` (the CME/CMS code and its 3GPP meaning),
:class:`AtProtocolError` (an answer that cannot be right) and
:class:`AtChannelClosedError` (the port went away; nothing waits forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, TextIO, TypeVar

from m2mclient.errors import M2MError

__all__ = [
    "CME_ERRORS",
    "CMS_ERRORS",
    "CTRL_Z",
    "DEFAULT_PROMPT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ESC",
    "MAX_LINE_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "AtChannel",
    "AtChannelClosedError",
    "AtCommandError",
    "AtEngine",
    "AtError",
    "AtProtocolError",
    "AtResponse",
    "AtTimeoutError",
    "RawPayload",
    "Subscription",
    "Urc",
    "UrcWaiter",
    "parse_fields",
    "unquote",
]

logger = logging.getLogger(__name__)

#: Seconds a command may take when the caller names no timeout. Real drivers use 1 s
#: (mbed), 5 s (python-gsmmodem) and 10 s (Zephyr) (§1.5); slow commands (attach,
#: network scan, socket open) pass their own (180 s, 150 s, ...).
DEFAULT_TIMEOUT = 5.0
#: Seconds to wait for a data prompt: BG96 QISEND 5 s (Zephyr), CMGS 3 s (python-gsmmodem) (§1.5).
DEFAULT_PROMPT_TIMEOUT = 5.0
#: Longest line kept while waiting for its end; longer unterminated input is dropped as
#: junk so garbage without line endings cannot grow memory. Long real lines: a BC95
#: NSORF with 1358 bytes as hex is ~2.8 KB, an AT+COPS=? list a few hundred bytes.
MAX_LINE_LENGTH = 8192
#: Largest binary payload announced by a :class:`RawPayload` header that is believed:
#: BG96 QIRD reads at most 1500 bytes, SIM7080 CARECV 1024 (§5.2, §5.4).
MAX_PAYLOAD_LENGTH = 8192
#: Ends the PDU after ``AT+CMGS`` (3GPP TS 27.005 §3.5.1) and BG96 variable-length QISEND.
CTRL_Z = b"\x1a"
#: Aborts data entry after a prompt without sending (TS 27.005 §3.5.1).
ESC = b"\x1b"
# Seconds to wait after a prompt before the data: u-blox asks for >= 50 ms after '@'
# (Zephyr waits 75 ms) (§1.3). A guard time the module requires, not synchronisation.
_PROMPT_GUARD = {"@": 0.05}

# Final result codes every command ends on (V.250 §5.7.1, TS 27.007 §9.2, TS 27.005 §3.2.5),
# plus SIMCom's "COMMAND NOT SUPPORT" (§1.2).
_OK = "OK"
_ERROR_FINALS = frozenset({"ERROR", "NO CARRIER", "NO ANSWER", "BUSY", "NO DIALTONE", "COMMAND NOT SUPPORT"})
_CM_ERROR = re.compile(r"^\+(CM[ES]) ERROR:\s*(.*)$")
# "+XYZ: ..." - the shape of an answer/URC of some command. Spaces are allowed in the
# name because SIM7080 reports "+APP PDP: 0,ACTIVE".
_NAMED_LINE = re.compile(r"^[+*$%#^&][A-Za-z0-9_ ]*?:")
# The command name of an AT line, for the CLI escape hatch ("AT+CEREG?" -> "+CEREG").
_COMMAND_NAME = re.compile(r"^AT([+*$%#^&][A-Za-z0-9_]+)", re.IGNORECASE)

#: Common ``+CME ERROR`` codes and their meaning (3GPP TS 27.007 §9.2.1, §9.2.2).
CME_ERRORS: Mapping[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    50: "incorrect parameters",
    100: "unknown",
    103: "illegal MS",
    106: "illegal ME",
    107: "GPRS services not allowed",
    111: "PLMN not allowed",
    112: "location area not allowed",
    113: "roaming not allowed in this location area",
    132: "service option not supported",
    133: "requested service option not subscribed",
    134: "service option temporarily out of order",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    150: "invalid mobile class",
}

#: Common ``+CMS ERROR`` codes and their meaning (3GPP TS 27.005 §3.2.5). 0..127 are
#: network RP-causes (TS 24.011 Annex E-2), 128..255 TP-FCS values (TS 23.040 §9.2.3.22).
CMS_ERRORS: Mapping[int, str] = {
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "(U)SIM not inserted",
    311: "(U)SIM PIN required",
    312: "PH-(U)SIM PIN required",
    313: "(U)SIM failure",
    314: "(U)SIM busy",
    315: "(U)SIM wrong",
    316: "(U)SIM PUK required",
    317: "(U)SIM PIN2 required",
    318: "(U)SIM PUK2 required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

# What a person can do about the common failures; keyed by (CME|CMS, code).
_ERROR_HINTS: Mapping[tuple[str, int], str] = {
    ("CME", 3): "not allowed in this state: is the radio on (AT+CFUN=1), the SIM ready and the module attached?",
    ("CME", 4): "this module or firmware does not support it: check the command in the module's manual",
    ("CME", 10): "insert a SIM card (power the module off first)",
    ("CME", 11): 'unlock the SIM with AT+CPIN="<pin>"',
    ("CME", 12): "the SIM is blocked: unblock it with its PUK in a phone",
    ("CME", 13): "reseat or replace the SIM",
    ("CME", 14): "the SIM is still starting after boot: retry in a few seconds",
    ("CME", 30): "no network: check the antenna, coverage, bands (AT+QCFG/AT+CBANDCFG) and AT+COPS",
    ("CME", 31): "the network did not answer in time: retry later",
    ("CME", 107): "the subscription does not allow packet data here: check the SIM's plan and APN",
    ("CME", 149): "the APN rejected the user name/password",
    ("CMS", 330): 'set the SMS centre number (AT+CSCA="+<number>") or use a SIM that has one',
    ("CMS", 331): "no network for SMS: wait for registration (AT+CEREG?)",
    ("CMS", 304): "the PDU or its length is wrong: <length> counts TPDU octets without the SMSC field",
}
_PLAIN_ERROR_HINT = (
    "the module rejected the command without a reason: send AT+CMEE=1 (numeric) or AT+CMEE=2 (verbose) "
    "once to get +CME ERROR codes, and check the syntax against the module's manual"
)
_FINAL_HINTS = {
    "NO CARRIER": "the connection or data call dropped (or was never established)",
    "COMMAND NOT SUPPORT": "this firmware does not know the command",
}


class AtError(M2MError):
    """Something went wrong talking AT to a module."""


class AtTimeoutError(AtError, TimeoutError):
    """No complete answer in time; ``received`` holds what did arrive and ``hint`` what to check."""

    def __init__(
        self,
        command: str | None,
        *,
        phase: str,
        timeout: float,
        received: Sequence[str] = (),
        hint: str,
    ):
        self.command = command
        self.phase = phase
        self.timeout = timeout
        self.received = tuple(received)
        self.hint = hint
        so_far = "; ".join(self.received) if self.received else "nothing"
        what = repr(command) if command is not None else "waiting"
        super().__init__(f"{what}: no {phase} within {timeout:g} s (received: {so_far}). Hint: {hint}")


class AtCommandError(AtError):
    """The module answered a command with an error result.

    ``final`` is the line as received; for ``+CME ERROR`` / ``+CMS ERROR`` ``kind`` is
    ``"CME"`` / ``"CMS"``, ``code`` the number (also recovered from verbose text
    when the table knows it) and ``meaning`` its 3GPP meaning.
    """

    def __init__(
        self,
        command: str,
        final: str,
        *,
        kind: str | None = None,
        code: int | None = None,
        meaning: str | None = None,
        hint: str | None = None,
    ):
        self.command = command
        self.final = final
        self.kind = kind
        self.code = code
        self.meaning = meaning
        self.hint = hint
        detail = ""
        if kind is not None:
            described = meaning if meaning is not None else "no meaning known; see the module's manual"
            detail = f" ({kind} error {code if code is not None else '?'}: {described})"
        super().__init__(f"{command!r} failed: {final}{detail}" + (f". Hint: {hint}" if hint else ""))


class AtProtocolError(AtError):
    """The module's answer cannot be right: an answer line missing, OK instead of a data prompt, a bad field list."""


class AtChannelClosedError(AtError):
    """The port closed or failed (unplugged, the other end hung up, :meth:`AtEngine.close`)."""


class AtChannel(Protocol):
    """What the engine needs from a port; :class:`~m2mclient.platform.serialport.SerialChannel` is one."""

    async def read(self) -> bytes:
        """Wait for and return the next received bytes; raise (or return ``b""``) once closed."""
        ...

    async def write(self, data: bytes) -> None:
        """Write all of ``data``."""
        ...

    def close(self) -> None:
        """Release the port; idempotent."""
        ...


# --------------------------------------------------------------------------- parsing helpers


def parse_fields(line: str, prefix: str | None = None) -> list[str]:
    """Split the parameters of an answer or URC line at commas outside double quotes.

    ``prefix`` (``"+CSQ"``) is checked and removed with the colon and blanks after it,
    which also covers BC95's ``+NSONMI:1,12`` without a space. Without ``prefix`` a
    leading ``+NAME:`` is removed if present and a bare ``0,12`` is split as is.
    Quotes are kept (``'"5B57"'``), so a caller can tell a quoted string from a
    number; :func:`unquote` removes them. Empty parameters stay as ``''``.

    >>> parse_fields('+COPS: 0,0,"Vodafone, DE",7', "+COPS")
    ['0', '0', '"Vodafone, DE"', '7']

    Raises :class:`AtProtocolError` if the line does not start with ``prefix``.
    """
    text = line.strip()
    if prefix is not None:
        if not text.startswith(prefix):
            raise AtProtocolError(f"expected a line starting with {prefix!r}, got {line!r}")
        text = text[len(prefix) :].lstrip()
        if text.startswith(":"):
            text = text[1:]
    else:
        name = _NAMED_LINE.match(text)
        if name:
            text = text[name.end() :]
    text = text.strip()
    if not text:
        return []
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    fields.append("".join(current).strip())
    return fields


def unquote(field: str) -> str:
    """A parameter without its surrounding double quotes (``'"5B57"'`` -> ``'5B57'``); others unchanged."""
    text = field.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    if text.startswith('"'):  # unterminated: the module cut the line; keep what there is
        return text[1:]
    return text


def _prefix_matches(line: str, prefix: str) -> bool:
    """``line`` starts with ``prefix`` as a whole name: "+CSO" does not claim "+CSONMI: 0,4,...".."""
    if not line.startswith(prefix):
        return False
    if len(line) == len(prefix) or not _is_name_char(prefix[-1]):
        return True
    return not _is_name_char(line[len(prefix)])


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _show(data: bytes) -> str:
    """Bytes as readable text for logs: printable ASCII as is, the rest escaped (\\r, \\x00)."""
    out = []
    for byte in data:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n")
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def _show_payload(data: bytes) -> str:
    """A data payload for the transcript: length, hex and the escaped text."""
    return f'{len(data)} bytes: {data.hex(" ")}  "{_show(data)}"'


def _is_junk(text: str) -> bool:
    # Module text is printable; control characters or undecodable bytes (U+FFFD) mean
    # boot-ROM output, line noise or a wrong baud rate.
    return any((ord(c) < 0x20 and c != "\t") or c in "\x7f\ufffd" for c in text)


# --------------------------------------------------------------------------- public data


@dataclass(frozen=True)
class RawPayload:
    """A header after which the module sends ``<length>`` raw bytes that may contain CR/LF.

    ``header`` is a regular expression over bytes matched at the start of a line;
    it must end exactly where the data begins and capture the length in group
    ``length_group``. Examples::

        RawPayload(rb"\\+QIRD: (\\d+)[^\\r\\n]*\\r\\n")              # BG96 buffer-mode read
        RawPayload(rb"\\+CARECV: (\\d+),")                        # SIM7080: data on the same line
        RawPayload(rb'\\+QIURC: "recv",\\d+,(\\d+)[^\\r\\n]*\\r\\n')   # BG96 direct-push URC

    The header (as text, without its line ending) becomes the answer line or
    :attr:`Urc.line`, the bytes :attr:`AtResponse.payloads` or :attr:`Urc.data`.
    """

    header: bytes | re.Pattern[bytes]
    length_group: int | str = 1

    @property
    def pattern(self) -> re.Pattern[bytes]:
        """The compiled header pattern."""
        return self.header if isinstance(self.header, re.Pattern) else re.compile(self.header)


@dataclass(frozen=True)
class Urc:
    """An unsolicited result code: its line, continuation lines and raw payload, if any."""

    line: str
    lines: tuple[str, ...] = ()
    data: bytes | None = None

    def fields(self) -> list[str]:
        """The parameters of :attr:`line` (see :func:`parse_fields`)."""
        return parse_fields(self.line)


@dataclass(frozen=True)
class AtResponse:
    """The answer to one command.

    ``lines`` are the information lines (no echo, no URCs, no final), ``final`` is the
    line that ended it (``OK`` or a vendor terminator such as ``SEND OK``; errors
    raise instead, except from :meth:`AtEngine.command_raw_line`), ``payloads`` the
    raw bytes taken by a :class:`RawPayload`, ``echoed`` whether the module echoed
    the command (``ATE0`` not in effect).
    """

    command: str
    lines: tuple[str, ...]
    final: str
    prefixes: tuple[str, ...] = ()
    payloads: tuple[bytes, ...] = ()
    echoed: bool = False

    @property
    def ok(self) -> bool:
        """True if the final result was ``OK``."""
        return self.final == _OK

    def line(self, prefix: str | None = None) -> str:
        """The first line starting with ``prefix`` (default: the command's prefixes, else the first line).

        Raises :class:`AtProtocolError` when there is none.
        """
        wanted = (prefix,) if prefix is not None else self.prefixes
        for line in self.lines:
            if not wanted or any(_prefix_matches(line, p) for p in wanted):
                return line
        expected = " or ".join(wanted) if wanted else "an information line"
        raise AtProtocolError(f"{self.command!r} answered {self.final} without {expected} (lines: {list(self.lines)})")

    def fields(self, prefix: str | None = None) -> list[str]:
        """The parameters of :meth:`line` (``["23", "99"]`` for ``+CSQ: 23,99``)."""
        line = self.line(prefix)
        wanted = (prefix,) if prefix is not None else self.prefixes
        matched = next((p for p in wanted if _prefix_matches(line, p)), None)
        return parse_fields(line, matched)


_T = TypeVar("_T")


class Subscription:
    """The handle :meth:`AtEngine.subscribe` returns; call it (or :meth:`cancel`) to unsubscribe."""

    def __init__(
        self,
        engine: AtEngine,
        prefix: str,
        callback: Callable[[Urc], None],
        extra_lines: int,
        payload: RawPayload | None,
    ):
        self.prefix = prefix
        self.callback = callback
        self.extra_lines = extra_lines
        self.payload = payload
        self._engine: AtEngine | None = engine

    @property
    def active(self) -> bool:
        """True until cancelled."""
        return self._engine is not None

    def cancel(self) -> None:
        """Stop receiving URCs; idempotent."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine._unsubscribe(self)

    def __call__(self) -> None:
        """Same as :meth:`cancel`, so the handle reads as ``unsubscribe()``."""
        self.cancel()

    def __repr__(self) -> str:
        """Prefix and state, for logs."""
        return f"<Subscription {self.prefix!r}{'' if self.active else ' cancelled'}>"


class UrcWaiter:
    """One URC awaited by :meth:`AtEngine.expect_urc`, registered before the command that causes it."""

    def __init__(self, engine: AtEngine, prefix: str, match: Callable[[Urc], bool] | None):
        self.prefix = prefix
        self._engine = engine
        self._match = match
        self._future: asyncio.Future[Urc] = asyncio.get_running_loop().create_future()
        self._subscription = engine.subscribe(prefix, self._on_urc)
        engine._waiters.add(self)
        if engine.closed:  # nothing will ever arrive: fail now rather than wait forever
            self._fail(AtChannelClosedError(f"no {prefix} URC will come: the AT engine is closed"))

    async def wait(self, timeout: float | None = None) -> Urc:
        """The URC (at once if it already came). Raises :class:`AtTimeoutError` after ``timeout`` s."""
        try:
            await asyncio.wait({self._future}, timeout=timeout)
            if not self._future.done():
                raise AtTimeoutError(
                    None,
                    phase=f"{self.prefix} URC",
                    timeout=timeout if timeout is not None else 0.0,
                    hint=f"the module did not report {self.prefix} in time: is it attached, and the timeout "
                    "as long as the module's own (BG96 QIOPEN 150 s, registration 180 s)?",
                )
            return self._future.result()
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop waiting; idempotent."""
        self._subscription.cancel()
        self._engine._waiters.discard(self)
        if not self._future.done():
            self._future.cancel()

    def __enter__(self) -> UrcWaiter:
        """``with at.expect_urc(...) as waiter:`` cancels it on the way out."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Cancel the waiter."""
        self.cancel()

    def _on_urc(self, urc: Urc) -> None:
        if not self._future.done() and (self._match is None or self._match(urc)):
            self._future.set_result(urc)
            self._subscription.cancel()

    def _fail(self, exc: BaseException) -> None:
        self._subscription.cancel()
        _fail(self._future, exc)


def _fail(future: asyncio.Future[_T], exc: BaseException) -> None:
    """Fail ``future`` without the loop complaining later if nobody is left to look."""
    if not future.done():
        future.set_exception(exc)
        future.exception()  # marks it retrieved; a later await still raises


# --------------------------------------------------------------------------- framing (sans-IO)


@dataclass(frozen=True)
class _Line:
    raw: bytes


@dataclass(frozen=True)
class _Prompt:
    junk: bytes  # anything on the same unterminated line before the prompt character


@dataclass(frozen=True)
class _Payload:
    spec: RawPayload
    header: bytes
    data: bytes


@dataclass(frozen=True)
class _Overflow:
    raw: bytes


_Token = _Line | _Prompt | _Payload | _Overflow
_LINE_ENDS = re.compile(rb"[\r\n]")
_SKIP = b"\r\n\x00"


class _Framer:
    """Cuts module output into lines, prompts and length-framed payloads; no I/O, no clock.

    The engine tells it what to look for right now: :attr:`prompt` while a command
    waits for a data prompt, :attr:`payloads` for binary payloads announced by a
    header. Feeding the same bytes in any chunking yields the same tokens (as long
    as no line exceeds :data:`MAX_LINE_LENGTH`), which is what makes split and
    coalesced reads safe.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.prompt: bytes | None = None
        self.payloads: tuple[RawPayload, ...] = ()

    def feed(self, data: bytes) -> list[_Token]:
        """Add received bytes; return the complete tokens they finish."""
        self._buffer += data
        tokens: list[_Token] = []
        buffer = self._buffer
        while True:
            start = 0
            while start < len(buffer) and buffer[start] in _SKIP:
                start += 1
            del buffer[:start]
            if not buffer:
                return tokens
            payload = self._match_payload()
            if payload is not None:
                spec, header_end, total = payload
                if len(buffer) < total:
                    return tokens  # the rest of the payload is still on its way
                tokens.append(_Payload(spec, bytes(buffer[:header_end]), bytes(buffer[header_end:total])))
                del buffer[:total]
                continue
            end = _LINE_ENDS.search(buffer)
            if end is None or self._may_be_payload_header(end.end()):
                break
            line = bytes(buffer[: end.start()])
            del buffer[: end.end()]
            if self.prompt is not None and line.replace(b"\x00", b"").strip() == self.prompt:
                self.prompt = None
                tokens.append(_Prompt(b""))
            else:
                tokens.append(_Line(line))
        # Only an unterminated rest is left. A prompt never gets a line ending (§1.3).
        prompt = self.prompt
        if prompt is not None:
            rest = bytes(buffer).replace(b"\x00", b"").strip()
            # "AT+X=...@" could be the start of our own echo, not the prompt.
            if rest.endswith(prompt) and (rest == prompt or not rest.upper().startswith(b"AT")):
                self.prompt = None
                tokens.append(_Prompt(rest[: -len(prompt)].strip()))
                buffer.clear()
        if len(buffer) > MAX_LINE_LENGTH:
            tokens.append(_Overflow(bytes(buffer)))
            buffer.clear()
        return tokens

    def _may_be_payload_header(self, line_end: int) -> bool:
        """Whether a line cut at a CR that ends the buffer is a payload header whose LF is still on its way.

        Cutting there would read the header as a line and its payload as more lines;
        only a header that would match with the LF added waits, so a module ending
        lines with a lone CR is not held up.
        """
        if line_end != len(self._buffer) or self._buffer[-1:] != b"\r" or not self.payloads:
            return False
        candidate = bytes(self._buffer) + b"\n"
        return any(spec.pattern.match(candidate) for spec in self.payloads)

    def _match_payload(self) -> tuple[RawPayload, int, int] | None:
        """(spec, header end, payload end) if a payload header starts the buffer."""
        for spec in self.payloads:
            match = spec.pattern.match(self._buffer)
            if match is None:
                continue
            length = match.group(spec.length_group)
            if length is None or not length.isdigit() or int(length) > MAX_PAYLOAD_LENGTH:
                logger.warning("AT: ignoring a payload header claiming %r bytes: %s", length, _show(match.group(0)))
                continue
            return spec, match.end(), match.end() + int(length)
        return None


# --------------------------------------------------------------------------- transcript


class _Transcript:
    """Every line in and out with a timestamp, for debugging in the field.

    Times are seconds on the monotonic clock since the engine started, so they stay
    right when the wall clock jumps (a Raspberry Pi has no RTC and sets its clock
    over the network later); the header line records the wall-clock start once.
    """

    SENT = "-->"
    RECEIVED = "<--"

    def __init__(self, sink: TextIO | logging.Logger):
        self._sink = sink
        self._start = time.monotonic()
        wall = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self._emit(f"# AT transcript started {wall}; times are monotonic seconds since then; --> sent, <-- received")

    def record(self, direction: str, text: str, note: str = "") -> None:
        elapsed = time.monotonic() - self._start
        self._emit(f"{elapsed:10.3f} {direction} {text}" + (f"  [{note}]" if note else ""))

    def _emit(self, entry: str) -> None:
        sink = self._sink
        if isinstance(sink, logging.Logger):
            sink.info("%s", entry)
            return
        try:
            sink.write(entry + "\n")
            sink.flush()  # a crash or power cut should not eat the last lines
        except (OSError, ValueError):  # the file was closed under us; debugging aid only
            logger.debug("AT transcript sink failed; entry dropped: %s", entry)


# --------------------------------------------------------------------------- the engine


@dataclass(eq=False)
class _Pending:
    """The command in flight and what it said about its answer."""

    command: str
    prefixes: tuple[str, ...]
    terminators: tuple[str, ...]
    failures: tuple[str, ...]
    expect: re.Pattern[str] | None
    expect_lines: int | None
    payload: RawPayload | None
    prompt: str | None
    raw: bool
    done: asyncio.Future[AtResponse]
    prompted: asyncio.Future[None]
    lines: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # all that arrived, for a timeout report
    received_bytes: int = 0
    readable_lines: int = 0
    echoed: bool = False
    prefixed_seen: bool = False


@dataclass(eq=False)
class _UrcInProgress:
    """A URC whose continuation lines (``+CMT: ,24`` then the PDU) are still arriving."""

    line: str
    subscribers: list[Subscription]
    missing: int
    lines: list[str] = field(default_factory=list)


class AtEngine:
    """The one AT engine of a module: commands one at a time, URCs dispatched by prefix.

    ``transcript`` receives every line in and out (a text file such as
    ``sys.stderr``, or a :class:`logging.Logger`, logged at INFO). ``cme_meanings``
    adds vendor ``+CME ERROR`` codes to :data:`CME_ERRORS` (BC95: 159 uplink busy).
    The engine is an async context manager: ``async with AtEngine(ch) as at:``.
    """

    def __init__(
        self,
        channel: AtChannel,
        *,
        transcript: TextIO | logging.Logger | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        cme_meanings: Mapping[int, str] | None = None,
    ):
        """Wrap ``channel``; nothing is read until :meth:`start` (or the first command)."""
        self._channel = channel
        self._transcript = _Transcript(transcript) if transcript is not None else None
        self.default_timeout = default_timeout
        self._cme_meanings: dict[int, str] = {**CME_ERRORS, **(cme_meanings or {})}
        self._framer = _Framer()
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._pending: _Pending | None = None
        # A command that timed out or was cancelled: its late answer is recognised and
        # dropped instead of reaching URC subscribers, until the next command starts.
        self._orphan: _Pending | None = None
        self._urc_in_progress: _UrcInProgress | None = None
        self._subscriptions: list[Subscription] = []
        self._waiters: set[UrcWaiter] = set()
        self._closed = False
        self._close_reason: str | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the reader task (idempotent; the first command starts it too)."""
        if self._closed:
            raise AtChannelClosedError(f"the AT engine is closed: {self._close_reason}")
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="AT reader")

    async def close(self) -> None:
        """Stop reading, close the channel, fail the pending command and waiters. Idempotent."""
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._shutdown("the AT engine was closed")

    @property
    def closed(self) -> bool:
        """True once closed by :meth:`close` or because the port went away."""
        return self._closed

    async def __aenter__(self) -> AtEngine:
        """Start the engine."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the engine."""
        await self.close()

    # ----------------------------------------------------------------- commands

    async def command(
        self,
        command: str,
        *,
        prefix: str | Sequence[str] | None = None,
        timeout: float | None = None,
        terminators: Sequence[str] = (),
        failures: Sequence[str] = (),
        expect: str | re.Pattern[str] | None = None,
        expect_lines: int | None = None,
        payload: RawPayload | None = None,
    ) -> AtResponse:
        """Send one command line (CR is appended) and wait for its final result.

        ``prefix``: the name(s) its answer lines start with (``"+CSQ"``). ``expect``: a
        pattern (``re.match``) every answer line must fit, e.g. ``r"\\d+$"`` for a BC95
        ``AT+NSOCR`` answering a bare socket number; lines that do not fit are
        treated as unsolicited. ``expect_lines``: exactly this many answer lines, more
        are unsolicited, fewer raise :class:`AtProtocolError`. ``terminators``:
        vendor lines that end the command (matched by ``startswith``) *instead of* OK,
        which is then just noted (``("+QIOPEN:",)`` after ``OK``); ``failures``: lines
        that end it with :class:`AtCommandError` (``("SEND FAIL",)``). ``payload``:
        a :class:`RawPayload` in the answer.

        Raises :class:`AtCommandError` (ERROR, +CME/+CMS ERROR, NO CARRIER, a
        failure line), :class:`AtTimeoutError`, :class:`AtProtocolError`,
        :class:`AtChannelClosedError`.
        """
        pending = self._new_pending(
            command,
            prefix=prefix,
            terminators=terminators,
            failures=failures,
            expect=expect,
            expect_lines=expect_lines,
            payload=payload,
        )
        return await self._run(pending, timeout=self._timeout(timeout))

    async def command_with_data(
        self,
        command: str,
        data: bytes,
        *,
        prompt: str = ">",
        prefix: str | Sequence[str] | None = None,
        timeout: float | None = None,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        terminators: Sequence[str] = (),
        failures: Sequence[str] = (),
        expect: str | re.Pattern[str] | None = None,
        expect_lines: int | None = None,
        end: bytes = b"",
        cancel: bytes | None = ESC,
        prompt_delay: float | None = None,
    ) -> AtResponse:
        """Send a command that asks for data with a prompt, then the data, then wait for the result.

        ``prompt``: ``">"`` (QISEND, CASEND, CSODSEND, CMGS) or ``"@"`` (u-blox USOST
        binary); a trailing space is ignored. ``data`` is written unchanged after the
        prompt, followed by ``end`` (``CTRL_Z`` for ``AT+CMGS``). ``prompt_timeout``
        bounds the wait for the prompt, ``timeout`` the wait for the final result after
        the data. If the prompt does not come, ``cancel`` (ESC) is sent so the module
        does not swallow the next command as data. ``prompt_delay`` is the guard time
        before writing (default 50 ms after ``@``, none after ``>``). The other options
        are those of :meth:`command`. A final ``OK`` before the prompt raises
        :class:`AtProtocolError` (the data was not sent).
        """
        marker = prompt.strip()
        if not marker:
            raise ValueError("a data prompt needs a character, such as '>' or '@'")
        pending = self._new_pending(
            command,
            prefix=prefix,
            terminators=terminators,
            failures=failures,
            expect=expect,
            expect_lines=expect_lines,
            payload=None,
            prompt=marker,
        )
        return await self._run(
            pending,
            timeout=self._timeout(timeout),
            data=bytes(data) + bytes(end),
            prompt_timeout=prompt_timeout,
            prompt_delay=_PROMPT_GUARD.get(marker, 0.0) if prompt_delay is None else prompt_delay,
            cancel=cancel,
        )

    async def command_raw_line(
        self, line: str, *, timeout: float | None = None, terminators: Sequence[str] = ()
    ) -> AtResponse:
        """Send a line typed by a person (the CLI's ``at "AT+CSQ"``) and return whatever answered.

        Error results come back in :attr:`AtResponse.final` instead of raising, and
        every line that is not a subscribed URC is in :attr:`AtResponse.lines`. The
        answer prefix is taken from the command name (``AT+CEREG?`` -> ``+CEREG``) so a
        subscribed URC of the same name does not steal the answer.
        """
        name = _COMMAND_NAME.match(line.strip())
        prefix = name.group(1).upper() if name else None
        pending = self._new_pending(
            line.strip(),
            prefix=prefix,
            terminators=terminators,
            failures=(),
            expect=None,
            expect_lines=None,
            payload=None,
            raw=True,
        )
        return await self._run(pending, timeout=self._timeout(timeout))

    # ----------------------------------------------------------------- URCs

    def subscribe(
        self,
        prefix: str,
        callback: Callable[[Urc], None],
        *,
        extra_lines: int = 0,
        payload: RawPayload | None = None,
    ) -> Subscription:
        """Call ``callback(urc)`` for every unsolicited line starting with ``prefix``.

        ``prefix`` is a name (``"+NSONMI"`` also matches BC95's ``+NSONMI:1,12``; it does
        not match a longer name such as ``+NSONMIX``) or any leading text
        (``'+QIURC: "recv"'``, ``"RDY"``). ``extra_lines`` continuation lines belong
        to the URC (``+CMT: ,24`` is followed by the PDU: 1). ``payload`` declares a
        binary payload after the header. Callbacks run in the reader task: keep them
        short and start a task for real work; an exception in one is logged and does
        not stop the reader. Returns the handle that unsubscribes.
        """
        if not prefix:
            raise ValueError("a URC prefix cannot be empty")
        if extra_lines < 0:
            raise ValueError("extra_lines cannot be negative")
        if inspect.iscoroutinefunction(callback):
            # It would only create a coroutine nobody awaits; say so instead of dropping URCs.
            raise TypeError("URC callbacks are plain functions; start a task from one for async work")
        subscription = Subscription(self, prefix, callback, extra_lines, payload)
        self._subscriptions.append(subscription)
        self._update_payloads()
        return subscription

    def expect_urc(self, prefix: str, *, match: Callable[[Urc], bool] | str | None = None) -> UrcWaiter:
        """Start waiting for one URC now, so it is not missed while the command causing it runs.

        ``match`` (a predicate or a pattern for ``re.match`` on the line) picks the
        right one: ``at.expect_urc("+QIOPEN", match=r"\\+QIOPEN: 0,")``, then
        ``await at.command(...)``, then ``urc = await waiter.wait(150)``.
        """
        if isinstance(match, str):
            pattern = re.compile(match)

            def predicate(urc: Urc) -> bool:
                return pattern.match(urc.line) is not None

            return UrcWaiter(self, prefix, predicate)
        return UrcWaiter(self, prefix, match)

    def _unsubscribe(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)
        self._update_payloads()

    # ----------------------------------------------------------------- running a command

    def _timeout(self, timeout: float | None) -> float:
        return self.default_timeout if timeout is None else timeout

    def _new_pending(
        self,
        command: str,
        *,
        prefix: str | Sequence[str] | None,
        terminators: Sequence[str],
        failures: Sequence[str],
        expect: str | re.Pattern[str] | None,
        expect_lines: int | None,
        payload: RawPayload | None,
        prompt: str | None = None,
        raw: bool = False,
    ) -> _Pending:
        if not command or any(c in command for c in "\r\n"):
            raise ValueError(f"an AT command is one non-empty line without CR/LF, got {command!r}")
        if not command.isascii():
            raise ValueError(f"AT commands are ASCII (the module's IRA character set), got {command!r}")
        if expect_lines is not None and expect_lines < 0:
            raise ValueError("expect_lines cannot be negative")
        prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix or ())
        loop = asyncio.get_running_loop()
        return _Pending(
            command=command,
            prefixes=prefixes,
            terminators=tuple(terminators),
            failures=tuple(failures),
            expect=re.compile(expect) if isinstance(expect, str) else expect,
            expect_lines=expect_lines,
            payload=payload,
            prompt=prompt,
            raw=raw,
            done=loop.create_future(),
            prompted=loop.create_future(),
        )

    async def _run(
        self,
        pending: _Pending,
        *,
        timeout: float,
        data: bytes | None = None,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        prompt_delay: float = 0.0,
        cancel: bytes | None = None,
    ) -> AtResponse:
        await self.start()
        async with self._lock:
            if self._closed:
                raise AtChannelClosedError(f"{pending.command!r}: the AT engine is closed: {self._close_reason}")
            if self._orphan is not None:
                logger.debug("AT: giving up on a late answer to %r", self._orphan.command)
                self._orphan = None
            self._pending = pending
            self._framer.prompt = pending.prompt.encode() if pending.prompt else None
            self._update_payloads()
            try:
                await self._send(pending, (pending.command + "\r").encode("ascii"), timeout)
                if pending.prompt is not None and data is not None:
                    await self._await_prompt(pending, prompt_timeout, cancel)
                    if prompt_delay > 0:
                        await asyncio.sleep(prompt_delay)  # guard time the module's manual asks for
                    await self._send(pending, data, timeout, is_data=True)
                return await self._await_final(pending, timeout)
            finally:
                if self._pending is pending:  # timed out, cancelled or failed writing
                    self._pending = None
                    self._orphan = pending
                self._framer.prompt = None
                self._update_payloads()

    async def _send(self, pending: _Pending, data: bytes, timeout: float, *, is_data: bool = False) -> None:
        if self._transcript is not None:
            if is_data:
                self._transcript.record(_Transcript.SENT, _show_payload(data), "data")
            else:
                self._transcript.record(_Transcript.SENT, _show(data))
        # asyncio.wait rather than wait_for: on Python 3.10/3.11 wait_for can swallow a
        # cancellation that lands just as the write completes (CPython gh-86296), and a
        # driver closing a socket would then hang.
        write = asyncio.ensure_future(self._channel.write(data))
        try:
            done, _ = await asyncio.wait({write}, timeout=timeout)
            if not done:
                write.cancel()
                raise asyncio.TimeoutError
            write.result()
        except asyncio.CancelledError:
            write.cancel()
            raise
        except asyncio.TimeoutError:
            raise AtTimeoutError(
                pending.command,
                phase="write to the port",
                timeout=timeout,
                hint="the port does not take bytes: with RTS/CTS flow control, is CTS wired and the module awake?",
            ) from None
        except (M2MError, OSError) as exc:
            self._shutdown(f"writing failed: {exc}")
            raise AtChannelClosedError(f"{pending.command!r}: cannot write to the port: {exc}") from exc

    async def _await_prompt(self, pending: _Pending, timeout: float, cancel: bytes | None) -> None:
        either: set[asyncio.Future[Any]] = {pending.prompted, pending.done}
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if pending.done.done():
            # An error result raises here. A success can only be a final that came right
            # behind the prompt, before we could write: the data was not sent.
            final = pending.done.result().final
            raise AtProtocolError(f"{pending.command!r} answered {final} right after its prompt; no data was sent")
        if pending.prompted.done():
            return
        if cancel:
            # The prompt may still come; ESC makes sure the module does not take the next
            # command as the data it waits for.
            with contextlib.suppress(AtError):
                await self._send(pending, cancel, timeout, is_data=True)
        raise AtTimeoutError(
            pending.command,
            phase=f"{pending.prompt!r} data prompt",
            timeout=timeout,
            received=pending.received,
            hint=self._timeout_hint(pending, prompt=True),
        )

    async def _await_final(self, pending: _Pending, timeout: float) -> AtResponse:
        await asyncio.wait({pending.done}, timeout=timeout)
        if pending.done.done():
            return pending.done.result()
        raise AtTimeoutError(
            pending.command,
            phase="final result",
            timeout=timeout,
            received=pending.received,
            hint=self._timeout_hint(pending, prompt=False),
        )

    @staticmethod
    def _timeout_hint(pending: _Pending, *, prompt: bool) -> str:
        if pending.received_bytes == 0:
            return "no answer: is the module powered, the baud rate right, or is it asleep (PSM)?"
        if pending.readable_lines == 0 and not pending.echoed and pending.received:
            return "only unreadable bytes came back: wrong baud rate (try 115200 or 9600), or the module is booting"
        if prompt:
            return (
                f"no {pending.prompt!r} prompt: the module did not accept the data command "
                "(socket not open? length out of range? another prompt character?)"
            )
        if pending.readable_lines == 0:
            return "the module echoes but did not finish: slow commands need a longer timeout= (attach/scan: 180 s)"
        return (
            "the answer is incomplete: slow commands need a longer timeout= (attach/scan: 180 s, "
            "QIOPEN 150 s), or the command ends on a vendor line (pass terminators=...)"
        )

    # ----------------------------------------------------------------- reading

    async def _read_loop(self) -> None:
        try:
            while True:
                chunk = await self._channel.read()
                if not chunk:
                    raise AtChannelClosedError("end of input")
                self._on_bytes(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the channel failed or closed: nothing more will come
            self._shutdown(f"the port closed or failed: {exc}")

    def _on_bytes(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._pending.received_bytes += len(chunk)
        try:
            tokens = self._framer.feed(chunk)
        except Exception:  # a framing bug must not kill the reader: drop what is buffered
            logger.exception("AT reader: internal error framing %s", _show(chunk))
            self._framer = _Framer()
            self._update_payloads()
            return
        for token in tokens:
            try:
                self._on_token(token)
            except Exception as exc:  # a bug here must not kill the reader (rule 5)
                logger.exception("AT reader: internal error on %r", token)
                self._complete_error(AtProtocolError(f"internal error while reading the answer: {exc!r}"))

    def _on_token(self, token: _Token) -> None:
        if isinstance(token, _Line):
            self._on_line(token.raw)
        elif isinstance(token, _Prompt):
            self._on_prompt(token)
        elif isinstance(token, _Payload):
            self._on_payload(token)
        else:
            self._record(token.raw, "junk: too long without a line end")
            logger.debug("AT: dropped %d bytes without a line end", len(token.raw))

    def _on_line(self, raw: bytes) -> None:
        text = raw.replace(b"\x00", b"").decode("utf-8", "replace").strip()
        pending = self._pending
        if not text:
            return
        if _is_junk(text):
            self._record(raw, "junk")
            logger.debug("AT: junk line %s", _show(raw))
            if pending is not None:
                pending.received.append(_show(raw))
            return
        if self._urc_in_progress is not None:
            if text == _OK or text in _ERROR_FINALS or _CM_ERROR.match(text):
                self._abandon_urc()  # a final result is never a continuation line: the URC was shorter
            else:
                self._continue_urc(raw, text)
                return
        if pending is None:
            self._on_idle_line(raw, text)
            return
        pending.received.append(text)
        if not pending.echoed and text == pending.command:
            pending.echoed = True
            self._record(raw, "echo")
            return
        pending.readable_lines += 1
        kind = self._final_kind(pending, text)
        if kind == "noted":
            self._record(raw, "noted, waiting for " + " or ".join(pending.terminators))
        elif kind is not None:
            self._record(raw, "final")
            self._complete(pending, text, kind)
        elif self._is_answer(pending, text):
            self._record(raw)
            pending.lines.append(text)
        else:
            self._unsolicited(raw, text)

    def _on_idle_line(self, raw: bytes, text: str) -> None:
        orphan = self._orphan
        if orphan is not None:
            if self._final_kind(orphan, text) not in (None, "noted"):
                self._record(raw, f"late final of {orphan.command}")
                self._orphan = None
                return
            if any(_prefix_matches(text, p) for p in orphan.prefixes) and self._is_answer(orphan, text):
                self._record(raw, f"late answer to {orphan.command}")
                return
        self._unsolicited(raw, text)

    def _final_kind(self, pending: _Pending, text: str) -> str | None:
        """How ``text`` ends ``pending``: "failure", "terminator", "error", "ok", "noted" (OK before a vendor final)."""
        if any(text.startswith(t) for t in pending.failures):
            return "failure"
        if any(text.startswith(t) for t in pending.terminators):
            return "terminator"
        if text in _ERROR_FINALS or _CM_ERROR.match(text):
            return "error"
        if text == _OK:
            waiting_for_prompt = pending.prompt is not None and not pending.prompted.done()
            return "noted" if pending.terminators and not waiting_for_prompt else "ok"
        return None

    def _is_answer(self, pending: _Pending, text: str) -> bool:
        """Rules 1-4 of the module docstring: is ``text`` part of ``pending``'s answer?"""
        if pending.expect_lines is not None and len(pending.lines) >= pending.expect_lines:
            return False
        fits = pending.expect is None or pending.expect.match(text) is not None
        if any(_prefix_matches(text, p) for p in pending.prefixes):
            if fits:
                pending.prefixed_seen = True
            return fits
        if self._subscribers(text):
            return False
        if pending.raw:
            return True
        if pending.prefixes and (_NAMED_LINE.match(text) or not pending.prefixed_seen):
            return False
        return fits

    def _on_prompt(self, token: _Prompt) -> None:
        pending = self._pending
        if token.junk:
            self._record(token.junk, "junk before the prompt")
            logger.debug("AT: junk before the prompt: %s", _show(token.junk))
        self._record((pending.prompt if pending and pending.prompt else "?").encode(), "prompt")
        if pending is not None and not pending.prompted.done():
            pending.received.append(f"{pending.prompt} (prompt)")
            pending.prompted.set_result(None)

    def _on_payload(self, token: _Payload) -> None:
        header = token.header.replace(b"\x00", b"").decode("utf-8", "replace").strip()
        self._record(token.header.rstrip(b"\r\n"), "payload header")
        if self._transcript is not None:
            self._transcript.record(_Transcript.RECEIVED, _show_payload(token.data), "payload")
        pending = self._pending
        if pending is not None and token.spec is pending.payload:
            pending.received.append(header)
            pending.lines.append(header)
            pending.payloads.append(token.data)
            return
        subscribers = [s for s in self._subscriptions if s.payload is token.spec]
        if not subscribers:  # its subscription was cancelled while the bytes were arriving
            logger.debug("AT: payload nobody waits for any more: %s", header)
            return
        self._dispatch(subscribers, Urc(header, (), token.data))

    def _unsolicited(self, raw: bytes, text: str) -> None:
        subscribers = self._subscribers(text)
        if not subscribers:
            self._record(raw, "unsolicited, no subscriber")
            logger.debug("AT: unsolicited line nobody subscribed to: %s", text)
            return
        self._record(raw, "URC")
        missing = max(s.extra_lines for s in subscribers)
        if missing:
            self._urc_in_progress = _UrcInProgress(text, subscribers, missing)
        else:
            self._dispatch(subscribers, Urc(text))

    def _continue_urc(self, raw: bytes, text: str) -> None:
        urc = self._urc_in_progress
        assert urc is not None
        self._record(raw, "URC continued")
        urc.lines.append(text)
        urc.missing -= 1
        if urc.missing == 0:
            self._urc_in_progress = None
            self._dispatch(urc.subscribers, Urc(urc.line, tuple(urc.lines)))

    def _abandon_urc(self) -> None:
        urc = self._urc_in_progress
        assert urc is not None
        self._urc_in_progress = None
        logger.warning(
            "AT: %r came with only %d continuation line(s); passing on what arrived", urc.line, len(urc.lines)
        )
        self._dispatch(urc.subscribers, Urc(urc.line, tuple(urc.lines)))

    def _subscribers(self, text: str) -> list[Subscription]:
        return [s for s in self._subscriptions if _prefix_matches(text, s.prefix)]

    @staticmethod
    def _dispatch(subscribers: Iterable[Subscription], urc: Urc) -> None:
        for subscription in list(subscribers):
            if not subscription.active:
                continue
            try:
                subscription.callback(urc)
            except Exception:  # a subscriber's bug must not stop the reader
                logger.exception("AT: URC callback for %r failed on %r", subscription.prefix, urc.line)

    # ----------------------------------------------------------------- completion

    def _complete(self, pending: _Pending, final: str, kind: str) -> None:
        self._detach(pending)
        if kind in ("error", "failure") and not pending.raw:
            _fail(pending.done, self._command_error(pending.command, final))
            return
        if pending.prompt is not None and not pending.prompted.done() and kind in ("ok", "terminator"):
            problem = f"{pending.command!r} answered {final} before the data prompt; no data was sent"
            _fail(pending.done, AtProtocolError(problem))
            return
        if pending.expect_lines is not None and len(pending.lines) != pending.expect_lines and kind == "ok":
            _fail(
                pending.done,
                AtProtocolError(
                    f"{pending.command!r} answered {final} with {len(pending.lines)} information line(s), "
                    f"expected {pending.expect_lines}: {pending.lines}"
                ),
            )
            return
        if not pending.done.done():
            pending.done.set_result(
                AtResponse(
                    command=pending.command,
                    lines=tuple(pending.lines),
                    final=final,
                    prefixes=pending.prefixes,
                    payloads=tuple(pending.payloads),
                    echoed=pending.echoed,
                )
            )

    def _complete_error(self, exc: AtError) -> None:
        pending = self._pending
        if pending is not None:
            self._detach(pending)
            _fail(pending.done, exc)

    def _detach(self, pending: _Pending) -> None:
        # Whatever arrives after the final belongs to nobody's answer: clear before the
        # next line of the same chunk is looked at.
        if self._pending is pending:
            self._pending = None
        self._framer.prompt = None
        self._update_payloads()

    def _command_error(self, command: str, final: str) -> AtCommandError:
        match = _CM_ERROR.match(final)
        if match is None:
            hint = _FINAL_HINTS.get(final, _PLAIN_ERROR_HINT if final == "ERROR" else None)
            return AtCommandError(command, final, hint=hint)
        kind, value = match.group(1), match.group(2).strip()
        table: Mapping[int, str] = self._cme_meanings if kind == "CME" else CMS_ERRORS
        code: int | None = int(value) if value.isdigit() else None
        if code is None:  # verbose form (AT+CMEE=2): find the number from the text
            code = next((n for n, text in table.items() if text.lower() == value.lower()), None)
        meaning = table.get(code) if code is not None else (value or None)
        if meaning is None and kind == "CMS" and code is not None and code < 256:
            meaning = "network RP-cause (TS 24.011)" if code < 128 else "TP-FCS failure cause (TS 23.040)"
        default_hint = "see 3GPP TS 27.007 §9.2" if kind == "CME" else "see 3GPP TS 27.005 §3.2.5"
        hint = _ERROR_HINTS.get((kind, code), default_hint) if code is not None else default_hint
        return AtCommandError(command, final, kind=kind, code=code, meaning=meaning, hint=hint)

    def _shutdown(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        if self._transcript is not None:
            self._transcript.record("---", reason)
        pending = self._pending
        self._pending = None
        if pending is not None:
            _fail(pending.done, AtChannelClosedError(f"{pending.command!r} got no final result: {reason}"))
        for waiter in list(self._waiters):
            waiter._fail(AtChannelClosedError(f"no {waiter.prefix} URC will come: {reason}"))
        self._waiters.clear()
        with contextlib.suppress(Exception):
            self._channel.close()

    # ----------------------------------------------------------------- small things

    def _update_payloads(self) -> None:
        specs: list[RawPayload] = []
        if self._pending is not None and self._pending.payload is not None:
            specs.append(self._pending.payload)  # the command's own payload wins over a URC's
        specs.extend(s.payload for s in self._subscriptions if s.payload is not None)
        self._framer.payloads = tuple(specs)

    def _record(self, raw: bytes, note: str = "") -> None:
        if self._transcript is not None:
            self._transcript.record(_Transcript.RECEIVED, _show(raw), note)

    def __repr__(self) -> str:
        """State, for logs."""
        state = "closed" if self._closed else ("busy" if self._pending else "idle")
        return f"<AtEngine {state} on {self._channel!r}>"
