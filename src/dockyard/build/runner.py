"""RUN steps as real containers, run directly by ``runc run`` in the foreground.

A build step is attached for its whole life and never outlives the build, so it needs no
conmon, no container record and no log file: runc's stdout/stderr pipe is read line by line
into the build stream. The step still gets what a container gets (Docker's capabilities,
seccomp profile, masked paths, its own namespaces and cgroup).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import RuntimeFailure
from ..runtime.caps import effective_caps
from ..runtime.seccomp import seccomp_for
from ..runtime.spec import SpecOptions, build_spec

_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n")

_seccomp_cache: dict | None = None
_seccomp_lock = threading.Lock()


def _default_seccomp() -> dict | None:
    global _seccomp_cache
    with _seccomp_lock:
        if _seccomp_cache is None:
            caps = effective_caps([], [], False)
            _seccomp_cache = seccomp_for([], caps, False) or {}
        return _seccomp_cache or None


@dataclass
class RunRequest:
    cid: str
    rootfs: str
    args: list[str]
    env: list[str]
    cwd: str
    user: str
    network: str = "default"          # default | none | host
    mounts: list[dict] = field(default_factory=list)  # OCI mounts (--mount)
    extra_hosts: list[str] = field(default_factory=list)
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    shm_size: int = 0
    cancelled: Callable[[], bool] | None = None  # checked once the process is known
    netns_path: str | None = None  # a namespace made for the step (default network)
    hosts: bytes | None = None     # /etc/hosts and /etc/resolv.conf decided by the network
    resolv: bytes | None = None


def _resolv_conf() -> bytes:
    try:
        with open("/etc/resolv.conf", "rb") as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith(b"nameserver 127.")]
        return b"\n".join(lines) + b"\n"
    except OSError:
        return b""


class StepRunner:
    def __init__(self, exec_root: str, runtime_path: str, cgroup_parent: str):
        self.root = os.path.join(exec_root, "build")
        self.runc_root = os.path.join(self.root, "runc")
        os.makedirs(self.runc_root, mode=0o700, exist_ok=True)
        self.runtime_path = runtime_path
        self.cgroup_parent = cgroup_parent
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def _etc_files(self, bundle: str, hostname: str, req: RunRequest) -> list[dict]:
        hosts = _HOSTS + f"127.0.0.1\t{hostname}\n"
        for h in req.extra_hosts:
            name, _, addr = h.partition(":")
            if name and addr:
                hosts += f"{addr}\t{name}\n"
        files = {"hosts": req.hosts or hosts.encode(), "hostname": f"{hostname}\n".encode(),
                 "resolv.conf": req.resolv or _resolv_conf()}
        mounts = []
        for name, data in files.items():
            path = os.path.join(bundle, name)
            with open(path, "wb") as f:
                f.write(data)
            mounts.append({"destination": f"/etc/{name}", "type": "bind", "source": path,
                           "options": ["rbind", "rprivate"]})
        return mounts

    def run(self, req: RunRequest, on_output: Callable[[bytes], None],
            on_error: Callable[[bytes], None] | None = None) -> int:
        """Run to completion, feeding output chunks as they come (stderr to ``on_error``
        when given: docker shows it in red); returns the exit code."""
        bundle = os.path.join(self.root, "c", req.cid)
        os.makedirs(bundle, mode=0o700)
        try:
            hostname = req.cid[:12]
            mounts = self._etc_files(bundle, hostname, req) + list(req.mounts)
            netns = req.netns_path
            if req.network == "host":
                netns = f"/proc/{os.getpid()}/ns/net"
            opts = SpecOptions(
                rootfs=req.rootfs, args=req.args, env=req.env, cwd=req.cwd, user=req.user,
                hostname=hostname, netns_path=netns, extra_mounts=mounts,
                cgroups_path=f"/{self.cgroup_parent}/build-{req.cid}",
                seccomp=_default_seccomp(), memory=req.memory, nano_cpus=req.nano_cpus,
                cpu_shares=req.cpu_shares, shm_size=req.shm_size or 64 * 1024 * 1024)
            spec = build_spec(opts)
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(spec, f)
            return self._runc_run(req.cid, bundle, on_output, req.cancelled, on_error)
        finally:
            shutil.rmtree(bundle, ignore_errors=True)

    def _runc_run(self, cid: str, bundle: str, on_output: Callable[[bytes], None],
                  cancelled: Callable[[], bool] | None = None,
                  on_error: Callable[[bytes], None] | None = None) -> int:
        cmd = [self.runtime_path, "--root", self.runc_root, "run", "--bundle", bundle, cid]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if on_error is not None else (None, out_w)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                                    close_fds=True, start_new_session=True)
        except OSError as e:
            for fd in {out_r, out_w, err_r, err_w} - {None}:
                os.close(fd)
            raise RuntimeFailure(f"cannot run {self.runtime_path}: {e}") from None
        for fd in {out_w, err_w}:
            os.close(fd)
        with self._lock:
            self._procs[cid] = proc
        if cancelled is not None and cancelled():  # cancelled while it was starting
            self.cancel(cid)
        try:
            sinks = {out_r: on_output}
            if err_r is not None and on_error is not None:
                sinks[err_r] = on_error
            with selectors.DefaultSelector() as sel:
                for fd in sinks:
                    sel.register(fd, selectors.EVENT_READ)
                try:
                    while sinks:
                        for key, _ in sel.select():
                            data = os.read(key.fd, 65536)
                            if data:
                                sinks[key.fd](data)
                            else:
                                sel.unregister(key.fd)
                                del sinks[key.fd]
                finally:
                    os.close(out_r)
                    if err_r is not None:
                        os.close(err_r)
            return proc.wait()
        finally:
            with self._lock:
                self._procs.pop(cid, None)
            if proc.poll() is None:
                self._kill(cid, proc)
            self._force_delete(cid)

    def _kill(self, cid: str, proc: subprocess.Popen) -> None:
        subprocess.run([self.runtime_path, "--root", self.runc_root, "kill", cid, "KILL"],
                       capture_output=True)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _force_delete(self, cid: str) -> None:
        if os.path.exists(os.path.join(self.runc_root, cid)):
            subprocess.run([self.runtime_path, "--root", self.runc_root, "delete", "--force",
                            cid], capture_output=True)

    def cancel(self, cid: str) -> None:
        """Kill a running step (the client went away)."""
        with self._lock:
            proc = self._procs.get(cid)
        if proc is not None and proc.poll() is None:
            subprocess.run([self.runtime_path, "--root", self.runc_root, "kill", cid, "KILL"],
                           capture_output=True)

    def cancel_all(self, cids) -> None:
        for cid in cids:
            self.cancel(cid)

    def cleanup_leftovers(self) -> None:
        """Daemon start: runc state and bundles of steps a crash left behind."""
        for cid in os.listdir(self.runc_root):
            self._force_delete(cid)
        shutil.rmtree(os.path.join(self.root, "c"), ignore_errors=True)
