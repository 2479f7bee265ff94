"""An LwM2M device from plain (non-async) firmware code, through the sync facade.

    python examples/sync_reporter.py [--server coap://HOST:PORT]

The client runs on a background thread; the app sets values from its own loop
and calls ``send()``. Without ``--server`` a loopback test server is started in
a thread of its own so the example runs anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

from m2mclient.lwm2m import default_registry
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.sync import SyncLwM2MClient


def start_loopback_server() -> tuple[str, threading.Event]:
    """The bundled test server on its own loop thread; returns its URI and a stop switch."""
    from m2mclient.testing import LwM2MTestServer

    ready: dict[str, str] = {}
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with LwM2MTestServer() as server:
            ready["uri"] = server.uri
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            print(f"server saw {len(server.sends)} Sends")

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    started.wait(10)
    return ready["uri"], stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="LwM2M server URI; default: a test server on loopback")
    args = parser.parse_args()
    server_uri, stop_server = (args.server, None) if args.server else start_loopback_server()
    humidity = ObjectInstance(default_registry().get(3303), 0, {5700: 20.0, 5701: "Cel"})  # type: ignore[arg-type]
    with SyncLwM2MClient("sync-reporter", [humidity], server_uri=server_uri) as client:
        client.wait_registered()
        for reading in (20.5, 21.0, 21.5):
            humidity.set(5700, reading)  # from this thread; the client's loop picks it up
            client.send(["/3303/0/5700"])
            time.sleep(0.05)
        print("registered and sent 3 readings")
    if stop_server is not None:
        stop_server.set()
        time.sleep(0.2)


if __name__ == "__main__":
    main()
