"""The standard objects (0, 1, 3, 4, 6, 3303) built from fake /proc and /sys trees."""

from __future__ import annotations

import asyncio
import platform
import re
from pathlib import Path

import pytest

import m2mclient
from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.model import ObjLnk
from m2mclient.lwm2m.model import Path as LwPath
from m2mclient.lwm2m.objects import (
    BatteryStatus,
    ConnectivityMonitoring,
    DeviceObject,
    ErrorCode,
    LinkInfo,
    LocationInstance,
    LwM2MObject,
    NetworkBearer,
    ObjectInstance,
    OperationError,
    PlatformInfo,
    PowerSource,
    PowerSourceType,
    SecurityMode,
    SecuritySettings,
    SensorError,
    ServerInstance,
    ServerSettings,
    TemperatureSensor,
    bearer_of_interface,
    binding_for_uri,
    probe_host_link,
    security_instance,
    server_config,
    server_instance,
)
from m2mclient.lwm2m.objects import server as server_ids


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def changes_of(instance: ObjectInstance) -> list[str]:
    seen: list[str] = []
    instance.add_listener(lambda path: seen.append(str(path)))
    return seen


def present(instance: ObjectInstance) -> dict[int, object]:
    return {rid: instance.get(rid) for rid in instance.resource_ids()}


# --- fake platform trees -------------------------------------------------------------------

