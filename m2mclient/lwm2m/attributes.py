"""<NOTIFICATION> class attributes: parsing Write-Attributes, validating them, and their precedence.

LwM2M Core 1.2 §5.1.2 defines the attributes a server attaches to an object, an
object instance, a resource or a resource instance to shape notifications::

    pmin, pmax    minimum / maximum period between notifications (s)
    gt, lt, st    greater-than / less-than thresholds and step (numeric resources)
    epmin, epmax  minimum / maximum evaluation period (s)
    edge          notify on the rising (1) or falling (0) edge (boolean resources)
    con           send notifications confirmable (1) or not (0)
    hqmax         maximum historical queue (LwM2M 1.2)

The server writes them with a CoAP PUT and a query (``/3/0/9?pmin=10&gt=20.5``,
transport bindings §6.4); a name without a value removes that attribute from the
level. Everything here is plain data and pure functions: :func:`parse_write_attributes`
turns Uri-Query items into an :class:`AttributeUpdate`, :func:`validate` checks the
§5.1.2 rules for a target, and :class:`AttributeStore` keeps what each server
attached where and resolves the effective set by precedence (§5.1.2: resource
instance > resource > object instance > object > the server's defaults).

>>> update = parse_write_attributes(["pmin=10", "gt=20.5", "pmax"])
>>> update.values.to_query(), sorted(update.cleared)
('pmin=10&gt=20.5', ['pmax'])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeAlias

from m2mclient.errors import M2MError
from m2mclient.lwm2m.model import DataType, Path, PathLevel

__all__ = [
    "ATTRIBUTE_NAMES",
    "MAX_PERIOD",
    "AttributeStore",
    "AttributeUpdate",
    "InvalidAttributesError",
    "NotificationAttributes",
    "parse_write_attributes",
    "validate",
]

#: The writable <NOTIFICATION> attributes, in the order they are rendered
#: (the order of Core 1.2 Table 5.1.2-2 and of the transport bindings' query form).
ATTRIBUTE_NAMES = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax")

#: Periods and queue sizes are carried as unsigned 32-bit values by the CBOR and
#: MQTT bindings (transport bindings §7/§8 use ``uint``); a larger number is a
#: typo or an attack on a timer, not a schedule anyone means.
MAX_PERIOD = 2**32 - 1

#: Attributes a client reports in Discover but a server may not write (Core 1.2
#: §5.1.1 <PROPERTIES> class); named so the error can say why instead of "unknown".
_READ_ONLY_ATTRIBUTES = frozenset({"dim", "ssid", "uri", "ver", "lwm2m"})

_NUMERIC_TYPES = frozenset({DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.FLOAT})

#: Floats as written in a query: optional sign, digits with an optional fraction,
#: optional exponent. Python's float() alone would also take "nan", "inf", "1_0"
#: and surrounding blanks, none of which a server means as a threshold.
_FLOAT_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_UINT_TEXT = re.compile(r"\d+")

#: Integral floats up to this size render without a fraction ("gt=20", not
#: "gt=20.0"); beyond it the exponent form is shorter and still parses back.
_PLAIN_INTEGER_LIMIT = 1e15


class InvalidAttributesError(M2MError, ValueError):
    """A Write-Attributes request is malformed or breaks a Core 1.2 §5.1.2 rule.

    The engine answers 4.00 Bad Request (transport bindings §6.4, Table 6.7-3).
    ``attribute`` names the offending attribute when there is one.
    """

    def __init__(self, message: str, *, attribute: str | None = None):
        self.attribute = attribute
        super().__init__(message)


AttributeValue: TypeAlias = int | float | bool


@dataclass(frozen=True)
class NotificationAttributes:
    """A set of <NOTIFICATION> attributes; ``None`` means "not set at this level".

    Used both for what is attached at one path (what Discover shows) and for the
    effective set after precedence (what an observation obeys).
    """

    pmin: int | None = None
    pmax: int | None = None
    gt: float | None = None
    lt: float | None = None
    st: float | None = None
    epmin: int | None = None
    epmax: int | None = None
    edge: bool | None = None
    con: bool | None = None
    hqmax: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when no attribute is set."""
        return all(value is None for _, value in self.items())

    def items(self) -> tuple[tuple[str, AttributeValue | None], ...]:
        """``(name, value)`` for every attribute, set or not, in rendering order."""
        return tuple((name, getattr(self, name)) for name in ATTRIBUTE_NAMES)

    def merged_over(self, lower: NotificationAttributes) -> NotificationAttributes:
        """This set with the gaps filled from ``lower`` (the attributes set here win).

        Precedence (Core 1.2 §5.1.2) is a chain of these:
        ``resource.merged_over(instance.merged_over(object.merged_over(defaults)))``.
        """
        changes: dict[str, Any] = {name: value for name, value in self.items() if value is not None}
        return replace(lower, **changes)

    def without(self, names: Iterable[str]) -> NotificationAttributes:
        """This set with the named attributes unset."""
        return replace(self, **dict.fromkeys(names))

    def link_params(self) -> tuple[tuple[str, str], ...]:
        """The set attributes as link-format parameters for Discover: ``(("pmin", "10"), ("gt", "20.5"))``."""
        return tuple((name, _render(value)) for name, value in self.items() if value is not None)

    def to_query_items(self) -> list[str]:
        """The set attributes as CoAP Uri-Query items: ``["pmin=10", "gt=20.5"]``."""
        return [f"{name}={text}" for name, text in self.link_params()]

    def to_query(self) -> str:
        """The set attributes as a query string: ``"pmin=10&gt=20.5"`` (empty when none)."""
        return "&".join(self.to_query_items())


