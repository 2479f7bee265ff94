"""JSON and CBOR serialization of oneM2M content and of whole primitives (sans-IO).

Two layers:

* **Content** (the ``pc`` parameter, an HTTP/CoAP body): :func:`serialize_content`
  and :func:`deserialize_content`, selected by media type (TS-0004 §6.7;
  TS-0009 §6.4.3 adds ``;ty=N`` for CREATE).
* **Whole primitives** (TS-0004 §8 short names; what a WebSocket frame carries,
  TS-0020 §6.2.2.9, and what a <pollingChannel> returns):
  :func:`encode_request` / :func:`decode_request`, :func:`encode_response` /
  :func:`decode_response` and :func:`decode_primitive`, plus the dict-level
  :func:`request_to_dict` & co. for primitives nested in content.

Decoding trusts nothing: JSON is UTF-8 only, without NaN/Infinity or duplicate
member names (RFC 8259 §4, §6, §8.1); CBOR must be exactly one data item without
duplicate map keys, with text keys and no semantic tags (RFC 8949 §5.6); nesting
is bounded; and every failure is a :class:`OneM2MProtocolError` saying what and
where. Encoding problems are the caller's: :class:`OneM2MUsageError`.
"""

from __future__ import annotations

import enum
import io
import json
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from m2mclient.onem2m.primitives import (
    Attribute,
    DiscoveryResultType,
    FilterCriteria,
    FilterOperation,
    FilterUsage,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    Rcn,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    ResponseTypeInfo,
)
from m2mclient.strict_json import STRICT_DECODER


class Format(str, enum.Enum):
    """A serialization format m2mclient speaks (XML, TS-0004 §8.3, is not supported)."""

    JSON = "json"
    CBOR = "cbor"

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------------------
# Media types (TS-0004 §6.7, Table 6.7-1; TS-0009 §6.4.2/§6.4.3)
# ---------------------------------------------------------------------------

MEDIA_JSON = "application/json"
MEDIA_CBOR = "application/cbor"
MEDIA_RES_JSON = "application/vnd.onem2m-res+json"  # resource representations
MEDIA_RES_CBOR = "application/vnd.onem2m-res+cbor"
MEDIA_NTFY_JSON = "application/vnd.onem2m-ntfy+json"  # notifications
MEDIA_NTFY_CBOR = "application/vnd.onem2m-ntfy+cbor"
MEDIA_ATTRS_JSON = "application/vnd.onem2m-attrs+json"  # attribute lists (partial retrieve)
MEDIA_ATTRS_CBOR = "application/vnd.onem2m-attrs+cbor"
MEDIA_PREQ_JSON = "application/vnd.onem2m-preq+json"  # whole request primitives
MEDIA_PREQ_CBOR = "application/vnd.onem2m-preq+cbor"
MEDIA_PRSP_JSON = "application/vnd.onem2m-prsp+json"  # whole response primitives
MEDIA_PRSP_CBOR = "application/vnd.onem2m-prsp+cbor"

_MEDIA_FORMATS: Mapping[str, Format] = {
    MEDIA_JSON: Format.JSON,
    MEDIA_CBOR: Format.CBOR,
    MEDIA_RES_JSON: Format.JSON,
    MEDIA_RES_CBOR: Format.CBOR,
    MEDIA_NTFY_JSON: Format.JSON,
    MEDIA_NTFY_CBOR: Format.CBOR,
    MEDIA_ATTRS_JSON: Format.JSON,
    MEDIA_ATTRS_CBOR: Format.CBOR,
    MEDIA_PREQ_JSON: Format.JSON,
    MEDIA_PREQ_CBOR: Format.CBOR,
    MEDIA_PRSP_JSON: Format.JSON,
    MEDIA_PRSP_CBOR: Format.CBOR,
}

_PLAIN_MEDIA = {Format.JSON: MEDIA_JSON, Format.CBOR: MEDIA_CBOR}
_RES_MEDIA = {Format.JSON: MEDIA_RES_JSON, Format.CBOR: MEDIA_RES_CBOR}


