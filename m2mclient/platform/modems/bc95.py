"""Quectel BC95 (Huawei Neul stack) and Quectel BC66: UDP over ``AT+NSO*`` with hex payloads (ref §5.1).

What differs from the generic 27.007 driver:

* sockets: ``AT+NSOCR`` answers a bare socket number, ``AT+NSOST`` a bare
  ``<socket>,<sent>`` (ref §1.4); data is announced by ``+NSONMI:<s>,<len>`` (no space
  after the colon on the BC95) and read with ``AT+NSORF``, which says how much of
  the datagram is left; ``+NSOCLI`` reports a socket the module closed.
* release assistance: ``AT+NSOSTF`` takes a flag, 0x200 "release after this
  message", 0x400 "release after the reply" (ref §4.6) - the one family here
  whose sockets carry RAI.
* PSM URCs: BC95 ``AT+NPSMR=1`` -> ``+NPSMR:1`` / ``+NPSMR:0``; any character on the
  UART wakes it (and is lost). BC66 ``AT+QNBIOTEVENT=1,1`` -> ``+QNBIOTEVENT: "ENTER
  PSM"`` / ``"EXIT PSM"``, ``AT+QATWAKEUP=1`` -> ``+QATWAKEUP``, sleep with
  ``AT+QSCLK=1``, wake by the PSM_EINT pin, boot-ROM text on wake (ref §1.4, §4.7) [P].

The BC66 socket syntax is unverified (ref §9): this driver gives it the BC95's
``AT+NSO*`` set, as the emulator does; later BC66 firmware documents ``AT+QIOPEN``.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from m2mclient.platform.at import Urc, parse_fields, unquote
from m2mclient.platform.modems.generic import (
    Capabilities,
    Modem,
    ModemProfile,
    ModemSocketError,
    PowerEvent,
    Rai,
    _Socket,
    register_modem,
)

__all__ = ["BC66_PROFILE", "BC95_PROFILE", "Bc66Modem", "Bc95Modem"]

BC95_PROFILE = ModemProfile(
    name="bc95",
    title="Quectel BC95 (NB-IoT, Neul stack)",
    detect=(r"BC95",),
    # SMS on the Neul NB-IoT firmware is not in the reference [U]; NIDD via +CSODCP [U].
    capabilities=Capabilities(udp=True, rai=True, nidd=True),
    imei_command="AT+CGSN=1",  # answers "+CGSN:<imei>"
    iccid_command="AT+NCCID",
    iccid_prefix="+NCCID",
    non_ip_pdp_type="NONIP",  # the BC95 +CGDCONT test lists "NONIP" (ref §3.2)
    psm_urc_command="AT+NPSMR=1",
    power_urcs=MappingProxyType({"+NPSMR:1": PowerEvent.PSM_ENTERED, "+NPSMR:0": PowerEvent.PSM_EXITED}),
    wake_by_uart=True,  # "wake up when receiving serial data" (ref §4.7)
    # mbed's BC95 stack retries on these (ref §1.2 [M-BC95-STACK]).
    cme_meanings=MappingProxyType(
        {159: "uplink busy (flow control): retry later", 536: "UART buffer error", 537: "back-off timer running"}
    ),
    max_datagram=512,  # SARA-N2 512; mbed caps the BC95 at 1358 (ref §5.1)
)

BC66_PROFILE = dataclasses.replace(
    BC95_PROFILE,
    name="bc66",
    title="Quectel BC66 / BC660K (NB-IoT)",
    detect=(r"BC66",),
    iccid_command="AT+QCCID",
    iccid_prefix="+QCCID",
    non_ip_pdp_type="Non-IP",
    psm_urc_command="AT+QNBIOTEVENT=1,1",
    optional_init_commands=("AT+QATWAKEUP=1",),
    power_urcs=MappingProxyType(
        {
            '+QNBIOTEVENT: "ENTER PSM"': PowerEvent.PSM_ENTERED,
            '+QNBIOTEVENT: "EXIT PSM"': PowerEvent.PSM_EXITED,
            "+QATSLEEP": PowerEvent.SLEEPING,
            "+QATWAKEUP": PowerEvent.AWAKE,
            "Leaving the BROM": PowerEvent.AWAKE,  # boot ROM on wake from deep sleep (ref §1.4)
        }
    ),
    sleep_command="AT+QSCLK=1",  # values [U] (ref §9)
    sleep_disable_command="AT+QSCLK=0",
    wake_by_uart=False,  # PSM_EINT pulse (watchible drives it low 1 s, ref §4.7)
)

# AT+NSOSTF <flag> per Rai (ref §4.6): 0x000 none, 0x200 release after this, 0x400 after the reply.
_NSOSTF_FLAGS = {Rai.NONE: "0x000", Rai.LAST_UPLINK: "0x200", Rai.AFTER_REPLY: "0x400"}
# <socket>,<ip>,<port>,<length>,<hex>,<remaining_length> - a bare line (ref §5.1).
_NSORF_LINE = r"\d+,[^,]*,\d+,\d+,"


@register_modem()
class Bc95Modem(Modem):
    """BC95: the generic driver plus ``AT+NSO*`` UDP sockets with RAI."""

    profile = BC95_PROFILE

    def _subscribe_urcs(self) -> None:
        super()._subscribe_urcs()
        self._subscribe("+NSONMI", self._on_nsonmi)
        self._subscribe("+NSOCLI", self._on_nsocli)

    def _on_nsonmi(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+NSONMI")
        if fields and fields[0].isdigit():
            self._data_available(int(fields[0]))

    def _on_nsocli(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+NSOCLI")
        if fields and fields[0].isdigit():
            self._peer_closed(int(fields[0]), "the module closed the socket (+NSOCLI)")

    async def _open_udp(self, local_port: int | None) -> _Socket:
        # AT+NSOCR="DGRAM",17,<listen_port>,1 -> <socket>; receive_control 1 = announce with +NSONMI.
        response = await self.at.command(f'AT+NSOCR="DGRAM",17,{local_port or 0},1', expect=r"\d+$", expect_lines=1)
        sock = self._new_socket("udp", module_id=int(response.lines[0]))
        sock.local_port = local_port
        return sock

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        ip = self._require_ip(host)
        head = f'{sock.module_id},"{ip}",{port}'
        body = f'{len(data)},"{data.hex().upper()}"'
        command = f"AT+NSOST={head},{body}" if rai is None else f"AT+NSOSTF={head},{_NSOSTF_FLAGS[rai]},{body}"
        # Answers "<socket>,<sent_length>" without a prefix (ref §1.4).
        response = await self.at.command(
            command, expect=r"\d+,\d+$", expect_lines=1, timeout=self.profile.timeouts.send
        )
        sent = int(response.lines[0].split(",")[1])
        if sent != len(data):
            raise ModemSocketError(f"the {self.profile.name} took {sent} of {len(data)} bytes")

    async def _read_available(self, sock: _Socket) -> None:
        pieces: list[bytes] = []
        while True:
            response = await self.at.command(
                f"AT+NSORF={sock.module_id},{self.profile.max_datagram}", expect=_NSORF_LINE
            )
            if not response.lines:
                break
            fields = [unquote(value) for value in parse_fields(response.lines[0])]
            try:
                host, port, data, remaining = fields[1], int(fields[2]), bytes.fromhex(fields[4]), int(fields[5])
            except (IndexError, ValueError):
                raise ModemSocketError(f"unreadable AT+NSORF answer: {response.lines[0]!r}") from None
            pieces.append(data)
            if remaining == 0:  # the datagram is complete; a longer one came in several reads
                self._deliver(sock, b"".join(pieces), host, port)
                pieces.clear()
        if pieces:
            raise ModemSocketError(f"the {self.profile.name} announced more of a datagram than it gave")

    async def _close(self, sock: _Socket) -> None:
        await self.at.command(f"AT+NSOCL={sock.module_id}")


@register_modem()
class Bc66Modem(Bc95Modem):
    """BC66 / BC660K: BC95 sockets [U], Quectel identity, PSM and sleep URCs."""

    profile = BC66_PROFILE
