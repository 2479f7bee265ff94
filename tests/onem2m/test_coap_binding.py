"""The oneM2M CoAP binding (TS-0008): mapping vectors, decoder fuzz, the AE's receiver, ACME over CoAP.

* Mapping: the option numbers and Content-Formats against TS-0008 V3.9.0 and ACME's
  own source, exact CoAP requests for the primitives an AE sends, the To/Uri-Path and
  query rules, every RSC through Table 6.2.4-1, round trips (hypothesis).
* Fuzz: any code / options / path / query / payload gives a primitive or a
  OneM2MProtocolError, nothing else.
* Receiver: ACME 2026.5.3 cannot send a CoAP NOTIFY (see below), so our own aiocoap
  client takes the CSE's role and sends oneM2M NOTIFYs, built option by option,
  to the binding's pointOfAccess.
* ACME (``acme_cse`` fixture, JSON and CBOR): what works over CoAP end to end, and
  tests that pin what does not (NOTIFY, block-wise, TS-0008-style non-blocking),
  so a fixed ACME shows up as a failing test that asks for the notes to be updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiocoap
import cbor2
import pytest
from aiocoap import optiontypes
from aiocoap import resource as coap_resource
from aiocoap.numbers import codes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m2mclient.coap.context import bound_port, create_endpoint
from m2mclient.onem2m.bindings import coap as coap_binding
from m2mclient.onem2m.bindings import open_binding
from m2mclient.onem2m.bindings.coap import (
    CONTENT_FORMATS,
    OPTION_ACCEPT,
    CoapBinding,
    CoapRequest,
    CoapResponse,
    OneM2MOption,
    coap_to_request,
    coap_to_response,
    collect_options,
    from_uri_path,
    request_to_coap,
    response_to_coap,
    to_uri_path,
)
from m2mclient.onem2m.primitives import (
    RSC_TO_COAP,
    Attribute,
    FilterCriteria,
    FilterUsage,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    ResponseTypeInfo,
    coap_code,
    make_rqi,
    rsc_to_coap,
)

# The builders from their module: once m2mclient/onem2m/ae.py (the AE API) is imported,
# the package attribute m2mclient.onem2m.ae is that submodule, not the ae() builder.
from m2mclient.onem2m.query import COAP_URI_QUERY
from m2mclient.onem2m.resources import (
    ae,
    container,
    content_instance,
    parse_resource,
    parse_uri_list,
    subscription,
)
from m2mclient.onem2m.serialization import Format, serialize_content

if TYPE_CHECKING:  # tests/ is not a package; conftest modules are pytest's to import
    from conftest import AcmeCSE

RSC = ResponseStatusCode
O = OneM2MOption  # noqa: E741
T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
ACME_PACKAGE = sorted((REPO_ROOT / ".ci" / "acme-venv" / "lib").glob("python3*/site-packages/acmecse"))

GET, POST, PUT, DELETE = (coap_code(0, n) for n in (1, 2, 3, 4))
CREATED, DELETED, CHANGED, CONTENT = (coap_code(2, n) for n in (1, 2, 4, 5))


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def utf8(text: str) -> bytes:
    return text.encode()


def uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


# ---------------------------------------------------------------------------
# Numbers: TS-0008 V3.9.0 and ACME's source
# ---------------------------------------------------------------------------

# TS-0008 V3.9.0 Table 6.2.2.4.0-1, row by row.
TS0008_OPTIONS = {
    "FR": 279,
    "RQI": 283,
    "OT": 259,
    "RQET": 291,
    "RSET": 295,
    "OET": 299,
    "RTURI": 263,
    "EC": 303,
    "RSC": 307,
    "GID": 311,
    "TY": 267,
    "CTO": 319,
    "CTS": 323,
    "ATI": 327,
    "RVI": 271,
    "VSI": 331,
    "GTM": 335,
    "AUS": 339,
    "ASRI": 275,
}


def test_option_numbers_are_the_ts0008_table() -> None:
    for name, number in TS0008_OPTIONS.items():
        assert OneM2MOption[name] == number
    assert {o.name for o in OneM2MOption} - set(TS0008_OPTIONS) == {"OMR", "PRPI", "MSU"}  # from ACME


def test_every_onem2m_option_is_critical_and_unsafe() -> None:
    # Table 6.2.2.4.0-1 marks all C and U; RFC 7252 §5.4.6 puts both in the number.
    for option in OneM2MOption:
        assert option & 1 and option & 2, option.name


def acme_source(relative: str) -> str:
    if not ACME_PACKAGE:
        pytest.skip("ACME's source is not installed (.ci/acme-venv); nothing to compare with")
    return (ACME_PACKAGE[-1] / relative).read_text()


def test_option_numbers_agree_with_acme_source() -> None:
    source = acme_source("helpers/CoAPthonTools.py")
    registered = {name: int(number) for number, name in re.findall(r'OptionItem\((\d+), "oneM2M-(\w+)"', source)}
    assert registered == {o.name: int(o) for o in OneM2MOption}


def test_content_formats_agree_with_acme_source() -> None:
    source = acme_source("etc/Types.py")
    body = source[source.index("def fromCoAP") :][:800]
    acme: dict[int, Format | None] = {}
    for numbers, kind in re.findall(r"case ([\d |]+):\s+return cls\.(\w+)", body):
        for number in re.findall(r"\d+", numbers):
            acme[int(number)] = {"JSON": Format.JSON, "CBOR": Format.CBOR, "XML": None}[kind]
    assert acme == dict(CONTENT_FORMATS)


# ---------------------------------------------------------------------------
# Request primitive -> CoAP request
# ---------------------------------------------------------------------------


def test_ae_registration_json_is_what_acme_took_in_the_reference_transcript() -> None:
    # shared/reference/acme-cse-peer-and-ae-sdks.md §1.8: the AE CREATE ACME answered 2001.
    body = ae("Ncoapapp", "coapaejson", poa=["coap://127.0.0.1:15684"])
    request = RequestPrimitive(
        op=Operation.CREATE, to="cse-in", rqi="co-48b4bff1", fr="Ccoapaejson", rvi="3", ty=2, pc=body
    )
    assert request_to_coap(request) == CoapRequest(
        code=POST,
        uri_path=("cse-in",),
        uri_query=(),
        options={279: b"Ccoapaejson", 283: b"co-48b4bff1", 271: b"3", 267: b"\x02", OPTION_ACCEPT: b"\x32"},
        payload=b'{"m2m:ae":{"rn":"coapaejson","api":"Ncoapapp","rr":true,"srv":["3"],'
        b'"poa":["coap://127.0.0.1:15684"]}}',
        content_format=50,
    )


def test_cbor_content_and_accept() -> None:
    request = RequestPrimitive(
        op=Operation.CREATE, to="cse-in/ae/data", rqi="r", fr="Cae", rvi="4", ty=4, pc=content_instance({"t": 21.5})
    )
    coap = request_to_coap(request, Format.CBOR)
    assert coap.content_format == 60 and coap.options[OPTION_ACCEPT] == b"\x3c"
    assert cbor2.loads(coap.payload) == {"m2m:cin": {"con": {"t": 21.5}}}
    assert coap.uri_path == ("cse-in", "ae", "data")


@pytest.mark.parametrize(
    ("op", "method", "ty"),
    [
        (Operation.CREATE, POST, 3),
        (Operation.RETRIEVE, GET, None),
        (Operation.UPDATE, PUT, None),
        (Operation.DELETE, DELETE, None),
        (Operation.NOTIFY, POST, None),
    ],
)
def test_operation_to_method_table_6_2_1_1(op: Operation, method: int, ty: int | None) -> None:
    pc = {"m2m:sgn": {"vrq": True}} if op is Operation.NOTIFY else container() if op is Operation.CREATE else None
    coap = request_to_coap(RequestPrimitive(op=op, to="cse-in/x", rqi="r", ty=ty, pc=pc))
    assert coap.code == method
    assert (O.TY in coap.options) == (op is Operation.CREATE)  # how a receiver tells CREATE from NOTIFY
    assert coap.payload == b"" or op in (Operation.CREATE, Operation.NOTIFY)
    assert coap.content_format == (50 if coap.payload else None)


@pytest.mark.parametrize(
    ("to", "uri_path"),
    [  # TS-0008 V3.9.0 Table 6.2.2.3-1
        ("CSEBase/ae12/cont27/contInst696", ("CSEBase", "ae12", "cont27", "contInst696")),
        ("/CSE178/CSEBase/ae12/cont27/contInst696", ("~", "CSE178", "CSEBase", "ae12", "cont27", "contInst696")),
        (
            "//mym2msp.org/CSE178/CSEBase/ae12/cont27/contInst696",
            ("_", "mym2msp.org", "CSE178", "CSEBase", "ae12", "cont27", "contInst696"),
        ),
        ("cin00856", ("cin00856",)),
        ("/CSE178/cin00856", ("~", "CSE178", "cin00856")),
        ("//mym2msp.org/CSE178/cin00856", ("_", "mym2msp.org", "CSE178", "cin00856")),
    ],
)
def test_to_and_uri_path_table_6_2_2_3_1(to: str, uri_path: tuple[str, ...]) -> None:
    assert to_uri_path(to) == (uri_path, None)
    assert from_uri_path(uri_path) == to


def test_empty_uri_path_is_the_root() -> None:
    assert from_uri_path(()) == "/" and from_uri_path(("",)) == "/"


def test_uri_query_is_the_shared_mapping_one_option_per_item() -> None:
    """The items of m2mclient.onem2m.query (tests/onem2m/test_query.py), each its own option, raw UTF-8."""
    fc = FilterCriteria(lbl=("a b&c=d", "ü"), atr=(Attribute("cr", "Sam"),))
    request = RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="r", rcn=4, tkns=("t1", "t2"), fc=fc)
    coap = request_to_coap(request)
    assert coap.uri_query == ("rcn=4", "lbl=a b&c%3Dd+ü", "cr=Sam", "tkns=t1+t2")
    assert coap_to_request(*coap) == request


def test_partial_retrieve_goes_into_atrl() -> None:
    one = request_to_coap(RequestPrimitive(op=Operation.RETRIEVE, to="cse-in/ae#lbl", rqi="r"))
    assert one.uri_path == ("cse-in", "ae") and one.uri_query == ("atrl=lbl",)
    many = request_to_coap(
        RequestPrimitive(op=Operation.RETRIEVE, to="cse-in/ae", rqi="r", pc={"m2m:atrl": ["rn", "lbl"]})
    )
    assert many.uri_query == ("atrl=rn+lbl",) and many.payload == b""
    back = coap_to_request(GET, ("cse-in", "ae"), many.uri_query, {O.RQI: b"r"}, b"", None)
    assert back.pc == {"m2m:atrl": ["rn", "lbl"]}
    assert coap_to_request(GET, ("cse-in", "ae"), one.uri_query, {O.RQI: b"r"}, b"", None).to == "cse-in/ae#lbl"


def test_every_request_option() -> None:
    request = RequestPrimitive(
        op=Operation.CREATE,
        to="cse-in",
        rqi="rq",
        fr="Cae",
        rvi="2a",
        ty=28,
        ot="20260101T000000",
        rqet=10000,
        rset="20260101T000100",
        oet="20260101T000001",
        ec=3,
        gid="g1",
        gtm=("/id-in/a", "/id-in/b"),
        aus=("sig1", "sig2"),
        vsi="vendor",
        omr=("/id-in/omr1",),
        prpi="p",
        msu="u",
        rt=ResponseTypeInfo(rtv=ResponseType.BLOCKING_REQUEST, nu=("coap://h/a", "Cae")),
        pc={"m2m:fcnt": {}},
    )
    options = request_to_coap(request).options
    assert options == {
        O.FR: b"Cae",
        O.RQI: b"rq",
        O.RVI: b"2a",
        O.OT: b"20260101T000000",
        O.RQET: b"10000",
        O.RSET: b"20260101T000100",
        O.OET: b"20260101T000001",
        O.EC: b"\x03",
        O.GID: b"g1",
        O.GTM: b"/id-in/a+/id-in/b",
        O.AUS: b"sig1+sig2",
        O.VSI: b"vendor",
        O.OMR: b"/id-in/omr1",
        O.PRPI: b"p",
        O.MSU: b"u",
        O.TY: b"\x1c",
        O.RTURI: b"coap://h/a&Cae",
        OPTION_ACCEPT: b"\x32",
    }
    back = coap_to_request(POST, ("cse-in",), (), options, b'{"m2m:fcnt":{}}', 50)
    assert back == request


def test_non_blocking_is_a_post_with_op_unless_told_otherwise() -> None:
    request = RequestPrimitive(
        op=Operation.RETRIEVE, to="cse-in/ae", rqi="r", rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH)
    )
    spec = request_to_coap(request)
    assert (spec.code, spec.uri_query) == (POST, ("op=2", "rt=1"))  # TS-0008 §6.2.1, §6.3.3
    assert coap_to_request(*spec) == request
    acme_style = request_to_coap(request, nonblocking_post=False)
    assert (acme_style.code, acme_style.uri_query) == (GET, ("rt=1",))
    assert coap_to_request(*acme_style) == request
    blocking = RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", rt=ResponseTypeInfo())
    assert request_to_coap(blocking).uri_query == ("rt=3",)  # written like any parameter the primitive has
    assert coap_to_request(*request_to_coap(blocking)) == blocking


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        (RequestPrimitive(op=Operation.CREATE, to="cse-in", rqi="r", pc=container()), "needs ty"),
        (RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", pc=container()), "carries no content"),
        (RequestPrimitive(op=Operation.DELETE, to="x", rqi="r", pc={"m2m:atrl": ["rn"]}), "carries neither"),
        (RequestPrimitive(op=Operation.UPDATE, to="x#lbl", rqi="r", pc=container()), "partial RETRIEVE"),
        (RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", ec="urgent"), "uint option"),
        (RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", extra={"xyz": 1}), "no place"),
        (
            RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", fc=FilterCriteria(atr=(Attribute("ty", "3"),))),
            "cannot be a query field name",
        ),
        (
            RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r", rt=ResponseTypeInfo(rtv=2, nu=("a&b",))),
            "separates URIs",
        ),
    ],
)
def test_what_coap_cannot_carry_is_a_usage_error(request_: RequestPrimitive, complaint: str) -> None:
    with pytest.raises(OneM2MUsageError, match=complaint):
        request_to_coap(request_)


# ---------------------------------------------------------------------------
# Responses: Table 6.2.4-1
# ---------------------------------------------------------------------------

EVERY_RSC = sorted({int(rsc) for rsc in ResponseStatusCode})


@pytest.mark.parametrize("rsc", [r for r in EVERY_RSC if r != RSC.ACCEPTED])
def test_every_rsc_maps_to_its_coap_code_and_back(rsc: int) -> None:
    response = ResponsePrimitive(rsc=rsc, rqi="r", pc={"m2m:dbg": "x"})
    coap = response_to_coap(response, op=Operation.RETRIEVE)
    assert coap.code == RSC_TO_COAP[RSC(rsc)] == rsc_to_coap(rsc, Operation.RETRIEVE)
    assert coap.options[O.RSC] == uint(rsc)  # always: many RSCs share one CoAP code (§6.2.4)
    assert coap_to_response(*coap) == response


def test_ok_to_a_notify_is_2_04_without_payload() -> None:
    # Table 6.2.4-1: "2000 (for NOTIFY operation) ... 2.04 Changed. CoAP payload shall be empty."
    coap = response_to_coap(ResponsePrimitive(rsc=2000, rqi="n1", pc={"ignored": 1}), op=Operation.NOTIFY)
    assert coap == CoapResponse(CHANGED, {O.RSC: b"\x07\xd0", O.RQI: b"n1"}, b"", None)
    assert response_to_coap(ResponsePrimitive(rsc=2000, pc={"m2m:cin": {}})).code == CONTENT


def test_accepted_1000_has_no_coap_code() -> None:
    with pytest.raises(OneM2MUsageError, match="not used"):
        response_to_coap(ResponsePrimitive(rsc=RSC.ACCEPTED))


def test_every_response_option() -> None:
    response = ResponsePrimitive(
        rsc=2000,
        rqi="r",
        rvi="3",
        fr="/id-in",
        ot="20261123T034417,521012",
        rset=5000,
        ec=2,
        cnst=1,
        cnot=100,
        ati={"ltia": [{"lti": "l1", "tkid": "k1"}, {"lti": "l2", "tkid": "k2"}]},
        asri="asri",
        vsi="v",
        pc={"m2m:cin": {"con": "x"}},
    )
    coap = response_to_coap(response, Format.CBOR)
    assert coap.options[O.ATI] == b"l1:k1+l2:k2"  # TS-0008 §6.2.2.4.15
    assert (coap.options[O.CTS], coap.options[O.CTO], coap.content_format) == (b"\x01", b"\x64", 60)
    assert coap_to_response(*coap) == response


def test_acme_response_as_captured() -> None:
    # The options ACME 2026.5.3 put on its 2.01 to an AE CREATE (captured with aiocoap).
    options = {
        O.OT: b"20261123T055519,340494",
        O.RVI: b"3",
        O.RQI: b"rq-1",
        O.RSC: b"\x07\xd1",
    }
    response = coap_to_response(CREATED, options, b'{"m2m:ae": {"ri": "Cprobe"}}', 50)
    assert response == ResponsePrimitive(
        rsc=RSC.CREATED, rqi="rq-1", rvi="3", ot="20261123T055519,340494", pc={"m2m:ae": {"ri": "Cprobe"}}
    )


def test_a_bare_coap_error_gets_an_rsc_and_an_explanation() -> None:
    # ACME's answer to a Block1 transfer: 4.08, no oneM2M options, no payload.
    incomplete = coap_to_response(coap_code(4, 8), {}, b"", None)
    assert incomplete.rsc == RSC.BAD_REQUEST
    assert incomplete.debug is not None and "4.08 Request Entity Incomplete" in incomplete.debug
    assert "blockwise=False" in incomplete.debug
    diagnostic = coap_to_response(coap_code(5, 0), {}, b"out of memory", None)
    assert diagnostic.rsc == RSC.INTERNAL_SERVER_ERROR and "(diagnostic: out of memory)" in (diagnostic.debug or "")
    assert coap_to_response(CHANGED, {}, b"", None).rsc == RSC.UPDATED


@pytest.mark.parametrize(
    ("code", "options", "payload", "content_format", "complaint"),
    [
        (CONTENT, {O.RSC: b"\x00\x07\xd0\x00\x00"}, b"", None, "5-byte integer"),
        (CONTENT, {O.RSC: b"\x01"}, b"", None, "not a Response Status Code"),
        (CONTENT, {O.RSC: b"\x07\xd0", O.RQI: b"\xff"}, b"", None, "not UTF-8"),
        (CONTENT, {O.RSC: b"\x07\xd0"}, b"<m2m:cin/>", 41, "XML"),
        (CONTENT, {O.RSC: b"\x07\xd0"}, b"{}", 0, "not a oneM2M serialization"),
        (CONTENT, {O.RSC: b"\x07\xd0"}, b"{", 50, "malformed JSON"),
        (CONTENT, {O.RSC: b"\x07\xd0"}, b"[1]", 50, "must be an object"),
        (CONTENT, {O.RSC: b"\x07\xd0", O.ATI: b"nocolon"}, b"", None, "lti:tkid"),
        (GET, {}, b"", None, "not a response"),
    ],
)
def test_bad_responses(
    code: int, options: dict[int, bytes], payload: bytes, content_format: int | None, complaint: str
) -> None:
    with pytest.raises(OneM2MProtocolError, match=complaint):
        coap_to_response(code, options, payload, content_format)


@pytest.mark.parametrize(
    ("code", "query", "options", "complaint", "rsc"),
    [
        (POST, (), {}, "RQI is missing", RSC.BAD_REQUEST),
        (coap_code(0, 7), (), {O.RQI: b"r"}, "not a oneM2M request", RSC.OPERATION_NOT_ALLOWED),
        (GET, ("op=2",), {O.RQI: b"r"}, "needs POST", RSC.OPERATION_NOT_ALLOWED),
        (POST, ("op=9",), {O.RQI: b"r"}, "not one Operation", RSC.BAD_REQUEST),
        (GET, ("rcn",), {O.RQI: b"r"}, "not name=value", RSC.BAD_REQUEST),
        (GET, ("rcn=4", "rcn=5"), {O.RQI: b"r"}, "appears twice", RSC.BAD_REQUEST),  # the rest: test_query.py
        (POST, ("atrl=rn",), {O.RQI: b"r", O.TY: b"\x03"}, "only for a RETRIEVE", RSC.BAD_REQUEST),
        (GET, (), {O.RQI: b"r", O.TY: b"\x00\x00\x00\x00\x03"}, "5-byte integer", RSC.BAD_REQUEST),
    ],
)
def test_bad_requests_say_what_to_answer(
    code: int, query: tuple[str, ...], options: dict[int, bytes], complaint: str, rsc: int
) -> None:
    with pytest.raises(OneM2MProtocolError, match=complaint) as caught:
        coap_to_request(code, ("x",), query, options, b"", None)
    assert caught.value.rsc == rsc


def test_xml_notify_is_4015() -> None:
    with pytest.raises(OneM2MProtocolError) as caught:
        coap_to_request(POST, (), (), {O.RQI: b"r"}, b"<m2m:sgn/>", 10002)
    assert caught.value.rsc == RSC.UNSUPPORTED_MEDIA_TYPE


def test_repeated_onem2m_option_is_refused() -> None:
    assert collect_options([(11, b"a"), (11, b"b"), (279, b"Cae"), (17, b"2")]) == {279: b"Cae", 17: b"2"}
    with pytest.raises(OneM2MProtocolError, match="repeated"):
        collect_options([(283, b"a"), (283, b"b")])


# ---------------------------------------------------------------------------
# Round trips and fuzz (hypothesis)
# ---------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
WORD = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8)
SEGMENT = TEXT.filter(lambda s: "/" not in s and "#" not in s and s not in ("~", "_"))
TIMESTAMP = st.one_of(st.integers(0, 10**9), st.just("20260101T000000"), st.just("20261123T034417,521012"))
ATTRIBUTE_NAME = WORD.filter(lambda s: s not in COAP_URI_QUERY.reserved and s[:2] not in ("c.", "p."))


@st.composite
def filter_criteria(draw: st.DrawFn) -> FilterCriteria:
    fc = FilterCriteria(
        lbl=tuple(draw(st.lists(TEXT, max_size=3))),
        ty=tuple(draw(st.lists(st.integers(0, 70000), max_size=3))),
        cty=tuple(draw(st.lists(TEXT, max_size=2))),
        fu=draw(st.one_of(st.none(), st.sampled_from([1, 2, 3]))),
        lim=draw(st.one_of(st.none(), st.integers(0, 2**40))),
        lvl=draw(st.one_of(st.none(), st.integers(0, 9))),
        cra=draw(st.one_of(st.none(), TEXT)),
        atr=tuple(draw(st.lists(st.builds(Attribute, ATTRIBUTE_NAME, TEXT), max_size=2))),
        catr=tuple(draw(st.lists(st.builds(Attribute, ATTRIBUTE_NAME, TEXT), max_size=2))),
    )
    return fc if fc != FilterCriteria() else FilterCriteria(fu=1)


@st.composite
def requests(draw: st.DrawFn) -> RequestPrimitive:
    op = draw(st.sampled_from(Operation))
    prefix = draw(st.sampled_from(["", "/", "//"]))
    to = prefix + "/".join(draw(st.lists(SEGMENT, min_size=1, max_size=4))) or "cse-in"
    with_content = op in (Operation.CREATE, Operation.UPDATE, Operation.NOTIFY)
    rtv = draw(st.sampled_from([None, *ResponseType]))
    return RequestPrimitive(
        op=op,
        to=to,
        rqi=draw(TEXT.filter(bool)),
        fr=draw(st.one_of(st.none(), TEXT)),
        rvi=draw(st.sampled_from([None, "2a", "3", "4", "5"])),
        ty=draw(st.integers(1, 65535)) if op is Operation.CREATE else None,
        pc=draw(st.dictionaries(WORD, st.one_of(TEXT, st.integers(-5, 5), st.booleans()), max_size=3))
        if with_content
        else None,
        rqet=draw(st.one_of(st.none(), TIMESTAMP)),
        ec=draw(st.one_of(st.none(), st.integers(0, 255))),
        rcn=draw(st.one_of(st.none(), st.integers(0, 11))),
        drt=draw(st.one_of(st.none(), st.sampled_from([1, 2]))),
        da=draw(st.one_of(st.none(), st.booleans())),
        rp=draw(st.one_of(st.none(), TIMESTAMP)),
        rids=draw(st.one_of(st.none(), st.lists(TEXT, min_size=1, max_size=3).map(tuple))),
        rt=None
        if rtv is None
        else ResponseTypeInfo(rtv=rtv, nu=tuple(draw(st.lists(TEXT.filter(lambda s: s and "&" not in s), max_size=2)))),
        fc=draw(st.one_of(st.none(), filter_criteria())),
        vsi=draw(st.one_of(st.none(), TEXT)),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.sampled_from(Format), st.booleans())
def test_request_round_trip(request: RequestPrimitive, fmt: Format, nonblocking_post: bool) -> None:
    coap = request_to_coap(request, fmt, nonblocking_post=nonblocking_post)
    assert coap_to_request(*coap, fmt=fmt) == request  # every parameter survives, rt included


@settings(max_examples=200)
@given(
    st.sampled_from([r for r in EVERY_RSC if r != RSC.ACCEPTED]),
    st.sampled_from([None, *Operation]),
    st.sampled_from(Format),
    st.one_of(st.none(), TEXT),
    st.dictionaries(WORD, st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1)), max_size=3),
)
def test_response_round_trip(
    rsc: int, op: Operation | None, fmt: Format, rqi: str | None, body: dict[str, Any]
) -> None:
    response = ResponsePrimitive(rsc=rsc, rqi=rqi, pc={"m2m:x": body})
    back = coap_to_response(*response_to_coap(response, fmt, op=op), fmt=fmt)
    if rsc == RSC.OK and op is Operation.NOTIFY:
        assert back.pc is None and back.rsc == rsc
    else:
        assert back == response


OPTION_NUMBERS = st.sampled_from([*OneM2MOption, OPTION_ACCEPT, 12, 11, 15, 60000])
OPTION_VALUES = st.one_of(
    st.binary(max_size=6),
    st.sampled_from([b"\x07\xd1", b"\x02", b"Cae", b"\xff\xfe", b"", "²".encode(), b"9" * 5000, b"12345"]),
)
PAYLOADS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"{}", b'{"m2m:sgn":{"vrq":true}}', cbor2.dumps({"m2m:sgn": {}}), b"[]", b"\xa1\x01\x02"]),
)
CONTENT_FORMAT_VALUES = st.one_of(st.none(), st.sampled_from(sorted(CONTENT_FORMATS)), st.integers(0, 70000))
QUERY_ITEMS = st.one_of(
    TEXT,
    st.builds(
        "{}={}".format,
        st.sampled_from(["op", "rt", "rcn", "ty", "lbl", "fu", "da", "atrl", "c.x", "p.", "lim", "rids", "zz"]),
        st.one_of(
            TEXT, st.sampled_from(["1", "2+3", "true", "%zz", "%ff", "", "9" * 5000, "²", "\uff11\uff12", "%C2%B2"])
        ),
    ),
)


@settings(max_examples=1000)
@given(
    st.integers(0, 255),
    st.lists(TEXT, max_size=4),
    st.lists(QUERY_ITEMS, max_size=5),
    st.dictionaries(OPTION_NUMBERS, OPTION_VALUES, max_size=6),
    PAYLOADS,
    CONTENT_FORMAT_VALUES,
)
def test_fuzz_request_decoder(
    code: int, path: list[str], query: list[str], options: dict[int, bytes], payload: bytes, cf: int | None
) -> None:
    try:
        decoded = coap_to_request(code, path, query, options, payload, cf)
    except OneM2MProtocolError as exc:
        assert 4000 <= exc.rsc < 5000
    else:
        assert isinstance(decoded, RequestPrimitive)


@settings(max_examples=1000)
@given(st.integers(0, 255), st.dictionaries(OPTION_NUMBERS, OPTION_VALUES, max_size=6), PAYLOADS, CONTENT_FORMAT_VALUES)
def test_fuzz_response_decoder(code: int, options: dict[int, bytes], payload: bytes, cf: int | None) -> None:
    try:
        decoded = coap_to_response(code, options, payload, cf)
    except OneM2MProtocolError:
        pass
    else:
        assert isinstance(decoded, ResponsePrimitive)


@given(st.lists(st.tuples(st.integers(0, 65535), st.binary(max_size=4)), max_size=8))
def test_fuzz_collect_options(pairs: list[tuple[int, bytes]]) -> None:
    try:
        collected = collect_options(pairs)
    except OneM2MProtocolError:
        return
    assert set(collected) <= {int(o) for o in OneM2MOption} | {OPTION_ACCEPT}


# ---------------------------------------------------------------------------
# The binding object
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("coaps://127.0.0.1:5684", "no DTLS"),
        ("http://127.0.0.1", "not a coap://"),
        ("coap://127.0.0.1:5683/cse-in", "point of access only"),
    ],
)
def test_binding_refuses_what_it_cannot_reach(url: str, complaint: str) -> None:
    with pytest.raises(OneM2MUsageError, match=complaint):
        CoapBinding(url)


def test_open_binding_picks_coap() -> None:
    binding = open_binding("coap://127.0.0.1:5683", serialization=Format.CBOR, blockwise=False)
    assert isinstance(binding, CoapBinding) and binding.format is Format.CBOR and not binding.blockwise


def test_point_of_access_needs_the_port() -> None:
    binding = CoapBinding("coap://127.0.0.1:5683")
    with pytest.raises(OneM2MUsageError, match="open"):
        _ = binding.point_of_access
    assert CoapBinding("coap://[::1]:5683", notification_host="::1", notification_port=5999).point_of_access == [
        "coap://[::1]:5999"
    ]

    async def scenario() -> None:
        with pytest.raises(OneM2MUsageError, match="not open"):
            await binding.send(RequestPrimitive(op=Operation.RETRIEVE, to="x", rqi="r"))
        async with binding:
            (poa,) = binding.point_of_access
            assert re.fullmatch(r"coap://127\.0\.0\.1:\d+", poa) and not poa.endswith(":0")
        with pytest.raises(OneM2MUsageError, match="open"):
            _ = binding.point_of_access

    run(scenario())


def test_no_coap_exchange_is_a_local_5103() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed below: ICMP port unreachable answers

    async def scenario() -> ResponsePrimitive:
        async with CoapBinding(f"coap://127.0.0.1:{port}", timeout=10) as binding:
            return await binding.send(RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="r1", fr="C", rvi="3"))

    response = run(scenario())
    assert response.rsc == RSC.TARGET_NOT_REACHABLE and response.rqi == "r1"
    assert (response.debug or "").startswith("m2mclient: no CoAP exchange")


def test_no_response_in_time_is_a_local_4008() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))

        async def scenario() -> ResponsePrimitive:
            async with CoapBinding(f"coap://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3) as binding:
                return await binding.send(RequestPrimitive(op=Operation.RETRIEVE, to="cse-in", rqi="r2"))

        response = run(scenario())
    assert response.rsc == RSC.REQUEST_TIMEOUT and response.rqi == "r2"
    assert "TS-0008 §6.3.1" in (response.debug or "") and "blockwise=False" in (response.debug or "")


# ---------------------------------------------------------------------------
# The AE's receiver, with our own aiocoap client in the CSE's role
# (ACME 2026.5.3 cannot send a CoAP NOTIFY: see test_acme_cannot_send_a_coap_notify)
# ---------------------------------------------------------------------------

Handler = Callable[[RequestPrimitive], Awaitable[ResponsePrimitive]]


async def with_receiver(
    handler: Handler | None, exchange: Callable[[aiocoap.Context, str], Awaitable[T]], fmt: Format = Format.JSON
) -> T:
    """Run ``exchange(cse_context, poa)`` against a binding whose receiver answers with ``handler``."""
    binding = CoapBinding("coap://127.0.0.1:9", serialization=fmt)  # the CSE side is not used here
    if handler is not None:
        binding.serve(handler)
    async with binding:
        (poa,) = binding.point_of_access
        cse = await create_endpoint(coap_resource.Site(), poa, bind=("127.0.0.1", 0))
        assert bound_port(cse) not in (None, 0)
        try:
            return await exchange(cse, poa)
        finally:
            await cse.shutdown()


def cse_notify(
    poa: str,
    path: tuple[str, ...],
    payload: bytes,
    content_format: int | None,
    options: dict[int, bytes],
    code: int = POST,
) -> aiocoap.Message:
    """A request as a CSE builds it: every option set by number, nothing from the binding."""
    message = aiocoap.Message(code=codes.Code(code), uri=poa, payload=payload)
    message.opt.uri_path = path
    if content_format is not None:
        message.opt.content_format = content_format
    for number, value in options.items():
        message.opt.add_option(optiontypes.OpaqueOption(number, value))
    return message


def reply_options(reply: aiocoap.Message) -> dict[int, bytes]:
    return {int(o.number): o.encode() for o in reply.opt.option_list() if int(o.number) >= 256}


VERIFICATION = {"m2m:sgn": {"vrq": True, "sur": "/id-in/sub4yrsy9aAZB", "cr": "Cmyae"}}


@pytest.mark.parametrize(("fmt", "content_format"), [(Format.JSON, 50), (Format.CBOR, 60), (Format.JSON, 10003)])
def test_receiver_answers_a_cse_notify(fmt: Format, content_format: int) -> None:
    received: list[RequestPrimitive] = []

    async def handler(request: RequestPrimitive) -> ResponsePrimitive:
        received.append(request)
        return ResponsePrimitive(rsc=RSC.OK)

    payload = (
        cbor2.dumps(VERIFICATION)
        if fmt is Format.CBOR
        else b'{"m2m:sgn":{"vrq":true,"sur":"/id-in/sub4yrsy9aAZB","cr":"Cmyae"}}'
    )
    options = {279: b"/id-in", 283: b"ItbJkNYNBG", 271: b"5", 259: b"20261123T034412,501196"}

    async def exchange(cse: aiocoap.Context, poa: str) -> aiocoap.Message:
        # ACME posts to <poa>/<AE-ID> when nu is the AE-ID (reference §1.5); any path must do.
        return await cse.request(cse_notify(poa, ("Cmyae",), payload, content_format, options)).response

    reply = run(with_receiver(handler, exchange, fmt))
    assert reply.code == codes.CHANGED and reply.payload == b""  # Table 6.2.4-1, 2000 for NOTIFY
    assert reply_options(reply) == {307: b"\x07\xd0", 283: b"ItbJkNYNBG", 271: b"5"}
    (request,) = received
    assert request == RequestPrimitive(
        op=Operation.NOTIFY,
        to="Cmyae",
        rqi="ItbJkNYNBG",
        fr="/id-in",
        rvi="5",
        ot="20261123T034412,501196",
        pc=VERIFICATION,
    )


def test_receiver_takes_and_gives_large_bodies_block_wise() -> None:
    big = {"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"con": "x" * 6000}}, "net": 3}, "sur": "/id-in/sub1"}}
    seen: list[int] = []

    async def handler(request: RequestPrimitive) -> ResponsePrimitive:
        if request.op is Operation.NOTIFY:
            seen.append(len(request.pc["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"]) if request.pc else 0)
            return ResponsePrimitive(rsc=RSC.OK)
        return ResponsePrimitive(rsc=RSC.OK, pc={"m2m:cin": {"con": "y" * 5000}})

    async def exchange(cse: aiocoap.Context, poa: str) -> tuple[aiocoap.Message, aiocoap.Message]:
        notify = cse_notify(poa, (), serialize_content(big), 50, {279: b"/id-in", 283: b"big", 271: b"3"})
        first = await cse.request(notify).response  # Block1 (RFC 7959), reassembled by aiocoap
        get = cse_notify(poa, ("x",), b"", None, {279: b"/id-in", 283: b"get"}, code=GET)
        return first, await cse.request(get).response  # Block2, fetched by aiocoap

    notified, retrieved = run(with_receiver(handler, exchange))
    assert seen == [6000] and notified.code == codes.CHANGED
    assert retrieved.code == codes.CONTENT and len(retrieved.payload) > 5000
    assert coap_to_response(int(retrieved.code), reply_options(retrieved), retrieved.payload, 50).pc == {
        "m2m:cin": {"con": "y" * 5000}
    }


async def failing(request: RequestPrimitive) -> ResponsePrimitive:
    raise RuntimeError("application bug")


async def accepted(request: RequestPrimitive) -> ResponsePrimitive:
    return ResponsePrimitive(rsc=RSC.ACCEPTED)


@pytest.mark.parametrize(
    ("handler", "payload", "options", "coap", "rsc", "debug"),
    [
        (None, b"{}", {283: b"q1"}, coap_code(5, 1), 5001, "no request handler"),
        (failing, b"{}", {283: b"q2"}, coap_code(5, 0), 5000, "application bug"),
        (accepted, b"{}", {283: b"q3"}, coap_code(5, 0), 5000, "not used"),
        (failing, b"{not json", {283: b"q4"}, coap_code(4, 0), 4000, "malformed JSON"),
        (failing, b"{}", {}, coap_code(4, 0), 4000, "RQI is missing"),
        (failing, b"{}", {283: b"q5", 267: b"\x00\x00\x00\x00\x03"}, coap_code(4, 0), 4000, "5-byte integer"),
    ],
)
def test_receiver_errors_are_answered_not_dropped(
    handler: Handler | None, payload: bytes, options: dict[int, bytes], coap: int, rsc: int, debug: str | None
) -> None:
    async def exchange(cse: aiocoap.Context, poa: str) -> aiocoap.Message:
        return await cse.request(cse_notify(poa, (), payload, 50, options)).response

    reply = run(with_receiver(handler, exchange))
    response = coap_to_response(int(reply.code), reply_options(reply), reply.payload, reply.opt.content_format)
    assert int(reply.code) == coap and response.rsc == rsc
    assert response.rqi == (options[283].decode() if 283 in options else None)
    if debug is not None:
        assert debug in (response.debug or "")


def test_binding_to_binding_notify_both_formats() -> None:
    """One binding's send() to another's receiver: the AE answering a CSE, and the CBOR reply."""
    got: list[RequestPrimitive] = []

    async def handler(request: RequestPrimitive) -> ResponsePrimitive:
        got.append(request)
        return ResponsePrimitive(rsc=RSC.OK, rvi="3")

    async def scenario() -> list[ResponsePrimitive]:
        receiver = CoapBinding("coap://127.0.0.1:9")
        receiver.serve(handler)
        async with receiver:
            results = []
            for fmt in Format:
                async with CoapBinding(receiver.point_of_access[0], serialization=fmt) as cse:
                    results.append(
                        await cse.send(
                            RequestPrimitive(
                                op=Operation.NOTIFY,
                                to="/id-in/Cae",
                                rqi=f"n-{fmt}",
                                fr="/id-in",
                                rvi="5",
                                pc=VERIFICATION,
                            )
                        )
                    )
            return results

    answers = run(scenario())
    assert [(a.rsc, a.rqi, a.rvi, a.pc) for a in answers] == [
        (RSC.OK, "n-json", "3", None),
        (RSC.OK, "n-cbor", "3", None),
    ]
    assert [g.to for g in got] == ["/id-in/Cae", "/id-in/Cae"] and all(g.pc == VERIFICATION for g in got)


# ---------------------------------------------------------------------------
# ACME CSE 2026.5.3 over CoAP
# ---------------------------------------------------------------------------

ACME_TIMEOUT = 15.0
#: How long the tests of ACME's defects wait for an answer that does not come.
DEFECT_WAIT = 3.0


class AcmeAE:
    """One registered AE talking to ACME through a CoapBinding."""

    def __init__(self, binding: CoapBinding, acme: AcmeCSE, tag: str) -> None:
        self.binding = binding
        self.originator = f"C{tag}{secrets.token_hex(4)}"
        self.rn = self.originator.lower()
        self.base = f"{acme.cse_name}/{self.rn}"

    async def send(self, op: Operation, to: str, **params: Any) -> ResponsePrimitive:
        timeout = params.pop("timeout", None)
        request = RequestPrimitive(op=op, to=to, rqi=make_rqi("co-"), fr=self.originator, rvi="3", **params)
        response = await self.binding.send(request, timeout=timeout)
        assert response.rqi == request.rqi
        return response

    async def register(self, **ae_params: Any) -> dict[str, Any]:
        cse = self.base.split("/")[0]
        response = await self.send(Operation.CREATE, cse, ty=2, pc=ae("Ncoaptest", self.rn, **ae_params))
        response.raise_for_status()
        assert response.rsc == RSC.CREATED and response.pc is not None
        return parse_resource(response.pc)[1]

    async def deregister(self) -> None:
        (await self.send(Operation.DELETE, self.base)).raise_for_status()


def acme_run(acme: AcmeCSE, tag: str, scenario: Callable[[AcmeAE], Awaitable[T]], **binding_options: Any) -> T:
    async def main() -> T:
        binding_options.setdefault("timeout", ACME_TIMEOUT)
        async with CoapBinding(acme.coap_url, **binding_options) as binding:
            return await scenario(AcmeAE(binding, acme, tag))

    return run(main())


@pytest.fixture
def content_formats_seen(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The Content-Format of every response the binding decodes."""
    seen: list[int | None] = []
    original = coap_binding.coap_to_response

    def spy(code: int, options: Any, payload: bytes, content_format: int | None, **kwargs: Any) -> ResponsePrimitive:
        seen.append(content_format)
        return original(code, options, payload, content_format, **kwargs)

    monkeypatch.setattr(coap_binding, "coap_to_response", spy)
    return seen