@dataclass(frozen=True)
class MediaType:
    """A parsed Content-Type / Accept element: ``essence`` is lower-case ``type/subtype``."""

    essence: str
    format: Format
    ty: int | None = None  # the ;ty= parameter of a CREATE (TS-0009 §6.4.3)
    params: Mapping[str, str] | None = None


def parse_media_type(value: str) -> MediaType:
    """Parse ``"application/vnd.onem2m-res+json; ty=2"``; 4015 :class:`OneM2MProtocolError` if unusable.

    Type, subtype and parameter names are case-insensitive (RFC 9110 §8.3.1).
    """
    if not isinstance(value, str):
        raise OneM2MUsageError(f"a media type is a string, got {type(value).__name__}")
    essence, *raw_params = (part.strip() for part in value.split(";"))
    essence = essence.lower()
    params: dict[str, str] = {}
    for raw in raw_params:
        if not raw:
            continue
        name, sep, param_value = raw.partition("=")
        if not sep or not name.strip():
            raise OneM2MProtocolError(f"malformed media type parameter {raw!r}", where="Content-Type")
        params[name.strip().lower()] = param_value.strip().strip('"')
    fmt = _MEDIA_FORMATS.get(essence)
    if fmt is None:
        fmt = Format.JSON if essence.endswith("+json") else Format.CBOR if essence.endswith("+cbor") else None
    if fmt is None:
        raise OneM2MProtocolError(
            f"unsupported media type {essence!r}; m2mclient reads JSON and CBOR",
            where="Content-Type",
            rsc=ResponseStatusCode.UNSUPPORTED_MEDIA_TYPE,
        )
    ty: int | None = None
    if "ty" in params:
        if not params["ty"].isdigit():
            raise OneM2MProtocolError(f"ty={params['ty']!r} is not a resource type number", where="Content-Type")
        ty = int(params["ty"])
    return MediaType(essence=essence, format=fmt, ty=ty, params=params)


def content_type(fmt: Format | str, ty: int | None = None, *, vendor: bool = False) -> str:
    """The Content-Type for content in ``fmt``; with ``ty`` for a CREATE (TS-0009 §6.4.3).

    ``vendor=True`` gives the ``application/vnd.onem2m-res+...`` form; the plain
    form is shorter and ACME accepts both.
    """
    fmt = _format(fmt)
    essence = (_RES_MEDIA if vendor else _PLAIN_MEDIA)[fmt]
    return essence if ty is None else f"{essence};ty={int(ty)}"


def _format(fmt: Format | str) -> Format:
    try:
        return Format(fmt)
    except ValueError:
        raise OneM2MUsageError(f"unknown format {fmt!r}; use Format.JSON or Format.CBOR") from None


# ---------------------------------------------------------------------------
# Strict JSON and CBOR
# ---------------------------------------------------------------------------

#: Deepest nesting accepted. A <CSEBase> retrieved with rcn=4 nests about three
#: levels per resource-tree level; 100 leaves room for deep trees and user content
#: while keeping recursion far below Python's limit (~1000).
MAX_NESTING = 100

# CBOR major types 0 and 1 carry integers in [-2**64, 2**64 - 1] (RFC 8949 §3.1);
# anything wider needs bignum tags, which oneM2M does not use.
_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


