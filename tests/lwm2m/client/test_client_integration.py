"""The LwM2M client end to end against the loopback LwM2MTestServer, over UDP and over TCP.

Every test runs one scenario in ``asyncio.run`` (no pytest-asyncio): it starts a
test server and a client registered to it (:func:`running`), drives server
operations through the server's API and checks what comes back on the wire and
what the application sees. Timing-dependent behaviour (lifetime Updates, the
disable timeout, pmin/pmax) runs on an injected :class:`FakeClock`: the test
moves it and calls ``client.poke()``; a notification that must *not* come is
checked with a short real timeout (:data:`QUIET`), never by sleeping for a period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, TypeVar

import aiocoap
import pytest

from m2mclient.lwm2m import formats
from m2mclient.lwm2m.client import LwM2MClient, ObserveCancelled, ObserveStarted, SendError, ServerOperation
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ObjLnk, Operations, Path, ResourceDefinition
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance
from m2mclient.lwm2m.registration import (
    Deregistered,
    Disabled,
    Registered,
    RegistrationFailed,
    Updated,
    VersionFallback,
    update_delay,
)
from m2mclient.lwm2m.registry import Registry, default_registry
from m2mclient.testing import LwM2MTestServer, Observation, ObservationEndedError, Registration

#: Most waits for something that must happen (generous: a loaded CI machine is slow, not broken).
WAIT = 5.0
#: How long to watch for something that must *not* happen (a notification, an Update).
QUIET = 0.25
#: The upper bound for one whole scenario, so a hang fails the test instead of stalling the run.
SCENARIO_TIMEOUT = 30.0

EP = "dev-1"
WALL_TIME = 1_700_000_000.0
DATA = FilePath(__file__).resolve().parent.parent / "data"

TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])

T = TypeVar("T")
E = TypeVar("E")


def P(text: str) -> Path:
    return Path.parse(text)


# --- a custom object, defined here, with every kind of resource the operations need ---------

GADGET_ID = 32770
NAME, LEVEL, TAGS, ENABLED, RUN, READING = 0, 1, 2, 3, 4, 5


def _resource(rid: int, name: str, kind: DataType, ops: Operations, **options: Any) -> ResourceDefinition:
    return ResourceDefinition(rid, name, kind, ops, **options)


GADGET = ObjectDefinition(
    id=GADGET_ID,
    name="Test Gadget",
    version="1.1",
    lwm2m_version="1.1",
    multiple=True,
    resources={
        r.id: r
        for r in (
            _resource(NAME, "Name", DataType.STRING, Operations.RW, mandatory=True),
            _resource(LEVEL, "Level", DataType.INTEGER, Operations.RW),
            _resource(TAGS, "Tags", DataType.STRING, Operations.RW, multiple=True),
            _resource(ENABLED, "Enabled", DataType.BOOLEAN, Operations.RW),
            _resource(RUN, "Run", DataType.NONE, Operations.E),
            _resource(READING, "Reading", DataType.FLOAT, Operations.R),
        )
    },
)


def make_registry() -> Registry:
    """Core objects, the Test Gadget, and object 9100 from the DDF file in tests/lwm2m/data."""
    registry = default_registry()
    registry.add(GADGET)
    registry.load_ddf(DATA / "objlnk-9100.xml")
    return registry


# --- harness ------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves by hand (then calls ``client.poke()``)."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class EventLog:
    """Every event the client emitted, in order; :meth:`next` waits for the next one of a kind."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()

    def __call__(self, event: object) -> None:
        self.items.append(event)
        self._arrived.set()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.items if isinstance(event, kind)]

    async def next(self, kind: type[E], timeout: float = WAIT, where: Callable[[E], bool] = lambda _e: True) -> E:
        """The first event of ``kind`` (matching ``where``) not returned before; waits for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, event in enumerate(self.items):
                if index not in self._taken and isinstance(event, kind) and where(event):
                    self._taken.add(index)
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind.__name__} event within {timeout:g} s; events: {self.items}")
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


@dataclass
class Rig:
    """A running server with one client registered to it, and the client's objects."""

    transport: str
    server: LwM2MTestServer
    client: LwM2MClient
    events: EventLog
    registration: Registration
    temperature: ObjectInstance
    gadget: ObjectInstance
    clock: FakeClock | None

    @property
    def binding(self) -> str:
        return {"udp": "U", "tcp": "T"}[self.transport]


@contextlib.asynccontextmanager
async def running(
    transport: str,
    *,
    lifetime: int = 60,
    clock: FakeClock | None = None,
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    registered: bool = True,
    before_client: Callable[[LwM2MTestServer], None] | None = None,
) -> AsyncIterator[Rig]:
    """Start a test server and a client; yield once the client is registered (unless ``registered=False``).

    The client exposes Temperature /3303/0, Test Gadget /32770/0, Test Links /9100/0
    and the Device it adds itself. The Server URI gives the binding (coap:// or coap+tcp://).
    """
    client_registry = make_registry()
    temperature = ObjectInstance(client_registry.get(3303), 0, {5700: 21.5, 5701: "Cel"})  # type: ignore[arg-type]
    gadget = ObjectInstance(
        GADGET, 0, {NAME: "alpha", LEVEL: 10, TAGS: {0: "red", 1: "green"}, ENABLED: True, READING: 1.5}
    )
    links = ObjectInstance(client_registry.get(9100), 0, {0: ObjLnk(3303, 0)})  # type: ignore[arg-type]
    objects: list[ObjectInstance | LwM2MObject] = [temperature, LwM2MObject(GADGET, [gadget]), links]
    async with LwM2MTestServer(transport=transport, registry=make_registry(), **(server_options or {})) as server:  # type: ignore[arg-type]
        if before_client is not None:
            before_client(server)
        client = LwM2MClient(
            EP,
            objects,
            server_uri=server.uri,
            lifetime=lifetime,
            registry=client_registry,
            clock=clock or time.monotonic,
            **(client_options or {}),
        )
        events = EventLog()
        client.on(None, events)
        async with client:
            registration: Any = None
            if registered:
                registration = await server.wait_registration(EP, timeout=WAIT)
                await client.wait_registered(timeout=WAIT)
            yield Rig(transport, server, client, events, registration, temperature, gadget, clock)


