"""Built-in definitions of the LwM2M core objects 0-7 and IPSO 3303 (Temperature).

The facts (ids, names, types, operations, instance rules, ranges, units and
versions) are those of the newest OMA registry DDF files: Security 1.2,
Server 1.2, Access Control 1.1, Device 1.2, Connectivity Monitoring 1.3,
Firmware Update 1.2, Location 1.0, Connectivity Statistics 1.0 and
Temperature 1.1. ``tests/lwm2m/test_core_objects.py`` checks every line here
against those files through :func:`m2mclient.lwm2m.ddf.load_ddf`.

Resource descriptions are left out to keep the table readable; load the DDF
file when you need them.
"""

from __future__ import annotations

from m2mclient.lwm2m.model import DataType, ObjectDefinition, Operations, ResourceDefinition


def _r(
    resource_id: int,
    name: str,
    data_type: DataType,
    operations: str,
    *,
    multiple: bool = False,
    mandatory: bool = False,
    range: str = "",  # the DDF <RangeEnumeration>; a short keyword keeps the table on one line per resource
    units: str = "",
) -> ResourceDefinition:
    """One resource line, with operations written as in DDF files: ``"R"``, ``"RW"``, ``"E"`` or ``""``."""
    return ResourceDefinition(
        id=resource_id,
        name=name,
        type=data_type,
        operations=Operations.from_ddf(operations),
        multiple=multiple,
        mandatory=mandatory,
        range_enumeration=range,
        units=units,
    )


def _by_id(*resources: ResourceDefinition) -> dict[int, ResourceDefinition]:
    return {resource.id: resource for resource in resources}


# Security resources have no operations on purpose: the DDF says they "MUST only
# be changed by a LwM2M Bootstrap-Server" and "MUST NOT be accessible by any other
# LwM2M Server", so no regular server may read, write or execute them.
_SECURITY = ObjectDefinition(
    id=0,
    name="LWM2M Security",
    version="1.2",
    lwm2m_version="1.1",
    urn="urn:oma:lwm2m:oma:0:1.2",
    multiple=True,
    mandatory=True,
    description="Keying material a client uses to reach an LwM2M Server or Bootstrap-Server.",
    resources=_by_id(
        _r(0, "LWM2M Server URI", DataType.STRING, "", mandatory=True, range="0..255"),
        _r(1, "Bootstrap-Server", DataType.BOOLEAN, "", mandatory=True),
        _r(2, "Security Mode", DataType.INTEGER, "", mandatory=True, range="0..4"),
        _r(3, "Public Key or Identity", DataType.OPAQUE, "", mandatory=True),
        _r(4, "Server Public Key", DataType.OPAQUE, "", mandatory=True),
        _r(5, "Secret Key", DataType.OPAQUE, "", mandatory=True),
        _r(6, "SMS Security Mode", DataType.INTEGER, "", range="0..255"),
        _r(7, "SMS Binding Key Parameters", DataType.OPAQUE, "", range="6"),
        _r(8, "SMS Binding Secret Key(s)", DataType.OPAQUE, "", range="16,32,48"),
        _r(9, "LwM2M Server SMS Number", DataType.STRING, ""),
        _r(10, "Short Server ID", DataType.INTEGER, "", range="1..65534"),
        _r(11, "Client Hold Off Time", DataType.INTEGER, "", units="s"),
        _r(12, "Bootstrap-Server Account Timeout", DataType.INTEGER, "", units="s"),
        _r(13, "Matching Type", DataType.UNSIGNED_INTEGER, "", range="0..3"),
        _r(14, "SNI", DataType.STRING, ""),
        _r(15, "Certificate Usage", DataType.UNSIGNED_INTEGER, "", range="0..3"),
        _r(16, "DTLS/TLS Ciphersuite", DataType.UNSIGNED_INTEGER, "", multiple=True),
        _r(17, "OSCORE Security Mode", DataType.OBJLNK, ""),
        _r(18, "Groups To Use by Client", DataType.UNSIGNED_INTEGER, "", multiple=True, range="0..65535"),
        _r(
            19,
            "Signature Algorithms Supported by Server",
            DataType.UNSIGNED_INTEGER,
            "",
            multiple=True,
            range="0..65535",
        ),
        _r(20, "Signature Algorithms To Use by Client", DataType.UNSIGNED_INTEGER, "", multiple=True, range="0..65535"),
        _r(
            21,
            "Signature Algorithm Certs Supported by Server",
            DataType.UNSIGNED_INTEGER,
            "",
            multiple=True,
            range="0..65535",
        ),
        _r(22, "TLS 1.3 Features To Use by Client", DataType.UNSIGNED_INTEGER, "", range="0..65535"),
        _r(23, "TLS Extensions Supported by Server", DataType.UNSIGNED_INTEGER, "", range="0..65535"),
        _r(24, "TLS Extensions To Use by Client", DataType.UNSIGNED_INTEGER, "", range="0..65535"),
        _r(25, "Secondary LwM2M Server URI", DataType.STRING, "", multiple=True, range="0..255"),
        _r(26, "MQTT Server", DataType.OBJLNK, ""),
        _r(27, "LwM2M COSE Security", DataType.OBJLNK, "", multiple=True),
        _r(28, "RDS Destination Port", DataType.INTEGER, "", range="0..15"),
        _r(29, "RDS Source Port", DataType.INTEGER, "", range="0..15"),
        _r(30, "RDS Application ID", DataType.STRING, ""),
    ),
)

