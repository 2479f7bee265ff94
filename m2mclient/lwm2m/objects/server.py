"""LwM2M Server (object 1): one server account's lifetime, binding and defaults.

:func:`server_config` builds the Security (0) + Server (1) pair for a server
URI, which is how a client is configured the LwM2M way: a later Bootstrap
simply rewrites those instances. :class:`ServerSettings` reads a Server
instance back as typed values with the Core's defaults for absent resources.

The executable resources act on the client, so the client wires them when it
takes the instance in; until then an Execute answers 4.05::

    instance.on_execute(REGISTRATION_UPDATE_TRIGGER, lambda args: client.trigger_update())
    instance.on_execute(DISABLE, lambda args: client.disable(server_id))
    instance.on_execute(BOOTSTRAP_REQUEST_TRIGGER, lambda args: client.request_bootstrap())

(Those client method names are illustrative; this module only names the
resource ids.) Instances a Bootstrap-Server creates are new objects, so the
client wires them again after a bootstrap.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition, ObjLnk
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.objects.security import SecurityMode, security_instance

logger = logging.getLogger(__name__)


#: The Server object definition (LwM2M 1.2) the instances built here use.
SERVER: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 1)

SHORT_SERVER_ID = 0
LIFETIME = 1
DEFAULT_MIN_PERIOD = 2
DEFAULT_MAX_PERIOD = 3
#: Execute: disable this server account for Disable Timeout seconds.
DISABLE = 4
DISABLE_TIMEOUT = 5
NOTIFICATION_STORING = 6
BINDING = 7
#: Execute: send a Registration Update now (argument ``0=U`` may name a transport).
REGISTRATION_UPDATE_TRIGGER = 8
#: Execute: forget this account's registration and run a Bootstrap-Request.
BOOTSTRAP_REQUEST_TRIGGER = 9
APN_LINK = 10
REGISTRATION_PRIORITY_ORDER = 13
INITIAL_REGISTRATION_DELAY = 14
REGISTRATION_FAILURE_BLOCK = 15
BOOTSTRAP_ON_REGISTRATION_FAILURE = 16
COMMUNICATION_RETRY_COUNT = 17
COMMUNICATION_RETRY_TIMER = 18
COMMUNICATION_SEQUENCE_DELAY_TIMER = 19
COMMUNICATION_SEQUENCE_RETRY_COUNT = 20
TRIGGER = 21
PREFERRED_TRANSPORT = 22
MUTE_SEND = 23
DEFAULT_NOTIFICATION_MODE = 26

#: Binding letter of each server URI scheme (Core 1.2 §6.2.1.2; transport bindings §5, §7, §8).
URI_BINDINGS: Mapping[str, str] = {
    "coap": "U",
    "coaps": "U",
    "coap+tcp": "T",
    "coaps+tcp": "T",
    "mqtt": "M",
    "mqtts": "M",
    "http": "H",
    "https": "H",
}
_SECURE_SCHEMES = frozenset({"coaps", "coaps+tcp", "mqtts", "https"})
#: Letters the Binding resource may hold; ``Q`` is accepted from 1.0 servers ("UQ").
_BINDING_LETTERS = frozenset("UTSNMHQ")

# Defaults the Core gives for absent resources (Core 1.2 §6.2.1.1 and the DDF texts).
DEFAULT_DISABLE_TIMEOUT = 86400
DEFAULT_COMMUNICATION_RETRY_COUNT = 5
DEFAULT_COMMUNICATION_RETRY_TIMER = 60
DEFAULT_COMMUNICATION_SEQUENCE_DELAY_TIMER = 86400
DEFAULT_COMMUNICATION_SEQUENCE_RETRY_COUNT = 1


class ServerInstance(ObjectInstance):
    """A Server (1) instance that also remembers whether the client uses Queue Mode with it.

    LwM2M 1.1 moved Queue Mode out of the Binding resource into the Register
    request (the ``Q`` parameter), so the 1.2 Server object has no resource for
    it; ``queue_mode`` is the client's own choice for this account. The
    signature matches :data:`~m2mclient.lwm2m.objects.base.InstanceFactory`, so
    ``LwM2MObject(SERVER, factory=ServerInstance)`` makes these on a Create.
    """

    def __init__(
        self,
        definition: ObjectDefinition = SERVER,
        instance_id: int = 0,
        values: Mapping[int, object] | None = None,
        *,
        queue_mode: bool = False,
    ):
        super().__init__(definition, instance_id, values)
        self.queue_mode = queue_mode


def server_instance(
    instance_id: int,
    short_server_id: int,
    lifetime: int,
    *,
    binding: str = "U",
    notification_storing: bool = True,
    default_pmin: int | None = None,
    default_pmax: int | None = None,
    disable_timeout: int | None = DEFAULT_DISABLE_TIMEOUT,
    mute_send: bool = False,
    queue_mode: bool = False,
    communication_retry_count: int | None = None,
    communication_retry_timer: int | None = None,
    communication_sequence_delay_timer: int | None = None,
    communication_sequence_retry_count: int | None = None,
    initial_registration_delay: int | None = None,
    bootstrap_on_registration_failure: bool | None = None,
    preferred_transport: str | None = None,
    apn_link: ObjLnk | tuple[int, int] | None = None,
) -> ServerInstance:
    """A Server (1) instance; ``None`` leaves an optional resource out (the Core default applies).

    ``mute_send`` defaults to false here, which *enables* the Send operation;
    an instance without resource 23 has Send muted (DDF of object 1).
    """
    check_binding(binding)
    if lifetime <= 0:
        raise ValueValidationError(f"lifetime must be positive seconds, got {lifetime}")
    if default_pmin is not None and default_pmax is not None and default_pmax < default_pmin:
        raise ValueValidationError(f"default_pmax {default_pmax} is below default_pmin {default_pmin}")
    values: dict[int, object] = {
        SHORT_SERVER_ID: short_server_id,
        LIFETIME: lifetime,
        NOTIFICATION_STORING: notification_storing,
        BINDING: binding,
        MUTE_SEND: mute_send,
    }
    optional: dict[int, object | None] = {
        DEFAULT_MIN_PERIOD: default_pmin,
        DEFAULT_MAX_PERIOD: default_pmax,
        DISABLE_TIMEOUT: disable_timeout,
        COMMUNICATION_RETRY_COUNT: communication_retry_count,
        COMMUNICATION_RETRY_TIMER: communication_retry_timer,
        COMMUNICATION_SEQUENCE_DELAY_TIMER: communication_sequence_delay_timer,
        COMMUNICATION_SEQUENCE_RETRY_COUNT: communication_sequence_retry_count,
        INITIAL_REGISTRATION_DELAY: initial_registration_delay,
        BOOTSTRAP_ON_REGISTRATION_FAILURE: bootstrap_on_registration_failure,
        PREFERRED_TRANSPORT: preferred_transport,
        APN_LINK: apn_link,
    }
    values.update({rid: value for rid, value in optional.items() if value is not None})
    return ServerInstance(SERVER, instance_id, values, queue_mode=queue_mode)


def check_binding(binding: str) -> str:
    """Raise :class:`ValueValidationError` unless ``binding`` is made of LwM2M binding letters."""
    if not binding or not set(binding) <= _BINDING_LETTERS:
        letters = "".join(sorted(_BINDING_LETTERS))
        raise ValueValidationError(f"binding {binding!r} must be made of the letters {letters}")
    return binding


def binding_for_uri(uri: str) -> str:
    """The binding letter a server URI implies: ``U`` for coap:// and coaps://, ``T`` for coap+tcp://, ..."""
    scheme = urlsplit(uri).scheme.lower()
    binding = URI_BINDINGS.get(scheme)
    if binding is None:
        known = ", ".join(f"{s}://" for s in URI_BINDINGS)
        raise ValueValidationError(f"no LwM2M binding for the URI {uri!r}; known schemes: {known}")
    return binding


