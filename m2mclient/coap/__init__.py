"""CoAP for m2mclient: the one aiocoap context factory and the LwM2M site glue.

Transports over platform links (modem sockets, SMS, NIDD) plug in here, behind
aiocoap's message interfaces, without touching the LwM2M engine.
"""
