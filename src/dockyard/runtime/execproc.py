"""Processes run in a running container (``docker exec``), by ``runc exec`` directly.

Why not ``conmon --exec``: it adds a process, writes the output to a log file we would have to
tail, and only reports the exit on a sync pipe. ``runc exec`` in the foreground is the parent of
the exec'd process for its whole life and exits with its status (128+N for a signal), so the
daemon gets live output on its own pipes and the exit code from ``waitpid``, and nothing stays
behind once it ended.

With a terminal, runc wants a console as its own stdio (it copies between that and the
container's pty and resizes on SIGWINCH), so the daemon gives it the slave of a pty of its own
and talks to the master.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import struct
import subprocess
import termios
import tty as ttymod
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound
from dockyard.util import atomic_write

from . import cgwarm
from .oci import _DEFAULT_PATH, _check_cid, _last_runc_error, _read_pid, classify_exit_code


@dataclass
class ExecProcess:
    """A running ``runc exec``: its Popen, and the daemon's ends of the exec's stdio."""

    proc: subprocess.Popen
    dir: str
    master: int = -1  # pty master (tty), else -1
    stdin: int = -1  # write end of the stdin pipe (no tty, attached stdin), else -1
    stdout: int = -1  # read end of stdout (no tty)
    stderr: int = -1  # read end of stderr (no tty)

    @property
    def pid(self) -> int | None:
        """The exec'd process's host pid (runc's --pid-file), once it started."""
        return _read_pid(os.path.join(self.dir, "pid"))

    def error(self) -> str:
        """runc's own error (the process could not be started), or ""."""
        return _last_runc_error(os.path.join(self.dir, "runc.log"))

    def exit_code(self, status: int) -> tuple[int, str]:
        """(docker's exit code, runc's error) for runc's exit status."""
        if status == 255 or status < 0:
            msg = self.error()
            if msg:
                return classify_exit_code(msg), msg
        if status < 0:
            return 128 - status, ""
        return status, ""

    def resize(self, height: int, width: int) -> None:
        if self.master < 0:
            return
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        try:
            os.kill(self.proc.pid, signal.SIGWINCH)  # runc copies the size to the container's pty
        except ProcessLookupError:
            pass

    def close_fds(self) -> None:
        for name in ("master", "stdin", "stdout", "stderr"):
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)

    def cleanup(self) -> None:
        self.close_fds()
        shutil.rmtree(self.dir, ignore_errors=True)


def spawn_exec(runtime, cid: str, exec_id: str, process: dict, *, tty: bool, stdin: bool,
               output: bool = True, size: tuple[int, int] | None = None) -> ExecProcess:
    """Start ``runc exec`` for ``process`` (an OCI process object) and return at once.

    Without ``output`` the process's stdout/stderr go to /dev/null (a detached exec)."""
    _check_cid(cid)
    _check_cid(exec_id)
    bundle = runtime.bundle_dir(cid)
    if not os.path.isdir(bundle):
        raise NotFound(f"No such container: {cid}")
    d = os.path.join(bundle, "exec", exec_id)
    os.makedirs(d, mode=0o700)
    ours: list[int] = []  # the daemon's ends
    theirs: list[int] = []  # runc's ends, closed here once it has them
    ep = ExecProcess(proc=None, dir=d)  # type: ignore[arg-type]
    try:
        process = dict(process, terminal=bool(tty and output))
        atomic_write(os.path.join(d, "process.json"), json.dumps(process).encode(), durable=False)
        if tty and output:
            master, slave = os.openpty()
            ours.append(master)
            theirs.append(slave)
            ttymod.setraw(slave)
            h, w = size or (24, 80)
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
            os.set_blocking(master, False)
            ep.master = master
            fds = (slave, slave, slave)
        else:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            theirs.append(null)
            in_fd = out_fd = err_fd = null
            if stdin and output:
                r, w = os.pipe2(os.O_CLOEXEC)
                ours.append(w)
                theirs.append(r)
                os.set_blocking(w, False)
                ep.stdin, in_fd = w, r
            if output:
                r1, w1 = os.pipe2(os.O_CLOEXEC)
                r2, w2 = os.pipe2(os.O_CLOEXEC)
                ours += [r1, r2]
                theirs += [w1, w2]
                os.set_blocking(r1, False)
                os.set_blocking(r2, False)
                ep.stdout, ep.stderr, out_fd, err_fd = r1, r2, w1, w2
            fds = (in_fd, out_fd, err_fd)
        args = [
            runtime.runtime_path, "--root", runtime.runtime_root,
            "--log", os.path.join(d, "runc.log"), "--log-format", "json",
            "exec", "--process", os.path.join(d, "process.json"),
            "--pid-file", os.path.join(d, "pid"), cid,
        ]  # fmt: skip
        cgwarm.warm()  # runc joins the container's cgroups: start the wait for that now
        env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH)}
        # A session of its own: the daemon's terminal signals never reach it.
        ep.proc = subprocess.Popen(args, stdin=fds[0], stdout=fds[1], stderr=fds[2], env=env,
                                   start_new_session=True, close_fds=True)
    except BaseException:
        for fd in ours:
            os.close(fd)
        shutil.rmtree(d, ignore_errors=True)
        raise
    finally:
        for fd in dict.fromkeys(theirs):
            os.close(fd)
    return ep


def exec_process_spec(base: dict, *, args: list[str], env: list[str], cwd: str,
                      user: dict | None, home: str | None, privileged: bool,
                      all_caps: list[str], tty: bool) -> dict:
    """The exec's OCI process from the container's: Docker's exec inherits the container's
    environment, user, working directory, capabilities and rlimits, overridden by the exec's."""
    if not args or not all(isinstance(a, str) for a in args):
        raise InvalidArgument("No exec command specified")
    if cwd and not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    p = {k: v for k, v in base.items() if k not in ("consoleSize",)}
    p["args"] = list(args)
    merged: dict[str, str] = {}
    for item in list(base.get("env") or []) + list(env):
        key, _, _ = item.partition("=")
        merged[key] = item
    if home is not None and not any(e.startswith("HOME=") for e in env):
        merged["HOME"] = f"HOME={home}"
    if tty and "TERM" not in merged:
        merged["TERM"] = "TERM=xterm"
    if "PATH" not in merged:
        merged["PATH"] = f"PATH={_DEFAULT_PATH}"
    p["env"] = list(merged.values())
    if cwd:
        p["cwd"] = cwd
    if user is not None:
        p["user"] = user
    if privileged:
        p["capabilities"] = {k: list(all_caps) for k in
                             ("bounding", "effective", "permitted")}
    p["terminal"] = tty
    return p
