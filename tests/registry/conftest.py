"""Fixtures: a real registry process on a free loopback port with its own root, and a tiny
HTTP helper (http.client) so tests control every header byte."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Resp:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def code(self) -> str:
        return self.json()["errors"][0]["code"]


@dataclass
class Registry:
    root: str
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = os.path.join(self.root, "..", "registry.log")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        cmd = [sys.executable, "-m", "dockyard.registry", "serve", "--addr", self.host,
               "--root", self.root, *self.args]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("registry exited: " + open(self.log_path).read()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def req(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Resp:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            conn.close()

    # -- helpers most tests need -------------------------------------------------------------------

    def push_blob(self, repo: str, data: bytes, headers: dict[str, str] | None = None) -> str:
        dg = sha(data)
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={dg}", data,
                     {"Content-Type": "application/octet-stream", **(headers or {})})
        assert r.status == 201, r.body
        return dg

    def push_manifest(self, repo: str, ref: str, manifest: dict[str, Any] | bytes,
                      media_type: str = "application/vnd.oci.image.manifest.v1+json",
                      headers: dict[str, str] | None = None) -> Resp:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.req("PUT", f"/v2/{repo}/manifests/{ref}", body,
                        {"Content-Type": media_type, **(headers or {})})

    def push_image(self, repo: str, tag: str | None, layers: list[bytes],
                   config: bytes | None = None, **extra: Any) -> tuple[str, bytes]:
        """Push blobs and an OCI manifest; returns (manifest digest, manifest bytes)."""
        config = config if config is not None else json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                               "diff_ids": []}}).encode()
        cdg = self.push_blob(repo, config)
        descs = []
        for layer in layers:
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                          "digest": self.push_blob(repo, layer), "size": len(layer)})
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": extra.pop("config_type",
                                                "application/vnd.oci.image.config.v1+json"),
                        "digest": cdg, "size": len(config)},
             "layers": descs, **extra}
        body = json.dumps(m).encode()
        r = self.push_manifest(repo, tag or sha(body), body)
        assert r.status == 201, r.body
        return sha(body), body


@pytest.fixture
def make_registry(tmp_path) -> Iterator[Any]:
    started: list[Registry] = []

    def make(*args: str, root: str | None = None, port: int | None = None) -> Registry:
        r = Registry(root or str(tmp_path / f"root{len(started)}"), port or free_port(),
                     list(args))
        os.makedirs(r.root, exist_ok=True)
        started.append(r)
        r.start()
        return r

    try:
        yield make
    finally:
        for r in started:
            r.stop()


@pytest.fixture
def registry(make_registry) -> Registry:
    return make_registry()