class _BadValueError(Exception):
    """Raised while walking a value; collects the path on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _path(parts: list[str]) -> str:
    text = ""
    for part in parts:
        text += part if part.startswith("[") else (f".{part}" if text else part)
    return text


def _plain(value: Any, depth: int, allow_bytes: bool) -> Any:
    """A copy of ``value`` made of dict/list/str/int/float/bool/None (+bytes), or raise _BadValueError."""
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and not _is_utf8_clean(value):
            raise _BadValueError("text contains an unpaired surrogate (not Unicode scalar values)")
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise _BadValueError(f"integer {value} does not fit 64 bits")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        if not allow_bytes:
            raise _BadValueError("bytes cannot be written as JSON (use CBOR, or base64 text with cnf encoding 1/2)")
        return bytes(value)
    if depth >= MAX_NESTING:
        raise _BadValueError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _BadValueError(f"map key {key!r:.40} is not text")
            try:
                result[key.value if isinstance(key, enum.Enum) else key] = _plain(item, depth + 1, allow_bytes)
            except _BadValueError as bad:
                bad.path.insert(0, key)
                raise
        return result
    if isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_plain(item, depth + 1, allow_bytes))
            except _BadValueError as bad:
                bad.path.insert(0, f"[{index}]")
                raise
        return items
    raise _BadValueError(f"{type(value).__name__} ({value!r:.40}) is not a JSON/CBOR data model value")


def _is_utf8_clean(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True




def _json_loads(data: bytes | str, what: str) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw.startswith(b"\xef\xbb\xbf"):
            raise OneM2MProtocolError(
                f"{what}: JSON text starts with a byte order mark (RFC 8259 §8.1)", where="byte 0"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OneM2MProtocolError(
                f"{what}: JSON text is not UTF-8 ({exc.reason})", where=f"byte {exc.start}"
            ) from None
    elif isinstance(data, str):
        text = data
    else:
        raise OneM2MUsageError(f"{what}: expected bytes or str, got {type(data).__name__}")
    try:
        value = STRICT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise OneM2MProtocolError(f"{what}: malformed JSON: {exc.msg}", where=f"character {exc.pos}") from None
    except RecursionError:
        raise OneM2MProtocolError(f"{what}: JSON nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:  # StrictJsonError, and int() past sys.get_int_max_str_digits()
        raise OneM2MProtocolError(f"{what}: malformed JSON: {exc}") from None
    return _checked(value, what, allow_bytes=False)


def _cbor_loads(data: bytes, what: str) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OneM2MUsageError(f"{what}: CBOR is binary; expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    stream = io.BytesIO(raw)
    decoder = cbor2.CBORDecoder(stream, max_depth=MAX_NESTING, allow_duplicate_keys=False)
    try:
        value = decoder.decode()
    except RecursionError:
        raise OneM2MProtocolError(f"{what}: CBOR nested deeper than {MAX_NESTING} levels") from None
    except Exception as exc:  # cbor2 raises CBORDecodeError, ValueError, TypeError, OverflowError, ...
        raise OneM2MProtocolError(f"{what}: malformed CBOR: {exc}", where=f"byte {stream.tell()}") from None
    if stream.tell() != len(raw):
        raise OneM2MProtocolError(
            f"{what}: {len(raw) - stream.tell()} bytes after the CBOR data item (RFC 8949 §5.6)",
            where=f"byte {stream.tell()}",
        )
    return _checked(value, what, allow_bytes=True)


def _checked(value: Any, what: str, *, allow_bytes: bool) -> Any:
    try:
        return _plain(value, 0, allow_bytes)
    except _BadValueError as bad:
        raise OneM2MProtocolError(f"{what}: {bad.message}", where=_path(bad.path) or None) from None
    except RecursionError:
        raise OneM2MProtocolError(f"{what}: nested too deeply") from None


def _encode_float(encoder: cbor2.CBOREncoder, value: float) -> None:
    """The narrowest float that keeps the value (RFC 8949 §4.2.2 preferred serialization)."""
    for fmt, head in ((">e", b"\xf9"), (">f", b"\xfa")):
        try:
            packed = struct.pack(fmt, value)
        except OverflowError:
            continue
        back = struct.unpack(fmt, packed)[0]
        if back == value or (math.isnan(value) and math.isnan(back)):
            encoder.write(head + packed)
            return
    encoder.write(b"\xfb" + struct.pack(">d", value))


def _dumps(value: Any, fmt: Format, what: str) -> bytes:
    try:
        plain = _plain(value, 0, allow_bytes=fmt is Format.CBOR)
    except _BadValueError as bad:
        where = _path(bad.path)
        raise OneM2MUsageError(
            f"{what} cannot be serialized as {fmt.value.upper()}: {bad.message}" + (f" (at {where})" if where else "")
        ) from None
    if fmt is Format.JSON:
        try:
            return json.dumps(plain, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        except ValueError as exc:  # NaN / Infinity
            raise OneM2MUsageError(f"{what} cannot be serialized as JSON: {exc}") from None
    return cbor2.dumps(plain, encoders={float: _encode_float})


def _loads(data: bytes | str, fmt: Format, what: str) -> Any:
    return _json_loads(data, what) if fmt is Format.JSON else _cbor_loads(data, what)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Content (pc)
# ---------------------------------------------------------------------------


def serialize_content(pc: Mapping[str, Any], fmt: Format | str = Format.JSON) -> bytes:
    """Serialize a Content parameter (e.g. ``{"m2m:cin": {...}}``) as compact JSON or CBOR.

    JSON is UTF-8 without spaces; CBOR keeps key order and uses the shortest
    float that keeps each value. :class:`OneM2MUsageError` for values JSON/CBOR
    cannot carry (NaN in JSON, bytes in JSON, sets, datetimes, ...).
    """
    if not isinstance(pc, Mapping):
        raise OneM2MUsageError(f"content must be a mapping like {{'m2m:cin': {{...}}}}, got {type(pc).__name__}")
    return _dumps(pc, _format(fmt), "content")


def deserialize_content(data: bytes | str, media_type: str | MediaType | Format) -> dict[str, Any] | None:
    """Parse a body as the Content parameter; None for an empty body.

    ``media_type`` is the Content-Type header (``"application/json;ty=4"``), a
    parsed :class:`MediaType`, or a :class:`Format`. The content must be a JSON
    object / CBOR map (TS-0004 §6.3.5.5 m2m:primitiveContent); anything else is a
    :class:`OneM2MProtocolError`.
    """
    if isinstance(media_type, MediaType):
        fmt = media_type.format
    elif isinstance(media_type, Format):
        fmt = media_type
    else:
        fmt = parse_media_type(media_type).format
    if len(data) == 0:
        return None
    value = _loads(data, fmt, "content")
    if not isinstance(value, dict):
        raise OneM2MProtocolError(
            f"content must be an object such as {{'m2m:cin': {{...}}}}, got {_kind(value)}", where="content"
        )
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# ---------------------------------------------------------------------------
# Parameter codecs: one row per short name (TS-0004 §8.2.2), no if-ladders
# ---------------------------------------------------------------------------

Decode = Callable[[Any, str], Any]
Encode = Callable[[Any], Any]


def _bad(where: str, message: str) -> OneM2MProtocolError:
    return OneM2MProtocolError(message, where=where)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dec_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(where, f"must be a string, got {_kind(value)}")
    return value


def _dec_nonempty_str(value: Any, where: str) -> str:
    if _dec_str(value, where) == "":
        raise _bad(where, "must not be empty")
    return str(value)


def _dec_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(where, f"must be a boolean, got {_kind(value)}")
    return value


def _dec_int_as(enum_type: type[enum.IntEnum] | None) -> Decode:
    def decode(value: Any, where: str) -> int:
        if not _is_int(value):
            raise _bad(where, f"must be an integer, got {_kind(value)} {value!r:.40}")
        if enum_type is None:
            return int(value)
        try:
            return enum_type(value)
        except ValueError:
            return int(value)

    return decode


def _dec_time(value: Any, where: str) -> str | int:
    if isinstance(value, str) or _is_int(value):
        return value  # type: ignore[no-any-return]
    raise _bad(where, f"must be a timestamp string or milliseconds, got {_kind(value)}")


def _dec_int_or_str(value: Any, where: str) -> int | str:
    if isinstance(value, str) or _is_int(value):
        return value  # type: ignore[no-any-return]
    raise _bad(where, f"must be an integer or a string, got {_kind(value)}")


def _dec_strs(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value  # a lone string is a list of one
    if not isinstance(items, list):
        raise _bad(where, f"must be a list of strings, got {_kind(value)}")
    return tuple(_dec_str(item, f"{where}[{i}]") for i, item in enumerate(items))


def _dec_ints(value: Any, where: str) -> tuple[int, ...]:
    items = [value] if _is_int(value) else value
    if not isinstance(items, list):
        raise _bad(where, f"must be a list of integers, got {_kind(value)}")
    return tuple(_dec_int_as(None)(item, f"{where}[{i}]") for i, item in enumerate(items))


def _dec_resource_types(value: Any, where: str) -> tuple[int, ...]:
    return tuple(_lookup_ty(v) for v in _dec_ints(value, where))


def _lookup_ty(value: int) -> int:
    try:
        return ResourceType(value)
    except ValueError:
        return value


def _dec_map(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"must be an object, got {_kind(value)}")
    return value


def _dec_any(value: Any, where: str) -> Any:
    return value


def _dec_op(value: Any, where: str) -> Operation:
    if not _is_int(value):
        raise _bad(where, f"must be an integer 1..5, got {_kind(value)} {value!r:.20}")
    try:
        return Operation(value)
    except ValueError:
        raise _bad(where, f"{value} is not an Operation (1..5, TS-0004 §6.3.4.2.5)") from None


def _dec_ty(value: Any, where: str) -> int:
    if not _is_int(value):
        raise _bad(where, f"must be a resource type number, got {_kind(value)}")
    return _lookup_ty(value)


def _dec_rsc(value: Any, where: str) -> int:
    if not _is_int(value) or not 1000 <= value <= 6999:
        raise _bad(where, f"must be a Response Status Code 1000..6999, got {value!r:.20}")
    return ResponseStatusCode.lookup(value)


def _dec_rt(value: Any, where: str) -> ResponseTypeInfo:
    if _is_int(value):  # Release 1 sent the bare responseType
        return ResponseTypeInfo(rtv=_dec_int_as(ResponseType)(value, where))
    info = _dec_map(value, where)
    unknown = set(info) - {"rtv", "nu"}
    if unknown:
        raise _bad(where, f"unknown responseTypeInfo element(s) {sorted(unknown)}")
    if "rtv" not in info:
        raise _bad(where, "responseTypeInfo needs rtv (TS-0004 §6.3.5.30)")
    return ResponseTypeInfo(
        rtv=_dec_int_as(ResponseType)(info["rtv"], f"{where}.rtv"),
        nu=_dec_strs(info["nu"], f"{where}.nu") if "nu" in info else (),
    )


def _enc_rt(info: ResponseTypeInfo) -> dict[str, Any]:
    wire: dict[str, Any] = {"rtv": int(info.rtv)}
    if info.nu:
        wire["nu"] = list(info.nu)
    return wire


def _dec_attrs(value: Any, where: str) -> tuple[Attribute, ...]:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise _bad(where, f"must be a list of {{nm, val}} objects, got {_kind(value)}")
    result = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        entry = _dec_map(item, at)
        if set(entry) != {"nm", "val"}:
            raise _bad(at, f"an attribute condition has exactly nm and val, got {sorted(entry)}")
        result.append(Attribute(nm=_dec_str(entry["nm"], f"{at}.nm"), val=entry["val"]))
    return tuple(result)


def _enc_attrs(attrs: tuple[Attribute, ...]) -> list[dict[str, Any]]:
    return [{"nm": a.nm, "val": a.val} for a in attrs]


def _enc_same(value: Any) -> Any:
    return value


def _enc_int(value: Any) -> int:
    return int(value)


def _enc_list(value: Any) -> list[Any]:
    return [int(v) if isinstance(v, enum.IntEnum) else v for v in value]


@dataclass(frozen=True)
class _Param:
    decode: Decode
    encode: Encode = _enc_same


_STR = _Param(_dec_str)
_BOOL = _Param(_dec_bool)
_TIME = _Param(_dec_time)
_STRS = _Param(_dec_strs, _enc_list)
_MAP = _Param(_dec_map)
_ANY = _Param(_dec_any)


def _int_param(enum_type: type[enum.IntEnum] | None = None) -> _Param:
    return _Param(_dec_int_as(enum_type), _enc_int)


# FilterCriteria elements, TS-0004 §6.3.5.8 (encoding order = this order).
_FC_PARAMS: Mapping[str, _Param] = {
    "crb": _STR,
    "cra": _STR,
    "ms": _STR,
    "us": _STR,
    "sts": _int_param(),
    "stb": _int_param(),
    "exb": _STR,
    "exa": _STR,
    "lbl": _STRS,
    "clbl": _STRS,
    "plbl": _STRS,
    "ty": _Param(_dec_resource_types, _enc_list),
    "chty": _Param(_dec_resource_types, _enc_list),
    "pty": _Param(_dec_resource_types, _enc_list),
    "sza": _int_param(),
    "szb": _int_param(),
    "cty": _STRS,
    "atr": _Param(_dec_attrs, _enc_attrs),
    "catr": _Param(_dec_attrs, _enc_attrs),
    "patr": _Param(_dec_attrs, _enc_attrs),
    "fu": _int_param(FilterUsage),
    "lim": _int_param(),
    "smf": _STRS,
    "fo": _int_param(FilterOperation),
    "cfs": _int_param(),
    "cfq": _STR,
    "lvl": _int_param(),
    "ofst": _int_param(),
    "arp": _STR,
    "gmty": _int_param(),
    "geom": _STR,
    "gsf": _int_param(),
}
_FC_EMPTY = FilterCriteria()


def _dec_fc(value: Any, where: str) -> FilterCriteria:
    wire = _dec_map(value, where)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, item in wire.items():
        param = _FC_PARAMS.get(key)
        if param is None:
            extra[key] = item
        else:
            known[key] = param.decode(item, f"{where}.{key}")
    return FilterCriteria(**known, extra=extra)


def _enc_fc(fc: FilterCriteria) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for key, param in _FC_PARAMS.items():
        value = getattr(fc, key)
        if value != getattr(_FC_EMPTY, key):
            wire[key] = param.encode(value)
    wire.update(fc.extra)
    return wire


# Request primitive parameters, TS-0004 §7.2.1.1 / §8.2.2. The order is the
# encoding order; op, to, fr, rqi, rvi, ty, pc first, as ACME and TS-0020 Annex A do.
_REQUEST_PARAMS: Mapping[str, _Param] = {
    "op": _Param(_dec_op, _enc_int),
    "to": _Param(_dec_nonempty_str),
    "fr": _STR,
    "rqi": _Param(_dec_nonempty_str),
    "rvi": _STR,
    "ty": _Param(_dec_ty, _enc_int),
    "pc": _MAP,
    "ot": _STR,
    "rqet": _TIME,
    "rset": _TIME,
    "oet": _TIME,
    "rt": _Param(_dec_rt, _enc_rt),
    "rp": _TIME,
    "rcn": _int_param(Rcn),
    "ec": _Param(_dec_int_or_str, _enc_same),
    "da": _BOOL,
    "gid": _STR,
    "fc": _Param(_dec_fc, _enc_fc),
    "drt": _int_param(DiscoveryResultType),
    "rids": _STRS,
    "tkns": _STRS,
    "tids": _STRS,
    "ltids": _STRS,
    "tqi": _BOOL,
    "gtm": _STRS,
    "asi": _BOOL,
    "aus": _STRS,
    "auri": _BOOL,
    "sqi": _BOOL,
    "omr": _STRS,
    "prpi": _STR,
    "msu": _STR,
    "vsi": _STR,
}
_REQUEST_MANDATORY = ("op", "to", "rqi")  # TS-0004 §7.3.1.1; fr may be absent in AE CREATE

# Response primitive parameters, TS-0004 §7.2.1.2 / §8.2.2.
_RESPONSE_PARAMS: Mapping[str, _Param] = {
    "rsc": _Param(_dec_rsc, _enc_int),
    "rqi": _STR,
    "rvi": _STR,
    "to": _STR,
    "fr": _STR,
    "ot": _STR,
    "rset": _TIME,
    "ec": _Param(_dec_int_or_str, _enc_same),
    "pc": _MAP,
    "cnst": _int_param(),
    "cnot": _int_param(),
    "ati": _ANY,
    "tqf": _ANY,
    "asri": _ANY,
    "vsi": _STR,
}

_REQUEST_WRAPPERS = ("m2m:rqp", "m2m:requestPrimitive")
_RESPONSE_WRAPPERS = ("m2m:rsp", "m2m:responsePrimitive")


def _unwrap(obj: Any, wrappers: tuple[str, ...], where: str) -> tuple[dict[str, Any], str]:
    if not isinstance(obj, dict):
        raise _bad(where or "primitive", f"a primitive is an object, got {_kind(obj)}")
    if len(obj) == 1:
        (key,) = obj
        if key in wrappers:
            return _dec_map(obj[key], f"{where}.{key}" if where else key), f"{where}.{key}" if where else key
    return obj, where


def _to_dict(primitive: Any, params: Mapping[str, _Param]) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for key, param in params.items():
        value = getattr(primitive, key)
        if value is not None:
            wire[key] = param.encode(value)
    wire.update(primitive.extra)
    return wire


def _from_dict(wire: dict[str, Any], params: Mapping[str, _Param], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in wire.items():
        param = params.get(key)
        if param is None:
            extra[key] = value
        elif value is not None:  # null means absent (TS-0004 §8.4: omitted parameters)
            known[key] = param.decode(value, f"{where}.{key}" if where else key)
    return known, extra


def request_to_dict(request: RequestPrimitive, *, wrap: bool = False) -> dict[str, Any]:
    """The short-name dict of a request primitive (TS-0004 §8.2.2); ``wrap`` adds ``m2m:rqp``."""
    if not isinstance(request, RequestPrimitive):
        raise OneM2MUsageError(f"expected a RequestPrimitive, got {type(request).__name__}")
    wire = _to_dict(request, _REQUEST_PARAMS)
    return {"m2m:rqp": wire} if wrap else wire


def response_to_dict(response: ResponsePrimitive, *, wrap: bool = False) -> dict[str, Any]:
    """The short-name dict of a response primitive (TS-0004 §8.2.2); ``wrap`` adds ``m2m:rsp``."""
    if not isinstance(response, ResponsePrimitive):
        raise OneM2MUsageError(f"expected a ResponsePrimitive, got {type(response).__name__}")
    wire = _to_dict(response, _RESPONSE_PARAMS)
    return {"m2m:rsp": wire} if wrap else wire


def request_from_dict(obj: Any, *, where: str = "") -> RequestPrimitive:
    """A request primitive from its short-name dict, bare or wrapped in ``m2m:rqp``.

    Unknown parameters are kept in ``extra``. :class:`OneM2MProtocolError` names
    the first bad parameter (``where`` prefixes its path, e.g. ``"pc.m2m:rqp"``).
    """
    wire, where = _unwrap(obj, _REQUEST_WRAPPERS, where)
    for key in _REQUEST_MANDATORY:
        if wire.get(key) is None:
            raise _bad(f"{where}.{key}" if where else key, "mandatory request parameter is missing (TS-0004 §7.2.1.1)")
    known, extra = _from_dict(wire, _REQUEST_PARAMS, where)
    try:
        return RequestPrimitive(**known, extra=extra)
    except OneM2MUsageError as exc:  # should not happen after the checks above
        raise _bad(where or "primitive", exc.reason or str(exc)) from None


def response_from_dict(obj: Any, *, where: str = "") -> ResponsePrimitive:
    """A response primitive from its short-name dict, bare or wrapped in ``m2m:rsp``."""
    wire, where = _unwrap(obj, _RESPONSE_WRAPPERS, where)
    if wire.get("rsc") is None:
        raise _bad(f"{where}.rsc" if where else "rsc", "mandatory response parameter is missing (TS-0004 §7.2.1.2)")
    known, extra = _from_dict(wire, _RESPONSE_PARAMS, where)
    try:
        return ResponsePrimitive(**known, extra=extra)
    except OneM2MUsageError as exc:
        raise _bad(where or "primitive", exc.reason or str(exc)) from None


def primitive_from_dict(obj: Any, *, where: str = "") -> RequestPrimitive | ResponsePrimitive:
    """A request (it has ``op``) or a response (it has ``rsc``), bare or wrapped."""
    if isinstance(obj, dict) and len(obj) == 1:
        (key,) = obj
        if key in _REQUEST_WRAPPERS:
            return request_from_dict(obj, where=where)
        if key in _RESPONSE_WRAPPERS:
            return response_from_dict(obj, where=where)
    if not isinstance(obj, dict):
        raise _bad(where or "primitive", f"a primitive is an object, got {_kind(obj)}")
    has_op, has_rsc = "op" in obj, "rsc" in obj
    if has_op and not has_rsc:
        return request_from_dict(obj, where=where)
    if has_rsc and not has_op:
        return response_from_dict(obj, where=where)
    raise _bad(
        where or "primitive",
        "both op and rsc present: cannot tell request from response"
        if has_op
        else "neither op (request) nor rsc (response) present",
    )


# ---------------------------------------------------------------------------
# Whole primitives on the wire (TS-0020 §6.2.2.9: one primitive per WS message)
# ---------------------------------------------------------------------------


def encode_request(request: RequestPrimitive, fmt: Format | str = Format.JSON, *, wrap: bool = False) -> bytes:
    """Serialize a request primitive (JSON for a WS text frame, CBOR for a binary frame).

    ACME sends and expects the bare object; ``wrap=True`` gives the
    ``{"m2m:rqp": {...}}`` form of TS-0020 Annex A.
    """
    return _dumps(request_to_dict(request, wrap=wrap), _format(fmt), "request primitive")


def encode_response(response: ResponsePrimitive, fmt: Format | str = Format.JSON, *, wrap: bool = False) -> bytes:
    """Serialize a response primitive; ``wrap=True`` gives ``{"m2m:rsp": {...}}``."""
    return _dumps(response_to_dict(response, wrap=wrap), _format(fmt), "response primitive")


def decode_request(data: bytes | str, fmt: Format | str = Format.JSON) -> RequestPrimitive:
    """Parse a serialized request primitive (bare or ``m2m:rqp``-wrapped)."""
    return request_from_dict(_loads(data, _format(fmt), "request primitive"))


def decode_response(data: bytes | str, fmt: Format | str = Format.JSON) -> ResponsePrimitive:
    """Parse a serialized response primitive (bare or ``m2m:rsp``-wrapped)."""
    return response_from_dict(_loads(data, _format(fmt), "response primitive"))


def decode_primitive(data: bytes | str, fmt: Format | str = Format.JSON) -> RequestPrimitive | ResponsePrimitive:
    """Parse whatever a WebSocket peer sent: a request (has ``op``) or a response (has ``rsc``).

    Choose ``fmt`` by the frame's opcode (text = JSON, binary = CBOR), not by the
    negotiated subprotocol: ACME sends JSON notifications on a CBOR connection
    unless the AE's ``csz`` asks for CBOR.
    """
    return primitive_from_dict(_loads(data, _format(fmt), "primitive"))
