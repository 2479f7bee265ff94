"""u-blox SARA-R4 (LTE-M / NB-IoT): UDP and TCP over ``AT+USO*`` in HEX mode (ref §5.5).

What differs from the generic 27.007 driver:

* ``AT+UDCONF=1,1`` at init switches socket data to HEX (Zephyr's init, ref §2.2), so
  reads are plain lines ``+USORF: <s>,"<ip>",<port>,<len>,"<hex>"`` that no CR/LF in the
  data can break;
* ``AT+USOCR=17[,<local_port>]`` -> ``+USOCR: <s>``; ``AT+USOST=<s>,"<ip>",<port>,<len>``
  prompts ``@``; after the 50 ms guard the u-blox manual asks for (the AT engine
  keeps it) the data goes as hex characters, because HEX mode "also affects the
  BINARY send method" (Zephyr's finding, ref §1.3, §5.5); the answer is
  ``+USOST: <s>,<len>``;
* ``+UUSORF: <s>,<len>`` announces a datagram, ``AT+USORF`` reads it; ``+USORF: <s>,0``
  (two fields) means nothing is left. TCP: ``AT+USOCO`` connects, ``AT+USOWR`` writes
  with the same ``@`` prompt, ``+UUSORD`` / ``AT+USORD`` read; ``+UUSOCL`` closes.

PSM URCs: ``AT+UPSMR=1`` -> ``+UUPSMR: <state>`` (1 entering PSM, 0 out of it, ref §4.7).
No RAI on ``+USOST`` was found for the R4 (ref §4.6 [U]); NIDD works only with an
EPS-only MNO profile (``+USVCDOMAIN``, ref §6).
"""

from __future__ import annotations

from types import MappingProxyType

from m2mclient.platform.at import Urc, unquote
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

__all__ = ["SARA_R4_PROFILE", "SaraR4Modem"]

SARA_R4_PROFILE = ModemProfile(
    name="sara-r4",
    title="u-blox SARA-R4 (LTE-M / NB-IoT)",
    detect=(r"SARA-R4",),
    capabilities=Capabilities(udp=True, tcp=True, sms=True, nidd=True),
    iccid_command="AT+CCID",
    iccid_prefix="+CCID",
    init_commands=("AT+UDCONF=1,1",),
    psm_urc_command="AT+UPSMR=1",
    power_urcs=MappingProxyType({"+UUPSMR: 1": PowerEvent.PSM_ENTERED, "+UUPSMR: 0": PowerEvent.PSM_EXITED}),
    max_datagram=512,  # HEX mode: 1-512 bytes per +USOST (ref §5.5)
    socket_ids=range(7),
)

_USOST_ANSWER = r"\+USOST: ?\d+,\d+"
_USOWR_ANSWER = r"\+USOWR: ?\d+,\d+"
#: Largest read asked for: the R4 serves 1024 bytes per +USORF / +USORD (ref §5.5).
_MAX_READ = 1024


@register_modem()
class SaraR4Modem(Modem):
    """SARA-R4: the generic driver plus ``AT+USO*`` sockets in HEX mode."""

    profile = SARA_R4_PROFILE

    def _subscribe_urcs(self) -> None:
        super()._subscribe_urcs()
        self._subscribe("+UUSORF", self._on_data_urc)
        self._subscribe("+UUSORD", self._on_data_urc)
        self._subscribe("+UUSOCL", self._on_uusocl)

    def _on_data_urc(self, urc: Urc) -> None:
        fields = urc.fields()
        if fields and fields[0].isdigit():
            self._data_available(int(fields[0]))

    def _on_uusocl(self, urc: Urc) -> None:
        fields = urc.fields()
        if fields and fields[0].isdigit():
            self._peer_closed(int(fields[0]), "the module closed the socket (+UUSOCL)")

    async def _usocr(self, protocol: int, local_port: int | None) -> int:
        port = f",{local_port}" if local_port else ""
        response = await self.at.command(f"AT+USOCR={protocol}{port}", prefix="+USOCR")
        return int(unquote(response.fields()[0]))

    async def _open_udp(self, local_port: int | None) -> _Socket:
        sock = self._new_socket("udp", module_id=await self._usocr(17, local_port))
        sock.local_port = local_port
        return sock

    async def _open_tcp(self, host: str, port: int) -> _Socket:
        ip = self._require_ip(host)
        sock = self._new_socket("tcp", module_id=await self._usocr(6, None))
        sock.peer = (ip, port)
        try:
            await self.at.command(f'AT+USOCO={sock.module_id},"{ip}",{port}', timeout=self.profile.timeouts.socket_open)
        except Exception:
            self._forget(sock, "connect failed")
            await self.at.command(f"AT+USOCL={sock.module_id}")
            raise
        return sock

    async def _write(self, command: str, data: bytes, prefix: str, expect: str) -> None:
        # '@' prompt, guard time, then the data as hex characters in HEX mode (ref §1.3, §5.5).
        response = await self.at.command_with_data(
            command,
            data.hex().upper().encode("ascii"),
            prompt="@",
            prefix=prefix,
            expect=expect,
            prompt_timeout=self.profile.timeouts.prompt,
            timeout=self.profile.timeouts.send,
        )
        sent = int(response.fields()[1])
        if sent != len(data):
            raise ModemSocketError(f"the {self.profile.name} took {sent} of {len(data)} bytes")

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        ip = self._require_ip(host)
        await self._write(f'AT+USOST={sock.module_id},"{ip}",{port},{len(data)}', data, "+USOST", _USOST_ANSWER)

    async def _send_stream(self, sock: _Socket, data: bytes) -> None:
        await self._write(f"AT+USOWR={sock.module_id},{len(data)}", data, "+USOWR", _USOWR_ANSWER)

    async def _read_available(self, sock: _Socket) -> None:
        name = "+USORF" if sock.kind == "udp" else "+USORD"
        while True:
            response = await self.at.command(f"AT{name}={sock.module_id},{_MAX_READ}", prefix=name)
            fields = [unquote(value) for value in response.fields()]
            try:
                if sock.kind == "udp":  # <s>,"<ip>",<port>,<len>,"<hex>"; <s>,<unread> when empty
                    if len(fields) < 5:
                        return
                    host, port, data = fields[1], int(fields[2]), bytes.fromhex(fields[4])
                else:  # <s>,<len>,"<hex>"; <s>,<unread> when empty
                    if len(fields) < 3:
                        return
                    assert sock.peer is not None
                    (host, port), data = sock.peer, bytes.fromhex(fields[2])
            except ValueError:
                raise ModemSocketError(f"unreadable {name} answer: {response.line()!r}") from None
            if not data:
                return
            self._deliver(sock, data, host, port)

    async def _close(self, sock: _Socket) -> None:
        await self.at.command(f"AT+USOCL={sock.module_id}", timeout=self.profile.timeouts.socket_close)