@pytest.mark.parametrize("fmt", list(Format))
def test_acme_flow_over_coap(acme_cse: AcmeCSE, fmt: Format, content_formats_seen: list[int | None]) -> None:
    """Register, container, contentInstance, latest, discovery, delete: everything ACME does over CoAP."""

    async def scenario(ae_: AcmeAE) -> None:
        info = await ae_.register(poa=ae_.binding.point_of_access)
        assert info["aei"] == ae_.originator and info["poa"] == ae_.binding.point_of_access
        cnt = await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container("data", mni=10))
        assert cnt.rsc == RSC.CREATED
        payload = {"temp": 21.5} if fmt is Format.CBOR else "21.5"  # CBOR carries a native map as con
        cin = await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, pc=content_instance(payload))
        assert cin.rsc == RSC.CREATED
        quiet = await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, rcn=0, pc=content_instance("22.0"))
        assert (quiet.rsc, quiet.pc) == (RSC.CREATED, None)

        latest = await ae_.send(Operation.RETRIEVE, f"{ae_.base}/data/la")
        assert latest.rsc == RSC.OK and latest.pc is not None
        assert parse_resource(latest.pc) == (ResourceType.CONTENT_INSTANCE, latest.pc["m2m:cin"])
        assert latest.pc["m2m:cin"]["con"] == "22.0"

        found = await ae_.send(
            Operation.RETRIEVE, f"/id-in/{ae_.base}", fc=FilterCriteria(fu=FilterUsage.DISCOVERY, ty=(4,))
        )  # SP-relative: the "~" Uri-Path segment
        assert found.rsc == RSC.OK and found.pc is not None
        uris = parse_uri_list(found.pc)
        assert len(uris) == 2 and all(uri.startswith(f"{ae_.base}/data/") for uri in uris)

        partial = await ae_.send(Operation.RETRIEVE, f"{ae_.base}#rn")
        assert partial.pc == {"m2m:ae": {"rn": ae_.rn}}
        # Absolute To ("_" segment) with an attribute list. Not "...#mni": ACME then takes the
        # target for a remote CSE's (4004 here, 404 "Not registered to remote CSE" over HTTP).
        absolute = await ae_.send(
            Operation.RETRIEVE, f"//acme.example.com/id-in/{ae_.base}/data", pc={"m2m:atrl": ["mni", "rn"]}
        )
        assert absolute.pc == {"m2m:cnt": {"rn": "data", "mni": 10}}

        await ae_.deregister()
        gone = await ae_.send(Operation.RETRIEVE, ae_.base)
        assert gone.rsc == RSC.NOT_FOUND and "No resource" in (gone.debug or "")

    acme_run(acme_cse, f"flow{fmt}", scenario, serialization=fmt)
    # ACME answered every request (10) in the Accept-ed format; it labels empty payloads too.
    assert content_formats_seen == [{Format.JSON: 50, Format.CBOR: 60}[fmt]] * 10


