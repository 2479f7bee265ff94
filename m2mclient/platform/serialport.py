"""Serial ports (and pseudo-terminals) as asyncio byte channels, for the AT engine.

A :class:`SerialChannel` wraps one non-blocking file descriptor of a tty: a UART
(``/dev/serial0``), a USB modem port (``/dev/ttyUSB2``) or a pty. Reading waits on
the event loop's reader callback for that descriptor (``loop.add_reader``), writing
waits on its writer callback when the kernel buffer is full (hardware flow control
holding us back), so there is no polling thread and no busy loop (DESIGN.md rule 4).
pyserial only opens and configures the port (baud rate, RTS/CTS, exclusive lock);
the bytes move through ``os.read`` / ``os.write`` on its descriptor.

    >>> channel = open_serial("/dev/ttyUSB2", baudrate=115200)
    >>> await channel.write(b"AT\\r")
    >>> await channel.read()
    b'\\r\\nOK\\r\\n'

:class:`PtyChannel` is the other end of a fresh pseudo-terminal: whoever plays the
module (the emulator, a test) holds it, and the code under test opens
:attr:`PtyChannel.device_path` like a real port.

This module knows nothing about AT commands or anything above (DESIGN.md rule 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from m2mclient.errors import M2MError

__all__ = [
    "DEFAULT_BAUDRATE",
    "PtyChannel",
    "SerialChannel",
    "SerialClosedError",
    "SerialError",
    "open_serial",
]

#: The rate the modules we target ship with or are driven at by mbed/Zephyr/python-gsmmodem
#: (BG96, BC66, SIM7080 after autobaud). SARA-N2 defaults to 9600: pass ``baudrate=9600``.
DEFAULT_BAUDRATE = 115200
#: Bytes asked of the kernel per read. A tty hands over what it has (at most its 4 KiB
#: line buffer), so a larger buffer would only sit empty.
_READ_SIZE = 4096
# errno values that mean "the device is gone", not "try again": EIO is what Linux
# returns for a pty whose other end closed and for an unplugged USB serial adapter.
_GONE = frozenset({errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF, errno.EPIPE})
_Channel = TypeVar("_Channel", bound="SerialChannel")


class SerialError(M2MError):
    """A serial port could not be opened, read or written."""


class SerialClosedError(SerialError):
    """The port is closed: by :meth:`SerialChannel.close`, or because the device went away."""


class SerialChannel:
    """One open tty, read and written without blocking the event loop.

    Create it with :func:`open_serial` (a device path) or :meth:`from_fd` (a
    descriptor you already have, e.g. one end of ``os.openpty()``). One task reads
    at a time; writes from several tasks are serialised so their bytes never
    interleave.
    """

    def __init__(self, fd: int, *, name: str = "", on_close: Callable[[], None] | None = None):
        """Wrap ``fd`` (made non-blocking here); ``on_close`` releases it, default ``os.close``."""
        self._fd = fd
        self.name = name or f"fd {fd}"
        self._on_close = on_close if on_close is not None else (lambda: os.close(fd))
        self._closed = False
        self._fd_released = False
        # The loop that holds our reader/writer registrations, so close() (which may run
        # outside a coroutine) can remove them before the descriptor number is reused.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_lock = asyncio.Lock()
        os.set_blocking(fd, False)

    @classmethod
    def from_fd(cls, fd: int, *, name: str = "", raw: bool = True, close_fd: bool = True) -> SerialChannel:
        """A channel on an already open descriptor.

        ``raw`` puts a tty into raw mode first: without it the kernel's line discipline
        would echo our own commands back, turn CR into LF and hold input until a newline
        arrives, so a ``> `` prompt (which has none) would never be seen.
        ``close_fd=False`` leaves the descriptor open on :meth:`close`.
        """
        if raw and os.isatty(fd):
            tty.setraw(fd)
        return cls(fd, name=name, on_close=None if close_fd else (lambda: None))

    @property
    def fd(self) -> int:
        """The file descriptor (for ``termios`` calls; do not read or write it directly)."""
        return self._fd

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or once the device went away."""
        return self._closed

    async def read(self, max_bytes: int = _READ_SIZE) -> bytes:
        """Wait until bytes arrive and return them (at least one, at most ``max_bytes``).

        Raises :class:`SerialClosedError` when the channel is closed (also while
        waiting) or the device went away, :class:`SerialError` for other failures.
        """
        if self._read_waiter is not None:
            raise SerialError(f"{self.name}: read() is already waiting in another task")
        while True:
            self._check_open()
            try:
                data = os.read(self._fd, max_bytes)
            except (BlockingIOError, InterruptedError):
                await self._wait_ready(writing=False)
                continue
            except OSError as exc:
                raise self._error("read from", exc) from exc
            if not data:
                # A tty that reports readable and then returns nothing has hung up (the
                # pty master closed, a USB adapter was pulled): end of this channel.
                self._release()
                raise SerialClosedError(f"{self.name}: the device hung up (unplugged, or the other end closed)")
            return data

    async def write(self, data: bytes) -> None:
        """Write all of ``data``, waiting while the device cannot take more (flow control).

        Raises :class:`SerialClosedError` when closed, :class:`SerialError` on failure.
        """
        view = memoryview(bytes(data))
        async with self._write_lock:
            while view:
                self._check_open()
                try:
                    written = os.write(self._fd, view)
                except (BlockingIOError, InterruptedError):
                    await self._wait_ready(writing=True)
                    continue
                except OSError as exc:
                    raise self._error("write to", exc) from exc
                view = view[written:]

    def close(self) -> None:
        """Close the port; a waiting :meth:`read` or :meth:`write` raises :class:`SerialClosedError`. Idempotent."""
        self._release()
        if not self._fd_released:
            # A channel whose device hung up is already "closed" for I/O but still holds
            # its descriptor until here.
            self._fd_released = True
            with contextlib.suppress(OSError):
                self._on_close()

    def __enter__(self: _Channel) -> _Channel:
        """Use as ``with open_serial(...) as channel:``; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the channel."""
        self.close()

    def __repr__(self) -> str:
        """Name and state, for logs."""
        return f"<{type(self).__name__} {self.name}{' closed' if self._closed else ''}>"

    def _check_open(self) -> None:
        if self._closed:
            raise SerialClosedError(f"{self.name} is closed")

    def _error(self, action: str, exc: OSError) -> SerialError:
        if exc.errno in _GONE:
            self._release()
            return SerialClosedError(f"cannot {action} {self.name}: {exc.strerror} (device gone or other end closed)")
        return SerialError(f"cannot {action} {self.name}: {exc}")

    async def _wait_ready(self, *, writing: bool) -> None:
        """Sleep on the loop's selector until the descriptor is readable (writable)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiter: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        if writing:
            self._write_waiter = waiter
            loop.add_writer(self._fd, ready)
        else:
            self._read_waiter = waiter
            loop.add_reader(self._fd, ready)
        try:
            await waiter
        finally:
            # After close() the registration is already gone and the number may belong
            # to someone else's descriptor by now: touch it only while still ours.
            if not self._closed:
                (loop.remove_writer if writing else loop.remove_reader)(self._fd)
            if writing:
                self._write_waiter = None
            else:
                self._read_waiter = None

    def _release(self) -> None:
        """Mark closed, drop loop registrations and fail waiters (the descriptor stays for the caller)."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._fd)
            loop.remove_writer(self._fd)
        for waiter in (self._read_waiter, self._write_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(SerialClosedError(f"{self.name} was closed"))


class PtyChannel(SerialChannel):
    """The controlling (master) end of a new pseudo-terminal, for whoever plays the module.

    The code under test opens :attr:`device_path` (``open_serial(pty.device_path)``)
    or takes :meth:`open_device` as if it were a modem's serial port. The device end
    stays open here as well, so the module side does not see a hang-up each time the
    code under test reopens the port.
    """

    def __init__(self, master_fd: int, device_fd: int):
        """Own both ends of a pty from ``os.openpty()``; use :meth:`open` instead."""
        self._device_fd = device_fd
        self.device_path = os.ttyname(device_fd)
        super().__init__(master_fd, name=f"pty master of {self.device_path}", on_close=self._close_both)

    @classmethod
    def open(cls) -> PtyChannel:
        """A fresh pseudo-terminal in raw mode (no echo, no CR/LF translation, no line buffering)."""
        master_fd, device_fd = os.openpty()
        tty.setraw(device_fd)
        return cls(master_fd, device_fd)

    def open_device(self) -> SerialChannel:
        """A :class:`SerialChannel` on the device end (its own descriptor; close it separately)."""
        return SerialChannel(os.dup(self._device_fd), name=self.device_path)

    def _close_both(self) -> None:
        os.close(self._fd)
        os.close(self._device_fd)


def open_serial(
    path: str,
    baudrate: int = DEFAULT_BAUDRATE,
    *,
    rtscts: bool = False,
    exclusive: bool = True,
) -> SerialChannel:
    """Open a serial port (or any tty/pty path) for the AT engine: 8N1, raw, non-blocking.

    ``rtscts`` enables hardware flow control (wire RTS/CTS and send ``AT+IFC=2,2`` to
    a BG96). ``exclusive`` takes an advisory lock so a second program (ModemManager,
    another instance of your app) cannot open it meanwhile. Raises
    :class:`SerialError` with a hint when the port cannot be opened.
    """
    import serial  # pyserial; imported here so a device without a modem never loads it (rule 7)

    port: Any = serial.Serial()
    port.port = path
    port.baudrate = baudrate
    port.rtscts = rtscts
    port.exclusive = exclusive
    port.timeout = 0
    try:
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SerialError(f"cannot open {path} at {baudrate} baud: {exc}; {_open_hint(exc)}") from exc
    # pyserial's timeout=0 means VMIN=0/VTIME=0, where a read of an idle tty returns b""
    # instead of EAGAIN, which would look like a hang-up. VMIN=1 on a non-blocking fd gives
    # EAGAIN while idle, so the loop's reader wakes only for real bytes.
    attributes = termios.tcgetattr(port.fileno())
    attributes[6][termios.VMIN] = 1
    attributes[6][termios.VTIME] = 0
    termios.tcsetattr(port.fileno(), termios.TCSANOW, attributes)
    return SerialChannel(port.fileno(), name=path, on_close=port.close)


def _open_hint(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return "is the modem plugged in and powered? (ls /dev/serial* /dev/ttyUSB* /dev/ttyAMA*)"
    if code == errno.EACCES or "Permission denied" in text:
        return "add your user to the 'dialout' group (sudo usermod -aG dialout $USER, then log in again)"
    if code in (errno.EBUSY, errno.EAGAIN) or "lock" in text:
        return "another program holds the port (ModemManager? a serial console? another instance?)"
    return "check the path and that it is a serial device"
