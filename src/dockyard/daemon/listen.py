"""Where the daemon listens: ``-H`` addresses, and TLS for TCP (mutual TLS with --tlsverify).

Anyone who can reach the Engine API is root on this host, so TCP is served with TLS: with
``--tlsverify`` the client must present a certificate signed by ``--tlscacert`` and OpenSSL
refuses the others in the handshake, before aiohttp reads a byte of a request. Plain TCP is
served only when the user says ``--tls=false`` explicitly, and then with a loud warning, as
dockerd 27 does.
"""

from __future__ import annotations

import logging
import os
import ssl
import stat
from dataclasses import dataclass

from ..errors import InvalidArgument

log = logging.getLogger("dockyard.daemon")

DEFAULT_PORT = 2375
DEFAULT_TLS_PORT = 2376


@dataclass(frozen=True)
class Listener:
    """One parsed ``-H`` value."""

    scheme: str  # "unix" or "tcp"
    path: str = ""  # unix
    host: str = ""  # tcp
    port: int = 0  # tcp

    def url(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{h}:{self.port}"


@dataclass(frozen=True)
class TLSOptions:
    """The daemon's --tls* flags, resolved to file paths."""

    enabled: bool
    verify: bool
    cacert: str
    cert: str
    key: str
    explicit_off: bool  # --tls=false was given: plain TCP is wanted on purpose


def parse_bool_flag(value: str | None) -> bool | None:
    """Docker's boolean flags take ``--tls``, ``--tls=true`` or ``--tls=false``."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("", "1", "t", "true", "yes"):
        return True
    if v in ("0", "f", "false", "no"):
        return False
    raise InvalidArgument(f"invalid boolean value {value!r}")


def resolve_tls(tls: str | None, tlsverify: str | None, cacert: str | None,
                cert: str | None, key: str | None) -> TLSOptions:
    """Docker's rules: --tlsverify implies --tls; files default to $DOCKER_CERT_PATH/*.pem."""
    tls_on = parse_bool_flag(tls)
    verify = bool(parse_bool_flag(tlsverify))
    cert_dir = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    enabled = verify or bool(tls_on)
    return TLSOptions(
        enabled=enabled, verify=verify,
        cacert=cacert or os.path.join(cert_dir, "ca.pem"),
        cert=cert or os.path.join(cert_dir, "cert.pem"),
        key=key or os.path.join(cert_dir, "key.pem"),
        explicit_off=tls_on is False and not verify)


def parse_listener(value: str, tls: bool) -> Listener:
    """``unix:///path``, ``tcp://host:port``, ``tcp://:port`` or ``host:port``."""
    if value.startswith("unix://"):
        path = value[len("unix://"):]
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid host {value!r}: unix socket path must be absolute")
        return Listener("unix", path=path)
    if value.startswith("/"):
        return Listener("unix", path=value)
    rest = value[len("tcp://"):] if value.startswith("tcp://") else value
    if "://" in rest:
        raise InvalidArgument(f"invalid host {value!r}: use unix:///path or tcp://host:port")
    rest = rest.rstrip("/")
    if rest.startswith("["):
        h, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    elif rest.count(":") == 1:
        h, _, port = rest.partition(":")
    else:
        h, port = rest, ""
    try:
        portnum = int(port) if port else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
    except ValueError:
        raise InvalidArgument(f"invalid host {value!r}: bad port {port!r}") from None
    if not 0 < portnum < 65536:
        raise InvalidArgument(f"invalid host {value!r}: bad port {port!r}")
    return Listener("tcp", host=h or "0.0.0.0", port=portnum)


def server_ssl_context(opts: TLSOptions) -> ssl.SSLContext:
    """TLS 1.2+ server context; with ``verify`` a client certificate from the CA is required."""
    for what, path in (("--tlscert", opts.cert), ("--tlskey", opts.key)) + (
            (("--tlscacert", opts.cacert),) if opts.verify else ()):
        if not os.path.isfile(path):
            raise InvalidArgument(f"could not load {what} {path}: no such file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(opts.cert, opts.key)
        if opts.verify:
            ctx.load_verify_locations(cafile=opts.cacert)
    except ssl.SSLError as e:
        raise InvalidArgument(f"could not load TLS certificates: {e.reason or e}") from None
    ctx.verify_mode = ssl.CERT_REQUIRED if opts.verify else ssl.CERT_NONE
    return ctx


def check_plain_tcp(listeners: list[Listener], opts: TLSOptions) -> None:
    """Refuse unencrypted TCP unless asked for with --tls=false; then warn loudly."""
    plain = [lst for lst in listeners if lst.scheme == "tcp"] if not opts.enabled else []
    if not plain:
        return
    if not opts.explicit_off:
        raise InvalidArgument(
            f"refusing to serve the API on {plain[0].url()} without TLS: anyone who can reach "
            "it is root on this host. Use --tlsverify with --tlscacert/--tlscert/--tlskey, "
            "or --tls=false to accept the risk")
    for lst in plain:
        log.warning("!!! API listening on %s WITHOUT encryption or authentication: anyone "
                    "who can reach it has root access to this host. Use --tlsverify. !!!",
                    lst.url())


def api_warnings(listeners: list[Listener], opts: TLSOptions) -> list[str]:
    """What ``docker info`` shows under WARNING for insecure listeners (as dockerd)."""
    out = []
    for lst in listeners:
        if lst.scheme != "tcp":
            continue
        if not opts.enabled:
            out.append(f"WARNING: API is accessible on http://{lst.url()[6:]} without "
                       "encryption.\n         Access to the remote API is equivalent to root "
                       "access on the host.")
        elif not opts.verify:
            out.append(f"WARNING: API is accessible on https://{lst.url()[6:]} without "
                       "TLS client verification (--tlsverify): anyone who can connect has "
                       "root access on the host.")
    return out


async def start_sites(runner, listeners: list[Listener], ssl_ctx: ssl.SSLContext | None):
    """Start one aiohttp site per listener; returns the unix socket paths to unlink on exit."""
    from aiohttp import web

    sockets: list[str] = []
    for lst in listeners:
        if lst.scheme == "unix":
            os.makedirs(os.path.dirname(lst.path) or ".", exist_ok=True)
            try:
                if stat.S_ISSOCK(os.stat(lst.path).st_mode):
                    os.unlink(lst.path)
            except FileNotFoundError:
                pass
            site = web.UnixSite(runner, lst.path)
            await site.start()
            os.chmod(lst.path, 0o660)
            sockets.append(lst.path)
        else:
            from .tlssite import HalfCloseTLSSite, supported

            cls = HalfCloseTLSSite if ssl_ctx is not None and supported() else web.TCPSite
            site = cls(runner, lst.host, lst.port, ssl_context=ssl_ctx, reuse_address=True)
            await site.start()
        log.info("API listening on %s%s", lst.url(),
                 " (TLS, client certificates verified)" if ssl_ctx is not None
                 and ssl_ctx.verify_mode == ssl.CERT_REQUIRED and lst.scheme == "tcp"
                 else " (TLS)" if ssl_ctx is not None and lst.scheme == "tcp" else "")
    return sockets
