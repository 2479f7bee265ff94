"""Datagram links through a cellular module: its UDP sockets, NIDD, and binary SMS.

Each class implements :class:`~m2mclient.platform.links.DatagramLink`, so CoAP
(and with it the whole LwM2M client) runs over a modem exactly as over an OS
socket (DESIGN.md rule 2)::

    modem = await open_modem("/dev/ttyUSB2", model="bg96")
    link = await ModemUdpLink.open(modem)
    client = LwM2MClient("my-pi", objects, server_uri="coap://203.0.113.7:5683", link=link)

The modem driver does the AT work; these classes only adapt its calls to the
link protocol (addresses, size limits, Release Assistance).
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from m2mclient.platform.links import LinkAddress, LinkClosedError, LinkError, PayloadTooLargeError

if TYPE_CHECKING:
    from m2mclient.platform.links import DatagramLink, StreamLink
from m2mclient.platform.modems.generic import Modem, Rai
from m2mclient.platform.sms_pdu import encode_submit

logger = logging.getLogger(__name__)

#: One SMS carries 140 octets of 8-bit user data (TS 23.040 §9.2.3.24); a larger
#: datagram goes as a concatenated SMS (134 octets a part). Eight parts keep a lost
#: part from costing too much; beyond that CoAP block-wise splits the message.
SMS_PAYLOAD = 8 * 134

#: The peer a NIDD link talks to: the network's SCEF / NEF, reached without an address.
NIDD_PEER = LinkAddress("nidd")


class _ModemLink:
    """What every modem link shares: the modem, the closed flag, the address check."""

    def __init__(self, modem: Modem, local: LinkAddress, max_payload: int):
        self.modem = modem
        self._local = local
        self._max_payload = max_payload
        self._closed = False

    @property
    def local_address(self) -> LinkAddress:
        return self._local

    @property
    def max_payload(self) -> int:
        return self._max_payload

    def _check_open(self) -> None:
        if self._closed:
            raise LinkClosedError(f"{type(self).__name__} on {self.modem.profile.name} is closed")

    def _check_size(self, data: bytes, what: str) -> None:
        if len(data) > self._max_payload:
            raise PayloadTooLargeError(len(data), self._max_payload, what)


class ModemUdpLink(_ModemLink):
    """UDP through the module's socket AT commands (AT+NSOST, AT+QISEND, AT+CASEND ...).

    ``rai`` is the Release Assistance Indication sent with every datagram where the
    module supports it (``Rai.LAST_UPLINK`` for a device that reports and sleeps,
    ``Rai.AFTER_REPLY`` when one answer is expected); ``None`` sends none. A module
    without socket RAI refuses it with ``ModemCapabilityError`` on send.
    """

    def __init__(self, modem: Modem, handle: int, *, rai: Rai | None = None):
        super().__init__(modem, LinkAddress(f"{modem.profile.name}-socket-{handle}"), modem.profile.max_datagram)
        self.handle = handle
        self.rai = rai

    @classmethod
    async def open(cls, modem: Modem, *, local_port: int | None = None, rai: Rai | None = None) -> ModemUdpLink:
        """Open a UDP socket on the module and wrap it."""
        return cls(modem, await modem.open_udp(local_port), rai=rai)

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        self._check_open()
        self._check_size(data, f"the {self.modem.profile.name} UDP socket")
        if remote.port is None:
            raise LinkError(f"UDP needs a port to send to {remote}")
        await self.modem.send_to(self.handle, remote.host, remote.port, data, rai=self.rai)

    async def receive(self) -> tuple[bytes, LinkAddress]:
        self._check_open()
        datagram = await self.modem.receive_from(self.handle)
        return datagram.data, LinkAddress(datagram.host, datagram.port)

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        # Module DNS differs per vendor and costs a radio wake; servers are configured by IP.
        return LinkAddress(host, port)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.modem.close_socket(self.handle)


class ModemTcpLink:
    """A TCP connection through the module's socket commands, as a :class:`~m2mclient.platform.links.StreamLink`."""

    def __init__(self, modem: Modem, handle: int, remote: LinkAddress):
        self.modem = modem
        self.handle = handle
        self._remote = remote
        self._closed = False
        self._pending = b""  # received bytes a short read() left over

    @classmethod
    async def connect(cls, modem: Modem, host: str, port: int) -> ModemTcpLink:
        """Open a TCP connection from the module to ``host``:``port``."""
        return cls(modem, await modem.open_tcp(host, port), LinkAddress(host, port))

    @property
    def local_address(self) -> LinkAddress:
        return LinkAddress(f"{self.modem.profile.name}-socket-{self.handle}")

    @property
    def remote_address(self) -> LinkAddress:
        return self._remote

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise LinkClosedError(f"TCP link to {self._remote} is closed")
        await self.modem.send(self.handle, data)

    async def read(self, max_bytes: int = 65536) -> bytes:
        """The next bytes the module received (``b""`` once the peer closed)."""
        if not self._pending:
            if self._closed:
                return b""
            try:
                self._pending = (await self.modem.receive_from(self.handle)).data
            except LinkClosedError:
                self._closed = True
                return b""
        chunk, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return chunk

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.modem.close_socket(self.handle)


