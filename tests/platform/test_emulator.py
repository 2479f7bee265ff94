"""The pty modem emulator, driven the way a driver drives a module: raw bytes on its pty.

Each test opens the emulator's pty with a tiny raw client (:class:`Port`: os.open, write
AT lines, read CR LF lines on the loop's reader), never with the SDK's own AT engine, so
these tests pin down what the emulator puts on the wire for each dialect. Time moves
only through a :class:`ManualClock`; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import termios
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from m2mclient.platform.emulator import DIALECTS, ManualClock, ModemEmulator, PowerState

MODELS = sorted(DIALECTS)
FINAL = re.compile(r"OK|ERROR|\+CM[ES] ERROR: ?.*|SEND OK|SEND FAIL|DATA ACCEPT: ?\d+|NORMAL POWER DOWN")


class Port:
    """The smallest raw serial client: what a driver sees on the pty, without any AT engine."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)  # TCSAFLUSH (the default) would race the boot text away
        self.buffer = bytearray()
        self.ready = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        self.buffer += os.read(self.fd, 4096)
        self.ready.set()

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)

    def send(self, data: bytes | str) -> None:
        os.write(self.fd, data.encode("latin-1") if isinstance(data, str) else data)

    async def read_until(self, marker: bytes) -> bytes:
        while (index := self.buffer.find(marker)) < 0:
            self.ready.clear()
            await self.ready.wait()
        out = bytes(self.buffer[: index + len(marker)])
        del self.buffer[: index + len(marker)]
        return out

    async def line(self) -> str:
        while not (text := (await self.read_until(b"\n")).decode("latin-1").strip()):
            pass
        return text

    async def final(self) -> list[str]:
        """Lines up to and including a final result code."""
        lines = [await self.line()]
        while not FINAL.fullmatch(lines[-1]):
            lines.append(await self.line())
        return lines

    async def cmd(self, line: str) -> list[str]:
        self.send(line + "\r")
        return await self.final()

    async def raw(self, line: str) -> bytes:
        """The answer as bytes, for payloads that are not lines."""
        self.send(line + "\r")
        return await self.read_until(b"\r\nOK\r\n")

    async def prompt(self, line: str, prompt: bytes = b"> ") -> None:
        self.send(line + "\r")
        await self.read_until(prompt)

    async def expect(self, prefix: str) -> str:
        """The next line starting with ``prefix`` (earlier lines are skipped)."""
        while not (text := await self.line()).startswith(prefix):
            pass
        return text


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def modem(model: str, **options: Any) -> AsyncIterator[tuple[ModemEmulator, Port]]:
    options.setdefault("clock", ManualClock())
    emu = ModemEmulator(model, **options)
    await emu.start()
    port = Port(emu.port_path)
    try:
        assert (await port.cmd("ATE0"))[-1] == "OK"
        yield emu, port
    finally:
        port.close()
        await emu.stop()


