"""The oneM2M request query: primitive parameters <-> ``name=value`` items (TS-0009 §6.2.2.2).

TS-0009 §6.2.2.2 (Table 6.2.2.2-1) puts the request parameters that have no header
of their own in the HTTP query string; TS-0008 §6.2.2.3 writes the CoAP Uri-Query the
same way. This module is that mapping, once, for both bindings (pure functions):

* :func:`request_query_items` -- a request primitive (and a partial retrieve's
  attribute names) -> ``[(name, value), ...]``, each item escaped for its transport;
* :func:`query_to_parameters` -- received ``(name, value)`` items -> the request
  parameters (a :class:`FilterCriteria` included), or a typed
  :class:`OneM2MProtocolError` (rsc 4000) for anything malformed;
* :func:`partial_retrieve` / :func:`request_fields` -- ``To#attr`` and
  ``{"m2m:atrl": [...]}`` to ``atrl`` and back, ``rt`` from the query's responseType
  and the notificationURIs the binding carries elsewhere.

The rules, for both bindings:

* Names are the short names of Table 6.2.2.2-1 plus the TS-0004 R4 filter conditions
  the table does not list yet (clbl, plbl, chty, pty, arp); ``gnty`` (the table) and
  ``gmtty`` (its example 4) are read as ``gmty`` (TS-0004's, and ACME's, spelling).
* Multiplicity 0..n: the values joined by ``+`` (``ty=2+3+4``); a repeated 0..n name
  adds up, a repeated 0..1 name is an error. ``+`` separates in *every* value, so a
  literal ``+`` (or ``%``) is always percent-encoded and nothing else needs to know
  which names are lists; an attribute condition with several values comes back as a list.
* Attribute conditions (``atr``, ``catr``, ``patr``) are ``<attr>=<value>``, with
  ``c.``/``p.`` before a child's/parent's attribute name; every name outside the
  table reads as one. A condition name that would read back as something else (a
  table name, or ``c.``/``p.`` unprefixed) is refused when writing.
* Values: integers in decimal (only ASCII digits are read back, at most
  :data:`MAX_DIGITS`), booleans ``true``/``false`` (``0``/``1`` and any case read
  too), ``rp`` an m2m:absRelTimestamp (digits: relative milliseconds), text as it is.
  Percent-encoding is read as UTF-8 and nothing else.
* Order: the table's (``rt, rp, rcn, da``, the filter criteria in
  :class:`FilterCriteria` field order, ``drt, rids, [tkns,] tids, ltids, tqi, asi,
  auri, sqi``), then ``atrl``, then any parameters the primitive does not name
  (``extra``). It reproduces the examples of §6.2.2.2 (``ty=3&cr=Sam&fu=1``).

The two transports differ where their RFCs do, in :class:`QueryDialect`:

* :data:`HTTP_QUERY`: items joined by ``&`` into an RFC 3986 query, so every
  character outside ``pchar`` and the oneM2M delimiters ``& = + #`` are
  percent-encoded (``[``, ``]``, ``?``, space, non-ASCII ...). Tokens travel in
  ``Authorization`` (TS-0009 §6.4.19), so ``tkns`` is not a query name here.
* :data:`COAP_URI_QUERY`: one Uri-Query option per item. An option value is a UTF-8
  string that is not percent-encoded (RFC 7252 §5.10.1, §6.4), so text goes raw;
  only ``%`` and ``+`` (the escape and the list separator) and ``=`` (it ends the
  name; ACME also drops an item whose value holds one) are escaped. ``&`` needs no
  escaping: it separates nothing inside an option. ``tkns`` goes in the query
  (TS-0008 has no option for it) and ``op`` is the binding's own (TS-0008 §6.2.1's
  non-blocking POST): reserved when writing, handed back untouched when reading.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

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
    ResponseType,
    ResponseTypeInfo,
)

__all__ = [
    "COAP_URI_QUERY",
    "HTTP_QUERY",
    "MAX_DIGITS",
    "QueryDialect",
    "QueryParameters",
    "enum_or_int",
    "non_negative_int",
    "number_or_text",
    "partial_retrieve",
    "query_to_parameters",
    "request_fields",
    "request_query_items",
    "scalar_text",
]

#: Digits in a number a peer may send (2**64 has 20); longer is garbage, and Python's
#: int() refuses more than 4300 digits with a ValueError of its own.
MAX_DIGITS = 20


# ---------------------------------------------------------------------------
# Text values, shared with the bindings' header and option decoders
# ---------------------------------------------------------------------------


def non_negative_int(text: str, where: str) -> int:
    """A decimal of ASCII digits (no sign, no spaces, no '_', at most :data:`MAX_DIGITS`)."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise OneM2MProtocolError(f"{text!r:.40} is not a non-negative integer", where=where)
    return int(text)


