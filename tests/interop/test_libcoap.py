"""Interop: libcoap 4.3.1's ``coap-client`` (Debian ``libcoap3-bin``) talking to our registered client.

Our client registers with the loopback test server; libcoap then sends plain CoAP
requests to the client's own UDP port (the address the server saw the Register
come from), as an LwM2M server would. libcoap runs with ``-v 6``, which prints
every message it sends and receives::

    v:1 t:ACK c:2.05 i:ae19 {01} [ Content-Format:11542 ] :: binary data length 13

so each step asserts the exact response code, type and options libcoap saw, the
payload it received (``-o FILE`` keeps the raw bytes, decoded here with cbor2,
json and a small TLV reader of our own, not with the client's codecs), and the
effect on our side (object values, hooks, attributes, observe events). libcoap
prints an error response's code and diagnostic on stderr (``4.06 ...``) and
exits 0 all the same, so the output is checked, never the exit status.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import cbor2
import pytest

from m2mclient.lwm2m.client import LwM2MClient, ObserveCancelled, ObserveStarted, ServerOperation
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.objects.device import DeviceObject
from m2mclient.lwm2m.registry import default_registry
from m2mclient.testing.server import LwM2MTestServer

COAP_CLIENT = "coap-client-notls"
INSTALL = "apt-get update && apt-get install -y --no-install-recommends libcoap3-bin"
ENDPOINT = "m2m-libcoap-interop"
MANUFACTURER = "m2mclient interop"

_DUMP = re.compile(
    r"^v:1 t:(?P<type>CON|NON|ACK|RST) c:(?P<code>\S+) i:(?P<mid>[0-9a-f]+) \{(?P<token>[0-9a-f]*)\}"
    r" \[ ?(?P<options>.*?) ?\](?: :: (?P<payload>.*))?$"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_coap_client() -> str:
    """The libcoap client binary; skips (locally) or fails (in CI) loudly when it is not installed."""
    binary = shutil.which(COAP_CLIENT)
    if binary is not None:
        return binary
    message = f"libcoap interop peer unavailable (no `{COAP_CLIENT}` on PATH); install it with: {INSTALL}"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


# --- what libcoap printed ---------------------------------------------------------------


@dataclass(frozen=True)
class Dump:
    """One CoAP message as libcoap's ``-v 6`` shows it."""

    type: str
    code: str
    options: tuple[tuple[str, str], ...]
    payload: str | None

    @classmethod
    def parse(cls, line: str) -> Dump | None:
        match = _DUMP.match(line)
        if match is None:
            return None
        options = tuple(
            (name, value) for name, _, value in (item.partition(":") for item in match["options"].split(", ") if item)
        )
        return cls(match["type"], match["code"], options, match["payload"])

    @property
    def is_response(self) -> bool:
        return re.fullmatch(r"[245]\.\d\d", self.code) is not None

    def option(self, name: str) -> str | None:
        return next((value for key, value in self.options if key == name), None)


@dataclass
class Exchange:
    """What one ``coap-client`` run printed and received."""

    stdout: str
    stderr: str
    payload: bytes

    @property
    def dumps(self) -> list[Dump]:
        return [d for d in map(Dump.parse, self.stdout.splitlines()) if d is not None]

    @property
    def response(self) -> Dump:
        responses = [d for d in self.dumps if d.is_response]
        assert responses, f"libcoap saw no response:\n{self.stdout}\n{self.stderr}"
        return responses[-1]

    @property
    def error(self) -> str:
        """The error line libcoap printed on stderr (``"4.06 diagnostic"``)."""
        return self.stderr.strip()


# --- independent decoders ------------------------------------------------------------------


def read_tlv(data: bytes) -> dict[int, Any]:
    """OMA TLV (Core §7.4.3) to ``{id: bytes}``, nested for instances and multiple resources."""
    result: dict[int, Any] = {}
    offset = 0
    while offset < len(data):
        kind = data[offset]
        offset += 1
        id_size = 2 if kind & 0x20 else 1
        identifier = int.from_bytes(data[offset : offset + id_size], "big")
        offset += id_size
        length_size = (kind >> 3) & 0x03
        if length_size:
            length = int.from_bytes(data[offset : offset + length_size], "big")
            offset += length_size
        else:
            length = kind & 0x07
        value = data[offset : offset + length]
        assert len(value) == length, f"TLV truncated at id {identifier}"
        offset += length
        result[identifier] = read_tlv(value) if kind >> 6 in (0b00, 0b10) else value
    return result


