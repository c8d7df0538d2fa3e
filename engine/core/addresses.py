"""Which network addresses are public: shared by the save-time URL check (engine.core.schemas) and the
SSRF guard that resolves and connects (services.webhook_service)."""
from __future__ import annotations

import ipaddress
import re
import socket

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.ip_address(ip.packed[-4:])
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    if ip.version == 4 and ip in SHARED_ADDRESS_SPACE:
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified) and ip.is_global


def literal_address(host: str) -> str | None:
    """The address a host name spells literally (`::1`, `0000::1`, `127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`:
    every form the resolver accepts), or None for a real name."""
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host) and any(ch.isdigit() for ch in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")
