"""Daemon-wide registry settings: which hosts may speak plain HTTP, mirrors, CA directories.

As Docker: 127.0.0.0/8 is insecure by default (plain HTTP allowed), ``docker.io`` means
``registry-1.docker.io``, and ``certs.d/HOST:PORT/`` holds ``*.crt`` CAs and ``*.cert``/``*.key``
client pairs. Mirrors are tried before the registry itself, for any registry (``docker.io`` when
no registry is named).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
from dataclasses import dataclass, field

from ..errors import InvalidArgument
from ..reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"
DEFAULT_CERTS_DIRS = ("/etc/docker/certs.d", "/etc/dockyard/certs.d")


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests for one registry: ``scheme://host`` (+ path prefix of a mirror)."""
    scheme: str
    host: str
    mirror: bool = False
    insecure: bool = False  # plain HTTP is allowed as a fallback
    prefix: str = ""

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}"


@dataclass
class RegistryOptions:
    insecure: list[str] = field(default_factory=list)  # CIDRs or host[:port]
    mirrors: dict[str, list[str]] = field(default_factory=dict)  # registry → mirror URLs
    certs_dirs: tuple[str, ...] = DEFAULT_CERTS_DIRS
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    chunk_size: int = 32 << 20  # PATCH size of chunked uploads
    _scheme_cache: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_flags(cls, insecure: list[str], mirrors: list[str], certs_dirs: list[str],
                   downloads: int, uploads: int, chunk_size: int = 32 << 20
                   ) -> RegistryOptions:
        """Parse daemon flags; ``--registry-mirror URL`` mirrors docker.io, ``REG=URL`` any."""
        if downloads < 1 or uploads < 1:
            raise InvalidArgument("max-concurrent-downloads/uploads must be at least 1")
        if chunk_size < 1 << 16:
            raise InvalidArgument("upload chunk size must be at least 64 KiB")
        by_reg: dict[str, list[str]] = {}
        for m in mirrors:
            reg, sep, url = m.partition("=")
            if not sep:
                reg, url = DEFAULT_DOMAIN, m
            url = url.rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise InvalidArgument(f"invalid mirror {m!r}: want http(s)://HOST[:PORT]")
            by_reg.setdefault(reg, []).append(url)
        for item in insecure:
            if "/" in item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise InvalidArgument(f"invalid insecure registry {item!r}") from None
        return cls(insecure=list(insecure), mirrors=by_reg,
                   certs_dirs=tuple(certs_dirs) or DEFAULT_CERTS_DIRS,
                   max_concurrent_downloads=downloads, max_concurrent_uploads=uploads,
                   chunk_size=chunk_size)

    # -- policy ---------------------------------------------------------------------------------

    def is_insecure(self, host: str) -> bool:
        """Plain HTTP allowed: listed hosts, listed CIDRs, and loopback (Docker's default)."""
        if host in self.insecure:
            return True
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") \
            else host
        name = name.strip("[]")
        if name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        if ip.is_loopback:
            return True
        for item in self.insecure:
            if "/" in item and ip in ipaddress.ip_network(item, strict=False):
                return True
        return False

    def endpoints(self, domain: str, push: bool = False) -> list[Endpoint]:
        """Mirrors first (pull only), then the registry itself."""
        out: list[Endpoint] = []
        if not push:
            for url in self.mirrors.get(domain, []):
                scheme, _, rest = url.partition("://")
                host, slash, path = rest.partition("/")
                out.append(Endpoint(scheme, host, mirror=True,
                                    insecure=self.is_insecure(host),
                                    prefix=("/" + path.rstrip("/")) if slash and path else ""))
        host = DOCKER_HUB_HOST if domain == DEFAULT_DOMAIN else domain
        insecure = self.is_insecure(host)
        scheme = self._scheme_cache.get(host, "https")
        out.append(Endpoint(scheme, host, insecure=insecure))
        return out

    def remember_scheme(self, host: str, scheme: str) -> None:
        """An insecure registry answered on plain HTTP: skip the TLS attempt next time."""
        with self._lock:
            self._scheme_cache[host] = scheme

    # -- TLS ------------------------------------------------------------------------------------

    def ssl_context(self, host: str) -> ssl.SSLContext:
        """System CAs plus ``certs.d/HOST/*.crt``; a client certificate from ``*.cert/*.key``."""
        ctx = ssl.create_default_context()
        for base in self.certs_dirs:
            d = os.path.join(base, host)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                p = os.path.join(d, n)
                if n.endswith(".crt"):
                    ctx.load_verify_locations(cafile=p)
                elif n.endswith(".cert"):
                    key = p[:-len(".cert")] + ".key"
                    if not os.path.exists(key):
                        raise InvalidArgument(f"missing key {key} for client certificate {p}")
                    ctx.load_cert_chain(p, key)
        return ctx
