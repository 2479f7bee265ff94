"""Run ACME CSE (PyPI ``acmecse``) so that SIGTERM and SIGINT stop it in order.

Runs under ACME's own interpreter (``.ci/acme-venv/bin/python``), never ours: it
imports nothing from m2mclient or pytest. Arguments go to ACME unchanged, e.g.::

    .ci/acme-venv/bin/python tests/onem2m/acme/launcher.py --base-directory DIR

with ``DIR/acme.ini`` a copy of ``acme.ini`` next to this file. Headless mode comes
from that file's ``[console] headless``; ``--headless`` on the command line would
also hide ACME's configuration errors (it then exits 0 showing only its banner).

Why not ``python -m acmecse`` directly: ACME installs no SIGTERM handler, so
SIGTERM kills it without its shutdown (bindings, sockets, log flush), and a process
started in the background by a non-interactive shell inherits SIGINT as *ignored*,
so Ctrl-C style stops do nothing. ACME's shutdown runs when the main thread sees
KeyboardInterrupt (its atexit handler), so both signals are turned into that.
A second signal while the shutdown is running ends the process at once.

With ``M2M_ACME_PARENT_PID`` set (the test fixture sets it), ACME also stops itself
when that process is gone, so a killed pytest run leaves no CSE holding ports.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import sys
import threading
import time
from types import FrameType

_signals_seen: list[int] = []


def _stop(signum: int, frame: FrameType | None) -> None:
    if _signals_seen:
        # Asked again while shutting down: the caller has given up waiting.
        os._exit(128 + signum)
    _signals_seen.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)  # handled by _stop in the main thread


def main() -> None:
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    parent = os.environ.get("M2M_ACME_PARENT_PID", "")
    if parent.isdigit():
        threading.Thread(target=_watch_parent, args=(int(parent),), name="parent-watch", daemon=True).start()
    sys.argv = ["acmecse", *sys.argv[1:]]
    # ACME's atexit handler performs the orderly shutdown as the interpreter exits.
    with contextlib.suppress(KeyboardInterrupt):
        runpy.run_module("acmecse", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
