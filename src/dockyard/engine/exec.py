"""Exec instances (``docker exec``): create, start (attached or detached), inspect, resize.

An exec lives in memory only, as in Docker: it belongs to a running container and to this
daemon process. The process itself is ``runc exec`` in the foreground (runtime/execproc.py);
its exit is seen through a pidfd in the event loop, never by a thread blocked in waitpid.

Known gap, with a terminal: runc in the foreground clears onlcr on the container's terminal and
lets its own console (the daemon's pty) turn "\n" into "\r\n", but it does so while the
exec'd process already runs; what the process writes in that first instant is translated twice
("\r\r\n"). dockerd has no such window because containerd receives the console itself
(``runc exec -d --console-socket``) and never clears onlcr; doing the same here needs a
subreaper to collect the exit status, which the foreground runc gives us for free.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..detachkeys import parse_detach_keys
from ..errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from ..runtime import cgwarm
from ..runtime.caps import host_bounding_set
from ..runtime.execproc import ExecProcess, exec_process_spec, spawn_exec
from ..runtime.users import resolve_groups, resolve_user
from ..util import new_id

log = logging.getLogger(__name__)

MAX_FINISHED_PER_CONTAINER = 64  # finished execs kept for inspect, per container


@dataclass
class ExecInstance:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    user: str
    workdir: str
    tty: bool
    privileged: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    detach_keys: str = ""
    running: bool = False
    started: bool = False
    detached: bool = False
    abandoned: bool = False  # its stream went away before the process ended
    exit_code: int | None = None
    pid: int = 0
    error: str = ""
    process: ExecProcess | None = None
    done: asyncio.Future | None = None
    _pending_size: tuple[int, int] | None = field(default=None, repr=False)


class ExecService:
    def __init__(self, containers):
        self.containers = containers
        self._execs: dict[str, ExecInstance] = {}
        self._caps: list[str] | None = None

    # ---- create ---------------------------------------------------------------------------

    def create(self, ref: str, body: dict) -> ExecInstance:
        if not isinstance(body, dict):
            raise InvalidArgument("exec config must be a JSON object")
        c = self.containers.get(ref)
        self._check_running(c)
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
            raise InvalidArgument("No exec command specified")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
            raise InvalidArgument("Env must be a list of strings")
        for e in env:
            if e.startswith("=") or not e:
                raise InvalidArgument(f"invalid environment variable: {e}")
        workdir = body.get("WorkingDir") or ""
        if not isinstance(workdir, str) or (workdir and not workdir.startswith("/")):
            raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be "
                                  "an absolute path")
        detach_keys = body.get("DetachKeys") or body.get("detachKeys") or ""
        if not isinstance(detach_keys, str):
            raise InvalidArgument("DetachKeys must be a string")
        if detach_keys:
            try:
                parse_detach_keys(detach_keys)
            except InvalidArgument:
                raise InvalidArgument(f"Invalid escape keys ({detach_keys}) provided") from None
        user = body.get("User") or ""
        if not isinstance(user, str):
            raise InvalidArgument("User must be a string")
        ex = ExecInstance(
            id=new_id(), container_id=c.id, cmd=list(cmd),
            env=[e if "=" in e else e + "=" for e in env], user=user, workdir=workdir,
            tty=bool(body.get("Tty")), privileged=bool(body.get("Privileged")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            detach_keys=detach_keys,
        )
        self._execs[ex.id] = ex
        self._trim(c.id)
        cgwarm.warm()  # a start usually follows at once (runtime/cgwarm.py)
        self.containers._emit(c, f"exec_create: {' '.join(ex.cmd)}", execID=ex.id)
        return ex

    def _check_running(self, c) -> None:
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status == "restarting":
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        if c.state.status != "running":
            raise Conflict(f"Container {c.id} is not running")

    def _trim(self, cid: str) -> None:
        finished = [e for e in self._execs.values()
                    if e.container_id == cid and e.started and not e.running]
        for e in finished[:-MAX_FINISHED_PER_CONTAINER]:
            self._execs.pop(e.id, None)

    def get(self, exec_id: str) -> ExecInstance:
        ex = self._execs.get(exec_id)
        if ex is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ex

    def forget_container(self, cid: str) -> None:
        """The container is gone: so are its execs (Docker drops them with it)."""
        for e in [e for e in self._execs.values() if e.container_id == cid]:
            self._execs.pop(e.id, None)

    # ---- start ----------------------------------------------------------------------------

    async def start(self, exec_id: str, *, detach: bool,
                    size: tuple[int, int] | None = None) -> ExecInstance:
        """Spawn the process; attached execs are then driven by ``stream``. The process's
        terminal is the exec config's ``Tty`` (the start request's only frames the stream)."""
        ex = self.get(exec_id)
        if ex.started:
            raise Conflict(f"Exec command {exec_id} has already run")
        c = self.containers.get(ex.container_id)
        self._check_running(c)
        ex.started = True
        ex.detached = detach
        try:
            process = self._process_spec(c, ex)
        except Exception:
            ex.started = False
            raise
        try:
            ex.process = spawn_exec(
                self.containers.runtime, c.id, ex.id, process, tty=ex.tty,
                stdin=ex.attach_stdin and not detach, output=not detach,
                size=size or ex._pending_size)
        except Exception:
            ex.started = False
            raise
        ex.running = True
        loop = asyncio.get_running_loop()
        ex.done = loop.create_future()
        self._watch_exit(ex)
        self.containers._emit(c, f"exec_start: {' '.join(ex.cmd)}", execID=ex.id)
        if detach:
            await self._started(ex)
        return ex

    async def _started(self, ex: ExecInstance) -> None:
        """A detached start returns once the process runs (its pid known), or fails as runc
        did: nobody reads the stream that would otherwise tell."""
        for _ in range(2500):
            if ex.done.done():
                if ex.error:
                    raise RuntimeFailure(ex.error, exit_code=ex.exit_code or 126)
                return
            pid = ex.process.pid
            if pid:
                ex.pid = pid
                return
            await asyncio.sleep(0.002)

    def fail(self, ex: ExecInstance, message: str, code: int = 126) -> None:
        """The process could not be set up (an unknown user...): it ran and failed, as in
        Docker, where runc reports it at start."""
        ex.started = True
        ex.running = False
        ex.exit_code = code
        ex.error = message
        c = self.containers.get(ex.container_id)
        self.containers._emit(c, "exec_die", execID=ex.id, exitCode=str(code))

    def _process_spec(self, c, ex: ExecInstance) -> dict:
        try:
            with open(os.path.join(self.containers.runtime.bundle_dir(c.id), "config.json"),
                      "rb") as f:
                base = json.load(f)["process"]
        except (OSError, ValueError, KeyError):
            raise Conflict(f"Container {c.id} is not running") from None
        user_obj = None
        home = None
        if ex.user:
            rootfs = self.containers.rootfs_path(c.id)
            u = resolve_user(rootfs, ex.user)
            user_obj = {"uid": u.uid, "gid": u.gid}
            # The container's --group-add applies to its execs too (Docker's).
            gids = list(u.additional_gids)
            gids += [g for g in resolve_groups(rootfs, list(c.host_config.get("GroupAdd") or []))
                     if g not in gids]
            if gids:
                user_obj["additionalGids"] = gids
            home = u.home
        if ex.privileged and self._caps is None:
            self._caps = host_bounding_set()
        return exec_process_spec(
            base, args=ex.cmd, env=ex.env, cwd=ex.workdir, user=user_obj, home=home,
            privileged=ex.privileged, all_caps=self._caps or [], tty=ex.tty)

    def _watch_exit(self, ex: ExecInstance) -> None:
        proc = ex.process.proc
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            loop.call_soon(self._reap, ex, -1)
            return

        def ready() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._reap(ex, pidfd)

        loop.add_reader(pidfd, ready)

    def _reap(self, ex: ExecInstance, _fd: int) -> None:
        proc = ex.process.proc
        status = proc.wait()
        code, err = ex.process.exit_code(status)
        ex.pid = ex.pid or (ex.process.pid or 0)
        ex.exit_code = code
        ex.error = err
        ex.running = False
        if ex.detached or ex.abandoned:
            ex.process.cleanup()
        if ex.done is not None and not ex.done.done():
            ex.done.set_result(code)
        try:
            c = self.containers.get(ex.container_id)
            self.containers._emit(c, "exec_die", execID=ex.id, exitCode=str(code))
        except NotFound:
            pass

    # ---- streams --------------------------------------------------------------------------

    async def output(self, ex: ExecInstance) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout"|"stderr", bytes) as the process writes them, until it has exited and its
        output is drained. With a tty everything is "stdout"."""
        p = ex.process
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        fds = {p.master: "stdout"} if p.master >= 0 else {p.stdout: "stdout", p.stderr: "stderr"}
        fds = {fd: name for fd, name in fds.items() if fd >= 0}
        open_fds = set(fds)

        def readable(fd: int) -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:  # EIO: the pty's other side is closed
                data = b""
            if not data:
                loop.remove_reader(fd)
                open_fds.discard(fd)
                queue.put_nowait((fd, None))
                return
            queue.put_nowait((fd, data))

        for fd in fds:
            loop.add_reader(fd, readable, fd)
        try:
            while open_fds or not queue.empty():
                get = asyncio.ensure_future(queue.get())
                waits = {get}
                if ex.done is not None and not ex.done.done():
                    waits.add(ex.done)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    # Exited: what is still buffered is read now and the stream ends, so a
                    # background child holding the pipe open cannot keep it alive.
                    for fd in list(open_fds):
                        while True:
                            try:
                                data = os.read(fd, 65536)
                            except OSError:
                                break
                            if not data:
                                break
                            queue.put_nowait((fd, data))
                        loop.remove_reader(fd)
                        open_fds.discard(fd)
                    continue
                fd, data = get.result()
                if data:
                    yield fds[fd], data
        finally:
            for fd in fds:
                loop.remove_reader(fd)

    async def pump_stdin(self, ex: ExecInstance, chunks: asyncio.Queue) -> None:
        """Client bytes → the process's stdin (or its terminal); EOF closes a piped stdin."""
        p = ex.process
        fd = p.master if p.master >= 0 else p.stdin
        if fd < 0:
            return
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await chunks.get()
                if data is None:
                    break
                await _write_all(loop, fd, data)
        except OSError as e:
            log.debug("stdin of exec %s: %s", ex.id[:12], e)
        finally:
            if p.stdin >= 0 and fd == p.stdin:
                os.close(p.stdin)
                p.stdin = -1

    async def wait(self, ex: ExecInstance) -> int:
        if ex.done is None:
            raise Conflict(f"Exec command {ex.id} is not started")
        return await asyncio.shield(ex.done)

    def finish(self, ex: ExecInstance) -> None:
        """Release the daemon's ends once the process ended and the stream is done."""
        if ex.process is None:
            return
        if ex.running:
            ex.abandoned = True  # the exit cleans up
        else:
            ex.process.cleanup()

    # ---- resize / inspect -----------------------------------------------------------------

    def resize(self, exec_id: str, height: int, width: int) -> None:
        ex = self.get(exec_id)
        if not (0 < height < 65536 and 0 < width < 65536):
            raise InvalidArgument(f"invalid terminal size {height}x{width}")
        if not ex.started:
            ex._pending_size = (height, width)
            return
        if not ex.running:
            raise Conflict(f"Exec {exec_id} is not running")
        if ex.process is not None:
            ex.process.resize(height, width)

    def inspect(self, exec_id: str) -> dict:
        ex = self.get(exec_id)
        if ex.running and not ex.pid and ex.process is not None:
            ex.pid = ex.process.pid or 0
        return {
            "ID": ex.id,
            "Running": ex.running,
            "ExitCode": ex.exit_code,
            "ProcessConfig": {
                "tty": ex.tty, "entrypoint": ex.cmd[0], "arguments": ex.cmd[1:],
                "privileged": ex.privileged, "user": ex.user,
            },
            "OpenStdin": ex.attach_stdin,
            "OpenStderr": ex.attach_stderr,
            "OpenStdout": ex.attach_stdout,
            "CanRemove": False,
            "ContainerID": ex.container_id,
            "DetachKeys": ex.detach_keys,
            "Pid": ex.pid,
        }

    def ids_of(self, cid: str) -> list[str]:
        return [e.id for e in self._execs.values() if e.container_id == cid]

    async def kill_all(self, cid: str) -> None:
        """Nothing to do: runc's exec processes die with the container's pid namespace."""


async def _write_all(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            fut = loop.create_future()
            loop.add_writer(fd, _resolve, fut)
            try:
                await fut
            finally:
                loop.remove_writer(fd)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
