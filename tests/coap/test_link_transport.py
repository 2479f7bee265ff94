"""CoAP over a DatagramLink: the aiocoap transport, and the whole LwM2M client on top of it.

The link under the transport is either a real :class:`UdpLink` or :class:`MemoryLink`,
an in-memory test double with a small MTU and scripted loss (the thing under test is
the transport, so a fake carrier is fine). The LwM2M peer is always the real
:class:`LwM2MTestServer` on a real UDP socket; the in-memory network reaches it
through :class:`Relay`, which stands in for the server on that network and forwards
datagrams to the server's UDP port and back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiocoap
import pytest
from aiocoap import Code, Message, resource
from aiocoap.messagemanager import MessageManager
from aiocoap.tokenmanager import TokenManager

from m2mclient.coap.context import create_endpoint
from m2mclient.coap.link_transport import (
    RESPONSE_OVERHEAD,
    LinkEndpoint,
    LinkTransport,
    add_link_transport,
    block_size_exp,
)
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.objects.device import DeviceObject
from m2mclient.lwm2m.registry import default_registry
from m2mclient.platform.links import DatagramLink, LinkAddress, LinkClosedError, LinkError, PayloadTooLargeError
from m2mclient.platform.sockets import UdpLink
from m2mclient.testing import LwM2MTestServer

T = TypeVar("T")
WAIT = 5.0
EP = "link-dev"
#: A link MTU like SMS (140) or a small NB-IoT modem buffer: /3/0 does not fit one datagram.
SMALL_MTU = 128


def run(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(main())


# --- the in-memory link (test double) ----------------------------------------------------------


@dataclass
class Datagram:
    source: LinkAddress
    destination: LinkAddress
    data: bytes
    dropped: bool = False


@dataclass
class MemoryNetwork:
    """A radio between MemoryLinks: a fixed MTU, delivery on the next loop turn, scripted loss.

    ``drop(index, datagram)`` decides per datagram (index counts from 0 over everything sent).
    """

    mtu: int = SMALL_MTU
    drop: Callable[[int, Datagram], bool] = lambda _index, _datagram: False
    links: dict[LinkAddress, MemoryLink] = field(default_factory=dict)
    traffic: list[Datagram] = field(default_factory=list)

    def attach(self, address: LinkAddress) -> MemoryLink:
        link = MemoryLink(self, address)
        self.links[address] = link
        return link

    def transmit(self, datagram: Datagram) -> None:
        datagram.dropped = self.drop(len(self.traffic), datagram)
        self.traffic.append(datagram)
        target = self.links.get(datagram.destination)
        if not datagram.dropped and target is not None:
            asyncio.get_running_loop().call_soon(target.arrive, datagram.data, datagram.source)

    def sent_by(self, address: LinkAddress) -> list[Datagram]:
        return [d for d in self.traffic if d.source == address]


class MemoryLink:
    """A DatagramLink on a MemoryNetwork."""

    def __init__(self, network: MemoryNetwork, address: LinkAddress):
        self.network = network
        self.local_address = address
        self.inbox: collections.deque[tuple[bytes, LinkAddress]] = collections.deque()
        self.readable = asyncio.Event()
        self.closed = False

    @property
    def max_payload(self) -> int:
        return self.network.mtu

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        if self.closed:
            raise LinkClosedError("memory link closed")
        if len(data) > self.max_payload:
            raise PayloadTooLargeError(len(data), self.max_payload, repr(self))
        self.network.transmit(Datagram(self.local_address, remote, bytes(data)))

    async def receive(self) -> tuple[bytes, LinkAddress]:
        while True:
            if self.closed:
                raise LinkClosedError("memory link closed")
            if self.inbox:
                return self.inbox.popleft()
            self.readable.clear()
            await self.readable.wait()

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        return LinkAddress(host.strip("[]"), port)

    async def close(self) -> None:
        self.closed = True
        self.readable.set()

    def arrive(self, data: bytes, source: LinkAddress) -> None:
        self.inbox.append((data, source))
        self.readable.set()

    def __repr__(self) -> str:
        return f"<MemoryLink {self.local_address} mtu={self.max_payload}>"


class Relay:
    """Stands in for a UDP server on a MemoryNetwork and forwards to its real UDP port, both ways.

    The server sees the relay's UDP socket as the client; its own requests (Read,
    Observe) come back to that socket and are forwarded to the client on the network.
    """

    def __init__(self, network: MemoryNetwork, server: LinkAddress, udp: UdpLink):
        self.radio = network.attach(server)
        self.server = server
        self.udp = udp
        self.client: LinkAddress | None = None
        self.too_large: list[bytes] = []
        self._tasks = [asyncio.ensure_future(self._uplink()), asyncio.ensure_future(self._downlink())]

    async def _uplink(self) -> None:
        while True:
            data, self.client = await self.radio.receive()
            await self.udp.send(data, self.server)

    async def _downlink(self) -> None:
        while True:
            data, _ = await self.udp.receive()
            if self.client is None:
                continue
            try:
                await self.radio.send(data, self.client)
            except PayloadTooLargeError:
                self.too_large.append(data)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.radio.close()
        await self.udp.close()


# --- pinning the aiocoap internals the transport relies on ----------------------------------------


def test_aiocoap_internals_the_transport_copies_are_still_there() -> None:
    """add_link_transport repeats a private aiocoap method; fail here first if aiocoap changes it."""
    import inspect

    assert hasattr(aiocoap.Context, "_append_tokenmanaged_messagemanaged_transport")
    source = inspect.getsource(aiocoap.Context._append_tokenmanaged_messagemanaged_transport)
    for step in ("TokenManager(self)", "MessageManager(tman)", "mman.message_interface = ", "tman.token_interface = "):
        assert step in source, f"aiocoap changed how it registers transports: {step!r} is gone"
    assert "self.request_interfaces.append(tman)" in source
    # MessageManager asks the interface whether it knows a remote (not part of the ABC).
    assert "recognize_remote" in inspect.getsource(MessageManager.fill_or_recognize_remote)
    assert set(aiocoap.interfaces.MessageInterface.__abstractmethods__) <= set(dir(LinkTransport))

    async def scenario() -> None:
        network = MemoryNetwork()
        link = network.attach(LinkAddress("10.0.0.2", 5683))
        context = aiocoap.Context(serversite=resource.Site())
        transport = await add_link_transport(context, link)
        tman = context.request_interfaces[-1]
        assert isinstance(tman, TokenManager) and isinstance(tman.token_interface, MessageManager)
        assert tman.token_interface.message_interface is transport
        peer = transport.endpoint(LinkAddress("10.0.0.1", 5683))
        assert isinstance(peer, LinkEndpoint)
        probe = Message(code=Code.GET)
        probe.remote = peer
        assert await tman.fill_or_recognize_remote(probe)
        # BlockwiseRequest assigns this on response addresses.
        peer.maximum_block_size_exp = 1
        assert peer.maximum_payload_size == 32
        await context.shutdown()

    run(scenario)


def test_block_size_follows_the_link_mtu() -> None:
    assert block_size_exp(128, RESPONSE_OVERHEAD) == 2  # 64-byte blocks on a 128-byte link
    assert block_size_exp(140, RESPONSE_OVERHEAD) == 2  # SMS
    assert block_size_exp(512, RESPONSE_OVERHEAD) == 4  # 256-byte blocks
    assert block_size_exp(1152, RESPONSE_OVERHEAD) == 6  # 1024 over IP
    assert block_size_exp(1358, RESPONSE_OVERHEAD) == 6
    assert block_size_exp(60, RESPONSE_OVERHEAD) == 0  # nothing fits; sending fails loudly


def test_endpoints_compare_by_transport_and_peer() -> None:
    async def scenario() -> None:
        network = MemoryNetwork()
        one = await add_link_transport(aiocoap.Context(), network.attach(LinkAddress("a")))
        two = await add_link_transport(aiocoap.Context(), network.attach(LinkAddress("b")))
        peer = LinkAddress("2001:db8::1", 5683)
        assert one.endpoint(peer) == one.endpoint(peer, overhead=100)
        assert hash(one.endpoint(peer)) == hash(one.endpoint(peer, overhead=100))
        assert one.endpoint(peer) != two.endpoint(peer)
        endpoint = one.endpoint(peer)
        assert endpoint.hostinfo == "[2001:db8::1]:5683" and endpoint.uri_base == "coap://[2001:db8::1]:5683"
        assert endpoint.hostinfo_local == "a" and endpoint.scheme == "coap" and not endpoint.is_multicast
        assert await one.recognize_remote(endpoint) and not await two.recognize_remote(endpoint)
        await one.shutdown()
        await two.shutdown()

    run(scenario)


# --- plain CoAP between two contexts over a small-MTU link ------------------------------------------


class Blob(resource.Resource):  # type: ignore[misc]
    def __init__(self, content: bytes):
        super().__init__()
        self.content = content

    async def render_get(self, request: Message) -> Message:
        return Message(code=Code.CONTENT, payload=self.content)

    async def render_put(self, request: Message) -> Message:
        self.content = request.payload
        return Message(code=Code.CHANGED)


@contextlib.asynccontextmanager
async def two_contexts(network: MemoryNetwork, content: bytes) -> AsyncIterator[tuple[aiocoap.Context, Blob]]:
    site = resource.Site()
    blob = Blob(content)
    site.add_resource(["blob"], blob)
    server = await create_endpoint(site, "coap://10.0.0.1", link=network.attach(LinkAddress("10.0.0.1", 5683)))
    client = await create_endpoint(resource.Site(), "coap://10.0.0.1", link=network.attach(LinkAddress("10.0.0.2", 1)))
    try:
        yield client, blob
    finally:
        await client.shutdown()
        await server.shutdown()


def test_blockwise_both_ways_over_a_small_mtu_link() -> None:
    async def scenario() -> None:
        network = MemoryNetwork(mtu=SMALL_MTU)
        content = bytes(range(256)) * 3
        async with two_contexts(network, content) as (client, blob):
            got = await client.request(Message(code=Code.GET, uri="coap://10.0.0.1:5683/blob")).response
            assert (got.code, got.payload) == (Code.CONTENT, content)
            new = b"written in blocks " * 40
            put = await client.request(Message(code=Code.PUT, uri="coap://10.0.0.1/blob", payload=new)).response
            assert put.code == Code.CHANGED and blob.content == new
        sizes = [len(d.data) for d in network.traffic]
        assert max(sizes) <= SMALL_MTU and len(sizes) > 2 * (len(content) + len(new)) // 64
        assert got.remote.address == LinkAddress("10.0.0.1", 5683)  # the URI without a port got 5683

    run(scenario)


def test_con_request_is_retransmitted_when_the_link_loses_it() -> None:
    class Fast(aiocoap.TransportTuning):  # type: ignore[misc]
        ACK_TIMEOUT = 0.1

    async def scenario() -> None:
        network = MemoryNetwork(drop=lambda index, _d: index == 0)
        async with two_contexts(network, b"small") as (client, _):
            request = Message(code=Code.GET, uri="coap://10.0.0.1/blob", transport_tuning=Fast())
            response = await asyncio.wait_for(client.request(request).response, WAIT)
            assert response.payload == b"small"
        first, again = network.traffic[0], network.traffic[1]
        assert first.dropped and not again.dropped
        assert first.data == again.data  # the same CON, same message ID

    run(scenario)


def test_undecodable_datagrams_are_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        network = MemoryNetwork()
        async with two_contexts(network, b"still here") as (client, _):
            noise = network.attach(LinkAddress("10.0.0.66", 1))
            await noise.send(b"\xff\x00", LinkAddress("10.0.0.2", 1))
            await noise.send(b"", LinkAddress("10.0.0.2", 1))
            await asyncio.sleep(0.05)
            got = await client.request(Message(code=Code.GET, uri="coap://10.0.0.1/blob")).response
            assert got.payload == b"still here"

    with caplog.at_level(logging.WARNING, logger="m2mclient.coap.link_transport"):
        run(scenario)
    dropped = [r.getMessage() for r in caplog.records if "not CoAP" in r.getMessage()]
    assert len(dropped) == 2 and "10.0.0.66:1" in dropped[0]


def test_a_message_too_large_for_the_link_fails_the_request_with_the_reason() -> None:
    async def scenario() -> None:
        network = MemoryNetwork(mtu=96)
        async with two_contexts(network, b"x") as (client, _):
            request = Message(code=Code.GET, uri="coap://10.0.0.1/blob")
            request.opt.uri_query = ["q=" + "x" * 120]  # options alone exceed the link
            with pytest.raises(aiocoap.error.NetworkError) as caught:
                await asyncio.wait_for(client.request(request).response, WAIT)
            assert isinstance(caught.value.__cause__, PayloadTooLargeError)
            assert "96" in str(caught.value)
        assert network.traffic == []

    run(scenario)


def test_a_link_serves_one_endpoint_and_outlives_it() -> None:
    async def scenario() -> None:
        network = MemoryNetwork()
        link = network.attach(LinkAddress("10.0.0.2", 1))
        first = await create_endpoint(resource.Site(), "coap://10.0.0.1", link=link)
        with pytest.raises(LinkError, match="already carries"):
            await create_endpoint(resource.Site(), "coap://10.0.0.1", link=link)
        await first.shutdown()
        assert not link.closed  # the caller owns the link
        second = await create_endpoint(resource.Site(), "coap://10.0.0.1", link=link)
        await second.shutdown()

    run(scenario)


def test_create_endpoint_refuses_what_a_link_cannot_do() -> None:
    async def scenario() -> None:
        link = MemoryNetwork().attach(LinkAddress("10.0.0.2", 1))
        with pytest.raises(ValueError, match="not both"):
            await create_endpoint(resource.Site(), "coap://10.0.0.1", link=link, bind=("::", 0))
        with pytest.raises(ValueError, match="coap:// only"):
            await create_endpoint(resource.Site(), "coap+tcp://10.0.0.1", link=link)

    run(scenario)


def test_a_link_failing_to_send_fails_the_request() -> None:
    async def scenario() -> None:
        network = MemoryNetwork()
        async with two_contexts(network, b"x") as (client, _):
            await network.links[LinkAddress("10.0.0.2", 1)].close()
            with pytest.raises(aiocoap.error.NetworkError) as caught:
                await asyncio.wait_for(
                    client.request(Message(code=Code.GET, uri="coap://10.0.0.1/blob")).response, WAIT
                )
            assert isinstance(caught.value.__cause__, LinkClosedError)

    run(scenario)


# --- the LwM2M client over links, against the real LwM2M test server ------------------------------


def device() -> DeviceObject:
    # Long strings on purpose: /3/0 must not fit one 128-byte datagram.
    return DeviceObject(
        manufacturer="Acme Constrained Devices Manufacturing Ltd.",
        model_number="RPi-4B + NB-IoT HAT rev C",
        serial_number="SN-2024-000000000042",
        firmware_version="m2mclient-fw 1.2.3+build.456",
    )


def temperature() -> ObjectInstance:
    return ObjectInstance(default_registry().get(3303), 0, {5700: 21.5, 5701: "Cel"})  # type: ignore[arg-type]


async def exercise_client(server: LwM2MTestServer, link: DatagramLink, *, expect_blocks: bool) -> None:
    """Register, Read /3/0, Observe, Send and De-register over ``link``."""
    sensor = temperature()
    client = LwM2MClient(EP, [device(), sensor], server_uri=server.uri, lifetime=60, link=link)
    async with client:
        registration = await server.wait_registration(EP, timeout=WAIT)
        await client.wait_registered(timeout=WAIT)
        assert server.rejections == []
        assert {Path.parse("/3/0"), Path.parse("/3303/0")} <= set(registration.objects)

        read = await server.read(EP, "/3/0", accept=formats.SENML_CBOR)
        assert read.code == "2.05" and read.values is not None
        assert read.values[Path.parse("/3/0/0")] == "Acme Constrained Devices Manufacturing Ltd."
        assert read.values[Path.parse("/3/0/3")] == "m2mclient-fw 1.2.3+build.456"
        if expect_blocks:
            assert len(read.payload) > SMALL_MTU, "the Read must need block-wise transfer at this MTU"

        observation = await server.observe(EP, "/3303/0/5700")
        assert observation.established
        sensor.set(5700, 23.25)
        note = await observation.next(timeout=WAIT)
        assert note.values == {Path.parse("/3303/0/5700"): 23.25}

        await client.send(["/3/0", "/3303/0/5700"])
        report = await server.wait_send(EP, timeout=WAIT)
        assert report.values[Path.parse("/3303/0/5700")] == 23.25
        assert report.values[Path.parse("/3/0/1")] == "RPi-4B + NB-IoT HAT rev C"
        if expect_blocks:
            assert len(report.payload) > SMALL_MTU, "the Send must need block-wise transfer at this MTU"

    gone = await server.wait_deregistration(EP, timeout=WAIT)
    assert gone.removed == "deregistered"


def test_lwm2m_client_over_a_udp_link() -> None:
    async def scenario() -> None:
        async with LwM2MTestServer(transport="udp") as server, await UdpLink.open(("127.0.0.1", 0)) as link:
            await exercise_client(server, link, expect_blocks=False)
            # The server saw the link's own socket: the traffic went through our transport.
            registration = server.deregistrations[-1]
            assert registration.remote_address == str(link.local_address)

    run(scenario)


@contextlib.asynccontextmanager
async def bridged(network: MemoryNetwork) -> AsyncIterator[tuple[LwM2MTestServer, MemoryLink, Relay]]:
    """A real LwM2M server, a relay standing in for it on ``network``, and the client's link there."""
    async with LwM2MTestServer(transport="udp") as server:
        relay = Relay(network, LinkAddress(server.host, server.port), await UdpLink.open(("127.0.0.1", 0)))
        try:
            yield server, network.attach(LinkAddress("10.45.0.7", 5683)), relay
        finally:
            await relay.close()


