"""Load OMA LwM2M object definitions from DDF XML files.

A DDF ("Device Description Framework") file is the XML form in which the OMA
LwM2M registry publishes objects (``LWM2M.xsd`` and ``LWM2M-v1_1.xsd``; the two
differ only in the data types they allow). :func:`load_ddf` turns one into
:class:`~m2mclient.lwm2m.model.ObjectDefinition` values::

    >>> document = load_ddf("3303.xml")  # doctest: +SKIP
    >>> document.objects[0].resource(5700).type  # doctest: +SKIP
    <DataType.FLOAT: 'Float'>

DDF files often come from third parties, so the loader treats them as untrusted
input: DTDs and entities are refused before anything is expanded or fetched, and
every problem surfaces as :class:`~m2mclient.errors.DefinitionError` naming the
file and the offending object or resource.
"""

from __future__ import annotations

import os
import re
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NoReturn
from xml.etree.ElementTree import Element, TreeBuilder

from m2mclient.errors import DefinitionError, ValueValidationError
from m2mclient.lwm2m.model import MAX_ID, DataType, ObjectDefinition, Operations, ResourceDefinition

#: What a DDF document holds: object definitions, the registry's reusable
#: resources (``Common.xml``), or another registry document with no definitions.
DdfKind = Literal["objects", "reusable-resources", "other"]

#: The largest file :func:`load_ddf` reads. Real DDF files are tens of kilobytes
#: (the registry index ``DDF.xml`` is about 250 kB); the cap keeps a wrong path
#: such as ``/dev/zero`` from being read forever.
MAX_DDF_BYTES = 16 * 1024 * 1024

#: Root elements of registry documents that sit beside the DDF files but define
#: no objects: ``DDF.xml`` (the index) and ``LWM2M_senml_units.xml``.
_DEFINITION_FREE_ROOTS = frozenset({"ddflist", "units"})

_DECIMAL = re.compile(r"[0-9]+")
_VERSION = re.compile(r"[0-9]+\.[0-9]+")
_DEFAULT_VERSION = "1.0"
_DTD_REFUSED = "DTDs and entities are not allowed in DDF files"


@dataclass(frozen=True)
class DdfDocument:
    """The definitions read from one DDF XML document.

    ``objects`` keeps the document order. ``reusable_resources`` is filled from
    the registry's ``Common.xml`` form (``<Object ObjectType="CommonResources">``).
    ``kind`` is ``"objects"``, ``"reusable-resources"`` or ``"other"`` (a registry
    document such as ``DDF.xml`` that is valid but defines nothing).
    """

    objects: tuple[ObjectDefinition, ...] = ()
    reusable_resources: tuple[ResourceDefinition, ...] = ()
    kind: DdfKind = "objects"


def load_ddf(source: str | os.PathLike[str] | bytes) -> DdfDocument:
    """Read an OMA DDF XML document: a file path, or the XML itself as ``bytes``.

    Accepts both the LwM2M 1.0 and 1.1 schema forms, tolerating the whitespace
    and letter-case variations found in real registry files. Missing
    ``<ObjectVersion>`` and ``<LWM2MVersion>`` default to ``"1.0"``.

    Raises :class:`DefinitionError` for a file that cannot be read, malformed
    XML, any DTD or entity declaration (never expanded, never fetched), and
    invalid content: a missing or out-of-range id, an unknown data type or
    operation, duplicate ids. No other exception escapes for any input bytes.
    """
    data, origin = _read_source(source)
    try:
        root = _parse_xml(data)
        return _document_from_root(root)
    except _DocumentError as exc:
        raise DefinitionError(f"{origin}: {exc}") from None


class _DocumentError(Exception):
    """A problem found while reading a document; :func:`load_ddf` adds where the document came from."""


# --- reading and parsing ------------------------------------------------------------


