"""The loopback LwM2M test server, exercised by a tiny raw aiocoap "device".

The device is an aiocoap server context on its own socket: it registers from that
socket and serves /3/0/... on it, which is exactly the role reversal an LwM2M
server relies on. Every test runs its scenario with asyncio.run() and waits on
events with timeouts, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiocoap
import pytest
from aiocoap import Code, Message, resource

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.model import Path
from m2mclient.testing import (
    LwM2MServerFactory,
    LwM2MTestServer,
    NotRegisteredError,
    ObservationEndedError,
    RequestFailedError,
)
from m2mclient.testing.pytest_plugin import lwm2m_server  # noqa: F401  # the fixture under test

LINKS_1_2 = b'</>;rt="oma.lwm2m";ct="60 110 112 11542",</1/0>,</3>;ver=1.1,</3/0>,</3303/0>'
LINKS_1_0 = b"</1/0>,</3/0>,</3303/0>"


class Fast(aiocoap.TransportTuning):
    """Quick retransmissions so the drop tests take milliseconds, not seconds."""

    ACK_TIMEOUT = 0.05
    ACK_RANDOM_FACTOR = 1.0
    MAX_RETRANSMIT = 4


def run(scenario: Awaitable[Any], timeout: float = 8.0) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, timeout))


# --- a raw aiocoap device ----------------------------------------------------------------


class Node(resource.ObservableResource):
    """One LwM2M resource (or instance / object / root) of the device."""

    def __init__(self, device: Device, path: str) -> None:
        super().__init__()
        self.device = device
        self.path = Path.parse(path)
        self.observers = 0
        self.observers_changed = asyncio.Event()

    def update_observation_count(self, newcount: int) -> None:
        self.observers = newcount
        self.observers_changed.set()

    async def wait_observers(self, count: int) -> None:
        while self.observers != count:
            self.observers_changed.clear()
            await asyncio.wait_for(self.observers_changed.wait(), 2)

    def set(self, value: Any) -> None:
        self.device.values[self.path] = value
        self.updated_state()

    def _values(self) -> dict[Path, Any]:
        return {p: v for p, v in self.device.values.items() if self.path.is_prefix_of(p)}

    async def render_get(self, request: Message) -> Message:
        self.device.seen.append(request)
        accept = None if request.opt.accept is None else int(request.opt.accept)
        if accept == formats.LINK_FORMAT:
            links = [formats.Link.of(self.path)] + [formats.Link.of(p) for p in sorted(self._values())]
            return Message(payload=formats.encode_links(links), content_format=accept)
        values = self._values()
        if not values:
            return Message(code=Code.NOT_FOUND)
        if accept is None:
            accept = formats.TEXT if len(self.path) >= 3 else formats.SENML_CBOR
        if accept not in (formats.TEXT, formats.SENML_JSON, formats.SENML_CBOR, formats.TLV):
            return Message(code=Code.NOT_ACCEPTABLE)
        return Message(payload=formats.encode(accept, values, path=self.path), content_format=accept)

    async def render_put(self, request: Message) -> Message:
        self.device.seen.append(request)
        if not request.payload and request.opt.content_format is None:  # Write-Attributes
            return Message(code=Code.CHANGED)
        return self._write(request)

    def _write(self, request: Message) -> Message:
        if request.opt.content_format is None:
            return Message(code=Code.BAD_REQUEST)
        try:
            values = formats.decode(int(request.opt.content_format), request.payload, path=self.path)
        except FormatError:
            return Message(code=Code.UNSUPPORTED_CONTENT_FORMAT)
        self.device.values.update(values)
        return Message(code=Code.CHANGED)

    async def render_post(self, request: Message) -> Message:
        self.device.seen.append(request)
        if len(self.path) == 3:  # Execute
            return Message(code=Code.CHANGED)
        if len(self.path) == 1:  # Create
            return Message(code=Code.CREATED, location_path=(str(self.path.ids[0]), "7"))
        return self._write(request)  # Partial Update

    async def render_delete(self, request: Message) -> Message:
        self.device.seen.append(request)
        return Message(code=Code.DELETED)

    async def render_fetch(self, request: Message) -> Message:  # Read-/Observe-Composite
        self.device.seen.append(request)
        paths = formats.decode_paths(int(request.opt.content_format), request.payload)
        values = {p: v for p, v in self.device.values.items() if any(q.is_prefix_of(p) for q in paths)}
        accept = formats.SENML_CBOR if request.opt.accept is None else int(request.opt.accept)
        return Message(payload=formats.encode(accept, values), content_format=accept)

    async def render_ipatch(self, request: Message) -> Message:  # Write-Composite
        self.device.seen.append(request)
        return self._write(request)


class Device:
    """A minimal LwM2M client made of an aiocoap context and a Site."""

    def __init__(self) -> None:
        self.values: dict[Path, Any] = {
            Path.parse("/3/0/0"): "Acme",
            Path.parse("/3/0/1"): "Model 7",
            Path.parse("/3/0/13"): 1000,
            Path.parse("/3/0/14"): "+01",
        }
        self.seen: list[Message] = []
        self.site = resource.Site()
        self.nodes: dict[str, Node] = {}
        for path in ("/", "/3", "/3/0", "/3/0/0", "/3/0/1", "/3/0/4", "/3/0/13", "/3/0/14", "/3303", "/3303/7"):
            self.nodes[path] = node = Node(self, path)
            self.site.add_resource(tuple(s for s in path.split("/") if s), node)
        self.site.add_resource(("lwm2m", "3", "0", "0"), Node(self, "/3/0/0"))
        self.ctx: Any = None
        self.uri = ""

    async def start(self, server: LwM2MTestServer) -> Device:
        self.uri = server.uri
        if server.transport == "udp":
            self.ctx = await aiocoap.Context.create_server_context(
                self.site, bind=("127.0.0.1", 0), transports=["udp6"]
            )
        else:
            self.ctx = await aiocoap.Context.create_server_context(self.site, transports=["tcpclient"])
        return self

    @property
    def port(self) -> int:
        interface = self.ctx.request_interfaces[0].token_interface.message_interface
        return int(interface.transport.get_extra_info("socket").getsockname()[1])

    async def stop(self) -> None:
        await self.ctx.shutdown()

    async def request(
        self, code: Code, path_and_query: str, payload: bytes = b"", content_format: int | None = None
    ) -> Message:
        message = Message(code=code, uri=self.uri + path_and_query, payload=payload, transport_tuning=Fast())
        if content_format is not None:
            message.opt.content_format = content_format
        return await self.ctx.request(message).response

    async def register(
        self, query: str = "ep=dev1&lt=60&lwm2m=1.2&b=U", payload: bytes = LINKS_1_2, content_format: int | None = 40
    ) -> Message:
        return await self.request(Code.POST, "/rd?" + query if query else "/rd", payload, content_format)


async def started(server: LwM2MTestServer) -> Device:
    return await Device().start(server)


def with_device(
    scenario: Callable[[LwM2MTestServer, Device], Awaitable[None]], **options: Any
) -> Callable[[], Awaitable[None]]:
    async def main() -> None:
        async with LwM2MTestServer(**options) as server:
            device = await started(server)
            try:
                await scenario(server, device)
            finally:
                await device.stop()

    return main


async def registered(server: LwM2MTestServer, device: Device, query: str = "ep=dev1&lt=60&lwm2m=1.2&b=U") -> None:
    response = await device.register(query)
    assert response.code == Code.CREATED, response.payload
    await server.wait_registration("dev1")


# --- Registration interface ------------------------------------------------------------------


def test_register_answers_created_with_location_and_records_the_registration() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        assert server.uri == f"coap://127.0.0.1:{server.port}" and server.port != 0
        response = await device.register("ep=dev1&lt=60&lwm2m=1.2&b=U")
        assert response.code == Code.CREATED
        assert response.opt.location_path[0] == "rd" and len(response.opt.location_path) == 2

        registration = await server.wait_registration("dev1")
        assert registration.location == "/" + "/".join(response.opt.location_path)
        assert (registration.endpoint, registration.lifetime, registration.version) == ("dev1", 60, "1.2")
        assert (registration.binding, registration.queue_mode, registration.root_path) == ("U", False, "/")
        assert registration.objects == [Path.parse(p) for p in ("/1/0", "/3", "/3/0", "/3303/0")]
        assert registration.content_formats == [60, 110, 112, 11542]
        assert registration.remote_address == f"127.0.0.1:{device.port}"
        assert server.registrations == {"dev1": registration}
        assert [(e.direction, e.kind, e.code, e.path) for e in server.log] == [
            ("in", "request", "POST", "/rd"),
            ("out", "response", "2.01", "/rd"),
        ]
        assert server.log[0].payload_hex == LINKS_1_2.hex() and "cf=40" in server.log[0].options

    run(with_device(scenario)())


def test_register_defaults_and_queue_mode() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        assert (await device.register("ep=q&lwm2m=1.1&Q")).code == Code.CREATED
        registration = await server.wait_registration("q")
        assert (registration.lifetime, registration.binding, registration.queue_mode) == (86400, "U", True)
        assert (await device.register("ep=old&b=UQ", LINKS_1_0)).code == Code.CREATED  # no lwm2m: 1.0
        registration = await server.wait_registration("old")
        assert (registration.version, registration.binding, registration.queue_mode) == ("1.0", "UQ", True)

    run(with_device(scenario)())


BAD_REGISTERS = {
    "no ep": ("lt=60&lwm2m=1.2", LINKS_1_2, 40, "mandatory parameter ep"),
    "empty ep": ("ep=&lwm2m=1.2", LINKS_1_2, 40, "needs a value"),
    "ep twice": ("ep=a&ep=b&lwm2m=1.2", LINKS_1_2, 40, "given twice"),
    "unknown param": ("ep=a&lwm2m=1.2&foo=1", LINKS_1_2, 40, "unknown Register parameter"),
    "pid in 1.1": ("ep=a&lwm2m=1.1&pid=7", LINKS_1_2, 40, "unknown Register parameter"),
    "lt zero": ("ep=a&lt=0&lwm2m=1.2", LINKS_1_2, 40, "lifetime"),
    "lt text": ("ep=a&lt=soon&lwm2m=1.2", LINKS_1_2, 40, "lifetime"),
    "bad binding letter": ("ep=a&lwm2m=1.2&b=UX", LINKS_1_2, 40, "unknown binding letter"),
    "Q in b for 1.1": ("ep=a&lwm2m=1.1&b=UQ", LINKS_1_2, 40, "separate 'Q' parameter"),
    "repeated binding": ("ep=a&lwm2m=1.2&b=UU", LINKS_1_2, 40, "repeats"),
    "Q with value": ("ep=a&lwm2m=1.2&Q=1", LINKS_1_2, 40, "flag without value"),
    "Q in 1.0": ("ep=a&lwm2m=1.0&Q", LINKS_1_0, 40, "unknown Register parameter"),
    "bad 1.0 binding": ("ep=a&lwm2m=1.0&b=T", LINKS_1_0, 40, "1.0 binding mode"),
    "sms with plus": ("ep=a&lwm2m=1.2&sms=%2B4915100000", LINKS_1_2, 40, "MSISDN"),
    "malformed version": ("ep=a&lwm2m=one", LINKS_1_2, 40, "not a version"),
    "no payload": ("ep=a&lwm2m=1.2", b"", None, "must list the objects"),
    "no content-format": ("ep=a&lwm2m=1.2", LINKS_1_2, None, "no Content-Format"),
    "wrong content-format": ("ep=a&lwm2m=1.2", LINKS_1_2, 0, "content-format 0"),
    "not link format": ("ep=a&lwm2m=1.2", b"</3/0", 40, "not CoRE link format"),
    "security object": ("ep=a&lwm2m=1.2", b"</0/0>,</3/0>", 40, "Security object"),
    "oscore object": ("ep=a&lwm2m=1.2", b"</3/0>,</21/0>", 40, "OSCORE object"),
    "resource link": ("ep=a&lwm2m=1.2", b"</3/0>,</3/0/1>", 40, "not resources"),
    "duplicate link": ("ep=a&lwm2m=1.2", b"</3/0>,</3/0>", 40, "listed twice"),
    "bad ver": ("ep=a&lwm2m=1.2", b"</3>;ver=1,</3/0>", 40, "major.minor"),
    "root link in 1.0": ("ep=a&lwm2m=1.0", b'</>;rt="oma.lwm2m",</3/0>', 40, "LwM2M 1.1+"),
    "numeric alternate path": ("ep=a&lwm2m=1.2", b'</7>;rt="oma.lwm2m",</7/3/0>', 40, "numerical"),
    "bad ct": ("ep=a&lwm2m=1.2", b'</>;rt="oma.lwm2m";ct=json,</3/0>', 40, "content-format numbers"),
    "not an LwM2M path": ("ep=a&lwm2m=1.2", b"</3/0>,</sensors/temp>", 40, "not an LwM2M object"),
}


@pytest.mark.parametrize("case", list(BAD_REGISTERS), ids=list(BAD_REGISTERS))
def test_register_violations_get_4_00_with_the_reason(case: str) -> None:
    query, payload, content_format, reason = BAD_REGISTERS[case]

    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        response = await device.register(query, payload, content_format)
        assert response.code == Code.BAD_REQUEST
        rejection = await server.wait_rejection("register")
        assert rejection.code == "4.00"
        assert reason in rejection.reason
        assert response.payload.decode() == rejection.reason  # the client sees why, too
        assert server.registrations == {}

    run(with_device(scenario)())


def test_unsupported_version_gets_4_12() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        response = await device.register("ep=dev1&lwm2m=1.2")
        assert response.code == Code.PRECONDITION_FAILED
        rejection = await server.wait_rejection("register")
        assert (rejection.code, rejection.endpoint) == ("4.12", "dev1")
        assert "1.2 is not supported" in rejection.reason
        # the client falls back to 1.0
        assert (await device.register("ep=dev1&lwm2m=1.0", LINKS_1_0)).code == Code.CREATED
        assert (await server.wait_registration("dev1")).version == "1.0"

    run(with_device(scenario, supported_versions=("1.0",))())


def test_unknown_future_version_gets_4_12() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        assert (await device.register("ep=dev1&lwm2m=1.3")).code == Code.PRECONDITION_FAILED

    run(with_device(scenario)())


def test_update_changes_the_registration_and_unknown_location_is_4_04() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        registration = server.registrations["dev1"]
        response = await device.request(Code.POST, registration.location + "?lt=120&b=UT")
        assert response.code == Code.CHANGED
        update = await server.wait_update("dev1")
        assert (update.lifetime, update.binding, update.links, update.remote_changed) == (120, "UT", None, False)
        assert (registration.lifetime, registration.binding, registration.updates) == (120, "UT", [update])

        response = await device.request(Code.POST, registration.location, b"</3/0>,</5/0>", 40)
        assert response.code == Code.CHANGED
        assert (await server.wait_update("dev1")).links is not None
        assert registration.objects == [Path.parse("/3/0"), Path.parse("/5/0")]

        response = await device.request(Code.POST, registration.location + "?ep=dev1")
        assert response.code == Code.BAD_REQUEST
        assert "unknown Update parameter" in (await server.wait_rejection("update")).reason
        response = await device.request(Code.POST, registration.location, b"</0/0>", 40)
        assert response.code == Code.BAD_REQUEST
        assert "Security object" in (await server.wait_rejection("update")).reason

        response = await device.request(Code.POST, "/rd/nosuchid?lt=60")
        assert response.code == Code.NOT_FOUND
        assert (await server.wait_rejection("update")).code == "4.04"

    run(with_device(scenario)())


def test_deregister_deletes_and_a_second_delete_is_4_04() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        location = server.registrations["dev1"].location
        assert (await device.request(Code.DELETE, location)).code == Code.DELETED
        gone = await server.wait_deregistration("dev1")
        assert gone.removed == "deregistered" and not gone.active
        assert server.registrations == {}
        assert (await device.request(Code.DELETE, location)).code == Code.NOT_FOUND
        assert (await device.request(Code.GET, "/rd")).code == Code.METHOD_NOT_ALLOWED

    run(with_device(scenario)())


def test_registering_again_replaces_the_old_registration() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        first = server.registrations["dev1"]
        await registered(server, device)
        second = server.registrations["dev1"]
        assert first.removed == "replaced" and second.active and first.location != second.location
        assert (await device.request(Code.POST, first.location)).code == Code.NOT_FOUND

    run(with_device(scenario)())


def test_registration_expires_when_its_lifetime_elapses() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device, "ep=dev1&lt=5&lwm2m=1.2")  # 5 s x 0.01 = 50 ms
        registration = server.registrations["dev1"]
        gone = await server.wait_deregistration("dev1", timeout=3)
        assert gone is registration and gone.removed == "expired"
        assert (await device.request(Code.POST, registration.location)).code == Code.NOT_FOUND
        assert any(e.kind == "event" and "expired" in e.options for e in server.log)

    run(with_device(scenario, lifetime_scale=0.01)())


# --- Device Management -----------------------------------------------------------------


def test_read_round_trips_over_the_register_socket() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        response = await server.read("dev1", "/3/0/0")
        assert (response.code, response.ok, response.content_format) == ("2.05", True, 0)
        assert response.values == {Path.parse("/3/0/0"): "Acme"} and response.value == "Acme"
        assert response.mtype == "ACK"

        response = await server.read("dev1", "/3/0", accept="senml-cbor")
        assert response.content_format == 112
        assert response.values is not None and response.values[Path.parse("/3/0/1")] == "Model 7"
        assert int(device.seen[-1].opt.accept) == 112

        assert (await server.read("dev1", "/3/0", accept=11543)).code == "4.06"
        assert (await server.read("dev1", "/4/0")).code == "4.04"
        sent = [e for e in server.log if e.direction == "out" and e.kind == "request"]
        assert (sent[0].code, sent[0].path) == ("GET", "/3/0/0")

    run(with_device(scenario)())


def test_write_execute_create_delete() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        response = await server.write("dev1", "/3/0/14", "+02", content_format="text")
        assert response.code == "2.04" and device.values[Path.parse("/3/0/14")] == "+02"
        assert device.seen[-1].code == Code.PUT

        response = await server.write("dev1", "/3/0", {"/3/0/14": "+03"}, content_format=112, replace=False)
        assert response.code == "2.04" and device.values[Path.parse("/3/0/14")] == "+03"
        assert device.seen[-1].code == Code.POST and int(device.seen[-1].opt.content_format) == 112

        assert (await server.write("dev1", "/3/0/14", b"\xff\x00", content_format=112)).code == "4.15"

        response = await server.execute("dev1", "/3/0/4", "0='now'")
        assert response.code == "2.04"
        assert (device.seen[-1].payload, int(device.seen[-1].opt.content_format)) == (b"0='now'", 0)
        assert (await server.execute("dev1", "/3/0/4")).code == "2.04" and device.seen[-1].payload == b""

        response = await server.create("dev1", "/3303", {5700: 21.5}, content_format="tlv")
        assert (response.code, response.location) == ("2.01", "/3303/7")
        created = formats.decode(11542, device.seen[-1].payload, path="/3303/0")
        assert created == {Path.parse("/3303/0/5700"): 21.5}
        response = await server.create("dev1", "/3303", {5700: 1.0}, content_format=112, instance_id=3)
        assert formats.decode(112, device.seen[-1].payload, path="/3303") == {Path.parse("/3303/3/5700"): 1.0}

        assert (await server.delete("dev1", "/3303/7")).code == "2.02"
        assert device.seen[-1].code == Code.DELETE

    run(with_device(scenario)())


def test_discover_and_write_attributes() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        response = await server.discover("dev1", "/3/0", depth=1)
        assert response.code == "2.05" and response.links is not None
        assert [link.target for link in response.links][:2] == ["/3/0", "/3/0/0"]
        assert device.seen[-1].opt.uri_query == ("depth=1",) and int(device.seen[-1].opt.accept) == 40

        response = await server.write_attributes("dev1", "/3/0/13", pmin=10, pmax=None, gt=20.5, edge=True)
        assert response.code == "2.04"
        request = device.seen[-1]
        assert request.code == Code.PUT and request.payload == b"" and request.opt.content_format is None
        assert request.opt.uri_query == ("pmin=10", "pmax", "gt=20.5", "edge=1")

    run(with_device(scenario)())


def test_generic_request_and_unknown_endpoint() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        assert (await server.request("dev1", "PATCH", "/3/0/0")).code == "4.05"
        with pytest.raises(ValueError, match="method"):
            await server.request("dev1", "BREW", "/3/0/0")
        with pytest.raises(NotRegisteredError, match="nobody"):
            await server.read("nobody", "/3/0/0")

    run(with_device(scenario)())


def test_alternate_path_is_prefixed_to_server_requests() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        response = await device.register("ep=alt&lwm2m=1.2", b'</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>', 40)
        assert response.code == Code.CREATED
        registration = await server.wait_registration("alt")
        assert (registration.root_path, registration.objects) == ("/lwm2m", [Path.parse("/3/0")])
        response = await server.read("alt", "/3/0/0")
        assert response.value == "Acme" and device.seen[-1].get_request_uri().endswith("/lwm2m/3/0/0")

    run(with_device(scenario)())


def test_request_to_a_silent_client_fails_with_a_timeout() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        server.drop_next(10, "in")  # every answer of the device is lost
        with pytest.raises(RequestFailedError, match="no response"):
            await server.read("dev1", "/3/0/0", timeout=0.3)

    run(with_device(scenario, transport_tuning=Fast())())


# --- Information Reporting ------------------------------------------------------------


def test_observe_notifications_and_active_cancel() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        node = device.nodes["/3/0/13"]
        observation = await server.observe("dev1", "/3/0/13", pmin=1)
        assert observation.established and observation.response is not None
        assert observation.response.value == 1000 and observation.response.observe is not None
        assert device.seen[-1].opt.uri_query == ("pmin=1",)
        await node.wait_observers(1)

        node.set(1001)
        first = await observation.next(timeout=2)
        node.set(1002)
        second = await observation.next(timeout=2)
        assert (first.value, second.value) == (1001, 1002)
        assert first.observe is not None and second.observe is not None and second.observe > first.observe
        assert first.mtype == "CON" and second.received_at >= first.received_at
        assert observation.notifications == [first, second]

        reply = await observation.cancel("get")
        assert reply is not None and reply.code == "2.05" and reply.observe is None
        cancel_request = device.seen[-1]
        assert cancel_request.opt.observe == 1 and bytes(cancel_request.token) == observation.token
        await node.wait_observers(0)
        assert not observation.active
        with pytest.raises(ObservationEndedError):
            await observation.next(timeout=1)

    run(with_device(scenario)())


def test_observe_forget_answers_the_next_notification_with_rst() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        node = device.nodes["/3/0/13"]
        observation = await server.observe("dev1", "/3/0/13")
        await node.wait_observers(1)
        assert await observation.cancel("forget") is None
        node.set(2000)  # a CON notification the server no longer wants
        await node.wait_observers(0)
        assert any(e.kind == "reset" and e.direction == "out" for e in server.log)
        assert observation.notifications == []

    run(with_device(scenario)())


def test_observe_refused_by_the_client_is_not_established() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        observation = await server.observe("dev1", "/3/0", accept=11543)
        assert observation.response is not None and observation.response.code == "4.06"
        assert not observation.established and not observation.active
        assert [n async for n in observation] == []

    run(with_device(scenario)())


def test_composite_operations() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        response = await server.read_composite("dev1", ["/3/0/0", "/3/0/13"], accept=112)
        assert response.values == {Path.parse("/3/0/0"): "Acme", Path.parse("/3/0/13"): 1000}
        request = device.seen[-1]
        assert request.code == Code.FETCH and int(request.opt.content_format) == 322

        response = await server.write_composite("dev1", {"/3/0/14": "+05", "/3/0/1": "Model 8"})
        assert response.code == "2.04" and device.seen[-1].code == Code.iPATCH
        assert device.values[Path.parse("/3/0/14")] == "+05"

        observation = await server.observe_composite("dev1", ["/3/0/13"], accept=110, pmax=30)
        assert observation.established and observation.paths == ["/3/0/13"]
        assert device.seen[-1].opt.uri_query == ("pmax=30",)
        device.nodes["/"].updated_state()
        note = await observation.next(timeout=2)
        assert note.content_format == 110 and note.values == {Path.parse("/3/0/13"): 1000}
        reply = await observation.cancel()
        assert reply is not None and reply.code == "2.05"
        assert device.seen[-1].code == Code.FETCH and device.seen[-1].opt.observe == 1

    run(with_device(scenario)())


def test_send_is_decoded_and_checked() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        payload = b'[{"bn":"/3303/0/","n":"5700","v":21.5,"t":1700000000},{"bn":"/3/0/","n":"13","v":5}]'
        assert (await device.request(Code.POST, "/dp", payload, 110)).code == Code.CHANGED
        report = await server.wait_send("dev1")
        assert report.content_format == 110 and report.payload == payload
        assert report.values == {Path.parse("/3/0/13"): 5, Path.parse("/3303/0/5700"): 21.5}
        assert report.records[0].time == 1700000000
        assert server.sends == [report]

        assert (await device.request(Code.POST, "/dp", payload, 0)).code == Code.UNSUPPORTED_CONTENT_FORMAT
        assert (await device.request(Code.POST, "/dp", payload)).code == Code.BAD_REQUEST
        assert (await device.request(Code.POST, "/dp", b"[{", 110)).code == Code.BAD_REQUEST
        unregistered = b'[{"n":"/6/0/0","v":43.6}]'
        assert (await device.request(Code.POST, "/dp", unregistered, 110)).code == Code.NOT_FOUND
        assert "/6" in server.rejections[-1].reason and server.rejections[-1].endpoint == "dev1"
        assert [r.code for r in server.rejections] == ["4.15", "4.00", "4.00", "4.04"]

        stranger = await started(server)
        try:
            assert (await stranger.request(Code.POST, "/dp", payload, 110)).code == Code.NOT_FOUND
        finally:
            await stranger.stop()

    run(with_device(scenario)())


# --- fault injection ------------------------------------------------------------------


def test_drop_next_incoming_forces_a_retransmission() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        server.drop_next(2)
        assert server.pending_drops == (2, 0)
        assert (await device.register()).code == Code.CREATED
        await server.wait_registration("dev1")
        assert server.dropped == 2 and server.pending_drops == (0, 0)
        kinds = [e.kind for e in server.log]
        assert kinds[:3] == ["dropped", "dropped", "request"]
        assert server.log[0].mtype == "CON" and server.log[0].code == "0.02"

    run(with_device(scenario)())


def test_drop_next_outgoing_loses_the_response_once() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        server.drop_next(1, "out")
        assert (await device.register()).code == Code.CREATED
        registration = await server.wait_registration("dev1")
        assert server.dropped == 1
        # aiocoap's deduplication answers the retransmitted Register from its cache
        assert [r.location for r in server._registered.items] == [registration.location]

    run(with_device(scenario)())


def test_drop_next_is_udp_only() -> None:
    server = LwM2MTestServer(transport="tcp")
    with pytest.raises(Exception, match="UDP"):
        server.drop_next(1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_restart_forgets_registrations_and_the_client_must_register_again(transport: str) -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        old = server.registrations["dev1"]
        port = server.port
        await server.restart()
        assert server.port == port and server.registrations == {} and old.removed == "restarted"
        response = await device.request(Code.POST, old.location + "?lt=60")
        assert response.code == Code.NOT_FOUND
        assert (await device.register()).code == Code.CREATED
        new = await server.wait_registration("dev1")
        assert new is not old and new.active
        assert (await server.read("dev1", "/3/0/0")).value == "Acme"

    run(with_device(scenario, transport=transport)())


def test_forget_drops_one_registration() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        await registered(server, device)
        location = server.forget("dev1").location
        assert (await device.request(Code.POST, location)).code == Code.NOT_FOUND

    run(with_device(scenario)())


# --- TCP ------------------------------------------------------------------------------


def test_tcp_register_and_read_over_the_same_connection() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        assert server.uri == f"coap+tcp://127.0.0.1:{server.port}" and server.port not in (0, 5683)
        response = await device.register("ep=tcp1&lwm2m=1.2&b=T")
        assert response.code == Code.CREATED
        registration = await server.wait_registration("tcp1")
        assert registration.transport == "tcp" and registration.binding == "T"
        response = await server.read("tcp1", "/3/0/0")
        assert (response.code, response.value, response.mtype) == ("2.05", "Acme", None)
        observation = await server.observe("tcp1", "/3/0/13")
        device.nodes["/3/0/13"].set(7)
        assert (await observation.next(timeout=2)).value == 7
        assert (await observation.cancel()) is not None

    run(with_device(scenario, transport="tcp")())


# --- pytest plugin --------------------------------------------------------------------


def test_fixture_runs_a_scenario(lwm2m_server: LwM2MServerFactory) -> None:  # noqa: F811
    async def scenario(server: LwM2MTestServer) -> str:
        device = await started(server)
        try:
            await device.register("ep=fx&lwm2m=1.1", b"</3/0>")
            return (await server.wait_registration("fx")).version
        finally:
            await device.stop()

    assert lwm2m_server.run(scenario, supported_versions=("1.1",)) == "1.1"
    assert lwm2m_server(transport="tcp").transport == "tcp"



def test_send_from_a_lwm2m_1_0_registration_is_refused() -> None:
    async def scenario(server: LwM2MTestServer, device: Device) -> None:
        registration = await device.register("ep=dev1&lt=60&lwm2m=1.0&b=U", payload=b"</1/0>,</3/0>")
        assert registration.code == Code.CREATED, registration.payload
        send = formats.encode(112, {"/3/0/13": 1000})
        response = await device.request(Code.POST, "/dp", send, 112)
        assert response.code == Code.METHOD_NOT_ALLOWED
        assert b"no Send" in response.payload

    run(with_device(scenario)())
