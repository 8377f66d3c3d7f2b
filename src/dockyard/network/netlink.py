"""Bridges and veth pairs over netlink (pyroute2), never through ``ip`` subprocesses.

One host-namespace socket is opened once and shared under a lock. A container's side is
configured through a short-lived socket opened inside its namespace (sys.netns.entered), so
the daemon itself never leaves the host namespace. The container end of a veth is created
directly in the container's namespace: it disappears with the namespace, and its host peer
with it, so a container's exit needs no netlink work at all.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading

from ..errors import RuntimeFailure
from ..sys.netns import entered
from .rtnl import (
    F_ACK,
    F_CREATE,
    F_EXCL,
    IFA_ADDRESS,
    RTA_GATEWAY,
    RTM_NEWADDR,
    RTM_NEWROUTE,
    Rtnl,
    _attr,
)

IFA_F_NODAD = 0x02

# pyroute2 logs every netlink message at debug level: far too costly in a container start.
logging.getLogger("pyroute2").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

ALIAS_PREFIX = "dockyard:"  # IFLA_IFALIAS of the bridges a daemon made: "dockyard:<root>"


class BridgeMissing(RuntimeFailure):
    """The bridge a container attaches to is gone (deleted behind the daemon's back)."""


class Netlink:
    def __init__(self) -> None:
        self._ipr = None
        self._lock = threading.Lock()
        self._bridges: dict[str, int] = {}  # bridge name -> ifindex (cached: start path)

    def _host(self):
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        return self._ipr

    def warm(self) -> None:
        """Import pyroute2 and open the socket now (daemon start), not in a container start."""
        with self._lock:
            self._host()

    def close(self) -> None:
        with self._lock:
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None

    # ---- bridges --------------------------------------------------------------------------

    def index(self, ifname: str) -> int | None:
        with self._lock:
            found = self._host().link_lookup(ifname=ifname)
        return found[0] if found else None

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, owner: str,
                      with_address: bool = True) -> None:
        """Create (or adopt) the bridge ``name`` with the gateway address, up; tag it as ours."""
        from pyroute2 import NetlinkError

        with self._lock:
            ipr = self._host()
            found = ipr.link_lookup(ifname=name)
            if not found:
                try:
                    ipr.link("add", ifname=name, kind="bridge", br_forward_delay=0)
                except NetlinkError as e:
                    raise RuntimeFailure(f"cannot create bridge {name}: {e.args[-1]}") from None
                found = ipr.link_lookup(ifname=name)
            idx = self._bridges[name] = found[0]
            ipr.link("set", index=idx, ifalias=ALIAS_PREFIX + owner, state="up")
            if with_address:
                have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                        for a in ipr.get_addr(index=idx, family=2)}
                if (gateway, prefixlen) not in have:
                    try:
                        ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
                    except NetlinkError as e:
                        if e.code != 17:
                            raise RuntimeFailure(f"cannot address bridge {name}: "
                                                 f"{e.args[-1]}") from None
        _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")

    def enslave(self, bridge: str, names: list[str]) -> int:
        """Put the host ends ``names`` (those that still exist) back on ``bridge``, up: the
        running containers of a re-created bridge. Returns how many were found."""
        from pyroute2 import NetlinkError

        br = self._bridge_index(bridge)
        done = 0
        with self._lock:
            ipr = self._host()
            for name in names:
                for idx in ipr.link_lookup(ifname=name):
                    try:
                        ipr.link("set", index=idx, master=br, state="up")
                        done += 1
                    except NetlinkError as e:
                        log.warning("cannot put %s back on %s: %s", name, bridge, e)
        return done

    def delete_link(self, name: str) -> None:
        from pyroute2 import NetlinkError

        self._bridges.pop(name, None)
        with self._lock:
            ipr = self._host()
            for idx in ipr.link_lookup(ifname=name):
                try:
                    ipr.link("del", index=idx)
                except NetlinkError:
                    pass

    def owned_links(self, owner: str) -> list[str]:
        """Names of the links tagged as made by the daemon of ``owner`` (its root)."""
        with self._lock:
            links = self._host().get_links()
        tag = ALIAS_PREFIX + owner
        return [lk.get_attr("IFLA_IFNAME") for lk in links if lk.get_attr("IFLA_IFALIAS") == tag]

    def ports_of(self, bridge: str) -> list[str]:
        """Names of the links enslaved to ``bridge``."""
        with self._lock:
            ipr = self._host()
            found = ipr.link_lookup(ifname=bridge)
            if not found:
                return []
            links = ipr.get_links()
        return [lk.get_attr("IFLA_IFNAME") for lk in links
                if lk.get_attr("IFLA_MASTER") == found[0]]

    def host_routes(self) -> list[ipaddress.IPv4Network]:
        """IPv4 networks routed on the host: subnets a new network must not overlap."""
        with self._lock:
            routes = self._host().get_routes(family=2)
        out = []
        for r in routes:
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"]:
                try:
                    out.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
                except ValueError:
                    pass
        return out

    # ---- container ends -------------------------------------------------------------------

    def attach(self, pid: int, bridge: str, host_ifname: str, ifname: str, mac: str,
               address: str, prefixlen: int, gateway: str | None) -> None:
        """A veth from ``bridge`` into the namespace of ``pid`` as ``ifname`` with ``address``;
        the default route through ``gateway`` when given. Hand-packed requests (rtnl.py):
        this is on the path of every container start."""
        br = self._bridge_index(bridge)
        with Rtnl() as host:
            try:
                host.add_veth(host_ifname, br, ifname, mac, pid)
            except RuntimeFailure:
                self._bridges.pop(bridge, None)  # the bridge may have been re-created
                host.add_veth(host_ifname, self._bridge_index(bridge), ifname, mac, pid)
        try:
            with entered(f"/proc/{pid}/ns/net"):
                inner = Rtnl()
            with inner:
                idx = inner.index(ifname)
                inner.add_address(idx, address, prefixlen)
                inner.set_up(idx)
                if gateway:
                    inner.add_default_route(gateway)
        except OSError as e:
            with self._lock:
                self._del_quiet(host_ifname)
            raise RuntimeFailure(f"cannot configure the container's {ifname}: {e}") from None

    def add_address6(self, bridge: str, address: str, prefixlen: int) -> None:
        """The IPv6 gateway address of an EnableIPv6 network on its bridge."""
        from pyroute2 import NetlinkError

        with self._lock:
            ipr = self._host()
            found = ipr.link_lookup(ifname=bridge)
            if not found:
                raise BridgeMissing(f"network bridge {bridge} is missing")
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                    for a in ipr.get_addr(index=found[0], family=socket.AF_INET6)}
            if (address, prefixlen) in have:
                return
            try:
                ipr.addr("add", index=found[0], address=address, prefixlen=prefixlen,
                         flags=IFA_F_NODAD)
            except NetlinkError as e:
                if e.code != 17:
                    raise RuntimeFailure(f"cannot address bridge {bridge}: "
                                         f"{e.args[-1]}") from None

    def attach6(self, pid: int, ifname: str, address: str, prefixlen: int,
                gateway: str | None) -> None:
        """The IPv6 address (no duplicate detection, as Docker) and default route of a
        container's ``ifname``, after ``attach`` made it."""
        try:
            with entered(f"/proc/{pid}/ns/net"):
                inner = Rtnl()
            with inner:
                idx = inner.index(ifname)
                ip = socket.inet_pton(socket.AF_INET6, address)
                body = struct.pack("=BBBBI", socket.AF_INET6, prefixlen, IFA_F_NODAD, 0, idx) \
                    + _attr(IFA_ADDRESS, ip)
                inner.request(RTM_NEWADDR, F_ACK | F_CREATE | F_EXCL, body)
                if gateway:
                    body = struct.pack("=BBBBBBBBI", socket.AF_INET6, 0, 0, 0, 254, 3, 0, 1,
                                       0) + _attr(RTA_GATEWAY, socket.inet_pton(
                                           socket.AF_INET6, gateway))
                    inner.request(RTM_NEWROUTE, F_ACK | F_CREATE | F_EXCL, body)
        except OSError as e:
            raise RuntimeFailure(f"cannot give the container's {ifname} its IPv6 address: "
                                 f"{e}") from None

    def _bridge_index(self, bridge: str) -> int:
        idx = self._bridges.get(bridge)
        if idx is None:
            with self._lock:
                found = self._host().link_lookup(ifname=bridge)
            if not found:
                raise BridgeMissing(f"network bridge {bridge} is missing")
            idx = self._bridges[bridge] = found[0]
        return idx

    def detach(self, host_ifname: str) -> None:
        """Remove a container's veth (both ends go) from the host side."""
        with self._lock:
            self._del_quiet(host_ifname)

    def _del_quiet(self, ifname: str) -> None:
        from pyroute2 import NetlinkError

        ipr = self._host()
        for idx in ipr.link_lookup(ifname=ifname):
            try:
                ipr.link("del", index=idx)
            except NetlinkError:
                pass

    def counters(self, host_ifname: str) -> dict | None:
        """rx/tx counters of a container's interface, read on its host peer (swapped)."""
        try:
            base = f"/sys/class/net/{host_ifname}/statistics/"
            val = {}
            for k in ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                      "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"):
                with open(base + k) as f:
                    val[k] = int(f.read())
        except (OSError, ValueError):
            return None
        # What the host peer receives the container sent.
        return {(("tx" if k.startswith("rx") else "rx") + k[2:]): v for k, v in val.items()}


def _sysctl(key: str, value: str) -> None:
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except OSError:
        pass


def enable_forwarding() -> None:
    _sysctl("net/ipv4/ip_forward", "1")