class EchoServer(asyncio.DatagramProtocol):
    """A UDP peer on 127.0.0.1 that answers every datagram with itself (or just records it)."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, addr))
        if self.echo and self.transport is not None:
            self.transport.sendto(data, addr)


@contextlib.asynccontextmanager
async def udp_server(echo: bool = True) -> AsyncIterator[tuple[EchoServer, int]]:
    transport, server = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: EchoServer(echo), local_addr=("127.0.0.1", 0)
    )
    try:
        yield server, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


# -- identity, init, registration, signal ---------------------------------------------------------

ICCID_COMMANDS = {
    "bc95": ("AT+NCCID", "+NCCID:"),
    "bc66": ("AT+QCCID", "+QCCID: "),
    "bg96": ("AT+QCCID", "+QCCID: "),
    "sim7020": ("AT+CCID", ""),
    "sim7080": ("AT+CCID", ""),
    "sara-r4": ("AT+CCID", "+CCID: "),
}


@pytest.mark.parametrize("model", MODELS)
def test_init_and_identity(model: str) -> None:
    async def scenario() -> None:
        async with modem(model, imei="490154203237518", imsi="001019876543210") as (emu, port):
            c = emu.dialect.colon
            for line in ("AT", "AT+CMEE=1", "AT+CFUN=1"):
                assert await port.cmd(line) == ["OK"]
            assert await port.cmd("AT+CPIN?") == [f"+CPIN{c}READY", "OK"]
            assert await port.cmd("AT+CGSN") == ["490154203237518", "OK"]
            assert await port.cmd("AT+CGSN=1") == [f"+CGSN{c}490154203237518", "OK"]
            assert await port.cmd("AT+CIMI") == ["001019876543210", "OK"]
            command, prefix = ICCID_COMMANDS[model]
            assert await port.cmd(command) == [prefix + emu.iccid, "OK"]
            assert await port.cmd("AT+CGMI") == [emu.dialect.manufacturer, "OK"]
            assert await port.cmd("AT+CGMM") == [emu.dialect.model_name, "OK"]
            assert await port.cmd("AT+CGMR") == [emu.dialect.firmware, "OK"]
            ati = await port.cmd("ATI")
            assert ati[-1] == "OK"
            assert any(emu.dialect.firmware in line or emu.dialect.model_name in line for line in ati)

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_registration_modes_and_urcs(model: str) -> None:
    async def scenario() -> None:
        async with modem(model) as (emu, port):
            c, act = emu.dialect.colon, emu.dialect.default_act
            location = f'"1A2B","01A2B3C4",{act}'
            assert await port.cmd("AT+CEREG?") == [f"+CEREG{c}0,1", "OK"]
            assert await port.cmd("AT+CEREG=2") == ["OK"]
            assert await port.cmd("AT+CEREG?") == [f"+CEREG{c}2,1,{location}", "OK"]
            emu.set_registration(5)  # roaming: a URC without <n> (ref §3.1)
            assert await port.line() == f"+CEREG{c}5,{location}"
            # Mode 4 carries the PSM timers the network granted.
            assert await port.cmd("AT+CEREG=4") == ["OK"]
            assert await port.cmd('AT+CPSMS=1,,,"00100001","00000101"') == ["OK"]
            extra = ',"00"' if model == "sim7020" else ""
            granted = f'{location}{extra},,,"00000101","00100001"'
            assert await port.line() == f"+CEREG{c}5,{granted}"
            assert await port.cmd("AT+CEREG?") == [f"+CEREG{c}4,5,{granted}", "OK"]
            assert await port.cmd("AT+CPSMS?") == [f'+CPSMS{c}1,,,"00100001","00000101"', "OK"]
            assert await port.cmd("AT+CEREG=5") == ["OK"]
            assert await port.cmd("AT+CEREG?") == [f"+CEREG{c}5,5,{granted}", "OK"]
            # Losing the network: mode 1 reports <stat> only; attach and operator follow.
            assert await port.cmd("AT+CEREG=1") == ["OK"]
            emu.set_registration(2)
            assert await port.line() == f"+CEREG{c}2"
            assert await port.cmd("AT+CGATT?") == [f"+CGATT{c}0", "OK"]
            assert await port.cmd("AT+COPS?") == [f"+COPS{c}0", "OK"]
            emu.set_registration(1)
            assert await port.line() == f"+CEREG{c}1"
            assert await port.cmd("AT+COPS?") == [f'+COPS{c}0,2,"00101",{act}', "OK"]
            assert await port.cmd('AT+CGDCONT=1,"IP","iot.apn"') == ["OK"]
            assert await port.cmd("AT+CGDCONT?") == [f'+CGDCONT{c}1,"IP","iot.apn","0.0.0.0",0,0', "OK"]

    run(scenario)


def test_sim7020_reports_deactivated_timers_and_wants_radio_off_for_apn() -> None:
    async def scenario() -> None:
        async with modem("sim7020") as (_, port):
            assert await port.cmd("AT+CEREG=4") == ["OK"]
            # The real trace before PSM (ref §3.1): extra "00", timers shown as deactivated.
            assert await port.cmd("AT+CEREG?") == [
                '+CEREG: 4,1,"1A2B","01A2B3C4",9,"00",,,"11100000","11100000"',
                "OK",
            ]
            assert await port.cmd("AT+CMEE=1") == ["OK"]
            assert await port.cmd('AT*MCGDEFCONT="IP","apn"') == ["+CME ERROR: 3"]
            assert await port.cmd("AT+CFUN=0") == ["OK"]
            assert await port.line() == "+CEREG: 0"  # radio off: deregistered
            assert await port.cmd('AT*MCGDEFCONT="IP","apn"') == ["OK"]
            assert await port.cmd("AT+CFUN=1") == ["OK"]
            assert await port.line() == '+CEREG: 1,"1A2B","01A2B3C4",9,"00",,,"11100000","11100000"'
            assert await port.cmd("AT*MCGDEFCONT?") == ['*MCGDEFCONT: "IP","apn"', "OK"]

    run(scenario)


def test_network_overrides_the_psm_request() -> None:
    async def scenario() -> None:
        # The network grants 2 s active time and 1 h TAU whatever is asked (mbed codes 1 h as 00000110).
        async with modem("bg96", granted_psm=(2, 3600)) as (emu, port):
            assert await port.cmd("AT+CEREG=4") == ["OK"]
            assert await port.cmd('AT+CPSMS=1,,,"01000111","00100100"') == ["OK"]
            assert await port.line() == '+CEREG: 1,"1A2B","01A2B3C4",7,,,"00000001","00000110"'
            assert emu.granted_psm == ("00000001", "00000110")
            assert await port.cmd("AT+CPSMS?") == ['+CPSMS: 1,,,"01000111","00100100"', "OK"]

    run(scenario)


@pytest.mark.parametrize("model", MODELS)
def test_signal_quality(model: str) -> None:
    async def scenario() -> None:
        async with modem(model, rssi_dbm=-73, rsrp_dbm=-95, rsrq_db=-10.0) as (emu, port):
            c = emu.dialect.colon
            # 3GPP mappings (ref §3.3): rssi -113 + 2n, rsrp n - 140, rsrq n/2 - 19.5.
            assert await port.cmd("AT+CSQ") == [f"+CSQ{c}20,99", "OK"]
            assert await port.cmd("AT+CESQ") == [f"+CESQ{c}99,99,255,255,19,45", "OK"]
            emu.set_signal(rssi_dbm=-120)
            assert await port.cmd("AT+CSQ") == [f"+CSQ{c}0,99", "OK"]

    run(scenario)


def test_clock_and_error_modes_and_chains() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        start = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
        async with modem("sim7080", clock=clock, network_time=start, timezone_quarters=8) as (_, port):
            assert await port.cmd("AT+CCLK?") == ['+CCLK: "24/05/01,14:00:00+08"', "OK"]
            clock.advance(61)
            assert await port.cmd("AT+CCLK?") == ['+CCLK: "24/05/01,14:01:01+08"', "OK"]
            assert await port.cmd("AT+NOSUCH") == ["ERROR"]
            assert await port.cmd("AT+CMEE=1") == ["OK"]
            assert await port.cmd("AT+NOSUCH") == ["+CME ERROR: 4"]
            assert await port.cmd("AT+CMEE=2") == ["OK"]
            assert await port.cmd("AT+NOSUCH") == ["+CME ERROR: operation not supported"]
            assert await port.cmd("AT+CFUN=1;+CEREG=2;+CEREG?") == ['+CEREG: 2,1,"1A2B","01A2B3C4",7', "OK"]
            assert await port.cmd("ATE1") == ["OK"]
            assert await port.cmd("AT") == ["AT", "OK"]  # the echo comes first (ref §1.4)

    run(scenario)


def test_sim_pin_gates_registration() -> None:
    async def scenario() -> None:
        async with modem("bg96", sim_pin="1234") as (_, port):
            assert await port.cmd("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
            assert await port.cmd("AT+CEREG?") == ["+CEREG: 0,0", "OK"]
            assert await port.cmd("AT+CMEE=1") == ["OK"]
            assert await port.cmd('AT+CPIN="0000"') == ["+CME ERROR: 16"]
            assert await port.cmd('AT+CPIN="1234"') == ["OK"]
            assert await port.cmd("AT+CEREG?") == ["+CEREG: 0,1", "OK"]

    run(scenario)


# -- sockets bridged to loopback -------------------------------------------------------------------


async def udp_nso(emu: ModemEmulator, port: Port, peer: int) -> None:
    c = emu.dialect.colon
    [sid, ok] = await port.cmd('AT+NSOCR="DGRAM",17,0,1')  # prefix-less answer (ref §5.1)
    assert ok == "OK"
    assert await port.cmd(f'AT+NSOST={sid},"127.0.0.1",{peer},5,"68656C6C6F"') == [f"{sid},5", "OK"]
    assert await port.expect("+NSONMI") == f"+NSONMI{c}{sid},5"
    assert await port.cmd(f"AT+NSORF={sid},512") == [f"{sid},127.0.0.1,{peer},5,68656C6C6F,0", "OK"]
    assert await port.cmd(f"AT+NSOCL={sid}") == ["OK"]


async def udp_qi(emu: ModemEmulator, port: Port, peer: int) -> None:
    assert await port.cmd("AT+QIACT=1") == ["OK"]
    assert await port.cmd(f'AT+QIOPEN=1,0,"UDP","127.0.0.1",{peer},0,0') == ["OK"]
    assert await port.line() == "+QIOPEN: 0,0"  # after OK (ref §1.2)
    await port.prompt("AT+QISEND=0,5")
    port.send(b"hello")
    assert await port.final() == ["SEND OK"]
    assert await port.line() == '+QIURC: "recv",0'
    assert await port.raw("AT+QIRD=0,1500") == b"\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"
    assert await port.cmd("AT+QIRD=0,0") == ["+QIRD: 5,5,0", "OK"]
    assert await port.cmd("AT+QICLOSE=0") == ["OK"]


async def udp_ca(emu: ModemEmulator, port: Port, peer: int) -> None:
    assert await port.cmd("AT+CNACT=0,1") == ["OK"]
    assert await port.line() == "+APP PDP: 0,ACTIVE"
    assert await port.cmd(f'AT+CAOPEN=0,0,"UDP","127.0.0.1",{peer}') == ["OK"]
    assert await port.line() == "+CAOPEN: 0,0"
    await port.prompt("AT+CASEND=0,5")
    port.send(b"hello")
    assert await port.final() == ["OK"]
    assert await port.line() == "+CADATAIND: 0"
    assert await port.raw("AT+CARECV=0,100") == b"\r\n+CARECV: 5,hello\r\n\r\nOK\r\n"
    assert await port.cmd("AT+CACLOSE=0") == ["OK"]


async def udp_cso(emu: ModemEmulator, port: Port, peer: int) -> None:
    assert await port.cmd("AT+CSOC=1,2,1") == ["+CSOC: 0", "OK"]
    assert await port.cmd(f'AT+CSOCON=0,{peer},"127.0.0.1"') == ["OK"]
    assert await port.cmd("AT+CSOSEND=0,10,68656C6C6F") == ["OK"]
    # The payload rides in the URC, its length in hex characters (ref §5.3).
    assert await port.line() == "+CSONMI: 0,10,68656C6C6F"
    await port.prompt("AT+CSODSEND=0,3")
    port.send(b"abc")
    assert await port.final() == ["DATA ACCEPT: 3"]
    assert await port.line() == "+CSONMI: 0,6,616263"
    assert await port.cmd("AT+CSOCL=0") == ["OK"]


async def udp_uso(emu: ModemEmulator, port: Port, peer: int) -> None:
    assert await port.cmd("AT+UDCONF=1,1") == ["OK"]  # HEX mode (ref §5.5)
    assert await port.cmd("AT+USOCR=17") == ["+USOCR: 0", "OK"]
    assert await port.cmd(f'AT+USOST=0,"127.0.0.1",{peer},5,"68656C6C6F"') == ["+USOST: 0,5", "OK"]
    assert await port.line() == "+UUSORF: 0,5"
    assert await port.cmd("AT+USORF=0,0") == ["+USORF: 0,5", "OK"]
    assert await port.cmd("AT+USORF=0,5") == [f'+USORF: 0,"127.0.0.1",{peer},5,"68656C6C6F"', "OK"]
    # The binary form: "@" prompt, then the bytes (hex characters while HEX mode is on).
    await port.prompt(f'AT+USOST=0,"127.0.0.1",{peer},2', b"@")
    port.send(b"4142")
    assert await port.final() == ["+USOST: 0,2", "OK"]
    assert await port.line() == "+UUSORF: 0,2"
    assert await port.cmd("AT+USOCL=0") == ["OK"]


UDP_SCENARIOS: dict[str, Callable[[ModemEmulator, Port, int], Awaitable[None]]] = {
    "bc95": udp_nso,
    "bc66": udp_nso,
    "bg96": udp_qi,
    "sim7080": udp_ca,
    "sim7020": udp_cso,
    "sara-r4": udp_uso,
}


@pytest.mark.parametrize("model", MODELS)
def test_udp_datagram_reaches_a_loopback_peer_and_the_reply_comes_back(model: str) -> None:
    async def scenario() -> None:
        async with udp_server() as (server, peer), modem(model) as (emu, port):
            await UDP_SCENARIOS[model](emu, port, peer)
            assert server.received[0][0] == b"hello"
            assert server.received[0][1][0] == "127.0.0.1"

    run(scenario)


def test_bg96_tcp_round_trip_and_peer_close() -> None:
    async def scenario() -> None:
        async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(4))
            await writer.drain()
            await reader.readexactly(4)  # "done": then the peer hangs up
            writer.close()

        server = await asyncio.start_server(echo_once, "127.0.0.1", 0)
        peer = server.sockets[0].getsockname()[1]
        async with server, modem("bg96") as (_, port):
            assert await port.cmd("AT+QIACT=1") == ["OK"]
            assert await port.cmd(f'AT+QIOPEN=1,1,"TCP","127.0.0.1",{peer},0,0') == ["OK"]
            assert await port.line() == "+QIOPEN: 1,0"
            await port.prompt("AT+QISEND=1,4")
            port.send(b"ping")
            assert await port.final() == ["SEND OK"]
            assert await port.line() == '+QIURC: "recv",1'
            assert await port.raw("AT+QIRD=1,1500") == b"\r\n+QIRD: 4\r\nping\r\n\r\nOK\r\n"
            await port.prompt("AT+QISEND=1,4")
            port.send(b"done")
            assert await port.final() == ["SEND OK"]
            assert await port.line() == '+QIURC: "closed",1'
            assert await port.cmd("AT+QICLOSE=1") == ["OK"]

    run(scenario)


def test_bg96_udp_service_and_direct_push() -> None:
    async def scenario() -> None:
        async with udp_server() as (_, peer), modem("bg96") as (_, port):
            assert await port.cmd("AT+QIACT=1") == ["OK"]
            # mbed's UDP SERVICE form with access mode 1 (direct push): data comes inside the URC.
            assert await port.cmd('AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,0,1') == ["OK"]
            assert await port.line() == "+QIOPEN: 2,0"
            await port.prompt(f'AT+QISEND=2,3,"127.0.0.1",{peer}')
            port.send(b"abc")
            assert await port.final() == ["SEND OK"]
            assert await port.line() == f'+QIURC: "recv",2,3,"127.0.0.1",{peer}'
            assert await port.read_until(b"abc") == b"abc"

    run(scenario)


@pytest.mark.parametrize(
    ("model", "commands"),
    [
        ("bc95", ['AT+NSOCR="DGRAM",17,0,1', 'AT+NSOST=0,"192.0.2.1",5683,1,"00"']),
        ("bg96", ["AT+QIACT=1", 'AT+QIOPEN=1,0,"UDP","8.8.8.8",53,0,0']),
        ("sim7080", ["AT+CNACT=0,1", 'AT+CAOPEN=0,0,"UDP","example.com",5683']),
        ("sara-r4", ["AT+USOCR=17", 'AT+USOST=0,"::1",5683,1,"00"']),
    ],
)
def test_only_loopback_peers_are_bridged(model: str, commands: list[str]) -> None:
    async def scenario() -> None:
        async with modem(model) as (_, port):
            assert await port.cmd("AT+CMEE=1") == ["OK"]
            for setup in commands[:-1]:
                assert (await port.cmd(setup))[-1] == "OK"
            lines = await port.cmd(commands[-1])
            assert lines[-1] in ("+CME ERROR: 3", "+CME ERROR:3")

    run(scenario)


# -- NIDD and SMS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["bc95", "bg96", "sara-r4", "sim7080"])
def test_nidd_up_and_down(model: str) -> None:
    async def scenario() -> None:
        async with modem(model) as (emu, port):
            c = emu.dialect.colon
            non_ip = "NONIP" if model == "bc95" else "Non-IP"
            assert await port.cmd(f'AT+CGDCONT=1,"{non_ip}","nidd.apn"') == ["OK"]
            assert await port.cmd("AT+CRTDCP=1") == ["OK"]
            assert await port.cmd('AT+CSODCP=1,3,"AABBCC"') == ["OK"]
            assert await emu.nidd_uplink.get() == b"\xaa\xbb\xcc"
            assert await port.cmd('AT+CSODCP=1,2,"AABBCC"') == ["ERROR"]  # length disagrees
            emu.deliver_nidd(b"\x01\x02")
            assert await port.line() == f'+CRTDCP{c}1,2,"0102"'

    run(scenario)


SUBMIT = "0001000B917228001011F100000CC8329BFD065DDF72363904"  # ref §7.5 #3, AT+CMGS=24
DELIVER = "06917228195339040B917228214365F700003130805120618005D4F29C2E03"  # ref §7.5 #1
CLASS2_DELIVER = "00040B917228214365F700F65111720000008004DEADBEEF"  # DCS 0xF6: class 2 (SIM)


@pytest.mark.parametrize("model", ["bg96", "sim7080", "bc95"])
def test_sms_out_and_in(model: str) -> None:
    async def scenario() -> None:
        async with modem(model) as (emu, port):
            c = emu.dialect.colon
            assert await port.cmd("AT+CMGF=0") == ["OK"]
            await port.prompt("AT+CMGS=24")
            port.send(SUBMIT + "\x1a")
            assert await port.final() == [f"+CMGS{c}0", "OK"]
            assert await emu.sms_outbox.get() == SUBMIT
            # Routed to the TE: +CMT: ,<TPDU length> then the PDU (ref §7.1).
            assert await port.cmd("AT+CNMI=2,2,0,0,0") == ["OK"]
            emu.deliver_sms(DELIVER)
            assert await port.line() == f"+CMT{c},24"
            assert await port.line() == DELIVER
            # A class 2 message is stored and announced even with mt=2.
            emu.deliver_sms(CLASS2_DELIVER)
            assert await port.line() == f'+CMTI{c}"SM",1'
            # Stored: +CMTI, then read with AT+CMGR.
            assert await port.cmd("AT+CNMI=2,1,0,0,0") == ["OK"]
            emu.deliver_sms(DELIVER)
            assert await port.line() == f'+CMTI{c}"SM",2'
            assert await port.cmd("AT+CMGR=2") == [f"+CMGR{c}0,,24", DELIVER, "OK"]
            assert await port.cmd("AT+CMGR=2") == [f"+CMGR{c}1,,24", DELIVER, "OK"]
            assert await port.cmd("AT+CMGD=2") == ["OK"]
            assert await port.cmd("AT+CMGR=2") == ["ERROR"]

    run(scenario)


def test_sms_length_must_count_the_tpdu_only() -> None:
    async def scenario() -> None:
        async with modem("bg96") as (emu, port):
            assert await port.cmd("AT+CMEE=1") == ["OK"]
            await port.prompt("AT+CMGS=25")  # counted the SMSC octet too: a classic driver bug
            port.send(SUBMIT + "\x1a")
            assert await port.final() == ["+CMS ERROR: 304"]
            assert emu.sms_outbox.empty()

    run(scenario)


# -- PSM, TAU, wake, sleep ---------------------------------------------------------------------------

PSM_URCS = {
    "bc95": ("AT+NPSMR=1", "+NPSMR:1", "+NPSMR:0"),
    "bc66": ("AT+QNBIOTEVENT=1,1", '+QNBIOTEVENT: "ENTER PSM"', '+QNBIOTEVENT: "EXIT PSM"'),
    "bg96": ('AT+QCFG="psm/urc",1', "PSM POWER DOWN", "RDY"),
    "sim7020": ("AT+CPSMSTATUS=1", '+CPSMSTATUS: "ENTER PSM"', '+CPSMSTATUS: "EXIT PSM"'),
    "sim7080": ("AT+CPSMSTATUS=1", '+CPSMSTATUS: "ENTER PSM"', '+CPSMSTATUS: "EXIT PSM"'),
    "sara-r4": ("AT+UPSMR=1", "+UUPSMR: 1", "+UUPSMR: 0"),
}


@pytest.mark.parametrize("model", MODELS)
def test_psm_after_active_time_then_wake(model: str) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with modem(model, clock=clock, signalling_s=2.0) as (emu, port):
            enable, enter, leave = PSM_URCS[model]
            assert await port.cmd(enable) == ["OK"]
            # TAU 1 h, Active-Time 4 s: RRC release at 2 s (attach + TAU signalling), PSM at 6 s.
            assert await port.cmd('AT+CPSMS=1,,,"00000110","00000010"') == ["OK"]
            clock.advance(5.9)
            assert emu.power_state is PowerState.IDLE
            clock.advance(0.1)
            assert await port.expect(enter) == enter
            assert emu.in_psm
            port.send("AT\r")
            if model == "bc95":  # its UART wakes it; the waking characters are lost (ref §4.7)
                await emu.wait_for(lambda: not emu.in_psm)
            else:  # no answer: the module does not hear the UART in PSM
                await emu.wait_for(lambda: emu.ignored_input_bytes >= 3)
                assert emu.in_psm
                emu.wake()
            assert await port.expect(leave) == leave
            assert await port.cmd("AT") == ["OK"]
            # Awake for another Active-Time, then back to sleep.
            clock.advance(4)
            assert emu.in_psm
            report = emu.energy_report()
            assert report.seconds[PowerState.CONNECTED] == pytest.approx(2.0)
            assert report.seconds[PowerState.IDLE] == pytest.approx(8.0)
            assert report.total_seconds == pytest.approx(emu.energy.elapsed) == pytest.approx(10.0)

    run(scenario)


def test_bc66_prints_boot_rom_junk_when_leaving_psm() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with modem("bc66", clock=clock, granted_psm=(0, 3600)) as (emu, port):
            assert await port.cmd("AT+QATWAKEUP=1") == ["OK"]
            assert await port.cmd("AT+CPSMS=1") == ["OK"]
            clock.advance(2)
            assert await port.line() == "+QATSLEEP"
            emu.wake()
            lines = [await port.line() for _ in range(5)]
            assert lines[0] == "F1: 0000 0000"
            assert lines[-2:] == ["Leaving the BROM", "+QATWAKEUP"]

    run(scenario)


def test_downlink_for_a_module_in_psm_waits_for_its_periodic_tau() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with (
            udp_server(echo=False) as (server, peer),
            modem("bc95", clock=clock, granted_psm=(2, 600)) as (
                emu,
                port,
            ),
        ):
            assert await port.cmd("AT+NPSMR=1") == ["OK"]
            assert await port.cmd("AT+CPSMS=1") == ["OK"]
            assert await port.cmd('AT+NSOCR="DGRAM",17,0,1') == ["0", "OK"]
            assert await port.cmd(f'AT+NSOST=0,"127.0.0.1",{peer},1,"01"') == ["0,1", "OK"]
            while not server.received:
                await emu.wait_for(lambda: bool(server.received))
            clock.advance(22)  # 20 s RRC inactivity + 2 s Active-Time
            assert await port.line() == "+NPSMR:1"
            assert server.transport is not None
            server.transport.sendto(b"late", server.received[0][1])
            await emu.wait_for(lambda: emu.held_downlink == 1)
            clock.advance(600)  # T3412 runs from the release at 20 s: TAU at 620 s
            assert await port.line() == "+NPSMR:0"
            assert await port.line() == "+NSONMI:0,4"
            assert emu.power_state is PowerState.CONNECTED
            assert await port.cmd("AT+NSORF=0,10") == [f"0,127.0.0.1,{peer},4,6C617465,0", "OK"]

    run(scenario)


def test_release_assistance_ends_the_connection_right_after_the_datagram() -> None:
    async def scenario() -> None:
        async with udp_server(echo=False) as (_, peer), modem("bc95") as (emu, port):
            assert await port.cmd("AT+CSCON=1") == ["OK"]
            assert await port.cmd('AT+NSOCR="DGRAM",17,0,1') == ["0", "OK"]
            clock = emu._clock
            assert isinstance(clock, ManualClock)
            clock.advance(30)  # the attach connection is released
            assert await port.line() == "+CSCON:0"
            # NSOSTF flag 0x200: release after this message (ref §4.6).
            assert await port.cmd(f'AT+NSOSTF=0,"127.0.0.1",{peer},0x200,1,"77"') == ["0,1", "OK"]
            assert await port.line() == "+CSCON:1"
            assert await port.line() == "+CSCON:0"
            assert emu.power_state is PowerState.IDLE

    run(scenario)


def test_bg96_uart_sleeps_with_qsclk_and_dtr_and_keeps_urcs() -> None:
    async def scenario() -> None:
        async with modem("bg96") as (emu, port):
            assert await port.cmd("AT+CRTDCP=1") == ["OK"]
            assert await port.cmd("AT+QSCLK=1") == ["OK"]
            emu.set_dtr(high=True)
            port.send("AT\r")
            await emu.wait_for(lambda: emu.ignored_input_bytes >= 3)
            emu.deliver_nidd(b"\x42")  # the URC waits for the UART
            emu.set_dtr(high=False)
            assert await port.line() == '+CRTDCP: 1,1,"42"'
            assert await port.cmd("AT") == ["OK"]

    run(scenario)


def test_sim7020_auto_sleep_loses_the_first_at() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with modem("sim7020", clock=clock) as (emu, port):
            assert await port.cmd("AT+CSCLK=2") == ["OK"]
            clock.advance(5)
            assert not emu.uart_awake
            port.send("AT\r")  # "send AT twice" (ref §4.7)
            await emu.wait_for(lambda: emu.uart_awake)
            assert await port.cmd("AT") == ["OK"]

    run(scenario)


def test_edrx_request_grant_and_urc() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with modem("sim7080", clock=clock, granted_edrx="0010") as (emu, port):
            assert await port.cmd('AT+CEDRXS=2,4,"0101"') == ["OK"]
            assert await port.line() == '+CEDRXP: 4,"0101","0010","0011"'
            assert await port.cmd("AT+CEDRXRDP") == ['+CEDRXRDP: 4,"0101","0010","0011"', "OK"]
            assert await port.cmd("AT+CEDRXS?") == ['+CEDRXS: 4,"0101"', "OK"]
            clock.advance(100)
            report = emu.energy_report()
            assert report.idle_edrx_seconds == pytest.approx(98.0)
            assert await port.cmd("AT+CEDRXS=3,4") == ["OK"]
            assert await port.cmd("AT+CEDRXRDP") == ["+CEDRXRDP: 0", "OK"]

    run(scenario)


# -- power and energy ---------------------------------------------------------------------------------


def test_energy_ledger_adds_up_to_elapsed_time() -> None:
    async def scenario() -> None:
        clock = ManualClock(100.0)
        currents = {"connected": 100.0, "idle": 2.0, "psm": 0.01, "off": 0.0}
        options = {"clock": clock, "granted_psm": (4, 3600), "rrc_inactivity_s": 20.0, "signalling_s": 2.0}
        async with modem("bg96", currents_ma=currents, **options) as (emu, port):
            assert await port.cmd("AT+CPSMS=1") == ["OK"]  # attach + TAU: connected 100..102
            clock.advance(10)  # idle 102..106, PSM 106..110
            assert emu.in_psm
            emu.wake()  # idle from 110
            assert await port.expect("RDY") == "RDY"  # [U] BG96 restarts from PSM
            assert await port.cmd('AT+CSODCP=1,3,"AABBCC"') == ["OK"]  # connected 110..130
            clock.advance(3600)  # idle 130..134, PSM 134..3710 (TAU due at 3730)
            report = emu.energy_report()
            expected = {PowerState.CONNECTED: 22.0, PowerState.IDLE: 8.0, PowerState.PSM: 3580.0, PowerState.OFF: 0.0}
            assert report.seconds == pytest.approx(expected)
            assert report.total_seconds == pytest.approx(emu.energy.elapsed) == pytest.approx(3610.0)
            mah = (22.0 * 100.0 + 8.0 * 2.0 + 3580.0 * 0.01) / 3600.0
            assert report.total_mah == pytest.approx(mah)
            clock.advance(100)  # periodic TAU at 3730: connected 2 s, idle 4 s, PSM again
            report = emu.energy_report()
            assert report.seconds[PowerState.CONNECTED] == pytest.approx(24.0)
            assert report.total_seconds == pytest.approx(3710.0)
            assert "total" in str(report)

    run(scenario)


def test_power_down_and_power_key() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        async with modem("sim7080", clock=clock) as (emu, port):
            assert await port.cmd("AT+CPOWD=1") == ["NORMAL POWER DOWN"]
            clock.advance(10)
            assert emu.power_state is PowerState.OFF
            port.send("AT\r")
            await emu.wait_for(lambda: emu.ignored_input_bytes >= 3)
            emu.press_pwrkey()
            assert await port.cmd("AT") == ["AT", "OK"]  # a fresh boot echoes again
            assert emu.energy_report().seconds[PowerState.OFF] == pytest.approx(10.0)

    run(scenario)


def test_boot_text_and_bc95_reboot() -> None:
    async def scenario() -> None:
        async with modem("bc95") as (_, port):
            assert await port.cmd("AT+NRB") == ["REBOOTING", "REBOOT_CAUSE_APPLICATION_AT", "Neul", "OK"]
        emu = ModemEmulator("bg96", clock=ManualClock())
        await emu.start()
        port = Port(emu.port_path)
        try:
            assert await port.cmd("AT") == ["RDY", "+CPIN: READY", "AT", "OK"]  # echo is on after boot
        finally:
            port.close()
            await emu.stop()

    run(scenario)


def test_unknown_model_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="bc95"):
        ModemEmulator("sim800")


def test_without_a_manual_clock_timers_run_on_the_event_loop() -> None:
    async def scenario() -> None:
        # The default clock is time.monotonic: the emulator arms loop timers (as in HIL runs).
        emu = ModemEmulator("bc95", rrc_inactivity_s=0.05, signalling_s=0.05, granted_psm=(0, 3600))
        await emu.start()
        port = Port(emu.port_path)
        try:
            assert (await port.cmd("AT+NPSMR=1;+CPSMS=1"))[-1] == "OK"  # after boot text and echo
            await emu.wait_for(lambda: emu.in_psm, timeout=5)
            assert await port.expect("+NPSMR:1") == "+NPSMR:1"
        finally:
            port.close()
            await emu.stop()
        report = emu.energy_report()  # frozen at stop()
        assert report.seconds[PowerState.PSM] > 0
        assert report.total_seconds == pytest.approx(emu.energy.elapsed)

    run(scenario)
