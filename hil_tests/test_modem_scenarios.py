"""The same scenarios on a real module (``M2M_HIL_PORT``) or on the pty emulator (default, CI).

Each test opens the module through the SDK's own path (serial port, AT engine,
driver, ``init``) and checks what an engineer checks first on a new board: the
module and SIM identify themselves, it registers, the signal makes sense, the
network answers a PSM request, a datagram goes out through the module's socket and
comes back, an SMS leaves, and an LwM2M client registers over the module.

On hardware a step that needs something from the outside world (an echo peer, a
phone number, a reachable LwM2M server) is skipped with the variable that enables
it; ``-ra`` (setup.cfg) lists every skip reason at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import pytest

from m2mclient.lwm2m.client import LwM2MClient
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.objects.device import DeviceObject
from m2mclient.platform.modem_links import ModemUdpLink
from m2mclient.platform.modems import Modem, Registration
from m2mclient.platform.modems.generic import ModemCapabilityError
from m2mclient.platform.power import PsmGrant, Rat
from m2mclient.platform.sms_pdu import decode_submit, encode_submit
from m2mclient.testing import LwM2MTestServer

if TYPE_CHECKING:  # fixtures' types; pytest, not this module, imports conftest
    from conftest import EmulatorThread, HilSettings

_T = TypeVar("_T")
OpenModem = Callable[[], Awaitable[Modem]]


def run(scenario: Callable[[], Coroutine[Any, Any, _T]], settings: HilSettings) -> _T:
    """Run one scenario with an overall bound: nothing here may hang a CI job or a bench."""
    limit = 60.0 if not settings.hardware else settings.registration_timeout + 4 * settings.reply_timeout
    return asyncio.run(asyncio.wait_for(scenario(), limit))


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) IMEIs carry in their last digit (3GPP TS 23.003 §6.2.1)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


#: ITU-T E.118: "89" (telecom) + country + issuer + account, 18-20 digits with the check
#: digit; modules print it with F padding or drop the check digit, so 18-22 characters.
ICCID = re.compile(r"89[0-9]{16,19}[0-9Ff]?")


async def registered(modem: Modem, settings: HilSettings) -> Registration:
    """Wait (bounded) until the module is registered for packet data."""
    return await modem.wait_registered(timeout=settings.registration_timeout)


async def ready_for_data(modem: Modem, settings: HilSettings) -> None:
    """Registered, with the rig's APN (hardware) and the PDP context attached."""
    if settings.hardware and settings.apn is not None:
        await modem.set_apn(settings.apn)
    await registered(modem, settings)
    if settings.hardware and not await modem.attached():
        await modem.attach()


def test_init_and_identity(open_hil_modem: OpenModem, modem_port: tuple[str, str], hil_settings: HilSettings) -> None:
    async def scenario() -> None:
        async with await open_hil_modem() as modem:
            identity = await modem.identity()
            assert identity.manufacturer and identity.model and identity.firmware
            assert re.fullmatch(r"\d{15}", identity.imei), f"an IMEI is 15 digits: {identity.imei!r}"
            assert luhn_valid(identity.imei), f"IMEI {identity.imei} fails its Luhn check digit"
            assert identity.iccid is not None, "no ICCID: is a SIM inserted?"
            assert ICCID.fullmatch(identity.iccid), f"implausible ICCID {identity.iccid!r}"
            assert identity.imsi is not None and re.fullmatch(r"\d{14,15}", identity.imsi), identity.imsi
            if not hil_settings.hardware:
                assert modem.profile.name == modem_port[1]
                assert modem.cereg_mode == 4  # the grant of the PSM scenario depends on it

    run(scenario, hil_settings)


def test_registration_is_reached(open_hil_modem: OpenModem, hil_settings: HilSettings) -> None:
    async def scenario() -> None:
        async with await open_hil_modem() as modem:
            registration = await registered(modem, hil_settings)
            assert registration.registered
            assert registration.rat in (Rat.LTE_M, Rat.NB_IOT) or hil_settings.hardware
            operator = await modem.operator()
            assert operator.name, f"registered, but +COPS names no operator: {operator}"

    run(scenario, hil_settings)