CPUINFO_PI = """processor\t: 0
model name\t: ARMv7 Processor rev 3 (v7l)
Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32

Hardware\t: BCM2711
Revision\t: c03114
Serial\t\t: 10000000a1b2c3d4
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""

MEMINFO = """MemTotal:        3884096 kB
MemFree:         2543124 kB
MemAvailable:    3300000 kB
Buffers:           52000 kB
"""


@pytest.fixture
def pi_root(tmp_path: Path) -> Path:
    write(tmp_path, "proc/device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\x00")
    write(tmp_path, "proc/cpuinfo", CPUINFO_PI)
    write(tmp_path, "proc/meminfo", MEMINFO)
    battery = "sys/class/power_supply/BAT0/"
    write(tmp_path, battery + "type", "Battery\n")
    write(tmp_path, battery + "present", "1\n")
    write(tmp_path, battery + "capacity", "87\n")
    write(tmp_path, battery + "status", "Discharging\n")
    write(tmp_path, battery + "voltage_now", "3912000\n")
    write(tmp_path, battery + "current_now", "-250000\n")
    write(tmp_path, "sys/class/power_supply/USB0/type", "USB\n")
    write(tmp_path, "sys/class/power_supply/USB0/online", "1\n")
    write(tmp_path, "sys/class/power_supply/AC/type", "Mains\n")
    write(tmp_path, "sys/class/power_supply/AC/online", "0\n")
    write(tmp_path, "etc/timezone", "Europe/Berlin\n")
    return tmp_path


def fake_platform(root: Path) -> PlatformInfo:
    return PlatformInfo(root, hostname=lambda: "test-host", machine=lambda: "armv7l")


# --- Security (0) and Server (1) -------------------------------------------------------------


def test_security_instance_nosec_has_mandatory_resources_with_their_types() -> None:
    instance = security_instance(0, "coap://leshan.example:5683", short_server_id=7, client_hold_off=5)
    assert instance.path == LwPath.of(0, 0)
    assert present(instance) == {
        0: "coap://leshan.example:5683",
        1: False,
        2: SecurityMode.NO_SEC,
        3: b"",
        4: b"",
        5: b"",
        10: 7,
        11: 5,
    }
    assert isinstance(instance.get(3), bytes)


def test_security_instance_psk_stores_identity_as_bytes() -> None:
    instance = security_instance(
        1,
        "coaps://s.example",
        security_mode=SecurityMode.PSK,
        short_server_id=1,
        psk_identity="dev-1",
        psk_key=b"\x01\x02",
    )
    settings = SecuritySettings.from_instance(instance)
    assert settings.security_mode is SecurityMode.PSK
    assert settings.public_key_or_identity == b"dev-1"
    assert settings.secret_key == b"\x01\x02"
    assert settings.short_server_id == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"short_server_id": None},  # a regular server needs its short id
        {"short_server_id": 1, "security_mode": SecurityMode.PSK},  # PSK without keys
        {"short_server_id": 1, "psk_key": b"k"},  # keys with NoSec
        {"short_server_id": 0},  # outside 1..65534
    ],
)
def test_security_instance_rejects_inconsistent_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueValidationError):
        security_instance(0, "coap://s.example", **kwargs)  # type: ignore[arg-type]


def test_bootstrap_security_instance_needs_no_short_server_id() -> None:
    settings = SecuritySettings.from_instance(security_instance(0, "coap://bs.example:5783", bootstrap=True))
    assert settings.bootstrap is True
    assert settings.short_server_id is None
    assert settings.client_hold_off == 0


def test_server_instance_resources_and_types() -> None:
    instance = server_instance(2, 123, 600, default_pmin=10, default_pmax=300, apn_link=(11, 0))
    assert isinstance(instance, ServerInstance)
    values = present(instance)
    assert values == {0: 123, 1: 600, 2: 10, 3: 300, 5: 86400, 6: True, 7: "U", 10: ObjLnk(11, 0), 23: False}


@pytest.mark.parametrize(
    "kwargs",
    [{"binding": "X"}, {"binding": ""}, {"default_pmin": 60, "default_pmax": 30}],
)
def test_server_instance_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueValidationError):
        server_instance(0, 1, 300, **kwargs)  # type: ignore[arg-type]


def test_server_executes_answer_405_until_the_client_wires_them() -> None:
    instance = server_instance(0, 1, 300)
    with pytest.raises(OperationError) as failure:
        instance.execute_resource(server_ids.REGISTRATION_UPDATE_TRIGGER, None)
    assert failure.value.code == "4.05"
    calls: list[tuple[str, str | None]] = []
    instance.on_execute(server_ids.REGISTRATION_UPDATE_TRIGGER, lambda args: calls.append(("update", args)))
    instance.on_execute(server_ids.DISABLE, lambda args: calls.append(("disable", args)))
    instance.on_execute(server_ids.BOOTSTRAP_REQUEST_TRIGGER, lambda args: calls.append(("bootstrap", args)))
    instance.execute_resource(8, "0='U'")
    instance.execute_resource(4, None)
    instance.execute_resource(9, None)
    assert calls == [("update", "0='U'"), ("disable", None), ("bootstrap", None)]


@pytest.mark.parametrize(
    ("uri", "binding"),
    [
        ("coap://127.0.0.1:5683", "U"),
        ("coap+tcp://lwm2m.example:5683", "T"),
        ("COAP://upper.example", "U"),
    ],
)
def test_server_config_derives_binding_from_the_uri_scheme(uri: str, binding: str) -> None:
    security, server = server_config(uri, short_server_id=3, lifetime=120)
    assert security.object_id == 0
    assert server.object_id == 1
    assert security.get(0) == uri
    assert security.get(10) == 3 == server.get(0)
    assert security.get(2) == SecurityMode.NO_SEC
    settings = ServerSettings.from_instance(server)
    assert settings.binding == binding
    assert settings.lifetime == 120
    assert settings.queue_mode is False


def test_server_config_secure_schemes_need_keys_and_use_psk() -> None:
    with pytest.raises(ValueValidationError, match="psk_identity"):
        server_config("coaps://s.example")
    with pytest.raises(ValueValidationError, match="not a secure scheme"):
        server_config("coap://s.example", psk_identity="id", psk_key=b"key")
    security, server = server_config("coaps+tcp://s.example", psk_identity="id", psk_key=b"key")
    assert SecuritySettings.from_instance(security).security_mode is SecurityMode.PSK
    assert server.get(7) == "T"


def test_server_config_explicit_binding_queue_mode_and_instance_id() -> None:
    security, server = server_config("coap://s.example", binding="UT", queue_mode=True, instance_id=4)
    assert security.instance_id == server.instance_id == 4
    settings = ServerSettings.from_instance(server)
    assert settings.binding == "UT"
    assert settings.queue_mode is True
    assert settings.transports == "UT"


def test_server_config_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueValidationError, match="known schemes"):
        server_config("ftp://s.example")
    assert binding_for_uri("mqtts://broker.example") == "M"


def test_server_settings_defaults_for_absent_resources() -> None:
    # What a Bootstrap-Server might create: only the mandatory resources, 1.0-style "UQ" binding.
    instance = ObjectInstance(server_ids.SERVER, 0, {0: 9, 1: 86400, 6: False, 7: "UQ"})
    settings = ServerSettings.from_instance(instance)
    assert settings.short_server_id == 9
    assert settings.notification_storing is False
    assert settings.default_pmin is None
    assert settings.default_pmax is None
    assert settings.disable_timeout == 86400
    assert settings.mute_send is True  # absent Mute Send means Send is off
    assert settings.queue_mode is True
    assert settings.transports == "U"
    assert (
        settings.communication_retry_count,
        settings.communication_retry_timer,
        settings.communication_sequence_delay_timer,
        settings.communication_sequence_retry_count,
    ) == (5, 60, 86400, 1)
    assert settings.bootstrap_on_registration_failure is True


def test_server_settings_reads_written_values() -> None:
    instance = server_instance(
        0,
        1,
        300,
        default_pmin=5,
        default_pmax=50,
        disable_timeout=600,
        mute_send=False,
        communication_retry_count=2,
        communication_retry_timer=30,
        communication_sequence_delay_timer=900,
        communication_sequence_retry_count=3,
        preferred_transport="T",
    )
    instance.write_resource(1, 1200)  # a server's Write of the lifetime
    settings = ServerSettings.from_instance(instance)
    assert settings.lifetime == 1200
    assert (settings.default_pmin, settings.default_pmax, settings.disable_timeout) == (5, 50, 600)
    assert settings.mute_send is False
    assert settings.communication_retry_count == 2
    assert settings.communication_retry_timer == 30
    assert settings.communication_sequence_delay_timer == 900
    assert settings.communication_sequence_retry_count == 3
    assert settings.preferred_transport == "T"


def test_settings_accessors_refuse_other_objects_and_missing_mandatory_values() -> None:
    with pytest.raises(ValueValidationError, match="not a Server"):
        ServerSettings.from_instance(security_instance(0, "coap://s", short_server_id=1))
    with pytest.raises(ValueValidationError, match="Binding"):
        ServerSettings.from_instance(ObjectInstance(server_ids.SERVER, 0, {0: 1, 1: 60}))
    with pytest.raises(ValueValidationError, match="not a Security"):
        SecuritySettings.from_instance(server_instance(0, 1, 60))


def test_server_instance_is_an_instance_factory() -> None:
    container = LwM2MObject(server_ids.SERVER, factory=ServerInstance)
    created = container.new_instance(3)
    assert isinstance(created, ServerInstance)
    assert created.instance_id == 3
    assert created.queue_mode is False


# --- Device (3) ------------------------------------------------------------------------------


def test_device_probes_a_raspberry_pi(pi_root: Path) -> None:
    device = DeviceObject(platform_info=fake_platform(pi_root), binding_modes="UQ", clock=lambda: 1_700_000_000.0)
    values = present(device)
    assert values[0] == "Raspberry Pi Ltd"
    assert values[1] == "Raspberry Pi 4 Model B Rev 1.4"  # the device tree's NUL is gone
    assert values[2] == "10000000a1b2c3d4"
    assert values[3] == m2mclient.__version__
    assert values[18] == "c03114"
    assert values[16] == "UQ"
    assert values[15] == "Europe/Berlin"
    assert values[10] == 3300000 * 1024 // 1000  # KiB to the DDF's 1000-byte kilobytes
    assert values[21] == 3884096 * 1024 // 1000
    assert values[9] == 87
    assert values[20] == BatteryStatus.NORMAL
    # BAT0 and USB0 are sorted by name; the offline mains supply is not available.
    assert values[6] == {0: PowerSourceType.INTERNAL_BATTERY, 1: PowerSourceType.USB}
    assert values[7] == {0: 3912}
    assert values[8] == {0: -250}
    assert values[11] == {0: 0}
    assert values[13] == 1_700_000_000


def test_device_firmware_version_defaults_to_the_sdk_version(tmp_path: Path) -> None:
    assert DeviceObject(platform_info=fake_platform(tmp_path)).get(3) == m2mclient.__version__
    assert DeviceObject(platform_info=fake_platform(tmp_path), firmware_version="app-2.1").get(3) == "app-2.1"


def test_device_readers_follow_the_files(pi_root: Path) -> None:
    device = DeviceObject(platform_info=fake_platform(pi_root))
    write(pi_root, "proc/meminfo", MEMINFO.replace("3300000", "1000000"))
    write(pi_root, "sys/class/power_supply/BAT0/capacity", "12\n")
    write(pi_root, "sys/class/power_supply/BAT0/capacity_level", "Low\n")
    write(pi_root, "sys/class/power_supply/BAT0/voltage_now", "3500000\n")
    assert device.get(10) == 1024000
    assert device.get(9) == 12
    assert device.get(20) == BatteryStatus.LOW
    assert device.get(7) == {0: 3500}
    write(pi_root, "sys/class/power_supply/BAT0/status", "Charging\n")
    assert device.get(20) == BatteryStatus.CHARGING


def test_device_keeps_the_last_value_when_a_probe_file_vanishes(pi_root: Path) -> None:
    device = DeviceObject(platform_info=fake_platform(pi_root))
    (pi_root / "proc/meminfo").unlink()
    (pi_root / "sys/class/power_supply/BAT0/capacity").unlink()
    assert device.get(10) == 3300000 * 1024 // 1000
    assert device.get(9) == 87


def test_device_on_an_empty_tree_leaves_unknown_resources_out(tmp_path: Path) -> None:
    device = DeviceObject(platform_info=fake_platform(tmp_path), utc_offset="+02:00")
    values = present(device)
    assert values[1] == "armv7l"  # platform.machine() fallback
    assert values[2] == "test-host"  # platform.node() fallback
    assert values[14] == "+02:00"
    for absent in (0, 6, 7, 8, 9, 10, 15, 18, 20, 21):
        assert absent not in values
    with pytest.raises(OperationError) as failure:
        device.get(9)
    assert failure.value.code == "4.04"


def test_device_default_platform_fallbacks_are_the_host(tmp_path: Path) -> None:
    device = DeviceObject(platform_info=PlatformInfo(tmp_path))
    assert device.get(1) == platform.machine()
    assert device.get(2) == platform.node()


def test_device_given_values_win_and_probe_false_reads_nothing(pi_root: Path) -> None:
    device = DeviceObject(
        manufacturer="ACME",
        model_number="Sensor-9",
        serial_number="SN-1",
        hardware_version="B",
        software_version="app-1.0",
        device_type="gateway",
        utc_offset="+00:00",
        timezone="Etc/UTC",
        power_sources=[PowerSource(PowerSourceType.DC, voltage_mv=5000), PowerSource(PowerSourceType.SOLAR)],
        probe=False,
        platform_info=fake_platform(pi_root),
    )
    values = present(device)
    assert (values[0], values[1], values[2], values[17], values[18], values[19]) == (
        "ACME",
        "Sensor-9",
        "SN-1",
        "gateway",
        "B",
        "app-1.0",
    )
    assert values[6] == {0: 0, 1: 7}
    assert values[7] == {0: 5000}
    assert 8 not in values
    assert 9 not in values and 10 not in values  # probing was off


def test_device_rejects_unknown_binding_letters() -> None:
    with pytest.raises(ValueValidationError, match="binding_modes"):
        DeviceObject(binding_modes="UX", probe=False)


def test_device_utc_offset_default_is_iso_8601() -> None:
    offset = DeviceObject(probe=False).get(14)
    assert isinstance(offset, str)
    assert re.fullmatch(r"[+-]\d\d:\d\d", offset)


def test_device_reboot_hook_runs_after_the_response_sync() -> None:
    calls: list[str] = []
    device = DeviceObject(probe=False, on_reboot=lambda: calls.append("reboot"))
    after = device.execute_resource(4, None)
    assert calls == []  # nothing happens before the engine has answered 2.04
    assert after is not None
    asyncio.run(after)  # type: ignore[arg-type]
    assert calls == ["reboot"]


def test_device_factory_reset_hook_async() -> None:
    calls: list[str] = []

    async def factory_reset() -> None:
        await asyncio.sleep(0)
        calls.append("factory reset")

    device = DeviceObject(probe=False, on_factory_reset=factory_reset)
    after = device.execute_resource(5, None)
    assert after is not None
    asyncio.run(after)  # type: ignore[arg-type]
    assert calls == ["factory reset"]


@pytest.mark.parametrize("resource_id", [4, 5])
def test_device_without_hooks_answers_405(resource_id: int) -> None:
    with pytest.raises(OperationError, match="not supported on this device") as failure:
        DeviceObject(probe=False).execute_resource(resource_id, None)
    assert failure.value.code == "4.05"


def test_device_error_codes_follow_the_ddf() -> None:
    device = DeviceObject(probe=False)
    seen = changes_of(device)
    assert device.get(11) == {0: 0}
    assert device.errors == []
    device.report_error(ErrorCode.LOW_BATTERY)
    assert device.get(11) == {0: 1}  # the first error replaces "no error"
    device.report_error(ErrorCode.LOW_SIGNAL)
    device.report_error(ErrorCode.LOW_BATTERY)  # already reported: no change
    assert device.get(11) == {0: 1, 1: 4}
    assert device.errors == [1, 4]
    assert seen == ["/3/0/11", "/3/0/11"]
    device.clear_error(ErrorCode.LOW_BATTERY)
    assert device.get(11) == {1: 4}
    device.clear_error(ErrorCode.LOW_SIGNAL)
    assert device.get(11) == {0: 0}
    device.report_error(20)
    device.clear_errors()
    assert device.get(11) == {0: 0}


def test_device_reset_error_code_execute_clears_errors() -> None:
    device = DeviceObject(probe=False)
    device.report_error(ErrorCode.OUT_OF_MEMORY)
    assert device.execute_resource(12, None) is None
    assert device.get(11) == {0: 0}


@pytest.mark.parametrize("code", [0, 33, -1, True])
def test_device_report_error_rejects_codes_outside_1_to_32(code: int) -> None:
    with pytest.raises(ValueValidationError):
        DeviceObject(probe=False).report_error(code)


def test_device_current_time_write_sets_an_offset() -> None:
    now = [1000.0]
    device = DeviceObject(probe=False, clock=lambda: now[0])
    written: list[object] = []
    device.on_write(13, written.append)
    seen = changes_of(device)
    assert device.get(13) == 1000
    device.write_resource(13, 5000)  # the server says it is 5000
    assert device.time_offset == 4000
    assert device.get(13) == 5000
    now[0] = 1010.0
    assert device.get(13) == 5010  # the clock keeps running from the server's time
    assert written == [5000]  # the application's hook still sees the write
    assert seen == ["/3/0/13"]


def test_device_timezone_and_utc_offset_are_writable() -> None:
    device = DeviceObject(probe=False, utc_offset="+00:00")
    device.write_resource(14, "+05:30")
    device.write_resource(15, "Asia/Kolkata")
    assert (device.get(14), device.get(15)) == ("+05:30", "Asia/Kolkata")
    assert device.definition.resources[14].operations.writable


def test_platform_info_reads_localtime_symlink(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/localtime").symlink_to("/usr/share/zoneinfo/America/New_York")
    assert PlatformInfo(tmp_path).timezone() == "America/New_York"


def test_platform_info_battery_states(tmp_path: Path) -> None:
    supply = "sys/class/power_supply/battery/"
    write(tmp_path, supply + "type", "Battery")
    write(tmp_path, supply + "status", "Full")
    write(tmp_path, supply + "capacity", "104")  # some gauges overshoot
    reading = PlatformInfo(tmp_path).battery()
    assert reading is not None
    assert (reading.level, reading.status) == (100, BatteryStatus.CHARGE_COMPLETE)
    write(tmp_path, supply + "health", "Dead")
    assert PlatformInfo(tmp_path).battery().status is BatteryStatus.DAMAGED  # type: ignore[union-attr]
    write(tmp_path, supply + "present", "0")
    assert PlatformInfo(tmp_path).battery().status is BatteryStatus.NOT_INSTALLED  # type: ignore[union-attr]


def test_platform_info_ignores_all_zero_serials(tmp_path: Path) -> None:
    write(tmp_path, "proc/cpuinfo", "Serial\t\t: 0000000000000000\n")
    info = PlatformInfo(tmp_path, hostname=lambda: "box")
    assert info.serial_number() == "box"


# --- Connectivity Monitoring (4) ---------------------------------------------------------------

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlan0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlan0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0
"""

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.0.0/24 2 0 2
        |-- 10.0.0.42
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.77
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.0.0.42
        /32 host LOCAL
