"""The built-in core objects, checked line by line against the OMA registry DDF files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.ddf import load_ddf
from m2mclient.lwm2m.model import DataType, ObjectDefinition, Operations, ResourceDefinition
from m2mclient.lwm2m.model import Path as LwPath
from m2mclient.lwm2m.registry import default_registry

# The OMA registry checkout lives beside the repository (/work/shared next to /work/main).
REGISTRY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "lwm2m-registry"


def _registry_file(object_id: int) -> Path:
    if not REGISTRY_DIR.is_dir():
        pytest.skip(f"OMA LwM2M registry not found at {REGISTRY_DIR}; the cross-check needs its DDF files")
    return REGISTRY_DIR / f"{object_id}.xml"


def _object_facts(definition: ObjectDefinition) -> tuple[object, ...]:
    """Everything the built-ins promise to match, i.e. all but the prose and the resources."""
    return (
        definition.id,
        definition.name,
        definition.version,
        definition.lwm2m_version,
        definition.urn,
        definition.multiple,
        definition.mandatory,
    )


def _without_description(resource: ResourceDefinition) -> ResourceDefinition:
    return dataclasses.replace(resource, description="")


@pytest.mark.parametrize("builtin", CORE_OBJECTS, ids=lambda definition: f"{definition.id}-{definition.name}")
def test_builtin_object_matches_registry_ddf(builtin: ObjectDefinition) -> None:
    (from_ddf,) = load_ddf(_registry_file(builtin.id)).objects

    assert _object_facts(builtin) == _object_facts(from_ddf)
    assert sorted(builtin.resources) == sorted(from_ddf.resources)
    for resource_id, resource in builtin.resources.items():
        assert resource == _without_description(from_ddf.resources[resource_id]), (
            f"/{builtin.id} resource {resource_id}"
        )


def test_core_objects_are_the_documented_set_in_id_order() -> None:
    assert [definition.id for definition in CORE_OBJECTS] == [0, 1, 2, 3, 4, 5, 6, 7, 3303]


def test_newest_versions_are_built_in() -> None:
    versions = {definition.id: definition.version for definition in CORE_OBJECTS}

    assert versions == {0: "1.2", 1: "1.2", 2: "1.1", 3: "1.2", 4: "1.3", 5: "1.2", 6: "1.0", 7: "1.0", 3303: "1.1"}


def test_resources_are_keyed_by_their_own_id() -> None:
    for definition in CORE_OBJECTS:
        for resource_id, resource in definition.resources.items():
            assert resource.id == resource_id, f"/{definition.id}/{resource_id}"


def test_executable_resources_and_valueless_types_go_together() -> None:
    for definition in CORE_OBJECTS:
        for resource in definition.resources.values():
            is_executable = resource.operations == Operations.E
            assert is_executable == (resource.type is DataType.NONE), f"/{definition.id} resource {resource.id}"


def test_security_resources_are_closed_to_regular_servers() -> None:
    security = CORE_OBJECTS[0]

    assert security.resources
    assert all(resource.operations == Operations.NONE for resource in security.resources.values())


def test_default_registry_serves_builtin_definitions() -> None:
    registry = default_registry()

    manufacturer = registry.resource(LwPath.parse("/3/0/0"))
    reboot = registry.resource(LwPath.parse("/3/0/4"))
    sensor_value = registry.resource(LwPath.parse("/3303/1/5700"))

    assert manufacturer is not None and manufacturer.name == "Manufacturer"
    assert manufacturer.type is DataType.STRING
    assert reboot is not None and reboot.operations.executable
    assert sensor_value is not None and sensor_value.type is DataType.FLOAT
    assert len(registry) == len(CORE_OBJECTS)


def test_builtin_ranges_are_enforced_on_values() -> None:
    battery_level = CORE_OBJECTS[3].resources[9]

    assert battery_level.coerce(100) == 100
    with pytest.raises(ValueValidationError, match="outside range"):
        battery_level.coerce(101)
