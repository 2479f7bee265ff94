"""SIMCom SIM7080G (and the SIM7070G sibling): UDP and TCP over ``AT+CA*`` (ref §5.4).

What differs from the generic 27.007 driver:

* a bearer first: ``AT+CNACT=0,1`` answers OK and reports ``+APP PDP: 0,ACTIVE``
  (ref §2.2 [Z-SIM7080]); its APN comes from ``AT+CNCFG`` (set with :meth:`Modem.set_apn`);
* ``AT+CAOPEN=<cid>,0,"UDP"|"TCP","<server>",<port>`` connects a socket to *one*
  peer and reports ``+CAOPEN: <cid>,<result>`` after OK (ref §1.2, §5.4). A UDP handle
  therefore holds one module socket per peer, opened on the first datagram to it;
  ``<recv_mode>`` is left out ("including the <recv_mode> fails", TinyGSM);
* ``AT+CASEND=<cid>,<len>`` prompts ``> `` and takes exactly ``<len>`` raw bytes, no
  Ctrl-Z (ref §1.3: TinyGSM and Kampi do so; Zephyr's extra 0x1A is not relied on);
* ``+CADATAIND: <cid>`` announces data without a length, ``AT+CARECV=<cid>,<len>``
  reads ``+CARECV: <len>,<raw bytes>`` (no ``<cid>``, as TinyGSM found, ref §1.4) until
  ``+CARECV: 0``; ``+CASTATE: <cid>,0`` reports a socket the module closed.

SIM7080 RAI and PSM URCs are unverified (ref §4.6, §9): no socket RAI here; the PSM
URCs of ``AT+CPSMSTATUS=1`` are the SIM7020's, tried and ignored if refused.
"""

from __future__ import annotations

from types import MappingProxyType

from m2mclient.platform.at import RawPayload, Urc, parse_fields
from m2mclient.platform.modems.generic import (
    Capabilities,
    Modem,
    ModemCapabilityError,
    ModemProfile,
    ModemSocketError,
    PowerEvent,
    Rai,
    Timeouts,
    _Socket,
    register_modem,
)

__all__ = ["SIM7080_PROFILE", "Sim7080Modem"]

SIM7080_PROFILE = ModemProfile(
    name="sim7080",
    title="SIMCom SIM7080G / SIM7070G (LTE-M / NB-IoT)",
    detect=(r"SIM7080", r"SIM7070"),
    capabilities=Capabilities(udp=True, tcp=True, sms=True, nidd=True),  # NIDD via +CSODCP [U]
    timeouts=Timeouts(socket_open=90.0, pdp_activate=120.0),  # connect 90 s, PDP 120 s [Z-SIM7080 .h]
    iccid_command="AT+CCID",
    iccid_prefix=None,  # a bare line
    apn_commands=('AT+CGDCONT={cid},"{pdp_type}","{apn}"', 'AT+CNCFG=0,1,"{apn}"'),  # [TGSM-7080]
    psm_urc_command="AT+CPSMSTATUS=1",  # [U] for the SIM7080 (ref §9)
    power_urcs=MappingProxyType(
        {'+CPSMSTATUS: "ENTER PSM"': PowerEvent.PSM_ENTERED, '+CPSMSTATUS: "EXIT PSM"': PowerEvent.PSM_EXITED}
    ),
    sleep_command="AT+CSCLK=1",  # sleeps while DTR is high; DTR low >= 50 ms wakes (ref §4.7)
    sleep_disable_command="AT+CSCLK=0",
    max_datagram=1024,  # Zephyr / TinyGSM cap one transfer at 1024 (ref §5.4)
    socket_ids=range(13),
)

# +CARECV: <len>,<len raw bytes>; "+CARECV: 0" has no comma and reads as a plain line.
_CARECV = RawPayload(rb"\+CARECV: ?(\d+),")
# +CAOPEN <result> (ref §5.4).
_CAOPEN_RESULTS = {
    1: "socket error",
    2: "no memory",
    3: "connection limit",
    4: "parameter invalid",
    6: "invalid IP address",
    7: "not supported",
    12: "cannot bind the port",
    13: "cannot listen",
    20: "cannot resolve the host",
    21: "network not active",
    23: "remote refused",
    27: "connect failed",
}


