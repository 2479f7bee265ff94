"""The ACME CSE peer for oneM2M tests: ``acme_cse``, one real CSE per test session.

ACME (PyPI ``acmecse``, pinned below) runs in its own virtualenv so its many
dependencies never mix with ours; ``.ci/run`` creates it. Locally a missing ACME
skips every test that uses the fixture, saying how to install it; with ``CI=true``
those tests fail instead.

Each session writes ``tests/onem2m/acme/acme.ini`` into a fresh base directory with
free loopback ports, starts ACME through ``tests/onem2m/acme/launcher.py`` and
waits until ACME itself says it has started *and* every binding answers:

* HTTP: a RETRIEVE of the CSEBase returns 200 ``m2m:cb``. ACME's HTTP server
  answers a few hundred ms before its attribute policies are imported (requests
  then get 400 "validation for attribute fr not defined for resource type:
  REQRESP"), so "the port answers" is not enough.
* ``CSE started`` on ACME's stdout: printed (2 s after) startup has finished,
  including the init script that creates the CSEBase *and then* its default ACPs,
  so a 200 from the CSEBase alone does not prove those exist yet. ACME also only
  runs its orderly shutdown once it has reached this state.
* WebSocket and CoAP: ACME keeps running when either cannot bind its port (it
  only logs ``Address already in use``), so both are probed, and a port clash
  found in ACME's log restarts it on new ports.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACME_VERSION = "2026.5.3"
REPO_ROOT = Path(__file__).resolve().parents[2]
ACME_DIR = Path(__file__).resolve().parent / "acme"
CONFIG_TEMPLATE = ACME_DIR / "acme.ini"
LAUNCHER = ACME_DIR / "launcher.py"
DEFAULT_ACME_PYTHON = REPO_ROOT / ".ci" / "acme-venv" / "bin" / "python"
INSTALL = f"python3 -m venv .ci/acme-venv && .ci/acme-venv/bin/pip install acmecse=={ACME_VERSION}"

LOOPBACK = "127.0.0.1"
CSE_ID = "/id-in"
CSE_NAME = "cse-in"
ADMIN_ORIGINATOR = "CAdmin"

# Measured: ACME answers HTTP ~0.8 s and prints "CSE started" ~2.8 s after launch
# (reference machine: ~2 s / ~3.1 s). The bound is for a loaded CI machine.
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3  # only a port clash is retried
LOG_TAIL_LINES = 40

# Where the proxy variables would send ACME's notifications to an AE's
# http://127.0.0.1 poa (ACME sends with `requests`, which honours them), and
# which PYTHON* variables would mix our environment into ACME's interpreter.
_SCRUBBED_ENV = frozenset(
    name.lower() for name in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy")
) | {"pythonpath", "pythonhome", "pythonstartup"}


@dataclass(frozen=True)
class AcmeCSE:
    """A running ACME CSE on loopback.

    URLs have no trailing slash: the CSEBase is ``f"{http_url}/{cse_name}"``
    (structured) or ``f"{http_url}{cse_id}"`` (unstructured).
    """

    http_url: str  # http://127.0.0.1:<port>
    ws_url: str  # ws://127.0.0.1:<port>  (subprotocols oneM2M.json / oneM2M.cbor)
    coap_url: str  # coap://127.0.0.1:<port>  (UDP)
    http_port: int
    ws_port: int
    coap_port: int
    cse_id: str  # "/id-in"
    cse_name: str  # "cse-in"
    admin_originator: str  # "CAdmin"
    log_path: Path  # ACME's stdout + stderr (banner, config errors, tracebacks)
    cse_log_path: Path  # ACME's own log file (startup, bindings, errors; logLevel=info)
    base_dir: Path  # --base-directory: acme.ini, logs/
    version: str
    pid: int

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _describe_logs(self.log_path, self.cse_log_path, lines)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


_PROBE = "import importlib.metadata as m, sys; print(m.version('acmecse'), '%d.%d' % sys.version_info[:2])"


def find_acme_python() -> tuple[Path, str]:
    """ACME's interpreter and the acmecse version it has; skips (or fails in CI) when missing."""
    configured = os.environ.get("M2M_ACME_PYTHON", "").strip()
    if configured:
        python = Path(configured)
        origin = f"M2M_ACME_PYTHON={configured}"
    else:
        python = DEFAULT_ACME_PYTHON
        origin = str(DEFAULT_ACME_PYTHON.relative_to(REPO_ROOT))
        if not python.exists():
            _unavailable(
                f"ACME CSE peer unavailable: no {origin} (and M2M_ACME_PYTHON is not set); "
                f"install it from the repository root with: {INSTALL}"
            )
    if not (python.is_file() and os.access(python, os.X_OK)):
        # Set explicitly and wrong: a mistake to report, not a missing peer.
        pytest.fail(f"ACME CSE peer: {origin} is not an executable Python interpreter", pytrace=False)
    probe = subprocess.run(
        [str(python), "-c", _PROBE],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=_acme_env(),
    )
    if probe.returncode != 0:
        error = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        _unavailable(
            f"ACME CSE peer unavailable: {origin} has no acmecse installed ({error}); install it with: {INSTALL}"
        )
    version, python_version = probe.stdout.split()
    if tuple(map(int, python_version.split("."))) < (3, 11):
        # acmecse declares no Requires-Python, so pip installs it on 3.10; it then refuses to run.
        _unavailable(
            f"ACME CSE peer unavailable: {origin} is Python {python_version}, ACME needs >= 3.11; "
            f"recreate it with a newer python3: rm -rf .ci/acme-venv && {INSTALL}"
        )
    if version != ACME_VERSION:
        warnings.warn(
            f"ACME CSE peer: {origin} has acmecse {version}; these tests are pinned to {ACME_VERSION} "
            f"(reinstall: {INSTALL})",
            stacklevel=1,
        )
    return python, version


