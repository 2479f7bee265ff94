"""What one oneM2M publish costs per binding and serialization, measured side by side in one run.

Starts a local ACME CSE exactly as the tests do (tests/onem2m/conftest.py:
ACME's own virtualenv, free loopback ports, readiness checks), then prints two
tables.

1. Bytes on the wire per publish. For each binding (HTTP, WebSocket, CoAP) and
   serialization (JSON, CBOR) an AE registers through a relay in this process
   (TCP for HTTP and WS, UDP for CoAP) that forwards every byte unchanged and
   counts it, so the sizes are the real messages with every header, option and
   frame: no hooks into the bindings or ACME. After registration and the
   container are set up the counters are reset, then --publishes readings are
   published one after the other with AE.publish() (rcn=0, the default) and
   the totals divided by that number.
   Columns: up / down = application bytes AE -> CSE / CSE -> AE per publish
   (HTTP: request line, headers, body; WS: frames incl. their 2-6 byte headers
   and client masking keys; CoAP: whole datagrams); total, and total relative to
   the smallest row; conns = TCP connections opened per publish (ACME's default
   HTTP server answers "Connection: close", so every HTTP request pays a TCP
   handshake) or datagrams per publish for CoAP. Not included: IP/TCP/UDP
   headers (20+20 / 20+8 bytes per packet) and TCP's handshake and ACK packets;
   the conns / datagrams column is there to add them.
   The reading is {"temp": 21.5, "hum": 40}, sent as JSON text with
   cnf application/json:0 (AE.publish's encoding, the same in every row).
   WebSocket runs without min_frame_interval: nothing here notifies, so no two
   of our frames meet at ACME (the pacing bindings/ws.py offers for ACME's
   back-to-back defect would otherwise cap a sequential loop at 1/interval).

2. Publishes per second. The same AE code straight to ACME (no relay) for
   --seconds per row, each publish awaited before the next (a device's
   pattern; no pipelining). Columns: publishes, publishes/s, mean and p95
   latency in ms, and publishes/s relative to the fastest row. ACME is the
   bottleneck here (Python, a thread per request); the ratios say how the
   bindings compare on the same CSE, not what a production CSE does.

Usage: python bench/onem2m.py [--publishes N] [--seconds S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from m2mclient.onem2m.ae import AE  # noqa: E402

READING = {"temp": 21.5, "hum": 40}
KINDS = ("http", "ws", "coap")
FORMATS = ("json", "cbor")


# ---------------------------------------------------------------------------
# ACME, started the way tests/onem2m/conftest.py starts it
# ---------------------------------------------------------------------------


@contextmanager
def running_acme() -> Iterator[Any]:
    """The ``AcmeCSE`` of tests/onem2m/conftest.py, stopped on exit."""
    sys.path.insert(0, str(REPO / "tests" / "onem2m"))
    conftest = importlib.import_module("conftest")  # the fixture's helpers: same venv, config, ports, checks

    base_dir = Path(tempfile.mkdtemp(prefix="bench-acme-"))
    try:
        python, version = conftest.find_acme_python()
        cse, process = conftest._start(python, version, base_dir)
    except BaseException as exc:  # pytest's skip/fail outcomes derive from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise SystemExit(f"cannot start ACME CSE: {exc}") from None
    try:
        yield cse
    finally:
        conftest._stop(process)
    shutil.rmtree(base_dir, ignore_errors=True)  # kept (with ACME's logs) when the run failed


# ---------------------------------------------------------------------------
# Counting relays
# ---------------------------------------------------------------------------


@dataclass
class Counter:
    up: int = 0  # AE -> CSE
    down: int = 0  # CSE -> AE
    units: int = 0  # TCP connections opened, or UDP datagrams (both directions)
    started: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.up = self.down = self.units = 0


class TcpRelay:
    """Forwards TCP connections to ``target`` and counts bytes and connections."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.count = Counter()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count.units += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, add: Callable[[int], None]) -> None:
            try:
                while data := await source.read(65536):
                    add(len(data))
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        def up(n: int) -> None:
            self.count.up += n

        def down(n: int) -> None:
            self.count.down += n

        await asyncio.gather(pump(reader, upstream_writer, up), pump(upstream_reader, writer, down))


