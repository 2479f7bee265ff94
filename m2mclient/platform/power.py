"""PSM and eDRX timer coding, what the network granted, and when the device may sleep (sans-IO).

Everything here is pure: no serial port, no clock. Time is an argument (seconds on
the caller's monotonic clock) wherever it matters (DESIGN.md rule 1), so the same
code runs under the AT driver, the emulator and a unit test.

Four parts:

* **PSM timers** (3GPP TS 24.008 §10.5.7.4a GPRS Timer 3 for T3412 extended, the
  periodic TAU; §10.5.7.3 GPRS Timer 2 for T3324, the active time).
  :func:`encode_t3412` / :func:`decode_t3412`, :func:`encode_t3324` /
  :func:`decode_t3324`; the 8-character bit strings ``AT+CPSMS`` takes and ``+CEREG``
  reports (3GPP TS 27.007 §7.38, §10.1.22).
* **eDRX** (TS 24.008 §10.5.5.32): cycle and paging time window per radio access
  technology, :func:`encode_edrx` / :func:`decode_edrx`, :func:`encode_ptw` /
  :func:`decode_ptw`; :class:`Rat` carries the ``AT+CEDRXS`` AcT-type numbers
  (TS 27.007 §7.40: 4 = E-UTRAN WB-S1 / LTE-M, 5 = E-UTRAN NB-S1 / NB-IoT).
* **Grants**: what the network actually gave, parsed from ``+CEREG`` (n=4/5) into
  :class:`PsmGrant` and from ``+CEDRXP`` / ``+CEDRXRDP`` into :class:`EdrxGrant`;
  :func:`parse_duration` / :func:`format_duration` for people typing "1h30m".
* **Scheduling**: :class:`WakeScheduler` answers "may the device sleep now?" and
  "when must it be awake next?" without ever dropping a registered wake window.

Rounding rule (one rule, four timers): a requested duration is a *bound* the
application needs, so the encoder rounds toward the side that keeps the bound when
the value is not representable:

================  =========  ===========================================================
value             default    why
================  =========  ===========================================================
T3412 (TAU)       ``"up"``   The TAU is a wake the network forces on the device. Asking
                             for 7 days and getting 160 h (mbed's truncation) spends
                             energy the budget did not plan for; rounding up never adds
                             wakes. Reports are unaffected: the device can leave PSM for
                             uplink at any time, whatever the TAU.
T3324 (active)    ``"up"``   The active time is how long the device stays reachable for
                             downlink after going idle (e.g. an LwM2M server's queued
                             requests). Shorter than asked loses downlink; longer costs
                             at most one unit step (2 s, 1 min or 6 min).
eDRX cycle        ``"down"`` The cycle bounds paging latency: a server waits up to one
                             cycle to reach the device. Longer than asked breaks it.
PTW               ``"up"``   The window is how long the device listens per cycle;
                             shorter than asked misses pages.
================  =========  ===========================================================

Every encoder takes ``rounding="up" | "down" | "nearest"`` to override this, and
reports the value that will actually be sent (``exact`` says whether that is what was
asked). A request the chosen direction cannot honour (a TAU beyond 9920 h with
``"up"``, an eDRX cycle below the RAT's shortest with ``"down"``) raises
:class:`PowerValueError` instead of silently breaking the bound; ``"nearest"`` clamps.
Requested values are only requests: read what the network granted from ``+CEREG``
(the reference §4.1, [NRF-CPSMS]) with :func:`parse_cereg_psm`.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Literal

from m2mclient.errors import M2MError

__all__ = [
    "T3324_DEACTIVATED",
    "T3324_MAX_S",
    "T3412_DEACTIVATED",
    "T3412_MAX_S",
    "EdrxGrant",
    "EdrxValue",
    "PowerValueError",
    "PsmGrant",
    "Rat",
    "Rounding",
    "TimerValue",
    "WakeEvent",
    "WakeEventKind",
    "WakeScheduler",
    "WakeWindow",
    "cedrxs_command",
    "cpsms_command",
    "decode_edrx",
    "decode_ptw",
    "decode_t3324",
    "decode_t3412",
    "edrx_cycles",
    "encode_edrx",
    "encode_ptw",
    "encode_t3324",
    "encode_t3412",
    "format_duration",
    "parse_cedrx",
    "parse_cereg_psm",
    "parse_duration",
    "ptw_values",
]

Rounding = Literal["up", "down", "nearest"]
_ROUNDINGS = ("up", "down", "nearest")

# Float noise from parsing "20.48s" or adding offsets is far below the smallest step
# of any table here (1.28 s), so values this close count as equal.
_EPS = 1e-6


class PowerValueError(M2MError, ValueError):
    """A PSM/eDRX value, a duration or a modem's timer field is invalid or out of range.

    The message names the value, the valid range and the spec table it comes from.
    """


# --- shared helpers ---------------------------------------------------------------------------------


def _check_seconds(seconds: object, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise PowerValueError(f"{what} must be a number of seconds, got {seconds!r}")
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise PowerValueError(f"{what} must be a finite, non-negative number of seconds, got {seconds!r}")
    return value


def _check_rounding(rounding: str) -> None:
    if rounding not in _ROUNDINGS:
        raise PowerValueError(f"rounding must be one of {', '.join(_ROUNDINGS)}, got {rounding!r}")


def _pick(values: Sequence[float], seconds: float, rounding: str, what: str, table: str) -> tuple[int, bool]:
    """Index of the representable value chosen for ``seconds`` (``values`` ascending) and whether it is exact."""
    i = bisect_left(values, seconds - _EPS)
    if i < len(values) and abs(values[i] - seconds) <= _EPS:
        return i, True
    below = i - 1 if i > 0 else None
    above = i if i < len(values) else None
    if rounding == "up":
        if above is None:
            raise PowerValueError(
                f"{what} of {format_duration(seconds)} is longer than the longest value {table} can carry "
                f"({format_duration(values[-1])}); ask for less, or pass rounding='nearest' to clamp"
            )
        return above, False
    if rounding == "down":
        if below is None:
            raise PowerValueError(
                f"{what} of {format_duration(seconds)} is shorter than the shortest value {table} can carry "
                f"({format_duration(values[0])}); ask for more, or pass rounding='nearest' to clamp"
            )
        return below, False
    if above is None:
        assert below is not None
        return below, False
    if below is None:
        return above, False
    # Ties go up: of two equally close values, the longer one keeps a "reachable for" bound.
    return (below if seconds - values[below] < values[above] - seconds else above), False


def _bits(value: str | int, width: int, what: str) -> int:
    """The integer in an AT bit-string field ("01000011", optionally quoted) or a plain int."""
    if isinstance(value, bool):
        raise PowerValueError(f"{what} must be a {width}-character bit string or an int, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < 1 << width:
            raise PowerValueError(f"{what} must fit in {width} bits (0..{(1 << width) - 1}), got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        if len(text) == width and set(text) <= {"0", "1"}:
            return int(text, 2)
    raise PowerValueError(f"{what} must be a {width}-character bit string like {'0' * (width - 1)}1, got {value!r}")


# --- PSM timers: TS 24.008 §10.5.7.4a (GPRS Timer 3) and §10.5.7.3 (GPRS Timer 2) ----------------


@dataclass(frozen=True, slots=True)
class TimerValue:
    """One GPRS Timer 2/3 octet: the bit string to send and the duration it stands for.

    ``bits`` is the 8-character form ``AT+CPSMS`` takes (TS 27.007 §7.38), unit in
    bits 8..6 and value in bits 5..1. ``seconds`` is what that octet means, ``None``
    when the timer is deactivated (unit ``111``). ``exact`` is ``False`` when the
    requested duration was not representable and this is the rounded value.
    """

    bits: str
    seconds: int | None
    exact: bool = True

    @property
    def deactivated(self) -> bool:
        """True for the "timer is deactivated" coding (unit ``111``)."""
        return self.seconds is None

    @property
    def octet(self) -> int:
        """The octet as an integer (0..255)."""
        return int(self.bits, 2)


class _GprsTimer:
    """A GPRS Timer coding: unit multipliers by bits 8..6 (``None`` = deactivated)."""

    def __init__(self, name: str, table: str, units: Mapping[int, int | None], encodable: tuple[int, ...]):
        self.name = name
        self.table = table
        self.units = units
        # Units the encoder may choose, finest first. The canonical octet for a duration
        # is the finest unit that represents it exactly: it agrees with mbed's encoder
        # (3600 s -> "00000110") and keeps T3412 off the 320 h unit unless nothing else
        # fits (nRF91 reads 320 h as 1 h when the request is not integrity protected).
        bits_by_seconds: dict[int, str] = {0: "00000000"}  # zero reads the same in every unit; keep it plain
        for unit in encodable:
            multiplier = units[unit]
            assert multiplier is not None
            for value in range(32):
                bits_by_seconds.setdefault(value * multiplier, f"{unit:03b}{value:05b}")
        self.bits_by_seconds = bits_by_seconds
        self.values = sorted(bits_by_seconds)
        self.deactivated = TimerValue("11100000", None)

    def encode(self, seconds: float | None, rounding: str) -> TimerValue:
        _check_rounding(rounding)
        if seconds is None:
            return self.deactivated
        asked = _check_seconds(seconds, f"a {self.name}")
        index, exact = _pick(self.values, asked, rounding, f"a {self.name}", self.table)
        chosen = self.values[index]
        return TimerValue(self.bits_by_seconds[chosen], chosen, exact)

    def decode(self, bits: str | int) -> int | None:
        octet = _bits(bits, 8, f"a {self.name} value ({self.table})")
        multiplier = self.units[octet >> 5]
        return None if multiplier is None else (octet & 0x1F) * multiplier


# TS 24.008 Table 10.5.163a, GPRS Timer 3 (T3412 extended value), bits 8..6.
_T3412 = _GprsTimer(
    name="T3412 extended (periodic TAU)",
    table="GPRS Timer 3 (TS 24.008 Table 10.5.163a)",
    units={
        0b000: 600,  # 10 minutes
        0b001: 3_600,  # 1 hour
        0b010: 36_000,  # 10 hours
        0b011: 2,  # 2 seconds
        0b100: 30,  # 30 seconds
        0b101: 60,  # 1 minute
        0b110: 1_152_000,  # 320 hours
        0b111: None,  # timer is deactivated
    },
    encodable=(0b011, 0b100, 0b101, 0b000, 0b001, 0b010, 0b110),
)

# TS 24.008 Table 10.5.163, GPRS Timer 2 (T3324), bits 8..6. 011..110 are not defined
# and "shall be interpreted as multiples of 1 minute in this version of the protocol";
# we decode them so, but never send them.
_T3324 = _GprsTimer(
    name="T3324 (active time)",
    table="GPRS Timer 2 (TS 24.008 Table 10.5.163)",
    units={
        0b000: 2,  # 2 seconds
        0b001: 60,  # 1 minute
        0b010: 360,  # decihours
        0b011: 60,
        0b100: 60,
        0b101: 60,
        0b110: 60,
        0b111: None,  # timer is deactivated
    },
    encodable=(0b000, 0b001, 0b010),
)

T3412_MAX_S = _T3412.values[-1]
"""Longest periodic TAU a GPRS Timer 3 can carry: 31 x 320 h = 9920 h (413 d 8 h)."""
T3324_MAX_S = _T3324.values[-1]
"""Longest active time a GPRS Timer 2 can carry: 31 decihours = 186 min."""

T3412_DEACTIVATED = _T3412.deactivated
"""Periodic TAU off (unit 111; the value bits are ignored, so ``11111111`` decodes alike)."""
T3324_DEACTIVATED = _T3324.deactivated
"""Active time off: the network is asked for no PSM."""


def encode_t3412(seconds: float | None, *, rounding: Rounding = "up") -> TimerValue:
    """Encode a periodic TAU (T3412 extended) as a GPRS Timer 3 octet.

    ``None`` asks for no periodic TAU (:data:`T3412_DEACTIVATED`). Exact durations get
    the canonical octet (finest unit that fits, so ``3600`` -> ``"00000110"``); others
    round per ``rounding`` (default up: never shorter than asked, see the module
    docstring). ``encode_t3412(7 * 86400)`` is ``"01010001"`` = 170 h, not mbed's
    truncated 160 h. Note TS 24.301 §5.3.5 treats a zero T3412 as "deactivated".
    """
    return _T3412.encode(seconds, rounding)


def encode_t3324(seconds: float | None, *, rounding: Rounding = "up") -> TimerValue:
    """Encode an active time (T3324) as a GPRS Timer 2 octet.

    ``None`` requests no PSM (:data:`T3324_DEACTIVATED`); ``0`` means "enter PSM as
    soon as the connection is released". Rounds up by default (never shorter than
    asked); at most :data:`T3324_MAX_S` (186 min).
    """
    return _T3324.encode(seconds, rounding)


def decode_t3412(bits: str | int) -> int | None:
    """Seconds a GPRS Timer 3 octet (``"01000111"``, quoted or not, or an int) stands for; ``None`` = deactivated.

    Every unit decodes, not just the ones the encoder picks (``"00100001"`` and
    ``"00000110"`` are both 1 h). The raw coding is returned: ``"00000000"`` is 0 even
    though TS 24.301 §5.3.5 says a zero T3412 deactivates periodic TAU
    (:class:`PsmGrant` applies that).
    """
    return _T3412.decode(bits)


def decode_t3324(bits: str | int) -> int | None:
    """Seconds a GPRS Timer 2 octet stands for; ``None`` = deactivated (PSM not used).

    Units ``011``..``110`` read as minutes, as TS 24.008 Table 10.5.163 requires.
    """
    return _T3324.decode(bits)


# --- eDRX: TS 24.008 §10.5.5.32 (Extended DRX parameters, octet 3) ------------------------------


class Rat(IntEnum):
    """Radio access technology for eDRX, numbered as ``AT+CEDRXS`` AcT-type (TS 27.007 §7.40).

    ``+CEDRXP`` / ``+CEDRXRDP`` use the same numbers plus 0 for "the cell is not using
    eDRX" (represented as ``None`` in :class:`EdrxGrant`).
    """

    LTE_M = 4
    """E-UTRAN WB-S1 mode (LTE-M / Cat-M1)."""
    NB_IOT = 5
    """E-UTRAN NB-S1 mode (NB-IoT)."""

    @property
    def label(self) -> str:
        """A person's name for it: "LTE-M" or "NB-IoT"."""
        return "LTE-M" if self is Rat.LTE_M else "NB-IoT"

    @classmethod
    def from_cereg_act(cls, act: int) -> Rat:
        """The RAT for a ``+CEREG`` <AcT> (TS 27.007 §10.1.22: 7 = E-UTRAN, 9 = E-UTRAN NB-S1).

        Some modules report Cat-M as 8 in ``+COPS`` (the reference §3.1), so 8 is
        accepted as LTE-M too.
        """
        if act in (7, 8):
            return cls.LTE_M
        if act == 9:
            return cls.NB_IOT
        raise PowerValueError(f"AcT {act!r} is not an LTE-M or NB-IoT access technology (expected 7, 8 or 9)")

    @classmethod
    def parse(cls, value: str | int) -> Rat:
        """Accept 4/5, "lte-m", "ltem", "cat-m1", "m1", "nb-iot", "nbiot", "nb1" (any case)."""
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().lower().replace("-", "").replace("_", "")
            aliases = {
                "4": cls.LTE_M,
                "ltem": cls.LTE_M,
                "catm1": cls.LTE_M,
                "catm": cls.LTE_M,
                "m1": cls.LTE_M,
                "wbs1": cls.LTE_M,
                "5": cls.NB_IOT,
                "nbiot": cls.NB_IOT,
                "nb1": cls.NB_IOT,
                "nbs1": cls.NB_IOT,
            }
            if key in aliases:
                return aliases[key]
        raise PowerValueError(f"unknown radio access technology {value!r}: use 4 / 'lte-m' or 5 / 'nb-iot'")


