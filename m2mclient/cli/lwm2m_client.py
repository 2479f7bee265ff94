"""``m2mclient lwm2m run``, ``m2mclient lwm2m server`` and ``m2mclient demo``.

``run`` is a real device client with the standard objects; ``server`` is the
loopback test server driven by typed commands; ``demo`` puts both together on
loopback and narrates one full session, one line per step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from m2mclient.errors import M2MError, ValueValidationError
from m2mclient.lwm2m.client import LwM2MClient, ObserveCancelled, ObserveStarted, ServerOperation
from m2mclient.lwm2m.json_values import to_json
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.base import LwM2MObject
from m2mclient.lwm2m.registration import (
    BootstrapNeeded,
    Deregistered,
    Disabled,
    Registered,
    RegistrationFailed,
    Updated,
    VersionFallback,
)
from m2mclient.lwm2m.registry import Registry, default_registry

_RUN_EPILOG = """\
example:
  m2mclient lwm2m run --server coap://127.0.0.1:5683 --endpoint my-pi --lifetime 300
  m2mclient lwm2m run --config examples/client.toml

It registers with the Device (3), Connectivity Monitoring (4) and Location (6)
objects, plus IPSO Temperature (3303) when the board has a thermal zone, logs
every registration event and server operation on one line, and de-registers on
Ctrl-C or SIGTERM. The TOML file takes the same settings as the options
(server, endpoint, lifetime, binding, queue, object_files); options win.
"""

_SERVER_HELP = """\
commands (one per line):
  list                                   registered clients
  read EP PATH [FORMAT]                  e.g. read my-pi /3/0 senml-json
  write EP PATH JSON-VALUE [FORMAT]      e.g. write my-pi /3/0/14 '"+01:00"'
  exec EP PATH [ARGS]                    e.g. exec my-pi /3/0/4
  discover EP PATH                       e.g. discover my-pi /3
  attr EP PATH NAME=VALUE...             e.g. attr my-pi /3/0/9 pmin=5 pmax=60
  observe EP PATH                        notifications print as they arrive
  cancel EP PATH                         cancel that observation
  delete EP PATH                         delete an object instance
  help | quit
