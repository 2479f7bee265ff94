"""The link seam and its OS-socket implementations, over the real loopback network stack.

IPv6 runs on ::1 when the machine has it; otherwise those tests skip and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from m2mclient.errors import M2MError
from m2mclient.platform.links import (
    DatagramLink,
    LinkAddress,
    LinkClosedError,
    LinkError,
    PayloadTooLargeError,
    StreamLink,
)
from m2mclient.platform.sockets import DEFAULT_MAX_PAYLOAD, TcpLink, UdpLink

T = TypeVar("T")
WAIT = 5.0


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        return await asyncio.wait_for(scenario(), 20.0)

    return asyncio.run(main())


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(
    not HAS_IPV6, reason="SKIPPED LOUDLY: this machine has no IPv6 loopback (::1), so IPv6 links are untested here"
)
LOOPBACKS = pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)])


async def receive(link: DatagramLink) -> tuple[bytes, LinkAddress]:
    return await asyncio.wait_for(link.receive(), WAIT)


# --- LinkAddress ---------------------------------------------------------------------------


def test_link_address_is_a_frozen_value_usable_as_a_key() -> None:
    a = LinkAddress("192.0.2.7", 5683)
    assert a == LinkAddress("192.0.2.7", 5683) and hash(a) == hash(LinkAddress("192.0.2.7", 5683))
    assert {a: 1}[LinkAddress("192.0.2.7", 5683)] == 1
    assert a != LinkAddress("192.0.2.7", 5684)
    with pytest.raises(AttributeError):
        a.port = 1  # type: ignore[misc]
    assert str(a) == "192.0.2.7:5683"
    assert str(LinkAddress("2001:db8::1", 5683)) == "[2001:db8::1]:5683"
    assert str(LinkAddress("+491710000001")) == "+491710000001"  # an SMS peer has no port


@pytest.mark.parametrize(("host", "port"), [("", 1), ("h", -1), ("h", 65536), ("h", True)])
def test_link_address_rejects_nonsense(host: str, port: int) -> None:
    with pytest.raises(ValueError):
        LinkAddress(host, port)


def test_link_errors_are_m2m_errors() -> None:
    assert issubclass(LinkClosedError, LinkError) and issubclass(LinkError, M2MError)
    error = PayloadTooLargeError(200, 140, "<sms>")
    assert isinstance(error, LinkError) and isinstance(error, ValueError)
    assert (error.size, error.limit) == (200, 140) and "140" in str(error) and "<sms>" in str(error)


# --- UdpLink ---------------------------------------------------------------------------------


@LOOPBACKS
def test_udp_round_trip(host: str) -> None:
    async def scenario() -> None:
        async with await UdpLink.open((host, 0)) as a, await UdpLink.open((host, 0)) as b:
            assert isinstance(a, DatagramLink)
            assert a.local_address.host == host and a.local_address.port != 0
            assert a.max_payload == DEFAULT_MAX_PAYLOAD
            await a.send(b"ping", b.local_address)
            data, source = await receive(b)
            assert (data, source) == (b"ping", a.local_address)
            await b.send(b"pong" * 100, source)
            assert await receive(a) == (b"pong" * 100, b.local_address)

    run(scenario)


@needs_ipv6
def test_udp_dual_stack_link_reports_ipv4_peers_as_plain_ipv4() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("::", 0)) as both, await UdpLink.open(("127.0.0.1", 0)) as v4:
            port = both.local_address.port
            await v4.send(b"hi", LinkAddress("127.0.0.1", port))
            data, source = await receive(both)
            assert (data, source) == (b"hi", v4.local_address)  # not ::ffff:127.0.0.1
            await both.send(b"back", source)
            assert await receive(v4) == (b"back", LinkAddress("127.0.0.1", port))

    run(scenario)


def test_udp_resolve_canonicalises_so_replies_match() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0)) as v4:
            assert await v4.resolve("localhost", 5683) == LinkAddress("127.0.0.1", 5683)
            assert await v4.resolve("127.0.0.1", 1) == LinkAddress("127.0.0.1", 1)
            with pytest.raises(LinkError, match="needs a port"):
                await v4.resolve("127.0.0.1", None)
            with pytest.raises(LinkError, match="IPv4 socket"):
                await v4.resolve("::1", 5683)
            with pytest.raises(LinkError, match="cannot resolve"):
                await v4.resolve("no-such-host.invalid", 5683)
        if HAS_IPV6:
            async with await UdpLink.open(("::", 0)) as v6:
                assert await v6.resolve("[::0001]", 5683) == LinkAddress("::1", 5683)
                assert await v6.resolve("::ffff:127.0.0.1", 7) == LinkAddress("127.0.0.1", 7)

    run(scenario)


def test_udp_send_to_a_host_name_resolves_it() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0)) as a, await UdpLink.open(("127.0.0.1", 0)) as b:
            await a.send(b"x", LinkAddress("localhost", b.local_address.port))
            assert await receive(b) == (b"x", a.local_address)

    run(scenario)


def test_udp_enforces_max_payload() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0), max_payload=140) as a:
            await a.send(b"\0" * 140, a.local_address)
            assert await receive(a) == (b"\0" * 140, a.local_address)
            with pytest.raises(PayloadTooLargeError) as caught:
                await a.send(b"\0" * 141, a.local_address)
            assert (caught.value.size, caught.value.limit) == (141, 140)
        with pytest.raises(ValueError):
            await UdpLink.open(("127.0.0.1", 0), max_payload=0)

    run(scenario)


def test_udp_close_ends_a_waiting_receive_and_later_calls() -> None:
    async def scenario() -> None:
        link = await UdpLink.open(("127.0.0.1", 0))
        waiting = asyncio.ensure_future(link.receive())
        await asyncio.sleep(0)
        await link.close()
        with pytest.raises(LinkClosedError):
            await asyncio.wait_for(waiting, WAIT)
        with pytest.raises(LinkClosedError):
            await link.send(b"x", LinkAddress("127.0.0.1", 9))
        with pytest.raises(LinkClosedError):
            await link.receive()
        await link.close()  # idempotent
        assert "closed" in repr(link)

    run(scenario)


def test_udp_receive_is_cancellation_safe() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0)) as a, await UdpLink.open(("127.0.0.1", 0)) as b:
            pending = asyncio.ensure_future(b.receive())
            await asyncio.sleep(0)
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
            await a.send(b"kept", b.local_address)
            assert await receive(b) == (b"kept", a.local_address)

    run(scenario)


def test_udp_full_receive_queue_drops_and_counts() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0)) as a, await UdpLink.open(("127.0.0.1", 0), queue_size=2) as b:
            for n in range(4):
                await a.send(bytes([n]), b.local_address)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while b.dropped < 2 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert b.dropped == 2
            assert [(await receive(b))[0] for _ in range(2)] == [b"\0", b"\1"]

    run(scenario)


def test_udp_bind_failures_are_link_errors() -> None:
    async def scenario() -> None:
        async with await UdpLink.open(("127.0.0.1", 0)) as taken:
            with pytest.raises(LinkError, match="cannot bind"):
                await UdpLink.open(("127.0.0.1", taken.local_address.port or 0))
        with pytest.raises(LinkError, match="cannot bind"):
            await UdpLink.open(("no-such-host.invalid", 0))

    run(scenario)


# --- TcpLink -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def echo_server(host: str) -> Any:
    """A real TCP peer: echoes each chunk, closes after b"bye"."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
            if data.endswith(b"bye"):
                break
        writer.close()

    server = await asyncio.start_server(serve, host, 0)
    try:
        yield LinkAddress(host, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def read_exactly(link: StreamLink, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await asyncio.wait_for(link.read(), WAIT)
        assert chunk, "unexpected end of stream"
        data += chunk
    return data


@LOOPBACKS
def test_tcp_round_trip_and_end_of_stream(host: str) -> None:
    async def scenario() -> None:
        async with echo_server(host) as address, await TcpLink.connect(address) as link:
            assert isinstance(link, StreamLink)
            assert link.remote_address == address and link.local_address.host == host
            await link.write(b"hello ")
            assert await read_exactly(link, 6) == b"hello "
            big = bytes(range(256)) * 400
            await link.write(big)
            assert await read_exactly(link, len(big)) == big
            await link.write(b"bye")
            assert await read_exactly(link, 3) == b"bye"
            assert await asyncio.wait_for(link.read(), WAIT) == b""  # the peer closed
        with pytest.raises(LinkClosedError):
            await link.write(b"x")
        with pytest.raises(LinkClosedError):
            await link.read()
        await link.close()  # idempotent

    run(scenario)


def test_tcp_connect_failure_is_a_link_error() -> None:
    async def scenario() -> None:
        async with echo_server("127.0.0.1") as address:
            pass  # closed again: nothing listens on that port now
        with pytest.raises(LinkError, match="cannot connect"):
            await TcpLink.connect(address)
        with pytest.raises(LinkError, match="needs a port"):
            await TcpLink.connect(LinkAddress("127.0.0.1"))

    run(scenario)


def test_tcp_link_wraps_an_accepted_connection() -> None:
    async def scenario() -> None:
        accepted: asyncio.Queue[TcpLink] = asyncio.Queue()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put(TcpLink(reader, writer))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        try:
            client = await TcpLink.connect(("127.0.0.1", server.sockets[0].getsockname()[1]))
            peer = await asyncio.wait_for(accepted.get(), WAIT)
            assert peer.remote_address == client.local_address
            await client.write(b"abc")
            assert await read_exactly(peer, 3) == b"abc"
            await peer.close()
            assert await asyncio.wait_for(client.read(), WAIT) == b""
            await client.close()
        finally:
            server.close()
            await server.wait_closed()

    run(scenario)
