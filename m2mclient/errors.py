"""The one error hierarchy of m2mclient.

Every exception the SDK raises on purpose derives from :class:`M2MError`, so an
application can catch everything from us in one place and still tell the causes
apart. Errors caused by a peer's bytes (a malformed TLV, bad CBOR) are
:class:`FormatError`; errors caused by the caller (an invalid path, a value of
the wrong type) are :class:`PathError` and :class:`ValueValidationError`.
"""

from __future__ import annotations


class M2MError(Exception):
    """Base class of every error raised by m2mclient."""


class PathError(M2MError, ValueError):
    """An LwM2M path is malformed or out of range (ids are 0..65534)."""


class ValueValidationError(M2MError, ValueError):
    """A value does not fit the LwM2M data type or range of its resource."""


class DefinitionError(M2MError):
    """An object definition (built-in or OMA DDF XML) is malformed or unsafe."""


class FormatError(M2MError, ValueError):
    """A payload cannot be decoded from, or values cannot be encoded to, a content format.

    ``where`` says where the problem is (a byte offset, an LwM2M path or a SenML
    record index) so a person can find it in a capture.
    """

    def __init__(self, message: str, *, content_format: int | None = None, where: str | None = None):
        self.reason = message
        self.content_format = content_format
        self.where = where
        parts = []
        if content_format is not None:
            parts.append(f"content-format {content_format}")
        if where:
            parts.append(where)
        prefix = f"[{', '.join(parts)}] " if parts else ""
        super().__init__(prefix + message)


class UnsupportedFormatError(FormatError):
    """The content format is not one m2mclient knows (CoAP answers 4.15 / 4.06)."""


_ONEM2M_ERRORS = ("OneM2MError", "OneM2MProtocolError", "OneM2MUsageError")


def __getattr__(name: str) -> type[M2MError]:
    # The oneM2M errors live beside the primitives they carry; importing them here
    # lazily keeps ``import m2mclient.errors`` free of cbor2 and of an import cycle.
    if name in _ONEM2M_ERRORS:
        from m2mclient.onem2m import primitives

        error: type[M2MError] = getattr(primitives, name)
        return error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
