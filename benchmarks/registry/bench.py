"""Benchmark dockyard's registry against the reference registry (Debian's docker-registry),
on this machine, in the same run: skopeo push/pull of a 200 MiB layer, 8 parallel GETs of a
50 MiB blob (curl), and idle memory (RSS). Prints a markdown table.

Usage: .venv/bin/python benchmarks/registry/bench.py [--rounds 3] [--push-mib 200] [--get-mib 50]
All traffic stays on 127.0.0.1; every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name: str, cmd: list[str], port: int):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, self.proc)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_reference(base: str) -> Server:
    port = free_port()
    root = os.path.join(base, "ref-root")
    cfg = os.path.join(base, "ref.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    return Server("docker-registry", ["docker-registry", "serve", cfg], port)


def start_dockyard(base: str) -> Server:
    port = free_port()
    root = os.path.join(base, "dy-root")
    cmd = [sys.executable, "-m", "dockyard.registry", "serve", "--addr", f"127.0.0.1:{port}",
           "--root", root, "--log-level", "error"]
    return Server("dockyard", cmd, port)


def make_layout(path: str, layer_mib: int) -> None:
    os.makedirs(os.path.join(path, "blobs", "sha256"))

    def blob(data: bytes) -> dict:
        dg = hashlib.sha256(data).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", dg), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + dg, "size": len(data)}

    layer = os.urandom(layer_mib << 20)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            **blob(layer)}]}
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             **blob(json.dumps(manifest).encode()),
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def push_pull(srv: Server, layout: str, base: str, i: int) -> tuple[float, float]:
    ref = f"docker://{srv.host}/bench/push{i}:v1"
    push = timed(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                  f"oci:{layout}:v1", ref])
    out = os.path.join(base, f"pull-{srv.name}-{i}")
    pull = timed(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", ref,
                  f"oci:{out}:v1"])
    shutil.rmtree(out)
    return push, pull


def upload_blob(srv: Server, repo: str, data: bytes) -> str:
    dg = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{srv.host}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req) as r:
        loc = r.headers["Location"]
    if not loc.startswith("http"):
        loc = f"http://{srv.host}{loc}"
    sep = "&" if "?" in loc else "?"
    req = urllib.request.Request(f"{loc}{sep}digest={dg}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201
    return dg


def parallel_get(srv: Server, repo: str, dg: str, n: int, size: int) -> float:
    """Aggregate MiB/s of n concurrent curl downloads (curl is C: the client is not the limit)."""
    url = f"http://{srv.host}/v2/{repo}/blobs/{dg}"
    t = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sf", "-o", "/dev/null", url]) for _ in range(n)]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("curl failed")
    return n * size / (1 << 20) / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--push-mib", type=int, default=200)
    ap.add_argument("--get-mib", type=int, default=50)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="dyreg-bench-")
    servers: list[Server] = []
    try:
        servers = [start_reference(base), start_dockyard(base)]
        time.sleep(1.0)
        idle0 = {s.name: rss_kib(s.proc.pid) for s in servers}
        res: dict[str, dict[str, list[float]]] = {s.name: {"push": [], "pull": [], "get": []}
                                                 for s in servers}
        blob = os.urandom(args.get_mib << 20)
        dgs = {s.name: upload_blob(s, "bench/get", blob) for s in servers}
        for i in range(args.rounds):
            # a fresh layer each round: skopeo's blob-info cache would otherwise turn the
            # second push into a cross-repository mount
            layout = os.path.join(base, f"layout{i}")
            make_layout(layout, args.push_mib)
            for s in (servers if i % 2 == 0 else servers[::-1]):  # alternate who goes first
                push, pull = push_pull(s, layout, base, i)
                res[s.name]["push"].append(push)
                res[s.name]["pull"].append(pull)
                res[s.name]["get"].append(parallel_get(s, "bench/get", dgs[s.name], 8,
                                                       len(blob)))
            shutil.rmtree(layout)
        time.sleep(2.0)
        idle1 = {s.name: rss_kib(s.proc.pid) for s in servers}
        ref, dy = "docker-registry", "dockyard"
        med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in res.items()}
        print(f"\n{args.rounds} rounds, median; {args.push_mib} MiB layer, "
              f"8 x {args.get_mib} MiB GETs\n")
        print("| metric | docker-registry | dockyard | dockyard vs reference |")
        print("|---|---|---|---|")
        for k, label in (("push", f"skopeo push {args.push_mib} MiB (s)"),
                         ("pull", f"skopeo pull {args.push_mib} MiB (s)")):
            print(f"| {label} | {med[ref][k]:.2f} | {med[dy][k]:.2f} | "
                  f"{med[ref][k] / med[dy][k]:.2f}x faster |")
        print(f"| 8 parallel GETs {args.get_mib} MiB (MiB/s aggregate) | {med[ref]['get']:.0f} | "
              f"{med[dy]['get']:.0f} | {med[dy]['get'] / med[ref]['get']:.2f}x |")
        print(f"| idle RSS at start (MiB) | {idle0[ref] / 1024:.1f} | {idle0[dy] / 1024:.1f} | "
              f"{idle0[dy] / idle0[ref]:.2f}x |")
        print(f"| idle RSS after load (MiB) | {idle1[ref] / 1024:.1f} | {idle1[dy] / 1024:.1f} | "
              f"{idle1[dy] / idle1[ref]:.2f}x |")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
