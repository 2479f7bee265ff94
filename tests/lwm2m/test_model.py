"""Paths, data types, operations and value coercion."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import PathError, ValueValidationError
from m2mclient.lwm2m.model import (
    DataType,
    ObjLnk,
    Operations,
    Path,
    PathLevel,
    ResourceDefinition,
    coerce_value,
    infer_type,
)

ids = st.integers(min_value=0, max_value=65534)
paths = st.lists(ids, max_size=4).map(lambda segments: Path(tuple(segments)))


@pytest.mark.parametrize(
    ("text", "expected", "level"),
    [
        ("/", (), PathLevel.ROOT),
        ("/3", (3,), PathLevel.OBJECT),
        ("/3/0", (3, 0), PathLevel.INSTANCE),
        ("/3/0/1", (3, 0, 1), PathLevel.RESOURCE),
        ("/3/0/6/1", (3, 0, 6, 1), PathLevel.RESOURCE_INSTANCE),
        ("/3/0/", (3, 0), PathLevel.INSTANCE),
        ("/65534/65534", (65534, 65534), PathLevel.INSTANCE),
    ],
)
def test_parse_valid_paths(text: str, expected: tuple[int, ...], level: PathLevel) -> None:
    path = Path.parse(text)
    assert path.ids == expected
    assert path.level is level


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/0", "starts with '/'"),
        ("/3/0/1/2/3", "at most 4"),
        ("//", "not a decimal id"),
        ("/65535", "65535 is reserved"),
        ("/" + "9" * 5000, "longer than 5 digits"),
        ("/3/x", "not a decimal id"),
        ("/3//0", "not a decimal id"),
        ("/-1", "not a decimal id"),
        ("/03", "leading zero"),
        ("/3/ 0", "not a decimal id"),
        ("/３", "not a decimal id"),  # noqa: RUF001  # full-width digit: str.isdigit() says yes, LwM2M says no
    ],
)
def test_parse_rejects_invalid_paths_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(PathError, match=message):
        Path.parse(text)


def test_path_rejects_non_integer_segments() -> None:
    with pytest.raises(PathError):
        Path((3, True))  # type: ignore[arg-type]
    with pytest.raises(PathError, match="must be a string"):
        Path.parse(3)  # type: ignore[arg-type]


def test_path_accessors_and_relations() -> None:
    path = Path.parse("/3/0/6/1")
    assert (path.object_id, path.instance_id, path.resource_id, path.resource_instance_id) == (3, 0, 6, 1)
    assert Path.parse("/3").instance_id is None
    assert path.parent == Path.of(3, 0, 6)
    assert path.resource_path == Path.of(3, 0, 6)
    assert Path.of(3, 0).child(1) == Path.parse("/3/0/1")
    assert Path.parse("/").is_prefix_of(path)
    assert Path.parse("/3/0").is_prefix_of(path)
    assert not Path.parse("/3/1").is_prefix_of(path)
    assert not path.is_prefix_of(Path.parse("/3/0"))
    assert path.relative_to(Path.of(3, 0)) == (6, 1)
    with pytest.raises(PathError):
        Path.parse("/").parent
    with pytest.raises(PathError):
        Path.parse("/3/0").resource_path
    with pytest.raises(PathError):
        path.relative_to(Path.of(4))


def test_paths_order_numerically_parents_first() -> None:
    texts = ["/3/0/10", "/3/0/2", "/3", "/1/0", "/3/0/2/0", "/"]
    assert [str(p) for p in sorted(Path.parse(t) for t in texts)] == [
        "/", "/1/0", "/3", "/3/0/2", "/3/0/2/0", "/3/0/10",
    ]


@given(paths)
def test_path_text_round_trips(path: Path) -> None:
    assert Path.parse(str(path)) == path
    assert hash(Path.parse(str(path))) == hash(path)


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_path_error(text: str) -> None:
    try:
        path = Path.parse(text)
    except PathError:
        return
    assert str(path) == text.rstrip("/") or (text == "/" and str(path) == "/")


def test_data_types_and_operations_from_ddf_text() -> None:
    assert DataType.from_ddf("Unsigned Integer") is DataType.UNSIGNED_INTEGER
    assert DataType.from_ddf("objlnk") is DataType.OBJLNK
    assert DataType.from_ddf("") is DataType.NONE
    with pytest.raises(ValueValidationError, match="unknown LwM2M data type"):
        DataType.from_ddf("Double")
    assert Operations.from_ddf("RW") == Operations.RW
    assert Operations.from_ddf("E").executable
    assert not Operations.from_ddf("R").writable
    assert Operations.from_ddf("") == Operations.NONE
    with pytest.raises(ValueValidationError, match="unknown operation"):
        Operations.from_ddf("RX")


@pytest.mark.parametrize(
    ("data_type", "given_value", "expected"),
    [
        (DataType.INTEGER, -(2**63), -(2**63)),
        (DataType.INTEGER, 2**63 - 1, 2**63 - 1),
        (DataType.INTEGER, 7.0, 7),
        (DataType.UNSIGNED_INTEGER, 2**64 - 1, 2**64 - 1),
        (DataType.FLOAT, 3, 3.0),
        (DataType.TIME, dt.datetime(2013, 5, 2, 10, 40, 15, tzinfo=dt.timezone.utc), 1367491215),
        (DataType.OBJLNK, (3, 0), ObjLnk(3, 0)),
        (DataType.OBJLNK, "65535:65535", ObjLnk(65535, 65535)),
        (DataType.OPAQUE, bytearray(b"\x01"), b"\x01"),
        (DataType.CORELNK, "</3/0>", "</3/0>"),
    ],
)
def test_coerce_accepts_and_normalises(data_type: DataType, given_value: object, expected: object) -> None:
    result = coerce_value(data_type, given_value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("data_type", "bad_value", "message"),
    [
        (DataType.INTEGER, 2**63, "outside"),
        (DataType.INTEGER, True, "boolean"),
        (DataType.INTEGER, 1.5, "non-integral"),
        (DataType.UNSIGNED_INTEGER, -1, "outside"),
        (DataType.UNSIGNED_INTEGER, 2**64, "outside"),
        (DataType.FLOAT, "1.0", "float expected"),
        (DataType.FLOAT, 2**64 + 1, "cannot be represented"),
        (DataType.FLOAT, 2**1024, "too large"),
        (DataType.BOOLEAN, 1, "boolean expected"),
        (DataType.STRING, b"x", "string expected"),
        (DataType.OPAQUE, "x", "bytes"),
        (DataType.OBJLNK, (3, 65536), "0..65535"),
        (DataType.OBJLNK, "3-0", "object:instance"),
        (DataType.TIME, dt.datetime(2020, 1, 1), "naive"),
        (DataType.NONE, 1, "carry no value"),
    ],
)
def test_coerce_rejects_with_typed_error(data_type: DataType, bad_value: object, message: str) -> None:
    with pytest.raises(ValueValidationError, match=message):
        coerce_value(data_type, bad_value)


def test_resource_range_is_enforced_when_readable() -> None:
    battery = ResourceDefinition(9, "Battery Level", DataType.INTEGER, range_enumeration="0..100", units="/100")
    assert battery.coerce(100) == 100
    with pytest.raises(ValueValidationError, match="Battery Level.*outside range"):
        battery.coerce(101)
    key = ResourceDefinition(5, "Key", DataType.OPAQUE, range_enumeration="0-4 bytes")
    assert key.coerce(b"1234") == b"1234"
    with pytest.raises(ValueValidationError, match="length 5"):
        key.coerce(b"12345")
    prose = ResourceDefinition(1, "Mode", DataType.INTEGER, range_enumeration="1: on, 2: off")
    assert prose.coerce(7) == 7  # prose enumerations are not guessed at


def test_infer_type_for_unknown_resources() -> None:
    assert infer_type(True) is DataType.BOOLEAN
    assert infer_type(-5) is DataType.INTEGER
    assert infer_type(2**63) is DataType.UNSIGNED_INTEGER
    assert infer_type(1.5) is DataType.FLOAT
    assert infer_type("x") is DataType.STRING
    assert infer_type(b"x") is DataType.OPAQUE
    assert infer_type(ObjLnk(1, 2)) is DataType.OBJLNK
    with pytest.raises(ValueValidationError):
        infer_type(None)
