"""The modem drivers (platform/modems) against the pty ModemEmulator, one dialect at a time.

Every driver runs on the real AT engine over the emulator's pty, exactly as on a
serial port. Sockets go end to end: the driver's socket commands make the emulator
send a real UDP datagram (or TCP segment) to an asyncio echo peer on 127.0.0.1, and
the echo comes back through the module's URC and read command into the driver's
receive queue. Time moves only through the emulator's ManualClock; nothing sleeps to
synchronise (the one wait is the BC95's lost wake-up character, a module behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from m2mclient.platform.at import AtCommandError, AtEngine, AtProtocolError, AtResponse
from m2mclient.platform.emulator import DIALECTS, ManualClock, ModemEmulator, PowerState
from m2mclient.platform.links import PayloadTooLargeError
from m2mclient.platform.modems import (
    MODEM_CLASSES,
    Modem,
    ModemCapabilityError,
    ModemError,
    ModemSocketClosedError,
    ModemSocketError,
    PowerEvent,
    Rai,
    RegistrationStatus,
    SimError,
    SimPinRequiredError,
    available_models,
    detect_model,
    open_modem,
)
from m2mclient.platform.modems.bc95 import Bc66Modem, Bc95Modem
from m2mclient.platform.modems.bg96 import Bg96Modem
from m2mclient.platform.modems.generic import (
    cesq_rsrp_to_dbm,
    cesq_rsrq_to_db,
    csq_to_dbm,
    parse_cclk,
    parse_cereg,
)
from m2mclient.platform.modems.sara_r4 import SaraR4Modem
from m2mclient.platform.modems.sim7020 import Sim7020Modem
from m2mclient.platform.modems.sim7080 import Sim7080Modem
from m2mclient.platform.power import Rat
from m2mclient.platform.serialport import open_serial
from m2mclient.platform.sms_pdu import (
    Address,
    DataCoding,
    DeliverPdu,
    InformationElement,
    decode_submit,
    encode_submit,
)

MODELS = sorted(DIALECTS)
CLASSES: dict[str, type[Modem]] = {
    "bc95": Bc95Modem,
    "bc66": Bc66Modem,
    "bg96": Bg96Modem,
    "sim7020": Sim7020Modem,
    "sim7080": Sim7080Modem,
    "sara-r4": SaraR4Modem,
}
TCP_MODELS = [m for m in MODELS if CLASSES[m].profile.capabilities.tcp]
NIDD_MODELS = [m for m in MODELS if CLASSES[m].profile.capabilities.nidd]
SMS_MODELS = [m for m in MODELS if CLASSES[m].profile.capabilities.sms]
RAI_MODELS = [m for m in MODELS if CLASSES[m].profile.capabilities.rai]
DTR_SLEEP_MODELS = ["bg96", "sim7020", "sim7080"]  # AT+QSCLK=1 / AT+CSCLK=1 + DTR (ref §4.7)
# What each module says entering and leaving PSM (ref §4.7), through the driver's events.
PSM_EVENTS: dict[str, tuple[set[PowerEvent], set[PowerEvent]]] = {
    "bc95": ({PowerEvent.PSM_ENTERED}, {PowerEvent.PSM_EXITED}),
    "bc66": ({PowerEvent.PSM_ENTERED, PowerEvent.SLEEPING}, {PowerEvent.PSM_EXITED, PowerEvent.AWAKE}),
    "bg96": ({PowerEvent.PSM_ENTERED}, {PowerEvent.AWAKE}),
    "sim7020": ({PowerEvent.PSM_ENTERED}, {PowerEvent.PSM_EXITED}),
    "sim7080": ({PowerEvent.PSM_ENTERED}, {PowerEvent.PSM_EXITED}),
    "sara-r4": ({PowerEvent.PSM_ENTERED}, {PowerEvent.PSM_EXITED}),
}
# Bytes that break line-based parsing: CR, LF, NUL, '>' , '"', Ctrl-Z, 0xFF.
AWKWARD = b'\r\nOK\r\n\x00>"\x1a\xff' + bytes(range(256))


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def driven(
    model: str, *, init: bool = True, uart_wake: bool = False, **options: Any
) -> AsyncIterator[tuple[ModemEmulator, Modem]]:
    """The emulator in ``model``'s dialect and its driver on the real AT engine over the pty."""
    options.setdefault("clock", ManualClock())
    emu = ModemEmulator(model, **options)
    await emu.start()
    cls = MODEM_CLASSES[model]
    # A short AT probe keeps the BC95's lost wake-up character cheap; the pty answers in microseconds.
    profile = dataclasses.replace(cls.profile, timeouts=dataclasses.replace(cls.profile.timeouts, sync_probe=0.25))
    modem = cls(
        AtEngine(open_serial(emu.port_path)),
        profile=profile,
        owns_engine=True,
        on_wake=None if uart_wake else emu.wake,
        on_sleep=lambda: emu.set_dtr(True),
    )
    try:
        if init:
            await modem.init()
        yield emu, modem
    finally:
        await modem.close()
        await emu.stop()