def number_or_text(text: str, where: str) -> str | int:
    """ASCII digits are a number, anything else stays text: an m2m:absRelTimestamp
    (relative milliseconds or a timestamp, TS-0004 §6.3.3) or an event category."""
    if not (text.isascii() and text.isdigit()):
        return text
    if len(text) > MAX_DIGITS:
        raise OneM2MProtocolError(f"a {len(text)}-digit number is not a oneM2M value", where=where)
    return int(text)


def enum_or_int(enum_type: type[enum.IntEnum], value: int) -> int:
    """The ``enum_type`` member for ``value`` if there is one (a nicer repr), else ``value``."""
    try:
        return enum_type(value)
    except ValueError:
        return value


# ---------------------------------------------------------------------------
# Dialects: what differs between the HTTP query string and CoAP Uri-Query options
# ---------------------------------------------------------------------------

# RFC 3986: query = *( pchar / "/" / "?" ). Kept as they are: the sub-delims except
# the oneM2M delimiters '&' '=' '+' (and '#', which would end the query), ':' '@' '/'.
# '?' '[' ']' are escaped with everything else (TS-0009 §6.2.2.2 example 3 does).
_URL_SAFE = "/!$'()*,;:@"
# In a CoAP option only the escape character, the list separator and the name/value
# separator need escaping.
_OPTION_SPECIAL = re.compile("[%+=]")


def _escape_url(text: str) -> str:
    return quote(text, safe=_URL_SAFE)


def _escape_option(text: str) -> str:
    return _OPTION_SPECIAL.sub(lambda match: f"%{ord(match.group()):02X}", text)


@dataclasses.dataclass(frozen=True)
class QueryDialect:
    """How one binding spells the query (see the module notes)."""

    where: str  # the place named in errors: "query", "Uri-Query"
    escape: Callable[[str], str]  # escapes one name, or one value (one list element)
    tokens: bool  # tkns is a query name (TS-0008) rather than a header's (TS-0009 §6.4.19)
    binding_names: frozenset[str] = frozenset()  # names the binding itself reads (CoAP: op)

    @property
    def reserved(self) -> frozenset[str]:
        """Every name that means something other than an attribute condition."""
        names = _RESERVED | self.binding_names
        return names | {"tkns"} if self.tokens else names


HTTP_QUERY = QueryDialect(where="query", escape=_escape_url, tokens=False)
COAP_URI_QUERY = QueryDialect(where="Uri-Query", escape=_escape_option, tokens=True, binding_names=frozenset({"op"}))


# ---------------------------------------------------------------------------
# The table: name -> how the value is written and read
# ---------------------------------------------------------------------------


