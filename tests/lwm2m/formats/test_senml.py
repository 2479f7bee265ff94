"""SenML JSON (110) and SenML CBOR (112): spec vectors, every type, base fields, errors, properties."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence

import cbor2
import pytest
from every_type import TYPES, every_type_object, same_records
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import senml
from m2mclient.lwm2m.formats._common import Record
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ObjLnk, Path, ResourceDefinition, Value
from m2mclient.lwm2m.registry import Registry

R = ResourceDefinition
P = Path.parse
ROOT = Path(())

# A cut-down Device object (LwM2M Core Appendix E.4) with the types the spec examples use.
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
        16: R(16, "Supported Binding and Modes", DataType.STRING),
        20: R(20, "Battery Status", DataType.INTEGER),
    },
)
OBJECT = 9100
EVERY_TYPE = every_type_object(OBJECT)
REGISTRY = Registry([DEVICE, EVERY_TYPE])
EMPTY = Registry()

Encode = Callable[[Sequence[Record], Path, Registry], bytes]
Decode = Callable[[bytes, Path, Registry], list[Record]]
CODECS = [
    pytest.param(senml.encode_json, senml.decode_json, id="json"),
    pytest.param(senml.encode_cbor, senml.decode_cbor, id="cbor"),
]


def at(resource: int, *instance: int) -> Path:
    return Path.of(OBJECT, 0, resource, *instance)




def json_payload(pack: object) -> bytes:
    """Compact UTF-8 JSON, as the encoder writes it (raw UTF-8 is shorter than \\u escapes)."""
    return json.dumps(pack, separators=(",", ":"), ensure_ascii=False).encode()


# --- spec vectors -------------------------------------------------------------------

# LwM2M 1.2 Transport Bindings, the Send example (fixed: the spec's hex ends "...0230024'";
# the diagnostic notation beside it, {0: "20", 2: 4}, ends "02 04").
SEND_CBOR = bytes.fromhex("82A321652F332F302F006139020FA2006232300204")
SEND_RECORDS = [Record(P("/3/0/9"), 15), Record(P("/3/0/20"), 4)]


def test_send_example_from_the_transport_spec_decodes() -> None:
    assert cbor2.loads(SEND_CBOR) == [{-2: "/3/0/", 0: "9", 2: 15}, {0: "20", 2: 4}]
    assert senml.decode_cbor(SEND_CBOR, ROOT, REGISTRY) == SEND_RECORDS


def test_send_example_encodes_as_compactly_as_the_spec() -> None:
    payload = senml.encode_cbor(SEND_RECORDS, ROOT, REGISTRY)
    assert len(payload) == len(SEND_CBOR)
    assert cbor2.loads(payload) == cbor2.loads(SEND_CBOR)
    # Canonical CBOR sorts map keys (0, 2, then -2): same items, same size, bn last in its map.
    assert payload == bytes.fromhex("82A3006139020F21652F332F302FA2006232300204")


# LwM2M Core 1.1/1.2 §7.4.4, the SenML JSON example: Read on /3/0.
DEVICE_JSON = [
    {"bn": "/3/0/", "n": "0", "vs": "Open Mobile Alliance"},
    {"n": "1", "vs": "Lightweight M2M Client"},
    {"n": "2", "vs": "345000123"},
    {"n": "3", "vs": "1.0"},
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
    {"n": "14", "vs": "+02:00"},
    {"n": "16", "vs": "U"},
]
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
    Record(P("/3/0/16"), "U"),
]


def test_device_read_example_both_ways() -> None:
    payload = json_payload(DEVICE_JSON)
    assert senml.decode_json(payload, P("/3/0"), REGISTRY) == DEVICE_RECORDS
    assert senml.encode_json(DEVICE_RECORDS, P("/3/0"), REGISTRY) == payload


def test_device_read_example_in_cbor_uses_the_same_base_name() -> None:
    payload = senml.encode_cbor(DEVICE_RECORDS, P("/3/0"), REGISTRY)
    pack = cbor2.loads(payload)
    assert pack[0] == {-2: "/3/0/", 0: "0", 3: "Open Mobile Alliance"}
    assert pack[4] == {0: "6/0", 2: 1}
    assert senml.decode_cbor(payload, P("/3/0"), REGISTRY) == DEVICE_RECORDS


def test_rfc8428_style_time_series_resolves_base_time() -> None:
    # RFC 8428 §5.1.3-like: one sensor, several readings, base time plus relative offsets.
    payload = json_payload(
        [
            {"bn": "/3303/0/5700", "bt": 1.320067464e09, "v": 23.1},
            {"t": 10, "v": 23.5},
            {"t": 20, "v": 24},
        ]
    )
    records = senml.decode_json(payload, ROOT, EMPTY)
    assert [(str(r.path), r.value, r.time) for r in records] == [
        ("/3303/0/5700", 23.1, 1320067464.0),
        ("/3303/0/5700", 23.5, 1320067474.0),
        ("/3303/0/5700", 24, 1320067484.0),
    ]


# --- every data type ----------------------------------------------------------------

TYPE_VECTORS = [
    (0, "Open Mobile Alliance", {"vs": "Open Mobile Alliance"}, {3: "Open Mobile Alliance"}),
    (0, "", {"vs": ""}, {3: ""}),
    (0, "grüße ✓", {"vs": "grüße ✓"}, {3: "grüße ✓"}),
    (1, -(2**63), {"v": -(2**63)}, {2: -(2**63)}),
    (1, 2**63 - 1, {"v": 2**63 - 1}, {2: 2**63 - 1}),
    (1, -1, {"v": -1}, {2: -1}),
    (2, 2**64 - 1, {"v": 2**64 - 1}, {2: 2**64 - 1}),
    (2, 2**63, {"v": 2**63}, {2: 2**63}),
    (3, 1.5, {"v": 1.5}, {2: 1.5}),
    (3, 0.1, {"v": 0.1}, {2: 0.1}),
    (3, -0.0, {"v": -0.0}, {2: -0.0}),
    (3, 3.0, {"v": 3.0}, {2: 3.0}),
    (4, True, {"vb": True}, {4: True}),
    (4, False, {"vb": False}, {4: False}),
    (5, b"\x00\xff\xfe", {"vd": "AP_-"}, {8: b"\x00\xff\xfe"}),
    (5, b"\x01", {"vd": "AQ"}, {8: b"\x01"}),
    (5, b"", {"vd": ""}, {8: b""}),
    (6, 1367491215, {"v": 1367491215}, {2: 1367491215}),
    (6, -1, {"v": -1}, {2: -1}),
    (7, ObjLnk(3, 0), {"vlo": "3:0"}, {"vlo": "3:0"}),
    (7, ObjLnk(65535, 65535), {"vlo": "65535:65535"}, {"vlo": "65535:65535"}),
    (8, "</3/0>;ct=0", {"vs": "</3/0>;ct=0"}, {3: "</3/0>;ct=0"}),
]


@pytest.mark.parametrize(("resource", "value", "json_fields", "cbor_fields"), TYPE_VECTORS)
def test_every_type_in_json(resource: int, value: Value, json_fields: dict, cbor_fields: dict) -> None:
    record = Record(at(resource), value)
    payload = json_payload([{"n": str(at(resource))} | json_fields])
    assert senml.encode_json([record], at(resource), REGISTRY) == payload
    assert same_records(senml.decode_json(payload, at(resource), REGISTRY), [record])


@pytest.mark.parametrize(("resource", "value", "json_fields", "cbor_fields"), TYPE_VECTORS)
def test_every_type_in_cbor(resource: int, value: Value, json_fields: dict, cbor_fields: dict) -> None:
    record = Record(at(resource), value)
    payload = senml.encode_cbor([record], at(resource), REGISTRY)
    assert cbor2.loads(payload) == [{0: str(at(resource))} | cbor_fields]
    assert same_records(senml.decode_cbor(payload, at(resource), REGISTRY), [record])


@pytest.mark.parametrize(
    ("value", "head"),
    [(1.5, "f93e00"), (100000.0, "fa47c35000"), (0.1, "fb3fb999999999999a"), (-0.0, "f98000")],
)
def test_cbor_floats_use_the_narrowest_lossless_width(value: float, head: str) -> None:
    payload = senml.encode_cbor([Record(at(3), value)], at(3), REGISTRY)
    assert payload.hex().endswith("02" + head)


def test_cbor_floats_decode_from_any_width() -> None:
    for encoded in ("f93e00", "fa3fc00000", "fb3ff8000000000000"):
        payload = bytes.fromhex("81a200" + cbor2.dumps(str(at(3))).hex() + "02" + encoded)
        assert senml.decode_cbor(payload, ROOT, REGISTRY) == [Record(at(3), 1.5)]


def test_numbers_are_reconciled_with_the_registry() -> None:
    payload = json_payload([{"bn": f"/{OBJECT}/0/", "n": "3", "v": 3}, {"n": "6", "v": 1.5e9}])
    records = senml.decode_json(payload, ROOT, REGISTRY)
    assert same_records(records, [Record(at(3), 3.0), Record(at(6), 1500000000)])


def test_unknown_resources_keep_the_senml_type() -> None:
    pack = [
        {"bn": "/9999/0/", "n": "0", "v": 3},
        {"n": "1", "v": 3.0},
        {"n": "2", "vs": "x"},
        {"n": "3", "vb": True},
        {"n": "4", "vd": "AQI"},
        {"n": "5", "vlo": "1:2"},
        {"n": "6/7", "v": 2**64 - 1},
    ]
    records = senml.decode_json(json_payload(pack), ROOT, EMPTY)
    expected = [3, 3.0, "x", True, b"\x01\x02", ObjLnk(1, 2), 2**64 - 1]
    assert same_records(records, [Record(r.path, v) for r, v in zip(records, expected, strict=True)])
    assert [str(r.path) for r in records][-1] == "/9999/0/6/7"


def test_cbor_unknown_resources_keep_the_cbor_type() -> None:
    pack = [{-2: "/9999/0/", 0: "0", 2: 3}, {0: "1", 2: 3.0}, {0: "2", 8: b"\x01"}]
    records = senml.decode_cbor(cbor2.dumps(pack), ROOT, EMPTY)
    assert same_records(
        records, [Record(P("/9999/0/0"), 3), Record(P("/9999/0/1"), 3.0), Record(P("/9999/0/2"), b"\1")]
    )


@pytest.mark.parametrize("text", ["AP_-", "AP/+", "AP_-", "AP8=", "AP_+"])
def test_opaque_accepts_both_base64_alphabets_padded_or_not(text: str) -> None:
    payload = json_payload([{"n": str(at(5)), "vd": text}])
    (record,) = senml.decode_json(payload, ROOT, REGISTRY)
    assert record.value[:1] == b"\x00"


def test_json_string_escapes_and_utf8() -> None:
    payload = b'[{"n":"/9100/0/0","vs":"\\u00e9\\n\\"x\\"\\ud83d\\ude00"}]'
    assert senml.decode_json(payload, ROOT, REGISTRY) == [Record(at(0), 'é\n"x"😀')]


# --- base name, base time and the encoder's choices ---------------------------------


def test_base_fields_carry_forward_until_changed() -> None:
    pack = [
        {"bn": "/3/0/", "bt": 1000, "n": "9", "v": 1},
        {"n": "10", "v": 2, "t": 5},
        {"bn": "/4/0/", "n": "2", "v": 3},
        {"bt": 0, "n": "3", "v": 4},
        {"bn": "/3/0/9", "v": 5},
    ]
    records = senml.decode_json(json_payload(pack), ROOT, EMPTY)
    assert [(str(r.path), r.value, r.time) for r in records] == [
        ("/3/0/9", 1, 1000),
        ("/3/0/10", 2, 1005),
        ("/4/0/2", 3, 1000),
        ("/4/0/3", 4, None),
        ("/3/0/9", 5, None),
    ]


def test_base_value_is_added_to_v() -> None:
    pack = [{"bn": "/9999/0/", "bv": 10, "n": "1", "v": 1}, {"n": "2", "v": 2.5}, {"n": "3", "vs": "x"}]
    records = senml.decode_json(json_payload(pack), ROOT, EMPTY)
    assert [r.value for r in records] == [11, 12.5, "x"]


def test_relative_times_are_returned_as_sent() -> None:
    # RFC 8428 §4.5.3: times below 2**28 are relative to now; the codec has no clock.
    records = senml.decode_json(json_payload([{"n": str(at(1)), "v": 1, "t": -5}]), ROOT, REGISTRY)
    assert records[0].time == -5


def test_name_and_base_name_concatenate_without_a_separator() -> None:
    payload = json_payload([{"bn": "/3/0/1", "n": "0", "vs": "x"}])
    assert senml.decode_json(payload, ROOT, EMPTY)[0].path == P("/3/0/10")


def test_one_record_is_written_with_a_full_name() -> None:
    assert senml.encode_json([Record(P("/3/0/0"), "x")], ROOT, REGISTRY) == b'[{"n":"/3/0/0","vs":"x"}]'


def test_the_base_name_is_used_only_when_it_saves_bytes() -> None:
    two = [Record(P("/3/0/9"), 15), Record(P("/3/0/20"), 4)]
    assert senml.encode_json(two, ROOT, REGISTRY) == b'[{"n":"/3/0/9","v":15},{"n":"/3/0/20","v":4}]'
    three = [*two, Record(P("/3/0/10"), 1)]
    assert senml.encode_json(three, ROOT, REGISTRY) == (
        b'[{"bn":"/3/0/","n":"9","v":15},{"n":"20","v":4},{"n":"10","v":1}]'
    )
    mixed = [Record(P("/3/0/9"), 1), Record(P("/4/0/2"), 2), Record(P("/3/0/10"), 3)]
    assert senml.decode_json(senml.encode_json(mixed, ROOT, REGISTRY), ROOT, REGISTRY) == mixed


def test_shared_times_become_one_base_time() -> None:
    records = [Record(P("/3/0/9"), 1, 1700000000), Record(P("/3/0/10"), 2, 1700000000.0), Record(P("/3/0/20"), 3)]
    pack = json.loads(senml.encode_json(records, ROOT, REGISTRY))
    assert pack == [
        {"bn": "/3/0/", "bt": 1700000000, "n": "9", "v": 1},
        {"n": "10", "v": 2},
        {"bt": 0, "n": "20", "v": 3},
    ]
    assert senml.decode_json(json_payload(pack), ROOT, REGISTRY) == records


def test_lone_times_become_t() -> None:
    records = [Record(P("/3/0/9"), 1, 1700000001.5), Record(P("/3/0/9"), 2, 1700000002), Record(P("/3/0/9"), 3)]
    pack = json.loads(senml.encode_json(records, ROOT, REGISTRY))
    assert [{k: v for k, v in r.items() if k in ("bt", "t")} for r in pack] == [
        {"t": 1700000001.5},
        {"t": 1700000002},
        {},
    ]
    assert senml.decode_json(json_payload(pack), ROOT, REGISTRY) == records


def test_time_series_of_one_resource() -> None:
    records = [Record(at(3), float(i), 1700000000 + 60 * i) for i in range(5)]
    for encode, decode in ((senml.encode_json, senml.decode_json), (senml.encode_cbor, senml.decode_cbor)):
        assert decode(encode(records, ROOT, REGISTRY), ROOT, REGISTRY) == records


def test_an_empty_pack() -> None:
    assert senml.encode_json([], ROOT, REGISTRY) == b"[]"
    assert senml.encode_cbor([], ROOT, REGISTRY) == b"\x80"
    assert senml.decode_json(b"[]", ROOT, REGISTRY) == []
    assert senml.decode_cbor(b"\x80", ROOT, REGISTRY) == []


def test_version_and_unknown_fields_are_accepted() -> None:
    pack = [{"bver": 10, "n": str(at(1)), "v": 1, "u": "Cel", "foo": [1, {"x": None}]}]
    assert senml.decode_json(json_payload(pack), ROOT, REGISTRY) == [Record(at(1), 1)]
    cbor_pack = [{-1: 10, 0: str(at(1)), 2: 1, 99: "ignored", "foo": None}]
    assert senml.decode_cbor(cbor2.dumps(cbor_pack), ROOT, REGISTRY) == [Record(at(1), 1)]


# --- composite path lists -----------------------------------------------------------


@pytest.mark.parametrize("content_format", [110, 320])
def test_paths_in_json(content_format: int) -> None:
    paths = [P("/3/0/0"), P("/1/0")]
    assert senml.encode_paths(paths, content_format) == b'[{"n":"/3/0/0"},{"n":"/1/0"}]'
    assert senml.decode_paths(b'[{"n":"/3/0/0"},{"n":"/1/0"}]', content_format) == paths


@pytest.mark.parametrize("content_format", [112, 322])
def test_paths_in_cbor(content_format: int) -> None:
    paths = [P("/3/0/0"), P("/1/0"), P("/3"), P("/")]
    payload = senml.encode_paths(paths, content_format)
    assert cbor2.loads(payload) == [{0: "/3/0/0"}, {0: "/1/0"}, {0: "/3"}, {0: "/"}]
    assert senml.decode_paths(payload, content_format) == paths


def test_paths_share_a_base_name_when_shorter() -> None:
    paths = [P("/3/0/0"), P("/3/0/1"), P("/3/0/2"), P("/3/0/3")]
    payload = senml.encode_paths(paths, 110)
    assert payload == b'[{"bn":"/3/0/","n":"0"},{"n":"1"},{"n":"2"},{"n":"3"}]'
    assert senml.decode_paths(payload, 110) == paths


def test_paths_ignore_values_and_resolve_base_names() -> None:
    payload = json_payload([{"bn": "/3/0/", "n": "1", "v": 4}, {"n": "6/0"}, {"bn": "/5"}])
    assert senml.decode_paths(payload, 320) == [P("/3/0/1"), P("/3/0/6/0"), P("/5")]


def test_paths_refuse_names_no_path_can_have() -> None:
    with pytest.raises(FormatError, match="too long") as caught:
        senml.decode_paths(json_payload([{"n": "/3"}, {"n": "/" + "1" * 5000}]), 110)
    assert caught.value.where == "record 1"


@pytest.mark.parametrize("content_format", [0, 60, 11542, 11544])
def test_paths_need_a_senml_format(content_format: int) -> None:
    with pytest.raises(FormatError, match="SenML"):
        senml.encode_paths([P("/3/0")], content_format)
    with pytest.raises(FormatError, match="SenML"):
        senml.decode_paths(b"[]", content_format)


def test_the_dispatcher_routes_etch_and_paths() -> None:
    payload = formats.encode(320, {"/3/0/9": 5}, path="/3/0", registry=REGISTRY)
    assert formats.decode(322, formats.encode(322, {"/3/0/9": 5}, registry=REGISTRY), registry=REGISTRY) == {
        P("/3/0/9"): 5
    }
    assert formats.decode(320, payload, path="/3/0", registry=REGISTRY) == {P("/3/0/9"): 5}
    assert formats.decode_paths(112, formats.encode_paths(112, ["/3/0/1"])) == [P("/3/0/1")]


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message", "where"),
    [
        (b'{"n":"/3/0/0","v":1}', "array of records", None),
        (b"[1]", "record is a map", "record 0"),
        (b'[{"n":"/3/0/9","v":1},[]]', "record is a map", "record 1"),
        (b'[{"n":"/3/0/9"}]', "no value", "record 0 (/3/0/9)"),
        (b'[{"v":1}]', "no name", "record 0"),
        (b'[{"n":"/3/0","v":1}]', "resource or resource instance", "record 0 (/3/0)"),
        (b'[{"n":"/","v":1}]', "resource or resource instance", "record 0 (/)"),
        (b'[{"n":"3/0/9","v":1}]', "starts with '/'", "record 0"),
        (b'[{"n":"/3/0/x","v":1}]', "not a decimal id", "record 0"),
        (b'[{"n":"/3/0/09","v":1}]', "leading zero", "record 0"),
        (b'[{"n":"/3/0/65535","v":1}]', "out of range", "record 0"),
        (b'[{"n":"/3/0/9/1/2","v":1}]', "at most 4", "record 0"),
        (b'[{"n":"/3/0/9","v":1,"vs":"x"}]', "one value", "record 0"),
        (b'[{"n":"/3/0/9","v":"1"}]', "must be a number", "record 0 'v'"),
        (b'[{"n":"/3/0/9","v":true}]', "must be a number", "record 0 'v'"),
        (b'[{"n":9,"v":1}]', "must be text", "record 0 'n'"),
        (b'[{"n":"/3/0/9","vb":1}]', "must be a boolean", "record 0 'vb'"),
        (b'[{"n":"/3/0/9","vd":1}]', "base64url text", "record 0 'vd'"),
        (b'[{"n":"/3/0/9","vd":"A"}]', "base64", "record 0 'vd'"),
        (b'[{"n":"/3/0/9","vd":"A$=="}]', "base64", "record 0 'vd'"),
        (b'[{"n":"/3/0/9","vd":"QQ==="}]', "base64", "record 0 'vd'"),
        (b'[{"n":"/3/0/9","vd":"\xc3\xa9A=="}]', "non-ASCII", "record 0 'vd'"),
        (b'[{"n":"/3/0/9","vlo":"3"}]', "objlnk", "record 0"),
        (b'[{"n":"/3/0/9","vlo":"3:65536"}]', "16-bit", "record 0"),
        (b'[{"n":"/3/0/9","t":"now","v":1}]', "must be a number", "record 0 't'"),
        (b'[{"bver":"10","n":"/3/0/9","v":1}]', "must be an integer", "record 0 'bver'"),
        (b'[{"n":"/3/0/9","v":1,"x_":1}]', "must-understand", "record 0"),
        (b'[{"n":"/3/0/9","v":123456789012345678901234567890}]', "64-bit range", "record 0 'v'"),
        (b'[{"n":"/3/0/9","v":1,"t":123456789012345678901234567890}]', "64-bit range", "record 0 't'"),
        (b'[{"bn":"/9999/0/","bv":18446744073709551615,"n":"1","v":1}]', "64-bit range", "record 0"),
        (b'[{"n":"/3/0/' + b"9" * 5000 + b'","v":1}]', "too long", "record 0"),
        (b'[{"bn":"/3/0/","n":"' + b"1" * 30 + b'","v":1}]', "too long", "record 0"),
        (b'[{"n":"/3/0/9","v":1},{"n":"/3/0/0","v":1}]', "string expected", "record 1 (/3/0/0)"),
        (b'[{"n":"/3/0/13","v":1.5}]', "non-integral", "record 0 (/3/0/13)"),
        (b'[{"n":"/3/0/9","vs":"\\ud800"}]', "surrogate", "record 0 'vs'"),
    ],
)
def test_json_refusals(payload: bytes, message: str, where: str | None) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        senml.decode_json(payload, ROOT, REGISTRY)
    assert caught.value.where == where
    assert caught.value.content_format == 110


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'[{"n":"/3/0/9","v":NaN}]', "NaN"),
        (b'[{"n":"/3/0/9","v":Infinity}]', "Infinity"),
        (b'[{"n":"/3/0/9","v":-Infinity}]', "Infinity"),
        (b'[{"n":"/3/0/9","v":1e999}]', "64-bit float"),
        (b'[{"n":"/3/0/9","v":1,"v":2}]', "duplicate"),
        (b'[{"n":"/3/0/9","v":1}] x', "malformed JSON"),
        (b"", "malformed JSON"),
        (b'[{"n":"/3/0/9","vs":"\xff"}]', "not UTF-8"),
        (b'\xef\xbb\xbf[{"n":"/3/0/9","v":1}]', "malformed JSON"),
        ('[{"n":"/3/0/9","v":1}]'.encode("utf-16"), "not UTF-8"),
        (b"[" * 100_000, "JSON"),
        (b'[{"n":"/3/0/9","v":' + b"9" * 5000 + b"}]", "JSON"),
    ],
)
def test_json_syntax_refusals(payload: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        senml.decode_json(payload, ROOT, REGISTRY)


@pytest.mark.parametrize(
    ("pack", "message", "where"),
    [
        ({0: "/3/0/9", 2: 1}, "array of records", None),
        ([{0: "/3/0/9", 2: 1, 3: "x"}], "one value", "record 0"),
        ([{"n": "/3/0/9", 2: 1}], "must be written 0", "record 0"),
        ([{0: "/3/0/9", "v": 1}], "must be written 2", "record 0"),
        ([{True: "/3/0/9", 2: 1}], "text or integer", "record 0"),
        ([{b"n": "/3/0/9", 2: 1}], "text or integer", "record 0"),
        ([{1.0: "x", 0: "/3/0/9", 2: 1}], "text or integer", "record 0"),
        ([{0: "/3/0/9", 8: "AQ"}], "byte string", "record 0 'vd'"),
        ([{0: b"/3/0/9", 2: 1}], "must be text", "record 0 'n'"),
        ([{0: "/3/0/9", 2: 1, 6: float("nan")}], "not finite", "record 0 't'"),
        ([{-3: float("inf"), 0: "/3/0/9", 2: 1}], "not finite", "record 0 'bt'"),
        ([{-3: 1e308, 0: "/3/0/9", 2: 1, 6: 1e308}], "not finite", "record 0"),
        ([{0: "/3/0/9", "vlo": 3}], "must be text", "record 0 'vlo'"),
        ([{0: "/3/0/9", 2: 2**64}], "64-bit range", "record 0 'v'"),
        ([{0: "/3/0/9", 2: -(2**63) - 1}], "64-bit range", "record 0 'v'"),
        ([{0: "/3/0/9", 2: 10**5000}], "64-bit range", "record 0 'v'"),  # a bignum (tag 2)
        ([{0: "/3/0/9", 2: 1, 6: 10**5000}], "64-bit range", "record 0 't'"),
        ([{-5: -(10**5000), 0: "/3/0/9", 2: 1.5}], "64-bit range", "record 0 'bv'"),
        ([{0: "/3/0/9", 2: None}], "must be a number", "record 0 'v'"),
    ],
)
def test_cbor_refusals(pack: object, message: str, where: str | None) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        senml.decode_cbor(cbor2.dumps(pack), ROOT, REGISTRY)
    assert caught.value.where == where
    assert caught.value.content_format == 112


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x82\x80", b"\x81\xa1\x00", b"\x9f", b"\xff", b"\x81\xa2\x00\x61\x61\x00\x61\x62", b"\x81" * 5000],
)
def test_malformed_cbor_is_a_format_error(payload: bytes) -> None:
    with pytest.raises(FormatError):
        senml.decode_cbor(payload, ROOT, REGISTRY)


def test_nan_and_infinity_travel_in_cbor_but_not_json() -> None:
    for value in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(FormatError, match="SenML CBOR") as caught:
            senml.encode_json([Record(at(3), value)], ROOT, REGISTRY)
        assert caught.value.where == str(at(3))
        (record,) = senml.decode_cbor(senml.encode_cbor([Record(at(3), value)], ROOT, REGISTRY), ROOT, REGISTRY)
        assert str(record.value) == str(value)


@pytest.mark.parametrize(("encode", "decode"), CODECS)
def test_encoding_refusals(encode: Encode, decode: Decode) -> None:
    with pytest.raises(FormatError, match="string expected"):
        encode([Record(P("/3/0/0"), 5)], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="surrogate"):
        encode([Record(P("/3/0/0"), "\ud800")], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="finite number"):
        encode([Record(P("/3/0/9"), 5, float("nan"))], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="64-bit range"):
        encode([Record(P("/3/0/9"), 5, 2**70)], ROOT, REGISTRY)
    with pytest.raises(FormatError, match="outside"):
        encode([Record(at(1), 2**63)], ROOT, REGISTRY)


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
TIMES = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40).filter(bool),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15).filter(bool),
)


@st.composite
def typed_records(draw: st.DrawFn) -> Record:
    resource = draw(st.sampled_from(sorted(TYPES)))
    value = draw(VALUES[TYPES[resource]])
    instance = draw(st.sampled_from([0, 1, 65534]))
    if draw(st.booleans()):
        path = Path.of(OBJECT, instance, 100 + resource, draw(st.integers(0, 65534)))
    else:
        path = Path.of(OBJECT, instance, resource)
    return Record(path, value, draw(TIMES))


@st.composite
def untyped_records(draw: st.DrawFn) -> Record:
    """Values for resources no registry knows: the SenML field alone carries the type."""
    value = draw(st.one_of([VALUES[t] for t in TYPES.values()]))
    ids = draw(st.lists(st.integers(0, 65534), min_size=3, max_size=4))
    return Record(Path(tuple(ids)), value, draw(TIMES))


@pytest.mark.parametrize(("encode", "decode"), CODECS)
@given(records=st.lists(typed_records(), max_size=8))
def test_typed_records_round_trip(encode: Encode, decode: Decode, records: list[Record]) -> None:
    assert same_records(decode(encode(records, ROOT, REGISTRY), ROOT, REGISTRY), records)


@pytest.mark.parametrize(("encode", "decode"), CODECS)
@given(records=st.lists(untyped_records(), max_size=8))
def test_untyped_records_round_trip(encode: Encode, decode: Decode, records: list[Record]) -> None:
    assert same_records(decode(encode(records, ROOT, EMPTY), ROOT, EMPTY), records)


@given(paths=st.lists(st.lists(st.integers(0, 65534), max_size=4).map(lambda ids: Path(tuple(ids))), max_size=6))
def test_paths_round_trip(paths: list[Path]) -> None:
    for content_format in (110, 112, 320, 322):
        assert senml.decode_paths(senml.encode_paths(paths, content_format), content_format) == paths


def decodes_or_refuses(decode: Decode, payload: bytes) -> None:
    try:
        records = decode(payload, ROOT, REGISTRY)
    except FormatError:
        return
    assert all(isinstance(r, Record) and len(r.path) >= 3 for r in records)


@pytest.mark.parametrize(("encode", "decode"), CODECS)
@given(payload=st.binary(max_size=80))
def test_any_bytes_give_records_or_a_format_error(encode: Encode, decode: Decode, payload: bytes) -> None:
    decodes_or_refuses(decode, payload)


@given(paths_payload=st.binary(max_size=60), content_format=st.sampled_from([110, 112, 320, 322]))
def test_any_bytes_give_paths_or_a_format_error(paths_payload: bytes, content_format: int) -> None:
    try:
        paths = senml.decode_paths(paths_payload, content_format)
    except FormatError:
        return
    assert all(isinstance(path, Path) for path in paths)


# Structured fuzz: packs that parse, made mostly of well-typed fields with real labels,
# names and values (and sometimes a wrong one), so the semantic checks get exercised:
# label mapping, field types, name resolution, one value per record, registry typing.
FULL_NAMES = st.one_of(
    st.sampled_from([str(at(r)) for r in TYPES] + ["/3/0/9", "/3/0/13", "/9100/0/107/1", "/3/0", "/", "3/0/9"]),
    st.lists(st.integers(0, 65534), min_size=3, max_size=4).map(lambda ids: "/" + "/".join(map(str, ids))),
    st.lists(st.integers(0, 70000), max_size=5).map(lambda ids: "/" + "/".join(map(str, ids))),
)
PREFIXES = st.sampled_from(["/9100/0/", "/3/0/", "/", "/9100/", "/9100/0/10", ""])
RELATIVE_NAMES = st.one_of(st.sampled_from([str(r) for r in TYPES] + ["107/1", "9", "13", ""]), st.text(max_size=4))
NUMBERS = st.one_of(
    st.integers(-1000, 2**31),
    st.floats(-1e10, 1e10),
    st.integers(-(2**65), 2**65),
    st.floats(),
    st.sampled_from([0, 1, -1, 1.5, 2**28]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6), st.binary(max_size=4))
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner))
VALUE_FIELDS = {
    "v": NUMBERS,
    "vs": st.text(max_size=8),
    "vb": st.booleans(),
    "vd": st.binary(max_size=6),
    "vlo": st.one_of(st.sampled_from(["3:0", "65535:65535", "1:2"]), st.sampled_from(["1:70000", "x", ""])),
}
OTHER_FIELDS = {"bv": NUMBERS, "bver": st.integers(0, 20), "u": st.text(max_size=3), "x_": SCALARS, "zz": JUNK}


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Usually a well-typed value, one time in thirty anything at all."""
    # Hypothesis favours the ends of a range, so the rare branch sits in the middle.
    return st.integers(0, 29).flatmap(lambda roll: SCALARS if roll == 17 else good)


