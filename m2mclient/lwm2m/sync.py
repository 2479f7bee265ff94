"""A blocking facade over :class:`~m2mclient.lwm2m.client.LwM2MClient` for apps without asyncio.

The client runs on an event loop in one background thread; the methods here
block until the loop has done the work. Object instances may be changed from
the app's own thread (``instance.set(...)``): change signals are handed to the
loop thread-safely.

>>> with SyncLwM2MClient("node-1", [sensor], server_uri="coap://127.0.0.1:5683") as client:
...     client.wait_registered()
...     sensor.set(5700, 22.5)          # observers are notified from the loop thread
...     client.send(["/3303/0/5700"])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance

T = TypeVar("T")


class SyncLwM2MClient:
    """Runs an :class:`LwM2MClient` in a background thread; every keyword goes to it."""

    def __init__(self, endpoint: str, objects: Iterable[ObjectInstance | LwM2MObject] = (), **options: Any):
        self._endpoint = endpoint
        self._objects = list(objects)
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: LwM2MClient | None = None

    @property
    def client(self) -> LwM2MClient:
        """The async client underneath (its engine, events, objects)."""
        if self._client is None:
            raise RuntimeError("the client is not started; call start() first")
        return self._client

    def _run(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        if self._loop is None:
            raise RuntimeError("the client is not started; call start() first")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), self._loop)
        return future.result(timeout)

    def start(self) -> None:
        """Start the loop thread and the client (registration proceeds in the background)."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="m2mclient-loop", daemon=True)
        self._thread.start()

        async def create_and_start() -> LwM2MClient:
            client = LwM2MClient(self._endpoint, self._objects, **self._options)
            await client.start()
            return client

        self._client = self._run(create_and_start())

    def stop(self, timeout: float | None = 60.0) -> None:
        """De-register, stop the client and the loop thread."""
        if self._loop is None or self._thread is None:
            return
        try:
            if self._client is not None:
                self._run(self._client.stop(), timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()
            self._loop, self._thread, self._client = None, None, None

    def wait_registered(self, timeout: float | None = 30.0) -> None:
        """Block until every server accepted the registration."""
        self._run(self.client.wait_registered(timeout))

    def send(self, paths: Sequence[Path | str], **options: Any) -> None:
        """Send values to a server (see :meth:`LwM2MClient.send`)."""
        self._run(self.client.send(paths, **options))

    def trigger_update(self) -> None:
        """Send a registration Update now."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.client.trigger_update)

    @property
    def registered(self) -> bool:
        return self._client is not None and self._client.registered

    def __enter__(self) -> SyncLwM2MClient:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
