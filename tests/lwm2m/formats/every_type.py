"""A test object with one single and one multiple-instance resource of every LwM2M data type.

Resource ``r`` has type ``TYPES[r]``; resource ``100 + r`` is its multiple-instance twin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from m2mclient.lwm2m.formats import Record
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ResourceDefinition

TYPES = {
    0: DataType.STRING,
    1: DataType.INTEGER,
    2: DataType.UNSIGNED_INTEGER,
    3: DataType.FLOAT,
    4: DataType.BOOLEAN,
    5: DataType.OPAQUE,
    6: DataType.TIME,
    7: DataType.OBJLNK,
    8: DataType.CORELNK,
}


def every_type_object(object_id: int) -> ObjectDefinition:
    """The object, under ``object_id``."""
    single = {rid: ResourceDefinition(rid, t.value, t) for rid, t in TYPES.items()}
    multiple = {100 + rid: ResourceDefinition(100 + rid, t.value + "s", t, multiple=True) for rid, t in TYPES.items()}
    return ObjectDefinition(object_id, "Every type", single | multiple)

def same_records(left: Sequence[Record], right: Sequence[Record]) -> bool:
    """Equal paths, times and values, with value types compared too (``True == 1`` in Python)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if a.path != b.path or a.time != b.time or type(a.value) is not type(b.value):
            return False
        if isinstance(a.value, float) and isinstance(b.value, float):
            if math.copysign(1, a.value) != math.copysign(1, b.value) or a.value != b.value:
                return False
        elif a.value != b.value:
            return False
    return True
