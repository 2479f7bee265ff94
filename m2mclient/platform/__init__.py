"""The platform layer: links (OS sockets, modem sockets, SMS, NIDD), AT modems and power.

It knows nothing of the protocols above it (DESIGN.md rule 3). :mod:`.links` is
the seam every binding moves bytes through (``DatagramLink``, ``StreamLink``);
:mod:`.sockets` implements it over the host's network stack (``UdpLink``, ``TcpLink``).
"""
