"""The registration state machine and Register payload, walked with a fake clock (time is an argument)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import M2MError, PathError, ValueValidationError
from m2mclient.lwm2m.formats import link
from m2mclient.lwm2m.registration import (
    MAX_TRANSMIT_WAIT,
    BootstrapNeeded,
    Deregistered,
    Disabled,
    InvalidLocationError,
    OutgoingRequest,
    Registered,
    RegistrationFailed,
    RegistrationMachine,
    RegistrationSettings,
    RegistrationUsageError,
    RetryPolicy,
    Updated,
    VersionFallback,
    build_register_links,
    parse_location,
    update_delay,
)
from m2mclient.lwm2m.registration import RegistrationState as S

#: Security (0) and OSCORE (21) have instances but must never be listed.
OBJECTS = {0: ("1.2", [0, 1]), 1: ("1.1", [0]), 3: ("1.0", [0]), 5: ("1.0", []), 21: ("2.0", [0])}
LOCATION = ("rd", "5a3f")


def settings(**changes: object) -> RegistrationSettings:
    return replace(RegistrationSettings("node-1", lifetime=300), **changes)  # type: ignore[arg-type]


def machine(objects: dict[int, tuple[str, list[int]]] | None = None, **changes: object) -> RegistrationMachine:
    return RegistrationMachine(settings(**changes), OBJECTS if objects is None else objects)


def send(m: RegistrationMachine, now: float) -> OutgoingRequest:
    request = m.poll(now)
    assert request is not None, f"nothing to send at {now} in {m.state}"
    return request


def registered(m: RegistrationMachine, now: float = 0.0) -> OutgoingRequest:
    """Start ``m`` at ``now`` and answer its Register with 2.01 one second later."""
    m.start(now)
    request = send(m, now)
    assert request.kind == "register"
    assert m.on_response(now + 1, "2.01", LOCATION) == [Registered(LOCATION, m.settings.versions[0])]
    return request


# --- the Register payload -----------------------------------------------------------------------


def test_register_links_brief_example() -> None:
    payload = build_register_links(OBJECTS, root_content_format=11544, lwm2m_version="1.2")
    assert payload == b'</>;rt="oma.lwm2m";ct=11544,</1>;ver=1.1,</1/0>,</3/0>,</5>'


def test_register_links_match_transport_spec_example() -> None:
    # Transport bindings §6.3 lists the Core Appendix F example client under an
    # alternate path "/lwm2m"; with objects at the root (our case) the same list is
    # the example with the prefix taken out (and the stray spaces of the spec text).
    spec = '</lwm2m>;rt="oma.lwm2m", </lwm2m /1/0>,</lwm2m /1/1>,</lwm2m /2/0>,</lwm2m /2/1>,</lwm2m /2/2>,</lwm2m /2/3>,</lwm2m /2/4>,</lwm2m /3/0>,</lwm2m /4/0>,</lwm2m /5>'  # noqa: E501
    at_root = spec.replace("</lwm2m>", "</>").replace("</lwm2m /", "</").replace(", ", ",")
    example = {1: ("1.0", [1, 0]), 2: ("1.0", [4, 3, 2, 1, 0]), 3: ("1.0", [0]), 4: ("1.0", [0]), 5: ("1.0", [])}
    assert build_register_links(example, lwm2m_version="1.1").decode() == at_root
    # 1.0 has neither the root link nor ver
    assert build_register_links(example, lwm2m_version="1.0").decode() == at_root.split(",", 1)[1]


def test_register_links_1_0_has_no_root_link_and_no_ver() -> None:
    assert build_register_links(OBJECTS, root_content_format=11542, lwm2m_version="1.0") == b"</1/0>,</3/0>,</5>"


def test_register_links_several_content_formats_are_one_quoted_ct() -> None:
    payload = build_register_links({3: ("1.2", [0])}, root_content_format=(110, 112), lwm2m_version="1.2")
    assert payload == b'</>;rt="oma.lwm2m";ct="110 112",</3>;ver=1.2,</3/0>'
    links = link.decode(payload)
    assert links[0].get("ct") == "110 112"


def test_register_links_sorted_and_deduplicated() -> None:
    payload = build_register_links({3303: ("1.1", [2, 0, 2]), 3: ("1.0", [0])}, lwm2m_version="1.2")
    assert payload == b'</>;rt="oma.lwm2m",</3/0>,</3303>;ver=1.1,</3303/0>,</3303/2>'


def test_register_links_object_without_instances_but_with_version() -> None:
    assert build_register_links({19: ("1.1", [])}, lwm2m_version="1.1") == b'</>;rt="oma.lwm2m",</19>;ver=1.1'


@pytest.mark.parametrize(
    ("objects", "error"),
    [
        ({3: ("1", [0])}, ValueValidationError),
        ({3: ("v1.0", [0])}, ValueValidationError),
        ({3: ("1.0", [65535])}, PathError),
        ({-1: ("1.0", [])}, PathError),
    ],
)
def test_register_links_refuse_bad_objects(objects: dict[int, tuple[str, list[int]]], error: type[Exception]) -> None:
    with pytest.raises(error):
        build_register_links(objects, lwm2m_version="1.2")
    with pytest.raises(error):
        RegistrationMachine(settings(), objects)


def test_register_links_unknown_version() -> None:
    with pytest.raises(ValueValidationError, match="1.3"):
        build_register_links({}, lwm2m_version="1.3")


# --- Location-Path --------------------------------------------------------------------------------


def test_parse_location() -> None:
    assert parse_location(["rd", "5a3f"]) == ("rd", "5a3f")
    assert parse_location("/rd/5a3f") == ("rd", "5a3f")
    assert parse_location(("tenant", "rd", "1")) == ("tenant", "rd", "1")  # logged, still usable


@pytest.mark.parametrize("location", [(), "", "/", ("rd", ""), ("rd", ".."), ("rd", "."), "rd//x"])
def test_parse_location_refuses_unusable(location: tuple[str, ...] | str) -> None:
    with pytest.raises(InvalidLocationError) as info:
        parse_location(location)
    assert isinstance(info.value, M2MError)


# --- requests on the wire -------------------------------------------------------------------------


def test_register_request_exact() -> None:
    m = machine(queue_mode=True, sms_number="4912345678", content_formats=(11544,))
    m.start(0.0)
    request = send(m, 0.0)
    assert request == OutgoingRequest(
        method="POST",
        uri_path=("rd",),
        # Transport bindings §6.4.3 Table 6.4.3-2 order: ep, lt, lwm2m, b, Q, sms
        uri_query=("ep=node-1", "lt=300", "lwm2m=1.2", "b=U", "Q", "sms=4912345678"),
        payload=b'</>;rt="oma.lwm2m";ct=11544,</1>;ver=1.1,</1/0>,</3/0>,</5>',
        content_format=40,
        kind="register",
    )
    assert request.uri == "/rd?ep=node-1&lt=300&lwm2m=1.2&b=U&Q&sms=4912345678"
    assert str(request).startswith("POST /rd?ep=node-1&lt=300")


def test_1_0_style_queue_binding_is_the_q_flag_in_1_2() -> None:
    m = machine(binding="UQ")
    m.start(0.0)
    assert send(m, 0.0).uri_query == ("ep=node-1", "lt=300", "lwm2m=1.2", "b=U", "Q")


# --- lifecycle ------------------------------------------------------------------------------------


def test_full_lifecycle() -> None:
    m = machine()
    assert m.state is S.IDLE
    assert m.poll(0.0) is None
    assert m.next_wakeup(0.0) is None

    m.start(10.0)
    assert m.state is S.REGISTERING
    assert m.next_wakeup(10.0) == 10.0
    register = send(m, 10.0)
    assert register.kind == "register"
    assert m.awaiting_response
    assert m.poll(10.0) is None  # one request at a time
    assert m.next_wakeup(10.0) is None

    assert m.on_response(12.0, "2.01", LOCATION) == [Registered(LOCATION, "1.2")]
    assert m.state is S.REGISTERED
    assert m.location == LOCATION
    assert m.registered_version == "1.2"
    # lifetime 300: 93 s (MAX_TRANSMIT_WAIT) in reserve, counted from the send time
    assert m.expires_at == 310.0
    assert m.next_wakeup(12.0) == 217.0
    assert m.poll(216.9) is None

    update = send(m, 217.0)
    assert update == OutgoingRequest("POST", LOCATION, (), b"", None, "update")
    assert m.state is S.UPDATING
    assert m.on_response(218.0, "2.04") == [Updated()]
    assert m.state is S.REGISTERED
    assert m.next_wakeup(218.0) == 217.0 + 207.0
    assert m.expires_at == 217.0 + 300.0

    assert m.stop(300.0) == []
    assert m.state is S.DEREGISTERING
    deregister = send(m, 300.0)
    assert deregister == OutgoingRequest("DELETE", LOCATION, (), b"", None, "deregister")
    assert m.on_response(301.0, "2.02") == [Deregistered()]
    assert m.state is S.DEREGISTERED
    assert m.location is None
    assert m.poll(10_000.0) is None
    assert m.next_wakeup(10_000.0) is None

    # and it can start over
    m.start(20_000.0)
    assert send(m, 20_000.0).kind == "register"


def test_update_only_changed_parameters() -> None:
    m = machine()
    registered(m)

    m.settings_changed(replace(m.settings, lifetime=600))
    assert m.next_wakeup(5.0) == 5.0  # a change goes out at once
    update = send(m, 5.0)
    assert (update.uri_query, update.payload, update.content_format) == (("lt=600",), b"", None)
    m.on_response(6.0, "2.04")
    assert m.next_wakeup(6.0) == 5.0 + update_delay(600)

    m.settings_changed(replace(m.settings, binding="T"))
    assert send(m, 7.0).uri_query == ("b=T",)
    m.on_response(8.0, "2.04")

    m.settings_changed(replace(m.settings, sms_number="4912345678", queue_mode=True))
    assert send(m, 9.0).uri_query == ("Q", "sms=4912345678")
    m.on_response(10.0, "2.04")

    m.settings_changed(replace(m.settings, lifetime=60, binding="U", sms_number="4900000000"))
    assert send(m, 11.0).uri_query == ("lt=60", "b=U", "sms=4900000000")
    m.on_response(12.0, "2.04")

    # nothing changed: the periodic Update is empty
    assert send(m, 11.0 + update_delay(60)).uri_query == ()


@pytest.mark.parametrize(
    "change",
    [
        {"queue_mode": False},  # Q is a flag; an Update cannot switch it off
        {"sms_number": None},  # nor remove the SMS number
        {"endpoint": "node-2"},  # ep is not an Update parameter
        {"lwm2m_version": "1.1"},
    ],
)
def test_changes_an_update_cannot_carry_register_again(change: dict[str, object]) -> None:
    m = machine(queue_mode=True, sms_number="4912345678")
    registered(m)
    m.settings_changed(replace(m.settings, **change))  # type: ignore[arg-type]
    request = send(m, 5.0)
    assert request.kind == "register"
    assert m.location is None


def test_changing_only_the_fallbacks_does_not_register_again() -> None:
    m = machine()
    registered(m)
    m.settings_changed(replace(m.settings, version_fallback=("1.0",)))
    assert m.poll(5.0) is None


def test_update_payload_only_when_objects_changed() -> None:
    m = machine()
    registered(m)
    periodic = send(m, 207.0)
    assert (periodic.payload, periodic.content_format) == (b"", None)
    m.on_response(208.0, "2.04")

    more = {**OBJECTS, 3303: ("1.1", [0])}
    m.objects_changed(more)
    update = send(m, 209.0)
    assert update.uri_query == ()
    assert update.content_format == 40
    assert update.payload == build_register_links(more, lwm2m_version="1.2")
    m.on_response(210.0, "2.04")

    # same list in another order: same bytes, no payload
    m.objects_changed(dict(reversed(list(more.items()))))
    assert m.poll(211.0) is None
    m.trigger_update(211.0)
    assert send(m, 211.0).payload == b""


def test_update_payload_lost_with_a_failed_update_is_sent_by_the_register() -> None:
    m = machine()
    registered(m)
    more = {**OBJECTS, 3303: ("1.1", [0])}
    m.objects_changed(more)
    send(m, 5.0)
    m.on_failure(100.0, "timeout")
    register = send(m, 100.0)
    assert register.kind == "register"
    assert register.payload == build_register_links(more, lwm2m_version="1.2")


def test_trigger_update_sends_an_empty_update_now() -> None:
    m = machine()
    registered(m)
    assert m.poll(50.0) is None
    m.trigger_update(50.0)
    assert m.next_wakeup(50.0) == 50.0
    update = send(m, 50.0)
    assert (update.kind, update.uri_query, update.payload) == ("update", (), b"")
    # a trigger while the Update is on its way is answered by it
    m.trigger_update(50.5)
    m.on_response(51.0, "2.04")
    assert m.poll(51.0) is None
    assert m.next_wakeup(51.0) == 50.0 + 207.0


def test_trigger_update_ignored_unless_registered() -> None:
    m = machine()
    m.trigger_update(0.0)
    m.start(0.0)
    send(m, 0.0)
    m.trigger_update(0.5)
    m.on_response(1.0, "2.01", LOCATION)
    assert m.poll(1.0) is None


def test_update_404_registers_again_with_full_payload() -> None:
    m = machine()
    first = registered(m)
    send(m, 207.0)
    events = m.on_response(208.0, "4.04")
    assert events == [RegistrationFailed("Update answered 4.04; registering again", 208.0)]
    assert m.state is S.REGISTERING
    assert m.location is None
    again = send(m, 208.0)
    assert again == first
    assert m.on_response(209.0, "2.01", ("rd", "new")) == [Registered(("rd", "new"), "1.2")]
    assert send(m, 208.0 + 207.0).uri_path == ("rd", "new")


def test_update_timeout_registers_again_at_once() -> None:
    m = machine()
    registered(m)
    send(m, 207.0)
    events = m.on_failure(300.0, "timeout")
    assert events == [RegistrationFailed("Update failed: timeout; registering again", 300.0)]
    assert send(m, 300.0).kind == "register"


def test_registration_expired_while_asleep_registers_instead_of_update() -> None:
    m = machine()
    registered(m)
    # the device slept through the update time and the lifetime (PSM longer than lt)
    request = send(m, 5000.0)
    assert request.kind == "register"


def test_network_changed_registers_again() -> None:
    m = machine()
    registered(m)
    m.network_changed()
    assert m.next_wakeup(5.0) == 5.0
    assert send(m, 5.0).kind == "register"


def test_network_changed_while_register_in_flight_registers_once_more() -> None:
    m = machine()
    m.start(0.0)
    send(m, 0.0)
    m.network_changed()
    m.on_response(1.0, "2.01", LOCATION)
    assert send(m, 1.0).kind == "register"


# --- version fallback -----------------------------------------------------------------------------


def test_412_falls_back_to_1_1_then_1_0() -> None:
    m = machine(queue_mode=True, content_formats=(11544, 112))
    m.start(0.0)
    first = send(m, 0.0)
    assert first.uri_query == ("ep=node-1", "lt=300", "lwm2m=1.2", "b=U", "Q")
    assert first.payload.startswith(b'</>;rt="oma.lwm2m";ct="11544 112",')

    assert m.on_response(1.0, "4.12") == [VersionFallback("1.2", "1.1")]
    assert m.next_wakeup(1.0) == 1.0  # immediately, no back-off
    second = send(m, 1.0)
    assert second.uri_query == ("ep=node-1", "lt=300", "lwm2m=1.1", "b=U", "Q")
    # LwM2M CBOR (11544) is 1.2 only: not announced to a 1.1 server
    assert second.payload == b'</>;rt="oma.lwm2m";ct=112,</1>;ver=1.1,</1/0>,</3/0>,</5>'

    assert m.on_response(2.0, "4.12") == [VersionFallback("1.1", "1.0")]
    third = send(m, 2.0)
    # 1.0: queue mode inside the binding, no Q flag, no root link, no ver
    assert third.uri_query == ("ep=node-1", "lt=300", "lwm2m=1.0", "b=UQ")
    assert third.payload == b"</1/0>,</3/0>,</5>"

    assert m.on_response(3.0, "2.01", LOCATION) == [Registered(LOCATION, "1.0")]
    assert m.registered_version == "1.0"
    # later changes are in 1.0 terms too
    m.objects_changed({**OBJECTS, 3303: ("1.1", [0])})
    assert send(m, 4.0).payload == b"</1/0>,</3/0>,</5>,</3303/0>"
    m.on_response(5.0, "2.04")
    # a re-registration stays with the version the server accepted
    m.network_changed()
    assert "lwm2m=1.0" in send(m, 6.0).uri_query


def test_1_0_queue_binding_with_sms() -> None:
    assert settings(binding="US", queue_mode=True).binding_for("1.0") == "UQS"
    assert settings(binding="S", queue_mode=True).binding_for("1.0") == "SQ"
    assert settings(binding="US", queue_mode=True).binding_for("1.1") == "US"


def test_412_on_every_version_is_a_failed_attempt() -> None:
    m = machine()
    m.start(0.0)
    for now, version in ((0.0, "1.2"), (1.0, "1.1"), (2.0, "1.0")):
        assert f"lwm2m={version}" in send(m, now).uri_query
        events = m.on_response(now + 1, "4.12")
    assert events == [
        RegistrationFailed("Register answered 4.12 Precondition Failed to every version (1.2, 1.1, 1.0)", 63.0)
    ]
    assert m.state is S.WAITING_RETRY
    # the next attempt tries the newest version again (the server may have been upgraded)
    assert "lwm2m=1.2" in send(m, 63.0).uri_query


def test_fallbacks_are_only_older_versions() -> None:
    assert settings(lwm2m_version="1.1").versions == ("1.1", "1.0")
    assert settings(lwm2m_version="1.0").versions == ("1.0",)
    assert settings(version_fallback=("1.0", "1.2")).versions == ("1.2", "1.0")
    assert settings(version_fallback=()).versions == ("1.2",)


# --- retries --------------------------------------------------------------------------------------


def fail_register(m: RegistrationMachine, now: float, code: str | None = None) -> list[object]:
    request = send(m, now)
    assert request.kind == "register"
    return list(m.on_failure(now, "timeout") if code is None else m.on_response(now, code))


def test_backoff_schedule_then_give_up() -> None:
    m = machine()  # RetryPolicy(count=5, timer=60, sequence_delay=86400, sequence_count=1)
    m.start(0.0)
    now = 0.0
    retry_times = []
    for _ in range(4):
        (event,) = fail_register(m, now)
        assert isinstance(event, RegistrationFailed)
        assert event.retry_at is not None
        assert m.state is S.WAITING_RETRY
        assert m.next_wakeup(now) == event.retry_at
        assert m.poll(event.retry_at - 0.001) is None
        retry_times.append(event.retry_at - now)
        now = event.retry_at
    # Core §6.2.1.1 / /1/x/18: timer * 2**(n-1) after the n-th failure
    assert retry_times == [60.0, 120.0, 240.0, 480.0]
    # the 5th failed attempt ends the only sequence: failed for good, bootstrap
    events = fail_register(m, now)
    assert events == [
        RegistrationFailed("Register failed: timeout", None),
        BootstrapNeeded("registration failed after 1 sequence(s)"),
    ]
    assert m.state is S.FAILED
    assert m.poll(now + 10**9) is None
    assert m.next_wakeup(now) is None
    # start() begins a fresh procedure
    m.start(now + 1)
    assert send(m, now + 1).kind == "register"


def test_sequence_delay_between_sequences() -> None:
    policy = RetryPolicy(count=2, timer=10, sequence_delay=3600, sequence_count=3)
    m = machine(retry=policy, bootstrap_on_failure=False)
    m.start(0.0)
    now = 0.0
    waits = []
    while True:
        events = fail_register(m, now)
        (event,) = events
        assert isinstance(event, RegistrationFailed)
        if event.retry_at is None:
            break
        waits.append(event.retry_at - now)
        now = event.retry_at
    assert waits == [10.0, 3600.0, 10.0, 3600.0, 10.0]
    assert m.state is S.FAILED  # and no BootstrapNeeded: /1/x/16 is false


def test_success_resets_the_sequence() -> None:
    m = machine(retry=RetryPolicy(count=3, timer=10))
    m.start(0.0)
    (event,) = fail_register(m, 0.0)
    assert event == RegistrationFailed("Register failed: timeout", 10.0)
    send(m, 10.0)
    m.on_response(11.0, "2.01", LOCATION)
    send(m, 10.0 + 207.0)
    m.on_response(300.0, "4.04")  # lost registration: register again, then fail
    (event,) = fail_register(m, 300.0)
    assert event == RegistrationFailed("Register failed: timeout", 310.0)  # first failure again: timer * 1


@pytest.mark.parametrize("code", ["4.00", "4.09", "5.00", "5.03", "2.04"])
def test_rejections_back_off(code: str) -> None:
    m = machine()
    m.start(0.0)
    assert fail_register(m, 0.0, code) == [RegistrationFailed(f"Register answered {code}", 60.0)]


def test_403_asks_for_bootstrap_and_backs_off() -> None:
    m = machine()
    m.start(0.0)
    reason = "Register answered 4.03 Forbidden: this endpoint may not register"
    assert fail_register(m, 0.0, "4.03") == [BootstrapNeeded(reason), RegistrationFailed(reason, 60.0)]


@pytest.mark.parametrize("location", [(), ("rd", "")])
def test_created_without_usable_location_is_a_failure(location: tuple[str, ...]) -> None:
    m = machine()
    m.start(0.0)
    send(m, 0.0)
    (event,) = m.on_response(1.0, "2.01", location)
    assert isinstance(event, RegistrationFailed)
    assert event.retry_at == 61.0
    assert "Location-Path" in event.reason
    assert m.location is None


def test_jitter_is_seeded_and_bounded() -> None:
    policy = RetryPolicy(count=5, timer=60, jitter=0.5)

    def waits(seed: int) -> list[float]:
        m = RegistrationMachine(settings(retry=policy), OBJECTS, rng=random.Random(seed))
        m.start(0.0)
        now, out = 0.0, []
        for _ in range(4):
            (event,) = fail_register(m, now)
            assert isinstance(event, RegistrationFailed) and event.retry_at is not None
            out.append(event.retry_at - now)
            now = event.retry_at
        return out

    assert waits(7) == waits(7)
    assert waits(7) != waits(8)
    for wait, base in zip(waits(7), [60, 120, 240, 480], strict=True):
        assert base <= wait <= base * 1.5


def test_jitter_needs_an_rng() -> None:
    with pytest.raises(ValueValidationError, match="rng"):
        machine(retry=RetryPolicy(jitter=0.1))
    m = machine()
    with pytest.raises(ValueValidationError, match="rng"):
        m.settings_changed(settings(retry=RetryPolicy(jitter=0.1)))


# --- disable and stop -----------------------------------------------------------------------------


def test_disable_deregisters_waits_then_registers() -> None:
    m = machine()
    registered(m)
    assert m.disable(100.0, 3600) == []
    assert m.state is S.DEREGISTERING
    assert send(m, 100.0).kind == "deregister"
    assert m.on_response(101.0, "2.02") == [Disabled(3701.0)]
    assert m.state is S.DISABLED
    assert m.next_wakeup(101.0) == 3701.0
    assert m.poll(3700.9) is None
    m.trigger_update(200.0)  # nothing goes to a disabled server
    assert m.poll(200.0) is None
    request = send(m, 3701.0)
    assert request.kind == "register"
    m.on_response(3702.0, "2.01", LOCATION)
    assert m.state is S.REGISTERED


def test_disable_while_waiting_for_retry_is_immediate() -> None:
    m = machine()
    m.start(0.0)
    fail_register(m, 0.0)
    assert m.disable(10.0, 100) == [Disabled(110.0)]
    assert m.next_wakeup(10.0) == 110.0
    assert send(m, 110.0).kind == "register"


def test_disable_during_update_deregisters_after_it() -> None:
    m = machine()
    registered(m)
    send(m, 207.0)
    assert m.disable(207.5, 60) == []
    assert m.on_response(208.0, "2.04") == []
    assert send(m, 208.0).kind == "deregister"
    assert m.on_failure(300.0, "timeout") == [Disabled(360.0)]


def test_stop_while_registering_deregisters_the_late_registration() -> None:
    m = machine()
    m.start(0.0)
    send(m, 0.0)
    assert m.stop(0.5) == []
    assert m.state is S.REGISTERING
    assert m.on_response(1.0, "2.01", LOCATION) == []  # no Registered: we are leaving
    assert m.state is S.DEREGISTERING
    assert send(m, 1.0) == OutgoingRequest("DELETE", LOCATION, (), b"", None, "deregister")
    assert m.on_response(2.0, "2.02") == [Deregistered()]


def test_stop_while_registering_and_it_fails() -> None:
    m = machine()
    m.start(0.0)
    send(m, 0.0)
    m.stop(0.5)
    assert m.on_failure(90.0, "timeout") == [Deregistered()]
    assert m.state is S.DEREGISTERED
    assert m.poll(1000.0) is None


@pytest.mark.parametrize("state", ["idle", "due", "waiting", "failed", "disabled"])
def test_stop_with_nothing_registered_is_immediate(state: str) -> None:
    m = machine(retry=RetryPolicy(count=1))
    if state != "idle":
        m.start(0.0)
    if state in ("waiting", "failed"):
        m.settings_changed(replace(m.settings, retry=RetryPolicy(count=1 if state == "failed" else 2)))
        fail_register(m, 0.0)
    if state == "disabled":
        m.disable(0.0, 100)
    assert m.stop(1.0) == [Deregistered()]
    assert m.state is S.DEREGISTERED
    assert m.stop(2.0) == []


def test_stop_during_update_and_deregister_failure() -> None:
    m = machine()
    registered(m)
    send(m, 207.0)
    m.stop(207.5)
    assert m.on_failure(300.0, "timeout") == []  # the registration likely exists: try to delete it
    assert send(m, 300.0).kind == "deregister"
    assert m.on_failure(393.0, "timeout") == [Deregistered()]


def test_stop_wins_over_disable() -> None:
    m = machine()
    registered(m)
    m.disable(5.0, 100)
    m.stop(5.0)
    assert m.disable(5.0, 100) == []
    send(m, 5.0)
    assert m.on_response(6.0, "2.02") == [Deregistered()]


def test_disable_timeout_must_be_sane() -> None:
    m = machine()
    with pytest.raises(ValueValidationError):
        m.disable(0.0, -1)


# --- update timing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "delay"),
    [(60, 30.0), (100, 50.0), (186, 93.0), (300, 207.0), (930, 837.0), (1000, 900.0), (86400, 77760.0)],
)
def test_update_delay_numbers(lifetime: int, delay: float) -> None:
    assert update_delay(lifetime) == delay


@given(st.integers(1, 10**8), st.floats(0, 10**4))
def test_update_delay_bounds(lifetime: int, mtw: float) -> None:
    delay = update_delay(lifetime, mtw)
    assert lifetime / 2 <= delay <= lifetime
    assert delay <= lifetime - min(lifetime / 2, mtw)


@given(st.integers(1, 10**7), st.floats(0, 10**6), st.floats(0, 200))
def test_machine_updates_within_lifetime(lifetime: int, sent_at: float, round_trip: float) -> None:
    m = machine(lifetime=lifetime)
    m.start(sent_at)
    send(m, sent_at)
    m.on_response(sent_at + round_trip, "2.01", LOCATION)
    now = sent_at + round_trip
    wake = m.next_wakeup(now)
    assert wake is not None and wake >= now
    expires = sent_at + lifetime
    assert m.expires_at == expires
    assert wake <= max(expires, now + 1.0)
    if round_trip + 1.0 <= lifetime / 2:  # a normal exchange: never before half the lifetime
        assert wake >= sent_at + lifetime / 2
    request = send(m, wake)
    assert request.kind == ("update" if wake < expires else "register")


def test_max_transmit_wait_follows_the_transport() -> None:
    m = machine(lifetime=3600, max_transmit_wait=600.0)  # e.g. SMS with long delivery times
    registered(m)
    assert m.next_wakeup(1.0) == 3000.0
    assert MAX_TRANSMIT_WAIT == 93.0


# --- misuse and settings --------------------------------------------------------------------------


def test_response_without_request_is_a_usage_error() -> None:
    m = machine()
    with pytest.raises(RegistrationUsageError):
        m.on_response(0.0, "2.01", LOCATION)
    m.start(0.0)
    with pytest.raises(RegistrationUsageError):
        m.on_failure(0.0, "timeout")
    send(m, 0.0)
    with pytest.raises(RegistrationUsageError, match="2.01"):
        m.on_response(0.0, "201", LOCATION)


def test_start_while_running_is_a_no_op() -> None:
    m = machine()
    registered(m)
    m.start(5.0)
    assert m.state is S.REGISTERED
    assert m.poll(5.0) is None


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": ""},
        {"lifetime": 0},
        {"lifetime": 1.5},
        {"binding": "X"},
        {"binding": "Q"},
        {"binding": ""},
        {"sms_number": "+4912345678"},
        {"lwm2m_version": "2.0"},
        {"version_fallback": ("0.9",)},
        {"content_formats": (70000,)},
        {"max_transmit_wait": -1.0},
    ],
)
def test_settings_validation(change: dict[str, object]) -> None:
    with pytest.raises(ValueValidationError):
        settings(**change)


@pytest.mark.parametrize(
    "change", [{"count": 0}, {"sequence_count": 0}, {"timer": -1}, {"sequence_delay": float("inf")}, {"jitter": -0.1}]
)
def test_retry_policy_validation(change: dict[str, float]) -> None:
    with pytest.raises(ValueValidationError):
        RetryPolicy(**change)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

CODES = ["2.01", "2.02", "2.04", "4.00", "4.03", "4.04", "4.09", "4.12", "5.03"]

operations = st.one_of(
    st.tuples(st.just("advance"), st.floats(0, 200_000)),
    st.tuples(st.just("wake"), st.none()),
    st.tuples(st.just("poll"), st.none()),
    st.tuples(st.just("respond"), st.tuples(st.sampled_from(CODES), st.sampled_from([LOCATION, ("rd", "b"), ()]))),
    st.tuples(st.just("fail"), st.none()),
    st.tuples(st.just("trigger"), st.none()),
    st.tuples(st.just("objects"), st.lists(st.integers(1, 5), max_size=3)),
    st.tuples(st.just("lifetime"), st.integers(1, 100_000)),
    st.tuples(st.just("queue"), st.booleans()),
    st.tuples(st.just("network"), st.none()),
    st.tuples(st.just("disable"), st.floats(0, 10_000)),
    st.tuples(st.just("stop"), st.none()),
    st.tuples(st.just("start"), st.none()),
)


@given(
    st.lists(operations, max_size=60),
    st.sampled_from(["1.2", "1.1", "1.0"]),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_any_interleaving_keeps_the_invariants(
    ops: list[tuple[str, object]], version: str, count: int, sequences: int
) -> None:
    policy = RetryPolicy(count=count, timer=30, sequence_delay=1000, sequence_count=sequences)
    m = machine(lwm2m_version=version, retry=policy)
    now = 0.0
    outstanding: OutgoingRequest | None = None
    location: tuple[str, ...] | None = None  # what the server told us, as the caller sees it

    def check() -> None:
        wake = m.next_wakeup(now)
        assert wake is None or wake >= now
        if outstanding is not None:
            assert wake is None
            assert m.poll(now) is None  # never a second request while one is outstanding
        if m.state is S.REGISTERED:
            assert wake is not None and m.expires_at is not None
            assert wake <= max(m.expires_at, now)
        if outstanding is None and wake is not None and wake <= now:
            # whatever next_wakeup promises, poll delivers
            assert m.state in (S.REGISTERING, S.WAITING_RETRY, S.DISABLED, S.REGISTERED, S.DEREGISTERING)

    for op, arg in ops:
        if op == "advance":
            assert isinstance(arg, float)
            now += arg
        elif op == "wake":
            wake = m.next_wakeup(now)
            if wake is not None:
                now = wake
        elif op == "poll":
            request = m.poll(now)
            if outstanding is not None:
                assert request is None
            elif request is not None:
                outstanding = request
                if request.kind == "register":
                    location = None
                    assert request.uri_path == ("rd",)
                else:
                    # Update and De-register only to a location a 2.01 gave us
                    assert location is not None
                    assert request.uri_path == location
        elif op == "respond" and outstanding is not None:
            assert isinstance(arg, tuple)
            code, path = arg
            events = m.on_response(now, code, path)
            if outstanding.kind == "register" and code == "2.01" and path:
                location = path
            elif (outstanding.kind == "update" and code != "2.04") or outstanding.kind == "deregister":
                location = None
            if any(isinstance(event, Registered) for event in events):
                assert m.location == location
            outstanding = None
        elif op == "fail" and outstanding is not None:
            m.on_failure(now, "timeout")
            if outstanding.kind == "deregister":
                location = None
            outstanding = None
        elif op == "trigger":
            m.trigger_update(now)
        elif op == "objects":
            assert isinstance(arg, list)
            m.objects_changed({3: ("1.0", [0]), **{3300 + i: ("1.1", [0]) for i in arg}})
        elif op == "lifetime":
            assert isinstance(arg, int)
            m.settings_changed(replace(m.settings, lifetime=arg))
        elif op == "queue":
            assert isinstance(arg, bool)
            m.settings_changed(replace(m.settings, queue_mode=arg))
        elif op == "network":
            m.network_changed()
        elif op == "disable":
            assert isinstance(arg, float)
            for event in m.disable(now, arg):
                assert isinstance(event, Disabled) and event.until >= now
        elif op == "stop":
            m.stop(now)
        elif op == "start":
            m.start(now)
        check()
        if outstanding is None:
            wake = m.next_wakeup(now)
            if wake is not None and wake <= now:
                request = m.poll(now)
                assert request is not None, f"next_wakeup said now but poll sent nothing in {m.state}"
                outstanding = request
                if request.kind == "register":
                    location = None
                else:
                    assert location is not None and request.uri_path == location
                check()