class UdpRelay(asyncio.DatagramProtocol):
    """Forwards datagrams from one client to ``target`` and back, counting bytes and datagrams."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.count = Counter()
        self.port = 0
        self.client: tuple[str, int] | None = None
        self.front: asyncio.DatagramTransport | None = None
        self.back: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay.count.down += len(data)
                relay.count.units += 1
                if relay.client is not None and relay.front is not None:
                    relay.front.sendto(data, relay.client)

        self.front, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.back, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.target)
        self.port = self.front.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for transport in (self.front, self.back):
            if transport is not None:
                transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # from the AE
        self.client = addr
        self.count.up += len(data)
        self.count.units += 1
        if self.back is not None:
            self.back.sendto(data)


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


def _binding_options(kind: str) -> dict[str, Any]:
    if kind == "http":
        return {"notification_host": None}  # publishing needs no notification server
    if kind == "coap":
        return {"nonblocking_post": False}
    return {}


def _cse_url(cse: Any, kind: str) -> str:
    return str({"http": cse.http_url, "ws": cse.ws_url, "coap": cse.coap_url}[kind])


async def bytes_per_publish(cse: Any, kind: str, fmt: str, publishes: int) -> dict[str, Any]:
    url = urlsplit(_cse_url(cse, kind))
    relay: TcpRelay | UdpRelay = UdpRelay(url.hostname or "127.0.0.1", url.port or 0)
    if kind != "coap":
        relay = TcpRelay(url.hostname or "127.0.0.1", url.port or 0)
    await relay.start()
    name = f"bench{secrets.token_hex(3)}"
    try:
        async with AE(
            f"{url.scheme}://127.0.0.1:{relay.port}",
            serialization=fmt,
            app_id="Nbench",
            name=name,
            originator="C" + name,
            binding_options=_binding_options(kind),
        ) as ae:
            await ae.register()
            await ae.create_container("data")
            relay.count.reset()
            for _ in range(publishes):
                publication = await ae.publish("data", READING)
                assert publication.delivered, publication
            count = (relay.count.up, relay.count.down, relay.count.units)
            await ae.deregister()
    finally:
        await relay.stop()
    up, down, units = (value / publishes for value in count)
    return {"binding": kind, "format": fmt, "up": up, "down": down, "total": up + down, "units": units}


async def publish_rate(cse: Any, kind: str, fmt: str, seconds: float) -> dict[str, Any]:
    name = f"rate{secrets.token_hex(3)}"
    latencies: list[float] = []
    async with AE(
        _cse_url(cse, kind),
        serialization=fmt,
        app_id="Nbench",
        name=name,
        originator="C" + name,
        binding_options=_binding_options(kind),
    ) as ae:
        await ae.register()
        await ae.create_container("data", mni=100)
        await ae.publish("data", READING)  # warm-up: connections, caches
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            before = time.perf_counter()
            publication = await ae.publish("data", READING)
            latencies.append(time.perf_counter() - before)
            assert publication.delivered, publication
        elapsed = time.perf_counter() - started
        await ae.deregister()
    latencies.sort()
    return {
        "binding": kind,
        "format": fmt,
        "publishes": len(latencies),
        "rate": len(latencies) / elapsed,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def print_bytes(rows: list[dict[str, Any]], publishes: int) -> None:
    smallest = min(row["total"] for row in rows)
    print(f"\n1. Bytes on the wire per publish (mean of {publishes}; reading {json.dumps(READING)})")
    print(f"{'binding':8} {'format':6} {'up':>7} {'down':>7} {'total':>7} {'x smallest':>10} {'conns/datagrams':>16}")
    for row in rows:
        unit = "datagrams" if row["binding"] == "coap" else "conns"
        print(
            f"{row['binding']:8} {row['format']:6} {row['up']:7.0f} {row['down']:7.0f} {row['total']:7.0f} "
            f"{row['total'] / smallest:10.2f} {row['units']:7.2f} {unit:>8}"
        )


def print_rates(rows: list[dict[str, Any]], seconds: float) -> None:
    fastest = max(row["rate"] for row in rows)
    print(f"\n2. Publishes per second, sequential, straight to ACME ({seconds:g} s per row)")
    print(f"{'binding':8} {'format':6} {'publishes':>9} {'per s':>7} {'mean ms':>8} {'p95 ms':>7} {'x fastest':>9}")
    for row in rows:
        print(
            f"{row['binding']:8} {row['format']:6} {row['publishes']:9d} {row['rate']:7.1f} "
            f"{row['mean_ms']:8.1f} {row['p95_ms']:7.1f} {row['rate'] / fastest:9.2f}"
        )


async def run(cse: Any, publishes: int, seconds: float) -> None:
    sizes = [await bytes_per_publish(cse, kind, fmt, publishes) for kind in KINDS for fmt in FORMATS]
    print_bytes(sizes, publishes)
    rates = [await publish_rate(cse, kind, fmt, seconds) for kind in KINDS for fmt in FORMATS]
    print_rates(rates, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishes", type=int, default=50, help="publishes per row of table 1 (default 50)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per row of table 2 (default 3)")
    parser.add_argument("--quick", action="store_true", help="10 publishes, 1 s per row")
    args = parser.parse_args()
    publishes, seconds = (10, 1.0) if args.quick else (args.publishes, args.seconds)
    with running_acme() as cse:
        print(f"ACME CSE {cse.version} at {cse.http_url} / {cse.ws_url} / {cse.coap_url}")
        asyncio.run(run(cse, publishes, seconds))


if __name__ == "__main__":
    main()