"""

IF_INET6 = """fe80000000000000021122fffe334455 03 40 20 80    wlan0
20010db8000000000000000000000042 03 40 00 00    wlan0
20010db8000000000000000000000077 02 40 00 00     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""


@pytest.fixture
def net_root(tmp_path: Path) -> Path:
    write(tmp_path, "proc/net/route", ROUTE)
    write(tmp_path, "proc/net/fib_trie", FIB_TRIE)
    write(tmp_path, "proc/net/if_inet6", IF_INET6)
    return tmp_path


def test_probe_host_link_uses_the_lowest_metric_default_route(net_root: Path) -> None:
    link = probe_host_link(net_root)
    assert link.network_bearer == NetworkBearer.WLAN
    assert link.available_bearers == (21,)
    # IPv4 of wlan0 only (not eth0's 192.168.1.77, not loopback), then global IPv6 (no fe80::).
    assert link.ip_addresses == ("10.0.0.42", "2001:db8::42")
    assert link.router_ip_addresses == ("10.0.0.1",)


def test_connectivity_instance_from_the_host(net_root: Path) -> None:
    instance = ConnectivityMonitoring(root=net_root)
    assert present(instance) == {
        0: 21,
        1: {0: 21},
        4: {0: "10.0.0.42", 1: "2001:db8::42"},
        5: {0: "10.0.0.1"},
    }


