"""When to notify: the sans-IO observation state machine (LwM2M Core 1.2 §6.4, §5.1.2).

The engine owns sockets and clocks; this module only answers "send a
notification now?" and "when should I look again?". Time is always an argument
(``now``, seconds on a monotonic clock), never read here, so the same logic runs
over UDP, an AT-command socket, SMS, or a unit test with a fake clock.

One :class:`Observation` follows one Observe relation. The engine drives it:

* ``value_changed(now, value)`` when the observed value changed (``value=None``
  for an object or instance target, or when the engine has no value at hand);
* ``sampled(now, value)`` after reading the value because :meth:`~Observation.needs_sample`
  asked (epmax, or a change it could not evaluate without the value);
* ``due(now)`` to ask whether to notify, and ``notified(now, value)`` once it did;
* ``next_wakeup(now)`` for the earliest time any of that can change.

:class:`ObservationSet` keeps many of them under opaque keys (the engine uses
``(server_id, token)``) and fans value changes out by path.

Semantics, as Anjay and Leshan implement Core 1.2 §5.1.2:

* **pmin**: a notifiable change waits until ``pmin`` has passed since the last
  notification ("sent as soon as pmin expires"); it stays pending even if the value
  moves back in the meantime, and the engine sends the current value.
* **pmax**: a notification is due ``pmax`` after the last one, changed or not.
  ``pmax`` unset or 0 means no periodic notification; ``pmax < pmin`` is ignored
  (§5.1.2: pmax must not be smaller than pmin).
* **gt / lt**: a change is notifiable when the value is on the other side of a
  threshold than the last *notified* value (crossing in either direction).
* **st**: a change is notifiable when it is at least ``st`` away from the last
  notified value. When any of gt/lt/st is set, only these criteria make a change
  notifiable (transport bindings §6.4 examples: 48 -> 55 with gt=45, st=10 is not).
* **edge**: on a Boolean resource, ``edge=1`` notifies only false -> true and
  ``edge=0`` only true -> false, judged against the previously evaluated value.
* **epmin**: the criteria are not evaluated more often than every ``epmin``
  seconds; a change inside the window is evaluated (with the latest value) when
  the window ends.
* **epmax**: the value must be evaluated at least every ``epmax`` seconds; the
  engine learns when from :meth:`~Observation.needs_sample` and ``next_wakeup``.
  ``epmax < epmin`` is ignored, like ``pmax < pmin``.
* **con**: :attr:`~Observation.confirmable` (``None``: the engine's default).
* **hqmax**: exposed as :attr:`~Observation.history_queue_max`, not acted on here.
* Thresholds and edge only apply to the value of the observed resource (or
  resource instance) itself; for an object or instance observation any change
  below it is notifiable.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from m2mclient.lwm2m.attributes import NotificationAttributes
from m2mclient.lwm2m.model import DataType, Path, PathLevel, Value

__all__ = ["Observation", "ObservationSet", "TargetKind"]

K = TypeVar("K", bound=Hashable)

_NUMERIC_TYPES = frozenset({DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.FLOAT})


class TargetKind(enum.Enum):
    """Which value criteria can apply to an observed target."""

    NUMERIC = "numeric"  # gt, lt, st
    BOOLEAN = "boolean"  # edge
    OTHER = "other"  # none: every change is notifiable

    @classmethod
    def of(cls, path: Path, data_type: DataType | None, multiple: bool = False) -> TargetKind:
        """The kind of a target: only a single value (a single-instance resource or a
        resource instance) of a numeric or Boolean type has value criteria."""
        single_value = path.level is PathLevel.RESOURCE_INSTANCE or (path.level is PathLevel.RESOURCE and not multiple)
        if not single_value:
            return cls.OTHER
        if data_type in _NUMERIC_TYPES:
            return cls.NUMERIC
        if data_type is DataType.BOOLEAN:
            return cls.BOOLEAN
        return cls.OTHER


def _as_number(value: Value | None) -> float | None:
    # bool is an int subclass, but True is not the number 1 for a threshold.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _same(a: Value | None, b: Value | None) -> bool:
    # NaN never equals itself; an unchanged NaN reading is still "no change".
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


class Observation:
    """One Observe relation's notification schedule (LwM2M Core 1.2 §6.4.1, §5.1.2).

    Created when the Observe request is answered: that response carries the
    current value and counts as the first notification (RFC 7641 §3.1), so
    ``now`` and ``value`` are when and what was sent. ``attributes`` are the
    effective ones (see :meth:`AttributeStore.effective
    <m2mclient.lwm2m.attributes.AttributeStore.effective>`).
    """

    def __init__(
        self,
        path: Path,
        attributes: NotificationAttributes,
        kind: TargetKind = TargetKind.OTHER,
        *,
        now: float,
        value: Value | None = None,
        composite_paths: tuple[Path, ...] = (),
    ):
        self.path = path
        #: For Observe-Composite: the paths it covers (``path`` is then the root).
        self.composite_paths = composite_paths
        self.kind = kind
        self.attributes = attributes
        self._last_notified_at = now
        self._last_notified_value = value
        self._last_evaluated_at = now
        self._last_evaluated_value = value
        self._pending = False  # a notifiable change waits for pmin
        self._deferred = False  # a change waits for the epmin window to end
        self._deferred_is_sample = True
        self._latest: Value | None = value
        self._sample_requested = False

    # --- attributes, as the engine needs them ---

    @property
    def confirmable(self) -> bool | None:
        """``con``: send notifications as CON (True) or NON (False); ``None`` leaves it to the engine."""
        return self.attributes.con

    @property
    def history_queue_max(self) -> int | None:
        """``hqmax`` (LwM2M 1.2): how many notifications to queue while offline; not acted on here."""
        return self.attributes.hqmax

    @property
    def last_notified_at(self) -> float:
        """When the last notification (or the Observe response) was sent."""
        return self._last_notified_at

    @property
    def pending(self) -> bool:
        """True when a notifiable change is waiting (for pmin to pass)."""
        return self._pending

    def reconfigure(self, attributes: NotificationAttributes) -> None:
        """Swap in new effective attributes (after Write-Attributes); timers and references are kept."""
        self.attributes = attributes

    @property
    def _pmin(self) -> float:
        return float(self.attributes.pmin or 0)

    @property
    def _pmax(self) -> float | None:
        pmax = self.attributes.pmax
        # §5.1.2: pmax 0 or unset means no periodic notification; pmax < pmin is ignored.
        if not pmax or pmax < self._pmin:
            return None
        return float(pmax)

    @property
    def _epmin(self) -> float:
        return float(self.attributes.epmin or 0)

    @property
    def _epmax(self) -> float | None:
        epmax = self.attributes.epmax
        if not epmax or epmax < self._epmin:
            return None
        return float(epmax)

    @property
    def _has_value_criteria(self) -> bool:
        a = self.attributes
        if self.kind is TargetKind.NUMERIC:
            return a.gt is not None or a.lt is not None or a.st is not None
        if self.kind is TargetKind.BOOLEAN:
            return a.edge is not None
        return False

    # --- inputs ---

    def value_changed(self, now: float, value: Value | None = None) -> None:
        """The observed value changed at ``now`` (``value=None``: a change below an object/instance target).

        If the observation has value criteria (thresholds, edge) but no value is
        given, it cannot judge the change and asks for a sample instead.
        """
        if value is None and self._has_value_criteria:
            self._sample_requested = True
            return
        self._offer(now, value, is_sample=False)

    def sampled(self, now: float, value: Value | None) -> None:
        """The engine read the value at ``now`` because :meth:`needs_sample` said so.

        Unlike :meth:`value_changed`, an unchanged reading is not a change: with
        no value criteria a sample is notifiable only if it differs from the
        previously evaluated value. For an object or instance target the engine
        may pass the encoded payload (bytes) so a difference can be seen.
        """
        self._sample_requested = False
        self._offer(now, value, is_sample=True)

    def request_sample(self) -> None:
        """Ask the engine to read the value (something above the target changed)."""
        self._sample_requested = True

    def notified(self, now: float, value: Value | None = None) -> None:
        """The engine sent a notification carrying ``value`` at ``now``.

        The notification reads the current value, so it also counts as an
        evaluation: pending and deferred changes are delivered, and ``value``
        becomes the reference for gt/lt/st and edge.
        """
        self._last_notified_at = now
        self._last_evaluated_at = now
        if value is not None:
            self._last_notified_value = value
            self._last_evaluated_value = value
            self._latest = value
        self._pending = False
        self._deferred = False
        self._sample_requested = False

    # --- outputs ---

    def due(self, now: float) -> bool:
        """Should a notification be sent at ``now``?

        Runs an epmin-deferred evaluation whose window has ended first, so call
        it when :meth:`next_wakeup` says.
        """
        self._run_deferred(now)
        if self._pending and now >= self._last_notified_at + self._pmin:
            return True
        pmax = self._pmax
        return pmax is not None and now >= self._last_notified_at + pmax

    def needs_sample(self, now: float) -> bool:
        """Should the engine read the value and call :meth:`sampled`? (epmax, or a change it could not judge)."""
        if self._sample_requested:
            return True
        epmax = self._epmax
        return epmax is not None and now >= self._last_evaluated_at + epmax

    def next_wakeup(self, now: float) -> float | None:
        """The earliest time (>= ``now``) at which :meth:`due` or :meth:`needs_sample` may turn true.

        ``None`` when nothing is scheduled: only a new change can make this
        observation act. ``now`` itself means "act now".
        """
        if self._sample_requested:
            return now
        candidates: list[float] = []
        if self._pending:
            candidates.append(self._last_notified_at + self._pmin)
        if self._deferred:
            candidates.append(self._last_evaluated_at + self._epmin)
        pmax = self._pmax
        if pmax is not None:
            candidates.append(self._last_notified_at + pmax)
        epmax = self._epmax
        if epmax is not None:
            candidates.append(self._last_evaluated_at + epmax)
        return max(now, min(candidates)) if candidates else None

    # --- evaluation ---

    def _offer(self, now: float, value: Value | None, *, is_sample: bool) -> None:
        # A real change waiting in the epmin window is not downgraded by a later sample.
        self._deferred_is_sample = is_sample and (self._deferred_is_sample or not self._deferred)
        self._latest = value
        if now < self._last_evaluated_at + self._epmin:
            self._deferred = True
            return
        self._evaluate(now)

    def _run_deferred(self, now: float) -> None:
        if self._deferred and now >= self._last_evaluated_at + self._epmin:
            self._evaluate(now)

    def _evaluate(self, now: float) -> None:
        value = self._latest
        if self._notifiable(value, is_sample=self._deferred_is_sample):
            self._pending = True
        self._deferred = False
        self._deferred_is_sample = True
        self._last_evaluated_at = now
        if value is not None:
            self._last_evaluated_value = value

    def _notifiable(self, value: Value | None, *, is_sample: bool) -> bool:
        a = self.attributes
        number = _as_number(value)
        if self._has_value_criteria and self.kind is TargetKind.NUMERIC and number is not None:
            return self._crosses(number)
        if self._has_value_criteria and self.kind is TargetKind.BOOLEAN and isinstance(value, bool):
            previous = self._last_evaluated_value
            if isinstance(previous, bool) and previous == value:
                return False
            return value is a.edge
        if is_sample:
            return value is not None and not _same(value, self._last_evaluated_value)
        return True

    def _crosses(self, value: float) -> bool:
        a = self.attributes
        ref = _as_number(self._last_notified_value)
        if ref is None:
            return True  # nothing to compare against: report it so the server has a reference
        if a.gt is not None and (ref > a.gt) != (value > a.gt):
            return True
        if a.lt is not None and (ref < a.lt) != (value < a.lt):
            return True
        return a.st is not None and abs(value - ref) >= a.st


class ObservationSet(Generic[K]):
    """Many observations under opaque keys (the engine uses ``(server_id, token)``).

    Iteration and every returned list follow insertion order, so a run is
    deterministic.
    """

    def __init__(self) -> None:
        self._observations: dict[K, Observation] = {}
        # Indexes so a change costs a few lookups, not a scan of every observation
        # (a device may hold a thousand relations; bench/lwm2m.py measures it).
        self._at: dict[Path, dict[K, None]] = {}  # observations of exactly this path
        self._below: dict[Path, dict[K, None]] = {}  # observations strictly below this path
        self._composite: dict[K, None] = {}

    def add(self, key: K, observation: Observation) -> None:
        """Track ``observation``; an Observe with a key already in use replaces it (RFC 7641 §4.1)."""
        self.cancel(key)
        self._observations[key] = observation
        if observation.composite_paths:
            self._composite[key] = None
            return
        self._at.setdefault(observation.path, {})[key] = None
        for depth in range(len(observation.path)):
            self._below.setdefault(Path(observation.path.ids[:depth]), {})[key] = None

    def _unindex(self, key: K, observation: Observation) -> None:
        self._composite.pop(key, None)
        for index, paths in (
            (self._at, [observation.path]),
            (self._below, [Path(observation.path.ids[:depth]) for depth in range(len(observation.path))]),
        ):
            for path in paths:
                keys = index.get(path)
                if keys is not None:
                    keys.pop(key, None)
                    if not keys:
                        del index[path]

    def interested(self, path: Path) -> bool:
        """Whether any observation would hear of a change at ``path`` (skip reading it otherwise)."""
        if self._composite or path in self._below:
            return True
        return any(Path(path.ids[:depth]) in self._at for depth in range(len(path) + 1))

    def get(self, key: K) -> Observation | None:
        """The observation under ``key``, if any."""
        return self._observations.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._observations

    def __len__(self) -> int:
        return len(self._observations)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._observations))

    def changed(self, now: float, path: Path, value: Value | None = None) -> None:
        """The value at ``path`` changed at ``now``.

        * an observation of exactly ``path`` gets ``value``;
        * one of a container above ``path`` (an object, instance or multiple-instance
          resource) gets a bare change signal: thresholds do not apply there;
        * one of a target below ``path`` (``path`` is an instance written as a whole)
          asks the engine for a sample, since only the engine can read the target's value.
        """
        for key in self._at.get(path, ()):
            self._observations[key].value_changed(now, value)
        for depth in range(len(path)):
            for key in self._at.get(Path(path.ids[:depth]), ()):
                self._observations[key].value_changed(now, None)
        for key in self._below.get(path, ()):
            self._observations[key].request_sample()
        for key in self._composite:
            # An Observe-Composite hears only about its own paths (and what lies below them).
            observation = self._observations[key]
            if any(p.is_prefix_of(path) or path.is_prefix_of(p) for p in observation.composite_paths):
                observation.value_changed(now, None)

    def due(self, now: float) -> list[K]:
        """Keys of the observations that should notify at ``now``."""
        return [key for key, observation in self._observations.items() if observation.due(now)]

    def needs_sample(self, now: float) -> list[K]:
        """Keys of the observations whose value the engine should read and pass to :meth:`sampled`."""
        return [key for key, observation in self._observations.items() if observation.needs_sample(now)]

    def sampled(self, now: float, key: K, value: Value | None) -> None:
        """Pass a value read for :meth:`needs_sample` to the observation under ``key``."""
        observation = self._observations.get(key)
        if observation is not None:
            observation.sampled(now, value)

    def notified(self, now: float, key: K, value: Value | None = None) -> None:
        """Record that the notification for ``key`` was sent at ``now`` carrying ``value``."""
        observation = self._observations.get(key)
        if observation is not None:
            observation.notified(now, value)

    def next_wakeup(self, now: float) -> float | None:
        """The earliest :meth:`Observation.next_wakeup` over all observations, or ``None``."""
        times = [t for t in (o.next_wakeup(now) for o in self._observations.values()) if t is not None]
        return min(times) if times else None

    def cancel(self, key: K) -> Observation | None:
        """Stop tracking ``key`` (Cancel Observation, a RST, or the server deregistered); returns it."""
        observation = self._observations.pop(key, None)
        if observation is not None:
            self._unindex(key, observation)
        return observation

    def cancel_path_prefix(self, path: Path) -> list[K]:
        """Stop every observation of ``path`` or below (the instance was deleted); returns their keys.

        The engine ends those relations with a 4.04 notification (RFC 7641 §3.2).
        """
        keys = [
            key
            for key, observation in self._observations.items()
            if path.is_prefix_of(observation.path) and not observation.composite_paths
        ]
        for key in keys:
            self.cancel(key)
        return keys

    def reconfigure(self, path: Path, resolve: Callable[[K, Path], NotificationAttributes | None]) -> list[K]:
        """Refresh attributes after Write-Attributes on ``path``; returns the keys that changed.

        Attributes written at ``path`` shape every observation at or below it, each
        with its own effective set, and only for the server that wrote them, so the
        engine supplies ``resolve(key, target_path)`` (typically
        ``AttributeStore.effective`` for the key's server, or ``None`` to leave an
        observation of another server alone).
        """
        changed: list[K] = []
        for key, observation in self._observations.items():
            if not path.is_prefix_of(observation.path):
                continue
            attributes = resolve(key, observation.path)
            if attributes is not None and attributes != observation.attributes:
                observation.reconfigure(attributes)
                changed.append(key)
        return changed