def test_acme_reads_raw_utf8_uri_query_values(acme_cse: AcmeCSE) -> None:
    """Uri-Query values travel as raw UTF-8 with only '%', '+' and '=' escaped: ACME finds by such labels.

    ACME drops an item whose value holds a raw '=' (it splits on every '='), which
    would return both containers here; '&', ' ', ':' and non-ASCII need no escaping.
    """
    labels = ["key:a b&c=d", "température/1"]

    async def scenario(ae_: AcmeAE) -> dict[str, ResponsePrimitive]:
        await ae_.register()
        for rn, lbl in (("hit", labels), ("miss", ["key:a b", "other"])):
            (await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container(rn, lbl=lbl))).raise_for_status()
        found = {}
        for label in labels:
            fc = FilterCriteria(fu=FilterUsage.DISCOVERY, lbl=(label,))
            assert (
                f"lbl={label.replace('=', '%3D')}"
                in request_to_coap(RequestPrimitive(op=Operation.RETRIEVE, to=ae_.base, rqi="r", fc=fc)).uri_query
            )
            found[label] = await ae_.send(Operation.RETRIEVE, ae_.base, fc=fc)
        await ae_.deregister()
        return found

    for label, response in acme_run(acme_cse, "utf8", scenario).items():
        assert response.rsc == RSC.OK and response.pc is not None, label
        assert [uri.rpartition("/")[2] for uri in parse_uri_list(response.pc)] == ["hit"], label


