"""The AT engine and serial channels, driven over a real pseudo-terminal.

The engine holds the device end of an ``os.openpty()`` pair through a
:class:`SerialChannel`, exactly as it holds ``/dev/ttyUSB2``; the test plays the
module on the other end by writing scripted bytes and reading what the engine
wrote. Nothing waits on sleeps: the test waits for the engine's command line to
arrive, and, where the chunking matters, for the engine's reader to have taken a
given number of bytes (:class:`CountingChannel`), so split reads really are split.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m2mclient.errors import M2MError
from m2mclient.platform.at import (
    CTRL_Z,
    ESC,
    AtChannelClosedError,
    AtCommandError,
    AtEngine,
    AtError,
    AtProtocolError,
    AtResponse,
    AtTimeoutError,
    RawPayload,
    Urc,
    _Framer,
    parse_fields,
    unquote,
)
from m2mclient.platform.serialport import (
    PtyChannel,
    SerialChannel,
    SerialClosedError,
    SerialError,
    open_serial,
)

T = TypeVar("T")
DEADLINE = 10.0  # a hung scenario fails instead of hanging the suite


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(scenario, DEADLINE))


# --------------------------------------------------------------------------- the test's two ends


class Modem:
    """The module's end of the pty: the test writes what a module would send, and reads what it got."""

    def __init__(self, fd: int):
        self.fd = fd
        self.received = bytearray()
        self._arrived = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)
        self.closed = False

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self.fd)
        self.received += data
        self._arrived.set()

    async def receive_until(self, terminator: bytes = b"\r") -> bytes:
        """Everything the engine wrote up to and including ``terminator`` (one command line)."""
        while terminator not in self.received:
            self._arrived.clear()
            await self._arrived.wait()
        end = self.received.index(terminator) + len(terminator)
        line = bytes(self.received[:end])
        del self.received[:end]
        return line

    async def receive_exactly(self, count: int) -> bytes:
        while len(self.received) < count:
            self._arrived.clear()
            await self._arrived.wait()
        data = bytes(self.received[:count])
        del self.received[:count]
        return data

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self.fd)
            os.close(self.fd)


class CountingChannel:
    """The engine's channel, counting the bytes its reader took, so a test can wait for them."""

    def __init__(self, inner: SerialChannel):
        self.inner = inner
        self.chunks: list[bytes] = []
        self.consumed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def read(self) -> bytes:
        data = await self.inner.read()
        self.chunks.append(data)
        self.consumed += len(data)
        # The engine handles these bytes before it reads again, and a woken test runs
        # only after that, so "consumed" also means "processed".
        for target, waiter in self._waiters:
            if self.consumed >= target and not waiter.done():
                waiter.set_result(None)
        return data

    async def write(self, data: bytes) -> None:
        await self.inner.write(data)

    def close(self) -> None:
        self.inner.close()

    async def wait_consumed(self, total: int) -> None:
        if self.consumed >= total:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((total, waiter))
        await waiter


class Rig:
    """A modem and an engine on the two ends of one pty."""

    def __init__(self, modem: Modem, at: AtEngine, channel: CountingChannel):
        self.modem = modem
        self.at = at
        self.channel = channel
        self.sent = 0

    def send(self, data: bytes) -> None:
        self.sent += len(data)
        self.modem.send(data)

    async def send_and_settle(self, data: bytes) -> None:
        """Send ``data`` and wait until the engine has processed all of it."""
        self.send(data)
        await self.channel.wait_consumed(self.sent)

    async def send_bytewise(self, data: bytes) -> None:
        """Send ``data`` one byte per read of the engine."""
        for byte in data:
            await self.send_and_settle(bytes([byte]))

    async def answer(self, expected: bytes, reply: bytes) -> None:
        """Wait for the engine to send ``expected`` (a command line), then reply."""
        assert await self.modem.receive_until() == expected
        self.send(reply)


@contextlib.asynccontextmanager
async def rig(**options: Any) -> AsyncIterator[Rig]:
    master, device = os.openpty()
    channel = CountingChannel(SerialChannel.from_fd(device, name="test pty"))
    modem = Modem(master)
    at = AtEngine(channel, **options)
    await at.start()
    try:
        yield Rig(modem, at, channel)
    finally:
        await at.close()
        modem.close()


class Collector:
    """A URC subscriber that records what it got."""

    def __init__(self) -> None:
        self.urcs: list[Urc] = []

    def __call__(self, urc: Urc) -> None:
        self.urcs.append(urc)

    @property
    def lines(self) -> list[str]:
        return [u.line for u in self.urcs]


# --------------------------------------------------------------------------- plain commands


