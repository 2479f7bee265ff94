"""Where object definitions live: the built-in core objects plus any DDF files loaded.

Codecs ask the registry for a resource's type; a resource it does not know is
treated as opaque (LwM2M Core 1.2 §7.4: TLV and plain text carry no type).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from m2mclient.lwm2m.model import ObjectDefinition, Path, ResourceDefinition


class Registry:
    """A mutable set of :class:`ObjectDefinition`, keyed by object id.

    ``Registry()`` is empty; :func:`default_registry` gives one holding the
    built-in definitions of objects 0-7 and IPSO 3303. Adding a definition for an
    id that is already present replaces it (a DDF file can override a built-in).
    """

    def __init__(self, definitions: Iterable[ObjectDefinition] = ()):
        self._objects: dict[int, ObjectDefinition] = {}
        for definition in definitions:
            self.add(definition)

    def add(self, definition: ObjectDefinition) -> None:
        """Add or replace the definition of ``definition.id``."""
        self._objects[definition.id] = definition

    def get(self, object_id: int) -> ObjectDefinition | None:
        """The definition of ``object_id``, or ``None`` when unknown."""
        return self._objects.get(object_id)

    def resource(self, path: Path) -> ResourceDefinition | None:
        """The definition of the resource ``path`` points at (``/o/i/r`` or deeper)."""
        if path.object_id is None or path.resource_id is None:
            return None
        definition = self._objects.get(path.object_id)
        return definition.resource(path.resource_id) if definition else None

    def load_ddf(self, source: str | os.PathLike[str] | bytes) -> list[ObjectDefinition]:
        """Load an OMA DDF XML file (a path, or the XML itself as bytes) and add its objects."""
        from m2mclient.lwm2m.ddf import load_ddf

        document = load_ddf(source)
        for definition in document.objects:
            self.add(definition)
        return list(document.objects)

    def copy(self) -> Registry:
        return Registry(self._objects.values())

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectDefinition]:
        return iter(sorted(self._objects.values(), key=lambda d: d.id))

    def __len__(self) -> int:
        return len(self._objects)


def default_registry() -> Registry:
    """A fresh registry with the built-in core objects (changing it affects nobody else)."""
    from m2mclient.lwm2m.core_objects import CORE_OBJECTS

    return Registry(CORE_OBJECTS)