def test_signal_is_in_a_plausible_dbm_range(open_hil_modem: OpenModem, hil_settings: HilSettings) -> None:
    async def scenario() -> None:
        async with await open_hil_modem() as modem:
            await registered(modem, hil_settings)
            quality = await modem.signal()
            # TS 27.007 §8.5: +CSQ spans -113..-51 dBm; 99 (None) would mean "not known" while registered.
            assert quality.rssi_dbm is not None and -113 <= quality.rssi_dbm <= -51, quality
            if quality.rsrp_dbm is not None:  # TS 36.133 RSRP report range
                assert -140 <= quality.rsrp_dbm <= -44, quality
            if quality.rsrq_db is not None:
                assert -19.5 <= quality.rsrq_db <= -3, quality
            if not hil_settings.hardware:
                assert (quality.rssi_dbm, quality.rsrp_dbm, quality.rsrq_db) == (-73, -95, -10.0)

    run(scenario, hil_settings)


def test_psm_request_is_answered_with_parsed_timers(open_hil_modem: OpenModem, hil_settings: HilSettings) -> None:
    async def scenario() -> PsmGrant | None:
        async with await open_hil_modem() as modem:
            await registered(modem, hil_settings)
            answered: asyncio.Queue[Registration] = asyncio.Queue()
            unsubscribe = modem.subscribe_registration(answered.put_nowait)
            try:
                request = await modem.set_psm(tau="1h", active_time="20s")
                assert request.tau is not None and (request.tau.seconds, request.tau.exact) == (3600, True)
                assert request.active_time is not None and request.active_time.seconds == 20
                # The network answers in the next attach / TAU accept; many modules start one at once.
                grant = await modem.granted_psm()
                if grant is None:
                    with contextlib.suppress(asyncio.TimeoutError):  # no answer: no grant
                        report = await asyncio.wait_for(answered.get(), hil_settings.reply_timeout)
                        grant = report.psm
                if grant is not None:
                    for bits in (grant.active_time_bits, grant.tau_bits):
                        assert bits is None or re.fullmatch(r"[01]{8}", bits), grant
                    assert grant.active_time_s is None or 0 <= grant.active_time_s <= 31 * 6 * 60, grant
                    assert grant.tau_s is None or 0 < grant.tau_s <= 31 * 320 * 3600, grant
                return grant
            finally:
                unsubscribe()
                # Leave the module awake for the next scenario (and the bench).
                await modem.disable_psm()

    grant = run(scenario, hil_settings)
    if not hil_settings.hardware:
        assert grant is not None and (grant.active_time_s, grant.tau_s) == (20, 3600)
        assert grant.psm
    elif grant is None:
        pytest.skip("the network granted no PSM within M2M_HIL_REPLY_TIMEOUT (the request was accepted)")


class _Echo(asyncio.DatagramProtocol):
    """A UDP echo peer on loopback, standing in for the server a module reports to."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


def _resolve(host: str, port: int) -> str:
    """An IP address for ``host``: the modules' send commands take no names."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    answers.sort(key=lambda answer: answer[0] != socket.AF_INET)
    return str(answers[0][4][0])


def test_udp_datagram_round_trip_through_the_modules_socket(
    open_hil_modem: OpenModem, hil_settings: HilSettings
) -> None:
    if hil_settings.hardware and hil_settings.echo is None:
        pytest.skip("UDP round trip NOT TESTED on hardware: set M2M_HIL_ECHO=host:port (a UDP echo peer)")
    # Bytes a text-mode path would mangle: NUL, CR LF, a Ctrl-Z, high bit.
    payload = b"m2mclient hil \x00\r\n\x1a\xff" + os.urandom(8)

    async def scenario() -> None:
        echo: asyncio.DatagramTransport | None = None
        if hil_settings.echo is None:
            loop = asyncio.get_running_loop()
            echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
            peer = echo.get_extra_info("sockname")[:2]
        else:
            host, port = hil_settings.echo
            peer = (_resolve(host, port), port)
        try:
            async with await open_hil_modem() as modem:
                await ready_for_data(modem, hil_settings)
                handle = await modem.open_udp()
                try:
                    await modem.send_to(handle, peer[0], peer[1], payload)
                    reply = await asyncio.wait_for(modem.receive_from(handle), hil_settings.reply_timeout)
                finally:
                    await modem.close_socket(handle)
                assert reply.data == payload
                assert (reply.host, reply.port) == tuple(peer)
        finally:
            if echo is not None:
                echo.close()

    run(scenario, hil_settings)


