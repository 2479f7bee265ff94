"""SMS PDUs (3GPP TS 23.040 TPDUs, 27.005 PDU mode): SMS-SUBMIT, SMS-DELIVER, SMS-STATUS-REPORT.

A modem in PDU mode (``AT+CMGF=0``) hands over and takes hex strings: the service
centre (SMSC) address of TS 24.011 followed by the TS 23.040 TPDU. This module
turns those into data classes and back, hand-written (DESIGN.md: no library does
23.040 well), sans-IO and clock-free: time comes in as arguments.

Layouts (23.040 §9.2.2)::

    SMS-SUBMIT         SCA | FO | TP-MR | TP-DA | TP-PID | TP-DCS | [TP-VP] | TP-UDL | TP-UD
    SMS-DELIVER        SCA | FO | TP-OA | TP-PID | TP-DCS | TP-SCTS(7) | TP-UDL | TP-UD
    SMS-STATUS-REPORT  SCA | FO | TP-MR | TP-RA | TP-SCTS | TP-DT | TP-ST | [TP-PI [PID] [DCS] [UDL UD]]

* Sending: :func:`encode_submit` splits a payload into as many :class:`SubmitPdu`
  as it needs (concatenation, 23.040 §9.2.3.24.1); each has the ``hex`` and the
  ``tpdu_length`` that ``AT+CMGS=<length>`` wants.
* Receiving: :func:`decode` (or :func:`decode_deliver`, :func:`decode_submit`,
  :func:`decode_status_report`) turns a PDU into data; :class:`Reassembler`
  joins concatenated parts.

The data classes encode themselves when built, so a bad value fails at once, and
``decode(x.hex) == x`` always holds. The ``hex`` of a decoded PDU is that
canonical encoding: bits a receiver ignores (UDH fill bits, unused first-octet
bits, empty TP-PI extensions) come out as 0 whatever the sender put there.

Every malformed input (truncated, bad lengths, invalid semi-octets, reserved
values) raises :class:`SmsPduError`, with the field and octet offset it concerns;
so does a value that cannot be encoded. Nothing else escapes (DESIGN.md rule 5).

Nothing here knows what the bytes carry (rule 3): LwM2M over SMS and secured
packets live above and see 8-bit user data and, when used, port numbers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal, NamedTuple, TypeAlias

from m2mclient.errors import M2MError

__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_REASSEMBLY_TIMEOUT",
    "GSM7",
    "MAX_PARTS",
    "MAX_SEPTETS",
    "MAX_USER_DATA_OCTETS",
    "Address",
    "Alphabet",
    "Concat",
    "DataCoding",
    "DeliverPdu",
    "EnhancedValidity",
    "IncompleteMessage",
    "InformationElement",
    "MessageWaiting",
    "Ports",
    "Reassembler",
    "SmsMessage",
    "SmsPduError",
    "StatusReportPdu",
    "SubmitPdu",
    "TypeOfNumber",
    "ValidityPeriod",
    "decode",
    "decode_deliver",
    "decode_status_report",
    "decode_submit",
    "encode_submit",
    "gsm7_encodable",
]

#: TP-UD holds at most 140 octets (23.040 §9.2.3.24; 8-bit and UCS2 UDL count octets).
MAX_USER_DATA_OCTETS = 140
#: ... which is 160 septets of GSM 7-bit text (23.040 §9.2.3.16; UDL counts septets).
MAX_SEPTETS = 160
#: The concatenation IE numbers parts in one octet, 1..255 (23.040 §9.2.3.24.1).
MAX_PARTS = 255
#: TP-OA/TP-DA is 2..12 octets (23.040 §9.1.2.5): 10 octets of value = 20 semi-octets.
_MAX_ADDRESS_SEMI_OCTETS = 20
#: The SMSC address (an RP address element, 24.011 §8.2.5) is 2..12 octets with its
#: length octet, so the length value (TOA + digits) is at most 11.
_MAX_SMSC_LENGTH = 11
#: How long a part of a concatenated message waits for its siblings. 23.040 sets no
#: value; an SC retries a failed part for minutes to hours, and each pending message
#: costs memory on a small device, so an hour is a compromise the caller can change.
DEFAULT_REASSEMBLY_TIMEOUT = 3600.0
#: How many concatenated messages may be pending at once before the oldest is given up
#: (and reported by :meth:`Reassembler.expire`, never dropped silently).
DEFAULT_MAX_PENDING = 16

Alphabet: TypeAlias = Literal["gsm7", "8bit", "ucs2"]
UserData: TypeAlias = bytes | str


class SmsPduError(M2MError, ValueError):
    """An SMS PDU is malformed, or a value cannot be encoded into one.

    ``field`` names the 23.040 field concerned (``"TP-UDL"``, ``"TP-SCTS"``, ...)
    and ``offset`` the octet where it starts in the PDU as given (SMSC field
    included), so a person can find it in a capture.
    """

    def __init__(self, message: str, *, field: str | None = None, offset: int | None = None) -> None:
        self.reason = message
        self.field = field
        self.offset = offset
        where = [part for part in (field, None if offset is None else f"octet {offset}") if part]
        super().__init__(f"[{', '.join(where)}] {message}" if where else message)


# --------------------------------------------------------------------------------------------
# GSM 7-bit default alphabet (23.038 §6.2.1) and its extension table (§6.2.1.1)

_ESC = 0x1B
# Index = septet value. 0x1B is the escape to the extension table, never a character.
_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = {
    0x0A: "\x0c",  # page break, rendered as form feed
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_GSM7_ENCODE: dict[str, tuple[int, ...]] = {ch: (code,) for code, ch in enumerate(_GSM7_BASIC) if code != _ESC}
_GSM7_ENCODE.update({ch: (_ESC, code) for code, ch in _GSM7_EXTENSION.items()})


def gsm7_encodable(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 7-bit default alphabet or its extension table."""
    return all(ch in _GSM7_ENCODE for ch in text)


def _gsm7_encode(text: str, *, field: str = "TP-UD") -> list[int]:
    septets: list[int] = []
    for index, ch in enumerate(text):
        codes = _GSM7_ENCODE.get(ch)
        if codes is None:
            raise SmsPduError(
                f"character {ch!r} (U+{ord(ch):04X}) at index {index} is not in the GSM 7-bit default alphabet "
                "or its extension table (23.038 §6.2.1); send it as UCS2",
                field=field,
            )
        septets.extend(codes)
    return septets


def _gsm7_decode(septets: Sequence[int], *, field: str, offset: int) -> str:
    chars: list[str] = []
    index = 0
    while index < len(septets):
        code = septets[index]
        if code != _ESC:
            chars.append(_GSM7_BASIC[code])
            index += 1
            continue
        if index + 1 == len(septets):
            # An escape extends the next septet (23.038 §6.2.1.1); senders keep the pair in one part.
            raise SmsPduError(
                "GSM 7-bit text ends in an escape (0x1B) with no character after it", field=field, offset=offset
            )
        code = septets[index + 1]
        if code == _ESC:
            # 23.038 §6.2.1.1: reserved for a further extension table; show a space meanwhile.
            chars.append(" ")
        else:
            # 23.038 §6.2.1.1: an escaped code without an extension character shows as the basic one.
            chars.append(_GSM7_EXTENSION.get(code, _GSM7_BASIC[code]))
        index += 2
    return "".join(chars)


def _septets_for_octets(octets: int) -> int:
    """Septets an octet-aligned header occupies, fill bits included (23.040 §9.2.3.24)."""
    return -(-octets * 8 // 7)


def _pack_septets(septets: Sequence[int], header: bytes = b"") -> tuple[int, bytes]:
    """Pack septets LSB first after ``header`` and its fill bits; return (TP-UDL in septets, octets).

    23.040 §9.2.3.24: with a UDH, fill bits pad the header to a septet boundary so
    the text starts on one. Seen as one little-endian integer the UD is exactly
    "header octets, then septet k at bit 7*k", which is what this builds.
    """
    skip = _septets_for_octets(len(header)) if header else 0
    value = int.from_bytes(header, "little")
    for index, septet in enumerate(septets):
        value |= septet << (7 * (skip + index))
    udl = skip + len(septets)
    return udl, value.to_bytes(-(-udl * 7 // 8), "little")


def _unpack_septets(data: bytes, count: int, skip: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (7 * index)) & 0x7F for index in range(skip, count)]


# --------------------------------------------------------------------------------------------
# Reading octets with errors that say where


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self, field: str) -> int:
        if self.pos >= len(self.data):
            raise SmsPduError(f"the PDU ends before {field}", field=field, offset=self.pos)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int, field: str) -> bytes:
        if self.pos + count > len(self.data):
            raise SmsPduError(
                f"{field} needs {count} octet(s) but only {len(self.data) - self.pos} remain",
                field=field,
                offset=self.pos,
            )
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def finish(self, after: str) -> None:
        if self.pos != len(self.data):
            raise SmsPduError(
                f"{len(self.data) - self.pos} unexpected octet(s) after {after}", field=after, offset=self.pos
            )