def test_acme_errors_over_coap(acme_cse: AcmeCSE) -> None:
    async def scenario(ae_: AcmeAE) -> None:
        await ae_.register()
        again = await ae_.send(Operation.CREATE, acme_cse.cse_name, ty=2, pc=ae("Ncoaptest", ae_.rn + "x"))
        assert again.rsc == RSC.ORIGINATOR_HAS_ALREADY_REGISTERED  # 4.03 + oneM2M-RSC 4117
        no_rvi = await ae_.binding.send(
            RequestPrimitive(op=Operation.RETRIEVE, to=ae_.base, rqi="nr", fr=ae_.originator)
        )
        assert no_rvi.rsc == RSC.RELEASE_VERSION_NOT_SUPPORTED
        await ae_.deregister()

    acme_run(acme_cse, "err", scenario)


def test_acme_non_blocking_needs_its_own_method(acme_cse: AcmeCSE) -> None:
    """ACME reads a TS-0008 §6.2.1 POST + op as a NOTIFY; with the request's own method it creates a <request>."""
    rt = ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH)

    async def scenario(ae_: AcmeAE) -> tuple[ResponsePrimitive, ResponsePrimitive]:
        await ae_.register()
        spec = await ae_.send(Operation.RETRIEVE, ae_.base, rt=rt)
        ae_.binding.nonblocking_post = False
        own = await ae_.send(Operation.RETRIEVE, ae_.base, rt=rt)
        await ae_.deregister()
        return spec, own

    spec, own = acme_run(acme_cse, "nb", scenario)
    assert spec.rsc == RSC.BAD_REQUEST and "NOTIFY" in (spec.debug or "")
    assert own.rsc == RSC.ACCEPTED_NON_BLOCKING_SYNC and own.pc is not None and "m2m:uri" in own.pc


