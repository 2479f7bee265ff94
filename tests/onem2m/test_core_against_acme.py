"""The sans-IO core against a real ACME CSE 2026.5.3 (the ``acme_cse`` session fixture).

The transport here is deliberately minimal (urllib for HTTP, websocket-client for
WS) and lives in this file: what is under test is that the builders produce what
ACME accepts, that ACME's answers parse, that primitives encode to frames ACME
understands (JSON and CBOR), and that our RSC <-> HTTP table agrees with ACME.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from m2mclient.onem2m import (
    AccessControlRule,
    Format,
    NotificationContentType,
    NotificationEventType,
    OneM2MError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    access_control_policy,
    container,
    content_instance,
    content_type,
    decode_primitive,
    deserialize_content,
    encode_request,
    encode_response,
    make_rqi,
    negotiate,
    parse_notification,
    parse_resource,
    parse_resource_refs,
    parse_uri_list,
    polling_channel,
    request_from_dict,
    rsc_to_http,
    serialize_content,
    subscription,
    time_series,
    time_series_instance,
)
from m2mclient.onem2m.resources import ae

if TYPE_CHECKING:  # tests/ is not a package; conftest modules are pytest's to import
    from conftest import AcmeCSE

RSC = ResponseStatusCode
TIMEOUT = 15.0


@dataclass
class Exchange:
    status: int
    response: ResponsePrimitive


def http(
    acme: AcmeCSE,
    method: str,
    path: str,
    *,
    origin: str,
    rvi: str = "3",
    body: dict[str, Any] | None = None,
    ty: int | None = None,
    fmt: Format = Format.JSON,
    query: str = "",
) -> Exchange:
    """One TS-0009 exchange, mapped by hand onto a ResponsePrimitive."""
    rqi = make_rqi("t-")
    headers = {"X-M2M-Origin": origin, "X-M2M-RI": rqi, "X-M2M-RVI": rvi, "Accept": content_type(fmt)}
    data = None
    if body is not None:
        data = serialize_content(body, fmt)
        headers["Content-Type"] = content_type(fmt, ty)
    url = f"{acme.http_url}/{path}" + (f"?{query}" if query else "")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, data=data, method=method, headers=headers), timeout=TIMEOUT) as r:
            status, reply_headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, payload = error.code, error.headers, error.read()
    pc = deserialize_content(payload, reply_headers["Content-Type"]) if payload else None
    response = ResponsePrimitive(rsc=int(reply_headers["X-M2M-RSC"]), rqi=reply_headers.get("X-M2M-RI"), pc=pc)
    assert response.rqi == rqi
    return Exchange(status, response)


def created(exchange: Exchange) -> dict[str, Any]:
    exchange.response.raise_for_status()
    assert exchange.response.rsc is RSC.CREATED and exchange.status == rsc_to_http(RSC.CREATED)
    assert exchange.response.pc is not None
    return parse_resource(exchange.response.pc)[1]


def fresh_originator() -> str:
    return "Ccore" + secrets.token_hex(4)


def test_negotiated_rvi_from_the_cse_base(acme_cse: AcmeCSE) -> None:
    answer = http(acme_cse, "GET", acme_cse.cse_name, origin=acme_cse.admin_originator)
    assert answer.response.pc is not None
    ty, cse_base = parse_resource(answer.response.pc)
    assert ty is ResourceType.CSE_BASE
    assert negotiate(cse_base["srv"]) == "5"
    assert negotiate(cse_base["srv"], ["3", "4"]) == "4"


def test_http_json_flow_with_every_builder(acme_cse: AcmeCSE) -> None:
    cse, origin = acme_cse.cse_name, fresh_originator()
    rn = origin.lower()
    aeinfo = created(http(acme_cse, "POST", cse, origin=origin, ty=2, body=ae("Ncoretest", rn, lbl=["core"])))
    assert aeinfo["aei"] == origin and aeinfo["srv"] == ["3"] and aeinfo["rr"] is True
    base = f"{cse}/{rn}"

    again = http(acme_cse, "POST", cse, origin=origin, ty=2, body=ae("Ncoretest", rn + "x"))
    with pytest.raises(OneM2MError) as caught:
        again.response.raise_for_status()
    assert caught.value.rsc is RSC.ORIGINATOR_HAS_ALREADY_REGISTERED and "reuse the stored AE-ID" in str(caught.value)
    assert again.status == rsc_to_http(caught.value.rsc) == 403

    created(http(acme_cse, "POST", base, origin=origin, ty=3, body=container("data", mni=10, mbs=10000)))
    cin = created(
        http(acme_cse, "POST", f"{base}/data", origin=origin, ty=4, body=content_instance("21.5", cnf="text/plain:0"))
    )
    assert cin["con"] == "21.5"
    created(http(acme_cse, "POST", f"{base}/data", origin=origin, ty=23, body=subscription("sub", [origin], nct=1)))
    latest = http(acme_cse, "GET", f"{base}/data/la", origin=origin)
    assert latest.status == 200 and latest.response.pc is not None
    assert parse_resource(latest.response.pc)[0] is ResourceType.CONTENT_INSTANCE

    found = http(acme_cse, "GET", base, origin=origin, query="fu=1&ty=4")
    assert found.response.pc is not None and len(parse_uri_list(found.response.pc)) == 1
    refs = http(acme_cse, "GET", base, origin=origin, query="fu=1&ty=4&rcn=6")
    assert refs.response.pc is not None
    assert [ref.typ for ref in parse_resource_refs(refs.response.pc)] == [ResourceType.CONTENT_INSTANCE]
    tree = http(acme_cse, "GET", f"{base}/data", origin=origin, query="rcn=4")
    assert tree.response.pc is not None
    ty, data = parse_resource(tree.response.pc)
    assert ty is ResourceType.CONTAINER and [child["con"] for child in data["m2m:cin"]] == ["21.5"]
    later = http(
        acme_cse, "POST", f"{base}/data", origin=origin, ty=4, body=content_instance("22"), query="rt=1"
    )  # non-blocking synch: ACME answers with the <request> resource's ID
    assert later.response.rsc is RSC.ACCEPTED_NON_BLOCKING_SYNC and later.status == rsc_to_http(later.response.rsc)
    assert later.response.pc is not None and "m2m:uri" in later.response.pc

    created(http(acme_cse, "POST", base, origin=origin, ty=15, body=polling_channel("pch")))
    created(http(acme_cse, "POST", base, origin=origin, ty=29, body=time_series("ts", mni=5, pei=60000, mdd=False)))
    moment = dt.datetime(2026, 11, 23, 3, 44, 12, tzinfo=dt.timezone.utc)
    tsi = created(
        http(acme_cse, "POST", f"{base}/ts", origin=origin, ty=30, body=time_series_instance(moment, "21.5", snr=1))
    )
    assert tsi["dgt"].startswith("20261123T034412")
    rule = AccessControlRule(acor=[origin])
    created(http(acme_cse, "POST", base, origin=origin, ty=1, body=access_control_policy("acp", [rule])))

    # What ACME would refuse never leaves the builder.
    with pytest.raises(OneM2MUsageError):
        subscription("sub2", [origin], nct=NotificationContentType.MODIFIED_ATTRIBUTES)

    deleted = http(acme_cse, "DELETE", base, origin=origin)
    assert deleted.response.rsc is RSC.DELETED and deleted.status == rsc_to_http(RSC.DELETED)
    gone = http(acme_cse, "GET", base, origin=origin)
    assert gone.response.rsc is RSC.NOT_FOUND and gone.status == rsc_to_http(RSC.NOT_FOUND)
    assert gone.response.debug  # ACME explains in m2m:dbg


@pytest.mark.parametrize(
    ("kwargs", "rsc"),
    [
        ({"rvi": "1"}, RSC.RELEASE_VERSION_NOT_SUPPORTED),
        ({"origin": "notCorS"}, RSC.SECURITY_ASSOCIATION_REQUIRED),
        ({"body": {"m2m:ae": {"api": "Nx", "rr": True}}}, RSC.BAD_REQUEST),  # no srv
        ({"body": {"m2m:ae": {"api": "xapp", "rr": True, "srv": ["3"]}}}, RSC.BAD_REQUEST),
    ],
)
def test_acme_error_codes_map_as_ts0009_says(acme_cse: AcmeCSE, kwargs: dict[str, Any], rsc: RSC) -> None:
    args: dict[str, Any] = {"origin": fresh_originator(), "body": ae("Nx"), **kwargs}
    answer = http(acme_cse, "POST", acme_cse.cse_name, ty=2, **args)
    assert answer.response.rsc is rsc
    assert answer.status == rsc_to_http(rsc)


def test_http_cbor_round_trip(acme_cse: AcmeCSE) -> None:
    cse, origin = acme_cse.cse_name, fresh_originator()
    rn = origin.lower()
    body = ae("Ncbor", rn, rr=False, srv=["4"])
    created(http(acme_cse, "POST", cse, origin=origin, rvi="4", ty=2, body=body, fmt=Format.CBOR))
    created(http(acme_cse, "POST", f"{cse}/{rn}", origin=origin, rvi="4", ty=3, body=container("c"), fmt=Format.CBOR))
    reading = content_instance({"temp": 21.5, "hum": 40}, cnf="application/cbor:0")
    cin = created(http(acme_cse, "POST", f"{cse}/{rn}/c", origin=origin, rvi="4", ty=4, body=reading, fmt=Format.CBOR))
    assert cin["con"] == {"temp": 21.5, "hum": 40}
    http(acme_cse, "DELETE", f"{cse}/{rn}", origin=origin, rvi="4").response.raise_for_status()


def test_polling_channel_delivers_a_request_primitive(acme_cse: AcmeCSE) -> None:
    cse, origin = acme_cse.cse_name, fresh_originator()
    rn = origin.lower()
    created(http(acme_cse, "POST", cse, origin=origin, ty=2, body=ae("Npch", rn, rr=False)))
    base = f"{cse}/{rn}"
    created(http(acme_cse, "POST", base, origin=origin, ty=15, body=polling_channel("pch")))
    created(http(acme_cse, "POST", base, origin=origin, ty=3, body=container("data")))
    created(http(acme_cse, "POST", f"{base}/data", origin=origin, ty=23, body=subscription("sub", [origin], nct=1)))
    created(http(acme_cse, "POST", f"{base}/data", origin=origin, ty=4, body=content_instance("7")))
    polled = http(acme_cse, "GET", f"{base}/pch/pcu", origin=origin)
    polled.response.raise_for_status()
    assert polled.response.pc is not None
    request = request_from_dict(polled.response.pc)
    assert request.op is Operation.NOTIFY and request.pc is not None
    notification = parse_notification(request.pc)
    assert (
        notification.nev is not None and notification.nev.net is NotificationEventType.CREATE_OF_DIRECT_CHILD_RESOURCE
    )
    assert notification.nev.resource is not None and notification.nev.resource[1]["con"] == "7"
    http(acme_cse, "DELETE", base, origin=origin).response.raise_for_status()


websocket = pytest.importorskip("websocket", reason="websocket-client is an install requirement")


def _ws(acme: AcmeCSE, fmt: Format, origin: str | None) -> Any:
    header = [f"X-M2M-Origin: {origin}"] if origin else []
    return websocket.create_connection(
        acme.ws_url, subprotocols=[f"oneM2M.{fmt.value}"], header=header, timeout=TIMEOUT
    )


def _send(conn: Any, request: RequestPrimitive, fmt: Format) -> None:
    data = encode_request(request, fmt)
    conn.send_binary(data) if fmt is Format.CBOR else conn.send(data.decode("utf-8"))


def _receive(conn: Any) -> RequestPrimitive | ResponsePrimitive:
    opcode, data = conn.recv_data()
    # By frame opcode, not by subprotocol: ACME may send JSON text on a CBOR socket.
    return decode_primitive(data, Format.JSON if opcode == websocket.ABNF.OPCODE_TEXT else Format.CBOR)


def _call(conn: Any, request: RequestPrimitive, fmt: Format) -> tuple[ResponsePrimitive, list[RequestPrimitive]]:
    """Send a request; answer CSE-originated NOTIFYs meanwhile; return the response and those NOTIFYs."""
    _send(conn, request, fmt)
    notifies: list[RequestPrimitive] = []
    while True:
        primitive = _receive(conn)
        if isinstance(primitive, ResponsePrimitive):
            if primitive.rqi == request.rqi:
                return primitive, notifies
            continue
        notifies.append(primitive)
        answer = ResponsePrimitive(rsc=RSC.OK, rqi=primitive.rqi, rvi=request.rvi, to=primitive.fr, fr=request.fr)
        data = encode_response(answer, fmt)
        conn.send_binary(data) if fmt is Format.CBOR else conn.send(data.decode("utf-8"))


@pytest.mark.parametrize("fmt", list(Format))
def test_websocket_primitives(acme_cse: AcmeCSE, fmt: Format) -> None:
    cse = acme_cse.cse_name
    rn = "ws" + secrets.token_hex(4)
    first = _ws(acme_cse, fmt, None)
    try:
        registration = RequestPrimitive(
            op=Operation.CREATE,
            to=cse,
            fr="C",
            rqi=make_rqi(),
            rvi="3",
            ty=ResourceType.AE,
            pc=ae("Nwsapp", rn, poa=["ws://default"], csz=[f"application/{fmt.value}"]),
        )
        response, _ = _call(first, registration, fmt)
        response.raise_for_status(registration)
        assert response.pc is not None
        aei = parse_resource(response.pc)[1]["aei"]
    finally:
        first.close()
    conn = _ws(acme_cse, fmt, aei)  # ACME binds a connection to the handshake's originator
    try:

        def request(op: Operation, to: str, pc: dict[str, Any] | None = None, ty: int | None = None) -> Any:
            primitive = RequestPrimitive(op=op, to=to, fr=aei, rqi=make_rqi(), rvi="3", ty=ty, pc=pc)
            answer, notifies = _call(conn, primitive, fmt)
            return answer.raise_for_status(primitive), notifies

        base = f"{cse}/{rn}"
        request(Operation.CREATE, base, container("data"), ResourceType.CONTAINER)
        request(Operation.CREATE, f"{base}/data", subscription("sub", [aei], nct=1), ResourceType.SUBSCRIPTION)
        _, notifies = request(
            Operation.CREATE, f"{base}/data", content_instance({"temp": 22.0}), ResourceType.CONTENT_INSTANCE
        )
        if not notifies:  # the NOTIFY may also come after the response
            late = _receive(conn)
            assert isinstance(late, RequestPrimitive)
            notifies.append(late)
        (notify,) = notifies
        assert notify.op is Operation.NOTIFY and notify.pc is not None
        event = parse_notification(notify.pc).nev
        assert event is not None and event.resource is not None and event.resource[1]["con"] == {"temp": 22.0}
        retrieved, _ = request(Operation.RETRIEVE, f"{base}/data/la")
        assert parse_resource(retrieved.pc)[0] is ResourceType.CONTENT_INSTANCE
        deleted, _ = request(Operation.DELETE, base)
        assert deleted.rsc is RSC.DELETED
    finally:
        conn.close()


def test_json_frames_are_what_acme_sent(acme_cse: AcmeCSE) -> None:
    """Belt and braces: ACME's own JSON answer re-encodes to the same object."""
    conn = _ws(acme_cse, Format.JSON, None)
    try:
        registration = RequestPrimitive(
            op=Operation.CREATE, to=acme_cse.cse_name, fr="C", rqi=make_rqi(), rvi="3", ty=2, pc=ae("Nframe")
        )
        _send(conn, registration, Format.JSON)
        opcode, data = conn.recv_data()
        assert opcode == websocket.ABNF.OPCODE_TEXT
        response = decode_primitive(data)
        assert isinstance(response, ResponsePrimitive) and response.rsc is RSC.CREATED
        assert json.loads(encode_response(response)) == json.loads(data)
        attributes = parse_resource(response.pc or {})[1]
    finally:
        conn.close()
    # No rn was asked for: ACME named it; the AE-ID is also its unstructured resource ID.
    assert attributes["rn"].startswith("ae_") and attributes["ri"] == attributes["aei"]
    http(acme_cse, "DELETE", attributes["ri"], origin=attributes["aei"]).response.raise_for_status()