def _rat(rat: Rat | int | str) -> Rat:
    return rat if isinstance(rat, Rat) else Rat.parse(rat)


# TS 24.008 Table 10.5.5.32, "E-UTRAN eDRX cycle length duration", bits 4..1 of octet 3,
# in centiseconds so the seconds below are the exact decimal values (5.12, not 5.1200000001).
_EDRX_CENTISECONDS = (
    512, 1024, 2048, 4096, 6144, 8192, 10240, 12288,
    14336, 16384, 32768, 65536, 131072, 262144, 524288, 1048576,
)  # fmt: skip
# The table's notes restrict some codes by RAT (the reference §4.5 marks this [U]; it
# matches the notes of TS 24.008 Table 10.5.5.32, nRF91 AT manual footnotes 1-3 and
# Nordic's lte_lc tables): 5.12/10.24 s and 61.44/102.4/122.88/143.36 s are WB-S1
# only, 5242.88/10485.76 s are NB-S1 only.
_EDRX_VALID: dict[Rat, tuple[int, ...]] = {
    Rat.LTE_M: tuple(range(14)),  # 5.12 s .. 2621.44 s
    Rat.NB_IOT: (2, 3, 5, 9, 10, 11, 12, 13, 14, 15),  # 20.48 s .. 10485.76 s
}
# A code that does not apply to the RAT is read as the spec notes say the UE reads it:
# in WB-S1, 1110/1111 as 1101 (2621.44 s); in NB-S1, 0100/0110/0111/1000 as 0010
# (20.48 s). NB-S1 0000/0001 are read as 0010 too, as Nordic's lte_lc does
# (nrfconnect/sdk-nrf lib/lte_link_control/modules/edrx.c, edrx_lookup_nbiot).
_EDRX_AS_RECEIVED: dict[Rat, dict[int, int]] = {
    Rat.LTE_M: {14: 13, 15: 13},
    Rat.NB_IOT: {0: 2, 1: 2, 4: 2, 6: 2, 7: 2, 8: 2},
}
# TS 24.008 §10.5.5.32 Paging Time Window, bits 8..5 of octet 3: (n + 1) x 1.28 s in
# WB-S1 mode, (n + 1) x 2.56 s in NB-S1 mode.
_PTW_STEP_CENTISECONDS = {Rat.LTE_M: 128, Rat.NB_IOT: 256}


