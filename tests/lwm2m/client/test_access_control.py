"""Two servers, one client: Access Control (object 2) decides who may do what, end to end."""

from __future__ import annotations

import asyncio

from m2mclient.lwm2m import default_registry
from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.objects.base import ObjectInstance
from m2mclient.lwm2m.objects.security import security_instance
from m2mclient.lwm2m.objects.server import server_instance
from m2mclient.testing import LwM2MTestServer

REGISTRY = default_registry()
A, B = 101, 102  # short server ids
READ, WRITE, CREATE = 1, 2, 16


def acl(instance_id: int, object_id: int, object_instance: int, rights: dict[int, int], owner: int) -> ObjectInstance:
    return ObjectInstance(REGISTRY.get(2), instance_id, {0: object_id, 1: object_instance, 2: rights, 3: owner})  # type: ignore[arg-type]


async def scenario() -> dict[str, object]:
    outcome: dict[str, object] = {}
    async with LwM2MTestServer() as server_a, LwM2MTestServer() as server_b:
        sensor = ObjectInstance(REGISTRY.get(3303), 0, {5700: 21.5, 5701: "Cel"})  # type: ignore[arg-type]
        objects = [
            security_instance(0, server_a.uri, short_server_id=A),
            security_instance(1, server_b.uri, short_server_id=B),
            server_instance(0, A, 300),
            server_instance(1, B, 300),
            acl(0, 3303, 0, {A: READ}, owner=A),  # the sensor: A reads, B nothing
            acl(1, 3303, 65535, {A: CREATE}, owner=65535),  # only A may create sensors
            sensor,
        ]
        async with LwM2MClient("two-servers", objects) as client:
            device_acl = acl(2, 3, 0, {0: READ}, owner=A)  # the Device: everyone may read (default entry)
            client.objects[2].add(device_acl)
            await asyncio.gather(server_a.wait_registration("two-servers"), server_b.wait_registration("two-servers"))
            outcome["A read sensor"] = (await server_a.read("two-servers", "/3303/0/5700")).code
            outcome["B read sensor"] = (await server_b.read("two-servers", "/3303/0/5700")).code
            outcome["A write sensor"] = (await server_a.write("two-servers", "/3303/0/5750", "x", "text")).code
            outcome["B read device"] = (await server_b.read("two-servers", "/3/0/16")).code
            outcome["B write device"] = (await server_b.write("two-servers", "/3/0/14", "+01:00", "text")).code
            outcome["B create sensor"] = (await server_b.create("two-servers", "/3303", {5700: 1.0}, "tlv")).code
            created = await server_a.create("two-servers", "/3303", {5700: 19.0}, "tlv")
            outcome["A create sensor"] = (created.code, created.location)
            new_acl = [i for i in client.objects[2] if i.get(0) == 3303 and i.get(1) == 1]
            outcome["new ACL"] = (new_acl[0].get(2), new_acl[0].get(3)) if new_acl else None
            outcome["B read object 3303"] = (await server_b.read("two-servers", "/3303")).code
            whole = await server_a.read("two-servers", "/3303", "senml-json")
            outcome["A sees instances"] = sorted({p.instance_id for p in whole.values})
    return outcome


def test_access_control_between_two_servers() -> None:
    outcome = asyncio.run(scenario())
    assert outcome["A read sensor"] == "2.05"
    assert outcome["B read sensor"] == "4.01"
    assert outcome["A write sensor"] == "4.01"
    assert outcome["B read device"] == "2.05"
    assert outcome["B write device"] == "4.01"
    assert outcome["B create sensor"] == "4.01"
    assert outcome["A create sensor"] == ("2.01", "/3303/1")
    assert outcome["new ACL"] == ({A: 15}, A)  # the creator owns the new instance with full rights
    assert outcome["B read object 3303"] == "4.01"
    assert outcome["A sees instances"] == [0, 1]
