"""Object instances as applications write them: values, callables, and change signals.

Two ways to expose data, mixable in one instance:

* **Values**: ``instance.set(9, 87)`` stores a value; the server reads it, and
  the change drives notifications to observers.
* **Callables**: ``instance.bind(5700, read_sensor)`` reads through a function
  at every Read; ``on_write`` and ``on_execute`` hook server writes and executes.
  A bound value changes without the SDK seeing it, so call
  ``instance.changed(5700)`` when it does (or rely on pmax / epmax sampling).

Subclasses may instead override :meth:`ObjectInstance.read_resource`,
:meth:`~ObjectInstance.write_resource` and :meth:`~ObjectInstance.execute_resource`.

Errors a server caused are raised as :class:`OperationError` carrying the CoAP
response code, so the request engine never guesses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TypeVar

from m2mclient.errors import M2MError, ValueValidationError
from m2mclient.lwm2m.model import DataType, ObjectDefinition, Path, ResourceDefinition, Value

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A resource's content: one value, or ``{resource instance id: value}`` for a
#: multiple-instance resource.
ResourceContent = Value | dict[int, Value]
Reader = Callable[[], object]
Writer = Callable[[ResourceContent], None]
#: An execute handler gets the argument text (``None`` without one); it may
#: return an awaitable, which runs after the 2.04 has been sent (a reboot must
#: not keep the server waiting for its answer).
Executor = Callable[[str | None], Awaitable[object] | None]
ChangeListener = Callable[[Path], None]


class OperationError(M2MError):
    """A server operation failed; ``code`` is the CoAP response code to answer with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def not_found(what: str) -> OperationError:
    return OperationError("4.04", f"{what} not found")


def not_allowed(what: str) -> OperationError:
    return OperationError("4.05", what)


def bad_request(what: str) -> OperationError:
    return OperationError("4.00", what)