@dataclass(frozen=True, slots=True)
class EdrxValue:
    """A 4-bit eDRX field (cycle or paging time window) and the seconds it stands for.

    ``bits`` is the 4-character form ``AT+CEDRXS`` takes; ``exact`` is ``False`` when
    the request was rounded to get here.
    """

    bits: str
    seconds: float
    exact: bool = True


def edrx_cycles(rat: Rat | int | str) -> dict[str, float]:
    """The eDRX cycles ``rat`` may request, bit string -> seconds, shortest first."""
    return {f"{code:04b}": _EDRX_CENTISECONDS[code] / 100 for code in _EDRX_VALID[_rat(rat)]}


def ptw_values(rat: Rat | int | str) -> dict[str, float]:
    """The paging time windows of ``rat``, bit string -> seconds, shortest first."""
    step = _PTW_STEP_CENTISECONDS[_rat(rat)]
    return {f"{n:04b}": (n + 1) * step / 100 for n in range(16)}


def _encode_4bit(table: dict[str, float], seconds: float, rounding: str, what: str, where: str) -> EdrxValue:
    _check_rounding(rounding)
    asked = _check_seconds(seconds, what)
    codes = list(table)
    values = list(table.values())
    index, exact = _pick(values, asked, rounding, what, where)
    return EdrxValue(codes[index], values[index], exact)


