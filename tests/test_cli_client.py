"""``m2mclient demo``, ``lwm2m run`` and ``lwm2m server`` as a user runs them: real processes on loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "m2mclient.cli"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 15.0) -> list[str]:
    """Lines of stdout up to and including the first containing ``marker``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never appeared; got {lines}")


def test_demo_narrates_a_whole_session_and_exits_zero() -> None:
    result = subprocess.run([*COMMAND, "demo"], capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "registered: lwm2m=1.2" in out
    assert "read /3/0 -> 2.05" in out and '"/3/0/0": "m2mclient"' in out
    assert "wrote /3/0/14 = +01:00 -> 2.04" in out
    assert "device hook ran 1 time(s)" in out
    assert out.count("notification #") == 3
    assert "received Send" in out
    assert "de-registered; demo complete" in out


def test_run_registers_serves_a_typed_server_and_deregisters_on_sigterm(tmp_path: Path) -> None:
    port = free_udp_port()
    config = tmp_path / "client.toml"
    config.write_text(f'server = "coap://127.0.0.1:{port}"\nendpoint = "cli-device"\nlifetime = 120\n')
    server = subprocess.Popen(
        [*COMMAND, "lwm2m", "server", "--port", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    client = None
    try:
        read_until(server, "LwM2M test server on")
        client = subprocess.Popen(
            [*COMMAND, "lwm2m", "run", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )
        registered = read_until(client, "registered at /rd/")
        assert "LwM2M 1.2" in registered[-1]
        assert server.stdin is not None
        server.stdin.write("list\nread cli-device /3/0/16\n")
        server.stdin.flush()
        assert read_until(server, "cli-device 127.0.0.1:")
        answer = json.loads(read_until(server, '"code"')[-1])
        assert answer == {"code": "2.05", "values": {"/3/0/16": "U"}}
        server.stdin.write("write cli-device /3/0/14 '\"+02:00\"' text\nread cli-device /3/0/14\n")
        server.stdin.flush()
        assert json.loads(read_until(server, '"code"')[-1]) == {"code": "2.04"}
        assert json.loads(read_until(server, '"code"')[-1])["values"] == {"/3/0/14": "+02:00"}
        operation_lines = read_until(client, "GET /3/0/14 -> 2.05")
        assert any("PUT /3/0/14 -> 2.04" in line for line in operation_lines)
        client.send_signal(signal.SIGTERM)
        assert "de-registered" in read_until(client, "de-registered")[-1]
        assert client.wait(15) == 0
    finally:
        for process in (client, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(5)


def test_run_without_a_server_explains_what_is_missing() -> None:
    result = subprocess.run([*COMMAND, "lwm2m", "run"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "give --server and --endpoint" in result.stderr
