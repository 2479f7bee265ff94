"""``m2mclient onem2m ...``: drive a oneM2M AE from the shell (register, publish, subscribe, ...).

Each command is one short-lived process. The registration (AE-ID, resource
name, release version) and readings that could not be sent yet persist in the
state directory between invocations, so ``register`` once and then
``publish`` as often as you like. Output is JSON on stdout (``subscribe``:
one JSON line per notification); a failure is one line on stderr naming the
Response Status Code, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from m2mclient.onem2m.ae import AE, ReceivedNotification
from m2mclient.onem2m.primitives import SUPPORTED_RELEASES, OneM2MError, OneM2MUsageError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130

#: Seconds between our WebSocket frames (see _make_ae).
WS_FRAME_INTERVAL = 0.05

_EPILOG = """\
examples (ACME CSE on this machine; POA is the CSE's point of access for the binding):
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 register --app-id Nsensor --name pi7
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 create-container temperature --mni 100
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 publish temperature 21.5
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 publish temperature '{"t": 21.5}' --json
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 latest temperature
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 subscribe temperature   (Ctrl-C ends)
  m2mclient onem2m --cse ws://127.0.0.1:8180 --serialization cbor --originator Cpi7 retrieve temperature/la
  m2mclient onem2m --cse coap://127.0.0.1:5683 --originator Cpi7 discover --ty 4
  m2mclient onem2m --cse http://127.0.0.1:8080 --originator Cpi7 deregister

Resource arguments are names relative to the AE (temperature, temperature/la), CSE-relative
ids (cse-in/other-ae/data) or SP-relative ids (/id-in/cnt123).

--originator: C<name> / S<name> chooses the AE-ID; a bare C or S lets the CSE assign one.
The registration and queued readings live in --state-dir (default
$XDG_STATE_HOME/m2mclient/onem2m/<cse-id>-<originator>, or ~/.local/state/...), so the
same --cse-id and --originator find them again. A reading the CSE cannot take right now
(link down) is queued there and sent by the next command that reaches the CSE, or by 'flush'.

Errors print the Response Status Code name on stderr, e.g.
  m2mclient onem2m: NOT_FOUND (4004) for RETRIEVE cse-in/pi7/nothing: ...
and exit with status 1.
"""

_SUBSCRIBE_EPILOG = """\
Prints {"subscribed": ...} once the subscription exists, then one JSON line per
notification: {"subscription", "event", "resourceType", "deleted", "value", "resource"}.
"value" is the decoded content of a new contentInstance. Ctrl-C (or SIGTERM) deletes
the subscription (unless --keep) and exits.

The CSE must be able to reach this process: over HTTP it runs a notification server
(--listen, --notification-url for NAT / port forwards); over WebSocket notifications
come back on the connection; with --polling-channel it long-polls the CSE instead and
needs no inbound connection at all (the way for CoAP on ACME, which cannot send CoAP
notifications).

Over WebSocket the CSE keeps one connection per AE-ID: another command run with the
same --originator over ws:// while subscribe runs takes the connection over (ACME closes
the older one). Publish over http:// or coap:// meanwhile, or from another originator.
"""


def add_onem2m_commands(areas: Any) -> None:
    """Add the ``onem2m`` area and its commands to the ``m2mclient`` parser's subparsers."""
    parser = areas.add_parser(
        "onem2m",
        help="oneM2M AE: register at a CSE, create containers, publish, subscribe",
        description="Act as a oneM2M Application Entity at a CSE over HTTP, WebSocket or CoAP, in JSON or CBOR.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cse", required=True, metavar="POA", help="the CSE's point of access: http://, ws://, coap:// host:port"
    )
    parser.add_argument("--cse-id", default="/id-in", help="the CSE-ID (default: /id-in, ACME's)")
    parser.add_argument("--cse-name", default="cse-in", help="the CSEBase resource name (default: cse-in, ACME's)")
    parser.add_argument(
        "--binding", choices=["http", "ws", "coap"], help="protocol binding (default: from the --cse scheme)"
    )
    parser.add_argument("--serialization", choices=["json", "cbor"], default="json", help="default: json")
    parser.add_argument(
        "--originator",
        required=True,
        metavar="ORIG",
        help="the AE-ID to register as (C... / S...), or C / S for one the CSE assigns",
    )
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="where the registration and queue persist")
    parser.add_argument(
        "--release",
        action="append",
        metavar="RVI",
        help=f"a release version we speak (repeatable; default: {' '.join(SUPPORTED_RELEASES)})",
    )
    parser.add_argument(
        "--polling-channel",
        action="store_true",
        help="no inbound connections: register with rr=false and long-poll a <pollingChannel>",
    )
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds per request (default 30)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_registration_commands(commands)
    _add_data_commands(commands)
    _add_subscribe_command(commands)
    parser.set_defaults(handler=lambda args: _missing_command(parser))


