"""Power key / reset pulses (m2mclient.platform.gpio) with a recording pin and an injected sleep.

What is under test is our pulse logic: which line goes on and off, in which order, held
how long. Timings come from shared/reference/modems-at-commands.md §8.2. The "no GPIO
here" paths run against a fake gpiozero module; a real gpiozero (if installed) is
driven through its mock pin factory.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from m2mclient.errors import M2MError
from m2mclient.platform.gpio import (
    BG95,
    BG96,
    INSTALL_HINT,
    SIM7080G_HAT,
    TIMINGS,
    GpioError,
    GpioUnavailableError,
    PowerKey,
    PowerKeyTiming,
    open_output_pin,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Trace:
    """One timeline shared by the fake pins and the fake sleep."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, ...]] = []

    async def sleep(self, seconds: float) -> None:
        self.steps.append(("sleep", f"{seconds:g}"))
        await asyncio.sleep(0)  # yield, so concurrent pulses would interleave if unserialised


class RecordingPin:
    def __init__(self, name: str, trace: Trace) -> None:
        self.name = name
        self.trace = trace
        self.is_on = False
        self.closed = False

    def on(self) -> None:
        self.is_on = True
        self.trace.steps.append((self.name, "on"))

    def off(self) -> None:
        self.is_on = False
        self.trace.steps.append((self.name, "off"))

    def close(self) -> None:
        self.closed = True


def make_key(timing: PowerKeyTiming | str = SIM7080G_HAT, *, reset: bool = False) -> tuple[PowerKey, Trace]:
    trace = Trace()
    key = PowerKey(
        RecordingPin("key", trace),
        timing=timing,
        reset_pin=RecordingPin("reset", trace) if reset else None,
        sleep=trace.sleep,
    )
    return key, trace


# --- pulse sequences --------------------------------------------------------------------------------


def test_pulse_is_on_hold_off() -> None:
    key, trace = make_key()
    run(key.pulse(0.5))
    assert trace.steps == [("key", "on"), ("sleep", "0.5"), ("key", "off")]


def test_sim7080g_hat_power_on_is_1s_pulse_then_boot_wait() -> None:
    key, trace = make_key()
    assert run(key.power_on()) is True
    # Reference §8.2/§8.3: GPIO4 high 1 s, low, wait 5 s, then poll AT.
    assert trace.steps == [("key", "on"), ("sleep", "1"), ("key", "off"), ("sleep", "5")]


def test_sim7080g_hat_power_off_is_2s_pulse() -> None:
    key, trace = make_key()
    assert run(key.power_off()) is True
    assert trace.steps == [("key", "on"), ("sleep", "2"), ("key", "off")]


def test_sim7080g_hat_timings_meet_simcom_minimums() -> None:
    # [ZERO-IEE]: at least 1 s low to switch on, 1.2 s to switch off.
    assert SIM7080G_HAT.power_on_pulse >= 1.0
    assert SIM7080G_HAT.power_off_pulse is not None and SIM7080G_HAT.power_off_pulse >= 1.2


def test_bg96_timings_and_reset() -> None:
    # [M-BG96]: PWRKEY >= 100 ms on, >= 650 ms off, RESET_N >= 150 ms.
    assert BG96.power_on_pulse >= 0.1
    assert BG96.power_off_pulse is not None and BG96.power_off_pulse >= 0.65
    assert BG96.reset_pulse is not None and BG96.reset_pulse >= 0.15
    key, trace = make_key("bg96", reset=True)
    run(key.power_on())
    run(key.power_off())
    run(key.reset())
    assert trace.steps == [
        ("key", "on"), ("sleep", "0.25"), ("key", "off"),
        ("key", "on"), ("sleep", "0.75"), ("key", "off"),
        ("reset", "on"), ("sleep", "0.2"), ("reset", "off"),
    ]  # fmt: skip


def test_bg95_on_pulse_inside_its_window_and_no_guessed_off_pulse() -> None:
    assert 0.5 <= BG95.power_on_pulse <= 1.0  # [Z-BG9X]: 500-1000 ms
    key, trace = make_key(BG95)
    with pytest.raises(GpioError, match="AT power-down"):
        run(key.power_off())
    assert trace.steps == []


