"""The AE API (m2mclient.onem2m.ae) and the ``m2mclient onem2m`` CLI against a real ACME CSE.

Every binding x serialization runs the full flow of issue 5 (register,
container, content instance, latest, subscription with a notification received,
discovery, non-blocking request, deregister). CoAP runs it with a
<pollingChannel> for the notification, because ACME 2026.5.3 cannot send a CoAP
NOTIFY (shared/reference/acme-cse-peer-and-ae-sdks.md §1.8). What the AE does
beyond one binding (restart, adoption, offline queue, polling, renewal) runs
over HTTP.

What ACME holds is checked with a separate admin client (urllib, CAdmin), so
these tests never trust the code under test about the CSE's state.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import queue
import secrets
import signal
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from m2mclient.onem2m import (
    Format,
    OneM2MError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    content_instance,
    parse_timestamp,
)
from m2mclient.onem2m.ae import AE, FlushResult, ReceivedNotification, SyncAE, decode_value, encode_value
from m2mclient.onem2m.bindings.base import Binding, RequestHandler, open_binding
from m2mclient.onem2m.offline_queue import OfflineQueue, OfflineQueueFullError, QueuedPublish

if TYPE_CHECKING:  # tests/ is not a package; conftest modules are pytest's to import
    from conftest import AcmeCSE


RSC = ResponseStatusCode
TIMEOUT = 15.0
REPO_ROOT = Path(__file__).resolve().parents[2]

URL_OF = {"http": "http_url", "ws": "ws_url", "coap": "coap_url"}
FLOWS = [("http", Format.JSON), ("http", Format.CBOR), ("ws", Format.JSON), ("ws", Format.CBOR)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_binding(kind: str) -> None:
    """Skip loudly (fail in CI) when a binding module cannot be imported: a missing feature, not a pass."""
    try:
        importlib.import_module(f"m2mclient.onem2m.bindings.{kind}")
    except ImportError as exc:
        message = f"oneM2M {kind} binding unavailable ({exc}); the AE tests over {kind} did not run"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def url(acme: AcmeCSE, kind: str) -> str:
    return str(getattr(acme, URL_OF[kind]))


# ACME 2026.5.3 runs one of two WebSocket frames that reach it back to back twice and
# drops the other (bindings/ws.py, "Back-to-back frames"); our answer to a NOTIFY
# followed at once by our next request is such a pair. The binding spaces frames.
ACME_FRAME_INTERVAL = 0.05


def options(kind: str) -> dict[str, Any]:
    """Binding options ACME needs: spaced WS frames; CoAP non-blocking requests by their own method."""
    if kind == "ws":
        return {"min_frame_interval": ACME_FRAME_INTERVAL}
    if kind == "coap":  # ACME takes TS-0008's non-blocking POST+op for a NOTIFY (bindings/coap.py)
        return {"nonblocking_post": False}
    return {}


def fresh_name() -> str:
    return "ae" + secrets.token_hex(4)


# --- ground truth: an admin client that is not the code under test -----------------------


def admin(acme: AcmeCSE, method: str, path: str, query: str = "") -> tuple[int, dict[str, Any] | None]:
    """One HTTP request as CAdmin; returns (RSC, content)."""
    headers = {
        "X-M2M-Origin": acme.admin_originator,
        "X-M2M-RI": "adm-" + secrets.token_hex(4),
        "X-M2M-RVI": "3",
        "Accept": "application/json",
    }
    target = f"{acme.http_url}/{path}" + (f"?{query}" if query else "")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(target, method=method, headers=headers), timeout=TIMEOUT) as reply:
            rsc, body = int(reply.headers["X-M2M-RSC"]), reply.read()
    except urllib.error.HTTPError as error:
        rsc, body = int(error.headers["X-M2M-RSC"]), error.read()
    return rsc, (json.loads(body) if body else None)


def admin_resource(acme: AcmeCSE, path: str) -> dict[str, Any]:
    rsc, pc = admin(acme, "GET", path)
    assert rsc == RSC.OK and pc is not None, (rsc, pc)
    ((_, attributes),) = pc.items()
    return dict(attributes)


def stored_instances(acme: AcmeCSE, container: str) -> list[dict[str, Any]]:
    """Every <contentInstance> of a container, oldest first."""
    rsc, pc = admin(acme, "GET", container, "rcn=4")
    assert rsc == RSC.OK and pc is not None, (rsc, pc)
    return sorted(pc["m2m:cnt"].get("m2m:cin", []), key=lambda cin: cin["ct"])


def registered_aes(acme: AcmeCSE, rn: str) -> list[str]:
    rsc, pc = admin(acme, "GET", acme.cse_name, "fu=1&ty=2")
    assert rsc == RSC.OK and pc is not None
    return [uri for uri in pc["m2m:uril"] if uri.rsplit("/", 1)[-1] == rn]


async def next_event(events: asyncio.Queue[ReceivedNotification]) -> ReceivedNotification:
    return await asyncio.wait_for(events.get(), TIMEOUT)


# --- the full flow ------------------------------------------------------------------------


async def _full_flow(acme: AcmeCSE, kind: str, fmt: Format, state: Path, *, polling: bool = False) -> None:
    rn = fresh_name()
    events: asyncio.Queue[ReceivedNotification] = asyncio.Queue()
    async with AE(
        url(acme, kind),
        serialization=fmt,
        app_id="Nflow",
        name=rn,
        originator="C",  # CSE-assigned: over WS this also proves the reconnect as the AE-ID
        state_dir=state,
        polling_channel=polling,
        poll_seconds=5,
        binding_options=options(kind),
    ) as ae:
        registration = await ae.register()
        assert registration.aei.startswith("C") and registration.aei != "C"
        assert registration.rn == rn and not registration.reused
        assert registration.rvi == "5"  # ACME's srv is [2a, 3, 4, 5]: the newest common one
        stored = admin_resource(acme, f"{acme.cse_name}/{rn}")
        assert stored["aei"] == registration.aei and stored["srv"] == ["2a", "3", "4", "5"]
        assert stored["rr"] is (not polling) and stored.get("poa", []) == list(registration.poa)

        assert (await ae.create_container("data", mni=10))["mni"] == 10
        first = await ae.publish("data", {"temp": 21.5})
        assert first.delivered
        latest = await ae.latest("data")
        assert latest.value == {"temp": 21.5} and latest.rn == first.rn and latest.cnf == "application/json:0"

        subscription = await ae.subscribe("data", events.put_nowait)
        second = await ae.publish("data", 22.5)
        event = await next_event(events)
        assert event.subscription is not None and event.subscription.endswith(subscription.ri)
        assert event.event_type == 3 and event.resource_type is ResourceType.CONTENT_INSTANCE
        assert event.value == 22.5 and event.resource is not None and event.resource["rn"] == second.rn

        found = await ae.discover(ty=ResourceType.CONTENT_INSTANCE)
        assert sorted(found) == sorted([first.path, second.path])
        partial = await ae.retrieve(second.path, attributes=["con"])
        assert partial == {"m2m:cin": {"con": "22.5"}}  # only what was asked for

        pending = await ae.submit(
            Operation.CREATE, "data", content=content_instance("late"), ty=ResourceType.CONTENT_INSTANCE
        )
        outcome = (await ae.result(pending)).raise_for_status()
        assert outcome.rsc is RSC.CREATED and outcome.pc is not None and outcome.pc["m2m:cin"]["con"] == "late"

        await ae.deregister()
        assert ae.registration is None and not (state / "registration.json").exists()
    assert admin(acme, "GET", f"{acme.cse_name}/{rn}")[0] == RSC.NOT_FOUND


@pytest.mark.parametrize(("kind", "fmt"), FLOWS, ids=[f"{k}-{f.value}" for k, f in FLOWS])
def test_full_flow(acme_cse: AcmeCSE, kind: str, fmt: Format, tmp_path: Path) -> None:
    require_binding(kind)
    asyncio.run(_full_flow(acme_cse, kind, fmt, tmp_path))


@pytest.mark.parametrize("fmt", list(Format), ids=[f.value for f in Format])
def test_full_flow_over_coap_with_a_polling_channel(acme_cse: AcmeCSE, fmt: Format, tmp_path: Path) -> None:
    """ACME cannot send a CoAP NOTIFY, so notifications come through a <pollingChannel> (also over CoAP)."""
    require_binding("coap")
    asyncio.run(_full_flow(acme_cse, "coap", fmt, tmp_path, polling=True))


# --- identity lifecycle -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "ws"])
def test_a_restart_reuses_the_stored_registration(acme_cse: AcmeCSE, kind: str, tmp_path: Path) -> None:
    require_binding(kind)
    rn = fresh_name()

    async def run() -> None:
        events: asyncio.Queue[ReceivedNotification] = asyncio.Queue()
        async with AE(
            url(acme_cse, kind), app_id="Nrestart", name=rn, state_dir=tmp_path, binding_options=options(kind)
        ) as ae:
            first = await ae.register()
            await ae.create_container("data")
            await ae.subscribe("data", events.put_nowait)
        assert stat.S_IMODE((tmp_path / "registration.json").stat().st_mode) == 0o600

        # The next boot knows nothing but the state directory.
        async with AE(url(acme_cse, kind), state_dir=tmp_path, binding_options=options(kind)) as ae:
            again = await ae.register()
            assert again.reused and again.aei == first.aei and again.rn == rn
            # Its poa follows this run's receiver (a new port over HTTP).
            assert admin_resource(acme_cse, f"{acme_cse.cse_name}/{rn}").get("poa", []) == ae._poa
            # Re-subscribing adopts the earlier <subscription> instead of adding one.
            await ae.subscribe("data", events.put_nowait)
            rsc, subs = admin(acme_cse, "GET", f"{acme_cse.cse_name}/{rn}/data", "fu=1&ty=23")
            assert rsc == RSC.OK and subs is not None and len(subs["m2m:uril"]) == 1
            await ae.publish("data", "after restart")
            assert (await next_event(events)).value == "after restart"

        # The CSE lost the <AE> (reset, expired, deleted by an admin): register again, same AE-ID.
        assert admin(acme_cse, "DELETE", f"{acme_cse.cse_name}/{rn}")[0] == RSC.DELETED
        async with AE(url(acme_cse, kind), state_dir=tmp_path, binding_options=options(kind)) as ae:
            fresh = await ae.register()
            assert not fresh.reused and fresh.aei == first.aei and fresh.rn == rn
            await ae.deregister()

    asyncio.run(run())
    assert registered_aes(acme_cse, rn) == []


def test_an_existing_registration_is_adopted_when_it_is_ours(acme_cse: AcmeCSE) -> None:
    """No state (a wiped device): 4105 (name taken) and 4117 (originator registered) lead to our <AE>."""
    require_binding("http")
    rn = fresh_name()
    originator = "C" + rn

    async def run() -> None:
        async with AE(acme_cse.http_url, app_id="Nadopt", name=rn, originator=originator) as ae:
            assert not (await ae.register()).reused
        async with AE(acme_cse.http_url, app_id="Nadopt", name=rn, originator=originator) as ae:
            same = await ae.register()
            assert same.reused and same.aei == originator and same.rn == rn
        async with AE(acme_cse.http_url, app_id="Nadopt", name=rn + "x", originator=originator) as ae:
            renamed = await ae.register()  # 4117: the originator's AE is found by its AE-ID
            assert renamed.reused and renamed.rn == rn
            await ae.deregister()

    asyncio.run(run())
    assert registered_aes(acme_cse, rn) == []


def test_a_taken_name_is_not_adopted_without_proof_it_is_ours(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        async with AE(acme_cse.http_url, app_id="Nowner", name=rn, originator="C" + rn) as owner:
            await owner.register()
            async with AE(acme_cse.http_url, app_id="Nother", name=rn, originator="C") as other:
                with pytest.raises(OneM2MError) as caught:
                    await other.register()
                assert caught.value.rsc is RSC.CONFLICT and caught.value.name == "CONFLICT"
            await owner.deregister()

    asyncio.run(run())


def test_release_version_is_the_newest_common_one(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        async with AE(
            acme_cse.http_url, app_id="Nrvi", name=rn, originator="C" + rn, release_versions=["3", "4"]
        ) as ae:
            registration = await ae.register()
            assert registration.rvi == "4" and registration.srv == ("3", "4")
            await ae.deregister()

    asyncio.run(run())


def test_the_registration_is_renewed_before_it_expires(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        async with AE(acme_cse.http_url, app_id="Nrenew", name=rn, originator="C" + rn, lifetime=4) as ae:
            first = await ae.register()
            assert first.expires is not None
            granted = parse_timestamp(first.expires) - parse_timestamp(admin_resource(acme_cse, ae.path)["lt"])
            assert 3 <= granted.total_seconds() <= 5  # the CSE's own clock, not ours
            await asyncio.sleep(3.5)  # renewal is due after 3 s (75 % of 4 s)
            assert ae.registration is not None and ae.registration.expires is not None
            assert parse_timestamp(ae.registration.expires) > parse_timestamp(first.expires)
            assert admin_resource(acme_cse, ae.path)["et"] == ae.registration.expires
            await ae.deregister()

    asyncio.run(run())


# --- the offline queue --------------------------------------------------------------------


class FlakyBinding:
    """A real binding behind a switch, standing in for a link that comes and goes.

    While ``down`` every send fails before anything leaves. ``lose_answers`` > 0
    lets that many content-instance CREATEs reach the CSE and then loses the
    answer, the case where a retry must not create a duplicate.
    """

    def __init__(self, inner: Binding) -> None:
        self.inner = inner
        self.format = inner.format
        self.down = False
        self.lose_answers = 0
        self.sent: list[RequestPrimitive] = []

    @property
    def point_of_access(self) -> list[str]:
        return self.inner.point_of_access

    async def open(self) -> None:
        await self.inner.open()

    def serve(self, handler: RequestHandler) -> None:
        self.inner.serve(handler)

    async def close(self) -> None:
        await self.inner.close()

    async def send(self, request: RequestPrimitive, *, timeout: float | None = None) -> ResponsePrimitive:
        self.sent.append(request)
        if self.down:
            raise ConnectionRefusedError("link down (test)")
        if self.lose_answers and request.ty == ResourceType.CONTENT_INSTANCE:
            self.lose_answers -= 1
            await self.inner.send(request, timeout=timeout)
            raise ConnectionResetError("answer lost (test)")
        return await self.inner.send(request, timeout=timeout)


def test_offline_readings_persist_across_a_restart_and_arrive_exactly_once(acme_cse: AcmeCSE, tmp_path: Path) -> None:
    require_binding("http")
    rn = fresh_name()
    container = f"{acme_cse.cse_name}/{rn}/data"
    queue_file = tmp_path / "offline-queue.json"

    async def offline() -> list[str]:
        link = FlakyBinding(open_binding(acme_cse.http_url))
        async with AE(
            acme_cse.http_url, binding=link, app_id="Nq", name=rn, originator="C" + rn, state_dir=tmp_path
        ) as ae:
            await ae.register()
            await ae.create_container("data")
            link.down = True
            publications = [await ae.publish("data", {"n": n}) for n in range(3)]
            assert not any(p.delivered for p in publications) and len(ae.queue) == 3
            return [p.rqi for p in publications]

    rqis = asyncio.run(offline())
    stored = json.loads(queue_file.read_text())
    assert [item["rqi"] for item in stored["items"]] == rqis
    assert stat.S_IMODE(queue_file.stat().st_mode) == 0o600
    assert stored_instances(acme_cse, container) == []

    async def back_online() -> list[RequestPrimitive]:
        link = FlakyBinding(open_binding(acme_cse.http_url))
        link.lose_answers = 1  # the first reading gets through, its answer does not
        async with AE(acme_cse.http_url, binding=link, state_dir=tmp_path) as ae:
            await ae.register()  # flushes: reading 0 unconfirmed, so all three wait
            assert len(ae.queue) == 3
            assert await ae.flush() == FlushResult(delivered=3, rejected=0, remaining=0)  # 0 answers 4105
            assert not ae.queue
        return [request for request in link.sent if request.ty == ResourceType.CONTENT_INSTANCE]

    sent = asyncio.run(back_online())
    assert [request.rqi for request in sent] == [rqis[0], rqis[0], rqis[1], rqis[2]]  # a retry keeps its rqi
    assert sent[0].pc == sent[1].pc  # ... and its content, rn included
    values = [decode_value(cin["con"], cin.get("cnf")) for cin in stored_instances(acme_cse, container)]
    assert values == [{"n": 0}, {"n": 1}, {"n": 2}]  # each exactly once, in order
    assert not queue_file.exists()
    admin(acme_cse, "DELETE", f"{acme_cse.cse_name}/{rn}")


def test_a_reading_the_cse_refuses_is_raised_not_queued(acme_cse: AcmeCSE, tmp_path: Path) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        async with AE(acme_cse.http_url, app_id="Nq", name=rn, originator="C" + rn, state_dir=tmp_path) as ae:
            await ae.register()
            with pytest.raises(OneM2MError) as caught:
                await ae.publish("no-such-container", 1)
            assert caught.value.rsc is RSC.NOT_FOUND and not ae.queue
            await ae.deregister()

    asyncio.run(run())


def test_publish_needs_a_registration(tmp_path: Path) -> None:
    async def run() -> None:
        ae = AE("http://127.0.0.1:9", app_id="Nx", name="x", state_dir=tmp_path)
        with pytest.raises(OneM2MUsageError, match="not registered"):
            await ae.publish("data", 1)

    require_binding("http")
    asyncio.run(run())


@pytest.mark.parametrize(
    ("value", "con", "cnf"),
    [
        ("21.5", "21.5", "text/plain:0"),
        (21.5, "21.5", "application/json:0"),
        (True, "true", "application/json:0"),
        ({"t": [1, 2]}, '{"t":[1,2]}', "application/json:0"),
        (b"\x00\xff", "AP8=", "application/octet-stream:1"),
    ],
)
def test_values_round_trip_through_con_and_cnf(value: Any, con: str, cnf: str) -> None:
    assert encode_value(value) == (con, cnf)
    assert decode_value(con, cnf) == value


def test_queue_file_round_trip_corruption_and_bound(tmp_path: Path) -> None:
    path = tmp_path / "offline-queue.json"
    stored = OfflineQueue(path)
    binary = QueuedPublish(
        id="a", to="cse-in/ae/data", rqi="p-a", content={"m2m:cin": {"rn": "cin-a", "con": b"\x00"}}, queued_at=1.0
    )
    text = QueuedPublish(
        id="b", to="cse-in/ae/data", rqi="p-b", content=content_instance("x", rn="cin-b"), queued_at=2.0
    )
    stored.add(binary)
    stored.add(text)
    again = OfflineQueue(path)
    assert again.items == [binary, text] and again.items[0].rn == "cin-a"  # bytes kept exactly (as CBOR)
    again.reject("a", "4004 NOT_FOUND")
    assert [r.item.id for r in OfflineQueue(path).rejected] == ["a"]  # refused items stay findable

    path.write_text("{not json")
    assert not OfflineQueue(path) and (tmp_path / "offline-queue.json.corrupt").exists()  # set aside, not lost

    bounded = OfflineQueue(None, max_items=1)
    bounded.add(text)
    with pytest.raises(OfflineQueueFullError):
        bounded.add(binary)


def test_resource_arguments_resolve_against_the_ae(tmp_path: Path) -> None:
    require_binding("http")
    (tmp_path / "registration.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cse_id": "/id-in",
                "cse_name": "cse-in",
                "aei": "Cpi",
                "ri": "Cpi",
                "rn": "pi",
                "rvi": "3",
                "srv": ["3"],
                "poa": [],
                "app_id": "Npi",
                "expires": None,
            }
        )
    )
    ae = AE("http://127.0.0.1:9", state_dir=tmp_path)  # restored from the state file, no network
    assert ae.aei == "Cpi" and ae.rvi == "3"
    assert ae.resolve("") == "cse-in/pi"
    assert ae.resolve("temp/la") == "cse-in/pi/temp/la"
    assert ae.resolve("cse-in/other/data") == "cse-in/other/data"
    assert ae.resolve("/id-in/cnt123") == "/id-in/cnt123"
    assert ae.resolve("//acme.example.com/id-in/cnt1") == "//acme.example.com/id-in/cnt1"
    assert ae.resolve("~/id-in/cnt1") == "/id-in/cnt1"


# --- notifications ------------------------------------------------------------------------


def test_polling_channel_delivers_notifications_without_inbound_connections(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        events: asyncio.Queue[ReceivedNotification] = asyncio.Queue()
        async with AE(
            acme_cse.http_url, app_id="Npoll", name=rn, originator="C" + rn, polling_channel=True, poll_seconds=5
        ) as ae:
            registration = await ae.register()
            assert registration.poa == () and ae.binding.point_of_access == []  # nothing listens
            stored = admin_resource(acme_cse, ae.path)
            assert stored["rr"] is False and not stored.get("poa")
            await ae.create_container("data")
            await ae.subscribe("data", events.put_nowait)
            await ae.publish("data", "polled")
            assert (await next_event(events)).value == "polled"
            assert getattr(ae.binding, "connections_accepted", 0) == 0
            await ae.deregister()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["http", "coap"])
def test_a_restarted_polling_ae_keeps_its_polling_channel(acme_cse: AcmeCSE, kind: str, tmp_path: Path) -> None:
    """ACME allows one <pollingChannel> per AE and answers a second CREATE 4000, not 4105: find ours."""
    require_binding(kind)
    rn = fresh_name()

    def polling_ae(**names: str) -> AE:
        return AE(
            url(acme_cse, kind),
            polling_channel=True,
            poll_seconds=5,
            state_dir=tmp_path,
            binding_options=options(kind),
            **names,
        )

    async def run() -> None:
        async with polling_ae(app_id="Npch", name=rn) as ae:
            await ae.register()
            await ae.create_container("data")
        events: asyncio.Queue[ReceivedNotification] = asyncio.Queue()
        async with polling_ae() as ae:
            assert (await ae.register()).reused
            await ae.subscribe("data", events.put_nowait)
            await ae.publish("data", "again")
            assert (await next_event(events)).value == "again"
            rsc, found = admin(acme_cse, "GET", ae.path, "fu=1&ty=15")
            assert rsc == RSC.OK and found is not None and len(found["m2m:uril"]) == 1
            await ae.deregister()

    asyncio.run(run())


def test_a_url_subscription_is_verified_and_foreign_ones_are_refused(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        events: asyncio.Queue[ReceivedNotification] = asyncio.Queue()
        async with AE(acme_cse.http_url, app_id="Nvrq", name=rn, originator="C" + rn) as ae:
            await ae.register()
            await ae.create_container("data")
            # A URL nu makes the CSE send a verification request first (ours: accepted).
            await ae.subscribe("data", events.put_nowait, nu=ae.binding.point_of_access)
            await ae.publish("data", "verified")
            assert (await next_event(events)).value == "verified"

            async with AE(acme_cse.http_url, app_id="Nother", name=rn + "o", originator="C" + rn + "o") as other:
                await other.register()
                await other.create_container("data")
                # Someone else's subscription naming us is refused (4101), so its CREATE fails.
                # Through our AE-ID: for a URL nu ACME 2026.5.3 ignores the answer to its
                # verification request (RequestManager._sendRequest passes isDirectURL as
                # sendHttpRequest's ignoreResponse) and creates the subscription anyway.
                with pytest.raises(OneM2MError) as caught:
                    await other.subscribe("data", print, nu=[ae.aei])
                assert caught.value.rsc is RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED
                await other.deregister()
            await ae.deregister()

    asyncio.run(run())


def test_an_asynchronous_non_blocking_result_is_notified(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()

    async def run() -> None:
        async with AE(acme_cse.http_url, app_id="Nnb", name=rn, originator="C" + rn) as ae:
            await ae.register()
            await ae.create_container("data")
            pending = await ae.submit(
                Operation.CREATE, "data", content=content_instance("x"), ty=ResourceType.CONTENT_INSTANCE, asynch=True
            )
            assert pending.asynch and pending.ref
            response = await ae.result(pending)
            assert response.rsc is RSC.CREATED
            await ae.deregister()

    asyncio.run(run())


def test_sync_facade(acme_cse: AcmeCSE) -> None:
    require_binding("http")
    rn = fresh_name()
    arrived = threading.Event()
    values: list[Any] = []

    def on_notify(event: ReceivedNotification) -> None:
        values.append(event.value)
        arrived.set()

    with SyncAE(acme_cse.http_url, app_id="Nsync", name=rn, originator="C" + rn) as ae:
        assert ae.register().aei == "C" + rn
        ae.create_container("data")
        ae.subscribe("data", on_notify)
        assert ae.publish("data", 7).delivered
        assert arrived.wait(TIMEOUT) and values == [7]
        assert ae.latest("data").value == 7
        assert ae.discover(ty=ResourceType.CONTENT_INSTANCE)
        ae.deregister()
    assert registered_aes(acme_cse, rn) == []


# --- the CLI ------------------------------------------------------------------------------


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def onem2m_cli() -> None:
    """The CLI tests need ``m2mclient onem2m`` wired into m2mclient/cli/__init__.py."""
    probe = subprocess.run(
        [sys.executable, "-m", "m2mclient.cli", "onem2m", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(),
        check=False,
    )
    if probe.returncode != 0:
        message = (
            "'m2mclient onem2m' is not wired into m2mclient/cli/__init__.py yet "
            "(add_onem2m_commands from m2mclient.cli.onem2m); the oneM2M CLI tests did not run"
        )
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


class Cli:
    def __init__(self, acme: AcmeCSE, state: Path, originator: str) -> None:
        self.acme, self.state, self.originator = acme, state, originator

    def argv(self, *args: str, cse: str | None = None, serialization: str = "json") -> list[str]:
        return [
            sys.executable,
            "-m",
            "m2mclient.cli",
            "onem2m",
            "--cse",
            cse or self.acme.http_url,
            "--serialization",
            serialization,
            "--originator",
            self.originator,
            "--state-dir",
            str(self.state),
            *args,
        ]

    def __call__(self, *args: str, ok: bool = True, **where: str) -> Any:
        done = subprocess.run(
            self.argv(*args, **where), capture_output=True, text=True, timeout=60, env=_cli_env(), check=False
        )
        if ok:
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)
        return done


@pytest.fixture
def cli(onem2m_cli: None, acme_cse: AcmeCSE, tmp_path: Path) -> Cli:
    return Cli(acme_cse, tmp_path, "C" + fresh_name())


def test_cli_flow(cli: Cli, acme_cse: AcmeCSE) -> None:
    rn = cli.originator[1:]
    registration = cli("register", "--app-id", "Ncli", "--name", rn)
    assert registration["aei"] == cli.originator and not registration["reused"]
    assert cli("register")["reused"]  # a second run does not register twice
    assert registered_aes(acme_cse, rn) == [f"{acme_cse.cse_name}/{rn}"]
    assert cli("create-container", "temp", "--mni", "5")["m2m:cnt"]["mni"] == 5
    assert cli("publish", "temp", "21.5")["delivered"]
    assert cli("publish", "temp", '{"t": 22}', "--json")["delivered"]
    latest = cli("latest", "temp")
    assert latest["value"] == {"t": 22} and latest["cnf"] == "application/json:0"
    assert len(cli("discover", "--ty", "4")) == 2
    # The same registration over another binding and serialization.
    retrieved = cli("retrieve", "temp/la", cse=acme_cse.ws_url, serialization="cbor")
    assert retrieved["m2m:cin"]["con"] == '{"t":22}'
    assert cli("deregister") == {"deregistered": cli.originator}
    assert registered_aes(acme_cse, rn) == []


def test_cli_errors_name_the_response_status_code(cli: Cli) -> None:
    cli("register", "--app-id", "Ncli", "--name", cli.originator[1:])
    missing = cli("retrieve", "no-such-thing", ok=False)
    assert missing.returncode != 0 and missing.stdout == ""
    (line,) = missing.stderr.strip().splitlines()
    assert "NOT_FOUND (4004)" in line
    cli("deregister")
    unregistered = cli("publish", "temp", "1", ok=False)
    assert unregistered.returncode != 0 and "not registered" in unregistered.stderr


def _lines(stream: Any) -> Iterator[str]:
    yield from iter(stream.readline, "")


def test_cli_subscribe_prints_notifications_until_interrupted(cli: Cli, acme_cse: AcmeCSE) -> None:
    rn = cli.originator[1:]
    cli("register", "--app-id", "Ncli", "--name", rn)
    cli("create-container", "temp")
    process = subprocess.Popen(
        cli.argv("subscribe", "temp"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env()
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in _lines(process.stdout)], daemon=True)
    reader.start()
    try:
        subscribed = json.loads(lines.get(timeout=TIMEOUT))
        assert subscribed["subscribed"].endswith("/temp/sub-" + rn)
        cli("publish", "temp", "23.5")
        notification = json.loads(lines.get(timeout=TIMEOUT))
        assert notification["value"] == "23.5" and notification["event"] == 3 and notification["resourceType"] == 4
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    # Ctrl-C removed the subscription again.
    assert admin(acme_cse, "GET", f"{acme_cse.cse_name}/{rn}/temp/sub-{rn}")[0] == RSC.NOT_FOUND
    cli("deregister")
