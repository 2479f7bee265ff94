"""The platform layer: links (OS sockets, modem sockets, SMS, NIDD), AT modems and power.

It knows nothing of the protocols above it (DESIGN.md rule 3). Its modules
arrive with the platform issue; this package marks its place in the layout.
"""
