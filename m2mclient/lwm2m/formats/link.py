"""CoRE Link Format, content-format 40 (RFC 6690), as LwM2M uses it.

LwM2M carries links in the Register / Update payload (LwM2M Core 1.2 §6.2.1,
``</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.2``) and in Discover responses
(§5.4.2, ``</3/0>;pmin=10,</3/0/1>,</3/0/6>;dim=2``)::

    >>> links = decode(b'</>;rt="oma.lwm2m";ct=11543,</3/0>;ver=1.2')
    >>> links[1].path, links[1].get("ver")
    (Path('/3/0'), '1.2')
    >>> str(Link.of("/3/0/6", dim=2))
    '</3/0/6>;dim=2'

Parsing follows the RFC 6690 §2 grammar::

    link-value     = "<" URI-Reference ">" *( ";" link-param )
    link-param     = parmname [ "=" ( ptoken / quoted-string ) ]

so quoted-string values may hold ``,`` ``;`` and escaped quotes (``\\"``),
parameters may have no value (``;obs``), and a ptoken may contain ``=``.
RFC 6690 allows no whitespace at all; RFC 8288 §3 (the Web Linking grammar
it builds on) allows optional whitespace around ``,`` and ``;``, and
pretty-printed payloads occur in the field, so we accept whitespace there and
at both ends of the payload, nowhere else (not around ``=``, not in a target).

Serialization rule: ``rt``, ``if``, ``title`` and ``anchor`` are always quoted
(RFC 6690 and the LwM2M examples write them so; ``title`` and ``anchor`` must be
quoted); any other value is written bare when it is a ptoken (``ct=11543``,
``ver=1.2``, ``pmin=10``) and quoted otherwise (``ct="60 110"``). A parameter
without value is written as its bare name. Parsing does not keep how a value was
quoted: ``ct=40`` and ``ct="40"`` decode alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from m2mclient.errors import FormatError, PathError
from m2mclient.lwm2m.model import Path

__all__ = ["CONTENT_FORMAT", "Link", "decode", "encode"]

CONTENT_FORMAT = 40

#: Parameters always written as quoted strings.
ALWAYS_QUOTED = frozenset({"rt", "if", "title", "anchor"})

# RFC 6690 §2: ptokenchar; RFC 5987 §3.2.1: attr-char (parameter names, optionally ending in "*").
_PTOKEN_CHARS = frozenset(b"!#$%&'()*+-./0123456789:<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~")
_ATTR_CHARS = frozenset(b"!#$&+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~")
_WHITESPACE = frozenset(b" \t\r\n")
# Not allowed inside <...>: whitespace and controls, and the delimiters RFC 3986 keeps out of URIs.
_BAD_TARGET_CHARS = frozenset(range(0x21)) | frozenset(b'<>"\x7f')
_LWM2M_PATH = re.compile(r"/(?:\d+(?:/\d+){0,3})?")


@dataclass(frozen=True)
class Link:
    """One link: a target (a URI reference, usually an LwM2M path) and its parameters.

    ``params`` keeps the parameters in order as ``(name, value)`` pairs; a
    parameter written without a value (``;obs``) has the value ``None``.
    """

    target: str
    params: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, target: str | Path, /, **params: str | int | float | None) -> Link:
        """Build a link: ``Link.of("/3/0", ver="1.2")``, ``Link.of(Path.of(3, 0, 1), pmin=10, obs=None)``.

        Numbers are written in decimal; ``None`` gives a parameter without value.
        Use the constructor for names that are not Python identifiers (``title*``).
        """
        pairs = tuple((name, None if value is None else str(value)) for name, value in params.items())
        return cls(str(target), pairs)

    @property
    def path(self) -> Path | None:
        """The target as an LwM2M :class:`Path`, or ``None`` when it is not one (``/rd``, ``/lwm2m/3/0``)."""
        if not _LWM2M_PATH.fullmatch(self.target):
            return None
        try:
            return Path.parse(self.target)
        except PathError:
            return None

    def get(self, name: str) -> str | None:
        """The value of the first parameter called ``name`` (case-insensitive), or ``None``.

        ``None`` also answers for a parameter without value; use :meth:`has` to tell.
        """
        key = name.lower()
        for param, value in self.params:
            if param.lower() == key:
                return value
        return None

    def has(self, name: str) -> bool:
        """True when a parameter called ``name`` (case-insensitive) is present, with or without value."""
        key = name.lower()
        return any(param.lower() == key for param, _ in self.params)

    def __str__(self) -> str:
        """The link as RFC 6690 text, e.g. ``</3/0>;ver=1.2`` (not validated: :func:`encode` checks)."""
        return _serialize(self)


# --- serializing ------------------------------------------------------------------------------


def _encode_error(message: str, link: Link) -> FormatError:
    return FormatError(message, content_format=CONTENT_FORMAT, where=f"link <{link.target}>")


def _is_ptoken(value: str) -> bool:
    return bool(value) and all(ord(char) < 0x80 and ord(char) in _PTOKEN_CHARS for char in value)


def _quote(value: str) -> str:
    # RFC 2616 quoted-string: a backslash escapes the next character; only '"' and '\' need it.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_param(name: str, value: str | None, link: Link) -> None:
    name_bytes = name.encode("utf-8", "replace") if isinstance(name, str) else b""
    body = name_bytes[:-1] if name_bytes.endswith(b"*") else name_bytes
    if not body or any(byte not in _ATTR_CHARS for byte in body):
        raise _encode_error(f"invalid parameter name {name!r}", link)
    if value is None:
        return
    if not isinstance(value, str):
        raise _encode_error(f"parameter {name} value must be a string or None, got {value!r}", link)
    if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
        raise _encode_error(f"parameter {name} value {value!r} holds a control character", link)


def _check(link: Link) -> None:
    """Refuse what :func:`decode` could not read back: RFC 6690 has no escape for these."""
    target = link.target
    if not isinstance(target, str) or not target:
        raise _encode_error("a link target must be a non-empty string", link)
    if any(ord(char) < 0x80 and ord(char) in _BAD_TARGET_CHARS for char in target):
        raise _encode_error(f"link target {target!r} holds a character not allowed in a URI", link)
    for name, value in link.params:
        _check_param(name, value, link)


def _serialize_param(name: str, value: str | None) -> str:
    if value is None:
        return name
    if name.lower() in ALWAYS_QUOTED or not _is_ptoken(value):
        return f"{name}={_quote(value)}"
    return f"{name}={value}"


def _serialize(link: Link) -> str:
    return ";".join([f"<{link.target}>", *(_serialize_param(name, value) for name, value in link.params)])


def encode(links: Iterable[Link]) -> bytes:
    """Serialize ``links`` as an ``application/link-format`` payload (links joined by ``,``).

    Raises :class:`~m2mclient.errors.FormatError` for an empty or malformed
    target, an invalid parameter name or a value holding control characters.
    """
    parts = []
    for link in links:
        _check(link)
        parts.append(_serialize(link))
    try:
        return ",".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"text cannot be encoded as UTF-8: {exc.reason}", content_format=CONTENT_FORMAT) from None


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    """A cursor over the payload bytes; every syntax character is ASCII, so offsets are byte offsets."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> FormatError:
        return FormatError(message, content_format=CONTENT_FORMAT, where=f"byte {self.pos if pos is None else pos}")

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def skip_whitespace(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _WHITESPACE:
            self.pos += 1

    def expect(self, char: bytes, what: str) -> None:
        if self.peek() != char[0]:
            found = "the end" if self.at_end() else repr(chr(self.data[self.pos]))
            raise self.error(f"expected {what}, found {found}")
        self.pos += 1

    def take_while(self, allowed: frozenset[int]) -> bytes:
        start = self.pos
        while self.pos < len(self.data) and self.data[self.pos] in allowed:
            self.pos += 1
        return self.data[start : self.pos]

    def links(self) -> list[Link]:
        links: list[Link] = []
        self.skip_whitespace()
        if self.at_end():
            return links  # RFC 6690: link-value-list may be empty
        while True:
            links.append(self.link())
            self.skip_whitespace()
            if self.at_end():
                return links
            self.expect(b",", "',' between links")
            self.skip_whitespace()

    def link(self) -> Link:
        target = self.target()
        params: list[tuple[str, str | None]] = []
        while True:
            self.skip_whitespace()
            if self.peek() != ord(";"):
                return Link(target, tuple(params))
            self.pos += 1
            self.skip_whitespace()
            params.append(self.param())

    def target(self) -> str:
        start = self.pos
        self.expect(b"<", "'<' starting a link")
        while self.pos < len(self.data) and self.data[self.pos] not in _BAD_TARGET_CHARS:
            self.pos += 1
        if self.peek() != ord(">"):
            if self.at_end():
                raise self.error("unterminated link target: no '>'", start)
            raise self.error(f"character {chr(self.data[self.pos])!r} not allowed in a link target")
        raw = self.data[start + 1 : self.pos]
        self.pos += 1
        if not raw:
            raise self.error("empty link target '<>'", start)
        return raw.decode("utf-8")

    def param(self) -> tuple[str, str | None]:
        start = self.pos
        name = self.take_while(_ATTR_CHARS)
        if name and self.peek() == ord("*"):  # RFC 5987 ext-name-star, e.g. title*
            self.pos += 1
            name += b"*"
        if not name:
            raise self.error("expected a parameter name after ';'", start)
        if self.peek() != ord("="):
            return name.decode("ascii"), None
        self.pos += 1
        if self.peek() == ord('"'):
            return name.decode("ascii"), self.quoted_string()
        value = self.take_while(_PTOKEN_CHARS)
        if not value:
            raise self.error(f"parameter {name.decode('ascii')} has '=' but no value")
        return name.decode("ascii"), value.decode("ascii")

    def quoted_string(self) -> str:
        start = self.pos
        self.pos += 1  # the opening quote
        out = bytearray()
        while self.pos < len(self.data):
            byte = self.data[self.pos]
            if byte == ord('"'):
                self.pos += 1
                return out.decode("utf-8")
            if byte == ord("\\"):  # quoted-pair: the next character stands for itself
                self.pos += 1
                if self.at_end():
                    break
                byte = self.data[self.pos]
            # RFC 7230 §3.2.6 keeps control characters (but HTAB) out of qdtext and quoted-pair alike.
            if (byte < 0x20 and byte != ord("\t")) or byte == 0x7F:
                raise self.error("control character inside a quoted string")
            out.append(byte)
            self.pos += 1
        raise self.error("unterminated quoted string", start)


def decode(payload: bytes) -> list[Link]:
    """Parse an ``application/link-format`` payload into :class:`Link` s, in order.

    An empty payload is an empty list. Raises
    :class:`~m2mclient.errors.FormatError` with ``where="byte N"`` for bytes that
    are not UTF-8 or not RFC 6690 link format (no ``<``, an empty target, an
    unterminated quoted string, stray characters).
    """
    data = bytes(payload)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            "payload is not valid UTF-8", content_format=CONTENT_FORMAT, where=f"byte {exc.start}"
        ) from None
    return _Parser(data).links()
