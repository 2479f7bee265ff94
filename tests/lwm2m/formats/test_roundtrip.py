"""Every resource type through every value format, via the one public entry point.

Codec-specific vectors live beside each codec's tests; this file proves the
formats agree with each other and with the registry's types.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import FormatError, UnsupportedFormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import FormatKind
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ObjLnk, Path, ResourceDefinition, Value
from m2mclient.lwm2m.registry import Registry

OBJECT = 9001
TYPES = [t for t in DataType if t is not DataType.NONE]
# Resource r (single) and r + 100 (multiple-instance) for each type.
REGISTRY = Registry(
    [
        ObjectDefinition(
            OBJECT,
            "Every type",
            {i: ResourceDefinition(i, t.value, t) for i, t in enumerate(TYPES)}
            | {100 + i: ResourceDefinition(100 + i, t.value + "s", t, multiple=True) for i, t in enumerate(TYPES)},
        )
    ]
)

VALUES: dict[DataType, st.SearchStrategy[Value]] = {
    DataType.STRING: st.text(max_size=20),
    DataType.CORELNK: st.from_regex(r"</[0-9]{1,3}(/[0-9]{1,3})?>(;[a-z]{1,4}=[0-9]{1,3})?", fullmatch=True),
    DataType.INTEGER: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    DataType.UNSIGNED_INTEGER: st.integers(min_value=0, max_value=2**64 - 1),
    DataType.TIME: st.integers(min_value=0, max_value=2**40),
    DataType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    DataType.BOOLEAN: st.booleans(),
    DataType.OPAQUE: st.binary(max_size=20),
    DataType.OBJLNK: st.builds(ObjLnk, st.integers(0, 65535), st.integers(0, 65535)),
}

MULTI_VALUE_FORMATS = [
    f.name for f in formats.supported_formats() if f.kind is FormatKind.VALUES and not f.single_value
]
SINGLE_VALUE_FORMATS = ["text", "cbor"]
# Formats whose wire form carries full paths (SenML, LwM2M CBOR, OMA JSON) can also address the root.
ROOT_CAPABLE = [name for name in MULTI_VALUE_FORMATS if name != "tlv"]


@st.composite
def instance_values(draw: st.DrawFn) -> dict[Path, Value]:
    """Values for some resources of one object instance, single and multiple-instance."""
    instance = draw(st.integers(0, 65534))
    values: dict[Path, Value] = {}
    for index in draw(st.sets(st.integers(0, len(TYPES) - 1), min_size=1, max_size=4)):
        data_type = TYPES[index]
        if draw(st.booleans()):
            values[Path.of(OBJECT, instance, index)] = draw(VALUES[data_type])
        else:
            for resource_instance in draw(st.sets(st.integers(0, 65534), min_size=1, max_size=3)):
                values[Path.of(OBJECT, instance, 100 + index, resource_instance)] = draw(VALUES[data_type])
    return values


def same(a: dict[Path, Value], b: dict[Path, Value]) -> bool:
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        if isinstance(left, float) and isinstance(right, float):
            if not (left == right and math.copysign(1, left) == math.copysign(1, right)):
                return False
        elif type(left) is not type(right) or left != right:
            return False
    return True


@pytest.mark.parametrize("fmt", MULTI_VALUE_FORMATS)
@given(values=instance_values())
def test_object_instance_round_trips(fmt: str, values: dict[Path, Value]) -> None:
    base = next(iter(values)).parent if len(next(iter(values))) == 3 else next(iter(values)).parent.parent
    payload = formats.encode(fmt, values, path=base, registry=REGISTRY)
    assert same(formats.decode(fmt, payload, path=base, registry=REGISTRY), dict(sorted(values.items())))


@pytest.mark.parametrize("fmt", MULTI_VALUE_FORMATS)
@given(values=instance_values())
def test_object_level_round_trips(fmt: str, values: dict[Path, Value]) -> None:
    base = Path.of(OBJECT)
    payload = formats.encode(fmt, values, path=base, registry=REGISTRY)
    assert same(formats.decode(fmt, payload, path=base, registry=REGISTRY), dict(sorted(values.items())))


@pytest.mark.parametrize("fmt", ROOT_CAPABLE)
@given(values=instance_values())
def test_root_level_round_trips(fmt: str, values: dict[Path, Value]) -> None:
    payload = formats.encode(fmt, values, path="/", registry=REGISTRY)
    assert same(formats.decode(fmt, payload, path="/", registry=REGISTRY), dict(sorted(values.items())))


@pytest.mark.parametrize("fmt", MULTI_VALUE_FORMATS + SINGLE_VALUE_FORMATS)
@pytest.mark.parametrize("index", range(len(TYPES)), ids=[t.name for t in TYPES])
@given(data=st.data())
def test_single_resource_round_trips(fmt: str, index: int, data: st.DataObject) -> None:
    target = Path.of(OBJECT, 0, index)
    value = data.draw(VALUES[TYPES[index]])
    payload = formats.encode(fmt, {target: value}, path=target, registry=REGISTRY)
    assert same(formats.decode(fmt, payload, path=target, registry=REGISTRY), {target: value})


@pytest.mark.parametrize("fmt", MULTI_VALUE_FORMATS)
@pytest.mark.parametrize("index", range(len(TYPES)), ids=[t.name for t in TYPES])
@given(data=st.data())
def test_multiple_resource_round_trips(fmt: str, index: int, data: st.DataObject) -> None:
    target = Path.of(OBJECT, 0, 100 + index)
    values = {
        target.child(ri): data.draw(VALUES[TYPES[index]])
        for ri in data.draw(st.sets(st.integers(0, 65534), min_size=1, max_size=4))
    }
    payload = formats.encode(fmt, values, path=target, registry=REGISTRY)
    assert same(formats.decode(fmt, payload, path=target, registry=REGISTRY), dict(sorted(values.items())))


@pytest.mark.parametrize("fmt", [f.id for f in formats.supported_formats() if f.kind is not FormatKind.LINKS])
@pytest.mark.parametrize("target", ["/", "/9001", "/9001/0", "/9001/0/3", "/9001/0/103", "/9001/0/103/1"])
@given(payload=st.binary(max_size=64))
def test_any_bytes_give_values_or_a_format_error(fmt: int, target: str, payload: bytes) -> None:
    try:
        values = formats.decode(fmt, payload, path=target, registry=REGISTRY)
    except FormatError:
        return
    assert all(Path.parse(target).is_prefix_of(p) for p in values)


def test_values_outside_the_target_are_refused() -> None:
    with pytest.raises(FormatError, match="at or under /9001/1"):
        formats.encode("senml-json", {"/9001/0/0": "x"}, path="/9001/1", registry=REGISTRY)
    payload = formats.encode("senml-json", {"/9001/0/0": "x"}, path="/", registry=REGISTRY)
    with pytest.raises(FormatError, match="outside the target /9001/1"):
        formats.decode("senml-json", payload, path="/9001/1", registry=REGISTRY)


def test_lookup_by_id_name_and_media_type() -> None:
    assert formats.lookup(11542).name == "tlv"
    assert formats.lookup("11542").name == "tlv"
    assert formats.lookup("LwM2M-CBOR").id == 11544
    assert formats.lookup("application/senml+cbor").id == 112
    with pytest.raises(UnsupportedFormatError, match="known: text"):
        formats.lookup("xml")
    with pytest.raises(UnsupportedFormatError, match="50 is not supported"):
        formats.lookup(50)


def test_every_format_the_issue_names_is_supported() -> None:
    assert {f.id for f in formats.supported_formats()} == {0, 40, 42, 60, 110, 112, 320, 322, 11542, 11543, 11544}


def test_link_format_is_not_a_value_format() -> None:
    with pytest.raises(FormatError, match="decode_links"):
        formats.decode(40, b"</3/0>", path="/3")
    links = formats.decode_links(b'</>;rt="oma.lwm2m",</3/0>')
    assert [link.target for link in links] == ["/", "/3/0"]
    assert formats.decode_links(formats.encode_links(links)) == links


@pytest.mark.parametrize("fmt", [110, 112, 320, 322])
def test_composite_path_lists_round_trip(fmt: int) -> None:
    paths = [Path.parse(p) for p in ["/3/0/0", "/1/0", "/3", "/3/0/6/1"]]
    assert formats.decode_paths(fmt, formats.encode_paths(fmt, paths)) == paths