def _acme_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"  # "CSE started" must reach the log file when printed
    env["M2M_ACME_PARENT_PID"] = str(os.getpid())  # the launcher stops ACME if we die
    return env


# --- configuration -------------------------------------------------------------------------

# (section, key) in acme.ini -> which port goes there
_PORT_KEYS = {("basic.config", "httpport"): "http", ("websocket", "port"): "ws", ("coap", "port"): "coap"}
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_OPTION = re.compile(r"^(?P<key>\s*[A-Za-z0-9_.]+)\s*=")


def render_config(template: str, ports: dict[str, int]) -> str:
    """The template with its port options replaced; comments and layout kept."""
    section = ""
    seen: set[tuple[str, str]] = set()
    out = []
    for line in template.splitlines(keepends=True):
        if match := _SECTION.match(line):
            section = match["name"].strip()
        elif (match := _OPTION.match(line)) and (where := (section, match["key"].strip().lower())) in _PORT_KEYS:
            if where in seen:
                raise ValueError(f"{CONFIG_TEMPLATE}: [{where[0]}] {where[1]} set twice")
            seen.add(where)
            out.append(f"{match['key']}={ports[_PORT_KEYS[where]]}\n")
            continue
        out.append(line)
    if missing := set(_PORT_KEYS) - seen:
        raise ValueError(f"{CONFIG_TEMPLATE}: no {sorted(missing)} to rewrite; the fixture and the template disagree")
    return "".join(out)


def free_ports() -> dict[str, int]:
    """Ports the kernel has just handed out on loopback: two TCP (HTTP, WS), one UDP (CoAP)."""
    held = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        for sock in held:
            sock.bind((LOOPBACK, 0))  # all bound before any is closed, so HTTP != WS
        http, ws, coap = (sock.getsockname()[1] for sock in held)
    finally:
        for sock in held:
            sock.close()
    return {"http": http, "ws": ws, "coap": coap}


# --- probes ---------------------------------------------------------------------------------

# Proxies would turn a loopback probe into a request to the proxy.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_ready(http_url: str) -> bool:
    request = urllib.request.Request(
        f"{http_url}{CSE_ID}",
        headers={
            "X-M2M-Origin": ADMIN_ORIGINATOR,
            "X-M2M-RI": f"fixture-{secrets.token_hex(4)}",
            "X-M2M-RVI": "3",
            "Accept": "application/json",
        },
    )
    try:
        with _NO_PROXY_OPENER.open(request, timeout=2) as response:
            return response.status == 200 and b'"m2m:cb"' in response.read()
    except (urllib.error.URLError, OSError):  # HTTPError is a URLError: 400 while policies load
        return False


