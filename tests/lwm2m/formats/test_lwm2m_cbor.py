"""LwM2M CBOR (11544): path trees and compression, every type, refusals, properties."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cbor2
import pytest
from every_type import TYPES, every_type_object, same_records
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import lwm2m_cbor
from m2mclient.lwm2m.formats._common import Record
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ObjLnk, Path, ResourceDefinition, Value
from m2mclient.lwm2m.registry import Registry

R = ResourceDefinition
P = Path.parse
ROOT = Path(())

DEVICE = ObjectDefinition(
    3,
    "Device",
    {
        0: R(0, "Manufacturer", DataType.STRING),
        1: R(1, "Model Number", DataType.STRING),
        6: R(6, "Available Power Sources", DataType.INTEGER, multiple=True),
        9: R(9, "Battery Level", DataType.INTEGER),
        13: R(13, "Current Time", DataType.TIME),
        22: R(22, "ExtDevInfo", DataType.OBJLNK, multiple=True),
    },
)
OBJECT = 9100
EVERY_TYPE = every_type_object(OBJECT)
REGISTRY = Registry([DEVICE, EVERY_TYPE])
EMPTY = Registry()


def at(resource: int, *instance: int) -> Path:
    return Path.of(OBJECT, 0, resource, *instance)


def encode(records: Sequence[Record], registry: Registry = REGISTRY) -> bytes:
    return lwm2m_cbor.encode(records, ROOT, registry)


def decode(payload: bytes, registry: Registry = REGISTRY) -> list[Record]:
    return lwm2m_cbor.decode(payload, ROOT, registry)




# --- the shapes of §7.4.7 -----------------------------------------------------------

# {[3, 0]: {0: "Open Mobile Alliance", 6: {0: 1, 1: 5}}}, written out by hand.
INSTANCE_HEX = "".join(
    [
        "a1",  # map(1)
        "820300",  # [3, 0]
        "a2",  # map(2)
        "00744f70656e204d6f62696c6520416c6c69616e6365",  # 0: "Open Mobile Alliance"
        "06a200010105",  # 6: {0: 1, 1: 5}
    ]
)
INSTANCE_RECORDS = [
    Record(P("/3/0/0"), "Open Mobile Alliance"),
    Record(P("/3/0/6/0"), 1),
    Record(P("/3/0/6/1"), 5),
]


def test_an_instance_folds_its_object_and_instance_ids_into_one_key() -> None:
    assert encode(INSTANCE_RECORDS).hex() == INSTANCE_HEX
    assert decode(bytes.fromhex(INSTANCE_HEX)) == INSTANCE_RECORDS


def test_one_value_folds_the_whole_path() -> None:
    payload = encode([Record(P("/3/0/0"), "x")])
    assert payload == bytes.fromhex("a1830300006178")  # {[3, 0, 0]: "x"}
    assert decode(payload) == [Record(P("/3/0/0"), "x")]


def test_one_resource_instance_folds_four_ids() -> None:
    payload = encode([Record(P("/3/0/6/1"), 5)])
    assert cbor2.loads(payload) == {(3, 0, 6, 1): 5}


def test_a_multiple_resource_keeps_its_instances_in_a_map() -> None:
    payload = encode([Record(P("/3/0/6/0"), 1), Record(P("/3/0/6/1"), 5)])
    assert cbor2.loads(payload) == {(3, 0, 6): {0: 1, 1: 5}}


def test_branching_trees_fold_only_single_child_chains() -> None:
    records = [
        Record(P("/3/0/0"), "a"),
        Record(P("/3/0/9"), 90),
        Record(P("/3/1/0"), "b"),
        Record(P(f"/{OBJECT}/7/1"), 2),
    ]
    assert cbor2.loads(encode(records)) == {
        3: {0: {0: "a", 9: 90}, (1, 0): "b"},
        (OBJECT, 7, 1): 2,
    }
    assert decode(encode(records)) == sorted(records, key=lambda r: r.path)


@pytest.mark.parametrize(
    "tree",
    [
        {3: {0: {0: "x", 9: 5, 6: {1: 2}}}},
        {(3,): {(0,): {0: "x", (9,): 5, (6, 1): 2}}},
        {(3, 0): {0: "x", 9: 5, 6: {1: 2}}},
        {3: {(0, 0): "x", (0, 9): 5, (0, 6, 1): 2}},
        {(3, 0, 0): "x", (3, 0, 9): 5, (3, 0, 6, 1): 2},
        {(3, 0, 0): "x", 3: {0: {9: 5}}, (3, 0, 6): {1: 2}},  # the same prefix under two keys
    ],
)
def test_every_way_of_folding_decodes_alike(tree: dict[object, object]) -> None:
    assert decode(cbor2.dumps(tree)) == [Record(P("/3/0/0"), "x"), Record(P("/3/0/6/1"), 2), Record(P("/3/0/9"), 5)]


def test_keys_are_always_rooted_at_the_object_whatever_the_target() -> None:
    records = [Record(P("/3/0/0"), "x")]
    assert lwm2m_cbor.encode(records, P("/3/0/0"), REGISTRY) == lwm2m_cbor.encode(records, ROOT, REGISTRY)
    assert formats.decode(11544, encode(records), path="/3/0", registry=REGISTRY) == {P("/3/0/0"): "x"}
    with pytest.raises(FormatError, match="outside the target"):
        formats.decode(11544, encode(records), path="/3/1", registry=REGISTRY)


def test_the_empty_tree() -> None:
    assert encode([]) == b"\xa0"
    assert decode(b"\xa0") == []
    assert decode(cbor2.dumps({(3, 0): {}})) == []  # an instance with no resources


# --- every data type ----------------------------------------------------------------

TYPE_VECTORS = [
    (0, "Open Mobile Alliance", "74" + b"Open Mobile Alliance".hex()),
    (0, "", "60"),
    (0, "é", "62c3a9"),
    (1, 0, "00"),
    (1, -1, "20"),
    (1, 23, "17"),
    (1, 24, "1818"),
    (1, -(2**63), "3b7fffffffffffffff"),
    (1, 2**63 - 1, "1b7fffffffffffffff"),
    (2, 2**63, "1b8000000000000000"),
    (2, 2**64 - 1, "1bffffffffffffffff"),
    (3, 1.5, "f93e00"),  # half precision is lossless
    (3, 100000.0, "fa47c35000"),  # single
    (3, 0.1, "fb3fb999999999999a"),  # double
    (3, -0.0, "f98000"),
    (3, float("inf"), "f97c00"),
    (4, True, "f5"),
    (4, False, "f4"),
    (5, b"\x00\xff", "4200ff"),
    (5, b"", "40"),
    (6, 1367491215, "1a5182428f"),
    (6, -1, "20"),
    (7, ObjLnk(3, 0), "63333a30"),
    (7, ObjLnk(65535, 65535), "6b36353533353a3635353335"),
    (8, "</3/0>", "663c2f332f303e"),
]


@pytest.mark.parametrize(("resource", "value", "item"), TYPE_VECTORS)
def test_every_type_both_ways(resource: int, value: Value, item: str) -> None:
    record = Record(at(resource), value)
    payload = bytes.fromhex("a1" + cbor2.dumps((OBJECT, 0, resource)).hex() + item)
    assert encode([record]) == payload
    assert same_records(decode(payload), [record])


def test_nan_survives() -> None:
    (record,) = decode(encode([Record(at(3), float("nan"))]))
    assert isinstance(record.value, float)
    assert math.isnan(record.value)


@pytest.mark.parametrize("item", ["f93e00", "fa3fc00000", "fb3ff8000000000000"])
def test_floats_of_any_width_decode(item: str) -> None:
    payload = bytes.fromhex("a1" + cbor2.dumps((OBJECT, 0, 3)).hex() + item)
    assert same_records(decode(payload), [Record(at(3), 1.5)])


def test_integers_become_floats_for_float_resources_and_back() -> None:
    payload = cbor2.dumps({(OBJECT, 0): {3: 2, 1: 2.0, 6: 1.5e9}})
    assert same_records(decode(payload), [Record(at(1), 2), Record(at(3), 2.0), Record(at(6), 1500000000)])


def test_time_may_arrive_as_an_epoch_tag() -> None:
    tagged = cbor2.dumps({(3, 0, 13): cbor2.CBORTag(1, 1367491215)})
    assert decode(tagged) == [Record(P("/3/0/13"), 1367491215)]
    tagged_float = cbor2.dumps({(3, 0, 13): cbor2.CBORTag(1, 1367491215.0)})
    assert same_records(decode(tagged_float), [Record(P("/3/0/13"), 1367491215)])
    with pytest.raises(FormatError, match="non-integral"):
        decode(cbor2.dumps({(3, 0, 13): cbor2.CBORTag(1, 1.5)}))


def test_objlnk_travels_as_text() -> None:
    payload = cbor2.dumps({(3, 0, 22): {0: "3:0", 1: "65535:65535"}})
    assert decode(payload) == [Record(P("/3/0/22/0"), ObjLnk(3, 0)), Record(P("/3/0/22/1"), ObjLnk(65535, 65535))]
    with pytest.raises(FormatError, match="objlnk"):
        decode(cbor2.dumps({(3, 0, 22, 0): "3"}))


def test_unknown_resources_keep_the_cbor_type() -> None:
    payload = cbor2.dumps({(9999, 0): {0: 1, 1: 1.0, 2: "3:0", 3: b"\x01", 4: True, 5: {7: -(2**63)}}})
    assert same_records(
        decode(payload, EMPTY),
        [
            Record(P("/9999/0/0"), 1),
            Record(P("/9999/0/1"), 1.0),
            Record(P("/9999/0/2"), "3:0"),
            Record(P("/9999/0/3"), b"\x01"),
            Record(P("/9999/0/4"), True),
            Record(P("/9999/0/5/7"), -(2**63)),
        ],
    )


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "message", "where"),
    [
        ([1, 2], "map of path segments", None),
        ("x", "map of path segments", None),
        ({-1: {0: {0: 1}}}, "id 0..65534", "/"),
        ({65535: {0: {0: 1}}}, "id 0..65534", "/"),
        ({3: {0: {65535: 1}}}, "id 0..65534", "/3/0"),
        ({True: {0: {0: 1}}}, "id 0..65534", "/"),
        ({"3": {0: {0: 1}}}, "id 0..65534", "/"),
        ({1.0: {0: {0: 1}}}, "id 0..65534", "/"),
        ({b"\x03": {0: {0: 1}}}, "id 0..65534", "/"),
        ({(): {0: {0: 1}}}, "must not be empty", "/"),
        ({(3, "0"): {0: 1}}, "id 0..65534", "/"),
        ({(3, (0,)): {0: 1}}, "id 0..65534", "/"),
        ({(3, 0, 0, 0, 0): 1}, "longer than", "/"),
        ({(3, 0, 0): {0: {0: 1}}}, "not a map", "/3/0/0/0"),
        ({(3, 0, 0): {(0, 0): 1}}, "longer than", "/3/0/0"),
        ({(3, 0, 0, 0): {}}, "not a map", "/3/0/0/0"),
        ({3: 1}, "not objects or instances", "/3"),
        ({(3, 0): "x"}, "not objects or instances", "/3/0"),
        ({(3, 0, 0): None}, "null", "/3/0/0"),
        ({(3, 0, 0): [1]}, "number, boolean, text or byte string", "/3/0/0"),
        ({(3, 0, 9): 2**64}, "64-bit range", "/3/0/9"),
        ({(3, 0, 9): -(2**63) - 1}, "64-bit range", "/3/0/9"),
        ({(3, 0, 9): 10**5000}, "64-bit range", "/3/0/9"),  # a bignum (tag 2)
        ({10**5000: {0: {0: 1}}}, "out of range", "/"),
        ({(3, (10**5000,)): {0: 1}}, "got tuple", "/"),
        ({(3, 0, 0): "x", 3: {0: {0: "y"}}}, "appears twice", "/3/0/0"),
        ({(3, 0, 6): 1, (3, 0, 6, 0): 2}, "both a value and resource instances", "/3/0/6/0"),
        ({(3, 0, 0): 5}, "string expected", "/3/0/0"),
        ({(3, 0, 9): "5"}, "integer expected", "/3/0/9"),
        ({(3, 0, 9): 1.5}, "non-integral", "/3/0/9"),
    ],
)
def test_refusals(tree: object, message: str, where: str | None) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        decode(cbor2.dumps(tree))
    assert caught.value.where == where
    assert caught.value.content_format == 11544


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xa1\x03",  # truncated
        b"\xa0\x00",  # trailing bytes
        b"\xa2\x03\x00\x03\x01",  # duplicate map key
        b"\xa1\x03" * 5000 + b"\x00",  # deep nesting
        bytes.fromhex("a1830300" + "00" + "d82500"),  # an unknown tag as a value
        bytes.fromhex("a1830300" + "00" + "f7"),  # undefined
    ],
)
def test_malformed_cbor_is_a_format_error(payload: bytes) -> None:
    with pytest.raises(FormatError):
        decode(payload)


def test_timestamps_need_senml() -> None:
    with pytest.raises(FormatError, match="SenML") as caught:
        encode([Record(P("/3/0/9"), 5, time=1700000000)])
    assert caught.value.where == "/3/0/9"


def test_encoding_refusals() -> None:
    with pytest.raises(FormatError, match="appears twice"):
        encode([Record(P("/3/0/9"), 5), Record(P("/3/0/9"), 6)])
    with pytest.raises(FormatError, match="has resource instances"):
        encode([Record(P("/3/0/6/0"), 5), Record(P("/3/0/6"), 6)])
    with pytest.raises(FormatError, match="cannot both be written"):
        encode([Record(P("/3/0/6"), 6), Record(P("/3/0/6/0"), 5)])
    with pytest.raises(FormatError, match="string expected"):
        encode([Record(P("/3/0/0"), 5)])
    with pytest.raises(FormatError, match="surrogate"):
        encode([Record(P("/3/0/0"), "\ud800")])


# --- properties ---------------------------------------------------------------------

VALUES: dict[DataType, st.SearchStrategy[Value]] = {
    DataType.STRING: st.text(max_size=12),
    DataType.CORELNK: st.text(max_size=12),
    DataType.INTEGER: st.integers(-(2**63), 2**63 - 1),
    DataType.UNSIGNED_INTEGER: st.integers(0, 2**64 - 1),
    DataType.TIME: st.integers(-(2**63), 2**63 - 1),
    DataType.FLOAT: st.floats(allow_nan=False),
    DataType.BOOLEAN: st.booleans(),
    DataType.OPAQUE: st.binary(max_size=12),
    DataType.OBJLNK: st.builds(ObjLnk, st.integers(0, 65535), st.integers(0, 65535)),
}


@st.composite
def record_sets(draw: st.DrawFn) -> list[Record]:
    """Records at distinct paths, never a resource and its own instances together."""
    records: dict[Path, Record] = {}
    for _ in range(draw(st.integers(0, 8))):
        resource = draw(st.sampled_from(sorted(TYPES)))
        instance = draw(st.sampled_from([0, 1, 65534]))
        object_id = draw(st.sampled_from([OBJECT, OBJECT]))
        if draw(st.booleans()):
            path = Path.of(object_id, instance, 100 + resource, draw(st.integers(0, 65534)))
        else:
            path = Path.of(object_id, instance, resource)
        records[path] = Record(path, draw(VALUES[TYPES[resource]]))
    return sorted(records.values(), key=lambda r: r.path)


@given(records=record_sets())
def test_records_round_trip(records: list[Record]) -> None:
    assert same_records(decode(encode(records)), records)


@given(records=record_sets())
def test_encoding_is_as_compact_as_full_nesting_or_better(records: list[Record]) -> None:
    nested: dict[int, object] = {}
    for record in records:
        node = nested
        for segment in record.path.ids[:-1]:
            node = node.setdefault(segment, {})  # type: ignore[assignment]
        node[record.path.ids[-1]] = str(record.value) if isinstance(record.value, ObjLnk) else record.value
    assert len(encode(records)) <= len(cbor2.dumps(nested, canonical=True))


@given(payload=st.binary(max_size=80))
def test_any_bytes_give_records_or_a_format_error(payload: bytes) -> None:
    try:
        records = decode(payload)
    except FormatError:
        return
    assert all(3 <= len(r.path) <= 4 for r in records)


# Structured fuzz: valid-looking paths and values, folded into keys at random split
# points, then sometimes spoiled (a bad key, a bad leaf, a path too short or too long)
# to reach the path, depth, duplicate and typing checks rather than stop at the first key.
IDS = st.sampled_from([0, 1, 3, 6, 9, 13, 22, OBJECT, 65534])
GOOD_LEAVES = st.one_of(
    st.booleans(), st.integers(-(2**64), 2**64), st.floats(), st.text(max_size=5), st.sampled_from(["3:0", "1:1"])
)
BAD_LEAVES = st.one_of(st.none(), st.lists(st.integers(), max_size=2), st.integers(2**64, 2**66), st.binary(max_size=3))
BAD_KEYS = st.sampled_from([-1, 65535, True, "3", 1.5, b"\x03", (), (3, "0"), (3, 70000)])


def rarely(roll: int) -> bool:
    return roll == 7  # Hypothesis favours the ends of a range, so the rare value sits inside it


@st.composite
def spoiled_trees(draw: st.DrawFn) -> dict[object, object]:
    entries: dict[tuple[int, ...], object] = {}
    for _ in range(draw(st.integers(0, 6))):
        length = draw(st.sampled_from([3, 3, 4, 4, 2, 5]))
        ids = tuple(draw(IDS) for _ in range(length))
        entries[ids] = draw(BAD_LEAVES) if rarely(draw(st.integers(0, 15))) else draw(GOOD_LEAVES)
    return draw(folded_into_keys(entries))


@st.composite
def folded_into_keys(draw: st.DrawFn, entries: dict[tuple[int, ...], object]) -> dict[object, object]:
    tree: dict[object, object] = {}
    groups: dict[tuple[int, ...], dict[tuple[int, ...], object]] = {}
    for ids, leaf in entries.items():
        split = draw(st.integers(1, len(ids)))
        groups.setdefault(ids[:split], {})[ids[split:]] = leaf
    for head, rest in groups.items():
        key: object = head[0] if len(head) == 1 and draw(st.booleans()) else head
        if rarely(draw(st.integers(0, 15))):
            key = draw(BAD_KEYS)
        if () in rest:  # a value right at this key: siblings below it go under full keys
            tree[key] = rest.pop(())
            for tail, leaf in rest.items():
                tree[head + tail] = leaf
        elif rest:
            tree[key] = draw(folded_into_keys(rest))
    return tree


@given(tree=spoiled_trees())
@settings(max_examples=400)
def test_structured_trees_give_records_or_a_format_error(tree: dict[object, object]) -> None:
    try:
        records = decode(cbor2.dumps(tree))
    except FormatError:
        return
    assert all(3 <= len(r.path) <= 4 for r in records)
    assert len({r.path for r in records}) == len(records)
