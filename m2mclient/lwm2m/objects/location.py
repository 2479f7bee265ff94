"""Location (object 6): the latest position fix, set in one call.

A GNSS driver (or an app with a fixed install position) calls
:meth:`LocationInstance.update` per fix. Optional values not given in a fix
are removed rather than kept, so a server never combines a new position with
an altitude or speed from an older fix.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import ObjectInstance

logger = logging.getLogger(__name__)

#: The Location object definition the instance uses.
LOCATION: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 6)

LATITUDE = 0
LONGITUDE = 1
ALTITUDE = 2
RADIUS = 3
VELOCITY = 4
TIMESTAMP = 5
SPEED = 6


class LocationInstance(ObjectInstance):
    """The single Location (6) instance; empty until the first :meth:`update`.

    ``clock`` gives the timestamp of fixes that come without one.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time):
        super().__init__(LOCATION, 0)
        self._clock = clock

    def update(
        self,
        latitude: float,
        longitude: float,
        *,
        altitude: float | None = None,
        radius: float | None = None,
        velocity: bytes | None = None,
        speed: float | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Record a fix: degrees (WGS84), altitude and radius in m, speed in m/s.

        ``velocity`` is the opaque 3GPP TS 23.032 velocity encoding; ``radius``
        is the accuracy circle. ``timestamp`` (seconds since 1970) defaults to
        ``clock()``. Everything is checked before anything changes.
        """
        _check(latitude, -90.0, 90.0, "latitude")
        _check(longitude, -180.0, 180.0, "longitude")
        if radius is not None:
            _check(radius, 0.0, math.inf, "radius")
        if speed is not None:
            _check(speed, 0.0, math.inf, "speed")
        if altitude is not None:
            _check(altitude, -math.inf, math.inf, "altitude")
        when = self._clock() if timestamp is None else timestamp
        values: dict[int, object] = {
            LATITUDE: float(latitude),
            LONGITUDE: float(longitude),
            ALTITUDE: None if altitude is None else float(altitude),
            RADIUS: None if radius is None else float(radius),
            VELOCITY: velocity,
            SPEED: None if speed is None else float(speed),
            TIMESTAMP: int(when),
        }
        checked = {rid: LOCATION.resources[rid].coerce(v) for rid, v in values.items() if v is not None}
        for resource_id in values:
            if resource_id in checked:
                self.set(resource_id, checked[resource_id])
            else:
                self.unset(resource_id)


def _check(value: float, low: float, high: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueValidationError(f"{what} must be a number, got {value!r}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueValidationError(f"{what} {value} is outside {low}..{high}")
