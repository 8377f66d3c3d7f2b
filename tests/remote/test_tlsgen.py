"""``dockyard tls gen``: the files a daemon and its clients need, valid and private."""

from __future__ import annotations

import os
import stat
import subprocess

from remotekit import run_cli


def test_tls_gen_writes_a_verifiable_ca_server_and_client(tmp_path):
    d = tmp_path / "certs"
    r = run_cli("tls", "gen", "--dir", str(d), "--san", "127.0.0.1", "--san", "dockyard.test")
    assert r.returncode == 0, r.stderr
    names = {"ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "cert.pem", "key.pem"}
    assert set(os.listdir(d)) == names
    for key in ("ca-key.pem", "server-key.pem", "key.pem"):
        assert stat.S_IMODE(os.stat(d / key).st_mode) == 0o600
    for cert, purpose in (("server-cert.pem", "sslserver"), ("cert.pem", "sslclient")):
        v = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile",
                            str(d / "ca.pem"), str(d / cert)], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           str(d / "server-cert.pem")], capture_output=True, text=True).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:dockyard.test" in text
    # a second run never overwrites a CA
    r = run_cli("tls", "gen", "--dir", str(d))
    assert r.returncode == 1 and b"exists" in r.stderr