def _render(value: AttributeValue) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < _PLAIN_INTEGER_LIMIT:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True)
class AttributeUpdate:
    """What one Write-Attributes request asks for: attributes to set and attributes to remove.

    ``values`` holds the attributes given with a value; ``cleared`` names those
    given without one (``?pmax``), which LwM2M 1.2 defines as "unset at this level".
    """

    values: NotificationAttributes = field(default_factory=NotificationAttributes)
    cleared: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        """True when the request neither sets nor clears anything."""
        return self.values.is_empty and not self.cleared

    def apply_to(self, current: NotificationAttributes) -> NotificationAttributes:
        """The attributes attached at a path after this update."""
        return self.values.merged_over(current.without(self.cleared))

    def to_query_items(self) -> list[str]:
        """Uri-Query items that express this update (what a test server sends)."""
        return self.values.to_query_items() + [name for name in ATTRIBUTE_NAMES if name in self.cleared]


# --- parsing ------------------------------------------------------------------------


def _parse_period(name: str, text: str) -> int:
    if not _UINT_TEXT.fullmatch(text):
        raise InvalidAttributesError(f"{name} must be a whole number of seconds >= 0, got {text!r}", attribute=name)
    value = int(text)
    if value > MAX_PERIOD:
        raise InvalidAttributesError(f"{name}={text} is larger than {MAX_PERIOD}", attribute=name)
    return value


def _parse_float(name: str, text: str) -> float:
    if not _FLOAT_TEXT.fullmatch(text):
        raise InvalidAttributesError(f"{name} must be a decimal number like 20.5, got {text!r}", attribute=name)
    value = float(text)
    if not math.isfinite(value):
        raise InvalidAttributesError(f"{name}={text} is too large to be a threshold", attribute=name)
    return value


def _parse_step(name: str, text: str) -> float:
    value = _parse_float(name, text)
    if value < 0:
        # A step is a distance between two values (Core 1.2 §5.1.2: st >= 0).
        raise InvalidAttributesError(f"st must be >= 0, got {text!r}", attribute=name)
    return value


def _parse_flag(name: str, text: str) -> bool:
    if text not in ("0", "1"):
        raise InvalidAttributesError(f"{name} must be 0 or 1, got {text!r}", attribute=name)
    return text == "1"


_PARSERS: dict[str, Callable[[str, str], AttributeValue]] = {
    "pmin": _parse_period,
    "pmax": _parse_period,
    "gt": _parse_float,
    "lt": _parse_float,
    "st": _parse_step,
    "epmin": _parse_period,
    "epmax": _parse_period,
    "edge": _parse_flag,
    "con": _parse_flag,
    "hqmax": _parse_period,
}


def parse_write_attributes(query: Sequence[str]) -> AttributeUpdate:
    """Parse the Uri-Query items of a Write-Attributes request (``["pmin=10", "gt=-3.5", "pmax"]``).

    A name with a value sets the attribute; a name alone removes it (transport
    bindings §6.4, LwM2M 1.2). Unknown or read-only names, malformed numbers,
    negative periods or steps, ``edge``/``con`` other than 0 or 1, and the same
    attribute given twice raise :class:`InvalidAttributesError`. Names are
    case-sensitive, as every LwM2M implementation treats them.
    """
    values: dict[str, Any] = {}
    cleared: set[str] = set()
    for item in query:
        name, has_value, text = item.partition("=")
        parse = _PARSERS.get(name)
        if parse is None:
            raise _unknown_attribute(name)
        if name in values or name in cleared:
            raise InvalidAttributesError(f"{name} is given twice in one Write-Attributes request", attribute=name)
        if has_value:
            values[name] = parse(name, text)
        else:
            cleared.add(name)
    return AttributeUpdate(NotificationAttributes(**values), frozenset(cleared))


