"""One strict JSON decoder for every JSON a peer sends us (SenML, OMA JSON, oneM2M).

Python's json module accepts what RFC 8259 does not (``NaN``, ``Infinity``, ``1e999``
as infinity) and keeps the last of duplicate member names silently; a device must
not act on such input. Errors are ``ValueError`` s (``json.JSONDecodeError`` or
:class:`StrictJsonError`); each caller turns them into its own typed error.
"""

from __future__ import annotations

import json
import math


class StrictJsonError(ValueError):
    """Valid to Python's parser, but not to RFC 8259 or not unambiguous."""


def _reject_constant(name: str) -> object:
    raise StrictJsonError(f"{name} is not a JSON number (RFC 8259 §6)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise StrictJsonError(f"number {text[:40]} does not fit a 64-bit float")
    return number


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJsonError(f"duplicate member name {key!r} (RFC 8259 §4)")
        result[key] = value
    return result


#: ``STRICT_DECODER.decode(text)`` parses one JSON text or raises ``ValueError``.
STRICT_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_members
)
