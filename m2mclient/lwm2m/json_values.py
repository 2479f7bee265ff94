"""LwM2M values as plain JSON, for people and scripts (the CLI's input and output).

JSON has no bytes and no object links, so those two become small objects:
opaque is ``{"hex": "0a1b"}`` and objlnk is ``{"objlnk": "3:0"}``. Everything
else maps to itself (time as integer seconds, core links as strings).
"""

from __future__ import annotations

from typing import Any

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.model import DataType, ObjLnk, Path, Value, coerce_value, infer_type
from m2mclient.lwm2m.registry import Registry

JsonValue = Any  # str | int | float | bool | dict[str, str]


def to_json(value: Value) -> JsonValue:
    """The JSON form of one value."""
    if isinstance(value, ObjLnk):
        return {"objlnk": str(value)}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return value


def from_json(path: Path, value: JsonValue, registry: Registry) -> Value:
    """The value at ``path`` from its JSON form, typed by the registry when it knows the resource."""
    plain = _unwrap(path, value)
    definition = registry.resource(path)
    if definition is None or definition.type is DataType.NONE:
        return coerce_value(infer_type(plain), plain)
    if definition.type is DataType.FLOAT and isinstance(plain, int) and not isinstance(plain, bool):
        plain = float(plain)
    return definition.coerce(plain)


def _unwrap(path: Path, value: JsonValue) -> object:
    if not isinstance(value, dict):
        if value is None or isinstance(value, list):
            raise ValueValidationError(f"{path}: a value must be a string, number, boolean or object")
        return value
    if set(value) == {"hex"} and isinstance(value["hex"], str):
        try:
            return bytes.fromhex(value["hex"])
        except ValueError:
            raise ValueValidationError(f"{path}: {value['hex']!r} is not hex") from None
    if set(value) == {"objlnk"} and isinstance(value["objlnk"], str):
        return ObjLnk.parse(value["objlnk"])
    raise ValueValidationError(f'{path}: objects must be {{"hex": "..."}} or {{"objlnk": "O:I"}}, got {value!r}')
