"""runc driven through conmon: one conmon per container holds its stdio, writes its log and its
exit file, and outlives the daemon, so containers survive daemon restarts (live restore).

Layout under ``exec_root`` (one per daemon, so several daemons never share runtime state)::

    runc/            runc --root: runc's own state (state.json, exec.fifo)
    exits/<cid>      conmon --exit-dir: the exit status, written once when the container dies
    s/<cid>          conmon --socket-dir-path: symlink to the bundle, keeps socket paths short
    c/<cid>/         the bundle: config.json, pidfile, conmon.pid, runc.log, attach, ctl, winsz

Speed matters (``run --rm true`` is a product target), so nothing here sleeps or polls:
conmon reports the container pid (or runc's error) on a sync pipe the moment ``runc create``
returns, and ``start`` releases runc's exec fifo directly when it can (what ``runc start``
itself does), watched with a pidfd so a dead init cannot hang it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from typing import Any

from dockyard.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure, Unavailable
from dockyard.runtime import cgwarm
from dockyard.util import atomic_write

_CID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATE_TIMEOUT = 120.0  # runc create runs no user code; only a wedged host takes this long


def _check_cid(cid: str) -> None:
    if not isinstance(cid, str) or not _CID_RE.match(cid):
        raise InvalidArgument(f"invalid container id {cid!r}")


def classify_exit_code(message: str) -> int:
    """Docker's convention for a process that could not start: 127 when the command does not
    exist, 126 when it exists but cannot be executed, 125 for every other runtime failure."""
    low = message.lower()
    if "executable file not found" in low or (
        "no such file or directory" in low and ("exec" in low or "starting container process" in low)
    ):
        return 127
    if "permission denied" in low or "exec format error" in low or "is a directory" in low:
        return 126
    return 125


class ContainerRuntime:
    """One daemon's view of its containers: create/start/kill/delete through runc + conmon."""

    def __init__(
        self,
        exec_root: str,
        runtime_path: str = "runc",
        conmon_path: str = "conmon",
        runtime_root: str | None = None,
        *,
        fast_start: bool = True,
        sync_logs: bool = False,
    ) -> None:
        self.exec_root = os.path.abspath(exec_root)
        self.runtime_path = _which(runtime_path)
        self.conmon_path = _which(conmon_path)
        self.runtime_root = os.path.abspath(runtime_root or os.path.join(self.exec_root, "runc"))
        # Releasing exec.fifo ourselves is exactly runc's `start`; other runtimes lay out state
        # differently, so they always get their own `start`.
        self.fast_start = fast_start and os.path.basename(self.runtime_path) == "runc"
        self.sync_logs = sync_logs
        self._exits = os.path.join(self.exec_root, "exits")
        self._sockets = os.path.join(self.exec_root, "s")
        self._bundles = os.path.join(self.exec_root, "c")
        for d in (self.exec_root, self.runtime_root, self._exits, self._sockets, self._bundles):
            os.makedirs(d, mode=0o711, exist_ok=True)

    # ---- paths ---------------------------------------------------------------------------

    def exit_dir(self) -> str:
        return self._exits

    def bundle_dir(self, cid: str) -> str:
        _check_cid(cid)
        return os.path.join(self._bundles, cid)

    def attach_socket_path(self, cid: str) -> str:
        """conmon's SOCK_SEQPACKET attach socket (stdio, Docker-style attach)."""
        _check_cid(cid)
        return os.path.join(self._sockets, cid, "attach")

    def ctl_fifo_path(self, cid: str) -> str:
        """conmon's control fifo: "1 <h> <w>\\n" resizes the tty, "2 0 0\\n" reopens the log."""
        return os.path.join(self.bundle_dir(cid), "ctl")

    def list_ids(self) -> list[str]:
        """Container ids with a bundle here: what a restarted daemon reconciles with its DB."""
        return sorted(n for n in os.listdir(self._bundles) if _CID_RE.match(n))

    # ---- lifecycle -----------------------------------------------------------------------

    def create(
        self,
        cid: str,
        spec: dict,
        log_path: str,
        tty: bool = False,
        stdin: bool = False,
        *,
        leave_stdin_open: bool = False,
        log_size_max: int = 0,
    ) -> int:
        """Write the bundle, start conmon (which daemonizes and runs ``runc create``), and return
        the container's host pid once conmon reports it. runc's refusal raises RuntimeFailure
        with runc's own message and docker's exit code (127/126/125)."""
        bundle = self.bundle_dir(cid)
        if os.path.exists(os.path.join(self.runtime_root, cid, "state.json")):
            raise Conflict(f"container {cid} already exists in the runtime")
        self._remove_files(cid)
        os.makedirs(bundle, mode=0o700)
        try:
            return self._create(cid, bundle, spec, log_path, tty, stdin, leave_stdin_open,
                                log_size_max)
        except BaseException:
            self._cleanup_failed(cid)
            raise

    def _create(
        self, cid: str, bundle: str, spec: dict, log_path: str, tty: bool, stdin: bool,
        leave_stdin_open: bool, log_size_max: int = 0,
    ) -> int:  # fmt: skip
        if bool(spec.get("process", {}).get("terminal")) != tty:
            spec = dict(spec, process=dict(spec.get("process", {}), terminal=tty))
        atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec).encode(), durable=False)
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)

        args = [
            self.conmon_path, "--api-version", "1",
            "-c", cid, "-u", cid, "-n", cid,
            "-r", self.runtime_path, "-b", bundle,
            "-p", os.path.join(bundle, "pidfile"),
            "-P", os.path.join(bundle, "conmon.pid"),
            "-l", "k8s-file:" + os.path.abspath(log_path),
            "--exit-dir", self._exits,
            "--socket-dir-path", self._sockets,
            "--log-level", "error",
            "--runtime-arg", "--root", "--runtime-arg", self.runtime_root,
            "--runtime-arg", "--log-format=json",
            "--runtime-arg", "--log", "--runtime-arg", os.path.join(bundle, "runc.log"),
        ]  # fmt: skip
        if not self.sync_logs:
            args.append("--no-sync-log")
        if log_size_max > 0:
            # conmon replaces the file at this size; engine/logrotate.py keeps the old ones.
            args += ["--log-size-max", str(log_size_max)]
        if tty:
            args.append("--terminal")
        if stdin:
            args.append("--stdin")
            if leave_stdin_open:
                args.append("--leave-stdin-open")

        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        cgwarm.warm()  # runc create moves the container into its cgroups (runtime/cgwarm.py)
        try:
            with open(os.path.join(bundle, "conmon.err"), "wb") as err:
                env = _conmon_env(wfd)
                # A session of its own from the first instant: a Ctrl-C or kill of the daemon's
                # process group never reaches conmon, even before it daemonizes itself.
                proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    env=env, pass_fds=(wfd,), start_new_session=True, cwd=bundle,
                )  # fmt: skip
            os.close(wfd)
            wfd = -1
            msg = _SyncPipe(rfd).read(CREATE_TIMEOUT)
            proc.wait()
        finally:
            if wfd >= 0:
                os.close(wfd)
            os.close(rfd)

        pid = msg.get("data") if msg else None
        if isinstance(pid, int) and pid > 0:
            return pid
        reason = self._runc_error(cid) or (msg or {}).get("message") or self._conmon_error(cid)
        reason = (reason or "conmon exited without reporting the container").strip()
        raise RuntimeFailure(reason, exit_code=classify_exit_code(reason))

    def start(self, cid: str) -> None:
        """Let the created container exec its command."""
        _check_cid(cid)
        fifo = os.path.join(self.runtime_root, cid, "exec.fifo")
        if self.fast_start and os.path.exists(fifo):
            pid = self.pid(cid)
            if pid:
                self._release_fifo(cid, fifo, pid)
                return
        self._runc("start", cid)

    def _release_fifo(self, cid: str, fifo: str, pid: int) -> None:
        """runc's ``start`` without the Go start-up: read runc init's "0" from exec.fifo."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise RuntimeFailure("container process is already dead") from None
        try:
            try:
                fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                raise Conflict(f"container {cid} is already started") from None
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.register(pidfd, select.POLLIN)
                data = b""
                while True:
                    ready = dict(poller.poll())
                    if ready.get(fd, 0) & (select.POLLIN | select.POLLHUP):
                        os.set_blocking(fd, True)
                        while chunk := os.read(fd, 64):
                            data += chunk
                        break
                    if pidfd in ready:
                        break
                if not data:
                    raise RuntimeFailure("container process is already dead")
            finally:
                os.close(fd)
            try:
                os.unlink(fifo)
            except FileNotFoundError:
                pass
        finally:
            os.close(pidfd)

    def kill(self, cid: str, sig: int = signal.SIGTERM, all: bool = False) -> None:
        args = ["kill"] + (["--all"] if all else []) + [cid, str(int(sig))]
        self._runc(*args)

    def pause(self, cid: str) -> None:
        """Freeze every process of the container (cgroup freezer)."""
        _check_cid(cid)
        self._runc("pause", cid)

    def resume(self, cid: str) -> None:
        _check_cid(cid)
        self._runc("resume", cid)

    def update(self, cid: str, resources: dict) -> None:
        """Apply new cgroup limits to a running container (``runc update``)."""
        _check_cid(cid)
        args = ["update"]
        mem = resources.get("memory") or {}
        cpu = resources.get("cpu") or {}
        pids = resources.get("pids") or {}
        for flag, value in (("--memory", mem.get("limit")), ("--memory-swap", mem.get("swap")),
                            ("--memory-reservation", mem.get("reservation")),
                            ("--cpu-share", cpu.get("shares")), ("--cpu-period", cpu.get("period")),
                            ("--cpu-quota", cpu.get("quota")), ("--cpuset-cpus", cpu.get("cpus")),
                            ("--pids-limit", pids.get("limit"))):
            if value is not None and value != "":
                args += [flag, str(value)]
        if len(args) > 1:
            self._runc(*args, cid)

    def delete(self, cid: str, force: bool = False) -> None:
        """Remove runc's state and this container's files; a no-op when already gone. With
        ``force`` a running container is killed first and its conmon is waited for, so no exit
        file appears after the delete."""
        _check_cid(cid)
        conmon = self.conmon_pid(cid)
        try:
            self._runc("delete", *(["--force"] if force else []), cid)
        except NotFound:
            pass
        if conmon and force:
            _wait_pid_exit(conmon, 5.0)
        self._remove_files(cid)

    def state(self, cid: str) -> dict[str, Any] | None:
        """runc's state ("created", "running", "paused", "stopped") or None if runc has none."""
        try:
            out = self._runc("state", cid)
        except NotFound:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def read_exit(self, cid: str) -> tuple[int, float] | None:
        """(exit code, finished-at) from conmon's exit file; signal deaths read 128+N."""
        _check_cid(cid)
        path = os.path.join(self._exits, cid)
        try:
            with open(path, "rb") as f:
                raw = f.read(64)
                mtime = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return None
        try:
            code = int(raw.strip() or b"-1")
        except ValueError:
            code = -1
        return (code if code >= 0 else 255), mtime

    def wait(self, cid: str, timeout: float | None = None) -> tuple[int, float] | None:
        """Block until the container has exited (conmon's exit, watched with a pidfd) and
        return read_exit(); None on timeout or when no conmon watches it. The daemon uses
        ExitWatcher instead; this is for synchronous callers and tests."""
        res = self.read_exit(cid)
        if res is not None:
            return res
        conmon = self.conmon_pid(cid)
        if conmon:
            _wait_pid_exit(conmon, timeout)
        return self.read_exit(cid)

    def pid(self, cid: str) -> int | None:
        """The container's init pid as runc wrote it at create time."""
        return _read_pid(os.path.join(self.bundle_dir(cid), "pidfile"))

    def conmon_pid(self, cid: str) -> int | None:
        """conmon's pid if that conmon still runs (checked against its command line, so a
        recycled pid is not mistaken for it)."""
        pid = _read_pid(os.path.join(self.bundle_dir(cid), "conmon.pid"))
        if not pid:
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return None
        if b"-c" in argv and cid.encode() in argv:
            return pid
        return None

    def exec(
        self,
        cid: str,
        process_spec: dict,
        tty: bool = False,
        stdin: bool = False,
        *,
        exec_id: str | None = None,
        log_path: str | None = None,
    ) -> int:
        """Run a process in a running container via ``conmon --exec`` and block until it exits;
        returns its exit code (128+N for a signal). Output goes to ``log_path`` (k8s-file). The
        attached, streaming form of exec belongs to the exec API work and builds on this.
        A process that cannot start raises RuntimeFailure with docker's 126/127 codes."""
        _check_cid(cid)
        exec_id = exec_id or "x" + os.urandom(8).hex()
        _check_cid(exec_id)
        if not os.path.isdir(self.bundle_dir(cid)):
            raise NotFound(f"No such container: {cid}")
        # conmon puts its attach socket and fifos in -b: a directory of the exec's own, so the
        # container's attach socket is left alone.
        d = os.path.join(self.bundle_dir(cid), "exec", exec_id)
        os.makedirs(d, mode=0o700)
        try:
            proc_spec = dict(process_spec, terminal=tty)
            atomic_write(os.path.join(d, "process.json"), json.dumps(proc_spec).encode(), durable=False)
            args = [
                self.conmon_path, "--api-version", "1",
                "-c", cid, "-u", exec_id, "-r", self.runtime_path, "-b", d,
                "-p", os.path.join(d, "pid"),
                "-l", "k8s-file:" + os.path.abspath(log_path or os.path.join(d, "log")),
                "--exit-dir", d, "--socket-dir-path", self._sockets, "--log-level", "error",
                "--exec", "--exec-process-spec", os.path.join(d, "process.json"),
                "--no-sync-log",
                "--runtime-arg", "--root", "--runtime-arg", self.runtime_root,
                "--runtime-arg", "--log-format=json",
                "--runtime-arg", "--log", "--runtime-arg", os.path.join(d, "runc.log"),
            ]  # fmt: skip
            if tty:
                args.append("--terminal")
            if stdin:
                args.append("--stdin")
            rfd, wfd = os.pipe2(os.O_CLOEXEC)
            try:
                env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "_OCI_SYNCPIPE": str(wfd)}
                proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, env=env, pass_fds=(wfd,), start_new_session=True,
                )  # fmt: skip
                os.close(wfd)
                wfd = -1
                sync = _SyncPipe(rfd)
                started = sync.read(CREATE_TIMEOUT)
                proc.wait()
                pid = started.get("data") if started else None
                if not (isinstance(pid, int) and pid > 0):
                    reason = _last_runc_error(os.path.join(d, "runc.log")) or (started or {}).get("message")
                    reason = (reason or "exec failed").strip()
                    raise RuntimeFailure(reason, exit_code=classify_exit_code(reason))
                done = sync.read(float("inf"))
            finally:
                if wfd >= 0:
                    os.close(wfd)
                os.close(rfd)
            code = done.get("data") if done else None
            if not isinstance(code, int):
                raise RuntimeFailure("conmon did not report the exec exit status")
            return code
        finally:
            shutil.rmtree(d, ignore_errors=True)
            try:
                os.unlink(os.path.join(self._sockets, exec_id))
            except FileNotFoundError:
                pass

    # ---- internals -----------------------------------------------------------------------

    def _runc(self, *args: str) -> str:
        cmd = [self.runtime_path, "--root", self.runtime_root, *args]
        res = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
        if res.returncode == 0:
            return res.stdout.decode(errors="replace")
        msg = _runc_message(res.stderr.decode(errors="replace"))
        low = msg.lower()
        if "does not exist" in low or ("not found" in low and "container" in low):
            raise NotFound(msg)
        if "not running" in low or "already finished" in low or "stopped" in low \
                or "cannot start" in low or "cannot delete" in low:  # fmt: skip
            raise Conflict(msg)
        raise RuntimeFailure(msg)

    def _runc_error(self, cid: str) -> str:
        return _last_runc_error(os.path.join(self.bundle_dir(cid), "runc.log"))

    def _conmon_error(self, cid: str) -> str:
        try:
            with open(os.path.join(self.bundle_dir(cid), "conmon.err"), "rb") as f:
                return f.read(4096).decode(errors="replace").strip()
        except OSError:
            return ""

    def _cleanup_failed(self, cid: str) -> None:
        try:
            self._runc("delete", "--force", cid)
        except (NotFound, Conflict, RuntimeFailure):
            pass
        self._remove_files(cid)

    def _remove_files(self, cid: str) -> None:
        for path in (os.path.join(self._exits, cid), os.path.join(self._sockets, cid)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.bundle_dir(cid), ignore_errors=True)