def _unknown_attribute(name: str) -> InvalidAttributesError:
    if name in _READ_ONLY_ATTRIBUTES:
        return InvalidAttributesError(
            f"{name!r} is a read-only attribute (Discover reports it); Write-Attributes cannot set it",
            attribute=name,
        )
    if not name:
        return InvalidAttributesError("empty attribute name in Write-Attributes query")
    return InvalidAttributesError(
        f"unknown attribute {name!r} in Write-Attributes; known: {', '.join(ATTRIBUTE_NAMES)}",
        attribute=name,
    )


# --- validation ---------------------------------------------------------------------


def validate(
    attributes: NotificationAttributes | AttributeUpdate,
    path: Path,
    data_type: DataType | None = None,
    multiple: bool = False,
) -> None:
    """Check attributes against the Core 1.2 §5.1.2 rules for the target ``path``.

    Pass the attributes that will be attached at ``path`` after the request (the
    rules bind the combined set; an :class:`AttributeUpdate` is checked by the
    attributes it sets). ``data_type`` is the resource's type (``None`` when
    unknown or the path is above resource level) and ``multiple`` says whether a
    resource path names a multiple-instance resource.

    Rules, each raising :class:`InvalidAttributesError` naming it:

    * attributes attach to an object, object instance, resource or resource instance, never ``/``;
    * ``gt``, ``lt``, ``st`` only on numeric (Integer, Unsigned Integer, Float) resources and
      ``edge`` only on Boolean ones, at resource or resource-instance level; on a
      multiple-instance resource they go on each resource instance (Core 1.2 table
      5.1.2-2 scopes them to a single value, which a multiple-instance resource is not);
    * ``pmin <= pmax`` when both are set (``pmax=0`` means "no maximum" and is exempt);
    * ``epmin <= epmax`` likewise;
    * ``lt < gt`` and ``lt + 2*st < gt`` when those are set, so the two thresholds
      cannot be crossed by one step;
    * periods are >= 0 and ``st`` >= 0 (the parser guarantees this; checked again for
      attributes built in code).
    """
    values = attributes.values if isinstance(attributes, AttributeUpdate) else attributes
    if path.level is PathLevel.ROOT:
        raise InvalidAttributesError(
            "Write-Attributes targets an object, object instance, resource or resource instance, not '/'"
        )
    _check_ranges(values)
    _check_applicability(values, path, data_type, multiple)
    _check_relations(values)


def _check_ranges(values: NotificationAttributes) -> None:
    for name in ("pmin", "pmax", "epmin", "epmax", "hqmax"):
        value = getattr(values, name)
        if value is not None and not 0 <= value <= MAX_PERIOD:
            raise InvalidAttributesError(f"{name} must be within 0..{MAX_PERIOD}, got {value}", attribute=name)
    for name in ("gt", "lt", "st"):
        value = getattr(values, name)
        if value is not None and not math.isfinite(value):
            raise InvalidAttributesError(f"{name} must be a finite number, got {value}", attribute=name)
    if values.st is not None and values.st < 0:
        raise InvalidAttributesError(f"st must be >= 0, got {values.st}", attribute="st")


_LEVEL_NAMES = {
    PathLevel.OBJECT: "an object",
    PathLevel.INSTANCE: "an object instance",
    PathLevel.RESOURCE: "a resource",
    PathLevel.RESOURCE_INSTANCE: "a resource instance",
}


def _check_applicability(
    values: NotificationAttributes, path: Path, data_type: DataType | None, multiple: bool
) -> None:
    value_rules = (
        (("gt", "lt", "st"), _NUMERIC_TYPES, "numeric resources (Integer, Unsigned Integer, Float)"),
        (("edge",), frozenset({DataType.BOOLEAN}), "Boolean resources"),
    )
    for names, types, what in value_rules:
        for name in names:
            if getattr(values, name) is None:
                continue
            if path.level < PathLevel.RESOURCE:
                raise InvalidAttributesError(
                    f"{name} applies to a resource or resource instance, not to {path} "
                    f"({_LEVEL_NAMES[path.level]}) (LwM2M Core 1.2 §5.1.2)",
                    attribute=name,
                )
            if path.level is PathLevel.RESOURCE and multiple:
                raise InvalidAttributesError(
                    f"{name} on multiple-instance resource {path} must be set on each resource instance, "
                    f"e.g. {path.child(0)} (LwM2M Core 1.2 §5.1.2)",
                    attribute=name,
                )
            if data_type not in types:
                described = "of unknown type" if data_type is None else f"of type {data_type.value}"
                raise InvalidAttributesError(
                    f"{name} applies only to {what}; {path} is {described} (LwM2M Core 1.2 §5.1.2)",
                    attribute=name,
                )