"""


def add_client_commands(commands: Any) -> None:
    """Add ``run`` and ``server`` to the ``lwm2m`` area."""
    run = commands.add_parser(
        "run",
        help="run an LwM2M client with the standard objects until interrupted",
        description="Register with an LwM2M server and serve it until Ctrl-C / SIGTERM, then de-register.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--server", help="server URI: coap://HOST:PORT or coap+tcp://HOST:PORT")
    run.add_argument("--endpoint", help="the endpoint client name to register as")
    run.add_argument("--lifetime", type=int, help="registration lifetime in seconds (default 300)")
    run.add_argument("--binding", choices=["U", "T"], help="U (UDP) or T (TCP); default from the URI")
    run.add_argument("--queue", action="store_true", default=None, help="register in queue mode")
    run.add_argument("--object-file", action="append", default=[], metavar="XML", help="add objects from a DDF file")
    run.add_argument("--config", metavar="TOML", help="read these settings from a TOML file")
    run.set_defaults(handler=_run_command)

    server = commands.add_parser(
        "server",
        help="run the loopback test server and drive it by typing commands",
        description="A strict LwM2M test server (the one the test suite uses); type 'help' for its commands.",
        epilog=_SERVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=5683, help="port to listen on (default 5683)")
    server.add_argument("--tcp", action="store_true", help="listen on CoAP over TCP instead of UDP")
    server.set_defaults(handler=_server_command)


def add_demo_command(areas: Any) -> None:
    demo = areas.add_parser(
        "demo",
        help="a client and a test server on loopback: one full LwM2M session, narrated",
        description="Start the test server on loopback, run a client against it and show each step.",
    )
    demo.set_defaults(handler=_demo_command)


# --- run -------------------------------------------------------------------------------


def _load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        with open(path, "rb") as handle:
            config: dict[str, Any] = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueValidationError(f"{path}: not valid TOML: {exc}") from None
    known = {"server", "endpoint", "lifetime", "binding", "queue", "object_files"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueValidationError(f"{path}: unknown settings {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return config


def standard_objects(registry: Registry, object_files: Sequence[str], binding: str) -> list[Any]:
    """Device, Connectivity Monitoring, Location, Temperature (when readable) and DDF objects."""
    from m2mclient.lwm2m.objects.connectivity import ConnectivityMonitoring
    from m2mclient.lwm2m.objects.device import DeviceObject
    from m2mclient.lwm2m.objects.location import LocationInstance
    from m2mclient.lwm2m.objects.temperature import TemperatureSensor

    objects: list[Any] = [DeviceObject(binding_modes=binding), ConnectivityMonitoring(), LocationInstance()]
    with contextlib.suppress(M2MError, OSError):  # no thermal zone: no temperature object
        sensor = TemperatureSensor()
        sensor.sample()
        objects.append(sensor)
    for name in object_files:
        for definition in registry.load_ddf(name):
            objects.append(LwM2MObject(definition))
    return objects


def describe(event: object) -> str:
    """One line for a client event."""
    if isinstance(event, Registered):
        return f"registered at /{'/'.join(event.location)} (LwM2M {event.version})"
    if isinstance(event, Updated):
        return "registration updated"
    if isinstance(event, Deregistered):
        return "de-registered"
    if isinstance(event, RegistrationFailed):
        retry = f", retrying in {event.retry_at:.0f} s (clock)" if event.retry_at is not None else ", giving up"
        return f"registration failed: {event.reason}{retry}"
    if isinstance(event, VersionFallback):
        return f"server refused LwM2M {event.from_version}; registering as {event.to_version}"
    if isinstance(event, BootstrapNeeded):
        return f"bootstrap needed: {event.reason}"
    if isinstance(event, Disabled):
        return "disabled by the server"
    if isinstance(event, ObserveStarted):
        return f"server {event.server_id} observes {', '.join(map(str, event.paths))}"
    if isinstance(event, ObserveCancelled):
        return f"observation of {', '.join(map(str, event.paths))} ended"
    return str(event)


def _run_command(args: argparse.Namespace) -> int:
    config = _load_config(args.config)
    server = args.server or config.get("server")
    endpoint = args.endpoint or config.get("endpoint")
    if not server or not endpoint:
        raise ValueValidationError("give --server and --endpoint (or a --config file that has them)")
    lifetime = args.lifetime or int(config.get("lifetime", 300))
    binding = args.binding or config.get("binding")
    queue = bool(args.queue if args.queue is not None else config.get("queue", False))
    object_files = list(config.get("object_files", [])) + list(args.object_file)
    registry = default_registry()
    objects = standard_objects(registry, object_files, binding or ("T" if "+tcp" in server else "U"))
    client = LwM2MClient(
        endpoint, objects, server_uri=server, lifetime=lifetime, binding=binding, queue_mode=queue, registry=registry
    )
    client.on(None, lambda event: print(describe(event), flush=True))
    asyncio.run(_run_until_signalled(client))
    return 0


async def _run_until_signalled(client: LwM2MClient) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with client:
        await stop.wait()


# --- server ----------------------------------------------------------------------------


def _server_command(args: argparse.Namespace) -> int:
    from m2mclient.testing.server import LwM2MTestServer

    async def serve() -> None:
        async with LwM2MTestServer(args.host, args.port, "tcp" if args.tcp else "udp") as server:
            print(f"LwM2M test server on {server.uri}; type 'help' for commands", flush=True)
            console = _ServerConsole(server, print)
            await console.run(_stdin_lines())

    asyncio.run(serve())
    return 0


async def _stdin_lines() -> Any:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


class _ServerConsole:
    """Turns typed lines into test-server operations and prints each answer as JSON."""

    def __init__(self, server: Any, output: Callable[[str], None]):
        self.server = server
        self.output = output
        self.observations: dict[tuple[str, str], Any] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, lines: Any) -> None:
        async for line in lines:
            words = shlex.split(line)
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                break
            try:
                await self.execute(words)
            except (M2MError, ValueError, KeyError, asyncio.TimeoutError) as exc:
                self.output(f"error: {exc}")
        for task in self.tasks:
            task.cancel()

    async def execute(self, words: list[str]) -> None:
        command, rest = words[0], words[1:]
        if command == "help":
            self.output(_SERVER_HELP)
        elif command == "list":
            for name, registration in self.server.registrations.items():
                self.output(
                    f"{name} {registration.remote_address} lwm2m={registration.version} lt={registration.lifetime}"
                )
        elif command == "read":
            self._show(await self.server.read(rest[0], rest[1], rest[2] if len(rest) > 2 else None))
        elif command == "write":
            path = Path.parse(rest[1])
            value = json.loads(rest[2])
            self._show(await self.server.write(rest[0], path, value, rest[3] if len(rest) > 3 else None))
        elif command == "exec":
            self._show(await self.server.execute(rest[0], rest[1], rest[2] if len(rest) > 2 else None))
        elif command == "discover":
            self._show(await self.server.discover(rest[0], rest[1]))
        elif command == "delete":
            self._show(await self.server.delete(rest[0], rest[1]))
        elif command == "attr":
            attributes = dict(item.partition("=")[::2] for item in rest[2:])
            self._show(await self.server.write_attributes(rest[0], rest[1], **attributes))
        elif command == "observe":
            observation = await self.server.observe(rest[0], rest[1])
            self.observations[(rest[0], rest[1])] = observation
            task = asyncio.create_task(self._follow(rest[1], observation))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif command == "cancel":
            await self.observations.pop((rest[0], rest[1])).cancel()
            self.output(f"cancelled {rest[1]}")
        else:
            self.output(f"unknown command {command!r}; type 'help'")

    async def _follow(self, path: str, observation: Any) -> None:
        with contextlib.suppress(M2MError):
            async for notification in observation:
                self._show(notification, prefix=f"notify {path} ")

    def _show(self, response: Any, prefix: str = "") -> None:
        document: dict[str, Any] = {"code": response.code}
        if getattr(response, "values", None):
            document["values"] = {str(p): to_json(v) for p, v in response.values.items()}
        if getattr(response, "links", None):
            document["links"] = [str(link) for link in response.links]
        if getattr(response, "location", None):
            document["location"] = response.location
        self.output(prefix + json.dumps(document))


# --- demo ------------------------------------------------------------------------------


def _demo_command(args: argparse.Namespace) -> int:
    asyncio.run(run_demo(lambda line: print(line, flush=True)))
    return 0


async def run_demo(say: Callable[[str], None]) -> None:
    """One full LwM2M session between our client and our test server, on loopback."""
    from m2mclient.lwm2m.objects.device import DeviceObject
    from m2mclient.lwm2m.objects.temperature import TemperatureSensor
    from m2mclient.testing.server import LwM2MTestServer

    readings = iter([21.5, 22.0, 22.75, 23.5])
    current = {"celsius": next(readings)}
    reboots: list[str | None] = []
    device = DeviceObject(
        manufacturer="m2mclient",
        model_number="demo",
        serial_number="0001",
        on_reboot=lambda: reboots.append("reboot"),
    )
    sensor = TemperatureSensor(read_celsius=lambda: current["celsius"])
    async with LwM2MTestServer() as server:
        say(f"server  listening on {server.uri}")
        client = LwM2MClient("demo-device", [device, sensor], server_uri=server.uri, lifetime=120)
        client.on(ServerOperation, lambda op: say(f"client  answered {op}"))
        async with client:
            registration = await server.wait_registration("demo-device")
            say(f"server  {registration.endpoint} registered: lwm2m={registration.version} objects "
                + " ".join(str(p) for p in registration.objects))
            response = await server.read("demo-device", "/3/0", "senml-cbor")
            say(f"server  read /3/0 -> {response.code} " + _values_text(response.values))
            response = await server.write("demo-device", "/3/0/14", "+01:00", "text")
            say(f"server  wrote /3/0/14 = +01:00 -> {response.code}")
            response = await server.execute("demo-device", "/3/0/4")
            say(f"server  executed reboot /3/0/4 -> {response.code}; device hook ran {len(reboots)} time(s)")
            observation = await server.observe("demo-device", "/3303/0/5700")
            first = observation.response
            assert first is not None
            say(f"server  observes /3303/0/5700 -> {first.code} " + _values_text(first.values))
            for celsius in readings:
                current["celsius"] = celsius
                sensor.sample()
                note = await observation.next(timeout=5)
                say(f"server  notification #{note.observe}: " + _values_text(note.values))
            await observation.cancel()
            await client.send(["/3303/0/5700", "/3/0/9"] if device.has_resource(9) else ["/3303/0/5700"])
            report = await server.wait_send("demo-device")
            say(f"server  received Send ({len(report.payload)} bytes SenML CBOR): " + _values_text(report.values))
        await server.wait_deregistration("demo-device")
        say("server  demo-device de-registered; demo complete")


def _values_text(values: Any) -> str:
    if not values:
        return "{}"
    return json.dumps({str(p): to_json(v) for p, v in values.items()})


__all__ = ["add_client_commands", "add_demo_command", "describe", "run_demo", "standard_objects"]