def _pdu_bytes(pdu: str | bytes | bytearray) -> bytes:
    if isinstance(pdu, (bytes, bytearray)):
        return bytes(pdu)
    if not isinstance(pdu, str):
        raise SmsPduError(f"an SMS PDU is hex text or bytes, not {type(pdu).__name__}")
    text = "".join(pdu.split())
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SmsPduError(f"not a hex PDU: {text[:40]!r}" + ("..." if len(text) > 40 else "")) from None


# --------------------------------------------------------------------------------------------
# Addresses (23.040 §9.1.2.5) and semi-octets (§9.1.2.3)


class TypeOfNumber(enum.IntEnum):
    """TON, bits 6-4 of the Type-of-Address octet (23.040 §9.1.2.5). 0b111 is reserved for extension."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


#: Numbering-plan identification (23.040 §9.1.2.5): 0 unknown, 1 ISDN/E.164.
NPI_UNKNOWN = 0
NPI_ISDN = 1
_NPI_EXTENSION = 0b1111

# 23.040 §9.1.2.3: semi-octet values 0-9, then 1010 '*', 1011 '#', 1100..1110 'a'..'c';
# 1111 fills the last octet of an odd-length number.
_BCD = "0123456789*#abc"
_FILLER = 0xF
_NUMERIC = re.compile(r"\+?[0-9*#]+")


def _bcd_encode(digits: str) -> bytes:
    nibbles = [_BCD.index(ch) for ch in digits]
    if len(nibbles) % 2:
        nibbles.append(_FILLER)
    return bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))


def _bcd_decode(data: bytes, count: int, *, field: str, offset: int) -> str:
    """``count`` semi-octets, low nibble first; an odd count ends in the 1111 filler."""
    digits: list[str] = []
    for index in range(count):
        nibble = (data[index // 2] >> (4 * (index % 2))) & 0xF
        if nibble == _FILLER:
            raise SmsPduError(
                f"semi-octet {index + 1} of {count} is the 1111 filler, which may only pad the end",
                field=field,
                offset=offset + index // 2,
            )
        digits.append(_BCD[nibble])
    if count % 2 and data[count // 2] >> 4 != _FILLER:
        raise SmsPduError(
            f"an odd-length number must end in the 1111 filler, not {data[count // 2] >> 4:X}",
            field=field,
            offset=offset + count // 2,
        )
    return "".join(digits)


@dataclass(frozen=True)
class Address:
    """A TP-OA / TP-DA / TP-RA or SMSC address (23.040 §9.1.2.5).

    ``value`` is the number without ``+`` (digits and ``*#abc``), or the text of an
    alphanumeric address (TON 5, GSM 7-bit packed, at most 11 characters).
    ``str(address)`` prefixes international numbers with ``+``.
    """

    value: str
    ton: TypeOfNumber = TypeOfNumber.UNKNOWN
    npi: int = NPI_ISDN

    def __post_init__(self) -> None:
        try:  # accept a plain int too
            object.__setattr__(self, "ton", TypeOfNumber(self.ton))
        except ValueError:
            raise SmsPduError(f"type of number {self.ton!r} is reserved (23.040 §9.1.2.5)") from None
        if not 0 <= self.npi < _NPI_EXTENSION:
            raise SmsPduError(f"numbering plan {self.npi!r} is reserved or out of range (23.040 §9.1.2.5)")
        if self.ton is TypeOfNumber.ALPHANUMERIC:
            septets = len(_gsm7_encode(self.value, field="address"))
            if -(-septets * 7 // 4) > _MAX_ADDRESS_SEMI_OCTETS:
                raise SmsPduError(f"alphanumeric address {self.value!r} is longer than 11 GSM 7-bit characters")
            return
        bad = [ch for ch in self.value if ch not in _BCD]
        if bad:
            raise SmsPduError(f"address {self.value!r} holds {bad[0]!r}; a number has only 0-9 * # a b c")
        if len(self.value) > _MAX_ADDRESS_SEMI_OCTETS:
            raise SmsPduError(f"address {self.value!r} has more than {_MAX_ADDRESS_SEMI_OCTETS} digits")

    @classmethod
    def parse(cls, text: str) -> Address:
        """Read a number or name as people write it.

        ``"+27821234567"`` is international (TOA 0x91), ``"0129998765"`` of unknown
        type (0x81), anything else alphanumeric (0xD0).
        """
        if not text:
            raise SmsPduError("an empty address; give a number or a name")
        if _NUMERIC.fullmatch(text):
            if text.startswith("+"):
                return cls(text[1:], TypeOfNumber.INTERNATIONAL, NPI_ISDN)
            return cls(text, TypeOfNumber.UNKNOWN, NPI_ISDN)
        return cls(text, TypeOfNumber.ALPHANUMERIC, NPI_UNKNOWN)

    @property
    def type_of_address(self) -> int:
        """The TOA octet: bit 7 set, TON in bits 6-4, NPI in bits 3-0."""
        return 0x80 | self.ton << 4 | self.npi

    def __str__(self) -> str:
        return f"+{self.value}" if self.ton is TypeOfNumber.INTERNATIONAL else self.value


def _as_address(value: str | Address) -> Address:
    return value if isinstance(value, Address) else Address.parse(value)


def _split_toa(toa: int, *, field: str, offset: int) -> tuple[TypeOfNumber, int]:
    # Bit 7 "shall be 1"; a sender that clears it changes nothing we read, so it is ignored.
    ton, npi = (toa >> 4) & 0x7, toa & 0xF
    if ton == 0b111 or npi == _NPI_EXTENSION:
        raise SmsPduError(
            f"type of address 0x{toa:02X} uses a value reserved for extension", field=field, offset=offset
        )
    return TypeOfNumber(ton), npi


def _encode_address(address: Address) -> bytes:
    if address.ton is TypeOfNumber.ALPHANUMERIC:
        septets = _gsm7_encode(address.value, field="address")
        _, packed = _pack_septets(septets)
        return bytes((-(-len(septets) * 7 // 4), address.type_of_address)) + packed
    return bytes((len(address.value), address.type_of_address)) + _bcd_encode(address.value)


def _decode_address(reader: _Reader, field: str) -> Address:
    start = reader.pos
    count = reader.octet(field)
    if count > _MAX_ADDRESS_SEMI_OCTETS:
        raise SmsPduError(
            f"address length {count} exceeds {_MAX_ADDRESS_SEMI_OCTETS} semi-octets", field=field, offset=start
        )
    ton, npi = _split_toa(reader.octet(field), field=field, offset=start + 1)
    data = reader.take((count + 1) // 2, field)
    if ton is TypeOfNumber.ALPHANUMERIC:
        # The length counts the useful semi-octets of the packed name (23.040 §9.1.2.5).
        text = _gsm7_decode(_unpack_septets(data, count * 4 // 7), field=field, offset=start + 2)
        return Address(text, ton, npi)
    return Address(_bcd_decode(data, count, field=field, offset=start + 2), ton, npi)


def _encode_smsc(smsc: Address | None) -> bytes:
    if smsc is None:
        return b"\x00"  # 27.005: length 0 = use the SMSC stored in the module (AT+CSCA)
    if smsc.ton is TypeOfNumber.ALPHANUMERIC:
        raise SmsPduError("an SMSC address is a number (24.011 §8.2.5), not alphanumeric", field="SMSC")
    body = bytes((smsc.type_of_address,)) + _bcd_encode(smsc.value)
    return bytes((len(body),)) + body


def _decode_smsc(reader: _Reader) -> Address | None:
    # Unlike TP-OA/TP-DA the length counts octets, TOA included (24.011 §8.2.5).
    length = reader.octet("SMSC")
    if length == 0:
        return None
    if length > _MAX_SMSC_LENGTH:
        raise SmsPduError(f"SMSC address length {length} exceeds {_MAX_SMSC_LENGTH} octets", field="SMSC", offset=0)
    ton, npi = _split_toa(reader.octet("SMSC"), field="SMSC", offset=1)
    if ton is TypeOfNumber.ALPHANUMERIC:
        raise SmsPduError("an SMSC address cannot be alphanumeric (24.011 §8.2.5)", field="SMSC", offset=1)
    data = reader.take(length - 1, "SMSC")
    count = len(data) * 2
    if data and data[-1] >> 4 == _FILLER:
        count -= 1
    return Address(_bcd_decode(data, count, field="SMSC", offset=2), ton, npi)


# --------------------------------------------------------------------------------------------
# Time stamps (23.040 §9.2.3.11) and validity periods (§9.2.3.12)


def _swapped_decimal(octet: int, *, field: str, offset: int | None) -> int:
    tens, units = octet & 0xF, octet >> 4
    if tens > 9 or units > 9:
        raise SmsPduError(f"0x{octet:02X} is not two decimal semi-octets", field=field, offset=offset)
    return tens * 10 + units


def _swapped_octet(value: int) -> int:
    return (value % 10) << 4 | value // 10


def _decode_timestamp(data: bytes, *, field: str, offset: int) -> datetime:
    """Seven semi-octet-swapped octets YY MM DD hh mm ss TZ (23.040 §9.2.3.11)."""
    year, month, day, hour, minute, second = (
        _swapped_decimal(octet, field=field, offset=offset + index) for index, octet in enumerate(data[:6])
    )
    zone = data[6]
    # TZ counts quarter hours; bit 3 of the octet (the first semi-octet's top bit) is the sign.
    tens, units = zone & 0x7, zone >> 4
    if units > 9:
        raise SmsPduError(f"time zone 0x{zone:02X} is not decimal semi-octets", field=field, offset=offset + 6)
    quarters = -(tens * 10 + units) if zone & 0x08 else tens * 10 + units
    try:
        # 23.040 carries two year digits; this century is the only reading a device still needs.
        return datetime(
            2000 + year, month, day, hour, minute, second, tzinfo=timezone(timedelta(minutes=15 * quarters))
        )
    except ValueError as exc:
        raise SmsPduError(f"not a date and time: {exc}", field=field, offset=offset) from None


def _encode_timestamp(moment: datetime, *, field: str) -> bytes:
    offset = moment.utcoffset()
    if offset is None:
        raise SmsPduError(f"{field} needs a timezone-aware datetime (the PDU carries the zone)", field=field)
    quarters, rest = divmod(offset, timedelta(minutes=15))
    if rest or abs(quarters) > 79:
        raise SmsPduError(f"time zone {offset} is not a whole number of quarter hours within ±19:45", field=field)
    if not 2000 <= moment.year <= 2099:
        raise SmsPduError(f"year {moment.year} does not fit the two digits of {field} (2000-2099)", field=field)
    octets = [moment.year % 100, moment.month, moment.day, moment.hour, moment.minute, moment.second]
    zone = _swapped_octet(abs(quarters)) | (0x08 if quarters < 0 else 0)
    return bytes([*(_swapped_octet(value) for value in octets), zone])


_MINUTE_US = 60_000_000
_RELATIVE_VP_MAX = timedelta(weeks=63)


def _relative_vp_period(code: int) -> timedelta:
    """TP-VP relative format (23.040 §9.2.3.12.1)."""
    if code <= 143:
        return timedelta(minutes=5 * (code + 1))
    if code <= 167:
        return timedelta(hours=12, minutes=30 * (code - 143))
    if code <= 196:
        return timedelta(days=code - 166)
    return timedelta(weeks=code - 192)


def _relative_vp_code(period: timedelta) -> int:
    """The smallest relative TP-VP at least as long as ``period`` (23.040 §9.2.3.12.1)."""
    if period <= timedelta(0) or period > _RELATIVE_VP_MAX:
        raise SmsPduError(
            f"a relative validity period is more than 0 and at most 63 weeks, not {period}", field="TP-VP"
        )
    micros = period // timedelta(microseconds=1)
    if period <= timedelta(hours=12):
        return _ceil_div(micros, 5 * _MINUTE_US) - 1
    if period <= timedelta(hours=24):
        return 143 + _ceil_div(micros - 12 * 60 * _MINUTE_US, 30 * _MINUTE_US)
    if period <= timedelta(days=30):
        return 166 + _ceil_div(micros, 24 * 60 * _MINUTE_US)
    return 192 + _ceil_div(micros, 7 * 24 * 60 * _MINUTE_US)


def _ceil_div(value: int, unit: int) -> int:
    return -(-value // unit)


@dataclass(frozen=True)
class EnhancedValidity:
    """A TP-VP in the enhanced format (23.040 §9.2.3.12.3), kept as its 7 raw octets.

    ``period`` is the relative period it states (None for "no validity period"),
    ``single_shot`` the single-shot SM flag.
    """

    raw: bytes
    single_shot: bool = field(init=False)
    period: timedelta | None = field(init=False)

    def __post_init__(self) -> None:
        single_shot, period = _parse_enhanced_vp(bytes(self.raw), offset=None)
        object.__setattr__(self, "raw", bytes(self.raw))
        object.__setattr__(self, "single_shot", single_shot)
        object.__setattr__(self, "period", period)


def _parse_enhanced_vp(raw: bytes, *, offset: int | None) -> tuple[bool, timedelta | None]:
    if len(raw) != 7:
        raise SmsPduError(f"an enhanced TP-VP is 7 octets, not {len(raw)}", field="TP-VP", offset=offset)
    indicator = raw[0]
    at = 0
    while raw[at] & 0x80:  # bit 7: another functionality-indicator octet follows
        at += 1
        if at == 7:
            raise SmsPduError("enhanced TP-VP: functionality indicator never ends", field="TP-VP", offset=offset)
    if indicator & 0x38:
        raise SmsPduError(
            f"enhanced TP-VP indicator 0x{indicator:02X} sets reserved bits 5-3", field="TP-VP", offset=offset
        )
    single_shot = bool(indicator & 0x40)
    kind = indicator & 0x07
    data = raw[at + 1 :]
    if kind == 0b000:
        return single_shot, None
    if kind == 0b001 and data:
        return single_shot, _relative_vp_period(data[0])
    if kind == 0b010 and data:
        return single_shot, timedelta(seconds=data[0])
    if kind == 0b011 and len(data) >= 3:
        where = None if offset is None else offset + at + 1
        hours, minutes, seconds = (_swapped_decimal(octet, field="TP-VP", offset=where) for octet in data[:3])
        return single_shot, timedelta(hours=hours, minutes=minutes, seconds=seconds)
    raise SmsPduError(f"enhanced TP-VP format {kind:03b} is reserved or does not fit", field="TP-VP", offset=offset)


#: TP-VP: none, relative (a duration), absolute (an aware datetime) or enhanced.
ValidityPeriod: TypeAlias = timedelta | datetime | EnhancedValidity | None

# TP-VPF, bits 4-3 of an SMS-SUBMIT first octet (23.040 §9.2.3.3).
_VPF_NONE, _VPF_ENHANCED, _VPF_RELATIVE, _VPF_ABSOLUTE = 0b00, 0b01, 0b10, 0b11


def _whole_seconds(moment: datetime) -> datetime:
    # TP-SCTS, TP-DT and absolute TP-VP stop at seconds; keep objects equal to what they encode to.
    if not isinstance(moment, datetime):
        raise SmsPduError(f"a time stamp is an aware datetime, not {moment!r}")
    return moment.replace(microsecond=0)


def _normalize_validity(validity: ValidityPeriod) -> ValidityPeriod:
    if isinstance(validity, datetime):
        _encode_timestamp(validity, field="TP-VP")
        return _whole_seconds(validity)
    if isinstance(validity, timedelta):
        return _relative_vp_period(_relative_vp_code(validity))
    if validity is None or isinstance(validity, EnhancedValidity):
        return validity
    raise SmsPduError(f"a validity period is a timedelta, an aware datetime or None, not {validity!r}", field="TP-VP")


def _encode_validity(validity: ValidityPeriod) -> tuple[int, bytes]:
    if validity is None:
        return _VPF_NONE, b""
    if isinstance(validity, datetime):
        return _VPF_ABSOLUTE, _encode_timestamp(validity, field="TP-VP")
    if isinstance(validity, EnhancedValidity):
        return _VPF_ENHANCED, validity.raw
    return _VPF_RELATIVE, bytes((_relative_vp_code(validity),))


def _decode_validity(reader: _Reader, vpf: int) -> ValidityPeriod:
    start = reader.pos
    if vpf == _VPF_NONE:
        return None
    if vpf == _VPF_RELATIVE:
        return _relative_vp_period(reader.octet("TP-VP"))
    raw = reader.take(7, "TP-VP")
    if vpf == _VPF_ABSOLUTE:
        return _decode_timestamp(raw, field="TP-VP", offset=start)
    _parse_enhanced_vp(raw, offset=start)
    return EnhancedValidity(raw)


# --------------------------------------------------------------------------------------------
# TP-DCS (23.038 clause 4)


class MessageWaiting(NamedTuple):
    """A message-waiting indication carried in TP-DCS groups 1100-1110 (23.038 clause 4)."""

    store: bool  #: False for group 1100 ("discard message")
    active: bool  #: bit 3: indication sense
    kind: int  #: bits 1-0: 0 voicemail, 1 fax, 2 e-mail, 3 other


_ALPHABET_BITS: dict[str, int] = {"gsm7": 0b00, "8bit": 0b01, "ucs2": 0b10}
# Bits 3-2 of groups 00xx/01xx; 11 is reserved and, per 23.038 clause 4, read as GSM 7-bit.
_GENERAL_ALPHABETS: tuple[Alphabet, Alphabet, Alphabet, Alphabet] = ("gsm7", "8bit", "ucs2", "gsm7")


@dataclass(frozen=True)
class DataCoding:
    """The TP-DCS octet (23.040 §9.2.3.10, coded as in 23.038 clause 4).

    The octet is kept as sent, so a PDU re-encodes to the same bytes; the
    properties read it. Reserved codings read as the GSM 7-bit alphabet, as
    23.038 clause 4 tells a receiver to, and say so in :attr:`reserved`.
    """

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise SmsPduError(f"TP-DCS is one octet, not {self.value!r}", field="TP-DCS")

    @classmethod
    def for_alphabet(cls, alphabet: Alphabet, message_class: int | None = None) -> DataCoding:
        """The usual coding of ``alphabet`` with an optional message class 0-3.

        With a class, GSM 7-bit and 8-bit use group 1111 (0xF0-0xF7; 0xF6 = 8-bit
        class 2, the SIM data-download coding OTA uses) and UCS2, which group 1111
        cannot express, uses group 00 with bit 4 set (0x18-0x1B).
        """
        if alphabet not in _ALPHABET_BITS:
            raise SmsPduError(f"unknown alphabet {alphabet!r}; use 'gsm7', '8bit' or 'ucs2'", field="TP-DCS")
        bits = _ALPHABET_BITS[alphabet]
        if message_class is None:
            return cls(bits << 2)
        if message_class not in (0, 1, 2, 3):
            raise SmsPduError(f"message class is 0-3, not {message_class!r}", field="TP-DCS")
        if alphabet == "ucs2":
            return cls(0x10 | bits << 2 | message_class)
        return cls(0xF0 | bits << 2 | message_class)

    @property
    def _group(self) -> int:
        return self.value >> 4

    @property
    def _general(self) -> bool:
        # Groups 00xx (general data coding) and 01xx (the same, marked for automatic deletion).
        return self._group < 0b1000

    @property
    def alphabet(self) -> Alphabet:
        """``"gsm7"``, ``"8bit"`` or ``"ucs2"``."""
        group = self._group
        if self._general:
            return _GENERAL_ALPHABETS[(self.value >> 2) & 0b11]
        if group == 0b1110:
            return "ucs2"
        if group == 0b1111:
            return "8bit" if self.value & 0x04 else "gsm7"
        return "gsm7"

    @property
    def message_class(self) -> int | None:
        """0 flash, 1 ME-specific, 2 (U)SIM-specific, 3 TE-specific, or None (no class)."""
        if self._general:
            return self.value & 0b11 if self.value & 0x10 else None
        if self._group == 0b1111:
            return self.value & 0b11
        return None

    @property
    def compressed(self) -> bool:
        """Bit 5 of groups 00xx/01xx: the text is compressed (23.042), which this module does not read."""
        return self._general and bool(self.value & 0x20)

    @property
    def auto_delete(self) -> bool:
        """Group 01xx: the message is marked for automatic deletion after reading."""
        return self._group >> 2 == 0b01

    @property
    def message_waiting(self) -> MessageWaiting | None:
        """The indication of groups 1100 (discard), 1101 (store, GSM 7-bit), 1110 (store, UCS2)."""
        if self._group not in (0b1100, 0b1101, 0b1110):
            return None
        return MessageWaiting(self._group != 0b1100, bool(self.value & 0x08), self.value & 0b11)

    @property
    def reserved(self) -> bool:
        """A reserved coding (groups 1000-1011, alphabet 11, or reserved bits set): read as GSM 7-bit."""
        group = self._group
        if self._general:
            return (self.value >> 2) & 0b11 == 0b11
        if group <= 0b1011:
            return True
        if group == 0b1111:
            return bool(self.value & 0x08)
        return bool(self.value & 0x04)


#: TP-DCS 0x00: GSM 7-bit default alphabet, no message class.
GSM7 = DataCoding(0x00)


# --------------------------------------------------------------------------------------------
# User-data header (23.040 §9.2.3.24)


class Concat(NamedTuple):
    """Concatenation (23.040 §9.2.3.24.1 / .8): which part of which message this is."""

    reference: int
    total: int
    sequence: int


class Ports(NamedTuple):
    """Application port addressing (23.040 §9.2.3.24.3 / .4)."""

    destination: int
    source: int


_IEI_CONCAT_8 = 0x00
_IEI_PORTS_8 = 0x04
_IEI_PORTS_16 = 0x05
_IEI_CONCAT_16 = 0x08
_IE_LENGTHS = {_IEI_CONCAT_8: 3, _IEI_PORTS_8: 2, _IEI_PORTS_16: 4, _IEI_CONCAT_16: 4}
_IE_NAMES = {
    _IEI_CONCAT_8: "concatenation (8-bit reference)",
    _IEI_PORTS_8: "port addressing (8-bit)",
    _IEI_PORTS_16: "port addressing (16-bit)",
    _IEI_CONCAT_16: "concatenation (16-bit reference)",
}


class InformationElement(NamedTuple):
    """One UDH information element: IEI and its data. IEs this module does not read pass through as is."""

    iei: int
    data: bytes

    @classmethod
    def concatenation(cls, reference: int, total: int, sequence: int, *, reference_bits: int = 8) -> InformationElement:
        """IEI 0x00 (8-bit reference) or 0x08 (16-bit reference), part ``sequence`` of ``total``."""
        if reference_bits not in (8, 16):
            raise SmsPduError(f"a concatenation reference has 8 or 16 bits, not {reference_bits!r}", field="UDH")
        if not 0 <= reference < 1 << reference_bits:
            raise SmsPduError(f"concatenation reference {reference} does not fit {reference_bits} bits", field="UDH")
        if not 1 <= sequence <= total <= MAX_PARTS:
            raise SmsPduError(f"part {sequence} of {total} is not 1 <= part <= total <= {MAX_PARTS}", field="UDH")
        if reference_bits == 8:
            return cls(_IEI_CONCAT_8, bytes((reference, total, sequence)))
        return cls(_IEI_CONCAT_16, reference.to_bytes(2, "big") + bytes((total, sequence)))

    @classmethod
    def port_addressing(cls, destination: int, source: int) -> InformationElement:
        """IEI 0x05: 16-bit destination and source ports."""
        if not (0 <= destination <= 0xFFFF and 0 <= source <= 0xFFFF):
            raise SmsPduError(f"ports {destination}, {source} do not fit 16 bits", field="UDH")
        return cls(_IEI_PORTS_16, destination.to_bytes(2, "big") + source.to_bytes(2, "big"))


def _encode_udh(elements: Sequence[InformationElement]) -> bytes:
    """UDHL followed by the IEs."""
    body = bytearray()
    for iei, data in elements:
        if not 0 <= iei <= 0xFF or len(data) > 0xFF:
            raise SmsPduError(f"information element 0x{iei:X} with {len(data)} octets does not fit", field="UDH")
        body += bytes((iei, len(data))) + data
    if len(body) >= MAX_USER_DATA_OCTETS:
        raise SmsPduError(f"a {len(body)}-octet user-data header leaves no room in {MAX_USER_DATA_OCTETS}", field="UDH")
    header = bytes((len(body),)) + bytes(body)
    _decode_udh(header, offset=None)  # known IEs must have their proper length
    return header


def _decode_udh(header: bytes, *, offset: int | None) -> tuple[InformationElement, ...]:
    """Parse ``UDHL IE...`` (``header`` starts with the UDHL octet)."""
    elements: list[InformationElement] = []
    at = 1
    while at < len(header):
        if at + 2 > len(header):
            raise SmsPduError(
                "an information element is cut off by the UDH length",
                field="UDH",
                offset=None if offset is None else offset + at,
            )
        iei, length = header[at], header[at + 1]
        if at + 2 + length > len(header):
            raise SmsPduError(
                f"information element 0x{iei:02X} claims {length} octets, past the UDH length",
                field="UDH",
                offset=None if offset is None else offset + at,
            )
        expected = _IE_LENGTHS.get(iei)
        if expected is not None and length != expected:
            raise SmsPduError(
                f"{_IE_NAMES[iei]} IE has {length} octets, not {expected}",
                field="UDH",
                offset=None if offset is None else offset + at,
            )
        elements.append(InformationElement(iei, header[at + 2 : at + 2 + length]))
        at += 2 + length
    return tuple(elements)


def _concat_of(udh: Sequence[InformationElement] | None) -> Concat | None:
    found = None
    for iei, data in udh or ():
        # A repeated IE: the last one counts (23.040 §9.2.3.24).
        if iei == _IEI_CONCAT_8:
            found = Concat(data[0], data[1], data[2])
        elif iei == _IEI_CONCAT_16:
            found = Concat(int.from_bytes(data[:2], "big"), data[2], data[3])
    # §9.2.3.24.1: a part number of 0 or beyond the total makes the receiver ignore the IE.
    if found is not None and not 1 <= found.sequence <= found.total:
        return None
    return found


def _ports_of(udh: Sequence[InformationElement] | None) -> Ports | None:
    found = None
    for iei, data in udh or ():
        if iei == _IEI_PORTS_8:
            found = Ports(data[0], data[1])
        elif iei == _IEI_PORTS_16:
            found = Ports(int.from_bytes(data[:2], "big"), int.from_bytes(data[2:], "big"))
    return found


# --------------------------------------------------------------------------------------------
# TP-UDL + TP-UD


def _encode_user_data(coding: DataCoding, udh: Sequence[InformationElement] | None, user_data: UserData) -> bytes:
    """TP-UDL followed by TP-UD."""
    if coding.compressed:
        raise SmsPduError("compressed user data (23.042) is not supported", field="TP-DCS")
    header = b"" if udh is None else _encode_udh(udh)
    alphabet = coding.alphabet
    if alphabet == "8bit":
        if not isinstance(user_data, bytes):
            raise SmsPduError("8-bit user data is bytes; encode the text first", field="TP-UD")
        body = header + user_data
    else:
        if not isinstance(user_data, str):
            raise SmsPduError(f"{alphabet} user data is text (str), not bytes", field="TP-UD")
        if alphabet == "gsm7":
            udl, packed = _pack_septets(_gsm7_encode(user_data), header)
            if udl > MAX_SEPTETS:
                raise SmsPduError(f"{udl} septets of user data exceed {MAX_SEPTETS}; split the message", field="TP-UD")
            return bytes((udl,)) + packed
        # UTF-16 rather than strict UCS2, as handsets send it; surrogatepass keeps a
        # lone surrogate (half a character split across parts) intact for reassembly.
        body = header + user_data.encode("utf-16-be", "surrogatepass")
    if len(body) > MAX_USER_DATA_OCTETS:
        raise SmsPduError(
            f"{len(body)} octets of user data exceed {MAX_USER_DATA_OCTETS}; split the message", field="TP-UD"
        )
    return bytes((len(body),)) + body


def _decode_user_data(
    reader: _Reader, coding: DataCoding, udhi: bool
) -> tuple[tuple[InformationElement, ...] | None, UserData]:
    udl_at = reader.pos
    udl = reader.octet("TP-UDL")
    if coding.compressed:
        raise SmsPduError(
            f"TP-DCS 0x{coding.value:02X} marks the text compressed (23.042), which is not supported", field="TP-DCS"
        )
    gsm7 = coding.alphabet == "gsm7"
    if udl > (MAX_SEPTETS if gsm7 else MAX_USER_DATA_OCTETS):
        unit = "septets" if gsm7 else "octets"
        raise SmsPduError(
            f"TP-UDL {udl} exceeds the {MAX_SEPTETS if gsm7 else MAX_USER_DATA_OCTETS} {unit} an SMS holds",
            field="TP-UDL",
            offset=udl_at,
        )
    start = reader.pos
    data = reader.take(-(-udl * 7 // 8) if gsm7 else udl, "TP-UD")
    reader.finish("TP-UD")
    udh = None
    header_octets = 0
    if udhi:
        if not data:
            raise SmsPduError("TP-UDHI is set but TP-UD is empty", field="TP-UD", offset=start)
        header_octets = 1 + data[0]
        room = udl * 7 // 8 if gsm7 else udl
        if header_octets > room or (gsm7 and _septets_for_octets(header_octets) > udl):
            raise SmsPduError(f"UDH length {data[0]} does not fit in TP-UDL {udl}", field="UDH", offset=start)
        udh = _decode_udh(data[:header_octets], offset=start)
    if gsm7:
        skip = _septets_for_octets(header_octets) if udhi else 0
        return udh, _gsm7_decode(_unpack_septets(data, udl, skip), field="TP-UD", offset=start)
    body = data[header_octets:]
    if coding.alphabet == "8bit":
        return udh, body
    if len(body) % 2:
        raise SmsPduError(f"UCS2 user data has an odd number of octets ({len(body)})", field="TP-UD", offset=start)
    return udh, body.decode("utf-16-be", "surrogatepass")


def _normalize_udh(udh: Iterable[tuple[int, bytes]]) -> tuple[InformationElement, ...]:
    return tuple(InformationElement(iei, bytes(data)) for iei, data in udh)


def _check_octet(value: int, name: str) -> None:
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise SmsPduError(f"{name} is one octet (0-255), not {value!r}", field=name)


# --------------------------------------------------------------------------------------------
# The TPDUs

# TP-MTI, bits 1-0 of the first octet (23.040 §9.2.3.1), in the direction a modem's PDUs take:
# 00 SMS-DELIVER (received), 01 SMS-SUBMIT (sent or stored), 10 SMS-STATUS-REPORT (received).
_MTI_DELIVER, _MTI_SUBMIT, _MTI_STATUS_REPORT = 0b00, 0b01, 0b10
_MTI_NAMES = {0b00: "SMS-DELIVER", 0b01: "SMS-SUBMIT", 0b10: "SMS-STATUS-REPORT", 0b11: "reserved"}
# First-octet bits: TP-RD / TP-MMS, TP-LP, TP-SRR / TP-SRI / TP-SRQ, TP-UDHI, TP-RP (23.040 §9.2.3.2-.5,
# .17, .23, .25, .26, .28), placed as in the layouts of §9.2.2.
_RD_OR_MMS = 0x04
_LP = 0x08
_SRR_SRI_SRQ = 0x20
_UDHI = 0x40
_RP = 0x80


@dataclass(frozen=True)
class SubmitPdu:
    """SMS-SUBMIT (23.040 §9.2.2.2), MS to SC, with the SMSC field in front (None = the module's default).

    ``udh`` is None when TP-UDHI is clear. Construction checks everything and
    encodes once: an invalid value raises :class:`SmsPduError` here, not at send
    time. A relative ``validity_period`` is rounded up to what TP-VP can say.
    """

    destination: Address
    user_data: UserData
    data_coding: DataCoding = GSM7
    udh: tuple[InformationElement, ...] | None = None
    message_reference: int = 0
    protocol_identifier: int = 0
    validity_period: ValidityPeriod = None
    reject_duplicates: bool = False
    status_report_request: bool = False
    reply_path: bool = False
    smsc: Address | None = None
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validity_period", _normalize_validity(self.validity_period))
        if self.udh is not None:
            object.__setattr__(self, "udh", _normalize_udh(self.udh))
        _check_octet(self.message_reference, "TP-MR")
        _check_octet(self.protocol_identifier, "TP-PID")
        vpf, vp = _encode_validity(self.validity_period)
        first = (
            _MTI_SUBMIT
            | (_RD_OR_MMS if self.reject_duplicates else 0)
            | vpf << 3
            | (_SRR_SRI_SRQ if self.status_report_request else 0)
            | (_UDHI if self.udh is not None else 0)
            | (_RP if self.reply_path else 0)
        )
        tpdu = (
            bytes((first, self.message_reference))
            + _encode_address(self.destination)
            + bytes((self.protocol_identifier, self.data_coding.value))
            + vp
            + _encode_user_data(self.data_coding, self.udh, self.user_data)
        )
        object.__setattr__(self, "_encoded", _encode_smsc(self.smsc) + tpdu)

    @property
    def concat(self) -> Concat | None:
        """(reference, total, sequence) when this is part of a concatenated message."""
        return _concat_of(self.udh)

    @property
    def ports(self) -> Ports | None:
        """(destination, source) application ports from the UDH, if any."""
        return _ports_of(self.udh)

    def to_bytes(self) -> bytes:
        """SMSC field + TPDU, as ``AT+CMGS`` takes it in PDU mode (in hex)."""
        return self._encoded

    @property
    def hex(self) -> str:
        """The PDU in upper-case hex: what follows the ``> `` prompt of ``AT+CMGS``."""
        return self._encoded.hex().upper()

    @property
    def tpdu_length(self) -> int:
        """The ``<length>`` of ``AT+CMGS=<length>``: TPDU octets, SMSC field excluded (27.005 §3.5.1)."""
        return len(self._encoded) - 1 - self._encoded[0]


@dataclass(frozen=True)
class DeliverPdu:
    """SMS-DELIVER (23.040 §9.2.2.1), SC to MS, with the SMSC field in front.

    ``timestamp`` is TP-SCTS, timezone-aware. ``more_messages_to_send`` is True
    when TP-MMS says the SC holds more (the bit is then 0).
    """

    originator: Address
    timestamp: datetime
    user_data: UserData
    data_coding: DataCoding = GSM7
    udh: tuple[InformationElement, ...] | None = None
    protocol_identifier: int = 0
    more_messages_to_send: bool = False
    status_report_indication: bool = False
    reply_path: bool = False
    loop_prevention: bool = False
    smsc: Address | None = None
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.udh is not None:
            object.__setattr__(self, "udh", _normalize_udh(self.udh))
        object.__setattr__(self, "timestamp", _whole_seconds(self.timestamp))
        _check_octet(self.protocol_identifier, "TP-PID")
        first = (
            _MTI_DELIVER
            | (0 if self.more_messages_to_send else _RD_OR_MMS)
            | (_LP if self.loop_prevention else 0)
            | (_SRR_SRI_SRQ if self.status_report_indication else 0)
            | (_UDHI if self.udh is not None else 0)
            | (_RP if self.reply_path else 0)
        )
        tpdu = (
            bytes((first,))
            + _encode_address(self.originator)
            + bytes((self.protocol_identifier, self.data_coding.value))
            + _encode_timestamp(self.timestamp, field="TP-SCTS")
            + _encode_user_data(self.data_coding, self.udh, self.user_data)
        )
        object.__setattr__(self, "_encoded", _encode_smsc(self.smsc) + tpdu)

    @property
    def concat(self) -> Concat | None:
        """(reference, total, sequence) when this is part of a concatenated message."""
        return _concat_of(self.udh)

    @property
    def ports(self) -> Ports | None:
        """(destination, source) application ports from the UDH, if any."""
        return _ports_of(self.udh)

    def to_bytes(self) -> bytes:
        """SMSC field + TPDU."""
        return self._encoded

    @property
    def hex(self) -> str:
        """The PDU in upper-case hex, as ``+CMGR`` / ``+CMT`` show it."""
        return self._encoded.hex().upper()

    @property
    def tpdu_length(self) -> int:
        """TPDU octets, SMSC field excluded (the ``<length>`` of ``+CMT`` / ``+CMGR``)."""
        return len(self._encoded) - 1 - self._encoded[0]


@dataclass(frozen=True)
class StatusReportPdu:
    """SMS-STATUS-REPORT (23.040 §9.2.2.3): what happened to a SUBMIT sent with TP-SRR.

    ``message_reference`` is the TP-MR of that SUBMIT (what ``+CMGS: <mr>`` said),
    ``status`` the TP-ST octet (§9.2.3.15; see :attr:`delivered`). TP-PID, TP-DCS
    and TP-UD are optional; None when absent.
    """

    message_reference: int
    recipient: Address
    timestamp: datetime
    discharge_time: datetime
    status: int
    protocol_identifier: int | None = None
    data_coding: DataCoding | None = None
    user_data: UserData | None = None
    udh: tuple[InformationElement, ...] | None = None
    more_messages_to_send: bool = False
    loop_prevention: bool = False
    status_report_qualifier: bool = False
    smsc: Address | None = None
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.udh is not None:
            object.__setattr__(self, "udh", _normalize_udh(self.udh))
        object.__setattr__(self, "timestamp", _whole_seconds(self.timestamp))
        object.__setattr__(self, "discharge_time", _whole_seconds(self.discharge_time))
        _check_octet(self.message_reference, "TP-MR")
        _check_octet(self.status, "TP-ST")
        if self.protocol_identifier is not None:
            _check_octet(self.protocol_identifier, "TP-PID")
        if self.udh is not None and self.user_data is None:
            raise SmsPduError("a UDH needs TP-UD (user_data) to travel in", field="UDH")
        has_ud = self.user_data is not None
        first = (
            _MTI_STATUS_REPORT
            | (0 if self.more_messages_to_send else _RD_OR_MMS)
            | (_LP if self.loop_prevention else 0)
            | (_SRR_SRI_SRQ if self.status_report_qualifier else 0)
            | (_UDHI if self.udh is not None else 0)
        )
        tpdu = bytearray((first, self.message_reference))
        tpdu += _encode_address(self.recipient)
        tpdu += _encode_timestamp(self.timestamp, field="TP-SCTS")
        tpdu += _encode_timestamp(self.discharge_time, field="TP-DT")
        tpdu.append(self.status)
        indicator = (
            (0x01 if self.protocol_identifier is not None else 0)
            | (0x02 if self.data_coding is not None else 0)
            | (0x04 if has_ud else 0)
        )
        if indicator:
            tpdu.append(indicator)
        if self.protocol_identifier is not None:
            tpdu.append(self.protocol_identifier)
        if self.data_coding is not None:
            tpdu.append(self.data_coding.value)
        if self.user_data is not None:
            tpdu += _encode_user_data(self.data_coding or GSM7, self.udh, self.user_data)
        object.__setattr__(self, "_encoded", _encode_smsc(self.smsc) + bytes(tpdu))

    @property
    def delivered(self) -> bool:
        """TP-ST 0x00-0x1F: the SC completed the transaction (delivered, forwarded or replaced)."""
        return self.status < 0x20

    @property
    def final(self) -> bool:
        """False while the SC is still trying (TP-ST 0x20-0x3F, temporary error)."""
        return not 0x20 <= self.status < 0x40

    def to_bytes(self) -> bytes:
        """SMSC field + TPDU."""
        return self._encoded

    @property
    def hex(self) -> str:
        """The PDU in upper-case hex, as ``+CDS`` shows it."""
        return self._encoded.hex().upper()

    @property
    def tpdu_length(self) -> int:
        """TPDU octets, SMSC field excluded."""
        return len(self._encoded) - 1 - self._encoded[0]


Pdu: TypeAlias = DeliverPdu | SubmitPdu | StatusReportPdu


# --------------------------------------------------------------------------------------------
# Decoding


def _start(pdu: str | bytes | bytearray, includes_smsc: bool) -> tuple[_Reader, Address | None, int]:
    reader = _Reader(_pdu_bytes(pdu))
    smsc = _decode_smsc(reader) if includes_smsc else None
    first = reader.octet("first octet")
    return reader, smsc, first


def _expect(first: int, mti: int, offset: int) -> None:
    if first & 0b11 != mti:
        raise SmsPduError(
            f"expected {_MTI_NAMES[mti]}, but TP-MTI {first & 0b11:02b} is {_MTI_NAMES[first & 0b11]}",
            field="TP-MTI",
            offset=offset,
        )


def _decode_deliver_body(reader: _Reader, smsc: Address | None, first: int) -> DeliverPdu:
    originator = _decode_address(reader, "TP-OA")
    pid = reader.octet("TP-PID")
    coding = DataCoding(reader.octet("TP-DCS"))
    scts_at = reader.pos
    timestamp = _decode_timestamp(reader.take(7, "TP-SCTS"), field="TP-SCTS", offset=scts_at)
    udh, user_data = _decode_user_data(reader, coding, bool(first & _UDHI))
    return DeliverPdu(
        originator=originator,
        timestamp=timestamp,
        user_data=user_data,
        data_coding=coding,
        udh=udh,
        protocol_identifier=pid,
        more_messages_to_send=not first & _RD_OR_MMS,
        status_report_indication=bool(first & _SRR_SRI_SRQ),
        reply_path=bool(first & _RP),
        loop_prevention=bool(first & _LP),
        smsc=smsc,
    )


def _decode_submit_body(reader: _Reader, smsc: Address | None, first: int) -> SubmitPdu:
    reference = reader.octet("TP-MR")
    destination = _decode_address(reader, "TP-DA")
    pid = reader.octet("TP-PID")
    coding = DataCoding(reader.octet("TP-DCS"))
    validity = _decode_validity(reader, (first >> 3) & 0b11)
    udh, user_data = _decode_user_data(reader, coding, bool(first & _UDHI))
    return SubmitPdu(
        destination=destination,
        user_data=user_data,
        data_coding=coding,
        udh=udh,
        message_reference=reference,
        protocol_identifier=pid,
        validity_period=validity,
        reject_duplicates=bool(first & _RD_OR_MMS),
        status_report_request=bool(first & _SRR_SRI_SRQ),
        reply_path=bool(first & _RP),
        smsc=smsc,
    )


def _decode_status_report_body(reader: _Reader, smsc: Address | None, first: int) -> StatusReportPdu:
    reference = reader.octet("TP-MR")
    recipient = _decode_address(reader, "TP-RA")
    at = reader.pos
    timestamp = _decode_timestamp(reader.take(7, "TP-SCTS"), field="TP-SCTS", offset=at)
    at = reader.pos
    discharge = _decode_timestamp(reader.take(7, "TP-DT"), field="TP-DT", offset=at)
    status = reader.octet("TP-ST")
    pid: int | None = None
    coding: DataCoding | None = None
    udh: tuple[InformationElement, ...] | None = None
    user_data: UserData | None = None
    if not reader.at_end:  # TP-PI and what it announces are optional (23.040 §9.2.3.27)
        indicator = reader.octet("TP-PI")
        while reader.data[reader.pos - 1] & 0x80:  # extension octets: nothing defined in them yet
            reader.octet("TP-PI")
        if indicator & 0x01:
            pid = reader.octet("TP-PID")
        if indicator & 0x02:
            coding = DataCoding(reader.octet("TP-DCS"))
        if indicator & 0x04:
            udh, user_data = _decode_user_data(reader, coding or GSM7, bool(first & _UDHI))
    reader.finish("TP-PI" if user_data is None else "TP-UD")
    if first & _UDHI and udh is None:
        raise SmsPduError("TP-UDHI is set but there is no TP-UD", field="TP-UDHI")
    return StatusReportPdu(
        message_reference=reference,
        recipient=recipient,
        timestamp=timestamp,
        discharge_time=discharge,
        status=status,
        protocol_identifier=pid,
        data_coding=coding,
        user_data=user_data,
        udh=udh,
        more_messages_to_send=not first & _RD_OR_MMS,
        loop_prevention=bool(first & _LP),
        status_report_qualifier=bool(first & _SRR_SRI_SRQ),
        smsc=smsc,
    )


_BODY_DECODERS: dict[int, Callable[[_Reader, Address | None, int], Pdu]] = {
    _MTI_DELIVER: _decode_deliver_body,
    _MTI_SUBMIT: _decode_submit_body,
    _MTI_STATUS_REPORT: _decode_status_report_body,
}


def decode(pdu: str | bytes | bytearray, *, includes_smsc: bool = True) -> Pdu:
    """Decode a PDU by its TP-MTI: SMS-DELIVER, SMS-SUBMIT or SMS-STATUS-REPORT.

    ``pdu`` is hex text (whitespace ignored) or raw octets. ``includes_smsc``
    says whether the SMSC field leads, as in 27.005 PDU mode (``+CMGR``,
    ``+CMT``, ``+CDS``); pass False for a bare TPDU. MTI 00/01/10 are read in the
    direction a modem's PDUs take (received DELIVER, stored SUBMIT, received
    STATUS-REPORT); MTI 11 is reserved and raises :class:`SmsPduError`.
    """
    reader, smsc, first = _start(pdu, includes_smsc)
    mti = first & 0b11
    if mti not in _BODY_DECODERS:
        raise SmsPduError("TP-MTI 11 is reserved", field="TP-MTI", offset=reader.pos - 1)
    return _BODY_DECODERS[mti](reader, smsc, first)


def decode_deliver(pdu: str | bytes | bytearray, *, includes_smsc: bool = True) -> DeliverPdu:
    """Decode an SMS-DELIVER; any other TPDU type raises :class:`SmsPduError`."""
    reader, smsc, first = _start(pdu, includes_smsc)
    _expect(first, _MTI_DELIVER, reader.pos - 1)
    return _decode_deliver_body(reader, smsc, first)


def decode_submit(pdu: str | bytes | bytearray, *, includes_smsc: bool = True) -> SubmitPdu:
    """Decode an SMS-SUBMIT; any other TPDU type raises :class:`SmsPduError`."""
    reader, smsc, first = _start(pdu, includes_smsc)
    _expect(first, _MTI_SUBMIT, reader.pos - 1)
    return _decode_submit_body(reader, smsc, first)


def decode_status_report(pdu: str | bytes | bytearray, *, includes_smsc: bool = True) -> StatusReportPdu:
    """Decode an SMS-STATUS-REPORT; any other TPDU type raises :class:`SmsPduError`."""
    reader, smsc, first = _start(pdu, includes_smsc)
    _expect(first, _MTI_STATUS_REPORT, reader.pos - 1)
    return _decode_status_report_body(reader, smsc, first)


# --------------------------------------------------------------------------------------------
# Encoding whole messages


def _choose_alphabet(payload: UserData, encoding: str) -> Alphabet:
    if encoding == "auto":
        if isinstance(payload, bytes):
            return "8bit"
        return "gsm7" if gsm7_encodable(payload) else "ucs2"
    if encoding not in _ALPHABET_BITS:
        raise SmsPduError(f"unknown encoding {encoding!r}; use 'auto', 'gsm7', '8bit' or 'ucs2'", field="TP-DCS")
    if encoding != "8bit" and not isinstance(payload, str):
        raise SmsPduError(f"{encoding} carries text; pass a str, or bytes with encoding='8bit'", field="TP-UD")
    return _GENERAL_ALPHABETS[_ALPHABET_BITS[encoding]]


def _units(payload: UserData, alphabet: Alphabet) -> list[tuple[UserData, int]]:
    """The payload as indivisible pieces with their cost (septets or octets).

    A GSM 7-bit escape stays with the septet it extends (a part ending in ESC would
    leave the receiver a lone escape, 23.038 §6.2.1.1); a UTF-16 surrogate pair
    stays whole.
    """
    if isinstance(payload, bytes):
        return [(payload[index : index + 1], 1) for index in range(len(payload))]
    if alphabet == "gsm7":
        return [(ch, len(_GSM7_ENCODE[ch])) for ch in payload]
    return [(ch, len(ch.encode("utf-16-be", "surrogatepass"))) for ch in payload]


def _capacity(alphabet: Alphabet, udh: Sequence[InformationElement]) -> int:
    header = len(_encode_udh(udh)) if udh else 0
    if alphabet == "gsm7":
        return MAX_SEPTETS - (_septets_for_octets(header) if header else 0)
    return MAX_USER_DATA_OCTETS - header


def _split(payload: UserData, alphabet: Alphabet, capacity: int) -> list[UserData]:
    chunks: list[UserData] = []
    pieces: list[UserData] = []
    used = 0
    for piece, cost in _units(payload, alphabet):
        if used + cost > capacity:
            chunks.append(_join(pieces, payload))
            pieces, used = [], 0
        pieces.append(piece)
        used += cost
    chunks.append(_join(pieces, payload))
    return chunks


def _join(pieces: Sequence[UserData], like: UserData) -> UserData:
    if isinstance(like, bytes):
        return b"".join(piece for piece in pieces if isinstance(piece, bytes))
    return "".join(piece for piece in pieces if isinstance(piece, str))


def encode_submit(
    destination: str | Address,
    payload: bytes | str,
    *,
    reference: int,
    encoding: Literal["auto", "gsm7", "8bit", "ucs2"] = "auto",
    message_class: int | None = None,
    validity: timedelta | datetime | None = None,
    request_status_report: bool = False,
    smsc: str | Address | None = None,
    concat_ref_bits: Literal[8, 16] = 8,
    ports: tuple[int, int] | None = None,
    message_reference: int = 0,
    protocol_identifier: int = 0,
    reject_duplicates: bool = False,
) -> list[SubmitPdu]:
    """Encode ``payload`` for ``destination`` as one SMS-SUBMIT, or as many as it takes.

    * ``destination`` / ``smsc``: ``"+4477..."`` (international), ``"0129..."``
      (unknown TON), any other text alphanumeric, or an :class:`Address`. No
      ``smsc`` means the one stored in the module (``AT+CSCA``).
    * ``encoding``: ``"auto"`` sends bytes as 8-bit and text as GSM 7-bit when
      every character has a GSM code, else UCS2 (UTF-16). ``"8bit"`` with text
      sends its UTF-8 bytes.
    * ``message_class``: 0-3 (see :meth:`DataCoding.for_alphabet`); 8-bit class 2
      is TP-DCS 0xF6.
    * ``validity``: a timedelta (relative TP-VP, rounded up to the next value it
      can state, at most 63 weeks) or an aware datetime (absolute TP-VP).
    * ``reference``: the concatenation reference, 0-255 (or 0-65535 with
      ``concat_ref_bits=16``); the caller keeps the counter so it survives
      restarts. Used only when the payload needs more than one part.
    * ``ports``: (destination, source) 16-bit application ports (IEI 0x05).
    * ``message_reference``: TP-MR of the first part, incremented per part (many
      modems overwrite it).

    One part holds 140 octets (160 GSM septets); concatenation costs its UDH
    (134/133 octets, 153/152 septets, 67/66 UCS2 code units with an 8/16-bit
    reference). Raises :class:`SmsPduError` for anything that cannot be encoded.
    """
    address = _as_address(destination)
    service_centre = None if smsc is None else _as_address(smsc)
    alphabet = _choose_alphabet(payload, encoding)
    body: UserData = payload.encode() if alphabet == "8bit" and isinstance(payload, str) else payload
    coding = DataCoding.for_alphabet(alphabet, message_class)
    if concat_ref_bits not in (8, 16):
        raise SmsPduError(f"concat_ref_bits is 8 or 16, not {concat_ref_bits!r}", field="UDH")
    InformationElement.concatenation(reference, 1, 1, reference_bits=concat_ref_bits)  # range check
    _check_octet(message_reference, "TP-MR")
    port_ies = () if ports is None else (InformationElement.port_addressing(*ports),)
    if alphabet == "gsm7" and isinstance(body, str):
        _gsm7_encode(body)  # say which character does not fit before splitting

    chunks = _split(body, alphabet, _capacity(alphabet, port_ies))
    if len(chunks) > 1:
        placeholder = InformationElement.concatenation(0, 1, 1, reference_bits=concat_ref_bits)
        chunks = _split(body, alphabet, _capacity(alphabet, (*port_ies, placeholder)))
        if len(chunks) > MAX_PARTS:
            raise SmsPduError(f"the payload needs {len(chunks)} parts; concatenation allows {MAX_PARTS}", field="UDH")

    pdus = []
    for sequence, chunk in enumerate(chunks, start=1):
        elements = port_ies
        if len(chunks) > 1:
            concat = InformationElement.concatenation(reference, len(chunks), sequence, reference_bits=concat_ref_bits)
            elements = (*port_ies, concat)
        pdus.append(
            SubmitPdu(
                destination=address,
                user_data=chunk,
                data_coding=coding,
                udh=elements or None,
                message_reference=(message_reference + sequence - 1) % 256,
                protocol_identifier=protocol_identifier,
                validity_period=validity,
                reject_duplicates=reject_duplicates,
                status_report_request=request_status_report,
                smsc=service_centre,
            )
        )
    return pdus


# --------------------------------------------------------------------------------------------
# Reassembly

Part: TypeAlias = DeliverPdu | SubmitPdu


def _peer(part: Part) -> Address:
    return part.originator if isinstance(part, DeliverPdu) else part.destination


def _join_user_data(parts: Sequence[Part]) -> UserData:
    texts = [part.user_data for part in parts]
    if all(isinstance(text, bytes) for text in texts):
        return b"".join(text for text in texts if isinstance(text, bytes))
    if all(isinstance(text, str) for text in texts):
        joined = "".join(text for text in texts if isinstance(text, str))
        # Re-pair a surrogate pair a sender split across two parts.
        return joined.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    raise SmsPduError("the parts mix text and 8-bit data; read them one by one from .parts", field="TP-DCS")


@dataclass(frozen=True)
class SmsMessage:
    """A whole message: one PDU, or every part of a concatenated one in order."""

    parts: tuple[Part, ...]

    @property
    def peer(self) -> Address:
        """TP-OA of a received message (TP-DA of a submitted one)."""
        return _peer(self.parts[0])

    @property
    def reference(self) -> int | None:
        """The concatenation reference, None for a single-part message."""
        concat = self.parts[0].concat
        return None if concat is None else concat.reference

    @property
    def ports(self) -> Ports | None:
        """Application ports from the first part that carries them."""
        return next((part.ports for part in self.parts if part.ports is not None), None)

    @property
    def user_data(self) -> UserData:
        """The parts' user data joined; raises :class:`SmsPduError` if they mix text and bytes."""
        return _join_user_data(self.parts)


@dataclass(frozen=True)
class IncompleteMessage:
    """Parts of a concatenated message that did not all arrive.

    ``reason`` is ``"timeout"`` (see :meth:`Reassembler.expire`), ``"superseded"``
    (a different part with the same number arrived: the reference was reused) or
    ``"evicted"`` (too many messages pending).
    """

    peer: Address
    reference: int
    total: int
    parts: tuple[Part, ...]
    first_seen: float
    reason: Literal["timeout", "superseded", "evicted"]

    @property
    def missing(self) -> tuple[int, ...]:
        """Part numbers (1-based) that never arrived."""
        have = {part.concat.sequence for part in self.parts if part.concat is not None}
        return tuple(sequence for sequence in range(1, self.total + 1) if sequence not in have)


_Key: TypeAlias = tuple[Address, int, int]


@dataclass
class _Pending:
    first_seen: float
    parts: dict[int, Part]


def _same_content(one: Part, other: Part) -> bool:
    return one.user_data == other.user_data and one.udh == other.udh and one.data_coding == other.data_coding


class Reassembler:
    """Joins concatenated parts (23.040 §9.2.3.24.1) into whole messages; sans-IO, time passed in.

    Parts are keyed by peer address, reference and total; they may arrive in any
    order. An identical repeat of a part (an SC retry) is dropped, even shortly
    after its message completed. A single-part message comes straight back.
    Incomplete messages are never dropped silently: :meth:`expire` hands them over
    once ``timeout`` seconds passed since their first part.
    """

    def __init__(self, *, timeout: float = DEFAULT_REASSEMBLY_TIMEOUT, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if timeout <= 0 or max_pending < 1:
            raise SmsPduError(f"timeout must be positive and max_pending at least 1, not {timeout}, {max_pending}")
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[_Key, _Pending] = {}
        self._completed: dict[_Key, tuple[float, dict[int, Part]]] = {}
        self._given_up: list[IncompleteMessage] = []

    @property
    def pending(self) -> int:
        """How many concatenated messages wait for parts."""
        return len(self._pending)

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has something to say (None: nothing pending), for the caller's timer."""
        if self._given_up:
            return min(message.first_seen for message in self._given_up)
        if not self._pending:
            return None
        return min(entry.first_seen for entry in self._pending.values()) + self.timeout

    def add(self, part: Part, now: float) -> SmsMessage | None:
        """Take one decoded part; return the whole message once its last part is in, else None."""
        concat = part.concat
        if concat is None:
            return SmsMessage((part,))
        key = (_peer(part), concat.reference, concat.total)
        recent = self._completed.get(key)
        if recent is not None:
            seen = recent[1].get(concat.sequence)
            if now - recent[0] < self.timeout and seen is not None and _same_content(seen, part):
                return None  # a late repeat of a message already handed over
            del self._completed[key]
        entry = self._pending.get(key)
        if entry is not None and concat.sequence in entry.parts:
            if _same_content(entry.parts[concat.sequence], part):
                return None
            self._give_up(key, "superseded")
            entry = None
        if entry is None:
            entry = self._pending[key] = _Pending(now, {})
            if len(self._pending) > self.max_pending:
                oldest = min(self._pending, key=lambda pending: self._pending[pending].first_seen)
                self._give_up(oldest, "evicted")
        entry.parts[concat.sequence] = part
        if len(entry.parts) < concat.total:
            return None
        del self._pending[key]
        self._completed[key] = (now, entry.parts)
        return SmsMessage(tuple(entry.parts[sequence] for sequence in sorted(entry.parts)))

    def expire(self, now: float) -> list[IncompleteMessage]:
        """Hand over messages still incomplete ``timeout`` seconds after their first part, and any given up."""
        for key in [key for key, entry in self._pending.items() if now - entry.first_seen >= self.timeout]:
            self._give_up(key, "timeout")
        for key in [key for key, (done, _) in self._completed.items() if now - done >= self.timeout]:
            del self._completed[key]
        given_up, self._given_up = self._given_up, []
        return sorted(given_up, key=lambda message: message.first_seen)

    def _give_up(self, key: _Key, reason: Literal["timeout", "superseded", "evicted"]) -> None:
        entry = self._pending.pop(key)
        parts = tuple(entry.parts[sequence] for sequence in sorted(entry.parts))
        self._given_up.append(IncompleteMessage(key[0], key[1], key[2], parts, entry.first_seen, reason))
