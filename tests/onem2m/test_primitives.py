"""Primitives, RSC tables (checked against TS-0009 / TS-0008), negotiation and errors."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from m2mclient.errors import M2MError
from m2mclient.onem2m import (
    COAP_TO_RSC,
    HTTP_TO_RSC,
    RSC_TO_COAP,
    RSC_TO_HTTP,
    FilterCriteria,
    OneM2MError,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    ReleaseVersion,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    coap_code,
    coap_to_rsc,
    format_timestamp,
    http_to_rsc,
    make_rqi,
    negotiate,
    parse_timestamp,
    rsc_hint,
    rsc_name,
    rsc_to_coap,
    rsc_to_http,
)

RSC = ResponseStatusCode
TS0009 = "onem2m-ts0009-http-binding-v4.4.1.md"


def find_spec(name: str) -> Path | None:
    """shared/specs/<name>, from $M2M_SPECS_DIR or the nearest parent holding shared/specs."""
    if os.environ.get("M2M_SPECS_DIR"):
        candidate = Path(os.environ["M2M_SPECS_DIR"]) / name
        return candidate if candidate.is_file() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "specs" / name
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------------------
# TS-0009 Table 6.3.2-1, parsed from the spec copy
# ---------------------------------------------------------------------------

_RSC_CELL = re.compile(r"\b([1-6]\d{3}) \(([^)]*)\)")
_HTTP_CELL = re.compile(r"\b([1-5]\d{2}) \(([A-Z][A-Za-z ]+)\)")


def _ts0009_table() -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
    """(rows as (rsc, name) in table order, labels as (http status, row index))."""
    path = find_spec(TS0009)
    if path is None:
        pytest.skip(f"SPEC MISSING: {TS0009} not found (set M2M_SPECS_DIR); RSC<->HTTP table NOT checked against it")
    text = path.read_text(encoding="utf-8")
    start = text.index("Table 6.3.2-1: Status Code Mapping")
    end = text.index("6.3.3 Reason-Phrase", start)
    rows: list[tuple[int, str]] = []
    labels: list[tuple[int, int]] = []
    for line in text[start:end].splitlines():
        for match in _RSC_CELL.finditer(line):
            rows.append((int(match.group(1)), match.group(2)))
        for match in _HTTP_CELL.finditer(line):
            labels.append((int(match.group(1)), len(rows) - 1))
    assert len(rows) > 90, "the table parser found too few rows: the spec layout changed"
    return rows, labels


def test_every_ts0009_row_maps_and_the_code_sets_are_equal():
    rows, _ = _ts0009_table()
    spec_codes = [code for code, _ in rows]
    assert len(spec_codes) == len(set(spec_codes)), "a code appears twice in the table"
    assert set(spec_codes) == {int(rsc) for rsc in RSC_TO_HTTP}
    assert set(spec_codes) == {int(rsc) for rsc in RSC}, "ResponseStatusCode is exactly the TS-0004 set TS-0009 maps"


def test_ts0009_names_resolve_to_the_same_codes():
    rows, _ = _ts0009_table()
    for code, name in rows:
        if re.fullmatch(r"[A-Z_]+", name):  # "ACCEPTED for nonBlockingRequestSynch" is prose
            assert RSC[name] == code, name


def test_http_groups_follow_the_ts0009_table():
    """Our statuses, walked in table row order, form the table's groups in the table's order.

    The spec copy is a PDF-to-markdown conversion that moved the status cell of
    several groups up by one or two rows (it shows "4015 ... 500", "5001 ... 504"),
    so a label is accepted within two rows before its group's first row.
    """
    rows, labels = _ts0009_table()
    ours = [rsc_to_http(code) for code, _ in rows]
    runs: list[tuple[int, int, int]] = []  # (status, first row, last row)
    for index, status in enumerate(ours):
        if runs and runs[-1][0] == status:
            runs[-1] = (status, runs[-1][1], index)
        else:
            runs.append((status, index, index))
    assert [status for status, _, _ in runs] == [status for status, _ in labels]
    for (status, first, last), (_, label_row) in zip(runs, labels, strict=True):
        assert first - 2 <= label_row <= last, f"label {status} at row {label_row}, group rows {first}..{last}"


# Independent of the file: the rows the PDF conversion mis-aligned, and the
# ones ACME answers (shared/reference/acme-cse-peer-and-ae-sdks.md §1.4/§1.9).
@pytest.mark.parametrize(
    ("rsc", "status"),
    [
        (RSC.OK, 200),
        (RSC.DELETED, 200),
        (RSC.UPDATED, 200),
        (RSC.CREATED, 201),
        (RSC.ACCEPTED_NON_BLOCKING_SYNC, 202),
        (RSC.BAD_REQUEST, 400),
        (RSC.RELEASE_VERSION_NOT_SUPPORTED, 501),  # ACME: no X-M2M-RVI -> HTTP 501 / 4001
        (RSC.NOT_FOUND, 404),
        (RSC.REQUEST_TIMEOUT, 504),  # ACME: expired rqet -> 504 / 4008
        (RSC.SECURITY_ASSOCIATION_REQUIRED, 403),  # ACME: originator without C/S -> 403 / 4107
        (RSC.ORIGINATOR_HAS_ALREADY_REGISTERED, 403),  # ACME -> 403 / 4117
        (RSC.REQUESTED_ACTIVITY_PATTERN_NOT_PERMITTED, 403),
        (RSC.ALREADY_COMPLETE, 409),
        (RSC.MGMT_COMMAND_NOT_CANCELLABLE, 409),
        (RSC.UNSUPPORTED_MEDIA_TYPE, 415),
        (RSC.NETWORK_QOS_CONFIG_ERROR, 500),
        (RSC.NOT_IMPLEMENTED, 501),
        (RSC.NON_BLOCKING_REQUEST_NOT_SUPPORTED, 501),
        (RSC.EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_OET_TIMEOUT, 504),
    ],
)
def test_http_status_spot_checks(rsc, status):
    assert rsc_to_http(rsc) == status
    assert rsc.http_status == status


def test_unknown_codes_map_by_class():
    assert rsc_to_http(2099) == 200
    assert rsc_to_http(4999) == 400
    assert rsc_to_http(5999) == 500
    assert rsc_to_http(6999) == 500
    assert rsc_to_coap(4999) == coap_code(4, 0)
    assert rsc_name(4999) == "RSC_4999"


def test_http_to_rsc_inverts_the_groups():
    assert set(HTTP_TO_RSC) == set(RSC_TO_HTTP.values())
    for status, rsc in HTTP_TO_RSC.items():
        assert rsc_to_http(rsc) == status
    assert http_to_rsc(403) is RSC.ORIGINATOR_HAS_NO_PRIVILEGE
    assert http_to_rsc(418) is RSC.BAD_REQUEST
    assert http_to_rsc(204) is RSC.OK
    assert http_to_rsc(503) is RSC.INTERNAL_SERVER_ERROR


# ---------------------------------------------------------------------------
# TS-0008 Table 6.2.4-1 (CoAP)
# ---------------------------------------------------------------------------

TS0008_ROWS = [  # (rsc, CoAP class, detail), TS-0008 §6.2.4 Table 6.2.4-1
    (1001, 2, 1),
    (2001, 2, 1),
    (2002, 2, 2),
    (2004, 2, 4),
    (4000, 4, 0),
    (4001, 5, 1),
    (4004, 4, 4),
    (4005, 4, 5),
    (4008, 5, 4),
    (4015, 4, 15),
    (4101, 4, 3),
    (4102, 4, 0),
    (4103, 4, 3),
    (4104, 4, 0),
    (4105, 4, 3),
    (4106, 4, 3),
    (4107, 4, 3),
    (4110, 4, 0),
    (4117, 4, 3),
    (4120, 4, 2),
    (4122, 4, 2),
    (4124, 4, 0),
    (4125, 5, 1),
    (5000, 5, 0),
    (5001, 5, 1),
    (5103, 4, 4),
    (5106, 4, 0),
    (5204, 5, 0),
    (5206, 5, 1),
    (5207, 4, 6),
    (5219, 4, 0),
    (5222, 4, 3),
    (6003, 4, 4),
    (6028, 4, 0),
    (6030, 5, 4),
]


@pytest.mark.parametrize(("rsc", "code_class", "detail"), TS0008_ROWS)
def test_coap_mapping_matches_ts0008(rsc, code_class, detail):
    assert rsc_to_coap(rsc) == coap_code(code_class, detail)


def test_coap_special_cases():
    assert rsc_to_coap(RSC.ACCEPTED) is None  # "not used"
    assert rsc_to_coap(RSC.OK, Operation.RETRIEVE) == coap_code(2, 5)
    assert rsc_to_coap(RSC.OK, Operation.NOTIFY) == coap_code(2, 4)
    assert rsc_to_coap(RSC.ACCEPTED_NON_BLOCKING_ASYNC) == coap_code(2, 1)
    assert rsc_to_coap(RSC.ACCEPTED_NON_BLOCKING_ASYNC, request_resource_created=False) == coap_code(2, 4)
    assert coap_code(2, 5) == 69  # aiocoap Code.CONTENT


def test_every_code_has_http_and_coap_mappings():
    for rsc in RSC:
        assert rsc in RSC_TO_HTTP
        assert rsc is RSC.ACCEPTED or rsc in RSC_TO_COAP
        assert rsc_to_coap(rsc) is None or rsc_to_coap(rsc) >> 5 in (2, 4, 5)


def test_coap_to_rsc():
    for code, rsc in COAP_TO_RSC.items():
        assert rsc_to_coap(rsc) == code or rsc is RSC.INVALID_SEMANTICS
    assert coap_to_rsc(coap_code(2, 3)) is RSC.OK
    assert coap_to_rsc(coap_code(4, 13)) is RSC.BAD_REQUEST
    assert coap_to_rsc(coap_code(5, 3)) is RSC.INTERNAL_SERVER_ERROR


def test_aliases_and_lookup():
    assert RSC.ORIGINATOR_NOT_AUTHENTICATED is RSC.ORIGINATOR_HAS_NOT_REGISTERED
    assert RSC.NON_BLOCKING_SYNCH_REQUEST_NOT_SUPPORTED is RSC.NON_BLOCKING_REQUEST_NOT_SUPPORTED
    assert RSC(1001).name == "ACCEPTED_NON_BLOCKING_SYNC"
    assert RSC.lookup(4004) is RSC.NOT_FOUND
    assert RSC.lookup(4999) == 4999
    assert RSC.CREATED.is_success and RSC.ACCEPTED.is_success and not RSC.NOT_FOUND.is_success


def test_resource_type_values():
    assert (ResourceType.AE, ResourceType.CONTAINER, ResourceType.CONTENT_INSTANCE) == (2, 3, 4)
    assert ResourceType.SUB == ResourceType.SUBSCRIPTION == 23
    assert ResourceType.FCNT == 28 and ResourceType.TS == 29 and ResourceType.TSI == 30
    assert ResourceType.PCH == 15 and ResourceType.CSR == 16 and ResourceType.ACP == 1


# ---------------------------------------------------------------------------
# Release versions
# ---------------------------------------------------------------------------


def test_negotiate_picks_the_newest_common_release():
    acme = ["2a", "3", "4", "5"]  # ACME 2026.5.3 CSEBase srv
    assert negotiate(acme) == "5"
    assert negotiate(acme, ["3", "4"]) == "4"
    assert negotiate(acme, ["2a"]) == "2a"
    assert negotiate(["3", "6"], ["3", "4"]) == "3"  # a release we do not know yet is ignored
    assert negotiate(["1", "2", "2a"], ["2", "2a", "3"]) == "2a"  # "2a" is newer than "2"


def test_negotiate_without_common_release_is_4001():
    with pytest.raises(OneM2MError) as caught:
        negotiate(["1"], ["3", "4"])
    assert caught.value.rsc is RSC.RELEASE_VERSION_NOT_SUPPORTED
    assert "['1']" in str(caught.value)
    with pytest.raises(OneM2MError, match="Release 1 CSE"):
        negotiate([], ["3"])


def test_negotiate_rejects_our_mistakes():
    with pytest.raises(OneM2MUsageError):
        negotiate(["3"], ["7"])
    with pytest.raises(OneM2MUsageError):
        negotiate(["3"], "3")


def test_release_order():
    assert [v.value for v in sorted(ReleaseVersion, key=lambda v: v.rank)] == ["1", "2", "2a", "3", "4", "5"]
    assert str(ReleaseVersion.R2A) == "2a"


# ---------------------------------------------------------------------------
# Primitives and helpers
# ---------------------------------------------------------------------------


def test_make_rqi_is_short_unique_and_replaceable():
    ids = {make_rqi() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 8 and re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    assert make_rqi("ae-", random_bytes=bytes) == "ae-AAAAAAAA"


def test_request_validation_is_a_usage_error():
    with pytest.raises(OneM2MUsageError, match="op must be"):
        RequestPrimitive(op=9, to="cse-in", rqi="1")
    with pytest.raises(OneM2MUsageError, match="to must be"):
        RequestPrimitive(op=Operation.RETRIEVE, to="", rqi="1")
    with pytest.raises(OneM2MUsageError, match="rqi must be"):
        RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="")
    with pytest.raises(OneM2MUsageError, match="rids must be a tuple"):
        RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="1", rids=["a"])  # type: ignore[arg-type]
    with pytest.raises(OneM2MUsageError, match="named field"):
        RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="1", extra={"rcn": 1})
    with pytest.raises(OneM2MUsageError):
        RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="1", fc={"fu": 1})  # type: ignore[arg-type]
    request = RequestPrimitive(op=2, to="cse-in", rqi="1")
    assert request.op is Operation.RETRIEVE


def test_response_ok_debug_and_raise_for_status():
    created = ResponsePrimitive(rsc=2001, rqi="r1", pc={"m2m:cnt": {"rn": "data"}})
    assert created.ok and created.rsc is RSC.CREATED
    assert created.raise_for_status() is created
    assert created.debug is None
    failed = ResponsePrimitive(rsc=4004, rqi="r2", pc={"m2m:dbg": "No resource with this ID: cse-in/myae"})
    request = RequestPrimitive(op=Operation.RETRIEVE, to="cse-in/myae", rqi="r2")
    with pytest.raises(OneM2MError) as caught:
        failed.raise_for_status(request)
    error = caught.value
    assert type(error) is OneM2MError and isinstance(error, M2MError)
    assert error.rsc is RSC.NOT_FOUND and error.name == "NOT_FOUND"
    assert error.request is request and error.response is failed
    assert error.debug == "No resource with this ID: cse-in/myae"
    text = str(error)
    assert text.startswith("4004 NOT_FOUND for RETRIEVE cse-in/myae")
    assert "peer says: No resource" in text and "hint:" in text
    assert ResponsePrimitive(rsc=5999).raise_for_status is not None
    with pytest.raises(OneM2MError, match="RSC_5999"):
        ResponsePrimitive(rsc=5999).raise_for_status()


def test_content_status_aliases():
    response = ResponsePrimitive(rsc=2000, cnst=1, cnot=20)
    assert (response.cts, response.cto) == (1, 20)


def test_error_kinds_and_hints():
    protocol = OneM2MProtocolError("bad JSON", where="byte 3")
    assert isinstance(protocol, OneM2MError) and isinstance(protocol, ValueError)
    assert protocol.rsc is RSC.BAD_REQUEST and protocol.where == "byte 3"
    assert str(protocol) == "[byte 3] bad JSON" and protocol.hint is None
    usage = OneM2MUsageError("rn is bad", hint="use letters")
    assert str(usage) == "rn is bad; hint: use letters"
    assert "negotiate()" in (rsc_hint(4001) or "")
    assert "'C' or 'S'" in (rsc_hint(RSC.SECURITY_ASSOCIATION_REQUIRED) or "")
    assert rsc_hint(4999) is None


def test_filter_criteria_defaults_are_empty():
    assert FilterCriteria() == FilterCriteria(lbl=(), ty=())


def test_timestamps():
    moment = dt.datetime(2026, 11, 23, 3, 44, 12, 427668, tzinfo=dt.timezone.utc)
    assert format_timestamp(moment) == "20261123T034412,427668"
    assert format_timestamp(moment.replace(microsecond=0, tzinfo=None)) == "20261123T034412"
    cet = dt.timezone(dt.timedelta(hours=1))
    assert format_timestamp(dt.datetime(2026, 1, 1, 1, 0, tzinfo=cet)) == "20260101T000000"
    assert parse_timestamp("20261123T034412,427668") == moment
    assert parse_timestamp("20261123T034412,4") == moment.replace(microsecond=400000)
    for bad in ("2026-11-23T03:44:12", "20261323T000000", "20261123T034412,1234567", ""):
        with pytest.raises(OneM2MProtocolError):
            parse_timestamp(bad)