def test_connectivity_without_proc_net_is_empty(tmp_path: Path) -> None:
    assert probe_host_link(tmp_path) == LinkInfo()
    assert ConnectivityMonitoring(root=tmp_path).resource_ids() == []


def test_connectivity_update_from_a_modem_signals_only_changes() -> None:
    instance = ConnectivityMonitoring(LinkInfo())
    seen = changes_of(instance)
    instance.update(
        network_bearer=NetworkBearer.NB_IOT,
        available_bearers=[NetworkBearer.NB_IOT, NetworkBearer.LTE_FDD],
        radio_signal_strength=-97,
        link_quality=-11,
        ip_addresses="10.64.1.2",
        apn=["iot.example"],
        cell_id=0x1A2B3C,
        smnc=1,
        smcc=262,
    )
    assert instance.get(0) == 7
    assert instance.get(1) == {0: 7, 1: 6}
    assert instance.get(4) == {0: "10.64.1.2"}  # a lone string is one address
    assert instance.get(7) == {0: "iot.example"}
    assert (instance.get(2), instance.get(8), instance.get(9), instance.get(10)) == (-97, 0x1A2B3C, 1, 262)
    assert len(seen) == 9
    seen.clear()
    instance.update(radio_signal_strength=-97, cell_id=0x1A2B3D)
    assert seen == ["/4/0/8"]
    instance.update(cell_id=None)
    assert 8 not in instance.resource_ids()
    assert instance.link.cell_id is None