def test_probe_skips_the_toggle_when_already_in_that_state() -> None:
    async def on() -> bool:
        return True

    async def off() -> bool:
        return False

    key, trace = make_key()
    assert run(key.power_on(is_on=on)) is False
    assert run(key.power_off(is_on=off)) is False
    assert trace.steps == []
    assert run(key.power_on(is_on=off)) is True
    assert run(key.power_off(is_on=on)) is True
    assert trace.steps == [
        ("key", "on"), ("sleep", "1"), ("key", "off"), ("sleep", "5"),
        ("key", "on"), ("sleep", "2"), ("key", "off"),
    ]  # fmt: skip


def test_reset_needs_a_reset_pin_and_a_length() -> None:
    key, _ = make_key()
    with pytest.raises(GpioError, match="reset_pin"):
        run(key.reset())
    key, trace = make_key(SIM7080G_HAT, reset=True)  # the HAT profile has no RESET timing
    with pytest.raises(GpioError, match="RESET timing"):
        run(key.reset())
    run(key.reset(0.3))
    assert trace.steps == [("reset", "on"), ("sleep", "0.3"), ("reset", "off")]


def test_key_is_released_when_the_pulse_is_cancelled() -> None:
    trace = Trace()
    pin = RecordingPin("key", trace)

    async def never(seconds: float) -> None:
        await asyncio.Event().wait()

    key = PowerKey(pin, sleep=never)

    async def main() -> None:
        task = asyncio.create_task(key.power_on())
        await asyncio.sleep(0)
        assert pin.is_on
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert not pin.is_on
    assert trace.steps == [("key", "on"), ("key", "off")]


def test_key_is_released_when_the_sleep_fails() -> None:
    trace = Trace()
    pin = RecordingPin("key", trace)

    async def broken(seconds: float) -> None:
        raise RuntimeError("clock gone")

    with pytest.raises(RuntimeError):
        run(PowerKey(pin, sleep=broken).pulse(1))
    assert trace.steps == [("key", "on"), ("key", "off")]


def test_concurrent_pulses_do_not_interleave() -> None:
    key, trace = make_key(BG96, reset=True)

    async def main() -> None:
        await asyncio.gather(key.pulse(1), key.reset(), key.pulse(2))

    run(main())
    assert trace.steps == [
        ("key", "on"), ("sleep", "1"), ("key", "off"),
        ("reset", "on"), ("sleep", "0.2"), ("reset", "off"),
        ("key", "on"), ("sleep", "2"), ("key", "off"),
    ]  # fmt: skip


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "1"])
def test_bad_pulse_lengths(bad: object) -> None:
    key, trace = make_key()
    with pytest.raises(GpioError):
        run(key.pulse(bad))  # type: ignore[arg-type]
    assert trace.steps == []


def test_bad_configuration() -> None:
    with pytest.raises(GpioError, match="unknown power key timing"):
        PowerKey(RecordingPin("key", Trace()), timing="sim800")
    with pytest.raises(GpioError, match=r"on\(\) and off\(\)"):
        PowerKey(object())  # type: ignore[arg-type]
    with pytest.raises(GpioError, match="BCM"):
        PowerKey(True)
    assert set(TIMINGS) == {"sim7080g-hat", "bg96", "bg95"}


def test_injected_pins_are_not_closed_by_us() -> None:
    trace = Trace()
    pin = RecordingPin("key", trace)
    with PowerKey(pin, sleep=trace.sleep):
        pass
    assert not pin.closed


# --- not a Pi / no gpiozero / no pin library --------------------------------------------------------


@pytest.fixture
def no_factory_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)


@pytest.fixture
def pi_model(tmp_path: Path) -> str:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    return str(model)


def test_not_a_pi(tmp_path: Path, no_factory_env: None) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Generic x86 PC\0")
    for path in (str(model), str(tmp_path / "missing")):
        with pytest.raises(GpioUnavailableError, match="not a Raspberry Pi") as info:
            PowerKey(4, model_path=path)
        assert "GPIOZERO_PIN_FACTORY" in str(info.value)
        assert isinstance(info.value, M2MError)


