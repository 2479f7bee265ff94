"""LwM2M Device (object 3), filled from the platform the client runs on.

:class:`DeviceObject` takes what the application knows (manufacturer, versions,
reboot hooks) and probes the rest through :class:`PlatformInfo`: the Raspberry
Pi's device-tree model and CPU serial, ``/proc/meminfo``, the batteries and
supplies in ``/sys/class/power_supply``. A probe that finds nothing leaves its
resource out rather than inventing a value; every path is below an injectable
``root`` so tests run on a fake tree.

Current Time (13) reads ``clock() + offset``: a server Write does not touch
the system clock (that needs privileges and would jump every timer in the
process), it sets the offset so later reads follow the server's time. An
application that does want to set the system clock hooks the write with
``device.on_write(13, ...)``.

Reboot (4) and Factory Reset (5) call the application's hooks *after* the
2.04 is on its way, so the server learns the Execute succeeded before the
device goes away. Without a hook the Execute answers 4.05.
"""

from __future__ import annotations

import enum
import inspect
import logging
import os
import platform as _platform
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import m2mclient
from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import ObjectInstance, OperationError, ResourceContent

logger = logging.getLogger(__name__)

#: The Device object definition (LwM2M 1.2) :class:`DeviceObject` uses.
DEVICE: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 3)

MANUFACTURER = 0
MODEL_NUMBER = 1
SERIAL_NUMBER = 2
FIRMWARE_VERSION = 3
REBOOT = 4
FACTORY_RESET = 5
AVAILABLE_POWER_SOURCES = 6
POWER_SOURCE_VOLTAGE = 7
POWER_SOURCE_CURRENT = 8
BATTERY_LEVEL = 9
MEMORY_FREE = 10
ERROR_CODE = 11
RESET_ERROR_CODE = 12
CURRENT_TIME = 13
UTC_OFFSET = 14
TIMEZONE = 15
SUPPORTED_BINDING_AND_MODES = 16
DEVICE_TYPE = 17
HARDWARE_VERSION = 18
SOFTWARE_VERSION = 19
BATTERY_STATUS = 20
MEMORY_TOTAL = 21

_BINDING_LETTERS = frozenset("UTSNMHQ")
#: Device-specific error codes start here (DDF of object 3, resource 11).
MAX_ERROR_CODE = 32

_T = TypeVar("_T")
Hook = Callable[[], object]
"""A reboot / factory-reset hook: a plain function, or one returning an awaitable."""


class PowerSourceType(enum.IntEnum):
    """Values of /3/0/6 Available Power Sources."""

    DC = 0
    INTERNAL_BATTERY = 1
    EXTERNAL_BATTERY = 2
    FUEL_CELL = 3
    POWER_OVER_ETHERNET = 4
    USB = 5
    AC = 6
    SOLAR = 7


class BatteryStatus(enum.IntEnum):
    """Values of /3/0/20 Battery Status."""

    NORMAL = 0
    CHARGING = 1
    CHARGE_COMPLETE = 2
    DAMAGED = 3
    LOW = 4
    NOT_INSTALLED = 5
    UNKNOWN = 6


class ErrorCode(enum.IntEnum):
    """Values of /3/0/11 Error Code; 16..32 are free for device-specific errors."""

    NO_ERROR = 0
    LOW_BATTERY = 1
    EXTERNAL_POWER_OFF = 2
    GPS_FAILURE = 3
    LOW_SIGNAL = 4
    OUT_OF_MEMORY = 5
    SMS_FAILURE = 6
    IP_CONNECTIVITY_FAILURE = 7
    PERIPHERAL_MALFUNCTION = 8


@dataclass(frozen=True)
class PowerSource:
    """One available power source; the same index links resources 6, 7 and 8."""

    type: PowerSourceType
    voltage_mv: int | None = None
    current_ma: int | None = None


@dataclass(frozen=True)
class BatteryReading:
    """What the kernel says about the internal battery."""

    level: int | None
    status: BatteryStatus


# sysfs supply types (Documentation/ABI/testing/sysfs-class-power) to LwM2M power sources.
_SUPPLY_TYPES = {
    "Battery": PowerSourceType.INTERNAL_BATTERY,
    "Mains": PowerSourceType.AC,
    "USB": PowerSourceType.USB,
}
_DAMAGED_HEALTH = frozenset({"Dead", "Over voltage", "Unspecified failure", "Overheat", "Cold"})