class ObjectInstance:
    """One instance of an LwM2M object, as the client exposes it.

    ``values`` maps resource ids to initial values (a dict of resource
    instances for multiple-instance resources); they are checked against the
    definition's types.
    """

    def __init__(
        self,
        definition: ObjectDefinition,
        instance_id: int = 0,
        values: Mapping[int, object] | None = None,
    ):
        self.definition = definition
        self.instance_id = instance_id
        self._values: dict[int, ResourceContent] = {}
        self._readers: dict[int, Reader] = {}
        self._writers: dict[int, Writer] = {}
        self._executors: dict[int, Executor] = {}
        self._listeners: list[ChangeListener] = []
        for resource_id, value in (values or {}).items():
            self._values[resource_id] = self._coerce(resource_id, value)

    # --- identity -----------------------------------------------------------------

    @property
    def object_id(self) -> int:
        return self.definition.id

    @property
    def path(self) -> Path:
        return Path.of(self.definition.id, self.instance_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} {self.definition.name}>"

    # --- the application's side ---------------------------------------------------

    def set(self, resource_id: int, value: object) -> None:
        """Store a value (a mapping for a multiple-instance resource) and tell observers."""
        content = self._coerce(resource_id, value)
        if self._values.get(resource_id) == content and resource_id in self._values:
            return
        self._values[resource_id] = content
        self.changed(resource_id)

    def set_instance(self, resource_id: int, resource_instance_id: int, value: object) -> None:
        """Store one instance of a multiple-instance resource."""
        definition = self._definition(resource_id)
        if not definition.multiple:
            raise ValueValidationError(f"{self.path}/{resource_id} is not a multiple-instance resource")
        current = self._values.get(resource_id)
        instances = dict(current) if isinstance(current, dict) else {}
        instances[resource_instance_id] = definition.coerce(value)
        self.set(resource_id, instances)

    def get(self, resource_id: int) -> ResourceContent:
        """The current content of a resource, through its reader when one is bound."""
        return self.read_resource(resource_id)

    def get_or(self, resource_id: int, default: object = None) -> object:
        """The resource's content, or ``default`` when it is absent (optional resources)."""
        try:
            return self.read_resource(resource_id)
        except OperationError:
            return default

    def require(self, resource_id: int, kind: type[T]) -> T:
        """A mandatory resource's content as ``kind``; a clear error when it is missing (a bad bootstrap)."""
        value = self.get_or(resource_id)
        if not isinstance(value, kind):
            definition = self.definition.resource(resource_id)
            name = definition.name if definition else "undefined"
            raise ValueValidationError(f"{self.path}/{resource_id} ({name}) is missing or not a {kind.__name__}")
        return value

    def unset(self, resource_id: int) -> None:
        """Remove an optional resource's value (it is then absent from reads)."""
        if self._values.pop(resource_id, None) is not None:
            self.changed(resource_id)

    def bind(self, resource_id: int, reader: Reader) -> None:
        """Read ``resource_id`` through ``reader()`` at every server Read."""
        self._definition(resource_id)
        self._readers[resource_id] = reader

    def on_write(self, resource_id: int, writer: Writer) -> None:
        """Call ``writer(content)`` when a server writes ``resource_id`` (after validation)."""
        self._definition(resource_id)
        self._writers[resource_id] = writer

    def on_execute(self, resource_id: int, executor: Executor) -> None:
        """Call ``executor(arguments)`` when a server executes ``resource_id``."""
        definition = self._definition(resource_id)
        if not definition.operations.executable:
            raise ValueValidationError(f"{self.path}/{resource_id} ({definition.name}) is not executable")
        self._executors[resource_id] = executor

    def changed(self, resource_id: int | None = None) -> None:
        """Tell observers that a resource (or, without an id, the whole instance) changed."""
        path = self.path if resource_id is None else self.path.child(resource_id)
        for listener in list(self._listeners):
            listener(path)

    def add_listener(self, listener: ChangeListener) -> None:
        """Subscribe to change signals (the client does this when the instance is added); idempotent."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- the server's side (override these in subclasses) --------------------------

    def resource_ids(self) -> list[int]:
        """Ids of the resources present in this instance, sorted."""
        present = set(self._values) | set(self._readers)
        return sorted(rid for rid in present if rid in self.definition.resources)

    def has_resource(self, resource_id: int) -> bool:
        return resource_id in self._values or resource_id in self._readers

    def read_resource(self, resource_id: int) -> ResourceContent:
        """The content of a present resource; :class:`OperationError` 4.04 when absent."""
        reader = self._readers.get(resource_id)
        if reader is not None:
            return self._coerce(resource_id, reader())
        if resource_id not in self._values:
            raise not_found(f"resource {self.path}/{resource_id}")
        return self._values[resource_id]

    def write_resource(self, resource_id: int, content: ResourceContent, *, replace: bool = True) -> None:
        """Apply a server write of an already validated value.

        For a multiple-instance resource ``replace=False`` merges the given
        resource instances into the existing ones (Partial Update).
        """
        definition = self._definition(resource_id)
        if definition.multiple and not replace and isinstance(content, dict):
            current = self._values.get(resource_id)
            merged = dict(current) if isinstance(current, dict) else {}
            merged.update(content)
            content = merged
        writer = self._writers.get(resource_id)
        if writer is not None:
            writer(content)
        if resource_id not in self._readers:
            self._values[resource_id] = content
        self.changed(resource_id)

    def execute_resource(self, resource_id: int, arguments: str | None) -> Awaitable[object] | None:
        """Run the execute handler of ``resource_id``."""
        executor = self._executors.get(resource_id)
        if executor is None:
            raise OperationError("4.05", f"{self.path}/{resource_id} has no execute handler")
        return executor(arguments)

    def delete_resource_instance(self, resource_id: int, resource_instance_id: int) -> None:
        """Remove one instance of a multiple-instance resource (server Delete, 1.1+)."""
        current = self._values.get(resource_id)
        if not isinstance(current, dict) or resource_instance_id not in current:
            raise not_found(f"resource instance {self.path}/{resource_id}/{resource_instance_id}")
        remaining = dict(current)
        del remaining[resource_instance_id]
        self._values[resource_id] = remaining
        self.changed(resource_id)

    # --- helpers --------------------------------------------------------------------

    def _definition(self, resource_id: int) -> ResourceDefinition:
        definition = self.definition.resource(resource_id)
        if definition is None:
            raise ValueValidationError(
                f"object {self.definition.id} ({self.definition.name}) has no resource {resource_id}"
            )
        return definition

    def _coerce(self, resource_id: int, value: object) -> ResourceContent:
        definition = self._definition(resource_id)
        if definition.type is DataType.NONE:
            raise ValueValidationError(f"{self.path}/{resource_id} ({definition.name}) is executable; it has no value")
        if not definition.multiple:
            return definition.coerce(value)
        if isinstance(value, Mapping):
            return {int(ri): definition.coerce(v) for ri, v in value.items()}
        if isinstance(value, list):
            return {ri: definition.coerce(v) for ri, v in enumerate(value)}
        raise ValueValidationError(
            f"{self.path}/{resource_id} ({definition.name}) is multiple-instance: give a dict or a list"
        )


InstanceFactory = Callable[[ObjectDefinition, int], ObjectInstance]


class LwM2MObject:
    """All instances of one object, and how a server's Create makes new ones.

    ``factory(definition, instance_id)`` builds the instance a Create fills in;
    by default a plain :class:`ObjectInstance`. ``allow_create`` / ``allow_delete``
    say whether servers may create or delete instances of this object at all.
    """

    def __init__(
        self,
        definition: ObjectDefinition,
        instances: Iterable[ObjectInstance] = (),
        *,
        factory: InstanceFactory | None = None,
        allow_create: bool = True,
        allow_delete: bool = True,
    ):
        self.definition = definition
        self.instances: dict[int, ObjectInstance] = {}
        self._factory = factory or ObjectInstance
        self.allow_create = allow_create
        self.allow_delete = allow_delete
        for instance in instances:
            self.add(instance)

    @property
    def id(self) -> int:
        return self.definition.id

    def add(self, instance: ObjectInstance) -> ObjectInstance:
        """Add an instance; single-instance objects hold at most one."""
        if instance.definition.id != self.definition.id:
            raise ValueValidationError(f"{instance!r} is not an instance of object {self.definition.id}")
        if instance.instance_id in self.instances:
            raise ValueValidationError(f"{instance.path} already exists")
        if not self.definition.multiple and self.instances:
            raise ValueValidationError(f"object {self.definition.id} ({self.definition.name}) is single-instance")
        self.instances[instance.instance_id] = instance
        return instance

    def remove(self, instance_id: int) -> ObjectInstance:
        return self.instances.pop(instance_id)

    def new_instance(self, instance_id: int) -> ObjectInstance:
        """An empty instance for a server's Create (not yet added)."""
        return self._factory(self.definition, instance_id)

    def free_instance_id(self) -> int:
        """The lowest instance id not in use (what a Create without an id gets)."""
        used = set(self.instances)
        return next(i for i in range(65535) if i not in used)

    def __iter__(self) -> Iterator[ObjectInstance]:
        return iter(sorted(self.instances.values(), key=lambda i: i.instance_id))

    def __len__(self) -> int:
        return len(self.instances)
