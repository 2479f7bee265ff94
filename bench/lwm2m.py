"""What the LwM2M client costs, next to a floor, measured side by side in one run.

Three tables; each prints ours, a reference, and their ratio.

1. CPU per notification. An object instance with R Integer resources
   (--resources, default 1000), every resource observed by an LwM2M server
   (text/plain, CON notifications). Each round changes every value once and
   waits until the observer has every notification; one unmeasured warm-up
   round, then --rounds measured ones (default 40, --quick 5).
   Columns: notifs = notifications the observer counted in the measured
   rounds; B/notif = payload bytes per notification (the same in both rows by
   construction); CPU = process CPU time of the notifying process over the
   measured rounds; CPU/notif = that per notification; ours / bare aiocoap =
   CPU/notif relative to the bare aiocoap row.
   Rows: "m2mclient" is an LwM2MClient (object model, notifier, engine,
   formats, aiocoap) with the changes made by ObjectInstance.set().
   "bare aiocoap" is the floor our SDK adds to: an aiocoap server context with
   one ObservableResource per path; each change builds one CON text/plain
   message and hands it to updated_state(). It registers itself at the same
   kind of server with a hand-built Register so it is observed the same way.
   Method: the observing LwM2MTestServer runs in a subprocess (this script
   with the hidden --role observer) and observes every resource in parallel
   batches of 50. time.process_time() in this process therefore counts the
   notifying side only: set -> notifier -> read/encode -> aiocoap -> socket,
   plus receiving the observer's ACKs, but not the server decoding the
   notifications. The observer is the same code for both rows (same paths,
   tokens, ACKs), so the difference between the rows is the notifier.
   Waiting for the observer costs no CPU (the loop sleeps in epoll).

2. Memory. VmRSS from /proc/self/status of a fresh interpreter each: a bare
   python (for reference), a bare aiocoap server context (create_server_context,
   udp6, empty site) right after startup, and an LwM2MClient with Device,
   Connectivity Monitoring and Location once registered to an LwM2MTestServer
   in this process. Columns: MB; x bare aiocoap = ratio to the aiocoap row;
   MB above python = what the process adds to a bare interpreter.

3. Bytes on the wire. A client with Device, Connectivity Monitoring, Location
   and ten Temperature (3303) sensors talks to an LwM2MTestServer through a
   UDP relay in this process that records every datagram unchanged, so sizes
   are real datagrams (CoAP header, token, options, payload), without hooks
   into aiocoap or the server. Rows: Register; Update with nothing changed;
   Update after a server Create of /3303/10 (it carries the object list);
   one change of /3303/0/5700 as notified to observations of the resource and
   of its instance, with the format the server's Accept named and with no
   Accept (the client's choice); Send (SenML CBOR, the default) of 1 and of 10
   values. Columns: ours = our datagram in bytes and its format; minimum =
   the smallest CoAP message carrying the same information and the format it
   uses; ours / minimum = the ratio.
   The minimum is computed, not measured:
   - a 4-byte header; a 0-byte token for the client's own requests (allowed
     with one exchange in flight, RFC 7252 5.3.1); for notifications the
     token the observer chose, which the client cannot shorten;
   - only the options needed, delta-encoded (RFC 7252 3.1): Uri-Path,
     Content-Format as a minimal uint, Uri-Query only for what differs from
     the defaults (ep and lwm2m=1.2 always, lt unless 86400, b unless U),
     Observe with a 1-byte sequence number;
   - 0xFF and the smallest payload: for values, every LwM2M 1.2 format this
     SDK encodes is tried (text, opaque, CBOR, TLV, SenML JSON/CBOR, LwM2M
     CBOR, OMA JSON; for Send only SenML JSON/CBOR and LwM2M CBOR), keeping
     the same values and timestamps and counting each format's
     Content-Format bytes; for Register/Update, link format without the
     optional root link </>;rt="oma.lwm2m";ct=... (ver attributes stay: they
     carry the object versions).

CPU ratios vary with the machine and its load; the wire and memory tables
hardly do. Nothing here is asserted: correctness lives in tests/.

    python bench/lwm2m.py [--quick] [--resources R] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import aiocoap
from aiocoap import resource as coap_resource

from m2mclient.errors import FormatError, M2MError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.formats import FormatKind, Record
from m2mclient.lwm2m.model import DataType, ObjectDefinition, Operations, ResourceDefinition
from m2mclient.lwm2m.objects import ConnectivityMonitoring, LinkInfo, LocationInstance, ObjectInstance
from m2mclient.lwm2m.objects.temperature import TemperatureSensor
from m2mclient.lwm2m.registry import Registry, default_registry
from m2mclient.testing import SEND_FORMATS, LwM2MTestServer

HERE = os.path.abspath(__file__)
#: A private-range object holding the observed resources of table 1.
POINTS_ID = 32769
#: How many Observe requests the server has in flight at once while setting up.
OBSERVE_BATCH = 50
#: Generous bound on any single wait; the bench fails instead of hanging.
WAIT = 120.0

# CoAP option numbers (RFC 7252 §5.10, RFC 7641).
OBSERVE, URI_PATH, CONTENT_FORMAT, URI_QUERY = 6, 11, 12, 15
PAYLOAD_MARKER = 1


def points_definition(count: int) -> ObjectDefinition:
    resources = {rid: ResourceDefinition(rid, f"Point {rid}", DataType.INTEGER, Operations.R) for rid in range(count)}
    return ObjectDefinition(POINTS_ID, "Bench Points", resources, multiple=False)


def points_registry(count: int) -> Registry:
    registry = default_registry()
    registry.add(points_definition(count))
    return registry


def point_value(round_number: int, resource_id: int) -> int:
    """The value of a resource in a round: the same in both rows of table 1, so payloads match."""
    return round_number * 10_000 + resource_id


# --- table 1: CPU per notification ---------------------------------------------------------------


class Observer:
    """The observing LwM2M server, running in a subprocess; talks in lines on stdin/stdout.

    ``async with Observer(...) as observer``: on exit its stdin is closed, which
    tells it to stop, and it is killed if it does not.
    """

    def __init__(self, endpoint: str, resources: int, rounds: int):
        self.arguments = ["--endpoint", endpoint, "--resources", str(resources), "--rounds", str(rounds)]
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Observer:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, HERE, "--role", "observer", *self.arguments,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        process = self.process
        assert process is not None and process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def expect(self, word: str) -> list[str]:
        """The next line the observer prints, which must start with ``word``; the words after it."""
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        fields = line.decode().split()
        if not fields or fields[0] != word:
            raise RuntimeError(f"the observer said {line!r}, expected {word!r}")
        return fields[1:]


async def run_observer(endpoint: str, resources: int, rounds: int) -> None:
    """``--role observer``: observe every point of ``endpoint``, report each completed round."""

    def say(*words: object) -> None:
        print(*words, flush=True)

    async with LwM2MTestServer(registry=points_registry(resources), request_timeout=WAIT) as server:
        say("uri", server.uri)
        registration = await server.wait_registration(endpoint, timeout=WAIT)
        observations = []
        for start in range(0, resources, OBSERVE_BATCH):
            batch = range(start, min(start + OBSERVE_BATCH, resources))
            observations += await asyncio.gather(
                *(server.observe(registration, f"/{POINTS_ID}/0/{rid}", accept=formats.TEXT) for rid in batch)
            )
        refused = [o for o in observations if not o.established]
        if refused:
            raise RuntimeError(f"{len(refused)} observations refused, e.g. {refused[0].response}")
        say("observing", len(observations))
        count = payload_bytes = 0
        for round_number in range(rounds):
            notes = await asyncio.gather(*(o.next(timeout=WAIT) for o in observations))
            for note in notes:
                if note.code != "2.05":
                    raise RuntimeError(f"notification {note.code} {note.text}")
            count += len(notes)
            payload_bytes += sum(len(note.payload) for note in notes)
            say("round", round_number, count, payload_bytes)
        # Stay up until the notifying side is done (its De-register needs an answer).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@dataclass
class CpuResult:
    name: str
    notifications: int
    payload_bytes: int
    cpu: float

    @property
    def per_notification(self) -> float:
        return self.cpu / self.notifications


async def drive_rounds(
    observer: Observer, change_all: Callable[[int], None], warmup: int, rounds: int
) -> tuple[float, int, int]:
    """Change every value once per round; CPU time of the measured rounds, notifications, payload bytes."""
    await observer.expect("observing")
    count = payload = 0
    baseline = (0, 0)
    start = time.process_time()
    for round_number in range(warmup + rounds):
        if round_number == warmup:
            baseline = (count, payload)
            start = time.process_time()
        change_all(round_number)
        _, count, payload = map(int, await observer.expect("round"))
    cpu = time.process_time() - start
    return cpu, count - baseline[0], payload - baseline[1]


async def cpu_ours(resources: int, warmup: int, rounds: int) -> CpuResult:
    endpoint = "bench-ours"
    points = ObjectInstance(points_definition(resources), 0, dict.fromkeys(range(resources), -1))

    def change_all(round_number: int) -> None:
        for rid in range(resources):
            points.set(rid, point_value(round_number, rid))

    async with Observer(endpoint, resources, warmup + rounds) as observer:
        (uri,) = await observer.expect("uri")
        client = LwM2MClient(endpoint, [points], server_uri=uri, registry=points_registry(resources))
        async with client:
            cpu, count, payload = await drive_rounds(observer, change_all, warmup, rounds)
    return CpuResult("m2mclient", count, payload, cpu)


class _Point(coap_resource.ObservableResource):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.payload = b"-1"

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=self.payload, content_format=formats.TEXT)

    def change(self, value: int) -> None:
        self.payload = str(value).encode()
        message = aiocoap.Message(code=aiocoap.CONTENT, payload=self.payload, content_format=formats.TEXT)
        message.transport_tuning = aiocoap.Reliable()  # CON, as the client's notifications
        self.updated_state(message)


async def cpu_bare(resources: int, warmup: int, rounds: int) -> CpuResult:
    endpoint = "bench-bare"
    site = coap_resource.Site()
    points = [_Point() for _ in range(resources)]
    for rid, point in enumerate(points):
        site.add_resource((str(POINTS_ID), "0", str(rid)), point)

    def change_all(round_number: int) -> None:
        for rid, point in enumerate(points):
            point.change(point_value(round_number, rid))

    async with Observer(endpoint, resources, warmup + rounds) as observer:
        (uri,) = await observer.expect("uri")
        context = await aiocoap.Context.create_server_context(site, bind=("::", 0), transports=["udp6"])
        try:
            # The least an LwM2M server accepts, so it observes us like the client.
            register = aiocoap.Message(
                code=aiocoap.POST, uri=f"{uri}/rd", payload=f"</{POINTS_ID}/0>".encode(), content_format=40
            )
            register.opt.uri_query = (f"ep={endpoint}", "lt=300", "lwm2m=1.2")
            response = await asyncio.wait_for(context.request(register).response, WAIT)
            if response.code != aiocoap.CREATED:
                raise RuntimeError(f"the bare Register got {response.code}: {response.payload!r}")
            cpu, count, payload = await drive_rounds(observer, change_all, warmup, rounds)
        finally:
            await context.shutdown()
    return CpuResult("bare aiocoap", count, payload, cpu)


def print_cpu(resources: int, rounds: int, results: Sequence[CpuResult]) -> None:
    floor = next(r for r in results if r.name == "bare aiocoap")
    print(f"\n1. CPU per notification: {resources} observed resources x {rounds} changes each (CON, text/plain)")
    print("   the observing server runs in a subprocess: CPU is the notifying process's alone")
    print(f"{'notifier':<14} {'notifs':>7} {'B/notif':>8} {'CPU':>8} {'CPU/notif':>10} {'ours / bare aiocoap':>20}")
    for r in results:
        print(
            f"{r.name:<14} {r.notifications:>7} {r.payload_bytes / r.notifications:>8.2f} {r.cpu:>7.2f}s"
            f" {r.per_notification * 1e6:>8.1f}us {r.per_notification / floor.per_notification:>20.2f}"
        )


# --- table 2: resident memory --------------------------------------------------------------------

_RSS = """
def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
"""

RSS_PYTHON = _RSS + "print(rss_mb())\n"

RSS_AIOCOAP = (
    _RSS
    + """