class NiddLink(_ModemLink):
    """Non-IP Data Delivery (3GPP TS 27.007 +CSODCP / +CRTDCP): one peer, no addresses.

    Every datagram goes to the network's SCEF, which forwards it to the
    application server; whatever arrives came from there. ``remote`` is therefore
    ignored on send and always :data:`NIDD_PEER` on receive.
    """

    def __init__(self, modem: Modem, *, rai: Rai | None = None):
        super().__init__(modem, LinkAddress(f"{modem.profile.name}-nidd"), modem.profile.max_nidd)
        self.rai = rai

    @classmethod
    async def open(cls, modem: Modem, *, rai: Rai | None = None) -> NiddLink:
        """Switch the module's NIDD downlink reporting on and wrap it."""
        await modem.enable_nidd()
        return cls(modem, rai=rai)

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        self._check_open()
        self._check_size(data, f"{self.modem.profile.name} NIDD")
        await self.modem.send_nidd(data, rai=self.rai)

    async def receive(self) -> tuple[bytes, LinkAddress]:
        self._check_open()
        return await self.modem.receive_nidd(), NIDD_PEER

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        return NIDD_PEER

    async def close(self) -> None:
        self._closed = True


class SmsLink(_ModemLink):
    """8-bit binary SMS in PDU mode: the peer address is an MSISDN (``LinkAddress("+4915...")``).

    ``message_class=2`` (SIM-specific) is what the LwM2M SMS binding uses for
    messages meant for the device rather than its user; messages are sent with a
    fresh concatenation reference each, split into parts when larger than one SMS
    (up to :data:`SMS_PAYLOAD`); the driver reassembles incoming parts.
    """

    def __init__(self, modem: Modem, *, message_class: int | None = None, max_payload: int = SMS_PAYLOAD):
        super().__init__(modem, LinkAddress(f"{modem.profile.name}-sms"), max_payload)
        self.message_class = message_class
        self._references = itertools.cycle(range(256))

    @classmethod
    async def open(cls, modem: Modem, *, message_class: int | None = None, store: bool = True) -> SmsLink:
        """PDU mode and new-message indications on, then wrap the modem."""
        await modem.enable_sms(store=store)
        return cls(modem, message_class=message_class)

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        self._check_open()
        self._check_size(data, "an SMS")
        reference = next(self._references)
        parts = encode_submit(
            remote.host, bytes(data), encoding="8bit", message_class=self.message_class, reference=reference
        )
        await self.modem.send_sms(parts)

    async def receive(self) -> tuple[bytes, LinkAddress]:
        self._check_open()
        while True:
            message = await self.modem.receive_sms()
            payload = message.user_data
            if isinstance(payload, bytes):
                return payload, LinkAddress(str(message.peer))
            # A text SMS is for a person, not for CoAP: leave it to whoever reads the SIM.
            logger.info("ignoring a text SMS from %s on the binary SMS link", message.peer)

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        return LinkAddress(host)

    async def close(self) -> None:
        self._closed = True


if TYPE_CHECKING:  # mypy proves each class implements its protocol
    _udp: type[DatagramLink] = ModemUdpLink
    _nidd: type[DatagramLink] = NiddLink
    _sms: type[DatagramLink] = SmsLink
    _tcp: type[StreamLink] = ModemTcpLink
