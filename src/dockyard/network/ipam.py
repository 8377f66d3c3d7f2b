"""IPv4 address management: subnets for new networks and addresses for endpoints.

Pure functions over the addresses in use: the leases themselves live in the metadata database
(network/store.py), so a crash never hands one address out twice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ..errors import InvalidArgument, Unavailable

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


def parse_subnet(value: str) -> Net:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {value}") from None
    if net.version != 4:
        raise InvalidArgument(f"only IPv4 subnets are supported: {value}")
    if str(net) != value and "/" in value and ipaddress.ip_interface(value).ip != net.network_address:
        raise InvalidArgument(f"invalid subnet {value} : it should be {net}")
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {value} is too small for a network")
    return net


def parse_address(value: str, what: str = "IP address") -> Addr:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {value}") from None
    if addr.version != 4:
        raise InvalidArgument(f"only IPv4 addresses are supported: {value}")
    return addr


def check_config(subnet: Net, gateway: str = "", ip_range: str = "") -> tuple[Addr, Net | None]:
    """The gateway (default: the first host address) and the range, checked against the
    subnet with Docker's wording."""
    if gateway:
        gw = parse_address(gateway, "gateway")
        if gw not in subnet:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    else:
        gw = subnet.network_address + 1
    rng = None
    if ip_range:
        rng = parse_subnet(ip_range) if "/" in ip_range else None
        if rng is None or not rng.subnet_of(subnet):
            raise InvalidArgument(f"no matching subnet for range {ip_range}")
    return gw, rng


def allocate(subnet: Net, gateway: Addr, ip_range: Net | None, used: Iterable[str],
             network_name: str) -> Addr:
    """The lowest free address of the range (or subnet): never the network, broadcast or
    gateway address."""
    taken = {ipaddress.ip_address(u) for u in used}
    taken.add(gateway)
    pool = ip_range or subnet
    first = max(int(pool.network_address), int(subnet.network_address) + 1)
    last = min(int(pool.broadcast_address), int(subnet.broadcast_address) - 1)
    for n in range(first, last + 1):
        a = ipaddress.IPv4Address(n)
        if a not in taken:
            return a
    raise Unavailable(f"no available IPv4 addresses on this network's address pools: "
                      f"{network_name}")


def check_requested(addr: str, subnet: Net, gateway: Addr, used: Iterable[str]) -> Addr:
    a = parse_address(addr)
    if a not in subnet:
        raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {addr}")
    if a in (subnet.network_address, subnet.broadcast_address, gateway) or str(a) in set(used):
        raise InvalidArgument(f"Address already in use: {addr}")
    return a


def pick_subnet(pool: Net, size: int, avoid: Iterable[Net]) -> Net:
    """The first ``/size`` subnet of ``pool`` that overlaps nothing in ``avoid``."""
    avoid = list(avoid)
    for cand in pool.subnets(new_prefix=size):
        if not any(cand.overlaps(o) for o in avoid):
            return cand
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool among "
                      "the defaults to assign to the network")


def mac_for(addr: Addr) -> str:
    """Docker's MAC: 02:42 then the four address bytes, so it is stable per address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)


# ---- IPv6 (EnableIPv6 networks) ---------------------------------------------------------------

def parse_subnet6(value: str) -> ipaddress.IPv6Network:
    try:
        net = ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {value}") from None
    if net.prefixlen > 126:
        raise InvalidArgument(f"subnet {value} is too small for a network")
    return net


def check_config6(subnet: ipaddress.IPv6Network, gateway: str = "",
                  ip_range: str = "") -> tuple[ipaddress.IPv6Address,
                                               ipaddress.IPv6Network | None]:
    """The IPv6 gateway (default: the first address after the subnet's) and range."""
    if gateway:
        try:
            gw = ipaddress.IPv6Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway: {gateway}") from None
        if gw not in subnet:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    else:
        gw = subnet.network_address + 1
    rng = None
    if ip_range:
        try:
            rng = ipaddress.IPv6Network(ip_range, strict=False)
        except ValueError:
            rng = None
        if rng is None or not rng.subnet_of(subnet):
            raise InvalidArgument(f"no matching subnet for range {ip_range}")
    return gw, rng


def allocate6(subnet: ipaddress.IPv6Network, gateway: ipaddress.IPv6Address,
              ip_range: ipaddress.IPv6Network | None, used: Iterable[str],
              network_name: str) -> ipaddress.IPv6Address:
    """The lowest free address of the range (or subnet) past the subnet-router anycast one."""
    taken = {ipaddress.ip_address(u) for u in used} | {gateway}
    pool = ip_range or subnet
    first = max(int(pool.network_address), int(subnet.network_address) + 1)
    last = int(pool.broadcast_address)
    for n in range(first, min(last, first + 65536) + 1):
        a = ipaddress.IPv6Address(n)
        if a not in taken:
            return a
    raise Unavailable(f"no available IPv6 addresses on this network's address pools: "
                      f"{network_name}")


def check_requested6(addr: str, subnet: ipaddress.IPv6Network, gateway: ipaddress.IPv6Address,
                     used: Iterable[str]) -> ipaddress.IPv6Address:
    try:
        a = ipaddress.IPv6Address(addr)
    except ValueError:
        raise InvalidArgument(f"invalid IPv6 address: {addr}") from None
    if a not in subnet:
        raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {addr}")
    if a in (subnet.network_address, gateway) or str(a) in set(used):
        raise InvalidArgument(f"Address already in use: {addr}")
    return a


def parse_mac(value: str) -> str:
    """A MAC address as ``aa:bb:cc:dd:ee:ff`` (Docker's check: six hex octets)."""
    parts = value.replace("-", ":").split(":") if isinstance(value, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts):
        raise InvalidArgument(f"{value} is not a valid mac address")
    return ":".join(parts).lower()