_SERVER = ObjectDefinition(
    id=1,
    name="LwM2M Server",
    version="1.2",
    lwm2m_version="1.2",
    urn="urn:oma:lwm2m:oma:1:1.2",
    multiple=True,
    mandatory=True,
    description="Settings of one LwM2M Server account: lifetime, binding, notification defaults.",
    resources=_by_id(
        _r(0, "Short Server ID", DataType.INTEGER, "R", mandatory=True, range="1..65534"),
        _r(1, "Lifetime", DataType.INTEGER, "RW", mandatory=True, units="s"),
        _r(2, "Default Minimum Period", DataType.INTEGER, "RW", units="s"),
        _r(3, "Default Maximum Period", DataType.INTEGER, "RW", units="s"),
        _r(4, "Disable", DataType.NONE, "E"),
        _r(5, "Disable Timeout", DataType.INTEGER, "RW", units="s"),
        _r(6, "Notification Storing When Disabled or Offline", DataType.BOOLEAN, "RW", mandatory=True),
        _r(7, "Binding", DataType.STRING, "RW", mandatory=True),
        _r(8, "Registration Update Trigger", DataType.NONE, "E", mandatory=True),
        _r(9, "Bootstrap-Request Trigger", DataType.NONE, "E"),
        _r(10, "APN Link", DataType.OBJLNK, "RW"),
        _r(11, "TLS-DTLS Alert Code", DataType.UNSIGNED_INTEGER, "R", range="0..255"),
        _r(12, "Last Bootstrapped", DataType.TIME, "R"),
        _r(13, "Registration Priority Order", DataType.UNSIGNED_INTEGER, "R"),
        _r(14, "Initial Registration Delay Timer", DataType.UNSIGNED_INTEGER, "RW", units="s"),
        _r(15, "Registration Failure Block", DataType.BOOLEAN, "R"),
        _r(16, "Bootstrap on Registration Failure", DataType.BOOLEAN, "R"),
        _r(17, "Communication Retry Count", DataType.UNSIGNED_INTEGER, "RW"),
        _r(18, "Communication Retry Timer", DataType.UNSIGNED_INTEGER, "RW", units="s"),
        _r(19, "Communication Sequence Delay Timer", DataType.UNSIGNED_INTEGER, "RW", units="s"),
        _r(20, "Communication Sequence Retry Count", DataType.UNSIGNED_INTEGER, "RW"),
        _r(21, "Trigger", DataType.BOOLEAN, "RW"),
        _r(
            22,
            "Preferred Transport",
            DataType.STRING,
            "RW",
            range="The possible values are those listed in the LwM2M Core Specification",
        ),
        _r(23, "Mute Send", DataType.BOOLEAN, "RW"),
        _r(24, "Alternate APN Links", DataType.OBJLNK, "RW", multiple=True),
        _r(25, "Supported Server Versions", DataType.STRING, "RW", multiple=True),
        _r(26, "Default Notification Mode", DataType.INTEGER, "RW", range="0..1"),
        _r(27, "Profile ID Hash Algorithm", DataType.UNSIGNED_INTEGER, "RW", range="0..255"),
    ),
)

_ACCESS_CONTROL = ObjectDefinition(
    id=2,
    name="LwM2M Access Control",
    version="1.1",
    lwm2m_version="1.0",
    urn="urn:oma:lwm2m:oma:2:1.1",
    multiple=True,
    mandatory=False,
    description="Which server may perform which operation on an object or instance.",
    resources=_by_id(
        _r(0, "Object ID", DataType.INTEGER, "R", mandatory=True, range="1..65534"),
        _r(1, "Object Instance ID", DataType.INTEGER, "R", mandatory=True, range="0..65535"),
        _r(2, "ACL", DataType.INTEGER, "RW", multiple=True, range="0..31"),
        _r(3, "Access Control Owner", DataType.INTEGER, "RW", mandatory=True, range="0..65535"),
    ),
)