class Recorder:
    """Collects callback values; ``wait`` returns once a predicate over them holds (no polling sleeps)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait(self, predicate: Callable[[list[Any]], bool]) -> None:
        while not predicate(self.items):
            self._changed.clear()
            await self._changed.wait()


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP peer on 127.0.0.1 that sends every datagram back, prefixed."""

    def __init__(self, prefix: bytes = b"") -> None:
        self.prefix = prefix
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))
        assert self.transport is not None
        self.transport.sendto(self.prefix + data, addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


@contextlib.asynccontextmanager
async def echo_peer(prefix: bytes = b"") -> AsyncIterator[EchoPeer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: EchoPeer(prefix), local_addr=("127.0.0.1", 0))
    try:
        yield protocol
    finally:
        transport.close()


# --------------------------------------------------------------------------- pure parsing


@pytest.mark.parametrize(
    ("rssi", "dbm"),
    [(0, -113), (1, -111), (2, -109), (20, -73), (30, -53), (31, -51), (99, None), (32, None), (100, -116), (191, -25)],
)
def test_csq_table_edges(rssi: int, dbm: int | None) -> None:
    assert csq_to_dbm(rssi) == dbm  # TS 27.007 §8.5 (ref §3.3)


def test_cesq_tables_edges() -> None:
    assert [cesq_rsrp_to_dbm(n) for n in (0, 1, 45, 97, 98, 255)] == [-140, -139, -95, -43, None, None]
    assert [cesq_rsrq_to_db(n) for n in (0, 1, 19, 34, 35, 255)] == [-19.5, -19.0, -10.0, -2.5, None, None]


def test_parse_cereg_forms() -> None:
    # SIM7020's real trace, with its extra field after <AcT> (ref §3.1).
    n, reg = parse_cereg('+CEREG: 4,1,"5B57","01A50B1A",9,"00",,,"00000001","11100000"', read_response=True)
    assert n == 4 and reg.stat is RegistrationStatus.REGISTERED_HOME and reg.registered
    assert (reg.tac, reg.ci, reg.act, reg.rat) == ("5B57", "01A50B1A", 9, Rat.NB_IOT)
    assert reg.psm is not None and reg.psm.active_time_s == 2 and reg.psm.tau_s is None
    # BC95 prints no space after the colon (ref §1.4); a mode-1 URC has only <stat>.
    assert parse_cereg("+CEREG:5")[1].stat is RegistrationStatus.REGISTERED_ROAMING
    # Mode 5 with a reject cause and no PSM.
    _, denied = parse_cereg("+CEREG: 3,,,,0,15")
    assert denied.stat is RegistrationStatus.DENIED and (denied.cause_type, denied.reject_cause) == (0, 15)
    assert not denied.registered and denied.psm is None
    _, lte_m = parse_cereg('+CEREG: 1,"1A2B","01A2B3C4",7,,,"00100001","00000110"')
    assert lte_m.rat is Rat.LTE_M and lte_m.psm is not None and (lte_m.psm.active_time_s, lte_m.psm.tau_s) == (60, 3600)
    for bad in ("+CEREG: x", "+CEREG: 42", "+CEREG:", '+CEREG: 1,"1",2,7,,,"0010","00000110"'):
        with pytest.raises(AtProtocolError):
            parse_cereg(bad)


def test_parse_cclk() -> None:
    assert parse_cclk('+CCLK: "24/05/06,14:30:00+08"') == dt.datetime(
        2024, 5, 6, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    west = parse_cclk('+CCLK: "24/05/06,04:30:00-20"')
    assert west.utcoffset() == dt.timedelta(hours=-5)
    assert west == dt.datetime(2024, 5, 6, 9, 30, tzinfo=dt.timezone.utc)
    assert parse_cclk("+CCLK:24/05/06,04:30:00").tzinfo == dt.timezone.utc  # BC95: unquoted, no zone
    for bad in ('+CCLK: "garbage"', '+CCLK: "24/13/40,25:00:00+00"'):
        with pytest.raises(AtProtocolError):
            parse_cclk(bad)


def test_registry_and_detection_fallback() -> None:
    assert set(CLASSES.items()) <= set(MODEM_CLASSES.items())
    assert MODEM_CLASSES["bg95"] is Bg96Modem and MODEM_CLASSES["generic"] is Modem
    assert "auto" in available_models()

    class Unknown:
        async def command(self, command: str, **_: Any) -> AtResponse:
            if command == "ATI":
                return AtResponse(command, ("Acme", "Widget 9000"), "OK")
            raise AtCommandError(command, "ERROR")

    assert run(lambda: detect_model(cast(AtEngine, Unknown()))) == "generic"


# --------------------------------------------------------------------------- init, identity, network


@pytest.mark.parametrize("model", MODELS)
def test_init_and_identity(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            identity = await modem.identity()
            dialect = DIALECTS[model]
            assert (identity.manufacturer, identity.model, identity.firmware) == (
                dialect.manufacturer,
                dialect.model_name,
                dialect.firmware,
            )
            assert (identity.imei, identity.imsi, identity.iccid) == (emu.imei, emu.imsi, emu.iccid)
            assert modem.cereg_mode == 4

    run(scenario)


def test_sim_pin() -> None:
    async def scenario() -> None:
        async with driven("bg96", init=False, sim_pin="1234") as (_, modem):
            with pytest.raises(SimPinRequiredError, match="pin="):
                await modem.init()
            with pytest.raises(SimError, match="refused the PIN"):
                await modem.init(pin="0000")
            await modem.init(pin="1234")
            assert (await modem.registration()).registered

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_registration_and_granted_psm(model: str) -> None:
    async def scenario() -> None:
        async with driven(model, granted_psm=(60, 3600)) as (emu, modem):
            reg = await modem.registration()
            assert reg.stat is RegistrationStatus.REGISTERED_HOME
            assert (reg.tac, reg.ci, reg.act) == ("1A2B", "01A2B3C4", DIALECTS[model].default_act)
            urcs = Recorder()
            modem.subscribe_registration(urcs)
            request = await modem.set_psm(tau="2h", active_time=120)
            assert (request.tau and request.tau.seconds, request.active_time and request.active_time.seconds) == (
                7200,
                120,
            )
            # The network granted less than asked; the +CEREG URC (mode 4) says so.
            await urcs.wait(lambda items: any(r.psm is not None and r.psm.psm for r in items))
            granted = await modem.granted_psm()
            assert granted is not None and (granted.active_time_s, granted.tau_s) == (60, 3600)
            emu.set_registration(5)
            await urcs.wait(lambda items: items[-1].stat is RegistrationStatus.REGISTERED_ROAMING)
            emu.set_registration(2)
            await urcs.wait(lambda items: items[-1].stat is RegistrationStatus.SEARCHING)
            waiting = asyncio.ensure_future(modem.wait_registered(timeout=10))
            await asyncio.sleep(0)  # let it send its AT+CEREG? first (a yield, not a wait) ...
            assert not (await modem.registration()).registered  # ... which is answered before this one
            emu.set_registration(1)  # so the +CEREG URC is what completes it
            assert (await waiting).stat is RegistrationStatus.REGISTERED_HOME
            await modem.disable_psm()
            after = await modem.granted_psm()
            assert after is None or not after.psm  # SIM7020 shows deactivated timers (ref §3.1)

    run(scenario)


def test_wait_registered_times_out_with_the_reason() -> None:
    async def scenario() -> None:
        async with driven("bc95", registration_stat=3) as (_, modem):
            with pytest.raises(ModemError, match="DENIED"):
                await modem.wait_registered(timeout=0.05)

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_signal_in_dbm(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            signal = await modem.signal()
            assert (signal.rssi_dbm, signal.rsrp_dbm, signal.rsrq_db) == (-73, -95, -10.0)
            assert signal.csq == (20, 99) and signal.ber is None
            emu.set_signal(rssi_dbm=-113, rsrp_dbm=-140, rsrq_db=-19.5)
            low = await modem.signal()
            assert (low.rssi_dbm, low.rsrp_dbm, low.rsrq_db) == (-113, -140, -19.5)
            emu.set_signal(rssi_dbm=-40, rsrp_dbm=-30, rsrq_db=0.0)  # above the tables: clamped by the module
            high = await modem.signal()
            assert (high.rssi_dbm, high.rsrp_dbm, high.rsrq_db) == (-51, -43, -2.5)
            emu.set_registration(2)  # no cell: 99 / 255 = unknown
            unknown = await modem.signal()
            assert (unknown.rssi_dbm, unknown.rsrp_dbm, unknown.rsrq_db) == (None, None, None)
            assert unknown.csq == (99, 99) and unknown.cesq == (99, 99, 255, 255, 255, 255)

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_operator_apn_attach(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (_, modem):
            operator = await modem.operator()
            assert (operator.mode, operator.format, operator.name, operator.act) == (
                0,
                2,
                "00101",
                DIALECTS[model].default_act,
            )
            await modem.set_apn("m2m.example")
            context = await modem.apn(1)
            assert context is not None and (context.apn, context.pdp_type) == ("m2m.example", "IP")
            await modem.wait_registered(timeout=5)  # SIM7020 set it with the radio off (ref §2.2)
            if model != "sim7020":  # *MCGDEFCONT only has the default context
                await modem.set_apn("nidd.example", pdp_type="Non-IP", cid=2)
                nidd = await modem.apn(2)
                assert nidd is not None and nidd.pdp_type == modem.profile.non_ip_pdp_type
            await modem.detach()
            assert not await modem.attached()
            assert not (await modem.registration()).registered
            await modem.attach()
            assert await modem.attached()
            await modem.select_operator("00101")
            assert (await modem.operator()).mode == 1
            await modem.select_operator()
            assert (await modem.operator()).mode == 0

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_clock(model: str) -> None:
    async def scenario() -> None:
        start = dt.datetime(2024, 5, 6, 12, 0, tzinfo=dt.timezone.utc)
        clock = ManualClock()
        async with driven(model, clock=clock, network_time=start, timezone_quarters=-6) as (_, modem):
            now = await modem.clock()
            assert now == start and now.utcoffset() == dt.timedelta(hours=-1, minutes=-30)
            clock.advance(90)
            assert await modem.clock() == start + dt.timedelta(seconds=90)

    run(scenario)


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize("model", MODELS)
def test_edrx_set_and_granted(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (_, modem):
            rat = (await modem.registration()).rat
            assert rat is not None
            grants = Recorder()
            modem.subscribe_edrx(grants)
            request = await modem.set_edrx("81.92s")  # the registered RAT
            assert request.rat is rat and request.cycle.bits == "0101"
            await grants.wait(bool)
            assert grants.items[-1].cycle_s == 81.92
            granted = await modem.granted_edrx()
            assert granted.in_use and granted.rat is rat and granted.cycle_s == 81.92 and granted.ptw_s is not None
            with pytest.raises(ModemCapabilityError, match="paging time window"):
                await modem.set_edrx(81.92, rat, ptw=10)
            await modem.disable_edrx()
            assert not (await modem.granted_edrx()).in_use

    run(scenario)


def test_edrx_network_grants_other_cycle() -> None:
    async def scenario() -> None:
        async with driven("sim7080", granted_edrx="0010") as (_, modem):
            await modem.set_edrx(81.92, Rat.LTE_M)
            granted = await modem.granted_edrx()
            assert (granted.requested_s, granted.cycle_s) == (81.92, 20.48)

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_psm_events_and_wake(model: str) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        uart = model == "bc95"  # any character wakes a BC95 (ref §4.7); the others need their pin
        async with driven(model, clock=clock, granted_psm=(4, 3600), uart_wake=uart) as (emu, modem):
            events = Recorder()
            modem.subscribe_power(events)
            await modem.set_psm(tau=3600, active_time=4)
            entering, leaving = PSM_EVENTS[model]
            clock.advance(60)  # RRC release, then T3324 runs out
            await events.wait(lambda items: entering <= set(items))
            assert emu.in_psm
            assert PowerEvent.RRC_IDLE in events.items
            await modem.wake()
            await events.wait(lambda items: leaving <= set(items))
            assert not emu.in_psm
            assert (await modem.registration()).registered

    run(scenario)


@pytest.mark.parametrize("model", DTR_SLEEP_MODELS)
def test_uart_sleep_and_wake(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            modem.on_wake = lambda: emu.set_dtr(False)
            await modem.enable_sleep()
            assert not emu.uart_awake  # the sleep command, then DTR high
            await modem.wake()
            assert emu.uart_awake
            await modem.disable_sleep()
            assert (await modem.registration()).registered

    run(scenario)


@pytest.mark.parametrize("model", ["bc95", "sara-r4"])
def test_sleep_is_psm_only_where_there_is_no_sleep_command(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            await modem.enable_sleep()  # nothing to send: the module sleeps in PSM by itself
            assert emu.uart_awake

    run(scenario)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("model", MODELS)
def test_auto_detect(model: str) -> None:
    async def scenario() -> None:
        emu = ModemEmulator(model, clock=ManualClock())
        await emu.start()
        try:
            modem = await open_modem(emu.port_path)
            try:
                assert type(modem) is CLASSES[model]
                assert modem.profile.name == model
                assert (await modem.registration()).registered
                assert await detect_model(modem.at) == model
            finally:
                await modem.close()
            explicit = await open_modem(emu.port_path, model.upper(), init=False)
            assert type(explicit) is CLASSES[model]
            await explicit.close()
        finally:
            await emu.stop()

    run(scenario)


def test_open_modem_rejects_unknown_models() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="sim7080"):
            await open_modem("/dev/null", "sim9000")

    run(scenario)


# --------------------------------------------------------------------------- sockets, end to end


@pytest.mark.parametrize("model", MODELS)
def test_udp_round_trip_through_loopback(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (_, modem), echo_peer(b"A:") as first, echo_peer(b"B:") as second:
            handle = await modem.open_udp()
            limit = modem.profile.max_datagram
            payloads = [b"hello", (AWKWARD * 8)[: limit - 2]]  # the reply (2-byte prefix) fills a datagram
            for payload in payloads:
                await modem.send_to(handle, "127.0.0.1", first.port, payload)
                reply = await modem.receive_from(handle)
                assert reply == (b"A:" + payload, "127.0.0.1", first.port)
            assert [data for data, _ in first.received] == payloads
            # A second peer from the same handle (SIM7020/SIM7080 open a module socket per peer).
            await modem.send_to(handle, "127.0.0.1", second.port, b"two")
            assert await modem.receive_from(handle) == (b"B:two", "127.0.0.1", second.port)
            assert first.received[0][1][1] == second.received[0][1][1] or model in ("sim7020", "sim7080")
            await modem.close_socket(handle)
            with pytest.raises(ModemSocketClosedError):
                await modem.receive_from(handle)
            with pytest.raises(ModemSocketClosedError):
                await modem.send_to(handle, "127.0.0.1", first.port, b"late")

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_udp_errors_are_typed(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (_, modem):
            handle = await modem.open_udp()
            with pytest.raises(PayloadTooLargeError):
                await modem.send_to(handle, "127.0.0.1", 9, bytes(modem.profile.max_datagram + 1))
            if not modem.supports_rai:
                with pytest.raises(ModemCapabilityError, match="release assistance"):
                    await modem.send_to(handle, "127.0.0.1", 9, b"x", rai=Rai.LAST_UPLINK)
            if model != "sim7080":  # AT+CAOPEN resolves names itself
                with pytest.raises(ModemSocketError, match="not an IP address"):
                    await modem.send_to(handle, "example.com", 9, b"x")
            with pytest.raises(ModemSocketError):  # the emulator only bridges to loopback: the module refuses
                await modem.send_to(handle, "192.0.2.1", 9, b"x")
            with pytest.raises(ModemSocketClosedError):
                await modem.receive_from(handle + 100)

    run(scenario)


@pytest.mark.parametrize("model", RAI_MODELS)
def test_rai_releases_the_connection_after_the_reply(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem), echo_peer() as peer:
            events = Recorder()
            modem.subscribe_power(events)
            handle = await modem.open_udp()
            await modem.send_to(handle, "127.0.0.1", peer.port, b"plain")
            await modem.receive_from(handle)
            assert emu.power_state is PowerState.CONNECTED  # the network waits for its inactivity timer
            await modem.send_to(handle, "127.0.0.1", peer.port, b"last", rai=Rai.AFTER_REPLY)  # AT+NSOSTF 0x400
            assert (await modem.receive_from(handle)).data == b"last"
            await events.wait(lambda items: PowerEvent.RRC_IDLE in items)  # +CSCON: 0 right after the reply
            assert emu.power_state is PowerState.IDLE

    run(scenario)


@pytest.mark.parametrize("model", TCP_MODELS)
def test_tcp_round_trip_and_peer_close(model: str) -> None:
    async def scenario() -> None:
        async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readexactly(len(AWKWARD))
            writer.write(data)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with driven(model) as (_, modem):
                handle = await modem.open_tcp("127.0.0.1", port)
                await modem.send(handle, AWKWARD)
                received = b""
                with pytest.raises(ModemSocketClosedError):
                    while True:
                        chunk = await modem.receive_from(handle)
                        assert (chunk.host, chunk.port) == ("127.0.0.1", port)
                        received += chunk.data
                assert received == AWKWARD
                await modem.close_socket(handle)
        finally:
            server.close()
            await server.wait_closed()

    run(scenario)


def test_no_sockets_on_the_generic_driver() -> None:
    async def scenario() -> None:
        emu = ModemEmulator("bg96", clock=ManualClock())
        await emu.start()
        generic = Modem(AtEngine(open_serial(emu.port_path)), owns_engine=True)
        try:
            await generic.init()
            assert (await generic.registration()).registered
            with pytest.raises(ModemCapabilityError, match="UDP"):
                await generic.open_udp()
        finally:
            await generic.close()
            await emu.stop()

    run(scenario)


# --------------------------------------------------------------------------- NIDD and SMS


@pytest.mark.parametrize("model", NIDD_MODELS)
def test_nidd_round_trip(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            await modem.enable_nidd()
            await modem.send_nidd(b"\x00up\r\n", rai=Rai.AFTER_REPLY)
            assert await emu.nidd_uplink.get() == b"\x00up\r\n"
            emu.deliver_nidd(b"\xffdown\r\n")
            assert await modem.receive_nidd() == b"\xffdown\r\n"
            with pytest.raises(PayloadTooLargeError):
                await modem.send_nidd(bytes(modem.profile.max_nidd + 1))

    run(scenario)


def test_nidd_and_sms_refused_where_unsupported() -> None:
    async def scenario() -> None:
        async with driven("bg96") as (_, bg96):
            with pytest.raises(ModemCapabilityError, match="NIDD"):
                await bg96.send_nidd(b"x")
        async with driven("bc95") as (_, bc95):
            with pytest.raises(ModemCapabilityError, match="SMS"):
                await bc95.enable_sms()

    run(scenario)


def _deliver_parts(text: bytes, reference: int) -> list[DeliverPdu]:
    when = dt.datetime(2024, 5, 6, 12, 0, tzinfo=dt.timezone.utc)
    halves = [text[: len(text) // 2], text[len(text) // 2 :]]
    return [
        DeliverPdu(
            originator=Address.parse("+4917000000001"),
            timestamp=when,
            user_data=half,
            data_coding=DataCoding.for_alphabet("8bit"),
            udh=(InformationElement.concatenation(reference, 2, sequence),),
        )
        for sequence, half in enumerate(halves, start=1)
    ]


@pytest.mark.parametrize("model", SMS_MODELS)
def test_sms_round_trip(model: str) -> None:
    async def scenario() -> None:
        async with driven(model) as (emu, modem):
            await modem.enable_sms()
            parts = encode_submit("+4917000000002", bytes(range(200)), reference=42)
            assert len(parts) == 2
            assert await modem.send_sms([parts[0], parts[1].hex]) == [0, 1]
            for part in parts:
                sent = await emu.sms_outbox.get()
                assert sent == part.hex and decode_submit(sent).user_data == part.user_data
            # Stored (+CMTI, AT+CMGR, AT+CMGD), parts out of order: one message comes out.
            first, second = _deliver_parts(b"stored \x00\r\n payload", 7)
            emu.deliver_sms(second.hex)
            emu.deliver_sms(first.hex)
            message = await modem.receive_sms()
            assert message.user_data == b"stored \x00\r\n payload" and str(message.peer) == "+4917000000001"
            # Routed (+CMT with the PDU on the next line).
            await modem.enable_sms(store=False)
            for part in _deliver_parts(b"routed message", 8):
                emu.deliver_sms(part.hex)
            assert (await modem.receive_sms()).user_data == b"routed message"
            assert modem.sms_queue.empty()

    run(scenario)


def test_sms_stored_while_offline_is_picked_up() -> None:
    async def scenario() -> None:
        emu = ModemEmulator("sim7080", clock=ManualClock())
        await emu.start()
        try:
            for part in _deliver_parts(b"waiting!", 9):  # +CMTI goes out while no driver listens
                emu.deliver_sms(part.hex)
            modem = await open_modem(emu.port_path, "sim7080")
            try:
                await modem.enable_sms()  # AT+CMGL=4 finds them
                assert (await modem.receive_sms()).user_data == b"waiting!"
                assert (await modem.at.command("AT+CMGL=4", prefix="+CMGL")).lines == ()  # read and deleted
            finally:
                await modem.close()
        finally:
            await emu.stop()

    run(scenario)
