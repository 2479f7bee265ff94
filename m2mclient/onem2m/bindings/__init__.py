"""oneM2M bindings: one interface (:class:`~m2mclient.onem2m.bindings.base.Binding`), three ways to carry it.

``http`` (TS-0009), ``ws`` (TS-0020) and ``coap`` (TS-0008). Each maps request
and response primitives to its protocol and delivers the CSE's own requests
(notifications) to the AE's handler. :func:`open_binding` picks one from a URL.
"""

from m2mclient.onem2m.bindings.base import Binding, RequestHandler, open_binding

__all__ = ["Binding", "RequestHandler", "open_binding"]
