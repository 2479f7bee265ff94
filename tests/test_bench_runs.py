"""The benchmarks still run and print their tables (what they measure is never asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
#: Bounds a hung benchmark, not a slow one: timings are the benchmark's business, not the test's.
HANG = 600


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert result.returncode == 0, f"{script} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize(
    ("script", "args", "headers"),
    [
        (
            "lwm2m.py",
            ["--quick"],
            [
                "1. CPU per notification",
                "ours / bare aiocoap",
                "2. Resident memory",
                "x bare aiocoap",
                "MB above python",
                "3. Bytes on the wire",
                "ours / minimum",
                "Register",
                "Update+objects",
                "Notify instance",
                "Send 10 values",
            ],
        ),
        (
            "formats.py",
            ["--rounds", "20"],
            ["Device object instance /3/0", "Sensor report", "x smallest", "x fastest"],
        ),
    ],
)
def test_bench_runs_and_prints_its_tables(script: str, args: list[str], headers: list[str]) -> None:
    output = run_bench(script, *args)
    missing = [header for header in headers if header not in output]
    assert not missing, f"{script} printed no {missing}:\n{output}"