import asyncio
import aiocoap
from aiocoap import resource

async def main():
    context = await aiocoap.Context.create_server_context(resource.Site(), bind=("::", 0), transports=["udp6"])
    print(rss_mb(), flush=True)
    await context.shutdown()

asyncio.run(main())
"""
)

RSS_CLIENT = (
    _RSS
    + """
import asyncio, sys
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.objects import ConnectivityMonitoring, DeviceObject, LocationInstance

async def main():
    location = LocationInstance()
    location.update(52.52, 13.405)
    objects = [DeviceObject(), ConnectivityMonitoring(), location]
    async with LwM2MClient("bench-rss", objects, server_uri=sys.argv[1]) as client:
        await client.wait_registered(timeout=30)
        print(rss_mb(), flush=True)

asyncio.run(main())
"""
)


async def rss_of(code: str, *args: str) -> float:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), WAIT)
    if process.returncode != 0:
        raise RuntimeError(f"the RSS probe exited with {process.returncode}")
    return float(out.decode().split()[0])


async def measure_rss() -> list[tuple[str, float]]:
    async with LwM2MTestServer() as server:
        return [
            ("python", await rss_of(RSS_PYTHON)),
            ("bare aiocoap", await rss_of(RSS_AIOCOAP)),
            ("m2mclient", await rss_of(RSS_CLIENT, server.uri)),
        ]


def print_rss(rows: list[tuple[str, float]]) -> None:
    sizes = dict(rows)
    print(
        "\n2. Resident memory (VmRSS) of a fresh process after startup"
        " (client: Device, Connectivity, Location; registered)"
    )
    print(f"{'process':<14} {'MB':>7} {'x bare aiocoap':>15} {'MB above python':>16}")
    for name, mb in rows:
        print(f"{name:<14} {mb:>7.1f} {mb / sizes['bare aiocoap']:>15.2f} {mb - sizes['python']:>16.1f}")


# --- table 3: bytes on the wire --------------------------------------------------------------------


class _Side(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, Any], None]):
        self.received = received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received(data, addr)


class Relay:
    """A UDP relay for one client: records every datagram, both ways, unchanged.

    The server sees the relay's upstream socket as the client and sends its own
    requests (Observe, Create) there; they go on to the client's socket, so role
    reversal works as without the relay.
    """

    def __init__(self) -> None:
        self.from_client: list[bytes] = []
        self._client_addr: Any = None
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None

    async def start(self, upstream: tuple[str, int]) -> str:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._client_sent), local_addr=("127.0.0.1", 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(lambda: _Side(self._server_sent), remote_addr=upstream)
        host, port = self._front.get_extra_info("sockname")[:2]
        return f"coap://{host}:{port}"

    def _client_sent(self, data: bytes, addr: Any) -> None:
        self._client_addr = addr
        self.from_client.append(data)
        assert self._back is not None
        self._back.sendto(data)

    def _server_sent(self, data: bytes, _addr: Any) -> None:
        if self._front is not None and self._client_addr is not None:
            self._front.sendto(data, self._client_addr)

    def close(self) -> None:
        for transport in (self._front, self._back):
            if transport is not None:
                transport.close()

    def mark(self) -> int:
        return len(self.from_client)

    def first_since(self, mark: int, match: Callable[[aiocoap.Message], bool]) -> tuple[int, aiocoap.Message]:
        """The size and content of the first datagram from the client after ``mark`` that ``match`` es."""
        for data in self.from_client[mark:]:
            message = aiocoap.Message.decode(data)
            if match(message):
                return len(data), message
        raise RuntimeError("the expected datagram did not pass the relay")


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _extended(number: int) -> int:
    return 0 if number < 13 else 1 if number < 269 else 2


def minimum_message(token_length: int, options: Sequence[tuple[int, bytes]], payload_length: int) -> int:
    """Bytes of a CoAP-over-UDP message: header, token, delta-encoded options, marker and payload."""
    size, previous = 4 + token_length, 0
    for number, value in sorted(options, key=lambda option: option[0]):  # stable: repeated options keep order
        size += 1 + _extended(number - previous) + _extended(len(value)) + len(value)
        previous = number
    return size + (PAYLOAD_MARKER + payload_length if payload_length else 0)


def minimal_links(objects: dict[int, tuple[str, list[int]]]) -> bytes:
    """The object list without the optional root link (what build_register_links writes after it)."""
    links = []
    for object_id in sorted(objects):
        if object_id in (0, 21):  # Security and OSCORE are never registered
            continue
        version, instances = objects[object_id]
        if version != "1.0":
            links.append(f"</{object_id}>;ver={version}")
        elif not instances:
            links.append(f"</{object_id}>")
        links.extend(f"</{object_id}/{instance}>" for instance in sorted(instances))
    return ",".join(links).encode()


_VALUE_FORMATS = [f for f in formats.supported_formats() if f.kind is FormatKind.VALUES]


def smallest_payload(records: list[Record], path: str, allowed: Collection[int] | None = None) -> tuple[int, int, str]:
    """(Content-Format option value bytes + payload bytes, payload bytes, format) of the most compact format."""
    timed = any(record.time is not None for record in records)
    best: tuple[int, int, str] | None = None
    for fmt in _VALUE_FORMATS:
        if allowed is not None and fmt.id not in allowed:
            continue
        if (fmt.single_value and len(records) != 1) or (timed and not fmt.timestamps):
            continue  # it would have to drop values or their times
        try:
            payload = formats.encode(fmt.id, records, path=path)
        except (FormatError, M2MError, ValueError):
            continue  # this format cannot carry these values (text for an instance, TLV timestamps...)
        candidate = (len(_uint(fmt.id)) + len(payload), len(payload), fmt.name)
        if best is None or candidate < best:
            best = candidate
    assert best is not None, "no format carries these records"
    return best


def _query(name: str, value: object) -> tuple[int, bytes]:
    return URI_QUERY, f"{name}={value}".encode()


def minimum_request(path: Sequence[str], query: Sequence[tuple[int, bytes]], payload: bytes, cf: int | None) -> int:
    options = [(URI_PATH, segment.encode()) for segment in path] + list(query)
    if cf is not None:
        options.append((CONTENT_FORMAT, _uint(cf)))
    return minimum_message(0, options, len(payload))


def minimum_values(token: bytes, records: list[Record], path: str, allowed: Collection[int] | None = None,
                   *, observe: bool = False, request_path: Sequence[str] = ()) -> tuple[int, str]:  # fmt: skip
    _, payload_length, name = smallest_payload(records, path, allowed)
    fmt = formats.lookup(name)
    options = [(URI_PATH, segment.encode()) for segment in request_path]
    options.append((CONTENT_FORMAT, _uint(fmt.id)))
    if observe:
        options.append((OBSERVE, b"\x01"))
    return minimum_message(len(token), options, payload_length), name


@dataclass
class WireRow:
    what: str
    ours: int
    ours_format: str
    minimum: int
    minimum_format: str


def _is_request(message: aiocoap.Message, *path: str) -> bool:
    return message.code.is_request() and tuple(message.opt.uri_path) == path


def _check(condition: object, what: str) -> None:
    if not condition:
        raise RuntimeError(what)


@dataclass
class WireRig:
    """A registered client, the test server, and the relay between them; rows collect as it goes."""

    endpoint: str
    server: LwM2MTestServer
    client: LwM2MClient
    relay: Relay
    rows: list[WireRow]

    def add(self, what: str, datagram: tuple[int, aiocoap.Message], minimum: int, minimum_format: str) -> None:
        size, message = datagram
        cf = message.opt.content_format
        ours_format = formats.lookup(int(cf)).name if cf is not None else "-"
        self.rows.append(WireRow(what, size, ours_format, minimum, minimum_format))


async def wire_registration(rig: WireRig, mark: int) -> None:
    """Register (the first request after ``mark``), Update, and Update with the object list."""
    registration = await rig.server.wait_registration(rig.endpoint, timeout=WAIT)
    await rig.client.wait_registered(timeout=WAIT)
    register = rig.relay.first_since(mark, lambda m: _is_request(m, "rd"))
    # ep and lwm2m are mandatory; lt differs from the default 86400; b=U is the default.
    query = [_query("ep", rig.endpoint), _query("lwm2m", "1.2"), _query("lt", registration.lifetime)]
    links = minimal_links(rig.client.object_versions())
    rig.add("Register", register, minimum_request(("rd",), query, links, formats.LINK_FORMAT), "link")

    location = tuple(registration.location.strip("/").split("/"))
    mark = rig.relay.mark()
    rig.client.trigger_update()
    update = await rig.server.wait_update(rig.endpoint, timeout=WAIT)
    _check(update.links is None, "an Update without changes carried the object list")
    message = rig.relay.first_since(mark, lambda m: _is_request(m, *location))
    rig.add("Update", message, minimum_request(location, (), b"", None), "-")

    mark = rig.relay.mark()
    created = await rig.server.create(rig.endpoint, "/3303", {5700: 20.0, 5701: "Cel"}, formats.TLV)
    _check(created.code == "2.01", f"Create of a Temperature instance answered {created.code}")
    update = await rig.server.wait_update(rig.endpoint, timeout=WAIT)
    _check(update.links is not None, "the Update after a Create did not carry the object list")
    message = rig.relay.first_since(mark, lambda m: _is_request(m, *location))
    links = minimal_links(rig.client.object_versions())
    rig.add("Update+objects", message, minimum_request(location, (), links, formats.LINK_FORMAT), "link")


async def wire_notifications(rig: WireRig, change: Callable[[], None]) -> None:
    """One change of /3303/0/5700, seen by observations of the resource and of its instance."""
    observed = [
        ("Notify resource", "/3303/0/5700", formats.TEXT),
        ("Notify instance", "/3303/0", formats.SENML_CBOR),
        ("Notify resource", "/3303/0/5700", None),
        ("Notify instance", "/3303/0", None),
    ]
    observations = [await rig.server.observe(rig.endpoint, path, accept) for _, path, accept in observed]
    mark = rig.relay.mark()
    change()
    for (what, path, accept), observation in zip(observed, observations, strict=True):
        note = await observation.next(timeout=WAIT)
        _check(note.records is not None, f"notification of {path} did not decode: {note.decode_error}")
        assert note.records is not None
        token = observation.token
        message = rig.relay.first_since(
            mark, lambda m, t=token: m.token == t and m.opt.observe is not None and not m.code.is_request()
        )
        label = f"{what} ({'no Accept' if accept is None else 'Accept ' + formats.lookup(accept).name})"
        minimum, name = minimum_values(token, note.records, path, observe=True)
        rig.add(label, message, minimum, name)


async def wire_sends(rig: WireRig) -> None:
    for what, paths in (
        ("Send 1 value", ["/3303/0/5700"]),
        ("Send 10 values", [f"/3303/{i}/5700" for i in range(10)]),
    ):
        mark = rig.relay.mark()
        await rig.client.send(paths)
        report = await rig.server.wait_send(rig.endpoint, timeout=WAIT)
        message = rig.relay.first_since(mark, lambda m: _is_request(m, "dp"))
        minimum, name = minimum_values(b"", report.records, "/", SEND_FORMATS, request_path=("dp",))
        rig.add(what, message, minimum, name)


async def measure_wire() -> list[WireRow]:
    readings = [21.5 + i / 4 for i in range(10)]
    sensors = [TemperatureSensor(i, read_celsius=lambda i=i: readings[i]) for i in range(10)]
    location = LocationInstance(clock=lambda: 1_700_000_000.0)
    location.update(52.52, 13.405)
    objects = [ConnectivityMonitoring(LinkInfo()), location, *sensors]

    def change() -> None:
        readings[0] = 22.75
        sensors[0].sample()

    async with LwM2MTestServer() as server:
        relay = Relay()
        uri = await relay.start((server.host, server.port))
        try:
            endpoint = "bench-wire"
            client = LwM2MClient(endpoint, objects, server_uri=uri, lifetime=300)
            rig = WireRig(endpoint, server, client, relay, [])
            mark = relay.mark()
            async with client:
                await wire_registration(rig, mark)
                await wire_notifications(rig, change)
                await wire_sends(rig)
        finally:
            relay.close()
    return rig.rows


def print_wire(rows: list[WireRow]) -> None:
    print("\n3. Bytes on the wire: our CoAP datagram vs the smallest message carrying the same information")
    print(f"{'message':<36} {'ours':>5} {'format':<11} {'minimum':>7} {'format':<11} {'ours / minimum':>14}")
    for row in rows:
        print(
            f"{row.what:<36} {row.ours:>5} {row.ours_format:<11} {row.minimum:>7} {row.minimum_format:<11}"
            f" {row.ours / row.minimum:>14.2f}"
        )


# --- main ------------------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace) -> None:
    results = [
        await cpu_bare(args.resources, 1, args.rounds),
        await cpu_ours(args.resources, 1, args.rounds),
    ]
    print_cpu(args.resources, args.rounds, results)
    print_rss(await measure_rss())
    print_wire(await measure_wire())


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 40: about 10 s instead of 60 s")
    parser.add_argument("--resources", type=positive, default=1000, help="observed resources in table 1 (1000)")
    parser.add_argument("--rounds", type=positive, help="measured changes of every value in table 1 (40; 5 quick)")
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "observer":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_observer(args.endpoint, args.resources, args.rounds))
        return
    if args.rounds is None:
        args.rounds = 5 if args.quick else 40
    asyncio.run(run_all(args))


if __name__ == "__main__":
    main()
