"""oneM2M request and response primitives as plain data (sans-IO).

A binding (HTTP TS-0009, WebSocket TS-0020, CoAP TS-0008) turns bytes into a
:class:`RequestPrimitive` or :class:`ResponsePrimitive` and back; nothing here
opens a socket, reads a clock or a random source except :func:`make_rqi`, whose
randomness the caller can replace.

What lives here:

* the enumerations of TS-0004 §6.3.4.2 the primitives use (:class:`Operation`,
  :class:`ResourceType`, :class:`Rcn`, :class:`ResponseType`, ...),
* :class:`ResponseStatusCode`, the full TS-0004 §6.6.3 table, with its HTTP status
  (TS-0009 §6.3.2, Table 6.3.2-1) and CoAP response code (TS-0008 §6.2.4,
  Table 6.2.4-1) as tables, not if-ladders,
* the primitives themselves (TS-0004 §7.2.1, short names of §8.2.2) and the
  complex parameters they carry (:class:`FilterCriteria`, :class:`ResponseTypeInfo`),
* release-version negotiation (:func:`negotiate`),
* the oneM2M error hierarchy: :class:`OneM2MError` (a peer answered with an error
  RSC), :class:`OneM2MProtocolError` (a peer sent garbage, h11's
  ``RemoteProtocolError``) and :class:`OneM2MUsageError` (the caller misused the
  API, h11's ``LocalProtocolError``).
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
import re
from base64 import urlsafe_b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from m2mclient.errors import M2MError

# ---------------------------------------------------------------------------
# Enumerations (TS-0004 §6.3.4.2)
# ---------------------------------------------------------------------------


class Operation(enum.IntEnum):
    """The Operation parameter ``op`` (TS-0004 §6.3.4.2.5)."""

    CREATE = 1
    RETRIEVE = 2
    UPDATE = 3
    DELETE = 4
    NOTIFY = 5


class ResourceType(enum.IntEnum):
    """The ``ty`` values of m2m:resourceType (TS-0004 §6.3.4.2.1) an AE meets.

    Announced variants are the original type + 10000 (TS-0004 §6.3.4.2.1).
    A ``ty`` a peer sends that is not listed stays a plain ``int``.
    """

    MIXED = 0  # group memberType only
    ACCESS_CONTROL_POLICY = 1
    AE = 2
    CONTAINER = 3
    CONTENT_INSTANCE = 4
    CSE_BASE = 5
    DELIVERY = 6
    EVENT_CONFIG = 7
    EXEC_INSTANCE = 8
    GROUP = 9
    LOCATION_POLICY = 10
    M2M_SERVICE_SUBSCRIPTION_PROFILE = 11
    MGMT_CMD = 12
    MGMT_OBJ = 13
    NODE = 14
    POLLING_CHANNEL = 15
    REMOTE_CSE = 16
    REQUEST = 17
    SCHEDULE = 18
    SERVICE_SUBSCRIBED_APP_RULE = 19
    SERVICE_SUBSCRIBED_NODE = 20
    STATS_COLLECT = 21
    STATS_CONFIG = 22
    SUBSCRIPTION = 23
    SEMANTIC_DESCRIPTOR = 24
    NOTIFICATION_TARGET_MGMT_POLICY_REF = 25
    NOTIFICATION_TARGET_POLICY = 26
    POLICY_DELETION_RULES = 27
    FLEX_CONTAINER = 28
    TIME_SERIES = 29
    TIME_SERIES_INSTANCE = 30
    ROLE = 31
    TOKEN = 32
    CROSS_RESOURCE_SUBSCRIPTION = 48
    FLEX_CONTAINER_INSTANCE = 58
    ACCESS_CONTROL_POLICY_ANNC = 10001
    AE_ANNC = 10002
    CONTAINER_ANNC = 10003
    CONTENT_INSTANCE_ANNC = 10004
    GROUP_ANNC = 10009
    REMOTE_CSE_ANNC = 10016
    FLEX_CONTAINER_ANNC = 10028
    TIME_SERIES_ANNC = 10029
    TIME_SERIES_INSTANCE_ANNC = 10030

    # The short names of TS-0004 §8.2.4 (and ACME) as aliases.
    ACP = 1
    CNT = 3
    CIN = 4
    CB = 5
    GRP = 9
    NOD = 14
    PCH = 15
    CSR = 16
    REQ = 17
    SUB = 23
    FCNT = 28
    TS = 29
    TSI = 30


class Rcn(enum.IntEnum):
    """The Result Content parameter ``rcn`` (TS-0004 §6.3.4.2.7)."""

    NOTHING = 0
    ATTRIBUTES = 1
    HIERARCHICAL_ADDRESS = 2
    HIERARCHICAL_ADDRESS_AND_ATTRIBUTES = 3
    ATTRIBUTES_AND_CHILD_RESOURCES = 4
    ATTRIBUTES_AND_CHILD_RESOURCE_REFERENCES = 5
    CHILD_RESOURCE_REFERENCES = 6
    ORIGINAL_RESOURCE = 7
    CHILD_RESOURCES = 8
    MODIFIED_ATTRIBUTES = 9
    SEMANTIC_CONTENT = 10
    DISCOVERY_RESULT_REFERENCES = 11


class DiscoveryResultType(enum.IntEnum):
    """The Discovery Result Type ``drt`` (m2m:desIdResType, TS-0004 §6.3.4.2.8)."""

    STRUCTURED = 1
    UNSTRUCTURED = 2


class ResponseType(enum.IntEnum):
    """The ``rtv`` element of Response Type ``rt`` (TS-0004 §6.3.4.2.6)."""

    NON_BLOCKING_REQUEST_SYNCH = 1
    NON_BLOCKING_REQUEST_ASYNCH = 2
    BLOCKING_REQUEST = 3
    FLEX_BLOCKING = 4
    NO_RESPONSE = 5


class FilterUsage(enum.IntEnum):
    """``fu`` of the filter criteria (TS-0004 §6.3.4.2.31)."""

    DISCOVERY = 1
    CONDITIONAL_RETRIEVAL = 2
    IPE_ON_DEMAND_DISCOVERY = 3


class FilterOperation(enum.IntEnum):
    """``fo`` of the filter criteria (TS-0004 §6.3.4.2.34)."""

    AND = 1
    OR = 2
    XOR = 3


class EventCategory(enum.IntEnum):
    """Standard values of the Event Category ``ec`` (m2m:stdEventCats, TS-0004 §6.3.4.2.4)."""

    IMMEDIATE = 2
    BEST_EFFORT = 3
    LATEST = 4


class ContentStatus(enum.IntEnum):
    """The Content Status ``cnst`` of a response (m2m:contentStatus, TS-0004 §6.3.4.2.44)."""

    PARTIAL_CONTENT = 1
    FULL_CONTENT = 2


# ---------------------------------------------------------------------------
# Response Status Codes (TS-0004 §6.6.3) and their HTTP / CoAP mappings
# ---------------------------------------------------------------------------


class ResponseStatusCode(enum.IntEnum):
    """Every Response Status Code of TS-0004 §6.6.3 (Tables 6.6.3.2-1 to 6.6.3.7-1).

    Where TS-0004 renamed a code between releases the older name is an alias
    (``ResponseStatusCode.ORIGINATOR_NOT_AUTHENTICATED is ORIGINATOR_HAS_NOT_REGISTERED``),
    so names from any spec version, ACME or the TS-0009 table resolve.
    """

    # Informational (TS-0004 §6.6.3.2)
    ACCEPTED = 1000
    ACCEPTED_NON_BLOCKING_SYNC = 1001
    ACCEPTED_NON_BLOCKING_ASYNC = 1002
    # Successful (TS-0004 §6.6.3.3)
    OK = 2000
    CREATED = 2001
    DELETED = 2002
    UPDATED = 2004
    # Originator error (TS-0004 §6.6.3.5)
    BAD_REQUEST = 4000
    RELEASE_VERSION_NOT_SUPPORTED = 4001
    NOT_FOUND = 4004
    OPERATION_NOT_ALLOWED = 4005
    REQUEST_TIMEOUT = 4008
    UNSUPPORTED_MEDIA_TYPE = 4015
    SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE = 4101
    CONTENTS_UNACCEPTABLE = 4102
    ORIGINATOR_HAS_NO_PRIVILEGE = 4103
    GROUP_REQUEST_IDENTIFIER_EXISTS = 4104
    CONFLICT = 4105
    ORIGINATOR_HAS_NOT_REGISTERED = 4106
    SECURITY_ASSOCIATION_REQUIRED = 4107
    INVALID_CHILD_RESOURCE_TYPE = 4108
    NO_MEMBERS = 4109
    GROUP_MEMBER_TYPE_INCONSISTENT = 4110
    ESPRIM_UNSUPPORTED_OPTION = 4111
    ESPRIM_UNKNOWN_KEY_ID = 4112
    ESPRIM_UNKNOWN_ORIG_RAND_ID = 4113
    ESPRIM_UNKNOWN_RECV_RAND_ID = 4114
    ESPRIM_BAD_MAC = 4115
    ESPRIM_IMPERSONATION_ERROR = 4116
    ORIGINATOR_HAS_ALREADY_REGISTERED = 4117
    ONTOLOGY_NOT_AVAILABLE = 4118
    LINKED_SEMANTICS_NOT_AVAILABLE = 4119
    INVALID_SEMANTICS = 4120
    MASHUP_MEMBER_NOT_FOUND = 4121
    INVALID_TRIGGER_PURPOSE = 4122
    ILLEGAL_TRANSACTION_STATE_TRANSITION_ATTEMPTED = 4123
    BLOCKING_SUBSCRIPTION_ALREADY_EXISTS = 4124
    SPECIALIZATION_SCHEMA_NOT_FOUND = 4125
    APP_RULE_VALIDATION_FAILED = 4126
    OPERATION_DENIED_BY_REMOTE_ENTITY = 4127
    SERVICE_SUBSCRIPTION_NOT_ESTABLISHED = 4128
    ONTOLOGY_MAPPING_ALGORITHM_NOT_AVAILABLE = 4130
    ONTOLOGY_MAPPING_POLICY_NOT_MATCHED = 4131
    ONTOLOGY_MAPPING_NOT_AVAILABLE = 4132
    BAD_FACT_INPUTS_FOR_REASONING = 4133
    BAD_RULE_INPUTS_FOR_REASONING = 4134
    DISCOVERY_LIMIT_EXCEEDED = 4135
    PRIMITIVE_PROFILE_NOT_ACCESSIBLE = 4136
    PRIMITIVE_PROFILE_BAD_REQUEST = 4137
    UNAUTHORIZED_USER = 4138
    SERVICE_SUBSCRIPTION_NOT_ACTIVE = 4139
    SOFTWARE_CAMPAIGN_CONFLICT = 4140
    INVALID_SPARQL_QUERY = 4143
    # Receiver error (TS-0004 §6.6.3.6)
    INTERNAL_SERVER_ERROR = 5000
    NOT_IMPLEMENTED = 5001
    TARGET_NOT_REACHABLE = 5103
    RECEIVER_HAS_NO_PRIVILEGE = 5105
    ALREADY_EXISTS = 5106
    REMOTE_ENTITY_NOT_REACHABLE = 5107
    TARGET_NOT_SUBSCRIBABLE = 5203
    SUBSCRIPTION_VERIFICATION_INITIATION_FAILED = 5204
    SUBSCRIPTION_HOST_HAS_NO_PRIVILEGE = 5205
    NON_BLOCKING_REQUEST_NOT_SUPPORTED = 5206
    NOT_ACCEPTABLE = 5207
    DISCOVERY_DENIED_BY_IPE = 5208
    GROUP_MEMBERS_NOT_RESPONDED = 5209
    ESPRIM_DECRYPTION_ERROR = 5210
    ESPRIM_ENCRYPTION_ERROR = 5211
    SPARQL_UPDATE_ERROR = 5212
    TARGET_HAS_NO_SESSION_CAPABILITY = 5214
    SESSION_IS_ONLINE = 5215
    JOIN_MULTICAST_GROUP_FAILED = 5216
    LEAVE_MULTICAST_GROUP_FAILED = 5217
    TRIGGERING_DISABLED_FOR_RECIPIENT = 5218
    UNABLE_TO_REPLACE_REQUEST = 5219
    UNABLE_TO_RECALL_REQUEST = 5220
    CROSS_RESOURCE_OPERATION_FAILURE = 5221
    TRANSACTION_PROCESSING_IS_INCOMPLETE = 5222
    ONTOLOGY_MAPPING_ALGORITHM_FAILED = 5230
    ONTOLOGY_CONVERSION_FAILED = 5231
    REASONING_PROCESSING_FAILED = 5232
    # Network system error (TS-0004 §6.6.3.7)
    EXTERNAL_OBJECT_NOT_REACHABLE = 6003
    EXTERNAL_OBJECT_NOT_FOUND = 6005
    MAX_NUMBER_OF_MEMBER_EXCEEDED = 6010
    MGMT_SESSION_CANNOT_BE_ESTABLISHED = 6020
    MGMT_SESSION_ESTABLISHMENT_TIMEOUT = 6021
    INVALID_CMDTYPE = 6022
    INVALID_ARGUMENTS = 6023
    INSUFFICIENT_ARGUMENTS = 6024
    MGMT_CONVERSION_ERROR = 6025
    MGMT_CANCELLATION_FAILED = 6026
    ALREADY_COMPLETE = 6028
    MGMT_COMMAND_NOT_CANCELLABLE = 6029
    EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_RQET_TIMEOUT = 6030
    EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_OET_TIMEOUT = 6031
    NETWORK_QOS_CONFIG_ERROR = 6033
    REQUESTED_ACTIVITY_PATTERN_NOT_PERMITTED = 6034

    # Names other spec versions, TS-0009/TS-0008 tables and ACME use for the same codes.
    ACCEPTED_NON_BLOCKING_REQUEST_SYNCH = 1001
    ACCEPTED_NON_BLOCKING_REQUEST_ASYNCH = 1002
    ORIGINATOR_NOT_AUTHENTICATED = 4106
    NON_BLOCKING_SYNCH_REQUEST_NOT_SUPPORTED = 5206
    SUBSCRIPTION_CREATER_HAS_NO_PRIVILEGE = 4101  # sic, ACME's spelling
    RECEIVER_HAS_NO_PRIVILEGES = 5105  # ACME's spelling

    @property
    def is_success(self) -> bool:
        """True for the informational (1xxx) and successful (2xxx) classes (TS-0004 §6.6.2)."""
        return is_success(self)

    @property
    def http_status(self) -> int:
        """The HTTP status code of TS-0009 Table 6.3.2-1."""
        return rsc_to_http(self)

    @classmethod
    def lookup(cls, value: int) -> ResponseStatusCode | int:
        """The member for ``value``, or ``value`` itself if TS-0004 defines no such code."""
        try:
            return cls(value)
        except ValueError:
            return value


def rsc_name(rsc: int) -> str:
    """The TS-0004 name of ``rsc`` (``"NOT_FOUND"``), or ``"RSC_<n>"`` for an unknown code."""
    member = ResponseStatusCode.lookup(rsc)
    return member.name if isinstance(member, ResponseStatusCode) else f"RSC_{rsc}"


def is_success(rsc: int) -> bool:
    """True if ``rsc`` is informational (1xxx) or successful (2xxx) (TS-0004 §6.6.2)."""
    return 1000 <= rsc < 3000


_RSC = ResponseStatusCode

# TS-0009 §6.3.2, Table 6.3.2-1 (V4.4.1). Grouped by HTTP status as the spec does.
# NOTE: the PDF-to-markdown copy in shared/specs misplaces the status cells of the
# later rows by one or two lines (it shows e.g. "6034 ... 404", "6028 ... 415",
# "4015 ... 500", "5001 ... 504"); the groups below are the spec's own, confirmed
# by the row order of that copy, by the earlier V3 table and by the code names
# (4015 UNSUPPORTED_MEDIA_TYPE is 415, 5001 NOT_IMPLEMENTED is 501). The test
# suite parses that copy and checks the grouping against it.
_HTTP_GROUPS: tuple[tuple[int, tuple[ResponseStatusCode, ...]], ...] = (
    (200, (_RSC.OK, _RSC.DELETED, _RSC.UPDATED)),
    (201, (_RSC.CREATED,)),
    (202, (_RSC.ACCEPTED, _RSC.ACCEPTED_NON_BLOCKING_SYNC, _RSC.ACCEPTED_NON_BLOCKING_ASYNC)),
    (
        400,
        (
            _RSC.BAD_REQUEST,
            _RSC.CONTENTS_UNACCEPTABLE,
            _RSC.GROUP_MEMBER_TYPE_INCONSISTENT,
            _RSC.INVALID_SEMANTICS,
            _RSC.INVALID_TRIGGER_PURPOSE,
            _RSC.ILLEGAL_TRANSACTION_STATE_TRANSITION_ATTEMPTED,
            _RSC.ONTOLOGY_MAPPING_POLICY_NOT_MATCHED,
            _RSC.BAD_FACT_INPUTS_FOR_REASONING,
            _RSC.BAD_RULE_INPUTS_FOR_REASONING,
            _RSC.PRIMITIVE_PROFILE_BAD_REQUEST,
            _RSC.INVALID_SPARQL_QUERY,
            _RSC.MAX_NUMBER_OF_MEMBER_EXCEEDED,
            _RSC.INVALID_CMDTYPE,
            _RSC.INVALID_ARGUMENTS,
            _RSC.INSUFFICIENT_ARGUMENTS,
        ),
    ),
    (
        403,
        (
            _RSC.SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE,
            _RSC.ORIGINATOR_HAS_NO_PRIVILEGE,
            _RSC.RECEIVER_HAS_NO_PRIVILEGE,
            _RSC.TARGET_NOT_SUBSCRIBABLE,
            _RSC.SUBSCRIPTION_HOST_HAS_NO_PRIVILEGE,
            _RSC.ORIGINATOR_HAS_NOT_REGISTERED,
            _RSC.SECURITY_ASSOCIATION_REQUIRED,
            _RSC.INVALID_CHILD_RESOURCE_TYPE,
            _RSC.NO_MEMBERS,
            _RSC.ESPRIM_UNSUPPORTED_OPTION,
            _RSC.ESPRIM_UNKNOWN_KEY_ID,
            _RSC.ESPRIM_UNKNOWN_ORIG_RAND_ID,
            _RSC.ESPRIM_UNKNOWN_RECV_RAND_ID,
            _RSC.ESPRIM_BAD_MAC,
            _RSC.ESPRIM_IMPERSONATION_ERROR,
            _RSC.ORIGINATOR_HAS_ALREADY_REGISTERED,
            _RSC.APP_RULE_VALIDATION_FAILED,
            _RSC.OPERATION_DENIED_BY_REMOTE_ENTITY,
            _RSC.SERVICE_SUBSCRIPTION_NOT_ESTABLISHED,
            _RSC.DISCOVERY_LIMIT_EXCEEDED,
            _RSC.PRIMITIVE_PROFILE_NOT_ACCESSIBLE,
            _RSC.UNAUTHORIZED_USER,
            _RSC.SERVICE_SUBSCRIPTION_NOT_ACTIVE,
            _RSC.DISCOVERY_DENIED_BY_IPE,
            _RSC.TARGET_HAS_NO_SESSION_CAPABILITY,
            _RSC.SESSION_IS_ONLINE,
            _RSC.TRIGGERING_DISABLED_FOR_RECIPIENT,
            _RSC.TRANSACTION_PROCESSING_IS_INCOMPLETE,
            _RSC.REQUESTED_ACTIVITY_PATTERN_NOT_PERMITTED,
        ),
    ),
    (
        404,
        (
            _RSC.NOT_FOUND,
            _RSC.ONTOLOGY_NOT_AVAILABLE,
            _RSC.LINKED_SEMANTICS_NOT_AVAILABLE,
            _RSC.MASHUP_MEMBER_NOT_FOUND,
            _RSC.ONTOLOGY_MAPPING_ALGORITHM_NOT_AVAILABLE,
            _RSC.ONTOLOGY_MAPPING_NOT_AVAILABLE,
            _RSC.TARGET_NOT_REACHABLE,
            _RSC.REMOTE_ENTITY_NOT_REACHABLE,
            _RSC.EXTERNAL_OBJECT_NOT_REACHABLE,
            _RSC.EXTERNAL_OBJECT_NOT_FOUND,
        ),
    ),
    (405, (_RSC.OPERATION_NOT_ALLOWED,)),
    (406, (_RSC.NOT_ACCEPTABLE,)),
    (
        409,
        (
            _RSC.GROUP_REQUEST_IDENTIFIER_EXISTS,
            _RSC.CONFLICT,
            _RSC.BLOCKING_SUBSCRIPTION_ALREADY_EXISTS,
            _RSC.SOFTWARE_CAMPAIGN_CONFLICT,
            _RSC.ALREADY_EXISTS,
            _RSC.UNABLE_TO_REPLACE_REQUEST,
            _RSC.UNABLE_TO_RECALL_REQUEST,
            _RSC.ALREADY_COMPLETE,
            _RSC.MGMT_COMMAND_NOT_CANCELLABLE,
        ),
    ),
    (415, (_RSC.UNSUPPORTED_MEDIA_TYPE,)),
    (
        500,
        (
            _RSC.INTERNAL_SERVER_ERROR,
            _RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
            _RSC.GROUP_MEMBERS_NOT_RESPONDED,
            _RSC.ESPRIM_DECRYPTION_ERROR,
            _RSC.ESPRIM_ENCRYPTION_ERROR,
            _RSC.SPARQL_UPDATE_ERROR,
            _RSC.JOIN_MULTICAST_GROUP_FAILED,
            _RSC.LEAVE_MULTICAST_GROUP_FAILED,
            _RSC.CROSS_RESOURCE_OPERATION_FAILURE,
            _RSC.ONTOLOGY_MAPPING_ALGORITHM_FAILED,
            _RSC.ONTOLOGY_CONVERSION_FAILED,
            _RSC.REASONING_PROCESSING_FAILED,
            _RSC.MGMT_SESSION_CANNOT_BE_ESTABLISHED,
            _RSC.MGMT_SESSION_ESTABLISHMENT_TIMEOUT,
            _RSC.MGMT_CONVERSION_ERROR,
            _RSC.MGMT_CANCELLATION_FAILED,
            _RSC.NETWORK_QOS_CONFIG_ERROR,
        ),
    ),
    (
        501,
        (
            _RSC.RELEASE_VERSION_NOT_SUPPORTED,
            _RSC.SPECIALIZATION_SCHEMA_NOT_FOUND,
            _RSC.NOT_IMPLEMENTED,
            _RSC.NON_BLOCKING_REQUEST_NOT_SUPPORTED,
        ),
    ),
    (
        504,
        (
            _RSC.REQUEST_TIMEOUT,
            _RSC.EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_RQET_TIMEOUT,
            _RSC.EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_OET_TIMEOUT,
        ),
    ),
)

#: RSC -> HTTP status (TS-0009 Table 6.3.2-1), one entry per code TS-0004 defines.
RSC_TO_HTTP: Mapping[ResponseStatusCode, int] = {rsc: status for status, codes in _HTTP_GROUPS for rsc in codes}

#: The RSC to assume for an HTTP status when X-M2M-RSC is missing (TS-0009 §6.4.17
#: makes the header mandatory; this only rescues non-conformant peers): the most
#: common code of each TS-0009 group.
HTTP_TO_RSC: Mapping[int, ResponseStatusCode] = {
    200: _RSC.OK,
    201: _RSC.CREATED,
    202: _RSC.ACCEPTED,
    400: _RSC.BAD_REQUEST,
    403: _RSC.ORIGINATOR_HAS_NO_PRIVILEGE,
    404: _RSC.NOT_FOUND,
    405: _RSC.OPERATION_NOT_ALLOWED,
    406: _RSC.NOT_ACCEPTABLE,
    409: _RSC.CONFLICT,
    415: _RSC.UNSUPPORTED_MEDIA_TYPE,
    500: _RSC.INTERNAL_SERVER_ERROR,
    501: _RSC.NOT_IMPLEMENTED,
    504: _RSC.REQUEST_TIMEOUT,
}

# HTTP status for an RSC TS-0004 does not (yet) define, by its class (TS-0004 §6.6.2).
_HTTP_BY_CLASS = {1: 202, 2: 200, 3: 400, 4: 400, 5: 500, 6: 500}


def rsc_to_http(rsc: int) -> int:
    """HTTP status for ``rsc`` (TS-0009 Table 6.3.2-1); unknown codes map by their class."""
    member = ResponseStatusCode.lookup(rsc)
    if isinstance(member, ResponseStatusCode):
        return RSC_TO_HTTP[member]
    return _HTTP_BY_CLASS.get(rsc // 1000, 500)


def http_to_rsc(status: int) -> ResponseStatusCode:
    """The RSC to assume for an HTTP response that lacks X-M2M-RSC (see :data:`HTTP_TO_RSC`).

    Always prefer the header: ACME, for one, sends 5106 ALREADY_EXISTS as HTTP 403.
    """
    if status in HTTP_TO_RSC:
        return HTTP_TO_RSC[status]
    if 200 <= status < 300:
        return _RSC.OK
    if 400 <= status < 500:
        return _RSC.BAD_REQUEST
    return _RSC.INTERNAL_SERVER_ERROR


def coap_code(code_class: int, detail: int) -> int:
    """The RFC 7252 §3 code byte for ``c.dd`` (``coap_code(2, 5)`` is 2.05 = 69, aiocoap's ``Code``)."""
    return (code_class << 5) | detail


# TS-0008 §6.2.4, Table 6.2.4-1. 1000 ACCEPTED is "not used" over CoAP; 2000 depends
# on the operation (see rsc_to_coap). Codes TS-0004 added after that table are
# marked "derived": they take the CoAP code of their TS-0009 HTTP group
# (403 -> 4.03, 404 -> 4.04, 400 -> 4.00, 500 -> 5.00).
_C = coap_code
RSC_TO_COAP: Mapping[ResponseStatusCode, int] = {
    _RSC.ACCEPTED_NON_BLOCKING_SYNC: _C(2, 1),
    _RSC.ACCEPTED_NON_BLOCKING_ASYNC: _C(2, 1),  # 2.04 when no <request> resource was created
    _RSC.OK: _C(2, 5),
    _RSC.CREATED: _C(2, 1),
    _RSC.DELETED: _C(2, 2),
    _RSC.UPDATED: _C(2, 4),
    _RSC.BAD_REQUEST: _C(4, 0),
    _RSC.RELEASE_VERSION_NOT_SUPPORTED: _C(5, 1),
    _RSC.NOT_FOUND: _C(4, 4),
    _RSC.OPERATION_NOT_ALLOWED: _C(4, 5),
    _RSC.REQUEST_TIMEOUT: _C(5, 4),
    _RSC.UNSUPPORTED_MEDIA_TYPE: _C(4, 15),
    _RSC.SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE: _C(4, 3),
    _RSC.CONTENTS_UNACCEPTABLE: _C(4, 0),
    _RSC.ORIGINATOR_HAS_NO_PRIVILEGE: _C(4, 3),
    _RSC.GROUP_REQUEST_IDENTIFIER_EXISTS: _C(4, 0),
    _RSC.CONFLICT: _C(4, 3),
    _RSC.ORIGINATOR_HAS_NOT_REGISTERED: _C(4, 3),
    _RSC.SECURITY_ASSOCIATION_REQUIRED: _C(4, 3),
    _RSC.INVALID_CHILD_RESOURCE_TYPE: _C(4, 3),
    _RSC.NO_MEMBERS: _C(4, 3),
    _RSC.GROUP_MEMBER_TYPE_INCONSISTENT: _C(4, 0),
    _RSC.ESPRIM_UNSUPPORTED_OPTION: _C(4, 3),
    _RSC.ESPRIM_UNKNOWN_KEY_ID: _C(4, 3),
    _RSC.ESPRIM_UNKNOWN_ORIG_RAND_ID: _C(4, 3),
    _RSC.ESPRIM_UNKNOWN_RECV_RAND_ID: _C(4, 3),
    _RSC.ESPRIM_BAD_MAC: _C(4, 3),
    _RSC.ESPRIM_IMPERSONATION_ERROR: _C(4, 3),
    _RSC.ORIGINATOR_HAS_ALREADY_REGISTERED: _C(4, 3),
    _RSC.ONTOLOGY_NOT_AVAILABLE: _C(4, 4),
    _RSC.LINKED_SEMANTICS_NOT_AVAILABLE: _C(4, 4),
    _RSC.INVALID_SEMANTICS: _C(4, 2),
    _RSC.MASHUP_MEMBER_NOT_FOUND: _C(4, 4),
    _RSC.INVALID_TRIGGER_PURPOSE: _C(4, 2),
    _RSC.ILLEGAL_TRANSACTION_STATE_TRANSITION_ATTEMPTED: _C(4, 0),
    _RSC.BLOCKING_SUBSCRIPTION_ALREADY_EXISTS: _C(4, 0),
    _RSC.SPECIALIZATION_SCHEMA_NOT_FOUND: _C(5, 1),
    _RSC.APP_RULE_VALIDATION_FAILED: _C(4, 3),
    _RSC.OPERATION_DENIED_BY_REMOTE_ENTITY: _C(4, 3),
    _RSC.SERVICE_SUBSCRIPTION_NOT_ESTABLISHED: _C(4, 3),  # derived
    _RSC.ONTOLOGY_MAPPING_ALGORITHM_NOT_AVAILABLE: _C(4, 4),  # derived
    _RSC.ONTOLOGY_MAPPING_POLICY_NOT_MATCHED: _C(4, 0),  # derived
    _RSC.ONTOLOGY_MAPPING_NOT_AVAILABLE: _C(4, 4),  # derived
    _RSC.BAD_FACT_INPUTS_FOR_REASONING: _C(4, 0),  # derived
    _RSC.BAD_RULE_INPUTS_FOR_REASONING: _C(4, 0),  # derived
    _RSC.DISCOVERY_LIMIT_EXCEEDED: _C(4, 3),  # derived
    _RSC.PRIMITIVE_PROFILE_NOT_ACCESSIBLE: _C(4, 3),  # derived
    _RSC.PRIMITIVE_PROFILE_BAD_REQUEST: _C(4, 0),  # derived
    _RSC.UNAUTHORIZED_USER: _C(4, 3),  # derived
    _RSC.SERVICE_SUBSCRIPTION_NOT_ACTIVE: _C(4, 3),  # derived
    _RSC.SOFTWARE_CAMPAIGN_CONFLICT: _C(4, 3),  # derived, as 4105 CONFLICT
    _RSC.INVALID_SPARQL_QUERY: _C(4, 0),
    _RSC.INTERNAL_SERVER_ERROR: _C(5, 0),
    _RSC.NOT_IMPLEMENTED: _C(5, 1),
    _RSC.TARGET_NOT_REACHABLE: _C(4, 4),
    _RSC.RECEIVER_HAS_NO_PRIVILEGE: _C(4, 3),
    _RSC.ALREADY_EXISTS: _C(4, 0),
    _RSC.REMOTE_ENTITY_NOT_REACHABLE: _C(4, 4),
    _RSC.TARGET_NOT_SUBSCRIBABLE: _C(4, 3),
    _RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED: _C(5, 0),
    _RSC.SUBSCRIPTION_HOST_HAS_NO_PRIVILEGE: _C(4, 3),
    _RSC.NON_BLOCKING_REQUEST_NOT_SUPPORTED: _C(5, 1),
    _RSC.NOT_ACCEPTABLE: _C(4, 6),
    _RSC.DISCOVERY_DENIED_BY_IPE: _C(4, 3),
    _RSC.GROUP_MEMBERS_NOT_RESPONDED: _C(5, 0),
    _RSC.ESPRIM_DECRYPTION_ERROR: _C(5, 0),
    _RSC.ESPRIM_ENCRYPTION_ERROR: _C(5, 0),
    _RSC.SPARQL_UPDATE_ERROR: _C(5, 0),
    _RSC.TARGET_HAS_NO_SESSION_CAPABILITY: _C(4, 3),
    _RSC.SESSION_IS_ONLINE: _C(4, 3),
    _RSC.JOIN_MULTICAST_GROUP_FAILED: _C(5, 0),
    _RSC.LEAVE_MULTICAST_GROUP_FAILED: _C(5, 0),
    _RSC.TRIGGERING_DISABLED_FOR_RECIPIENT: _C(4, 3),
    _RSC.UNABLE_TO_REPLACE_REQUEST: _C(4, 0),
    _RSC.UNABLE_TO_RECALL_REQUEST: _C(4, 0),
    _RSC.CROSS_RESOURCE_OPERATION_FAILURE: _C(5, 0),
    _RSC.TRANSACTION_PROCESSING_IS_INCOMPLETE: _C(4, 3),
    _RSC.ONTOLOGY_MAPPING_ALGORITHM_FAILED: _C(5, 0),  # derived
    _RSC.ONTOLOGY_CONVERSION_FAILED: _C(5, 0),  # derived
    _RSC.REASONING_PROCESSING_FAILED: _C(5, 0),  # derived
    _RSC.EXTERNAL_OBJECT_NOT_REACHABLE: _C(4, 4),
    _RSC.EXTERNAL_OBJECT_NOT_FOUND: _C(4, 4),
    _RSC.MAX_NUMBER_OF_MEMBER_EXCEEDED: _C(4, 0),
    _RSC.MGMT_SESSION_CANNOT_BE_ESTABLISHED: _C(5, 0),
    _RSC.MGMT_SESSION_ESTABLISHMENT_TIMEOUT: _C(5, 0),
    _RSC.INVALID_CMDTYPE: _C(4, 0),
    _RSC.INVALID_ARGUMENTS: _C(4, 0),
    _RSC.INSUFFICIENT_ARGUMENTS: _C(4, 0),
    _RSC.MGMT_CONVERSION_ERROR: _C(5, 0),
    _RSC.MGMT_CANCELLATION_FAILED: _C(5, 0),
    _RSC.ALREADY_COMPLETE: _C(4, 0),
    _RSC.MGMT_COMMAND_NOT_CANCELLABLE: _C(4, 0),
    _RSC.EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_RQET_TIMEOUT: _C(5, 4),
    _RSC.EXTERNAL_OBJECT_NOT_REACHABLE_BEFORE_OET_TIMEOUT: _C(5, 4),
    _RSC.NETWORK_QOS_CONFIG_ERROR: _C(5, 0),  # derived
    _RSC.REQUESTED_ACTIVITY_PATTERN_NOT_PERMITTED: _C(4, 3),  # derived
}

#: The RSC to assume for a CoAP response without the oneM2M-RSC option (TS-0008
#: §6.2.4 requires the option whenever the code is ambiguous).
COAP_TO_RSC: Mapping[int, ResponseStatusCode] = {
    _C(2, 1): _RSC.CREATED,
    _C(2, 2): _RSC.DELETED,
    _C(2, 4): _RSC.UPDATED,
    _C(2, 5): _RSC.OK,
    _C(4, 0): _RSC.BAD_REQUEST,
    _C(4, 2): _RSC.INVALID_SEMANTICS,
    _C(4, 3): _RSC.ORIGINATOR_HAS_NO_PRIVILEGE,
    _C(4, 4): _RSC.NOT_FOUND,
    _C(4, 5): _RSC.OPERATION_NOT_ALLOWED,
    _C(4, 6): _RSC.NOT_ACCEPTABLE,
    _C(4, 15): _RSC.UNSUPPORTED_MEDIA_TYPE,
    _C(5, 0): _RSC.INTERNAL_SERVER_ERROR,
    _C(5, 1): _RSC.NOT_IMPLEMENTED,
    _C(5, 4): _RSC.REQUEST_TIMEOUT,
}

_COAP_BY_CLASS = {1: _C(2, 1), 2: _C(2, 5), 3: _C(4, 0), 4: _C(4, 0), 5: _C(5, 0), 6: _C(5, 0)}


def rsc_to_coap(rsc: int, op: Operation | None = None, *, request_resource_created: bool = True) -> int | None:
    """CoAP response code byte for ``rsc`` (TS-0008 Table 6.2.4-1); None for 1000 ACCEPTED.

    2000 OK is 2.05 Content, except in answer to a NOTIFY where it is 2.04
    Changed with an empty payload. 1002 is 2.01 when the Receiver created a
    <request> resource, 2.04 otherwise (TS-0008 §6.3.2).
    """
    if rsc == _RSC.ACCEPTED:
        return None
    if rsc == _RSC.OK and op == Operation.NOTIFY:
        return _C(2, 4)
    if rsc == _RSC.ACCEPTED_NON_BLOCKING_ASYNC and not request_resource_created:
        return _C(2, 4)
    member = ResponseStatusCode.lookup(rsc)
    if isinstance(member, ResponseStatusCode):
        return RSC_TO_COAP[member]
    return _COAP_BY_CLASS.get(rsc // 1000, _C(5, 0))


def coap_to_rsc(code: int) -> ResponseStatusCode:
    """The RSC to assume for a CoAP response code without oneM2M-RSC (see :data:`COAP_TO_RSC`)."""
    if code in COAP_TO_RSC:
        return COAP_TO_RSC[code]
    code_class = code >> 5
    if code_class == 2:
        return _RSC.OK
    if code_class == 4:
        return _RSC.BAD_REQUEST
    return _RSC.INTERNAL_SERVER_ERROR


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

# What a person can do about an error RSC. ACME 2026.5.3 specifics come from
# shared/reference/acme-cse-peer-and-ae-sdks.md (§1.4, §1.5, §1.7).
_HINTS: Mapping[ResponseStatusCode, str] = {
    _RSC.BAD_REQUEST: (
        "the receiver found the request malformed; read its debug text. ACME also answers 4000 for a "
        "missing request identifier (rqi / X-M2M-RI), an <AE> without api, rr or srv, an invalid "
        "resourceName, and a subscription whose nct does not fit enc.net"
    ),
    _RSC.RELEASE_VERSION_NOT_SUPPORTED: (
        "send a release version (rvi) the CSE supports: read srv of the <CSEBase> and pick one with "
        "negotiate(); without rvi ACME assumes '1' and refuses (it supports 2a, 3, 4, 5)"
    ),
    _RSC.NOT_FOUND: (
        "no resource at the target: check the To path (structured 'cse-in/ae/cnt', SP-relative "
        "'/id-in/...', or a resource ID) and that the resource has not expired (et)"
    ),
    _RSC.OPERATION_NOT_ALLOWED: "this operation is not allowed on this resource (e.g. UPDATE of a <contentInstance>)",
    _RSC.REQUEST_TIMEOUT: (
        "the request expired (rqet) before it was processed, or a <pollingChannel> long poll ended "
        "with nothing queued; poll again"
    ),
    _RSC.UNSUPPORTED_MEDIA_TYPE: "send application/json or application/cbor (or the vnd.onem2m-res+ forms) content",
    _RSC.CONTENTS_UNACCEPTABLE: "an attribute value is invalid for the resource type; read the debug text",
    _RSC.ORIGINATOR_HAS_NO_PRIVILEGE: (
        "the originator has no access right for this operation (check acpi / the <accessControlPolicy>); on "
        "ACME's WebSocket binding a connection opened without X-M2M-Origin may only register an <AE>: "
        "reconnect with X-M2M-Origin set to the AE-ID"
    ),
    _RSC.CONFLICT: "a resource with this resourceName already exists under the parent; pick another rn or reuse it",
    _RSC.ORIGINATOR_HAS_NOT_REGISTERED: "register the <AE> first, or use the AE-ID the CSE assigned as From",
    _RSC.SECURITY_ASSOCIATION_REQUIRED: (
        "the CSE refuses this originator; ACME lets only originators starting with 'C' or 'S' register: "
        "use 'C' (the CSE assigns an AE-ID), 'C<name>' or 'S<name>'"
    ),
    _RSC.INVALID_CHILD_RESOURCE_TYPE: "this resource type cannot be created under that parent",
    _RSC.ORIGINATOR_HAS_ALREADY_REGISTERED: (
        "this originator is already registered: reuse the stored AE-ID (retrieve the <AE>) instead of "
        "registering again, or delete the old <AE> first"
    ),
    _RSC.INTERNAL_SERVER_ERROR: "the receiver failed internally; retry later and report its debug text",
    _RSC.NOT_IMPLEMENTED: "the receiver does not implement this operation or parameter (e.g. rqet, oet, rset)",
    _RSC.TARGET_NOT_REACHABLE: (
        "the target cannot be reached now (a remote CSE, or an AE with rr=false and no <pollingChannel>)"
    ),
    _RSC.ALREADY_EXISTS: "the resource already exists (ACME sends this code as HTTP 403, not 409)",
    _RSC.TARGET_NOT_SUBSCRIBABLE: "this resource type cannot be subscribed to",
    _RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED: (
        "the CSE's verification NOTIFY to the notificationURI failed: the receiver must be reachable from the "
        "CSE, accept any path (ACME posts to <poa>/<AE-ID> when nu is the AE-ID) and answer the verification "
        "request (vrq) with rsc 2000"
    ),
    _RSC.NON_BLOCKING_REQUEST_NOT_SUPPORTED: "the receiver does not support non-blocking requests (rt 1/2)",
    _RSC.NOT_ACCEPTABLE: "the receiver cannot produce any media type in Accept; accept application/json or cbor",
}


def rsc_hint(rsc: int) -> str | None:
    """What a person can do about an error ``rsc``, if we know; None otherwise."""
    member = ResponseStatusCode.lookup(rsc)
    return _HINTS.get(member) if isinstance(member, ResponseStatusCode) else None


class OneM2MError(M2MError):
    """A oneM2M operation failed with Response Status Code :attr:`rsc`.

    Raised as-is by :meth:`ResponsePrimitive.raise_for_status` when a peer
    answers with an error RSC; its subclasses say whose fault the failure is.

    Attributes:
        rsc: the code (a :class:`ResponseStatusCode` when TS-0004 defines it).
        name: its TS-0004 name, e.g. ``"NOT_FOUND"``.
        request: the request primitive that failed, if known.
        response: the response primitive that carried the error, if any.
        debug: the peer's human-readable ``m2m:dbg`` text, if any.
        hint: what a person can do about it.
    """

    # True when rsc is what a peer answered: the message leads with it and the
    # RSC's hint applies. The subclasses describe our own findings instead.
    _peer_answer = True

    def __init__(
        self,
        message: str | None = None,
        *,
        rsc: int = ResponseStatusCode.BAD_REQUEST,
        request: RequestPrimitive | None = None,
        response: ResponsePrimitive | None = None,
        debug: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.rsc: int = ResponseStatusCode.lookup(rsc)
        self.name = rsc_name(rsc)
        self.request = request
        self.response = response
        self.debug = debug
        self.hint = hint if hint is not None or not self._peer_answer else rsc_hint(rsc)
        self.reason = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        if self._peer_answer:
            text = f"{int(self.rsc)} {self.name}"
            if self.request is not None:
                text += f" for {self.request.op.name} {self.request.to}"
            if self.reason:
                text += f": {self.reason}"
        else:
            text = self.reason or self.name
        if self.debug:
            text += f" (peer says: {self.debug})"
        if self.hint:
            text += f"; hint: {self.hint}"
        return text


class OneM2MProtocolError(OneM2MError, ValueError):
    """A peer sent something that is not valid oneM2M (bad JSON/CBOR, a malformed primitive).

    :attr:`rsc` is the code a receiver should answer with (4000 BAD_REQUEST,
    4015 UNSUPPORTED_MEDIA_TYPE); :attr:`where` locates the problem (a byte or
    character offset, a parameter name such as ``"pc.m2m:sgn.sur"``).
    """

    _peer_answer = False

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        rsc: int = ResponseStatusCode.BAD_REQUEST,
        hint: str | None = None,
    ) -> None:
        self.where = where
        full = f"[{where}] {message}" if where else message
        super().__init__(full, rsc=rsc, hint=hint)


class OneM2MUsageError(OneM2MError, ValueError):
    """The caller used the API wrongly (an invalid argument or a primitive that cannot be sent).

    Nothing was sent; :attr:`rsc` is the code a CSE would most likely have
    answered (4000 BAD_REQUEST unless stated).
    """

    _peer_answer = False

    def __init__(self, message: str, *, rsc: int = ResponseStatusCode.BAD_REQUEST, hint: str | None = None) -> None:
        super().__init__(message, rsc=rsc, hint=hint)


# ---------------------------------------------------------------------------
# Release versions (TS-0004 §6.3.3 m2m:releaseVersion; rvi rule §7.3.1.1)
# ---------------------------------------------------------------------------


class ReleaseVersion(str, enum.Enum):
    """The release version indicator values (``rvi`` / ``srv``), oldest first."""

    R1 = "1"
    R2 = "2"
    R2A = "2a"
    R3 = "3"
    R4 = "4"
    R5 = "5"

    @property
    def rank(self) -> int:
        """Position in release order (R1 is 0)."""
        return _RELEASE_ORDER.index(self.value)

    def __str__(self) -> str:
        return self.value


_RELEASE_ORDER = tuple(v.value for v in ReleaseVersion)

#: Releases m2mclient speaks. It starts at 2a: ACME 2026.5.3 refuses rvi 1 and 2
#: with 4001, and TS-0004 §7.3.1.1 lets only Release 1 entities go without rvi.
SUPPORTED_RELEASES: tuple[str, ...] = ("2a", "3", "4", "5")


def negotiate(cse_supported: Sequence[str], ours: Sequence[str] = SUPPORTED_RELEASES) -> str:
    """The newest release both sides speak, for ``rvi`` of every request.

    ``cse_supported`` is the ``srv`` attribute of the <CSEBase> (releases the CSE
    does not know yet are ignored: they cannot be common). ``ours`` lists our
    releases; an unknown value there is a :class:`OneM2MUsageError`.

    Raises :class:`OneM2MError` with 4001 RELEASE_VERSION_NOT_SUPPORTED when
    there is no common release (the error the CSE would have sent).
    """
    if isinstance(ours, str) or isinstance(cse_supported, str):
        raise OneM2MUsageError("release lists must be sequences of strings like ['3', '4'], not a single string")
    for version in ours:
        if version not in _RELEASE_ORDER:
            raise OneM2MUsageError(f"unknown release version {version!r}; known: {', '.join(_RELEASE_ORDER)}")
    common = {v for v in cse_supported if isinstance(v, str)} & set(ours)
    if not common:
        hint = (
            "the <CSEBase> lists no supported release versions (srv); it is probably a Release 1 CSE"
            if not cse_supported
            else f"the CSE supports {list(cse_supported)} and we speak {list(ours)}"
        )
        raise OneM2MError(
            "no release version in common", rsc=ResponseStatusCode.RELEASE_VERSION_NOT_SUPPORTED, hint=hint
        )
    return max(common, key=_RELEASE_ORDER.index)


# ---------------------------------------------------------------------------
# Identifiers and timestamps
# ---------------------------------------------------------------------------

#: Random bytes in a generated request identifier: 48 bits (8 characters) keep
#: HTTP headers, CoAP options and WS frames short; a collision needs ~16 million
#: requests in flight at once.
RQI_RANDOM_BYTES = 6


def make_rqi(prefix: str = "", *, random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh Request Identifier (TS-0004 §7.3.1.1): ``prefix`` + 8 URL-safe characters.

    Pass ``random_bytes`` to make it deterministic in tests.
    """
    return prefix + urlsafe_b64encode(random_bytes(RQI_RANDOM_BYTES)).decode("ascii")


_TIMESTAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:,(\d{1,6}))?")


def format_timestamp(moment: _dt.datetime) -> str:
    """An m2m:timestamp (TS-0004 §6.3.3): ``YYYYMMDDThhmmss[,ffffff]`` in UTC.

    A naive datetime is taken as UTC; an aware one is converted.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.timezone.utc)
    text = moment.strftime("%Y%m%dT%H%M%S")
    return f"{text},{moment.microsecond:06d}" if moment.microsecond else text


def parse_timestamp(text: str) -> _dt.datetime:
    """Parse an m2m:timestamp into an aware UTC datetime; :class:`OneM2MProtocolError` if malformed."""
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise OneM2MProtocolError(f"not an m2m:timestamp (YYYYMMDDThhmmss[,ffffff]): {text!r:.60}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or "0"
    try:
        return _dt.datetime(
            year, month, day, hour, minute, second, int(fraction.ljust(6, "0")), tzinfo=_dt.timezone.utc
        )
    except ValueError as exc:
        raise OneM2MProtocolError(f"impossible timestamp {text!r}: {exc}") from None


# ---------------------------------------------------------------------------
# Complex parameters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseTypeInfo:
    """The Response Type parameter ``rt`` (m2m:responseTypeInfo, TS-0004 §6.3.5.30)."""

    rtv: int = ResponseType.BLOCKING_REQUEST
    nu: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribute:
    """One ``atr`` condition of the filter criteria (m2m:attribute, TS-0004 §6.3.5.9)."""

    nm: str
    val: Any


@dataclass(frozen=True)
class FilterCriteria:
    """The Filter Criteria parameter ``fc`` (m2m:filterCriteria, TS-0004 §6.3.5.8).

    Field names are the short names; list-valued conditions are tuples. Use
    ``fu=FilterUsage.DISCOVERY`` for discovery. Conditions this class does not
    name can go in ``extra`` (short name -> value) and are sent as they are.
    """

    crb: str | None = None  # createdBefore
    cra: str | None = None  # createdAfter
    ms: str | None = None  # modifiedSince
    us: str | None = None  # unmodifiedSince
    sts: int | None = None  # stateTagSmaller
    stb: int | None = None  # stateTagBigger
    exb: str | None = None  # expireBefore
    exa: str | None = None  # expireAfter
    lbl: tuple[str, ...] = ()  # labels
    clbl: tuple[str, ...] = ()  # childLabels
    plbl: tuple[str, ...] = ()  # parentLabels
    ty: tuple[int, ...] = ()  # resourceType
    chty: tuple[int, ...] = ()  # childResourceType
    pty: tuple[int, ...] = ()  # parentResourceType
    sza: int | None = None  # sizeAbove
    szb: int | None = None  # sizeBelow
    cty: tuple[str, ...] = ()  # contentType
    atr: tuple[Attribute, ...] = ()  # attribute
    catr: tuple[Attribute, ...] = ()  # childAttribute
    patr: tuple[Attribute, ...] = ()  # parentAttribute
    fu: int | None = None  # filterUsage
    lim: int | None = None  # limit
    smf: tuple[str, ...] = ()  # semanticsFilter
    fo: int | None = None  # filterOperation
    cfs: int | None = None  # contentFilterSyntax
    cfq: str | None = None  # contentFilterQuery
    lvl: int | None = None  # level
    ofst: int | None = None  # offset
    arp: str | None = None  # applyRelativePath
    gmty: int | None = None  # geometryType
    geom: str | None = None  # geometry
    gsf: int | None = None  # geoSpatialFunction
    extra: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Primitives (TS-0004 §7.2.1; short names TS-0004 §8.2.2)
# ---------------------------------------------------------------------------

Timestamp = str | int
"""An m2m:absRelTimestamp: an m2m:timestamp string, or milliseconds relative to now."""


def _require(condition: bool, message: str, hint: str | None = None) -> None:
    if not condition:
        raise OneM2MUsageError(message, hint=hint)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_strs(name: str, value: object) -> None:
    _require(
        isinstance(value, tuple) and all(isinstance(v, str) for v in value),
        f"{name} must be a tuple of strings, got {value!r:.60}",
    )


@dataclass(frozen=True)
class RequestPrimitive:
    """A request primitive (TS-0004 §7.2.1.1); field names are the §8.2.2 short names.

    ``op``, ``to`` and ``rqi`` are mandatory; ``fr`` may be omitted only in an
    AE registration (CREATE of an <AE>). ``rvi`` must be present towards any
    Release 2a+ CSE (ACME answers 4001 without it). ``ty`` means something only
    in a CREATE (TS-0004 §7.2.1.1) but is tolerated elsewhere, as TS-0009's own
    examples send it. List-valued parameters are tuples. Parameters this class
    does not name go in ``extra`` (short name -> JSON value); decoders put
    unknown parameters there so nothing is lost.
    """

    op: Operation
    to: str
    rqi: str
    fr: str | None = None
    rvi: str | None = None
    ty: int | None = None
    pc: Mapping[str, Any] | None = None
    ot: str | None = None  # Originating Timestamp
    rqet: Timestamp | None = None  # Request Expiration Timestamp
    rset: Timestamp | None = None  # Result Expiration Timestamp
    oet: Timestamp | None = None  # Operation Execution Time
    rt: ResponseTypeInfo | None = None  # Response Type
    rp: Timestamp | None = None  # Result Persistence
    rcn: int | None = None  # Result Content
    ec: int | str | None = None  # Event Category
    da: bool | None = None  # Delivery Aggregation
    gid: str | None = None  # Group Request Identifier
    fc: FilterCriteria | None = None  # Filter Criteria
    drt: int | None = None  # Discovery Result Type
    rids: tuple[str, ...] | None = None  # Role IDs
    tkns: tuple[str, ...] | None = None  # Tokens
    tids: tuple[str, ...] | None = None  # Token IDs
    ltids: tuple[str, ...] | None = None  # Local Token IDs
    tqi: bool | None = None  # Token Request Indicator
    gtm: tuple[str, ...] | None = None  # Group Request Target Members
    asi: bool | None = None  # Authorization Signature Indicator
    aus: tuple[str, ...] | None = None  # Authorization Signatures
    auri: bool | None = None  # Authorization Relationship Indicator
    sqi: bool | None = None  # Semantic Query Indicator
    omr: tuple[str, ...] | None = None  # Ontology Mapping Resources
    prpi: str | None = None  # Primitive Profile Identifier
    msu: str | None = None  # M2M Service User
    vsi: str | None = None  # Vendor Information
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", Operation(self.op))
        except (ValueError, TypeError):
            raise OneM2MUsageError(f"op must be an Operation (1..5), got {self.op!r}") from None
        _require(isinstance(self.to, str) and self.to != "", f"to must be a non-empty string, got {self.to!r}")
        _require(isinstance(self.rqi, str) and self.rqi != "", f"rqi must be a non-empty string, got {self.rqi!r}")
        _require(self.fr is None or isinstance(self.fr, str), f"fr must be a string, got {self.fr!r}")
        _require(self.rvi is None or isinstance(self.rvi, str), f"rvi must be a string like '3', got {self.rvi!r}")
        _require(self.ty is None or _is_int(self.ty), f"ty must be a ResourceType, got {self.ty!r}")
        _require(self.pc is None or isinstance(self.pc, Mapping), f"pc must be a mapping, got {type(self.pc).__name__}")
        _require(self.rcn is None or _is_int(self.rcn), f"rcn must be an Rcn, got {self.rcn!r}")
        _require(self.drt is None or _is_int(self.drt), f"drt must be a DiscoveryResultType, got {self.drt!r}")
        _require(self.fc is None or isinstance(self.fc, FilterCriteria), "fc must be a FilterCriteria")
        _require(self.rt is None or isinstance(self.rt, ResponseTypeInfo), "rt must be a ResponseTypeInfo")
        for name in ("rids", "tkns", "tids", "ltids", "gtm", "aus", "omr"):
            value = getattr(self, name)
            if value is not None:
                _check_strs(name, value)
        _check_extra(self.extra, _REQUEST_FIELDS)


@dataclass(frozen=True)
class ResponsePrimitive:
    """A response primitive (TS-0004 §7.2.1.2); field names are the §8.2.2 short names.

    ``rsc`` is mandatory; ``rqi`` echoes the request's (ACME omits it when the
    request had none). ``cnst``/``cnot`` are Content Status/Offset (HTTP
    X-M2M-CTS/CTO; also readable as :attr:`cts`/:attr:`cto`).
    """

    rsc: int
    rqi: str | None = None
    pc: Mapping[str, Any] | None = None
    to: str | None = None
    fr: str | None = None
    rvi: str | None = None
    ot: str | None = None  # Originating Timestamp
    rset: Timestamp | None = None  # Result Expiration Timestamp
    ec: int | str | None = None  # Event Category
    cnst: int | None = None  # Content Status
    cnot: int | None = None  # Content Offset
    ati: Any = None  # Assigned Token Identifiers (m2m:dynAuthLocalTokenIdAssignments)
    tqf: Any = None  # Token Request Information
    asri: Any = None  # Authorization Signature Request Information
    vsi: str | None = None  # Vendor Information
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(_is_int(self.rsc), f"rsc must be a ResponseStatusCode, got {self.rsc!r}")
        object.__setattr__(self, "rsc", ResponseStatusCode.lookup(self.rsc))
        _require(self.rqi is None or isinstance(self.rqi, str), f"rqi must be a string, got {self.rqi!r}")
        _require(self.pc is None or isinstance(self.pc, Mapping), f"pc must be a mapping, got {type(self.pc).__name__}")
        for name in ("to", "fr", "rvi", "ot", "vsi"):
            value = getattr(self, name)
            _require(value is None or isinstance(value, str), f"{name} must be a string, got {value!r}")
        _check_extra(self.extra, _RESPONSE_FIELDS)

    @property
    def ok(self) -> bool:
        """True for an informational (1xxx) or successful (2xxx) RSC."""
        return is_success(self.rsc)

    @property
    def cts(self) -> int | None:
        """Content Status, by its HTTP header name (X-M2M-CTS)."""
        return self.cnst

    @property
    def cto(self) -> int | None:
        """Content Offset, by its HTTP header name (X-M2M-CTO)."""
        return self.cnot

    @property
    def debug(self) -> str | None:
        """The peer's ``m2m:dbg`` text in ``pc``, if it sent one."""
        if self.pc is not None:
            text = self.pc.get("m2m:dbg")
            if isinstance(text, str):
                return text
        return None

    def raise_for_status(self, request: RequestPrimitive | None = None) -> ResponsePrimitive:
        """Return self if :attr:`ok`; raise :class:`OneM2MError` (rsc, debug text, hint) otherwise."""
        if not self.ok:
            raise OneM2MError(rsc=self.rsc, request=request, response=self, debug=self.debug)
        return self


_REQUEST_FIELDS = frozenset(RequestPrimitive.__dataclass_fields__) - {"extra"}
_RESPONSE_FIELDS = frozenset(ResponsePrimitive.__dataclass_fields__) - {"extra"}


def _check_extra(extra: Mapping[str, Any], known: frozenset[str]) -> None:
    _require(isinstance(extra, Mapping), "extra must be a mapping of short parameter names to values")
    for key in extra:
        _require(isinstance(key, str), f"extra keys must be strings, got {key!r}")
        _require(key not in known, f"{key!r} is a named field; set it directly, not through extra")
