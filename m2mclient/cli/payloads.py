"""``m2mclient lwm2m encode|decode|formats|objects``: LwM2M payloads for people and scripts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path as FilePath
from typing import Any

from m2mclient.errors import M2MError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import FormatKind, Link
from m2mclient.lwm2m.json_values import from_json, to_json
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.registry import Registry, default_registry

_FORMAT_HELP = (
    "content format: a name (text, opaque, cbor, tlv, senml-json, senml-cbor, lwm2m-cbor, oma-json, "
    "senml-etch-json, senml-etch-cbor, link) or a numeric CoAP content-format id such as 11542"
)

def add_payload_commands(commands: Any) -> None:
    """Add ``decode``, ``encode``, ``formats`` and ``objects`` to the ``lwm2m`` area."""

    decode = commands.add_parser(
        "decode",
        help="decode a payload into JSON {path: value}",
        description="Decode a payload (as a server or client received it) into one JSON object.",
        epilog="example: m2mclient lwm2m decode --format text --path /3/0/9 --hex 3935",
    )
    _add_format_options(decode)
    source = decode.add_mutually_exclusive_group(required=True)
    source.add_argument("--hex", help="the payload as hex digits (spaces allowed)")
    source.add_argument("--file", help="read the payload from this file ('-' for stdin)")
    decode.set_defaults(handler=_decode_command)

    encode = commands.add_parser(
        "encode",
        help="encode JSON {path: value} into a payload printed as hex",
        description="Encode values given as JSON into a payload, printed as hex.",
        epilog="""example: m2mclient lwm2m encode --format senml-json --path /3/0 --json '{"/3/0/9": 95}'""",
    )
    _add_format_options(encode)
    encode.add_argument("--json", required=True, help='the values, e.g. \'{"/3/0/0": "ACME"}\'')
    encode.set_defaults(handler=_encode_command)

    listing = commands.add_parser("formats", help="list the supported content formats")
    listing.set_defaults(handler=_formats_command)

    objects = commands.add_parser("objects", help="list the object definitions the registry knows")
    objects.add_argument("--object-file", action="append", default=[], metavar="XML", help="add a DDF file")
    objects.set_defaults(handler=_objects_command)


def _add_format_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, metavar="FMT", help=_FORMAT_HELP)
    parser.add_argument(
        "--path", required=True, help="the target path the payload is for (e.g. /3/0, or / for composite)"
    )
    parser.add_argument(
        "--object-file",
        action="append",
        default=[],
        metavar="XML",
        help="an OMA DDF XML file with more object definitions (repeatable)",
    )


def _registry(object_files: Sequence[str]) -> Registry:
    registry = default_registry()
    for name in object_files:
        registry.load_ddf(name)
    return registry


def _read_payload(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        digits = args.hex.replace(":", "").replace(" ", "")
        if digits.lower().startswith("0x"):
            digits = digits[2:]
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise ValueError(f"--hex is not a hex string: {args.hex!r}") from None
    if args.file == "-":
        return sys.stdin.buffer.read()
    return FilePath(args.file).read_bytes()


def _print_json(document: object) -> None:
    print(json.dumps(document, ensure_ascii=False))


def _decode_command(args: argparse.Namespace) -> int:
    fmt = formats.lookup(args.format)
    registry = _registry(args.object_file)
    payload = _read_payload(args)
    if fmt.kind is FormatKind.LINKS:
        _print_json({link.target: dict(link.params) for link in formats.decode_links(payload)})
        return 0
    if fmt.kind is FormatKind.PATHS and _carries_only_paths(fmt.id, payload):
        _print_json({str(p): None for p in formats.decode_paths(fmt.id, payload)})
        return 0
    values = formats.decode(fmt.id, payload, path=args.path, registry=registry)
    _print_json({str(p): to_json(v) for p, v in values.items()})
    return 0


def _carries_only_paths(content_format: int, payload: bytes) -> bool:
    """A SenML-ETCH payload of bare names (a Read-Composite body) rather than values."""
    paths = formats.decode_paths(content_format, payload)
    try:
        formats.decode(content_format, payload)
    except M2MError:
        return bool(paths)
    return False


def _encode_command(args: argparse.Namespace) -> int:
    fmt = formats.lookup(args.format)
    registry = _registry(args.object_file)
    document = json.loads(args.json)
    if not isinstance(document, dict):
        raise ValueError('--json must be an object like {"/3/0/0": "ACME"}')
    if fmt.kind is FormatKind.LINKS:
        payload = formats.encode_links(_links_from_json(document))
    elif fmt.kind is FormatKind.PATHS and all(v is None for v in document.values()):
        payload = formats.encode_paths(fmt.id, list(document))
    else:
        values = {}
        for text, value in document.items():
            path = Path.parse(text)
            values[path] = from_json(path, value, registry)
        payload = formats.encode(fmt.id, values, path=args.path, registry=registry)
    print(payload.hex())
    return 0


def _links_from_json(document: dict[str, Any]) -> list[Link]:
    links = []
    for target, given in document.items():
        params = {} if given is None else given
        if not isinstance(params, dict):
            raise ValueError(f"link {target}: attributes must be an object like {{\"pmin\": \"10\"}}")
        links.append(Link(target, tuple((k, None if v is None else str(v)) for k, v in params.items())))
    return links


def _formats_command(args: argparse.Namespace) -> int:
    for fmt in formats.supported_formats():
        print(f"{fmt.id:>6}  {fmt.name:<16} {fmt.media_type}")
    return 0


def _objects_command(args: argparse.Namespace) -> int:
    for definition in _registry(args.object_file):
        print(f"{definition.id:>6}  {definition.name} (version {definition.version})")
    return 0