def encode_edrx(seconds: float, rat: Rat | int | str, *, rounding: Rounding = "down") -> EdrxValue:
    """Encode an eDRX cycle for ``rat``; rounds down by default (paging latency never above asked).

    Only the cycles valid for the RAT are chosen (LTE-M 5.12..2621.44 s, NB-IoT
    20.48..10485.76 s without 61.44/102.4/122.88/143.36 s). Below the shortest cycle
    eDRX cannot help: leave it off and the cell's normal DRX applies.
    """
    rat = _rat(rat)
    return _encode_4bit(
        edrx_cycles(rat), seconds, rounding, f"an {rat.label} eDRX cycle", f"{rat.label} eDRX (TS 24.008 §10.5.5.32)"
    )


def decode_edrx(bits: str | int, rat: Rat | int | str) -> float:
    """Seconds of a 4-bit eDRX cycle field on ``rat``, reading RAT-inapplicable codes as the UE does."""
    rat = _rat(rat)
    code = _bits(bits, 4, "an eDRX value (TS 24.008 §10.5.5.32)")
    return _EDRX_CENTISECONDS[_EDRX_AS_RECEIVED[rat].get(code, code)] / 100


def encode_ptw(seconds: float, rat: Rat | int | str, *, rounding: Rounding = "up") -> EdrxValue:
    """Encode a paging time window for ``rat``; rounds up by default (listen at least as long as asked).

    LTE-M 1.28..20.48 s in 1.28 s steps, NB-IoT 2.56..40.96 s in 2.56 s steps.
    """
    rat = _rat(rat)
    return _encode_4bit(
        ptw_values(rat),
        seconds,
        rounding,
        f"an {rat.label} paging time window",
        f"{rat.label} PTW (TS 24.008 §10.5.5.32)",
    )