def _read_source(source: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    """The document's bytes and a label for error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "DDF document"
    if isinstance(source, str) and source.lstrip().startswith("<"):
        # A common slip; opening it as a path would give a baffling "file not found".
        raise DefinitionError("load_ddf got XML text as a str: pass the XML as bytes, or pass a file path")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"load_ddf takes a file path or bytes, got {type(source).__name__}")
    path = os.fspath(source)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_DDF_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        raise DefinitionError(f"cannot read DDF file {path}: {exc}") from exc
    if len(data) > MAX_DDF_BYTES:
        raise DefinitionError(f"DDF file {path}: larger than {MAX_DDF_BYTES} bytes, refusing to load it")
    return data, f"DDF file {path}"


def _parse_xml(data: bytes) -> Element:
    """Parse ``data`` into an element tree, refusing DTDs before anything is expanded.

    We drive expat ourselves (rather than ``ElementTree.fromstring``) so the
    refusal happens in the DOCTYPE handler, ahead of any entity declaration:
    billion-laughs and external-entity payloads never get to run.
    """
    builder = TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = lambda name, attributes: builder.start(_local_name(name), attributes)
    parser.EndElementHandler = lambda name: builder.end(_local_name(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _DocumentError:
        raise
    except xml.parsers.expat.ExpatError as exc:
        raise _DocumentError(f"malformed XML: {exc}") from None
    except (ValueError, LookupError) as exc:
        # expat hands encodings it does not know to Python codecs, which fail this way.
        raise _DocumentError(f"unsupported character encoding: {exc}") from None
    return builder.close()


def _refuse_doctype(name: str | None, *_details: object) -> NoReturn:
    raise _DocumentError(f"{_DTD_REFUSED} (found <!DOCTYPE {name}>)")


def _refuse_entity(*_details: object) -> NoReturn:
    raise _DocumentError(_DTD_REFUSED)


def _local_name(name: str) -> str:
    """``xsi:Foo`` -> ``Foo``: DDF files use no namespaces of their own, some tools add a prefix."""
    return name.rpartition(":")[2]


# --- documents and objects ----------------------------------------------------------


def _document_from_root(root: Element) -> DdfDocument:
    tag = root.tag.lower()
    if tag in _DEFINITION_FREE_ROOTS:
        return DdfDocument(kind="other")
    if tag != "lwm2m":
        raise _DocumentError(f"root element is <{_shorten(root.tag)}>, expected <LWM2M> (not an LwM2M DDF document)")
    object_elements = list(_children(root, "Object"))
    if not object_elements:
        raise _DocumentError("<LWM2M> contains no <Object>")

    objects: list[ObjectDefinition] = []
    reusable: dict[int, ResourceDefinition] = {}
    holds_reusable_resources = False
    for element in object_elements:
        object_type = _attribute(element, "ObjectType") or "MODefinition"
        normalized_type = _squash(object_type).lower()
        if normalized_type == "modefinition":
            objects.append(_object_definition(element))
        elif normalized_type == "commonresources":
            holds_reusable_resources = True
            reusable.update(_resources(element, where="reusable resources", known=reusable))
        else:
            raise _DocumentError(
                f"<Object ObjectType={_shorten(object_type)!r}> is neither MODefinition nor CommonResources"
            )
    _check_unique_object_ids(objects)

    kind: DdfKind = "reusable-resources" if holds_reusable_resources and not objects else "objects"
    return DdfDocument(objects=tuple(objects), reusable_resources=tuple(reusable.values()), kind=kind)


def _check_unique_object_ids(objects: list[ObjectDefinition]) -> None:
    seen: set[int] = set()
    for definition in objects:
        if definition.id in seen:
            raise _DocumentError(f"object id {definition.id} is defined twice")
        seen.add(definition.id)


def _object_definition(element: Element) -> ObjectDefinition:
    id_text = _text(element, "ObjectID")
    if id_text is None:
        raise _DocumentError("an <Object> has no <ObjectID>")
    object_id = _parse_id(id_text, "object id")
    where = f"object {object_id}"
    return ObjectDefinition(
        id=object_id,
        name=_required_name(element, where),
        resources=_resources(element, where=where),
        version=_version(_text(element, "ObjectVersion"), f"{where}: <ObjectVersion>"),
        lwm2m_version=_version(_text(element, "LWM2MVersion"), f"{where}: <LWM2MVersion>"),
        # The schema requires both flags; when a hand-written file omits one, the
        # model's defaults (multiple, optional) are the least surprising reading.
        multiple=_flag(element, "MultipleInstances", _INSTANCE_WORDS, True, where),
        mandatory=_flag(element, "Mandatory", _MANDATORY_WORDS, False, where),
        urn=(_text(element, "ObjectURN") or "").strip(),
        description=(_text(element, "Description1") or "").strip(),
    )


def _resources(
    element: Element, *, where: str, known: dict[int, ResourceDefinition] | None = None
) -> dict[int, ResourceDefinition]:
    """The ``<Resources><Item>`` definitions of ``element``, keyed by id.

    ``known`` holds ids already defined elsewhere in the same scope (reusable
    resources may be split over several ``<Object>`` elements).
    """
    taken = set(known or ())
    resources: dict[int, ResourceDefinition] = {}
    container = _child(element, "Resources")
    items = _children(container, "Item") if container is not None else iter(())
    for item in items:
        resource = _resource_definition(item, where)
        if resource.id in taken:
            raise _DocumentError(f"{where}: duplicate resource id {resource.id}")
        taken.add(resource.id)
        resources[resource.id] = resource
    return resources


def _resource_definition(item: Element, where: str) -> ResourceDefinition:
    id_text = _attribute(item, "ID")
    if id_text is None:
        raise _DocumentError(f"{where}: an <Item> has no ID attribute")
    resource_id = _parse_id(id_text, f"{where}: resource id")
    here = f"{where}, resource {resource_id}"
    return ResourceDefinition(
        id=resource_id,
        name=_required_name(item, here),
        type=_data_type(_required_text(item, "Type", here), here),
        operations=_operations(_required_text(item, "Operations", here), here),
        # Common.xml leaves both flags out: a reusable resource takes them from the object using it.
        multiple=_flag(item, "MultipleInstances", _INSTANCE_WORDS, False, here),
        mandatory=_flag(item, "Mandatory", _MANDATORY_WORDS, False, here),
        range_enumeration=(_text(item, "RangeEnumeration") or "").strip(),
        units=(_text(item, "Units") or "").strip(),
        description=(_text(item, "Description") or "").strip(),
    )


# --- field values -------------------------------------------------------------------

_INSTANCE_WORDS = {"single": False, "multiple": True}
_MANDATORY_WORDS = {"optional": False, "mandatory": True}
_DATA_TYPE_NAMES = ", ".join(repr(member.value) for member in DataType if member is not DataType.NONE)


def _parse_id(text: str, what: str) -> int:
    digits = text.strip()
    if not _DECIMAL.fullmatch(digits):
        raise _DocumentError(f"{what} {_shorten(text)!r} is not a decimal integer")
    significant = digits.lstrip("0") or "0"
    # Length first: int() of a huge digit string is slow, and refused beyond 4300 digits.
    if len(significant) > len(str(MAX_ID)) or int(significant) > MAX_ID:
        raise _DocumentError(f"{what} {_shorten(digits)} is out of range 0..{MAX_ID} (65535 is reserved)")
    return int(significant)


def _version(text: str | None, what: str) -> str:
    version = (text or "").strip()
    if not version:
        return _DEFAULT_VERSION
    if not _VERSION.fullmatch(version):
        raise _DocumentError(f"{what} {_shorten(version)!r} is not a version like '1.0'")
    return version


def _flag(element: Element, tag: str, words: dict[str, bool], default: bool, where: str) -> bool:
    """Read ``Single``/``Multiple`` or ``Optional``/``Mandatory`` in any case and spacing; absent is ``default``."""
    word = _squash(_text(element, tag) or "").lower()
    if not word:
        return default
    if word not in words:
        expected = " or ".join(name.capitalize() for name in words)
        raise _DocumentError(f"{where}: <{tag}> {_shorten(word)!r} is not {expected}")
    return words[word]


def _data_type(text: str, where: str) -> DataType:
    try:
        return DataType.from_ddf(_squash(text))
    except ValueValidationError:
        expected = f"expected {_DATA_TYPE_NAMES} or empty for executable resources"
        raise _DocumentError(f"{where}: unknown data type {_shorten(text)!r} ({expected})") from None


def _operations(text: str, where: str) -> Operations:
    try:
        return Operations.from_ddf("".join(text.split()))
    except ValueValidationError:
        raise _DocumentError(
            f"{where}: unknown operations {_shorten(text)!r} (expected R, W, RW, E or empty)"
        ) from None


def _required_name(element: Element, where: str) -> str:
    name = _squash(_text(element, "Name") or "")
    if not name:
        raise _DocumentError(f"{where}: <Name> is missing or empty")
    return name


def _required_text(element: Element, tag: str, where: str) -> str:
    text = _text(element, tag)
    if text is None:
        raise _DocumentError(f"{where}: <{tag}> is missing")
    return text


# --- element access -----------------------------------------------------------------
# Element and attribute names are matched case-insensitively: hand-edited files
# write <ObjectId> as often as <ObjectID>, and nothing is gained by refusing them.


def _children(parent: Element, tag: str) -> Iterator[Element]:
    wanted = tag.lower()
    return (child for child in parent if child.tag.lower() == wanted)


def _child(parent: Element, tag: str) -> Element | None:
    """The single ``<tag>`` child of ``parent``; two of them make the document ambiguous."""
    matches = list(_children(parent, tag))
    if len(matches) > 1:
        raise _DocumentError(f"<{parent.tag}> has {len(matches)} <{tag}> elements, expected one")
    return matches[0] if matches else None


def _text(parent: Element, tag: str) -> str | None:
    """The text of the ``<tag>`` child (``""`` when empty), or ``None`` when there is no such child."""
    child = _child(parent, tag)
    if child is None:
        return None
    return child.text or ""


def _attribute(element: Element, name: str) -> str | None:
    wanted = name.lower()
    for key, value in element.attrib.items():
        if _local_name(key).lower() == wanted:
            return value
    return None


def _squash(text: str) -> str:
    """Trim and collapse runs of whitespace: ``" Unsigned\\n  Integer "`` -> ``"Unsigned Integer"``."""
    return " ".join(text.split())


def _shorten(text: str, limit: int = 40) -> str:
    """Keep error messages readable when a hostile document puts megabytes into one field."""
    return text if len(text) <= limit else text[:limit] + "..."
