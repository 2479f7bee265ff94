"""Registration with one LwM2M Server: the sans-IO state machine and the Register payload.

LwM2M Core 1.2 §6.2 (Client Registration Interface) and the transport bindings
§6.4.3 (CoAP mapping)::

    Register     POST   /rd?ep={name}&lt={lifetime}&lwm2m={version}&b={binding}&Q&sms={MSISDN}
    Update       POST   /{location}?lt={lifetime}&b={binding}&Q&sms={MSISDN}
    De-register  DELETE /{location}

The async client runs one :class:`RegistrationMachine` per server and does the
CoAP exchanges; the machine only says what to send and when, and digests what
came back. Time is an argument (``now``, seconds on a monotonic clock) and
randomness (retry jitter) comes from an injected :class:`random.Random`, so the
same logic runs over UDP, an AT-command socket, SMS, or a test with a fake clock::

    machine = RegistrationMachine(RegistrationSettings("node-1", lifetime=300), objects)
    machine.start(now)
    while True:
        request = machine.poll(now)                     # what to send now, if anything
        if request is not None:
            try:
                response = await coap.request(request)  # the caller's I/O
            except TimeoutError as exc:
                events = machine.on_failure(now, str(exc))
            else:
                events = machine.on_response(now, response.code, response.location_path)
            ...                                         # act on Registered, BootstrapNeeded, ...
            continue
        await sleep_until(machine.next_wakeup(now))     # or until a trigger / stop / change

At most one request is outstanding: after :meth:`~RegistrationMachine.poll`
returned one, exactly one :meth:`~RegistrationMachine.on_response` or
:meth:`~RegistrationMachine.on_failure` must follow before anything else is sent.
CoAP retransmission and the exchange timeout belong to the CoAP layer; a
timeout reaches the machine as :meth:`~RegistrationMachine.on_failure`.
"""

from __future__ import annotations

import enum
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from m2mclient.errors import M2MError, ValueValidationError
from m2mclient.lwm2m.formats import link
from m2mclient.lwm2m.formats.link import Link
from m2mclient.lwm2m.model import Path

__all__ = [
    "MAX_TRANSMIT_WAIT",
    "SUPPORTED_VERSIONS",
    "BootstrapNeeded",
    "Deregistered",
    "Disabled",
    "Event",
    "InvalidLocationError",
    "OutgoingRequest",
    "Registered",
    "RegistrationFailed",
    "RegistrationMachine",
    "RegistrationSettings",
    "RegistrationState",
    "RegistrationUsageError",
    "RetryPolicy",
    "Updated",
    "VersionFallback",
    "build_register_links",
    "parse_location",
    "update_delay",
]

logger = logging.getLogger(__name__)

#: RFC 7252 §4.8.2 with the default transmission parameters (ACK_TIMEOUT 2 s,
#: ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4): the longest a confirmable request
#: can take from first transmission to the last chance of an acknowledgement.
MAX_TRANSMIT_WAIT = 93.0

#: Share of the lifetime kept in reserve before the registration expires (see :func:`update_delay`).
UPDATE_MARGIN_FRACTION = 0.1

#: Anjay's ANJAY_MIN_UPDATE_INTERVAL_S: with a tiny lifetime and a slow link the
#: computed Update time can already be past when the previous exchange ends;
#: never send Updates back to back faster than this.
MIN_UPDATE_INTERVAL = 1.0

#: LwM2M enabler versions this client can register as, newest first.
SUPPORTED_VERSIONS = ("1.2", "1.1", "1.0")

#: Content-Format of the Register / Update payload (application/link-format, RFC 6690).
LINK_FORMAT = link.CONTENT_FORMAT

#: Core 1.2 §6.2.1: "The Security Object ID:0, and OSCORE Object ID:21, if
#: present, MUST NOT be part of the Registration Objects and Object Instances list."
NEVER_REGISTERED = frozenset({0, 21})

#: The enabler version that introduced an optional content format; the ``ct``
#: of the root link must not announce a format the registering version lacks.
_FORMAT_SINCE = {60: "1.1", 110: "1.1", 112: "1.1", 11544: "1.2"}

_VERSION_TEXT = re.compile(r"[0-9]+\.[0-9]+")
# The 1.1+ binding letters (U, M, H, T, S, N: Server object /1/x/7) plus Q, the 1.0 queue flag.
_BINDING_LETTERS = frozenset("UMHTSNQ")


def _version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


# --- errors -----------------------------------------------------------------------------------


class InvalidLocationError(M2MError, ValueError):
    """A server answered Register with a Location-Path an Update could not be sent to.

    The machine treats it as a failed Register (retried per the policy); the
    message says what was wrong so a capture can be matched to it.
    """