def test_lwm2m_client_over_a_small_mtu_link_uses_blockwise() -> None:
    async def scenario() -> None:
        network = MemoryNetwork(mtu=SMALL_MTU)
        async with bridged(network) as (server, link, relay):
            await exercise_client(server, link, expect_blocks=True)
            assert relay.too_large == []
        assert max(len(d.data) for d in network.traffic) <= SMALL_MTU
        messages = [Message.decode(d.data) for d in network.traffic]
        # Register and Send went up in Block1 blocks, the Read of /3/0 came back in Block2 blocks.
        assert sum(1 for m in messages if m.code.is_request() and m.opt.block1 is not None) >= 4
        assert sum(1 for m in messages if m.code.is_response() and m.opt.block2 is not None) >= 2

    run(scenario)


def test_lwm2m_register_is_retransmitted_when_the_link_drops_it() -> None:
    async def scenario() -> None:
        network = MemoryNetwork(mtu=SMALL_MTU, drop=lambda index, _d: index == 0)
        async with bridged(network) as (server, link, _):
            client = LwM2MClient(EP, [device(), temperature()], server_uri=server.uri, link=link)
            async with client:
                # aiocoap's default ACK_TIMEOUT is 2-3 s before the first retransmission.
                await server.wait_registration(EP, timeout=8.0)
                await client.wait_registered(timeout=WAIT)
        first, again = network.traffic[0], network.traffic[1]
        assert first.dropped and first.source == link.local_address
        assert again.data == first.data and not again.dropped  # the same CON, same message ID

    run(scenario)