_DEVICE = ObjectDefinition(
    id=3,
    name="Device",
    version="1.2",
    lwm2m_version="1.1",
    urn="urn:oma:lwm2m:oma:3:1.2",
    multiple=False,
    mandatory=True,
    description="Device information, reboot and factory reset.",
    resources=_by_id(
        _r(0, "Manufacturer", DataType.STRING, "R"),
        _r(1, "Model Number", DataType.STRING, "R"),
        _r(2, "Serial Number", DataType.STRING, "R"),
        _r(3, "Firmware Version", DataType.STRING, "R"),
        _r(4, "Reboot", DataType.NONE, "E", mandatory=True),
        _r(5, "Factory Reset", DataType.NONE, "E"),
        _r(6, "Available Power Sources", DataType.INTEGER, "R", multiple=True, range="0..7"),
        _r(7, "Power Source Voltage", DataType.INTEGER, "R", multiple=True),
        _r(8, "Power Source Current", DataType.INTEGER, "R", multiple=True),
        _r(9, "Battery Level", DataType.INTEGER, "R", range="0..100", units="/100"),
        _r(10, "Memory Free", DataType.INTEGER, "R"),
        _r(11, "Error Code", DataType.INTEGER, "R", multiple=True, mandatory=True, range="0..32"),
        _r(12, "Reset Error Code", DataType.NONE, "E"),
        _r(13, "Current Time", DataType.TIME, "RW"),
        _r(14, "UTC Offset", DataType.STRING, "RW"),
        _r(15, "Timezone", DataType.STRING, "RW"),
        _r(16, "Supported Binding and Modes", DataType.STRING, "R", mandatory=True),
        _r(17, "Device Type", DataType.STRING, "R"),
        _r(18, "Hardware Version", DataType.STRING, "R"),
        _r(19, "Software Version", DataType.STRING, "R"),
        _r(20, "Battery Status", DataType.INTEGER, "R", range="0..6"),
        _r(21, "Memory Total", DataType.INTEGER, "R"),
        _r(22, "ExtDevInfo", DataType.OBJLNK, "R", multiple=True),
    ),
)

_CONNECTIVITY_MONITORING = ObjectDefinition(
    id=4,
    name="Connectivity Monitoring",
    version="1.3",
    lwm2m_version="1.1",
    urn="urn:oma:lwm2m:oma:4:1.3",
    multiple=False,
    mandatory=False,
    description="Network bearer, signal and addressing of the current connection.",
    resources=_by_id(
        _r(0, "Network Bearer", DataType.INTEGER, "R", mandatory=True, range="0..50"),
        _r(1, "Available Network Bearer", DataType.INTEGER, "R", multiple=True, mandatory=True, range="0..50"),
        _r(2, "Radio Signal Strength", DataType.INTEGER, "R", mandatory=True, units="dBm"),
        _r(3, "Link Quality", DataType.INTEGER, "R"),
        _r(4, "IP Addresses", DataType.STRING, "R", multiple=True, mandatory=True),
        _r(5, "Router IP Addresses", DataType.STRING, "R", multiple=True),
        _r(6, "Link Utilization", DataType.INTEGER, "R", range="0..100", units="/100"),
        _r(7, "APN", DataType.STRING, "R", multiple=True),
        _r(8, "Cell ID", DataType.INTEGER, "R"),
        _r(9, "SMNC", DataType.INTEGER, "R", range="0..999"),
        _r(10, "SMCC", DataType.INTEGER, "R", range="0..999"),
        _r(11, "SignalSNR", DataType.INTEGER, "R", units="dB"),
        _r(12, "LAC", DataType.INTEGER, "R"),
        _r(13, "Coverage Enhancement Level", DataType.INTEGER, "R", range="0..4"),
    ),
)

