"""LwM2M object instances: the base classes applications use, and the standard objects."""

from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance, OperationError
from m2mclient.lwm2m.objects.connectivity import (
    ConnectivityMonitoring,
    LinkInfo,
    NetworkBearer,
    bearer_of_interface,
    probe_host_link,
)
from m2mclient.lwm2m.objects.device import (
    BatteryReading,
    BatteryStatus,
    DeviceObject,
    ErrorCode,
    PlatformInfo,
    PowerSource,
    PowerSourceType,
)
from m2mclient.lwm2m.objects.location import LocationInstance
from m2mclient.lwm2m.objects.security import SecurityMode, SecuritySettings, security_instance
from m2mclient.lwm2m.objects.server import (
    ServerInstance,
    ServerSettings,
    binding_for_uri,
    server_config,
    server_instance,
)
from m2mclient.lwm2m.objects.temperature import SensorError, TemperatureSensor, thermal_zone_reader

__all__ = [
    "BatteryReading",
    "BatteryStatus",
    "ConnectivityMonitoring",
    "DeviceObject",
    "ErrorCode",
    "LinkInfo",
    "LocationInstance",
    "LwM2MObject",
    "NetworkBearer",
    "ObjectInstance",
    "OperationError",
    "PlatformInfo",
    "PowerSource",
    "PowerSourceType",
    "SecurityMode",
    "SecuritySettings",
    "SensorError",
    "ServerInstance",
    "ServerSettings",
    "TemperatureSensor",
    "bearer_of_interface",
    "binding_for_uri",
    "probe_host_link",
    "security_instance",
    "server_config",
    "server_instance",
    "thermal_zone_reader",
]
