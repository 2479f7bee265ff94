"""Links through an emulated module: the LwM2M client over a modem's UDP socket, NIDD and SMS links."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from m2mclient.lwm2m import Path, default_registry
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.platform.emulator import ModemEmulator
from m2mclient.platform.links import LinkAddress, LinkClosedError, PayloadTooLargeError
from m2mclient.platform.modem_links import NIDD_PEER, SMS_PAYLOAD, ModemTcpLink, ModemUdpLink, NiddLink, SmsLink
from m2mclient.platform.modems.detect import open_modem
from m2mclient.platform.sms_pdu import Address, DataCoding, DeliverPdu, decode_submit
from m2mclient.testing import LwM2MTestServer

TEMPERATURE = Path.parse("/3303/0/5700")


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), timeout))


@pytest.mark.parametrize("model", ["bg96", "bc66", "sim7080"])
def test_lwm2m_client_over_the_modems_udp_socket(model: str) -> None:
    """Register, Read, Observe and Send with every datagram going through AT socket commands."""

    async def scenario() -> None:
        sensor = ObjectInstance(default_registry().get(3303), 0, {5700: 21.5, 5701: "Cel"})  # type: ignore[arg-type]
        async with ModemEmulator(model) as emulator, LwM2MTestServer() as server:
            modem = await open_modem(emulator.port_path, model=model)
            try:
                link = await ModemUdpLink.open(modem)
                async with LwM2MClient("modem-dev", [sensor], server_uri=server.uri, link=link) as client:
                    registration = await server.wait_registration("modem-dev", timeout=10)
                    assert registration.version == "1.2"
                    read = await server.read("modem-dev", "/3303/0", "senml-cbor", timeout=10)
                    assert read.values[TEMPERATURE] == 21.5
                    observation = await server.observe("modem-dev", TEMPERATURE, timeout=10)
                    sensor.set(5700, 23.0)
                    assert (await observation.next(timeout=10)).values[TEMPERATURE] == 23.0
                    await client.send([TEMPERATURE])
                    assert (await server.wait_send("modem-dev", timeout=10)).values[TEMPERATURE] == 23.0
                await server.wait_deregistration("modem-dev", timeout=10)
                await link.close()
                with pytest.raises(LinkClosedError):
                    await link.send(b"late", LinkAddress("127.0.0.1", server.port))
            finally:
                await modem.close()

    run(scenario)


def test_udp_link_refuses_datagrams_over_the_modules_limit() -> None:
    async def scenario() -> None:
        async with ModemEmulator("bc95") as emulator:
            modem = await open_modem(emulator.port_path, model="bc95")
            try:
                link = await ModemUdpLink.open(modem)
                assert link.max_payload == modem.profile.max_datagram
                with pytest.raises(PayloadTooLargeError):
                    await link.send(bytes(link.max_payload + 1), LinkAddress("127.0.0.1", 9))
            finally:
                await modem.close()

    run(scenario)


def test_nidd_link_has_one_peer_the_network() -> None:
    async def scenario() -> None:
        async with ModemEmulator("bc66") as emulator:
            modem = await open_modem(emulator.port_path, model="bc66")
            try:
                link = await NiddLink.open(modem)
                await link.send(b"\x40\x01\x00\x01", await link.resolve("ignored", 5683))
                assert await emulator.nidd_uplink.get() == b"\x40\x01\x00\x01"
                emulator.deliver_nidd(b"\x60\x45\x00\x01")
                assert await link.receive() == (b"\x60\x45\x00\x01", NIDD_PEER)
            finally:
                await modem.close()

    run(scenario)


def test_sms_link_sends_8_bit_class_2_and_receives_binary_messages() -> None:
    async def scenario() -> None:
        async with ModemEmulator("sim7080") as emulator:
            modem = await open_modem(emulator.port_path, model="sim7080")
            try:
                link = await SmsLink.open(modem, message_class=2)
                await link.send(b"\x40\x01\x00\x01coap", LinkAddress("+4915100000001"))
                sent = decode_submit(await emulator.sms_outbox.get())
                assert sent.user_data == b"\x40\x01\x00\x01coap"
                assert sent.data_coding.value == 0xF6  # 8-bit, class 2 (SIM-specific)
                assert str(sent.destination) == "+4915100000001"
                # Larger than one SMS: concatenated parts, one reference.
                await link.send(bytes(range(200)), LinkAddress("+4915100000001"))
                parts = [decode_submit(await emulator.sms_outbox.get()) for _ in range(2)]
                assert b"".join(p.user_data for p in parts) == bytes(range(200))  # type: ignore[misc]
                assert parts[0].concat is not None and parts[0].concat.total == 2
                with pytest.raises(PayloadTooLargeError):
                    await link.send(bytes(SMS_PAYLOAD + 1), LinkAddress("+4915100000001"))
                # A reply from the server, as the network delivers it (an SMS-DELIVER).
                reply = DeliverPdu(
                    originator=Address.parse("+4915100000001"),
                    timestamp=dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.timezone.utc),
                    user_data=b"\x60\x45\x00\x01",
                    data_coding=DataCoding.for_alphabet("8bit"),
                )
                emulator.deliver_sms(reply.hex)
                data, peer = await link.receive()
                assert data == b"\x60\x45\x00\x01" and peer == LinkAddress("+4915100000001")
            finally:
                await modem.close()

    run(scenario)



def test_tcp_link_through_the_module() -> None:
    async def scenario() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(1024):
                writer.write(b"echo:" + data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, ModemEmulator("bg96") as emulator:
            modem = await open_modem(emulator.port_path, model="bg96")
            try:
                link = await ModemTcpLink.connect(modem, "127.0.0.1", port)
                assert link.remote_address == LinkAddress("127.0.0.1", port)
                await link.write(b"hello over AT")
                received = b""
                while len(received) < len(b"echo:hello over AT"):
                    received += await link.read(4)  # short reads keep the rest for later
                assert received == b"echo:hello over AT"
                await link.close()
                assert await link.read() == b""
            finally:
                await modem.close()

    run(scenario)
