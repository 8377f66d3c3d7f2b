"""Helpers of the pull/push tests (a module of its own: "conftest" imports collide across
test directories when the whole suite runs). Registries for pull/push tests, all on loopback: Debian's ``docker-registry`` (optionally
with htpasswd auth), dockyard's own registry (optionally with token auth), and an HTTP proxy
that counts, cuts or corrupts blob bodies on their way to the daemon."""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import defaultdict

import bcrypt

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from daemonctl import DOCKYARD, Daemon  # noqa: E402

DOCKERS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("registry exited: " + open(log, errors="replace").read()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("registry did not start")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Server:
    """A registry process on 127.0.0.1:PORT with its own storage; stopped at teardown."""

    def __init__(self, base: str):
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = os.path.join(base, "log")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, cmd: list[str]) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        wait_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def req(self, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.headers), r.read()
        finally:
            c.close()


def upload_blob(reg: Server, repo: str, data: bytes) -> str:
    """POST + PUT ?digest= (docker-registry 2.8 has no single-POST upload)."""
    import urllib.parse

    dg = sha(data)
    status, headers, _b = reg.req("POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    loc = urllib.parse.urlsplit(headers["Location"])
    path = f"{loc.path}?{loc.query}&digest={dg}" if loc.query else f"{loc.path}?digest={dg}"
    status, _h, body = reg.req("PUT", path, data, {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return dg


class DockerRegistry(Server):
    """Debian's docker-registry (CNCF distribution 2.8) with a generated config."""

    def start(self, htpasswd: str | None = None) -> DockerRegistry:
        cfg = {"version": 0.1, "log": {"level": "warn"},
               "storage": {"filesystem": {"rootdirectory": os.path.join(self.base, "data")},
                           "delete": {"enabled": True}},
               "http": {"addr": self.host}}
        if htpasswd:
            cfg["auth"] = {"htpasswd": {"realm": "basic-realm", "path": htpasswd}}
        path = os.path.join(self.base, "config.yml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # YAML is a superset of JSON
        self._spawn(["docker-registry", "serve", path])
        return self


class DockyardRegistry(Server):
    def start(self, *args: str) -> DockyardRegistry:
        self._spawn([sys.executable, "-m", "dockyard.registry", "serve", "--addr", self.host,
                     "--root", os.path.join(self.base, "data"), *args])
        return self


def write_htpasswd(path: str, users: dict[str, str]) -> str:
    with open(path, "w") as f:
        for u, pw in users.items():
            f.write(f"{u}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    return path


# -- a proxy in front of a registry -------------------------------------------------------------


class Proxy:
    """Forwards /v2/ requests to a registry. Blob GETs can be cut after a fraction of the body
    (``cut_once``), cut at once (``broken``) or have one byte flipped (``tamper``); canned
    manifests can be served instead (``canned``). Counts the blob body bytes it sent."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.mode = "pass"
        self.cut_fraction = 0.6
        self.served: dict[str, int] = defaultdict(int)
        self.gets: list[tuple[str, str | None]] = []
        self.canned: dict[str, tuple[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def blob_bytes(self, digest: str) -> int:
        return sum(n for p, n in self.served.items() if p.endswith("/blobs/" + digest))

    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path
        if h.command == "GET" and path in self.canned:
            ctype, body = self.canned[path]
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else None
        fwd = {k: v for k, v in h.headers.items()
               if k.lower() not in ("connection", "content-length")}
        with self.lock:
            self.requests.append((h.command, path))
        c = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        c.request(h.command, path, body=body, headers=fwd)
        r = c.getresponse()
        is_blob = h.command == "GET" and "/blobs/sha256:" in path and r.status in (200, 206)
        if is_blob:
            with self.lock:
                self.gets.append((path, h.headers.get("Range")))
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding"):
                h.send_header(k, v)
        h.end_headers()
        if h.command == "HEAD":
            c.close()
            return
        total = int(r.headers.get("Content-Length") or 0)
        mode = self.mode if is_blob and total > 65536 else "pass"  # layers, not configs
        if mode == "cut_once":
            self.mode = "pass"
        elif mode == "cut_then_broken":
            self.mode = "broken"
        elif mode == "stall":
            self.mode = "pass"
        if mode == "stall":  # part of the body, then nothing until released
            limit = int(total * self.cut_fraction)
            self._copy(h, r, path, limit, total, "pass", close_short=False)
            self.release.wait(60)
            c.close()
            h.close_connection = True
            return
        limit = {"cut_once": int(total * self.cut_fraction),
                 "cut_then_broken": int(total * self.cut_fraction),
                 "broken": 0}.get(mode, total)
        self._copy(h, r, path, limit, total, mode)
        c.close()

    def _copy(self, h, r, path: str, limit: int, total: int, mode: str,
              close_short: bool = True) -> None:
        """Body bytes up to ``limit`` (counted per path); a short body ends the connection."""
        sent = 0
        try:
            while sent < limit:
                chunk = r.read(min(65536, limit - sent))
                if not chunk:
                    break
                if mode == "tamper" and sent <= total // 2 < sent + len(chunk):
                    k = total // 2 - sent
                    chunk = chunk[:k] + bytes([chunk[k] ^ 0xFF]) + chunk[k + 1:]
                h.wfile.write(chunk)
                sent += len(chunk)
                with self.lock:
                    self.served[path] += len(chunk)
            h.wfile.flush()
        except OSError:
            pass
        if sent < total and close_short:
            h.close_connection = True
            try:
                h.wfile.flush()
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- images ----------------------------------------------------------------------------------


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(repo_tag: str, layers: list[dict[str, bytes]], arch: str = "amd64") -> bytes:
    """A ``docker save`` tarball with one tar per layer (random data makes them unique)."""
    tars = [_tar(files) for files in layers]
    diff_ids = [sha(t) for t in tars]
    config = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                          for i in range(len(tars))]}
    cfg = json.dumps(config).encode()
    cfg_name = sha(cfg)[7:] + ".json"
    members = {cfg_name: cfg}
    names = []
    for d, t in zip(diff_ids, tars, strict=True):
        names.append(f"{d[7:]}/layer.tar")
        members[names[-1]] = t
    members["manifest.json"] = json.dumps(
        [{"Config": cfg_name, "RepoTags": [repo_tag], "Layers": names}]).encode()
    return _tar(members)


def random_layers(sizes: list[int]) -> list[dict[str, bytes]]:
    return [{f"data{i}.bin": os.urandom(n)} for i, n in enumerate(sizes)]


# -- the dockyard CLI with a private docker config ------------------------------------------------


class Client:
    """The dockyard or docker CLI against a daemon, with its own DOCKER_CONFIG."""

    def __init__(self, argv: list[str], config_dir: str, name: str):
        self.argv = argv
        self.config_dir = config_dir
        self.name = name
        self.env = dict(os.environ, DOCKER_CONFIG=config_dir, DOCKYARD_NO_AUTOSTART="1",
                        DOCKER_CLI_HINTS="false")
        self.env.pop("DOCKER_HOST", None)

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 120
                 ) -> subprocess.CompletedProcess:
        # stdin is never the test's: docker prompts for a login after an unauthorized pull
        return subprocess.run([*self.argv, *args], input=input, capture_output=True,
                              timeout=timeout, env=self.env,
                              stdin=subprocess.DEVNULL if input is None else None)

    def ok(self, *args: str, input: bytes | None = None) -> str:
        r = self(*args, input=input)
        assert r.returncode == 0, (self.name, args, r.stdout, r.stderr)
        return r.stdout.decode()

    def config(self) -> dict:
        try:
            with open(os.path.join(self.config_dir, "config.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}


def make_client(kind: str, daemon, base: str) -> Client:
    cfg = tempfile.mkdtemp(dir=base, prefix="cfg-")
    if kind == "dockyard":
        return Client([DOCKYARD, "-H", daemon.host], cfg, "dockyard")
    return Client([kind, "-H", daemon.host], cfg, kind)


def load_image(client: Client, archive: bytes) -> None:
    client.ok("load", input=archive)


def load_random(client: Client, ref: str, sizes: list[int], arch: str = "amd64") -> str:
    """Load a fresh image of random layers of ``sizes`` bytes as ``ref``; its id."""
    load_image(client, docker_archive(ref, random_layers(sizes), arch))
    return inspect(client, ref)["Id"]


def inspect(client: Client, name: str) -> dict:
    return json.loads(client.ok("image", "inspect", name))[0]


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def basic(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


class OptionDaemon(Daemon):
    """A private daemon started with extra flags (mirrors, concurrency, insecure hosts)."""

    def __init__(self, extra: list[str]):
        super().__init__(extra_args=extra)