def decode_ptw(bits: str | int, rat: Rat | int | str) -> float:
    """Seconds of a 4-bit paging time window field on ``rat``."""
    rat = _rat(rat)
    code = _bits(bits, 4, "a paging time window (TS 24.008 §10.5.5.32)")
    return (code + 1) * _PTW_STEP_CENTISECONDS[rat] / 100


# --- AT command text (TS 27.007 §7.38 +CPSMS, §7.40 +CEDRXS) --------------------------------------


def cpsms_command(tau: TimerValue | None = None, active_time: TimerValue | None = None, *, enable: bool = True) -> str:
    """``AT+CPSMS`` text requesting PSM with these timers (RAU/READY left empty: LTE only).

    ``cpsms_command(encode_t3412(3600), encode_t3324(60))`` is
    ``AT+CPSMS=1,,,"00000110","00011110"`` (1 h as 6 x 10 min, 1 min as 30 x 2 s: the
    canonical octets, equal to ``"00100001"`` for either); an omitted timer leaves
    the module's default; ``enable=False`` gives ``AT+CPSMS=0``.
    """
    if not enable:
        return "AT+CPSMS=0"
    args = ["1", "", ""]
    if tau is not None or active_time is not None:
        args.append(f'"{tau.bits}"' if tau is not None else "")
    if active_time is not None:
        args.append(f'"{active_time.bits}"')
    return "AT+CPSMS=" + ",".join(args)


def cedrxs_command(
    rat: Rat | int | str, cycle: EdrxValue | None = None, *, enable: bool = True, urc: bool = True
) -> str:
    """``AT+CEDRXS`` text: mode 2 (on, with ``+CEDRXP`` URCs) or 1, or 0 to switch eDRX off on ``rat``.

    ``cedrxs_command(Rat.NB_IOT, encode_edrx(81.92, Rat.NB_IOT))`` is
    ``AT+CEDRXS=2,5,"0101"``. The PTW is not part of ``+CEDRXS``; modules set it with
    their own commands.
    """
    rat = _rat(rat)
    if not enable:
        return f"AT+CEDRXS=0,{int(rat)}"
    mode = 2 if urc else 1
    value = f',"{cycle.bits}"' if cycle is not None else ""
    return f"AT+CEDRXS={mode},{int(rat)}{value}"


# --- what the network granted ---------------------------------------------------------------------


def _at_fields(line: str, prefixes: tuple[str, ...]) -> list[str]:
    """Comma-separated fields of an information response or URC, quotes and spaces stripped."""
    text = line.strip()
    if text.startswith("+"):
        head, sep, rest = text.partition(":")
        if not sep or head.upper() not in prefixes:
            raise PowerValueError(f"expected a {' or '.join(prefixes)} line, got {line!r}")
        text = rest
    return [field.strip().strip('"') for field in text.split(",")]


