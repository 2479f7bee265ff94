"""Connectivity Monitoring (object 4): the bearer, signal and addresses of the active link.

What a modem knows (bearer, RSRP, cell id, APN, ...) it reports through
:meth:`ConnectivityMonitoring.update`; the instance turns each changed field
into a resource change, so observers hear about it. Without a modem,
:func:`probe_host_link` reads the host's default route and addresses from
``/proc/net`` (no packet is sent) and guesses the bearer from the interface
name. Fields nobody knows stay out of the instance instead of being invented,
even the mandatory Radio Signal Strength on a wired link.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from m2mclient.errors import ValueValidationError
from m2mclient.lwm2m.core_objects import CORE_OBJECTS
from m2mclient.lwm2m.model import ObjectDefinition
from m2mclient.lwm2m.objects.base import ObjectInstance

logger = logging.getLogger(__name__)

#: The Connectivity Monitoring object definition (1.3) the instance uses.
CONNECTIVITY_MONITORING: ObjectDefinition = next(d for d in CORE_OBJECTS if d.id == 4)


class NetworkBearer(enum.IntEnum):
    """Values of /4/0/0 Network Bearer and /4/0/1 Available Network Bearer."""

    GSM = 0
    TD_SCDMA = 1
    WCDMA = 2
    CDMA2000 = 3
    WIMAX = 4
    LTE_TDD = 5
    LTE_FDD = 6
    NB_IOT = 7
    NR_TDD = 8
    NR_FDD = 9
    WLAN = 21
    BLUETOOTH = 22
    IEEE_802_15_4 = 23
    ETHERNET = 41
    DSL = 42
    PLC = 43


@dataclass(frozen=True)
class LinkInfo:
    """What is known about the active link; ``None`` (or empty) means unknown.

    Each field maps to the resource of object 4 noted beside it.
    """

    network_bearer: int | None = None  # 0
    available_bearers: tuple[int, ...] = ()  # 1
    radio_signal_strength: int | None = None  # 2, dBm (RSSI / RSCP / RSRP / NRSRP)
    link_quality: int | None = None  # 3
    ip_addresses: tuple[str, ...] = ()  # 4
    router_ip_addresses: tuple[str, ...] = ()  # 5
    link_utilization: int | None = None  # 6, percent
    apn: tuple[str, ...] = ()  # 7
    cell_id: int | None = None  # 8
    smnc: int | None = None  # 9
    smcc: int | None = None  # 10
    signal_snr: int | None = None  # 11, dB
    lac: int | None = None  # 12
    coverage_enhancement_level: int | None = None  # 13


#: LinkInfo field → resource id of object 4.
_RESOURCES: dict[str, int] = {
    "network_bearer": 0,
    "available_bearers": 1,
    "radio_signal_strength": 2,
    "link_quality": 3,
    "ip_addresses": 4,
    "router_ip_addresses": 5,
    "link_utilization": 6,
    "apn": 7,
    "cell_id": 8,
    "smnc": 9,
    "smcc": 10,
    "signal_snr": 11,
    "lac": 12,
    "coverage_enhancement_level": 13,
}


class ConnectivityMonitoring(ObjectInstance):
    """The single Connectivity Monitoring (4) instance, kept in step with a :class:`LinkInfo`.

    Without ``link`` the host is probed once with :func:`probe_host_link`
    (below ``root``); pass ``LinkInfo()`` to start empty and let a modem
    driver fill it in.
    """

    def __init__(self, link: LinkInfo | None = None, *, root: str | os.PathLike[str] = "/"):
        super().__init__(CONNECTIVITY_MONITORING, 0)
        self._link = LinkInfo()
        self._apply(link if link is not None else probe_host_link(root))

    @property
    def link(self) -> LinkInfo:
        """The link as last updated."""
        return self._link

    def update(self, **fields: object) -> None:
        """Change some :class:`LinkInfo` fields, e.g. ``update(radio_signal_strength=-97, cell_id=0x1A2B)``.

        Sequences may be lists; ``None`` removes the resource. Only resources
        whose value changed signal a change.
        """
        unknown = sorted(set(fields) - set(_RESOURCES))
        if unknown:
            raise ValueValidationError(f"unknown link fields {unknown}; known: {sorted(_RESOURCES)}")
        changes = {name: _as_tuple(name, value) if name in _SEQUENCES else value for name, value in fields.items()}
        self._apply(dataclasses.replace(self._link, **changes))  # type: ignore[arg-type]

    def _apply(self, link: LinkInfo) -> None:
        contents: dict[int, object] = {}
        for name, resource_id in _RESOURCES.items():
            value = getattr(link, name)
            if value is None or value == ():
                continue
            definition = CONNECTIVITY_MONITORING.resources[resource_id]
            # Check everything before changing anything, so a bad field leaves the instance as it was.
            if isinstance(value, tuple):
                contents[resource_id] = {i: definition.coerce(v) for i, v in enumerate(value)}
            else:
                contents[resource_id] = definition.coerce(value)
        for resource_id in _RESOURCES.values():
            if resource_id in contents:
                self.set(resource_id, contents[resource_id])
            else:
                self.unset(resource_id)
        self._link = link


_SEQUENCES = frozenset({"available_bearers", "ip_addresses", "router_ip_addresses", "apn"})


def _as_tuple(name: str, value: object) -> tuple[object, ...]:
    # A lone string is one APN or address, not a sequence of characters.
    if isinstance(value, str):
        return (value,)
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise ValueValidationError(f"{name} takes a list, got {type(value).__name__} {value!r}")


# Interface name prefixes → bearer (systemd predictable names and the classic ones).
_INTERFACE_BEARERS: tuple[tuple[str, NetworkBearer], ...] = (
    ("wlan", NetworkBearer.WLAN),
    ("wl", NetworkBearer.WLAN),
    ("eth", NetworkBearer.ETHERNET),
    ("en", NetworkBearer.ETHERNET),
    ("bnep", NetworkBearer.BLUETOOTH),
    ("lowpan", NetworkBearer.IEEE_802_15_4),
    ("wpan", NetworkBearer.IEEE_802_15_4),
)
# Flags in /proc/net/route (include/uapi/linux/route.h).
_RTF_UP = 0x0001
_RTF_GATEWAY = 0x0002


def bearer_of_interface(name: str) -> NetworkBearer | None:
    """Guess the bearer from an interface name (``wlan0`` → WLAN, ``eth0``/``enp3s0`` → Ethernet).

    Cellular interfaces (``wwan0``, ``ppp0``, ``rmnet0``) give ``None``: only
    the modem knows whether it is on LTE-M, NB-IoT or GSM.
    """
    for prefix, bearer in _INTERFACE_BEARERS:
        if name.startswith(prefix):
            return bearer
    return None


@dataclass(frozen=True)
class _Route:
    interface: str
    destination: int
    gateway: int
    mask: int
    flags: int
    metric: int


def _read_routes(root: Path) -> list[_Route]:
    try:
        lines = (root / "proc/net/route").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    routes = []
    for line in lines[1:]:
        columns = line.split()
        if len(columns) < 8:
            continue
        try:
            # Addresses are the kernel's u32 in host byte order, printed in hex.
            destination, gateway, flags, metric, mask = (int(columns[i], 16) for i in (1, 2, 3, 6, 7))
        except ValueError:
            continue
        routes.append(_Route(columns[0], destination, gateway, mask, flags, metric))
    return routes


def _ipv4(value: int) -> ipaddress.IPv4Address:
    # /proc/net/route prints the in-memory (network order) u32 as a host-order
    # number; little-endian hosts (every Pi) need the bytes swapped back.
    return ipaddress.IPv4Address(struct.pack("=I", value))


def _local_ipv4_addresses(root: Path) -> list[ipaddress.IPv4Address]:
    """Local unicast IPv4 addresses from ``/proc/net/fib_trie`` (``/32 host LOCAL`` leaves)."""
    try:
        lines = (root / "proc/net/fib_trie").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    found: list[ipaddress.IPv4Address] = []
    leaf: str | None = None
    for line in lines:
        text = line.strip()
        if text.startswith("|--"):
            leaf = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and leaf:
            try:
                address = ipaddress.IPv4Address(leaf)
            except ValueError:
                continue
            if not address.is_loopback and address not in found:
                found.append(address)
    return found


def _ipv6_addresses(root: Path, interface: str) -> list[ipaddress.IPv6Address]:
    """Global IPv6 addresses of ``interface`` from ``/proc/net/if_inet6``."""
    try:
        lines = (root / "proc/net/if_inet6").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        columns = line.split()
        if len(columns) < 6 or columns[5] != interface:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(columns[0]))
        except ValueError:
            continue
        # Link-local and loopback addresses mean nothing to a server.
        if not (address.is_link_local or address.is_loopback):
            found.append(address)
    return found


def probe_host_link(root: str | os.PathLike[str] = "/") -> LinkInfo:
    """The host's active link from ``/proc/net`` below ``root``; sends no packet.

    The default route (lowest metric) names the interface and the router; the
    interface's IPv4 addresses are the local addresses inside its connected
    routes, and its global IPv6 addresses come from ``if_inet6``. Missing
    files give an empty :class:`LinkInfo`.
    """
    base = Path(root)
    routes = [r for r in _read_routes(base) if r.flags & _RTF_UP]
    defaults = sorted((r for r in routes if r.destination == 0 and r.mask == 0), key=lambda r: r.metric)
    if not defaults:
        logger.info("no default route in %s; link details unknown", base / "proc/net/route")
        return LinkInfo()
    default = defaults[0]
    interface = default.interface
    connected = [r for r in routes if r.interface == interface and not r.flags & _RTF_GATEWAY and r.mask]
    ipv4 = [address for address in _local_ipv4_addresses(base) if any(_in_route(address, route) for route in connected)]
    addresses = [str(a) for a in ipv4] + [str(a) for a in _ipv6_addresses(base, interface)]
    router = [str(_ipv4(default.gateway))] if default.flags & _RTF_GATEWAY else []
    bearer = bearer_of_interface(interface)
    logger.debug("default route via %s (%s): %s", interface, bearer.name if bearer else "bearer unknown", addresses)
    return LinkInfo(
        network_bearer=int(bearer) if bearer is not None else None,
        available_bearers=(int(bearer),) if bearer is not None else (),
        ip_addresses=tuple(addresses),
        router_ip_addresses=tuple(router),
    )


def _in_route(address: ipaddress.IPv4Address, route: _Route) -> bool:
    network = int.from_bytes(_ipv4(route.destination).packed, "big")
    mask = int.from_bytes(_ipv4(route.mask).packed, "big")
    return int.from_bytes(address.packed, "big") & mask == network & mask
