"""The one place JSON text is read and written, for SenML JSON and OMA LwM2M JSON.

The standard library's parser is lenient in ways a peer must not exploit: it
accepts ``NaN``/``Infinity`` (not JSON, RFC 8259 §6), silently keeps the last of
duplicate member names (RFC 8259 §4 leaves their meaning undefined, so a peer
and we could disagree on a value), turns ``1e999`` into infinity, guesses
UTF-16/32 from the bytes and recurses without bound. This module closes those doors and turns every
failure into a :class:`FormatError`. It also holds the base64 helpers both JSON
formats need for opaque values.
"""

from __future__ import annotations

import base64
import binascii
import json

from m2mclient.errors import FormatError
from m2mclient.strict_json import STRICT_DECODER


def loads(payload: bytes, content_format: int) -> object:
    """Parse UTF-8 JSON text strictly; ``FormatError`` for anything malformed."""
    try:
        # RFC 8259 §8.1: JSON exchanged between systems is UTF-8; no encoding guessing.
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"JSON text is not UTF-8: {exc.reason}", content_format=content_format, where=f"byte {exc.start}"
        ) from None
    try:
        return STRICT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"malformed JSON: {exc.msg}", content_format=content_format, where=f"character {exc.pos}"
        ) from None
    except RecursionError:
        raise FormatError("JSON nested too deeply", content_format=content_format) from None
    except ValueError as exc:  # StrictJsonError, and int() past sys.get_int_max_str_digits()
        raise FormatError(f"malformed JSON: {exc}", content_format=content_format) from None


def dumps(item: object, content_format: int) -> bytes:
    """Serialize compactly as UTF-8; non-finite floats and unpaired surrogates are errors."""
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError as exc:  # allow_nan=False, and UnicodeEncodeError for lone surrogates
        raise FormatError(f"cannot be written as JSON: {exc}", content_format=content_format) from None


def check_text(text: str, content_format: int, where: str) -> str:
    """Refuse strings JSON escapes can carry but Unicode cannot (``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(
            "string holds an unpaired UTF-16 surrogate", content_format=content_format, where=where
        ) from None
    return text


def b64encode_url(data: bytes) -> str:
    """base64url without padding, as SenML JSON writes ``vd`` (RFC 8428 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64encode_std(data: bytes) -> str:
    """Standard padded base64, as OMA JSON carries opaque values (LwM2M 1.0 §6.4.4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, content_format: int, where: str) -> bytes:
    """Decode base64 in either alphabet, padded or not (peers disagree; both are unambiguous)."""
    if not text.isascii():
        raise FormatError("base64 text holds non-ASCII characters", content_format=content_format, where=where)
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if padding > 2 or len(body) % 4 == 1 or (padding and (len(body) + padding) % 4):
        raise FormatError(
            f"base64 text has a bad length or padding: {text[:40]!r}", content_format=content_format, where=where
        )
    standard = body.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"invalid base64 {text[:40]!r}: {exc}", content_format=content_format, where=where) from None