@dataclass(frozen=True, slots=True)
class PsmGrant:
    """The PSM timers the network granted, as reported in ``+CEREG`` n=4/5 (TS 27.007 §10.1.22).

    ``active_time_s`` is T3324; ``None`` means PSM was not granted (timer deactivated
    or not reported). ``tau_s`` is T3412 extended; ``None`` means no periodic TAU is
    known: deactivated, zero (TS 24.301 §5.3.5: "deactivated or the timer value is
    zero"), or not reported (the legacy T3412 then applies, which ``+CEREG`` does not
    show). The raw bit strings are kept (``None`` when the field was empty) so the
    cases can be told apart.
    """

    active_time_s: int | None
    tau_s: int | None
    active_time_bits: str | None = None
    tau_bits: str | None = None

    @property
    def psm(self) -> bool:
        """True when the network granted PSM (an active time was given)."""
        return self.active_time_s is not None

    @classmethod
    def from_bits(cls, active_time: str | None, periodic_tau: str | None) -> PsmGrant:
        """Build a grant from the ``<Active-Time>`` and ``<Periodic-TAU>`` fields (empty or ``None`` = absent)."""
        at_bits = _clean_octet(active_time, "<Active-Time>")
        tau_bits = _clean_octet(periodic_tau, "<Periodic-TAU>")
        active_s = decode_t3324(at_bits) if at_bits is not None else None
        tau_s = decode_t3412(tau_bits) if tau_bits is not None else None
        return cls(active_s, tau_s or None, at_bits, tau_bits)


def _clean_octet(field: str | None, name: str) -> str | None:
    if field is None:
        return None
    text = field.strip().strip('"')
    if not text:
        return None
    _bits(text, 8, f"the +CEREG {name} field")
    return text


def parse_cereg_psm(line: str, *, read_response: bool = False) -> PsmGrant | None:
    """The PSM grant in a ``+CEREG`` URC or ``AT+CEREG?`` response; ``None`` if it carries none.

    Accepts the line with or without the ``+CEREG:`` prefix. A read response starts
    with ``<n>`` (pass ``read_response=True``; a URC never has it and the two cannot
    be told apart by shape, the reference §3.1). The timers are the last two fields,
    which also copes with SIM7020's extra field:
    ``+CEREG: 4,1,"5B57","01A50B1A",9,"00",,,"00000001","11100000"`` -> 2 s active
    time, no extended TAU. Lines from ``n`` < 4 (too few fields) give ``None``.
    """
    fields = _at_fields(line, ("+CEREG",))
    # <stat>,<tac>,<ci>,<AcT>,<cause_type>,<reject_cause>,<Active-Time>,<Periodic-TAU>
    minimum = 8 + (1 if read_response else 0)
    if len(fields) < minimum:
        return None
    return PsmGrant.from_bits(fields[-2], fields[-1])


@dataclass(frozen=True, slots=True)
class EdrxGrant:
    """The eDRX state from ``+CEDRXP`` / ``+CEDRXRDP`` (TS 27.007 §7.40, §7.41).

    ``rat`` is ``None`` when the AcT-type is 0 (the current cell is not using eDRX).
    ``cycle_s`` is the network-provided cycle and ``ptw_s`` the paging time window;
    ``None`` when not reported. An empty network value means eDRX is not in use, as
    Nordic's lte_lc treats it.
    """

    rat: Rat | None
    requested_s: float | None
    cycle_s: float | None
    ptw_s: float | None
    requested_bits: str | None = None
    cycle_bits: str | None = None
    ptw_bits: str | None = None

    @property
    def in_use(self) -> bool:
        """True when the network provided an eDRX cycle for a known RAT."""
        return self.rat is not None and self.cycle_s is not None


def parse_cedrx(line: str) -> EdrxGrant:
    """Parse ``+CEDRXP: <AcT-type>[,<Requested>[,<NW-provided>[,<PTW>]]]`` (URC) or the same ``+CEDRXRDP`` response.

    ``+CEDRXP: 4,"1010","1001","1101"`` -> LTE-M, requested 327.68 s, granted
    163.84 s, PTW 17.92 s. Values are decoded with the RAT's table.
    """
    fields = _at_fields(line, ("+CEDRXP", "+CEDRXRDP"))
    try:
        act = int(fields[0])
    except ValueError:
        raise PowerValueError(f"eDRX AcT-type must be a number, got {fields[0]!r} in {line!r}") from None
    if act == 0:
        return EdrxGrant(None, None, None, None)
    if act not in (Rat.LTE_M, Rat.NB_IOT):
        raise PowerValueError(f"eDRX AcT-type {act} is not LTE-M (4) or NB-IoT (5) in {line!r}")
    rat = Rat(act)
    padded = [*fields[1:4], "", "", ""][:3]
    requested, cycle, ptw = (field or None for field in padded)
    return EdrxGrant(
        rat,
        decode_edrx(requested, rat) if requested else None,
        decode_edrx(cycle, rat) if cycle else None,
        decode_ptw(ptw, rat) if ptw else None,
        requested,
        cycle,
        ptw,
    )


# --- durations for people -------------------------------------------------------------------------

_DURATION_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
_DURATION_HELP = 'use a number of seconds or parts in d, h, m, s order, e.g. "20s", "90m", "1h30m", "20.48s"'


