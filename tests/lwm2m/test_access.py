"""Access control through the Access Control object (/2): every rule, with two servers, 101 and 102."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.lwm2m import Path, default_registry
from m2mclient.lwm2m.access import (
    FULL_INSTANCE_RIGHTS,
    AccessControl,
    AccessRight,
    Operation,
    creation_values,
)
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance, OperationError

REGISTRY = default_registry()
R, W, E, D, C = 1, 2, 4, 8, 16
OWNED_BY_BOOTSTRAP = 65535
OBJECT_ITSELF = 65535


def definition(object_id: int) -> ObjectDefinition:
    found = REGISTRY.get(object_id)
    assert found is not None
    return found


def aco(instance_id: int, object_id: int, object_instance_id: int, acl: dict[int, int], owner: int) -> ObjectInstance:
    values: dict[int, object] = {0: object_id, 1: object_instance_id, 3: owner}
    if acl:
        values[2] = acl
    return ObjectInstance(definition(2), instance_id, values)


def access_control_instances() -> list[ObjectInstance]:
    """What a bootstrap server would provision for two servers sharing a device."""
    return [
        aco(0, 1, 0, {101: R | W}, owner=101),  # each server manages its own Server instance
        aco(1, 1, 1, {}, owner=102),  # empty ACL: only the owner rule applies
        aco(2, 3, 0, {0: R, 101: R | W | E}, owner=101),  # Device: everyone reads, 101 also writes/executes
        aco(3, 3303, 0, {102: R}, owner=101),  # owner 101 has no entry: full rights
        aco(4, 3303, 1, {102: R | W | E | D, 101: 0}, owner=102),  # 101 explicitly gets nothing
        aco(5, 3303, OBJECT_ITSELF, {101: C}, owner=OWNED_BY_BOOTSTRAP),  # only 101 may create temperatures
        # /3303/2 has no Access Control instance: no management server may touch it.
    ]


def make_objects(*, servers: tuple[int, ...] = (101, 102)) -> dict[int, LwM2MObject]:
    security = [
        ObjectInstance(definition(0), i, {0: f"coaps://lwm2m-{sid}.example", 1: False, 2: 0, 10: sid})
        for i, sid in enumerate(servers)
    ]
    server = [ObjectInstance(definition(1), i, {0: sid, 1: 86400, 6: True, 7: "U"}) for i, sid in enumerate(servers)]
    device = ObjectInstance(definition(3), 0, {0: "m2mclient", 11: [0], 13: 1700000000, 16: "U"})
    device.on_execute(4, lambda _arguments: None)
    temperatures = [ObjectInstance(definition(3303), i, {5700: 20.0 + i, 5750: "room"}) for i in range(3)]
    objects = [
        LwM2MObject(definition(0), security),
        LwM2MObject(definition(1), server),
        LwM2MObject(definition(2), access_control_instances()),
        LwM2MObject(definition(3), [device], allow_create=False, allow_delete=False),
        LwM2MObject(definition(3303), temperatures),
    ]
    return {obj.id: obj for obj in objects}


def make_access(**options: object) -> tuple[AccessControl, dict[int, LwM2MObject]]:
    objects = make_objects()
    return AccessControl(objects, **options), objects  # type: ignore[arg-type]


# --- the rules, as a table -----------------------------------------------------------------

ALLOWED, REFUSED = True, False
TABLE = [
    # Device: the default entry (0) grants Read, 101 has its own entry R+W+E.
    (101, Operation.READ, "/3/0/0", ALLOWED),
    (101, Operation.WRITE, "/3/0/13", ALLOWED),
    (101, Operation.EXECUTE, "/3/0/4", ALLOWED),
    (101, Operation.DELETE, "/3/0", REFUSED),  # an explicit entry without D; owning /2/2 does not add D
    (102, Operation.READ, "/3/0", ALLOWED),  # default entry
    (102, Operation.OBSERVE, "/3/0/13", ALLOWED),
    (102, Operation.WRITE_ATTRIBUTES, "/3/0/13", ALLOWED),
    (102, Operation.WRITE, "/3/0/13", REFUSED),
    (102, Operation.EXECUTE, "/3/0/4", REFUSED),
    (102, Operation.DELETE, "/3/0", REFUSED),
    # /3303/0: owner 101 without an entry has full rights; 102 reads.
    (101, Operation.READ, "/3303/0/5700", ALLOWED),
    (101, Operation.WRITE, "/3303/0/5750", ALLOWED),
    (101, Operation.EXECUTE, "/3303/0/5605", ALLOWED),
    (101, Operation.DELETE, "/3303/0", ALLOWED),
    (102, Operation.READ, "/3303/0/5700", ALLOWED),
    (102, Operation.OBSERVE, "/3303/0", ALLOWED),
    (102, Operation.WRITE, "/3303/0/5750", REFUSED),
    (102, Operation.DELETE, "/3303/0", REFUSED),
    # /3303/1: 102 owns it with all rights; 101's explicit 0 means nothing.
    (102, Operation.DELETE, "/3303/1", ALLOWED),
    (102, Operation.WRITE, "/3303/1/5750", ALLOWED),
    (101, Operation.READ, "/3303/1/5700", REFUSED),
    (101, Operation.WRITE_ATTRIBUTES, "/3303/1/5700", REFUSED),
    # /3303/2: not covered by any Access Control instance.
    (101, Operation.READ, "/3303/2", REFUSED),
    (102, Operation.OBSERVE, "/3303/2/5700", REFUSED),
    # Create needs the C bit of /3303/65535's ACL; /3 has no such instance.
    (101, Operation.CREATE, "/3303", ALLOWED),
    (102, Operation.CREATE, "/3303", REFUSED),
    (101, Operation.CREATE, "/3", REFUSED),
    # Server instances: each server reaches its own.
    (101, Operation.WRITE, "/1/0/1", ALLOWED),
    (102, Operation.READ, "/1/0", REFUSED),
    (102, Operation.WRITE, "/1/1/1", ALLOWED),  # empty ACL, owner
    (101, Operation.READ, "/1/1/1", REFUSED),
    # Security and OSCORE are never visible to a management server.
    (101, Operation.READ, "/0/0", REFUSED),
    (101, Operation.READ, "/0", REFUSED),
    (102, Operation.WRITE, "/0/1/0", REFUSED),
    (101, Operation.READ, "/21", REFUSED),
    # Access Control instances: everyone reads, only the owner writes, nobody creates or deletes.
    (101, Operation.READ, "/2/3", ALLOWED),
    (102, Operation.READ, "/2/3/2", ALLOWED),
    (102, Operation.OBSERVE, "/2", ALLOWED),
    (102, Operation.WRITE_ATTRIBUTES, "/2/3/3", ALLOWED),
    (101, Operation.WRITE, "/2/3/2", ALLOWED),
    (101, Operation.WRITE, "/2/3/2/103", ALLOWED),
    (102, Operation.WRITE, "/2/3/2", REFUSED),
    (102, Operation.WRITE, "/2/3/3", REFUSED),  # nor take over ownership
    (101, Operation.WRITE, "/2/5/2", REFUSED),  # owned by the bootstrap server
    (101, Operation.CREATE, "/2", REFUSED),
    (101, Operation.DELETE, "/2/3", REFUSED),
    # Discover is not governed by the ACL (object 2 v1.1: R is "Read, Observe, Write-Attributes").
    (101, Operation.DISCOVER, "/3303/1", ALLOWED),
    (102, Operation.DISCOVER, "/3303/2", ALLOWED),
    # Whole objects: allowed while one instance is readable (the result is filtered).
    (101, Operation.READ, "/3303", ALLOWED),
    (102, Operation.OBSERVE, "/3303", ALLOWED),
    (102, Operation.WRITE_ATTRIBUTES, "/1", ALLOWED),
    # Absent paths are the engine's 4.04, not a 4.01.
    (102, Operation.READ, "/3303/9", ALLOWED),
    (102, Operation.WRITE, "/5/0/1", ALLOWED),
]


@pytest.mark.parametrize(("server", "operation", "path", "allowed"), TABLE)
def test_rules(server: int, operation: Operation, path: str, allowed: bool) -> None:
    access, _ = make_access()
    target = Path.parse(path)
    assert access.allowed(server, operation, target) is allowed
    if allowed:
        access.check(server, operation, target)
    else:
        with pytest.raises(OperationError) as refused:
            access.check(server, operation, target)
        assert refused.value.code == "4.01"


def test_refusal_names_server_operation_and_path() -> None:
    access, _ = make_access()
    with pytest.raises(OperationError) as refused:
        access.check(102, Operation.WRITE, Path.parse("/3/0/13"))
    message = str(refused.value)
    assert refused.value.code == "4.01"
    assert "server 102" in message and "Write" in message and "/3/0/13" in message
    assert "/2/2" in message and "READ" in message  # which entry decided, and what it grants


def test_refusal_explains_missing_entries_and_owners() -> None:
    access, _ = make_access()
    with pytest.raises(OperationError, match="no Access Control instance covers /3303/2"):
        access.check(101, Operation.READ, Path.parse("/3303/2"))
    with pytest.raises(OperationError, match=r"only its owner \(server 101\) may change /2/3"):
        access.check(102, Operation.WRITE, Path.parse("/2/3/2"))
    with pytest.raises(OperationError, match="the bootstrap server"):
        access.check(101, Operation.WRITE, Path.parse("/2/5/2"))
    with pytest.raises(OperationError, match="only for the bootstrap server"):
        access.check(101, Operation.READ, Path.parse("/0/0"))


# --- owner rule and default entry -----------------------------------------------------------------


def test_owner_without_entry_has_full_rights_but_an_own_entry_limits_the_owner() -> None:
    access, _ = make_access()
    assert access.rights(101, 3303, 0) == FULL_INSTANCE_RIGHTS  # owner, no entry
    assert access.rights(101, 3, 0) == AccessRight.READ | AccessRight.WRITE | AccessRight.EXECUTE  # owner, own entry
    assert access.rights(102, 1, 1) == FULL_INSTANCE_RIGHTS  # owner, empty ACL
    assert AccessRight.CREATE not in FULL_INSTANCE_RIGHTS


def test_owner_rule_comes_before_the_default_entry() -> None:
    objects = make_objects()
    objects[2].add(aco(9, 3303, 2, {0: R}, owner=102))
    access = AccessControl(objects)
    assert access.allowed(102, Operation.DELETE, Path.parse("/3303/2"))  # owner: full
    assert access.allowed(101, Operation.READ, Path.parse("/3303/2"))  # default
    assert not access.allowed(101, Operation.WRITE, Path.parse("/3303/2/5750"))


def test_default_entry_serves_a_third_server() -> None:
    objects = make_objects(servers=(101, 102, 103))
    access = AccessControl(objects)
    assert access.allowed(103, Operation.READ, Path.parse("/3/0/0"))  # default: Read
    assert not access.allowed(103, Operation.EXECUTE, Path.parse("/3/0/4"))
    assert not access.allowed(103, Operation.READ, Path.parse("/3303/0"))  # no default there


def test_only_the_owner_changes_an_access_control_instance_and_ownership_moves() -> None:
    access, objects = make_access()
    entry = objects[2].instances[3]
    assert access.allowed(101, Operation.WRITE, Path.parse("/2/3/3"))
    entry.write_resource(3, 102, replace=True)  # 101 hands /3303/0 over to 102
    assert not access.allowed(101, Operation.WRITE, Path.parse("/2/3/2"))
    assert access.allowed(102, Operation.WRITE, Path.parse("/2/3/2"))
    # 102 has its own entry (Read), so owning does not widen its rights on /3303/0; 101 lost the owner rule.
    assert access.rights(102, 3303, 0) == AccessRight.READ
    assert access.rights(101, 3303, 0) == AccessRight.NONE


def test_unknown_bits_are_ignored_and_malformed_instances_grant_nothing() -> None:
    objects = make_objects()
    # A bootstrap server wrote reserved bits, and left an instance without its Object ID.
    objects[2].instances[1].write_resource(2, {102: 0b1100000 | R}, replace=True)
    objects[2].add(ObjectInstance(definition(2), 7, {1: 2, 3: 101}))
    access = AccessControl(objects)
    assert access.rights(102, 1, 1) == AccessRight.READ
    assert [e.instance_id for e in access.entries()] == [0, 1, 2, 3, 4, 5]


def test_create_rights_are_not_implied_by_owning_the_object_entry() -> None:
    objects = make_objects()
    objects[2].add(aco(9, 3, OBJECT_ITSELF, {}, owner=101))
    objects[2].add(aco(10, 1, OBJECT_ITSELF, {0: C}, owner=102))
    access = AccessControl(objects)
    assert not access.allowed(101, Operation.CREATE, Path.parse("/3"))  # owner, empty ACL: no C
    assert access.allowed(102, Operation.CREATE, Path.parse("/1"))  # owner falls back to the default
    assert access.allowed(101, Operation.CREATE, Path.parse("/1"))  # default entry grants C


# --- Create and Delete keep the Access Control object in step ----------------------------------


def test_create_makes_an_access_control_instance_owned_by_the_creator() -> None:
    access, objects = make_access()
    objects[3303].add(ObjectInstance(definition(3303), 3, {5700: 18.0}))
    created = access.on_created(101, Path.parse("/3303/3"))
    assert created == Path.parse("/2/6")
    new = objects[2].instances[6]
    assert {rid: new.get(rid) for rid in (0, 1, 2, 3)} == {0: 3303, 1: 3, 2: {101: 15}, 3: 101}
    assert creation_values(3303, 3, 101) == {0: 3303, 1: 3, 2: {101: 15}, 3: 101}
    assert access.allowed(101, Operation.DELETE, Path.parse("/3303/3"))
    assert not access.allowed(102, Operation.READ, Path.parse("/3303/3"))
    assert access.allowed(101, Operation.WRITE, Path.parse("/2/6/2"))  # the creator manages it
    assert not access.allowed(102, Operation.WRITE, Path.parse("/2/6/2"))


def test_create_keeps_a_provisioned_instance_and_skips_bootstrap_and_special_objects() -> None:
    access, objects = make_access()
    objects[2].add(aco(9, 3303, 7, {0: R}, owner=OWNED_BY_BOOTSTRAP))
    objects[3303].add(ObjectInstance(definition(3303), 7, {5700: 1.0}))
    assert access.on_created(101, Path.parse("/3303/7")) == Path.parse("/2/9")
    assert objects[2].instances[9].get(3) == OWNED_BY_BOOTSTRAP  # untouched
    before = set(objects[2].instances)
    assert access.on_created(None, Path.parse("/3303/1")) is None  # the bootstrap server
    assert access.on_created(101, Path.parse("/2/0")) is None
    assert access.on_created(101, Path.parse("/0/0")) is None
    assert set(objects[2].instances) - before == set()
    with pytest.raises(ValueError, match="/o/i"):
        access.on_created(101, Path.parse("/3303"))


def test_create_without_access_control_object_does_nothing() -> None:
    objects = make_objects()
    del objects[2]
    access = AccessControl(objects)
    assert access.on_created(101, Path.parse("/3303/1")) is None
    assert not access.active
    assert access.allowed(102, Operation.DELETE, Path.parse("/3303/2"))  # nothing to enforce with


def test_create_records_the_owner_even_with_one_server() -> None:
    objects = make_objects(servers=(101,))
    access = AccessControl(objects)
    assert not access.active
    objects[3303].add(ObjectInstance(definition(3303), 3, {5700: 18.0}))
    assert access.on_created(101, Path.parse("/3303/3")) == Path.parse("/2/6")


def test_delete_removes_the_matching_access_control_instance() -> None:
    access, objects = make_access()
    objects[3303].remove(0)
    assert access.on_deleted(Path.parse("/3303/0")) == [Path.parse("/2/3")]
    assert 3 not in objects[2].instances
    assert access.entry_for(3303, 0) is None
    assert access.on_deleted(Path.parse("/3303/0")) == []  # idempotent
    assert access.entry_for(3303, OBJECT_ITSELF) is not None  # Create rights stay


def test_bootstrap_delete_of_an_object_removes_its_entries_but_not_create_rights() -> None:
    access, objects = make_access()
    objects[3303].instances.clear()
    assert access.on_deleted(Path.parse("/3303")) == [Path.parse("/2/3"), Path.parse("/2/4")]
    assert sorted(objects[2].instances) == [0, 1, 2, 5]
    assert access.on_deleted(Path.parse("/2/0")) == []  # deleting an Access Control instance itself


# --- single server, bootstrap server ----------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        (Operation.READ, "/3303/2"),
        (Operation.DELETE, "/3303/0"),
        (Operation.CREATE, "/3"),
        (Operation.WRITE, "/2/5/2"),
        (Operation.EXECUTE, "/3/0/4"),
    ],
)
def test_a_single_server_has_full_access(operation: Operation, path: str) -> None:
    single = AccessControl(make_objects(servers=(101,)))  # the default: more than one /1 instance
    assert single.allowed(101, operation, Path.parse(path))
    assert AccessControl(make_objects(), enabled=False).allowed(102, operation, Path.parse(path))
    flag = {"on": False}
    switchable = AccessControl(make_objects(), enabled=lambda: flag["on"])
    assert switchable.allowed(102, operation, Path.parse(path))
    flag["on"] = True
    assert not switchable.allowed(102, operation, Path.parse(path))


def test_a_single_server_still_never_sees_security() -> None:
    single = AccessControl(make_objects(servers=(101,)))
    assert not single.allowed(101, Operation.READ, Path.parse("/0/0"))
    assert single.readable_instances(101, 0) == set()


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        (Operation.READ, "/0/0"),
        (Operation.WRITE, "/2/5/2"),
        (Operation.DELETE, "/3303/2"),
        (Operation.CREATE, "/2"),
        (Operation.EXECUTE, "/3/0/4"),
    ],
)
def test_the_bootstrap_server_bypasses_access_control(operation: Operation, path: str) -> None:
    access, _ = make_access()
    access.check(None, operation, Path.parse(path))


def test_an_unidentified_server_gets_nothing_while_checks_are_on() -> None:
    access, _ = make_access()
    assert not access.allowed(0, Operation.READ, Path.parse("/3/0"))  # 0 is the default entry's id, not a server
    assert not access.allowed(65535, Operation.READ, Path.parse("/3/0"))


# --- what a Read of a whole object returns ------------------------------------------------------


def test_readable_instances_filter_object_reads() -> None:
    access, _ = make_access()
    assert access.readable_instances(101, 3303) == {0}
    assert access.readable_instances(102, 3303) == {0, 1}
    assert access.readable_instances(101, 1) == {0}
    assert access.readable_instances(102, 1) == {1}
    assert access.readable_instances(102, 2) == {0, 1, 2, 3, 4, 5}  # everyone reads the ACLs
    assert access.readable_instances(101, 0) == set()
    assert access.readable_instances(101, 5) == set()  # no such object
    assert access.readable_instances(None, 3303) == {0, 1, 2}
    assert access.visible_instances(102, 3303, Operation.DELETE) == {1}
    assert access.visible_instances(101, 3303, Operation.DISCOVER) == {0, 1, 2}


def test_object_read_is_refused_when_nothing_is_readable() -> None:
    objects = make_objects(servers=(101, 102, 103))
    access = AccessControl(objects)
    assert access.readable_instances(103, 3303) == set()
    with pytest.raises(OperationError, match="none of the instances of /3303") as refused:
        access.check(103, Operation.OBSERVE, Path.parse("/3303"))
    assert refused.value.code == "4.01"
    objects[3303].instances.clear()
    access.check(103, Operation.READ, Path.parse("/3303"))  # an empty object hides nothing


def test_discover_can_be_governed_by_read_as_in_lwm2m_1_0() -> None:
    access, _ = make_access(discover_needs_read=True)
    assert not access.allowed(101, Operation.DISCOVER, Path.parse("/3303/1"))
    assert access.visible_instances(101, 3303, Operation.DISCOVER) == {0}


def test_composite_requests_are_checked_path_by_path() -> None:
    access, _ = make_access()
    assert access.allowed(102, Operation.READ, Path())  # filtered per instance
    assert not access.allowed(102, Operation.WRITE, Path())


def test_object_level_changes_need_the_right_on_every_instance() -> None:
    access, _ = make_access()
    with pytest.raises(OperationError, match="/3303/0, /3303/2"):
        access.check(102, Operation.WRITE, Path.parse("/3303"))


# --- unbootstrapping (Transport 1.2 §5.2.5) ---------------------------------------------------


def test_forgetting_a_server_deletes_what_only_it_could_reach_and_hands_over_the_rest() -> None:
    objects = make_objects(servers=(101, 102, 103))
    objects[2].add(aco(9, 3, OBJECT_ITSELF, {102: C}, owner=102))
    objects[3303].add(ObjectInstance(definition(3303), 3, {5700: 1.0}))
    objects[2].add(aco(10, 3303, 3, {101: R, 103: W | D, 104: W}, owner=102))
    access = AccessControl(objects)

    removed = access.forget_server(102)

    # /3303/1: 102 owned it and 101's entry grants nothing; /1/1 was 102's alone; /2/9 held only its Create.
    assert removed == [
        Path.parse("/1/1"),
        Path.parse("/2/1"),
        Path.parse("/3303/1"),
        Path.parse("/2/4"),
        Path.parse("/2/9"),
    ]
    assert 1 not in objects[3303].instances and 1 not in objects[1].instances
    # /3303/0: 102's entry is gone, 101 stays owner.
    assert access.entry_for(3303, 0).acl == {}  # type: ignore[union-attr]
    assert access.entry_for(3303, 0).owner == 101  # type: ignore[union-attr]
    # /3303/3: 103 (Write + Delete = 2) beats 104 (Write = 1) and 101 (0).
    assert access.entry_for(3303, 3).owner == 103  # type: ignore[union-attr]
    assert access.entry_for(3303, 3).acl == {101: R, 103: W | D, 104: W}  # type: ignore[union-attr]


def test_forgetting_an_owner_with_only_a_default_entry_leaves_it_to_the_bootstrap_server() -> None:
    objects = make_objects()
    objects[2].add(aco(9, 3303, 2, {0: R, 102: R | W}, owner=102))
    access = AccessControl(objects)
    access.forget_server(102)
    entry = access.entry_for(3303, 2)
    assert entry is not None and entry.owner == OWNED_BY_BOOTSTRAP and entry.acl == {0: R}
    assert 2 in objects[3303].instances


def test_election_ties_go_to_the_lowest_server_id() -> None:
    objects = make_objects()
    objects[2].add(aco(9, 3303, 2, {105: W, 104: D, 106: R}, owner=102))
    access = AccessControl(objects)
    access.forget_server(102)
    assert access.entry_for(3303, 2).owner == 104  # type: ignore[union-attr]


# --- property: check() is exactly the ACL -----------------------------------------------------

SERVERS = (101, 102, 103)
masks = st.integers(min_value=0, max_value=31)
acls = st.dictionaries(st.sampled_from((0, *SERVERS)), masks, max_size=4)
owners = st.sampled_from((*SERVERS, OWNED_BY_BOOTSTRAP))
instance_operations = [op for op in Operation if op not in (Operation.CREATE, Operation.DISCOVER)]


def expected_mask(acl: dict[int, int], owner: int, server: int, *, create: bool) -> int:
    if server in acl:
        return acl[server]
    if server == owner and not create:
        return int(FULL_INSTANCE_RIGHTS)
    return acl.get(0, 0)


@given(acl=acls, owner=owners, server=st.sampled_from(SERVERS), operation=st.sampled_from(instance_operations))
def test_check_allows_exactly_what_the_acl_grants(
    acl: dict[int, int], owner: int, server: int, operation: Operation
) -> None:
    objects = make_objects(servers=SERVERS)
    objects[2].add(aco(9, 3303, 2, acl, owner))
    access = AccessControl(objects)
    bit = {Operation.WRITE: W, Operation.EXECUTE: E, Operation.DELETE: D}.get(operation, R)
    granted = bool(expected_mask(acl, owner, server, create=False) & bit)
    assert access.allowed(server, operation, Path.parse("/3303/2/5700")) is granted
    assert (2 in access.visible_instances(server, 3303, operation)) is granted


@given(acl=acls, owner=owners, server=st.sampled_from(SERVERS))
def test_create_allows_exactly_what_the_object_entry_grants(acl: dict[int, int], owner: int, server: int) -> None:
    objects = make_objects(servers=SERVERS)
    objects[2].remove(5)
    objects[2].add(aco(5, 3303, OBJECT_ITSELF, acl, owner))
    access = AccessControl(objects)
    granted = bool(expected_mask(acl, owner, server, create=True) & C)
    assert access.allowed(server, Operation.CREATE, Path.parse("/3303")) is granted


@given(acl=acls, owner=owners, server=st.sampled_from(SERVERS), operation=st.sampled_from(list(Operation)))
def test_without_access_control_everything_but_security_is_allowed(
    acl: dict[int, int], owner: int, server: int, operation: Operation
) -> None:
    objects = make_objects(servers=SERVERS)
    objects[2].add(aco(9, 3303, 2, acl, owner))
    access = AccessControl(objects, enabled=False)
    assert access.allowed(server, operation, Path.parse("/3303/2" if operation is not Operation.CREATE else "/3303"))
    assert not access.allowed(server, operation, Path.parse("/0/0"))
