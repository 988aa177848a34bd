"""Where a peer may live: public internet addresses only, for literal addresses and for names
(the rules the peer client checks every connection against, and adding a peer checks first)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Final, TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# Prefixes whose last 32 bits are an IPv4 address a gateway forwards to (RFC 6052 NAT64) or that
# are for local use only (RFC 8215); the ipaddress module knows neither.
_NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_TRANSLATED: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 SIIT
_SHARED_ADDRESS_SPACE: Final = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT


def is_public_address(address: Address) -> bool:
    """Whether `address` is on the public internet, i.e. a peer may live there.

    False for loopback, private, link-local, multicast, reserved, unspecified, shared (100.64/10),
    site-local and unique-local addresses, and for IPv6 forms embedding any of those IPv4 ones
    (IPv4-mapped, SIIT, 6to4, NAT64): the kernel or a gateway connects those to the IPv4 address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address in _NAT64_LOCAL_USE or address.is_site_local:
            return False
    elif address in _SHARED_ADDRESS_SPACE:
        return False
    # is_global alone is not enough: older Pythons call multicast addresses global.
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN or address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_address(text: str) -> Address | None:
    """`text` as an IP address (without its zone), or None if it is not one."""
    try:
        # A zone ("fe80::1%eth0") only says which interface; the address decides.
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


class Unresolvable(Exception):
    """A host name that does not resolve (now, at least)."""


def resolve(host: str, port: int) -> list[Address | None]:
    """The addresses `host` names: itself if it is an address literal (brackets allowed), else
    every address it resolves to (None for one that is not an IP address); Unresolvable if
    it resolves to nothing."""
    literal = parse_address(host.strip("[]"))
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(str(exc)) from None
    return [parse_address(str(info[4][0])) for info in infos]
