"""The daemon over TCP with mutual TLS: who gets in, who is refused, and how every client
(dockyard CLI, docker CLI, docker-py) connects."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

import pytest
from remotekit import CLEAN_ENV, RemoteDaemon, free_port, run_cli

from daemonctl import DOCKYARD


def _tls_flags(pki, cert: str | None = None, key: str | None = None) -> list[str]:
    flags = ["--tlsverify", "--tlscacert", pki.ca]
    if cert:
        flags += ["--tlscert", cert, "--tlskey", key]
    return flags


def test_valid_client_certificate_runs_a_container_over_tcp_tls(tls_daemon, pki):
    r = run_cli("-H", tls_daemon.tcp, *_tls_flags(pki, pki.cert, pki.key),
                "run", "--rm", "busybox", "echo", "hello over tls")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"hello over tls\n"


def test_streams_over_tls_stdin_half_close_large_output_and_cp(tls_daemon, pki, tmp_path):
    """stdin then EOF (a TLS close_notify) with the output still read after it; output larger
    than a TLS record; a 2 MB file copied in and out."""
    base = ["-H", tls_daemon.tcp, *_tls_flags(pki, pki.cert, pki.key)]
    r = run_cli(*base, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after-eof",
                input=b"line one\nline two\n")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"line one\nline two\nafter-eof\n"
    r = run_cli(*base, "run", "--rm", "busybox", "sh", "-c",
                "head -c 300000 /dev/zero | tr '\\0' x; echo; echo END")
    assert r.returncode == 0 and len(r.stdout) == 300005 and r.stdout.endswith(b"\nEND\n")
    blob = os.urandom(2 << 20)
    (tmp_path / "blob").write_bytes(blob)
    name = "tlscp"
    assert run_cli(*base, "run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
    try:
        assert run_cli(*base, "cp", str(tmp_path / "blob"), f"{name}:/blob").returncode == 0
        r = run_cli(*base, "exec", name, "wc", "-c", "/blob")
        assert r.stdout.split()[0] == str(len(blob)).encode()
        r = run_cli(*base, "cp", f"{name}:/blob", str(tmp_path / "back"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "back").read_bytes() == blob
    finally:
        run_cli(*base, "rm", "-f", name)


def test_environment_selects_host_and_certificates(tls_daemon, pki):
    """DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)."""
    r = run_cli("run", "--name", "envtls", "busybox", "true",
                env={"DOCKER_HOST": tls_daemon.tcp, "DOCKER_TLS_VERIFY": "1",
                     "DOCKER_CERT_PATH": pki.dir})
    assert r.returncode == 0, r.stderr.decode()
    # the same daemon on its unix socket sees the container made over TCP
    r = tls_daemon.cli("ps", "-a", "--filter", "name=envtls", "--format", "{{.Names}}")
    assert r.stdout == b"envtls\n"
    assert tls_daemon.cli("rm", "envtls").returncode == 0


def _handshake_and_request(pki, port: int, pair: tuple[str, str] | None) -> bytes | Exception:
    """Connect as a client with ``pair``; the bytes of the answer or the TLS error."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    if pair:
        ctx.load_cert_chain(*pair)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(b"GET /containers/json HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                return data
            data += piece
    except (ssl.SSLError, OSError) as e:
        return e
    finally:
        raw.close()


def test_good_certificate_gets_an_answer_on_a_raw_tls_socket(tls_daemon, pki):
    answer = _handshake_and_request(pki, tls_daemon.port, pki.client_pair("good"))
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer


@pytest.mark.parametrize("kind", [None, "selfsigned", "expired", "rogue"])
def test_clients_without_a_valid_certificate_are_refused_in_the_handshake(tls_daemon, pki,
                                                                          kind):
    """No certificate, a self-signed one, an expired one, one from another CA: the TLS layer
    ends the connection and not a single HTTP byte comes back."""
    pair = pki.client_pair(kind) if kind else None
    answer = _handshake_and_request(pki, tls_daemon.port, pair)
    if isinstance(answer, bytes):
        assert b"HTTP/" not in answer, answer
    else:
        assert isinstance(answer, ssl.SSLError | ConnectionError | OSError)
    args = ["-H", tls_daemon.tcp, "--tlsverify", "--tlscacert", pki.ca]
    if pair:
        args += ["--tlscert", pair[0], "--tlskey", pair[1]]
    r = run_cli(*args, "ps")
    assert r.returncode == 1
    assert b"tls" in r.stderr and b"Traceback" not in r.stderr
    assert r.stdout == b""


def test_plain_http_to_the_tls_port_gets_no_api_and_says_why(tls_daemon):
    s = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10)
    try:
        s.sendall(b"GET /containers/json HTTP/1.1\r\nHost: d\r\n\r\n")
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
    # both CLIs show it, as with dockerd
    r = run_cli("-H", tls_daemon.tcp, "ps")
    assert r.returncode == 1
    assert r.stderr == (b"Error response from daemon: "
                        b"Client sent an HTTP request to an HTTPS server.\n")
    r = subprocess.run(["docker", "-H", tls_daemon.tcp, "ps"], capture_output=True,
                       env=CLEAN_ENV, timeout=60)
    assert r.returncode != 0 and b"Client sent an HTTP request to an HTTPS server" in r.stderr


def test_client_refuses_a_daemon_its_ca_did_not_sign(tls_daemon, pki):
    rogue_ca = os.path.join(pki.dir, "rogue", "ca.pem")
    r = run_cli("-H", tls_daemon.tcp, "--tlsverify", "--tlscacert", rogue_ca,
                "--tlscert", pki.cert, "--tlskey", pki.key, "ps")
    assert r.returncode == 1
    assert b"failed to verify certificate" in r.stderr


