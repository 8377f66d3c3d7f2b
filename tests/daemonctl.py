"""Start and tear down a private dockyard daemon for tests.

Each daemon gets its own root, exec root, socket and cgroup parent; teardown removes its
containers' processes, mounts and cgroups even when a test failed.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

VENV_BIN = os.path.dirname(sys.executable)
DOCKYARD = os.path.join(VENV_BIN, "dockyard")


def _ping(sock_path: str) -> bool:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(sock_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Daemon:
    def __init__(self, base: str | None = None, extra_args: list[str] | None = None):
        self.extra_args = list(extra_args or [])  # more daemon flags (mirrors, concurrency…)
        self.tag = uuid.uuid4().hex[:8]
        self.base = base or tempfile.mkdtemp(prefix=f"dockyard-test-{self.tag}-")
        self.root = os.path.join(self.base, "root")
        self.exec_root = os.path.join(self.base, "exec")
        self.sock = os.path.join(self.base, "dockyard.sock")
        self.host = f"unix://{self.sock}"
        self.cgroup_parent = f"dockyard-test-{self.tag}"
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.base, "daemon.log")
        # Its own bridge, subnet and address pool: parallel test daemons never share one.
        self.bridge = f"dyt{self.tag[:8]}"
        self.net_octet = _free_octet()
        self.bip = f"10.{self.net_octet}.0.1/24"
        self.pool = f"base=10.{self.net_octet}.0.0/16,size=24"

    def start(self, timeout: float = 20) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [DOCKYARD, "daemon", "--root", self.root, "--exec-root", self.exec_root,
             "-H", self.host, "--cgroup-parent", self.cgroup_parent, "--log-level", "debug",
             "--bridge-name", self.bridge, "--bip", self.bip,
             "--default-address-pool", self.pool, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited early:\n{self.log()}")
            if _ping(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not answer:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
        e = dict(os.environ, DOCKYARD_NO_AUTOSTART="1")
        e.update(env or {})
        return subprocess.run([DOCKYARD, "-H", self.host, *args], input=input,
                              capture_output=True, timeout=timeout, env=e)

    def import_busybox(self) -> None:
        r = self.cli("busybox-image")
        if r.returncode != 0:
            raise RuntimeError(f"busybox-image failed: {r.stderr.decode()}\n{self.log()}")

    def teardown(self) -> None:
        """Stop the daemon and remove every trace: processes, mounts, cgroups, files."""
        self.stop()
        runc_root = os.path.join(self.exec_root, "runtime", "runc")
        if os.path.isdir(runc_root):
            out = subprocess.run(["runc", "--root", runc_root, "list", "-f", "json"],
                                 capture_output=True, text=True).stdout.strip()
            for ctr in json.loads(out or "null") or []:
                subprocess.run(["runc", "--root", runc_root, "delete", "-f", ctr["id"]],
                               capture_output=True)
        for pidfile in glob.glob(os.path.join(self.exec_root, "runtime", "c", "*", "conmon.pid")):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        _unmount_under(self.base)
        _remove_network_state(self.root, self.bridge)
        for cg in glob.glob(f"/sys/fs/cgroup/*/{self.cgroup_parent}"):
            _remove_cgroup(cg)
        shutil.rmtree(self.base, ignore_errors=True)


def _unmount_under(base: str) -> None:
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(base)]
    for t in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", t], capture_output=True)


def _remove_cgroup(path: str) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda x: -len(x[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def _free_octet() -> int:
    """A second octet for 10.X.0.0/16 that no route on this host uses yet."""
    import random

    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout
    for _ in range(200):
        x = random.randint(100, 250)
        if f"10.{x}." not in routes:
            return x
    return random.randint(100, 250)


def _remove_network_state(root: str, bridge: str) -> None:
    """The daemon's bridges (and the veths on them) and its iptables chains."""
    try:
        from dockyard.network.cleanup import purge_daemon_network
    except ImportError:
        return
    purge_daemon_network(os.path.abspath(root), bridge)
