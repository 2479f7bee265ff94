"""Access control: which LwM2M Server may do what to which object instance (sans-IO).

A client that talks to more than one LwM2M Server keeps one Access Control
object instance (object 2) per object instance it exposes (LwM2M Core §7.3
"Access Control"; object definition OMA-SUP-XML_2-V1_1, the one Core 1.2
uses). Each holds:

* ``/2/x/0`` Object ID and ``/2/x/1`` Object Instance ID: the instance it
  guards. Instance id 65535 stands for the object itself and carries the
  right to *create* instances of it.
* ``/2/x/2`` ACL, a multiple-instance resource keyed by Short Server ID whose
  value is a bit mask: Read (1; also Observe and Write-Attributes), Write (2),
  Execute (4), Delete (8), Create (16). Resource instance 0 is the default
  entry for servers without their own.
* ``/2/x/3`` Access Control Owner: the one server that may change this
  instance; 65535 means only the Bootstrap-Server may.

:class:`AccessControl` reads those instances straight from the client's
objects (there is no second copy to drift) and answers the request engine's
questions: may this server do this here (:meth:`AccessControl.check`), which
instances of an object may it see (:meth:`AccessControl.readable_instances`),
and what follows a Create, a Delete, or the removal of a server account
(:meth:`~AccessControl.on_created`, :meth:`~AccessControl.on_deleted`,
:meth:`~AccessControl.forget_server`). It never touches a socket or a clock.

Where the Core text leaves room, the choices follow AVSystem Anjay, the client
whose Access Control handling is the most complete in the open: see the notes
on :class:`AccessControl`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from m2mclient.lwm2m.model import MAX_ID, RESERVED_ID, Path, PathLevel, Value
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance, OperationError

logger = logging.getLogger(__name__)

SECURITY: Final = 0
SERVER: Final = 1
ACCESS_CONTROL: Final = 2
OSCORE: Final = 21
#: The Security and OSCORE objects hold keys: no management server may see them
#: at all, whatever an ACL says (Core §7.3; Security DDF "MUST NOT be accessible
#: by any other LwM2M Server").
BOOTSTRAP_ONLY_OBJECTS: Final = frozenset({SECURITY, OSCORE})

# Resources of the Access Control object (object 2).
OBJECT_ID: Final = 0
OBJECT_INSTANCE_ID: Final = 1
ACL: Final = 2
OWNER: Final = 3

#: ``/2/x/1`` value meaning "the object itself": that instance's ACL grants Create.
OBJECT_ITSELF: Final = RESERVED_ID
#: ``/2/x/3`` value meaning "changed during bootstrap only" (no management server owns it).
BOOTSTRAP_OWNER: Final = RESERVED_ID
#: ACL resource instance 0 holds the default rights of servers without their own entry.
DEFAULT_ENTRY: Final = 0

#: The server id that stands for the LwM2M Bootstrap-Server: Access Control does
#: not apply to it (Core §7.3; Bootstrap-Write ignores access rights, Transport §6.1).
BOOTSTRAP_SERVER: Final = None


class AccessRight(enum.IntFlag):
    """The bits of an ACL resource instance (Access Control object DDF, resource 2)."""

    NONE = 0
    READ = 1  # Read, Observe, Write-Attributes
    WRITE = 2
    EXECUTE = 4
    DELETE = 8
    CREATE = 16  # only meaningful in the ACL of an (object, 65535) instance


#: The bits defined so far; "other bits are reserved for future use" and ignored.
_DEFINED_RIGHTS = 0b11111

#: What "full access rights" means for an object instance: everything but
#: Create, which has no meaning on an instance. Anjay gives the owner and the
#: creator of an instance exactly this mask (15), and so do we.
FULL_INSTANCE_RIGHTS: Final = AccessRight.READ | AccessRight.WRITE | AccessRight.EXECUTE | AccessRight.DELETE


class Operation(enum.Enum):
    """A Device Management operation, as access control sees it."""

    READ = "Read"
    WRITE = "Write"
    EXECUTE = "Execute"
    DELETE = "Delete"
    CREATE = "Create"
    DISCOVER = "Discover"
    OBSERVE = "Observe"
    WRITE_ATTRIBUTES = "Write-Attributes"

    @property
    def right(self) -> AccessRight:
        """The ACL bit this operation needs (Discover needs Read only where asked to)."""
        return _RIGHT_NEEDED[self]

    @property
    def reads(self) -> bool:
        """Whether the operation only looks (those are filtered per instance, not refused)."""
        return self in _READ_LIKE


_RIGHT_NEEDED: Final = {
    Operation.READ: AccessRight.READ,
    Operation.OBSERVE: AccessRight.READ,
    Operation.WRITE_ATTRIBUTES: AccessRight.READ,
    Operation.DISCOVER: AccessRight.READ,
    Operation.WRITE: AccessRight.WRITE,
    Operation.EXECUTE: AccessRight.EXECUTE,
    Operation.DELETE: AccessRight.DELETE,
    Operation.CREATE: AccessRight.CREATE,
}
_READ_LIKE: Final = frozenset({Operation.READ, Operation.OBSERVE, Operation.WRITE_ATTRIBUTES, Operation.DISCOVER})


def _is_server_id(server_id: int) -> bool:
    """Short Server IDs of management servers are 1..65534 (Server object, resource 0)."""
    return 1 <= server_id <= MAX_ID


@dataclass(frozen=True)
class AccessControlEntry:
    """One Access Control object instance, as read from the client's objects.

    ``acl`` maps Short Server ID (0 for the default entry) to the raw mask.
    """

    instance_id: int
    object_id: int
    object_instance_id: int
    acl: Mapping[int, int]
    owner: int

    @property
    def path(self) -> Path:
        """Where this entry lives: ``/2/x``."""
        return Path.of(ACCESS_CONTROL, self.instance_id)

    @property
    def target(self) -> str:
        """The guarded instance as text (``/3303/65535`` for Create rights, which no Path can hold)."""
        return f"/{self.object_id}/{self.object_instance_id}"

    def rights_of(self, server_id: int) -> AccessRight:
        """The rights ``server_id`` holds on the guarded instance.

        Core §7.3, Access Control object overview: a server's own ACL entry
        decides; an Access Control Owner "which doesn't have ACL Resource
        Instance" has full access rights; otherwise the default entry
        (instance 0) applies; with none of those, the server has no rights.
        """
        if _is_server_id(server_id) and server_id in self.acl:
            return _mask(self.acl[server_id])
        if _is_server_id(server_id) and server_id == self.owner:
            return FULL_INSTANCE_RIGHTS
        if DEFAULT_ENTRY in self.acl:
            return _mask(self.acl[DEFAULT_ENTRY])
        return AccessRight.NONE

    def create_rights_of(self, server_id: int) -> AccessRight:
        """Like :meth:`rights_of`, for the ``(object, 65535)`` instance that governs Create.

        The owner's implicit "full access rights" are rights on an object
        instance and carry no Create (as in Anjay); an owner without its own
        entry gets Create only from the default entry.
        """
        if _is_server_id(server_id) and server_id in self.acl:
            return _mask(self.acl[server_id])
        return _mask(self.acl.get(DEFAULT_ENTRY, 0))


def _mask(value: int) -> AccessRight:
    return AccessRight(value & _DEFINED_RIGHTS)


def creation_values(object_id: int, instance_id: int, server_id: int) -> dict[int, Value | dict[int, Value]]:
    """The resources of the Access Control instance a Create by ``server_id`` gets.

    Core §7.3: when a server creates an object instance, the client creates an
    Access Control instance for it with that server as owner and full rights
    for it (Anjay writes ACL ``{server: 15}`` and owner ``server``, the same).
    """
    return {
        OBJECT_ID: object_id,
        OBJECT_INSTANCE_ID: instance_id,
        ACL: {server_id: int(FULL_INSTANCE_RIGHTS)},
        OWNER: server_id,
    }


class AccessControl:
    """Access rights of LwM2M Servers, read from the Access Control object in ``objects``.

    ``objects`` is the client's live ``{object id: LwM2MObject}`` mapping (the
    engine's ``objects``); later additions are seen. ``enabled`` says whether
    access control applies now: a bool, a callable asked at every check, or
    ``None`` (the default) for "more than one Server object instance exists".
    With a single server account "the Server MUST have full access right on all
    the Object Instances" (Core §7.3), so nothing is checked then; nor when the
    client has no Access Control object at all (Anjay does the same).

    ``server_id`` arguments are Short Server IDs; :data:`BOOTSTRAP_SERVER`
    (``None``) is the Bootstrap-Server, to which access control does not apply.

    Rules, with their sources:

    * Security (0) and OSCORE (21) are refused to every management server, even
      with access control off.
    * Instance operations need the bit of the operation in
      :meth:`AccessControlEntry.rights_of` of the instance's Access Control
      instance; an instance no Access Control instance covers grants nothing.
    * Create on ``/O`` needs the Create bit in the ACL of the ``(O, 65535)``
      Access Control instance. Owning that instance grants no Create: the
      owner's "full access rights" are rights on an *instance* (as in Anjay),
      so an owner without its own entry gets what the default entry grants.
    * Discover is not governed by the ACL: the Read bit covers "Read, Observe,
      Write-Attributes" in the object 2 definition Core 1.1 and 1.2 use (1.0
      listed Discover there too), and Anjay documents that "Discover operation
      is always allowed". Pass ``discover_needs_read=True`` for the 1.0 rule.
    * Access Control instances themselves: every server may read, observe and
      discover them and set attributes on them; only the instance's owner may
      write it (ACL DDF, resource 3: "only such an LwM2M Server can manage the
      Resources of this Object Instance"); no management server may create or
      delete them, the client and the Bootstrap-Server do (Anjay refuses the
      same).
    * A Read, Observe, Discover or Write-Attributes of a whole object is
      allowed; its result must be filtered with :meth:`readable_instances`.
      It is refused only when the object has instances and the server may
      read none of them.
    * A path that does not exist is not decided here: the engine answers 4.04.
    """

    def __init__(
        self,
        objects: Mapping[int, LwM2MObject],
        enabled: bool | Callable[[], bool] | None = None,
        *,
        discover_needs_read: bool = False,
    ):
        self.objects = objects
        if enabled is None:
            self._enabled: Callable[[], bool] = self._several_servers
        elif isinstance(enabled, bool):
            self._enabled = lambda: enabled
        else:
            self._enabled = enabled
        self.discover_needs_read = discover_needs_read

    def _several_servers(self) -> bool:
        servers = self.objects.get(SERVER)
        return servers is not None and len(servers) > 1

    @property
    def active(self) -> bool:
        """Whether ACLs are enforced now (several servers and an Access Control object)."""
        return ACCESS_CONTROL in self.objects and self._enabled()

    # --- reading the Access Control object -------------------------------------------

    def entries(self) -> list[AccessControlEntry]:
        """Every well-formed Access Control instance, by instance id; malformed ones are skipped."""
        aco = self.objects.get(ACCESS_CONTROL)
        if aco is None:
            return []
        found = []
        for instance in aco:
            entry = _read_entry(instance)
            if entry is None:
                # Asked at every check: debug, or one bad bootstrap write floods the log.
                logger.debug("%s lacks a valid Object ID, Object Instance ID or Owner; it grants nothing", instance)
            else:
                found.append(entry)
        return found

    def entry_for(self, object_id: int, instance_id: int) -> AccessControlEntry | None:
        """The Access Control instance guarding ``/object_id/instance_id`` (65535: the object)."""
        return self._index().get((object_id, instance_id))

    def _index(self) -> dict[tuple[int, int], AccessControlEntry]:
        index: dict[tuple[int, int], AccessControlEntry] = {}
        for entry in self.entries():
            # One instance per target (Core §7.3); should a bootstrap leave two, the lowest id wins.
            index.setdefault((entry.object_id, entry.object_instance_id), entry)
        return index

    def rights(self, server_id: int, object_id: int, instance_id: int) -> AccessRight:
        """What the ACL grants ``server_id`` on ``/object_id/instance_id``, whether or not checks are active."""
        entry = self.entry_for(object_id, instance_id)
        return entry.rights_of(server_id) if entry is not None else AccessRight.NONE

    # --- decisions --------------------------------------------------------------------

    def check(self, server_id: int | None, operation: Operation, path: Path) -> None:
        """Raise :class:`OperationError` 4.01 unless ``server_id`` may perform ``operation`` on ``path``."""
        reason = self._refusal(server_id, operation, path, None)
        if reason is not None:
            raise OperationError("4.01", f"server {server_id} may not {operation.value} {path}: {reason}")

    def allowed(self, server_id: int | None, operation: Operation, path: Path) -> bool:
        """Whether :meth:`check` would let the operation through."""
        return self._refusal(server_id, operation, path, None) is None

    def visible_instances(
        self, server_id: int | None, object_id: int, operation: Operation = Operation.READ
    ) -> set[int]:
        """Ids of the instances of ``object_id`` on which ``server_id`` may perform ``operation``."""
        obj = self.objects.get(object_id)
        if obj is None:
            return set()
        index = self._index()
        return {
            instance_id
            for instance_id in obj.instances
            if self._refusal(server_id, operation, Path.of(object_id, instance_id), index) is None
        }

    def readable_instances(self, server_id: int | None, object_id: int) -> set[int]:
        """Ids of the instances a Read, Observe or Write-Attributes of ``/object_id`` may cover."""
        return self.visible_instances(server_id, object_id, Operation.READ)

    def _refusal(
        self,
        server_id: int | None,
        operation: Operation,
        path: Path,
        index: dict[tuple[int, int], AccessControlEntry] | None,
    ) -> str | None:
        """Why the operation is refused, or ``None`` when it is allowed."""
        if server_id is None:  # the Bootstrap-Server
            return None
        object_id = path.object_id
        if object_id in BOOTSTRAP_ONLY_OBJECTS:
            return f"object {object_id} is only for the bootstrap server"
        if not self.active:
            return None
        if not _is_server_id(server_id):
            return "requests from an unidentified server (Short Server ID 1..65534 expected) get no rights"
        if object_id is None:
            # Read-/Write-Composite name their paths in the body; each is checked on its own.
            if operation.reads:
                return None
            return "check each path of a composite request, not the root"
        if operation is Operation.CREATE:
            return self._create_refusal(server_id, object_id, index)
        if operation is Operation.DISCOVER and not self.discover_needs_read:
            return None
        if object_id == ACCESS_CONTROL:
            return self._access_control_refusal(server_id, operation, path)
        obj = self.objects.get(object_id)
        if obj is None:
            return None  # the engine answers 4.04
        if path.level is PathLevel.OBJECT:
            return self._object_refusal(server_id, operation, obj, index)
        instance_id = path.instance_id
        assert instance_id is not None
        if instance_id not in obj.instances:
            return None  # the engine answers 4.04
        if index is None:
            index = self._index()
        entry = index.get((object_id, instance_id))
        if entry is None:
            return f"no Access Control instance covers /{object_id}/{instance_id}"
        rights = entry.rights_of(server_id)
        if operation.right in rights:
            return None
        return f"{entry.path} grants it {_describe(rights)}, not {operation.right.name}"

    def _create_refusal(
        self, server_id: int, object_id: int, index: dict[tuple[int, int], AccessControlEntry] | None
    ) -> str | None:
        if object_id == ACCESS_CONTROL:
            return "Access Control instances are created by the client and the bootstrap server only"
        entry = (index if index is not None else self._index()).get((object_id, OBJECT_ITSELF))
        if entry is None:
            return f"no Access Control instance for /{object_id} (instance 65535) grants Create"
        rights = entry.create_rights_of(server_id)
        if AccessRight.CREATE in rights:
            return None
        return f"the ACL of {entry.path} (for /{object_id}) does not grant it Create"

    def _access_control_refusal(self, server_id: int, operation: Operation, path: Path) -> str | None:
        if operation.reads:
            return None
        if operation is Operation.DELETE:
            return "Access Control instances are deleted by the client and the bootstrap server only"
        aco = self.objects.get(ACCESS_CONTROL)
        if path.level is PathLevel.OBJECT or aco is None:
            return "only the owner of an Access Control instance may change it"
        assert path.instance_id is not None
        instance = aco.instances.get(path.instance_id)
        if instance is None:
            return None  # the engine answers 4.04
        entry = _read_entry(instance)
        owner = entry.owner if entry is not None else None
        if owner == server_id:
            return None
        return f"only its owner ({_owner_text(owner)}) may change {Path(path.ids[:2])}"

    def _object_refusal(
        self,
        server_id: int,
        operation: Operation,
        obj: LwM2MObject,
        index: dict[tuple[int, int], AccessControlEntry] | None,
    ) -> str | None:
        if index is None:
            index = self._index()
        refused = {
            instance_id: self._refusal(server_id, operation, Path.of(obj.id, instance_id), index)
            for instance_id in obj.instances
        }
        if operation.reads:
            if not refused or any(reason is None for reason in refused.values()):
                return None  # the engine filters with readable_instances()
            return f"it may {operation.value} none of the instances of /{obj.id}"
        denied = sorted(instance_id for instance_id, reason in refused.items() if reason is not None)
        if denied:
            return f"it lacks {operation.right.name} on " + ", ".join(f"/{obj.id}/{i}" for i in denied)
        return None

    # --- keeping the Access Control object in step ------------------------------------------

    def on_created(self, server_id: int | None, path: Path) -> Path | None:
        """Give the instance ``server_id`` just created at ``path`` its Access Control instance.

        Call after the new instance was added. The new Access Control instance
        names ``server_id`` as owner with full rights (:func:`creation_values`).
        Returns its path (an existing one, e.g. provisioned by the bootstrap
        server, is kept and returned), or ``None`` when there is nothing to do:
        a bootstrap write, no Access Control object, or an object that gets no
        Access Control instances (Security, Access Control, OSCORE). This is
        done even while checks are off with a single server, so ownership is
        already right when a second server is added (as Anjay does).
        """
        if server_id is None or not _is_server_id(server_id):
            return None
        if path.level is not PathLevel.INSTANCE:
            raise ValueError(f"on_created() takes the new instance's /o/i path, got {path}")
        object_id, instance_id = path.ids
        aco = self.objects.get(ACCESS_CONTROL)
        if aco is None or object_id in BOOTSTRAP_ONLY_OBJECTS or object_id == ACCESS_CONTROL:
            return None
        existing = self.entry_for(object_id, instance_id)
        if existing is not None:
            return existing.path
        instance = aco.new_instance(aco.free_instance_id())
        for resource_id, content in creation_values(object_id, instance_id, server_id).items():
            instance.write_resource(resource_id, content, replace=True)
        aco.add(instance)
        logger.info("%s: server %d owns %s, which it created", instance.path, server_id, path)
        return instance.path

    def on_deleted(self, path: Path) -> list[Path]:
        """Remove the Access Control instances of what was deleted at ``path``; returns their paths.

        ``path`` is the deleted instance (``/o/i``) or, for a Bootstrap-Delete,
        an object or the root. Instances holding Create rights (``/o/65535``)
        outlive the deletion of instances of their object.
        """
        aco = self.objects.get(ACCESS_CONTROL)
        if aco is None or path.object_id == ACCESS_CONTROL:
            return []
        removed = []
        for entry in self.entries():
            if entry.object_instance_id == OBJECT_ITSELF or not _covers(path, entry):
                continue
            aco.remove(entry.instance_id)
            removed.append(entry.path)
        return removed

    def forget_server(self, server_id: int) -> list[Path]:
        """Unbootstrapping of ``server_id`` (Transport 1.2 §5.2.5); returns the paths removed.

        Instances only that server could access (it owns them and nobody else
        has an ACL entry with rights) are deleted with their Access Control
        instances. Elsewhere its ACL entry is deleted, and where it was owner
        the server with the highest Write + Delete score becomes owner (the
        lowest Short Server ID on a tie); with no candidate the owner becomes
        65535 (bootstrap-managed), since the default entry still grants access.
        Call it when the Security instance of ``server_id`` is deleted.
        """
        aco = self.objects.get(ACCESS_CONTROL)
        if aco is None:
            return []
        removed: list[Path] = []
        for entry in self.entries():
            if server_id not in entry.acl and entry.owner != server_id:
                continue
            acl = {sid: mask for sid, mask in entry.acl.items() if sid != server_id}
            owner = entry.owner
            if owner == server_id:
                candidates = {sid: _mask(mask) for sid, mask in acl.items() if sid != DEFAULT_ENTRY and _mask(mask)}
                default_grants = bool(_mask(acl.get(DEFAULT_ENTRY, 0)))
                if not candidates and not default_grants:
                    removed.extend(self._remove_target(entry))
                    aco.remove(entry.instance_id)
                    removed.append(entry.path)
                    continue
                owner = _elect_owner(candidates) if candidates else BOOTSTRAP_OWNER
            instance = aco.instances[entry.instance_id]
            instance.write_resource(ACL, dict(acl), replace=True)
            if owner != entry.owner:
                instance.write_resource(OWNER, owner, replace=True)
                logger.info("%s: owner %d removed, server %s now owns %s", entry.path, server_id, owner, entry.target)
        return removed

    def _remove_target(self, entry: AccessControlEntry) -> list[Path]:
        obj = self.objects.get(entry.object_id)
        if entry.object_instance_id == OBJECT_ITSELF or obj is None or entry.object_instance_id not in obj.instances:
            return []
        obj.remove(entry.object_instance_id)
        return [Path.of(entry.object_id, entry.object_instance_id)]


def _elect_owner(candidates: Mapping[int, AccessRight]) -> int:
    """Transport 1.2 §5.2.5: highest sum of Write (1) and Delete (1); ties go to the lowest id."""

    def score(server_id: int) -> tuple[int, int]:
        rights = candidates[server_id]
        return (AccessRight.WRITE in rights) + (AccessRight.DELETE in rights), -server_id

    return max(candidates, key=score)


def _covers(path: Path, entry: AccessControlEntry) -> bool:
    """Whether the instance ``entry`` guards lies at or under ``path`` (root, object or instance)."""
    target = (entry.object_id, entry.object_instance_id)
    return len(path.ids) <= 2 and target[: len(path.ids)] == path.ids


def _read_entry(instance: ObjectInstance) -> AccessControlEntry | None:
    """An Access Control instance's values, or ``None`` when a mandatory one is missing or not an integer."""
    values: dict[int, int] = {}
    for resource_id in (OBJECT_ID, OBJECT_INSTANCE_ID, OWNER):
        value = instance.get_or(resource_id)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        values[resource_id] = value
    raw_acl = instance.get_or(ACL)
    acl: dict[int, int] = {}
    if isinstance(raw_acl, dict):
        acl = {sid: mask for sid, mask in raw_acl.items() if isinstance(mask, int) and not isinstance(mask, bool)}
    return AccessControlEntry(
        instance_id=instance.instance_id,
        object_id=values[OBJECT_ID],
        object_instance_id=values[OBJECT_INSTANCE_ID],
        acl=acl,
        owner=values[OWNER],
    )


def _describe(rights: AccessRight) -> str:
    names = [right.name for right in AccessRight if right and right in rights and right.name]
    return "+".join(names) if names else "no rights"


def _owner_text(owner: int | None) -> str:
    if owner is None:
        return "unknown"
    if owner == BOOTSTRAP_OWNER:
        return "the bootstrap server"
    return f"server {owner}"


__all__ = [
    "BOOTSTRAP_SERVER",
    "FULL_INSTANCE_RIGHTS",
    "AccessControl",
    "AccessControlEntry",
    "AccessRight",
    "Operation",
    "creation_values",
]