def parse_duration(text: str) -> float:
    """Seconds in a duration a person typed: ``"90"``, ``"20s"``, ``"90m"``, ``"2d"``, ``"1h30m"``, ``"20.48s"``.

    Units are d, h, m, s (any case), each at most once, largest first; a bare number
    is seconds. Anything else raises :class:`PowerValueError` saying what is wrong.
    """
    if not isinstance(text, str):
        raise PowerValueError(f"a duration must be text like '1h30m', got {text!r}")
    stripped = text.strip()
    if not stripped:
        raise PowerValueError(f"empty duration; {_DURATION_HELP}")
    if stripped.startswith("-"):
        raise PowerValueError(f"a duration cannot be negative: {text!r}")
    if re.fullmatch(r"\d+(?:\.\d+)?", stripped):
        return float(stripped)
    total = 0.0
    position = 0
    previous: str | None = None
    order = list(_DURATION_UNITS)
    while position < len(stripped):
        match = _DURATION_PART.match(stripped, position)
        if match is None:
            raise PowerValueError(f"cannot read {text!r} as a duration at {stripped[position:]!r}; {_DURATION_HELP}")
        number, unit = match.group(1), match.group(2).lower()
        if not unit:
            raise PowerValueError(f"{number!r} in {text!r} has no unit; {_DURATION_HELP}")
        if unit not in _DURATION_UNITS:
            raise PowerValueError(f"unknown unit {match.group(2)!r} in {text!r}; {_DURATION_HELP}")
        if previous is not None and order.index(unit) <= order.index(previous):
            raise PowerValueError(f"{unit!r} after {previous!r} in {text!r}; {_DURATION_HELP}")
        total += float(number) * _DURATION_UNITS[unit]
        previous = unit
        position = match.end()
    return total


def format_duration(seconds: float) -> str:
    """The shortest d/h/m/s form of ``seconds`` that :func:`parse_duration` reads back: 5400 -> ``"1h30m"``."""
    value = round(_check_seconds(seconds, "a duration"), 6)  # microseconds: no "1m60s" from 119.9999999
    whole = math.floor(value)
    fraction = value - whole
    parts: list[str] = []
    for unit, size in _DURATION_UNITS.items():
        count, whole = divmod(whole, size)
        if unit == "s":
            rest = count + fraction
            if rest or not parts:
                text = f"{rest:.6f}".rstrip("0").rstrip(".")
                parts.append(f"{text}s")
        elif count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- sleep and wake -------------------------------------------------------------------------------


class WakeEventKind(Enum):
    """What :meth:`WakeScheduler.poll` reports about a window."""

    DUE = "due"
    """The window has begun: be awake and do its work, then :meth:`~WakeScheduler.cancel` it."""
    ENDED = "ended"
    """A window that was reported due has passed its end without being cancelled."""
    MISSED = "missed"
    """The window passed entirely while nobody polled: its work did not happen in time."""


@dataclass(frozen=True, slots=True)
class WakeWindow:
    """A request to be awake from ``start`` until ``end`` (seconds, half-open), registered for ``reason``.

    ``key`` is unique per scheduler, so two windows with the same times stay distinct.
    """

    start: float
    end: float
    reason: str
    key: int


@dataclass(frozen=True, slots=True)
class WakeEvent:
    """One report from :meth:`WakeScheduler.poll` about ``window``, produced by the poll at ``at``."""

    kind: WakeEventKind
    window: WakeWindow
    at: float