def tlv_resource(identifier: int, value: bytes) -> bytes:
    """One resource TLV (type 0b11, one-byte id, value length < 256)."""
    assert identifier < 256 and len(value) < 256
    if len(value) < 8:
        return bytes([0xC0 | len(value), identifier]) + value
    return bytes([0xC8, identifier, len(value)]) + value


def tlv_float(value: bytes) -> float:
    return float(struct.unpack(">f" if len(value) == 4 else ">d", value)[0])


def senml_values(records: list[dict[Any, Any]], name: Any, base_name: Any, value_keys: dict[Any, str]) -> dict:
    """Resolved SenML records (RFC 8428 §4.5: a base name holds until the next one) as ``{name: value}``."""
    values: dict[str, Any] = {}
    base = ""
    for record in records:
        base = record.get(base_name, base)
        value = next(record[key] for key in value_keys if key in record)
        values[base + record.get(name, "")] = value
    return values


def lwm2m_cbor_values(tree: dict[Any, Any], prefix: tuple[int, ...] = ()) -> dict[str, Any]:
    """LwM2M CBOR (Core 1.2 §7.4.6: nested maps keyed by path ids or id arrays) as ``{path: value}``."""
    values: dict[str, Any] = {}
    for key, value in tree.items():
        path = prefix + (tuple(key) if isinstance(key, (list, tuple)) else (key,))
        if isinstance(value, dict):
            values.update(lwm2m_cbor_values(value, path))
        else:
            values["/" + "/".join(map(str, path))] = value
    return values


def link_targets(payload: str) -> dict[str, str]:
    """CoRE link format to ``{target: ";params"}``."""
    links = {}
    for link in payload.split(","):
        target, _, params = link.partition(">")
        links[target.lstrip("<")] = params
    return links


# --- our side ------------------------------------------------------------------------------


@dataclass
class Session:
    """Our client registered with the test server, and a libcoap client pointed at it."""

    binary: str
    tmp: FilePath
    server: LwM2MTestServer
    client: LwM2MClient
    device: DeviceObject
    temperature: ObjectInstance
    base: str
    executed: list[str | None] = field(default_factory=list)
    events: list[object] = field(default_factory=list)
    runs: int = 0

    async def coap(self, path: str, *args: str, timeout: float = 10.0) -> Exchange:
        """Run ``coap-client -v 6 ARGS coap://client/PATH`` and collect what it printed and received."""
        self.runs += 1
        output = self.tmp / f"payload-{self.runs}.bin"
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "-v",
            "6",
            "-B",
            "5",
            "-o",
            str(output),
            *args,
            self.base + path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        payload = output.read_bytes() if output.exists() else b""
        return Exchange(stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), payload)

    async def expect_error(self, code: str, path: str, *args: str) -> Exchange:
        exchange = await self.coap(path, *args)
        assert (exchange.response.type, exchange.response.code) == ("ACK", code), exchange.stdout
        assert exchange.error.startswith(f"{code} "), exchange.stderr
        answered = [e for e in self.events if isinstance(e, ServerOperation)][-1]
        assert answered.response.code == code, answered
        return exchange

    def file(self, name: str, content: bytes) -> str:
        path = self.tmp / name
        path.write_bytes(content)
        return str(path)


def run(tmp_path: FilePath, scenario: Callable[[Session], Awaitable[None]], timeout: float = 20.0) -> None:
    binary = require_coap_client()

    async def main() -> None:
        async with LwM2MTestServer() as server:
            device = DeviceObject(
                manufacturer=MANUFACTURER, serial_number="LIBCOAP-1", utc_offset="+00:00", probe=False
            )
            temperature = ObjectInstance(default_registry().get(3303), 0, {5700: 21.5, 5701: "Cel"})
            client = LwM2MClient(ENDPOINT, [device, temperature], server_uri=server.uri)
            async with client:
                await client.wait_registered(10)
                registration = await server.wait_registration(ENDPOINT)
                host, _, port = registration.remote_address.rpartition(":")
                assert host == "127.0.0.1"
                session = Session(binary, tmp_path, server, client, device, temperature, f"coap://{host}:{port}")
                device.on_execute(4, session.executed.append)
                client.on(None, session.events.append)
                await scenario(session)
                # libcoap's requests came from other ports: the registration is untouched.
                assert server.get_registration(ENDPOINT) is registration and registration.active
            await server.wait_deregistration(ENDPOINT)

    asyncio.run(asyncio.wait_for(main(), timeout))