def _conmon_env(sync_fd: int) -> dict[str, str]:
    """The environment of a container's conmon.

    LD_BIND_NOW: conmon daemonizes with a fork once started, and the child lives as long as
    the container. A symbol the dynamic linker binds lazily after that fork (glibc's own
    ``realloc`` when a path is long enough) makes the child fault in ld.so's code and the
    symbol tables of every library: about 0.4 MiB more RSS per container than podman's
    conmon. Bound before the fork, those pages stay out of the child."""
    return {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "_OCI_SYNCPIPE": str(sync_fd),
            "LD_BIND_NOW": "1"}


def _which(prog: str) -> str:
    path = shutil.which(prog)
    if not path:
        raise Unavailable(f"{prog} not found in PATH")
    return os.path.abspath(path)


def _last_runc_error(path: str) -> str:
    """The last error runc logged (JSON lines, from --log-format=json --log)."""
    last = ""
    try:
        with open(path, "rb") as f:
            for line in f.read(1 << 20).splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                    last = str(entry.get("msg", ""))
    except OSError:
        pass
    return last


def _read_pid(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            raw = f.read(32).strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


class _SyncPipe:
    """conmon's JSON lines on the sync pipe: {"data": pid} or {"data": -1, "message": ..}
    first, and for exec a second {"data": exit code}. Buffered, since both may arrive in one
    read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None if conmon closed the pipe first."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeFailure("timed out waiting for conmon")
            wait = None if timeout == float("inf") else remaining
            r, _, _ = select.select([self.fd], [], [], wait)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if not line:
            return None
        try:
            msg = json.loads(line)
        except ValueError:
            return None
        return msg if isinstance(msg, dict) else None


def _runc_message(stderr: str) -> str:
    """runc prints `time=".." level=error msg="..."`; the msg is what a user should see."""
    msgs = re.findall(r'msg="((?:[^"\\]|\\.)*)"', stderr)
    if msgs:
        try:
            return json.loads('"' + msgs[-1] + '"')
        except ValueError:
            return msgs[-1]
    return stderr.strip() or "runtime failed"


def _wait_pid_exit(pid: int, timeout: float | None) -> None:
    try:
        fd = os.pidfd_open(pid)
    except OSError as e:
        if e.errno == errno.ESRCH:
            return
        raise
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