def scalar_text(value: Any, what: str) -> str:
    """A parameter value as text: ``true``/``false``, an enum's value, a number, a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (int, float, str)):
        return str(value)
    raise OneM2MUsageError(f"{what}: {type(value).__name__} {value!r:.40} cannot be written as text")


def _w_text(value: Any, what: str) -> list[str]:
    return [scalar_text(value, what)]


def _w_int(value: Any, what: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OneM2MUsageError(f"{what} must be a non-negative integer, got {value!r:.40}")
    return [str(int(value))]


def _w_bool(value: Any, what: str) -> list[str]:
    if not isinstance(value, bool):
        raise OneM2MUsageError(f"{what} must be a bool, got {value!r:.40}")
    return ["true" if value else "false"]


def _w_texts(value: Any, what: str) -> list[str]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise OneM2MUsageError(f"{what} must be a tuple of strings, got {value!r:.60}")
    return list(value)


def _w_ints(value: Any, what: str) -> list[str]:
    if not isinstance(value, (tuple, list)):
        raise OneM2MUsageError(f"{what} must be a tuple of integers, got {value!r:.60}")
    return [text for v in value for text in _w_int(v, what)]


def _unquote(text: str, where: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise OneM2MProtocolError(f"percent-encoding is not UTF-8: {text!r:.40}", where=where) from None


def _r_text(raw: str, where: str) -> str:
    return _unquote(raw, where)


def _r_int(raw: str, where: str) -> int:
    return non_negative_int(_unquote(raw, where), where)


def _r_enum(enum_type: type[enum.IntEnum]) -> Callable[[str, str], int]:
    return lambda raw, where: enum_or_int(enum_type, _r_int(raw, where))


_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def _r_bool(raw: str, where: str) -> bool:
    # Table 6.2.2.2-1: "Allowed values are ... 'false', 'true', '0' and '1'".
    text = _unquote(raw, where)
    value = _BOOLS.get(text.lower())
    if value is None:
        raise OneM2MProtocolError(f"{text!r:.40} is not a boolean: must be true, false, 1 or 0", where=where)
    return value


def _r_time(raw: str, where: str) -> str | int:
    return number_or_text(_unquote(raw, where), where)


def _r_texts(raw: str, where: str) -> tuple[str, ...]:
    return tuple(_unquote(piece, where) for piece in raw.split("+"))


def _r_types(raw: str, where: str) -> tuple[int, ...]:
    return tuple(enum_or_int(ResourceType, _r_int(piece, where)) for piece in raw.split("+"))


@dataclasses.dataclass(frozen=True)
class _Param:
    write: Callable[[Any, str], list[str]]  # value -> its list elements, unescaped
    read: Callable[[str, str], Any]  # (raw value, where) -> value
    listed: bool = False  # multiplicity 0..n: a tuple; repeated names add up


_TEXT = _Param(_w_text, _r_text)
_TIME = _Param(_w_text, _r_time)
_INT = _Param(_w_int, _r_int)
_BOOL = _Param(_w_bool, _r_bool)
_TEXTS = _Param(_w_texts, _r_texts, listed=True)
_TYPES = _Param(_w_ints, _r_types, listed=True)


def _enum(enum_type: type[enum.IntEnum]) -> _Param:
    return _Param(_w_int, _r_enum(enum_type))


# Request parameters (Table 6.2.2.2-1 and TS-0008's tkns), in the order they are
# written; "fc" marks where the filter criteria go. rt and atrl are handled apart.
_REQUEST: Mapping[str, _Param] = {
    "rp": _TIME,
    "rcn": _enum(Rcn),
    "da": _BOOL,
    "drt": _enum(DiscoveryResultType),
    "rids": _TEXTS,
    "tkns": _TEXTS,
    "tids": _TEXTS,
    "ltids": _TEXTS,
    "tqi": _BOOL,  # the table says 0..n, but Token Request Indicator is one boolean (TS-0004 §8.2.2)
    "asi": _BOOL,
    "auri": _BOOL,
    "sqi": _BOOL,
}
_REQUEST_ORDER = ("rp", "rcn", "da", "fc", "drt", "rids", "tkns", "tids", "ltids", "tqi", "asi", "auri", "sqi")

# Filter criteria conditions (TS-0004 §6.3.5.8); atr, catr and patr are the attribute conditions.
_FC: Mapping[str, _Param] = {
    "crb": _TEXT,
    "cra": _TEXT,
    "ms": _TEXT,
    "us": _TEXT,
    "sts": _INT,
    "stb": _INT,
    "exb": _TEXT,
    "exa": _TEXT,
    "lbl": _TEXTS,
    "clbl": _TEXTS,
    "plbl": _TEXTS,
    "ty": _TYPES,
    "chty": _TYPES,
    "pty": _TYPES,
    "sza": _INT,
    "szb": _INT,
    "cty": _TEXTS,
    "fu": _enum(FilterUsage),
    "lim": _INT,
    "smf": _TEXTS,
    "fo": _enum(FilterOperation),
    "cfs": _INT,
    "cfq": _TEXT,
    "lvl": _INT,
    "ofst": _INT,
    "arp": _TEXT,
    "gmty": _INT,
    "geom": _TEXT,
    "gsf": _INT,
}
_CONDITIONS = (("atr", ""), ("catr", "c."), ("patr", "p."))
_FC_ORDER = tuple(f.name for f in dataclasses.fields(FilterCriteria) if f.name != "extra")
_FC_EMPTY = FilterCriteria()
# Table 6.2.2.2-1 prints geometryType as "gnty", its example 4 as "gmtty".
_ALIASES = {"gnty": "gmty", "gmtty": "gmty"}
_RESERVED = frozenset(_REQUEST) - {"tkns"} | frozenset(_FC) | frozenset(_ALIASES) | {"rt", "atrl"}


# ---------------------------------------------------------------------------
# Request primitive -> items
# ---------------------------------------------------------------------------


def _item(dialect: QueryDialect, name: str, texts: Sequence[str]) -> tuple[str, str]:
    for text in (name, *texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise OneM2MUsageError(f"{name}: {text!r:.40} has an unpaired surrogate; it cannot travel") from None
    return dialect.escape(name), "+".join(dialect.escape(text) for text in texts)


def _condition_texts(value: Any, what: str) -> list[str]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise OneM2MUsageError(f"{what}: an empty list cannot be written in a query")
        return [scalar_text(item, what) for item in value]
    return [scalar_text(value, what)]


def _condition_name(dialect: QueryDialect, name: Any, prefix: str, what: str) -> str:
    """``prefix + name``, if a receiver reads it back as this condition."""
    if (
        not isinstance(name, str)
        or not name
        or (not prefix and (name in dialect.reserved or name.startswith(("c.", "p."))))
    ):
        raise OneM2MUsageError(
            f"{what} condition name {name!r:.40} cannot be a query field name",
            hint="use an attribute short name such as 'cr'; reserved names have their own FilterCriteria field",
        )
    return prefix + name


def _filter_items(fc: FilterCriteria, dialect: QueryDialect) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    prefixes = dict(_CONDITIONS)
    for name in _FC_ORDER:
        value = getattr(fc, name)
        if value is None or value == getattr(_FC_EMPTY, name):
            continue
        prefix = prefixes.get(name)
        if prefix is None:
            items.append(_item(dialect, name, _FC[name].write(value, f"fc.{name}")))
            continue
        for condition in value:
            if not isinstance(condition, Attribute):
                raise OneM2MUsageError(f"fc.{name} must hold Attribute(nm, val) conditions, got {condition!r:.60}")
            key = _condition_name(dialect, condition.nm, prefix, f"fc.{name}")
            items.append(_item(dialect, key, _condition_texts(condition.val, f"fc.{name}.{condition.nm}")))
    for name, value in fc.extra.items():
        key = _condition_name(dialect, name, "", "fc.extra")
        items.append(_item(dialect, key, _condition_texts(value, f"fc.{name}")))
    return items


def request_query_items(
    request: RequestPrimitive, attributes: Sequence[str] = (), dialect: QueryDialect = HTTP_QUERY
) -> list[tuple[str, str]]:
    """The query items of ``request``: ``[(name, value), ...]``, escaped for ``dialect``.

    ``attributes`` are a partial retrieve's names (:func:`partial_retrieve`), written
    as ``atrl=a+b``. ``rt`` is written whenever the request has one (its
    responseTypeValue only: the notificationURIs travel in X-M2M-RTU / oneM2M-RTURI).
    Parameters the primitive does not name (``request.extra``, e.g. ACME's ``ma``)
    come last as they are; a receiver reads them as attribute conditions, and a
    binding that cannot carry them refuses them first. :class:`OneM2MUsageError`
    for a value the query cannot carry.
    """
    items: list[tuple[str, str]] = []
    if request.rt is not None:
        items.append(_item(dialect, "rt", _w_int(request.rt.rtv, "rt")))
    for name in _REQUEST_ORDER:
        if name == "fc":
            if request.fc is not None:
                items.extend(_filter_items(request.fc, dialect))
            continue
        if name == "tkns" and not dialect.tokens:
            continue
        value = getattr(request, name)
        if value is not None and value != ():
            items.append(_item(dialect, name, _REQUEST[name].write(value, name)))
    if attributes:
        items.append(_item(dialect, "atrl", list(attributes)))
    for name, value in request.extra.items():
        items.append(_item(dialect, _condition_name(dialect, name, "", "extra"), _condition_texts(value, name)))
    return items


# ---------------------------------------------------------------------------
# Items -> request parameters
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QueryParameters:
    """What a query carries, as :func:`query_to_parameters` reads it."""

    fields: Mapping[str, Any]  # RequestPrimitive keyword arguments; "fc" a FilterCriteria
    rtv: int | None = None  # rt's responseTypeValue (its nu travels elsewhere)
    atrl: tuple[str, ...] = ()  # a partial retrieve's attribute names
    binding: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # e.g. {"op": ("2",)}


def _condition(name: str, raw: str, where: str) -> tuple[str, Attribute]:
    key, attribute = "atr", name
    for field, prefix in _CONDITIONS[1:]:
        if name.startswith(prefix) and len(name) > len(prefix):
            key, attribute = field, name[len(prefix) :]
            break
    values = _r_texts(raw, where)
    return key, Attribute(nm=attribute, val=values[0] if len(values) == 1 else list(values))


def _repeated(name: str, where: str) -> OneM2MProtocolError:
    return OneM2MProtocolError(
        f"{name} appears twice; it may appear once (multiplicity 0..1, TS-0009 Table 6.2.2.2-1)", where=where
    )


def query_to_parameters(items: Iterable[tuple[str, str]], dialect: QueryDialect = HTTP_QUERY) -> QueryParameters:
    """Read received ``(name, value)`` items, both still escaped as they arrived.

    Names are percent-decoded, values split at ``+`` and then percent-decoded, so an
    escaped ``%2B`` stays a ``+``. Names outside the table are attribute conditions;
    the dialect's binding names (CoAP's ``op``) are handed back in
    :attr:`QueryParameters.binding`. :class:`OneM2MProtocolError` (rsc 4000) for
    anything malformed: no name, a bad number or boolean, a repeated 0..1 name,
    percent-encoding that is not UTF-8, an ``rt`` outside 1..5, an empty ``atrl`` name.
    """
    fields: dict[str, Any] = {}
    fc: dict[str, Any] = {}
    conditions: dict[str, list[Attribute]] = {key: [] for key, _ in _CONDITIONS}
    binding: dict[str, tuple[str, ...]] = {}
    rtv: int | None = None
    atrl: list[str] = []
    for raw_name, raw in items:
        name = _unquote(raw_name, dialect.where)
        name = _ALIASES.get(name, name)
        where = f"{dialect.where} {name}"
        if not name:
            raise OneM2MProtocolError(f"{raw_name}={raw!r:.40} has no name", where=dialect.where)
        if name in dialect.binding_names:
            binding[name] = (*binding.get(name, ()), _unquote(raw, where))
        elif name == "rt":
            if rtv is not None:
                raise _repeated(name, where)
            rtv = enum_or_int(ResponseType, _r_int(raw, where))
            if not isinstance(rtv, ResponseType):
                raise OneM2MProtocolError(f"{raw!r:.20} is not a responseType (1..5)", where=where)
        elif name == "atrl":
            names = _r_texts(raw, where)
            if not all(names):
                raise OneM2MProtocolError(f"{raw!r:.40} names an empty attribute", where=where)
            atrl.extend(names)
        elif (name in _REQUEST and (name != "tkns" or dialect.tokens)) or name in _FC:
            param = _FC.get(name) or _REQUEST[name]
            target = fc if name in _FC else fields
            value = param.read(raw, where)
            if param.listed:
                target[name] = target.get(name, ()) + value
            elif name in target:
                raise _repeated(name, where)
            else:
                target[name] = value
        else:
            key, condition = _condition(name, raw, where)
            conditions[key].append(condition)
    fc.update({key: tuple(found) for key, found in conditions.items() if found})
    if fc:
        fields["fc"] = FilterCriteria(**fc)
    return QueryParameters(fields=fields, rtv=rtv, atrl=tuple(atrl), binding=binding)


# ---------------------------------------------------------------------------
# Partial retrieve and rt, both ways
# ---------------------------------------------------------------------------


def _atrl_content(pc: Mapping[str, Any]) -> list[str]:
    names = pc.get("m2m:atrl") if set(pc) == {"m2m:atrl"} else None
    if isinstance(names, str):
        names = names.split()  # the XML list form, "ri lbl rr"
    if not (isinstance(names, (list, tuple)) and names and all(isinstance(n, str) and n for n in names)):
        raise OneM2MUsageError(
            f"a RETRIEVE carries no content except an attribute list {{'m2m:atrl': [names]}}, got {sorted(pc)!r:.80}",
            hint="a partial RETRIEVE's attribute names are sent as atrl= in the query (TS-0009 §6.2.2.2)",
        )
    return list(names)


def partial_retrieve(request: RequestPrimitive) -> tuple[str, list[str]]:
    """``To`` without its ``#attribute``, and the ``atrl`` names (TS-0009 §6.2.2.2).

    For a RETRIEVE: the attribute after ``#`` in To, then the names of content
    ``{"m2m:atrl": [...]}`` (a RETRIEVE carries no other content). Any other
    operation gets no names; ``#`` in its To is a :class:`OneM2MUsageError`, and its
    content is the binding's to send.
    """
    to, hash_sign, fragment = request.to.partition("#")
    retrieve = request.op is Operation.RETRIEVE
    if hash_sign and (not retrieve or not fragment):
        raise OneM2MUsageError(
            f"'#attribute' in To is only for a partial RETRIEVE, got {request.to!r:.60} in a {request.op.name}"
        )
    attributes = [fragment] if hash_sign else []
    if retrieve and request.pc is not None:
        attributes.extend(_atrl_content(request.pc))
    return to, attributes


def request_fields(
    query: QueryParameters,
    *,
    op: Operation,
    to: str,
    pc: Mapping[str, Any] | None,
    nu: tuple[str, ...] | None,
    dialect: QueryDialect = HTTP_QUERY,
) -> dict[str, Any]:
    """RequestPrimitive keyword arguments from the query, ``to``, ``pc`` and ``rt``'s ``nu``.

    ``rt`` is made when the query has one or the binding found notificationURIs
    (``nu`` not None: X-M2M-RTU, oneM2M-RTURI); blockingRequest when only the latter.
    One ``atrl`` name goes back after ``#`` in To, several into content
    ``{"m2m:atrl": [...]}`` (§6.2.2.2 allows either for one; this round-trips
    ``To#attr``). ``atrl`` outside a RETRIEVE without content is a
    :class:`OneM2MProtocolError`.
    """
    fields = dict(query.fields)
    if query.rtv is not None or nu is not None:
        rtv = query.rtv if query.rtv is not None else ResponseType.BLOCKING_REQUEST
        fields["rt"] = ResponseTypeInfo(rtv=rtv, nu=nu or ())
    if query.atrl:
        if op is not Operation.RETRIEVE or pc is not None:
            raise OneM2MProtocolError(
                "atrl (partial retrieve) is only for a RETRIEVE without content", where=f"{dialect.where} atrl"
            )
        if len(query.atrl) == 1:
            to = f"{to}#{query.atrl[0]}"
        else:
            pc = {"m2m:atrl": list(query.atrl)}
    fields.update(to=to, pc=pc)
    return fields
