"""Loopback LwM2M test server and fixtures for testing LwM2M clients (ours, and yours in CI).

    >>> from m2mclient.testing import LwM2MTestServer
    >>> async def scenario():
    ...     async with LwM2MTestServer(transport="udp") as server:   # server.uri: coap://127.0.0.1:PORT
    ...         ...  # start a client against server.uri
    ...         registration = await server.wait_registration("dev-1")
    ...         response = await server.read("dev-1", "/3/0/0")

The pytest fixture ``lwm2m_server`` lives in :mod:`m2mclient.testing.pytest_plugin`
(imported separately, so this package does not need pytest).
"""

from m2mclient.testing.server import (
    DEFAULT_LIFETIME,
    SEND_FORMATS,
    SUPPORTED_VERSIONS,
    LogEntry,
    LwM2MServerFactory,
    LwM2MTestServer,
    LwM2MTestServerError,
    NotRegisteredError,
    Observation,
    ObservationEndedError,
    Registration,
    Rejection,
    RequestFailedError,
    Response,
    SendReport,
    Update,
)

__all__ = [
    "DEFAULT_LIFETIME",
    "SEND_FORMATS",
    "SUPPORTED_VERSIONS",
    "LogEntry",
    "LwM2MServerFactory",
    "LwM2MTestServer",
    "LwM2MTestServerError",
    "NotRegisteredError",
    "Observation",
    "ObservationEndedError",
    "Registration",
    "Rejection",
    "RequestFailedError",
    "Response",
    "SendReport",
    "Update",
]