def merged(*parts: dict[str, object]) -> dict[str, object]:
    return {k: v for part in parts for k, v in part.items()}


NAME_FIELDS = st.one_of(
    st.fixed_dictionaries({"n": mostly(FULL_NAMES)}),
    st.fixed_dictionaries({"bn": mostly(PREFIXES), "n": mostly(RELATIVE_NAMES)}),
    st.fixed_dictionaries({"n": mostly(RELATIVE_NAMES)}),  # under an earlier record's bn
    st.fixed_dictionaries({"bn": mostly(FULL_NAMES)}),
)
TIME_FIELDS = st.integers(0, 2).flatmap(
    lambda roll: (
        st.just({}) if roll else st.fixed_dictionaries({}, optional={"bt": mostly(NUMBERS), "t": mostly(NUMBERS)})
    )
)
ONE_VALUE = st.sampled_from(sorted(VALUE_FIELDS)).flatmap(
    lambda label: st.fixed_dictionaries({label: mostly(VALUE_FIELDS[label])})
)
VALUES_FIELDS = st.integers(0, 19).flatmap(
    lambda roll: st.just({}) if roll == 7 else st.builds(merged, ONE_VALUE, ONE_VALUE) if roll == 8 else ONE_VALUE
)
EXTRA_FIELDS = st.integers(0, 19).flatmap(
    lambda roll: (
        st.fixed_dictionaries({}, optional={k: mostly(v) for k, v in OTHER_FIELDS.items()})
        if roll == 7
        else st.just({})
    )
)
RECORD = st.builds(merged, NAME_FIELDS, TIME_FIELDS, VALUES_FIELDS, EXTRA_FIELDS)
PACKS = st.lists(st.integers(0, 19).flatmap(lambda roll: JUNK if roll == 7 else RECORD), max_size=5)