def server_config(
    uri: str,
    *,
    short_server_id: int = 1,
    lifetime: int = 300,
    binding: str | None = None,
    queue_mode: bool = False,
    instance_id: int = 0,
    psk_identity: str | bytes | None = None,
    psk_key: bytes | None = None,
) -> tuple[ObjectInstance, ServerInstance]:
    """The Security (0) and Server (1) instances for one LwM2M Server, as a bootstrap would write them.

    ``binding`` defaults to the one the URI scheme implies (coap://, coaps:// →
    ``U``; coap+tcp://, coaps+tcp:// → ``T``). With ``psk_identity`` and
    ``psk_key`` the account uses PSK, otherwise NoSec; a secure scheme
    (coaps://) without keys, or keys with a plain scheme, is refused because it
    could never connect as the caller meant. Both instances get ``instance_id``.
    """
    scheme = urlsplit(uri).scheme.lower()
    implied = binding_for_uri(uri)
    secure = scheme in _SECURE_SCHEMES
    has_keys = psk_identity is not None or psk_key is not None
    if secure and not has_keys:
        raise ValueValidationError(f"{uri!r} is a secure scheme: pass psk_identity= and psk_key=")
    if has_keys and not secure:
        raise ValueValidationError(f"PSK keys given for {uri!r}, which is not a secure scheme (coaps://, ...)")
    mode = SecurityMode.PSK if has_keys else SecurityMode.NO_SEC
    security = security_instance(
        instance_id,
        uri,
        security_mode=mode,
        short_server_id=short_server_id,
        psk_identity=psk_identity,
        psk_key=psk_key,
    )
    server = server_instance(instance_id, short_server_id, lifetime, binding=binding or implied, queue_mode=queue_mode)
    return security, server


