"""A modem's power key and reset line on Raspberry Pi GPIO pins.

Cellular modules switch on and off by a pulse on their PWRKEY pin, not by a level:
"hold the key down about a second". :class:`PowerKey` times those pulses with an
``await``-ed sleep, so a pulse never blocks the event loop (DESIGN.md rule 4) and a
test can inject its own sleep and a recording pin.

The pins themselves come from gpiozero (the optional ``rpi`` extra:
``pip install 'm2mclient[rpi]'``), imported only when a :class:`PowerKey` is built
from a pin number (DESIGN.md rule 7). Anything with ``on()`` / ``off()`` works too
(:class:`OutputPin`); that is how tests, other boards and remote pin factories plug in.
Off a Pi, or without gpiozero or a pin library, building the key raises
:class:`GpioUnavailableError` saying what is missing.

Pulse lengths are per module and board (:class:`PowerKeyTiming`), taken from the
modem reference (shared/reference/modems-at-commands.md §8.2):

* Waveshare SIM7080G / SIM7070G HAT (:data:`SIM7080G_HAT`, the default): PWRKEY is
  driven from BCM GPIO4 through an NPN transistor, so GPIO high = key pressed
  (``active_high=True``). On: 1 s; off: 2 s (SIMCom asks for at least 1 s and 1.2 s
  [ZERO-IEE]; the Waveshare demo uses 1 s / 2 s [REU-WIRELESS]); then wait 5 s
  before talking AT (the demo and gpiozero scripts, reference §8.3).
* Quectel BG96 module pins (:data:`BG96`): PWRKEY >= 100 ms on (250 ms robust),
  >= 650 ms off, RESET_N >= 150 ms [M-BG96].
* Quectel BG95 module pins (:data:`BG95`): PWRKEY 500-1000 ms on [Z-BG9X].

A module pin wired directly (no transistor) is usually active low: pass
``active_high=False``.

The same pulse toggles the module: a power-on pulse to a running module switches it
*off* (Zephyr's SIM7080 driver checks ``AT`` first for this reason, reference §8.2).
:meth:`PowerKey.power_on` / :meth:`PowerKey.power_off` take an ``is_on`` probe for
that check; this module knows nothing of AT itself (DESIGN.md rule 3).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from m2mclient.errors import M2MError

__all__ = [
    "BG95",
    "BG96",
    "SIM7080G_HAT",
    "TIMINGS",
    "GpioError",
    "GpioUnavailableError",
    "OutputPin",
    "PowerKey",
    "PowerKeyTiming",
    "open_output_pin",
]

INSTALL_HINT = "pip install 'm2mclient[rpi]'"
DEVICE_TREE_MODEL = "/proc/device-tree/model"

Sleep = Callable[[float], Awaitable[object]]
"""An async sleep: ``asyncio.sleep`` by default, a recording fake in tests."""
Probe = Callable[[], Awaitable[bool]]
"""An async "is the module on?" check, e.g. "does it answer ``AT`` with ``OK``?"."""


class GpioError(M2MError):
    """A power key or reset operation cannot be done as asked (no reset pin, no timing for it)."""


class GpioUnavailableError(GpioError):
    """No usable GPIO here: not a Raspberry Pi, gpiozero not installed, or no pin library for it."""


class OutputPin(Protocol):
    """One output line: ``on()`` asserts it (key pressed), ``off()`` releases it.

    gpiozero's ``OutputDevice`` is one (polarity is set when it is built); tests pass
    a recording fake.
    """

    def on(self) -> None:
        """Assert the line."""

    def off(self) -> None:
        """Release the line."""


@dataclass(frozen=True, slots=True)
class PowerKeyTiming:
    """How long to hold a module's keys, in seconds.

    ``power_off_pulse`` or ``reset_pulse`` is ``None`` where the reference gives no
    number; the matching :class:`PowerKey` call then refuses instead of guessing.
    ``boot_wait`` is how long :meth:`PowerKey.power_on` waits after the pulse before
    the module is expected to answer AT.
    """

    name: str
    power_on_pulse: float
    power_off_pulse: float | None
    boot_wait: float = 0.0
    reset_pulse: float | None = None


SIM7080G_HAT = PowerKeyTiming(
    name="Waveshare SIM7080G/SIM7070G HAT (PWRKEY via NPN on GPIO4)",
    power_on_pulse=1.0,  # >= 1 s [ZERO-IEE]; the Waveshare demo holds 1 s [REU-WIRELESS]
    power_off_pulse=2.0,  # >= 1.2 s [ZERO-IEE]; the demo holds 2 s [REU-WIRELESS]
    boot_wait=5.0,  # "wait (1-5 s)" then poll AT [REU-WIRELESS]; reference §8.3 sleeps 5 s
)
BG96 = PowerKeyTiming(
    name="Quectel BG96 (module PWRKEY / RESET_N)",
    power_on_pulse=0.25,  # >= 100 ms, 250 ms robust [M-BG96]
    power_off_pulse=0.75,  # >= 650 ms [M-BG96], plus 100 ms margin
    reset_pulse=0.2,  # RESET_N >= 150 ms [M-BG96], plus 50 ms margin
)
BG95 = PowerKeyTiming(
    name="Quectel BG95 (module PWRKEY)",
    power_on_pulse=0.75,  # 500-1000 ms [Z-BG9X]: the middle of the window
    power_off_pulse=None,  # not in the reference: switch off with AT+QPOWD
)
TIMINGS: dict[str, PowerKeyTiming] = {"sim7080g-hat": SIM7080G_HAT, "bg96": BG96, "bg95": BG95}
"""The timings above by short name (for configuration files and the CLI)."""


def _raspberry_pi_model(model_path: str) -> str | None:
    """The device-tree model string if it names a Raspberry Pi, else ``None``."""
    try:
        model = Path(model_path).read_bytes().rstrip(b"\0").decode("utf-8", "replace").strip()
    except OSError:
        return None
    return model if "Raspberry Pi" in model else None


def open_output_pin(
    pin: int,
    *,
    active_high: bool = True,
    pin_factory: object | None = None,
    model_path: str = DEVICE_TREE_MODEL,
) -> OutputPin:
    """A released gpiozero ``OutputDevice`` on BCM ``pin``, or a :class:`GpioUnavailableError` saying why not.

    Checks, in order: the board is a Raspberry Pi (``/proc/device-tree/model``;
    skipped when ``pin_factory`` is given or ``GPIOZERO_PIN_FACTORY`` is set, e.g. to
    ``mock`` or a remote ``pigpio``), gpiozero imports, and gpiozero finds a pin
    library (lgpio, RPi.GPIO, pigpio or its native one).
    """
    if isinstance(pin, bool) or not isinstance(pin, int) or pin < 0:
        raise GpioError(f"a GPIO pin is a BCM number like 4, got {pin!r}")
    if pin_factory is None and not os.environ.get("GPIOZERO_PIN_FACTORY") and _raspberry_pi_model(model_path) is None:
        raise GpioUnavailableError(
            f"GPIO{pin} is unavailable: this is not a Raspberry Pi ({model_path} does not name one). "
            "Run on a Pi, pass a pin object with on()/off(), or set GPIOZERO_PIN_FACTORY "
            "(e.g. 'mock' to test, 'pigpio' for a remote Pi)"
        )
    try:
        gpiozero: Any = importlib.import_module("gpiozero")
    except ImportError as exc:
        raise GpioUnavailableError(
            f"GPIO{pin} is unavailable: gpiozero is not installed ({exc}); install it with {INSTALL_HINT}"
        ) from exc
    # gpiozero warns once per pin library it cannot load before giving up; keep those
    # reasons for our message instead of printing them.
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always")
        try:
            device: OutputPin = gpiozero.OutputDevice(
                pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )
        except gpiozero.BadPinFactory as exc:
            tried = "; ".join(str(w.message) for w in fallbacks)
            raise GpioUnavailableError(
                f"GPIO{pin} is unavailable: gpiozero found no pin library ({exc}"
                + (f" {tried}" if tried else "")
                + f"); install lgpio with {INSTALL_HINT}"
            ) from exc
        except gpiozero.GPIOZeroError as exc:
            raise GpioUnavailableError(f"GPIO{pin} is unavailable: {exc}") from exc
    return device


class PowerKey:
    """A modem's PWRKEY (and optionally RESET) line, pulsed with an async sleep.

    ``pin`` and ``reset_pin`` are BCM numbers (opened with :func:`open_output_pin`,
    honouring ``active_high`` and ``pin_factory``) or ready :class:`OutputPin`
    objects whose ``on()`` means "pressed". ``timing`` is a :class:`PowerKeyTiming`
    (default :data:`SIM7080G_HAT` on GPIO4) or a name in :data:`TIMINGS`. ``sleep``
    is awaited for every duration, so tests can record them.

    Pulses are serialised (a reset never interleaves with a power pulse), and a key
    is released even when the pulse is cancelled midway: a key left pressed would
    switch the module off again or reset it.
    """

    def __init__(
        self,
        pin: int | OutputPin = 4,
        *,
        timing: PowerKeyTiming | str = SIM7080G_HAT,
        active_high: bool = True,
        reset_pin: int | OutputPin | None = None,
        sleep: Sleep = asyncio.sleep,
        pin_factory: object | None = None,
        model_path: str = DEVICE_TREE_MODEL,
    ):
        if isinstance(timing, str):
            if timing not in TIMINGS:
                raise GpioError(f"unknown power key timing {timing!r}; known: {', '.join(TIMINGS)}")
            timing = TIMINGS[timing]
        self.timing = timing
        self._sleep = sleep
        self._owned: list[OutputPin] = []
        self._lock = asyncio.Lock()
        self._key = self._open(pin, active_high, pin_factory, model_path)
        self._reset = None if reset_pin is None else self._open(reset_pin, active_high, pin_factory, model_path)

    def _open(self, pin: int | OutputPin, active_high: bool, pin_factory: object | None, model_path: str) -> OutputPin:
        if isinstance(pin, bool) or not (
            isinstance(pin, int) or (callable(getattr(pin, "on", None)) and callable(getattr(pin, "off", None)))
        ):
            raise GpioError(f"a pin is a BCM number or an object with on() and off(), got {pin!r}")
        if isinstance(pin, int):
            device = open_output_pin(pin, active_high=active_high, pin_factory=pin_factory, model_path=model_path)
            self._owned.append(device)
            return device
        return pin

    async def _hold(self, line: OutputPin, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise GpioError(f"a pulse lasts a finite number of seconds, got {seconds!r}")
        if seconds <= 0:
            raise GpioError(f"a pulse must last longer than 0 s, got {seconds!r}")
        async with self._lock:
            line.on()
            try:
                await self._sleep(seconds)
            finally:
                line.off()

    async def pulse(self, seconds: float) -> None:
        """Press the power key for ``seconds``, then release it (also if cancelled)."""
        await self._hold(self._key, seconds)

    async def power_on(self, *, is_on: Probe | None = None) -> bool:
        """Switch the module on: the on pulse, then ``boot_wait``. ``False`` if ``is_on`` says it already is.

        Without ``is_on`` the pulse is sent unconditionally, which switches a running
        module off; pass a probe unless you know the module is off.
        """
        if is_on is not None and await is_on():
            return False
        await self.pulse(self.timing.power_on_pulse)
        if self.timing.boot_wait > 0:
            await self._sleep(self.timing.boot_wait)
        return True

    async def power_off(self, *, is_on: Probe | None = None) -> bool:
        """Switch the module off with the off pulse. ``False`` if ``is_on`` says it already is off.

        Prefer the module's AT power-down command when it answers; this is for a
        module that does not.
        """
        off_pulse = self.timing.power_off_pulse
        if off_pulse is None:
            raise GpioError(
                f"no PWRKEY off timing for {self.timing.name}; switch it off with its AT power-down command"
            )
        if is_on is not None and not await is_on():
            return False
        await self.pulse(off_pulse)
        return True

    async def reset(self, seconds: float | None = None) -> None:
        """Pulse the reset line for ``seconds`` (default: the timing's ``reset_pulse``)."""
        if self._reset is None:
            raise GpioError("no reset pin configured: pass reset_pin= to PowerKey to use reset()")
        duration = seconds if seconds is not None else self.timing.reset_pulse
        if duration is None:
            raise GpioError(f"no RESET timing for {self.timing.name}; pass the pulse length: reset(seconds)")
        await self._hold(self._reset, duration)

    def close(self) -> None:
        """Release the GPIO pins this key opened (pins passed in stay the caller's)."""
        for device in self._owned:
            close = getattr(device, "close", None)
            if callable(close):
                close()
        self._owned.clear()

    def __enter__(self) -> PowerKey:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
