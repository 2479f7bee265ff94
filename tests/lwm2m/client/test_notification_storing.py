"""Notifications survive a server that stops acknowledging them (Core 1.2 §6.4.4, /1/x/6)."""

from __future__ import annotations

import asyncio

import aiocoap

from m2mclient.lwm2m import Path, default_registry
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.testing import LwM2MTestServer

TEMPERATURE = Path.parse("/3303/0/5700")


class QuickRetry(aiocoap.Reliable):
    """Give up on an unacknowledged notification after one retransmission, within a second."""

    ACK_TIMEOUT = 0.2
    ACK_RANDOM_FACTOR = 1.0
    MAX_RETRANSMIT = 1


def sensor() -> ObjectInstance:
    return ObjectInstance(default_registry().get(3303), 0, {5700: 20.0, 5701: "Cel"})  # type: ignore[arg-type]


async def lose_one_notification(storing: bool) -> tuple[list[float], int]:
    """Observe, lose a notification on the wire, change the value while offline; what arrives after."""
    temperature = sensor()
    async with LwM2MTestServer() as server:
        client = LwM2MClient("store-1", [temperature], server_uri=server.uri, notification_tuning=QuickRetry)
        client.objects[1].instances[0].set(6, storing)  # Notification Storing When Disabled or Offline
        async with client:
            await server.wait_registration("store-1")
            observation = await server.observe("store-1", TEMPERATURE)
            # The CON notification and its one retransmission never arrive, nor the first try of
            # the Update the client then probes with (its retransmission comes ~2 s later).
            server.drop_next(3)
            temperature.set(5700, 21.0)
            while client.notifier.reachable(1):
                await asyncio.sleep(0.02)  # until aiocoap gives up on the notification
            assert client.notifier.stored_count(1) == (1 if storing else 0)
            temperature.set(5700, 22.0)  # a change while the server is unreachable
            client.poke()  # evaluate it now rather than on the notifier's next turn
            assert client.notifier.stored_count(1) == (2 if storing else 0)
            await server.wait_update("store-1", timeout=10)  # the Update's retransmission gets through
            while not client.notifier.reachable(1):
                await asyncio.sleep(0.02)  # until the client has its 2.04 too
            received: list[float] = []
            for _ in range(2 if storing else 0):
                received.append((await observation.next(timeout=5)).values[TEMPERATURE])  # type: ignore[arg-type]
            temperature.set(5700, 23.0)  # back online: straight through, on the same observation
            received.append((await observation.next(timeout=5)).values[TEMPERATURE])  # type: ignore[arg-type]
            return received, client.notifier.stored_count(1)


def test_lost_notifications_are_stored_and_delivered_in_order_after_reconnect() -> None:
    received, left = asyncio.run(lose_one_notification(storing=True))
    assert received == [21.0, 22.0, 23.0]
    assert left == 0


def test_without_notification_storing_offline_values_are_dropped() -> None:
    received, left = asyncio.run(lose_one_notification(storing=False))
    assert received == [23.0]
    assert left == 0
