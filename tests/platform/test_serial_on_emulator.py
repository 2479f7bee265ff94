"""The serial port path a device uses, on the emulator's pty: open_serial + AtEngine end to end."""

from __future__ import annotations

import asyncio

from m2mclient.platform.at import AtEngine
from m2mclient.platform.emulator import ModemEmulator
from m2mclient.platform.serialport import open_serial


def test_open_serial_waits_for_bytes_instead_of_mistaking_an_idle_port_for_a_hang_up() -> None:
    async def scenario() -> tuple[str, list[str]]:
        async with ModemEmulator("bg96") as emulator:
            channel = open_serial(emulator.port_path)
            engine = AtEngine(channel)
            await engine.start()
            try:
                await asyncio.sleep(0.05)  # the port sits idle: a VMIN=0 read would return b"" here
                model = await engine.command("AT+CGMM")
                signal = await engine.command("AT+CSQ", prefix="+CSQ")
                return model.lines[0], signal.fields("+CSQ")
            finally:
                await engine.close()

    model, fields = asyncio.run(asyncio.wait_for(scenario(), 15))
    assert model == "BG96"
    assert len(fields) == 2 and all(field.isdigit() for field in fields)
