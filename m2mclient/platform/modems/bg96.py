"""Quectel BG96 / BG95: UDP and TCP over ``AT+QI*`` with raw payloads (ref §5.2).

What differs from the generic 27.007 driver:

* a data context first: ``AT+QICSGP`` holds its APN (set with :meth:`Modem.set_apn`),
  ``AT+QIACT=1`` activates it (ref §2.2);
* ``AT+QIOPEN`` answers OK and reports the outcome later in ``+QIOPEN: <id>,<err>``
  (up to 150 s, ref §1.2, §1.5). UDP sockets are ``"UDP SERVICE"`` (mbed's form), so
  one socket sends to any peer with ``AT+QISEND=<id>,<len>,"<ip>",<port>`` and reads
  tell who sent (ref §5.2);
* ``AT+QISEND`` prompts ``> ``, takes exactly ``<len>`` raw bytes, ends with ``SEND OK``
  / ``SEND FAIL`` (ref §1.2, §1.3);
* buffer access mode: ``+QIURC: "recv",<id>`` announces data, ``AT+QIRD`` reads it as
  ``+QIRD: <len>[,<ip>,<port>]<CR><LF><bytes>`` (a raw payload that may hold CR/LF),
  and no new announcement comes until the buffer was drained (ref §5.2).

No RAI on these sockets: the BG95's ``AT+QISENDEX=<id>,"<hex>",<RAI>`` is NB-IoT only
and not for ``"UDP SERVICE"`` sockets (ref §4.6 [Q-BG95-TCPIP]). NIDD on the BG96 uses
the non-3GPP ``AT+QCFGEXT="nipds"`` (ref §5.2 [M-BG96-CP]), which this driver does not
speak. PSM URCs (``AT+QCFG="psm/urc",1`` -> ``PSM POWER DOWN``) are unverified (ref §9).
"""

from __future__ import annotations

from types import MappingProxyType

from m2mclient.platform.at import AtTimeoutError, RawPayload, Urc, parse_fields, unquote
from m2mclient.platform.modems.generic import (
    Capabilities,
    Modem,
    ModemProfile,
    ModemSocketError,
    PowerEvent,
    Rai,
    Timeouts,
    _Socket,
    register_modem,
)

__all__ = ["BG96_PROFILE", "Bg96Modem"]

BG96_PROFILE = ModemProfile(
    name="bg96",
    title="Quectel BG96 / BG95 (LTE-M / NB-IoT)",
    detect=(r"BG9[56]",),
    capabilities=Capabilities(udp=True, tcp=True, sms=True),
    timeouts=Timeouts(socket_open=150.0, socket_close=20.0, pdp_activate=150.0),  # ref §1.5 [M-BG96-STACK-H]
    iccid_command="AT+QCCID",
    iccid_prefix="+QCCID",
    # Context 1 serves AT+QIACT / AT+QIOPEN; its APN is QICSGP's (context_type 1 = IPv4) (ref §2.2 Zephyr).
    apn_commands=('AT+CGDCONT={cid},"{pdp_type}","{apn}"', 'AT+QICSGP={cid},1,"{apn}","","",1'),
    psm_urc_command='AT+QCFG="psm/urc",1',  # [U] (ref §9)
    power_urcs=MappingProxyType({"PSM POWER DOWN": PowerEvent.PSM_ENTERED, "RDY": PowerEvent.AWAKE}),
    sleep_command="AT+QSCLK=1",  # sleeps while DTR is high; DTR low wakes (ref §4.7)
    sleep_disable_command="AT+QSCLK=0",
    max_datagram=1460,  # QISEND 0-1460 bytes (ref §5.2)
    socket_ids=range(12),  # connectID 0-11
)

# +QIRD: <len>[,<ip>,<port>]<CR><LF><len bytes> (ref §5.2); "+QIRD: 0" carries nothing.
_QIRD = RawPayload(rb"\+QIRD: ?(\d+)[^\r\n]*\r\n")
# QIOPEN <err> (ref §1.2: 556 bind failed [M-BG96-STACK-H]; the others from the QIGETERROR table [U]).
_QIOPEN_ERRORS = {
    556: "socket bind failed (local port taken)",
    561: "opening the PDP context failed",
    563: "socket identity already used",
    566: "socket connect failed",
}
#: Largest read the module serves at once (QIRD read_length 0-1500, ref §5.2).
_MAX_READ = 1500


