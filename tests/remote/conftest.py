"""Fixtures of the remote tests: the PKI and a private daemon on a unix socket and on
TCP+TLS (127.0.0.1 only, --tlsverify)."""

from __future__ import annotations

import pytest
from remotekit import PKI, RemoteDaemon, free_port


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    return PKI(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def tls_daemon(pki):
    """unix socket + tcp://127.0.0.1:PORT with --tlsverify; has busybox:latest."""
    port = free_port()
    d = RemoteDaemon(["-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                      "--tlscacert", pki.ca, "--tlscert", pki.server_cert,
                      "--tlskey", pki.server_key])
    d.tcp = f"tcp://127.0.0.1:{port}"
    d.port = port
    try:
        d.start()
        d.import_busybox()
        yield d
    finally:
        d.teardown()
