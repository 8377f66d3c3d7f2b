"""A build context bigger than the in-memory context directory (/dev/shm) still builds: the
daemon unpacks it on disk (the body's size says so) or moves it there when memory fills up."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from apiclient import _UnixConnection
from daemonctl import Daemon

BIG = 12 << 20  # the tmpfs below holds 8 MiB


@pytest.fixture
def small_shm_daemon(monkeypatch):
    """A daemon whose in-memory context directory is an 8 MiB tmpfs (unmounted by teardown)."""
    d = Daemon()
    shm = os.path.join(d.base, "shm")
    os.makedirs(shm)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=1777", "tmpfs", shm],
                   check=True)
    monkeypatch.setenv("DOCKYARD_BUILD_SHM", shm)
    try:
        d.start()
        d.import_busybox()
        yield d, shm
    finally:
        d.teardown()


def _context() -> bytes:
    df = (b"FROM busybox\nCOPY . /ctx/\n"
          b"RUN test \"$(wc -c < /ctx/big)\" -eq " + str(BIG).encode() + b" && cat /ctx/small\n")
    files = {"Dockerfile": df, "small": b"small file\n", "big": os.urandom(1 << 20) * 12}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("Dockerfile", "small", "big", "zz-after-big"):
            data = files.get(name, b"after\n")
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _build(d: Daemon, body: bytes, chunked: bool, tag: str) -> list[dict]:
    conn = _UnixConnection(d.sock, timeout=120)
    headers = {"Content-Type": "application/x-tar"}
    if chunked:  # as the docker CLI sends it: no Content-Length, the daemon cannot know
        pieces = (body[i:i + (256 << 10)] for i in range(0, len(body), 256 << 10))
        conn.request("POST", f"/v1.43/build?t={tag}", body=pieces, headers=headers,
                     encode_chunked=True)
    else:
        conn.request("POST", f"/v1.43/build?t={tag}", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200, data
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_context_bigger_than_shm_builds(small_shm_daemon, chunked):
    d, shm = small_shm_daemon
    msgs = _build(d, _context(), chunked, "spill:latest")
    assert not [m for m in msgs if "error" in m], msgs
    text = "".join(m.get("stream", "") for m in msgs)
    assert "small file\n" in text and "Successfully tagged spill:latest" in text
    r = d.cli("run", "--rm", "spill:latest", "cat", "/ctx/zz-after-big")
    assert r.stdout == b"after\n", r.stderr
    assert os.listdir(shm) == []  # nothing of the context left in memory
    disk = os.path.join(d.root, "build", "contexts")
    assert os.listdir(disk) == []
