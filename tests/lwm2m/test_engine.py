"""The sans-IO request engine: every Device Management operation and its error codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.lwm2m import Path, default_registry, formats
from m2mclient.lwm2m.engine import Engine, Method, Request, Response
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance

REGISTRY = default_registry()


def make_engine(version: str = "1.2") -> tuple[Engine, ObjectInstance]:
    device = ObjectInstance(
        REGISTRY.get(3),  # type: ignore[arg-type]
        0,
        {0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 6: [1, 5], 9: 95, 11: [0], 13: 1367491215, 16: "U"},
    )
    executed: list[str | None] = []
    device.on_execute(4, executed.append)
    device.executed = executed  # type: ignore[attr-defined]
    server = ObjectInstance(REGISTRY.get(1), 0, {0: 101, 1: 86400, 6: True, 7: "U"})  # type: ignore[arg-type]
    security = ObjectInstance(REGISTRY.get(0), 0, {0: "coap://127.0.0.1", 1: False, 2: 3, 10: 101})  # type: ignore[arg-type]
    temperature = ObjectInstance(REGISTRY.get(3303), 0, {5700: 21.5, 5701: "Cel"})  # type: ignore[arg-type]
    objects = [
        LwM2MObject(REGISTRY.get(0), [security]),  # type: ignore[arg-type]
        LwM2MObject(REGISTRY.get(1), [server]),  # type: ignore[arg-type]
        LwM2MObject(REGISTRY.get(3), [device], allow_create=False, allow_delete=False),  # type: ignore[arg-type]
        LwM2MObject(REGISTRY.get(3303), [temperature]),  # type: ignore[arg-type]
    ]
    return Engine(objects, registry=REGISTRY, version=version), device


def call(engine: Engine, method: Method, path: str, **options: object) -> Response:
    return engine.handle(Request(method, Path.parse(path), **options))  # type: ignore[arg-type]


def test_read_single_resource_defaults_to_text() -> None:
    engine, _ = make_engine()
    response = call(engine, Method.GET, "/3/0/0")
    assert (response.code, response.content_format, response.payload) == ("2.05", 0, b"Open Mobile Alliance")


@pytest.mark.parametrize("accept", [11542, 110, 112, 11543, 11544])
def test_read_instance_in_each_accepted_format(accept: int) -> None:
    engine, _ = make_engine()
    response = call(engine, Method.GET, "/3/0", accept=accept)
    assert response.code == "2.05" and response.content_format == accept
    values = formats.decode(accept, response.payload, path="/3/0")
    assert values[Path.parse("/3/0/6/1")] == 5 and values[Path.parse("/3/0/9")] == 95
    assert Path.parse("/3/0/4") not in values  # executable resources are not read


def test_read_object_resource_and_resource_instance() -> None:
    engine, _ = make_engine()
    whole = call(engine, Method.GET, "/3", accept=112)
    assert formats.decode(112, whole.payload, path="/3")[Path.parse("/3/0/16")] == "U"
    multi = call(engine, Method.GET, "/3/0/6")
    assert multi.content_format == 112  # a multiple resource needs a multi-value format
    assert formats.decode(112, multi.payload, path="/3/0/6") == {Path.parse("/3/0/6/0"): 1, Path.parse("/3/0/6/1"): 5}
    one = call(engine, Method.GET, "/3/0/6/1", accept=0)
    assert (one.code, one.payload) == ("2.05", b"5")


def test_lwm2m_1_0_servers_get_tlv_and_cannot_ask_for_senml() -> None:
    engine, _ = make_engine(version="1.0")
    assert call(engine, Method.GET, "/3/0").content_format == 11542
    assert call(engine, Method.GET, "/3/0", accept=112).code == "4.06"


@pytest.mark.parametrize(
    ("path", "options", "code"),
    [
        ("/5/0", {}, "4.04"),  # object not present
        ("/3/1", {}, "4.04"),
        ("/3/0/3", {}, "4.04"),  # defined but not present
        ("/3/0/4", {}, "4.05"),  # executable
        ("/3/0/0/0", {}, "4.04"),  # single resource has no instances
        ("/3/0/6/7", {}, "4.04"),
        ("/3/0", {"accept": 0}, "4.06"),  # text cannot carry an instance
        ("/3/0", {"accept": 50}, "4.06"),
        ("/0/0", {}, "4.01"),  # security is for the bootstrap server only
        ("/", {}, "4.05"),
    ],
)
def test_read_errors_use_the_spec_codes(path: str, options: dict[str, object], code: str) -> None:
    engine, _ = make_engine()
    response = call(engine, Method.GET, path, **options)
    assert response.code == code
    assert response.payload  # a diagnostic a person can read


def test_discover_lists_instances_resources_dim_and_attributes() -> None:
    engine, _ = make_engine()
    assert call(engine, Method.PUT, "/3/0/9", query=("pmin=10", "pmax=60")).code == "2.04"
    response = call(engine, Method.GET, "/3", accept=40)
    assert response.content_format == 40
    links = {link.target: dict(link.params) for link in formats.decode_links(response.payload)}
    assert links["/3"] == {"ver": "1.2"}
    assert links["/3/0/6"] == {"dim": "2"}
    assert links["/3/0/9"] == {"pmin": "10", "pmax": "60"}
    assert "/3/0/6/0" not in links
    deep = call(engine, Method.GET, "/3/0/6", accept=40, query=("depth=1",))
    assert [link.target for link in formats.decode_links(deep.payload)] == ["/3/0/6", "/3/0/6/0", "/3/0/6/1"]


def test_write_replace_partial_update_and_resource_instance() -> None:
    engine, device = make_engine()
    assert call(engine, Method.PUT, "/3/0/14", content_format=0, payload=b"+02:00").code == "2.04"
    assert device.get(14) == "+02:00"
    payload = formats.encode(112, {"/3/0/15": "Europe/Berlin"}, path="/3/0")
    assert call(engine, Method.POST, "/3/0", content_format=112, payload=payload).code == "2.04"
    assert device.get(14) == "+02:00" and device.get(15) == "Europe/Berlin"
    # Replace on the instance drops the writable optional resources it leaves out.
    payload = formats.encode(11542, {"/3/0/15": "UTC"}, path="/3/0")
    assert call(engine, Method.PUT, "/3/0", content_format=11542, payload=payload).code == "2.04"
    assert not device.has_resource(14) and device.get(15) == "UTC"


def test_write_multiple_resource_replace_vs_merge() -> None:
    engine, _ = make_engine()
    server = engine.objects[1].instances[0]
    versions = "/1/0/25"
    put = formats.encode(112, {f"{versions}/0": "1.1", f"{versions}/1": "1.2"}, path=versions)
    assert call(engine, Method.PUT, versions, content_format=112, payload=put).code == "2.04"
    assert server.get(25) == {0: "1.1", 1: "1.2"}
    post = formats.encode(112, {f"{versions}/5": "2.0"}, path=versions)
    assert call(engine, Method.POST, versions, content_format=112, payload=post).code == "2.04"
    assert server.get(25) == {0: "1.1", 1: "1.2", 5: "2.0"}  # partial update merges instances
    one = formats.encode(0, {f"{versions}/1": "1.0"}, path=f"{versions}/1")
    assert call(engine, Method.PUT, f"{versions}/1", content_format=0, payload=one).code == "2.04"
    assert server.get(25) == {0: "1.1", 1: "1.0", 5: "2.0"}  # one instance written, siblings kept
    assert call(engine, Method.PUT, versions, content_format=112, payload=post).code == "2.04"
    assert server.get(25) == {5: "2.0"}  # replace drops the instances left out
    empty = formats.encode(11542, {}, path=versions)
    assert call(engine, Method.PUT, versions, content_format=11542, payload=empty).code == "2.04"
    assert server.get(25) == {}


@pytest.mark.parametrize(
    ("method", "path", "options", "code"),
    [
        (Method.PUT, "/3/0/0", {"content_format": 0, "payload": b"x"}, "4.05"),  # read-only
        (Method.PUT, "/3/0/9", {"content_format": 0, "payload": b"x"}, "4.05"),
        (Method.PUT, "/3/0/14", {"payload": b"x"}, "4.00"),  # no content format
        (Method.PUT, "/3/0/14", {"content_format": 1234, "payload": b"x"}, "4.15"),
        (Method.PUT, "/3/0/14", {"content_format": 11542, "payload": b"\xc8"}, "4.00"),  # malformed
        (Method.PUT, "/3/0/13", {"content_format": 0, "payload": b"soon"}, "4.00"),  # wrong type
        (Method.PUT, "/3/0/99", {"content_format": 0, "payload": b"1"}, "4.04"),
        (Method.PUT, "/3", {"content_format": 112, "payload": b"\x80"}, "4.05"),
        (Method.POST, "/3/0/0", {}, "4.05"),  # not executable
        (Method.POST, "/3/0/6/0", {}, "4.05"),
        (Method.DELETE, "/3/0/1", {}, "4.05"),
        (Method.DELETE, "/3/0", {}, "4.05"),  # the application forbade it
        (Method.DELETE, "/3303/9", {}, "4.04"),
        (Method.POST, "/3", {"content_format": 112, "payload": b"\x80"}, "4.05"),
    ],
)
def test_write_execute_delete_errors(method: Method, path: str, options: dict[str, object], code: str) -> None:
    engine, _ = make_engine()
    assert call(engine, method, path, **options).code == code


def test_a_rejected_write_changes_nothing() -> None:
    engine, device = make_engine()
    payload = formats.encode(112, {"/3/0/14": "+01:00", "/3/0/0": "Evil Corp"}, path="/3/0")
    assert call(engine, Method.POST, "/3/0", content_format=112, payload=payload).code == "4.05"
    assert not device.has_resource(14) and device.get(0) == "Open Mobile Alliance"


def test_execute_with_and_without_arguments() -> None:
    engine, device = make_engine()
    assert call(engine, Method.POST, "/3/0/4").code == "2.04"
    assert call(engine, Method.POST, "/3/0/4", payload=b"0='now',1").code == "2.04"
    assert device.executed == [None, "0='now',1"]  # type: ignore[attr-defined]
    assert call(engine, Method.POST, "/3/0/4", payload=b"now").code == "4.00"
    assert call(engine, Method.POST, "/3/0/5").code == "4.05"  # factory reset has no handler here


def test_create_with_and_without_instance_id_then_delete() -> None:
    engine, _ = make_engine()
    payload = formats.encode(112, {"/3303/5/5700": 19.0, "/3303/5/5701": "Cel"}, path="/3303")
    created = call(engine, Method.POST, "/3303", content_format=112, payload=payload)
    assert (created.code, created.location_path) == ("2.01", ("3303", "5"))
    assert call(engine, Method.GET, "/3303/5/5700").payload == b"19.0"
    assert call(engine, Method.POST, "/3303", content_format=112, payload=payload).code == "4.00"  # exists
    bare = formats.encode(11542, {"/3303/1/5700": 20.0}, path="/3303/1")  # TLV without an instance wrapper
    created = call(engine, Method.POST, "/3303", content_format=11542, payload=bare)
    assert (created.code, created.location_path) == ("2.01", ("3303", "1"))
    assert call(engine, Method.DELETE, "/3303/5").code == "2.02"
    assert call(engine, Method.GET, "/3303/5").code == "4.04"
    assert call(engine, Method.POST, "/3", content_format=112, payload=b"\x80").code == "4.05"


def test_create_requires_mandatory_writable_resources() -> None:
    engine, _ = make_engine()
    engine.objects[1].allow_create = True
    payload = formats.encode(112, {"/1/1/0": 102}, path="/1")
    response = call(engine, Method.POST, "/1", content_format=112, payload=payload)
    assert response.code == "4.00" and b"Lifetime" in response.payload


def test_write_attributes_validation_and_removal() -> None:
    engine, _ = make_engine()
    assert call(engine, Method.PUT, "/3303/0/5700", query=("gt=30", "lt=10", "st=1")).code == "2.04"
    assert call(engine, Method.PUT, "/3303/0/5700", query=("pmin=20", "pmax=10")).code == "4.00"
    assert call(engine, Method.PUT, "/3/0/0", query=("gt=1",)).code == "4.00"  # string resource
    assert call(engine, Method.PUT, "/3/9", query=("pmin=1",)).code == "4.04"
    assert call(engine, Method.PUT, "/3303/0/5700", query=("gt",)).code == "2.04"
    attached = engine.attributes.attached(0, Path.parse("/3303/0/5700"))
    assert attached.gt is None and attached.lt == 10


def test_read_and_write_composite() -> None:
    engine, device = make_engine()
    body = formats.encode_paths(322, ["/3/0/0", "/3303/0/5700", "/5/0"])  # /5/0 is absent: left out
    response = call(engine, Method.FETCH, "/", content_format=322, payload=body, accept=110)
    assert response.code == "2.05" and response.content_format == 110
    assert formats.decode(110, response.payload) == {
        Path.parse("/3/0/0"): "Open Mobile Alliance",
        Path.parse("/3303/0/5700"): 21.5,
    }
    patch = formats.encode(112, {"/3/0/14": "+05:00", "/3303/0/5750": "fridge"})
    assert call(engine, Method.IPATCH, "/", content_format=112, payload=patch).code == "2.04"
    assert device.get(14) == "+05:00"
    bad = formats.encode(112, {"/3/0/15": "Asia/Tokyo", "/3/0/1": "nope"})
    assert call(engine, Method.IPATCH, "/", content_format=112, payload=bad).code == "4.05"
    assert not device.has_resource(15)  # all or nothing
    assert call(engine, Method.FETCH, "/", content_format=322, payload=body, accept=11542).code == "4.06"


def test_changes_are_signalled_to_listeners() -> None:
    engine, device = make_engine()
    seen: list[Path] = []
    device.add_listener(seen.append)
    call(engine, Method.PUT, "/3/0/14", content_format=0, payload=b"Z")
    device.set(9, 94)
    device.set(9, 94)  # unchanged: no signal
    assert seen == [Path.parse("/3/0/14"), Path.parse("/3/0/9")]


@given(
    method=st.sampled_from(list(Method)),
    path=st.lists(st.integers(0, 4000), max_size=4).map(lambda ids: Path(tuple(ids))),
    content_format=st.sampled_from([None, 0, 11542, 110, 112, 11543, 11544, 320, 322, 40, 42, 60, 99]),
    accept=st.sampled_from([None, 0, 11542, 112, 40, 60]),
    payload=st.binary(max_size=40),
    query=st.lists(st.sampled_from(["pmin=1", "pmax=0", "gt=5", "depth=1", "st=-1", "x=y", "pmin"]), max_size=3),
)
def test_any_request_gets_a_coap_answer(
    method: Method, path: Path, content_format: int | None, accept: int | None, payload: bytes, query: list[str]
) -> None:
    engine, _ = make_engine()
    response = engine.handle(Request(method, path, tuple(query), content_format, accept, payload))
    assert response.code[0] in "24" and len(response.code) == 4