def test_connectivity_update_rejects_unknown_fields_and_bad_values_atomically() -> None:
    instance = ConnectivityMonitoring(LinkInfo(network_bearer=41, ip_addresses=("192.0.2.5",)))
    with pytest.raises(ValueValidationError, match="unknown link fields"):
        instance.update(rssi=-80)
    with pytest.raises(ValueValidationError):
        instance.update(network_bearer=99, cell_id=5)  # bearer outside 0..50
    assert instance.get(0) == 41
    assert 8 not in instance.resource_ids()
    assert instance.link.network_bearer == 41


@pytest.mark.parametrize(
    ("name", "bearer"),
    [
        ("wlan0", NetworkBearer.WLAN),
        ("wlp2s0", NetworkBearer.WLAN),
        ("eth0", NetworkBearer.ETHERNET),
        ("enp3s0", NetworkBearer.ETHERNET),
        ("wwan0", None),
        ("ppp0", None),
    ],
)
def test_bearer_of_interface(name: str, bearer: NetworkBearer | None) -> None:
    assert bearer_of_interface(name) == bearer


# --- Location (6) -----------------------------------------------------------------------------


def test_location_update_sets_all_resources_with_the_clock() -> None:
    location = LocationInstance(clock=lambda: 1_700_000_123.9)
    assert location.resource_ids() == []
    location.update(52.52, 13.405, altitude=34.0, radius=5, velocity=b"\x00\x5a\x00\x0a", speed=2.5)
    assert present(location) == {
        0: 52.52,
        1: 13.405,
        2: 34.0,
        3: 5.0,
        4: b"\x00\x5a\x00\x0a",
        5: 1_700_000_123,
        6: 2.5,
    }
    assert isinstance(location.get(3), float)


