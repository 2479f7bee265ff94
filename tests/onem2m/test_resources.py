"""Resource builders (what ACME 2026.5.3 accepts), parsers and the short/long name tables.

The expected bodies are the ones that ACME accepted in the transcripts of
shared/reference/acme-cse-peer-and-ae-sdks.md (§1.5 HTTP JSON, §1.6 CBOR, §1.7 WS, §1.9).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.onem2m import (
    ATTRIBUTE_NAMES,
    NCT_ALLOWED_NET,
    TYPE_BY_WRAPPER,
    WRAPPER_BY_TYPE,
    AccessControlOperations,
    AccessControlRule,
    BatchNotify,
    EventNotificationCriteria,
    Format,
    NotificationContentType,
    NotificationEventType,
    OneM2MProtocolError,
    OneM2MUsageError,
    RateLimit,
    ResourceRef,
    ResourceType,
    access_control_policy,
    container,
    content_instance,
    deserialize_content,
    flex_container,
    parse_debug,
    parse_notification,
    parse_notifications,
    parse_resource,
    parse_resource_refs,
    parse_uri_list,
    polling_channel,
    serialize_content,
    subscription,
    time_series,
    time_series_instance,
    to_long_names,
    to_short_names,
)
from m2mclient.onem2m.resources import ae

NET = NotificationEventType
NCT = NotificationContentType

# ---------------------------------------------------------------------------
# Builders produce the bodies ACME accepted, byte for byte
# ---------------------------------------------------------------------------


def test_ae_registration_as_in_the_acme_http_transcript():
    body = ae("Nmyapp", "myae", poa=["http://127.0.0.1:9999/notify"])
    assert serialize_content(body) == (
        b'{"m2m:ae":{"rn":"myae","api":"Nmyapp","rr":true,"srv":["3"],"poa":["http://127.0.0.1:9999/notify"]}}'
    )


def test_ae_registration_as_in_the_acme_cbor_transcript():
    body = ae("Ncbor", "cborae", rr=False, srv=["4"])
    expected = bytes.fromhex("a1666d326d3a6165a462726e6663626f72616563617069654e63626f72627272f463737276816134")
    assert serialize_content(body, Format.CBOR) == expected


def test_ae_registration_for_websocket_notifications():
    body = ae("Nwsapp", "wsaejson", poa=["ws://default"])
    assert body == {"m2m:ae": {"rn": "wsaejson", "api": "Nwsapp", "rr": True, "srv": ["3"], "poa": ["ws://default"]}}


def test_ae_optional_attributes():
    body = ae(
        "Rorg.example.app",
        apn="thermo",
        srv=["3", "4"],
        csz=["application/cbor"],
        lbl=["room/1"],
        et=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert body == {
        "m2m:ae": {
            "api": "Rorg.example.app",
            "apn": "thermo",
            "rr": True,
            "srv": ["3", "4"],
            "csz": ["application/cbor"],
            "lbl": ["room/1"],
            "et": "20300101T000000",
        }
    }


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"api": "xapp"}, "must start with 'N'"),  # ACME: 400 "must start with R or N"
        ({"api": "rorg.example.app"}, "must start with 'N'"),
        ({"api": "Rorg.app"}, "three dot-separated parts"),
        ({"api": "R..x"}, "three dot-separated parts"),
        ({"api": ""}, "non-empty"),
        ({"api": "N my app"}, "without spaces"),
        ({"api": "Nx", "rr": "true"}, "rr must be True or False"),
        ({"api": "Nx", "srv": []}, "srv must not be empty"),  # ACME: 400 mandatory srv
        ({"api": "Nx", "srv": ["6"]}, "unknown release version"),
        ({"api": "Nx", "rn": "my ae"}, "resource name 'my ae' is not valid"),  # ACME: 400 invalid ID
        ({"api": "Nx", "rn": "la"}, "reserved for a virtual resource"),
        ({"api": "Nx", "csz": ["text/plain"]}, "not a oneM2M serialization"),
        ({"api": "Nx", "poa": [""]}, "poa must be a list of non-empty strings"),
    ],
)
def test_ae_refuses_what_acme_refuses(kwargs, fragment):
    with pytest.raises(OneM2MUsageError, match=fragment):
        ae(**kwargs)


def test_container_and_content_instance_as_in_the_acme_transcript():
    assert serialize_content(container("data", mni=10)) == b'{"m2m:cnt":{"rn":"data","mni":10}}'
    cin = content_instance('{"temp":21.5}', cnf="application/json:0")
    assert serialize_content(cin) == b'{"m2m:cin":{"cnf":"application/json:0","con":"{\\"temp\\":21.5}"}}'
    assert content_instance("22.0") == {"m2m:cin": {"con": "22.0"}}
    cbor_cin = content_instance({"temp": 21.5, "hum": 40}, cnf="application/cbor:0")
    assert deserialize_content(serialize_content(cbor_cin, Format.CBOR), Format.CBOR) == cbor_cin


def test_container_limits_and_common_attributes():
    body = container("data", mni=500, mbs=100000, mia=3600, lbl=["a", "b"], acpi=["acp1"], et="20300101T000000")
    assert body == {
        "m2m:cnt": {
            "rn": "data",
            "mni": 500,
            "mbs": 100000,
            "mia": 3600,
            "lbl": ["a", "b"],
            "acpi": ["acp1"],
            "et": "20300101T000000",
        }
    }
    assert container() == {"m2m:cnt": {}}
    for bad in ({"mni": -1}, {"mbs": True}, {"mia": 1.5}):
        with pytest.raises(OneM2MUsageError, match="non-negative integer"):
            container("data", **bad)
    with pytest.raises(OneM2MUsageError, match="lbl"):
        container("data", lbl=[1])  # type: ignore[list-item]


def test_content_instance_checks():
    with pytest.raises(OneM2MUsageError, match="needs content"):
        content_instance(None)
    with pytest.raises(OneM2MUsageError, match="contentInfo"):
        content_instance("x", cnf="json")
    with pytest.raises(OneM2MUsageError, match="contentInfo"):
        content_instance("x", cnf="text/plain:7")
    assert content_instance("eA==", cnf="application/octet-stream:1", rn="c1")["m2m:cin"]["rn"] == "c1"


def test_subscription_as_in_the_acme_transcript():
    body = subscription("sub1", "http://127.0.0.1:9999/notify", nct=NCT.ALL_ATTRIBUTES)
    assert serialize_content(body) == (
        b'{"m2m:sub":{"rn":"sub1","nu":["http://127.0.0.1:9999/notify"],"enc":{"net":[3]},"nct":1}}'
    )
    ws = subscription("sub", ["Cwsaejson"], nct=1)
    assert ws == {"m2m:sub": {"rn": "sub", "nu": ["Cwsaejson"], "enc": {"net": [3]}, "nct": 1}}


def test_subscription_nct_must_fit_net():
    # ACME: 4000 "nct=2 is not allowed for one or more values in enc/net=[3]"
    with pytest.raises(OneM2MUsageError, match=r"nct=2 \(MODIFIED_ATTRIBUTES\) does not fit enc.net=\[3\]"):
        subscription("sub2", ["Cmyae"], nct=2)
    # without enc the CSE watches updates of the resource itself: nct=2 fits
    assert subscription(None, "Cmyae", enc=None, nct=2) == {"m2m:sub": {"nu": ["Cmyae"], "nct": 2}}
    with pytest.raises(OneM2MUsageError, match="nct 9"):
        subscription(None, "Cmyae", nct=9)
    for nct, events in NCT_ALLOWED_NET.items():
        for net in NET:
            criteria = EventNotificationCriteria(net=[net])
            if net in events:
                subscription(None, "C", enc=criteria, nct=nct)
            else:
                with pytest.raises(OneM2MUsageError):
                    subscription(None, "C", enc=criteria, nct=nct)


def test_subscription_options():
    body = subscription(
        "sub",
        "C1",
        enc=EventNotificationCriteria(net=[NET.UPDATE_OF_RESOURCE, NET.DELETE_OF_RESOURCE], atr=["lbl"]),
        nct=NCT.RESOURCE_ID,
        exc=10,
        su="C1",
        bn=BatchNotify(num=5, dur="PT10S"),
        rl=RateLimit(mnn=3, tww="PT1M"),
        ln=True,
        pn=2,
        cr=True,
    )
    assert body == {
        "m2m:sub": {
            "rn": "sub",
            "nu": ["C1"],
            "enc": {"net": [1, 2], "atr": ["lbl"]},
            "nct": 3,
            "exc": 10,
            "su": "C1",
            "bn": {"num": 5, "dur": "PT10S"},
            "rl": {"mnn": 3, "tww": "PT1M"},
            "ln": True,
            "pn": 2,
            "cr": None,
        }
    }
    with pytest.raises(OneM2MUsageError, match="nu must not be empty"):
        subscription("sub", [])
    with pytest.raises(OneM2MUsageError, match=r"enc\.net"):
        EventNotificationCriteria(net=["3"])  # type: ignore[list-item]


def test_polling_channel_as_in_the_acme_transcript():
    assert serialize_content(polling_channel("pch")) == b'{"m2m:pch":{"rn":"pch"}}'


def test_flex_container():
    body = flex_container(
        "thermo", "org.onem2m.common.moduleclass.temperature", tpe="cod:tempe", attrs={"curT0": 21.5}, lbl=["x"]
    )
    assert body == {
        "cod:tempe": {"rn": "thermo", "cnd": "org.onem2m.common.moduleclass.temperature", "curT0": 21.5, "lbl": ["x"]}
    }
    with pytest.raises(OneM2MUsageError, match="namespace:name"):
        flex_container("t", "cnd", tpe="tempe")
    with pytest.raises(OneM2MUsageError, match="clash"):
        flex_container("t", "cnd", tpe="cod:tempe", attrs={"rn": "x"})
    with pytest.raises(OneM2MUsageError, match="cnd"):
        flex_container("t", "", tpe="cod:tempe")


def test_access_control_policy():
    rule = AccessControlRule(acor=["Cmyae"], acop=AccessControlOperations.RETRIEVE | AccessControlOperations.NOTIFY)
    body = access_control_policy("acp1", [rule], pvs=[AccessControlRule(acor=["Cmyae"])])
    assert body == {
        "m2m:acp": {
            "rn": "acp1",
            "pv": {"acr": [{"acor": ["Cmyae"], "acop": 18}]},
            "pvs": {"acr": [{"acor": ["Cmyae"], "acop": 63}]},
        }
    }
    assert access_control_policy("acp2", [rule])["m2m:acp"]["pvs"] == {"acr": [{"acor": ["Cmyae"], "acop": 18}]}
    with pytest.raises(OneM2MUsageError, match="acop"):
        access_control_policy("acp", [AccessControlRule(acor=["C"], acop=64)])
    with pytest.raises(OneM2MUsageError, match="self privileges"):
        access_control_policy("acp", [])


def test_time_series_and_instances():
    body = time_series("ts", mni=100, pei=60000, peid=1000, mdd=True, mdn=10, cnf="text/plain:0")
    assert body == {
        "m2m:ts": {"rn": "ts", "mni": 100, "pei": 60000, "peid": 1000, "mdd": True, "mdn": 10, "cnf": "text/plain:0"}
    }
    with pytest.raises(OneM2MUsageError, match="needs the periodic interval"):
        time_series("ts", mdd=True)
    with pytest.raises(OneM2MUsageError, match="only applies"):
        time_series("ts", mdn=3)
    moment = dt.datetime(2026, 11, 23, 3, 44, 12, tzinfo=dt.timezone.utc)
    assert time_series_instance(moment, "21.5", snr=7) == {
        "m2m:tsi": {"dgt": "20261123T034412", "con": "21.5", "snr": 7}
    }
    with pytest.raises(OneM2MUsageError, match="dgt"):
        time_series_instance(1.5, "x")  # type: ignore[arg-type]
    with pytest.raises(OneM2MUsageError, match="needs content"):
        time_series_instance("20261123T034412", None)


# ---------------------------------------------------------------------------
# Parsers on what ACME sends back
# ---------------------------------------------------------------------------


def test_parse_resource_from_acme_responses():
    pc = deserialize_content(
        b'{"m2m:ae": {"rn": "myae", "api": "Nmyapp", "rr": true, "srv": ["3"], "poa": ["http://127.0.0.1:9999/notify"],'
        b' "pi": "id-in", "ri": "Cmyae", "ty": 2, "aei": "Cmyae", "ct": "20261123T034412,424245",'
        b' "lt": "20261123T034412,424245", "et": "20311122T034412,427017"}}',
        "application/json",
    )
    assert pc is not None
    ty, attrs = parse_resource(pc)
    assert ty is ResourceType.AE and attrs["aei"] == "Cmyae" and attrs["ri"] == "Cmyae"
    ty, attrs = parse_resource({"m2m:cnt": {"rn": "data", "mni": 10, "cni": 0, "ty": 3, "m2m:cin": []}})
    assert ty is ResourceType.CONTAINER and attrs["m2m:cin"] == []
    assert parse_resource({"cod:tempe": {"ty": 28, "cnd": "x"}})[0] is ResourceType.FLEX_CONTAINER
    assert parse_resource({"cod:tempe": {"cnd": "x"}})[0] is None
    assert parse_resource({"m2m:zzz": {"ty": 99999}})[0] is None


@pytest.mark.parametrize(
    ("pc", "fragment"),
    [
        ({"m2m:dbg": "No resource with this ID: cse-in/myae"}, "debug text"),
        ({"m2m:cnt": {}, "m2m:cin": {}}, "exactly one wrapper key"),
        ({}, "exactly one wrapper key"),
        ({"m2m:cnt": [1]}, "must hold an object"),
        ({"m2m:cnt": {"ty": 4}}, "says ty=4"),
        ({"m2m:cnt": {"ty": "3"}}, "ty must be an integer"),
        ([1], "exactly one wrapper key"),
    ],
)
def test_parse_resource_garbage(pc, fragment):
    with pytest.raises(OneM2MProtocolError, match=fragment):
        parse_resource(pc)


def test_parse_verification_request():
    pc = deserialize_content(
        b'{"m2m:sgn": {"vrq": true, "sur": "/id-in/sub4yrsy9aAZB", "cr": "Cmyae"}}', "application/json"
    )
    assert pc is not None
    notification = parse_notification(pc)
    assert notification.vrq and not notification.sud
    assert (notification.sur, notification.cr, notification.nev) == ("/id-in/sub4yrsy9aAZB", "Cmyae", None)


def test_parse_event_notification():
    pc = deserialize_content(
        b'{"m2m:sgn": {"nev": {"net": 3, "rep": {"m2m:cin": {"con": "22.0", "cs": 4, "pi": "cntnpnQ5pjqXv",'
        b' "ri": "cingILG1TXZNv", "rn": "cin_l5Q9UgdomP", "ty": 4, "ct": "20261123T034412,543491",'
        b' "lt": "20261123T034412,543491", "et": "20311122T034412,427017", "st": 2}}}, "sur": "/id-in/sub4yrsy9aAZB"}}',
        "application/json",
    )
    assert pc is not None
    notification = parse_notification(pc)
    assert notification.nev is not None and notification.nev.net is NET.CREATE_OF_DIRECT_CHILD_RESOURCE
    resource = notification.nev.resource
    assert resource is not None and resource[0] is ResourceType.CONTENT_INSTANCE and resource[1]["con"] == "22.0"
    deleted = parse_notification({"m2m:sgn": {"sud": True, "sur": "/id-in/sub1"}})
    assert deleted.sud and deleted.nev is None
    by_id = parse_notification({"m2m:sgn": {"nev": {"net": 3, "rep": "/id-in/cin1"}, "sur": "s", "x": 1}})
    assert by_id.nev is not None and by_id.nev.resource is None and by_id.extra == {"x": 1}


def test_parse_notifications_batch():
    batch = {"m2m:agn": {"m2m:sgn": [{"sur": "a", "nev": {"net": 1}}, {"sur": "b", "nev": {"net": 99}}]}}
    first, second = parse_notifications(batch)
    assert (first.sur, second.sur) == ("a", "b") and second.nev is not None and second.nev.net == 99
    assert len(parse_notifications({"m2m:sgn": {"sur": "a"}})) == 1


@pytest.mark.parametrize(
    ("pc", "where"),
    [
        ({"m2m:cin": {}}, "pc"),
        ({"m2m:sgn": [1]}, "pc.m2m:sgn"),
        ({"m2m:sgn": {"vrq": "true"}}, "pc.m2m:sgn.vrq"),
        ({"m2m:sgn": {"sur": 5}}, "pc.m2m:sgn.sur"),
        ({"m2m:sgn": {"nev": {"net": "3"}}}, "pc.m2m:sgn.nev.net"),
        ({"m2m:sgn": {"nev": []}}, "pc.m2m:sgn.nev"),
    ],
)
def test_parse_notification_garbage(pc, where):
    with pytest.raises(OneM2MProtocolError) as caught:
        parse_notification(pc)
    assert caught.value.where == where


def test_parse_discovery_results():
    # HTTP transcript §1.5 (5d)
    assert parse_uri_list({"m2m:uril": ["cse-in/myae/data/cin_TN6se7wE8m", "cse-in/myae/data/cin_l5Q9UgdomP"]}) == [
        "cse-in/myae/data/cin_TN6se7wE8m",
        "cse-in/myae/data/cin_l5Q9UgdomP",
    ]
    assert parse_uri_list({"m2m:uril": "a b"}) == ["a", "b"]
    with pytest.raises(OneM2MProtocolError):
        parse_uri_list({"m2m:uril": [1]})
    # WS transcript §1.7: rcn=6 -> m2m:rrl
    refs = parse_resource_refs(
        {"m2m:rrl": {"rrf": [{"nm": "cin_1", "typ": 4, "val": "/id-in/cse-in/wsae/data/cin_1"}]}}
    )
    assert refs == [ResourceRef(nm="cin_1", typ=ResourceType.CONTENT_INSTANCE, val="/id-in/cse-in/wsae/data/cin_1")]
    with pytest.raises(OneM2MProtocolError, match="needs nm"):
        parse_resource_refs({"m2m:rrl": {"rrf": [{"nm": "x", "typ": "4", "val": "v"}]}})


def test_parse_debug():
    assert parse_debug({"m2m:dbg": "nct=2 is not allowed"}) == "nct=2 is not allowed"
    assert parse_debug({"m2m:cnt": {}}) is None
    assert parse_debug(None) is None


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------


def test_name_tables_are_bijective():
    assert len(set(ATTRIBUTE_NAMES.values())) == len(ATTRIBUTE_NAMES)
    assert len(set(WRAPPER_BY_TYPE.values())) == len(WRAPPER_BY_TYPE)
    assert TYPE_BY_WRAPPER["m2m:cin"] is ResourceType.CONTENT_INSTANCE
    assert TYPE_BY_WRAPPER["m2m:sub"] is ResourceType.SUBSCRIPTION


def test_long_names_keep_application_data():
    short = {
        "m2m:cnt": {
            "rn": "data",
            "mni": 10,
            "m2m:cin": [{"con": {"rn": "not an attribute"}, "cnf": "application/json:0"}],
            "curT0": 1,
        }
    }
    long = to_long_names(short)
    assert long == {
        "m2m:container": {
            "resourceName": "data",
            "maxNrOfInstances": 10,
            "m2m:contentInstance": [{"content": {"rn": "not an attribute"}, "contentInfo": "application/json:0"}],
            "curT0": 1,
        }
    }
    assert to_short_names(long) == short
    sub = subscription("s", "C1", nct=1)
    assert to_long_names(sub)["m2m:subscription"]["eventNotificationCriteria"] == {"notificationEventType": [3]}


@given(
    st.dictionaries(
        st.sampled_from(sorted(ATTRIBUTE_NAMES)),
        st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
        max_size=6,
    )
)
def test_long_short_round_trip(attributes):
    assert to_short_names(to_long_names({"m2m:ae": attributes})) == {"m2m:ae": attributes}
