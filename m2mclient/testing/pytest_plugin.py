"""pytest fixture for the loopback LwM2M test server.

pytest-asyncio is not required: the fixture hands out a factory, and the test
runs its scenario with ``asyncio.run`` (directly or through ``factory.run``)::

    def test_register(lwm2m_server):
        async def scenario(server):
            ...  # start the client against server.uri
            registration = await server.wait_registration("dev-1")
            assert registration.version == "1.2"

        lwm2m_server.run(scenario)                    # UDP on 127.0.0.1, free port
        lwm2m_server.run(scenario, transport="tcp")   # any LwM2MTestServer option

    def test_by_hand(lwm2m_server):
        async def main():
            async with lwm2m_server(supported_versions=("1.0",)) as server:
                ...
        asyncio.run(main())

Installing m2mclient enables it (a ``pytest11`` entry point), so the fixture is
simply there in any project's tests.
"""

from __future__ import annotations

import pytest

from m2mclient.testing.server import LwM2MServerFactory

__all__ = ["lwm2m_server"]


@pytest.fixture
def lwm2m_server() -> LwM2MServerFactory:
    """A factory of :class:`~m2mclient.testing.LwM2MTestServer` s bound to 127.0.0.1 on a free port."""
    return LwM2MServerFactory(host="127.0.0.1", port=0)
