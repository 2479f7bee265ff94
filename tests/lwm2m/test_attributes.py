"""<NOTIFICATION> attributes: Write-Attributes parsing, §5.1.2 validation, storage and precedence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import M2MError
from m2mclient.lwm2m.attributes import (
    ATTRIBUTE_NAMES,
    AttributeStore,
    AttributeUpdate,
    InvalidAttributesError,
    NotificationAttributes,
    parse_write_attributes,
    validate,
)
from m2mclient.lwm2m.model import DataType, Path

P = Path.parse

# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (["pmin=10"], NotificationAttributes(pmin=10)),
        (["pmax=60"], NotificationAttributes(pmax=60)),
        (["gt=-3.5"], NotificationAttributes(gt=-3.5)),
        (["lt=20"], NotificationAttributes(lt=20.0)),
        (["st=0"], NotificationAttributes(st=0.0)),
        (["gt=1e3"], NotificationAttributes(gt=1000.0)),
        (["gt=.5"], NotificationAttributes(gt=0.5)),
        (["gt=+2."], NotificationAttributes(gt=2.0)),
        (["epmin=1", "epmax=30"], NotificationAttributes(epmin=1, epmax=30)),
        (["edge=0"], NotificationAttributes(edge=False)),
        (["edge=1"], NotificationAttributes(edge=True)),
        (["con=1"], NotificationAttributes(con=True)),
        (["con=0"], NotificationAttributes(con=False)),
        (["hqmax=5"], NotificationAttributes(hqmax=5)),
        (["pmin=0010"], NotificationAttributes(pmin=10)),
        (
            ["pmin=1", "pmax=2", "gt=3", "lt=-4", "st=0.5", "epmin=6", "epmax=7", "edge=1", "con=0", "hqmax=9"],
            NotificationAttributes(1, 2, 3.0, -4.0, 0.5, 6, 7, True, False, 9),
        ),
        ([], NotificationAttributes()),
    ],
)
def test_parse_sets_values(query: list[str], expected: NotificationAttributes) -> None:
    update = parse_write_attributes(query)
    assert update.values == expected
    assert update.cleared == frozenset()


def test_parse_name_without_value_clears() -> None:
    # Transport bindings §6.4: "Write-Attributes /3/0/9?pmin" unsets pmin at that level.
    update = parse_write_attributes(["pmax", "gt", "pmin=5", "edge", "con", "hqmax"])
    assert update.values == NotificationAttributes(pmin=5)
    assert update.cleared == frozenset({"pmax", "gt", "edge", "con", "hqmax"})
    assert not update.is_empty
    assert parse_write_attributes([]).is_empty


def test_parse_spec_example_query() -> None:
    # Transport bindings §6.4: /3/0/9?lt=20&gt=85&st=10, as CoAP Uri-Query items.
    update = parse_write_attributes(["lt=20", "gt=85", "st=10"])
    assert update.values == NotificationAttributes(lt=20.0, gt=85.0, st=10.0)


@pytest.mark.parametrize(
    ("query", "message", "attribute"),
    [
        (["foo=1"], "unknown attribute 'foo'", "foo"),
        (["PMIN=1"], "unknown attribute 'PMIN'", "PMIN"),
        (["=5"], "empty attribute name", None),
        ([""], "empty attribute name", None),
        (["dim=3"], "'dim' is a read-only attribute", "dim"),
        (["ver=1.1"], "read-only", "ver"),
        (["pmin=-1"], "pmin must be a whole number of seconds >= 0, got '-1'", "pmin"),
        (["pmax=1.5"], "pmax must be a whole number of seconds", "pmax"),
        (["pmin=abc"], "whole number", "pmin"),
        (["pmin="], "whole number", "pmin"),
        (["pmin= 5"], "whole number", "pmin"),
        (["epmin=-2"], "epmin must be a whole number", "epmin"),
        (["epmax=x"], "epmax must be a whole number", "epmax"),
        (["hqmax=-1"], "hqmax must be a whole number", "hqmax"),
        (["pmin=99999999999"], "pmin=99999999999 is larger than 4294967295", "pmin"),
        (["gt=abc"], "gt must be a decimal number like 20.5, got 'abc'", "gt"),
        (["gt=nan"], "decimal number", "gt"),
        (["lt=inf"], "decimal number", "lt"),
        (["gt=1_0"], "decimal number", "gt"),
        (["gt= 1"], "decimal number", "gt"),
        (["gt="], "decimal number", "gt"),
        (["gt=1e999"], "too large", "gt"),
        (["st=-1"], "st must be >= 0", "st"),
        (["edge=2"], "edge must be 0 or 1, got '2'", "edge"),
        (["con=true"], "con must be 0 or 1, got 'true'", "con"),
        (["edge="], "edge must be 0 or 1", "edge"),
        (["pmin=1", "pmin=2"], "pmin is given twice", "pmin"),
        (["pmin", "pmin=2"], "pmin is given twice", "pmin"),
        (["gt=1", "gt"], "gt is given twice", "gt"),
        (["pmin=1=2"], "whole number", "pmin"),
    ],
)
def test_parse_rejects(query: list[str], message: str, attribute: str | None) -> None:
    with pytest.raises(InvalidAttributesError) as caught:
        parse_write_attributes(query)
    assert message in str(caught.value)
    assert caught.value.attribute == attribute


def test_invalid_attributes_error_is_in_the_hierarchy() -> None:
    with pytest.raises(M2MError):
        parse_write_attributes(["nope=1"])
    with pytest.raises(ValueError):
        parse_write_attributes(["nope=1"])


def test_unknown_attribute_message_lists_the_known_ones() -> None:
    with pytest.raises(InvalidAttributesError, match="known: pmin, pmax, gt, lt, st, epmin, epmax, edge, con, hqmax"):
        parse_write_attributes(["step=1"])


# --- rendering -------------------------------------------------------------------------


def test_to_query_and_link_params() -> None:
    attributes = NotificationAttributes(pmin=10, gt=20.5)
    assert attributes.to_query() == "pmin=10&gt=20.5"
    assert attributes.to_query_items() == ["pmin=10", "gt=20.5"]
    assert attributes.link_params() == (("pmin", "10"), ("gt", "20.5"))


def test_rendering_order_and_forms() -> None:
    attributes = NotificationAttributes(hqmax=3, con=False, edge=True, st=2.0, lt=-1.25, gt=1e20, pmax=0)
    assert attributes.to_query() == "pmax=0&gt=1e+20&lt=-1.25&st=2&edge=1&con=0&hqmax=3"
    assert NotificationAttributes().to_query() == ""
    assert NotificationAttributes().link_params() == ()
    assert NotificationAttributes().is_empty
    assert not NotificationAttributes(con=False).is_empty


attribute_sets = st.builds(
    NotificationAttributes,
    pmin=st.none() | st.integers(0, 2**32 - 1),
    pmax=st.none() | st.integers(0, 2**32 - 1),
    gt=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    lt=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    st=st.none() | st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    epmin=st.none() | st.integers(0, 2**32 - 1),
    epmax=st.none() | st.integers(0, 2**32 - 1),
    edge=st.none() | st.booleans(),
    con=st.none() | st.booleans(),
    hqmax=st.none() | st.integers(0, 2**32 - 1),
)


@given(attribute_sets)
def test_query_round_trips(attributes: NotificationAttributes) -> None:
    update = parse_write_attributes(attributes.to_query_items())
    assert update.values == attributes
    assert update.cleared == frozenset()


def test_update_to_query_items_lists_clears_after_values() -> None:
    update = AttributeUpdate(NotificationAttributes(pmin=1), frozenset({"gt", "pmax"}))
    assert update.to_query_items() == ["pmin=1", "pmax", "gt"]
    assert parse_write_attributes(update.to_query_items()) == update


# --- merging ---------------------------------------------------------------------------


def test_merged_over_prefers_own_values() -> None:
    upper = NotificationAttributes(pmin=5, con=False)
    lower = NotificationAttributes(pmin=1, pmax=60, con=True, gt=3.0)
    assert upper.merged_over(lower) == NotificationAttributes(pmin=5, pmax=60, con=False, gt=3.0)
    assert NotificationAttributes().merged_over(lower) == lower
    assert upper.merged_over(NotificationAttributes()) == upper


def test_update_apply_to_sets_and_clears() -> None:
    current = NotificationAttributes(pmin=1, pmax=60, gt=5.0)
    update = parse_write_attributes(["pmin=10", "pmax"])
    assert update.apply_to(current) == NotificationAttributes(pmin=10, gt=5.0)


# --- validation ------------------------------------------------------------------------


def _rejects(attributes: NotificationAttributes, path: str, data_type: DataType | None, multiple: bool = False) -> str:
    with pytest.raises(InvalidAttributesError) as caught:
        validate(attributes, P(path), data_type, multiple)
    return str(caught.value)


def test_root_path_rejected() -> None:
    message = _rejects(NotificationAttributes(pmin=1), "/", None)
    assert "not '/'" in message


@pytest.mark.parametrize("path", ["/3", "/3/0", "/3/0/9", "/3/0/7/1"])
def test_periods_and_con_allowed_at_every_level(path: str) -> None:
    validate(NotificationAttributes(pmin=1, pmax=10, epmin=1, epmax=5, con=True, hqmax=4), P(path), None)


@pytest.mark.parametrize("name", ["gt", "lt", "st"])
@pytest.mark.parametrize(("path", "level"), [("/3", "an object"), ("/3/0", "an object instance")])
def test_value_criteria_rejected_above_resource_level(name: str, path: str, level: str) -> None:
    message = _rejects(parse_write_attributes([f"{name}=1"]).values, path, None)
    assert f"{name} applies to a resource or resource instance, not to {path} ({level})" in message


@pytest.mark.parametrize("data_type", [DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.FLOAT])
def test_thresholds_allowed_on_numeric_resources(data_type: DataType) -> None:
    attributes = NotificationAttributes(gt=50.0, lt=10.0, st=5.0)
    validate(attributes, P("/3303/0/5700"), data_type)
    validate(attributes, P("/3/0/7/1"), data_type, multiple=True)
    validate(attributes, P("/3/0/7/1"), data_type, multiple=False)  # a resource instance is always one value


@pytest.mark.parametrize(
    "data_type", [DataType.STRING, DataType.BOOLEAN, DataType.OPAQUE, DataType.TIME, DataType.OBJLNK]
)
def test_thresholds_rejected_on_non_numeric_resources(data_type: DataType) -> None:
    message = _rejects(NotificationAttributes(gt=1.0), "/3/0/0", data_type)
    assert "gt applies only to numeric resources (Integer, Unsigned Integer, Float)" in message
    assert f"of type {data_type.value}" in message


def test_thresholds_rejected_when_type_unknown() -> None:
    message = _rejects(NotificationAttributes(st=1.0), "/9999/0/1", None)
    assert "st applies only to numeric resources" in message
    assert "of unknown type" in message


def test_thresholds_on_multiple_instance_resource_go_on_its_instances() -> None:
    message = _rejects(NotificationAttributes(lt=1.0), "/3/0/7", DataType.INTEGER, multiple=True)
    assert "lt on multiple-instance resource /3/0/7 must be set on each resource instance, e.g. /3/0/7/0" in message


def test_edge_only_on_boolean_resources() -> None:
    validate(NotificationAttributes(edge=True), P("/3342/0/5500"), DataType.BOOLEAN)
    validate(NotificationAttributes(edge=False), P("/3342/0/5500/0"), DataType.BOOLEAN, multiple=True)
    message = _rejects(NotificationAttributes(edge=True), "/3303/0/5700", DataType.FLOAT)
    assert "edge applies only to Boolean resources; /3303/0/5700 is of type Float" in message
    message = _rejects(NotificationAttributes(edge=True), "/3342/0", None)
    assert "edge applies to a resource or resource instance" in message
    message = _rejects(NotificationAttributes(edge=True), "/3342/0/5500", DataType.BOOLEAN, multiple=True)
    assert "edge on multiple-instance resource" in message


def test_pmin_must_not_exceed_pmax() -> None:
    message = _rejects(NotificationAttributes(pmin=60, pmax=30), "/3/0/9", DataType.INTEGER)
    assert "rule pmin <= pmax broken: pmin=60 > pmax=30" in message
    validate(NotificationAttributes(pmin=30, pmax=30), P("/3/0/9"), DataType.INTEGER)
    validate(NotificationAttributes(pmin=30, pmax=0), P("/3/0/9"), DataType.INTEGER)  # 0 = no maximum
    validate(NotificationAttributes(pmin=30), P("/3/0/9"), DataType.INTEGER)


def test_epmin_must_not_exceed_epmax() -> None:
    message = _rejects(NotificationAttributes(epmin=10, epmax=5), "/3/0", None)
    assert "rule epmin <= epmax broken: epmin=10 > epmax=5" in message
    validate(NotificationAttributes(epmin=5, epmax=5), P("/3/0"), None)
    validate(NotificationAttributes(epmin=5, epmax=0), P("/3/0"), None)


def test_lt_must_be_below_gt() -> None:
    message = _rejects(NotificationAttributes(lt=50.0, gt=50.0), "/3/0/9", DataType.INTEGER)
    assert "rule lt < gt broken: lt=50 >= gt=50" in message
    message = _rejects(NotificationAttributes(lt=60.5, gt=50.0), "/3/0/9", DataType.INTEGER)
    assert "lt=60.5 >= gt=50" in message


def test_lt_plus_two_steps_must_be_below_gt() -> None:
    message = _rejects(NotificationAttributes(lt=20.0, gt=40.0, st=10.0), "/3/0/9", DataType.INTEGER)
    assert "rule lt + 2*st < gt broken: 20 + 2*10 = 40 is not below gt=40" in message
    # The transport bindings §6.4 example is consistent.
    validate(NotificationAttributes(lt=20.0, gt=85.0, st=10.0), P("/3/0/9"), DataType.INTEGER)
    # Only lt and st (or gt and st) constrain nothing.
    validate(NotificationAttributes(lt=20.0, st=100.0), P("/3/0/9"), DataType.INTEGER)


def test_validate_checks_an_update_by_what_it_sets() -> None:
    validate(parse_write_attributes(["pmin=1", "gt"]), P("/3/0"), None)
    with pytest.raises(InvalidAttributesError, match="gt applies to a resource"):
        validate(parse_write_attributes(["gt=1"]), P("/3/0"), None)


def test_validate_checks_ranges_of_attributes_built_in_code() -> None:
    assert "pmin must be within 0..4294967295, got -1" in _rejects(NotificationAttributes(pmin=-1), "/3", None)
    assert "st must be >= 0, got -1.0" in _rejects(NotificationAttributes(st=-1.0), "/3/0/9", DataType.FLOAT)
    assert "gt must be a finite number" in _rejects(NotificationAttributes(gt=float("inf")), "/3/0/9", DataType.FLOAT)


# --- the store -------------------------------------------------------------------------


def _write(store: AttributeStore, path: str, query: str, data_type: DataType | None = None, server: int = 1) -> None:
    store.apply(server, P(path), parse_write_attributes(query.split("&")), data_type)


def test_store_apply_and_attached() -> None:
    store = AttributeStore()
    result = store.apply(1, P("/3/0/9"), parse_write_attributes(["pmin=10", "gt=45"]), DataType.INTEGER)
    assert result == NotificationAttributes(pmin=10, gt=45.0)
    assert store.attached(1, P("/3/0/9")) == result
    assert store.attached(1, P("/3/0")) == NotificationAttributes()
    assert store.attached(2, P("/3/0/9")) == NotificationAttributes()


def test_store_combines_with_what_is_attached_and_validates_the_result() -> None:
    store = AttributeStore()
    _write(store, "/3/0/9", "pmax=30")
    with pytest.raises(InvalidAttributesError, match="pmin=60 > pmax=30"):
        _write(store, "/3/0/9", "pmin=60")
    assert store.attached(1, P("/3/0/9")) == NotificationAttributes(pmax=30)  # unchanged on error
    _write(store, "/3/0/9", "pmin=60&pmax=90")
    assert store.attached(1, P("/3/0/9")) == NotificationAttributes(pmin=60, pmax=90)


def test_store_lt_gt_rule_applies_across_requests() -> None:
    store = AttributeStore()
    _write(store, "/3/0/9", "gt=85", DataType.INTEGER)
    with pytest.raises(InvalidAttributesError, match=r"lt \+ 2\*st < gt"):
        _write(store, "/3/0/9", "lt=20&st=40", DataType.INTEGER)
    _write(store, "/3/0/9", "lt=20&st=10", DataType.INTEGER)
    assert store.attached(1, P("/3/0/9")) == NotificationAttributes(gt=85.0, lt=20.0, st=10.0)


def test_store_removal_drops_empty_entries() -> None:
    store = AttributeStore()
    _write(store, "/3/0", "pmin=10&con=1")
    assert len(store) == 1
    _write(store, "/3/0", "pmin")
    assert store.attached(1, P("/3/0")) == NotificationAttributes(con=True)
    _write(store, "/3/0", "con")
    assert store.attached(1, P("/3/0")) == NotificationAttributes()
    assert len(store) == 0
    _write(store, "/3/0", "pmin")  # clearing what is not there is fine
    assert len(store) == 0


def test_store_keeps_servers_apart() -> None:
    store = AttributeStore()
    _write(store, "/3/0", "pmin=10", server=1)
    _write(store, "/3/0", "pmin=20", server=2)
    assert store.effective(1, P("/3/0/9")).pmin == 10
    assert store.effective(2, P("/3/0/9")).pmin == 20
    store.forget_server(1)
    assert store.attached(1, P("/3/0")) == NotificationAttributes()
    assert store.attached(2, P("/3/0")).pmin == 20


def test_effective_precedence_across_all_five_levels() -> None:
    store = AttributeStore()
    _write(store, "/3", "pmin=2&epmin=1&con=0")
    _write(store, "/3/0", "pmin=3&epmax=100")
    _write(store, "/3/0/7", "pmax=50&hqmax=4")
    _write(store, "/3/0/7/1", "pmin=5&gt=10&edge", DataType.INTEGER)
    # Server defaults alone.
    assert store.effective(1, P("/4/0/1"), 1, 60) == NotificationAttributes(pmin=1, pmax=60)
    # Object over defaults.
    assert store.effective(1, P("/3"), 1, 60) == NotificationAttributes(pmin=2, pmax=60, epmin=1, con=False)
    # Instance over object.
    assert store.effective(1, P("/3/0"), 1, 60) == NotificationAttributes(
        pmin=3, pmax=60, epmin=1, epmax=100, con=False
    )
    # Resource over instance.
    assert store.effective(1, P("/3/0/7"), 1, 60) == NotificationAttributes(
        pmin=3, pmax=50, epmin=1, epmax=100, con=False, hqmax=4
    )
    # Resource instance over resource.
    assert store.effective(1, P("/3/0/7/1"), 1, 60) == NotificationAttributes(
        pmin=5, pmax=50, gt=10.0, epmin=1, epmax=100, con=False, hqmax=4
    )
    # A sibling resource instance only inherits.
    assert store.effective(1, P("/3/0/7/0"), 1, 60).pmin == 3
    # No defaults configured on the server: nothing set there.
    assert store.effective(1, P("/4/0"), None, None) == NotificationAttributes()


def test_effective_falls_back_after_removal() -> None:
    store = AttributeStore()
    _write(store, "/3", "pmin=2")
    _write(store, "/3/0", "pmin=3")
    _write(store, "/3/0/9", "pmin=4")
    assert store.effective(1, P("/3/0/9"), 1, None).pmin == 4
    _write(store, "/3/0/9", "pmin")
    assert store.effective(1, P("/3/0/9"), 1, None).pmin == 3
    _write(store, "/3/0", "pmin")
    assert store.effective(1, P("/3/0/9"), 1, None).pmin == 2
    _write(store, "/3", "pmin")
    assert store.effective(1, P("/3/0/9"), 1, None).pmin == 1  # the server default (/1/x/2)


def test_forget_removes_everything_under_a_deleted_instance() -> None:
    store = AttributeStore()
    _write(store, "/3303", "pmin=1")
    _write(store, "/3303/0", "pmin=2")
    _write(store, "/3303/0/5700", "gt=3", DataType.FLOAT)
    _write(store, "/3303/0/5700", "gt=4", DataType.FLOAT, server=2)
    _write(store, "/3303/1", "pmin=5")
    _write(store, "/3303/10", "pmin=6")  # /3303/1 is not a prefix of /3303/10
    store.forget(P("/3303/0"))
    assert store.attached(1, P("/3303/0")) == NotificationAttributes()
    assert store.attached(1, P("/3303/0/5700")) == NotificationAttributes()
    assert store.attached(2, P("/3303/0/5700")) == NotificationAttributes()
    assert store.attached(1, P("/3303")).pmin == 1
    assert store.attached(1, P("/3303/1")).pmin == 5
    store.forget(P("/3303/1"))
    assert store.attached(1, P("/3303/10")).pmin == 6


# --- property: any query in, an update or a typed error out ------------------------------

query_items = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda name, value: f"{name}={value}",
        st.sampled_from((*ATTRIBUTE_NAMES, "dim", "x")),
        st.text(alphabet="0123456789+-.eE_ naif", max_size=12),
    ),
    st.sampled_from(ATTRIBUTE_NAMES),
)


@given(st.lists(query_items, max_size=6))
def test_any_query_gives_an_update_or_invalid_attributes_error(query: list[str]) -> None:
    try:
        update = parse_write_attributes(query)
    except InvalidAttributesError as exc:
        assert str(exc)
    else:
        assert isinstance(update, AttributeUpdate)
        assert set(update.cleared) <= set(ATTRIBUTE_NAMES)
        for name in ("pmin", "pmax", "epmin", "epmax", "hqmax"):
            value = getattr(update.values, name)
            assert value is None or value >= 0
