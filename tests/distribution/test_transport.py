"""TLS with a per-registry CA from a certs.d directory, and the progress renderer the CLI
shares with build (docker's JSONMessage display, on and off a terminal)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from distkit import (
    DockyardRegistry,
    inspect,
    load_random,
    make_client,
)

from dockyard.cli.base import CLIError
from dockyard.cli.progress import render
from dockyard.distribution.options import RegistryOptions


def test_tls_registry_trusted_through_certs_dir(option_daemon, dy, servers, workdir):
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    reg = servers(DockyardRegistry).start("--tls-cert", cert, "--tls-key", key)
    certs = os.path.join(workdir, "certs.d")
    os.makedirs(os.path.join(certs, reg.host))
    shutil.copy(cert, os.path.join(certs, reg.host, "ca.crt"))
    d = option_daemon("--certs-dir", certs)
    cli = make_client("dockyard", d, workdir)
    ref = f"{reg.host}/tls/app:v1"
    image_id = load_random(cli, ref, [10_000])
    cli.ok("push", ref)
    cli.ok("rmi", ref)
    cli.ok("pull", ref)
    assert inspect(cli, ref)["Id"] == image_id
    # the session daemon does not trust that CA (and the registry speaks only TLS)
    r = dy("pull", ref)
    assert r.returncode == 1 and r.stderr.decode().startswith("Error response from daemon: ")


def test_insecure_and_mirror_options():
    o = RegistryOptions.from_flags(["10.1.0.0/16", "reg.example:5000"],
                                   ["https://m1.example", "quay.io=http://127.0.0.1:9/prefix"],
                                   [], 3, 5)
    assert o.is_insecure("127.0.0.1:5000") and o.is_insecure("localhost:5000")
    assert o.is_insecure("10.1.2.3:443") and o.is_insecure("reg.example:5000")
    assert not o.is_insecure("10.2.0.1") and not o.is_insecure("registry.example")
    hub = o.endpoints("docker.io")
    assert [e.base for e in hub] == ["https://m1.example", "https://registry-1.docker.io"]
    assert [e.base for e in o.endpoints("quay.io")] == ["http://127.0.0.1:9/prefix",
                                                         "https://quay.io"]
    assert [e.base for e in o.endpoints("docker.io", push=True)] == [
        "https://registry-1.docker.io"]
    with pytest.raises(Exception, match="invalid mirror"):
        RegistryOptions.from_flags([], ["ftp://x"], [], 3, 5)


PULL = [
    b'{"status":"Pulling from team/app","id":"v1"}\r\n',
    b'{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}\r\n',
    b'{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}\r\n{"status":"Downl',
    b'oading","progressDetail":{"current":500000,"total":1000000},"progress":"x","id":"aaa"}\n',
    b'{"status":"Pull complete","progressDetail":{},"id":"aaa"}\r\n',
    b'{"status":"Pull complete","progressDetail":{},"id":"bbb"}\r\n',
    b'{"status":"Digest: sha256:abc"}\r\n',
    b'{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:abc","Size":5}}\r\n',
]


def test_progress_plain_output_has_no_bars():
    out = io.StringIO()
    aux: list = []
    render(iter(PULL), out, tty=False, on_aux=aux.append)
    assert out.getvalue().splitlines() == [
        "v1: Pulling from team/app", "aaa: Pulling fs layer", "bbb: Pulling fs layer",
        "aaa: Pull complete", "bbb: Pull complete", "Digest: sha256:abc"]
    assert aux == [{"Tag": "v1", "Digest": "sha256:abc", "Size": 5}]


def test_progress_terminal_redraws_each_layer_line():
    out = io.StringIO()
    render(iter(PULL), out, tty=True)
    text = out.getvalue()
    # layer aaa is one line above bbb: its update moves up 2, redraws, moves back down
    assert ("\x1b[2A\x1b[2K\raaa: Downloading [=========================>"
            "                         ]    500kB/1MB") in text
    assert "\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B" in text
    assert text.endswith("Digest: sha256:abc\n")


def test_progress_error_message_ends_the_stream():
    out = io.StringIO()
    stream = [b'{"status":"Preparing","progressDetail":{},"id":"aaa"}\n',
              b'{"errorDetail":{"message":"unauthorized: nope"},"error":"unauthorized: nope"}\n']
    with pytest.raises(CLIError, match="unauthorized: nope"):
        render(iter(stream), out, tty=False)
    render(iter([b'{"stream":"Step 1/2 : FROM busybox\\n"}\n']), out, tty=False)
    assert out.getvalue().endswith("Step 1/2 : FROM busybox\n")