def _add_registration_commands(commands: Any) -> None:
    register = commands.add_parser(
        "register",
        help="register the AE (or take over the stored / existing registration)",
        description="Register the AE. Run again, it finds the stored registration and does not register twice.",
    )
    register.add_argument("--app-id", metavar="N...", help="App-ID: N<anything> or Rorg.example.app")
    register.add_argument("--name", help="the AE's resource name")
    register.add_argument("--lifetime", type=float, metavar="S", help="registration lifetime in seconds")
    register.set_defaults(handler=_handler(_register))

    deregister = commands.add_parser("deregister", help="delete the AE and forget the stored registration")
    deregister.set_defaults(handler=_handler(_deregister))


def _add_data_commands(commands: Any) -> None:
    create = commands.add_parser("create-container", help="create a container (no error if it exists)")
    create.add_argument("name")
    create.add_argument("--parent", default="", help="parent resource (default: the AE)")
    create.add_argument("--mni", type=int, help="maximum number of instances")
    create.add_argument("--mbs", type=int, help="maximum byte size")
    create.add_argument("--mia", type=int, help="maximum instance age (s)")
    create.add_argument("--label", action="append", default=[], help="a label (repeatable)")
    create.set_defaults(handler=_handler(_create_container))

    publish = commands.add_parser(
        "publish",
        help="add a content instance (queued and retried if the CSE is unreachable)",
        description="Add VALUE to CONTAINER as a contentInstance (text/plain unless --json or --cnf).",
    )
    publish.add_argument("container")
    publish.add_argument("value")
    publish.add_argument("--json", action="store_true", help="VALUE is JSON (a number, object, ...)")
    publish.add_argument("--cnf", help="contentInfo to send VALUE with, unchanged (e.g. text/plain:0)")
    publish.set_defaults(handler=_handler(_publish))

    latest = commands.add_parser("latest", help="the newest content instance of a container")
    latest.add_argument("container")
    latest.set_defaults(handler=_handler(_latest))

    retrieve = commands.add_parser("retrieve", help="retrieve a resource and print its content")
    retrieve.add_argument("path", nargs="?", default="")
    retrieve.add_argument("--rcn", type=int, help="result content (e.g. 4: attributes and children)")
    retrieve.set_defaults(handler=_handler(_retrieve))

    discover = commands.add_parser("discover", help="list resource ids below a resource (default: the AE)")
    discover.add_argument("under", nargs="?", default="")
    discover.add_argument("--ty", type=int, action="append", help="resource type (repeatable): 3 cnt, 4 cin, 23 sub")
    discover.add_argument("--label", action="append", help="label (repeatable)")
    discover.add_argument("--limit", type=int, help="at most this many results")
    discover.set_defaults(handler=_handler(_discover))

    flush = commands.add_parser("flush", help="send readings queued while the CSE was unreachable")
    flush.set_defaults(handler=_handler(_flush))


