"""IPSO Temperature (3303): a sensor read through a function, with min/max tracking.

By default the sensor is the SoC's thermal zone (on a Raspberry Pi,
``/sys/class/thermal/thermal_zone0/temp``, in millidegrees Celsius). Every
read, whether a server's Read or the application's :meth:`TemperatureSensor.sample`,
updates Min/Max Measured Value. Reads go through the function, so the SDK does
not see the value move by itself: call :meth:`~TemperatureSensor.sample`
periodically to tell observers when it did.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import ObjectInstance, OperationError

logger = logging.getLogger(__name__)

#: The Temperature object definition the sensor uses.
TEMPERATURE: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 3303)

MIN_MEASURED_VALUE = 5601
MAX_MEASURED_VALUE = 5602
MIN_RANGE_VALUE = 5603
MAX_RANGE_VALUE = 5604
RESET_MIN_AND_MAX = 5605
SENSOR_VALUE = 5700
SENSOR_UNITS = 5701
APPLICATION_TYPE = 5750

#: The first thermal zone: the SoC on a Raspberry Pi.
DEFAULT_THERMAL_ZONE = "/sys/class/thermal/thermal_zone0/temp"


class SensorError(OperationError):
    """A sensor could not be read; a server's Read of it answers 5.00."""

    def __init__(self, message: str):
        super().__init__("5.00", message)


def thermal_zone_reader(path: str | os.PathLike[str] = DEFAULT_THERMAL_ZONE) -> Callable[[], float]:
    """A function reading a Linux thermal zone file (millidegrees) as degrees Celsius.

    Raises :class:`SensorError` now if the file is not there, so a missing
    sensor shows at start-up rather than at the first server Read.
    """
    zone = Path(path)
    if not zone.is_file():
        raise SensorError(f"no thermal zone at {zone}; pass read_celsius= a function that reads your sensor")

    def read_celsius() -> float:
        try:
            text = zone.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise SensorError(f"cannot read {zone}: {exc.strerror or exc}") from exc
        try:
            return int(text) / 1000.0
        except ValueError:
            raise SensorError(f"{zone} holds {text[:20]!r}, not millidegrees") from None

    return read_celsius


class TemperatureSensor(ObjectInstance):
    """One Temperature (3303) instance.

    ``read_celsius`` returns the temperature; without it the thermal zone file
    ``thermal_zone`` is read. ``min_range`` / ``max_range`` are what the sensor
    can measure; ``application_type`` (writable by servers) says what it
    measures, e.g. ``"CPU"``.
    """

    def __init__(
        self,
        instance_id: int = 0,
        read_celsius: Callable[[], float] | None = None,
        thermal_zone: str | os.PathLike[str] = DEFAULT_THERMAL_ZONE,
        *,
        min_range: float | None = None,
        max_range: float | None = None,
        application_type: str | None = None,
        units: str = "Cel",
    ):
        super().__init__(TEMPERATURE, instance_id)
        self._read_celsius = read_celsius if read_celsius is not None else thermal_zone_reader(thermal_zone)
        self._sampled: float | None = None
        self.set(SENSOR_UNITS, units)
        for resource_id, value in (
            (MIN_RANGE_VALUE, min_range),
            (MAX_RANGE_VALUE, max_range),
            (APPLICATION_TYPE, application_type),
        ):
            if value is not None:
                self.set(resource_id, value)
        self.bind(SENSOR_VALUE, self._read)
        self.on_execute(RESET_MIN_AND_MAX, self._reset_min_max)
        try:
            # A first reading makes Min/Max present from the start, so the first
            # server Read of the instance already lists them.
            self._sampled = self._read()
        except SensorError as exc:
            logger.warning("%s: no first reading: %s", self.path, exc)

    def read(self) -> float:
        """Read the sensor now (and track min/max), without signalling a change."""
        return self._read()

    def sample(self) -> float:
        """Read the sensor; when the value differs from the last sample, tell observers.

        Call this periodically (e.g. every few seconds) so observations of
        /3303/x/5700 follow the sensor.
        """
        value = self._read()
        # Compared with the last *sample*, not the last server Read: a Read in
        # between must not hide the change from observers.
        if value != self._sampled:
            self._sampled = value
            self.changed(SENSOR_VALUE)
        return value

    def reset_min_max(self) -> None:
        """Restart min/max tracking from the current value (what Execute 5605 does)."""
        try:
            value = self._read_raw()
        except SensorError:
            # No current value to start from: report no extremes rather than stale ones.
            self.unset(MIN_MEASURED_VALUE)
            self.unset(MAX_MEASURED_VALUE)
            raise
        self.set(MIN_MEASURED_VALUE, value)
        self.set(MAX_MEASURED_VALUE, value)

    def _reset_min_max(self, arguments: str | None) -> None:
        self.reset_min_max()

    def _read_raw(self) -> float:
        try:
            value = float(self._read_celsius())
        except SensorError:
            raise
        except Exception as exc:
            # A driver's own exception must not escape into the request engine
            # as a crash; the server gets 5.00 and the log says why.
            logger.warning("temperature sensor %s failed: %r", self.path, exc)
            raise SensorError(f"sensor {self.path} failed: {exc or type(exc).__name__}") from exc
        return value

    def _read(self) -> float:
        value = self._read_raw()
        low = self._stored(MIN_MEASURED_VALUE)
        high = self._stored(MAX_MEASURED_VALUE)
        if not isinstance(low, float) or value < low:
            self.set(MIN_MEASURED_VALUE, value)
        if not isinstance(high, float) or value > high:
            self.set(MAX_MEASURED_VALUE, value)
        return value

    def _stored(self, resource_id: int) -> object:
        try:
            return self.get(resource_id)
        except OperationError:
            return None