class WakeScheduler:
    """Decides when the device may sleep and when it must wake, losing no registered window (sans-IO).

    Clients register windows with :meth:`require_awake` ("I need to be awake from t1
    to t2 to report"). The host loop asks :meth:`may_sleep` before letting the module
    sleep, sleeps until :meth:`next_wake`, and calls :meth:`poll` on every wake.

    Semantics (all times are seconds on one monotonic clock the caller owns; if the
    host itself suspends, use one that keeps counting, e.g. ``CLOCK_BOOTTIME``):

    * A window is *live* from registration until it is cancelled or :meth:`poll`
      retires it. ``wake_lead`` (PSM exit + RRC setup, seconds) moves every wake
      earlier so the device is up by ``start``.
    * :meth:`poll` (times must not go backwards) reports each window at most twice
      and in order: ``DUE`` once when a poll lands in ``[start, end)``; then, at the
      first poll at or after ``end``, ``ENDED`` if it was due or ``MISSED`` if no poll
      saw it open (the device slept through it). A window is never dropped silently:
      until that poll, :meth:`may_sleep` stays ``False`` and :meth:`next_wake` returns
      ``now``. :meth:`cancel` (work done or no longer wanted) ends it with no report.
    * :meth:`may_sleep` is ``False`` from ``start - wake_lead`` until the window is
      retired, and during the granted active time (T3324) after :meth:`note_idle`:
      the module stays reachable then so that queued downlink can arrive (the LwM2M 1.2
      transport bindings' PSM/eDRX guidance: T3324 keeps "the device awake long enough
      to allow queued messages to be sent to the device"), and the host must be up to
      read it.
    * :meth:`next_wake` is the earliest ``start - wake_lead`` of the live windows (a
      window that begins while the module sleeps is the wake time), never before
      ``now``; ``None`` when no window is live.
    """

    def __init__(self, *, grant: PsmGrant | None = None, wake_lead: float = 0.0, tau_tolerance: float = 0.0):
        self.grant = grant
        """What the network granted; :meth:`may_sleep` and :meth:`align_to_tau` read it. Assign when it changes."""
        self.wake_lead = _check_seconds(wake_lead, "wake_lead")
        self.tau_tolerance = _check_seconds(tau_tolerance, "tau_tolerance")
        self._windows: dict[int, WakeWindow] = {}
        self._due: set[int] = set()
        self._keys = itertools.count()
        self._last_poll: float | None = None
        self._idle_at: float | None = None

    @property
    def windows(self) -> tuple[WakeWindow, ...]:
        """The live windows, earliest start first."""
        return tuple(sorted(self._windows.values(), key=lambda w: (w.start, w.key)))

    def require_awake(self, start: float, end: float, reason: str = "") -> WakeWindow:
        """Register "awake from ``start`` to ``end``" and return the window (keep it to cancel)."""
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise PowerValueError(f"a wake window needs finite start < end, got {start!r}..{end!r} ({reason!r})")
        window = WakeWindow(float(start), float(end), reason, next(self._keys))
        self._windows[window.key] = window
        return window

    def cancel(self, window: WakeWindow) -> bool:
        """Withdraw ``window`` (its work is done or no longer needed); ``False`` if it was no longer live."""
        self._due.discard(window.key)
        return self._windows.pop(window.key, None) is not None

    def note_idle(self, now: float) -> None:
        """The module went idle (RRC released) at ``now``; T3324 runs from here (TS 24.301 §5.3.11)."""
        self._idle_at = now if self._idle_at is None else max(self._idle_at, now)

    def poll(self, now: float) -> list[WakeEvent]:
        """Advance to ``now`` and report windows that became due, ended or were missed (see the class doc)."""
        if self._last_poll is not None and now < self._last_poll:
            raise PowerValueError(f"poll time went backwards: {now!r} after {self._last_poll!r}")
        self._last_poll = now
        events: list[WakeEvent] = []
        for window in self.windows:
            if now >= window.end:
                kind = WakeEventKind.ENDED if window.key in self._due else WakeEventKind.MISSED
                events.append(WakeEvent(kind, window, now))
                self.cancel(window)
            elif now >= window.start and window.key not in self._due:
                self._due.add(window.key)
                events.append(WakeEvent(WakeEventKind.DUE, window, now))
        return events

    def may_sleep(self, now: float) -> bool:
        """``True`` when no live window needs the device at ``now`` and no granted active time is running."""
        if any(window.start - self.wake_lead <= now for window in self._windows.values()):
            return False
        grant = self.grant
        return not (
            grant is not None
            and grant.active_time_s is not None
            and self._idle_at is not None
            and now < self._idle_at + grant.active_time_s
        )

    def next_wake(self, now: float) -> float | None:
        """When the device must be awake next: the earliest live window's ``start - wake_lead``, at least ``now``."""
        if not self._windows:
            return None
        return max(now, min(window.start for window in self._windows.values()) - self.wake_lead)

    def align_to_tau(
        self, desired_time: float, last_tau_at: float, tau: float | None = None, *, tolerance: float | None = None
    ) -> float:
        """Move a report to the next periodic TAU when that is at most ``tolerance`` later; else keep ``desired_time``.

        The module wakes for the TAU anyway, so a report sent then costs no extra wake
        (the LwM2M 1.2 transport bindings' PSM/eDRX guidance: any transmission resets
        the periodic TAU timer).
        TAUs are taken at ``last_tau_at + k * tau`` (k >= 1): ``last_tau_at`` is when
        T3412 last (re)started, i.e. when the module last went idle (TS 24.301 §5.3.5),
        and the grid assumes no other traffic in between. ``tau`` defaults to the
        granted one and ``tolerance`` to :attr:`tau_tolerance`. A report is only ever
        delayed, never sent before ``desired_time``. Without a TAU (``None``, 0) the
        desired time is returned.
        """
        period = tau if tau is not None else (self.grant.tau_s if self.grant is not None else None)
        slack = self.tau_tolerance if tolerance is None else _check_seconds(tolerance, "tolerance")
        if not period:
            return desired_time
        period = _check_seconds(period, "tau")
        steps = max(1, math.ceil((desired_time - last_tau_at) / period - 1e-9))
        next_tau = last_tau_at + steps * period
        if next_tau - desired_time > slack + _EPS:
            return desired_time
        # A TAU a rounding error before the desired time is the same instant; never report early.
        return max(next_tau, desired_time)
