"""LwM2M: the object model, the registry of object definitions and the content formats.

>>> from m2mclient.lwm2m import Path, default_registry
>>> default_registry().resource(Path.parse("/3/0/0")).name
'Manufacturer'
"""

from m2mclient.lwm2m.model import (
    DataType,
    ObjectDefinition,
    ObjLnk,
    Operations,
    Path,
    PathLevel,
    ResourceDefinition,
    Value,
)
from m2mclient.lwm2m.registry import Registry, default_registry

__all__ = [
    "DataType",
    "ObjLnk",
    "ObjectDefinition",
    "Operations",
    "Path",
    "PathLevel",
    "Registry",
    "ResourceDefinition",
    "Value",
    "default_registry",
]