def _ws_ready(port: int) -> bool:
    """The WebSocket server answers a plain HTTP request (with 426 Upgrade Required)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def _coap_ready(port: int) -> bool:
    """A CON GET of /cse-in gets an ACK; ACME ignores empty pings, so a real (if incomplete) request."""
    message_id = secrets.randbits(16)
    uri_path = CSE_NAME.encode()  # option 11, delta 11, length < 13
    request = bytes([0x41, 0x01, message_id >> 8, message_id & 0xFF, 0x5A, 0xB0 | len(uri_path)]) + uri_path
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect((LOOPBACK, port))
            sock.send(request)
            reply = sock.recv(2048)
        except OSError:
            return False
    return len(reply) >= 4 and reply[0] >> 4 == 0b0110 and int.from_bytes(reply[2:4], "big") == message_id


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({exc})"
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(empty)"


def _describe_logs(log_path: Path, cse_log_path: Path, lines: int) -> str:
    return (
        f"--- {log_path} (stdout+stderr), last lines:\n{_tail(log_path, lines)}\n"
        f"--- {cse_log_path} (ACME log), last lines:\n{_tail(cse_log_path, lines)}"
    )


def _cse_log(base_dir: Path) -> Path:
    # ACME names it cse-<SP-ID>-<CSE-ID>.log; the expected name until it exists.
    found = sorted((base_dir / "logs").glob("cse-*.log"))
    return found[0] if found else base_dir / "logs" / "cse-acme.example.com-id-in.log"


# --- process --------------------------------------------------------------------------------


class _PortClashError(Exception):
    pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # launcher.py: orderly shutdown (~0.2 s measured)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start(python: Path, version: str, base_dir: Path) -> tuple[AcmeCSE, subprocess.Popen[bytes]]:
    ports = free_ports()
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "acme.ini").write_text(render_config(CONFIG_TEMPLATE.read_text(), ports))
    log_path = base_dir / "acme.out"
    http_url = f"http://{LOOPBACK}:{ports['http']}"
    with log_path.open("wb") as log:
        # Not --headless on the command line: that also silences ACME's configuration
        # errors (it then exits 0 having printed only its banner). [console] headless in
        # acme.ini runs it headless with errors still printed.
        process = subprocess.Popen(
            [str(python), str(LAUNCHER), "--base-directory", str(base_dir)],
            cwd=base_dir,
            env=_acme_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in pytest's terminal reaches pytest only; teardown stops ACME
        )
    started = time.monotonic()
    deadline = started + STARTUP_TIMEOUT
    pending = {"http", "started", "ws", "coap"}
    try:
        while pending:
            if process.poll() is not None:
                break
            if "http" in pending and _http_ready(http_url):
                pending.discard("http")
            if "started" in pending and "CSE started" in log_path.read_text(errors="replace"):
                pending.discard("started")
            if "Address already in use" in _tail(_cse_log(base_dir), 10_000):
                raise _PortClashError()
            if "started" not in pending:
                if "ws" in pending and _ws_ready(ports["ws"]):
                    pending.discard("ws")
                if "coap" in pending and _coap_ready(ports["coap"]):
                    pending.discard("coap")
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if pending:
            logs = _describe_logs(log_path, _cse_log(base_dir), LOG_TAIL_LINES)
            if "already in use" in logs:
                raise _PortClashError()
            if process.poll() is not None:
                reason = f"exited with status {process.returncode} during startup"
            else:
                reason = f"not ready after {STARTUP_TIMEOUT:.0f} s (still waiting for: {', '.join(sorted(pending))})"
            pytest.fail(f"ACME CSE {reason}\n{logs}", pytrace=False)
    except BaseException:
        _stop(process)
        raise
    cse = AcmeCSE(
        http_url=http_url,
        ws_url=f"ws://{LOOPBACK}:{ports['ws']}",
        coap_url=f"coap://{LOOPBACK}:{ports['coap']}",
        http_port=ports["http"],
        ws_port=ports["ws"],
        coap_port=ports["coap"],
        cse_id=CSE_ID,
        cse_name=CSE_NAME,
        admin_originator=ADMIN_ORIGINATOR,
        log_path=log_path,
        cse_log_path=_cse_log(base_dir),
        base_dir=base_dir,
        version=version,
        pid=process.pid,
    )
    ready_after = time.monotonic() - started
    sys.stderr.write(f"\nACME CSE {version} ready in {ready_after:.1f} s: {http_url} (logs in {base_dir})\n")
    return cse, process


@pytest.fixture(scope="session")
def acme_cse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeCSE]:
    """A fresh ACME CSE (in-memory DB) on free loopback ports for the whole session."""
    python, version = find_acme_python()
    root = tmp_path_factory.mktemp("acme")
    for attempt in range(1, START_ATTEMPTS + 1):
        base_dir = root / f"run{attempt}"
        try:
            cse, process = _start(python, version, base_dir)
            break
        except _PortClashError:
            if attempt == START_ATTEMPTS:
                pytest.fail(
                    f"ACME CSE: a port was taken by another process on {START_ATTEMPTS} attempts\n"
                    + _describe_logs(base_dir / "acme.out", _cse_log(base_dir), LOG_TAIL_LINES),
                    pytrace=False,
                )
    try:
        yield cse
    finally:
        died = process.poll()
        _stop(process)
        if died is not None:
            warnings.warn(f"ACME CSE exited with status {died} during the session\n{cse.log_tail()}", stacklevel=1)
        elif process.returncode == -signal.SIGKILL:
            warnings.warn(
                f"ACME CSE ignored SIGTERM for {STOP_TIMEOUT:.0f} s and was killed\n{cse.log_tail()}", stacklevel=1
            )
        elif process.returncode != 0:
            warnings.warn(f"ACME CSE stopped with status {process.returncode}\n{cse.log_tail()}", stacklevel=1)


# ---------------------------------------------------------------------------
# Spec texts (shared/specs, or $M2M_SPECS_DIR)
# ---------------------------------------------------------------------------

TS0009 = "onem2m-ts0009-http-binding-v4.4.1.md"


def find_spec(name: str) -> Path | None:
    """shared/specs/<name>, from $M2M_SPECS_DIR or the nearest parent holding shared/specs."""
    if os.environ.get("M2M_SPECS_DIR"):
        candidate = Path(os.environ["M2M_SPECS_DIR"]) / name
        return candidate if candidate.is_file() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "specs" / name
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def ts0009() -> str:
    """The text of TS-0009 V4.4.1 (the HTTP binding); skips the test when it is not found."""
    path = find_spec(TS0009)
    if path is None:
        pytest.skip(f"{TS0009} not found (set M2M_SPECS_DIR)")
    return path.read_text()
