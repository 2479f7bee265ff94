"""A tour of the LwM2M content formats: one Device object instance, every format.

Run it with ``python examples/formats_tour.py``. It encodes the values a server
would read from /3/0, prints each payload's size and its first bytes, decodes it
back and checks that nothing was lost — the same thing a client does before it
answers a Read with the format the server asked for.
"""

from __future__ import annotations

from m2mclient.lwm2m import Path, default_registry, formats
from m2mclient.lwm2m.formats import FormatKind

DEVICE = {
    Path.parse("/3/0/0"): "Open Mobile Alliance",
    Path.parse("/3/0/1"): "Lightweight M2M Client",
    Path.parse("/3/0/2"): "345000123",
    Path.parse("/3/0/6/0"): 1,
    Path.parse("/3/0/6/1"): 5,
    Path.parse("/3/0/9"): 95,
    Path.parse("/3/0/13"): 1367491215,
    Path.parse("/3/0/16"): "U",
}


def main() -> None:
    registry = default_registry()
    print(f"Device object instance /3/0 with {len(DEVICE)} values\n")
    for fmt in formats.supported_formats():
        if fmt.kind is not FormatKind.VALUES or fmt.single_value:
            continue
        payload = formats.encode(fmt.id, DEVICE, path="/3/0", registry=registry)
        decoded = formats.decode(fmt.id, payload, path="/3/0", registry=registry)
        status = "round trip ok" if decoded == DEVICE else "ROUND TRIP CHANGED VALUES"
        print(f"{fmt.name:<11} ({fmt.id:>5}) {len(payload):>4} bytes  {payload[:24].hex()}...  {status}")
    battery = formats.encode("text", {"/3/0/9": 95}, path="/3/0/9", registry=registry)
    print(f"\nA single resource as text/plain: /3/0/9 -> {battery!r}")


if __name__ == "__main__":
    main()
