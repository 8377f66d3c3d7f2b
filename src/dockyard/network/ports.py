"""Published ports: Docker's PortBindings validated, host ports allocated and checked free.

A host port is free when no container of this daemon holds it and nothing on the host is bound
to it (a short bind attempt); the same error as Docker's otherwise. Random ports (``-P`` or an
empty HostPort) come from the kernel's ephemeral range through a bind to port 0.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from ..errors import Conflict, InvalidArgument


@dataclass(frozen=True)
class Binding:
    proto: str
    container_port: int
    host_ip: str
    host_lo: int  # 0 = any free port
    host_hi: int


class PortAllocated(Conflict):
    """Docker's "port is already allocated"."""


def parse_port_key(key: str) -> tuple[int, str]:
    """``80/tcp`` -> (80, "tcp")."""
    if not isinstance(key, str):
        raise InvalidArgument(f"invalid port specification: {key!r}")
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid containerPort: {port}")
    return int(port), proto


def _host_range(value) -> tuple[int, int]:
    value = "" if value is None else str(value)
    if value in ("", "0"):
        return 0, 0
    lo, _, hi = value.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        raise InvalidArgument(f"invalid hostPort: {value}")
    lo_n, hi_n = int(lo), int(hi or lo)
    if not (0 < lo_n <= hi_n < 65536):
        raise InvalidArgument(f"invalid hostPort: {value}")
    return lo_n, hi_n


def parse_bindings(port_bindings: dict | None, exposed: dict | None = None,
                   publish_all: bool = False) -> list[Binding]:
    """Every binding of HostConfig.PortBindings (and of ExposedPorts for ``-P``)."""
    out: list[Binding] = []
    if port_bindings is not None and not isinstance(port_bindings, dict):
        raise InvalidArgument("HostConfig.PortBindings must be an object")
    for key, binds in (port_bindings or {}).items():
        port, proto = parse_port_key(key)
        if binds is None:
            binds = [{}]
        if not isinstance(binds, list):
            raise InvalidArgument(f"invalid port bindings for {key}")
        for b in binds or [{}]:
            if not isinstance(b, dict):
                raise InvalidArgument(f"invalid port binding for {key}: {b!r}")
            host_ip = b.get("HostIp") or "0.0.0.0"
            try:
                ip = ipaddress.ip_address(host_ip)
            except ValueError:
                raise InvalidArgument(f"invalid IP address: {host_ip}") from None
            if ip.version != 4:
                continue  # IPv6 host addresses: no IPv6 on our bridges (Docker skips too)
            lo, hi = _host_range(b.get("HostPort"))
            out.append(Binding(proto, port, str(ip), lo, hi))
    if publish_all:
        bound = {(b.proto, b.container_port) for b in out}
        for key in exposed or {}:
            port, proto = parse_port_key(key)
            if (proto, port) not in bound:
                out.append(Binding(proto, port, "0.0.0.0", 0, 0))
    return out


def _overlaps(ip_a: str, ip_b: str) -> bool:
    return ip_a == ip_b or "0.0.0.0" in (ip_a, ip_b)


def _bind_free(proto: str, host_ip: str, port: int) -> int | None:
    """Bind to see whether the host has the port; returns the port (the kernel's choice for
    port 0) or None when taken."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    if proto == "sctp":
        return port or None
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host_ip, port))
        return s.getsockname()[1]
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        if e.errno == errno.EADDRNOTAVAIL:
            raise InvalidArgument(f"cannot publish on {host_ip}: not an address of this "
                                  "host") from None
        raise
    finally:
        s.close()


def allocate(bindings: list[Binding], taken: list[tuple[str, str, int]]) -> list[tuple[Binding, int]]:
    """A host port for each binding; ``taken`` = (proto, host_ip, port) held by other
    containers. Raises PortAllocated with Docker's message."""
    held = list(taken)
    out = []

    def is_held(proto: str, ip: str, port: int) -> bool:
        return any(p == proto and hp == port and _overlaps(hip, ip) for p, hip, hp in held)

    for b in bindings:
        chosen = None
        if b.host_lo == 0:
            for _ in range(50):
                port = _bind_free(b.proto, b.host_ip, 0)
                if port and not is_held(b.proto, b.host_ip, port):
                    chosen = port
                    break
        else:
            for port in range(b.host_lo, b.host_hi + 1):
                if not is_held(b.proto, b.host_ip, port) and \
                        _bind_free(b.proto, b.host_ip, port) is not None:
                    chosen = port
                    break
        if chosen is None:
            shown = b.host_lo if b.host_lo == b.host_hi else f"{b.host_lo}-{b.host_hi}"
            raise PortAllocated(f"Bind for {b.host_ip}:{shown} failed: port is already "
                                "allocated")
        held.append((b.proto, b.host_ip, chosen))
        out.append((b, chosen))
    return out