def test_location_later_fix_drops_stale_optional_values() -> None:
    location = LocationInstance(clock=lambda: 0.0)
    location.update(1.0, 2.0, altitude=100.0, speed=3.0)
    seen = changes_of(location)
    location.update(1.5, 2.0, timestamp=42)
    assert present(location) == {0: 1.5, 1: 2.0, 5: 42}
    assert sorted(seen) == ["/6/0/0", "/6/0/2", "/6/0/5", "/6/0/6"]


@pytest.mark.parametrize(("latitude", "longitude"), [(91.0, 0.0), (0.0, -180.5), (float("nan"), 0.0)])
def test_location_rejects_impossible_positions_without_changing_anything(latitude: float, longitude: float) -> None:
    location = LocationInstance(clock=lambda: 0.0)
    location.update(10.0, 20.0)
    with pytest.raises(ValueValidationError):
        location.update(latitude, longitude)
    assert (location.get(0), location.get(1)) == (10.0, 20.0)


# --- Temperature (3303) -----------------------------------------------------------------------


def test_temperature_from_a_thermal_zone(tmp_path: Path) -> None:
    zone = write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    sensor = TemperatureSensor(thermal_zone=zone, application_type="CPU")
    values = present(sensor)
    assert values[5700] == pytest.approx(48.312)
    assert isinstance(values[5700], float)
    assert values[5701] == "Cel"
    assert values[5750] == "CPU"
    assert values[5601] == values[5602] == pytest.approx(48.312)  # present from the first reading


