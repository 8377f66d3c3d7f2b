"""The embedded DNS responder of user-defined networks.

One UDP socket per user network, on its gateway address: containers on that network have it
as their nameserver. Names of containers (and their network aliases) on the networks of the
asking container are answered from the daemon's state at query time, so resolution follows
containers as they come and go; other names are relayed to the host's resolvers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)

TYPE_A, TYPE_AAAA = 1, 28
TTL = 600

# resolve(source address, lower-case name) -> addresses, or None when the name is not ours
Resolver = Callable[[str, str], list[str] | None]


def parse_question(data: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, name, qtype, end of question) of a one-question query, None if malformed."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(data):
            return None
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(data):
        return None
    qtype, _qclass = struct.unpack("!HH", data[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(query: bytes, qid: int, flags: int, qend: int, addrs: list[str],
           rcode: int = 0) -> bytes:
    rd = flags & 0x0100
    header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1,
                         len(addrs), 0, 0)
    out = [header, query[12:qend]]
    for a in addrs:
        if ":" in a:
            out.append(struct.pack("!HHHIH", 0xC00C, TYPE_AAAA, 1, TTL, 16)
                       + socket.inet_pton(socket.AF_INET6, a))
        else:
            out.append(struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, TTL, 4)
                       + bytes(int(x) for x in a.split(".")))
    return b"".join(out)


def of_type(addrs: list[str], qtype: int) -> list[str]:
    """The addresses a query of ``qtype`` asks for: IPv4 for A, IPv6 for AAAA."""
    if qtype == TYPE_A:
        return [a for a in addrs if ":" not in a]
    if qtype == TYPE_AAAA:
        return [a for a in addrs if ":" in a]
    return []


class _Server(asyncio.DatagramProtocol):
    def __init__(self, resolve: Resolver, upstreams: list[str]):
        self.resolve = resolve
        self.upstreams = upstreams
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self._handle(data, addr)
        except Exception:  # a hostile packet never stops the responder
            log.debug("dns: bad query from %s", addr, exc_info=True)

    def _handle(self, data: bytes, addr) -> None:
        q = parse_question(data)
        if q is None or self.transport is None:
            return
        qid, flags, name, qtype, qend = q
        addrs = self.resolve(addr[0], name)
        if addrs is not None:
            self.transport.sendto(answer(data, qid, flags, qend, of_type(addrs, qtype)), addr)
            return
        if not self.upstreams:
            self.transport.sendto(answer(data, qid, flags, qend, [], rcode=2), addr)
            return
        asyncio.get_running_loop().create_task(self._relay(data, addr, qid, flags, qend))

    async def _relay(self, data: bytes, addr, qid: int, flags: int, qend: int) -> None:
        loop = asyncio.get_running_loop()
        for server in self.upstreams:
            fut = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda f=fut: _Upstream(f), remote_addr=(server, 53))
            except OSError:
                continue
            try:
                transport.sendto(data)
                reply = await asyncio.wait_for(fut, 3)
            except (TimeoutError, OSError):
                continue
            finally:
                transport.close()
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        if self.transport is not None:
            self.transport.sendto(answer(data, qid, flags, qend, [], rcode=2), addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future):
        self.fut = fut

    def datagram_received(self, reply, _addr) -> None:
        if not self.fut.done():
            self.fut.set_result(reply)


class DnsServers:
    """One responder per user network, keyed by its gateway address."""

    def __init__(self, resolve: Resolver, upstreams: list[str]):
        self.resolve = resolve
        self.upstreams = upstreams
        self._servers: dict[str, asyncio.DatagramTransport] = {}

    async def serve(self, address: str) -> None:
        if address in self._servers:
            return
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Server(self.resolve, self.upstreams), local_addr=(address, 53))
        except OSError as e:
            log.warning("embedded DNS on %s:53 unavailable: %s", address, e)
            return
        self._servers[address] = transport

    def stop(self, address: str) -> None:
        t = self._servers.pop(address, None)
        if t is not None:
            t.close()

    def close(self) -> None:
        for a in list(self._servers):
            self.stop(a)
