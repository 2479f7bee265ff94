"""text/plain (0), application/octet-stream (42) and application/cbor (60): one value each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import Record
from m2mclient.lwm2m.model import DataType, ObjectDefinition, ObjLnk, Path, ResourceDefinition
from m2mclient.lwm2m.registry import Registry

R = ResourceDefinition
TYPES = {
    0: DataType.STRING,
    1: DataType.INTEGER,
    2: DataType.UNSIGNED_INTEGER,
    3: DataType.FLOAT,
    4: DataType.BOOLEAN,
    5: DataType.OPAQUE,
    6: DataType.TIME,
    7: DataType.OBJLNK,
    8: DataType.CORELNK,
}
REGISTRY = Registry(
    [
        ObjectDefinition(
            9000,
            "Every type",
            {rid: R(rid, t.value, t) for rid, t in TYPES.items()} | {9: R(9, "Many", DataType.INTEGER, multiple=True)},
        )
    ]
)


def path(resource: int) -> Path:
    return Path.of(9000, 0, resource)


@pytest.mark.parametrize(
    ("resource", "value", "text"),
    [
        (0, "Open Mobile Alliance", b"Open Mobile Alliance"),
        (0, "", b""),
        (0, "grüße", "grüße".encode()),
        (1, -(2**63), b"-9223372036854775808"),
        (2, 2**64 - 1, b"18446744073709551615"),
        (3, 1.5, b"1.5"),
        (3, -0.1, b"-0.1"),
        (4, True, b"1"),
        (4, False, b"0"),
        (5, b"\x00\xff", b"AP8="),
        (5, b"", b""),
        (6, 1367491215, b"1367491215"),
        (7, ObjLnk(3, 65535), b"3:65535"),
        (8, "</3/0>;ct=0", b"</3/0>;ct=0"),
    ],
)
def test_text_both_ways(resource: int, value: object, text: bytes) -> None:
    assert formats.encode("text", {path(resource): value}, path=path(resource), registry=REGISTRY) == text
    assert formats.decode(0, text, path=path(resource), registry=REGISTRY) == {path(resource): value}


def test_text_of_a_resource_instance_uses_the_resource_type() -> None:
    target = Path.of(9000, 0, 9, 3)
    assert formats.decode("text", b"42", path=target, registry=REGISTRY) == {target: 42}


@pytest.mark.parametrize(
    ("resource", "text", "message"),
    [
        (1, b"1_000", "decimal digits"),
        (1, b" 7", "decimal digits"),
        (1, b"9223372036854775808", "outside"),
        (1, b"9" * 5000, "decimal digits"),
        (2, b"-1", "outside"),
        (3, b"nan", "decimal number"),
        (3, b"1e999", "out of range"),
        (4, b"true", "'0' or '1'"),
        (5, b"not base64!", "base64"),
        (7, b"3", "object:instance"),
        (0, b"\xff\xfe", "not UTF-8"),
    ],
)
def test_text_rejects_what_its_type_does_not_allow(resource: int, text: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        formats.decode("text", text, path=path(resource), registry=REGISTRY)


def test_unknown_resources_read_as_opaque_and_say_so() -> None:
    unknown = Path.of(9999, 0, 0)
    assert formats.decode("text", b"AQI=", path=unknown, registry=REGISTRY) == {unknown: b"\x01\x02"}
    with pytest.raises(FormatError, match="load its DDF"):
        formats.decode("text", b"hello", path=unknown, registry=REGISTRY)


@pytest.mark.parametrize("fmt", ["text", "opaque", "cbor"])
def test_single_value_formats_refuse_containers(fmt: str) -> None:
    with pytest.raises(FormatError, match="not /9000/0"):
        formats.decode(fmt, b"", path="/9000/0", registry=REGISTRY)
    with pytest.raises(FormatError, match="multiple-instance"):
        formats.decode(fmt, b"", path=path(9), registry=REGISTRY)
    with pytest.raises(FormatError, match="exactly the value of"):
        formats.encode(fmt, [Record(path(5), b"a"), Record(path(5), b"b")], path=path(5), registry=REGISTRY)
    with pytest.raises(FormatError, match="at or under /9000/0/0"):
        formats.encode(fmt, {path(0): "a", path(1): 1}, path=path(0), registry=REGISTRY)


def test_opaque_carries_bytes_of_opaque_resources_only() -> None:
    assert formats.encode(42, {path(5): b"\x01\x02"}, path=path(5), registry=REGISTRY) == b"\x01\x02"
    assert formats.decode(42, b"\x00", path=path(5), registry=REGISTRY) == {path(5): b"\x00"}
    with pytest.raises(FormatError, match="type String"):
        formats.decode(42, b"x", path=path(0), registry=REGISTRY)
    with pytest.raises(FormatError, match="carries bytes"):
        formats.encode(42, {Path.of(1234, 0, 0): "text"}, path="/1234/0/0", registry=REGISTRY)


@pytest.mark.parametrize(
    ("resource", "value", "cbor_hex"),
    [
        (0, "ACME", "6441434d45"),
        (1, -1, "20"),
        (1, 2**63 - 1, "1b7fffffffffffffff"),
        (2, 2**64 - 1, "1bffffffffffffffff"),
        (3, 1.5, "f93e00"),  # narrowest lossless float: half precision
        (3, 0.1, "fb3fb999999999999a"),  # needs float64
        (3, 100000.0, "fa47c35000"),  # exact in float32 but not float16
        (4, True, "f5"),
        (5, b"\x01", "4101"),
        (6, 1367491215, "1a5182428f"),
        (7, ObjLnk(3, 0), "63333a30"),
    ],
)
def test_cbor_both_ways(resource: int, value: object, cbor_hex: str) -> None:
    assert formats.encode("cbor", {path(resource): value}, path=path(resource), registry=REGISTRY).hex() == cbor_hex
    assert formats.decode(60, bytes.fromhex(cbor_hex), path=path(resource), registry=REGISTRY) == {
        path(resource): value
    }


def test_cbor_accepts_tagged_epoch_time_and_integral_float_for_integers() -> None:
    assert formats.decode(60, bytes.fromhex("c11a5182428f"), path=path(6), registry=REGISTRY) == {
        path(6): 1367491215
    }
    assert formats.decode(60, bytes.fromhex("f94000"), path=path(1), registry=REGISTRY) == {path(1): 2}


@pytest.mark.parametrize(
    ("cbor_hex", "message"),
    [
        ("", "malformed CBOR"),
        ("0102", "1 bytes after"),
        ("8101", "one scalar"),
        ("f6", "one scalar"),
        ("c482213a00010000", "no meaning in LwM2M"),  # a decimal fraction
        ("6441", "malformed CBOR"),
        ("6341ff42", "malformed CBOR"),  # invalid UTF-8 in a text string
    ],
)
def test_cbor_garbage_is_a_format_error(cbor_hex: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        formats.decode(60, bytes.fromhex(cbor_hex), path=path(1), registry=REGISTRY)


def test_cbor_type_mismatch_names_the_path() -> None:
    with pytest.raises(FormatError, match="/9000/0/4") as info:
        formats.decode(60, bytes.fromhex("01"), path=path(4), registry=REGISTRY)
    assert info.value.content_format == 60


@pytest.mark.parametrize("fmt", ["text", "opaque", "cbor"])
@pytest.mark.parametrize("resource", sorted(TYPES))
@given(payload=st.binary(max_size=40))
def test_any_bytes_give_a_value_or_a_format_error(fmt: str, resource: int, payload: bytes) -> None:
    try:
        values = formats.decode(fmt, payload, path=path(resource), registry=REGISTRY)
    except FormatError:
        return
    assert list(values) == [path(resource)]