def test_temperature_tracks_min_and_max_on_every_read() -> None:
    # The first reading is taken at construction, so Min/Max are present from the start.
    readings = iter([20.0, 25.5, 18.25, 22.0, 21.0])
    sensor = TemperatureSensor(7, read_celsius=lambda: next(readings), min_range=-40, max_range=85)
    assert sensor.path == LwPath.of(3303, 7)
    for _ in range(3):
        sensor.get(5700)
    assert (sensor.get(5601), sensor.get(5602)) == (18.25, 25.5)
    assert (sensor.get(5603), sensor.get(5604)) == (-40.0, 85.0)
    assert sensor.execute_resource(5605, None) is None  # reset to the current value (21.0)
    assert (sensor.get(5601), sensor.get(5602)) == (21.0, 21.0)


def test_temperature_sample_signals_only_changes_even_after_server_reads() -> None:
    value = [21.0]
    sensor = TemperatureSensor(read_celsius=lambda: value[0])
    seen = changes_of(sensor)
    assert sensor.sample() == 21.0
    assert seen == []
    value[0] = 23.5
    sensor.get(5700)  # a server Read sees the new value first
    seen.clear()
    assert sensor.sample() == 23.5
    assert seen == ["/3303/0/5700"]  # observers still hear about it


def test_temperature_missing_thermal_zone_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="pass read_celsius="):
        TemperatureSensor(thermal_zone=tmp_path / "nope")


def test_temperature_read_failures_answer_500(tmp_path: Path) -> None:
    zone = write(tmp_path, "temp", "30000")
    sensor = TemperatureSensor(thermal_zone=zone)
    zone.unlink()
    with pytest.raises(SensorError) as failure:
        sensor.get(5700)
    assert failure.value.code == "5.00"
    assert sensor.get(5601) == 30.0  # extremes survive a failed read

    def broken() -> float:
        raise RuntimeError("i2c bus timeout")

    with pytest.raises(SensorError, match="i2c bus timeout"):
        TemperatureSensor(read_celsius=broken).get(5700)


def test_temperature_garbage_in_the_zone_file(tmp_path: Path) -> None:
    zone = write(tmp_path, "temp", "hot\n")
    sensor = TemperatureSensor(thermal_zone=zone)  # construction survives; the read says why
    assert 5601 not in sensor.resource_ids()
    with pytest.raises(SensorError, match="not millidegrees"):
        sensor.sample()


def test_temperature_application_type_is_writable() -> None:
    sensor = TemperatureSensor(read_celsius=lambda: 1.0)
    sensor.write_resource(5750, "Boiler")
    assert sensor.get(5750) == "Boiler"
    with pytest.raises(ValueValidationError):
        sensor.on_execute(5700, lambda args: None)  # Sensor Value is not executable
