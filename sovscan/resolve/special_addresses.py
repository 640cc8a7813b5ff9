"""Special-use addresses (RFC 6890): named, so evidence says why nobody's range holds them.

An address such as 10.0.0.5 published in public DNS points inside some private network; no
provider publishes it and nobody announces it, so where it is and who runs it stay unknown.
Saying which kind of address it is tells the reader that the unknown is not a gap in sovscan's
data but the nature of the address.
"""

from __future__ import annotations

import ipaddress

_KINDS: tuple[tuple[str, str], ...] = (
    ("10.0.0.0/8", "a private address (RFC 1918)"),
    ("172.16.0.0/12", "a private address (RFC 1918)"),
    ("192.168.0.0/16", "a private address (RFC 1918)"),
    ("100.64.0.0/10", "a carrier-grade NAT address (RFC 6598)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.2.0/24", "a documentation address (RFC 5737)"),
    ("198.51.100.0/24", "a documentation address (RFC 5737)"),
    ("203.0.113.0/24", "a documentation address (RFC 5737)"),
    ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
    ("0.0.0.0/8", "a 'this network' address (RFC 791)"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address (RFC 1112)"),
    ("::1/128", "a loopback address"),
    ("::/128", "the unspecified address"),
    ("fc00::/7", "a unique local address (RFC 4193)"),
    ("fe80::/10", "a link-local address"),
    ("2001:db8::/32", "a documentation address (RFC 3849)"),
    ("ff00::/8", "a multicast address"),
)
_NETWORKS = tuple((ipaddress.ip_network(prefix), kind) for prefix, kind in _KINDS)


def special_use(address: str) -> str | None:
    """What kind of special-use address `address` is ("a private address (RFC 1918)"), or None
    for an address that may be routed on the internet (or that is not an address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        kind = special_use(str(ip.ipv4_mapped))
        return f"{kind}, mapped into IPv6" if kind else None
    for network, kind in _NETWORKS:
        if ip.version == network.version and ip in network:
            return kind
    return None