def fake_gpiozero(behaviour: str, calls: list[dict[str, Any]]) -> types.ModuleType:
    """A stand-in for gpiozero with its real exception shapes (BadPinFactory is also an ImportError)."""
    module = types.ModuleType("gpiozero")

    class GPIOZeroError(Exception):
        pass

    class BadPinFactoryError(GPIOZeroError, ImportError):
        pass

    class GPIOPinInUseError(GPIOZeroError):
        pass

    class PinFactoryFallback(RuntimeWarning):
        pass

    class OutputDevice:
        def __init__(self, pin: int, *, active_high: bool, initial_value: bool, pin_factory: object) -> None:
            calls.append(
                {"pin": pin, "active_high": active_high, "initial_value": initial_value, "pin_factory": pin_factory}
            )
            if behaviour == "no-factory":
                warnings.warn("Falling back from lgpio: No module named 'lgpio'", PinFactoryFallback, stacklevel=1)
                raise BadPinFactoryError("Unable to load any default pin factory!")
            if behaviour == "in-use":
                raise GPIOPinInUseError(f"pin GPIO{pin} is already in use")
            self.closed = False
            self.states: list[str] = []

        def on(self) -> None:
            self.states.append("on")

        def off(self) -> None:
            self.states.append("off")

        def close(self) -> None:
            self.closed = True

    module.GPIOZeroError = GPIOZeroError  # type: ignore[attr-defined]
    module.BadPinFactory = BadPinFactoryError  # type: ignore[attr-defined]
    module.OutputDevice = OutputDevice  # type: ignore[attr-defined]
    return module


def test_gpiozero_not_installed(monkeypatch: pytest.MonkeyPatch, pi_model: str, no_factory_env: None) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)  # import gpiozero -> ImportError
    with pytest.raises(GpioUnavailableError, match="gpiozero is not installed") as info:
        PowerKey(4, model_path=pi_model)
    assert INSTALL_HINT in str(info.value) and "pip install 'm2mclient[rpi]'" in str(info.value)


def test_no_pin_library(monkeypatch: pytest.MonkeyPatch, pi_model: str, no_factory_env: None) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", fake_gpiozero("no-factory", []))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our code must not leak gpiozero's fallback warnings
        with pytest.raises(GpioUnavailableError, match="no pin library") as info:
            PowerKey(4, model_path=pi_model)
    message = str(info.value)
    assert "No module named 'lgpio'" in message and INSTALL_HINT in message


def test_pin_in_use(monkeypatch: pytest.MonkeyPatch, pi_model: str, no_factory_env: None) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", fake_gpiozero("in-use", []))
    with pytest.raises(GpioUnavailableError, match="already in use"):
        open_output_pin(4, model_path=pi_model)


def test_opens_released_gpiozero_devices_and_closes_them(
    monkeypatch: pytest.MonkeyPatch, pi_model: str, no_factory_env: None
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "gpiozero", fake_gpiozero("ok", calls))
    trace = Trace()
    key = PowerKey(4, timing="bg96", reset_pin=17, active_high=False, sleep=trace.sleep, model_path=pi_model)
    assert calls == [
        {"pin": 4, "active_high": False, "initial_value": False, "pin_factory": None},
        {"pin": 17, "active_high": False, "initial_value": False, "pin_factory": None},
    ]
    run(key.pulse(0.1))
    devices = key._owned
    assert devices[0].states == ["on", "off"]  # type: ignore[attr-defined]
    key.close()
    assert all(device.closed for device in devices)  # type: ignore[attr-defined]


def test_explicit_factory_or_env_skips_the_pi_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_factory_env: None
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "gpiozero", fake_gpiozero("ok", calls))
    not_a_pi = str(tmp_path / "missing")
    factory = object()
    open_output_pin(4, pin_factory=factory, model_path=not_a_pi)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    open_output_pin(5, model_path=not_a_pi)
    assert [(c["pin"], c["pin_factory"]) for c in calls] == [(4, factory), (5, None)]


def test_importing_gpio_does_not_import_gpiozero() -> None:
    code = "import sys, m2mclient.platform.gpio; print('gpiozero' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_with_real_gpiozero_mock_factory() -> None:
    gpiozero = pytest.importorskip("gpiozero", reason="gpiozero not installed (pip install 'm2mclient[rpi]')")
    mock = pytest.importorskip("gpiozero.pins.mock")

    factory = mock.MockFactory()
    levels: list[bool] = []

    trace = Trace()

    async def sleep(seconds: float) -> None:
        levels.append(bool(factory.pin(4).state))
        await trace.sleep(seconds)

    # A module PWRKEY wired directly is active low: pressed = level low.
    key = PowerKey(4, timing="bg96", active_high=False, sleep=sleep, pin_factory=factory)
    assert factory.pin(4).state == 1  # released at start
    run(key.power_on())
    assert levels == [False]  # low while held
    assert factory.pin(4).state == 1
    key.close()
    assert isinstance(gpiozero.OutputDevice, type)
