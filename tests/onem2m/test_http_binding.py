"""The HTTP binding (TS-0009 V4.4.1): the sans-IO mapping against the spec's tables and
examples, fuzz of the decoders, the transport against scripted loopback servers
(keep-alive, dropped connections, timeouts, TLS) and the whole binding against ACME.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.onem2m import (
    RSC_TO_HTTP,
    Attribute,
    DiscoveryResultType,
    FilterCriteria,
    FilterUsage,
    Format,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    Rcn,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    ResponseTypeInfo,
    container,
    content_instance,
    make_rqi,
    parse_notification,
    parse_resource,
    parse_uri_list,
    subscription,
)
from m2mclient.onem2m.bindings import http as http_module
from m2mclient.onem2m.bindings import open_binding
from m2mclient.onem2m.bindings.http import (
    HttpBinding,
    HttpConnectionError,
    HttpTimeoutError,
    http_to_request,
    http_to_response,
    path_to_to,
    request_to_http,
    response_to_http,
    to_path,
)
from m2mclient.onem2m.query import HTTP_QUERY
from m2mclient.onem2m.resources import NotificationEventType, ae

if TYPE_CHECKING:  # tests/ is not a package; conftest modules are pytest's to import
    from conftest import AcmeCSE

RSC = ResponseStatusCode


def request(op: Operation = Operation.RETRIEVE, to: str = "cse-in", **kwargs: Any) -> RequestPrimitive:
    return RequestPrimitive(op=op, to=to, rqi=kwargs.pop("rqi", "r1"), **kwargs)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent twice"
    return values[0] if values else None


def round_trip(primitive: RequestPrimitive, fmt: Format = Format.JSON) -> RequestPrimitive:
    method, target, headers, body = request_to_http(primitive, fmt)
    return http_to_request(method, target, headers, body)


# ---------------------------------------------------------------------------
# §6.2.1 method, §6.2.2.1 path
# ---------------------------------------------------------------------------

# Table 6.2.2.1-1, (To, path). The spec prints the first path with a trailing "/",
# against its own rule ("the concatenation of the literal '/' and the To
# parameter") and every other row; the rule wins (see test_path_table_is_the_specs).
PATH_TABLE = [
    ("CSEBase/ae12/cont27/contInst696", "/CSEBase/ae12/cont27/contInst696"),
    ("cin00856", "/cin00856"),
    ("/CSE178/CSEBase/ae12/cont27/contInst696", "/~/CSE178/CSEBase/ae12/cont27/contInst696"),
    ("/CSE178/cin00856", "/~/CSE178/cin00856"),
    ("//mym2msp.org/CSE178/CSEBase/ae12/cont27/contInst696", "/_/mym2msp.org/CSE178/CSEBase/ae12/cont27/contInst696"),
    ("//mym2msp.org/CSE178/cin00856", "/_/mym2msp.org/CSE178/cin00856"),
]


@pytest.mark.parametrize(("to", "path"), PATH_TABLE)
def test_to_maps_to_the_path_of_table_6_2_2_1_1_and_back(to: str, path: str) -> None:
    assert to_path(to) == path
    assert path_to_to(path) == to
    method, target, _, _ = request_to_http(request(to=to))
    assert (method, target) == ("GET", path)


def test_path_table_is_the_specs(ts0009: str) -> None:
    rows = re.findall(r"^(?:un)?structured [\w-]+\t(\S+)\t(\S+)$", ts0009, re.MULTILINE)
    assert [(to, path.rstrip("/")) for to, path in rows] == PATH_TABLE
    assert rows[0][1].endswith("/")  # the one row that contradicts the rule


def test_paths_are_percent_encoded_and_decoded() -> None:
    assert to_path("cse-in/a b/ü?#%") == "/cse-in/a%20b/%C3%BC%3F%23%25"
    assert path_to_to("/cse-in/a%20b/%C3%BC%3F%23%25") == "cse-in/a b/ü?#%"
    assert path_to_to("/onem2m/~/id-in/cse-in", root="onem2m") == "/id-in/cse-in"
    assert path_to_to("/") == "/"  # a NOTIFY to a bare http://host:port poa
    assert request_to_http(request(), root="/onem2m/").target == "/onem2m/cse-in"


@pytest.mark.parametrize(
    ("op", "method"),
    [
        (Operation.CREATE, "POST"),
        (Operation.RETRIEVE, "GET"),
        (Operation.UPDATE, "PUT"),
        (Operation.DELETE, "DELETE"),
        (Operation.NOTIFY, "POST"),
    ],
)
def test_method_of_table_6_2_1_1(op: Operation, method: str) -> None:
    pc = {"m2m:sgn": {"vrq": True}} if op in (Operation.NOTIFY, Operation.UPDATE) else None
    primitive = request(op, ty=3 if op is Operation.CREATE else None, pc=pc)
    assert request_to_http(primitive).method == method
    assert round_trip(primitive).op is op


def test_post_is_create_with_ty_and_notify_without() -> None:
    """§6.2.1 and §6.4.3: only a CREATE carries ;ty= in Content-Type."""
    create = request_to_http(request(Operation.CREATE, ty=2, pc={"m2m:ae": {"api": "Nx"}}))
    assert header(create.headers, "Content-Type") == "application/json;ty=2"
    notify = request_to_http(request(Operation.NOTIFY, ty=2, pc={"m2m:sgn": {"vrq": True}}))
    assert header(notify.headers, "Content-Type") == "application/json"
    for content_type, op in [
        ("application/vnd.onem2m-res+json; ty=3", Operation.CREATE),
        ("Application/JSON;TY=3", Operation.CREATE),
        ("application/json", Operation.NOTIFY),
    ]:
        back = http_to_request("POST", "/cse-in", [("X-M2M-RI", "1"), ("Content-Type", content_type)], b"{}")
        assert back.op is op
        assert back.ty == (3 if op is Operation.CREATE else None)


# ---------------------------------------------------------------------------
# §6.2.2.2 query component: the mapping and its tables are tests/onem2m/test_query.py's;
# here, that the binding joins the items with '&' after the path, and splits them back.
# ---------------------------------------------------------------------------


def test_example_1_non_blocking_request_synch() -> None:
    primitive = request(
        Operation.RETRIEVE,
        "/CSE1234/RCSE78/container234",
        rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH),
        rp="P1Y2M3DT10H1M0S",
    )
    assert request_to_http(primitive).target == "/~/CSE1234/RCSE78/container234?rt=1&rp=P1Y2M3DT10H1M0S"
    assert round_trip(primitive) == primitive


def test_the_query_is_the_shared_mapping_joined_with_ampersands() -> None:
    fc = FilterCriteria(lbl=("a b", "c&d"), atr=(Attribute("cr", "Sam"),))
    primitive = request(Operation.RETRIEVE, "cse-in", rcn=Rcn.CHILD_RESOURCES, fc=fc)
    assert request_to_http(primitive).target == "/cse-in?rcn=8&lbl=a%20b+c%26d&cr=Sam"
    assert round_trip(primitive) == primitive
    # Empty parts are skipped, a fragment is ignored; what the mapping refuses is a 4000 for the query.
    assert http_to_request("GET", "/x?&rcn=8&&#frag", [("X-M2M-RI", "1")]).rcn == Rcn.CHILD_RESOURCES
    with pytest.raises(OneM2MProtocolError, match="appears twice") as caught:
        http_to_request("GET", "/x?rcn=1&rcn=1", [("X-M2M-RI", "1")])
    assert (caught.value.rsc, caught.value.where) == (RSC.BAD_REQUEST, "query rcn")


def test_partial_retrieve_cases_1_and_2() -> None:
    """§6.2.2.2: several attributes in Content (m2m:atrl), one after '#' in To -> atrl= in the query."""
    case1 = request(Operation.RETRIEVE, "//example.net/myCSE/-/Cont1", pc={"m2m:atrl": ["ri", "lbl", "rr"]})
    parts = request_to_http(case1)
    assert parts.target == "/_/example.net/myCSE/-/Cont1?atrl=ri+lbl+rr"
    assert parts.body == b"" and header(parts.headers, "Content-Type") is None
    assert round_trip(case1) == case1
    case2 = request(Operation.RETRIEVE, "//example.net/myCSE/-/Cont1#rr")
    assert request_to_http(case2).target == "/_/example.net/myCSE/-/Cont1?atrl=rr"
    assert round_trip(case2) == case2  # one name goes back after '#'
    with pytest.raises(OneM2MUsageError):
        request_to_http(request(Operation.UPDATE, "cse-in/x#rr", pc={"m2m:cnt": {}}))
    with pytest.raises(OneM2MUsageError, match="attribute list"):
        request_to_http(request(Operation.RETRIEVE, pc={"m2m:cnt": {}}))


# ---------------------------------------------------------------------------
# §6.4 headers, §6.5 body
# ---------------------------------------------------------------------------


def test_every_request_header() -> None:
    primitive = request(
        Operation.CREATE,
        "cse-in/ae",
        fr="Cae",
        rqi="rq-1",
        rvi="3",
        ty=ResourceType.CONTAINER,
        pc={"m2m:cnt": {"rn": "data"}},
        ot="20261123T034412",
        rqet="20261123T044412",
        rset=600000,
        oet="20261123T035412",
        ec=2,
        gid="g-1",
        vsi="acme-1",
        msu="user",
        prpi="prp-1",
        rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_ASYNCH, nu=("http://h:1/n", "Cae")),
        tkns=("eyJ0eXAiOiJK.eyJpc3MiOiJqb2UiLA0KIC.dBjftJeZ4CVP", "eyJ0eXAiOiJK.x.y.z.w"),
        aus=("i6watmQQQ1y3GB-VsWq5fJKzQcBB4jRfH1bfJFj0JtFVtLottzYyA==", "IWijxQ=="),
        omr=("/IN-CSE-0001/omr1", "/IN-CSE-0001/omr2"),
    )
    method, target, headers, body = request_to_http(primitive, Format.CBOR)
    assert (method, target) == ("POST", "/cse-in/ae?rt=2")
    expected = {
        "X-M2M-Origin": "Cae",
        "X-M2M-RI": "rq-1",
        "X-M2M-RVI": "3",
        "X-M2M-OT": "20261123T034412",
        "X-M2M-RET": "20261123T044412",
        "X-M2M-RST": "600000",
        "X-M2M-OET": "20261123T035412",
        "X-M2M-EC": "2",
        "X-M2M-GID": "g-1",
        "X-M2M-VSI": "acme-1",
        "X-M2M-MSU": "user",
        "X-M2M-PRPI": "prp-1",
        "X-M2M-RTU": "http://h:1/n&Cae",  # §6.4.11: several values combined with '&'
        "Authorization": "eyJ0eXAiOiJK.eyJpc3MiOiJqb2UiLA0KIC.dBjftJeZ4CVP+eyJ0eXAiOiJK.x.y.z.w",  # §6.4.19
        "X-M2M-AS": "i6watmQQQ1y3GB-VsWq5fJKzQcBB4jRfH1bfJFj0JtFVtLottzYyA==+IWijxQ==",  # §6.4.24
        "X-M2M-OMR": "/IN-CSE-0001/omr1+/IN-CSE-0001/omr2",  # §6.4.26
        "Accept": "application/cbor",
        "Content-Type": "application/cbor;ty=3",
        "Content-Length": str(len(body)),
    }
    assert dict(headers) == expected
    assert len(headers) == len(expected)
    back = http_to_request(method, target, headers, body)
    assert back == primitive
    # Header names are case-insensitive (§5.1).
    lower = [(name.lower(), value) for name, value in headers]
    assert http_to_request(method, target, lower, body) == primitive


def test_bodies_and_lengths() -> None:
    get = request_to_http(request(Operation.RETRIEVE))
    assert get.body == b"" and header(get.headers, "Content-Length") is None
    delete = request_to_http(request(Operation.DELETE))
    assert delete.method == "DELETE" and delete.body == b""
    with pytest.raises(OneM2MUsageError):
        request_to_http(request(Operation.DELETE, pc={"m2m:cnt": {}}))
    update = request_to_http(request(Operation.UPDATE, pc={"m2m:ae": {"lbl": ["room1"]}}))
    assert update.body == b'{"m2m:ae":{"lbl":["room1"]}}'
    assert header(update.headers, "Content-Type") == "application/json"  # no ty on UPDATE
    assert header(update.headers, "Content-Length") == str(len(update.body))
    with pytest.raises(OneM2MUsageError, match="gtm"):
        request_to_http(request(gtm=("a",)))
    with pytest.raises(OneM2MUsageError, match="X-M2M-Origin"):
        request_to_http(request(fr="C\r\nX-Evil: 1"))


def test_basic_and_bearer_authorization_are_not_tokens() -> None:
    for value in ("Basic dXNlcjpwdw==", "Bearer abc.def"):
        assert http_to_request("GET", "/x", [("X-M2M-RI", "1"), ("Authorization", value)]).tkns is None
    assert http_to_request("GET", "/x", [("X-M2M-RI", "1"), ("Authorization", "a.b.c+ d.e.f")]).tkns == (
        "a.b.c",
        "d.e.f",
    )


def test_response_headers_and_status() -> None:
    response = ResponsePrimitive(
        rsc=RSC.CREATED,
        rqi="rq-1",
        rvi="3",
        fr="/id-in",
        ot="20261123T034412",
        rset="20261124T000000",
        ec=3,
        cnst=1,
        cnot=10,
        vsi="v",
        ati={"ltia": [{"lti": "lti-value1", "tkid": "tkid-value1"}, {"lti": "lti-value2", "tkid": "tkid-value2"}]},
        pc={"m2m:cnt": {"rn": "data", "ri": "cnt1"}},
    )
    status, headers, body = response_to_http(response, Format.JSON)
    assert status == 201
    assert dict(headers) == {
        "X-M2M-RSC": "2001",
        "X-M2M-RI": "rq-1",
        "X-M2M-RVI": "3",
        "X-M2M-Origin": "/id-in",
        "X-M2M-OT": "20261123T034412",
        "X-M2M-RST": "20261124T000000",
        "X-M2M-EC": "3",
        "X-M2M-CTS": "1",
        "X-M2M-CTO": "10",
        "X-M2M-VSI": "v",
        "X-M2M-ATI": "lti-value1:tkid-value1+lti-value2:tkid-value2",  # §6.4.18
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    assert http_to_response(status, headers, body) == response
    # The §6.4.18 example's spacing around '+'.
    spaced = http_to_response(200, [("X-M2M-RSC", "2000"), ("X-M2M-ATI", "l1:t1 + l2:t2")])
    assert spaced.ati == {"ltia": [{"lti": "l1", "tkid": "t1"}, {"lti": "l2", "tkid": "t2"}]}


@pytest.mark.parametrize("rsc", list(RSC_TO_HTTP))
def test_status_of_every_rsc_follows_table_6_3_2_1(rsc: ResponseStatusCode) -> None:
    status, headers, body = response_to_http(ResponsePrimitive(rsc=rsc))
    assert status == RSC_TO_HTTP[rsc] and body == b""
    assert dict(headers) == {"X-M2M-RSC": str(int(rsc)), "Content-Length": "0"}
    assert http_to_response(status, headers).rsc is rsc  # the header, not the status, is the truth


def test_response_without_rsc_header_maps_the_status() -> None:
    assert http_to_response(200, []).rsc is RSC.OK
    assert http_to_response(404, [("content-type", "application/json")], b'{"m2m:dbg":"x"}').rsc is RSC.NOT_FOUND
    # A proxy's HTML error page becomes debug text instead of an exception.
    html = http_to_response(502, [("Content-Type", "text/html")], b"<html>Bad Gateway</html>")
    assert html.rsc is RSC.INTERNAL_SERVER_ERROR and html.debug == "HTTP 502: <html>Bad Gateway</html>"
    # ACME's "Accept: application/xml" bug: 200, empty body, Content-Type application/xml.
    assert http_to_response(200, [("X-M2M-RSC", "2000"), ("Content-Type", "application/xml")]).pc is None
    with pytest.raises(OneM2MProtocolError) as caught:
        http_to_response(200, [("X-M2M-RSC", "2000"), ("Content-Type", "text/html")], b"<html/>")
    assert caught.value.rsc == RSC.UNSUPPORTED_MEDIA_TYPE
    with pytest.raises(OneM2MProtocolError, match="X-M2M-RSC"):
        http_to_response(200, [("X-M2M-RSC", "20x0")])
    with pytest.raises(OneM2MProtocolError, match="different values"):
        http_to_response(200, [("X-M2M-RSC", "2000"), ("x-m2m-rsc", "4004")])


def test_receiver_side_errors_carry_the_rsc_to_answer() -> None:
    cases: list[tuple[str, list[tuple[str, str]], bytes, ResponseStatusCode]] = [
        ("PATCH", [("X-M2M-RI", "1")], b"", RSC.OPERATION_NOT_ALLOWED),
        ("POST", [], b"", RSC.BAD_REQUEST),  # no X-M2M-RI
        ("POST", [("X-M2M-RI", "1")], b"{}", RSC.UNSUPPORTED_MEDIA_TYPE),  # body without Content-Type
        ("POST", [("X-M2M-RI", "1"), ("Content-Type", "application/xml")], b"<a/>", RSC.UNSUPPORTED_MEDIA_TYPE),
        ("POST", [("X-M2M-RI", "1"), ("Content-Type", "application/json")], b"{bad", RSC.BAD_REQUEST),
        ("POST", [("X-M2M-RI", "1"), ("Content-Type", "application/json;ty=x")], b"{}", RSC.BAD_REQUEST),
    ]
    for method, headers, body, rsc in cases:
        with pytest.raises(OneM2MProtocolError) as caught:
            http_to_request(method, "/x", headers, body)
        assert caught.value.rsc == rsc, (method, headers, body)


# ---------------------------------------------------------------------------
# Round trips and fuzz
# ---------------------------------------------------------------------------

_segment = st.text(st.characters(codec="utf-8", exclude_characters="/#"), min_size=1, max_size=8)
_to = st.one_of(
    st.lists(_segment, min_size=1, max_size=4).map("/".join),
    st.lists(_segment, min_size=2, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.lists(_segment, min_size=3, max_size=4).map(lambda parts: "//" + "/".join(parts)),
).filter(lambda to: to.lstrip("/") != "" and not to.startswith(("_/", "~/")))
_token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="+&"), min_size=1, max_size=10
)
_value = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10)
_short_name = st.from_regex(r"\A[a-z]{2,5}\Z").filter(lambda name: name not in HTTP_QUERY.reserved)
_filters = st.builds(
    FilterCriteria,
    lbl=st.lists(_value, max_size=3).map(tuple),
    ty=st.lists(st.sampled_from(ResourceType), max_size=3).map(tuple),
    cty=st.lists(_value, max_size=2).map(tuple),
    atr=st.lists(st.builds(Attribute, nm=_short_name, val=_value), max_size=2).map(tuple),
    fu=st.none() | st.sampled_from(FilterUsage),
    lim=st.none() | st.integers(0, 10**6),
    cra=st.none() | _value,
)
_requests = st.builds(
    RequestPrimitive,
    op=st.sampled_from(Operation),
    to=_to,
    rqi=_token,
    fr=st.none() | _token,
    rvi=st.none() | st.sampled_from(["2a", "3", "4", "5"]),
    rcn=st.none() | st.sampled_from(Rcn),
    drt=st.none() | st.sampled_from(DiscoveryResultType),
    rt=st.none()
    | st.builds(ResponseTypeInfo, rtv=st.sampled_from(ResponseType), nu=st.lists(_token, max_size=2).map(tuple)),
    rqet=st.none() | _token.filter(lambda t: not t.isdigit()) | st.integers(0, 10**9),
    ec=st.none() | st.integers(0, 100),
    fc=st.none() | _filters,
    tkns=st.none() | st.lists(_token, min_size=1, max_size=2).map(tuple),
    da=st.none() | st.booleans(),
)


def _normalised(primitive: RequestPrimitive) -> RequestPrimitive:
    """What survives HTTP: ty only on CREATE, content only where HTTP carries it, no empty fc."""
    pc: dict[str, Any] | None = (
        {"m2m:cnt": {"rn": "x"}} if primitive.op in (Operation.CREATE, Operation.UPDATE) else None
    )
    if primitive.op is Operation.NOTIFY:
        pc = {"m2m:sgn": {"vrq": True}}
    fc = primitive.fc if primitive.fc != FilterCriteria() else None
    return RequestPrimitive(
        **{**primitive.__dict__, "pc": pc, "fc": fc, "ty": 3 if primitive.op is Operation.CREATE else None}
    )


@given(_requests, st.sampled_from(Format))
def test_any_request_round_trips_through_http(primitive: RequestPrimitive, fmt: Format) -> None:
    primitive = _normalised(primitive)
    assert round_trip(primitive, fmt) == primitive


_responses = st.builds(
    ResponsePrimitive,
    rsc=st.sampled_from(ResponseStatusCode),
    rqi=st.none() | _token,
    rvi=st.none() | st.sampled_from(["3", "5"]),
    fr=st.none() | _token,
    cnst=st.none() | st.integers(1, 2),
    cnot=st.none() | st.integers(0, 1000),
    pc=st.none() | st.just({"m2m:cin": {"con": "21.5", "lbl": ["a"]}}),
)


@given(_responses, st.sampled_from(Format))
def test_any_response_round_trips_through_http(response: ResponsePrimitive, fmt: Format) -> None:
    status, headers, body = response_to_http(response, fmt)
    assert http_to_response(status, headers, body) == response


_header_names = st.sampled_from(
    [
        *("X-M2M-RSC", "X-M2M-RI", "X-M2M-Origin", "X-M2M-RVI", "X-M2M-CTS", "X-M2M-CTO", "X-M2M-ATI"),
        *("X-M2M-RTU", "X-M2M-RET", "X-M2M-EC", "Content-Type", "Authorization", "X-M2M-AS", "x-m2m-rsc"),
        "content-type",
    ]
) | st.text(max_size=10)
_header_values = (
    st.sampled_from(
        ["2000", "1", "", "application/json", "application/cbor;ty=3", "application/json;ty=x", "a:b+c", "text/html"]
    )
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
_headers = st.lists(st.tuples(_header_names | st.binary(max_size=8), _header_values), max_size=6)
_bodies = st.sampled_from([b"", b"{}", b'{"m2m:dbg":"x"}', b"\xa0", b"[1]", b"null"]) | st.binary(max_size=40)


@given(st.integers(-1, 1000), _headers, _bodies)
@settings(max_examples=300)
def test_http_to_response_on_garbage_gives_a_primitive_or_a_protocol_error(
    status: int, headers: list[tuple[Any, Any]], body: bytes
) -> None:
    try:
        response = http_to_response(status, headers, body)
    except OneM2MProtocolError as exc:
        assert exc.rsc and str(exc)
    else:
        assert isinstance(response, ResponsePrimitive)


_targets = st.sampled_from(
    ["/", "/x?rcn=1", "/~/id-in/x?ty=2+3", "/_/sp/x#y", "x", "/x?atrl=a+b", "/x?=&&=="]
) | st.text(max_size=30)


@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "get"]) | st.text(max_size=6) | st.binary(max_size=6),
    _targets | st.binary(max_size=20),
    _headers,
    _bodies,
)
@settings(max_examples=300)
def test_http_to_request_on_garbage_gives_a_primitive_or_a_protocol_error(
    method: Any, target: Any, headers: list[tuple[Any, Any]], body: bytes
) -> None:
    try:
        primitive = http_to_request(method, target, headers, body)
    except OneM2MProtocolError as exc:
        assert exc.rsc in (RSC.BAD_REQUEST, RSC.UNSUPPORTED_MEDIA_TYPE, RSC.OPERATION_NOT_ALLOWED)
    else:
        assert isinstance(primitive, RequestPrimitive)


# ---------------------------------------------------------------------------
# The transport against scripted loopback servers
# ---------------------------------------------------------------------------


class StubServer:
    """A scripted HTTP/1.1 server on loopback (h11) that counts its connections.

    ``behaviour`` per request: "answer" (keep-alive), "close" (answers with
    Connection: close), "drop-second" (closes, unanswered, the second request on the
    first connection: a server's idle timeout racing our request), "drop" (closes every
    request unanswered), "silent" (never answers).
    """

    def __init__(self, behaviour: str = "answer", ssl_context: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def __aenter__(self) -> StubServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        served = 0
        try:
            while True:
                req: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await reader.read(65536))
                    elif isinstance(event, h11.Request):
                        req = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                        break
                if req is None:
                    return
                served += 1
                headers = {k.decode(): v.decode() for k, v in req.headers}
                self.requests.append((req.method.decode(), req.target.decode(), headers, body))
                if self.behaviour == "drop" or (
                    self.behaviour == "drop-second" and served == 2 and self.connections == 1
                ):
                    return
                if self.behaviour == "silent":
                    await asyncio.sleep(3600)
                reply = [("X-M2M-RSC", "2000"), ("X-M2M-RI", headers.get("x-m2m-ri", "")), ("Content-Length", "0")]
                if self.behaviour == "close":
                    reply.append(("Connection", "close"))
                writer.write(conn.send(h11.Response(status_code=200, headers=reply)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        finally:
            writer.close()


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 60))


def test_keep_alive_reuses_one_connection() -> None:
    async def main() -> None:
        async with StubServer() as server:
            binding = HttpBinding(server.url, notification_host=None, release_version="3")
            for _ in range(5):
                response = await binding.send(request(rqi=make_rqi()))
                assert response.rsc is RSC.OK
            await binding.close()
        assert server.connections == binding.connections_opened == 1
        method, target, headers, _ = server.requests[0]
        assert (method, target) == ("GET", "/cse-in")
        assert headers["host"] == f"127.0.0.1:{server.port}" and headers["x-m2m-rvi"] == "3"

    run(main)


def test_pool_serves_concurrent_requests_on_at_most_max_connections() -> None:
    async def main() -> None:
        async with StubServer() as server:
            binding = HttpBinding(server.url, notification_host=None, max_connections=2)
            answers = await asyncio.gather(*(binding.send(request(rqi=f"r{i}")) for i in range(10)))
            assert [a.rqi for a in answers] == [f"r{i}" for i in range(10)]
            await binding.close()
        assert 1 <= server.connections == binding.connections_opened <= 2

    run(main)


def test_connection_close_is_respected() -> None:
    async def main() -> None:
        async with StubServer("close") as server:
            binding = HttpBinding(server.url, notification_host=None)
            for _ in range(3):
                assert (await binding.send(request())).rsc is RSC.OK
            await binding.close()
        assert server.connections == binding.connections_opened == 3

    run(main)


def test_keep_alive_false_asks_the_server_to_close() -> None:
    async def main() -> None:
        async with StubServer() as server:
            binding = HttpBinding(server.url, notification_host=None, keep_alive=False)
            for _ in range(2):
                assert (await binding.send(request())).rsc is RSC.OK
            await binding.close()
        assert server.connections == 2 and server.requests[0][2]["connection"] == "close"

    run(main)


def test_a_dropped_idle_connection_is_replaced_once() -> None:
    async def main() -> None:
        async with StubServer("drop-second") as server:
            binding = HttpBinding(server.url, notification_host=None)
            for i in range(3):
                assert (await binding.send(request(rqi=f"r{i}"))).rqi == f"r{i}"
            await binding.close()
        # r0 on connection 1; r1 dropped there and repeated on connection 2; r2 reuses it.
        assert [r[2]["x-m2m-ri"] for r in server.requests] == ["r0", "r1", "r1", "r2"]
        assert server.connections == binding.connections_opened == 2

    run(main)


def test_a_fresh_connection_closed_unanswered_is_an_error_not_a_retry() -> None:
    async def main() -> None:
        async with StubServer("drop") as server:
            binding = HttpBinding(server.url, notification_host=None)
            with pytest.raises(HttpConnectionError, match="closed the connection without answering") as caught:
                await binding.send(request(Operation.CREATE, ty=4, pc={"m2m:cin": {"con": "1"}}))
            assert caught.value.rsc is RSC.TARGET_NOT_REACHABLE
            await binding.close()
        assert server.connections == 1 and len(server.requests) == 1  # a CREATE is never sent twice blindly

    run(main)


def test_timeout_and_unreachable_cse_are_typed() -> None:
    async def main() -> None:
        async with StubServer("silent") as server:
            binding = HttpBinding(server.url, notification_host=None, timeout=5)
            with pytest.raises(HttpTimeoutError) as caught:
                await binding.send(request(), timeout=0.3)
            assert caught.value.rsc is RSC.REQUEST_TIMEOUT and isinstance(caught.value, TimeoutError)
            await binding.close()
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        binding = HttpBinding(f"http://127.0.0.1:{port}", notification_host=None)
        with pytest.raises(HttpConnectionError, match="cannot connect") as refused:
            await binding.send(request())
        assert refused.value.hint
        assert isinstance(refused.value, ConnectionError)
        await binding.close()

    run(main)


def test_options_are_checked() -> None:
    for url in ("ftp://x", "http://", "http://h:99999", "http://h/?q=1"):
        with pytest.raises(OneM2MUsageError):
            HttpBinding(url)
    with pytest.raises(OneM2MUsageError):
        HttpBinding("http://h", ssl_context=ssl.create_default_context())
    with pytest.raises(OneM2MUsageError):
        HttpBinding("http://h", timeout=0)
    with pytest.raises(OneM2MUsageError):
        HttpBinding("http://h", max_connections=0)
    assert isinstance(open_binding("http://127.0.0.1:1", serialization=Format.CBOR, timeout=3), HttpBinding)


def test_authorization_header() -> None:
    async def main() -> None:
        async with StubServer() as server:
            port = server.port
            for binding, expected in [
                (HttpBinding(server.url, notification_host=None, authorization="Bearer t0k"), "Bearer t0k"),
                (HttpBinding(server.url, notification_host=None, authorization=("u", "p w")), "Basic dTpwIHc="),
                (HttpBinding(f"http://us%40r:pw@127.0.0.1:{port}", notification_host=None), "Basic dXNAcjpwdw=="),
            ]:
                await binding.send(request())
                assert server.requests[-1][2]["authorization"] == expected
                await binding.send(request(tkns=("a.b.c",)))  # Tokens take the header's place (§6.4.19)
                assert server.requests[-1][2]["authorization"] == "a.b.c"
                await binding.close()

    run(main)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: no self-signed certificate for the TLS tests")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_verifies_certificates_by_default(certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def main() -> None:
        async with StubServer(ssl_context=server_context) as server:
            strict = HttpBinding(server.url, notification_host=None)
            with pytest.raises(HttpConnectionError, match="certificate") as caught:
                await strict.send(request())
            assert "cafile" in (caught.value.hint or "")
            await strict.close()

            trusted = HttpBinding(
                server.url, notification_host=None, ssl_context=ssl.create_default_context(cafile=str(cert))
            )
            assert (await trusted.send(request())).rsc is RSC.OK
            await trusted.close()

            with caplog.at_level(logging.WARNING, logger="m2mclient.onem2m.bindings.http"):
                lax = HttpBinding(server.url, notification_host=None, verify=False)
            assert "verification is OFF" in caplog.text
            assert (await lax.send(request())).rsc is RSC.OK
            await lax.close()

    run(main)


# ---------------------------------------------------------------------------
# The notification receiver
# ---------------------------------------------------------------------------


class Inbox:
    """A serve() handler that records requests and answers 2000 (or what ``answer`` says)."""

    def __init__(self, answer: Callable[[RequestPrimitive], ResponsePrimitive] | None = None) -> None:
        self.queue: asyncio.Queue[RequestPrimitive] = asyncio.Queue()
        self.answer = answer

    async def __call__(self, primitive: RequestPrimitive) -> ResponsePrimitive:
        await self.queue.put(primitive)
        if self.answer is not None:
            return self.answer(primitive)
        return ResponsePrimitive(rsc=RSC.OK)

    async def next(self, timeout: float = 15.0) -> RequestPrimitive:
        return await asyncio.wait_for(self.queue.get(), timeout)


def test_receiver_maps_requests_and_answers_with_the_handlers_response() -> None:
    async def main() -> None:
        receiver = HttpBinding("http://127.0.0.1:9", notification_port=0)
        await receiver.open()
        inbox = Inbox(lambda r: ResponsePrimitive(rsc=RSC.OK, pc={"m2m:dbg": "thanks"}))
        receiver.serve(inbox)
        (poa,) = receiver.point_of_access
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", poa)
        for fmt in Format:
            sender = HttpBinding(poa, serialization=fmt, notification_host=None)
            notify = RequestPrimitive(
                op=Operation.NOTIFY,
                to="/some/path/Cae",
                rqi=f"n-{fmt}",
                fr="/id-in",
                rvi="5",
                pc={"m2m:sgn": {"vrq": True, "sur": "/id-in/sub1", "cr": "Cae"}},
            )
            for _ in range(3):
                answer = await sender.send(notify)
                assert answer.rsc is RSC.OK and answer.rqi == notify.rqi and answer.rvi == "5"
                assert answer.pc == {"m2m:dbg": "thanks"}
                got = await inbox.next()
                assert got == notify
                assert parse_notification(got.pc or {}).vrq
            assert sender.connections_opened == 1  # the receiver keeps connections alive
            await sender.close()
        assert receiver.connections_accepted == 2
        await receiver.close()
        assert receiver.point_of_access == []

    run(main)


def test_receiver_default_handler_and_failing_handlers() -> None:
    async def main() -> None:
        receiver = HttpBinding("http://127.0.0.1:9")
        await receiver.open()
        sender = HttpBinding(receiver.point_of_access[0], notification_host=None)
        notify = request(Operation.NOTIFY, "/", pc={"m2m:sgn": {"sud": True, "sur": "/id-in/s"}})
        assert (await sender.send(notify)).rsc is RSC.OK  # no handler: notifications are acknowledged
        refused = await sender.send(request(Operation.DELETE, "x"))
        assert refused.rsc is RSC.OPERATION_NOT_ALLOWED and refused.debug

        async def broken(_: RequestPrimitive) -> ResponsePrimitive:
            raise RuntimeError("secret internals")

        receiver.serve(broken)
        failed = await sender.send(notify)
        assert failed.rsc is RSC.INTERNAL_SERVER_ERROR and "RuntimeError" in (failed.debug or "")
        assert "secret" not in (failed.debug or "")

        async def unserializable(_: RequestPrimitive) -> ResponsePrimitive:
            return ResponsePrimitive(rsc=RSC.OK, pc={"m2m:x": {1, 2}})

        receiver.serve(unserializable)
        assert (await sender.send(notify)).rsc is RSC.INTERNAL_SERVER_ERROR
        await sender.close()
        await receiver.close()

    run(main)


async def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


VALID = b"POST /n HTTP/1.1\r\nHost: x\r\nX-M2M-RI: ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(
    ("data", "status", "rsc", "reason"),
    [
        (b"GARBAGE\r\n\r\n", 400, 4000, "malformed HTTP request"),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, 4000, "malformed HTTP request"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n", 400, 4000, "malformed HTTP request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400, 4000, "X-M2M-RI"),
        (VALID.replace(b"{}", b"{x").replace(b"Content-Length: 2", b"Content-Length: 2"), 400, 4000, "malformed JSON"),
        (VALID.replace(b"application/json", b"text/plain"), 415, 4015, "unsupported media type"),
        (VALID.replace(b"POST", b"PATCH"), 405, 4005, "PATCH"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nX-M2M-RI: big\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1_100_000,
            400,
            4000,
            "larger than",
        ),
    ],
)
def test_malformed_http_gets_an_explained_error_never_a_crash(data: bytes, status: int, rsc: int, reason: str) -> None:
    async def main() -> None:
        receiver = HttpBinding("http://127.0.0.1:9")
        await receiver.open()
        port = int(receiver.point_of_access[0].rsplit(":", 1)[1])
        reply = await raw_exchange(port, data)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
        assert f"x-m2m-rsc: {rsc}".encode() in head.lower()
        assert reason.encode() in body, body
        # ...and the receiver still serves the next peer.
        assert (await raw_exchange(port, VALID)).startswith(b"HTTP/1.1 200 ")
        await receiver.close()

    run(main)


@given(st.binary(max_size=300) | st.sampled_from([VALID[:n] for n in range(0, len(VALID), 7)]))
@settings(max_examples=40)
def test_receiver_survives_any_bytes(data: bytes) -> None:
    async def main() -> None:
        receiver = HttpBinding("http://127.0.0.1:9")
        await receiver.open()
        port = int(receiver.point_of_access[0].rsplit(":", 1)[1])
        reply = await raw_exchange(port, data)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 ")
        assert (await raw_exchange(port, VALID)).startswith(b"HTTP/1.1 200 ")
        await receiver.close()

    run(main)


# ---------------------------------------------------------------------------
# Against ACME CSE
# ---------------------------------------------------------------------------


class Session:
    """An AE on ACME over one HttpBinding, with an inbox for what ACME sends it."""

    def __init__(self, acme: AcmeCSE, binding: HttpBinding, originator: str) -> None:
        self.acme = acme
        self.binding = binding
        self.originator = originator
        self.inbox = Inbox()
        self.sent = 0
        binding.serve(self.inbox)

    async def send(self, op: Operation, to: str, **kwargs: Any) -> ResponsePrimitive:
        kwargs.setdefault("fr", self.originator)
        self.sent += 1
        return await self.binding.send(RequestPrimitive(op=op, to=to, rqi=make_rqi("h-"), **kwargs))

    async def create(self, to: str, ty: ResourceType, pc: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = await self.send(Operation.CREATE, to, ty=ty, pc=pc, **kwargs)
        response.raise_for_status()
        assert response.rsc is RSC.CREATED and response.pc is not None
        resource: dict[str, Any] = parse_resource(response.pc)[1]
        return resource


def acme_session(acme: AcmeCSE, fmt: Format, body: Callable[[Session], Awaitable[None]]) -> None:
    async def main() -> None:
        binding = HttpBinding(acme.http_url, serialization=fmt, release_version="3", timeout=20)
        await binding.open()
        try:
            await body(Session(acme, binding, "Chttp" + secrets.token_hex(4)))
        finally:
            await binding.close()

    run(main)


@pytest.mark.parametrize("fmt", list(Format))
def test_ae_life_cycle_against_acme(acme_cse: AcmeCSE, fmt: Format, monkeypatch: pytest.MonkeyPatch) -> None:
    received_types: list[str | None] = []
    original_mapping = http_module.http_to_request

    def recording(method: Any, target: Any, headers: Any, body: bytes = b"", **kwargs: Any) -> RequestPrimitive:
        types = [value for name, value in headers if name.lower() == b"content-type"]
        received_types.append(types[0].decode() if types else None)
        return original_mapping(method, target, headers, body, **kwargs)

    monkeypatch.setattr(http_module, "http_to_request", recording)

    async def body(ae_session: Session) -> None:
        s = ae_session
        cse = acme_cse.cse_name
        rn = s.originator.lower()
        csz = ["application/cbor"] if fmt is Format.CBOR else []  # ACME then notifies in CBOR
        registered = await s.create(
            cse, ResourceType.AE, ae("Nhttp", rn, rr=True, poa=s.binding.point_of_access, csz=csz)
        )
        assert registered["aei"] == s.originator and registered["poa"] == s.binding.point_of_access
        base = f"{cse}/{rn}"
        await s.create(base, ResourceType.CONTAINER, container("data", mni=10))

        # Subscription to our receiver's URL: ACME verifies it first (vrq), then notifies.
        # ACME uses the AE's csz only for an AE-ID nu; a URL nu asks for CBOR with ?ct=cbor.
        nu = s.binding.point_of_access[0] + "/notify" + ("?ct=cbor" if fmt is Format.CBOR else "")
        sub = await s.create(f"{base}/data", ResourceType.SUBSCRIPTION, subscription("sub", [nu], nct=1, su=nu))
        verification = await s.inbox.next()
        assert verification.op is Operation.NOTIFY and verification.to == "notify"
        assert verification.fr == acme_cse.cse_id and verification.rvi == "5"
        note = parse_notification(verification.pc or {})
        assert note.vrq and note.cr == s.originator and note.sur and note.sur.endswith(sub["ri"])

        cin = await s.create(f"{base}/data", ResourceType.CONTENT_INSTANCE, content_instance("21.5", lbl=["room1"]))
        event = parse_notification((await s.inbox.next()).pc or {})
        assert event.nev is not None and event.nev.net == NotificationEventType.CREATE_OF_DIRECT_CHILD_RESOURCE
        assert event.nev.resource is not None and event.nev.resource[1]["con"] == "21.5"

        # nu = our AE-ID: ACME resolves it to the poa and POSTs to <poa>/<AE-ID>, unverified.
        # (sub, a new child of the container too, reports sub2's creation to "notify".)
        await s.create(f"{base}/data", ResourceType.SUBSCRIPTION, subscription("sub2", [s.originator], nct=1))
        second = await s.create(f"{base}/data", ResourceType.CONTENT_INSTANCE, content_instance("22", lbl=["room2"]))
        arrived = [await s.inbox.next() for _ in range(3)]
        assert sorted(a.to for a in arrived) == sorted(["notify", "notify", s.originator])
        assert [a.pc and "m2m:cin" in a.pc["m2m:sgn"]["nev"]["rep"] for a in arrived].count(True) == 2

        latest = await s.send(Operation.RETRIEVE, f"{base}/data/la")
        assert latest.rsc is RSC.OK and latest.pc is not None
        assert parse_resource(latest.pc)[1]["ri"] == second["ri"]

        # The other two To forms of §6.2.2.1 reach the same resource.
        for to in (f"{acme_cse.cse_id}/{base}", f"//acme.example.com{acme_cse.cse_id}/{base}", s.originator):
            found = await s.send(Operation.RETRIEVE, to)
            assert found.rsc is RSC.OK, (to, found.debug)

        # Discovery (fu=1) with multiplicity: ty=3+4, lbl=room1+room2.
        discovered = await s.send(
            Operation.RETRIEVE, base, fc=FilterCriteria(fu=FilterUsage.DISCOVERY, ty=(ResourceType.CONTAINER, 4))
        )
        assert discovered.pc is not None and len(parse_uri_list(discovered.pc)) == 3
        by_label = await s.send(
            Operation.RETRIEVE, base, fc=FilterCriteria(fu=FilterUsage.DISCOVERY, lbl=("room1", "room2"))
        )
        assert by_label.pc is not None and len(parse_uri_list(by_label.pc)) == 2
        by_attribute = await s.send(
            Operation.RETRIEVE,
            base,
            fc=FilterCriteria(fu=FilterUsage.DISCOVERY, ty=(4,), atr=(Attribute("con", "22"),)),
        )
        assert by_attribute.pc is not None and [u.rsplit("/", 1)[1] for u in parse_uri_list(by_attribute.pc)] == [
            second["rn"]
        ]

        # Partial retrieve: one attribute after '#', several in m2m:atrl (not on la: ACME ignores it there).
        one = await s.send(Operation.RETRIEVE, f"{base}/data/{cin['rn']}#con")
        assert one.pc == {"m2m:cin": {"con": "21.5"}}
        several = await s.send(Operation.RETRIEVE, f"{base}/data/{cin['rn']}", pc={"m2m:atrl": ["con", "lbl"]})
        assert several.pc == {"m2m:cin": {"con": "21.5", "lbl": ["room1"]}}

        # Request expiration (X-M2M-RET) in the past -> 4008 REQUEST_TIMEOUT.
        expired = await s.send(Operation.RETRIEVE, base, rqet="20200101T000000")
        assert expired.rsc is RSC.REQUEST_TIMEOUT

        # Deleting the subscription sends the deletion notice to su.
        assert (await s.send(Operation.DELETE, f"{base}/data/sub")).rsc is RSC.DELETED
        assert parse_notification((await s.inbox.next()).pc or {}).sud

        assert (await s.send(Operation.DELETE, base)).rsc is RSC.DELETED
        gone = await s.send(Operation.RETRIEVE, base)
        assert gone.rsc is RSC.NOT_FOUND and gone.debug
        # All notifications came in the format asked for, and our receiver read them all.
        assert set(received_types) == {f"application/{fmt}"}
        # ACME's default HTTP server closes every connection: one per request, none reused.
        assert s.binding.connections_opened == s.sent

    acme_session(acme_cse, fmt, body)


@pytest.mark.parametrize("fmt", list(Format))
def test_non_blocking_requests_against_acme(acme_cse: AcmeCSE, fmt: Format) -> None:
    async def body(s: Session) -> None:
        cse = acme_cse.cse_name
        rn = s.originator.lower()
        await s.create(cse, ResourceType.AE, ae("Nhttp", rn, poa=s.binding.point_of_access))
        base = f"{cse}/{rn}"
        await s.create(base, ResourceType.CONTAINER, container("data"))

        # rt=1 nonBlockingRequestSynch: 1001 + the <request> resource to poll (TS-0004 §8.2.2).
        accepted = await s.send(
            Operation.CREATE,
            f"{base}/data",
            ty=ResourceType.CONTENT_INSTANCE,
            pc=content_instance("nb"),
            rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH),
        )
        assert accepted.rsc is RSC.ACCEPTED_NON_BLOCKING_SYNC and accepted.pc is not None
        request_id = accepted.pc["m2m:uri"]
        for _ in range(50):
            polled = await s.send(Operation.RETRIEVE, request_id)
            assert polled.rsc is RSC.OK and polled.pc is not None
            req = polled.pc["m2m:req"]
            if req["rs"] == 1:  # requestStatus COMPLETED
                break
            await asyncio.sleep(0.1)
        assert req["ors"]["rsc"] == RSC.CREATED and req["ors"]["pc"]["m2m:cin"]["con"] == "nb"

        # rt=2 nonBlockingRequestAsynch with X-M2M-RTU: 1002, then the result NOTIFYed to nu.
        # ACME's NOTIFY carries the whole response primitive as content: {"m2m:rsp": {...}}.
        original = RequestPrimitive(
            op=Operation.RETRIEVE,
            to=f"{base}/data",
            rqi=make_rqi("nb-"),
            fr=s.originator,
            rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_ASYNCH, nu=(s.binding.point_of_access[0],)),
        )
        asynch = await s.binding.send(original)
        assert asynch.rsc is RSC.ACCEPTED_NON_BLOCKING_ASYNC
        result = await s.inbox.next()
        assert result.op is Operation.NOTIFY and result.to == "/" and result.pc is not None
        outcome = result.pc["m2m:rsp"]
        assert outcome["rqi"] == original.rqi and outcome["rsc"] == RSC.OK and "m2m:cnt" in outcome["pc"]
        await s.send(Operation.DELETE, base)

    acme_session(acme_cse, fmt, body)


def _acme_helpers() -> Any:
    """tests/onem2m/conftest.py as a module of its own, for its ACME start-up helpers."""
    spec = importlib.util.spec_from_file_location("_acme_conftest_helpers", Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def acme_wsgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second ACME whose HTTP binding runs on waitress ([http.wsgi]), which keeps connections alive.

    ACME's default (Werkzeug) server answers every request with Connection: close,
    so keep-alive can only be seen against this one.
    """
    helpers = _acme_helpers()
    python, _ = helpers.find_acme_python()
    base = tmp_path_factory.mktemp("acme-wsgi")
    ports = helpers.free_ports()
    config = helpers.render_config(helpers.CONFIG_TEMPLATE.read_text(), ports)
    (base / "acme.ini").write_text(config + "\n[http.wsgi]\nenable=true\n")
    url = f"http://127.0.0.1:{ports['http']}"
    with (base / "acme.out").open("wb") as log:
        process = subprocess.Popen(
            [str(python), str(helpers.LAUNCHER), "--base-directory", str(base)],
            cwd=base,
            env=helpers._acme_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + helpers.STARTUP_TIMEOUT
        while not (helpers._http_ready(url) and "CSE started" in (base / "acme.out").read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                logs = helpers._describe_logs(base / "acme.out", helpers._cse_log(base), 40)
                pytest.fail(f"ACME (WSGI) did not start\n{logs}")
            time.sleep(0.1)
        yield url
    finally:
        helpers._stop(process)


def test_keep_alive_against_acme_on_waitress(acme_wsgi: str) -> None:
    async def main() -> None:
        binding = HttpBinding(acme_wsgi, release_version="3")
        await binding.open()
        inbox = Inbox()
        binding.serve(inbox)
        originator = "Ckeep" + secrets.token_hex(4)

        async def send(op: Operation, to: str, **kwargs: Any) -> ResponsePrimitive:
            return await binding.send(RequestPrimitive(op=op, to=to, rqi=make_rqi(), fr=originator, **kwargs))

        created = await send(
            Operation.CREATE, "cse-in", ty=ResourceType.AE, pc=ae("Nkeep", originator, poa=binding.point_of_access)
        )
        assert created.rsc is RSC.CREATED, created.debug
        base = f"cse-in/{originator}"
        assert (await send(Operation.CREATE, base, ty=3, pc=container("data"))).rsc is RSC.CREATED
        nu = binding.point_of_access[0]
        assert (await send(Operation.CREATE, f"{base}/data", ty=23, pc=subscription("s", [nu], nct=1))).ok
        assert parse_notification((await inbox.next()).pc or {}).vrq
        for value in range(5):
            cin = await send(Operation.CREATE, f"{base}/data", ty=4, pc=content_instance(str(value)))
            assert cin.rsc is RSC.CREATED
            assert parse_notification((await inbox.next()).pc or {}).nev is not None
        for _ in range(5):
            assert (await send(Operation.RETRIEVE, f"{base}/data/la")).rsc is RSC.OK
        assert (await send(Operation.DELETE, base)).rsc is RSC.DELETED
        # 14 requests, and waitress kept the one connection open for all of them.
        assert binding.connections_opened == 1
        await binding.close()

    run(main)


def test_acme_errors_and_connection_close(acme_cse: AcmeCSE) -> None:
    async def main() -> None:
        binding = HttpBinding(acme_cse.http_url, notification_host=None)
        missing_rvi = await binding.send(request(to=acme_cse.cse_name, fr=acme_cse.admin_originator))
        assert missing_rvi.rsc is RSC.RELEASE_VERSION_NOT_SUPPORTED and missing_rvi.debug
        no_ae = await binding.send(request(to=acme_cse.cse_name + "/nothing", fr=acme_cse.admin_originator, rvi="3"))
        assert no_ae.rsc is RSC.NOT_FOUND
        # ACME's default (Werkzeug) server closes after every response: one connection per request.
        assert binding.connections_opened == 2
        await binding.close()

    run(main)
