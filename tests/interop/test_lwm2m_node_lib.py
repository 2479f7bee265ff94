"""Interop: our client managed by lwm2m-node-lib 1.4.0's example server (npm, LwM2M 1.0 over UDP).

The peer is the library's own CLI server (``bin/iotagent-lwm2m-server.js``) started
through ``node/lwm2m-server.js``, which binds it to 127.0.0.1 on a free port. The
test types its commands on stdin and reads what it prints, so every step checks
what an independent server saw as well as what our client did.

What this server does (lwm2m-node-lib 1.4.0), which shapes the test:

* It ignores ``lwm2m=`` at Register: our ``lwm2m=1.2`` registration is accepted
  as is, so no version fallback happens. It then speaks LwM2M 1.0: Read and
  Observe ask for text/plain (Accept 0), Discover for link-format (Accept 40).
* Its Location-Path is one option ``rd/1`` (a slash inside one segment); the
  client echoes it back verbatim and the server's router accepts that.
* Write and Execute carry Content-Format 1541, the pre-release number of LwM2M
  plain text, unless ``LWM2M_WRITE_FORMAT`` says otherwise. Our client answers a
  1541 Write with 4.15 (checked below); the main scenario runs the server with
  ``LWM2M_WRITE_FORMAT=text/plain`` (Content-Format 0), the library's own switch.
* It sends its requests through its own CoAP proxy, so it never acknowledges a
  confirmable notification (the ACK reaches the proxy, which drops it): the first
  CON notification gets through, later ones queue behind its retransmissions, and
  so do the client's Updates (NSTART 1). The scenario therefore has the client send
  NON notifications (``notifier.confirmable_default = False``); this server cannot
  write the ``con`` attribute that would ask for them.
* Its ``cancel`` only forgets the observation locally (no RST, no GET without
  Observe), so the client is never told and keeps the relation.
* The CLI prints "Observer stablished" for the first notification after the
  Observe response (not for the response itself) and "Got new value" after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any, TypeVar

import pytest

from m2mclient.lwm2m.client import LwM2MClient, ObserveCancelled, ObserveStarted, ServerOperation
from m2mclient.lwm2m.engine import Method
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.objects.device import DeviceObject
from m2mclient.lwm2m.registration import Deregistered, Registered, Updated, VersionFallback
from m2mclient.lwm2m.registry import default_registry

NODE_DIR = FilePath(__file__).parent / "node"
WRAPPER = NODE_DIR / "lwm2m-server.js"
LIBRARY = NODE_DIR / "node_modules" / "lwm2m-node-lib" / "package.json"
INSTALL = "npm ci --prefix tests/interop/node  (from the repository root; needs Node.js 20 and npm)"
PROMPT = "LWM2M-Server> "
ERROR = r"\nError:\n-+\nCode: (?P<error_code>[^\n]*)\nMessage: (?P<error_message>[^\n]*)"

E = TypeVar("E")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_peer() -> str:
    """The node binary; skips (locally) or fails (in CI) loudly when the peer is not installed."""
    node = shutil.which("node")
    if node is None:
        problem = "no `node` on PATH"
    elif not LIBRARY.is_file():
        problem = f"{LIBRARY.parent} is missing"
    else:
        version = json.loads(LIBRARY.read_text())["version"]
        if version == "1.4.0":
            return node
        problem = f"lwm2m-node-lib {version} is installed, the test pins 1.4.0"
    message = f"lwm2m-node-lib interop peer unavailable ({problem}); install it with: {INSTALL}"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


class NodeServer:
    """lwm2m-node-lib's CLI server in a subprocess: commands go in on stdin, answers are read off stdout."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.output = ""
        self.port = 0
        self._grown = asyncio.Event()
        self._eof = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, node: str, env: dict[str, str]) -> NodeServer:
        process = await asyncio.create_subprocess_exec(
            node,
            str(WRAPPER),
            "0",
            cwd=NODE_DIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,  # only Node's circular-dependency warnings
        )
        server = cls(process)
        since = await server.send("start")
        await server.expect(r"Success: Lightweight M2M Server started", since)
        server.port = int((await server.expect(r"m2m-interop: listening on 127\.0\.0\.1:(\d+)", since))[1])
        return server

    @property
    def uri(self) -> str:
        return f"coap://127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk.decode("utf-8", "replace")
            self._grown.set()
        self._eof = True
        self._grown.set()

    def mark(self) -> int:
        return len(self.output)

    async def send(self, line: str) -> int:
        """Type one command; returns where its answer starts in :attr:`output`."""
        assert self.process.stdin is not None
        since = self.mark()
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        return since

    async def expect(self, pattern: str, since: int, timeout: float = 10.0) -> re.Match[str]:
        """The first match of ``pattern`` printed after ``since``, waiting for it to appear."""
        regex = re.compile(pattern, re.DOTALL)

        async def search() -> re.Match[str]:
            while True:
                self._grown.clear()
                match = regex.search(self.output, since)
                if match is not None:
                    return match
                if self._eof:
                    raise AssertionError(f"lwm2m-node-lib exited before printing {pattern!r}:\n{self.output[since:]}")
                await self._grown.wait()

        try:
            return await asyncio.wait_for(search(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"lwm2m-node-lib printed no {pattern!r} within {timeout} s; it printed:\n{self.output[since:]}"
            ) from None

    async def command(self, line: str, answer: str) -> re.Match[str]:
        """Run a command and return its answer; an ``Error:`` answer fails the test with the server's words."""
        since = await self.send(line)
        match = await self.expect(f"(?:{answer})|(?:{ERROR})", since)
        if match.groupdict().get("error_code") is not None:
            raise AssertionError(f"`{line}` failed on lwm2m-node-lib: {match['error_code']}: {match['error_message']}")
        return match

    async def command_error(self, line: str) -> re.Match[str]:
        """Run a command that must fail; returns the ``Error:`` block."""
        return await self.expect(ERROR, await self.send(line))

    async def read(self, path: str) -> str:
        match = await self.command(f"read 1 {path}", rf"Resource read:\n-+\n\nId: {re.escape(path)}\nValue: ([^\n]*)\n")
        return match[1]

    async def devices(self) -> list[dict[str, Any]]:
        match = await self.command("list", rf"Device list:\n-+\n(.*?){re.escape(PROMPT)}")
        return [json.loads(block) for block in re.findall(r'-> Device Id "\d+"\s*(\{.*?\n\})', match[1], re.DOTALL)]

    async def stop(self) -> None:
        try:
            if self.process.returncode is None and not self._eof:
                with contextlib.suppress(AssertionError):  # a failed test's own error matters more
                    await self.command("stop", r"Success: COAP Server stopped\.")
                assert self.process.stdin is not None
                self.process.stdin.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 5)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class Events:
    """Everything the client emitted, awaitable by type."""

    def __init__(self, client: LwM2MClient):
        self.items: list[object] = []
        self._added = asyncio.Event()
        client.on(None, self._add)

    def _add(self, event: object) -> None:
        self.items.append(event)
        self._added.set()

    def mark(self) -> int:
        return len(self.items)

    def of(self, kind: type[E], since: int = 0) -> list[E]:
        return [e for e in self.items[since:] if isinstance(e, kind)]

    async def wait_for(
        self, kind: type[E], since: int = 0, match: Callable[[E], bool] = lambda _e: True, timeout: float = 10.0
    ) -> E:
        async def search() -> E:
            while True:
                self._added.clear()
                found = [e for e in self.of(kind, since) if match(e)]
                if found:
                    return found[0]
                await self._added.wait()

        try:
            return await asyncio.wait_for(search(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"the client emitted no {kind.__name__} within {timeout} s: {self.items}") from None

    def operation(self, method: Method, path: str, since: int = 0) -> ServerOperation:
        """The one server operation ``method path`` seen since ``since``."""
        found = [
            op
            for op in self.of(ServerOperation, since)
            if op.request.method is method and op.request.path == Path.parse(path)
        ]
        assert len(found) == 1, f"expected one {method.value} {path}, got {found}"
        return found[0]


def _node_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LWM2M_")}
    env["LWM2M_LOG_LEVEL"] = "FATAL"
    env.update(overrides)
    return env


def _device() -> DeviceObject:
    return DeviceObject(
        manufacturer="m2mclient interop",
        model_number="node-lib-peer",
        serial_number="NODE-0001",
        utc_offset="+00:00",
        probe=False,
    )


def _temperature() -> ObjectInstance:
    return ObjectInstance(default_registry().get(3303), 0, {5700: 21.5, 5701: "Cel"})


def test_lwm2m_node_lib_registers_reads_writes_executes_discovers_and_observes() -> None:
    node = require_peer()
    endpoint = "m2m-node-interop"

    async def scenario() -> None:
        server = await NodeServer.start(node, _node_env(LWM2M_WRITE_FORMAT="text/plain"))
        try:
            await run(server)
        finally:
            await server.stop()

    async def run(server: NodeServer) -> None:
        device = _device()
        executed: list[str | None] = []
        device.on_execute(4, executed.append)
        temperature = _temperature()
        client = LwM2MClient(endpoint, [device, temperature], server_uri=server.uri, lifetime=60)
        # This server never ACKs a CON notification (see the module docstring).
        client.notifier.confirmable_default = False
        events = Events(client)

        since = server.mark()
        async with client:
            # --- Register: an LwM2M 1.0 server that takes lwm2m=1.2 as it is
            await client.wait_registered(10)
            shown = await server.expect(
                r"Device registration:\n-+\n\nEndpoint name: (\S+)\nLifetime: (\d+)\nBinding: (\S+)\n", since
            )
            assert shown.groups() == (endpoint, "60", "U")
            assert [e.version for e in events.of(Registered)] == ["1.2"]
            assert events.of(VersionFallback) == []
            (listed,) = await server.devices()
            assert (listed["name"], listed["lifetime"], listed["address"]) == (endpoint, "60", "127.0.0.1")

            # --- Read, plain text (Accept 0) as LwM2M 1.0 servers ask
            mark = events.mark()
            assert await server.read("/3/0/0") == "m2mclient interop" == device.get(0)
            read = events.operation(Method.GET, "/3/0/0", mark)
            assert (read.request.accept, read.response.code, read.response.content_format) == (0, "2.05", 0)
            assert float(await server.read("/3303/0/5700")) == 21.5
            assert await server.read("/3303/0/5701") == "Cel"
            assert abs(int(await server.read("/3/0/13")) - time.time()) < 300  # Current Time, Unix seconds

            # --- Write (PUT, text/plain) a writable resource
            mark = events.mark()
            await server.command("write 1 /3/0/14 +02:00", r"Success: Value written successfully")
            write = events.operation(Method.PUT, "/3/0/14", mark)
            assert (write.request.content_format, write.request.payload, write.response.code) == (0, b"+02:00", "2.04")
            assert device.get(14) == "+02:00"
            assert await server.read("/3/0/14") == "+02:00"

            # --- Write the registration lifetime: the client tells the server with an Update
            mark = events.mark()
            await server.command("write 1 /1/0/1 120", r"Success: Value written successfully")
            assert client.instance("/1/0").get(1) == 120
            await events.wait_for(Updated, mark)
            (listed,) = await server.devices()
            assert listed["lifetime"] == "120"

            # --- Execute with an argument
            mark = events.mark()
            await server.command("execute 1 /3/0/4 0='now'", r"Success: Command executed successfully")
            assert events.operation(Method.POST, "/3/0/4", mark).response.code == "2.04"
            assert executed == ["0='now'"]

            # --- Discover an object instance (link format)
            mark = events.mark()
            found = await server.command("discoverObj 1 3 0", r"\* Resources:\n((?:\t- [^\n]*\n)+)\n")
            links = [line.strip()[2:] for line in found[1].splitlines()]
            assert {link.split(";")[0] for link in links} == {f"/3/0/{rid}" for rid in device.resource_ids()}
            assert "/3/0/11;dim=1" in links  # Error Code is multiple-instance
            discover = events.operation(Method.GET, "/3/0", mark)
            assert (discover.request.accept, discover.response.content_format) == (40, 40)

            # --- Observe, then Write-Attributes pmin/pmax
            mark = events.mark()
            since = await server.send("observe 1 3303 0 5700")
            started = await events.wait_for(ObserveStarted, mark)
            assert started.paths == (Path.parse("/3303/0/5700"),)
            assert len(client.notifier) == 1

            mark = events.mark()
            await server.command(
                "writeAttr 1 3303 0 5700 pmin=1,pmax=2", r"Attributes wrote to resource \[/3303/0/5700\]"
            )
            attributes = events.operation(Method.PUT, "/3303/0/5700", mark)
            assert (attributes.request.query, attributes.response.code) == (("pmin=1", "pmax=2"), "2.04")
            attached = client.engine.attributes.attached(1, Path.parse("/3303/0/5700"))
            assert (attached.pmin, attached.pmax) == (1, 2)
            shown = await server.command(
                "discover 1 3303 0 5700", rf"Resource attributes:\n-+\n\n(.*?){re.escape(PROMPT)}"
            )
            assert dict(re.findall(r"(\w+) ?= ?(\S+)", shown[1])) == {"pmin": "1", "pmax": "2"}

            # The first notification after the Observe response establishes the observation on
            # this server (pmax makes one come even without a change); later ones print their value.
            await server.expect(r"Observer stablished over resource \[/3303/0/5700\]", since)
            since = server.mark()
            temperature.set(5700, 23.5)
            changed = await server.expect(r"Got new value: 23\.5\n", since)
            # pmax=2: an unchanged value is notified again.
            await server.expect(r"Got new value: 23\.5\n", changed.end())

            # --- Cancel: the server forgets the observation and shows no value after that
            since = await server.send("cancel 1 3303 0 5700")
            await server.expect(r"Observation cancelled for resource \[/3303/0/5700\]", since)
            # This server cancels locally only (no RST, no GET without Observe): the client is not
            # told, keeps the relation, and so notifies at least once (pmax=2) in the next 2.5 s.
            temperature.set(5700, 30.5)
            with pytest.raises(AssertionError, match="printed no"):
                await server.expect(r"Got new value", since, timeout=2.5)
            assert len(client.notifier) == 1
            assert events.of(ObserveCancelled) == []
            assert float(await server.read("/3303/0/5700")) == 30.5

            since = server.mark()
        # --- De-register on leaving the context
        assert events.of(Deregistered)
        await server.expect(r"Device unregistration:", since)
        assert await server.devices() == []

    asyncio.run(asyncio.wait_for(scenario(), 25))


def test_lwm2m_node_lib_default_write_format_1541_is_refused_with_4_15() -> None:
    """Out of the box the library writes with Content-Format 1541 (pre-release LwM2M text): 4.15, nothing changed."""
    node = require_peer()

    async def scenario() -> None:
        server = await NodeServer.start(node, _node_env())
        try:
            device = _device()
            client = LwM2MClient("m2m-node-interop-1541", [device], server_uri=server.uri, lifetime=60)
            events = Events(client)
            async with client:
                await client.wait_registered(10)
                mark = events.mark()
                error = await server.command_error("write 1 /3/0/14 +02:00")
                assert error["error_message"] == "Error code recieved from the client: 4.15"  # sic
                write = events.operation(Method.PUT, "/3/0/14", mark)
                assert (write.request.content_format, write.response.code) == (1541, "4.15")
                assert device.get(14) == "+00:00"
                assert await server.read("/3/0/14") == "+00:00"
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 20))
