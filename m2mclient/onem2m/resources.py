"""oneM2M resource representations: typed builders, parsers and the short-name tables.

Builders return the Content parameter of a CREATE, keyed by the resource-type
wrapper with short attribute names (TS-0004 §8.2.3), ready for
:func:`~m2mclient.onem2m.serialization.serialize_content`::

    >>> container("data", mni=10)
    {'m2m:cnt': {'rn': 'data', 'mni': 10}}

They check what a CSE would refuse (ACME 2026.5.3 rules in
shared/reference/acme-cse-peer-and-ae-sdks.md §1.4/§1.5) before anything is
sent, raising :class:`OneM2MUsageError` with a hint. Parsers turn what a CSE
sends back into plain data and raise :class:`OneM2MProtocolError` on garbage.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from m2mclient.onem2m.primitives import (
    OneM2MProtocolError,
    OneM2MUsageError,
    ReleaseVersion,
    ResourceType,
    Timestamp,
    format_timestamp,
)

# ---------------------------------------------------------------------------
# Enumerations used by resources (TS-0004 §6.3.4.2)
# ---------------------------------------------------------------------------


class NotificationEventType(enum.IntEnum):
    """``net`` of the eventNotificationCriteria (TS-0004 §6.3.4.2.19)."""

    UPDATE_OF_RESOURCE = 1
    DELETE_OF_RESOURCE = 2
    CREATE_OF_DIRECT_CHILD_RESOURCE = 3
    DELETE_OF_DIRECT_CHILD_RESOURCE = 4
    RETRIEVE_OF_CONTAINER_WITH_NO_CHILD = 5
    TRIGGER_RECEIVED_FOR_AE = 6
    BLOCKING_UPDATE = 7
    REPORT_ON_MISSING_DATA_POINTS = 8


class NotificationContentType(enum.IntEnum):
    """``nct`` of a <subscription> (TS-0004 §6.3.4.2.18)."""

    ALL_ATTRIBUTES = 1
    MODIFIED_ATTRIBUTES = 2
    RESOURCE_ID = 3
    TRIGGER_PAYLOAD = 4
    TIME_SERIES_NOTIFICATION = 5


class AccessControlOperations(enum.IntFlag):
    """``acop`` bits of an access control rule (TS-0004 §6.3.4.2.29)."""

    CREATE = 1
    RETRIEVE = 2
    UPDATE = 4
    DELETE = 8
    NOTIFY = 16
    DISCOVER = 32
    ALL = 63


class PendingNotification(enum.IntEnum):
    """``pn`` of a <subscription> (TS-0004 §6.3.4.2.17)."""

    SEND_LATEST = 1
    SEND_ALL_PENDING = 2


_NET = NotificationEventType
_NCT = NotificationContentType

#: Which ``net`` values each ``nct`` may be combined with (TS-0004 §7.4.8.2.1 <subscription>
#: CREATE; §6.3.4.2.18/19): modifiedAttributes only fits updates, triggerPayload
#: triggers, timeSeriesNotification missing data. This is the table ACME 2026.5.3
#: enforces with 4000 ("nct=2 is not allowed for one or more values in enc/net=[3]").
NCT_ALLOWED_NET: Mapping[NotificationContentType, frozenset[int]] = {
    _NCT.ALL_ATTRIBUTES: frozenset(
        {
            _NET.UPDATE_OF_RESOURCE,
            _NET.DELETE_OF_RESOURCE,
            _NET.CREATE_OF_DIRECT_CHILD_RESOURCE,
            _NET.DELETE_OF_DIRECT_CHILD_RESOURCE,
        }
    ),
    _NCT.MODIFIED_ATTRIBUTES: frozenset({_NET.UPDATE_OF_RESOURCE, _NET.BLOCKING_UPDATE}),
    _NCT.RESOURCE_ID: frozenset(
        {
            _NET.UPDATE_OF_RESOURCE,
            _NET.DELETE_OF_RESOURCE,
            _NET.CREATE_OF_DIRECT_CHILD_RESOURCE,
            _NET.DELETE_OF_DIRECT_CHILD_RESOURCE,
        }
    ),
    _NCT.TRIGGER_PAYLOAD: frozenset({_NET.TRIGGER_RECEIVED_FOR_AE}),
    _NCT.TIME_SERIES_NOTIFICATION: frozenset({_NET.REPORT_ON_MISSING_DATA_POINTS}),
}

# ---------------------------------------------------------------------------
# Names: resource-type wrappers and attribute short names (TS-0004 §8.2)
# ---------------------------------------------------------------------------

_RT = ResourceType

#: Resource type -> wrapper key of its representation (TS-0004 §8.2.4 short names).
WRAPPER_BY_TYPE: Mapping[ResourceType, str] = {
    _RT.ACCESS_CONTROL_POLICY: "m2m:acp",
    _RT.AE: "m2m:ae",
    _RT.CONTAINER: "m2m:cnt",
    _RT.CONTENT_INSTANCE: "m2m:cin",
    _RT.CSE_BASE: "m2m:cb",
    _RT.DELIVERY: "m2m:dlv",
    _RT.EVENT_CONFIG: "m2m:evcg",
    _RT.EXEC_INSTANCE: "m2m:exin",
    _RT.GROUP: "m2m:grp",
    _RT.LOCATION_POLICY: "m2m:lcp",
    _RT.M2M_SERVICE_SUBSCRIPTION_PROFILE: "m2m:mssp",
    _RT.MGMT_CMD: "m2m:mgc",
    _RT.NODE: "m2m:nod",
    _RT.POLLING_CHANNEL: "m2m:pch",
    _RT.REMOTE_CSE: "m2m:csr",
    _RT.REQUEST: "m2m:req",
    _RT.SCHEDULE: "m2m:sch",
    _RT.SERVICE_SUBSCRIBED_APP_RULE: "m2m:asar",
    _RT.SERVICE_SUBSCRIBED_NODE: "m2m:svsn",
    _RT.STATS_COLLECT: "m2m:stcl",
    _RT.STATS_CONFIG: "m2m:stcg",
    _RT.SUBSCRIPTION: "m2m:sub",
    _RT.SEMANTIC_DESCRIPTOR: "m2m:smd",
    _RT.TIME_SERIES: "m2m:ts",
    _RT.TIME_SERIES_INSTANCE: "m2m:tsi",
    _RT.ROLE: "m2m:rol",
    _RT.TOKEN: "m2m:tk",
    _RT.CROSS_RESOURCE_SUBSCRIPTION: "m2m:crs",
    _RT.FLEX_CONTAINER_INSTANCE: "m2m:fci",
    _RT.ACCESS_CONTROL_POLICY_ANNC: "m2m:acpA",
    _RT.AE_ANNC: "m2m:aeA",
    _RT.CONTAINER_ANNC: "m2m:cntA",
    _RT.CONTENT_INSTANCE_ANNC: "m2m:cinA",
    _RT.GROUP_ANNC: "m2m:grpA",
    _RT.REMOTE_CSE_ANNC: "m2m:csrA",
    _RT.TIME_SERIES_ANNC: "m2m:tsA",
    _RT.TIME_SERIES_INSTANCE_ANNC: "m2m:tsiA",
}
TYPE_BY_WRAPPER: Mapping[str, ResourceType] = {wrapper: ty for ty, wrapper in WRAPPER_BY_TYPE.items()}

# Wrappers of content that is not a resource (TS-0004 §7.5, §8.2.4).
NOTIFICATION_WRAPPER = "m2m:sgn"
AGGREGATED_NOTIFICATION_WRAPPER = "m2m:agn"
URI_LIST_WRAPPER = "m2m:uril"
RESOURCE_REF_LIST_WRAPPER = "m2m:rrl"
URI_WRAPPER = "m2m:uri"
DEBUG_WRAPPER = "m2m:dbg"
REQUEST_PRIMITIVE_WRAPPER = "m2m:rqp"
RESPONSE_PRIMITIVE_WRAPPER = "m2m:rsp"

#: Short wrapper key -> long name (TS-0004 §8.2.4; the long form XML/JSON may use).
WRAPPER_LONG_NAMES: Mapping[str, str] = {
    "m2m:acp": "m2m:accessControlPolicy",
    "m2m:ae": "m2m:AE",
    "m2m:cnt": "m2m:container",
    "m2m:cin": "m2m:contentInstance",
    "m2m:cb": "m2m:CSEBase",
    "m2m:grp": "m2m:group",
    "m2m:nod": "m2m:node",
    "m2m:pch": "m2m:pollingChannel",
    "m2m:csr": "m2m:remoteCSE",
    "m2m:req": "m2m:request",
    "m2m:sch": "m2m:schedule",
    "m2m:sub": "m2m:subscription",
    "m2m:smd": "m2m:semanticDescriptor",
    "m2m:ts": "m2m:timeSeries",
    "m2m:tsi": "m2m:timeSeriesInstance",
    "m2m:crs": "m2m:crossResourceSubscription",
    "m2m:sgn": "m2m:notification",
    "m2m:agn": "m2m:aggregatedNotification",
    "m2m:uril": "m2m:URIList",
    "m2m:rrl": "m2m:resourceRefList",
    "m2m:uri": "m2m:URI",
    "m2m:dbg": "m2m:debugInfo",
    "m2m:rqp": "m2m:requestPrimitive",
    "m2m:rsp": "m2m:responsePrimitive",
}

#: Attribute and element short names -> long names for the resources m2mclient
#: builds and parses (TS-0004 §8.2.3 resource attributes, §8.2.5 complex type members).
ATTRIBUTE_NAMES: Mapping[str, str] = {
    # universal and common attributes
    "ty": "resourceType",
    "ri": "resourceID",
    "rn": "resourceName",
    "pi": "parentID",
    "ct": "creationTime",
    "lt": "lastModifiedTime",
    "lbl": "labels",
    "acpi": "accessControlPolicyIDs",
    "et": "expirationTime",
    "at": "announceTo",
    "aa": "announcedAttribute",
    "st": "stateTag",
    "cr": "creator",
    "daci": "dynamicAuthorizationConsultationIDs",
    "hld": "holder",
    "cstn": "custodian",
    "lnk": "link",
    # <CSEBase>, <remoteCSE>, <AE>
    "cst": "cseType",
    "csi": "CSE-ID",
    "srt": "supportedResourceType",
    "poa": "pointOfAccess",
    "nl": "nodeLink",
    "ncp": "notificationCongestionPolicy",
    "ctm": "currentTime",
    "cb": "CSEBase",
    "dcse": "descendantCSEs",
    "apn": "appName",
    "api": "App-ID",
    "aei": "AE-ID",
    "or": "ontologyRef",
    "rr": "requestReachability",
    "csz": "contentSerialization",
    "esi": "e2eSecInfo",
    "srv": "supportedReleaseVersions",
    "regs": "registrationStatus",
    # <container>, <contentInstance>, <timeSeries>, <timeSeriesInstance>
    "cni": "currentNrOfInstances",
    "cbs": "currentByteSize",
    "mni": "maxNrOfInstances",
    "mbs": "maxByteSize",
    "mia": "maxInstanceAge",
    "li": "locationID",
    "disr": "disableRetrieval",
    "cnf": "contentInfo",
    "cs": "contentSize",
    "conr": "contentRef",
    "con": "content",
    "pei": "periodicInterval",
    "peid": "periodicIntervalDelta",
    "mdd": "missingDataDetect",
    "mdn": "missingDataMaxNr",
    "mdlt": "missingDataList",
    "mdc": "missingDataCurrentNr",
    "mdt": "missingDataDetectTimer",
    "dgt": "dataGenerationTime",
    "snr": "sequenceNr",
    # <subscription> and its complex types
    "enc": "eventNotificationCriteria",
    "exc": "expirationCounter",
    "nu": "notificationURI",
    "gpi": "groupID",
    "nfu": "notificationForwardingURI",
    "bn": "batchNotify",
    "rl": "rateLimit",
    "psn": "preSubscriptionNotify",
    "pn": "pendingNotification",
    "nsp": "notificationStoragePriority",
    "ln": "latestNotify",
    "nct": "notificationContentType",
    "nec": "notificationEventCat",
    "su": "subscriberURI",
    "net": "notificationEventType",
    "chty": "childResourceType",
    "md": "missingData",
    "om": "operationMonitor",
    "ops": "operations",
    "org": "originator",
    "num": "number",
    "dur": "duration",
    "mnn": "maxNrOfNotify",
    "tww": "timeWindow",
    # filter / event criteria elements (TS-0004 §6.3.5.7, §6.3.5.8)
    "crb": "createdBefore",
    "cra": "createdAfter",
    "ms": "modifiedSince",
    "us": "unmodifiedSince",
    "sts": "stateTagSmaller",
    "stb": "stateTagBigger",
    "exb": "expireBefore",
    "exa": "expireAfter",
    "sza": "sizeAbove",
    "szb": "sizeBelow",
    "atr": "attribute",
    "fo": "filterOperation",
    "nm": "name",
    "val": "value",
    # <accessControlPolicy>
    "pv": "privileges",
    "pvs": "selfPrivileges",
    "acr": "accessControlRules",
    "acor": "accessControlOriginators",
    "acop": "accessControlOperations",
    "acco": "accessControlContexts",
    "actw": "accessControlWindow",
    "acip": "accessControlIpAddresses",
    "aclr": "accessControlLocationRegion",
    "acaf": "accessControlAuthenticationFlag",
    # <group>
    "mt": "memberType",
    "cnm": "currentNrOfMembers",
    "mnm": "maxNrOfMembers",
    "mid": "memberIDs",
    "macp": "membersAccessControlPolicyIDs",
    "mtv": "memberTypeValidated",
    "csy": "consistencyStrategy",
    "gn": "groupName",
    # <flexContainer>, <pollingChannel>
    "cnd": "containerDefinition",
    "pcu": "pollingChannelURI",
    # notifications and discovery results (TS-0004 §6.3.5.13, §6.3.5.29)
    "nev": "notificationEvent",
    "rep": "representation",
    "vrq": "verificationRequest",
    "sud": "subscriptionDeletion",
    "sur": "subscriptionReference",
    "rrf": "childResourceRef",
    "typ": "type",
}
LONG_ATTRIBUTE_NAMES: Mapping[str, str] = {long: short for short, long in ATTRIBUTE_NAMES.items()}
_LONG_WRAPPERS: Mapping[str, str] = {long: short for short, long in WRAPPER_LONG_NAMES.items()}

# Values under these keys are application data, never renamed.
_OPAQUE = frozenset({"con", "val"})
_OPAQUE_LONG = frozenset(ATTRIBUTE_NAMES[key] for key in _OPAQUE)


def _rename(value: Any, names: Mapping[str, str], wrappers: Mapping[str, str], opaque: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            new_key = wrappers.get(key) or names.get(key, key) if isinstance(key, str) else key
            result[new_key] = item if key in opaque else _rename(item, names, wrappers, opaque)
        return result
    if isinstance(value, (list, tuple)):
        return [_rename(item, names, wrappers, opaque) for item in value]
    return value


def to_long_names(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with wrapper and attribute short names replaced by long ones.

    Unknown keys (e.g. flexContainer custom attributes) stay as they are; the
    application data under ``con`` and ``val`` is never touched.
    """
    return dict(_rename(obj, ATTRIBUTE_NAMES, WRAPPER_LONG_NAMES, _OPAQUE))


