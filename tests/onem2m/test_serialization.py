"""JSON/CBOR content and whole-primitive serialization: spec vectors, ACME frames, round trips, fuzz."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.onem2m import (
    Attribute,
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
    content_type,
    decode_primitive,
    decode_request,
    decode_response,
    deserialize_content,
    encode_request,
    encode_response,
    parse_media_type,
    primitive_from_dict,
    request_from_dict,
    request_to_dict,
    response_from_dict,
    response_to_dict,
    serialize_content,
)

TS0020 = "onem2m-ts0020-websocket-binding-v2.0.0.md"


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
# TS-0020 Annex A.1 (and §5.2 step 4): JSON primitives in WebSocket text frames
# ---------------------------------------------------------------------------

ANNEX_A_PRIMITIVES = [
    # §5.2 step 4
    '{"m2m:rqp":{"op":1,"to":"//example.net/mncse1234","rqi":"A1234","pc":{"m2m:ae":{"api":"a56",'
    '"apn":"app1234"}},"ty":2}}',
    # A.1 step 4: AE registration
    '{"m2m:rqp":{"op":1,"to":"//example.net/mncse1234","rqi":"A1000","rcn":7,"pc":{"m2m:ae":'
    '{"rn":"SmartHomeApplication","api":"Na56","apn":"app1234"}}, "ty":2}}',
    # A.1 step 6: its response
    '{"m2m:rsp":{"rsc":2001,"rqi":"A1000","pc":{"m2m:ae":{"rn":"SmartHomeApplication","ty":2,"ri":"ae1",'
    '"api":"Na56","apn":"app1234","pi":"cb1","ct":"20160506T153208","lt":"20160506T153208",'
    '"acpi":["acp1","acp2"],"et":"20180506T153208","aei":"S_SAH25"}}}}',
    # A.1 step 7: container creation
    '{"m2m:rqp":{"op":1,"to":"//example.net/mncse1234/SmartHomeApplication","rqi":"A1001","rcn":7,'
    '"pc":{"m2m:cnt":{"rn":"SmartHomeContainer","mbs":100000,"mni":500}}, "ty":3}}',
    # A.1 step 9: its response
    '{ "m2m:rsp": { "rsc": 2001, "rqi": "A1001", "pc": { "m2m:cnt": { "rn": "SmartHomeContainer", "ty": 3, '
    '"ri": "cnt1", "pi": "ae1", "ct": "20160506T154048", "lt": "20160506T154048", "acpi": ["acp1"], '
    '"et": "20180506T154048", "cr": "S_SAH25", "st": 0, "mni": 500, "mbs": 100000, "cni": 0, "cbs": 0, '
    '"mia": 3600 } } } }',
]


# Erratum: the spec's A.1 step 6 response opens four objects but closes three.
ANNEX_A_MISSING_BRACE = 2


def test_annex_a_examples_match_the_spec_file():
    """The vectors above are the spec's, with the PDF's line breaks inside tokens joined."""
    path = find_spec(TS0020)
    if path is None:
        pytest.skip(f"SPEC MISSING: {TS0020} not found (set M2M_SPECS_DIR); Annex A vectors NOT compared")
    blocks = re.findall(r"```\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    from_spec = ["".join(line.rstrip() for line in block.splitlines()) for block in blocks if '"m2m:r' in block]
    assert len(from_spec) == len(ANNEX_A_PRIMITIVES)
    with pytest.raises(OneM2MProtocolError, match="malformed JSON"):
        decode_primitive(from_spec[ANNEX_A_MISSING_BRACE])
    from_spec[ANNEX_A_MISSING_BRACE] += "}"
    assert [json.loads(text) for text in from_spec] == [json.loads(text) for text in ANNEX_A_PRIMITIVES]


@pytest.mark.parametrize("text", ANNEX_A_PRIMITIVES)
def test_annex_a_examples_decode_and_reencode(text):
    primitive = decode_primitive(text)
    again = encode_request(primitive, wrap=True) if isinstance(primitive, RequestPrimitive) else None
    if again is None:
        assert isinstance(primitive, ResponsePrimitive)
        again = encode_response(primitive, wrap=True)
    assert json.loads(again) == json.loads(text)
    for fmt in Format:  # and through both formats, bare
        data = (
            encode_request(primitive, fmt)
            if isinstance(primitive, RequestPrimitive)
            else encode_response(primitive, fmt)
        )
        assert decode_primitive(data, fmt) == primitive


def test_annex_a_registration_fields():
    request = decode_request(ANNEX_A_PRIMITIVES[1])
    assert request.op is Operation.CREATE and request.ty is ResourceType.AE and request.rcn is Rcn.ORIGINAL_RESOURCE
    assert request.to == "//example.net/mncse1234" and request.rqi == "A1000" and request.fr is None
    assert request.pc == {"m2m:ae": {"rn": "SmartHomeApplication", "api": "Na56", "apn": "app1234"}}
    response = decode_response(ANNEX_A_PRIMITIVES[2])
    assert response.rsc is ResponseStatusCode.CREATED and response.rqi == "A1000"
    assert response.pc is not None and response.pc["m2m:ae"]["aei"] == "S_SAH25"


# ---------------------------------------------------------------------------
# TS-0009 examples, as primitives (§6.2.2.2 EXAMPLE 1/2, partial retrieve Case 2)
# ---------------------------------------------------------------------------

TS0009_REQUESTS = [
    # EXAMPLE 1: nonBlockingRequestSynch with result persistence
    RequestPrimitive(
        op=Operation.RETRIEVE,
        to="/CSE1234/RCSE78/container234",
        fr="C1",
        rqi="e1",
        rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH),
        rp="P1Y2M3DT10H1M0S",
    ),
    # EXAMPLE 2: discovery of containers whose creator is Sam
    RequestPrimitive(
        op=Operation.RETRIEVE,
        to="/CSE1234/RCSE78",
        fr="C1",
        rqi="e2",
        fc=FilterCriteria(ty=(ResourceType.CONTAINER,), atr=(Attribute("cr", "Sam"),), fu=FilterUsage.DISCOVERY),
    ),
    # Partial retrieve, Case 2 (the XML example, in JSON; it carries ty on a RETRIEVE)
    RequestPrimitive(
        op=Operation.RETRIEVE, to="//example.net/myCSE/-/Cont1#rr", fr="/myCSE/C2345", rqi="0002bf63", ty=4
    ),
]


@pytest.mark.parametrize("request_", TS0009_REQUESTS)
@pytest.mark.parametrize("fmt", list(Format))
def test_ts0009_examples_round_trip(request_, fmt):
    assert decode_request(encode_request(request_, fmt), fmt) == request_


def test_ts0009_discovery_filter_wire_form():
    wire = request_to_dict(TS0009_REQUESTS[1])
    assert wire["fc"] == {"ty": [3], "atr": [{"nm": "cr", "val": "Sam"}], "fu": 1}
    assert request_to_dict(TS0009_REQUESTS[0])["rt"] == {"rtv": 1}


# ---------------------------------------------------------------------------
# ACME 2026.5.3 transcripts (shared/reference/acme-cse-peer-and-ae-sdks.md §1.6, §1.7, §1.9)
# ---------------------------------------------------------------------------

ACME_WS_CBOR_FRAME = bytes.fromhex(
    "a7626f700162746f666373652d696e62667269437773616563626f72637271696b77732d333762306436616663727669613362747902"
    "627063a1666d326d3a6165a562726e687773616563626f7263617069664e7773617070627272f56373727681613363706f61816c7773"
    "3a2f2f64656661756c74"
)


def test_acme_cbor_ws_frame_decodes_and_reencodes_byte_for_byte():
    request = decode_primitive(ACME_WS_CBOR_FRAME, Format.CBOR)
    assert request == RequestPrimitive(
        op=Operation.CREATE,
        to="cse-in",
        fr="Cwsaecbor",
        rqi="ws-37b0d6af",
        rvi="3",
        ty=ResourceType.AE,
        pc={"m2m:ae": {"rn": "wsaecbor", "api": "Nwsapp", "rr": True, "srv": ["3"], "poa": ["ws://default"]}},
    )
    assert encode_request(request, Format.CBOR) == ACME_WS_CBOR_FRAME


def test_acme_ws_json_frames():
    notify = decode_primitive(
        '{"fr": "/id-in", "to": "Cwsaejson", "ot": "20261123T034413,733315", "op": 5, "rqi": "Bbt97lhgc6", '
        '"rvi": "3", "drt": 1, "pc": {"m2m:sgn": {"nev": {"net": 3, "rep": {"m2m:cin": {"con": "22.0"}}}, '
        '"sur": "/id-in/sub2YInvxcUKG"}}}'
    )
    assert isinstance(notify, RequestPrimitive) and notify.op is Operation.NOTIFY and notify.drt == 1
    answer = ResponsePrimitive(rsc=ResponseStatusCode.OK, rqi=notify.rqi, rvi="3", to="/id-in", fr="Cwsaejson")
    assert json.loads(encode_response(answer)) == {
        "rsc": 2000,
        "rqi": "Bbt97lhgc6",
        "rvi": "3",
        "to": "/id-in",
        "fr": "Cwsaejson",
    }
    created = decode_primitive(
        '{"fr": "/id-in", "to": "Cwsaejson", "ot": "20261123T034413,733315", "rsc": 2001, "rqi": "ws-deeb9072", '
        '"rvi": "3", "drt": 1, "pc": {"m2m:ae": {"ri": "Cwsaejson", "aei": "Cwsaejson"}}}'
    )
    assert isinstance(created, ResponsePrimitive) and created.rsc is ResponseStatusCode.CREATED
    assert created.extra == {"drt": 1}  # ACME echoes drt in responses; kept, not lost
    missing_rqi = decode_response('{"rsc": 4000, "pc": {"m2m:dbg": "request identifier parameter is mandatory"}}')
    assert missing_rqi.rqi is None and missing_rqi.debug == "request identifier parameter is mandatory"


def test_acme_polling_channel_answer_is_a_wrapped_request():
    pc = deserialize_content(
        b'{"m2m:rqp":{"fr":"/id-in","to":"Cpch","op":5,"rqi":"q1","pc":{"m2m:sgn":{"sur":"/id-in/sub1","vrq":true}}}}',
        "application/json",
    )
    request = request_from_dict(pc)
    assert (
        request.op is Operation.NOTIFY
        and request.to == "Cpch"
        and request.pc == {"m2m:sgn": {"sur": "/id-in/sub1", "vrq": True}}
    )
    reply = response_to_dict(ResponsePrimitive(rsc=2000, rqi="q1"), wrap=True)
    assert response_from_dict(reply) == ResponsePrimitive(rsc=2000, rqi="q1")


def test_acme_http_cbor_body():
    body = bytes.fromhex("a1666d326d3a6165a462726e6663626f72616563617069654e63626f72627272f463737276816134")
    pc = deserialize_content(body, "application/cbor;ty=2")
    assert pc == {"m2m:ae": {"rn": "cborae", "api": "Ncbor", "rr": False, "srv": ["4"]}}
    assert serialize_content(pc, Format.CBOR) == body


def test_empty_body_is_no_content():
    assert deserialize_content(b"", "application/json") is None  # ACME: rcn=0 -> 201 with empty body


# ---------------------------------------------------------------------------
# Media types
# ---------------------------------------------------------------------------


def test_media_types():
    assert parse_media_type("application/json;ty=2").ty == 2
    parsed = parse_media_type("Application/VND.oneM2M-res+JSON ; TY=23")
    assert (parsed.essence, parsed.format, parsed.ty) == ("application/vnd.onem2m-res+json", Format.JSON, 23)
    assert parse_media_type("application/vnd.onem2m-ntfy+cbor").format is Format.CBOR
    assert parse_media_type("application/json; charset=utf-8").ty is None
    for bad in ("application/xml", "text/plain", "application/vnd.onem2m-res+xml; ty=2"):
        with pytest.raises(OneM2MProtocolError) as caught:
            parse_media_type(bad)
        assert caught.value.rsc is ResponseStatusCode.UNSUPPORTED_MEDIA_TYPE
    with pytest.raises(OneM2MProtocolError, match="ty="):
        parse_media_type("application/json;ty=x")
    assert content_type(Format.JSON, 2) == "application/json;ty=2"
    assert content_type("cbor", ResourceType.CONTAINER, vendor=True) == "application/vnd.onem2m-res+cbor;ty=3"
    assert content_type(Format.JSON) == "application/json"
    with pytest.raises(OneM2MUsageError):
        content_type("xml")


# ---------------------------------------------------------------------------
# Strictness: garbage is a OneM2MProtocolError that says what and where
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"op":1,"op":2}', "duplicate member name 'op'"),
        (b'{"m2m:cin":{"con":NaN}}', "NaN is not a JSON number"),
        (b'{"x":1e999}', "does not fit a 64-bit float"),
        (b'{"x":1} trailing', "Extra data"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"x":"\xff"}', "not UTF-8"),
        (b'{"x":"\\ud800"}', "unpaired surrogate"),
        (b'{"x":18446744073709551616}', "does not fit 64 bits"),
        (b"[" * 5000, "nested"),
        (b"[1]", "must be an object"),
        (b"", "malformed JSON"),
    ],
)
def test_strict_json(data, fragment):
    with pytest.raises(OneM2MProtocolError, match=re.escape(fragment)):
        deserialize_content(data, "application/json") if data else decode_primitive(data)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (cbor2.dumps({"a": 1}) + b"\x00", "1 bytes after the CBOR data item"),
        (bytes.fromhex("a2616101616102"), "Duplicate map key"),
        (bytes.fromhex("a1820102 01".replace(" ", "")), "is not text"),
        (bytes.fromhex("a16174c11a514b67b0"), "datetime"),  # tag 1 epoch time
        (bytes.fromhex("a16178c249010000000000000000"), "does not fit 64 bits"),  # bignum
        (bytes.fromhex("a16178f7"), "undefined"),
        (bytes.fromhex("a16178e0"), "CBORSimpleValue"),
        (b"\x81" * 5000 + b"\x01", "nesting depth"),
        (bytes.fromhex("a1617a5bffffffffffffffff"), "malformed CBOR"),  # 2**64-1 byte string, no data
        (bytes.fromhex("a161"), "malformed CBOR"),
    ],
)
def test_strict_cbor(data, fragment):
    with pytest.raises(OneM2MProtocolError, match=re.escape(fragment)):
        deserialize_content(data, "application/cbor")


def test_cbor_shared_references_cannot_loop():
    looped = bytes.fromhex("a16178d81c81d81d00")  # {"x": shareable([sharedref(0)])}: a list holding itself
    with pytest.raises(OneM2MProtocolError, match="nest"):
        deserialize_content(looped, "application/cbor")


def test_cbor_allows_bytes_json_does_not():
    pc = {"m2m:cin": {"con": b"\x00\x01"}}
    assert deserialize_content(serialize_content(pc, Format.CBOR), Format.CBOR) == pc
    with pytest.raises(OneM2MUsageError, match=r"bytes cannot be written as JSON \(.*\) \(at m2m:cin\.con\)"):
        serialize_content(pc, Format.JSON)


def test_serialize_content_refuses_what_json_cannot_say():
    with pytest.raises(OneM2MUsageError, match="NaN|Out of range"):
        serialize_content({"m2m:cin": {"con": float("nan")}}, Format.JSON)
    with pytest.raises(OneM2MUsageError, match="set"):
        serialize_content({"m2m:cin": {"lbl": {"a"}}})
    with pytest.raises(OneM2MUsageError, match="mapping"):
        serialize_content([1, 2])  # type: ignore[arg-type]
    assert serialize_content({"m2m:cin": {"con": 21.5}}, Format.CBOR).endswith(b"\xf9\x4d\x60")  # half float


@pytest.mark.parametrize(
    ("primitive", "where"),
    [
        ({"op": "1", "to": "cse-in", "rqi": "r"}, "op"),
        ({"op": 7, "to": "cse-in", "rqi": "r"}, "op"),
        ({"op": True, "to": "cse-in", "rqi": "r"}, "op"),
        ({"op": 1, "to": "cse-in"}, "rqi"),
        ({"op": 1, "to": "", "rqi": "r"}, "to"),
        ({"op": 1, "to": "cse-in", "rqi": "r", "rvi": 3}, "rvi"),
        ({"op": 1, "to": "cse-in", "rqi": "r", "pc": []}, "pc"),
        ({"op": 2, "to": "cse-in", "rqi": "r", "fc": {"ty": ["x"]}}, "fc.ty[0]"),
        ({"op": 2, "to": "cse-in", "rqi": "r", "fc": {"atr": [{"nm": "cr"}]}}, "fc.atr[0]"),
        ({"op": 2, "to": "cse-in", "rqi": "r", "rt": {"nu": []}}, "rt"),
        ({"op": 2, "to": "cse-in", "rqi": "r", "tids": ["a", "b", 1]}, "tids[2]"),
        ({"rsc": 200, "rqi": "r"}, "rsc"),
        ({"rsc": 2000, "rqi": 5}, "rqi"),
        ({"op": 1, "rsc": 2000}, "primitive"),
        ({"to": "x"}, "primitive"),
        ({"m2m:rqp": {"op": 1, "to": "x"}}, "m2m:rqp.rqi"),
        ({"m2m:rsp": [1]}, "m2m:rsp"),
    ],
)
def test_malformed_primitives_name_the_parameter(primitive, where):
    for fmt in Format:
        data = json.dumps(primitive).encode() if fmt is Format.JSON else cbor2.dumps(primitive)
        with pytest.raises(OneM2MProtocolError) as caught:
            decode_primitive(data, fmt)
        assert caught.value.where == where
        assert caught.value.rsc is ResponseStatusCode.BAD_REQUEST


def test_decoders_check_their_kind():
    with pytest.raises(OneM2MProtocolError, match="rsc"):
        decode_response(b'{"op":1,"to":"x","rqi":"r"}')
    with pytest.raises(OneM2MProtocolError, match="op"):
        decode_request(b'{"rsc":2000}')
    with pytest.raises(OneM2MUsageError):
        decode_primitive("{}", Format.CBOR)
    with pytest.raises(OneM2MUsageError):
        encode_request(ResponsePrimitive(rsc=2000))  # type: ignore[arg-type]


def test_null_parameters_are_absent():
    assert decode_request(b'{"op":2,"to":"x","rqi":"r","fr":null,"rcn":null}') == RequestPrimitive(
        op=Operation.RETRIEVE, to="x", rqi="r"
    )


def test_primitive_from_dict_dispatch():
    assert isinstance(primitive_from_dict({"m2m:rqp": {"op": 2, "to": "x", "rqi": "r"}}), RequestPrimitive)
    assert isinstance(primitive_from_dict({"m2m:rsp": {"rsc": 2000}}), ResponsePrimitive)
    assert isinstance(primitive_from_dict({"rsc": 2000}), ResponsePrimitive)


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

_keys = st.text(max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=12
)
_text = st.text(min_size=1, max_size=16)
_opt_text = st.none() | st.text(max_size=16)
_time = st.none() | st.text(max_size=20) | st.integers(min_value=0, max_value=2**40)
_strs = st.none() | st.lists(st.text(max_size=8), max_size=3).map(tuple)
_opt_int = st.none() | st.integers(min_value=0, max_value=2**32)
_opt_bool = st.none() | st.booleans()
_pc = st.none() | st.dictionaries(_keys, json_values, max_size=3)
_extra = st.dictionaries(st.text(max_size=6).map(lambda k: "x-" + k), json_values, max_size=2)

filter_criteria = st.builds(
    FilterCriteria,
    crb=_opt_text,
    ms=_opt_text,
    sts=_opt_int,
    lbl=st.lists(st.text(max_size=8), max_size=3).map(tuple),
    ty=st.lists(st.integers(min_value=0, max_value=70000), max_size=3).map(tuple),
    cty=st.lists(st.text(max_size=8), max_size=2).map(tuple),
    atr=st.lists(st.builds(Attribute, nm=st.text(max_size=6), val=json_values), max_size=2).map(tuple),
    fu=st.none() | st.sampled_from(FilterUsage) | st.integers(min_value=0, max_value=9),
    lim=_opt_int,
    lvl=_opt_int,
    ofst=_opt_int,
    arp=_opt_text,
    extra=_extra,
)

requests = st.builds(
    RequestPrimitive,
    op=st.sampled_from(Operation),
    to=_text,
    rqi=_text,
    fr=_opt_text,
    rvi=st.none() | st.sampled_from(["2a", "3", "4", "5"]),
    ty=st.none() | st.integers(min_value=0, max_value=70000),
    pc=_pc,
    ot=_opt_text,
    rqet=_time,
    rset=_time,
    oet=_time,
    rt=st.none() | st.builds(ResponseTypeInfo, rtv=st.integers(1, 5), nu=st.lists(_text, max_size=2).map(tuple)),
    rp=_time,
    rcn=st.none() | st.integers(min_value=0, max_value=11),
    ec=st.none() | st.integers(min_value=0, max_value=100) | st.text(max_size=5),
    da=_opt_bool,
    gid=_opt_text,
    fc=st.none() | filter_criteria,
    drt=st.none() | st.integers(min_value=1, max_value=2),
    rids=_strs,
    tkns=_strs,
    tids=_strs,
    ltids=_strs,
    tqi=_opt_bool,
    gtm=_strs,
    asi=_opt_bool,
    aus=_strs,
    auri=_opt_bool,
    sqi=_opt_bool,
    omr=_strs,
    prpi=_opt_text,
    msu=_opt_text,
    vsi=_opt_text,
    extra=_extra,
)

responses = st.builds(
    ResponsePrimitive,
    rsc=st.sampled_from(ResponseStatusCode) | st.integers(min_value=1000, max_value=6999),
    rqi=_opt_text,
    pc=_pc,
    to=_opt_text,
    fr=_opt_text,
    rvi=_opt_text,
    ot=_opt_text,
    rset=_time,
    ec=st.none() | st.integers(min_value=0, max_value=100),
    cnst=st.none() | st.integers(min_value=1, max_value=2),
    cnot=_opt_int,
    ati=json_values,
    tqf=json_values,
    asri=json_values,
    vsi=_opt_text,
    extra=_extra,
)


@given(requests, st.sampled_from(Format), st.booleans())
def test_request_round_trip(request, fmt, wrap):
    assert decode_request(encode_request(request, fmt, wrap=wrap), fmt) == request
    assert decode_primitive(encode_request(request, fmt), fmt) == request


@given(responses, st.sampled_from(Format), st.booleans())
def test_response_round_trip(response, fmt, wrap):
    assert decode_response(encode_response(response, fmt, wrap=wrap), fmt) == response
    assert decode_primitive(encode_response(response, fmt), fmt) == response


@given(st.dictionaries(_keys, json_values, max_size=4), st.sampled_from(Format))
def test_content_round_trip(pc, fmt):
    assert deserialize_content(serialize_content(pc, fmt), fmt) == pc


@given(st.binary(max_size=300), st.sampled_from(Format))
def test_any_bytes_give_a_primitive_or_a_protocol_error(data, fmt):
    try:
        result = decode_primitive(data, fmt)
    except OneM2MProtocolError:
        return
    assert isinstance(result, (RequestPrimitive, ResponsePrimitive))


@given(st.binary(max_size=300), st.sampled_from(["application/json", "application/cbor"]))
def test_any_bytes_give_content_or_a_protocol_error(data, media_type):
    try:
        result = deserialize_content(data, media_type)
    except OneM2MProtocolError:
        return
    assert result is None or isinstance(result, dict)


_param_names = st.sampled_from(
    ["op", "to", "fr", "rqi", "rvi", "ty", "pc", "rsc", "rt", "fc", "rcn", "tids", "da", "cnst", "m2m:rqp", "x"]
)
_wire_values = json_values | st.dictionaries(st.sampled_from(["rtv", "nu", "ty", "atr", "fu", "lbl"]), json_values)


@given(st.dictionaries(_param_names, _wire_values, max_size=8), st.sampled_from(Format))
def test_any_structure_gives_a_primitive_or_a_protocol_error(wire, fmt):
    data = json.dumps(wire).encode() if fmt is Format.JSON else cbor2.dumps(wire)
    try:
        result = decode_primitive(data, fmt)
    except OneM2MProtocolError:
        return
    assert isinstance(result, (RequestPrimitive, ResponsePrimitive))
    # whatever decoded can be sent again and reads back the same
    encoded: Any = encode_request(result, fmt) if isinstance(result, RequestPrimitive) else encode_response(result, fmt)
    assert decode_primitive(encoded, fmt) == result