def test_command_returns_information_lines_and_fields() -> None:
    async def scenario() -> AtResponse:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            await r.answer(b"AT+CSQ\r", b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n")
            return await task

    response = run(scenario())
    assert response == AtResponse("AT+CSQ", ("+CSQ: 23,99",), "OK", prefixes=("+CSQ",))
    assert response.ok
    assert response.fields() == ["23", "99"]
    assert not response.echoed


def test_prefixless_information_lines_and_lone_line_endings() -> None:
    async def scenario() -> AtResponse:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("ATI"))
            # Lone LF and lone CR line endings are accepted as well as CR LF (§1.1).
            await r.answer(b"ATI\r", b"\r\nQuectel\nBG96\rRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
            return await task

    response = run(scenario())
    assert response.lines == ("Quectel", "BG96", "Revision: BG96MAR02A07M1G")


def test_echo_is_skipped_and_reported() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse]:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+CGMI"))
            await r.answer(b"AT+CGMI\r", b"AT+CGMI\r\r\nQuectel\r\n\r\nOK\r\n")
            echoed = await task
            task = asyncio.create_task(r.at.command("ATE0"))
            await r.answer(b"ATE0\r", b"ATE0\r\r\nOK\r\n")  # ATE0 is still echoed itself
            await task
            task = asyncio.create_task(r.at.command("AT+CGMI"))
            await r.answer(b"AT+CGMI\r", b"\r\nQuectel\r\n\r\nOK\r\n")
            return echoed, await task

    echoed, quiet = run(scenario())
    assert echoed.lines == ("Quectel",) and echoed.echoed
    assert quiet.lines == ("Quectel",) and not quiet.echoed


def test_bc95_prefixless_answers_with_expect() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+NSONMI", urcs)
            task = asyncio.create_task(r.at.command('AT+NSOCR="DGRAM",17,5683,1', expect=r"\d+$", expect_lines=1))
            await r.answer(b'AT+NSOCR="DGRAM",17,5683,1\r', b"\r\n1\r\n\r\nOK\r\n")
            created = await task
            command = 'AT+NSOST=1,"192.0.2.7",5683,2,"4869"'
            task = asyncio.create_task(r.at.command(command, expect=r"\d+,\d+$", expect_lines=1))
            # Neul-stack URCs have no space after the colon.
            await r.answer(command.encode() + b"\r", b"\r\n1,2\r\n\r\nOK\r\n\r\n+NSONMI:1,12\r\n")
            sent = await task
            await r.send_and_settle(b"")
            task = asyncio.create_task(r.at.command("AT+CGSN=1", prefix="+CGSN"))
            await r.answer(b"AT+CGSN=1\r", b"\r\n+CGSN:490154203237511\r\n\r\nOK\r\n")
            assert (await task).fields() == ["490154203237511"]
            return created, sent, [str(u.fields()) for u in urcs.urcs]

    created, sent, urcs = run(scenario())
    assert created.lines == ("1",)
    assert parse_fields(sent.lines[0]) == ["1", "2"]
    assert urcs == ["['1', '12']"]


def test_missing_expected_line_is_a_protocol_error() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+NSOCR=DGRAM,17,0,1", expect=r"\d+$", expect_lines=1))
            await r.answer(b"AT+NSOCR=DGRAM,17,0,1\r", b"\r\nOK\r\n")
            with pytest.raises(AtProtocolError, match="expected 1"):
                await task

    run(scenario())


def test_response_helpers_complain_about_a_missing_line() -> None:
    response = AtResponse("AT+CSQ", (), "OK", prefixes=("+CSQ",))
    with pytest.raises(AtProtocolError, match=r"\+CSQ"):
        response.fields()


# --------------------------------------------------------------------------- URCs


