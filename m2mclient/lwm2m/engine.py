"""The LwM2M request engine: a server's request in, the client's response out (sans-IO).

It implements the Device Management and Information Reporting interfaces of
the LwM2M 1.2 transport bindings (§6.3, §6.4) over the object instances the
application exposes: Read, Discover, Write (replace and partial update),
Write-Attributes, Execute, Create, Delete, Read-Composite and Write-Composite.
It knows nothing of CoAP messages or sockets: the CoAP glue turns a message into
a :class:`Request` and sends the :class:`Response` back; Observe relations are
kept by the client, which asks :meth:`Engine.read` for each notification.

Every failure becomes the response code the transport spec's tables give
(4.00, 4.01, 4.04, 4.05, 4.06, 4.15) with a diagnostic a person can read.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass

from m2mclient.errors import FormatError, PathError, ValueValidationError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.access import AccessControl, Operation
from m2mclient.lwm2m.attributes import AttributeStore, InvalidAttributesError, parse_write_attributes
from m2mclient.lwm2m.formats import FormatKind, Link, Record
from m2mclient.lwm2m.model import DataType, Path, PathLevel, ResourceDefinition, Value
from m2mclient.lwm2m.objects.base import (
    LwM2MObject,
    ObjectInstance,
    OperationError,
    ResourceContent,
    bad_request,
    not_allowed,
    not_found,
)
from m2mclient.lwm2m.registry import Registry

logger = logging.getLogger(__name__)

#: Objects a management server may never touch (Core 1.2 §6.3: the Security and
#: OSCORE objects are for the bootstrap server only).
BOOTSTRAP_ONLY_OBJECTS = frozenset({0, 21})

#: Formats a server of each LwM2M version may ask for (Core 1.0 §6.4, 1.1 §7, 1.2 §7).
_FORMATS_BY_VERSION = {
    "1.0": frozenset({formats.TEXT, formats.OPAQUE, formats.TLV, formats.OMA_JSON}),
    "1.1": frozenset(
        {
            formats.TEXT, formats.OPAQUE, formats.CBOR, formats.TLV, formats.OMA_JSON,
            formats.SENML_JSON, formats.SENML_CBOR,
        }
    ),
}
_FORMATS_BY_VERSION["1.2"] = _FORMATS_BY_VERSION["1.1"] | {formats.LWM2M_CBOR}
_COMPOSITE_FORMATS = frozenset({formats.SENML_JSON, formats.SENML_CBOR, formats.LWM2M_CBOR})

# Execute arguments, Core 1.2 §5.4.5: 0='value',1,2='x' (digit, optional quoted text).
_ARGUMENT = r"[0-9](='[\x20\x21\x23-\x26\x28-\x5b\x5d-\x7e]*')?"
_EXECUTE_ARGUMENTS = re.compile(rf"{_ARGUMENT}(,{_ARGUMENT})*")


class Method(enum.Enum):
    """The CoAP methods LwM2M uses."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    FETCH = "FETCH"
    IPATCH = "iPATCH"


@dataclass(frozen=True)
class Request:
    """A server's request, already parsed out of its CoAP message."""

    method: Method
    path: Path
    query: tuple[str, ...] = ()
    content_format: int | None = None
    accept: int | None = None
    payload: bytes = b""
    observe: int | None = None
    server_id: int = 0


@dataclass(frozen=True)
class Response:
    """What to answer: a CoAP code (``"2.05"``), payload and options.

    ``after`` is work to start once the response is on its way (an Execute
    handler's coroutine, e.g. a reboot).
    """

    code: str
    payload: bytes = b""
    content_format: int | None = None
    location_path: tuple[str, ...] = ()
    after: Awaitable[object] | None = None

    @property
    def ok(self) -> bool:
        return self.code.startswith("2.")


def _error(exc: OperationError) -> Response:
    return Response(exc.code, exc.args[0].encode("utf-8") if exc.args else b"", formats.TEXT)


