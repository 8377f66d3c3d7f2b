"""Helpers of the remote tests: the certificates they need (a CA, a server certificate, a good
client certificate, an expired one, one from another CA and a self-signed one), a daemon with
extra listen/TLS flags, and the CLI run with a clean environment.

A module of its own name (not conftest) so that test files import it unambiguously when the
whole suite runs."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from daemonctl import DOCKYARD, Daemon  # noqa: E402
from dockyard.daemon import certs  # noqa: E402

# docker-py goes through requests, which prefers $REQUESTS_CA_BUNDLE over the CA we give it.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "DOCKER_HOST",
                          "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT",
                          "DOCKYARD_HOST", "DOCKER_CONFIG")}


class PKI:
    """Paths of the generated files, by role."""

    def __init__(self, base: str):
        self.dir = base
        ca_key, ca_cert = certs.make_ca("dockyard test CA")
        certs.write_pair(base, "ca.pem", "ca-key.pem", ca_key, ca_cert)
        key, cert = certs.issue(ca_key, ca_cert, "127.0.0.1", server=True,
                                sans=["127.0.0.1", "localhost"])
        certs.write_pair(base, "server-cert.pem", "server-key.pem", key, cert)
        key, cert = certs.issue(ca_key, ca_cert, "client", server=False)
        certs.write_pair(base, "cert.pem", "key.pem", key, cert)
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        key, cert = certs.issue(ca_key, ca_cert, "expired", server=False, days=1,
                                not_before=old)
        certs.write_pair(os.path.join(base, "expired"), "cert.pem", "key.pem", key, cert)
        rogue_key, rogue_ca = certs.make_ca("rogue CA")
        key, cert = certs.issue(rogue_key, rogue_ca, "client", server=False)
        certs.write_pair(os.path.join(base, "rogue"), "cert.pem", "key.pem", key, cert)
        certs.write_pair(os.path.join(base, "rogue"), "ca.pem", "ca-key.pem", rogue_key,
                         rogue_ca)
        self_key, self_cert = certs.make_ca("client")  # a self-signed client certificate
        certs.write_pair(os.path.join(base, "selfsigned"), "cert.pem", "key.pem", self_key,
                         self_cert)
        # The layout DOCKER_CERT_PATH expects: ca.pem, cert.pem, key.pem in one directory.
        self.ca = os.path.join(base, "ca.pem")
        self.server_cert = os.path.join(base, "server-cert.pem")
        self.server_key = os.path.join(base, "server-key.pem")
        self.cert = os.path.join(base, "cert.pem")
        self.key = os.path.join(base, "key.pem")

    def client_pair(self, kind: str) -> tuple[str, str]:
        d = self.dir if kind == "good" else os.path.join(self.dir, kind)
        return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RemoteDaemon(Daemon):
    """A Daemon started with extra listen and TLS arguments."""

    def __init__(self, extra_args: list[str]):
        super().__init__(extra_args=extra_args)


def run_cli(*args: str, env: dict | None = None, input: bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """The dockyard CLI with a clean environment (no host, TLS or context leaking in)."""
    e = dict(CLEAN_ENV, DOCKYARD_NO_AUTOSTART="1")
    e.update(env or {})
    return subprocess.run([DOCKYARD, *args], capture_output=True, timeout=timeout, env=e,
                          input=input)
