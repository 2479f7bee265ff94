"""``m2mclient modem ...`` as a user runs it, against ``m2mclient modem emulate`` in another process.

The emulator always runs as its own process (its pty path read from its first line,
its network side driven through its stdin console), as it does for a person trying
the commands without hardware. Commands that talk to the module run as
``python -m m2mclient.cli modem ...`` processes; the parser-only checks (help, usage
errors) call ``m2mclient.cli.main`` in-process, which keeps the module quick.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from m2mclient.cli import main
from m2mclient.cli.modem import EMULATED_MODELS, MODELS

REPO = Path(__file__).resolve().parents[1]
PROCESS = [sys.executable, "-m", "m2mclient.cli"]
LINE_TIMEOUT = 15.0


# --- running the CLI -------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """What one command left behind: exit status, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as one JSON document (asserting the command succeeded)."""
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


def run_cli(*args: str, in_process: bool = False, timeout: float = 60.0) -> CliResult:
    """Run ``m2mclient modem ARGS`` to completion: as a process, or with ``in_process``
    through ``m2mclient.cli.main`` here."""
    argv = ["modem", *args]
    if not in_process:
        done = subprocess.run([*PROCESS, *argv], capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False)
        return CliResult(done.returncode, done.stdout, done.stderr)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help, or a usage error argparse already printed
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


class Process:
    """A long-running ``m2mclient modem ...`` process whose stdout lines are read with a timeout."""

    def __init__(self, *args: str):
        """Start ``m2mclient modem ARGS`` with pipes on stdin, stdout and stderr."""
        self.command = " ".join(["m2mclient", "modem", *args])
        self.popen = subprocess.Popen(
            [*PROCESS, "modem", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self, timeout: float = LINE_TIMEOUT) -> str:
        """The next stdout line; fails with stderr when the process ended or stayed silent."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout:g} s from {self.command}") from None
        if line is None:
            raise AssertionError(f"{self.command} ended ({self.popen.wait()}): {self._stderr()}")
        return line

    def type(self, text: str) -> None:
        """Write a line to its stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def interrupt(self, timeout: float = LINE_TIMEOUT) -> tuple[int, list[str]]:
        """Ctrl-C; returns the exit status and the stdout lines printed on the way out."""
        self.popen.send_signal(signal.SIGINT)
        code = self.popen.wait(timeout)
        rest: list[str] = []
        while (line := self._lines.get(timeout=timeout)) is not None:
            rest.append(line)
        return code, rest

    def _stderr(self) -> str:
        assert self.popen.stderr is not None
        return self.popen.stderr.read()

    def close(self) -> None:
        """Stop it if it still runs (SIGINT, then kill)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(LINE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def emulate(*options: str) -> Iterator[tuple[Process, str]]:
    """``m2mclient modem emulate OPTIONS``: the process and the pty path it printed."""
    process = Process("emulate", *options)
    try:
        port = process.line()
        assert port.startswith("/dev/"), port
        yield process, port
    finally:
        process.close()


@pytest.fixture(scope="module")
def sim7080() -> Iterator[tuple[Process, str]]:
    """One emulated SIM7080 the one-shot commands share (each leaves it as it found it)."""
    with emulate("--model", "sim7080") as running:
        yield running


@pytest.fixture(scope="module")
def port(sim7080: tuple[Process, str]) -> str:
    """The shared emulator's pty."""
    return sim7080[1]


@pytest.fixture(scope="module")
def echo_peer() -> Iterator[tuple[str, int]]:
    """A UDP echo peer on loopback, in a thread: the CLI runs its own event loop."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError, OSError):
                    data, source = peer.recvfrom(4096)
                    peer.sendto(data, source)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield peer.getsockname()[0], peer.getsockname()[1]
        stop.set()
        thread.join()


def one_error_line(result: CliResult) -> str:
    """The failure of ``result``: exit status 1 and exactly one line on stderr."""
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("m2mclient: error: "), result.stderr
    return lines[0]


# --- the parser ------------------------------------------------------------------------------


def test_model_choices_are_the_registered_drivers_and_dialects() -> None:
    from m2mclient.platform.emulator import DIALECTS
    from m2mclient.platform.modems import available_models

    assert list(MODELS) == available_models()
    assert list(EMULATED_MODELS) == sorted(DIALECTS)


@pytest.mark.parametrize(
    "command",
    [[], ["info"], ["psm"], ["edrx"], ["sms"], ["sms", "send"], ["sms", "listen"], ["udp-echo"], ["at"], ["emulate"]],
)
def test_help_teaches_with_examples(command: list[str]) -> None:
    result = run_cli(*command, "--help", in_process=True)
    assert result.returncode == 0, result.stderr
    assert "example" in result.stdout
    assert "m2mclient modem" in result.stdout


def test_without_a_command_the_area_prints_its_help_and_fails() -> None:
    result = run_cli(in_process=True)
    assert result.returncode == 1
    assert "commands:" in result.stdout and "emulate" in result.stdout


def test_mistakes_are_one_line_on_stderr() -> None:
    assert "--port" in one_error_line(run_cli("info"))
    missing = one_error_line(run_cli("--port", "/dev/m2mclient-no-such-port", "info"))
    assert "cannot open /dev/m2mclient-no-such-port" in missing and "plugged in" in missing  # the hint


def test_option_mistakes_are_caught_before_the_port_opens() -> None:
    def fails(*args: str) -> CliResult:
        return run_cli("--port", "/dev/null", *args, in_process=True)

    assert "--tau" in one_error_line(fails("psm"))
    assert "--off" in one_error_line(fails("psm", "--off", "--tau", "1h"))
    assert "--cycle" in one_error_line(fails("edrx"))
    # argparse's own usage errors: exit 2 and what was wrong with the value.
    bad_duration = fails("psm", "--tau", "2 fortnights")
    assert bad_duration.returncode == 2 and "unknown unit" in bad_duration.stderr
    assert "lte-m" in fails("edrx", "--cycle", "20s", "--rat", "gprs").stderr
    assert "not hex" in fails("sms", "send", "--to", "+49", "--hex", "xyz").stderr
    assert fails("--model", "nokia3310", "info").returncode == 2
    assert run_cli("emulate", "--model", "generic", in_process=True).returncode == 2


# --- against the emulated module ---------------------------------------------------------------


def test_info_reports_identity_registration_signal_and_grants(port: str) -> None:
    info = run_cli("--port", port, "info").json()
    assert info["driver"] == "sim7080"  # detected: --model defaults to auto
    assert info["identity"]["imei"] == "490154203237518"
    assert info["identity"]["iccid"].startswith("89")
    assert info["registration"]["registered"] is True
    assert info["registration"]["rat"] == "LTE-M"
    assert info["operator"]["name"] == "00101"
    assert info["signal"] == {"rssi_dbm": -73, "ber": None, "rsrp_dbm": -95, "rsrq_db": -10.0}
    assert info["psm"] is None and info["edrx"]["in_use"] is False
    assert info["unavailable"] == {}


def test_psm_prints_requested_and_granted_then_switches_off(port: str) -> None:
    # A long active time: the shared module must not fall into PSM before the next command.
    result = run_cli("--port", port, "--model", "sim7080", "psm", "--tau", "1h", "--active", "3m", "--wait", "2s")
    document = result.json()
    tau = document["requested"]["tau"]
    assert (tau["seconds"], tau["duration"], tau["exact"]) == (3600, "1h", True)
    assert len(tau["bits"]) == 8 and set(tau["bits"]) <= {"0", "1"}
    assert document["requested"]["active_time"]["seconds"] == 180
    granted = document["granted"]
    assert (granted["psm"], granted["tau_s"], granted["active_time"]) == (True, 3600, "3m")
    assert run_cli("--port", port, "info").json()["psm"]["tau"] == "1h"

    off = run_cli("--port", port, "psm", "--off").json()
    assert off == {"requested": "off", "granted": None}


def test_a_timer_that_cannot_be_coded_exactly_says_so(port: str) -> None:
    document = run_cli("--port", port, "psm", "--tau", "101m", "--active", "3m").json()
    tau = document["requested"]["tau"]
    assert tau["exact"] is False and tau["seconds"] > 6060  # rounded up to a codable value
    assert run_cli("--port", port, "psm", "--off").returncode == 0


def test_edrx_prints_requested_and_granted_then_switches_off(port: str) -> None:
    document = run_cli("--port", port, "edrx", "--cycle", "81.92s", "--rat", "lte-m").json()
    assert document["requested"] == {
        "rat": "LTE-M",
        "cycle": {"bits": "0101", "seconds": 81.92, "exact": True},
        "ptw": None,
    }
    assert document["granted"]["in_use"] is True and document["granted"]["cycle_s"] == 81.92
    rounded = run_cli("--port", port, "edrx", "--cycle", "80s").json()  # the registered RAT, rounded down
    assert rounded["requested"]["cycle"] == {"bits": "0100", "seconds": 61.44, "exact": False}
    off = run_cli("--port", port, "edrx", "--off").json()
    assert off["requested"] == "off" and off["granted"]["in_use"] is False


def test_at_prints_the_answer_and_explains_an_error(port: str) -> None:
    result = run_cli("--port", port, "at", "AT+CSQ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["+CSQ: 20,99", "OK"]
    assert run_cli("--port", port, "at", "+CGMM").stdout.splitlines() == ["SIMCOM_SIM7080G", "OK"]

    refused = run_cli("--port", port, "--model", "sim7080", "at", "AT+NOSUCH")
    line = one_error_line(refused)
    assert refused.stdout.splitlines()[-1] in ("ERROR", "+CME ERROR: 4")
    assert "AT+NOSUCH" in line and ("operation not supported" in line or "without a reason" in line)


def test_udp_echo_goes_through_the_modules_socket(port: str, echo_peer: tuple[str, int]) -> None:
    host, peer_port = echo_peer
    reply = run_cli("--port", port, "udp-echo", host, str(peer_port), "--payload", "hello modem").json()
    assert reply["reply_text"] == "hello modem"
    assert reply["from"] == f"{host}:{peer_port}" and reply["to"] == f"{host}:{peer_port}"
    binary = run_cli("--port", port, "udp-echo", "localhost", str(peer_port), "--hex", "00ff0d0a1a").json()
    assert binary["reply_hex"] == "00ff0d0a1a" and binary["to"] == f"127.0.0.1:{peer_port}"


def test_udp_echo_without_a_reply_fails_in_one_line(port: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        result = run_cli("--port", port, "udp-echo", "127.0.0.1", str(silent.getsockname()[1]), "--timeout", "0.5s")
    assert "no reply from 127.0.0.1" in one_error_line(result)


def test_sms_send_prints_the_tp_mr(port: str) -> None:
    binary = run_cli("--port", port, "sms", "send", "--to", "+4915100000001", "--hex", "c0ffee", "--class", "2").json()
    assert binary["to"] == "+4915100000001" and binary["parts"] == 1 and binary["bytes"] == 3
    assert len(binary["tp_mr"]) == 1 and 0 <= binary["tp_mr"][0] <= 255
    long_text = run_cli("--port", port, "sms", "send", "--to", "+4915100000001", "--text", "x" * 200).json()
    assert long_text["parts"] == 2 and len(long_text["tp_mr"]) == 2  # concatenated


def test_sms_listen_prints_stored_then_live_messages_until_ctrl_c() -> None:
    with emulate("--model", "bg96") as (emulator, port):
        emulator.type("sms +4915100000001 c0ffee")  # arrives while nobody listens: kept on the SIM
        assert emulator.line() == "sms delivered from +4915100000001"
        listener = Process("--port", port, "--model", "bg96", "sms", "listen")
        try:
            stored = json.loads(listener.line())
            assert (stored["from"], stored["hex"], stored["parts"]) == ("+4915100000001", "c0ffee", 1)
            emulator.type("text +4915100000002 hello from the network")
            assert emulator.line() == "sms delivered from +4915100000002"
            live = json.loads(listener.line())
            assert (live["from"], live["text"]) == ("+4915100000002", "hello from the network")
            code, rest = listener.interrupt()
            assert code == 0 and rest == []
        finally:
            listener.close()


def test_emulate_serves_until_ctrl_c_and_prints_the_energy_report() -> None:
    with emulate("--model", "bc66", "--energy", "--rssi", "-95") as (emulator, port):
        info = run_cli("--port", port, "info").json()
        assert info["driver"] == "bc66" and info["signal"]["rssi_dbm"] == -95
        emulator.type("state")
        assert emulator.line() in ("connected", "idle")
        emulator.type("energy")
        assert json.loads(emulator.line())["total_seconds"] > 0
        emulator.type("register 3")
        assert emulator.line() == "registration stat 3"
        assert run_cli("--port", port, "info").json()["registration"]["stat"] == "denied"
        emulator.type("frobnicate")
        assert emulator.line().startswith("unknown command")
        code, rest = emulator.interrupt()
    assert code == 0
    report = json.loads(rest[-1])
    assert set(report["seconds"]) == {"connected", "idle", "psm", "off"}
    assert report["total_seconds"] == pytest.approx(sum(report["seconds"].values()), abs=0.01)
    assert report["total_mah"] > 0

