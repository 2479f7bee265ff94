"""Size and speed of every LwM2M value format, side by side, measured in one run.

Two payloads: a realistic Device object instance (what a server reads after
registration) and a 10-sample temperature report (what a device Sends). For
each format: bytes on the wire, bytes relative to the smallest format, and
encode / decode CPU time relative to the fastest format. Formats that cannot
carry a payload (TLV has no timestamps) are shown as such.

    python bench/formats.py [--rounds N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from m2mclient.errors import FormatError
from m2mclient.lwm2m import Path, default_registry, formats
from m2mclient.lwm2m.formats import FormatKind, Record

REGISTRY = default_registry()

DEVICE = {
    "/3/0/0": "Open Mobile Alliance",
    "/3/0/1": "Lightweight M2M Client",
    "/3/0/2": "345000123",
    "/3/0/3": "1.0",
    "/3/0/6/0": 1,
    "/3/0/6/1": 5,
    "/3/0/7/0": 3800,
    "/3/0/7/1": 5000,
    "/3/0/8/0": 125,
    "/3/0/8/1": 900,
    "/3/0/9": 100,
    "/3/0/10": 15,
    "/3/0/11/0": 0,
    "/3/0/13": 1367491215,
    "/3/0/14": "+02:00",
    "/3/0/15": "Europe/Berlin",
    "/3/0/16": "U",
}
DEVICE_RECORDS = [Record(Path.parse(p), v) for p, v in DEVICE.items()]
# Ten temperature samples a minute apart, as a Send of /3303/0/5700 would carry them.
REPORT_RECORDS = [Record(Path.of(3303, 0, 5700), 21.5 + i * 0.25, time=1_700_000_000.0 + 60 * i) for i in range(10)]


def cpu_seconds(action: Callable[[], object], rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        action()
    return (time.process_time() - start) / rounds


def measure(records: list[Record], base: str, rounds: int) -> list[tuple[str, int | None, float, float]]:
    rows = []
    for fmt in formats.supported_formats():
        if fmt.kind is not FormatKind.VALUES or fmt.single_value:
            continue
        try:
            payload = formats.encode(fmt.id, records, path=base, registry=REGISTRY)
        except FormatError:
            rows.append((fmt.name, None, 0.0, 0.0))
            continue
        encode_time = cpu_seconds(lambda f=fmt.id: formats.encode(f, records, path=base, registry=REGISTRY), rounds)
        decode_time = cpu_seconds(
            lambda f=fmt.id, p=payload: formats.decode_records(f, p, path=base, registry=REGISTRY), rounds
        )
        rows.append((fmt.name, len(payload), encode_time, decode_time))
    return rows


def print_table(title: str, rows: list[tuple[str, int | None, float, float]]) -> None:
    carried = [r for r in rows if r[1] is not None]
    smallest = min(r[1] for r in carried if r[1] is not None)
    fastest_encode = min(r[2] for r in carried)
    fastest_decode = min(r[3] for r in carried)
    print(f"\n{title}")
    print(
        f"{'format':<12} {'bytes':>6} {'x smallest':>10} {'encode':>10} {'x fastest':>9}"
        f" {'decode':>10} {'x fastest':>9}"
    )
    for name, size, encode_time, decode_time in sorted(rows, key=lambda r: (r[1] is None, r[1] or 0)):
        if size is None:
            print(f"{name:<12} {'cannot carry this payload':>40}")
            continue
        print(
            f"{name:<12} {size:>6} {size / smallest:>10.2f}"
            f" {encode_time * 1e6:>8.1f}us {encode_time / fastest_encode:>9.2f}"
            f" {decode_time * 1e6:>8.1f}us {decode_time / fastest_decode:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000, help="repetitions per measurement")
    args = parser.parse_args()
    print_table("Device object instance /3/0 (17 values)", measure(DEVICE_RECORDS, "/3/0", args.rounds))
    print_table("Sensor report: 10 timestamped samples of /3303/0/5700", measure(REPORT_RECORDS, "/", args.rounds))


if __name__ == "__main__":
    main()