def _add_subscribe_command(commands: Any) -> None:
    subscribe = commands.add_parser(
        "subscribe",
        help="print each notification for a resource as a JSON line until Ctrl-C",
        epilog=_SUBSCRIBE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subscribe.add_argument("target")
    subscribe.add_argument("--name", help="the subscription's resource name (default: sub-<AE name>)")
    subscribe.add_argument(
        "--net",
        type=int,
        action="append",
        help="notification event type (repeatable): 1 update, 2 delete, 3 child created (default), 4 child deleted",
    )
    subscribe.add_argument("--keep", action="store_true", help="leave the subscription in place on exit")
    subscribe.add_argument("--listen", metavar="HOST[:PORT]", help="HTTP notification server address (127.0.0.1:0)")
    subscribe.add_argument("--notification-url", metavar="URL", help="poa to register instead (NAT, port forward)")
    subscribe.set_defaults(handler=_handler(_subscribe))


def _missing_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_FAILURE


# ---------------------------------------------------------------------------
# Plumbing
# ---------------------------------------------------------------------------

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            result = asyncio.run(command(args))
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except OneM2MUsageError as exc:
            _fail(f"usage error: {_one_line(str(exc))}")
            return EXIT_FAILURE
        except OneM2MError as exc:
            _fail(f"{exc.name} ({int(exc.rsc)}){_detail(exc)}")
            return EXIT_FAILURE
        except OSError as exc:
            _fail(f"{type(exc).__name__}: {_one_line(str(exc))}")
            return EXIT_FAILURE
        if result is not None:
            _print(result)
        return EXIT_OK

    return run


def _fail(message: str) -> None:
    print(f"m2mclient onem2m: {message}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _detail(exc: OneM2MError) -> str:
    """The rest of the error's message after its ``<rsc> <NAME>`` lead."""
    text = _one_line(str(exc))
    lead = f"{int(exc.rsc)} {exc.name}"
    if text.startswith(lead):
        text = text[len(lead) :]
    return text if text.startswith((" ", ":", ";")) or not text else f": {text}"


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _print(value: Any) -> None:
    print(json.dumps(_jsonable(value), ensure_ascii=False), flush=True)


def default_state_dir(cse_id: str, originator: str) -> Path:
    """Where the CLI keeps an AE's state unless told otherwise (XDG base directory spec)."""
    root = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{cse_id.strip('/')}-{originator}")
    return Path(root) / "m2mclient" / "onem2m" / label


def _binding_kind(args: argparse.Namespace) -> str:
    if args.binding:
        return str(args.binding)
    scheme = urlsplit(args.cse).scheme.lower()
    return {"https": "http", "wss": "ws", "coaps": "coap"}.get(scheme) or scheme


def _make_ae(args: argparse.Namespace, *, receive: bool = False, **options: Any) -> AE:
    binding_options: dict[str, Any] = {}
    if _binding_kind(args) == "ws":
        # ACME 2026.5.3 mishandles WebSocket frames that reach it back to back
        # (bindings/ws.py, "Back-to-back frames"); 50 ms between ours costs a
        # command nothing noticeable.
        binding_options["min_frame_interval"] = WS_FRAME_INTERVAL
    if _binding_kind(args) == "http":
        listen = getattr(args, "listen", None)
        url = getattr(args, "notification_url", None)
        if not receive or args.polling_channel:
            # One-shot commands need no notification server; registering its port
            # as poa would leave the CSE a dead address when the command exits.
            binding_options["notification_host"] = None
        elif listen:
            host, _, port = listen.rpartition(":") if ":" in listen else (listen, "", "0")
            binding_options["notification_host"] = host or "127.0.0.1"
            binding_options["notification_port"] = int(port or 0)
        if url and receive:
            binding_options["notification_url"] = url
    return AE(
        args.cse,
        binding=args.binding,
        serialization=args.serialization,
        originator=args.originator,
        cse_id=args.cse_id,
        cse_name=args.cse_name,
        state_dir=args.state_dir or default_state_dir(args.cse_id, args.originator),
        release_versions=tuple(args.release) if args.release else SUPPORTED_RELEASES,
        polling_channel=args.polling_channel,
        request_timeout=args.timeout,
        binding_options=binding_options,
        **options,
    )


def _queue_note(ae: AE) -> dict[str, Any]:
    return {"queued": len(ae.queue)} if ae.queue else {}


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


async def _register(args: argparse.Namespace) -> Any:
    async with _make_ae(args, app_id=args.app_id, name=args.name, lifetime=args.lifetime) as ae:
        registration = await ae.register()
        return {**_jsonable(registration), **_queue_note(ae)}


async def _deregister(args: argparse.Namespace) -> Any:
    async with _make_ae(args) as ae:
        aei = ae.aei
        await ae.deregister()
        return {"deregistered": aei}


async def _create_container(args: argparse.Namespace) -> Any:
    options: dict[str, Any] = {"mni": args.mni, "mbs": args.mbs, "mia": args.mia, "lbl": args.label}
    async with _make_ae(args) as ae:
        return {"m2m:cnt": await ae.create_container(args.name, parent=args.parent, **options)}


async def _publish(args: argparse.Namespace) -> Any:
    value: Any = args.value
    if args.json:
        try:
            value = json.loads(args.value)
        except ValueError as exc:
            raise OneM2MUsageError(f"--json given but VALUE is not JSON: {exc}") from None
    async with _make_ae(args) as ae:
        publication = await ae.publish(args.container, value, cnf=args.cnf)
        return {**_jsonable(publication), **_queue_note(ae)}


async def _latest(args: argparse.Namespace) -> Any:
    async with _make_ae(args) as ae:
        instance = await ae.latest(args.container)
        return {
            "value": instance.value,
            "con": instance.con,
            "cnf": instance.cnf,
            "rn": instance.rn,
            "ri": instance.ri,
            "ct": instance.ct,
        }


async def _retrieve(args: argparse.Namespace) -> Any:
    params = {"rcn": args.rcn} if args.rcn is not None else {}
    async with _make_ae(args) as ae:
        return await ae.retrieve(args.path, **params)


async def _discover(args: argparse.Namespace) -> Any:
    criteria: dict[str, Any] = {}
    if args.ty:
        criteria["ty"] = args.ty
    if args.label:
        criteria["lbl"] = args.label
    if args.limit is not None:
        criteria["lim"] = args.limit
    async with _make_ae(args) as ae:
        return await ae.discover(args.under, **criteria)


async def _flush(args: argparse.Namespace) -> Any:
    async with _make_ae(args) as ae:
        return await ae.flush()


async def _subscribe(args: argparse.Namespace) -> Any:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(signum, stop.set)

    def show(event: ReceivedNotification) -> None:
        _print(event.to_json())

    if _binding_kind(args) == "coap" and not args.polling_channel:
        _fail(
            "note: notifications over CoAP need a CSE that sends CoAP requests (ACME 2026.5.3 cannot); "
            "if nothing arrives, add --polling-channel"
        )
    async with _make_ae(args, receive=True) as ae:
        # register() takes over the stored registration and points its poa at this
        # process (the receiver's port is new on every run).
        await ae.register()
        criteria = {"net": args.net} if args.net else {}
        subscription = await ae.subscribe(args.target, show, name=args.name, **criteria)
        _print({"subscribed": subscription.path, "ri": subscription.ri, "aei": ae.aei})
        try:
            await stop.wait()
        finally:
            if not args.keep:
                with contextlib.suppress(OneM2MError, OSError):
                    await asyncio.wait_for(ae.unsubscribe(subscription), args.timeout)
    return None
