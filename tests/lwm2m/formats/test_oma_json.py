"""OMA LwM2M JSON (11543, LwM2M 1.0 §6.4.4): spec examples, every type, names, times, refusals."""

from __future__ import annotations

import json

import pytest
from every_type import TYPES, every_type_object, same_records
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import oma_json
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
        2: R(2, "Serial Number", DataType.STRING),
        3: R(3, "Firmware Version", DataType.STRING),
        6: R(6, "Available Power Sources", DataType.INTEGER, multiple=True),
        7: R(7, "Power Source Voltage", DataType.INTEGER, multiple=True),
        8: R(8, "Power Source Current", DataType.INTEGER, multiple=True),
        9: R(9, "Battery Level", DataType.INTEGER),
        10: R(10, "Memory Free", DataType.INTEGER),
        11: R(11, "Error Code", DataType.INTEGER, multiple=True),
        13: R(13, "Current Time", DataType.TIME),
        14: R(14, "UTC Offset", DataType.STRING),
        15: R(15, "Timezone", DataType.STRING),
        16: R(16, "Supported Binding and Modes", DataType.STRING),
    },
)
TEMPERATURE = ObjectDefinition(3303, "Temperature", {5700: R(5700, "Sensor Value", DataType.FLOAT)})
OBJECT = 9100
EVERY_TYPE = every_type_object(OBJECT)
REGISTRY = Registry([DEVICE, TEMPERATURE, EVERY_TYPE])
EMPTY = Registry()


def at(resource: int, *instance: int) -> Path:
    return Path.of(OBJECT, 0, resource, *instance)


