"""AT-command cellular modules: one generic 3GPP TS 27.007 driver and one short file per module family.

* :mod:`.generic` - :class:`Modem` (init, identity, registration, operator, APN,
  attach, signal, clock, PSM / eDRX, sleep and wake, NIDD, SMS, the socket API) and
  :class:`ModemProfile`, the table a module file fills in.
* :mod:`.bc95` (BC95, BC66), :mod:`.bg96` (BG96, BG95), :mod:`.sim7020`,
  :mod:`.sim7080`, :mod:`.sara_r4` - what each family says differently, mostly its
  socket commands; each registers its driver in :data:`MODEM_CLASSES`.
* :mod:`.detect` - :func:`detect_model` and :func:`open_modem`.

Nothing here knows a protocol above the platform layer (DESIGN.md rule 3).
"""

from m2mclient.platform.modems.detect import available_models, detect_model, open_modem
from m2mclient.platform.modems.generic import (
    MODEM_CLASSES,
    Capabilities,
    Datagram,
    EdrxRequest,
    Modem,
    ModemCapabilityError,
    ModemError,
    ModemIdentity,
    ModemProfile,
    ModemSocketClosedError,
    ModemSocketError,
    Operator,
    PdpContext,
    PowerEvent,
    PsmRequest,
    Rai,
    Registration,
    RegistrationStatus,
    Signal,
    SimError,
    SimPinRequiredError,
    Timeouts,
    register_modem,
)

__all__ = [
    "MODEM_CLASSES",
    "Capabilities",
    "Datagram",
    "EdrxRequest",
    "Modem",
    "ModemCapabilityError",
    "ModemError",
    "ModemIdentity",
    "ModemProfile",
    "ModemSocketClosedError",
    "ModemSocketError",
    "Operator",
    "PdpContext",
    "PowerEvent",
    "PsmRequest",
    "Rai",
    "Registration",
    "RegistrationStatus",
    "Signal",
    "SimError",
    "SimPinRequiredError",
    "Timeouts",
    "available_models",
    "detect_model",
    "open_modem",
    "register_modem",
]