def test_sms_is_submitted(
    open_hil_modem: OpenModem, modem_emulator: EmulatorThread | None, hil_settings: HilSettings
) -> None:
    if hil_settings.hardware and hil_settings.msisdn is None:
        pytest.skip("SMS NOT TESTED on hardware: set M2M_HIL_MSISDN=+49... (a phone that may receive it)")
    destination = hil_settings.msisdn or "+4915100000001"
    payload = b"\x40\x01\x00\x01m2mclient hil"

    async def scenario() -> list[int] | None:
        async with await open_hil_modem() as modem:
            if not modem.profile.capabilities.sms:
                # A module without SMS (the BC95 family) must say so, not pretend to send.
                with pytest.raises(ModemCapabilityError, match="SMS"):
                    await modem.send_sms(encode_submit(destination, payload, encoding="8bit", reference=0))
                return None
            await registered(modem, hil_settings)
            parts = encode_submit(destination, payload, encoding="8bit", message_class=1, reference=0)
            references = await modem.send_sms(parts)
            if modem_emulator is not None:
                sent = decode_submit(await modem_emulator.next_sms(hil_settings.reply_timeout))
                assert (str(sent.destination), sent.user_data) == (destination, payload)
            return references

    references = run(scenario, hil_settings)
    assert references is None or (len(references) == 1 and 0 <= references[0] <= 255)


def _lwm2m_endpoints(settings: HilSettings) -> tuple[str, int, str] | None:
    """(bind host, bind port, URI the module sends to) on hardware; None on the emulator (loopback)."""
    if settings.lwm2m_server is None:
        return None
    uri = urlsplit(settings.lwm2m_server)
    if uri.scheme != "coap" or uri.hostname is None:
        raise pytest.UsageError(f"M2M_HIL_LWM2M_SERVER is coap://HOST:PORT, got {settings.lwm2m_server!r}")
    port = uri.port or 5683
    bind_host, bind_port = "0.0.0.0", port
    if settings.lwm2m_bind:
        host, _, text = settings.lwm2m_bind.rpartition(":")
        bind_host, bind_port = (host or "0.0.0.0"), int(text)
    return bind_host, bind_port, f"coap://{_resolve(uri.hostname, port)}:{port}"


def test_lwm2m_registration_over_the_modules_udp_socket(open_hil_modem: OpenModem, hil_settings: HilSettings) -> None:
    if hil_settings.hardware and hil_settings.lwm2m_server is None:
        pytest.skip(
            "LwM2M over the module NOT TESTED on hardware: set M2M_HIL_LWM2M_SERVER=coap://PUBLIC-IP:PORT "
            "(forwarded to this computer, where the test server listens)"
        )
    endpoints = _lwm2m_endpoints(hil_settings)
    timeout = hil_settings.reply_timeout

    async def scenario() -> None:
        host, port = ("127.0.0.1", 0) if endpoints is None else endpoints[:2]
        async with LwM2MTestServer(host, port) as server, await open_hil_modem() as modem:
            await ready_for_data(modem, hil_settings)
            imei = (await modem.identity()).imei
            name = f"m2mclient-hil-{imei}"
            device = DeviceObject(manufacturer="m2mclient", model_number="hil", serial_number=imei, probe=False)
            link = await ModemUdpLink.open(modem)
            uri = server.uri if endpoints is None else endpoints[2]
            try:
                async with LwM2MClient(name, [device], server_uri=uri, link=link):
                    registration = await server.wait_registration(name, timeout=timeout)
                    assert registration.version == "1.2"
                    answer = await server.read(name, "/3/0/2", "text", timeout=timeout)
                    assert answer.values is not None and answer.values[Path.parse("/3/0/2")] == imei
                await server.wait_deregistration(name, timeout=timeout)
            finally:
                await link.close()

    run(scenario, hil_settings)