def test_urcs_before_inside_and_after_a_response() -> None:
    async def scenario() -> tuple[AtResponse, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CEREG", urcs)
            r.at.subscribe("+QIURC", urcs)
            await r.send_and_settle(b"\r\n+CEREG: 2\r\n")  # before, while idle
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            await r.answer(
                b"AT+CSQ\r",
                b'\r\n+QIURC: "recv",0\r\n'  # before the answer
                b"\r\n+CSQ: 17,99\r\n"
                b"\r\n+CEREG: 5\r\n"  # between the answer and its OK
                b"\r\nOK\r\n"
                b'\r\n+QIURC: "closed",0\r\n',  # after, in the same read
            )
            response = await task
            await r.send_and_settle(b"")
            return response, urcs.lines

    response, urcs = run(scenario())
    assert response.lines == ("+CSQ: 17,99",)
    assert urcs == ["+CEREG: 2", '+QIURC: "recv",0', "+CEREG: 5", '+QIURC: "closed",0']


def test_urc_with_the_prefix_of_the_pending_command() -> None:
    """+CEREG is both the answer to AT+CEREG? and a URC: the answer's shape tells them apart."""

    async def scenario() -> tuple[AtResponse, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CEREG", urcs)
            task = asyncio.create_task(r.at.command("AT+CEREG?", prefix="+CEREG", expect=r"\+CEREG: ?\d+,\d+"))
            await r.answer(
                b"AT+CEREG?\r",
                b"\r\n+CEREG: 5\r\n"  # URC, n=1 form, before the answer
                b'\r\n+CEREG: 2,1,"5B57","01A50B1A",9\r\n'  # the answer: <n>,<stat>,...
                b'\r\n+CEREG: 1,"5B57","01A50B1A",9\r\n'  # URC, n=2 form, before OK
                b"\r\nOK\r\n",
            )
            return await task, urcs.lines

    response, urcs = run(scenario())
    assert response.lines == ('+CEREG: 2,1,"5B57","01A50B1A",9',)
    assert urcs == ["+CEREG: 5", '+CEREG: 1,"5B57","01A50B1A",9']


def test_urc_prefix_is_a_whole_name_and_unsubscribe_stops_delivery() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with rig() as r:
            short, long = Collector(), Collector()
            unsubscribe = r.at.subscribe("+CSO", short)
            r.at.subscribe("+CSONMI", long)
            await r.send_and_settle(b"\r\n+CSONMI: 0,4,6869\r\n\r\n+CSO: 1\r\n")
            unsubscribe()
            unsubscribe()  # idempotent
            await r.send_and_settle(b"\r\n+CSO: 2\r\n")
            return short.lines, long.lines

    short, long = run(scenario())
    assert short == ["+CSO: 1"]
    assert long == ["+CSONMI: 0,4,6869"]


def test_failing_callback_does_not_stop_the_reader(caplog: pytest.LogCaptureFixture) -> None:
    def broken(urc: Urc) -> None:
        raise RuntimeError("subscriber bug")

    async def scenario() -> AtResponse:
        async with rig() as r:
            r.at.subscribe("RDY", broken)
            await r.send_and_settle(b"\r\nRDY\r\n")
            task = asyncio.create_task(r.at.command("AT"))
            await r.answer(b"AT\r", b"\r\nOK\r\n")
            return await task

    with caplog.at_level(logging.ERROR, logger="m2mclient.platform.at"):
        assert run(scenario()).ok
    assert "URC callback for 'RDY' failed" in caplog.text


def test_multiline_urc_in_the_middle_of_a_command() -> None:
    async def scenario() -> tuple[AtResponse, list[Urc]]:
        async with rig() as r:
            sms = Collector()
            r.at.subscribe("+CMT", sms, extra_lines=1)
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            await r.answer(
                b"AT+CSQ\r",
                b"\r\n+CMT: ,24\r\n0001000B917228001011F100000CC8329BFD065DDF72363904\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n",
            )
            return await task, sms.urcs

    response, urcs = run(scenario())
    assert response.lines == ("+CSQ: 9,99",)
    assert urcs == [Urc("+CMT: ,24", ("0001000B917228001011F100000CC8329BFD065DDF72363904",))]


def test_expect_urc_after_ok() -> None:
    async def scenario() -> Urc:
        async with rig() as r:
            with r.at.expect_urc("+QIOPEN", match=r"\+QIOPEN: 1,") as waiter:
                task = asyncio.create_task(r.at.command('AT+QIOPEN=1,1,"UDP","192.0.2.7",5683,0,0'))
                await r.answer(b'AT+QIOPEN=1,1,"UDP","192.0.2.7",5683,0,0\r', b"\r\nOK\r\n")
                await task
                r.send(b"\r\n+QIOPEN: 0,0\r\n\r\n+QIOPEN: 1,0\r\n")  # another socket's first
                return await waiter.wait(5)

    assert run(scenario()).fields() == ["1", "0"]


def test_expect_urc_times_out_with_a_hint() -> None:
    async def scenario() -> None:
        async with rig() as r:
            with pytest.raises(AtTimeoutError, match=r"\+CAOPEN") as caught:
                await r.at.expect_urc("+CAOPEN").wait(0.05)
            assert caught.value.command is None

    run(scenario())


# --------------------------------------------------------------------------- vendor terminators


def test_vendor_terminator_after_ok() -> None:
    async def scenario() -> AtResponse:
        async with rig() as r:
            command = 'AT+QIOPEN=1,0,"UDP","192.0.2.7",5683,0,0'
            task = asyncio.create_task(r.at.command(command, terminators=("+QIOPEN:",)))
            await r.answer(command.encode() + b"\r", b"\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n")
            return await task

    response = run(scenario())
    assert response.final == "+QIOPEN: 0,0" and not response.ok
    assert parse_fields(response.final) == ["0", "0"]


# --------------------------------------------------------------------------- data prompts


def test_qisend_prompt_without_line_end_then_send_ok() -> None:
    async def scenario() -> tuple[AtResponse, bytes, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+QIURC", urcs)
            task = asyncio.create_task(
                r.at.command_with_data("AT+QISEND=0,7", b"he\r\nllo", terminators=("SEND OK",), failures=("SEND FAIL",))
            )
            # A URC between the command and its prompt; the prompt has no CR/LF (§1.3).
            await r.answer(b"AT+QISEND=0,7\r", b'\r\n+QIURC: "recv",1\r\n\r\n> ')
            data = await r.modem.receive_exactly(7)
            r.send(b"\r\nSEND OK\r\n")
            return await task, data, urcs.lines

    response, data, urcs = run(scenario())
    assert response.final == "SEND OK"
    assert data == b"he\r\nllo"
    assert urcs == ['+QIURC: "recv",1']


def test_send_fail_raises() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(
                r.at.command_with_data("AT+QISEND=0,2", b"hi", terminators=("SEND OK",), failures=("SEND FAIL",))
            )
            await r.answer(b"AT+QISEND=0,2\r", b"\r\n> ")
            assert await r.modem.receive_exactly(2) == b"hi"
            r.send(b"\r\nSEND FAIL\r\n")
            with pytest.raises(AtCommandError, match="SEND FAIL"):
                await task

    run(scenario())


def test_ublox_at_sign_prompt() -> None:
    async def scenario() -> tuple[AtResponse, bytes]:
        async with rig() as r:
            command = 'AT+USOST=0,"192.0.2.7",5683,3'
            task = asyncio.create_task(r.at.command_with_data(command, b"\x00\x01\x02", prompt="@", prefix="+USOST"))
            await r.answer(command.encode() + b"\r", b"@")
            data = await r.modem.receive_exactly(3)
            r.send(b"\r\n+USOST: 0,3\r\n\r\nOK\r\n")
            return await task, data

    response, data = run(scenario())
    assert data == b"\x00\x01\x02"
    assert response.fields() == ["0", "3"]


def test_cmgs_pdu_ends_with_ctrl_z() -> None:
    pdu = b"0001000B917228001011F100000CC8329BFD065DDF72363904"

    async def scenario() -> tuple[AtResponse, bytes]:
        async with rig() as r:
            task = asyncio.create_task(r.at.command_with_data("AT+CMGS=24", pdu, end=CTRL_Z, prefix="+CMGS"))
            await r.answer(b"AT+CMGS=24\r", b"\r\n> ")
            sent = await r.modem.receive_until(CTRL_Z)
            r.send(b"\r\n+CMGS: 12\r\n\r\nOK\r\n")
            return await task, sent

    response, sent = run(scenario())
    assert sent == pdu + CTRL_Z
    assert response.fields() == ["12"]


def test_sim7020_data_accept_terminator() -> None:
    async def scenario() -> AtResponse:
        async with rig() as r:
            task = asyncio.create_task(
                r.at.command_with_data("AT+CSODSEND=0,5", b"hello", terminators=("DATA ACCEPT",))
            )
            await r.answer(b"AT+CSODSEND=0,5\r", b"\r\n>")  # no space after '>' either
            assert await r.modem.receive_exactly(5) == b"hello"
            r.send(b"\r\nDATA ACCEPT:5\r\n")
            return await task

    assert run(scenario()).final == "DATA ACCEPT:5"


def test_error_instead_of_prompt() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(r.at.command_with_data("AT+CASEND=0,5", b"hello"))
            await r.answer(b"AT+CASEND=0,5\r", b"\r\n+CME ERROR: 3\r\n")
            with pytest.raises(AtCommandError) as caught:
                await task
            assert caught.value.code == 3

    run(scenario())


def test_ok_before_prompt_is_a_protocol_error() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(r.at.command_with_data("AT+CASEND=0,5", b"hello"))
            await r.answer(b"AT+CASEND=0,5\r", b"\r\nOK\r\n")
            with pytest.raises(AtProtocolError, match="before the data prompt"):
                await task

    run(scenario())


def test_prompt_character_is_plain_text_when_no_prompt_is_awaited() -> None:
    async def scenario() -> AtResponse:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+X"))
            await r.answer(b"AT+X\r", b"\r\n> ")
            await r.channel.wait_consumed(r.sent)
            r.send(b"\r\nOK\r\n")
            return await task

    assert run(scenario()).lines == (">",)


def test_prompt_timeout_sends_escape() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(r.at.command_with_data("AT+CMGS=24", b"00", end=CTRL_Z, prompt_timeout=0.1))
            assert await r.modem.receive_until() == b"AT+CMGS=24\r"
            with pytest.raises(AtTimeoutError, match="prompt") as caught:
                await task
            assert caught.value.phase == "'>' data prompt"
            assert await r.modem.receive_exactly(1) == ESC

    run(scenario())


# --------------------------------------------------------------------------- error results


@pytest.mark.parametrize(
    ("final", "kind", "code", "meaning", "hint"),
    [
        ("+CME ERROR: 10", "CME", 10, "SIM not inserted", "insert a SIM"),
        ("+CME ERROR: SIM not inserted", "CME", 10, "SIM not inserted", "insert a SIM"),
        ("+CME ERROR: 14", "CME", 14, "SIM busy", "retry"),
        ("+CME ERROR:159", "CME", 159, "uplink busy (BC95)", "27.007"),
        ("+CME ERROR: 9999", "CME", 9999, None, "27.007"),
        ("+CME ERROR: some vendor text", "CME", None, "some vendor text", "27.007"),
        ("+CMS ERROR: 330", "CMS", 330, "SMSC address unknown", "AT+CSCA"),
        ("+CMS ERROR: 38", "CMS", 38, "network RP-cause (TS 24.011)", "27.005"),
        ("ERROR", None, None, None, "AT+CMEE=1"),
        ("NO CARRIER", None, None, None, "dropped"),
        ("COMMAND NOT SUPPORT", None, None, None, "firmware"),
    ],
)
def test_error_results(final: str, kind: str | None, code: int | None, meaning: str | None, hint: str) -> None:
    async def scenario() -> AtCommandError:
        async with rig(cme_meanings={159: "uplink busy (BC95)"}) as r:
            task = asyncio.create_task(r.at.command("AT+CPIN?", prefix="+CPIN"))
            await r.answer(b"AT+CPIN?\r", b"\r\n" + final.encode() + b"\r\n")
            with pytest.raises(AtCommandError) as caught:
                await task
            return caught.value

    error = run(scenario())
    assert (error.command, error.final, error.kind, error.code, error.meaning) == (
        "AT+CPIN?",
        final,
        kind,
        code,
        meaning,
    )
    assert error.hint is not None and hint in error.hint
    assert isinstance(error, AtError) and isinstance(error, M2MError)
    assert final in str(error)


# --------------------------------------------------------------------------- junk and chunking


def test_boot_junk_and_nul_bytes_are_tolerated() -> None:
    async def scenario() -> tuple[AtResponse, list[str]]:
        async with rig() as r:
            boot = Collector()
            r.at.subscribe("RDY", boot)
            # BC66 waking from PSM: NULs, boot ROM text, bytes that are not text (§1.4).
            await r.send_and_settle(b"\x00\x00\xff\xfe\x80\r\nF1: 0000 0000\r\nLeaving the BROM\r\n\x00\r\nRDY\r\n")
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            await r.answer(
                b"AT+CSQ\r",
                b"\x00\x00\r\n\x1b\x02garbage\r\nV0: 0000 0000\r\n\r\n+CSQ: 5,99\r\n\x00\r\nOK\r\n",
            )
            return await task, boot.lines

    response, boot = run(scenario())
    assert response.lines == ("+CSQ: 5,99",)
    assert boot == ["RDY"]


def test_split_reads_one_byte_at_a_time() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse, list[str], list[bytes]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CEREG", urcs)
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            assert await r.modem.receive_until() == b"AT+CSQ\r"
            await r.send_bytewise(b"AT+CSQ\r\r\n+CEREG: 1\r\n\r\n+CSQ: 31,0\r\n\r\nOK\r\n")
            first = await task
            task = asyncio.create_task(r.at.command_with_data("AT+QISEND=0,1", b"x", terminators=("SEND OK",)))
            assert await r.modem.receive_until() == b"AT+QISEND=0,1\r"
            await r.send_bytewise(b"\r\n> ")
            assert await r.modem.receive_exactly(1) == b"x"
            await r.send_bytewise(b"\r\nSEND OK\r\n")
            return first, await task, urcs.lines, r.channel.chunks

    first, second, urcs, chunks = run(scenario())
    assert first.lines == ("+CSQ: 31,0",) and first.echoed
    assert second.final == "SEND OK"
    assert urcs == ["+CEREG: 1"]
    assert {len(c) for c in chunks} == {1}


def test_coalesced_reads() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CSCON", urcs)
            first = asyncio.create_task(r.at.command("AT+CGATT?", prefix="+CGATT"))
            assert await r.modem.receive_until() == b"AT+CGATT?\r"
            # Answer, final, a URC and a prompt-less unrelated line in one write.
            await r.send_and_settle(b"\r\n+CGATT: 1\r\n\r\nOK\r\n\r\n+CSCON: 1\r\n\r\n+CSCON: 0\r\n")
            second = asyncio.create_task(r.at.command("AT+CGATT?", prefix="+CGATT"))
            await r.answer(b"AT+CGATT?\r", b"\r\n+CGATT: 0\r\n\r\nOK\r\n")
            return await first, await second, urcs.lines

    first, second, urcs = run(scenario())
    assert first.fields() == ["1"] and second.fields() == ["0"]
    assert urcs == ["+CSCON: 1", "+CSCON: 0"]


# --------------------------------------------------------------------------- raw payloads


QIRD = RawPayload(rb"\+QIRD: (\d+)[^\r\n]*\r\n")


def test_length_framed_payload_in_an_answer_survives_split_crlf() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse]:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+QIRD=0,1500", prefix="+QIRD", payload=QIRD))
            assert await r.modem.receive_until() == b"AT+QIRD=0,1500\r"
            await r.send_bytewise(b"\r\n+QIRD: 6\r\na\r\nb\x00\r\r\nOK\r\n")  # the CR LF after the header is split too
            bytewise = await task
            task = asyncio.create_task(
                r.at.command("AT+CARECV=0,100", prefix="+CARECV", payload=RawPayload(rb"\+CARECV: (\d+),"))
            )
            await r.answer(b"AT+CARECV=0,100\r", b"\r\n+CARECV: 4,OK\r\n\r\nOK\r\n")
            return bytewise, await task

    qird, carecv = run(scenario())
    assert qird.lines == ("+QIRD: 6",) and qird.payloads == (b"a\r\nb\x00\r",)
    assert carecv.payloads == (b"OK\r\n",) and carecv.lines == ("+CARECV: 4,",)


def test_length_framed_payload_in_a_urc() -> None:
    async def scenario() -> tuple[AtResponse, list[Urc]]:
        async with rig() as r:
            pushed = Collector()
            r.at.subscribe('+QIURC: "recv"', pushed, payload=RawPayload(rb'\+QIURC: "recv",\d+,(\d+)[^\r\n]*\r\n'))
            task = asyncio.create_task(r.at.command("AT+CSQ", prefix="+CSQ"))
            await r.answer(b"AT+CSQ\r", b'\r\n+QIURC: "recv",0,4\r\nOK\r\n\r\n+CSQ: 1,1\r\n\r\nOK\r\n')
            return await task, pushed.urcs

    response, urcs = run(scenario())
    assert response.lines == ("+CSQ: 1,1",)
    assert urcs == [Urc('+QIURC: "recv",0,4', (), b"OK\r\n")]


# --------------------------------------------------------------------------- timeouts and closing


def test_timeout_without_any_answer_has_the_hint() -> None:
    async def scenario() -> AtTimeoutError:
        async with rig() as r:
            with pytest.raises(AtTimeoutError) as caught:
                await r.at.command("AT", timeout=0.05)
            return caught.value

    error = run(scenario())
    assert error.command == "AT" and error.received == () and error.phase == "final result"
    assert "is the module powered, the baud rate right, or is it asleep (PSM)?" in str(error)
    assert isinstance(error, TimeoutError)


def test_timeout_reports_what_arrived() -> None:
    async def scenario() -> tuple[AtTimeoutError, AtTimeoutError]:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+COPS=?", prefix="+COPS", timeout=0.1))
            await r.answer(b"AT+COPS=?\r", b'\r\n+COPS: (2,"Telekom","TDG","26201",9)\r\n')
            with pytest.raises(AtTimeoutError) as incomplete:
                await task
            task = asyncio.create_task(r.at.command("AT", timeout=0.1))
            await r.answer(b"AT\r", b"\xf0\x0f\xaa\r\n\x00\xfe\r\n")
            with pytest.raises(AtTimeoutError) as garbage:
                await task
            return incomplete.value, garbage.value

    incomplete, garbage = run(scenario())
    assert incomplete.received == ('+COPS: (2,"Telekom","TDG","26201",9)',)
    assert "longer timeout=" in incomplete.hint
    assert "baud rate" in garbage.hint


def test_late_answer_after_timeout_reaches_nobody_and_engine_recovers() -> None:
    async def scenario() -> tuple[list[str], AtResponse]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CEREG", urcs)
            with pytest.raises(AtTimeoutError):
                await r.at.command("AT+CEREG?", prefix="+CEREG", expect=r"\+CEREG: ?\d+,\d+", timeout=0.05)
            assert await r.modem.receive_until() == b"AT+CEREG?\r"
            # The late answer must not be mistaken for a URC; the real URC after it must arrive.
            await r.send_and_settle(b"\r\n+CEREG: 2,1\r\n\r\nOK\r\n\r\n+CEREG: 5\r\n")
            task = asyncio.create_task(r.at.command("AT"))
            await r.answer(b"AT\r", b"\r\nOK\r\n")
            return urcs.lines, await task

    urcs, response = run(scenario())
    assert urcs == ["+CEREG: 5"]
    assert response.ok


def test_port_closed_mid_command() -> None:
    async def scenario() -> None:
        async with rig() as r:
            waiter = r.at.expect_urc("+QIOPEN")
            task = asyncio.create_task(r.at.command("AT+CFUN=1", timeout=30))
            assert await r.modem.receive_until() == b"AT+CFUN=1\r"
            r.modem.close()  # the module end hangs up (USB unplugged)
            with pytest.raises(AtChannelClosedError, match="AT\\+CFUN=1"):
                await task
            with pytest.raises(AtChannelClosedError):
                await waiter.wait(30)
            assert r.at.closed
            with pytest.raises(AtChannelClosedError):
                await r.at.command("AT")

    run(scenario())


def test_engine_close_fails_the_pending_command() -> None:
    async def scenario() -> None:
        async with rig() as r:
            task = asyncio.create_task(r.at.command("AT+COPS=?", timeout=180))
            assert await r.modem.receive_until() == b"AT+COPS=?\r"
            await r.at.close()
            with pytest.raises(AtChannelClosedError):
                await task
            await r.at.close()  # idempotent

    run(scenario())


def test_concurrent_commands_are_serialised() -> None:
    async def scenario() -> tuple[list[AtResponse], str]:
        transcript = io.StringIO()
        async with rig(transcript=transcript) as r:
            tasks = [asyncio.create_task(r.at.command(f"AT+CGDCONT={n}")) for n in (1, 2, 3)]
            for n in (1, 2, 3):
                # The next command is only written after the previous one's final result.
                await r.answer(f"AT+CGDCONT={n}\r".encode(), f"\r\nINFO{n}\r\n\r\nOK\r\n".encode())
            responses = await asyncio.gather(*tasks)
        return responses, transcript.getvalue()

    responses, transcript = run(scenario())
    assert [resp.lines for resp in responses] == [("INFO1",), ("INFO2",), ("INFO3",)]
    order = re.findall(r"(AT\+CGDCONT=\d|INFO\d|OK)", transcript)
    assert order == ["AT+CGDCONT=1", "INFO1", "OK", "AT+CGDCONT=2", "INFO2", "OK", "AT+CGDCONT=3", "INFO3", "OK"]


def test_command_validation() -> None:
    async def scenario() -> None:
        async with rig() as r:
            with pytest.raises(ValueError, match="CR/LF"):
                await r.at.command("AT\rAT")
            with pytest.raises(ValueError, match="ASCII"):
                await r.at.command('AT+COPS=1,0,"Telefónica"')
            with pytest.raises(ValueError, match="empty"):
                r.at.subscribe("", Collector())

    run(scenario())


# --------------------------------------------------------------------------- transcript and CLI


def test_transcript_records_every_line_with_time_and_direction() -> None:
    async def scenario() -> str:
        transcript = io.StringIO()
        async with rig(transcript=transcript) as r:
            r.at.subscribe("+CEREG", Collector())
            task = asyncio.create_task(r.at.command_with_data("AT+QISEND=0,3", b"a\x00\n", terminators=("SEND OK",)))
            await r.answer(b"AT+QISEND=0,3\r", b"AT+QISEND=0,3\r\r\n+CEREG: 1\r\n\x00\xff\r\n> ")
            await r.modem.receive_exactly(3)
            r.send(b"\r\nSEND OK\r\n")
            await task
        return transcript.getvalue()

    text = run(scenario())
    lines = text.splitlines()
    assert lines[0].startswith("# AT transcript started ") and "monotonic" in lines[0]
    assert all(re.match(r"^ *\d+\.\d{3} (-->|<--|---) ", line) for line in lines[1:])
    assert re.search(r"--> AT\+QISEND=0,3\\r$", text, re.MULTILINE)
    assert "<-- AT+QISEND=0,3  [echo]" in text
    assert "<-- +CEREG: 1  [URC]" in text
    assert "<-- \\xff  [junk]" in text  # NULs at a line start are dropped before framing
    assert "<-- >  [prompt]" in text
    assert '--> 3 bytes: 61 00 0a  "a\\x00\\n"  [data]' in text
    assert "<-- SEND OK  [final]" in text


def test_transcript_to_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with rig(transcript=logging.getLogger("test.at.transcript")) as r:
            task = asyncio.create_task(r.at.command("AT"))
            await r.answer(b"AT\r", b"\r\nOK\r\n")
            await task

    with caplog.at_level(logging.INFO, logger="test.at.transcript"):
        run(scenario())
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "test.at.transcript"]
    assert any(m.endswith("--> AT\\r") for m in messages)
    assert any(m.endswith("<-- OK  [final]") for m in messages)


def test_raw_line_returns_errors_and_claims_its_own_prefix() -> None:
    async def scenario() -> tuple[AtResponse, AtResponse, list[str]]:
        async with rig() as r:
            urcs = Collector()
            r.at.subscribe("+CEREG", urcs)
            task = asyncio.create_task(r.at.command_raw_line("  AT+CEREG?  "))
            await r.answer(b"AT+CEREG?\r", b"\r\n+CEREG: 0,1\r\n\r\n+CSCON: 1\r\n\r\nOK\r\n")
            read = await task
            task = asyncio.create_task(r.at.command_raw_line("AT+BOGUS"))
            await r.answer(b"AT+BOGUS\r", b"\r\nERROR\r\n")
            return read, await task, urcs.lines

    read, bogus, urcs = run(scenario())
    assert read.lines == ("+CEREG: 0,1", "+CSCON: 1") and read.final == "OK"
    assert bogus.final == "ERROR" and not bogus.ok
    assert urcs == []


# --------------------------------------------------------------------------- parsing helpers


@pytest.mark.parametrize(
    ("line", "prefix", "fields"),
    [
        ("+CSQ: 23,99", "+CSQ", ["23", "99"]),
        ("+NSONMI:1,12", "+NSONMI", ["1", "12"]),
        ('+COPS: 0,0,"Vodafone, DE",7', "+COPS", ["0", "0", '"Vodafone, DE"', "7"]),
        (
            '+CEREG: 4,1,"5B57","01A50B1A",9,"00",,,"11100000","11100000"',
            "+CEREG",
            ["4", "1", '"5B57"', '"01A50B1A"', "9", '"00"', "", "", '"11100000"', '"11100000"'],
        ),
        ("+APP PDP: 0,ACTIVE", None, ["0", "ACTIVE"]),
        ('+QIURC: "recv",0', None, ['"recv"', "0"]),
        ("0,12", None, ["0", "12"]),
        ("+CGATT:", "+CGATT", []),
        ('+X: "unterminated, still', None, ['"unterminated, still']),
    ],
)
def test_parse_fields(line: str, prefix: str | None, fields: list[str]) -> None:
    assert parse_fields(line, prefix) == fields


def test_parse_fields_wrong_prefix() -> None:
    with pytest.raises(AtProtocolError, match=r"\+CSQ"):
        parse_fields("+CESQ: 1,2", "+CSQ")


@pytest.mark.parametrize(
    ("field", "text"), [('"5B57"', "5B57"), ("12", "12"), ('""', ""), (' "a,b" ', "a,b"), ('"cut', "cut")]
)
def test_unquote(field: str, text: str) -> None:
    assert unquote(field) == text


# --------------------------------------------------------------------------- serial channels


def test_serial_channel_reads_writes_and_applies_flow_control() -> None:
    async def scenario() -> None:
        with PtyChannel.open() as module, open_serial(module.device_path, 9600) as port:
            await port.write(b"AT\r")
            assert await module.read() == b"AT\r"
            await module.write(b"\r\nOK\r\n")
            assert await port.read() == b"\r\nOK\r\n"
            # More than the kernel buffers: write() must wait on add_writer until read.
            big = bytes(range(256)) * 1024
            received = bytearray()

            async def drain() -> None:
                while len(received) < len(big):
                    received.extend(await module.read())

            await asyncio.gather(port.write(big), drain())
            assert received == big

    run(scenario())


def test_serial_channel_close_wakes_a_waiting_read() -> None:
    async def scenario() -> None:
        with PtyChannel.open() as module:
            port = module.open_device()
            reader = asyncio.create_task(port.read())
            await asyncio.sleep(0)  # one turn of the loop: the read is now parked on add_reader
            with pytest.raises(SerialError, match="already waiting"):
                await port.read()
            port.close()
            port.close()
            with pytest.raises(SerialClosedError):
                await reader
            with pytest.raises(SerialClosedError):
                await port.write(b"AT\r")

    run(scenario())


def test_serial_channel_sees_hang_up() -> None:
    async def scenario() -> None:
        master, device = os.openpty()
        port = SerialChannel.from_fd(device)
        os.write(master, b"RDY\r\n")
        assert await port.read() == b"RDY\r\n"
        os.close(master)
        with pytest.raises(SerialClosedError, match="hung up"):
            await port.read()
        port.close()

    run(scenario())


def test_open_serial_failure_explains() -> None:
    with pytest.raises(SerialError, match="plugged in"):
        open_serial("/dev/does-not-exist-m2m")


# --------------------------------------------------------------------------- property tests

FRAGMENTS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x00",
    b"OK",
    b"ERROR",
    b"+CME ERROR: ",
    b"> ",
    b"@",
    b"+CSQ: 1,2",
    b"+CEREG:",
    b"\xff",
    b"AT+CSQ",
    b'"',
    b",",
    b"7",
    b"SEND OK",
    b"+QIRD: 3\r\n",
    b"+QIRD: 99999\r\n",
]
# Random bytes, and random sequences of the pieces module output is made of.
modem_bytes = st.binary(max_size=600) | st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(b"".join)