def _check_relations(values: NotificationAttributes) -> None:
    pmin, pmax, epmin, epmax = values.pmin, values.pmax, values.epmin, values.epmax
    if pmin is not None and pmax and pmin > pmax:
        raise InvalidAttributesError(
            f"rule pmin <= pmax broken: pmin={pmin} > pmax={pmax} (LwM2M Core 1.2 §5.1.2)", attribute="pmax"
        )
    if epmin is not None and epmax and epmin > epmax:
        raise InvalidAttributesError(
            f"rule epmin <= epmax broken: epmin={epmin} > epmax={epmax} (LwM2M Core 1.2 §5.1.2)", attribute="epmax"
        )
    gt, lt, st = values.gt, values.lt, values.st
    if gt is None or lt is None:
        return
    if not lt < gt:
        raise InvalidAttributesError(
            f"rule lt < gt broken: lt={_render(lt)} >= gt={_render(gt)} (LwM2M Core 1.2 §5.1.2)", attribute="lt"
        )
    if st is not None and not lt + 2 * st < gt:
        raise InvalidAttributesError(
            f"rule lt + 2*st < gt broken: {_render(lt)} + 2*{_render(st)} = {_render(lt + 2 * st)} "
            f"is not below gt={_render(gt)} (LwM2M Core 1.2 §5.1.2)",
            attribute="st",
        )


# --- storage and precedence -----------------------------------------------------------


class AttributeStore:
    """The attributes each server attached at each path (LwM2M Core 1.2 §5.1.2, §6.3.4).

    A client keeps a separate set per server (transport bindings §6.4 allows it and
    every server expects its own), keyed here by the server's Short Server ID.
    """

    def __init__(self) -> None:
        self._attached: dict[tuple[int, Path], NotificationAttributes] = {}

    def apply(
        self,
        server_id: int,
        path: Path,
        update: AttributeUpdate,
        data_type: DataType | None = None,
        multiple: bool = False,
    ) -> NotificationAttributes:
        """Apply a Write-Attributes request and return what is now attached at ``path``.

        The combined result is validated with :func:`validate` before anything is
        stored, so a rejected request (4.00) leaves the store unchanged.
        """
        current = self.attached(server_id, path)
        result = update.apply_to(current)
        validate(result, path, data_type, multiple)
        if result.is_empty:
            self._attached.pop((server_id, path), None)
        else:
            self._attached[(server_id, path)] = result
        return result

    def attached(self, server_id: int, path: Path) -> NotificationAttributes:
        """What ``server_id`` attached at exactly ``path`` (what Discover shows there)."""
        return self._attached.get((server_id, path), _EMPTY)

    def effective(
        self,
        server_id: int,
        path: Path,
        default_pmin: int | None = None,
        default_pmax: int | None = None,
    ) -> NotificationAttributes:
        """The attributes that govern notifications for ``path``.

        Precedence (Core 1.2 §5.1.2): resource instance > resource > object
        instance > object > the server's Default Minimum / Maximum Period
        (``/1/x/2`` and ``/1/x/3``, passed in by the caller).
        """
        result = NotificationAttributes(pmin=default_pmin, pmax=default_pmax)
        for depth in range(1, len(path) + 1):
            result = self.attached(server_id, Path(path.ids[:depth])).merged_over(result)
        return result

    def forget(self, path: Path) -> None:
        """Drop everything attached at or below ``path``, for every server (the instance was deleted)."""
        for key in [key for key in self._attached if path.is_prefix_of(key[1])]:
            del self._attached[key]

    def forget_server(self, server_id: int) -> None:
        """Drop everything one server attached (its Server object instance was deleted)."""
        for key in [key for key in self._attached if key[0] == server_id]:
            del self._attached[key]

    def __len__(self) -> int:
        return len(self._attached)


_EMPTY = NotificationAttributes()

# Every attribute name must have a parser and a field; a mismatch is a bug here.
assert tuple(f.name for f in fields(NotificationAttributes)) == ATTRIBUTE_NAMES == tuple(_PARSERS)
