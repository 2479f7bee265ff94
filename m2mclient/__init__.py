"""m2mclient: an LwM2M 1.2 client and oneM2M AE SDK for constrained devices.

The LwM2M data model and content formats live in :mod:`m2mclient.lwm2m`; every
error the SDK raises derives from :class:`m2mclient.errors.M2MError`.
"""

from m2mclient.errors import FormatError, M2MError

__version__ = "0.1.0"

__all__ = ["FormatError", "M2MError", "__version__"]
