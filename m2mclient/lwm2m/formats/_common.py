"""What every codec shares: the record type and the registry-driven typing of values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from m2mclient.errors import FormatError, PathError, ValueValidationError
from m2mclient.lwm2m.model import DataType, Path, Value, coerce_value, infer_type
from m2mclient.lwm2m.registry import Registry


@dataclass(frozen=True)
class Record:
    """One value at a full resource (``/o/i/r``) or resource-instance (``/o/i/r/ri``) path.

    ``time`` is the absolute time of the value in seconds since the epoch, for
    formats that carry one (SenML, LwM2M CBOR in Send / notifications); ``None``
    means "now".
    """

    path: Path
    value: Value
    time: float | None = None


Encoder = Callable[[Sequence[Record], Path, Registry], bytes]
Decoder = Callable[[bytes, Path, Registry], list[Record]]


def resource_type(registry: Registry, path: Path) -> DataType | None:
    """The registry's type of the resource at ``path``, or ``None`` when unknown."""
    definition = registry.resource(path)
    if definition is None or definition.type is DataType.NONE:
        return None
    return definition.type


def is_multiple(registry: Registry, path: Path) -> bool | None:
    """Whether the resource at ``path`` is multiple-instance (``None`` when unknown)."""
    definition = registry.resource(path)
    return None if definition is None else definition.multiple


def typed_for_encoding(registry: Registry, record: Record, content_format: int) -> tuple[DataType, Value]:
    """The data type to encode ``record`` with and its value coerced to that type.

    The registry decides; for resources it does not know the Python type of the
    value does (``int`` -> Integer, ``bytes`` -> Opaque, ...).
    """
    try:
        data_type = resource_type(registry, record.path) or infer_type(record.value)
        return data_type, coerce_value(data_type, record.value)
    except ValueValidationError as exc:
        raise FormatError(str(exc), content_format=content_format, where=str(record.path)) from None


def typed_from_wire(
    registry: Registry, path: Path, value: Value, content_format: int, where: str | None = None
) -> Value:
    """Coerce a value a self-describing format (SenML, CBOR) carried to the registry's type.

    Numbers are reconciled (a SenML ``v`` of ``3`` is ``3.0`` for a Float and ``3``
    for a Time); anything else that does not fit is a :class:`FormatError`.
    """
    data_type = resource_type(registry, path)
    if data_type is None:
        return value
    if data_type is DataType.FLOAT and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        return coerce_value(data_type, value)
    except ValueValidationError as exc:
        raise FormatError(str(exc), content_format=content_format, where=where or str(path)) from None


def make_path(ids: Sequence[int], content_format: int, where: str) -> Path:
    """Build a path from decoded ids, turning a bad id into a :class:`FormatError`."""
    try:
        return Path(tuple(ids))
    except PathError as exc:
        raise FormatError(str(exc), content_format=content_format, where=where) from None


def parse_path(text: str, content_format: int, where: str) -> Path:
    """Parse a path carried as text (a SenML name), turning errors into :class:`FormatError`."""
    try:
        return Path.parse(text)
    except PathError as exc:
        raise FormatError(str(exc), content_format=content_format, where=where) from None


def check_single_value_target(base: Path, registry: Registry, content_format: int) -> None:
    """Single-value formats (text, opaque, CBOR) address one resource or resource instance.

    A multiple-instance resource as a whole needs a format that can hold several
    values (LwM2M Core 1.2 §7.4.1), which the server asks for with Accept.
    """
    if len(base) < 3:
        raise FormatError(
            f"a single-value format addresses a resource or resource instance, not {base}",
            content_format=content_format,
        )
    if len(base) == 3 and is_multiple(registry, base):
        raise FormatError(
            f"{base} is a multiple-instance resource; a single-value format cannot carry it",
            content_format=content_format,
        )


def single_record(records: Sequence[Record], base: Path, registry: Registry, content_format: int) -> Record:
    """The one record a single-value format can encode, checked against the target."""
    check_single_value_target(base, registry, content_format)
    if len(records) != 1 or records[0].path != base:
        found = ", ".join(str(r.path) for r in records) or "nothing"
        raise FormatError(
            f"a single-value format carries exactly the value of {base}, got {found}",
            content_format=content_format,
        )
    return records[0]