@given(data=modem_bytes, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_framer_tokens_do_not_depend_on_chunking(data: bytes, cuts: list[int]) -> None:
    whole = _Framer()
    whole.payloads = (QIRD,)
    expected = whole.feed(data)
    split = _Framer()
    split.payloads = (QIRD,)
    got = []
    previous = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        got += split.feed(data[previous:cut])
        previous = cut
    assert got == expected


class _InternalErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "internal error" in record.getMessage():
            self.messages.append(record.getMessage())


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(noise=modem_bytes, pending=st.sampled_from(["nothing", "command", "data"]))
def test_any_modem_output_leaves_the_engine_usable(noise: bytes, pending: str) -> None:
    """Whatever the module sends, the reader survives, errors are typed, and the next command works."""
    internal = _InternalErrors()
    logging.getLogger("m2mclient.platform.at").addHandler(internal)
    # A "+QIRD: 3" header in the noise rightly takes the next 3 bytes as its payload;
    # NULs complete it, and are dropped anywhere else.
    noise += b"\x00" * 3

    async def scenario() -> None:
        async with rig() as r:
            r.at.subscribe("+CEREG", Collector())
            r.at.subscribe("+QIRD", Collector(), payload=QIRD)
            if pending == "nothing":
                await r.send_and_settle(noise + b"\r\n")
            else:
                if pending == "command":
                    command = r.at.command("AT+CSQ", prefix="+CSQ", timeout=DEADLINE)
                else:
                    command = r.at.command_with_data("AT+QISEND=0,3", b"xyz", timeout=DEADLINE)
                task = asyncio.create_task(command)
                assert (await r.modem.receive_until()).endswith(b"\r")
                # A final OK always follows, so the command ends: on that line or one of the noise's.
                await r.send_and_settle(noise + b"\r\nOK\r\n")
                with contextlib.suppress(AtCommandError, AtProtocolError):
                    await task
            assert not r.at.closed
            task = asyncio.create_task(r.at.command("AT"))
            # Data the engine wrote after a prompt in the noise may precede the command.
            assert (await r.modem.receive_until()).endswith(b"AT\r")
            r.send(b"\r\nOK\r\n")
            assert (await task).ok

    try:
        run(scenario())
    finally:
        logging.getLogger("m2mclient.platform.at").removeHandler(internal)
    assert internal.messages == []