def test_acme_cannot_send_a_coap_notify(acme_cse: AcmeCSE) -> None:
    """ACME 2026.5.3: operationsMethodsMap has no NOTIFY, so nothing reaches a coap:// nu or poa."""

    async def scenario(ae_: AcmeAE) -> tuple[ResponsePrimitive, ResponsePrimitive, bool]:
        arrived = asyncio.Event()

        async def handler(request: RequestPrimitive) -> ResponsePrimitive:
            arrived.set()
            return ResponsePrimitive(rsc=RSC.OK)

        ae_.binding.serve(handler)
        poa = ae_.binding.point_of_access
        await ae_.register(poa=poa)
        (await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container("data"))).raise_for_status()
        # nu = our coap:// URL: ACME first sends a verification NOTIFY, which never leaves it,
        # and the CREATE is never answered.
        by_url = await ae_.send(
            Operation.CREATE, f"{ae_.base}/data", ty=23, pc=subscription("s1", poa, nct=1), timeout=DEFECT_WAIT
        )
        # nu = the AE-ID: no verification, so the <subscription> is created ...
        by_id = await ae_.send(
            Operation.CREATE, f"{ae_.base}/data", ty=23, pc=subscription("s2", ae_.originator, nct=1)
        )
        # ... but the notification for a new <contentInstance> never arrives at the coap:// poa.
        (await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, pc=content_instance("1"))).raise_for_status()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(arrived.wait(), DEFECT_WAIT)
        await ae_.deregister()
        return by_url, by_id, arrived.is_set()

    by_url, by_id, delivered = acme_run(acme_cse, "ntf", scenario)
    assert by_url.rsc == RSC.REQUEST_TIMEOUT and (by_url.debug or "").startswith("m2mclient: no CoAP response")
    assert by_id.rsc == RSC.CREATED
    assert not delivered
    deadline = time.monotonic() + 5
    while "KeyError: NOTIFY" not in acme_cse.log_path.read_text(errors="replace"):  # the cause, in ACME's stderr
        assert time.monotonic() < deadline, f"no KeyError: NOTIFY in ACME's output\n{acme_cse.log_tail()}"
        time.sleep(0.1)


