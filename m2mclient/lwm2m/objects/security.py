"""LwM2M Security (object 0): where a server is and which keys reach it.

A client is configured the LwM2M way, by Security and Server (object 1)
instances, so a later Bootstrap simply rewrites them. Regular servers can
never read these instances (the engine answers 4.01); only the client and a
Bootstrap-Server see them. :class:`SecuritySettings` reads one back as typed
values for the code that opens the connection.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import ObjectInstance

logger = logging.getLogger(__name__)


#: The Security object definition (LwM2M 1.2) the instances built here use.
SECURITY: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 0)

SERVER_URI = 0
BOOTSTRAP_SERVER = 1
SECURITY_MODE = 2
PUBLIC_KEY_OR_IDENTITY = 3
SERVER_PUBLIC_KEY = 4
SECRET_KEY = 5
SHORT_SERVER_ID = 10
CLIENT_HOLD_OFF_TIME = 11


class SecurityMode(enum.IntEnum):
    """Values of /0/x/2 Security Mode (Core 1.2 Appendix E.1)."""

    PSK = 0
    RAW_PUBLIC_KEY = 1
    CERTIFICATE = 2
    NO_SEC = 3
    CERTIFICATE_WITH_EST = 4


def security_instance(
    instance_id: int,
    server_uri: str,
    *,
    bootstrap: bool = False,
    security_mode: int = SecurityMode.NO_SEC,
    short_server_id: int | None = None,
    client_hold_off: int = 0,
    psk_identity: str | bytes | None = None,
    psk_key: bytes | None = None,
    server_public_key: bytes | None = None,
) -> ObjectInstance:
    """A Security (0) instance for one LwM2M Server or Bootstrap-Server account.

    ``short_server_id`` links the account to its Server (1) instance and is
    required unless ``bootstrap`` is true (a Bootstrap-Server has no Server
    instance). In PSK mode (0) ``psk_identity`` and ``psk_key`` go to
    resources 3 and 5; for raw public keys and certificates set resources 3-5
    yourself with :meth:`ObjectInstance.set`. The mandatory key resources are
    present (empty) even in NoSec mode, as a Bootstrap-Server would write them.
    """
    mode = SecurityMode(security_mode)
    if short_server_id is None and not bootstrap:
        raise ValueValidationError(f"security instance for {server_uri!r} needs short_server_id (1..65534)")
    if mode is SecurityMode.PSK and (not psk_identity or not psk_key):
        raise ValueValidationError(f"PSK security for {server_uri!r} needs both psk_identity and psk_key")
    if mode is SecurityMode.NO_SEC and (psk_identity or psk_key):
        # Keys given with NoSec are almost always a forgotten security_mode=PSK.
        raise ValueValidationError(f"psk_identity/psk_key given for {server_uri!r} but security_mode is NoSec (3)")
    identity = psk_identity.encode("utf-8") if isinstance(psk_identity, str) else psk_identity
    values: dict[int, object] = {
        SERVER_URI: server_uri,
        BOOTSTRAP_SERVER: bootstrap,
        SECURITY_MODE: int(mode),
        PUBLIC_KEY_OR_IDENTITY: identity or b"",
        SERVER_PUBLIC_KEY: server_public_key or b"",
        SECRET_KEY: psk_key or b"",
        CLIENT_HOLD_OFF_TIME: client_hold_off,
    }
    if short_server_id is not None:
        values[SHORT_SERVER_ID] = short_server_id
    return ObjectInstance(SECURITY, instance_id, values)


@dataclass(frozen=True)
class SecuritySettings:
    """A Security (0) instance read back as typed values.

    Absent optional resources read as their defaults (no short server id,
    no hold-off).
    """

    server_uri: str
    bootstrap: bool
    security_mode: SecurityMode
    public_key_or_identity: bytes
    server_public_key: bytes
    secret_key: bytes
    short_server_id: int | None
    client_hold_off: int

    @classmethod
    def from_instance(cls, instance: ObjectInstance) -> SecuritySettings:
        """Read the settings of ``instance`` (an instance of object 0)."""
        if instance.object_id != SECURITY.id:
            raise ValueValidationError(f"{instance!r} is not a Security (0) instance")
        short_server_id = instance.get_or(SHORT_SERVER_ID)
        hold_off = instance.get_or(CLIENT_HOLD_OFF_TIME)
        return cls(
            server_uri=instance.require(SERVER_URI, str),
            bootstrap=instance.require(BOOTSTRAP_SERVER, bool),
            security_mode=SecurityMode(instance.require(SECURITY_MODE, int)),
            public_key_or_identity=instance.require(PUBLIC_KEY_OR_IDENTITY, bytes),
            server_public_key=instance.require(SERVER_PUBLIC_KEY, bytes),
            secret_key=instance.require(SECRET_KEY, bytes),
            short_server_id=short_server_id if isinstance(short_server_id, int) else None,
            client_hold_off=hold_off if isinstance(hold_off, int) else 0,
        )