class RegistrationUsageError(M2MError, RuntimeError):
    """The machine was driven out of order (a response with no request outstanding).

    Always a bug in the caller, never caused by the server: the h11
    ``LocalProtocolError`` of this module.
    """


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """The registration retry procedure of LwM2M Core 1.2 §6.2.1.1, from Server object resources.

    * ``count`` (/1/x/17 Communication Retry Count): attempts in one sequence;
    * ``timer`` (/1/x/18 Communication Retry Timer): after the n-th failed
      attempt of a sequence the next one waits ``timer * 2**(n-1)`` seconds
      (exponential back-off: 60, 120, 240, 480 with the defaults);
    * ``sequence_delay`` (/1/x/19 Communication Sequence Delay Timer): the wait
      after a whole sequence failed;
    * ``sequence_count`` (/1/x/20 Communication Sequence Retry Count): failed
      sequences after which the registration has failed for good.

    The defaults are the resource defaults of Core 1.2 Appendix E.2.
    ``jitter`` (not an LwM2M resource) stretches each wait by a random
    ``0..jitter`` share so that a fleet rebooted by the same power cut does not
    retry in lockstep; it needs the ``rng`` given to the machine.
    """

    count: int = 5
    timer: float = 60.0
    sequence_delay: float = 86400.0
    sequence_count: int = 1
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueValidationError(f"retry count must be an integer >= 1, got {self.count!r}")
        if isinstance(self.sequence_count, bool) or not isinstance(self.sequence_count, int) or self.sequence_count < 1:
            raise ValueValidationError(f"sequence retry count must be an integer >= 1, got {self.sequence_count!r}")
        for name in ("timer", "sequence_delay", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueValidationError(f"retry {name} must be a finite number >= 0, got {value!r}")

    def backoff(self, failed_in_sequence: int) -> float:
        """Seconds to wait after the ``failed_in_sequence``-th failed attempt (1-based) of a sequence."""
        return float(self.timer) * float(2 ** (failed_in_sequence - 1))


@dataclass(frozen=True)
class RegistrationSettings:
    """What to register as, mirroring the Server object (1) of that server.

    ``binding`` takes the 1.1+ letters (``"U"``, ``"T"``, ``"US"``, ...); a
    1.0-style ``"UQ"`` is accepted and means ``binding="U", queue_mode=True``.
    Queue mode goes on the wire as the ``Q`` flag in 1.1/1.2 and inside the
    binding (``b=UQ``) in 1.0.

    ``content_formats`` are the optional content formats the client supports,
    announced with ``ct`` on the root link (Core 1.1.1 §6.2.1: "If the LwM2M
    Client supports optional data formats, it MAY inform the LwM2M Server by
    including the content type in the root path link"); formats the registering
    version does not know are left out (LwM2M CBOR 11544 when falling back to 1.1).

    ``max_transmit_wait`` is the transport's worst-case exchange time used to
    schedule Updates (:func:`update_delay`); over CoAP/UDP with default
    parameters it is :data:`MAX_TRANSMIT_WAIT`.
    """

    endpoint: str
    lifetime: int = 86400
    binding: str = "U"
    queue_mode: bool = False
    sms_number: str | None = None
    lwm2m_version: str = "1.2"
    version_fallback: tuple[str, ...] = ("1.1", "1.0")
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    content_formats: tuple[int, ...] = ()
    #: /1/x/16 Bootstrap on Registration Failure (default true).
    bootstrap_on_failure: bool = True
    max_transmit_wait: float = MAX_TRANSMIT_WAIT

    def __post_init__(self) -> None:
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise ValueValidationError(f"the endpoint client name must be a non-empty string, got {self.endpoint!r}")
        if isinstance(self.lifetime, bool) or not isinstance(self.lifetime, int) or self.lifetime < 1:
            # Anjay refuses a lifetime <= 0 too: a registration that expires at once cannot be updated.
            raise ValueValidationError(f"lifetime must be an integer number of seconds >= 1, got {self.lifetime!r}")
        if not isinstance(self.binding, str) or not self.binding.strip("Q") or set(self.binding) - _BINDING_LETTERS:
            raise ValueValidationError(
                f"binding must be made of the letters U, M, H, T, S, N (and Q), got {self.binding!r}"
            )
        if self.sms_number is not None and not (isinstance(self.sms_number, str) and self.sms_number.isdigit()):
            # Transport bindings §6.4.3 note: the MSISDN is as in 3GPP TS 23.003, no "+" before the country code.
            raise ValueValidationError(f"sms_number must be an MSISDN of digits only (no '+'), got {self.sms_number!r}")
        for version in (self.lwm2m_version, *self.version_fallback):
            if version not in SUPPORTED_VERSIONS:
                raise ValueValidationError(
                    f"LwM2M version {version!r} is not supported (use one of {', '.join(SUPPORTED_VERSIONS)})"
                )
        for content_format in self.content_formats:
            if (
                isinstance(content_format, bool)
                or not isinstance(content_format, int)
                or not 0 <= content_format <= 65535
            ):
                raise ValueValidationError(f"content format must be an integer 0..65535, got {content_format!r}")
        if (
            isinstance(self.max_transmit_wait, bool)
            or not isinstance(self.max_transmit_wait, (int, float))
            or not 0 <= self.max_transmit_wait < float("inf")
        ):
            raise ValueValidationError(
                f"max_transmit_wait must be a finite number >= 0, got {self.max_transmit_wait!r}"
            )

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions to try, in order: ``lwm2m_version``, then the fallbacks older than it."""
        newest = _version_key(self.lwm2m_version)
        older = (version for version in self.version_fallback if _version_key(version) < newest)
        return tuple(dict.fromkeys((self.lwm2m_version, *older)))

    @property
    def queue(self) -> bool:
        """True when queue mode is asked for, by ``queue_mode`` or a 1.0-style ``Q`` in ``binding``."""
        return self.queue_mode or "Q" in self.binding

    def binding_for(self, version: str) -> str:
        """The ``b`` parameter for ``version``: 1.0 carries queue mode in it (``UQ``, ``SQ``, ``UQS``)."""
        base = self.binding.replace("Q", "")
        if version != "1.0" or not self.queue:
            return base
        # LwM2M 1.0 binding modes are U, UQ, S, SQ, US, UQS: Q follows the transport it queues.
        if "U" in base:
            return base.replace("U", "UQ", 1)
        if "S" in base:
            return base.replace("S", "SQ", 1)
        return base + "Q"

    def content_formats_for(self, version: str) -> tuple[int, ...]:
        """``content_formats`` without those the LwM2M ``version`` does not define."""
        return tuple(
            fmt for fmt in self.content_formats if _version_key(_FORMAT_SINCE.get(fmt, "1.0")) <= _version_key(version)
        )


def update_delay(lifetime: float, max_transmit_wait: float = MAX_TRANSMIT_WAIT) -> float:
    """Seconds after a Register/Update was sent at which the next Update goes out.

    ``lifetime - min(lifetime / 2, max(max_transmit_wait, 10% of lifetime))``:
    e.g. 207 s for a 300 s lifetime, 900 s for 1000 s, 77760 s for a day, 30 s for 60 s.

    Why: the server drops the registration ``lifetime`` seconds after it got the
    last Register/Update (Core 1.2 §6.2.2), so the Update must have *arrived*
    by then. Anjay keeps ``min(lifetime / 2, MAX_TRANSMIT_WAIT)`` in reserve
    (``get_server_update_interval_margin``), enough for CoAP retransmissions
    only; Leshan keeps EXCHANGE_LIFETIME (247 s) when the lifetime allows it.
    On NB-IoT / LTE-M the Update may also wait for the modem to leave PSM,
    an RRC connection and a DTLS handshake at coverage-extension latencies, so
    we keep at least 10% of the lifetime — it scales with the lifetimes sleepy
    devices choose, where missing the expiry costs a full re-registration and
    the server dropping observations. And like Anjay we never update before
    half the lifetime, so a small lifetime does not turn into back-to-back Updates.
    """
    margin = min(lifetime / 2, max(max_transmit_wait, UPDATE_MARGIN_FRACTION * lifetime))
    return lifetime - margin


# --- the Register payload ---------------------------------------------------------------------


def _check_object_version(object_id: int, version: str) -> None:
    if not isinstance(version, str) or not _VERSION_TEXT.fullmatch(version):
        raise ValueValidationError(f"object {object_id} version must look like '1.0', got {version!r}")


def build_register_links(
    objects: Mapping[int, tuple[str, Sequence[int]]],
    *,
    root_content_format: int | Sequence[int] | None = None,
    lwm2m_version: str = "1.2",
) -> bytes:
    """The Register / Update payload: CoRE Link Format listing objects and instances (Core 1.2 §6.2.1).

    ``objects`` maps object id to ``(object version, instance ids)``::

        >>> build_register_links({0: ("1.2", [0]), 1: ("1.1", [0]), 3: ("1.0", [0]), 5: ("1.0", [])},
        ...                      root_content_format=11544, lwm2m_version="1.2")
        b'</>;rt="oma.lwm2m";ct=11544,</1>;ver=1.1,</1/0>,</3/0>,</5>'

    * Security (0) and OSCORE (21) are never listed (§6.2.1);
    * an object without instances is listed as ``</o>`` so the server knows it is supported;
    * ``ver`` is given only for objects whose version is not 1.0, on a link to
      the object itself (as Anjay and Leshan write it), and only from LwM2M 1.1
      on, which introduced it;
    * from 1.1 on, the root link ``</>;rt="oma.lwm2m"`` leads, with ``ct`` listing
      ``root_content_format`` (one format, or several written ``ct="110 112"``);
      LwM2M 1.0 has no root link;
    * objects and instances are sorted by id, so equal object lists give equal
      bytes and an Update carries the payload only when the list changed.
    """
    if lwm2m_version not in SUPPORTED_VERSIONS:
        raise ValueValidationError(f"LwM2M version {lwm2m_version!r} is not supported")
    since_1_1 = lwm2m_version != "1.0"
    links: list[Link] = []
    if since_1_1:
        if root_content_format is None:
            formats: tuple[int, ...] = ()
        elif isinstance(root_content_format, int):
            formats = (root_content_format,)
        else:
            formats = tuple(root_content_format)
        params: list[tuple[str, str | None]] = [("rt", "oma.lwm2m")]
        if formats:
            params.append(("ct", " ".join(str(fmt) for fmt in formats)))
        links.append(Link("/", tuple(params)))
    for object_id in sorted(objects):
        if object_id in NEVER_REGISTERED:
            continue
        version, instances = objects[object_id]
        _check_object_version(object_id, version)
        instance_ids = sorted(set(instances))
        if since_1_1 and version != "1.0":
            links.append(Link.of(Path.of(object_id), ver=version))
        elif not instance_ids:
            links.append(Link.of(Path.of(object_id)))
        links.extend(Link.of(Path.of(object_id, instance_id)) for instance_id in instance_ids)
    return link.encode(links)


def parse_location(location_path: Sequence[str] | str) -> tuple[str, ...]:
    """Check the Location-Path a server answered Register with and return its segments.

    Transport bindings §6.4.3: "The response includes Location-Path Options,
    which indicate the path to use for updating or deleting the registration."
    Without one the registration cannot be updated or deleted, so an empty
    location is an error, as are empty, ``.`` and ``..`` segments (they would
    make the Update target ambiguous). A string (``"/rd/5a3f"``, as an HTTP
    Location header gives it) is split at ``/``.

    The spec says the location MUST be under ``/rd``; a server that answers
    elsewhere still gets its Updates there (logged, not refused), since the
    location is the only address we have.
    """
    if isinstance(location_path, str):
        segments = tuple(location_path.strip("/").split("/")) if location_path.strip("/") else ()
    else:
        segments = tuple(location_path)
    if not segments:
        raise InvalidLocationError("the Register response has no Location-Path")
    for segment in segments:
        if not isinstance(segment, str):
            raise InvalidLocationError(f"Location-Path segment {segment!r} is not text")
        if segment in ("", ".", ".."):
            raise InvalidLocationError(f"Location-Path {'/'.join(segments)!r} has a {segment!r} segment")
    if segments[0] != "rd":
        logger.warning("server returned Location-Path %s, not under rd as LwM2M requires", list(segments))
    return segments


# --- what goes out, what comes back -----------------------------------------------------------


@dataclass(frozen=True)
class OutgoingRequest:
    """A request for the caller to send: CoAP method, Uri-Path and Uri-Query options, payload.

    Register targets ``("rd",)``; a caller whose Server URI has a path prepends
    it there. Update and De-register target the location the server returned,
    which is absolute and used as is.
    """

    method: Literal["POST", "DELETE"]
    uri_path: tuple[str, ...]
    uri_query: tuple[str, ...]
    payload: bytes
    content_format: int | None
    kind: Literal["register", "update", "deregister"]

    @property
    def uri(self) -> str:
        """The target as text, ``/rd?ep=node&lt=300&lwm2m=1.2&b=U`` (for logs and tests)."""
        path = "/" + "/".join(self.uri_path)
        return path + ("?" + "&".join(self.uri_query) if self.uri_query else "")

    def __str__(self) -> str:
        """``POST /rd?ep=...`` plus the payload size, for logs."""
        return f"{self.method} {self.uri} ({len(self.payload)} bytes)"


@dataclass(frozen=True)
class Registered:
    """Register succeeded (2.01 Created): Updates and De-register go to ``location``.

    ``version`` is the LwM2M version the server accepted; a 1.0 server gets
    TLV / plain text, not SenML or LwM2M CBOR.
    """

    location: tuple[str, ...]
    version: str


@dataclass(frozen=True)
class Updated:
    """Update succeeded (2.04 Changed): the registration lives on."""


@dataclass(frozen=True)
class RegistrationFailed:
    """A Register or Update failed; the next Register goes out at ``retry_at``, or never when ``None``."""

    reason: str
    retry_at: float | None


@dataclass(frozen=True)
class Deregistered:
    """The machine stopped: De-register was answered, failed, or was not needed."""


@dataclass(frozen=True)
class VersionFallback:
    """The server answered 4.12 Precondition Failed; registering again as ``to_version`` right away."""

    from_version: str
    to_version: str


@dataclass(frozen=True)
class BootstrapNeeded:
    """The server refused the client (4.03) or registration failed for good.

    The client should start Client Initiated Bootstrap if it has a
    Bootstrap-Server account; without one the machine's own retries go on.
    """

    reason: str


@dataclass(frozen=True)
class Disabled:
    """The server account is disabled (/1/x/4) until ``until``; then the machine registers again."""

    until: float


Event: TypeAlias = (
    Registered | Updated | RegistrationFailed | Deregistered | VersionFallback | BootstrapNeeded | Disabled
)


class RegistrationState(enum.Enum):
    """Where the machine is. ``awaiting_response`` tells whether a request is outstanding."""

    #: Not started.
    IDLE = "idle"
    #: A Register is due now or outstanding.
    REGISTERING = "registering"
    #: Registered; the next Update is due at a known time.
    REGISTERED = "registered"
    #: An Update is outstanding.
    UPDATING = "updating"
    #: A De-register is due now or outstanding (stop or disable).
    DEREGISTERING = "deregistering"
    #: Stopped; :meth:`RegistrationMachine.start` starts again.
    DEREGISTERED = "deregistered"
    #: Disabled by the server (/1/x/4) until the disable timeout ends.
    DISABLED = "disabled"
    #: A Register failed; the next one waits out the back-off.
    WAITING_RETRY = "waiting-retry"
    #: Every retry sequence failed; only :meth:`RegistrationMachine.start` tries again.
    FAILED = "failed"


class _Goal(enum.Enum):
    RUN = "run"
    STOP = "stop"
    DISABLE = "disable"


@dataclass(frozen=True)
class _Snapshot:
    """What a Register / Update told the server; an Update sends what differs from it."""

    endpoint: str
    lifetime: int
    binding: str
    queue: bool
    sms: str | None
    links: bytes


def _check_code(code: str) -> str:
    if not isinstance(code, str) or not re.fullmatch(r"[0-7]\.[0-9]{2}", code):
        raise RegistrationUsageError(f"response code must look like '2.01', got {code!r}")
    return code


# --- the state machine ------------------------------------------------------------------------


class RegistrationMachine:
    """The registration state machine for one LwM2M server.

    Drive it with :meth:`start`, :meth:`poll` (what to send now),
    :meth:`on_response` / :meth:`on_failure` (what came back) and
    :meth:`next_wakeup` (when to look again); tell it about changes with
    :meth:`objects_changed`, :meth:`settings_changed`, :meth:`trigger_update`,
    :meth:`network_changed`, :meth:`disable` and :meth:`stop`. Methods that may
    finish something at once return the :data:`Event` s it produced.

    ``objects`` is the object list as :func:`build_register_links` takes it; the
    machine builds the payload itself because a version fallback changes it.
    """

    def __init__(
        self,
        settings: RegistrationSettings,
        objects: Mapping[int, tuple[str, Sequence[int]]],
        *,
        rng: random.Random | None = None,
    ):
        self._rng = rng
        self._check_jitter(settings)
        self.settings = settings
        self._objects: dict[int, tuple[str, tuple[int, ...]]] = {}
        # The payload per LwM2M version, built once per object list / settings:
        # poll() and next_wakeup() compare it with the registered one every time.
        self._links: dict[str, bytes] = {}
        self.objects_changed(objects)
        self._state = RegistrationState.IDLE
        self._goal = _Goal.RUN
        self._disable_timeout = 0.0
        # When the pending Register / De-register goes out (REGISTERING, WAITING_RETRY,
        # DEREGISTERING), or when the account is enabled again (DISABLED).
        self._due_at = 0.0
        self._in_flight: OutgoingRequest | None = None
        self._sent_at = 0.0
        self._sent: _Snapshot | None = None
        self._sent_version = ""
        self._versions = settings.versions
        self._version_index = 0
        self._location: tuple[str, ...] | None = None
        self._registered: _Snapshot | None = None
        self._registered_version: str | None = None
        self._expires_at = 0.0
        self._update_at = 0.0
        self._update_requested = False
        self._reregister_requested = False
        self._failed_attempts = 0
        self._failed_sequences = 0

    # --- what the caller can look at --------------------------------------------------------

    @property
    def state(self) -> RegistrationState:
        """The current :class:`RegistrationState`."""
        return self._state

    @property
    def awaiting_response(self) -> bool:
        """True while a request returned by :meth:`poll` has not been answered or failed."""
        return self._in_flight is not None

    @property
    def location(self) -> tuple[str, ...] | None:
        """The Location-Path of the current registration, or ``None`` when not registered."""
        return self._location

    @property
    def registered_version(self) -> str | None:
        """The LwM2M version of the current registration, or ``None`` when not registered."""
        return self._registered_version if self._location is not None else None

    @property
    def expires_at(self) -> float | None:
        """When the server drops the registration unless updated (conservatively, from the send time)."""
        return self._expires_at if self._location is not None else None

    # --- commands ---------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin registering (the first Register is due at ``now``).

        Does nothing while the machine is running; after :meth:`stop` it takes
        effect once the machine is DEREGISTERED, and after FAILED it starts a
        fresh retry procedure.
        """
        if self._state not in (RegistrationState.IDLE, RegistrationState.DEREGISTERED, RegistrationState.FAILED):
            return
        self._goal = _Goal.RUN
        self._failed_attempts = self._failed_sequences = 0
        self._versions = self.settings.versions
        self._version_index = 0
        self._update_requested = self._reregister_requested = False
        self._state = RegistrationState.REGISTERING
        self._due_at = now
        logger.info("%s: registering", self.settings.endpoint)

    def stop(self, now: float) -> list[Event]:
        """De-register if registered, then stay DEREGISTERED.

        With a request outstanding the decision waits for its outcome (a
        Register that succeeds meanwhile is de-registered at once). Returns
        ``[Deregistered()]`` when nothing needs to be sent.
        """
        if self._state is RegistrationState.DEREGISTERED:
            return []
        self._goal = _Goal.STOP
        if self._in_flight is not None:
            return []
        if self._state is RegistrationState.IDLE:
            return self._finish(now)
        return self._wind_down(now)

    def disable(self, now: float, timeout_s: float) -> list[Event]:
        """Execute on /1/x/4 Disable: de-register, stay DISABLED ``timeout_s`` (/1/x/5), register again.

        Core 1.2 Appendix E.2 (/1/x/4): the client "MUST send response of the
        operation and perform de-registration process", then sends nothing to
        the server for the Disable Timeout; the timeout counts from the end of
        the de-registration. Ignored when stopped or stopping.
        """
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 <= timeout_s < float("inf"):
            raise ValueValidationError(f"disable timeout must be a finite number of seconds >= 0, got {timeout_s!r}")
        if self._state in (RegistrationState.IDLE, RegistrationState.DEREGISTERED) or self._goal is _Goal.STOP:
            return []
        self._goal = _Goal.DISABLE
        self._disable_timeout = float(timeout_s)
        if self._in_flight is not None:
            return []
        return self._wind_down(now)

    def trigger_update(self, now: float) -> None:
        """Execute on /1/x/8 Registration Update Trigger, or the app wants the server to know it is awake.

        Sends an Update at once when registered. An outstanding Register or
        Update already answers the trigger, and while waiting out a back-off
        the policy wins, so the trigger is ignored then.
        """
        if self._state is RegistrationState.REGISTERED and self._in_flight is None:
            self._update_requested = True
            logger.debug("%s: registration update triggered at %.3f", self.settings.endpoint, now)

    def network_changed(self) -> None:
        """The client's address or its (D)TLS / OSCORE security context changed: register again.

        Transport bindings §6.4.3: "When a new security context is created
        (e.g. TLS/DTLS), the Client MUST register again" and "When the LwM2M
        Client IP address changes in NoSec mode, the Client MUST register again".
        (A resumed DTLS session is not a new context; an Update will do.)
        """
        if self._state in (RegistrationState.REGISTERED, RegistrationState.UPDATING) or (
            self._state is RegistrationState.REGISTERING and self._in_flight is not None
        ):
            self._reregister_requested = True

    def objects_changed(self, objects: Mapping[int, tuple[str, Sequence[int]]]) -> None:
        """The object or instance list changed: the next Update (sent at once) carries the new payload."""
        normalized: dict[int, tuple[str, tuple[int, ...]]] = {}
        for object_id, (version, instances) in objects.items():
            _check_object_version(object_id, version)
            ids = tuple(sorted(set(instances)))
            # Range-check the ids now (PathError for 65535, negatives, non-integers),
            # not when an Update is due and nobody is there to hear about it.
            Path.of(object_id)
            for instance_id in ids:
                Path.of(object_id, instance_id)
            normalized[object_id] = (version, ids)
        self._objects = normalized
        self._links.clear()

    def settings_changed(self, settings: RegistrationSettings) -> None:
        """New settings (a server wrote /1/x/1, /1/x/7, ...): an Update carries what changed.

        Lifetime, binding, SMS number and switching queue mode on travel in an
        Update (transport bindings §6.4.3: ``?lt=&b=&Q&sms=``). What an Update
        cannot express — a new endpoint name or LwM2M version, queue mode off
        (``Q`` is a flag with no "off"), the SMS number removed — makes the
        machine register again instead. A new retry policy applies from the next failure.
        """
        self._check_jitter(settings)
        old = self.settings
        self.settings = settings
        self._links.clear()
        if settings.versions != old.versions:
            self._versions = settings.versions
            self._version_index = 0
        if settings.lwm2m_version != old.lwm2m_version:
            self._reregister_requested = True

    # --- driving ----------------------------------------------------------------------------

    def poll(self, now: float) -> OutgoingRequest | None:
        """The request to send now, or ``None``. The request is outstanding from here on."""
        if self._in_flight is not None:
            return None
        state = self._state
        if state in (RegistrationState.REGISTERING, RegistrationState.WAITING_RETRY) and now >= self._due_at:
            return self._send_register(now)
        if state is RegistrationState.DISABLED and now >= self._due_at:
            logger.info("%s: disable timeout over, registering again", self.settings.endpoint)
            self._failed_attempts = self._failed_sequences = 0
            return self._send_register(now)
        if state is RegistrationState.REGISTERED:
            if now >= self._expires_at:
                # The device slept past the lifetime (PSM, a busy modem): the server
                # has dropped us and would answer an Update with 4.04.
                logger.info(
                    "%s: registration expired at %.3f, registering again", self.settings.endpoint, self._expires_at
                )
                return self._send_register(now)
            if self._must_reregister():
                return self._send_register(now)
            if self._update_due(now):
                return self._send_update(now)
            return None
        if state is RegistrationState.DEREGISTERING:
            return self._send_deregister(now)
        return None

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`poll` may next have something to send (never before ``now``), or ``None``.

        ``None`` while a request is outstanding (its outcome comes first) and
        in the states where only a command moves the machine (IDLE,
        DEREGISTERED, FAILED).
        """
        if self._in_flight is not None:
            return None
        state = self._state
        if state in (RegistrationState.REGISTERING, RegistrationState.WAITING_RETRY, RegistrationState.DISABLED):
            at = self._due_at
        elif state is RegistrationState.DEREGISTERING:
            at = now
        elif state is RegistrationState.REGISTERED:
            at = now if self._must_reregister() or self._update_due(now) else min(self._update_at, self._expires_at)
        else:
            return None
        return max(at, now)

    def on_response(self, now: float, code: str, location_path: Sequence[str] | str = ()) -> list[Event]:
        """The server answered the outstanding request with CoAP ``code`` (``"2.01"``).

        ``location_path`` is the response's Location-Path options (only
        Register responses have them).
        """
        request = self._take_in_flight("on_response")
        _check_code(code)
        if request.kind == "register":
            return self._register_answered(now, code, location_path)
        if request.kind == "update":
            return self._update_answered(now, code)
        logger.info("%s: De-register answered %s", self.settings.endpoint, code)
        return self._deregistered(now)

    def on_failure(self, now: float, reason: str) -> list[Event]:
        """The outstanding request got no response (timeout, network or security error)."""
        request = self._take_in_flight("on_failure")
        logger.debug("%s: %s failed: %s", self.settings.endpoint, request.kind, reason)
        if request.kind == "register":
            if self._goal is not _Goal.RUN:
                return self._wind_down(now)
            return self._register_failed(now, f"Register failed: {reason}")
        if request.kind == "update":
            if self._goal is not _Goal.RUN:
                # The registration most likely still exists: try the De-register anyway.
                return self._wind_down(now)
            # Like Anjay and Leshan: an Update that got no answer may mean the server
            # lost our session or address, so register again at once; if that fails
            # too, the back-off of the retry procedure takes over.
            logger.warning("%s: Update failed (%s), registering again", self.settings.endpoint, reason)
            self._drop_registration()
            self._state = RegistrationState.REGISTERING
            self._due_at = now
            return [RegistrationFailed(f"Update failed: {reason}; registering again", now)]
        return self._deregistered(now)

    # --- internals --------------------------------------------------------------------------

    def _check_jitter(self, settings: RegistrationSettings) -> None:
        if settings.retry.jitter and self._rng is None:
            raise ValueValidationError("retry jitter needs a random.Random: pass rng= to RegistrationMachine")

    def _take_in_flight(self, what: str) -> OutgoingRequest:
        request = self._in_flight
        if request is None:
            raise RegistrationUsageError(f"{what}() called with no request outstanding (poll() returned none)")
        self._in_flight = None
        return request

    def _snapshot(self, version: str) -> _Snapshot:
        settings = self.settings
        links = self._links.get(version)
        if links is None:
            links = self._links[version] = build_register_links(
                self._objects, root_content_format=settings.content_formats_for(version), lwm2m_version=version
            )
        return _Snapshot(
            endpoint=settings.endpoint,
            lifetime=settings.lifetime,
            binding=settings.binding_for(version),
            # 1.0 has no Q flag: queue mode is inside the binding there.
            queue=settings.queue and version != "1.0",
            sms=settings.sms_number,
            links=links,
        )

    def _must_reregister(self) -> bool:
        if self._reregister_requested:
            return True
        old = self._registered
        if old is None or self._registered_version is None:
            return True
        new = self._snapshot(self._registered_version)
        return (
            new.endpoint != old.endpoint or (old.queue and not new.queue) or (old.sms is not None and new.sms is None)
        )

    def _update_query(self, old: _Snapshot, new: _Snapshot) -> tuple[str, ...]:
        # Transport bindings §6.4.3: Update carries lt, b, Q, sms, in that order,
        # each only when it changed since the last successful Register/Update.
        query = []
        if new.lifetime != old.lifetime:
            query.append(f"lt={new.lifetime}")
        if new.binding != old.binding:
            query.append(f"b={new.binding}")
        if new.queue and not old.queue:
            query.append("Q")
        if new.sms is not None and new.sms != old.sms:
            query.append(f"sms={new.sms}")
        return tuple(query)

    def _update_due(self, now: float) -> bool:
        if self._update_requested or now >= self._update_at:
            return True
        assert self._registered is not None and self._registered_version is not None
        new = self._snapshot(self._registered_version)
        return bool(self._update_query(self._registered, new)) or new.links != self._registered.links

    def _send(self, now: float, request: OutgoingRequest, state: RegistrationState) -> OutgoingRequest:
        self._in_flight = request
        self._sent_at = now
        self._state = state
        logger.debug("%s: sending %s", self.settings.endpoint, request)
        return request

    def _send_register(self, now: float) -> OutgoingRequest:
        version = self._versions[self._version_index]
        snapshot = self._snapshot(version)
        query = [f"ep={snapshot.endpoint}", f"lt={snapshot.lifetime}", f"lwm2m={version}", f"b={snapshot.binding}"]
        if snapshot.queue:
            query.append("Q")
        if snapshot.sms is not None:
            query.append(f"sms={snapshot.sms}")
        # A Register replaces whatever the server had (Core 1.2 §6.2.1), so it
        # answers every pending trigger and change at once.
        self._drop_registration()
        self._update_requested = self._reregister_requested = False
        self._sent = snapshot
        self._sent_version = version
        request = OutgoingRequest("POST", ("rd",), tuple(query), snapshot.links, LINK_FORMAT, "register")
        return self._send(now, request, RegistrationState.REGISTERING)

    def _send_update(self, now: float) -> OutgoingRequest:
        assert self._location is not None and self._registered is not None and self._registered_version is not None
        snapshot = self._snapshot(self._registered_version)
        query = self._update_query(self._registered, snapshot)
        # Core 1.2 §6.2.2: the object list goes in an Update only when it changed.
        changed_links = snapshot.links != self._registered.links
        payload = snapshot.links if changed_links else b""
        self._update_requested = False
        self._sent = snapshot
        request = OutgoingRequest(
            "POST", self._location, query, payload, LINK_FORMAT if changed_links else None, "update"
        )
        return self._send(now, request, RegistrationState.UPDATING)

    def _send_deregister(self, now: float) -> OutgoingRequest:
        assert self._location is not None
        request = OutgoingRequest("DELETE", self._location, (), b"", None, "deregister")
        return self._send(now, request, RegistrationState.DEREGISTERING)

    def _drop_registration(self) -> None:
        self._location = None
        self._registered = None
        self._registered_version = None

    def _schedule_update(self, now: float) -> None:
        assert self._registered is not None
        lifetime = self._registered.lifetime
        # The server starts the lifetime when the request arrives, which is no
        # earlier than we sent it: counting from the send time is the safe side.
        self._expires_at = self._sent_at + lifetime
        self._update_at = max(
            self._sent_at + update_delay(lifetime, self.settings.max_transmit_wait), now + MIN_UPDATE_INTERVAL
        )

    def _register_answered(self, now: float, code: str, location_path: Sequence[str] | str) -> list[Event]:
        version = self._sent_version
        if code == "2.01":
            try:
                location = parse_location(location_path)
            except InvalidLocationError as exc:
                if self._goal is not _Goal.RUN:
                    return self._wind_down(now)
                return self._register_failed(now, f"Register answered 2.01 Created but {exc}")
            self._location = location
            self._registered = self._sent
            self._registered_version = version
            self._failed_attempts = self._failed_sequences = 0
            self._schedule_update(now)
            if self._goal is not _Goal.RUN:
                # Stopped or disabled while the Register was on its way: do not
                # leave a registration behind on the server until its lifetime ends.
                return self._wind_down(now)
            self._state = RegistrationState.REGISTERED
            logger.info(
                "%s: registered as LwM2M %s at /%s, next update at %.3f",
                self.settings.endpoint,
                version,
                "/".join(location),
                self._update_at,
            )
            return [Registered(location, version)]
        if self._goal is not _Goal.RUN:
            return self._wind_down(now)
        if code == "4.12" and self._version_index + 1 < len(self._versions):
            # Transport bindings §6.7 Table 6.7-2: 4.12 "Supported LwM2M Versions of the
            # Server and the Client are not compatible": try the next older version now.
            self._version_index += 1
            to_version = self._versions[self._version_index]
            logger.info("%s: server refused LwM2M %s, trying %s", self.settings.endpoint, version, to_version)
            self._state = RegistrationState.REGISTERING
            self._due_at = now
            return [VersionFallback(version, to_version)]
        events: list[Event] = []
        if code == "4.12":
            # No common version; the next attempt starts from the newest again in
            # case the server was upgraded meanwhile.
            self._version_index = 0
            reason = f"Register answered 4.12 Precondition Failed to every version ({', '.join(self._versions)})"
        elif code == "4.03":
            # Table 6.7-2: "The Endpoint Client Name registration in the LwM2M Server is
            # not allowed": the account itself is wrong, which only a Bootstrap-Server can fix.
            reason = "Register answered 4.03 Forbidden: this endpoint may not register"
            events.append(BootstrapNeeded(reason))
        else:
            reason = f"Register answered {code}"
        return events + self._register_failed(now, reason)

    def _register_failed(self, now: float, reason: str) -> list[Event]:
        retry = self.settings.retry
        self._failed_attempts += 1
        if self._failed_attempts < retry.count:
            delay = retry.backoff(self._failed_attempts)
        else:
            self._failed_attempts = 0
            self._failed_sequences += 1
            if self._failed_sequences >= retry.sequence_count:
                self._state = RegistrationState.FAILED
                logger.warning("%s: registration failed for good: %s", self.settings.endpoint, reason)
                events: list[Event] = [RegistrationFailed(reason, None)]
                if self.settings.bootstrap_on_failure:
                    events.append(BootstrapNeeded(f"registration failed after {retry.sequence_count} sequence(s)"))
                return events
            delay = float(retry.sequence_delay)
        if retry.jitter and self._rng is not None:
            delay *= 1.0 + self._rng.random() * retry.jitter
        self._state = RegistrationState.WAITING_RETRY
        self._due_at = now + delay
        logger.warning("%s: %s; retrying at %.3f", self.settings.endpoint, reason, self._due_at)
        return [RegistrationFailed(reason, self._due_at)]

    def _update_answered(self, now: float, code: str) -> list[Event]:
        if code == "2.04":
            self._registered = self._sent
            self._schedule_update(now)
            if self._goal is not _Goal.RUN:
                return self._wind_down(now)
            self._state = RegistrationState.REGISTERED
            logger.debug("%s: updated, next update at %.3f", self.settings.endpoint, self._update_at)
            return [Updated()]
        # 4.04: the server no longer knows the registration (it expired or the server
        # restarted). Anjay treats every other rejection alike: the server would refuse
        # the same Update again, and a Register replaces the registration wholesale.
        self._drop_registration()
        if self._goal is not _Goal.RUN:
            return self._wind_down(now)
        logger.warning("%s: Update answered %s, registering again", self.settings.endpoint, code)
        self._state = RegistrationState.REGISTERING
        self._due_at = now
        return [RegistrationFailed(f"Update answered {code}; registering again", now)]

    def _deregistered(self, now: float) -> list[Event]:
        # Whatever the answer (2.02, 4.04 already gone, an error or none), there is
        # nothing more to do for this registration.
        self._drop_registration()
        return self._finish(now)

    def _wind_down(self, now: float) -> list[Event]:
        """Stop or disable: De-register when a registration exists, else finish at once."""
        if self._location is not None:
            self._state = RegistrationState.DEREGISTERING
            self._due_at = now
            return []
        return self._finish(now)

    def _finish(self, now: float) -> list[Event]:
        if self._goal is _Goal.DISABLE:
            self._goal = _Goal.RUN
            self._state = RegistrationState.DISABLED
            self._due_at = now + self._disable_timeout
            logger.info("%s: disabled until %.3f", self.settings.endpoint, self._due_at)
            return [Disabled(self._due_at)]
        self._goal = _Goal.STOP
        self._state = RegistrationState.DEREGISTERED
        logger.info("%s: deregistered", self.settings.endpoint)
        return [Deregistered()]