_FIRMWARE_UPDATE = ObjectDefinition(
    id=5,
    name="Firmware Update",
    version="1.2",
    lwm2m_version="1.1",
    urn="urn:oma:lwm2m:oma:5:1.2",
    multiple=False,
    mandatory=False,
    description="Firmware download (push or pull) and update state machine.",
    resources=_by_id(
        _r(0, "Package", DataType.OPAQUE, "W", mandatory=True),
        _r(1, "Package URI", DataType.STRING, "RW", mandatory=True, range="0..255"),
        _r(2, "Update", DataType.NONE, "E", mandatory=True),
        _r(3, "State", DataType.INTEGER, "R", mandatory=True, range="0..3"),
        _r(5, "Update Result", DataType.INTEGER, "R", mandatory=True, range="0..11"),
        _r(6, "PkgName", DataType.STRING, "R", range="0..255"),
        _r(7, "PkgVersion", DataType.STRING, "R", range="0..255"),
        _r(8, "Firmware Update Protocol Support", DataType.INTEGER, "R", multiple=True, range="0..5"),
        _r(9, "Firmware Update Delivery Method", DataType.INTEGER, "R", mandatory=True, range="0..2"),
        _r(10, "Cancel", DataType.NONE, "E"),
        _r(11, "Severity", DataType.INTEGER, "RW", range="0..2"),
        _r(12, "Last State Change Time", DataType.TIME, "R"),
        _r(13, "Maximum Defer Period", DataType.UNSIGNED_INTEGER, "RW", units="s"),
        _r(14, "Automatic Upgrade at Download", DataType.BOOLEAN, "RW"),
    ),
)

_LOCATION = ObjectDefinition(
    id=6,
    name="Location",
    version="1.0",
    lwm2m_version="1.0",
    urn="urn:oma:lwm2m:oma:6",
    multiple=False,
    mandatory=False,
    description="Device position, velocity and the time it was measured.",
    resources=_by_id(
        _r(0, "Latitude", DataType.FLOAT, "R", mandatory=True, units="lat"),
        _r(1, "Longitude", DataType.FLOAT, "R", mandatory=True, units="lon"),
        _r(2, "Altitude", DataType.FLOAT, "R", units="m"),
        _r(3, "Radius", DataType.FLOAT, "R", units="m"),
        _r(4, "Velocity", DataType.OPAQUE, "R"),
        _r(5, "Timestamp", DataType.TIME, "R", mandatory=True),
        _r(6, "Speed", DataType.FLOAT, "R", units="m/s"),
    ),
)

_CONNECTIVITY_STATISTICS = ObjectDefinition(
    id=7,
    name="Connectivity Statistics",
    version="1.0",
    lwm2m_version="1.0",
    urn="urn:oma:lwm2m:oma:7",
    multiple=False,
    mandatory=False,
    description="SMS and data counters collected over a chosen period.",
    resources=_by_id(
        _r(0, "SMS Tx Counter", DataType.INTEGER, "R"),
        _r(1, "SMS Rx Counter", DataType.INTEGER, "R"),
        _r(2, "Tx Data", DataType.INTEGER, "R"),
        _r(3, "Rx Data", DataType.INTEGER, "R"),
        _r(4, "Max Message Size", DataType.INTEGER, "R", units="B"),
        _r(5, "Average Message Size", DataType.INTEGER, "R", units="B"),
        _r(6, "Start", DataType.NONE, "E", mandatory=True),
        _r(7, "Stop", DataType.NONE, "E", mandatory=True),
        _r(8, "Collection Period", DataType.INTEGER, "RW", units="s"),
    ),
)

_TEMPERATURE = ObjectDefinition(
    id=3303,
    name="Temperature",
    version="1.1",
    lwm2m_version="1.0",
    urn="urn:oma:lwm2m:ext:3303:1.1",
    multiple=True,
    mandatory=False,
    description="IPSO temperature sensor: current, minimum and maximum measured value.",
    resources=_by_id(
        _r(5518, "Timestamp", DataType.TIME, "R"),
        _r(5601, "Min Measured Value", DataType.FLOAT, "R"),
        _r(5602, "Max Measured Value", DataType.FLOAT, "R"),
        _r(5603, "Min Range Value", DataType.FLOAT, "R"),
        _r(5604, "Max Range Value", DataType.FLOAT, "R"),
        _r(5605, "Reset Min and Max Measured Values", DataType.NONE, "E"),
        _r(5700, "Sensor Value", DataType.FLOAT, "R", mandatory=True),
        _r(5701, "Sensor Units", DataType.STRING, "R"),
        _r(5750, "Application Type", DataType.STRING, "RW"),
        _r(6042, "Measurement Quality Indicator", DataType.INTEGER, "R", range="0..23"),
        _r(6049, "Measurement Quality Level", DataType.INTEGER, "R", range="0..100"),
        _r(6050, "Fractional Timestamp", DataType.FLOAT, "R", range="0..1", units="s"),
    ),
)

#: The built-in object definitions, in id order; :func:`~m2mclient.lwm2m.registry.default_registry` starts from these.
CORE_OBJECTS: tuple[ObjectDefinition, ...] = (
    _SECURITY,
    _SERVER,
    _ACCESS_CONTROL,
    _DEVICE,
    _CONNECTIVITY_MONITORING,
    _FIRMWARE_UPDATE,
    _LOCATION,
    _CONNECTIVITY_STATISTICS,
    _TEMPERATURE,
)