def as_json(item: object) -> object:
    """JSON cannot hold bytes: write them as base64url, as 'vd' wants (elsewhere a type error)."""
    if isinstance(item, bytes):
        return base64.urlsafe_b64encode(item).decode().rstrip("=")
    if isinstance(item, list):
        return [as_json(x) for x in item]
    if isinstance(item, dict):
        return {k: as_json(v) for k, v in item.items()}
    return item


def as_cbor(item: object) -> object:
    """Use the CBOR labels for known fields (and keep unknown text labels as text)."""
    if isinstance(item, dict):
        return {CBOR_LABELS.get(k, k): v for k, v in item.items()}
    return [as_cbor(x) for x in item] if isinstance(item, list) else item


CBOR_LABELS = {"bver": -1, "bn": -2, "bt": -3, "bv": -5, "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8}


@given(pack=PACKS)
@settings(max_examples=400)
def test_structured_json_gives_records_or_a_format_error(pack: list[object]) -> None:
    try:
        payload = json.dumps(as_json(pack)).encode()
    except ValueError:
        return
    decodes_or_refuses(senml.decode_json, payload)


@given(pack=PACKS)
@settings(max_examples=400)
def test_structured_cbor_gives_records_or_a_format_error(pack: list[object]) -> None:
    decodes_or_refuses(senml.decode_cbor, cbor2.dumps([as_cbor(record) for record in pack]))