@dataclass(frozen=True)
class ServerSettings:
    """A Server (1) instance read back as typed values.

    Absent optional resources read as the Core's defaults: Disable Timeout
    86400 s, Notification Storing true, Send muted, Communication Retry Count
    5, Retry Timer 60 s, Sequence Delay Timer 86400 s, Sequence Retry Count 1,
    Bootstrap on Registration Failure true, Initial Registration Delay 0.
    ``queue_mode`` is the :class:`ServerInstance` flag, or a ``Q`` in a 1.0
    style Binding such as ``"UQ"``.
    """

    short_server_id: int
    lifetime: int
    binding: str
    default_pmin: int | None = None
    default_pmax: int | None = None
    disable_timeout: int = DEFAULT_DISABLE_TIMEOUT
    notification_storing: bool = True
    mute_send: bool = True
    queue_mode: bool = False
    communication_retry_count: int = DEFAULT_COMMUNICATION_RETRY_COUNT
    communication_retry_timer: int = DEFAULT_COMMUNICATION_RETRY_TIMER
    communication_sequence_delay_timer: int = DEFAULT_COMMUNICATION_SEQUENCE_DELAY_TIMER
    communication_sequence_retry_count: int = DEFAULT_COMMUNICATION_SEQUENCE_RETRY_COUNT
    initial_registration_delay: int = 0
    bootstrap_on_registration_failure: bool = True
    preferred_transport: str | None = None
    apn_link: ObjLnk | None = None

    @property
    def transports(self) -> str:
        """The binding letters without the 1.0 Queue Mode letter (``"UQ"`` → ``"U"``)."""
        return self.binding.replace("Q", "")

    @classmethod
    def from_instance(cls, instance: ObjectInstance) -> ServerSettings:
        """Read the settings of ``instance`` (an instance of object 1)."""
        if instance.object_id != SERVER.id:
            raise ValueValidationError(f"{instance!r} is not a Server (1) instance")
        binding = instance.require(BINDING, str)

        def integer(resource_id: int, default: int) -> int:
            value = instance.get_or(resource_id)
            return value if isinstance(value, int) and not isinstance(value, bool) else default

        def flag(resource_id: int, default: bool) -> bool:
            value = instance.get_or(resource_id)
            return value if isinstance(value, bool) else default

        pmin = instance.get_or(DEFAULT_MIN_PERIOD)
        pmax = instance.get_or(DEFAULT_MAX_PERIOD)
        transport = instance.get_or(PREFERRED_TRANSPORT)
        apn = instance.get_or(APN_LINK)
        return cls(
            short_server_id=instance.require(SHORT_SERVER_ID, int),
            lifetime=instance.require(LIFETIME, int),
            binding=binding,
            default_pmin=pmin if isinstance(pmin, int) else None,
            default_pmax=pmax if isinstance(pmax, int) else None,
            disable_timeout=integer(DISABLE_TIMEOUT, DEFAULT_DISABLE_TIMEOUT),
            notification_storing=flag(NOTIFICATION_STORING, True),
            mute_send=flag(MUTE_SEND, True),
            queue_mode=bool(getattr(instance, "queue_mode", False)) or "Q" in binding,
            communication_retry_count=integer(COMMUNICATION_RETRY_COUNT, DEFAULT_COMMUNICATION_RETRY_COUNT),
            communication_retry_timer=integer(COMMUNICATION_RETRY_TIMER, DEFAULT_COMMUNICATION_RETRY_TIMER),
            communication_sequence_delay_timer=integer(
                COMMUNICATION_SEQUENCE_DELAY_TIMER, DEFAULT_COMMUNICATION_SEQUENCE_DELAY_TIMER
            ),
            communication_sequence_retry_count=integer(
                COMMUNICATION_SEQUENCE_RETRY_COUNT, DEFAULT_COMMUNICATION_SEQUENCE_RETRY_COUNT
            ),
            initial_registration_delay=integer(INITIAL_REGISTRATION_DELAY, 0),
            bootstrap_on_registration_failure=flag(BOOTSTRAP_ON_REGISTRATION_FAILURE, True),
            preferred_transport=transport if isinstance(transport, str) else None,
            apn_link=apn if isinstance(apn, ObjLnk) else None,
        )