@register_modem("bg95")
class Bg96Modem(Modem):
    """BG96 / BG95: the generic driver plus ``AT+QI*`` sockets."""

    profile = BG96_PROFILE
    #: The PDP context the sockets use (contextID, 1-16).
    context_id = 1

    def _subscribe_urcs(self) -> None:
        super()._subscribe_urcs()
        self._subscribe("+QIURC", self._on_qiurc)

    def _on_qiurc(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+QIURC")
        kind = unquote(fields[0]).lower() if fields else ""
        number = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
        if number is None:
            return
        if kind == "recv":  # BG95 adds ",<len>" (ref §5.2); the read finds out anyway
            self._data_available(number)
        elif kind == "closed":
            self._peer_closed(number, 'the peer closed the connection (+QIURC: "closed")')
        elif kind == "pdpdeact" and number == self.context_id:
            for module_id in list(self._by_module_id):
                self._peer_closed(module_id, 'the network deactivated the data context (+QIURC: "pdpdeact")')

    async def _activate_context(self) -> None:
        response = await self.at.command("AT+QIACT?", prefix="+QIACT")
        for line in response.lines:
            fields = parse_fields(line, "+QIACT")
            if fields[:2] == [str(self.context_id), "1"]:
                return
        await self.at.command(f"AT+QIACT={self.context_id}", timeout=self.profile.timeouts.pdp_activate)

    async def _qiopen(self, sock: _Socket, service: str, host: str, remote_port: int, local_port: int) -> None:
        await self._activate_context()
        connect_id = self._free_module_id()
        self._map_module_id(sock, connect_id)
        timeout = self.profile.timeouts.socket_open
        try:
            # The outcome comes after OK in +QIOPEN: <id>,<err> (ref §1.2): listen before sending.
            with self.at.expect_urc("+QIOPEN", match=rf"\+QIOPEN: ?{connect_id},") as waiter:
                await self.at.command(
                    f'AT+QIOPEN={self.context_id},{connect_id},"{service}","{host}",{remote_port},{local_port},0'
                )
                urc = await waiter.wait(timeout)
        except AtTimeoutError:
            self._forget(sock, "QIOPEN timed out")
            # "wait up to 150 s, else AT+QICLOSE" (ref §5.2)
            await self.at.command(f"AT+QICLOSE={connect_id}", timeout=self.profile.timeouts.socket_close)
            raise
        except BaseException:
            self._forget(sock, "QIOPEN failed")
            raise
        error = int(parse_fields(urc.line, "+QIOPEN")[1])
        if error != 0:
            self._forget(sock, f"QIOPEN failed with {error}")
            meaning = _QIOPEN_ERRORS.get(error, "see AT+QIGETERROR")
            raise ModemSocketError(f"+QIOPEN: {connect_id},{error}: {meaning}")

    async def _open_udp(self, local_port: int | None) -> _Socket:
        sock = self._new_socket("udp")
        sock.local_port = local_port
        # mbed: AT+QIOPEN=1,<id>,"UDP SERVICE","127.0.0.1",0,<lport>,0 (ref §5.2); lport 0 lets the module pick [U].
        await self._qiopen(sock, "UDP SERVICE", "127.0.0.1", 0, local_port or 0)
        return sock

    async def _open_tcp(self, host: str, port: int) -> _Socket:
        sock = self._new_socket("tcp")
        sock.peer = (host, port)
        await self._qiopen(sock, "TCP", host, port, 0)  # Zephyr: AT+QIOPEN=1,<id>,"TCP","<ip>",<port>,0,0
        return sock

    async def _qisend(self, command: str, data: bytes) -> None:
        await self.at.command_with_data(
            command,
            data,
            terminators=("SEND OK",),
            failures=("SEND FAIL",),
            prompt_timeout=self.profile.timeouts.prompt,
            timeout=self.profile.timeouts.send,
        )

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        ip = self._require_ip(host)
        await self._qisend(f'AT+QISEND={sock.module_id},{len(data)},"{ip}",{port}', data)

    async def _send_stream(self, sock: _Socket, data: bytes) -> None:
        await self._qisend(f"AT+QISEND={sock.module_id},{len(data)}", data)

    async def _read_available(self, sock: _Socket) -> None:
        # UDP SERVICE reads one datagram with its source; TCP reads up to read_length bytes.
        command = f"AT+QIRD={sock.module_id}" + ("" if sock.kind == "udp" else f",{_MAX_READ}")
        while True:
            response = await self.at.command(command, prefix="+QIRD", payload=_QIRD)
            fields = [unquote(value) for value in response.fields()]
            if not fields or fields[0] == "0" or not response.payloads:
                return
            data = response.payloads[0]
            if sock.kind == "udp":
                try:
                    host, port = fields[1], int(fields[2])
                except (IndexError, ValueError):
                    raise ModemSocketError(f"a UDP SERVICE read without its source: {response.line()!r}") from None
            else:
                assert sock.peer is not None
                host, port = sock.peer
            self._deliver(sock, data, host, port)

    async def _close(self, sock: _Socket) -> None:
        await self.at.command(f"AT+QICLOSE={sock.module_id}", timeout=self.profile.timeouts.socket_close)