def big_cin(size: int) -> dict[str, Any]:
    return content_instance("x" * size)


def test_acme_block1_is_refused_with_4_08(acme_cse: AcmeCSE) -> None:
    """A request over 1024 B goes block-wise (Block1); ACME loses it and answers 4.08 without RSC."""

    async def scenario(ae_: AcmeAE) -> tuple[ResponsePrimitive, ResponsePrimitive]:
        await ae_.register()
        (await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container("data"))).raise_for_status()
        large = await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, rcn=0, pc=big_cin(2000))
        latest = await ae_.send(Operation.RETRIEVE, f"{ae_.base}/data/la")
        await ae_.deregister()
        return large, latest

    large, latest = acme_run(acme_cse, "b1", scenario)
    assert large.rsc == RSC.BAD_REQUEST and "4.08 Request Entity Incomplete without oneM2M-RSC" in (large.debug or "")
    assert latest.rsc == RSC.NOT_FOUND  # nothing was created


def test_acme_block2_never_completes(acme_cse: AcmeCSE) -> None:
    """A response over 1024 B comes as Block2 #0; ACME never answers the request for block #1."""

    async def scenario(ae_: AcmeAE) -> ResponsePrimitive:
        await ae_.register()
        (await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container("data"))).raise_for_status()
        ae_.binding.blockwise = False  # to put the large instance there at all (see the next test)
        (await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, rcn=0, pc=big_cin(1500))).raise_for_status()
        ae_.binding.blockwise = True
        latest = await ae_.send(Operation.RETRIEVE, f"{ae_.base}/data/la", timeout=DEFECT_WAIT)
        await ae_.deregister()
        return latest

    latest = acme_run(acme_cse, "b2", scenario)
    assert latest.rsc == RSC.REQUEST_TIMEOUT and "Block2 transfer never completes" in (latest.debug or "")