@dataclass(frozen=True)
class PlatformInfo:
    """Reads device facts from a Linux file tree below ``root``; every probe answers ``None`` when unsure.

    ``hostname`` and ``machine`` are the fallbacks for the serial and model
    number on hosts without a device tree or DMI data.
    """

    root: str | os.PathLike[str] = "/"
    hostname: Callable[[], str] = _platform.node
    machine: Callable[[], str] = _platform.machine

    def read(self, relative: str) -> str | None:
        """The stripped text of ``root/relative``, or ``None`` if it cannot be read."""
        return _read_file(Path(self.root) / relative)

    def cpuinfo(self) -> dict[str, str]:
        """``/proc/cpuinfo`` as ``{key: value}`` (the first occurrence of each key)."""
        fields: dict[str, str] = {}
        for line in (self.read("proc/cpuinfo") or "").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        return fields

    def board_model(self) -> str | None:
        """The board name, e.g. ``"Raspberry Pi 4 Model B Rev 1.4"``, from the device tree or DMI."""
        return self.read("proc/device-tree/model") or self.read("sys/class/dmi/id/product_name")

    def manufacturer(self) -> str | None:
        """``"Raspberry Pi Ltd"`` on a Pi, else the DMI system vendor."""
        model = self.board_model() or ""
        if model.startswith("Raspberry Pi"):
            return "Raspberry Pi Ltd"
        return self.read("sys/class/dmi/id/sys_vendor")

    def model_number(self) -> str:
        """The board name, else the machine type (``platform.machine()``)."""
        return self.board_model() or self.machine()

    def serial_number(self) -> str:
        """The Pi's CPU serial, else the DMI serial, else the host name."""
        serial = self.cpuinfo().get("Serial", "")
        # Non-Pi ARM kernels print an all-zero Serial line.
        if serial.strip("0"):
            return serial
        return self.read("sys/class/dmi/id/product_serial") or self.hostname()

    def hardware_version(self) -> str | None:
        """The Pi's board revision code (``Revision`` in cpuinfo), else the DMI product version."""
        return self.cpuinfo().get("Revision") or self.read("sys/class/dmi/id/product_version")

    def meminfo_kib(self, name: str) -> int | None:
        """A ``/proc/meminfo`` field such as ``"MemAvailable"``, in KiB."""
        for line in (self.read("proc/meminfo") or "").splitlines():
            key, _, rest = line.partition(":")
            words = rest.split()
            if key.strip() == name and words and words[0].isdigit():
                return int(words[0])
        return None

    def _supplies(self) -> list[Path]:
        base = Path(self.root) / "sys/class/power_supply"
        try:
            return sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            return []

    def power_sources(self) -> list[PowerSource]:
        """Present supplies: batteries that are present, mains and USB that are online."""
        sources = []
        for supply in self._supplies():
            kind = _SUPPLY_TYPES.get(_read_file(supply / "type") or "")
            if kind is None:
                continue
            presence = _read_int(supply / ("present" if kind is PowerSourceType.INTERNAL_BATTERY else "online"))
            if presence == 0:
                continue
            microvolts = _read_int(supply / "voltage_now")
            microamps = _read_int(supply / "current_now")
            sources.append(
                PowerSource(
                    kind,
                    microvolts // 1000 if microvolts is not None else None,
                    microamps // 1000 if microamps is not None else None,
                )
            )
        return sources

    def battery(self) -> BatteryReading | None:
        """The first battery in ``/sys/class/power_supply``, or ``None`` without one."""
        for supply in self._supplies():
            if _read_file(supply / "type") != "Battery":
                continue
            if _read_int(supply / "present") == 0:
                return BatteryReading(None, BatteryStatus.NOT_INSTALLED)
            level = _read_int(supply / "capacity")
            if level is not None:
                level = min(max(level, 0), 100)
            return BatteryReading(level, _battery_status(supply))
        return None

    def timezone(self) -> str | None:
        """The IANA zone name from ``/etc/timezone`` or the ``/etc/localtime`` symlink."""
        name = self.read("etc/timezone")
        if name:
            return name
        try:
            target = str((Path(self.root) / "etc/localtime").readlink())
        except (OSError, NotImplementedError):
            return None
        _, found, zone = target.partition("zoneinfo/")
        return zone if found and zone else None


def _read_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # Device-tree strings end in NUL.
    text = text.replace("\x00", "").strip()
    return text or None