# --- the tests ----------------------------------------------------------------------------


def test_libcoap_reads_and_writes_plain_text(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        read = await s.coap("/3/0/0")
        assert (read.response.type, read.response.code) == ("ACK", "2.05")
        assert read.response.option("Content-Format") == "text/plain"
        assert read.payload == MANUFACTURER.encode()

        temperature = await s.coap("/3303/0/5700", "-A", "0")
        assert temperature.response.option("Content-Format") == "text/plain"
        assert float(temperature.payload) == 21.5

        now = await s.coap("/3/0/13")
        assert abs(int(now.payload) - time.time()) < 300  # Current Time, Unix seconds

        write = await s.coap("/3/0/14", "-m", "put", "-t", "0", "-e", "+03:00")
        assert (write.response.type, write.response.code) == ("ACK", "2.04")
        assert s.device.get(14) == "+03:00"
        assert (await s.coap("/3/0/14")).payload == b"+03:00"

        # A new lifetime goes to the LwM2M server in an Update.
        write = await s.coap("/1/0/1", "-m", "put", "-t", "0", "-e", "120")
        assert write.response.code == "2.04"
        update = await s.server.wait_update(ENDPOINT)
        assert update.lifetime == 120
        assert s.client.instance("/1/0").get(1) == 120

    run(tmp_path, scenario)


def test_libcoap_reads_and_writes_tlv(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        read = await s.coap("/3/0", "-A", "11542")
        assert (read.response.code, read.response.option("Content-Format")) == ("2.05", "11542")
        resources = read_tlv(read.payload)
        assert set(resources) == set(s.device.resource_ids())
        assert resources[0] == MANUFACTURER.encode()
        assert resources[2] == b"LIBCOAP-1"
        assert resources[11] == {0: b"\x00"}  # Error Code, one instance: no error
        assert resources[14] == b"+00:00"

        sensor = read_tlv((await s.coap("/3303/0", "-A", "11542")).payload)
        assert (tlv_float(sensor[5700]), sensor[5701]) == (21.5, b"Cel")

        # Resource-level Write (PUT) and instance-level Partial Update (POST), TLV built here.
        write = await s.coap("/3/0/14", "-m", "put", "-t", "11542", "-f", s.file("14.tlv", tlv_resource(14, b"+05:30")))
        assert write.response.code == "2.04"
        assert s.device.get(14) == "+05:30"
        update = tlv_resource(14, b"-04:00") + tlv_resource(15, b"America/Halifax")
        write = await s.coap("/3/0", "-m", "post", "-t", "11542", "-f", s.file("3-0.tlv", update))
        assert write.response.code == "2.04"
        assert (s.device.get(14), s.device.get(15)) == ("-04:00", "America/Halifax")
        assert s.device.get(0) == MANUFACTURER  # a partial update leaves the rest alone

    run(tmp_path, scenario)


def test_libcoap_reads_senml_and_lwm2m_cbor_and_writes_senml_cbor(tmp_path: FilePath) -> None:
    expected = {"/3303/0/5700": 21.5, "/3303/0/5701": "Cel"}

    async def scenario(s: Session) -> None:
        cbor_read = await s.coap("/3303/0", "-A", "112")
        assert cbor_read.response.option("Content-Format") == "application/senml+cbor"
        assert senml_values(cbor2.loads(cbor_read.payload), 0, -2, {2: "v", 3: "vs"}) == expected

        json_read = await s.coap("/3303/0", "-A", "110")
        assert json_read.response.option("Content-Format") == "application/senml+json"
        assert senml_values(json.loads(json_read.payload), "n", "bn", {"v": "v", "vs": "vs"}) == expected

        lwm2m_cbor = await s.coap("/3303/0", "-A", "11544")
        assert lwm2m_cbor.response.option("Content-Format") == "11544"
        assert lwm2m_cbor_values(cbor2.loads(lwm2m_cbor.payload)) == expected

        records = [{-2: "/3/0/", 0: "14", 3: "+09:00"}]
        write = await s.coap("/3/0/14", "-m", "put", "-t", "112", "-f", s.file("14.senml", cbor2.dumps(records)))
        assert write.response.code == "2.04"
        assert s.device.get(14) == "+09:00"

    run(tmp_path, scenario)


def test_libcoap_executes_with_an_argument(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        execute = await s.coap("/3/0/4", "-m", "post", "-t", "0", "-e", "0='now'")
        assert (execute.response.type, execute.response.code) == ("ACK", "2.04")
        assert s.executed == ["0='now'"]

        await s.expect_error("4.05", "/3/0/0", "-m", "post")  # Manufacturer is not executable
        assert s.executed == ["0='now'"]

    run(tmp_path, scenario)


def test_libcoap_discovers_and_writes_attributes(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        discover = await s.coap("/3/0", "-A", "40")
        assert (discover.response.code, discover.response.option("Content-Format")) == (
            "2.05",
            "application/link-format",
        )
        links = link_targets(discover.payload.decode())
        assert set(links) == {"/3/0"} | {f"/3/0/{rid}" for rid in s.device.resource_ids()}
        assert links["/3/0/11"] == ";dim=1"

        attributes = await s.coap("/3303/0/5700?pmin=1&pmax=30", "-m", "put")
        assert (attributes.response.code, attributes.response.payload) == ("2.04", None)
        attached = s.client.engine.attributes.attached(1, Path.parse("/3303/0/5700"))
        assert (attached.pmin, attached.pmax) == (1, 30)
        shown = await s.coap("/3303/0/5700", "-A", "40")
        assert link_targets(shown.payload.decode()) == {"/3303/0/5700": ";pmin=1;pmax=30"}

        await s.expect_error("4.00", "/3303/0/5700?pmin=soon", "-m", "put")
        assert s.client.engine.attributes.attached(1, Path.parse("/3303/0/5700")).pmin == 1

    run(tmp_path, scenario)


def test_libcoap_observes_value_changes(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        started = asyncio.Event()
        cancelled = asyncio.Event()
        s.client.on(ObserveStarted, lambda _event: started.set())
        s.client.on(ObserveCancelled, lambda _event: cancelled.set())
        process = await asyncio.create_subprocess_exec(
            # -w ends each printed payload with a newline, so the next dump starts a line. (-o would
            # keep payloads off stdout, but libcoap 4.3.1 then cancels right after the first response.)
            s.binary,
            "-v",
            "6",
            "-w",
            "-s",
            "2",
            s.base + "/3303/0/5700",
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        dumps: list[Dump] = []

        async def next_response() -> Dump:
            assert process.stdout is not None
            while line := await process.stdout.readline():
                dump = Dump.parse(line.decode().rstrip("\n"))
                if dump is not None and dump.is_response:
                    dumps.append(dump)
                    return dump
            raise AssertionError(f"coap-client ended after {dumps}")

        first = await asyncio.wait_for(next_response(), 5)
        assert (first.type, first.code, first.payload) == ("ACK", "2.05", "'21.5'")
        await asyncio.wait_for(started.wait(), 5)
        assert len(s.client.notifier) == 1
        for value in (22.5, 23.5):
            s.temperature.set(5700, value)
            notification = await asyncio.wait_for(next_response(), 5)
            assert (notification.code, notification.payload) == ("2.05", f"'{value}'")
            assert notification.type == "CON"  # the client's default: a lost NON would be a lost value
        await asyncio.wait_for(process.wait(), 5)

        numbers = [int(d.option("Observe") or -1) for d in dumps]
        assert numbers == sorted(set(numbers)) and numbers[0] >= 0, numbers
        assert len(dumps) - 1 >= 2  # notifications after the Observe response
        # At the end of -s libcoap cancels (GET with Observe 1): the client drops the relation.
        await asyncio.wait_for(cancelled.wait(), 5)
        assert len(s.client.notifier) == 0

    run(tmp_path, scenario)


def test_libcoap_gets_the_right_error_codes(tmp_path: FilePath) -> None:
    async def scenario(s: Session) -> None:
        bad_accept = await s.expect_error("4.06", "/3/0/0", "-A", "50")  # application/json
        assert bad_accept.payload == b""
        await s.expect_error("4.06", "/3303/0", "-A", "60")  # plain CBOR cannot carry an instance
        await s.expect_error("4.15", "/3/0/14", "-m", "put", "-t", "50", "-e", '{"v":"+01:00"}')
        await s.expect_error("4.00", "/1/0/1", "-m", "put", "-t", "0", "-e", "soon")
        await s.expect_error("4.05", "/3/0/0", "-m", "put", "-t", "0", "-e", "someone else")
        await s.expect_error("4.04", "/3/0/99")
        await s.expect_error("4.04", "/3303/1/5700")
        # None of it changed anything.
        assert (s.device.get(0), s.device.get(14)) == (MANUFACTURER, "+00:00")
        assert s.client.instance("/1/0").get(1) == 300
        assert s.client.registered

    run(tmp_path, scenario)
