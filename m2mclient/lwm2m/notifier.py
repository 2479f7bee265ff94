"""Information Reporting: turns Observe relations into notifications at the right times.

The Observe bookkeeping is sans-IO (:mod:`m2mclient.lwm2m.observe`); this class
adds what the client needs around it: which server and format each relation
belongs to, reading and encoding the value when a notification is due, and a
``send`` callback per relation supplied by the transport glue (for CoAP, a
wrapper around aiocoap's ``ServerObservation.trigger``). Time comes from an
injectable clock, so tests step through pmin/pmax without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from m2mclient.lwm2m.attributes import NotificationAttributes, parse_write_attributes
from m2mclient.lwm2m.engine import Engine, Response
from m2mclient.lwm2m.formats import Record
from m2mclient.lwm2m.model import Path, PathLevel, Value
from m2mclient.lwm2m.objects.base import OperationError
from m2mclient.lwm2m.observe import Observation, ObservationSet, TargetKind

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
#: ``send(response, confirmable)``: deliver one notification of a relation.
NotificationSink = Callable[[Response, bool], None]
#: The Server object's Default Minimum / Maximum Period (/1/x/2, /1/x/3) for a server id.
ServerDefaults = Callable[[int], tuple[int | None, int | None]]


#: Notifications kept per relation while its server is unreachable; beyond this the
#: oldest go (a device offline for days must not run out of memory; the newest
#: values matter most to a server catching up).
MAX_STORED_PER_RELATION = 64


@dataclass
class _Relation:
    server_id: int
    paths: tuple[Path, ...]  # one path, or several for Observe-Composite
    accept: int | None
    send: NotificationSink
    composite: bool
    last_sent: tuple[Response, bool] | None = None
    stored: list[tuple[Response, bool]] = field(default_factory=list)


class Notifier:
    """Keeps every Observe relation of the client and sends its notifications.

    ``confirmable_default`` decides CON/NON when the ``con`` attribute is unset
    (CON by default: a lost NON notification is a lost value).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = time.monotonic,
        server_defaults: ServerDefaults | None = None,
        confirmable_default: bool = True,
    ):
        self.engine = engine
        self.clock = clock
        self._server_defaults = server_defaults or (lambda _server_id: (None, None))
        self.confirmable_default = confirmable_default
        self._observations: ObservationSet[Hashable] = ObservationSet()
        self._relations: dict[Hashable, _Relation] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._offline: set[int] = set()
        #: Whether a server wants notifications stored while it is unreachable (/1/x/6).
        self.storing: Callable[[int], bool] = lambda _server_id: True
        #: Called with ``(server_id, paths)`` when a relation starts / ends.
        self.on_started: list[Callable[[int, tuple[Path, ...]], None]] = []
        self.on_cancelled: list[Callable[[int, tuple[Path, ...]], None]] = []

    def __len__(self) -> int:
        return len(self._relations)

    # --- relations -------------------------------------------------------------------

    def start(
        self,
        key: Hashable,
        paths: Sequence[Path],
        *,
        server_id: int,
        accept: int | None,
        query: Sequence[str],
        send: NotificationSink,
        composite: bool = False,
    ) -> None:
        """Begin a relation whose Observe response (the first value) has just been rendered.

        Attributes in the Observe request's own query (LwM2M 1.2) apply to this
        relation only, above everything attached with Write-Attributes.
        """
        now = self.clock()
        own = parse_write_attributes(query).values if query else NotificationAttributes()
        target = paths[0] if len(paths) == 1 else Path()
        attributes = own.merged_over(self._effective(server_id, target))
        value = self._value(target) if not composite else None
        covered = tuple(paths) if composite else ()
        observation = Observation(target, attributes, self._kind(target), now=now, value=value, composite_paths=covered)
        self._observations.add(key, observation)
        self._relations[key] = _Relation(server_id, tuple(paths), accept, send, composite)
        logger.info("observe %s by server %d (%s)", ", ".join(map(str, paths)), server_id, attributes.to_query())
        for callback in self.on_started:
            callback(server_id, tuple(paths))
        self._wake.set()

    def cancel(self, key: Hashable) -> None:
        """End a relation (Cancel Observation, RST, or the transport gave up)."""
        relation = self._relations.pop(key, None)
        self._observations.cancel(key)
        if relation is not None:
            logger.info("observation of %s cancelled", ", ".join(map(str, relation.paths)))
            for callback in self.on_cancelled:
                callback(relation.server_id, relation.paths)

    def cancel_server(self, server_id: int) -> None:
        """End every relation of a server (it de-registered or registered anew)."""
        for key in [k for k, r in self._relations.items() if r.server_id == server_id]:
            self.cancel(key)

    # --- reachability (notification storing, Core 1.2 §6.4.4 and /1/x/6) -------------------

    def server_unreachable(self, server_id: int) -> None:
        """Delivery to ``server_id`` failed: hold its notifications until :meth:`server_reachable`.

        The last notification of each relation may be the one that was lost, so it
        is stored again (a duplicate value is better than a lost one).
        """
        if server_id in self._offline:
            return
        self._offline.add(server_id)
        storing = self.storing(server_id)
        for relation in self._relations.values():
            if relation.server_id == server_id and relation.last_sent is not None and storing:
                self._store(relation, relation.last_sent)
        logger.info("server %d unreachable: notifications are %s", server_id, "stored" if storing else "dropped")

    def server_reachable(self, server_id: int) -> None:
        """The server answered again: deliver what was stored, oldest first."""
        if server_id not in self._offline:
            return
        self._offline.discard(server_id)
        for relation in list(self._relations.values()):
            if relation.server_id != server_id:
                continue
            stored, relation.stored = relation.stored, []
            for response, confirmable in stored:
                relation.send(response, confirmable)
            if stored:
                logger.info("delivered %d stored notification(s) of %s", len(stored), relation.paths[0])
        self._wake.set()

    def reachable(self, server_id: int) -> bool:
        """False from a failed delivery to ``server_id`` until it answers again."""
        return server_id not in self._offline

    def stored_count(self, server_id: int) -> int:
        """How many notifications wait for ``server_id`` to be reachable again."""
        return sum(len(r.stored) for r in self._relations.values() if r.server_id == server_id)

    @staticmethod
    def _store(relation: _Relation, notification: tuple[Response, bool]) -> None:
        relation.stored.append(notification)
        del relation.stored[:-MAX_STORED_PER_RELATION]

    def attributes_changed(self, server_id: int, path: Path) -> None:
        """Write-Attributes on ``path`` by ``server_id``: refresh the relations it governs."""

        def resolve(key: Hashable, target: Path) -> NotificationAttributes | None:
            relation = self._relations.get(key)
            if relation is None or relation.server_id != server_id:
                return None
            return self._effective(server_id, target)

        self._observations.reconfigure(path, resolve)
        self._wake.set()

    # --- changes and time -------------------------------------------------------------

    def changed(self, path: Path) -> None:
        """A value at ``path`` changed (the object instances call this through their listeners).

        Safe to call from another thread (a sync firmware app setting values): the
        work is handed to the loop the notifier runs on.
        """
        if self._loop is not None and _running_loop() is not self._loop:
            self._loop.call_soon_threadsafe(self.changed, path)
            return
        if not self._observations.interested(path):
            return  # nobody observes it: do not even read it
        try:
            records = self.engine.read(path) if path.level is not PathLevel.ROOT else []
        except OperationError:
            # The target is gone (instance deleted, resource unset): end its relations with 4.04.
            for key in self._observations.cancel_path_prefix(path):
                self._end_removed(key)
            self._wake.set()
            return
        value = self._single_value(path, records) if path.level is PathLevel.RESOURCE else None
        self._observations.changed(self.clock(), path, value)
        self._wake.set()

    def poll(self) -> None:
        """Sample what must be sampled and send every notification due now."""
        now = self.clock()
        for key in self._observations.needs_sample(now):
            observation = self._observations.get(key)
            if observation is not None:
                self._observations.sampled(now, key, self._value(observation.path))
        for key in self._observations.due(now):
            self._notify(key, now)

    def next_wakeup(self) -> float | None:
        """When :meth:`poll` should run next, on :attr:`clock`'s scale."""
        return self._observations.next_wakeup(self.clock())

    async def run(self) -> None:
        """Poll whenever something changed or a timer is due; runs until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self.poll()
            wakeup = self.next_wakeup()
            timeout = None if wakeup is None else max(0.0, wakeup - self.clock())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    # --- helpers ------------------------------------------------------------------------

    def _notify(self, key: Hashable, now: float) -> None:
        relation = self._relations.get(key)
        observation = self._observations.get(key)
        if relation is None or observation is None:
            return
        try:
            records = self._read(relation)
        except OperationError as exc:
            # The target vanished (instance deleted): end the relation with the error (RFC 7641 §3.2).
            relation.send(Response(exc.code, str(exc).encode()), True)
            self.cancel(key)
            return
        target = relation.paths[0] if not relation.composite else Path()
        content_format, payload = self.engine.encode(target, records, relation.accept, relation.server_id)
        confirmable = observation.confirmable
        notification = (
            Response("2.05", payload, content_format),
            self.confirmable_default if confirmable is None else confirmable,
        )
        if relation.server_id in self._offline:
            if self.storing(relation.server_id):
                self._store(relation, notification)
        else:
            relation.send(*notification)
            relation.last_sent = notification
        self._observations.notified(now, key, self._single_value(observation.path, records))

    def _read(self, relation: _Relation) -> list[Record]:
        if relation.composite:
            return self.engine.read_composite(relation.paths, relation.server_id)
        return self.engine.read(relation.paths[0], relation.server_id)

    def _end_removed(self, key: Hashable) -> None:
        relation = self._relations.get(key)
        if relation is not None:
            relation.send(Response("4.04", b"observed target was deleted"), True)
        self.cancel(key)

    def _effective(self, server_id: int, path: Path) -> NotificationAttributes:
        default_pmin, default_pmax = self._server_defaults(server_id)
        return self.engine.attributes.effective(server_id, path, default_pmin, default_pmax)

    def _kind(self, path: Path) -> TargetKind:
        definition = self.engine.registry.resource(path) if path.level >= PathLevel.RESOURCE else None
        if definition is None:
            return TargetKind.OTHER
        return TargetKind.of(path, definition.type, definition.multiple)

    def _value(self, path: Path) -> Value | None:
        if path.level < PathLevel.RESOURCE:
            return None
        try:
            return self._single_value(path, self.engine.read(path))
        except OperationError:
            return None

    @staticmethod
    def _single_value(path: Path, records: Sequence[Record]) -> Value | None:
        if len(records) == 1 and records[0].path == path:
            return records[0].value
        return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