def compact(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()




# --- LwM2M 1.0 §6.4.4 examples ------------------------------------------------------

DEVICE_JSON = {
    "bn": "/3/0/",
    "e": [
        {"n": "0", "sv": "Open Mobile Alliance"},
        {"n": "1", "sv": "Lightweight M2M Client"},
        {"n": "2", "sv": "345000123"},
        {"n": "3", "sv": "1.0"},
        {"n": "6/0", "v": 1},
        {"n": "6/1", "v": 5},
        {"n": "7/0", "v": 3800},
        {"n": "7/1", "v": 5000},
        {"n": "8/0", "v": 125},
        {"n": "8/1", "v": 900},
        {"n": "9", "v": 100},
        {"n": "10", "v": 15},
        {"n": "11/0", "v": 0},
        {"n": "13", "v": 1367491215},
        {"n": "14", "sv": "+02:00"},
        {"n": "15", "sv": "U"},
    ],
}
DEVICE_RECORDS = [
    Record(P("/3/0/0"), "Open Mobile Alliance"),
    Record(P("/3/0/1"), "Lightweight M2M Client"),
    Record(P("/3/0/2"), "345000123"),
    Record(P("/3/0/3"), "1.0"),
    Record(P("/3/0/6/0"), 1),
    Record(P("/3/0/6/1"), 5),
    Record(P("/3/0/7/0"), 3800),
    Record(P("/3/0/7/1"), 5000),
    Record(P("/3/0/8/0"), 125),
    Record(P("/3/0/8/1"), 900),
    Record(P("/3/0/9"), 100),
    Record(P("/3/0/10"), 15),
    Record(P("/3/0/11/0"), 0),
    Record(P("/3/0/13"), 1367491215),
    Record(P("/3/0/14"), "+02:00"),
    Record(P("/3/0/15"), "U"),
]


def test_device_instance_example_both_ways() -> None:
    assert oma_json.decode(compact(DEVICE_JSON), P("/3/0"), REGISTRY) == DEVICE_RECORDS
    assert oma_json.encode(DEVICE_RECORDS, P("/3/0"), REGISTRY) == compact(DEVICE_JSON)


def test_historical_example_with_base_time_and_relative_times() -> None:
    # LwM2M 1.0 §6.4.4: a temperature series, one resource, name "" under a full bn.
    document = {
        "bn": "/3303/0/5700",
        "bt": 25462634,
        "e": [{"n": "", "v": 22.4, "t": -5}, {"n": "", "v": 22.9, "t": -30}, {"n": "", "v": 24.1, "t": -50}],
    }
    records = oma_json.decode(compact(document), P("/3303/0/5700"), REGISTRY)
    assert records == [
        Record(P("/3303/0/5700"), 22.4, 25462629),
        Record(P("/3303/0/5700"), 22.9, 25462604),
        Record(P("/3303/0/5700"), 24.1, 25462584),
    ]


def test_object_links_and_booleans() -> None:
    document = {
        "bn": f"/{OBJECT}/0/",
        "e": [{"n": "7", "ov": "3:0"}, {"n": "107/2", "ov": "65535:65535"}, {"n": "4", "bv": True}],
    }
    assert oma_json.decode(compact(document), ROOT, REGISTRY) == [
        Record(at(7), ObjLnk(3, 0)),
        Record(at(107, 2), ObjLnk(65535, 65535)),
        Record(at(4), True),
    ]


# --- every data type ----------------------------------------------------------------

TYPE_VECTORS = [
    (0, "Open Mobile Alliance", {"sv": "Open Mobile Alliance"}),
    (0, "", {"sv": ""}),
    (0, "grüße ✓", {"sv": "grüße ✓"}),
    (1, -(2**63), {"v": -(2**63)}),
    (1, 2**63 - 1, {"v": 2**63 - 1}),
    (2, 2**64 - 1, {"v": 2**64 - 1}),
    (3, 1.5, {"v": 1.5}),
    (3, -0.0, {"v": -0.0}),
    (3, 1e300, {"v": 1e300}),
    (4, True, {"bv": True}),
    (4, False, {"bv": False}),
    (5, b"\x00\xff\xfe", {"sv": "AP/+"}),
    (5, b"\x01", {"sv": "AQ=="}),
    (5, b"", {"sv": ""}),
    (6, 1367491215, {"v": 1367491215}),
    (7, ObjLnk(3, 0), {"ov": "3:0"}),
    (8, "</3/0>;ct=0", {"sv": "</3/0>;ct=0"}),
]


@pytest.mark.parametrize(("resource", "value", "fields"), TYPE_VECTORS)
def test_every_type_both_ways(resource: int, value: Value, fields: dict[str, object]) -> None:
    record = Record(at(resource), value)
    payload = compact({"bn": f"/{OBJECT}/0/", "e": [{"n": str(resource)} | fields]})
    assert oma_json.encode([record], at(resource), REGISTRY) == payload
    assert same_records(oma_json.decode(payload, at(resource), REGISTRY), [record])


@pytest.mark.parametrize("text", ["AP/+", "AP_-", "AP/+", "AP8", "AP8="])
def test_opaque_accepts_either_base64_alphabet_padded_or_not(text: str) -> None:
    payload = compact({"bn": f"/{OBJECT}/0/", "e": [{"n": "5", "sv": text}]})
    (record,) = oma_json.decode(payload, ROOT, REGISTRY)
    assert isinstance(record.value, bytes)
    assert record.value[:1] == b"\x00"


def test_unknown_resources_decode_by_json_type() -> None:
    document = {"bn": "/9999/0/", "e": [{"n": "0", "v": 1}, {"n": "1", "v": 1.0}, {"n": "2", "sv": "AQ=="}]}
    assert same_records(
        oma_json.decode(compact(document), ROOT, EMPTY),
        [Record(P("/9999/0/0"), 1), Record(P("/9999/0/1"), 1.0), Record(P("/9999/0/2"), "AQ==")],
    )


def test_numbers_are_reconciled_with_the_registry() -> None:
    document = {"bn": f"/{OBJECT}/0/", "e": [{"n": "3", "v": 2}, {"n": "6", "v": 1.5e9}]}
    assert same_records(
        oma_json.decode(compact(document), ROOT, REGISTRY), [Record(at(3), 2.0), Record(at(6), 1500000000)]
    )


# --- names and base names -----------------------------------------------------------


def test_encoding_uses_the_target_as_base_name() -> None:
    records = [Record(P("/3/0/0"), "x"), Record(P("/3/1/6/0"), 1)]
    assert json.loads(oma_json.encode(records, P("/3"), REGISTRY)) == {
        "bn": "/3/",
        "e": [{"n": "0/0", "sv": "x"}, {"n": "1/6/0", "v": 1}],
    }
    assert json.loads(oma_json.encode(records, ROOT, REGISTRY))["bn"] == "/"


def test_a_single_resource_is_named_under_its_instance() -> None:
    payload = oma_json.encode([Record(P("/3/0/9"), 5)], P("/3/0/9"), REGISTRY)
    assert payload == b'{"bn":"/3/0/","e":[{"n":"9","v":5}]}'
    multi = oma_json.encode([Record(P("/3/0/6/0"), 1), Record(P("/3/0/6/1"), 5)], P("/3/0/6"), REGISTRY)
    assert multi == b'{"bn":"/3/0/6/","e":[{"n":"0","v":1},{"n":"1","v":5}]}'
    single_instance = oma_json.encode([Record(P("/3/0/6/1"), 5)], P("/3/0/6/1"), REGISTRY)
    assert single_instance == b'{"bn":"/3/0/6/","e":[{"n":"1","v":5}]}'


def test_without_a_base_name_names_are_relative_to_the_target_or_full() -> None:
    payload = compact({"e": [{"n": "9", "v": 5}, {"n": "/3/0/10", "v": 6}]})
    assert oma_json.decode(payload, P("/3/0"), REGISTRY) == [Record(P("/3/0/9"), 5), Record(P("/3/0/10"), 6)]
    assert oma_json.decode(compact({"e": [{"n": "3/0/9", "v": 5}]}), ROOT, REGISTRY) == [Record(P("/3/0/9"), 5)]


def test_base_name_and_name_concatenate() -> None:
    payload = compact({"bn": "/3/0/9", "e": [{"v": 5}]})
    assert oma_json.decode(payload, ROOT, REGISTRY) == [Record(P("/3/0/9"), 5)]


def test_the_dispatcher_checks_the_target() -> None:
    payload = oma_json.encode(DEVICE_RECORDS[:2], P("/3/0"), REGISTRY)
    assert formats.decode(11543, payload, path="/3/0", registry=REGISTRY) == {
        P("/3/0/0"): "Open Mobile Alliance",
        P("/3/0/1"): "Lightweight M2M Client",
    }
    with pytest.raises(FormatError, match="outside the target"):
        formats.decode(11543, payload, path="/3/1", registry=REGISTRY)


# --- times --------------------------------------------------------------------------


def test_one_shared_time_becomes_bt() -> None:
    records = [Record(P("/3/0/9"), 5, 1700000000.0), Record(P("/3/0/10"), 6, 1700000000)]
    document = json.loads(oma_json.encode(records, P("/3/0"), REGISTRY))
    assert document == {"bn": "/3/0/", "bt": 1700000000, "e": [{"n": "9", "v": 5}, {"n": "10", "v": 6}]}
    assert oma_json.decode(compact(document), P("/3/0"), REGISTRY) == records


def test_differing_times_become_t() -> None:
    records = [Record(P("/3/0/9"), 5, 1700000000.5), Record(P("/3/0/9"), 6), Record(P("/3/0/9"), 7, 1700000001)]
    document = json.loads(oma_json.encode(records, P("/3/0/9"), REGISTRY))
    assert [entry.get("t") for entry in document["e"]] == [1700000000.5, None, 1700000001]
    assert "bt" not in document
    assert oma_json.decode(compact(document), P("/3/0/9"), REGISTRY) == records


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message", "where"),
    [
        ([], "object with an 'e' array", None),
        ({"bn": "/3/0/"}, "'e' must be an array", None),
        ({"e": {}}, "'e' must be an array", None),
        ({"bn": 3, "e": []}, "must be text", "'bn'"),
        ({"bt": "x", "e": []}, "must be a number", "'bt'"),
        ({"bt": True, "e": []}, "must be a number", "'bt'"),
        ({"e": [1]}, "entry is an object", "entry 0"),
        ({"bn": "/3/0/", "e": [{"n": 9, "v": 1}]}, "must be text", "entry 0"),
        ({"bn": "/3/0/", "e": [{"n": "9"}]}, "exactly one of", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": 1, "sv": "1"}]}, "exactly one of", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": "1"}]}, "must be a number", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": 1, "t": "x"}]}, "must be a number", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "bv": 1}]}, "boolean", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "ov": 1}]}, "must be text", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "ov": "3"}]}, "objlnk", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": 2**64}]}, "64-bit range", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": 1, "t": 10**400}]}, "64-bit range", "entry 0 (/3/0/9)"),
        ({"bt": -(10**400), "e": []}, "64-bit range", "'bt'"),
        ({"bn": "/3/0/", "e": [{"n": "1" * 5000, "v": 1}]}, "too long", "entry 0"),
        ({"bn": "/3/0/", "e": [{"n": "9", "sv": "5"}]}, "integer expected", "entry 0 (/3/0/9)"),
        ({"bn": "/3/0/", "e": [{"n": "x", "v": 1}]}, "not a decimal id", "entry 0"),
        ({"bn": "3/0/", "e": [{"n": "9", "v": 1}]}, "starts with '/'", "entry 0"),
        ({"bn": "/3/", "e": [{"n": "0", "v": 1}]}, "resource or resource instance", "entry 0 (/3/0)"),
        ({"bn": "/3/0/9/1/", "e": [{"n": "2", "v": 1}]}, "at most 4", "entry 0"),
        ({"bn": f"/{OBJECT}/0/", "e": [{"n": "5", "sv": "A"}]}, "base64", "entry 0 (/9100/0/5)"),
        ({"bn": f"/{OBJECT}/0/", "e": [{"n": "5", "sv": "A*=="}]}, "base64", "entry 0 (/9100/0/5)"),
        ({"bt": 1e308, "bn": "/3/0/", "e": [{"n": "9", "v": 1, "t": 1e308}]}, "not finite", "entry 0 (/3/0/9)"),
    ],
)
def test_refusals(document: object, message: str, where: str | None) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        oma_json.decode(compact(document), ROOT, REGISTRY)
    assert caught.value.where == where
    assert caught.value.content_format == 11543


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"bn":"/3/0/","e":[{"n":"9","v":NaN}]}', "NaN"),
        (b'{"bn":"/3/0/","e":[{"n":"9","v":1e400}]}', "64-bit float"),
        (b'{"bn":"/3/0/","bn":"/4/0/","e":[]}', "duplicate"),
        (b'{"bn":"/3/0/","e":[{"n":"9","v":1}]}}', "malformed JSON"),
        (b'{"bn":"\xff","e":[]}', "not UTF-8"),
        (b'{"e":' * 50_000, "JSON"),
        (b'{"bn":"/3/0/","e":[{"n":"0","sv":"\\udc00"}]}', "surrogate"),
    ],
)
def test_syntax_refusals(payload: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        oma_json.decode(payload, ROOT, REGISTRY)


def test_encoding_refusals() -> None:
    with pytest.raises(FormatError, match="cannot carry"):
        oma_json.encode([Record(at(3), float("nan"))], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="finite number"):
        oma_json.encode([Record(at(3), 1.0, float("inf"))], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="64-bit range"):
        oma_json.encode([Record(at(3), 1.0, -(2**70))], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="string expected"):
        oma_json.encode([Record(at(0), 1)], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="JSON"):
        oma_json.encode([Record(at(0), "\ud800")], ROOT, REGISTRY)


# --- properties ---------------------------------------------------------------------

VALUES: dict[DataType, st.SearchStrategy[Value]] = {
    DataType.STRING: st.text(max_size=12),
    DataType.CORELNK: st.text(max_size=12),
    DataType.INTEGER: st.integers(-(2**63), 2**63 - 1),
    DataType.UNSIGNED_INTEGER: st.integers(0, 2**64 - 1),
    DataType.TIME: st.integers(-(2**63), 2**63 - 1),
    DataType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    DataType.BOOLEAN: st.booleans(),
    DataType.OPAQUE: st.binary(max_size=12),
    DataType.OBJLNK: st.builds(ObjLnk, st.integers(0, 65535), st.integers(0, 65535)),
}
TIMES = st.one_of(st.none(), st.integers(1, 2**40), st.floats(1e-3, 1e12))


@st.composite
def instance_records(draw: st.DrawFn) -> tuple[Path, list[Record]]:
    """Records under one target (an object, an instance or a resource), with times."""
    instance = draw(st.sampled_from([0, 1, 65534]))
    records = []
    for _ in range(draw(st.integers(0, 6))):
        resource = draw(st.sampled_from(sorted(TYPES)))
        if draw(st.booleans()):
            path = Path.of(OBJECT, instance, 100 + resource, draw(st.integers(0, 65534)))
        else:
            path = Path.of(OBJECT, instance, resource)
        records.append(Record(path, draw(VALUES[TYPES[resource]]), draw(TIMES)))
    target = draw(st.sampled_from([ROOT, Path.of(OBJECT), Path.of(OBJECT, instance)]))
    return target, records


@given(case=instance_records())
def test_records_round_trip(case: tuple[Path, list[Record]]) -> None:
    target, records = case
    assert same_records(oma_json.decode(oma_json.encode(records, target, REGISTRY), target, REGISTRY), records)


@given(payload=st.binary(max_size=80), target=st.sampled_from([ROOT, P("/3/0"), P(f"/{OBJECT}/0/5")]))
def test_any_bytes_give_records_or_a_format_error(payload: bytes, target: Path) -> None:
    try:
        records = oma_json.decode(payload, target, REGISTRY)
    except FormatError:
        return
    assert all(len(r.path) >= 3 for r in records)


# Structured fuzz: documents of real fields with mostly well-typed values, so the name,
# value and registry checks run rather than stopping at the first malformed field.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(), st.text(max_size=5))


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Usually a well-typed value, one time in twenty anything at all (in mid-range: Hypothesis favours the ends)."""
    return st.integers(0, 19).flatmap(lambda roll: SCALARS if roll == 7 else good)


def merged(*parts: dict[str, object]) -> dict[str, object]:
    return {k: v for part in parts for k, v in part.items()}


GOOD_VALUES = {
    "v": st.integers(-(2**64), 2**64) | st.floats(allow_nan=False, allow_infinity=False),
    "sv": st.sampled_from(["x", "AQ==", "A", "3:0", "</1>"]) | st.text(max_size=4),
    "bv": st.booleans(),
    "ov": st.sampled_from(["3:0", "1:99999", "x"]),
}
ONE_VALUE = st.sampled_from(sorted(GOOD_VALUES)).flatmap(lambda k: st.fixed_dictionaries({k: mostly(GOOD_VALUES[k])}))
NAMES = st.one_of(
    st.sampled_from([str(r) for r in TYPES] + [f"{100 + r}/{i}" for r in TYPES for i in (0, 7)]),
    st.sampled_from(["", "/3/0/9", "x", "1/2/3/4/5", "9/"]),
)
ENTRY = st.builds(
    merged,
    st.fixed_dictionaries({"n": mostly(NAMES)}),
    st.integers(0, 19).flatmap(lambda roll: st.just({}) if roll == 7 else ONE_VALUE),
    st.fixed_dictionaries({}, optional={"t": mostly(st.integers(-100, 100))}),
)
DOCUMENTS = st.fixed_dictionaries(
    {"e": st.lists(st.integers(0, 19).flatmap(lambda roll: SCALARS if roll == 7 else ENTRY), max_size=5)},
    optional={
        "bn": mostly(st.sampled_from(["/", f"/{OBJECT}/0/", "/3/0/", f"/{OBJECT}/", "3/"])),
        "bt": mostly(st.integers(-(2**31), 2**31)),
    },
)


@given(document=DOCUMENTS)
@settings(max_examples=400)
def test_structured_documents_give_records_or_a_format_error(document: dict[str, object]) -> None:
    try:
        payload = json.dumps(document).encode()
    except ValueError:
        return
    try:
        records = oma_json.decode(payload, P(f"/{OBJECT}/0"), REGISTRY)
    except FormatError:
        return
    assert all(len(r.path) >= 3 for r in records)