def test_docker_cli_with_tlsverify(tls_daemon, pki, tmp_path):
    env = dict(CLEAN_ENV, DOCKER_CONFIG=str(tmp_path))
    base = ["docker", "-H", tls_daemon.tcp, "--tlsverify", "--tlscacert", pki.ca,
            "--tlscert", pki.cert, "--tlskey", pki.key]
    r = subprocess.run([*base, "run", "--rm", "busybox", "echo", "docker via tls"],
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"docker via tls\n"
    r = subprocess.run([*base, "version", "--format", "{{.Server.APIVersion}}"],
                       capture_output=True, env=env, timeout=60)
    assert r.stdout.strip() == b"1.43"
    # and without a client certificate docker is refused too
    r = subprocess.run(["docker", "-H", tls_daemon.tcp, "--tlsverify", "--tlscacert", pki.ca,
                        "--tlscert", os.path.join(pki.dir, "expired", "cert.pem"),
                        "--tlskey", os.path.join(pki.dir, "expired", "key.pem"), "ps"],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode != 0


def test_docker_py_with_tlsconfig(tls_daemon, pki, monkeypatch):
    import docker

    for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(k, raising=False)
    tls = docker.tls.TLSConfig(client_cert=(pki.cert, pki.key), ca_cert=pki.ca, verify=True)
    client = docker.DockerClient(base_url=tls_daemon.tcp, tls=tls, version="1.43")
    try:
        out = client.containers.run("busybox", ["echo", "docker-py via tls"], remove=True)
        assert out == b"docker-py via tls\n"
        assert client.api.base_url.startswith("https://")
    finally:
        client.close()
    bad = docker.tls.TLSConfig(ca_cert=pki.ca, verify=True)
    client = docker.APIClient(base_url=tls_daemon.tcp, tls=bad, version="1.43")
    try:
        with pytest.raises(Exception) as info:
            client.ping()
        assert "SSL" in repr(info.value) or "Connection" in repr(info.value)
    finally:
        client.close()


def test_plain_tcp_needs_tls_false_and_warns(tmp_path):
    port = free_port()
    r = subprocess.run([DOCKYARD, "daemon", "--root", str(tmp_path / "r"), "--exec-root",
                        str(tmp_path / "e"), "-H", f"tcp://127.0.0.1:{port}"],
                       capture_output=True, timeout=30, env=CLEAN_ENV)
    assert r.returncode == 2
    assert b"without TLS" in r.stderr and b"--tls=false" in r.stderr
    assert not (tmp_path / "r").exists()  # refused before touching anything
    d = RemoteDaemon(["-H", f"tcp://127.0.0.1:{port}", "--tls=false"])
    try:
        d.start()
        with open(d.log_path, errors="replace") as f:
            assert "WITHOUT encryption" in f.read()
        r = run_cli("-H", f"tcp://127.0.0.1:{port}", "version", "--format",
                    "{{.Server.ApiVersion}}")
        assert r.stdout == b"1.43\n", r.stderr
    finally:
        d.teardown()


def test_tls_without_verify_serves_any_client(pki):
    """--tls: the connection is encrypted, clients need no certificate (as Docker)."""
    port = free_port()
    d = RemoteDaemon(["-H", f"tcp://127.0.0.1:{port}", "--tls", "--tlscert", pki.server_cert,
                      "--tlskey", pki.server_key])
    try:
        d.start()
        answer = _handshake_and_request(pki, port, None)
        assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer
        r = run_cli("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", pki.ca,
                    "version", "--format", "{{.Server.ApiVersion}}")
        assert r.stdout == b"1.43\n", r.stderr
    finally:
        d.teardown()


def test_daemon_reports_missing_certificate_files(tmp_path):
    r = subprocess.run([DOCKYARD, "daemon", "--root", str(tmp_path / "r"), "-H",
                        "tcp://127.0.0.1:1", "--tlsverify", "--tlscacert",
                        str(tmp_path / "none.pem"), "--tlscert", str(tmp_path / "c.pem"),
                        "--tlskey", str(tmp_path / "k.pem")],
                       capture_output=True, timeout=30, env=CLEAN_ENV)
    assert r.returncode == 2
    assert b"no such file" in r.stderr and b"Traceback" not in r.stderr


def test_tls_environment_is_ignored_for_a_unix_socket(tls_daemon, pki):
    r = run_cli("ps", "-q", env={"DOCKER_HOST": tls_daemon.host, "DOCKER_TLS_VERIFY": "1",
                                 "DOCKER_CERT_PATH": pki.dir})
    assert r.returncode == 0, r.stderr


def test_client_checks_the_name_it_dials_against_the_certificate(tls_daemon, pki):
    import _socket

    from dockyard.tlsconn import SSLCertVerificationError, TLSSocket, client_context

    ctx = client_context(pki.ca, pki.cert, pki.key, True)
    for name, ok in (("127.0.0.1", True), ("localhost", True), ("wrong.example", False)):
        raw = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", tls_daemon.port))
        try:
            if ok:
                assert TLSSocket(raw, ctx, name).version() in ("TLSv1.2", "TLSv1.3")
            else:
                with pytest.raises(SSLCertVerificationError, match="Hostname mismatch"):
                    TLSSocket(raw, ctx, name)
        finally:
            raw.close()
    r = run_cli("-H", f"tcp://localhost:{tls_daemon.port}", *_tls_flags(pki, pki.cert, pki.key),
                "ps", "-q")
    assert r.returncode == 0, r.stderr
