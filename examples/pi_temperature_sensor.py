"""A Raspberry Pi temperature sensor as an LwM2M device.

    python examples/pi_temperature_sensor.py --server coap://leshan.example:5683 --endpoint my-pi

It exposes the Device object and an IPSO Temperature (3303) instance reading the
board's thermal zone (or a simulated sensor where there is none), samples it every
``--period`` seconds so observers get notifications, and Sends the reading to the
server every ``--send-every`` samples. Without ``--server`` it starts the bundled
test server on loopback and narrates what that server sees, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math

from m2mclient.errors import M2MError
from m2mclient.lwm2m.client import LwM2MClient, ServerOperation
from m2mclient.lwm2m.objects.device import DeviceObject
from m2mclient.lwm2m.objects.temperature import TemperatureSensor, thermal_zone_reader


def make_sensor() -> TemperatureSensor:
    try:
        read_board = thermal_zone_reader()
        read_board()
        return TemperatureSensor(read_celsius=read_board)
    except (M2MError, OSError):
        ticks = itertools.count()
        return TemperatureSensor(read_celsius=lambda: round(21.0 + math.sin(next(ticks) / 3), 2))


async def report(client: LwM2MClient, sensor: TemperatureSensor, samples: int, period: float, send_every: int) -> None:
    await client.wait_registered()
    for sample in range(1, samples + 1):
        sensor.sample()  # notifies observers when the value changed
        if sample % send_every == 0:
            await client.send(["/3303/0/5700"])
        await asyncio.sleep(period)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="LwM2M server URI; default: a test server on loopback")
    parser.add_argument("--endpoint", default="pi-temperature", help="endpoint client name")
    parser.add_argument("--samples", type=int, default=6, help="how many samples to take before stopping")
    parser.add_argument("--period", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--send-every", type=int, default=3, help="Send the reading every N samples")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sensor = make_sensor()
    objects = [DeviceObject(manufacturer="Raspberry Pi Foundation"), sensor]
    if args.server:
        async with LwM2MClient(args.endpoint, objects, server_uri=args.server) as client:
            await report(client, sensor, args.samples, args.period, args.send_every)
        return
    from m2mclient.testing import LwM2MTestServer

    async with LwM2MTestServer() as server, LwM2MClient(args.endpoint, objects, server_uri=server.uri) as client:
        client.on(ServerOperation, lambda op: print(f"device answered {op}"))
        await server.wait_registration(args.endpoint)
        observation = await server.observe(args.endpoint, "/3303/0/5700")
        await report(client, sensor, args.samples, args.period, args.send_every)
        print(f"server got {len(observation.notifications)} notifications and {len(server.sends)} Sends")


if __name__ == "__main__":
    asyncio.run(main())