class Engine:
    """Answers a server's requests from the application's object instances.

    ``version`` is the LwM2M version the client registered with (it decides
    which content formats a server may ask for); ``preferred_format`` is used
    for multi-value answers when the server sends no Accept.
    """

    def __init__(
        self,
        objects: Iterable[LwM2MObject],
        *,
        registry: Registry,
        attributes: AttributeStore | None = None,
        version: str = "1.2",
        preferred_format: int | None = None,
    ):
        self.objects: dict[int, LwM2MObject] = {obj.id: obj for obj in objects}
        self.registry = registry
        for obj in self.objects.values():
            if obj.id not in registry:
                registry.add(obj.definition)
        self.attributes = attributes if attributes is not None else AttributeStore()
        self.version = version
        #: The LwM2M version each server registered with, by Short Server ID (after a
        #: 4.12 fallback a 1.0 server must get TLV, not SenML); others use ``version``.
        self.server_versions: dict[int, str] = {}
        #: Object 2 access control; active only while more than one server is configured.
        self.access = AccessControl(self.objects)
        self.preferred_format = preferred_format

    # --- the one entry point ----------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Perform ``request`` and say what to answer; never raises for a server's mistake."""
        try:
            return self._dispatch(request)
        except OperationError as exc:
            logger.info("%s %s -> %s %s", request.method.value, request.path, exc.code, exc)
            return _error(exc)
        except (FormatError, ValueValidationError, InvalidAttributesError, PathError) as exc:
            logger.info("%s %s -> 4.00 %s", request.method.value, request.path, exc)
            return _error(bad_request(str(exc)))

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.object_id in BOOTSTRAP_ONLY_OBJECTS:
            raise OperationError("4.01", f"object {path.object_id} is only for the bootstrap server")
        if method is Method.GET:
            if request.accept == formats.LINK_FORMAT:
                return self._discover(request)
            return self._read(request)
        if method is Method.PUT:
            if request.content_format is None and not request.payload:
                return self._write_attributes(request)
            return self._write(request, replace=True)
        if method is Method.POST:
            return self._post(request)
        if method is Method.DELETE:
            return self._delete(request)
        if method is Method.FETCH:
            return self._read_composite(request)
        if method is Method.IPATCH:
            return self._write_composite(request)
        raise not_allowed(f"{method.value} is not an LwM2M operation")

    # --- lookups -------------------------------------------------------------------

    def object(self, object_id: int | None) -> LwM2MObject:
        obj = self.objects.get(object_id) if object_id is not None else None
        if obj is None:
            raise not_found(f"object {object_id}")
        return obj

    def instance(self, path: Path) -> ObjectInstance:
        obj = self.object(path.object_id)
        assert path.instance_id is not None
        found = obj.instances.get(path.instance_id)
        if found is None:
            raise not_found(f"object instance {Path(path.ids[:2])}")
        return found

    def resource_definition(self, path: Path) -> ResourceDefinition:
        definition = self.registry.resource(path)
        if definition is None:
            raise not_found(f"resource {path.resource_path}")
        return definition

    def exists(self, path: Path) -> bool:
        """Whether ``path`` addresses something present (used to accept an Observe)."""
        try:
            self.read(path)
        except OperationError:
            return False
        return True

    # --- Read ------------------------------------------------------------------------

    def read(self, path: Path, server_id: int | None = None) -> list[Record]:
        """The readable values at or under ``path``, as records (Read, Observe, Send).

        With a ``server_id``, an object-level read holds only the instances that
        server may read (Access Control, when several servers are configured).
        """
        if path.level is PathLevel.ROOT:
            raise not_allowed("Read of the root path; use Read-Composite")
        obj = self.object(path.object_id)
        if path.level is PathLevel.OBJECT:
            visible = self._visible(obj, server_id)
            instances = [instance for instance in obj if instance.instance_id in visible]
            return [record for instance in instances for record in self._read_instance(instance)]
        instance = self.instance(path)
        if path.level is PathLevel.INSTANCE:
            return self._read_instance(instance)
        definition = self.resource_definition(path)
        if not definition.operations.readable:
            raise not_allowed(f"resource {path.resource_path} ({definition.name}) is not readable")
        assert path.resource_id is not None
        if not instance.has_resource(path.resource_id):
            raise not_found(f"resource {path.resource_path}")
        records = _records(path.resource_path, instance.read_resource(path.resource_id))
        if path.level is PathLevel.RESOURCE_INSTANCE:
            if not definition.multiple:
                raise not_found(f"{path}: {definition.name} is a single-instance resource")
            records = [r for r in records if r.path == path]
            if not records:
                raise not_found(f"resource instance {path}")
        return records

    def _visible(self, obj: LwM2MObject, server_id: int | None, operation: Operation = Operation.READ) -> set[int]:
        if server_id is None or not self.access.active:
            return set(obj.instances)
        return self.access.visible_instances(server_id, obj.id, operation)

    def _read_instance(self, instance: ObjectInstance) -> list[Record]:
        records = []
        for resource_id in instance.resource_ids():
            definition = instance.definition.resource(resource_id)
            if definition is None or not definition.operations.readable:
                continue
            records.extend(_records(instance.path.child(resource_id), instance.read_resource(resource_id)))
        return records

    def _read(self, request: Request) -> Response:
        operation = Operation.OBSERVE if request.observe == 0 else Operation.READ
        self.access.check(request.server_id, operation, request.path)
        records = self.read(request.path, request.server_id)
        content_format, payload = self.encode(request.path, records, request.accept, request.server_id)
        return Response("2.05", payload, content_format)

    def encode(
        self, path: Path, records: Sequence[Record], accept: int | None, server_id: int = 0
    ) -> tuple[int, bytes]:
        """Encode records read at ``path`` the way a Read with ``accept`` would (for notifications)."""
        content_format = self.choose_format(path, accept, records, server_id)
        return content_format, formats.encode(content_format, records, path=path, registry=self.registry)

    def version_of(self, server_id: int) -> str:
        """The LwM2M version ``server_id`` registered with."""
        return self.server_versions.get(server_id, self.version)

    def choose_format(self, path: Path, accept: int | None, records: Sequence[Record], server_id: int = 0) -> int:
        """The content format to answer with: the server's Accept, else the best default.

        Raises 4.06 when the server asks for a format this version does not allow
        or that cannot carry the target (text for an object instance).
        """
        version = self.version_of(server_id)
        allowed = _FORMATS_BY_VERSION.get(version, _FORMATS_BY_VERSION["1.2"])
        single = _is_single_value(path, records, self.registry)
        if accept is not None:
            try:
                chosen = formats.lookup(accept)
            except FormatError:
                raise OperationError("4.06", f"content format {accept} is not supported") from None
            if chosen.id not in allowed or chosen.kind is not FormatKind.VALUES:
                raise OperationError("4.06", f"{chosen.media_type} is not offered to LwM2M {version} servers")
            if chosen.single_value and not single:
                raise OperationError("4.06", f"{chosen.media_type} cannot carry {path}")
            return chosen.id
        if single:
            definition = self.registry.resource(path)
            return formats.OPAQUE if definition and definition.type is DataType.OPAQUE else formats.TEXT
        if self.preferred_format is not None and self.preferred_format in allowed:
            return self.preferred_format
        return formats.TLV if version == "1.0" else formats.SENML_CBOR

    # --- Discover ----------------------------------------------------------------------

    def _discover(self, request: Request) -> Response:
        path = request.path
        depth = _query_int(request.query, "depth")
        if path.level is PathLevel.ROOT or path.level is PathLevel.RESOURCE_INSTANCE:
            raise not_allowed(f"Discover of {path}")
        self.access.check(request.server_id, Operation.DISCOVER, path)
        links = self.discover(path, request.server_id, depth)
        return Response("2.05", formats.encode_links(links), formats.LINK_FORMAT)

    def discover(self, path: Path, server_id: int, depth: int | None = None) -> list[Link]:
        """Discover links for ``path`` with the attributes ``server_id`` attached (§6.3.1)."""
        default_depth = {PathLevel.OBJECT: 2, PathLevel.INSTANCE: 1, PathLevel.RESOURCE: 0}[path.level]
        deepest = len(path) + (default_depth if depth is None else depth)
        obj = self.object(path.object_id)
        links: list[Link] = []
        if path.level is PathLevel.OBJECT:
            params = list(self.attributes.attached(server_id, path).link_params())
            if obj.definition.version != "1.0":
                params.insert(0, ("ver", obj.definition.version))
            links.append(Link(str(path), tuple(params)))
            visible = self._visible(obj, server_id, Operation.DISCOVER)
            instances = [instance for instance in obj if instance.instance_id in visible]
        else:
            instances = [self.instance(path)]
        for instance in instances:
            if path.level <= PathLevel.INSTANCE and len(instance.path) <= deepest:
                links.append(self._link(instance.path, server_id))
            for resource_id in instance.resource_ids():
                resource_path = instance.path.child(resource_id)
                if not resource_path.is_prefix_of(path) and not path.is_prefix_of(resource_path):
                    continue
                if len(resource_path) <= deepest:
                    links.extend(self._resource_links(instance, resource_id, server_id, deepest))
        if path.level is PathLevel.RESOURCE and not links:
            raise not_found(f"resource {path}")
        return links

    def _link(self, path: Path, server_id: int, extra: tuple[tuple[str, str], ...] = ()) -> Link:
        return Link(str(path), extra + self.attributes.attached(server_id, path).link_params())

    def _resource_links(self, instance: ObjectInstance, resource_id: int, server_id: int, deepest: int) -> list[Link]:
        path = instance.path.child(resource_id)
        definition = instance.definition.resources[resource_id]
        if not definition.multiple or not definition.operations.readable:
            return [self._link(path, server_id)]
        content = instance.read_resource(resource_id)
        instance_ids = sorted(content) if isinstance(content, dict) else []
        links = [self._link(path, server_id, (("dim", str(len(instance_ids))),))]
        if len(path) + 1 <= deepest:
            links.extend(self._link(path.child(ri), server_id) for ri in instance_ids)
        return links

    # --- Write ---------------------------------------------------------------------------

    def _decode_payload(self, request: Request, base: Path) -> list[Record]:
        if request.content_format is None:
            raise bad_request("Content Format is not specified")
        try:
            fmt = formats.lookup(request.content_format)
        except FormatError:
            raise OperationError("4.15", f"content format {request.content_format} is not supported") from None
        version = self.version_of(request.server_id)
        allowed = _FORMATS_BY_VERSION.get(version, _FORMATS_BY_VERSION["1.2"])
        if fmt.kind is FormatKind.VALUES and fmt.id not in allowed:
            raise OperationError("4.15", f"{fmt.media_type} is not accepted from LwM2M {version} servers")
        if fmt.kind is FormatKind.LINKS:
            raise OperationError("4.15", f"{fmt.media_type} carries no values")
        return formats.decode_records(fmt.id, request.payload, path=base, registry=self.registry)

    def _write(self, request: Request, *, replace: bool) -> Response:
        path = request.path
        if path.level < PathLevel.INSTANCE:
            raise not_allowed(f"Write to {path}")
        instance = self.instance(path)
        self.access.check(request.server_id, Operation.WRITE, path)
        if path.level >= PathLevel.RESOURCE:
            # The target's own rights decide before its payload is even looked at.
            target = self.resource_definition(path)
            if not target.operations.writable:
                raise not_allowed(f"resource {path.resource_path} ({target.name}) is not writable")
        records = self._decode_payload(request, path)
        if path.level >= PathLevel.RESOURCE:
            definition = self.resource_definition(path)
            if not records and not (definition.multiple and path.level is PathLevel.RESOURCE):
                raise bad_request(f"the payload holds no value for {path}")
        plan = self._plan_writes(records)
        if path.level >= PathLevel.RESOURCE and not plan:
            plan = {path.resource_id: {}} if path.resource_id is not None else {}
        self._apply(instance, plan, replace=replace, target=path)
        return Response("2.04")

    def _plan_writes(self, records: Sequence[Record]) -> dict[int, ResourceContent]:
        """Group records by resource and check each may be written; nothing is applied yet."""
        plan: dict[int, ResourceContent] = {}
        for record in records:
            definition = self.resource_definition(record.path)
            if not definition.operations.writable:
                raise not_allowed(f"resource {record.path.resource_path} ({definition.name}) is not writable")
            resource_id = record.path.resource_id
            assert resource_id is not None
            if definition.multiple:
                if record.path.resource_instance_id is None:
                    raise bad_request(f"{record.path} is multiple-instance: values go to its resource instances")
                content = plan.setdefault(resource_id, {})
                assert isinstance(content, dict)
                content[record.path.resource_instance_id] = record.value
            else:
                if record.path.resource_instance_id is not None:
                    raise bad_request(f"{record.path.resource_path} is single-instance")
                plan[resource_id] = record.value
        return plan

    def _apply(
        self, instance: ObjectInstance, plan: dict[int, ResourceContent], *, replace: bool, target: Path
    ) -> None:
        for resource_id, content in plan.items():
            # Writing one resource instance (/o/i/r/ri) never drops its siblings.
            merge = not replace or target.level is PathLevel.RESOURCE_INSTANCE
            instance.write_resource(resource_id, content, replace=not merge)
        if replace and target.level is PathLevel.INSTANCE:
            # Replace on an instance: writable optional resources the payload left out are removed.
            for resource_id in instance.resource_ids():
                definition = instance.definition.resources[resource_id]
                if resource_id not in plan and definition.operations.writable and not definition.mandatory:
                    instance.unset(resource_id)

    def _write_attributes(self, request: Request) -> Response:
        path = request.path
        if path.level is PathLevel.ROOT:
            raise not_allowed("Write-Attributes on the root path")
        if not self.exists(path) and not (path.level <= PathLevel.INSTANCE and self._container_exists(path)):
            raise not_found(str(path))
        self.access.check(request.server_id, Operation.WRITE_ATTRIBUTES, path)
        update = parse_write_attributes(request.query)
        definition = self.registry.resource(path) if path.level >= PathLevel.RESOURCE else None
        self.attributes.apply(
            request.server_id,
            path,
            update,
            definition.type if definition else None,
            definition.multiple if definition else False,
        )
        return Response("2.04")

    def _container_exists(self, path: Path) -> bool:
        if path.object_id not in self.objects:
            return False
        return path.instance_id is None or path.instance_id in self.objects[path.object_id].instances

    # --- POST: Execute, partial update, Create ----------------------------------------

    def _post(self, request: Request) -> Response:
        level = request.path.level
        if level is PathLevel.OBJECT:
            return self._create(request)
        if level is PathLevel.INSTANCE:
            return self._write(request, replace=False)
        if level is PathLevel.RESOURCE:
            definition = self.resource_definition(request.path)
            if definition.operations.executable:
                return self._execute(request)
            if definition.multiple:
                return self._write(request, replace=False)
            raise not_allowed(f"resource {request.path} ({definition.name}) is not executable")
        raise not_allowed(f"POST to {request.path}")

    def _execute(self, request: Request) -> Response:
        instance = self.instance(request.path)
        self.access.check(request.server_id, Operation.EXECUTE, request.path)
        arguments: str | None = None
        if request.payload:
            try:
                arguments = request.payload.decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request("execute arguments are not UTF-8 text") from None
            if not _EXECUTE_ARGUMENTS.fullmatch(arguments):
                raise bad_request(f"execute arguments {arguments[:40]!r} do not follow 0='text',1 (Core §5.4.5)")
        assert request.path.resource_id is not None
        after = instance.execute_resource(request.path.resource_id, arguments)
        return Response("2.04", after=after)

    def _create(self, request: Request) -> Response:
        obj = self.object(request.path.object_id)
        if not obj.allow_create:
            raise not_allowed(f"servers may not create instances of object {obj.id}")
        self.access.check(request.server_id, Operation.CREATE, request.path)
        records = self._decode_create_payload(request, obj)
        instance_ids = {r.path.instance_id for r in records}
        if len(instance_ids) > 1:
            raise bad_request("Create makes one object instance at a time")
        instance_id = instance_ids.pop() if instance_ids else obj.free_instance_id()
        assert instance_id is not None
        if instance_id in obj.instances:
            raise bad_request(f"object instance /{obj.id}/{instance_id} already exists")
        if not obj.definition.multiple and obj.instances:
            raise bad_request(f"object {obj.id} ({obj.definition.name}) is single-instance and has its instance")
        instance = obj.new_instance(instance_id)
        plan = self._plan_create(instance, records)
        missing = [
            d.name
            for d in obj.definition.resources.values()
            if d.mandatory and d.operations.writable and d.id not in plan and not instance.has_resource(d.id)
        ]
        if missing:
            raise bad_request(f"Create of /{obj.id} lacks mandatory resources: {', '.join(missing)}")
        for resource_id, content in plan.items():
            instance.write_resource(resource_id, content, replace=True)
        obj.add(instance)
        # The creating server owns the new instance (an Access Control instance says so).
        self.access.on_created(request.server_id, instance.path)
        return Response("2.01", location_path=(str(obj.id), str(instance_id)))

    def _decode_create_payload(self, request: Request, obj: LwM2MObject) -> list[Record]:
        try:
            return self._decode_payload(request, request.path)
        except FormatError:
            if request.content_format != formats.TLV:
                raise
        # TLV may carry the new instance's resources without an instance wrapper; the client picks the id.
        return self._decode_payload(request, request.path.child(obj.free_instance_id()))

    def _plan_create(self, instance: ObjectInstance, records: Sequence[Record]) -> dict[int, ResourceContent]:
        plan: dict[int, ResourceContent] = {}
        for record in records:
            definition = self.resource_definition(record.path)
            if definition.type is DataType.NONE:
                raise bad_request(f"{record.path} is executable and carries no value")
            resource_id = record.path.resource_id
            assert resource_id is not None
            if definition.multiple and record.path.resource_instance_id is not None:
                content = plan.setdefault(resource_id, {})
                assert isinstance(content, dict)
                content[record.path.resource_instance_id] = record.value
            elif not definition.multiple and record.path.resource_instance_id is None:
                plan[resource_id] = record.value
            else:
                raise bad_request(f"{record.path} does not match the definition of {definition.name}")
        return plan

    # --- Delete ---------------------------------------------------------------------------

    def _delete(self, request: Request) -> Response:
        path = request.path
        if path.level is not PathLevel.INSTANCE:
            raise not_allowed(f"Delete of {path}: only object instances can be deleted")
        obj = self.object(path.object_id)
        self.instance(path)
        if not obj.allow_delete:
            raise not_allowed(f"servers may not delete instances of object {obj.id}")
        self.access.check(request.server_id, Operation.DELETE, path)
        obj.remove(path.instance_id or 0)
        self.attributes.forget(path)
        for access_path in self.access.on_deleted(path):
            self.attributes.forget(access_path)
        return Response("2.02")

    # --- Composite -------------------------------------------------------------------------

    def _read_composite(self, request: Request) -> Response:
        if request.path.level is not PathLevel.ROOT:
            raise not_allowed("Read-Composite is sent to the root path")
        paths = self.composite_paths(request)
        records = self.read_composite(paths, request.server_id)
        content_format = request.accept if request.accept is not None else formats.SENML_CBOR
        if content_format not in _COMPOSITE_FORMATS:
            raise OperationError("4.06", f"content format {content_format} cannot carry a composite read")
        payload = formats.encode(content_format, records, path="/", registry=self.registry)
        return Response("2.05", payload, content_format)

    def composite_paths(self, request: Request) -> list[Path]:
        """The paths of a Read-/Observe-Composite body (SenML-ETCH or SenML)."""
        if request.content_format is None:
            raise bad_request("Content Format is not specified")
        if request.content_format not in (320, 322, formats.SENML_JSON, formats.SENML_CBOR):
            raise OperationError("4.15", f"content format {request.content_format} cannot list paths")
        return formats.decode_paths(request.content_format, request.payload)

    def read_composite(self, paths: Sequence[Path], server_id: int | None = None) -> list[Record]:
        """Values for each path that exists (absent paths are left out, as Leshan and Anjay do)."""
        records: dict[tuple[Path, float | None], Record] = {}
        for path in paths:
            try:
                if path.level is PathLevel.ROOT:
                    found = self._read_everything(server_id)
                else:
                    self.access.check(server_id, Operation.READ, path)
                    found = self.read(path, server_id)
            except OperationError as exc:
                if exc.code == "4.04":
                    continue
                raise
            for record in found:
                records[(record.path, record.time)] = record
        return [records[key] for key in sorted(records, key=lambda k: k[0])]

    def _read_everything(self, server_id: int | None) -> list[Record]:
        return [
            record
            for object_id, obj in sorted(self.objects.items())
            if object_id not in BOOTSTRAP_ONLY_OBJECTS
            for instance in obj
            if instance.instance_id in self._visible(obj, server_id)
            for record in self._read_instance(instance)
        ]

    def _write_composite(self, request: Request) -> Response:
        if request.path.level is not PathLevel.ROOT:
            raise not_allowed("Write-Composite is sent to the root path")
        records = self._decode_payload(request, Path())
        plans: dict[Path, tuple[ObjectInstance, dict[int, ResourceContent]]] = {}
        for record in records:
            if record.path.object_id in BOOTSTRAP_ONLY_OBJECTS:
                raise OperationError("4.01", f"object {record.path.object_id} is only for the bootstrap server")
            instance = self.instance(record.path)
            self.access.check(request.server_id, Operation.WRITE, record.path)
            plan = self._plan_writes([record])
            _, existing = plans.setdefault(instance.path, (instance, {}))
            for resource_id, content in plan.items():
                if isinstance(content, dict) and isinstance(existing.get(resource_id), dict):
                    merged = existing[resource_id]
                    assert isinstance(merged, dict)
                    merged.update(content)
                else:
                    existing[resource_id] = content
        # Everything was checked before anything is written: a bad record changes nothing.
        for instance, plan in plans.values():
            self._apply(instance, plan, replace=False, target=instance.path)
        return Response("2.04")


def _records(resource_path: Path, content: ResourceContent) -> list[Record]:
    if isinstance(content, dict):
        return [Record(resource_path.child(ri), value) for ri, value in sorted(content.items())]
    return [Record(resource_path, content)]


def _is_single_value(path: Path, records: Sequence[Record], registry: Registry) -> bool:
    if path.level is PathLevel.RESOURCE_INSTANCE:
        return True
    if path.level is not PathLevel.RESOURCE:
        return False
    definition = registry.resource(path)
    return definition is not None and not definition.multiple and len(records) == 1


def _query_int(query: Sequence[str], name: str) -> int | None:
    for item in query:
        key, _, value = item.partition("=")
        if key == name:
            if not value.isdigit() or int(value) > 3:
                raise bad_request(f"{name} must be 0..3, got {value!r}")
            return int(value)
    return None


def values_of(records: Iterable[Record]) -> dict[Path, Value]:
    """Flatten records into ``{path: value}`` (handy in tests and logs)."""
    return {record.path: record.value for record in records}


__all__ = ["Engine", "Method", "Request", "Response", "values_of"]
