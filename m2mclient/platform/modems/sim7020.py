"""SIMCom SIM7020 (NB-IoT): UDP and TCP over ``AT+CSO*`` with hex payloads (ref §5.3).

What differs from the generic 27.007 driver:

* the APN is set with ``AT*MCGDEFCONT`` while the radio is off (``AT+CFUN=0`` ...
  ``AT+CFUN=1``, ref §2.2 [TGSM-7020]); receive as hex (``AT+CSORCVFLAG=0``, RIOT's init);
* ``AT+CSOC=1,2,1`` creates a socket (``+CSOC: <id>``), ``AT+CSOB`` binds a local port,
  ``AT+CSOCON=<id>,<port>,"<ip>"`` fixes its peer: a UDP handle holds one module
  socket per peer, opened on the first datagram to it;
* ``AT+CSOSEND=<id>,<len>,<hex>`` sends. Sources disagree on ``<len>`` (ref §5.3 [P]);
  this driver gives the number of hex characters, as most code in the corpus does
  (``AT+CSOSEND=0,2,"aa"``, ``len(data_hex)``, ``len_data * 2``) and as ``+CSONMI``
  counts; set :attr:`Sim7020Modem.length_in_hex_characters` False for byte counts;
* data arrives *inside* ``+CSONMI: <id>,<hex length>,<hex>`` (no read command), and
  ``+CSOERR: <id>,<code>`` reports a socket the module dropped [P].

Sleep: ``AT+CSCLK=1`` with DTR high, DTR low wakes; PSM URCs from ``AT+CPSMSTATUS=1``
(ref §4.7). ``+CEREG`` carries an extra field after ``<AcT>``; the generic parser reads
the PSM timers from the end, so it needs no special case (ref §1.4). ``AT+CNBIOTRAI``
enables a release indication whose per-message meaning is unverified (ref §4.6 [U]):
no socket RAI here.
"""

from __future__ import annotations

import logging
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

__all__ = ["SIM7020_PROFILE", "Sim7020Modem"]

logger = logging.getLogger(__name__)

SIM7020_PROFILE = ModemProfile(
    name="sim7020",
    title="SIMCom SIM7020 (NB-IoT)",
    detect=(r"SIM7020",),
    capabilities=Capabilities(udp=True, tcp=True, sms=True, nidd=True),  # NIDD via +CSODCP [U]
    iccid_command="AT+CCID",
    iccid_prefix=None,  # a bare line
    apn_commands=("AT+CFUN=0", 'AT*MCGDEFCONT="{pdp_type}","{apn}"', "AT+CFUN=1"),
    init_commands=("AT+CSORCVFLAG=0",),  # +CSONMI data as hex [RIOT-7020]
    psm_urc_command="AT+CPSMSTATUS=1",
    power_urcs=MappingProxyType(
        {'+CPSMSTATUS: "ENTER PSM"': PowerEvent.PSM_ENTERED, '+CPSMSTATUS: "EXIT PSM"': PowerEvent.PSM_EXITED}
    ),
    sleep_command="AT+CSCLK=1",
    sleep_disable_command="AT+CSCLK=0",
    max_datagram=512,  # Kampi's CSOSEND limit (ref §5.3)
    socket_ids=range(5),
)


@register_modem()
class Sim7020Modem(Modem):
    """SIM7020: the generic driver plus ``AT+CSO*`` sockets, one module socket per UDP peer."""

    profile = SIM7020_PROFILE
    #: ``AT+CSOSEND`` ``<data_len>`` counts hex characters (True) or bytes (False); see the module docstring.
    length_in_hex_characters = True

    def _subscribe_urcs(self) -> None:
        super()._subscribe_urcs()
        self._subscribe("+CSONMI", self._on_csonmi)
        self._subscribe("+CSOERR", self._on_csoerr)

    def _on_csonmi(self, urc: Urc) -> None:
        # +CSONMI: <id>,<data_len>,<hex>; data_len counts hex characters (ref §5.3 [EDRAGON-PSM]).
        fields = parse_fields(urc.line, "+CSONMI")
        try:
            module_id, data = int(fields[0]), bytes.fromhex(unquote(fields[2]))
        except (IndexError, ValueError):
            # Logged with the line, so the bytes can still be recovered (DESIGN.md rule 5).
            self._log_lost(urc.line)
            return
        owner = self._owner(module_id)
        if owner is None:
            return
        sock, peer = owner
        source = peer or sock.peer
        if source is None:
            self._log_lost(urc.line)
            return
        self._deliver(sock, data, *source)

    def _on_csoerr(self, urc: Urc) -> None:
        fields = parse_fields(urc.line, "+CSOERR")
        if fields and fields[0].isdigit():
            self._peer_closed(int(fields[0]), f"the module reported a socket error ({urc.line})")

    def _log_lost(self, line: str) -> None:
        logger.warning("%s: a +CSONMI nobody can take, data lost: %r", self.profile.name, line)

    async def _csoc(self, sock: _Socket, kind: int, host: str, port: int, peer: tuple[str, int] | None) -> int:
        # AT+CSOC=<domain 1 IPv4>,<type 1 TCP | 2 UDP>,<protocol 1 IP> -> +CSOC: <id> (ref §5.3)
        response = await self.at.command(f"AT+CSOC=1,{kind},1", prefix="+CSOC")
        module_id = int(unquote(response.fields()[0]))
        self._map_module_id(sock, module_id, peer)
        try:
            if sock.local_port:
                await self.at.command(f"AT+CSOB={module_id},{sock.local_port}")
            await self.at.command(f'AT+CSOCON={module_id},{port},"{host}"', timeout=self.profile.timeouts.socket_open)
        except Exception:
            self._by_module_id.pop(module_id, None)
            await self.at.command(f"AT+CSOCL={module_id}")
            raise
        return module_id

    async def _open_udp(self, local_port: int | None) -> _Socket:
        sock = self._new_socket("udp")
        sock.local_port = local_port
        return sock

    async def _open_tcp(self, host: str, port: int) -> _Socket:
        ip = self._require_ip(host)
        sock = self._new_socket("tcp")
        sock.peer = (ip, port)
        try:
            sock.links[(ip, port)] = await self._csoc(sock, 1, ip, port, None)
        except Exception:
            self._forget(sock, "connect failed")
            raise
        return sock

    async def _csosend(self, module_id: int, data: bytes) -> None:
        text = data.hex().upper()
        length = len(text) if self.length_in_hex_characters else len(data)
        await self.at.command(f"AT+CSOSEND={module_id},{length},{text}", timeout=self.profile.timeouts.send)

    async def _send_to(self, sock: _Socket, host: str, port: int, data: bytes, rai: Rai | None) -> None:
        ip = self._require_ip(host)
        module_id = sock.links.get((ip, port))
        if module_id is None:
            module_id = sock.links[(ip, port)] = await self._csoc(sock, 2, ip, port, (ip, port))
        await self._csosend(module_id, data)

    async def _send_stream(self, sock: _Socket, data: bytes) -> None:
        module_id = next(iter(sock.links.values()), None)
        if module_id is None:
            raise ModemSocketError(f"TCP socket {sock.handle} has no connection")
        await self._csosend(module_id, data)

    async def _close(self, sock: _Socket) -> None:
        for module_id in list(sock.links.values()):
            await self.at.command(f"AT+CSOCL={module_id}")
        sock.links.clear()