def to_short_names(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_long_names`."""
    return dict(_rename(obj, LONG_ATTRIBUTE_NAMES, _LONG_WRAPPERS, _OPAQUE_LONG))


# ---------------------------------------------------------------------------
# Argument checks (caller mistakes -> OneM2MUsageError)
# ---------------------------------------------------------------------------

# TS-0004 §6.2.4: resource-name = 1*unreserved, where §6.2.3 defines unreserved as
# (ALPHA / DIGIT) *(ALPHA / DIGIT / "-" / "." / "_"): no spaces, slashes or "~".
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Names of virtual resources (TS-0004 §6.8) a CSE resolves itself.
_VIRTUAL_NAMES = frozenset({"la", "ol", "fopt", "pcu"})
# contentInfo: <media type>[:<encoding 0..2>[:<contentSecurity>]] (TS-0004 §6.3.3, §6.3.4.2.28).
_CONTENT_INFO = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(?:;[^:]*)?(?::[0-2](?::\d+)?)?")
# A flexContainer specialization's wrapper: <namespace>:<short name> (TS-0004 §6.3.5.38).
_SPECIALIZATION = re.compile(r"[A-Za-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9]*")


def _fail(message: str, hint: str | None = None) -> OneM2MUsageError:
    return OneM2MUsageError(message, hint=hint)


def _check_rn(rn: str | None) -> None:
    if rn is None:
        return
    if not isinstance(rn, str) or not _RESOURCE_NAME.fullmatch(rn):
        raise _fail(
            f"resource name {rn!r} is not valid",
            "start with a letter or digit, then letters, digits, '-', '.' or '_' only; ACME answers 4000 otherwise",
        )
    if rn in _VIRTUAL_NAMES:
        raise _fail(f"resource name {rn!r} is reserved for a virtual resource (TS-0004 §6.8)")


def _strs(name: str, values: Sequence[str] | str, *, allow_empty: bool = True) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Sequence) or not all(isinstance(v, str) and v for v in values):
        raise _fail(f"{name} must be a list of non-empty strings, got {values!r:.80}")
    if not values and not allow_empty:
        raise _fail(f"{name} must not be empty")
    return [str(v) for v in values]


def _count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _flag(name: str, value: bool | None) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise _fail(f"{name} must be True or False (an xs:boolean), got {value!r}")
    return value


def _time(name: str, value: Timestamp | _dt.datetime | None) -> Timestamp | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        return format_timestamp(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fail(f"{name} must be an m2m:timestamp string, a datetime or milliseconds, got {value!r}")


def _body(
    rn: str | None,
    specific: Mapping[str, Any],
    *,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """rn first, then the type's own attributes, then the common ones; None and [] are left out."""
    _check_rn(rn)
    body: dict[str, Any] = {} if rn is None else {"rn": rn}
    body.update((key, value) for key, value in specific.items() if value is not None and value != [])
    if lbl:
        body["lbl"] = _strs("lbl", lbl)
    if acpi:
        body["acpi"] = _strs("acpi", acpi)
    expiration = _time("et", et)
    if expiration is not None:
        body["et"] = expiration
    return body


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------

_KNOWN_RELEASES = frozenset(v.value for v in ReleaseVersion)


def _check_api(api: str) -> None:
    """App-ID rules (TS-0001 §7.1 identifiers; TS-0004 §7.4.5.2.1 <AE> CREATE) as ACME 2026.5.3 enforces them."""
    if not isinstance(api, str) or not api or any(c.isspace() for c in api):
        raise _fail(f"App-ID {api!r} must be a non-empty string without spaces")
    if api[0] == "N":
        return
    if api[0] == "R":
        parts = api.split(".")
        if len(parts) < 3 or not all(parts):
            raise _fail(
                f"registered App-ID {api!r} needs at least three dot-separated parts",
                "e.g. 'Rorg.example.app'; ACME answers 4000 otherwise, or use a non-registered 'N...' App-ID",
            )
        return
    raise _fail(
        f"App-ID {api!r} must start with 'N' (non-registered) or 'R' (registered)",
        "ACME answers 4000 'must start with R or N'; lower-case 'r' is accepted there only with rvi 2a/3",
    )


def ae(
    api: str,
    rn: str | None = None,
    *,
    rr: bool = True,
    srv: Sequence[str] = ("3",),
    poa: Sequence[str] = (),
    apn: str | None = None,
    csz: Sequence[str] = (),
    nl: str | None = None,
    or_: str | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """An <AE> registration (TS-0004 §7.4.5), ``{"m2m:ae": {...}}``.

    ``api`` starts with ``N`` (any name) or ``R`` (``Rorg.example.app``); ``rr``
    (requestReachability) and ``srv`` (supportedReleaseVersions) are always sent
    because ACME refuses a registration without them, whatever the rvi. ``poa``
    lists where notifications can reach the AE: an HTTP URL, or ``ws://default``
    to receive them on the open WebSocket (ACME). ``csz=["application/cbor"]``
    asks the CSE to send notifications as CBOR. ``or_`` is ontologyRef.

    The originator (From) of the CREATE must start with ``C`` or ``S`` on ACME.
    """
    _check_api(api)
    if not isinstance(rr, bool):
        raise _fail(f"rr must be True or False (a boolean, not {type(rr).__name__})")
    releases = [str(v) for v in _strs("srv", srv, allow_empty=False)]
    unknown = [v for v in releases if v not in _KNOWN_RELEASES]
    if unknown:
        raise _fail(f"unknown release version(s) {unknown} in srv; known: {sorted(_KNOWN_RELEASES)}")
    if apn is not None and not isinstance(apn, str):
        raise _fail(f"apn must be a string, got {apn!r}")
    serializations = _strs("csz", csz)
    for media in serializations:
        if media not in ("application/json", "application/cbor", "application/xml"):
            raise _fail(
                f"csz entry {media!r} is not a oneM2M serialization", "use application/json or application/cbor"
            )
    specific = {
        "api": api,
        "apn": apn,
        "rr": rr,
        "srv": releases,
        "poa": _strs("poa", poa),
        "csz": serializations,
        "nl": nl,
        "or": or_,
    }
    return {"m2m:ae": _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


def container(
    rn: str | None = None,
    *,
    mni: int | None = None,
    mbs: int | None = None,
    mia: int | None = None,
    li: str | None = None,
    disr: bool | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <container> (TS-0004 §7.4.6): ``mni`` max instances, ``mbs`` max bytes, ``mia`` max age (s)."""
    specific = {
        "mni": _count("mni", mni),
        "mbs": _count("mbs", mbs),
        "mia": _count("mia", mia),
        "li": li,
        "disr": _flag("disr", disr),
    }
    return {"m2m:cnt": _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


def content_instance(
    con: Any,
    *,
    cnf: str | None = None,
    rn: str | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <contentInstance> (TS-0004 §7.4.7) holding ``con``.

    ``con`` is usually text; JSON/CBOR values (a map, a number) also work with
    ACME, and bytes only in CBOR. ``cnf`` (contentInfo) is
    ``"<media type>:<encoding>"``, e.g. ``"application/json:0"`` (0 plain,
    1 base64 string, 2 base64 binary).
    """
    if con is None:
        raise _fail("a contentInstance needs content (con)")
    if cnf is not None and (not isinstance(cnf, str) or not _CONTENT_INFO.fullmatch(cnf)):
        raise _fail(f"contentInfo {cnf!r} is not '<type>/<subtype>[:<encoding 0..2>]'", "e.g. 'text/plain:0'")
    return {"m2m:cin": _body(rn, {"cnf": cnf, "con": con}, lbl=lbl, acpi=acpi, et=et)}


@dataclass(frozen=True)
class EventNotificationCriteria:
    """``enc`` of a <subscription> (m2m:eventNotificationCriteria, TS-0004 §6.3.5.7).

    ``net`` lists the events (:class:`NotificationEventType`); ``chty`` limits
    child events to these resource types; ``atr`` limits update events to these
    attribute names. Without ``net`` a CSE assumes updates of the resource only,
    so a new <contentInstance> in a container would not notify.
    """

    net: Sequence[int] = ()
    chty: Sequence[int] = ()
    atr: Sequence[str] = ()
    crb: str | None = None
    cra: str | None = None
    ms: str | None = None
    us: str | None = None
    sts: int | None = None
    stb: int | None = None
    exb: str | None = None
    exa: str | None = None
    sza: int | None = None
    szb: int | None = None
    fo: int | None = None
    md: Mapping[str, Any] | None = None
    om: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("net", "chty"):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise _fail(f"enc.{name} must be a list of integers, got {values!r}")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise _fail(f"enc.{name} must be a list of integers, got {values!r}")
            object.__setattr__(self, name, tuple(values))
        object.__setattr__(self, "atr", tuple(_strs("enc.atr", self.atr)))

    def to_dict(self) -> dict[str, Any]:
        """The short-name representation (empty elements left out)."""
        wire: dict[str, Any] = {}
        for key in ("net", "chty", "atr"):
            values = getattr(self, key)
            if values:
                wire[key] = [int(v) if isinstance(v, int) else v for v in values]
        for key in ("crb", "cra", "ms", "us", "sts", "stb", "exb", "exa", "sza", "szb", "fo", "md", "om"):
            value = getattr(self, key)
            if value is not None:
                wire[key] = dict(value) if isinstance(value, Mapping) else value
        return wire


@dataclass(frozen=True)
class BatchNotify:
    """``bn``: send notifications in batches of ``num`` or every ``dur`` (TS-0004 §6.3.5.6)."""

    num: int
    dur: str | int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The short-name representation."""
        wire: dict[str, Any] = {"num": self.num}
        if self.dur is not None:
            wire["dur"] = self.dur
        return wire


@dataclass(frozen=True)
class RateLimit:
    """``rl``: at most ``mnn`` notifications per ``tww`` (TS-0004 §6.3.5.31)."""

    mnn: int
    tww: str | int

    def to_dict(self) -> dict[str, Any]:
        """The short-name representation."""
        return {"mnn": self.mnn, "tww": self.tww}


#: The criteria a sensor AE usually means by "tell me about new data".
NEW_CHILD_CREATED = EventNotificationCriteria(net=(NotificationEventType.CREATE_OF_DIRECT_CHILD_RESOURCE,))


def subscription(
    rn: str | None,
    nu: str | Sequence[str],
    *,
    enc: EventNotificationCriteria | None = NEW_CHILD_CREATED,
    nct: int | None = None,
    exc: int | None = None,
    su: str | None = None,
    bn: BatchNotify | None = None,
    rl: RateLimit | None = None,
    ln: bool | None = None,
    nsp: int | None = None,
    pn: int | None = None,
    nfu: str | None = None,
    cr: bool = False,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <subscription> (TS-0004 §7.4.8) notifying ``nu`` (URLs or AE-IDs).

    ``enc`` defaults to "a direct child was created" (a new <contentInstance>);
    pass ``enc=None`` for the CSE's default (updates of the resource itself).
    ``nct`` (:class:`NotificationContentType`) must fit every ``enc.net``
    (:data:`NCT_ALLOWED_NET`; ACME answers 4000 otherwise). ``exc`` deletes the
    subscription after that many notifications; ``su`` receives the deletion
    notice; ``cr=True`` asks the CSE to record the creator.
    """
    targets = _strs("nu", nu, allow_empty=False)
    if enc is not None and not isinstance(enc, EventNotificationCriteria):
        raise _fail("enc must be an EventNotificationCriteria")
    if nct is not None:
        try:
            content_type = NotificationContentType(nct)
        except ValueError:
            raise _fail(f"nct {nct!r} is not a NotificationContentType (1..5)") from None
        events = enc.net if enc is not None and enc.net else (NotificationEventType.UPDATE_OF_RESOURCE,)
        refused = [int(n) for n in events if n not in NCT_ALLOWED_NET[content_type]]
        if refused:
            raise _fail(
                f"nct={int(nct)} ({content_type.name}) does not fit enc.net={refused}",
                "e.g. ALL_ATTRIBUTES (1) or RESOURCE_ID (3) for new children; ACME answers 4000",
            )
    specific: dict[str, Any] = {
        "nu": targets,
        "enc": enc.to_dict() if enc is not None else None,
        "nct": int(nct) if nct is not None else None,
        "exc": _count("exc", exc),
        "su": su,
        "bn": bn.to_dict() if bn is not None else None,
        "rl": rl.to_dict() if rl is not None else None,
        "ln": _flag("ln", ln),
        "nsp": _count("nsp", nsp),
        "pn": int(pn) if pn is not None else None,
        "nfu": nfu,
    }
    if specific["enc"] == {}:
        specific["enc"] = None
    body = _body(rn, specific, lbl=lbl, acpi=acpi, et=et)
    if cr:
        body["cr"] = None  # TS-0004 §7.4.8.2.1: a null creator asks the CSE to fill it in
    return {"m2m:sub": body}


def flex_container(
    rn: str | None,
    cnd: str,
    *,
    tpe: str,
    attrs: Mapping[str, Any] | None = None,
    nl: str | None = None,
    or_: str | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <flexContainer> specialization (TS-0004 §7.4.37), ``{tpe: {...}}``.

    ``tpe`` is the specialization's wrapper (e.g. ``"cod:tempe"``), ``cnd`` its
    containerDefinition (e.g. ``"org.onem2m.common.moduleclass.temperature"``)
    and ``attrs`` its custom attributes by short name (``{"curT0": 21.5}``).
    """
    if not isinstance(tpe, str) or not _SPECIALIZATION.fullmatch(tpe):
        raise _fail(f"flexContainer type {tpe!r} must look like 'namespace:name', e.g. 'cod:tempe'")
    if not isinstance(cnd, str) or not cnd:
        raise _fail("cnd (containerDefinition) must be a non-empty string")
    custom = dict(attrs or {})
    clashes = sorted(set(custom) & {"rn", "cnd", "nl", "or", "lbl", "acpi", "et", "ty", "ri", "pi"})
    if clashes:
        raise _fail(f"custom attributes {clashes} clash with universal/flexContainer attributes; use the parameters")
    specific = {"cnd": cnd, "nl": nl, "or": or_, **custom}
    return {tpe: _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


@dataclass(frozen=True)
class AccessControlRule:
    """One access control rule (m2m:accessControlRule, TS-0004 §6.3.5.27)."""

    acor: Sequence[str]
    acop: int = AccessControlOperations.ALL
    acco: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The short-name representation."""
        if isinstance(self.acop, bool) or not isinstance(self.acop, int) or not 0 < self.acop <= 63:
            raise _fail(f"acop {self.acop!r} must be AccessControlOperations bits (1..63)")
        wire: dict[str, Any] = {"acor": _strs("acor", self.acor, allow_empty=False), "acop": int(self.acop)}
        if self.acco is not None:
            wire["acco"] = self.acco
        return wire


def access_control_policy(
    rn: str | None,
    pv: Sequence[AccessControlRule],
    *,
    pvs: Sequence[AccessControlRule] | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """An <accessControlPolicy> (TS-0004 §7.4.2); ``pvs`` (self privileges) defaults to ``pv``."""
    rules = list(pv)
    self_rules = rules if pvs is None else list(pvs)
    if not self_rules:
        raise _fail("an accessControlPolicy needs self privileges (pvs) so someone can manage it")
    specific = {
        "pv": {"acr": [rule.to_dict() for rule in rules]},
        "pvs": {"acr": [rule.to_dict() for rule in self_rules]},
    }
    return {"m2m:acp": _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


def time_series(
    rn: str | None = None,
    *,
    mni: int | None = None,
    mbs: int | None = None,
    mia: int | None = None,
    pei: int | None = None,
    peid: int | None = None,
    mdd: bool | None = None,
    mdn: int | None = None,
    mdt: int | None = None,
    cnf: str | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <timeSeries> (TS-0004 §7.4.38) for periodic readings.

    ``pei`` is the expected period in ms and ``peid`` the tolerated jitter;
    ``mdd=True`` makes the CSE record missed readings (up to ``mdn``), which needs
    ``pei``.
    """
    if mdd and pei is None:
        raise _fail("missing data detection (mdd) needs the periodic interval (pei)")
    if mdn is not None and not mdd:
        raise _fail("mdn (missingDataMaxNr) only applies with mdd=True")
    if cnf is not None and (not isinstance(cnf, str) or not _CONTENT_INFO.fullmatch(cnf)):
        raise _fail(f"contentInfo {cnf!r} is not '<type>/<subtype>[:<encoding 0..2>]'")
    specific = {
        "mni": _count("mni", mni),
        "mbs": _count("mbs", mbs),
        "mia": _count("mia", mia),
        "pei": _count("pei", pei),
        "peid": _count("peid", peid),
        "mdd": _flag("mdd", mdd),
        "mdn": _count("mdn", mdn),
        "mdt": _count("mdt", mdt),
        "cnf": cnf,
    }
    return {"m2m:ts": _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


def time_series_instance(
    dgt: Timestamp | _dt.datetime,
    con: Any,
    *,
    snr: int | None = None,
    rn: str | None = None,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <timeSeriesInstance> (TS-0004 §7.4.39): reading ``con`` generated at ``dgt``.

    Pass the time (a datetime, or an m2m:timestamp); nothing here reads a clock.
    """
    generated = _time("dgt", dgt)
    if generated is None:
        raise _fail("a timeSeriesInstance needs its dataGenerationTime (dgt)")
    if con is None:
        raise _fail("a timeSeriesInstance needs content (con)")
    specific = {"dgt": generated, "con": con, "snr": _count("snr", snr)}
    return {"m2m:tsi": _body(rn, specific, lbl=lbl, acpi=acpi, et=et)}


def polling_channel(
    rn: str | None = None,
    *,
    lbl: Sequence[str] = (),
    acpi: Sequence[str] = (),
    et: Timestamp | _dt.datetime | None = None,
) -> dict[str, Any]:
    """A <pollingChannel> (TS-0004 §7.4.21) for an AE that cannot be reached (rr=False).

    Long-poll ``<pch>/pcu`` with RETRIEVE; each answer carries a request in
    ``m2m:rqp`` (decode with :func:`~m2mclient.onem2m.serialization.request_from_dict`).
    """
    return {"m2m:pch": _body(rn, {}, lbl=lbl, acpi=acpi, et=et)}


# ---------------------------------------------------------------------------
# Parsers (peer data -> OneM2MProtocolError on garbage)
# ---------------------------------------------------------------------------


def _single(pc: Any, what: str) -> tuple[str, Any]:
    if not isinstance(pc, Mapping) or len(pc) != 1:
        raise OneM2MProtocolError(
            f"{what}: expected an object with exactly one wrapper key, got "
            + (f"keys {sorted(map(str, pc))[:5]}" if isinstance(pc, Mapping) else type(pc).__name__),
            where="pc",
        )
    ((key, value),) = pc.items()
    if not isinstance(key, str):
        raise OneM2MProtocolError(f"{what}: wrapper key {key!r} is not text", where="pc")
    return key, value


def parse_resource(pc: Mapping[str, Any]) -> tuple[ResourceType | None, dict[str, Any]]:
    """The resource type and attributes of a resource representation ``{"m2m:cnt": {...}}``.

    The type comes from the wrapper, or from ``ty`` for wrappers this module does
    not know (flexContainer specializations); None if neither says. Short names
    are kept.
    """
    wrapper, body = _single(pc, "resource")
    if wrapper == DEBUG_WRAPPER:
        raise OneM2MProtocolError(f"content is the peer's debug text, not a resource: {body!r:.200}", where="pc")
    if not isinstance(body, Mapping):
        raise OneM2MProtocolError(f"{wrapper} must hold an object, got {type(body).__name__}", where=f"pc.{wrapper}")
    ty: ResourceType | None = TYPE_BY_WRAPPER.get(wrapper)
    declared = body.get("ty")
    if declared is not None:
        if isinstance(declared, bool) or not isinstance(declared, int):
            raise OneM2MProtocolError(f"ty must be an integer, got {declared!r:.40}", where=f"pc.{wrapper}.ty")
        if ty is not None and declared != ty:
            raise OneM2MProtocolError(
                f"{wrapper} is a {ty.name} ({int(ty)}) but says ty={declared}", where=f"pc.{wrapper}.ty"
            )
        if ty is None:
            known = _known(ResourceType, declared)
            ty = known if isinstance(known, ResourceType) else None
    return ty, dict(body)


@dataclass(frozen=True)
class NotificationEvent:
    """``nev`` of a notification: the representation ``rep`` and the event type ``net``."""

    rep: Any = None
    net: int | None = None
    om: Any = None

    @property
    def resource(self) -> tuple[ResourceType | None, dict[str, Any]] | None:
        """:func:`parse_resource` of ``rep`` if it is a resource representation; None otherwise."""
        if isinstance(self.rep, Mapping) and len(self.rep) == 1:
            (key,) = self.rep
            if key != DEBUG_WRAPPER and isinstance(self.rep[key], Mapping):
                return parse_resource(self.rep)
        return None


@dataclass(frozen=True)
class Notification:
    """A notification (m2m:notification, TS-0004 §6.3.5.13 / §7.5.1).

    ``vrq`` marks the CSE's verification request when a subscription is created
    (answer it with 2000); ``sud`` the notice that a subscription was deleted.
    """

    sur: str | None = None
    nev: NotificationEvent | None = None
    vrq: bool = False
    sud: bool = False
    cr: str | None = None
    nfu: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _known(enum_type: type[enum.IntEnum], value: int) -> int:
    """The enum member for ``value`` if there is one, else ``value`` (peers may be newer)."""
    try:
        return enum_type(value)
    except ValueError:
        return value


def _opt_str(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise OneM2MProtocolError(f"must be a string, got {value!r:.40}", where=f"{where}.{key}")
    return value


def _opt_bool(body: Mapping[str, Any], key: str, where: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise OneM2MProtocolError(f"must be a boolean, got {value!r:.40}", where=f"{where}.{key}")
    return value


def _notification(body: Any, where: str) -> Notification:
    if not isinstance(body, Mapping):
        raise OneM2MProtocolError(f"a notification is an object, got {type(body).__name__}", where=where)
    nev = None
    if body.get("nev") is not None:
        raw = body["nev"]
        if not isinstance(raw, Mapping):
            raise OneM2MProtocolError(f"must be an object, got {type(raw).__name__}", where=f"{where}.nev")
        net = raw.get("net")
        if net is not None and (isinstance(net, bool) or not isinstance(net, int)):
            raise OneM2MProtocolError(f"must be an integer, got {net!r:.40}", where=f"{where}.nev.net")
        if net is not None:
            net = _known(NotificationEventType, net)
        nev = NotificationEvent(rep=raw.get("rep"), net=net, om=raw.get("om"))
    known = {"sur", "nev", "vrq", "sud", "cr", "nfu"}
    return Notification(
        sur=_opt_str(body, "sur", where),
        nev=nev,
        vrq=_opt_bool(body, "vrq", where),
        sud=_opt_bool(body, "sud", where),
        cr=_opt_str(body, "cr", where),
        nfu=_opt_str(body, "nfu", where),
        extra={k: v for k, v in body.items() if k not in known},
    )


def parse_notification(pc: Mapping[str, Any]) -> Notification:
    """The notification in the Content of a NOTIFY, ``{"m2m:sgn": {...}}``."""
    wrapper, body = _single(pc, "notification")
    if wrapper not in (NOTIFICATION_WRAPPER, "m2m:notification"):
        raise OneM2MProtocolError(f"expected m2m:sgn, got {wrapper}", where="pc")
    return _notification(body, f"pc.{wrapper}")


def parse_notifications(pc: Mapping[str, Any]) -> list[Notification]:
    """Every notification in a NOTIFY: one ``m2m:sgn``, or a batch ``m2m:agn`` (TS-0004 §6.3.5.12)."""
    wrapper, body = _single(pc, "notification")
    if wrapper in (NOTIFICATION_WRAPPER, "m2m:notification"):
        return [_notification(body, f"pc.{wrapper}")]
    if wrapper not in (AGGREGATED_NOTIFICATION_WRAPPER, "m2m:aggregatedNotification"):
        raise OneM2MProtocolError(f"expected m2m:sgn or m2m:agn, got {wrapper}", where="pc")
    where = f"pc.{wrapper}"
    items = body.get(NOTIFICATION_WRAPPER) if isinstance(body, Mapping) else body
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        raise OneM2MProtocolError("must hold a list of m2m:sgn", where=where)
    return [_notification(item, f"{where}[{i}]") for i, item in enumerate(items)]


def parse_uri_list(pc: Mapping[str, Any]) -> list[str]:
    """The resource IDs of a discovery result ``{"m2m:uril": [...]}`` (rcn 11 / drt)."""
    wrapper, body = _single(pc, "discovery result")
    if wrapper not in (URI_LIST_WRAPPER, "m2m:URIList"):
        raise OneM2MProtocolError(f"expected m2m:uril, got {wrapper}", where="pc")
    items = body.split() if isinstance(body, str) else body  # XML-style space-separated list
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise OneM2MProtocolError("must be a list of strings", where=f"pc.{wrapper}")
    return list(items)


@dataclass(frozen=True)
class ResourceRef:
    """One child resource reference (m2m:childResourceRef, TS-0004 §6.3.5.29)."""

    nm: str
    typ: int
    val: str


def parse_resource_refs(pc: Mapping[str, Any]) -> list[ResourceRef]:
    """The references of ``{"m2m:rrl": {"rrf": [{nm, typ, val}, ...]}}`` (rcn 6 / 11)."""
    wrapper, body = _single(pc, "resource references")
    where = f"pc.{wrapper}"
    if wrapper not in (RESOURCE_REF_LIST_WRAPPER, "m2m:resourceRefList"):
        raise OneM2MProtocolError(f"expected m2m:rrl, got {wrapper}", where="pc")
    refs = body.get("rrf", []) if isinstance(body, Mapping) else None
    if not isinstance(refs, list):
        raise OneM2MProtocolError("must hold a list rrf", where=where)
    result = []
    for index, ref in enumerate(refs):
        at = f"{where}.rrf[{index}]"
        if not isinstance(ref, Mapping):
            raise OneM2MProtocolError("must be an object {nm, typ, val}", where=at)
        nm, typ, val = ref.get("nm"), ref.get("typ"), ref.get("val")
        if not isinstance(nm, str) or not isinstance(val, str) or isinstance(typ, bool) or not isinstance(typ, int):
            raise OneM2MProtocolError(
                f"needs nm (text), typ (integer) and val (text), got {dict(ref)!r:.120}", where=at
            )
        result.append(ResourceRef(nm=nm, typ=_known(ResourceType, typ), val=val))
    return result


def parse_debug(pc: Mapping[str, Any] | None) -> str | None:
    """The peer's ``m2m:dbg`` text, if ``pc`` is one; None otherwise."""
    if isinstance(pc, Mapping) and len(pc) == 1 and isinstance(pc.get(DEBUG_WRAPPER), str):
        return str(pc[DEBUG_WRAPPER])
    return None