def run(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = SCENARIO_TIMEOUT) -> T:
    async def main() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(main())


async def no_notification(observation: Observation, within: float = QUIET) -> None:
    """Fail if ``observation`` gets a notification within ``within`` seconds."""
    try:
        note = await observation.next(timeout=within)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected notification {note.code} {note.values}")


async def no_update(server: LwM2MTestServer, within: float = QUIET) -> None:
    try:
        update = await server.wait_update(EP, timeout=within)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected Update {update}")


def link_params(links: list[Any] | None) -> dict[str, dict[str, str | None]]:
    """``{target: {param: value}}`` of a link list (a Register payload or a Discover answer)."""
    assert links is not None, "the response carried no links"
    return {link.target: dict(link.params) for link in links}


# --- registration -------------------------------------------------------------------------


@TRANSPORTS
def test_register_announces_endpoint_lifetime_version_binding_and_objects(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            reg = rig.registration
            assert reg.query == {"ep": EP, "lt": "60", "lwm2m": "1.2", "b": rig.binding}
            assert (reg.version, reg.binding, reg.lifetime, reg.queue_mode) == ("1.2", rig.binding, 60, False)
            assert rig.server.rejections == []
            links = link_params(reg.links)
            # LwM2M 1.1+: the root link leads and announces the preferred format (SenML CBOR).
            assert reg.links[0].target == "/"
            assert links["/"] == {"rt": "oma.lwm2m", "ct": "112"}
            assert reg.content_formats == [formats.SENML_CBOR]
            # ver only for objects whose version is not 1.0, on the object link.
            assert links["/1"] == {"ver": "1.2"}
            assert links["/3"] == {"ver": "1.2"}
            assert links["/3303"] == {"ver": "1.1"}
            assert links[f"/{GADGET_ID}"] == {"ver": "1.1"}
            assert "/9100" not in links  # version 1.0: only its instance is listed
            assert set(reg.objects) == {
                P("/1"), P("/1/0"), P("/3"), P("/3/0"), P("/3303"), P("/3303/0"),
                P("/9100/0"), P(f"/{GADGET_ID}"), P(f"/{GADGET_ID}/0"),
            }  # fmt: skip
            assert 0 not in reg.object_ids, "the Security object must never be registered"
            registered = await rig.events.next(Registered)
            assert registered.version == "1.2"
            assert "/" + "/".join(registered.location) == reg.location
            assert rig.client.registered
            # The Device object the client added says which binding it uses.
            binding = await rig.server.read(EP, "/3/0/16")
            assert (binding.code, binding.value) == ("2.05", rig.binding)

            await rig.client.stop()
            gone = await rig.server.wait_deregistration(EP)
            assert gone.location == reg.location and gone.removed == "deregistered"
            await rig.events.next(Deregistered)
            assert not rig.client.registered

    run(scenario)


# --- Read ------------------------------------------------------------------------------------

#: What each path reads as, with the client's initial values.
READ_TARGETS: dict[str, dict[Path, object]] = {
    "/3303": {P("/3303/0/5700"): 21.5, P("/3303/0/5701"): "Cel"},
    "/3303/0": {P("/3303/0/5700"): 21.5, P("/3303/0/5701"): "Cel"},
    "/3303/0/5700": {P("/3303/0/5700"): 21.5},
    f"/{GADGET_ID}/0/{TAGS}": {P(f"/{GADGET_ID}/0/2/0"): "red", P(f"/{GADGET_ID}/0/2/1"): "green"},
    f"/{GADGET_ID}/0/{TAGS}/1": {P(f"/{GADGET_ID}/0/2/1"): "green"},
    "/9100/0/0": {P("/9100/0/0"): ObjLnk(3303, 0)},
}
MULTI_VALUE_FORMATS = (formats.TLV, formats.SENML_JSON, formats.SENML_CBOR, formats.LWM2M_CBOR, formats.OMA_JSON)
SINGLE_VALUE_TARGETS = ("/3303/0/5700", f"/{GADGET_ID}/0/{TAGS}/1", "/9100/0/0")


@TRANSPORTS
def test_read_object_instance_resource_and_resource_instance_in_every_format(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            for target, expected in READ_TARGETS.items():
                accepts = MULTI_VALUE_FORMATS + ((formats.TEXT,) if target in SINGLE_VALUE_TARGETS else ())
                for accept in accepts:
                    response = await rig.server.read(EP, target, accept=accept)
                    where = f"Read {target} Accept {accept}: {response.code} {response.text!r}"
                    assert response.code == "2.05", where
                    assert response.content_format == accept, where
                    assert response.decode_error is None, where
                    assert response.values == expected, where

            # Without Accept: a single value as text, anything bigger in the preferred SenML CBOR.
            single = await rig.server.read(EP, "/3303/0/5700")
            assert (single.content_format, single.payload) == (formats.TEXT, b"21.5")
            whole = await rig.server.read(EP, "/3303/0")
            assert whole.content_format == formats.SENML_CBOR and whole.values == READ_TARGETS["/3303/0"]

    run(scenario)


@TRANSPORTS
def test_read_errors_answer_the_right_code(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            read = rig.server.read
            # Not acceptable: text/plain for several values, unknown or non-LwM2M formats.
            assert (await read(EP, "/3303/0", accept=formats.TEXT)).code == "4.06"
            assert (await read(EP, f"/{GADGET_ID}/0/{TAGS}", accept=formats.TEXT)).code == "4.06"
            assert (await read(EP, "/3303/0/5700", accept=50)).code == "4.06"  # application/json
            assert (await read(EP, "/3303/0/5700", accept=9999)).code == "4.06"
            assert (await read(EP, "/3303/0", accept=formats.CBOR)).code == "4.06"
            assert (await read(EP, "/3303/0/5700", accept=formats.SENML_ETCH_CBOR)).code == "4.06"
            # Absent things, executables, and the bootstrap-only Security object.
            assert (await read(EP, "/3303/1")).code == "4.04"
            assert (await read(EP, "/3303/0/5601")).code == "4.04"
            assert (await read(EP, "/4")).code == "4.04"
            assert (await read(EP, f"/{GADGET_ID}/0/{TAGS}/7")).code == "4.04"
            assert (await read(EP, f"/{GADGET_ID}/0/{RUN}")).code == "4.05"
            assert (await read(EP, "/0/0")).code == "4.01"
            operations = rig.events.of(ServerOperation)
            assert [op.response.code for op in operations[-2:]] == ["4.05", "4.01"]
            assert str(operations[-1]) == "server 1: GET /0/0 -> 4.01"

    run(scenario)


# --- Write ----------------------------------------------------------------------------------


@TRANSPORTS
def test_write_replace_and_partial_update_of_instances_and_multiple_instance_resources(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server, gadget = rig.server, rig.gadget
            written: list[object] = []
            gadget.on_write(LEVEL, written.append)
            base = f"/{GADGET_ID}/0"

            async def values() -> dict[tuple[int, ...], object]:
                """The instance as the server reads it, keyed by (resource, [resource instance])."""
                response = await server.read(EP, base, accept=formats.SENML_CBOR)
                assert response.code == "2.05" and response.values is not None
                return {path.relative_to(P(base)): value for path, value in response.values.items()}

            # Replace (PUT) the instance: writable optional resources left out are removed, read-only ones stay.
            response = await server.write(EP, base, {f"{base}/0": "beta", f"{base}/2/0": "blue"}, formats.SENML_CBOR)
            assert response.code == "2.04"
            assert await values() == {(NAME,): "beta", (TAGS, 0): "blue", (READING,): 1.5}

            # Partial update (POST) of the instance, in TLV: given resources change, the rest stay.
            response = await server.write(EP, base, {f"{base}/1": 7, f"{base}/2/3": "cyan"}, formats.TLV, replace=False)
            assert response.code == "2.04"
            assert await values() == {
                (NAME,): "beta", (LEVEL,): 7, (TAGS, 0): "blue", (TAGS, 3): "cyan", (READING,): 1.5,
            }  # fmt: skip
            assert written == [7]

            # Replace a multiple-instance resource: its old instances go.
            tags = f"{base}/{TAGS}"
            response = await server.write(EP, tags, {f"{tags}/7": "x", f"{tags}/8": "y"}, formats.SENML_JSON)
            assert response.code == "2.04"
            assert gadget.get(TAGS) == {7: "x", 8: "y"}
            # Partial update of it (POST, LwM2M CBOR) adds instances.
            response = await server.write(EP, tags, {f"{tags}/9": "z"}, formats.LWM2M_CBOR, replace=False)
            assert response.code == "2.04"
            assert gadget.get(TAGS) == {7: "x", 8: "y", 9: "z"}
            # Writing one resource instance (text) leaves its siblings alone.
            response = await server.write(EP, f"{tags}/8", "why", formats.TEXT)
            assert response.code == "2.04"
            assert gadget.get(TAGS) == {7: "x", 8: "why", 9: "z"}

            # A single resource in plain text, through the application's write hook.
            assert (await server.write(EP, f"{base}/{LEVEL}", 42, formats.TEXT)).code == "2.04"
            assert gadget.get(LEVEL) == 42 and written == [7, 42]
            # An Objlnk of the DDF-defined object, in SenML JSON, read back in TLV.
            assert (await server.write(EP, "/9100/0/0", ObjLnk(3, 0), formats.SENML_JSON)).code == "2.04"
            assert (await server.read(EP, "/9100/0", accept=formats.TLV)).values == {P("/9100/0/0"): ObjLnk(3, 0)}
            # A Boolean in CBOR.
            assert (await server.write(EP, f"{base}/{ENABLED}", False, formats.CBOR)).code == "2.04"
            assert gadget.get(ENABLED) is False

    run(scenario)


@TRANSPORTS
def test_write_errors_leave_values_unchanged(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server, base = rig.server, f"/{GADGET_ID}/0"
            # Read-only resources, in the target or inside an instance payload.
            assert (await server.write(EP, f"{base}/{READING}", 2.5, formats.TEXT)).code == "4.05"
            assert (await server.write(EP, "/3303/0/5700", 30.0, formats.TEXT)).code == "4.05"
            response = await server.write(EP, base, {f"{base}/0": "z", f"{base}/5": 9.0}, formats.SENML_CBOR)
            assert response.code == "4.05"
            # A payload that does not decode, a format the client does not know, no format at all.
            assert (await server.write(EP, base, b"\xff\x00\x13", formats.TLV)).code == "4.00"
            assert (await server.write(EP, base, b"{}", 50)).code == "4.15"
            assert (await server.request(EP, "PUT", f"{base}/{LEVEL}", payload=b"3")).code == "4.00"
            # A value of the wrong type, and a write to an instance that does not exist.
            assert (await server.write(EP, f"{base}/{LEVEL}", b"ten", formats.TEXT)).code == "4.00"
            assert (await server.write(EP, f"/{GADGET_ID}/4/{LEVEL}", 1, formats.TEXT)).code == "4.04"
            assert rig.gadget.get(NAME) == "alpha" and rig.gadget.get(LEVEL) == 10
            assert rig.gadget.get(READING) == 1.5

    run(scenario)


# --- Execute, Create, Delete -------------------------------------------------------------------


@TRANSPORTS
def test_execute_passes_arguments_to_the_hook_and_runs_its_coroutine_after_answering(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            calls: list[str | None] = []
            after = asyncio.Event()

            async def finish() -> None:
                after.set()

            def run_hook(arguments: str | None) -> Coroutine[Any, Any, None]:
                calls.append(arguments)
                return finish()

            rig.gadget.on_execute(RUN, run_hook)
            target = f"/{GADGET_ID}/0/{RUN}"

            assert (await rig.server.execute(EP, target, "0='fast',1")).code == "2.04"
            assert calls == ["0='fast',1"]
            await asyncio.wait_for(after.wait(), WAIT)
            assert (await rig.server.execute(EP, target)).code == "2.04"
            assert calls == ["0='fast',1", None]

            # Arguments not in the 0='text',1 grammar, non-executable targets, absent instances.
            assert (await rig.server.execute(EP, target, "speed=fast")).code == "4.00"
            assert (await rig.server.execute(EP, f"/{GADGET_ID}/0/{NAME}")).code == "4.05"
            assert (await rig.server.execute(EP, "/3303/0/5605")).code == "4.05"  # executable, but no hook
            assert (await rig.server.execute(EP, f"/{GADGET_ID}/3/{RUN}")).code == "4.04"
            assert len(calls) == 2
            executed = [op for op in rig.events.of(ServerOperation) if op.request.path == P(target)]
            assert [op.response.code for op in executed] == ["2.04", "2.04", "4.00"]
            assert executed[0].request.payload == b"0='fast',1"

    run(scenario)


@TRANSPORTS
def test_create_with_and_without_id_and_delete_update_the_registration(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server, obj = rig.server, f"/{GADGET_ID}"
            # With an id (SenML CBOR): 2.01 and the location of the new instance.
            created = await server.create(
                EP, obj, {f"{obj}/5/{NAME}": "five", f"{obj}/5/{TAGS}/0": "t"}, formats.SENML_CBOR
            )
            assert (created.code, created.location) == ("2.01", f"{obj}/5")
            assert rig.client.instance(f"{obj}/5").get(TAGS) == {0: "t"}
            update = await server.wait_update(EP)
            assert update.links is not None and f"{obj}/5" in link_params(update.links)
            # Without an id (TLV, bare resources): the client picks the lowest free id.
            created = await server.create(EP, obj, {NAME: "auto", LEVEL: 3}, formats.TLV)
            assert (created.code, created.location) == ("2.01", f"{obj}/1")
            assert (await server.read(EP, f"{obj}/1/{LEVEL}")).value == 3
            update = await server.wait_update(EP)
            assert {f"{obj}/0", f"{obj}/1", f"{obj}/5"} <= set(link_params(update.links))

            # An existing id, a missing mandatory resource, a second instance of a single-instance object.
            assert (await server.create(EP, obj, {NAME: "dup"}, formats.SENML_CBOR, instance_id=5)).code == "4.00"
            assert (await server.create(EP, obj, {LEVEL: 1}, formats.SENML_CBOR, instance_id=7)).code == "4.00"
            assert (await server.create(EP, "/3", {"/3/1/14": "+01"}, formats.SENML_CBOR)).code == "4.00"

            # Delete: 2.02, gone from reads, from the registration, and its observation ends with 4.04.
            observation = await server.observe(EP, f"{obj}/5")
            assert observation.established
            assert (await server.delete(EP, f"{obj}/5")).code == "2.02"
            ended = await observation.next(timeout=WAIT)
            assert ended.code == "4.04"
            with pytest.raises(ObservationEndedError):
                await observation.next(timeout=WAIT)
            cancelled = await rig.events.next(ObserveCancelled)
            assert cancelled.paths == (P(f"{obj}/5"),)
            assert (await server.read(EP, f"{obj}/5")).code == "4.04"
            update = await server.wait_update(EP)
            assert f"{obj}/5" not in link_params(update.links) and f"{obj}/1" in link_params(update.links)
            # Deleting again, deleting a resource or an object.
            assert (await server.delete(EP, f"{obj}/5")).code == "4.04"
            assert (await server.delete(EP, f"{obj}/0/{NAME}")).code == "4.05"
            assert (await server.delete(EP, obj)).code == "4.05"
            assert server.rejections == []

    run(scenario)


# --- Discover and Write-Attributes -------------------------------------------------------------


@TRANSPORTS
def test_discover_lists_resources_and_the_attributes_written(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server = rig.server
            found = await server.discover(EP, "/3303")
            assert found.code == "2.05" and found.content_format == formats.LINK_FORMAT
            assert link_params(found.links) == {
                "/3303": {"ver": "1.1"}, "/3303/0": {}, "/3303/0/5700": {}, "/3303/0/5701": {},
            }  # fmt: skip

            assert (await server.write_attributes(EP, "/3303/0/5700", pmin=5, pmax=50, gt=30, st=0.5)).code == "2.04"
            assert (await server.write_attributes(EP, "/3303/0", pmax=100)).code == "2.04"
            assert (await server.write_attributes(EP, "/3303", pmin=1)).code == "2.04"
            found = await server.discover(EP, "/3303")
            assert link_params(found.links) == {
                "/3303": {"ver": "1.1", "pmin": "1"},
                "/3303/0": {"pmax": "100"},
                "/3303/0/5700": {"pmin": "5", "pmax": "50", "gt": "30", "st": "0.5"},
                "/3303/0/5701": {},
            }
            found = await server.discover(EP, "/3303/0/5700")
            assert link_params(found.links) == {"/3303/0/5700": {"pmin": "5", "pmax": "50", "gt": "30", "st": "0.5"}}
            # A name without value removes that attribute.
            assert (await server.write_attributes(EP, "/3303/0", pmax=None)).code == "2.04"
            assert link_params((await server.discover(EP, "/3303/0")).links)["/3303/0"] == {}

            # Multiple-instance resources show dim; depth=2 lists their instances too.
            found = await server.discover(EP, f"/{GADGET_ID}/0")
            assert link_params(found.links)[f"/{GADGET_ID}/0/{TAGS}"] == {"dim": "2"}
            assert f"/{GADGET_ID}/0/{TAGS}/0" not in link_params(found.links)
            found = await server.discover(EP, f"/{GADGET_ID}/0", depth=2)
            assert {f"/{GADGET_ID}/0/{TAGS}/0", f"/{GADGET_ID}/0/{TAGS}/1"} <= set(link_params(found.links))
            assert (await server.discover(EP, "/3303/4")).code == "4.04"

    run(scenario)


#: Write-Attributes requests that break a Core 1.2 §5.1.2 rule, by what they break.
BAD_ATTRIBUTES: list[tuple[str, dict[str, Any]]] = [
    ("/3303/0/5700", {"pmin": "soon"}),
    ("/3303/0/5700", {"pmin": -1}),
    ("/3303/0/5700", {"colour": 1}),
    ("/3303/0/5700", {"dim": 3}),
    ("/3303/0/5700", {"pmin": 10, "pmax": 5}),
    ("/3303/0/5700", {"gt": 20, "lt": 30}),
    ("/3303/0/5700", {"gt": 20, "lt": 10, "st": 6}),
    ("/3303/0/5700", {"st": -1}),
    ("/3303/0/5700", {"edge": 1}),
    ("/3303/0/5701", {"gt": 1}),
    ("/3303/0", {"lt": 1}),
    (f"/{GADGET_ID}/0/{TAGS}", {"st": 1}),
    (f"/{GADGET_ID}/0/{ENABLED}", {"edge": 2}),
]


@TRANSPORTS
def test_write_attributes_refuses_what_breaks_the_rules(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server = rig.server
            for path, attributes in BAD_ATTRIBUTES:
                response = await server.write_attributes(EP, path, **attributes)
                assert response.code == "4.00", f"{path}?{attributes} -> {response.code} {response.text}"
                assert response.text, "a 4.00 says why"
            assert (await server.write_attributes(EP, "/3303/7", pmin=1)).code == "4.04"
            assert (await server.write_attributes(EP, "/", pmin=1)).code == "4.05"
            # Nothing of the refused requests was kept; a valid one is.
            found = await server.discover(EP, "/3303")
            assert all(params == {} for target, params in link_params(found.links).items() if target != "/3303")
            assert (await server.write_attributes(EP, f"/{GADGET_ID}/0/{ENABLED}", edge=1)).code == "2.04"
            found = await server.discover(EP, f"/{GADGET_ID}/0/{ENABLED}")
            assert link_params(found.links) == {f"/{GADGET_ID}/0/{ENABLED}": {"edge": "1"}}

    run(scenario)


# --- Observe ------------------------------------------------------------------------------------


@TRANSPORTS
def test_observe_resource_and_instance_notify_on_change(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server, temperature = rig.server, rig.temperature
            resource = await server.observe(EP, "/3303/0/5700")
            instance = await server.observe(EP, "/3303/0", accept=formats.TLV)
            assert resource.established and instance.established
            assert resource.response is not None and resource.response.values == {P("/3303/0/5700"): 21.5}
            assert instance.response is not None and instance.response.content_format == formats.TLV
            started = [await rig.events.next(ObserveStarted) for _ in range(2)]
            assert {event.paths for event in started} == {(P("/3303/0/5700"),), (P("/3303/0"),)}
            assert all(event.server_id == 1 for event in started)

            temperature.set(5700, 22.5)
            note = await resource.next(timeout=WAIT)
            assert (note.code, note.content_format, note.values) == ("2.05", formats.TEXT, {P("/3303/0/5700"): 22.5})
            note = await instance.next(timeout=WAIT)
            assert note.content_format == formats.TLV
            assert note.values == {P("/3303/0/5700"): 22.5, P("/3303/0/5701"): "Cel"}

            # A change elsewhere in the instance notifies the instance observer only.
            temperature.set(5701, "K")
            note = await instance.next(timeout=WAIT)
            assert note.values is not None and note.values[P("/3303/0/5701")] == "K"
            await no_notification(resource)

            temperature.set(5700, 23.0)
            second = await resource.next(timeout=WAIT)
            assert second.values == {P("/3303/0/5700"): 23.0}
            assert resource.response.observe is not None and second.observe is not None
            numbers = [n.observe for n in resource.notifications]
            assert None not in numbers and numbers == sorted(set(numbers)), "Observe numbers must increase"  # type: ignore[type-var]
            # A server's Write changes the value too, and that notifies.
            level = await server.observe(EP, f"/{GADGET_ID}/0/{LEVEL}")
            assert (await server.write(EP, f"/{GADGET_ID}/0/{LEVEL}", 5, formats.TEXT)).code == "2.04"
            assert (await level.next(timeout=WAIT)).values == {P(f"/{GADGET_ID}/0/{LEVEL}"): 5}

            # Nothing to observe: an error answer, no observation.
            missing = await server.observe(EP, "/3303/7")
            assert missing.response is not None and missing.response.code == "4.04" and not missing.established
            assert len(rig.client.notifier) == 3

    run(scenario)


@TRANSPORTS
def test_cancel_observation_with_get_observe_1(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700")
            kept = await rig.server.observe(EP, "/3303/0")
            reply = await observation.cancel("get")
            # The cancelling GET is a plain Read: the current value, no Observe option.
            assert reply is not None and reply.code == "2.05" and reply.observe is None
            assert reply.values == {P("/3303/0/5700"): 21.5}
            cancelled = await rig.events.next(ObserveCancelled)
            assert (cancelled.server_id, cancelled.paths) == (1, (P("/3303/0/5700"),))
            assert len(rig.client.notifier) == 1

            rig.temperature.set(5700, 30.0)
            assert (await kept.next(timeout=WAIT)).values == {P("/3303/0/5700"): 30.0, P("/3303/0/5701"): "Cel"}
            # The cancelled relation sent nothing (over UDP the server would have answered it with RST).
            assert not [e for e in rig.server.log if e.kind == "reset"], rig.server.format_log()

    run(scenario)


def test_cancel_observation_by_reset_forgets_the_relation() -> None:
    """UDP only: "forget" makes the server answer the next CON notification with RST (TCP has no RST)."""

    async def scenario() -> None:
        async with running("udp") as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700")
            assert observation.established
            await observation.cancel("forget")
            rig.temperature.set(5700, 25.0)
            cancelled = await rig.events.next(ObserveCancelled)
            assert cancelled.paths == (P("/3303/0/5700"),)
            assert len(rig.client.notifier) == 0
            assert [e.mtype for e in rig.server.log if e.kind == "reset"] == ["RST"]
            # Later changes send nothing more.
            entries = len(rig.server.log)
            rig.temperature.set(5700, 26.0)
            assert (await rig.server.read(EP, "/3303/0/5700")).value == 26.0
            assert [e.kind for e in rig.server.log[entries:]] == ["request", "response"]

    run(scenario)


@TRANSPORTS
def test_observe_composite_notifies_all_paths_on_any_change(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            paths = ["/3303/0/5700", f"/{GADGET_ID}/0/{LEVEL}"]
            observation = await rig.server.observe_composite(EP, paths, accept=formats.SENML_JSON)
            assert observation.established
            assert observation.response is not None and observation.response.content_format == formats.SENML_JSON
            expected = {P("/3303/0/5700"): 21.5, P(f"/{GADGET_ID}/0/{LEVEL}"): 10}
            assert observation.response.values == expected
            started = await rig.events.next(ObserveStarted)
            assert started.paths == tuple(P(p) for p in paths)

            rig.gadget.set(LEVEL, 11)
            note = await observation.next(timeout=WAIT)
            assert note.content_format == formats.SENML_JSON
            assert note.values == {**expected, P(f"/{GADGET_ID}/0/{LEVEL}"): 11}
            rig.temperature.set(5700, 19.0)
            note = await observation.next(timeout=WAIT)
            assert note.values == {P("/3303/0/5700"): 19.0, P(f"/{GADGET_ID}/0/{LEVEL}"): 11}

            reply = await observation.cancel("get")
            assert reply is not None and reply.code == "2.05"
            assert (await rig.events.next(ObserveCancelled)).paths == tuple(P(p) for p in paths)
            assert len(rig.client.notifier) == 0

    run(scenario)


@TRANSPORTS
def test_observe_composite_ignores_changes_outside_its_paths(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            paths = ["/3303/0/5700", f"/{GADGET_ID}/0/{LEVEL}"]
            observation = await rig.server.observe_composite(EP, paths)
            assert observation.established
            rig.temperature.set(5701, "K")
            rig.gadget.set(NAME, "other")
            await no_notification(observation)

    run(scenario)


# --- Read-Composite and Write-Composite -------------------------------------------------------


@TRANSPORTS
def test_read_composite_in_each_format_and_write_composite(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            server = rig.server
            paths = ["/3303/0/5700", f"/{GADGET_ID}/0/{TAGS}", "/3303/9"]  # the absent instance is left out
            expected = {
                P("/3303/0/5700"): 21.5, P(f"/{GADGET_ID}/0/2/0"): "red", P(f"/{GADGET_ID}/0/2/1"): "green",
            }  # fmt: skip
            for accept in (formats.SENML_CBOR, formats.SENML_JSON, formats.LWM2M_CBOR):
                response = await server.read_composite(EP, paths, accept=accept)
                assert (response.code, response.content_format) == ("2.05", accept)
                assert response.values == expected, accept
            response = await server.read_composite(EP, paths, content_format=formats.SENML_ETCH_JSON)
            assert response.content_format == formats.SENML_CBOR and response.values == expected
            assert (await server.read_composite(EP, paths, accept=formats.TLV)).code == "4.06"

            values = {
                f"/{GADGET_ID}/0/{NAME}": "omega", f"/{GADGET_ID}/0/{TAGS}/4": "blue", "/9100/0/0": ObjLnk(1, 0),
            }  # fmt: skip
            assert (await server.write_composite(EP, values)).code == "2.04"
            assert rig.gadget.get(NAME) == "omega"
            assert rig.gadget.get(TAGS) == {0: "red", 1: "green", 4: "blue"}  # partial: instances are added
            assert rig.client.instance("/9100/0").get(0) == ObjLnk(1, 0)
            # One read-only record refuses the whole request, and nothing is written.
            bad = {f"/{GADGET_ID}/0/{NAME}": "nope", "/3303/0/5700": 0.0}
            assert (await server.write_composite(EP, bad, formats.SENML_JSON)).code == "4.05"
            assert rig.gadget.get(NAME) == "omega" and rig.temperature.get(5700) == 21.5
            assert (await server.write_composite(EP, {"/3303/5/5750": "x"}, formats.LWM2M_CBOR)).code == "4.04"

    run(scenario)


# --- Send ------------------------------------------------------------------------------------


@TRANSPORTS
def test_send_in_every_format_and_mute_send(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport, client_options={"wall_clock": lambda: WALL_TIME}) as rig:
            client, server = rig.client, rig.server
            for content_format in (formats.SENML_CBOR, formats.SENML_JSON, formats.LWM2M_CBOR):
                rig.temperature.set(5700, 20.0 + content_format % 7)
                await client.send(["/3303/0/5700", f"/{GADGET_ID}/0/{TAGS}"], content_format=content_format)
                report = await server.wait_send(EP)
                assert report.content_format == content_format
                assert report.values == {
                    P("/3303/0/5700"): 20.0 + content_format % 7,
                    P(f"/{GADGET_ID}/0/2/0"): "red",
                    P(f"/{GADGET_ID}/0/2/1"): "green",
                }
            # SenML stamps the values with the (injected) wall clock; LwM2M CBOR has no time field.
            assert {record.time for record in server.sends[0].records} == {WALL_TIME}
            assert {record.time for record in server.sends[2].records} == {None}

            # Mute Send written by the server: the application gets SendError, nothing goes out.
            assert (await server.write(EP, "/1/0/23", True, formats.TEXT)).code == "2.04"
            with pytest.raises(SendError, match="Mute Send"):
                await client.send(["/3303/0/5700"])
            assert (await server.write(EP, "/1/0/23", False, formats.TEXT)).code == "2.04"
            await client.send(["/3303/0/5700"], content_format="senml-json")
            assert (await server.wait_send(EP)).values == {P("/3303/0/5700"): rig.temperature.get(5700)}
            assert len(server.sends) == 4 and server.rejections == []

    run(scenario)


# --- Notification attributes on the injected clock ------------------------------------------
#
# The registration lifetime is long here so moving the clock never makes an Update or a
# re-registration (which would end the observations) part of the picture.


@TRANSPORTS
def test_pmin_holds_a_change_back_until_it_has_passed(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running(transport, clock=clock, lifetime=86400) as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700", pmin=10)
            rig.temperature.set(5700, 22.0)
            await no_notification(observation)
            clock.advance(6)
            rig.client.poke()
            rig.temperature.set(5700, 23.0)
            await no_notification(observation)
            clock.advance(4)
            rig.client.poke()
            note = await observation.next(timeout=WAIT)
            assert note.values == {P("/3303/0/5700"): 23.0}, "pmin over: the latest value goes out"
            # The period restarts with that notification.
            rig.temperature.set(5700, 24.0)
            clock.advance(9.5)
            rig.client.poke()
            await no_notification(observation)
            clock.advance(0.5)
            rig.client.poke()
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 24.0}

    run(scenario)


@TRANSPORTS
def test_pmax_from_write_attributes_notifies_an_unchanged_value(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running(transport, clock=clock, lifetime=86400) as rig:
            assert (await rig.server.write_attributes(EP, "/3303/0", pmax=30)).code == "2.04"
            observation = await rig.server.observe(EP, "/3303/0/5700", con=0)
            clock.advance(29)
            rig.client.poke()
            await no_notification(observation)
            clock.advance(1)
            rig.client.poke()
            note = await observation.next(timeout=WAIT)
            assert note.values == {P("/3303/0/5700"): 21.5}
            if transport == "udp":
                assert note.mtype == "NON", "con=0 asks for non-confirmable notifications"
            clock.advance(30)
            rig.client.poke()
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 21.5}

    run(scenario)


@TRANSPORTS
def test_gt_and_lt_notify_only_when_a_threshold_is_crossed(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running(transport, clock=clock, lifetime=86400) as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700")
            # Written while observing: the running observation takes them up.
            assert (await rig.server.write_attributes(EP, "/3303/0/5700", gt=30, lt=10)).code == "2.04"
            rig.temperature.set(5700, 25.0)
            await no_notification(observation)
            rig.temperature.set(5700, 35.0)
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 35.0}
            rig.temperature.set(5700, 32.0)  # still above gt
            await no_notification(observation)
            rig.temperature.set(5700, 5.0)  # down across both thresholds
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 5.0}
            rig.temperature.set(5700, 12.0)  # up across lt
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 12.0}

    run(scenario)


@TRANSPORTS
def test_st_notifies_steps_from_the_last_notified_value(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running(transport, clock=clock, lifetime=86400) as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700", st=2)
            rig.temperature.set(5700, 22.5)  # 1.0 from 21.5
            await no_notification(observation)
            rig.temperature.set(5700, 23.5)  # 2.0 from 21.5
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 23.5}
            rig.temperature.set(5700, 22.0)  # 1.5 from 23.5
            await no_notification(observation)
            rig.temperature.set(5700, 21.0)  # 2.5 below 23.5
            assert (await observation.next(timeout=WAIT)).values == {P("/3303/0/5700"): 21.0}

    run(scenario)


# --- Registration lifecycle ----------------------------------------------------------------------


@TRANSPORTS
def test_update_trigger_execute_sends_an_update(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            assert (await rig.server.execute(EP, "/1/0/8")).code == "2.04"
            update = await rig.server.wait_update(EP)
            assert update.query == {} and update.links is None, "nothing changed, so nothing but the Update"
            assert update.registration is not None and update.registration.location == rig.registration.location
            await rig.events.next(Updated)
            # A lifetime written by the server goes out in the next Update.
            assert (await rig.server.write(EP, "/1/0/1", 120, formats.TEXT)).code == "2.04"
            update = await rig.server.wait_update(EP)
            assert (update.lifetime, update.query) == (120, {"lt": "120"})
            assert rig.server.get_registration(EP).lifetime == 120

    run(scenario)


@TRANSPORTS
def test_lifetime_drives_updates_on_the_injected_clock(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        lifetime = 20
        due = update_delay(lifetime)  # what the registration machine schedules after each Register/Update
        assert 0 < due < lifetime
        async with running(transport, clock=clock, lifetime=lifetime) as rig:
            clock.advance(due - 1)
            rig.client.poke()
            await no_update(rig.server)
            clock.advance(1)
            rig.client.poke()
            update = await rig.server.wait_update(EP)
            assert update.lifetime is None and update.links is None
            await rig.events.next(Updated)
            # The next one counts from this Update.
            clock.advance(due)
            rig.client.poke()
            await rig.server.wait_update(EP)
            assert len(rig.server.get_registration(EP).updates) == 2
            assert len(rig.events.of(Registered)) == 1, "Updates kept the registration: no new Register"

    run(scenario)


@TRANSPORTS
def test_disable_deregisters_and_registers_again_after_the_disable_timeout(transport: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running(transport, clock=clock) as rig:
            assert (await rig.server.write(EP, "/1/0/5", 30, formats.TEXT)).code == "2.04"  # Disable Timeout
            assert (await rig.server.execute(EP, "/1/0/4")).code == "2.04"
            gone = await rig.server.wait_deregistration(EP)
            assert gone.removed == "deregistered" and gone.location == rig.registration.location
            disabled = await rig.events.next(Disabled)
            assert disabled.until == clock.now + 30
            assert not rig.client.registered
            with pytest.raises(SendError):
                await rig.client.send(["/3303/0/5700"])

            clock.advance(29)
            rig.client.poke()
            with pytest.raises(TimeoutError):
                await rig.server.wait_registration(EP, timeout=QUIET)
            clock.advance(1)
            rig.client.poke()
            again = await rig.server.wait_registration(EP)
            assert again.location != rig.registration.location and again.version == "1.2"
            await rig.events.next(Registered, where=lambda e: "/" + "/".join(e.location) == again.location)
            await rig.client.wait_registered(timeout=WAIT)
            assert (await rig.server.read(EP, "/3303/0/5700")).value == 21.5

    run(scenario)


@TRANSPORTS
@pytest.mark.parametrize("versions", [("1.1",), ("1.1", "1.0")], ids=["1.1-server", "1.1+1.0-server"])
def test_version_fallback_to_1_1(transport: str, versions: tuple[str, ...]) -> None:
    async def scenario() -> None:
        async with running(transport, server_options={"supported_versions": versions}) as rig:
            reg = rig.registration
            assert (reg.version, reg.query["lwm2m"], reg.binding) == ("1.1", "1.1", rig.binding)
            assert [(r.code, r.query) for r in rig.server.rejections] == [
                ("4.12", ("ep=dev-1", "lt=60", "lwm2m=1.2", f"b={rig.binding}"))
            ]
            assert await rig.events.next(VersionFallback) == VersionFallback("1.2", "1.1")
            assert (await rig.events.next(Registered)).version == "1.1"
            assert link_params(reg.links)["/"] == {"rt": "oma.lwm2m", "ct": "112"}
            # LwM2M CBOR is 1.2: a 1.1 server may not ask for it, the rest is as before.
            assert (await rig.server.read(EP, "/3303/0", accept=formats.LWM2M_CBOR)).code == "4.06"
            whole = await rig.server.read(EP, "/3303/0")
            assert whole.content_format == formats.SENML_CBOR and whole.values == READ_TARGETS["/3303/0"]
            await rig.client.send(["/3303/0/5700"])
            assert (await rig.server.wait_send(EP)).values == {P("/3303/0/5700"): 21.5}

    run(scenario)


def test_version_fallback_to_1_0_gets_tlv_and_no_send() -> None:
    """UDP only: LwM2M 1.0 has no TCP binding (see the TCP test below)."""

    async def scenario() -> None:
        async with running("udp", server_options={"supported_versions": ("1.0",)}) as rig:
            reg = rig.registration
            assert (reg.version, reg.query) == ("1.0", {"ep": EP, "lt": "60", "lwm2m": "1.0", "b": "U"})
            assert rig.events.of(VersionFallback) == [
                VersionFallback("1.2", "1.1"), VersionFallback("1.1", "1.0"),
            ]  # fmt: skip
            # 1.0 links: no root link, no ver.
            assert all(not link.params for link in reg.links)
            # A 1.0 server reading an instance without Accept gets TLV, and may not ask for SenML.
            whole = await rig.server.read(EP, "/3303/0")
            assert whole.content_format == formats.TLV and whole.values == READ_TARGETS["/3303/0"]
            assert (await rig.server.read(EP, "/3303/0", accept=formats.SENML_CBOR)).code == "4.06"
            assert (await rig.server.read(EP, "/3303/0", accept=formats.OMA_JSON)).code == "2.05"
            observation = await rig.server.observe(EP, "/3303/0")
            assert observation.response is not None and observation.response.content_format == formats.TLV
            rig.temperature.set(5700, 30.0)
            assert (await observation.next(timeout=WAIT)).content_format == formats.TLV
            # Writes come in TLV (the server's 1.0 default); SenML is refused.
            assert (await rig.server.write(EP, f"/{GADGET_ID}/0/{LEVEL}", 3)).code == "2.04"
            assert rig.gadget.get(LEVEL) == 3
            response = await rig.server.write(EP, f"/{GADGET_ID}/0/{LEVEL}", 4, formats.SENML_CBOR)
            assert response.code == "4.15"
            # Send is LwM2M 1.1+.
            with pytest.raises(SendError):
                await rig.client.send(["/3303/0/5700"])
            assert rig.server.sends == []

    run(scenario)


def test_a_tcp_client_does_not_fall_back_to_lwm2m_1_0() -> None:
    """LwM2M 1.0 bindings are U, UQ, S, SQ, US, UQS: a coap+tcp:// client cannot register as 1.0."""

    async def scenario() -> None:
        async with running("tcp", server_options={"supported_versions": ("1.0",)}, registered=False) as rig:
            failed = await rig.events.next(RegistrationFailed)
            assert "4.12" in failed.reason and failed.retry_at is not None
            assert [r.code for r in rig.server.rejections] == ["4.12", "4.12"], rig.server.format_log()
            assert not rig.client.registered

    run(scenario)


@TRANSPORTS
def test_server_restart_makes_the_client_register_again(transport: str) -> None:
    async def scenario() -> None:
        async with running(transport) as rig:
            observation = await rig.server.observe(EP, "/3303/0/5700")
            assert observation.established
            await rig.server.restart()
            rig.client.trigger_update()
            again = await rig.server.wait_registration(EP)
            assert again.location != rig.registration.location
            failed = await rig.events.next(RegistrationFailed)
            assert failed.retry_at is not None
            if transport == "udp":
                # The Update reached the restarted server, which no longer knew the registration.
                assert [(r.operation, r.code) for r in rig.server.rejections] == [("update", "4.04")]
                assert "4.04" in failed.reason
            await rig.events.next(Registered, where=lambda e: "/" + "/".join(e.location) == again.location)
            # The old observation died with the old registration; the new one works.
            assert (await rig.events.next(ObserveCancelled)).paths == (P("/3303/0/5700"),)
            assert len(rig.client.notifier) == 0
            await rig.client.wait_registered(timeout=WAIT)
            assert (await rig.server.read(EP, "/3303/0/5700")).value == 21.5
            fresh = await rig.server.observe(EP, "/3303/0/5700")
            rig.temperature.set(5700, 18.0)
            assert (await fresh.next(timeout=WAIT)).values == {P("/3303/0/5700"): 18.0}

    run(scenario)


# --- Lost datagrams (UDP) ------------------------------------------------------------------------


def test_lost_register_and_lost_notification_are_retransmitted() -> None:
    """The client's own CON retransmission recovers both (aiocoap's default ACK_TIMEOUT: 2-3 s each)."""

    async def scenario() -> None:
        # The first Register vanishes before the server sees it.
        async with running("udp", before_client=lambda server: server.drop_next(1)) as rig:
            server = rig.server
            assert server.dropped == 1 and server.pending_drops == (0, 0)
            seen = [(e.kind, e.code, e.path) for e in server.log if e.kind in ("dropped", "request")]
            assert seen == [("dropped", "0.02", ""), ("request", "POST", "/rd")], server.format_log()
            assert len(rig.events.of(Registered)) == 1 and not rig.events.of(RegistrationFailed)

            # A CON notification lost on its way to the server is sent again.
            observation = await server.observe(EP, "/3303/0/5700")
            server.drop_next(1)
            rig.temperature.set(5700, 30.0)
            note = await observation.next(timeout=WAIT)
            assert (note.values, note.mtype) == ({P("/3303/0/5700"): 30.0}, "CON")
            assert server.dropped == 2
            assert [e.kind for e in server.log if e.kind in ("dropped", "notification")][-2:] == [
                "dropped", "notification",
            ]  # fmt: skip

    run(scenario)


class _FastRetransmission(aiocoap.numbers.TransportTuning):  # type: ignore[misc]
    """The server's own requests: retransmit after 0.1-0.15 s instead of 2-3 s."""

    ACK_TIMEOUT = 0.1


def test_lost_server_requests_and_responses_are_retransmitted_and_executed_once() -> None:
    async def scenario() -> None:
        async with running("udp", server_options={"transport_tuning": _FastRetransmission()}) as rig:
            server = rig.server
            # The server's GET is lost: the server retransmits it.
            server.drop_next(1, "out")
            assert (await server.read(EP, "/3303/0/5700")).value == 21.5
            # The client's answer to an Execute is lost: the retransmitted request must be
            # answered from the client's deduplication cache, not executed twice.
            calls: list[str | None] = []
            rig.gadget.on_execute(RUN, calls.append)
            server.drop_next(1, "in")
            assert (await server.execute(EP, f"/{GADGET_ID}/0/{RUN}", "1")).code == "2.04"
            assert calls == ["1"]
            assert server.dropped == 2
            executes = [op for op in rig.events.of(ServerOperation) if op.request.path.resource_id == RUN]
            assert len(executes) == 1

    run(scenario)
