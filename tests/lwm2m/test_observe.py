"""The observation state machine, walked with a fake clock (time is an argument; nothing sleeps)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.lwm2m.attributes import AttributeStore, NotificationAttributes, parse_write_attributes
from m2mclient.lwm2m.model import DataType, Path, Value
from m2mclient.lwm2m.observe import Observation, ObservationSet, TargetKind

P = Path.parse
A = NotificationAttributes
NUMERIC = TargetKind.NUMERIC
BOOLEAN = TargetKind.BOOLEAN
OTHER = TargetKind.OTHER


def resource(attributes: NotificationAttributes, value: Value | None = 0.0, kind: TargetKind = NUMERIC) -> Observation:
    """An observation of /3303/0/5700 answered at t=0 with ``value``."""
    return Observation(P("/3303/0/5700"), attributes, kind, now=0.0, value=value)


def notify_if_due(observation: Observation, now: float, value: Value | None) -> bool:
    if observation.due(now):
        observation.notified(now, value)
        return True
    return False


# --- target kinds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data_type", "multiple", "kind"),
    [
        ("/3303/0/5700", DataType.FLOAT, False, NUMERIC),
        ("/3/0/9", DataType.INTEGER, False, NUMERIC),
        ("/3/0/21", DataType.UNSIGNED_INTEGER, False, NUMERIC),
        ("/3342/0/5500", DataType.BOOLEAN, False, BOOLEAN),
        ("/3/0/7/1", DataType.INTEGER, True, NUMERIC),
        ("/3/0/7", DataType.INTEGER, True, OTHER),
        ("/3/0/0", DataType.STRING, False, OTHER),
        ("/3/0/13", DataType.TIME, False, OTHER),
        ("/3/0", None, False, OTHER),
        ("/3", None, False, OTHER),
        ("/3/0/9", None, False, OTHER),
    ],
)
def test_target_kind(path: str, data_type: DataType | None, multiple: bool, kind: TargetKind) -> None:
    assert TargetKind.of(P(path), data_type, multiple) is kind


# --- pmin / pmax -----------------------------------------------------------------------


def test_without_attributes_a_change_is_due_at_once_and_nothing_is_periodic() -> None:
    obs = resource(A())
    assert obs.next_wakeup(0.0) is None
    assert not obs.due(100.0)
    obs.value_changed(100.0, 1.0)
    assert obs.pending
    assert obs.next_wakeup(100.0) == 100.0
    assert obs.due(100.0)
    obs.notified(100.0, 1.0)
    assert not obs.due(100.0)
    assert obs.next_wakeup(100.0) is None
    assert obs.last_notified_at == 100.0


def test_pmin_holds_a_change_back_until_it_expires() -> None:
    obs = resource(A(pmin=10))
    obs.value_changed(3.0, 1.0)
    assert not obs.due(3.0)
    assert obs.next_wakeup(3.0) == 10.0
    assert not obs.due(9.999)
    assert obs.due(10.0)
    obs.notified(10.0, 1.0)
    assert obs.next_wakeup(10.0) is None
    # A change long after the last notification goes out at once.
    obs.value_changed(25.0, 2.0)
    assert obs.due(25.0)


def test_a_pending_change_stays_pending_when_the_value_moves_back() -> None:
    # §5.1.2: a notification held back by pmin "MUST be sent as soon as pmin expires".
    obs = resource(A(pmin=10), value=0.0)
    obs.value_changed(2.0, 5.0)
    obs.value_changed(4.0, 0.0)
    assert obs.due(10.0)


def test_pmax_fires_without_a_change() -> None:
    obs = resource(A(pmax=30))
    assert obs.next_wakeup(0.0) == 30.0
    assert not obs.due(29.9)
    assert obs.due(30.0)
    obs.notified(30.0, 0.0)
    assert obs.next_wakeup(30.0) == 60.0
    # A notification for a change restarts the pmax period.
    obs.value_changed(45.0, 1.0)
    assert notify_if_due(obs, 45.0, 1.0)
    assert obs.next_wakeup(45.0) == 75.0


def test_pmin_and_pmax_together() -> None:
    obs = resource(A(pmin=10, pmax=30))
    obs.value_changed(1.0, 1.0)
    assert obs.next_wakeup(1.0) == 10.0
    assert notify_if_due(obs, 10.0, 1.0)
    assert obs.next_wakeup(10.0) == 40.0
    assert not obs.due(39.0)
    assert obs.due(40.0)


@pytest.mark.parametrize("pmax", [None, 0])
def test_pmax_unset_or_zero_means_no_periodic_notification(pmax: int | None) -> None:
    obs = resource(A(pmin=5, pmax=pmax))
    assert obs.next_wakeup(0.0) is None
    assert not obs.due(1e9)


def test_pmax_below_pmin_is_ignored() -> None:
    # Attributes from different levels can combine into pmax < pmin; §5.1.2 ignores pmax then.
    obs = resource(A(pmin=20, pmax=10))
    assert obs.next_wakeup(0.0) is None
    assert not obs.due(15.0)
    assert not obs.due(25.0)
    obs.value_changed(25.0, 1.0)
    assert obs.due(25.0)


def test_pmax_equal_to_pmin_is_honoured() -> None:
    obs = resource(A(pmin=10, pmax=10))
    assert obs.next_wakeup(0.0) == 10.0
    assert obs.due(10.0)


# --- gt / lt / st ------------------------------------------------------------------------


def test_gt_crossing_upwards_and_downwards() -> None:
    obs = resource(A(gt=45.0), value=40.0)
    obs.value_changed(1.0, 44.0)
    assert not obs.pending
    assert not obs.due(1.0)
    obs.value_changed(2.0, 50.0)
    assert notify_if_due(obs, 2.0, 50.0)
    obs.value_changed(3.0, 48.0)  # still above
    assert not obs.due(3.0)
    obs.value_changed(4.0, 42.0)  # back below
    assert notify_if_due(obs, 4.0, 42.0)
    obs.value_changed(5.0, 45.0)  # "greater than": 45 is not above 45
    assert not obs.due(5.0)


def test_lt_crossing_downwards_and_upwards() -> None:
    obs = resource(A(lt=20.0), value=25.0)
    obs.value_changed(1.0, 21.0)
    assert not obs.due(1.0)
    obs.value_changed(2.0, 19.5)
    assert notify_if_due(obs, 2.0, 19.5)
    obs.value_changed(3.0, 10.0)
    assert not obs.due(3.0)
    obs.value_changed(4.0, 20.0)  # "less than": 20 is not below 20 any more
    assert notify_if_due(obs, 4.0, 20.0)


def test_crossing_is_judged_against_the_last_notified_value() -> None:
    obs = resource(A(gt=45.0), value=40.0)
    obs.value_changed(1.0, 44.0)
    obs.value_changed(2.0, 46.0)  # 40 (notified) -> 46 crosses, whatever 44 did
    assert obs.due(2.0)


def test_step_is_measured_from_the_last_notified_value() -> None:
    obs = resource(A(st=10.0), value=38.0)
    obs.value_changed(1.0, 47.0)
    assert not obs.due(1.0)
    obs.value_changed(2.0, 48.0)  # |48 - 38| >= 10
    assert notify_if_due(obs, 2.0, 48.0)
    obs.value_changed(3.0, 40.0)
    assert not obs.due(3.0)
    obs.value_changed(4.0, 38.0)
    assert notify_if_due(obs, 4.0, 38.0)


def test_small_steps_accumulate_until_one_step_away() -> None:
    obs = resource(A(st=10.0), value=0.0)
    for t, value in ((1.0, 4.0), (2.0, 8.0)):
        obs.value_changed(t, value)
        assert not obs.due(t)
    obs.value_changed(3.0, 11.0)
    assert obs.due(3.0)


@pytest.mark.parametrize(
    ("old", "new", "notifies"),
    [
        # Transport bindings §6.4 example: Write-Attributes /3/0/9?gt=45&st=10
        (45, 50, True),  # gt
        (38, 49, True),  # gt and st
        (48, 42, True),  # gt
        (48, 55, False),  # neither
    ],
)
def test_spec_example_gt_and_st(old: int, new: int, notifies: bool) -> None:
    obs = Observation(P("/3/0/9"), A(gt=45.0, st=10.0), NUMERIC, now=0.0, value=old)
    obs.value_changed(1.0, new)
    assert obs.due(1.0) is notifies


@pytest.mark.parametrize(
    ("old", "new", "notifies"),
    [
        # Transport bindings §6.4 example: Write-Attributes /3/0/9?lt=20&gt=85&st=10
        (75, 90, True),  # gt and st
        (50, 10, True),  # lt and st
        (87, 99, True),  # st
        (17, 24, True),  # lt
        (17, 12, False),  # neither
    ],
)
def test_spec_example_lt_gt_and_st(old: int, new: int, notifies: bool) -> None:
    obs = Observation(P("/3/0/9"), A(lt=20.0, gt=85.0, st=10.0), NUMERIC, now=0.0, value=old)
    obs.value_changed(1.0, new)
    assert obs.due(1.0) is notifies


def test_thresholds_still_obey_pmin() -> None:
    obs = resource(A(pmin=10, gt=45.0), value=40.0)
    obs.value_changed(2.0, 50.0)
    assert not obs.due(2.0)
    assert obs.next_wakeup(2.0) == 10.0
    assert obs.due(10.0)


def test_thresholds_do_not_stop_pmax() -> None:
    obs = resource(A(pmax=30, gt=45.0), value=40.0)
    obs.value_changed(2.0, 41.0)
    assert not obs.due(2.0)
    assert obs.due(30.0)


def test_without_a_reference_value_a_change_is_notifiable() -> None:
    obs = resource(A(gt=45.0), value=None)
    obs.value_changed(1.0, 10.0)
    assert obs.due(1.0)


def test_a_change_without_value_asks_for_a_sample() -> None:
    obs = resource(A(gt=45.0), value=40.0)
    obs.value_changed(5.0)
    assert obs.needs_sample(5.0)
    assert obs.next_wakeup(5.0) == 5.0
    assert not obs.due(5.0)
    obs.sampled(5.0, 50.0)
    assert not obs.needs_sample(5.0)
    assert obs.due(5.0)


# --- edge ------------------------------------------------------------------------------


def test_edge_1_notifies_only_rising_edges() -> None:
    obs = resource(A(edge=True), value=False, kind=BOOLEAN)
    obs.value_changed(1.0, True)
    assert notify_if_due(obs, 1.0, True)
    obs.value_changed(2.0, False)
    assert not obs.due(2.0)
    obs.value_changed(3.0, True)  # false -> true again, judged against the last evaluated value
    assert notify_if_due(obs, 3.0, True)
    obs.value_changed(4.0, True)  # no transition
    assert not obs.due(4.0)


def test_edge_0_notifies_only_falling_edges() -> None:
    obs = resource(A(edge=False), value=True, kind=BOOLEAN)
    obs.value_changed(1.0, False)
    assert notify_if_due(obs, 1.0, False)
    obs.value_changed(2.0, True)
    assert not obs.due(2.0)
    obs.value_changed(3.0, False)
    assert obs.due(3.0)


def test_boolean_without_edge_notifies_every_change() -> None:
    obs = resource(A(), value=True, kind=BOOLEAN)
    obs.value_changed(1.0, False)
    assert notify_if_due(obs, 1.0, False)
    obs.value_changed(2.0, True)
    assert obs.due(2.0)


def test_edge_obeys_pmin() -> None:
    obs = resource(A(edge=True, pmin=5), value=False, kind=BOOLEAN)
    obs.value_changed(1.0, True)
    assert not obs.due(1.0)
    assert obs.due(5.0)


# --- epmin / epmax ---------------------------------------------------------------------


def test_epmin_defers_evaluation_to_the_end_of_the_window() -> None:
    obs = resource(A(epmin=5))
    obs.value_changed(1.0, 1.0)
    assert not obs.due(1.0)
    assert obs.next_wakeup(1.0) == 5.0
    assert not obs.due(4.9)
    assert obs.due(5.0)
    obs.notified(5.0, 1.0)
    obs.value_changed(6.0, 2.0)  # the notification read the value at 5: next window ends at 10
    assert obs.next_wakeup(6.0) == 10.0
    assert obs.due(10.0)


def test_epmin_evaluates_the_latest_value_only() -> None:
    obs = resource(A(epmin=5, gt=45.0), value=40.0)
    obs.value_changed(1.0, 50.0)  # would cross ...
    obs.value_changed(3.0, 41.0)  # ... but is back below when the window ends
    assert not obs.due(5.0)
    assert obs.next_wakeup(5.0) is None


def test_epmin_change_after_the_window_is_evaluated_at_once() -> None:
    obs = resource(A(epmin=5))
    obs.value_changed(7.0, 1.0)
    assert obs.due(7.0)


def test_epmin_and_pmin_compose() -> None:
    obs = resource(A(epmin=3, pmin=10))
    obs.value_changed(1.0, 1.0)
    assert obs.next_wakeup(1.0) == 3.0  # evaluate first ...
    assert not obs.due(3.0)
    assert obs.next_wakeup(3.0) == 10.0  # ... then wait for pmin
    assert obs.due(10.0)


def test_epmax_asks_the_engine_to_sample() -> None:
    obs = resource(A(epmax=20), value=1.0)
    assert obs.next_wakeup(0.0) == 20.0
    assert not obs.needs_sample(19.0)
    assert obs.needs_sample(20.0)
    obs.sampled(20.0, 1.0)  # unchanged: not a change
    assert not obs.due(20.0)
    assert not obs.needs_sample(20.0)
    assert obs.next_wakeup(20.0) == 40.0
    obs.sampled(40.0, 2.0)  # changed behind the engine's back
    assert obs.due(40.0)


def test_epmax_sample_is_judged_by_thresholds() -> None:
    obs = resource(A(epmax=10, st=5.0), value=0.0)
    obs.sampled(10.0, 3.0)
    assert not obs.due(10.0)
    obs.sampled(20.0, 6.0)
    assert obs.due(20.0)


def test_epmax_below_epmin_is_ignored() -> None:
    obs = resource(A(epmin=10, epmax=5))
    assert obs.next_wakeup(0.0) is None
    assert not obs.needs_sample(100.0)


def test_sampling_a_value_less_target_detects_nothing() -> None:
    obs = Observation(P("/3/0"), A(epmax=10), OTHER, now=0.0)
    assert obs.needs_sample(10.0)
    obs.sampled(10.0, None)
    assert not obs.due(10.0)
    assert obs.next_wakeup(10.0) == 20.0
    # An encoded payload lets a sample see a change.
    obs.sampled(20.0, b"\x01")
    assert obs.due(20.0)


def test_nan_samples_are_not_changes() -> None:
    obs = resource(A(epmax=10), value=math.nan)
    obs.sampled(10.0, math.nan)
    assert not obs.due(10.0)


# --- con / hqmax / reconfigure -----------------------------------------------------------


def test_con_and_hqmax_are_exposed() -> None:
    assert resource(A()).confirmable is None
    assert resource(A(con=True)).confirmable is True
    assert resource(A(con=False)).confirmable is False
    assert resource(A(hqmax=7)).history_queue_max == 7
    assert resource(A()).history_queue_max is None


def test_reconfigure_keeps_timers() -> None:
    obs = resource(A(pmax=100))
    obs.reconfigure(A(pmax=30))
    assert obs.next_wakeup(5.0) == 30.0
    assert obs.attributes == A(pmax=30)


# --- the set ---------------------------------------------------------------------------


def _set() -> ObservationSet[tuple[int, bytes]]:
    observations: ObservationSet[tuple[int, bytes]] = ObservationSet()
    observations.add((1, b"i"), Observation(P("/3/0"), A(), OTHER, now=0.0))
    observations.add((1, b"r"), Observation(P("/3/0/9"), A(gt=45.0), NUMERIC, now=0.0, value=40))
    observations.add((2, b"o"), Observation(P("/3"), A(pmin=10), OTHER, now=0.0))
    observations.add((2, b"x"), Observation(P("/3/0/10"), A(), NUMERIC, now=0.0, value=5))
    return observations


def test_set_fans_out_changes_by_path() -> None:
    observations = _set()
    observations.changed(1.0, P("/3/0/9"), 44)
    # The instance and object observations see a change; thresholds apply only to /3/0/9 itself.
    assert observations.due(1.0) == [(1, b"i")]
    assert observations.next_wakeup(1.0) == 1.0
    observations.notified(1.0, (1, b"i"))
    assert observations.next_wakeup(1.0) == 10.0  # the object observation waits for pmin
    assert observations.due(10.0) == [(2, b"o")]
    observations.changed(12.0, P("/3/0/9"), 46)
    assert observations.due(12.0) == [(1, b"i"), (1, b"r"), (2, b"o")]


def test_set_sibling_paths_are_not_affected() -> None:
    observations = _set()
    observations.changed(1.0, P("/3/1/9"), 50)
    observations.changed(1.0, P("/4/0/9"), 50)
    observations.changed(1.0, P("/3/0/11"), 50)
    assert observations.due(1.0) == [(1, b"i")]


def test_set_write_above_a_target_asks_for_samples() -> None:
    observations = _set()
    observations.changed(1.0, P("/3/0"))  # e.g. the instance was written as a whole
    assert observations.needs_sample(1.0) == [(1, b"r"), (2, b"x")]
    assert observations.due(1.0) == [(1, b"i")]
    observations.sampled(1.0, (1, b"r"), 50)
    observations.sampled(1.0, (2, b"x"), 5)  # unchanged
    assert observations.needs_sample(1.0) == []
    assert observations.due(1.0) == [(1, b"i"), (1, b"r")]


def test_set_cancel_and_cancel_path_prefix() -> None:
    observations = _set()
    assert len(observations) == 4
    assert observations.cancel((2, b"o")) is not None
    assert observations.cancel((2, b"o")) is None
    assert (2, b"o") not in observations
    assert observations.cancel_path_prefix(P("/3/0/9")) == [(1, b"r")]
    assert observations.cancel_path_prefix(P("/3/0")) == [(1, b"i"), (2, b"x")]
    assert len(observations) == 0
    assert observations.next_wakeup(0.0) is None
    assert observations.due(0.0) == []


def test_set_add_replaces_the_same_key() -> None:
    observations = _set()
    replacement = Observation(P("/3/0/1"), A(), OTHER, now=5.0)
    observations.add((1, b"i"), replacement)
    assert observations.get((1, b"i")) is replacement
    assert len(observations) == 4
    assert list(observations)[-1] == (1, b"i")


def test_set_reconfigure_uses_each_targets_effective_attributes_per_server() -> None:
    store = AttributeStore()
    observations: ObservationSet[tuple[int, bytes]] = ObservationSet()
    for key, path in (((1, b"a"), "/3/0/9"), ((1, b"b"), "/3/0"), ((2, b"c"), "/3/0/9"), ((1, b"d"), "/4/0")):
        observations.add(key, Observation(P(path), store.effective(key[0], P(path), 0, 60), OTHER, now=0.0))

    store.apply(1, P("/3/0"), parse_write_attributes(["pmax=20"]))

    def resolve(key: tuple[int, bytes], path: Path) -> NotificationAttributes | None:
        return store.effective(1, path, 0, 60) if key[0] == 1 else None

    assert observations.reconfigure(P("/3/0"), resolve) == [(1, b"a"), (1, b"b")]
    assert observations.next_wakeup(0.0) == 20.0
    assert observations.due(20.0) == [(1, b"a"), (1, b"b")]
    assert observations.reconfigure(P("/3/0"), resolve) == []  # nothing changed the second time


def test_set_ignores_unknown_keys() -> None:
    observations = _set()
    observations.notified(1.0, (9, b"?"), 1)
    observations.sampled(1.0, (9, b"?"), 1)
    assert observations.get((9, b"?")) is None


# --- properties: a simulated engine with a fake clock ------------------------------------

periods = st.none() | st.integers(0, 40)
random_attributes = st.builds(
    NotificationAttributes,
    pmin=periods,
    pmax=periods,
    gt=st.none() | st.floats(-50, 50),
    lt=st.none() | st.floats(-50, 50),
    st=st.none() | st.floats(0, 30),
    epmin=st.none() | st.integers(0, 15),
    epmax=st.none() | st.integers(0, 60),
    edge=st.none() | st.booleans(),
    con=st.none() | st.booleans(),
)
kinds = st.sampled_from(TargetKind)


@st.composite
def timelines(draw: st.DrawFn, kind: TargetKind) -> list[tuple[float, Value | None]]:
    values: st.SearchStrategy[Value | None]
    if kind is BOOLEAN:
        values = st.booleans()
    elif kind is NUMERIC:
        values = st.none() | st.floats(-100, 100) | st.integers(-100, 100)
    else:
        values = st.none() | st.integers(0, 3)
    steps = draw(st.lists(st.tuples(st.floats(0, 25), values), max_size=25))
    now = 0.0
    timeline = []
    for step, value in steps:
        now += step
        timeline.append((now, value))
    return timeline


def run_engine(
    obs: Observation, timeline: list[tuple[float, Value | None]], horizon: float, honour_wakeups: bool
) -> list[float]:
    """Drive ``obs`` like the engine would; returns the notification times (0 = the Observe response)."""
    sent = [0.0]
    current: Value | None = None
    now = 0.0
    events = iter(timeline)
    event = next(events, None)
    for _ in range(100_000):
        wake = obs.next_wakeup(now) if honour_wakeups else None
        event_time = event[0] if event is not None else math.inf
        if wake is not None and wake <= event_time and wake <= horizon:
            assert wake >= now
            now = wake
            if obs.needs_sample(now):
                obs.sampled(now, current)
        elif event is not None and event_time <= horizon:
            now, current = event
            obs.value_changed(now, current)
            event = next(events, None)
        else:
            return sent
        if obs.due(now):
            obs.notified(now, current)
            sent.append(now)
        elif honour_wakeups and wake == now:
            # Acting on a wakeup must move the schedule on, or the engine would spin.
            assert obs.next_wakeup(now) != now
    raise AssertionError("the engine loop did not finish")


@given(random_attributes, kinds, st.data(), st.booleans())
def test_no_two_notifications_closer_than_pmin(
    attributes: NotificationAttributes, kind: TargetKind, data: st.DataObject, honour_wakeups: bool
) -> None:
    timeline = data.draw(timelines(kind))
    obs = Observation(P("/3303/0/5700"), attributes, kind, now=0.0, value=None)
    sent = run_engine(obs, timeline, horizon=400.0, honour_wakeups=honour_wakeups)
    pmin = attributes.pmin or 0
    for earlier, later in itertools.pairwise(sent):
        assert later - earlier >= pmin - 1e-9


@given(random_attributes, kinds, st.data())
def test_gap_never_exceeds_pmax_when_the_engine_honours_wakeups(
    attributes: NotificationAttributes, kind: TargetKind, data: st.DataObject
) -> None:
    pmax = data.draw(st.integers(max(1, attributes.pmin or 0), 60), label="pmax")
    attributes = replace(attributes, pmax=pmax)
    timeline = data.draw(timelines(kind))
    obs = Observation(P("/3303/0/5700"), attributes, kind, now=0.0, value=None)
    horizon = 400.0
    sent = run_engine(obs, timeline, horizon=horizon, honour_wakeups=True)
    for earlier, later in itertools.pairwise([*sent, horizon]):
        assert later - earlier <= pmax + 1e-9
