"""Where the hardware-in-the-loop scenarios run: a real module, or the pty modem emulator.

With ``M2M_HIL_PORT`` set (``/dev/ttyUSB2``, ``/dev/serial0``) every scenario runs
once on that module, with the driver ``M2M_HIL_MODEL`` names (default ``auto``:
detected). Without it each scenario runs on the emulator in a few dialects, so CI
runs the same code paths. The emulator serves on an event loop in a thread of its
own: the scenarios drive the module with ``asyncio.run`` in the test's thread, over
the pty, exactly as they drive a UART.

The other variables (all optional, hardware only; see README.md):

* ``M2M_HIL_BAUDRATE`` (115200), ``M2M_HIL_PIN`` (SIM PIN), ``M2M_HIL_APN`` (set
  before the socket scenarios), ``M2M_HIL_TRANSCRIPT`` (append every AT line to this file);
* ``M2M_HIL_ECHO=host:port``: a UDP echo peer the module can reach;
* ``M2M_HIL_MSISDN``: a phone number the SMS scenario sends to;
* ``M2M_HIL_LWM2M_SERVER=coap://PUBLIC-IP:PORT``: where the module reaches the
  LwM2M test server these tests start on this computer (``M2M_HIL_LWM2M_BIND``,
  default ``0.0.0.0`` on the URI's port);
* ``M2M_HIL_REGISTRATION_TIMEOUT`` (180 s) and ``M2M_HIL_REPLY_TIMEOUT`` (60 s).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import pytest

from m2mclient.platform.emulator import ModemEmulator
from m2mclient.platform.modems import Modem, open_modem

_T = TypeVar("_T")

#: The dialects every scenario runs on without hardware: one per socket family that
#: differs most (Quectel QI*, SIMCom CA*, Neul NSO* with its lost wake-up character).
EMULATED_MODELS = ("bg96", "sim7080", "bc95")


@dataclass(frozen=True)
class HilSettings:
    """What the environment says about the rig; ``hardware`` False means the emulator."""

    port: str | None
    model: str
    baudrate: int
    pin: str | None
    apn: str | None
    transcript: str | None
    echo: tuple[str, int] | None
    msisdn: str | None
    lwm2m_server: str | None
    lwm2m_bind: str | None
    registration_timeout: float
    reply_timeout: float

    @property
    def hardware(self) -> bool:
        """True when the scenarios drive a real module."""
        return self.port is not None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> HilSettings:
        """Read the ``M2M_HIL_*`` variables (see the module docstring)."""
        env = dict(os.environ if environ is None else environ)
        port = env.get("M2M_HIL_PORT") or None
        hardware = port is not None
        return cls(
            port=port,
            model=(env.get("M2M_HIL_MODEL") or env.get("M2M_HIL_MODEM") or "auto").strip().lower(),
            baudrate=int(env.get("M2M_HIL_BAUDRATE") or 115200),
            pin=env.get("M2M_HIL_PIN") or None,
            apn=env.get("M2M_HIL_APN") or None,
            transcript=env.get("M2M_HIL_TRANSCRIPT") or None,
            echo=_host_port(env["M2M_HIL_ECHO"], "M2M_HIL_ECHO") if env.get("M2M_HIL_ECHO") else None,
            msisdn=env.get("M2M_HIL_MSISDN") or None,
            lwm2m_server=env.get("M2M_HIL_LWM2M_SERVER") or None,
            lwm2m_bind=env.get("M2M_HIL_LWM2M_BIND") or None,
            registration_timeout=float(env.get("M2M_HIL_REGISTRATION_TIMEOUT") or (180 if hardware else 10)),
            reply_timeout=float(env.get("M2M_HIL_REPLY_TIMEOUT") or (60 if hardware else 10)),
        )


def _host_port(text: str, name: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit():
        raise pytest.UsageError(f"{name} is host:port (e.g. 203.0.113.7:7), got {text!r}")
    return host.strip("[]"), int(port)


SETTINGS = HilSettings.from_environment()


class EmulatorThread:
    """A :class:`ModemEmulator` serving from an event loop in a thread of its own.

    The test's ``asyncio.run`` opens :attr:`port_path` like a UART; :meth:`call` and
    :meth:`next_sms` reach the emulator's network side from that other loop.
    """

    def __init__(self, model: str, **options: Any):
        """Describe the module (``ModemEmulator`` keywords); nothing runs until :meth:`start`."""
        self.model = model
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"emulator {model}", daemon=True)
        self._emulator: ModemEmulator | None = None

    def start(self) -> str:
        """Start the loop and the emulator; returns the pty path."""
        self._thread.start()

        async def create() -> ModemEmulator:
            emulator = ModemEmulator(self.model, **self._options)
            await emulator.start()
            return emulator

        self._emulator = asyncio.run_coroutine_threadsafe(create(), self._loop).result(timeout=10)
        return self._emulator.port_path

    @property
    def emulator(self) -> ModemEmulator:
        """The emulator; touch it only through :meth:`call` (it lives on another loop)."""
        if self._emulator is None:
            raise RuntimeError("start() the emulator thread first")
        return self._emulator

    def call(self, action: Callable[[ModemEmulator], _T], timeout: float = 10) -> _T:
        """Run ``action(emulator)`` on the emulator's loop and return its result."""
        result: Future[_T] = Future()

        def run() -> None:
            try:
                result.set_result(action(self.emulator))
            except BaseException as exc:  # handed to the caller's thread
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(timeout)

    async def next_sms(self, timeout: float) -> str:
        """The next PDU (hex) the module submitted to the emulated SMSC."""
        queue = self.emulator.sms_outbox
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(queue.get(), timeout), self._loop)
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        """Stop the emulator (closing its pty and sockets) and the loop."""
        if self._emulator is not None:
            asyncio.run_coroutine_threadsafe(self._emulator.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@dataclass(frozen=True)
class HilTarget:
    """One place the scenarios run: the port, the driver name, and the emulator behind it (if any)."""

    port: str
    model: str
    emulator: EmulatorThread | None
    settings: HilSettings


def _targets() -> list[Any]:
    if SETTINGS.hardware:
        return [pytest.param(SETTINGS.model, id=f"hardware-{SETTINGS.model}")]
    return [pytest.param(model, id=f"emulator-{model}") for model in EMULATED_MODELS]


@pytest.fixture(params=_targets())
def hil_target(request: pytest.FixtureRequest) -> Iterator[HilTarget]:
    """The module of this run: ``M2M_HIL_PORT``, or a fresh emulator per test in each of :data:`EMULATED_MODELS`."""
    model: str = request.param
    if SETTINGS.hardware:
        assert SETTINGS.port is not None
        yield HilTarget(SETTINGS.port, model, None, SETTINGS)
        return
    emulator = EmulatorThread(model)
    port = emulator.start()
    try:
        yield HilTarget(port, model, emulator, SETTINGS)
    finally:
        emulator.stop()


@pytest.fixture
def modem_port(hil_target: HilTarget) -> tuple[str, str]:
    """``(port_path, model)``: the real module's port and ``M2M_HIL_MODEL``, or the emulator's pty and dialect."""
    return hil_target.port, hil_target.model


@pytest.fixture
def modem_emulator(hil_target: HilTarget) -> EmulatorThread | None:
    """The emulator behind :func:`modem_port`, or None on hardware."""
    return hil_target.emulator


@pytest.fixture
def hil_settings() -> HilSettings:
    """The ``M2M_HIL_*`` settings of this run."""
    return SETTINGS


@pytest.fixture
def open_hil_modem(modem_port: tuple[str, str], hil_settings: HilSettings) -> Iterator[Callable[[], Awaitable[Modem]]]:
    """An async factory: open and initialise the module of this run (with the rig's PIN, baud rate, transcript)."""
    port, model = modem_port
    transcripts: list[TextIO] = []

    async def open_() -> Modem:
        transcript = None
        if hil_settings.transcript is not None:
            transcript = open(hil_settings.transcript, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            transcripts.append(transcript)
        return await open_modem(
            port, model, baudrate=hil_settings.baudrate, transcript=transcript, pin=hil_settings.pin
        )

    try:
        yield open_
    finally:
        for transcript in transcripts:
            transcript.close()
