"""OMA LwM2M TLV (content-format 11542): spec vectors, every data type, every target level, errors, fuzzing.

The vectors are the examples of LwM2M Core §7.4.3 (TS 1.0 §6.4.3). Three of the
multiple-instance examples carry length errata in the published text; the bytes
here are corrected and every length was recounted by hand (see the comments).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import tlv
from m2mclient.lwm2m.formats._common import Record
from m2mclient.lwm2m.model import (
    INT64_MAX,
    INT64_MIN,
    UINT64_MAX,
    DataType,
    ObjectDefinition,
    ObjLnk,
    Operations,
    Path,
    ResourceDefinition,
    Value,
)
from m2mclient.lwm2m.registry import Registry

STR, INT, UINT, FLT, BOOL, TIME, OPQ, LNK, CLNK = (
    DataType.STRING,
    DataType.INTEGER,
    DataType.UNSIGNED_INTEGER,
    DataType.FLOAT,
    DataType.BOOLEAN,
    DataType.TIME,
    DataType.OPAQUE,
    DataType.OBJLNK,
    DataType.CORELNK,
)


def _object(object_id: int, resources: dict[int, tuple[DataType, bool]]) -> ObjectDefinition:
    return ObjectDefinition(
        object_id,
        f"object {object_id}",
        {
            rid: ResourceDefinition(rid, f"r{rid}", t, Operations.RW, multiple)
            for rid, (t, multiple) in resources.items()
        },
    )


TYPES = [t for t in DataType if t is not DataType.NONE]
TYPED = 9001  # resource k (single) and 100 + k (multiple) have type TYPES[k]; 300 is single Opaque, 16-bit id

REGISTRY = Registry(
    [
        # Server: Short Server ID, Lifetime, Notification Storing, Binding.
        _object(1, {0: (INT, False), 1: (INT, False), 6: (BOOL, False), 7: (STR, False)}),
        # Access Control: Object ID, Object Instance ID, ACL (multiple), Access Control Owner.
        _object(2, {0: (INT, False), 1: (INT, False), 2: (INT, True), 3: (INT, False)}),
        # Device, the resources the spec example reads.
        _object(
            3,
            {
                0: (STR, False),
                1: (STR, False),
                2: (STR, False),
                3: (STR, False),
                6: (INT, True),
                7: (INT, True),
                8: (INT, True),
                9: (INT, False),
                10: (INT, False),
                11: (INT, True),
                13: (TIME, False),
                14: (STR, False),
                16: (STR, False),
            },
        ),
        # The spec's Objlnk examples: object 65 links to instances of 66, which link to 67.
        _object(65, {0: (LNK, True), 1: (STR, False), 2: (INT, False)}),
        _object(66, {0: (STR, False), 1: (STR, False), 2: (LNK, False)}),
        _object(
            TYPED,
            {k: (t, False) for k, t in enumerate(TYPES)}
            | {100 + k: (t, True) for k, t in enumerate(TYPES)}
            | {300: (OPQ, False)},
        ),
    ]
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


def rec(path: str, value: Value) -> Record:
    return Record(Path.parse(path), value)


def enc(records: list[Record], base: str, registry: Registry = REGISTRY) -> bytes:
    return tlv.encode(records, Path.parse(base), registry)


def dec(payload: bytes, base: str, registry: Registry = REGISTRY) -> list[Record]:
    return tlv.decode(payload, Path.parse(base), registry)


def by_path(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: r.path)


# --- spec vectors --------------------------------------------------------------------------

# Read /3/0: LwM2M Core §7.4.3 "Single Object Instance" example, byte for byte.
DEVICE_TLV = hx(
    "C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"  # 0 "Open Mobile Alliance"
    "C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"  # 1 "Lightweight M2M Client"
    "C8 02 09 33 34 35 30 30 30 31 32 33"  # 2 "345000123"
    "C3 03 31 2E 30"  # 3 "1.0"
    "86 06 41 00 01 41 01 05"  # 6 available power sources [1, 5]
    "88 07 08 42 00 0E D8 42 01 13 88"  # 7 power source voltage [3800, 5000]
    "87 08 41 00 7D 42 01 03 84"  # 8 power source current [125, 900]
    "C1 09 64"  # 9 battery level 100
    "C1 0A 0F"  # 10 memory free 15
    "83 0B 41 00 00"  # 11 error code [0]
    "C4 0D 51 82 42 8F"  # 13 current time 1367491215
    "C6 0E 2B 30 32 3A 30 30"  # 14 UTC offset "+02:00"
    "C1 10 55"  # 16 binding "U"
)
DEVICE_RECORDS = [
    rec("/3/0/0", "Open Mobile Alliance"),
    rec("/3/0/1", "Lightweight M2M Client"),
    rec("/3/0/2", "345000123"),
    rec("/3/0/3", "1.0"),
    rec("/3/0/6/0", 1),
    rec("/3/0/6/1", 5),
    rec("/3/0/7/0", 3800),
    rec("/3/0/7/1", 5000),
    rec("/3/0/8/0", 125),
    rec("/3/0/8/1", 900),
    rec("/3/0/9", 100),
    rec("/3/0/10", 15),
    rec("/3/0/11/0", 0),
    rec("/3/0/13", 1367491215),
    rec("/3/0/14", "+02:00"),
    rec("/3/0/16", "U"),
]

# Read /2: "Multiple Object Instances" example. The published text writes the ACL of
# instance 2 as "86 02 ..." but holds 7 bytes (41 7F 07 + 61 01 36 01) and the
# enclosing length 0x12 = 3 + 3 + (2 + 7) + 3 agrees with 7, so the header is 87.
ACCESS_CONTROL_TLV = hx(
    "08 00 0E"  # instance 0, 14 bytes
    "C1 00 01  C1 01 00  83 02 41 7F 07  C1 03 7F"
    "08 02 12"  # instance 2, 18 bytes
    "C1 00 03  C1 01 00  87 02 41 7F 07 61 01 36 01  C1 03 7F"  # 61: 16-bit resource instance id 0x0136 = 310
)
ACCESS_CONTROL_RECORDS = [
    rec("/2/0/0", 1),
    rec("/2/0/1", 0),
    rec("/2/0/2/127", 7),
    rec("/2/0/3", 127),
    rec("/2/2/0", 3),
    rec("/2/2/1", 0),
    rec("/2/2/2/127", 7),
    rec("/2/2/2/310", 1),
    rec("/2/2/3", 127),
]

# Read /1 (one Server instance). Published with instance length 0D; its content is
# 3 + 6 + 3 + 3 = 15 bytes, so 0F.
SERVER_TLV = hx("08 00 0F  C1 00 01  C4 01 00 01 51 80  C1 06 01  C1 07 55")
SERVER_RECORDS = [rec("/1/0/0", 1), rec("/1/0/1", 86400), rec("/1/0/6", True), rec("/1/0/7", "U")]

# Read /65/0: Objlnk example (links to 66:0 and 66:1).
OBJLNK_INSTANCE_TLV = hx(
    "88 00 0C 44 00 00 42 00 00 44 01 00 42 00 01"
    "C8 01 0D 38 36 31 33 38 30 30 37 35 35 35 30 30"  # "8613800755500"
    "C4 02 12 34 56 78"
)
OBJLNK_INSTANCE_RECORDS = [
    rec("/65/0/0/0", ObjLnk(66, 0)),
    rec("/65/0/0/1", ObjLnk(66, 1)),
    rec("/65/0/1", "8613800755500"),
    rec("/65/0/2", 0x12345678),
]

# Read /66: Objlnk example with two instances, the second link being "none" (65535:65535).
# Published with instance lengths 23; the content is 14 + 18 + 6 = 38 bytes, so 26.
OBJLNK_OBJECT_TLV = hx(
    "08 00 26"
    "C8 00 0B 6D 79 53 65 72 76 69 63 65 20 31"  # "myService 1"
    "C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 34"  # "Internet.15.234"
    "C4 02 00 43 00 00"  # 67:0
    "08 01 26"
    "C8 00 0B 6D 79 53 65 72 76 69 63 65 20 32"
    "C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 35"
    "C4 02 FF FF FF FF"
)
OBJLNK_OBJECT_RECORDS = [
    rec("/66/0/0", "myService 1"),
    rec("/66/0/1", "Internet.15.234"),
    rec("/66/0/2", ObjLnk(67, 0)),
    rec("/66/1/0", "myService 2"),
    rec("/66/1/1", "Internet.15.235"),
    rec("/66/1/2", ObjLnk(65535, 65535)),
]

SPEC_VECTORS = [
    pytest.param(DEVICE_TLV, "/3/0", DEVICE_RECORDS, id="device-instance"),
    pytest.param(ACCESS_CONTROL_TLV, "/2", ACCESS_CONTROL_RECORDS, id="access-control-object"),
    pytest.param(SERVER_TLV, "/1", SERVER_RECORDS, id="server-object"),
    pytest.param(OBJLNK_INSTANCE_TLV, "/65/0", OBJLNK_INSTANCE_RECORDS, id="objlnk-instance"),
    pytest.param(OBJLNK_OBJECT_TLV, "/66", OBJLNK_OBJECT_RECORDS, id="objlnk-object"),
    pytest.param(
        hx("C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"),
        "/3/0/0",
        [rec("/3/0/0", "Open Mobile Alliance")],
        id="manufacturer",
    ),
    pytest.param(
        hx("C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"),
        "/3/0/1",
        [rec("/3/0/1", "Lightweight M2M Client")],
        id="model-number",
    ),
    pytest.param(hx("86 06 41 00 01 41 01 05"), "/3/0/6", [rec("/3/0/6/0", 1), rec("/3/0/6/1", 5)], id="power-sources"),
    pytest.param(hx("41 01 05"), "/3/0/6/1", [rec("/3/0/6/1", 5)], id="power-source-instance"),
    pytest.param(hx("C1 09 64"), "/3/0/9", [rec("/3/0/9", 100)], id="battery-level"),
    pytest.param(hx("C4 0D 51 82 42 8F"), "/3/0/13", [rec("/3/0/13", 1367491215)], id="current-time"),
]


@pytest.mark.parametrize(("payload", "base", "records"), SPEC_VECTORS)
def test_spec_vector_decodes(payload: bytes, base: str, records: list[Record]) -> None:
    assert dec(payload, base) == records


@pytest.mark.parametrize(("payload", "base", "records"), SPEC_VECTORS)
def test_spec_vector_encodes_byte_for_byte(payload: bytes, base: str, records: list[Record]) -> None:
    assert enc(records, base) == payload


def test_encode_sorts_and_groups_unordered_records() -> None:
    shuffled = list(reversed(ACCESS_CONTROL_RECORDS))
    assert enc(shuffled, "/2") == ACCESS_CONTROL_TLV


def test_records_keep_payload_order() -> None:
    payload = hx("C1 09 64 C3 03 31 2E 30")
    assert [str(r.path) for r in dec(payload, "/3/0")] == ["/3/0/9", "/3/0/3"]


def test_decoded_records_carry_no_time() -> None:
    assert all(r.time is None for r in dec(DEVICE_TLV, "/3/0"))


# --- every data type -------------------------------------------------------------------------

TYPE_VECTORS = [
    # Integer: the shortest of 1, 2, 4, 8 bytes, two's complement.
    (INT, 0, "00"),
    (INT, 127, "7F"),
    (INT, 128, "0080"),
    (INT, -1, "FF"),
    (INT, -128, "80"),
    (INT, -129, "FF7F"),
    (INT, 32767, "7FFF"),
    (INT, 32768, "00008000"),
    (INT, -32769, "FFFF7FFF"),
    (INT, 2**31 - 1, "7FFFFFFF"),
    (INT, -(2**31), "80000000"),
    (INT, 2**31, "0000000080000000"),
    (INT, INT64_MAX, "7FFFFFFFFFFFFFFF"),
    (INT, INT64_MIN, "8000000000000000"),
    # Unsigned Integer: the shortest of 1, 2, 4, 8 bytes, unsigned.
    (UINT, 0, "00"),
    (UINT, 255, "FF"),
    (UINT, 256, "0100"),
    (UINT, 65535, "FFFF"),
    (UINT, 65536, "00010000"),
    (UINT, 2**32 - 1, "FFFFFFFF"),
    (UINT, 2**32, "0000000100000000"),
    (UINT, 2**63, "8000000000000000"),
    (UINT, UINT64_MAX, "FFFFFFFFFFFFFFFF"),
    # Float: 4 bytes when float32 holds the value exactly, else 8.
    (FLT, 1.5, "3FC00000"),
    (FLT, 0.0, "00000000"),
    (FLT, -2.0, "C0000000"),
    (FLT, math.inf, "7F800000"),
    (FLT, -math.inf, "FF800000"),
    (FLT, 3.4028234663852886e38, "7F7FFFFF"),  # float32 max
    (FLT, 0.1, "3FB999999999999A"),
    (FLT, 1e300, "7E37E43C8800759C"),
    (FLT, 5e-324, "0000000000000001"),  # below float32 range
    # Boolean, Time, Objlnk.
    (BOOL, True, "01"),
    (BOOL, False, "00"),
    (TIME, 1367491215, "5182428F"),
    (TIME, 0, "00"),
    (TIME, -1, "FF"),
    (TIME, 2**40, "0000010000000000"),
    (LNK, ObjLnk(66, 0), "00420000"),
    (LNK, ObjLnk(65535, 65535), "FFFFFFFF"),
    (LNK, ObjLnk(0, 0), "00000000"),
    # String and Corelnk are UTF-8; Opaque is raw.
    (STR, "", ""),
    (STR, "U", "55"),
    (STR, "é€", "C3A9E282AC"),
    (CLNK, "</3/0>", "3C2F332F303E"),
    (OPQ, b"", ""),
    (OPQ, b"\x00\xff", "00FF"),
]


def _typed_path(data_type: DataType, multiple: bool = False) -> str:
    return f"/{TYPED}/0/{TYPES.index(data_type) + (100 if multiple else 0)}"


@pytest.mark.parametrize(("data_type", "value", "wire"), TYPE_VECTORS)
def test_resource_value_of_every_type(data_type: DataType, value: Value, wire: str) -> None:
    path = _typed_path(data_type)
    raw = hx(wire)
    rid = TYPES.index(data_type)
    length = len(raw)
    header = bytes([0xC0 | length, rid]) if length < 8 else bytes([0xC8, rid, length])
    assert enc([rec(path, value)], path) == header + raw
    assert dec(header + raw, path) == [rec(path, value)]


@pytest.mark.parametrize(("data_type", "value", "wire"), TYPE_VECTORS)
def test_resource_instance_of_every_type(data_type: DataType, value: Value, wire: str) -> None:
    path = _typed_path(data_type, multiple=True) + "/7"
    raw = hx(wire)
    header = bytes([0x40 | len(raw), 7]) if len(raw) < 8 else bytes([0x48, 7, len(raw)])
    assert enc([rec(path, value)], path) == header + raw
    assert dec(header + raw, path) == [rec(path, value)]


def test_negative_zero_float_keeps_its_sign() -> None:
    path = _typed_path(FLT)
    payload = enc([rec(path, -0.0)], path)
    assert payload[-4:] == hx("80000000")
    (record,) = dec(payload, path)
    assert isinstance(record.value, float) and math.copysign(1.0, record.value) == -1.0


def test_nan_goes_out_as_float64_and_comes_back_nan() -> None:
    path = _typed_path(FLT)
    payload = enc([rec(path, math.nan)], path)
    assert len(payload) == 3 + 8  # type, id, 8-bit length
    (record,) = dec(payload, path)
    assert isinstance(record.value, float) and math.isnan(record.value)


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("7F", 127),
        ("FF80", -128),  # a non-minimal length is still accepted
        ("FFFFFFFF", -1),
        ("FFFFFFFFFFFFFFFF", -1),
    ],
)
def test_integer_decodes_any_allowed_length(wire: str, value: int) -> None:
    path = _typed_path(INT)
    raw = hx(wire)
    header = bytes([0xC0 | len(raw), TYPES.index(INT)]) if len(raw) < 8 else bytes([0xC8, TYPES.index(INT), len(raw)])
    assert dec(header + raw, path) == [rec(path, value)]


def test_float32_on_the_wire_decodes_to_float() -> None:
    path = _typed_path(FLT)
    assert dec(bytes([0xC4, TYPES.index(FLT)]) + hx("3DCCCCCD"), path) == [rec(path, float.fromhex("0x1.99999ap-4"))]


def test_unknown_resource_decodes_as_opaque_bytes() -> None:
    assert dec(hx("C1 63 64"), "/3/0") == [rec("/3/0/99", b"\x64")]
    assert dec(hx("C2 00 00 01"), "/4242/0/0") == [rec("/4242/0/0", b"\x00\x01")]


def test_unknown_resource_encodes_by_python_type() -> None:
    empty = Registry()
    assert enc([rec("/5000/0/1", 5)], "/5000/0/1", empty) == hx("C1 01 05")
    assert enc([rec("/5000/0/1", 2**64 - 1)], "/5000/0/1", empty) == hx("C8 01 08") + b"\xff" * 8
    assert enc([rec("/5000/0/1", "hi")], "/5000/0/1", empty) == hx("C2 01 68 69")
    assert enc([rec("/5000/0/1/2", True)], "/5000/0/1", empty) == hx("83 01 41 02 01")


# --- headers: identifier and length sizes -------------------------------------------------------


def test_sixteen_bit_identifiers() -> None:
    records = [rec(f"/{TYPED}/65534/300", b"\x01")]
    payload = enc(records, f"/{TYPED}")
    # Object Instance 65534 (16-bit id, 5-byte body), Resource 300 (16-bit id) with 1 byte.
    assert payload == hx("24 FF FE  E1 01 2C 01")
    assert dec(payload, f"/{TYPED}") == records
    # A 16-bit id flag on a small id is accepted when decoding.
    assert dec(hx("E1 00 09 64"), "/3/0") == [rec("/3/0/9", 100)]


def test_sixteen_bit_resource_instance_id() -> None:
    records = [rec(f"/{TYPED}/0/{100 + TYPES.index(INT)}/65534", 1)]
    rid = 100 + TYPES.index(INT)
    payload = enc(records, f"/{TYPED}/0/{rid}")
    assert payload == bytes([0x84, rid]) + hx("61 FF FE 01")
    assert dec(payload, f"/{TYPED}/0/{rid}") == records


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, "C0"),
        (7, "C7"),
        (8, "C8 08"),
        (255, "C8 FF"),
        (256, "D0 01 00"),
        (65535, "D0 FF FF"),
        (65536, "D8 01 00 00"),
        (70000, "D8 01 11 70"),
    ],
)
def test_length_field_sizes(size: int, header: str) -> None:
    """Lengths below 8 go in the type byte; then 8-, 16- and 24-bit length fields (24-bit above 65535 bytes)."""
    path = _typed_path(OPQ)
    rid = TYPES.index(OPQ)
    wire_header = hx(header)
    wire_header = wire_header[:1] + bytes([rid]) + wire_header[1:]
    value = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    payload = enc([rec(path, value)], path)
    assert payload == wire_header + value
    assert dec(payload, path) == [rec(path, value)]


def test_value_above_24_bit_length_is_refused() -> None:
    path = _typed_path(OPQ)
    with pytest.raises(FormatError, match="24-bit"):
        enc([rec(path, bytes(2**24))], path)


def test_largest_24_bit_length_is_encoded() -> None:
    path = _typed_path(OPQ)
    payload = enc([rec(path, bytes(2**24 - 1))], path)
    assert payload[:5] == bytes([0xD8, TYPES.index(OPQ), 0xFF, 0xFF, 0xFF])


# --- target levels ------------------------------------------------------------------------------


def test_object_level_holds_object_instances() -> None:
    assert dec(SERVER_TLV, "/1") == SERVER_RECORDS
    assert dec(b"", "/1") == []
    assert enc([], "/1") == b""


def test_instance_level_accepts_bare_resources_and_one_wrapping_instance() -> None:
    bare = SERVER_TLV[3:]
    assert dec(bare, "/1/0") == SERVER_RECORDS
    assert dec(SERVER_TLV, "/1/0") == SERVER_RECORDS  # Leshan / Wakaama leniency
    assert enc(SERVER_RECORDS, "/1/0") == bare


def test_instance_level_wrapper_must_match_instance_id() -> None:
    with pytest.raises(FormatError, match="does not match") as info:
        dec(SERVER_TLV, "/1/1")
    assert info.value.where == "byte 0, /1/1"


def test_instance_level_refuses_two_object_instances() -> None:
    with pytest.raises(FormatError, match="Object Instance TLV 0 where"):
        dec(ACCESS_CONTROL_TLV, "/2/0")


def test_resource_level_single_and_multiple() -> None:
    assert dec(hx("C1 09 64"), "/3/0/9") == [rec("/3/0/9", 100)]
    assert dec(hx("86 06 41 00 01 41 01 05"), "/3/0/6") == [rec("/3/0/6/0", 1), rec("/3/0/6/1", 5)]
    # Lenient: bare Resource Instance TLVs stand for the multiple resource.
    assert dec(hx("41 00 01 41 01 05"), "/3/0/6") == [rec("/3/0/6/0", 1), rec("/3/0/6/1", 5)]
    assert dec(b"", "/3/0/6") == []


def test_resource_level_multiple_from_instance_records_without_registry() -> None:
    records = [rec("/5000/0/1/3", 1), rec("/5000/0/1/1", 2)]
    assert enc(records, "/5000/0/1", Registry()) == hx("86 01 41 01 02 41 03 01")


def test_empty_multiple_resource() -> None:
    assert enc([], "/3/0/6") == hx("80 06")
    assert dec(hx("80 06"), "/3/0/6") == []
    assert dec(hx("80 06 C1 09 64"), "/3/0") == [rec("/3/0/9", 100)]


def test_resource_instance_level() -> None:
    assert enc([rec("/3/0/7/1", 5000)], "/3/0/7/1") == hx("42 01 13 88")
    assert dec(hx("42 01 13 88"), "/3/0/7/1") == [rec("/3/0/7/1", 5000)]


def test_resource_level_id_must_match() -> None:
    with pytest.raises(FormatError, match="does not match"):
        dec(hx("C1 09 64"), "/3/0/10")
    with pytest.raises(FormatError, match="does not match"):
        dec(hx("41 01 05"), "/3/0/6/0")


def test_instance_payload_at_resource_level_is_refused() -> None:
    with pytest.raises(FormatError, match="takes one resource TLV, got 2"):
        dec(hx("C1 09 64 C1 0A 0F"), "/3/0/9")
    with pytest.raises(FormatError, match="Object Instance TLV 0 where"):
        dec(SERVER_TLV, "/1/0/0")


def test_resource_instance_level_needs_exactly_one_instance_tlv() -> None:
    with pytest.raises(FormatError, match="got 0"):
        dec(b"", "/3/0/6/0")
    with pytest.raises(FormatError, match="got 2"):
        dec(hx("41 00 01 41 01 05"), "/3/0/6/0")
    with pytest.raises(FormatError, match="Resource with Value TLV 6 where Resource Instance"):
        dec(hx("C1 06 01"), "/3/0/6/6")


@pytest.mark.parametrize("operation", ["encode", "decode"])
def test_root_is_not_a_tlv_target(operation: str) -> None:
    with pytest.raises(FormatError, match="root"):
        if operation == "encode":
            enc([rec("/3/0/9", 1)], "/")
        else:
            dec(hx("C1 09 64"), "/")


# --- decoding errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "base", "message", "where"),
    [
        # Typed value lengths and contents.
        ("C3 09 00 00 01", "/3/0", "Integer value must be 1, 2, 4 or 8 bytes", "byte 2, /3/0/9"),
        ("C0 09", "/3/0", "Integer value must be 1, 2, 4 or 8 bytes", "byte 2, /3/0/9"),
        ("C5 0D 00 00 00 00 01", "/3/0", "Time value must be", "byte 2, /3/0/13"),
        (f"C2 {TYPES.index(FLT):02X} 00 00", f"/{TYPED}/0", "Float value must be 4 or 8 bytes", None),
        (f"C2 {TYPES.index(BOOL):02X} 00 01", f"/{TYPED}/0", "Boolean value must be one byte", None),
        (f"C1 {TYPES.index(BOOL):02X} 02", f"/{TYPED}/0", "Boolean value must be one byte, 0 or 1", None),
        (f"C3 {TYPES.index(LNK):02X} 00 00 01", f"/{TYPED}/0", "Objlnk value must be 4 bytes", None),
        (f"C3 {TYPES.index(UINT):02X} 00 00 01", f"/{TYPED}/0", "Unsigned Integer value must be", None),
        ("C2 00 C3 28", "/3/0", "String value must be valid UTF-8", "byte 2, /3/0/0"),
        (f"C1 {TYPES.index(CLNK):02X} FF", f"/{TYPED}/0", "Corelnk value must be valid UTF-8", None),
        ("88 06 08 41 00 01 43 01 00 00 05", "/3/0", "Integer value", "byte 8, /3/0/6/1"),
        # Structure.
        ("C8", "/3/0", "truncated TLV header", "byte 0, /3/0"),
        ("E1 00", "/3/0", "truncated TLV header", "byte 0, /3/0"),
        ("D8 09 00 00", "/3/0", "truncated TLV header", "byte 0, /3/0"),
        ("C4 09 64", "/3/0", "overruns the payload", "byte 0, /3/0"),
        ("C8 09 05 64", "/3/0", "overruns the payload", "byte 0, /3/0"),
        ("C1 09 64 00", "/3/0", "truncated TLV header", "byte 3, /3/0"),  # trailing garbage
        ("C1 09 64 C1", "/3/0", "truncated TLV header", "byte 3, /3/0"),
        ("08 00 04 C1 09 64", "/3", "overruns the payload", "byte 0, /3"),
        ("08 00 03 C1 09 64 FF", "/3", "truncated TLV header", "byte 6, /3"),
        ("08 00 04 C1 09 64 00", "/3", "truncated TLV header", "byte 6, /3/0"),  # garbage inside an instance
        ("E1 FF FF 00", "/3/0", "65535 is reserved", "byte 0, /3/0"),
        ("20 FF FF", "/3", "65535 is reserved", "byte 0, /3"),
        ("81 06 61", "/3/0", "truncated", "byte 2, /3/0/6"),
        ("84 06 61 FF FF 01", "/3/0", "65535 is reserved", "byte 2, /3/0/6"),
        # Nesting: wrong kinds at each level.
        ("C1 09 64", "/3", "Resource with Value TLV 9 where Object Instance was expected", "byte 0, /3"),
        ("41 09 64", "/3/0", "Resource Instance TLV 9 where", "byte 0, /3/0"),
        ("02 00 00 09", "/3", "Object Instance TLV 9 where", "byte 2, /3/0"),
        ("82 06 00 00", "/3/0", "Object Instance TLV 0 where Resource Instance was expected", "byte 2, /3/0/6"),
        ("84 06 82 00 41 00", "/3/0", "Multiple Resource TLV 0 where Resource Instance", "byte 2, /3/0/6"),
        ("83 06 C1 00 01", "/3/0", "Resource with Value TLV 0 where Resource Instance", "byte 2, /3/0/6"),
        # Duplicates.
        ("C1 09 64 C1 09 63", "/3/0", "appears twice", "byte 3, /3/0"),
        ("86 06 41 00 01 41 00 05", "/3/0", "appears twice", "byte 5, /3/0/6"),
        ("00 00 00 00", "/3", "appears twice", "byte 2, /3"),
    ],
)
def test_malformed_payloads(payload: str, base: str, message: str, where: str | None) -> None:
    with pytest.raises(FormatError, match=message) as info:
        dec(hx(payload), base)
    assert info.value.content_format == tlv.CONTENT_FORMAT
    assert info.value.where is not None and info.value.where.startswith("byte ")
    if where is not None:
        assert info.value.where == where


def test_nested_error_offset_is_absolute() -> None:
    broken = ACCESS_CONTROL_TLV.replace(hx("61 01 36 01"), hx("62 01 36 01"))  # length 2 overruns the ACL
    with pytest.raises(FormatError) as info:
        dec(broken, "/2")
    assert info.value.where == "byte 31, /2/2/2"


# --- encoding errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "base", "message"),
    [
        ([rec("/3/0/9", 1)], "/4", "at or under /4"),
        ([rec("/3/0/9", 1)], "/3/1", "at or under /3/1"),
        ([Record(Path.parse("/3/0"), 1)], "/3", "must be a resource"),
        ([rec("/3/0/9", 1), rec("/3/0/9", 2)], "/3/0", "two values"),
        ([rec("/3/0/6/0", 1), rec("/3/0/6/0", 2)], "/3/0/6", "two values"),
        ([rec("/3/0/9", 1), rec("/3/0/9", 2)], "/3/0/9", "two values"),
        ([rec("/5000/0/1", 1), rec("/5000/0/1/0", 2)], "/5000/0", "both for the resource and"),
        ([rec("/3/0/6", 1)], "/3/0", "multiple-instance"),
        ([rec("/3/0/9/0", 1)], "/3/0", "single-instance"),
        ([], "/3/0/9", "single-instance"),
        ([], "/5000/0/1", "no value"),
        ([], "/3/0/6/0", "exactly one value"),
        ([rec("/3/0/6/0", 1), rec("/3/0/6/1", 1)], "/3/0/6/0", "at or under"),
        ([rec("/3/0/9", 2**63)], "/3/0", "outside"),
        ([rec("/3/0/9", "100")], "/3/0", "integer expected"),
        ([rec("/3/0/9", 1.5)], "/3/0", "non-integral"),
        ([rec("/3/0/9", True)], "/3/0", "boolean"),
        ([rec(_typed_path(UINT), -1)], f"/{TYPED}/0", "outside"),
        ([rec(_typed_path(UINT), 2**64)], f"/{TYPED}/0", "outside"),
        ([rec(_typed_path(LNK), (65536, 0))], f"/{TYPED}/0", "objlnk"),
        ([rec(_typed_path(BOOL), 1)], f"/{TYPED}/0", "boolean expected"),
        ([rec(_typed_path(FLT), 2**1024)], f"/{TYPED}/0", "too large"),
        ([rec("/3/0/0", "\ud800")], "/3/0", "surrogate"),
        ([rec("/5000/0/0", object())], "/5000/0", "no LwM2M data type"),
        ([rec("/5000/0/0", 2**64)], "/5000/0", "outside"),
    ],
)
def test_unencodable_records(records: list[Record], base: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        enc(records, base)
    assert info.value.content_format == tlv.CONTENT_FORMAT


# --- the public entry point ------------------------------------------------------------------------


def test_through_formats_entry_point() -> None:
    assert formats.encode("tlv", DEVICE_RECORDS, path="/3/0", registry=REGISTRY) == DEVICE_TLV
    assert formats.encode(11542, {"/3/0/9": 100}, path="/3/0/9", registry=REGISTRY) == hx("C1 09 64")
    assert formats.decode_records(11542, DEVICE_TLV, path="/3/0", registry=REGISTRY) == DEVICE_RECORDS
    assert formats.decode("application/vnd.oma.lwm2m+tlv", ACCESS_CONTROL_TLV, path="/2", registry=REGISTRY) == {
        r.path: r.value for r in ACCESS_CONTROL_RECORDS
    }
    with pytest.raises(FormatError):
        formats.decode(11542, hx("C1 09"), path="/3/0", registry=REGISTRY)
    with pytest.raises(FormatError):
        formats.decode(11542, hx("C1 09 64"), registry=REGISTRY)  # the default path is the root


def test_docstring_example_with_default_registry() -> None:
    assert formats.encode("tlv", {"/3/0/0": "ACME"}, path="/3/0").hex() == "c40041434d45"
    assert formats.decode(11542, bytes.fromhex("c40041434d45"), path="/3/0") == {Path.parse("/3/0/0"): "ACME"}


def test_default_registry_reads_the_device_example() -> None:
    assert formats.decode_records(11542, DEVICE_TLV, path="/3/0") == DEVICE_RECORDS


# --- properties ------------------------------------------------------------------------------------

VALUES: dict[DataType, st.SearchStrategy[Value]] = {
    STR: st.text(max_size=12),
    CLNK: st.text(max_size=12),
    INT: st.integers(INT64_MIN, INT64_MAX),
    UINT: st.integers(0, UINT64_MAX),
    TIME: st.integers(INT64_MIN, INT64_MAX),
    FLT: st.floats(allow_nan=False) | st.floats(width=32, allow_nan=False),
    BOOL: st.booleans(),
    OPQ: st.binary(max_size=12),
    LNK: st.builds(ObjLnk, st.integers(0, 65535), st.integers(0, 65535)),
}
IDS = st.sampled_from([0, 1, 7, 8, 255, 256, 65534]) | st.integers(0, 65534)


@st.composite
def resource_records(draw: st.DrawFn, instance: Path) -> list[Record]:
    """Records for one resource of the typed object: a single value or some instances of a multiple one."""
    index = draw(st.integers(0, len(TYPES) - 1))
    data_type = TYPES[index]
    if draw(st.booleans()):
        return [Record(instance.child(index), draw(VALUES[data_type]))]
    resource = instance.child(100 + index)
    ids = draw(st.sets(IDS, min_size=1, max_size=4))
    return [Record(resource.child(i), draw(VALUES[data_type])) for i in ids]


@st.composite
def instance_records(draw: st.DrawFn, instance: Path) -> list[Record]:
    """Records for up to five distinct resources of one instance."""
    records: list[Record] = []
    seen: set[Path] = set()
    for _ in range(draw(st.integers(0, 5))):
        group = draw(resource_records(instance))
        resource = group[0].path.resource_path
        if resource not in seen:
            seen.add(resource)
            records.extend(group)
    return records


@st.composite
def object_level(draw: st.DrawFn) -> tuple[Path, list[Record]]:
    base = Path.of(TYPED)
    records = []
    for instance in draw(st.sets(IDS, max_size=3)):
        records.extend(draw(instance_records(base.child(instance))))
    return base, records


@st.composite
def instance_level(draw: st.DrawFn) -> tuple[Path, list[Record]]:
    base = Path.of(TYPED, draw(IDS))
    return base, draw(instance_records(base))


@st.composite
def resource_level(draw: st.DrawFn) -> tuple[Path, list[Record]]:
    records = draw(resource_records(Path.of(TYPED, draw(IDS))))
    return records[0].path.resource_path, records


@st.composite
def resource_instance_level(draw: st.DrawFn) -> tuple[Path, list[Record]]:
    index = draw(st.integers(0, len(TYPES) - 1))
    path = Path.of(TYPED, draw(IDS), 100 + index, draw(IDS))
    return path, [Record(path, draw(VALUES[TYPES[index]]))]


@given(st.one_of(object_level(), instance_level(), resource_level(), resource_instance_level()))
def test_roundtrip_property(case: tuple[Path, list[Record]]) -> None:
    base, records = case
    payload = tlv.encode(records, base, REGISTRY)
    decoded = tlv.decode(payload, base, REGISTRY)
    assert by_path(decoded) == by_path(records)
    assert tlv.encode(decoded, base, REGISTRY) == payload  # canonical: same bytes again


@given(st.one_of(object_level(), instance_level(), resource_level(), resource_instance_level()))
def test_roundtrip_via_entry_point(case: tuple[Path, list[Record]]) -> None:
    base, records = case
    payload = formats.encode("tlv", records, path=base, registry=REGISTRY)
    assert by_path(formats.decode_records("tlv", payload, path=base, registry=REGISTRY)) == by_path(records)


FUZZ_BASES = [Path.parse(p) for p in ("/3", "/3/0", "/3/0/6", "/3/0/6/1", "/3/0/9", f"/{TYPED}", f"/{TYPED}/0")]
FUZZ_BASES += [Path.of(TYPED, 0, k) for k in range(len(TYPES))] + [Path.of(TYPED, 0, 100 + k, 0) for k in range(9)]


def _decodes_or_format_error(payload: bytes, base: Path) -> None:
    try:
        records = tlv.decode(payload, base, REGISTRY)
    except FormatError as exc:
        assert exc.content_format == tlv.CONTENT_FORMAT
        assert exc.where is not None and exc.where.startswith("byte ")
        return
    assert isinstance(records, list)
    for record in records:
        assert isinstance(record, Record)
        assert base.is_prefix_of(record.path) and len(record.path) >= 3


@given(st.binary(max_size=64), st.sampled_from(FUZZ_BASES))
def test_fuzz_any_bytes_decode_or_format_error(payload: bytes, base: Path) -> None:
    _decodes_or_format_error(payload, base)


def _header(kind: int, ident: int, length: int, wide_id: bool, length_type: int) -> bytes:
    wide_id = wide_id or ident > 0xFF
    type_byte = kind << 6 | (0x20 if wide_id else 0)
    if length_type == 0 and length > 7:
        length_type = 3
    head = bytes([type_byte | length_type << 3 | (length if length_type == 0 else 0)])
    head += ident.to_bytes(2 if wide_id else 1, "big")
    return head + (length.to_bytes(length_type, "big") if length_type else b"")


@st.composite
def tlv_tree(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A well-framed TLV with random kind, id and content (nested for instance / multiple kinds)."""
    kind = draw(st.integers(0, 3))
    ident = draw(st.sampled_from([0, 1, 6, 9, 13, 65534, 65535]) | st.integers(0, 110))
    if kind in (0, 2) and depth < 2 and draw(st.booleans()):
        value = b"".join(draw(st.lists(tlv_tree(depth + 1), max_size=3)))
    else:
        value = draw(st.binary(max_size=9))
    return _header(kind, ident, len(value), draw(st.booleans()), draw(st.integers(0, 3))) + value


@given(st.lists(tlv_tree(), max_size=3), st.sampled_from(FUZZ_BASES), st.integers(0, 80), st.integers(0, 255))
def test_fuzz_framed_tlvs_decode_or_format_error(parts: list[bytes], base: Path, cut: int, flip: int) -> None:
    payload = b"".join(parts)
    _decodes_or_format_error(payload, base)
    _decodes_or_format_error(payload[:cut], base)
    if payload:
        mutated = bytearray(payload)
        mutated[cut % len(payload)] ^= flip
        _decodes_or_format_error(bytes(mutated), base)
