"""Which module is on the port, and opening it with the right driver.

:func:`detect_model` asks the module who it is (``ATI``, then ``AT+CGMM``, then
``AT+CGMI``) and matches the answers against every registered driver's
:attr:`~m2mclient.platform.modems.generic.ModemProfile.detect` patterns: the
drivers are data in :data:`~m2mclient.platform.modems.generic.MODEM_CLASSES`, each
module file registers its own class, so there is no list of models here and no
``if model ==`` ladder (DESIGN.md rule 3)::

    modem = await open_modem("/dev/ttyUSB2")                    # detect, init
    modem = await open_modem("/dev/serial0", "sim7080", baudrate=115200, transcript=sys.stderr)
"""

from __future__ import annotations

import logging
from typing import TextIO

from m2mclient.platform.at import AtCommandError, AtEngine

# The module files register their drivers on import.
from m2mclient.platform.modems import bc95, bg96, sara_r4, sim7020, sim7080  # noqa: F401
from m2mclient.platform.modems.generic import MODEM_CLASSES, Hook, Modem, sync_at
from m2mclient.platform.serialport import DEFAULT_BAUDRATE, SerialChannel, open_serial

__all__ = ["available_models", "detect_model", "open_modem"]

logger = logging.getLogger(__name__)

#: Identification commands, most telling first (ATI names the model on every module here, ref §2.2).
_PROBES = ("ATI", "AT+CGMM", "AT+CGMI")
#: What :func:`detect_model` answers when no driver recognises the module.
GENERIC = "generic"


def available_models() -> list[str]:
    """The names :func:`open_modem` accepts (aliases included), plus ``"auto"``."""
    return ["auto", *sorted(MODEM_CLASSES)]


async def detect_model(at: AtEngine) -> str:
    """The registered driver name for the module behind ``at`` (``"generic"`` when none matches).

    The module must already answer AT (see :func:`~m2mclient.platform.modems.generic.sync_at`);
    a command it refuses is skipped.
    """
    seen: list[str] = []
    for probe in _PROBES:
        try:
            response = await at.command(probe)
        except AtCommandError:
            continue
        seen.extend(response.lines)
        text = "\n".join(seen)
        for name, cls in MODEM_CLASSES.items():
            if name == cls.profile.name and cls.profile.matches(text):
                return name
    logger.warning(
        "no driver recognises this module (%s); using the generic 27.007 driver without sockets",
        " | ".join(seen) or "no identification",
    )
    return GENERIC


class _Borrowed:
    """A channel lent to a probing engine: closing the engine leaves the port open for the real one."""

    def __init__(self, channel: SerialChannel):
        self._channel = channel

    async def read(self) -> bytes:
        return await self._channel.read()

    async def write(self, data: bytes) -> None:
        await self._channel.write(data)

    def close(self) -> None:
        """Keep the port open."""


async def open_modem(
    port: str,
    model: str = "auto",
    *,
    baudrate: int = DEFAULT_BAUDRATE,
    transcript: TextIO | logging.Logger | None = None,
    rtscts: bool = False,
    pin: str | None = None,
    init: bool = True,
    on_sleep: Hook | None = None,
    on_wake: Hook | None = None,
) -> Modem:
    """Open the serial ``port``, pick the driver (``model="auto"`` detects it) and :meth:`~Modem.init` it.

    ``model`` is a name from :func:`available_models` (``"bg96"``, ``"sim7080"``, ...).
    ``transcript`` records every AT line (a text file such as ``sys.stderr``, or a
    logger). ``pin`` unlocks the SIM; ``on_sleep`` / ``on_wake`` drive the module's
    DTR / wake pins. The returned driver owns the port: ``await modem.close()``.
    """
    key = model.strip().lower()
    if key != "auto" and key not in MODEM_CLASSES:
        raise ValueError(f"unknown modem model {model!r}; choose one of {', '.join(available_models())}")
    channel = open_serial(port, baudrate, rtscts=rtscts)
    at: AtEngine | None = None
    try:
        if key == "auto":
            # A probing engine first: the real one is built with the chosen module's CME codes.
            probe = AtEngine(_Borrowed(channel), transcript=transcript)
            try:
                await sync_at(probe)
                key = await detect_model(probe)
            finally:
                await probe.close()
        cls = MODEM_CLASSES[key]
        at = AtEngine(
            channel,
            transcript=transcript,
            default_timeout=cls.profile.timeouts.command,
            cme_meanings=cls.profile.cme_meanings,
        )
        modem = cls(at, owns_engine=True, on_sleep=on_sleep, on_wake=on_wake)
        if init:
            await modem.init(pin=pin)
    except BaseException:
        if at is not None:
            await at.close()
        channel.close()
        raise
    return modem