def _read_int(path: Path) -> int | None:
    text = _read_file(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _battery_status(supply: Path) -> BatteryStatus:
    if (_read_file(supply / "health") or "") in _DAMAGED_HEALTH:
        return BatteryStatus.DAMAGED
    status = _read_file(supply / "status") or "Unknown"
    if status == "Charging":
        return BatteryStatus.CHARGING
    if status == "Full":
        return BatteryStatus.CHARGE_COMPLETE
    if status in ("Discharging", "Not charging"):
        low = (_read_file(supply / "capacity_level") or "") in ("Low", "Critical")
        return BatteryStatus.LOW if low else BatteryStatus.NORMAL
    return BatteryStatus.UNKNOWN


def kib_to_kilobytes(kib: int) -> int:
    """KiB (what /proc/meminfo calls kB) to the 1000-byte kilobytes resources 10 and 21 use."""
    return kib * 1024 // 1000


def local_utc_offset(clock: Callable[[], float] = time.time) -> str:
    """The local UTC offset in ISO 8601 form, e.g. ``"+01:00"``."""
    seconds = time.localtime(clock()).tm_gmtoff
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class DeviceObject(ObjectInstance):
    """The single Device (3) instance.

    Strings the application does not give are probed through ``platform_info``
    (a :class:`PlatformInfo` on ``/`` by default); ``probe=False`` turns all
    probing off, leaving only what is passed here. ``power_sources`` given
    here are reported as they are; without them the kernel's supplies are
    probed and their voltage and current read at every Read. ``binding_modes``
    is what the client supports (``"U"``, ``"UQ"``, ``"T"``, ...).
    """

    def __init__(
        self,
        *,
        manufacturer: str | None = None,
        model_number: str | None = None,
        serial_number: str | None = None,
        firmware_version: str | None = None,
        hardware_version: str | None = None,
        software_version: str | None = None,
        device_type: str | None = None,
        binding_modes: str = "U",
        power_sources: Sequence[PowerSource] | None = None,
        utc_offset: str | None = None,
        timezone: str | None = None,
        on_reboot: Hook | None = None,
        on_factory_reset: Hook | None = None,
        clock: Callable[[], float] = time.time,
        platform_info: PlatformInfo | None = None,
        probe: bool = True,
    ):
        super().__init__(DEVICE, 0)
        if not binding_modes or not set(binding_modes) <= _BINDING_LETTERS:
            raise ValueValidationError(f"binding_modes {binding_modes!r} must be made of the letters UTSNMHQ")
        info = (platform_info or PlatformInfo()) if probe else None
        self._clock = clock
        self._time_offset = 0.0

        def probed(given: str | None, probe_for: Callable[[PlatformInfo], str | None]) -> str | None:
            if given is not None or info is None:
                return given
            return probe_for(info)

        strings = {
            MANUFACTURER: probed(manufacturer, PlatformInfo.manufacturer),
            MODEL_NUMBER: probed(model_number, PlatformInfo.model_number),
            SERIAL_NUMBER: probed(serial_number, PlatformInfo.serial_number),
            FIRMWARE_VERSION: firmware_version if firmware_version is not None else m2mclient.__version__,
            HARDWARE_VERSION: probed(hardware_version, PlatformInfo.hardware_version),
            SOFTWARE_VERSION: software_version,
            DEVICE_TYPE: device_type,
            UTC_OFFSET: utc_offset if utc_offset is not None else local_utc_offset(clock),
            TIMEZONE: probed(timezone, PlatformInfo.timezone),
            SUPPORTED_BINDING_AND_MODES: binding_modes,
        }
        for resource_id, text in strings.items():
            if text:
                self.set(resource_id, text)
        self.set(ERROR_CODE, {0: ErrorCode.NO_ERROR.value})

        self.bind(CURRENT_TIME, self._current_time)
        self.on_execute(REBOOT, _hook_executor(on_reboot, "reboot"))
        self.on_execute(FACTORY_RESET, _hook_executor(on_factory_reset, "factory reset"))
        self.on_execute(RESET_ERROR_CODE, self._reset_error_code)

        if power_sources is not None:
            self._set_power_sources(power_sources)
        if info is not None:
            self._probe_platform(info, probe_power=power_sources is None)

    # --- platform probes ---------------------------------------------------------------

    def _probe_platform(self, info: PlatformInfo, *, probe_power: bool) -> None:
        total = info.meminfo_kib("MemTotal")
        if total is not None:
            self.set(MEMORY_TOTAL, kib_to_kilobytes(total))
        available = info.meminfo_kib("MemAvailable")
        if available is not None:

            def memory_free() -> int | None:
                kib = info.meminfo_kib("MemAvailable")
                return None if kib is None else kib_to_kilobytes(kib)

            self.bind(MEMORY_FREE, _last_good(memory_free, kib_to_kilobytes(available)))
        battery = info.battery()
        if battery is not None:

            def battery_status() -> int | None:
                reading = info.battery()
                return None if reading is None else int(reading.status)

            def battery_level() -> int | None:
                reading = info.battery()
                return None if reading is None else reading.level

            self.bind(BATTERY_STATUS, _last_good(battery_status, int(battery.status)))
            if battery.level is not None:
                self.bind(BATTERY_LEVEL, _last_good(battery_level, battery.level))
        if probe_power:
            sources = info.power_sources()
            if sources:
                self._set_power_sources(sources)
                if any(s.voltage_mv is not None for s in sources):
                    self.bind(POWER_SOURCE_VOLTAGE, lambda: _indexed(info.power_sources(), "voltage_mv"))
                if any(s.current_ma is not None for s in sources):
                    self.bind(POWER_SOURCE_CURRENT, lambda: _indexed(info.power_sources(), "current_ma"))

    def _set_power_sources(self, sources: Sequence[PowerSource]) -> None:
        self.set(AVAILABLE_POWER_SOURCES, {i: int(s.type) for i, s in enumerate(sources)})
        for resource_id, attribute in ((POWER_SOURCE_VOLTAGE, "voltage_mv"), (POWER_SOURCE_CURRENT, "current_ma")):
            measured = _indexed(sources, attribute)
            if measured:
                self.set(resource_id, measured)

    # --- error codes -------------------------------------------------------------------

    @property
    def errors(self) -> list[int]:
        """The error codes now reported (empty when /3/0/11 says 0, no error)."""
        current = self.get(ERROR_CODE)
        codes = current.values() if isinstance(current, dict) else []
        return [c for c in codes if isinstance(c, int) and c != ErrorCode.NO_ERROR]

    def report_error(self, code: int) -> None:
        """Report an error (1..32); reporting one already present changes nothing.

        The first error replaces the "no error" instance 0; later ones get new
        resource instances, as the Device object's DDF describes.
        """
        if isinstance(code, bool) or not 1 <= code <= MAX_ERROR_CODE:
            raise ValueValidationError(f"error code must be 1..{MAX_ERROR_CODE} (0 means no error), got {code!r}")
        if code in self.errors:
            return
        current = self.get(ERROR_CODE)
        instances = dict(current) if isinstance(current, dict) and self.errors else {}
        instances[max(instances, default=-1) + 1] = int(code)
        self.set(ERROR_CODE, instances)

    def clear_error(self, code: int) -> None:
        """Withdraw one error; with none left, /3/0/11 returns to ``{0: 0}``."""
        current = self.get(ERROR_CODE)
        instances = dict(current) if isinstance(current, dict) else {}
        remaining = {ri: c for ri, c in instances.items() if c not in (code, ErrorCode.NO_ERROR)}
        self.set(ERROR_CODE, remaining or {0: ErrorCode.NO_ERROR.value})

    def clear_errors(self) -> None:
        """Withdraw every error (what Execute /3/0/12 Reset Error Code does)."""
        self.set(ERROR_CODE, {0: ErrorCode.NO_ERROR.value})

    def _reset_error_code(self, arguments: str | None) -> None:
        logger.info("server reset the device error codes %s", self.errors)
        self.clear_errors()

    # --- current time --------------------------------------------------------------------

    @property
    def time_offset(self) -> float:
        """Seconds added to ``clock()`` since a server wrote Current Time (0 before)."""
        return self._time_offset

    def _current_time(self) -> int:
        return int(self._clock() + self._time_offset)

    def write_resource(self, resource_id: int, content: ResourceContent, *, replace: bool = True) -> None:
        """Apply a server write; a Current Time write moves the offset, not the system clock."""
        if resource_id == CURRENT_TIME and isinstance(content, (int, float)):
            self._time_offset = float(content) - self._clock()
            logger.info("server set current time to %s (offset %+.0f s)", content, self._time_offset)
        super().write_resource(resource_id, content, replace=replace)


def _hook_executor(hook: Hook | None, what: str) -> Callable[[str | None], Awaitable[object]]:
    def execute(arguments: str | None) -> Awaitable[object]:
        if hook is None:
            raise OperationError("4.05", f"{what} is not supported on this device")
        return _run_hook(hook, what)

    return execute


async def _run_hook(hook: Hook, what: str) -> object:
    # A coroutine, so even a plain function runs only once the engine awaits it,
    # which it does after the 2.04 has been sent.
    logger.warning("running the %s hook at the server's request", what)
    result = hook()
    if inspect.isawaitable(result):
        result = await result
    return result


def _last_good(read: Callable[[], _T | None], initial: _T) -> Callable[[], _T]:
    """A reader that keeps answering the last value it got when the probe later fails."""
    last = [initial]

    def reader() -> _T:
        value = read()
        if value is None:
            logger.debug("platform probe failed; answering the last value %r", last[0])
            return last[0]
        last[0] = value
        return value

    return reader


def _indexed(sources: Sequence[PowerSource], attribute: str) -> dict[int, int]:
    """``{source index: value}`` for the sources that report ``attribute``."""
    values = {i: getattr(source, attribute) for i, source in enumerate(sources)}
    return {i: v for i, v in values.items() if isinstance(v, int)}