@register_modem("sim7070")
class Sim7080Modem(Modem):
    """SIM7080G: the generic driver plus ``AT+CA*`` sockets, one module socket per UDP peer."""

    profile = SIM7080_PROFILE
    #: The bearer (``AT+CNACT`` pdp index) the sockets use.
    pdp_index = 0

    def _subscribe_urcs(self) -> None:
        super()._subscribe_urcs()
        self._subscribe("+CADATAIND", self._on_cadataind)
        self._subscribe("+CASTATE", self._on_castate)

    def _on_cadataind(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+CADATAIND")
        if fields and fields[0].isdigit():
            self._data_available(int(fields[0]))

    def _on_castate(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+CASTATE")
        if len(fields) >= 2 and fields[0].isdigit() and fields[1] == "0":  # 0 closed (ref §5.4)
            self._peer_closed(int(fields[0]), "the module closed the connection (+CASTATE: <cid>,0)")

    async def _activate_bearer(self) -> None:
        response = await self.at.command("AT+CNACT?", prefix="+CNACT")
        for line in response.lines:
            if parse_fields(line, "+CNACT")[:2] == [str(self.pdp_index), "1"]:
                return
        timeout = self.profile.timeouts.pdp_activate
        with self.at.expect_urc("+APP PDP", match=rf"\+APP PDP: ?{self.pdp_index},") as waiter:
            await self.at.command(f"AT+CNACT={self.pdp_index},1", timeout=timeout)
            urc = await waiter.wait(timeout)
        if not urc.line.rstrip().upper().endswith(",ACTIVE"):
            raise ModemSocketError(f"the data bearer did not come up: {urc.line}")

    async def _caopen(self, sock: _Socket, kind: str, host: str, port: int, peer: tuple[str, int] | None) -> int:
        await self._activate_bearer()
        cid = self._free_module_id()
        self._map_module_id(sock, cid, peer)
        timeout = self.profile.timeouts.socket_open
        try:
            with self.at.expect_urc("+CAOPEN", match=rf"\+CAOPEN: ?{cid},") as waiter:
                await self.at.command(f'AT+CAOPEN={cid},{self.pdp_index},"{kind}","{host}",{port}', timeout=timeout)
                urc = await waiter.wait(timeout)
        except BaseException:
            self._by_module_id.pop(cid, None)
            raise
        result = int(parse_fields(urc.line, "+CAOPEN")[1])
        if result != 0:
            self._by_module_id.pop(cid, None)
            raise ModemSocketError(f"+CAOPEN: {cid},{result}: {_CAOPEN_RESULTS.get(result, 'unknown result')}")
        return cid

    async def _open_udp(self, local_port: int | None) -> _Socket:
        if local_port is not None:
            raise ModemCapabilityError("the SIM7080's AT+CAOPEN takes no local port (ref §5.4): pass local_port=None")
        return self._new_socket("udp")  # module sockets open per peer, on the first datagram

    async def _open_tcp(self, host: str, port: int) -> _Socket:
        sock = self._new_socket("tcp")
        sock.peer = (host, port)
        try:
            sock.links[(host, port)] = await self._caopen(sock, "TCP", host, port, None)
        except Exception:
            self._forget(sock, "connect failed")
            raise
        return sock

    async def _link(self, sock: _Socket, host: str, port: int) -> int:
        peer = (host, port)
        cid = sock.links.get(peer)
        if cid is None:
            cid = sock.links[peer] = await self._caopen(sock, "UDP", host, port, peer)
        return cid

    async def _casend(self, cid: int, data: bytes) -> None:
        # Exactly <len> bytes after the prompt, final OK; no Ctrl-Z (ref §1.3).
        await self.at.command_with_data(
            f"AT+CASEND={cid},{len(data)}",
            data,
            prompt_timeout=self.profile.timeouts.prompt,
            timeout=self.profile.timeouts.send,
        )

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        await self._casend(await self._link(sock, host, port), data)

    async def _send_stream(self, sock: _Socket, data: bytes) -> None:
        cid = next(iter(sock.links.values()), None)
        if cid is None:
            raise ModemSocketError(f"TCP socket {sock.handle} has no connection")
        await self._casend(cid, data)

    async def _read_available(self, sock: _Socket) -> None:
        # +CADATAIND does not say how much; read each connection until it has nothing left.
        for (host, port), cid in list(sock.links.items()):
            while True:
                response = await self.at.command(
                    f"AT+CARECV={cid},{self.profile.max_datagram}", prefix="+CARECV", payload=_CARECV
                )
                if not response.payloads or not response.payloads[0]:
                    break
                self._deliver(sock, response.payloads[0], host, port)

    async def _close(self, sock: _Socket) -> None:
        for cid in list(sock.links.values()):
            await self.at.command(f"AT+CACLOSE={cid}", timeout=self.profile.timeouts.socket_close)
        sock.links.clear()
