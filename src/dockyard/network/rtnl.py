"""The few rtnetlink requests of a container start, packed by hand.

A container start needs four requests (create the veth pair with its peer in the container's
namespace, enslaved and up; find the peer; address it; route through the gateway). Through
pyroute2 each costs a millisecond or more of Python; packed here each is one send and one
receive of a few dozen bytes. pyroute2 still does everything else (bridges, dumps).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from ..errors import Conflict, RuntimeFailure

RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 18, 20, 24
NLMSG_ERROR = 2
F_REQUEST, F_ACK, F_EXCL, F_CREATE = 0x1, 0x4, 0x200, 0x400
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_PID = 1, 3, 10, 18, 19
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5


def _attr(kind: int, payload: bytes) -> bytes:
    data = struct.pack("=HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flags = IFF_UP if up else 0
    return struct.pack("=BxHiII", 0, 0, index, flags, flags)


def _ipv4(addr: str) -> bytes:
    return socket.inet_aton(addr)


class Rtnl:
    """One NETLINK_ROUTE socket, in the namespace of the thread that opened it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, kind: int, flags: int, body: bytes) -> bytes:
        """Send one request; return the reply's payload (ACKed requests: b"")."""
        self.seq += 1
        msg = struct.pack("=IHHII", 16 + len(body), kind, flags | F_REQUEST, self.seq, 0) + body
        self.sock.sendto(msg, (0, 0))
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _f, seq, _pid = struct.unpack_from("=IHHII", data, off)
                payload = data[off + 16:off + length]
                off += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return b""
                return payload

    # ---- the requests -------------------------------------------------------------------------

    def add_veth(self, host_ifname: str, master: int, peer_ifname: str, peer_mac: str,
                 peer_pid: int) -> None:
        """A veth pair: ``host_ifname`` enslaved to ``master`` and up; its peer created up
        in the network namespace of ``peer_pid`` (down)."""
        # (the peer cannot be created up: the kernel answers ENOTCONN; set_up does it)
        peer = (_ifinfo() + _attr(IFLA_IFNAME, peer_ifname.encode() + b"\0")
                + _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
                + _attr(IFLA_NET_NS_PID, struct.pack("=I", peer_pid)))
        info = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(
            IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
        body = (_ifinfo(up=True) + _attr(IFLA_IFNAME, host_ifname.encode() + b"\0")
                + _attr(IFLA_MASTER, struct.pack("=I", master)) + _attr(IFLA_LINKINFO, info))
        try:
            self.request(RTM_NEWLINK, F_ACK | F_CREATE | F_EXCL, body)
        except OSError as e:
            if e.errno == errno.EEXIST:
                raise Conflict(f"network interface {host_ifname} already exists") from None
            raise RuntimeFailure(f"cannot create a veth for the container: {e.strerror}") \
                from None

    def index(self, ifname: str) -> int:
        reply = self.request(RTM_GETLINK, 0,
                             _ifinfo() + _attr(IFLA_IFNAME, ifname.encode() + b"\0"))
        return struct.unpack_from("=BxHiII", reply)[2]

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, F_ACK, _ifinfo(index, up=True))

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        ip = _ipv4(address)
        body = struct.pack("=BBBBI", socket.AF_INET, prefixlen, 0, 0, index) + \
            _attr(IFA_LOCAL, ip) + _attr(IFA_ADDRESS, ip)
        self.request(RTM_NEWADDR, F_ACK | F_CREATE | F_EXCL, body)

    def add_default_route(self, gateway: str) -> None:
        body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0) + \
            _attr(RTA_GATEWAY, _ipv4(gateway))
        self.request(RTM_NEWROUTE, F_ACK | F_CREATE | F_EXCL, body)