@pytest.mark.parametrize("fmt", list(Format))
def test_acme_without_block_wise(acme_cse: AcmeCSE, fmt: Format) -> None:
    """blockwise=False: ~3.5 KB requests travel in one datagram; a large response is reported, not cut silently."""

    async def scenario(ae_: AcmeAE) -> tuple[ResponsePrimitive, pytest.ExceptionInfo[OneM2MProtocolError]]:
        await ae_.register()
        (await ae_.send(Operation.CREATE, ae_.base, ty=3, pc=container("data"))).raise_for_status()
        created = await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, rcn=0, pc=big_cin(3500))
        # CoAPthon reads 4096-byte datagrams: a larger request arrives cut off. ACME then echoes
        # oneM2M-RQI "None"; the binding logs that and keeps ours (AcmeAE.send checks it).
        too_big = await ae_.send(Operation.CREATE, f"{ae_.base}/data", ty=4, rcn=0, pc=big_cin(4500))
        assert too_big.rsc == RSC.BAD_REQUEST and "Malformed" in (too_big.debug or "")
        with pytest.raises(OneM2MProtocolError, match="block 0 \\(1024 B\\) of 3\\d{3} B") as caught:
            await ae_.send(Operation.RETRIEVE, f"{ae_.base}/data/la")
        await ae_.deregister()
        return created, caught

    created, caught = acme_run(acme_cse, f"nobw{fmt}", scenario, serialization=fmt, blockwise=False)
    assert (created.rsc, created.pc) == (RSC.CREATED, None)
    assert "RSC 2000" in str(caught.value) and "rcn=0" in str(caught.value)
