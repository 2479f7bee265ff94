"""The ``m2mclient`` command: a subcommand per area (``m2mclient lwm2m ...``, ``m2mclient demo``).

Every command prints its result on stdout (JSON, hex or one line per event, so
scripts can use it) and reports failure as one line on stderr with a non-zero
exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from m2mclient import __version__
from m2mclient.errors import M2MError

EXIT_FAILURE = 1

_MAIN_EPILOG = """\
examples:
  m2mclient demo                      a client and a server on loopback, end to end
  m2mclient lwm2m run --server coap://127.0.0.1:5683 --endpoint my-pi
  m2mclient lwm2m server --port 5683  a test server you drive by typing commands
  m2mclient lwm2m encode --format tlv --path /3/0 --json '{"/3/0/0": "ACME", "/3/0/6/0": 1}'
  m2mclient lwm2m decode --format tlv --path /3/0 --hex c40041434d45
  m2mclient modem --port /dev/ttyUSB2 info      identity, registration, signal, PSM/eDRX of a module
  m2mclient modem emulate --model sim7080       a module on a pty, to try it all without hardware
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cmy-pi register --app-id Nmy.app --name my-pi

Run 'm2mclient lwm2m --help' or 'm2mclient lwm2m run --help' for more.
"""

_LWM2M_EPILOG = """\
JSON values: strings, numbers and booleans as themselves; opaque as {"hex": "0a1b"};
object links as {"objlnk": "3:0"}. Paths are full LwM2M paths: /3/0/0, /3/0/6/1.
Types come from the built-in objects (0-7, 3303) and any --object-file you add;
a resource nobody defined decodes as opaque from untyped formats (tlv, text).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``m2mclient`` console script; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_FAILURE
    try:
        return handler(args)
    except (M2MError, OSError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"m2mclient: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _build_parser() -> argparse.ArgumentParser:
    from m2mclient.cli.lwm2m_client import add_client_commands, add_demo_command
    from m2mclient.cli.modem import add_modem_commands
    from m2mclient.cli.onem2m import add_onem2m_commands
    from m2mclient.cli.payloads import add_payload_commands

    parser = argparse.ArgumentParser(
        prog="m2mclient",
        description="LwM2M and oneM2M for constrained devices: run an LwM2M client, test it, inspect payloads.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"m2mclient {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    areas: Any = parser.add_subparsers(title="areas", metavar="AREA")
    lwm2m = areas.add_parser(
        "lwm2m",
        help="LwM2M: run a client or a test server, encode and decode payloads",
        description="Run an LwM2M client or test server; encode and decode payloads in every content format.",
        epilog=_LWM2M_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = lwm2m.add_subparsers(title="commands", metavar="COMMAND")
    add_client_commands(commands)
    add_payload_commands(commands)
    add_demo_command(areas)
    add_modem_commands(areas)
    add_onem2m_commands(areas)
    return parser
