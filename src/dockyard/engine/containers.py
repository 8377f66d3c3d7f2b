"""Container lifecycle: create, start, stop, kill, wait, remove, restore after a daemon restart.

The service owns the order of side effects (snapshot, mount, runtime, record) and the waiters.
Blocking work (mounts, runc via conmon) runs in threads so the event loop keeps serving.
"""

import asyncio
import logging
import os
import shutil
import signal as signals
import time

from ..container import state as sm
from ..container.binds import binds_of, needs_mounts
from ..container.config import command_line, merge_with_image, validate_create
from ..container.model import Container
from ..container.names import random_name
from ..container.repo import ContainerRepo, validate_name
from ..errors import Conflict, InvalidArgument, NotFound, NotModified, RuntimeFailure
from ..runtime.caps import effective_caps
from ..runtime.seccomp import parse_security_opts, seccomp_for
from ..runtime.spec import SpecOptions, build_spec
from ..runtime.stats import oom_killed
from ..util import new_id, rfc3339_nano
from . import files
from .logrotate import container_limits
from .logrotate import effective_config as effective_log_config
from .restart import Backoff, restart_on_daemon_start, should_restart

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10
MAX_PREPARED = 8  # containers created ahead of their start at once
PREPARED_TTL = 30.0  # seconds a prepared runtime waits for its start


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """Accept ``9``, ``KILL``, ``SIGKILL`` as Docker does."""
    if value in (None, ""):
        return default
    if isinstance(value, int) or str(value).isdigit():
        n = int(value)
        if 0 < n < 65:
            return n
        raise InvalidArgument(f"Invalid signal: {value}")
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(signals.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"Invalid signal: {value}") from None


INIT_BINARIES = ("/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/bin/catatonit",
                 "/usr/libexec/podman/catatonit")


def init_binary() -> str:
    """A statically linked init for ``--init`` (tini or catatonit from Debian)."""
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise InvalidArgument("--init needs tini or catatonit installed on the host "
                          "(apt-get install tini)")


class ContainerService:
    volumes = None  # the VolumeService, set by the Engine (containers with mounts need it)

    def __init__(self, *, root: str, exec_root: str, meta, images, snapshots, runtime, events,
                 cgroup_parent: str = "dockyard"):
        self.root = root
        self.exec_root = exec_root
        self.repo = ContainerRepo(meta)
        self.images = images
        self.snapshots = snapshots
        self.runtime = runtime
        self.events = events
        self.cgroup_parent = cgroup_parent
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future]] = {}
        self._stopping: set[str] = set()
        # Containers whose runtime state or rootfs mount may exist (cleaned when they exit).
        self._runtime_live: set[str] = set()
        self._prepared: dict[str, int | None] = {}  # created ahead of start: cid -> pid
        self._backoff: dict[str, Backoff] = {}
        self._restarts: dict[str, asyncio.Task] = {}  # restart policy: pending restarts
        self._started_at: dict[str, float] = {}  # wall time of the last start (back-off reset)
        os.makedirs(self._containers_dir, exist_ok=True)
        os.makedirs(self._rootfs_dir, exist_ok=True)
        from .exec import ExecService

        self.execs = ExecService(self)
        from .health import HealthMonitor

        self.health = HealthMonitor(self)
        from .logrotate import LogRotator, parse_daemon_opts

        self.log_opts = parse_daemon_opts([])  # the daemon's --log-opt defaults
        self.logrotate = LogRotator()

    # ---- paths ----------------------------------------------------------------------------

    @property
    def _containers_dir(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def _rootfs_dir(self) -> str:
        return os.path.join(self.exec_root, "rootfs")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self._containers_dir, cid)

    def log_path(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), "container.log")

    def rootfs_path(self, cid: str) -> str:
        return os.path.join(self._rootfs_dir, cid)

    def cgroup_path(self, cid: str) -> str:
        return f"/{self.cgroup_parent}/{cid}"

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    def get(self, ref: str) -> Container:
        return self.repo.get(ref)

    def _emit(self, c: Container, action: str, **extra) -> None:
        attrs = {"name": c.name, "image": c.image_name}
        attrs.update(c.config.get("Labels") or {})
        attrs.update(extra)
        self.events.emit("container", action, c.id, attrs)

    # ---- create ---------------------------------------------------------------------------

    async def create(self, name: str | None, body) -> Container:
        config, host = validate_create(body)
        if name:
            name = validate_name(name)
            if self.repo.name_taken(name):
                other = self.repo.get(name)
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
        image = self.images.get(config["Image"])
        host["LogConfig"] = effective_log_config(host.get("LogConfig"), self.log_opts)
        merged = merge_with_image(config, image.config.get("config") or {})
        if merged.get("Healthcheck") or host.get("HealthOnFailure"):
            from .health import merge_check, validate_check, validate_on_failure

            merged["Healthcheck"] = merge_check(config.get("Healthcheck"),
                                                (image.config.get("config") or {}).get("Healthcheck"))
            validate_check(merged.get("Healthcheck"))
            validate_on_failure(host.get("HealthOnFailure"))
        argv = command_line(merged)
        cid = new_id()
        if not merged.get("Hostname"):
            merged["Hostname"] = cid[:12]
        c = Container(
            id=cid,
            name=name or random_name(self.repo.name_taken),
            created=rfc3339_nano(),
            image_id=image.id,
            image_name=config["Image"],
            config=merged,
            host_config=host,
            path=argv[0],
            args=argv[1:],
        )
        new_volumes = (await asyncio.to_thread(self._resolve_mounts, c)
                       if needs_mounts(merged, host) else [])
        try:
            await asyncio.to_thread(self._prepare_filesystem, c, image)
            try:
                self.repo.add(c)
            except Exception:
                await asyncio.to_thread(self._remove_filesystem, c.id)
                raise
        except Exception:
            if new_volumes:
                await asyncio.to_thread(self.volumes.discard, new_volumes)
            raise
        self._emit(c, "create")
        self._schedule_prepare(c)
        return c

    def _resolve_mounts(self, c: Container) -> list[str]:
        """Volumes, binds and tmpfs of a new container (``c.mounts``); returns the volumes
        created for it, to discard if the create fails."""
        if self.volumes is None:
            raise InvalidArgument("volumes are not available in this engine")
        c.mounts = self.volumes.resolve(c.config, c.host_config, self.get)
        return self.volumes.materialize(c.mounts)

    def _prepare_filesystem(self, c: Container, image) -> None:
        os.makedirs(self.container_dir(c.id), exist_ok=True)
        self.snapshots.prepare(c.id, image.top_chain_id)

    def _remove_filesystem(self, cid: str) -> None:
        self._unmount(cid)
        try:
            self.snapshots.remove(cid)
        except NotFound:
            pass
        shutil.rmtree(self.container_dir(cid), ignore_errors=True)
        try:
            os.rmdir(self.rootfs_path(cid))
        except OSError:
            pass

    # ---- start ----------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            sm.check("start", c.state.status, ref)
            try:
                pid = await asyncio.to_thread(self._start_blocking, c, self._prepared.pop(c.id, None))
            except Exception as e:
                # Docker leaves a never-started container "created", with the error and code.
                c.state.status = "exited" if c.has_been_started else c.state.status
                c.state.exit_code = e.exit_code if isinstance(e, RuntimeFailure) else 125
                c.state.error = str(e)
                self.repo.save(c)
                # Whatever failed, an auto-remove container goes: `run --rm` waits for that.
                if c.host_config.get("AutoRemove"):
                    asyncio.get_running_loop().create_task(self._auto_remove(c))
                raise
            c.state.status = "running"
            c.state.pid = pid
            c.state.exit_code = 0
            c.state.error = ""
            c.state.oom_killed = False
            c.state.started_at = rfc3339_nano()
            c.state.finished_at = "0001-01-01T00:00:00Z"
            c.has_been_started = True
            c.manually_stopped = False
            c.restart_count = 0
            self._backoff.pop(c.id, None)
            self._started_at[c.id] = time.time()
            if c.config.get("Healthcheck") or c.state.health is not None:
                self.health.started(c)
            self.repo.save(c)
        self._track_log(c)
        self._emit(c, "start")
        # The exit may have happened before the record said "running": look once.
        if self.runtime.read_exit(c.id) is not None:
            self.on_exit(c.id)

    def _start_blocking(self, c: Container, prepared_pid: int | None) -> int:
        if prepared_pid is not None:
            try:
                self.runtime.start(c.id)
                return prepared_pid
            except RuntimeFailure:
                log.debug("prepared runtime of %s was lost; creating it again", c.id[:12])
        pid = self._create_runtime(c)
        try:
            self.runtime.start(c.id)
        except BaseException:
            self._cleanup_runtime(c.id)
            raise
        return pid

    def _create_runtime(self, c: Container) -> int:
        """Mount the rootfs and have conmon run ``runc create``: everything but the start.
        On failure nothing is left behind."""
        t0 = time.perf_counter()
        if c.id in self._runtime_live:  # a previous run's leftovers
            self._cleanup_runtime(c.id)
        rootfs = self.rootfs_path(c.id)
        os.makedirs(rootfs, exist_ok=True)
        self._runtime_live.add(c.id)
        try:
            self.snapshots.mount(c.id, rootfs)
            t1 = time.perf_counter()
            spec = build_spec(self._spec_options(c, rootfs))
            # A restarted container appends to its log, as Docker's json-file does.
            pid = self.runtime.create(
                c.id, spec, self.log_path(c.id),
                log_size_max=container_limits(c.host_config, self.log_opts)[0],
                tty=bool(c.config.get("Tty")), stdin=bool(c.config.get("OpenStdin")),
                # Docker closes stdin when the attached client goes only for StdinOnce without
                # a tty: a shell detached from (ctrl-p ctrl-q) keeps its terminal.
                leave_stdin_open=bool(c.config.get("Tty")) or not c.config.get("StdinOnce"),
            )
            log.debug("runtime of %s created: mount %.1f ms, spec and runc create %.1f ms",
                      c.id[:12], (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)
            return pid
        except BaseException:
            self._cleanup_runtime(c.id)
            raise

    def _track_log(self, c: Container) -> None:
        """Keep rotated log files (conmon alone keeps none)."""
        size, files = container_limits(c.host_config, self.log_opts)
        if size and files > 1:
            try:
                self.logrotate.track(c.id, self.log_path(c.id), files)
            except OSError as e:
                log.warning("log rotation of %s: %s", c.id[:12], e)

    # ---- preparing ahead of start ---------------------------------------------------------
    # `runc create` is most of the cost of a start. Clients create and then start (docker run,
    # docker-py's containers.run), so the runtime is created in the background right after
    # `create`; start then only releases it. Bounded in number and time, so containers created
    # in bulk and never started do not each keep a conmon and a runc init waiting.

    def _schedule_prepare(self, c: Container) -> None:
        if len(self._prepared) >= MAX_PREPARED:
            return
        self._prepared[c.id] = None  # reserved; the pid once ready
        loop = asyncio.get_running_loop()
        loop.create_task(self._prepare(c))
        loop.call_later(PREPARED_TTL, lambda: loop.create_task(self._unprepare(c.id)))

    async def _prepare(self, c: Container) -> None:
        async with self._lock(c.id):
            if c.id not in self._prepared or not self.repo.has(c.id):
                return
            try:
                self._prepared[c.id] = await asyncio.to_thread(self._create_runtime, c)
            except Exception as e:  # start creates it again and reports the error then
                log.debug("preparing %s failed: %s", c.id[:12], e)
                self._prepared.pop(c.id, None)

    async def _unprepare(self, cid: str) -> None:
        if cid not in self._prepared:
            return
        async with self._lock(cid):
            if self._prepared.pop(cid, None) is not None:
                await asyncio.to_thread(self._cleanup_runtime, cid)

    def _spec_options(self, c: Container, rootfs: str) -> SpecOptions:
        h = c.host_config
        cdir = self.container_dir(c.id)
        extra_mounts = files.write_etc_files(cdir, c.config.get("Hostname") or c.id[:12],
                                             c.config.get("Domainname") or "")
        if c.mounts:
            extra_mounts += self.volumes.oci_mounts(c.id, c.mounts, rootfs)
        elif h.get("Binds") or h.get("Mounts"):  # a record from before volumes
            extra_mounts += [b.to_oci() for b in binds_of(h)]
        env = list(c.config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):
            env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if not any(e.startswith("HOSTNAME=") for e in env):
            env.append(f"HOSTNAME={c.config.get('Hostname') or c.id[:12]}")
        if c.config.get("Tty") and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        args = [c.path] + list(c.args)
        security = list(h.get("SecurityOpt") or [])
        if h.get("Init"):
            # Docker's --init: a static init bind-mounted read-only at /sbin/docker-init, as
            # pid 1, forwarding signals and reaping zombies.
            extra_mounts.append({"destination": "/sbin/docker-init", "type": "bind",
                                 "source": init_binary(),
                                 "options": ["rbind", "ro", "rprivate"]})
            args = ["/sbin/docker-init", "--", *args]
        return SpecOptions(
            rootfs=rootfs,
            args=args,
            env=env,
            cwd=c.config.get("WorkingDir") or "/",
            user=c.config.get("User") or "",
            hostname=c.config.get("Hostname") or c.id[:12],
            tty=bool(c.config.get("Tty")),
            open_stdin=bool(c.config.get("OpenStdin")),
            readonly_rootfs=bool(h.get("ReadonlyRootfs")),
            privileged=bool(h.get("Privileged")),
            cap_add=list(h.get("CapAdd") or []),
            cap_drop=list(h.get("CapDrop") or []),
            memory=int(h.get("Memory") or 0),
            memory_swap=int(h.get("MemorySwap") or 0),
            nano_cpus=int(h.get("NanoCpus") or 0),
            cpu_shares=int(h.get("CpuShares") or 0),
            pids_limit=int(h.get("PidsLimit") or 0),
            ulimits=list(h.get("Ulimits") or []),
            extra_mounts=extra_mounts,
            cgroups_path=self.cgroup_path(c.id),
            labels=dict(c.config.get("Labels") or {}),
            shm_size=int(h.get("ShmSize") or 64 * 1024 * 1024),
            memory_reservation=int(h.get("MemoryReservation") or 0),
            cpuset_cpus=str(h.get("CpusetCpus") or ""),
            devices=list(h.get("Devices") or []),
            sysctls=dict(h.get("Sysctls") or {}),
            tmpfs=dict(h.get("Tmpfs") or {}),
            seccomp=seccomp_for(security, effective_caps(
                list(h.get("CapAdd") or []), list(h.get("CapDrop") or []), privileged=False),
                bool(h.get("Privileged"))),
            no_new_privileges=parse_security_opts(security).no_new_privileges,
        )

    # ---- exits ----------------------------------------------------------------------------

    def on_exit(self, cid: str) -> None:
        """Called in the loop thread when conmon wrote an exit file for ``cid``."""
        try:
            c = self.repo.get(cid)
        except NotFound:
            return
        if c.id != cid or c.state.status not in ("running", "paused", "restarting"):
            return
        result = self.runtime.read_exit(cid)
        if result is None:
            return
        code, finished = result
        log.debug("exit of %s recorded (code %d)", cid[:12], code)
        self.health.stopped(cid)
        self.logrotate.untrack(cid)
        delay = None
        if cid not in self._stopping and should_restart(
                c.host_config, code, c.restart_count, c.manually_stopped):
            ran_for = finished - self._started_at.get(cid, 0.0)
            delay = self._backoff.setdefault(cid, Backoff()).next(ran_for)
        c.state.status = "restarting" if delay is not None else "exited"
        c.state.exit_code = code
        # The cgroup is still there (runc delete comes later): did the OOM killer do it?
        c.state.oom_killed = code == 137 and oom_killed(self.cgroup_path(cid))
        c.state.pid = 0
        c.state.finished_at = rfc3339_nano(finished)
        self.repo.save(c)
        self._emit(c, "die", exitCode=str(code))
        asyncio.get_running_loop().create_task(self._after_exit(c, delay))

    async def _after_exit(self, c: Container, restart_delay: float | None = None) -> None:
        lock = self._lock(c.id)
        await lock.acquire()  # uncontended: taken before any waiter can act on the exit
        try:
            for fut in self._exit_waiters.pop(c.id, []):
                if not fut.done():
                    fut.set_result(c.state.exit_code)
            await asyncio.to_thread(self._cleanup_runtime, c.id)
        finally:
            lock.release()
        if restart_delay is not None:
            self._restarts[c.id] = asyncio.get_running_loop().create_task(
                self._restart_later(c.id, restart_delay))
        elif c.host_config.get("AutoRemove"):
            await self._auto_remove(c)

    # ---- restart policy -------------------------------------------------------------------

    async def _restart_later(self, cid: str, delay: float) -> None:
        """The policy's restart, after the back-off; a stop, kill or remove meanwhile cancels
        it (they take the container out of "restarting")."""
        try:
            await asyncio.sleep(delay)
            async with self._lock(cid):
                if self._restarts.get(cid) is not asyncio.current_task():
                    return
                self._restarts.pop(cid, None)
                try:
                    c = self.repo.get(cid)
                except NotFound:
                    return
                if c.id != cid or c.state.status != "restarting":
                    return
                try:
                    pid = await asyncio.to_thread(self._start_blocking, c, None)
                except RuntimeFailure as e:
                    c.state.status = "exited"
                    c.state.exit_code = e.exit_code
                    c.state.error = str(e)
                    self.repo.save(c)
                    return
                c.restart_count += 1
                c.state.status = "running"
                c.state.pid = pid
                c.state.error = ""
                c.state.started_at = rfc3339_nano()
                c.state.finished_at = "0001-01-01T00:00:00Z"
                self._started_at[cid] = time.time()
                if c.config.get("Healthcheck") or c.state.health is not None:
                    self.health.started(c)
                self.repo.save(c)
            self._track_log(c)
            self._emit(c, "start")
            if self.runtime.read_exit(cid) is not None:
                self.on_exit(cid)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("restart of %s failed", cid[:12])

    def _cancel_restart(self, c: Container) -> bool:
        """Drop a pending policy restart; True if the container was waiting for one (it is
        "exited" now)."""
        task = self._restarts.pop(c.id, None)
        if task is not None:
            task.cancel()
        if c.state.status == "restarting":
            c.state.status = "exited"
            self.repo.save(c)
            return True
        return False

    async def _auto_remove(self, c: Container) -> None:
        try:
            await self.remove(c.id, force=True)
        except NotFound:
            pass
        except Exception:
            log.exception("auto-remove of %s failed", c.id[:12])

    def _cleanup_runtime(self, cid: str) -> None:
        self.runtime.delete(cid, force=True)
        self._unmount(cid)
        self._runtime_live.discard(cid)
        if self.volumes is not None:
            self.volumes.release(cid)

    def _unmount(self, cid: str) -> None:
        target = self.rootfs_path(cid)
        if os.path.ismount(target):
            self.snapshots.unmount(target)

    # ---- stop / kill / restart --------------------------------------------------------------

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        c = self.get(ref)
        sig = parse_signal(signal)
        sm.check("kill", c.state.status, ref)
        if not c.manually_stopped:
            c.manually_stopped = True
            self.repo.save(c)
        if self._cancel_restart(c):
            self._emit(c, "kill", signal=str(sig))
            return
        fut = self._exit_future(c.id) if sig == signals.SIGKILL else None
        await asyncio.to_thread(self.runtime.kill, c.id, sig, True)
        if sig == signals.SIGKILL:
            await self._thaw(c)
        self._emit(c, "kill", signal=str(sig))
        if fut is not None:
            # SIGKILL cannot be ignored: return once the exit is recorded, as Docker does.
            try:
                await asyncio.wait_for(asyncio.shield(fut), 10)
            except TimeoutError:
                pass

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status not in ("running", "restarting", "paused"):
            raise NotModified(f"container {ref} is not running")
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            if timeout is None:
                timeout = DEFAULT_STOP_TIMEOUT
        sig = parse_signal(signal or c.config.get("StopSignal"), default=signals.SIGTERM)
        c.manually_stopped = True
        self.repo.save(c)
        if self._cancel_restart(c):
            self._emit(c, "stop")
            return
        self._stopping.add(c.id)
        try:
            fut = self._exit_future(c.id)
            await self._thaw(c)
            if timeout != 0:
                try:
                    await asyncio.to_thread(self.runtime.kill, c.id, sig, False)
                except (NotFound, Conflict):
                    pass
                try:
                    await asyncio.wait_for(asyncio.shield(fut), timeout if timeout > 0 else None)
                    self._emit(c, "stop")
                    return
                except TimeoutError:
                    pass
            await self._kill_and_wait(c, fut)
            self._emit(c, "stop")
        finally:
            self._stopping.discard(c.id)

    async def _thaw(self, c: Container) -> None:
        """A frozen container gets its signals only once thawed (Docker stops paused ones)."""
        if c.state.status != "paused":
            return
        try:
            await asyncio.to_thread(self.runtime.resume, c.id)
        except (NotFound, Conflict, RuntimeFailure):
            pass
        if c.state.status == "paused":
            c.state.status = "running"
            self.repo.save(c)

    async def _kill_and_wait(self, c: Container, exited: asyncio.Future) -> None:
        """SIGKILL every process of the container and return once its exit is recorded."""
        try:
            await asyncio.to_thread(self.runtime.kill, c.id, signals.SIGKILL, True)
        except (NotFound, Conflict):
            pass  # it exited meanwhile; the future resolves all the same
        await self._thaw(c)
        try:
            await asyncio.wait_for(asyncio.shield(exited), 30)
        except TimeoutError as e:
            raise RuntimeFailure(f"container {c.name} did not stop after SIGKILL") from e

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        if c.running:
            await self.stop(ref, timeout)
        await self.start(c.id)
        self._emit(c, "restart")

    # ---- pause / rename / top --------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            await asyncio.to_thread(self.runtime.pause, c.id)
            c.state.status = "paused"
            self.repo.save(c)
        self._emit(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            if c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            await asyncio.to_thread(self.runtime.resume, c.id)
            c.state.status = "running"
            self.repo.save(c)
        self._emit(c, "unpause")

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        new_name = validate_name(new_name)
        if new_name == c.name:
            raise Conflict("Renaming a container with the same name as its current name")
        if self.repo.name_taken(new_name):
            other = self.repo.get(new_name)
            raise Conflict(
                f'Conflict. The container name "/{new_name}" is already in use by container '
                f'"{other.id}". You have to remove (or rename) that container to be able to '
                "reuse that name.")
        old = c.name
        c.name = new_name
        self.repo.save(c)
        self._emit(c, "rename", oldName="/" + old)

    async def top(self, ref: str, ps_args: str = "") -> dict:
        from .top import cgroup_pids, top

        c = self.get(ref)
        if not c.running or c.state.status == "restarting":
            raise Conflict(f"Container {c.id} is not running")
        pids = await asyncio.to_thread(cgroup_pids, self.cgroup_path(c.id))
        return await asyncio.to_thread(top, pids, ps_args)

    _UPDATABLE = {"Memory": int, "MemorySwap": int, "MemoryReservation": int, "NanoCpus": int,
                  "CpuShares": int, "CpuPeriod": int, "CpuQuota": int, "CpusetCpus": str,
                  "PidsLimit": int, "RestartPolicy": dict}

    async def update(self, ref: str, body: dict) -> list[str]:
        """Docker's ``update``: new limits (live when running) and restart policy."""
        from ..runtime.spec import resources

        if not isinstance(body, dict):
            raise InvalidArgument("update config must be a JSON object")
        c = self.get(ref)
        changes = {}
        for key, value in body.items():
            kind = self._UPDATABLE.get(key)
            if kind is None or value is None:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidArgument(f"invalid value for {key}: {value!r}")
            changes[key] = value
        if "RestartPolicy" in changes:
            rp = changes["RestartPolicy"]
            name = rp.get("Name") or "no"
            if name not in ("no", "always", "on-failure", "unless-stopped"):
                raise InvalidArgument(f"invalid restart policy '{name}'")
            if name != "no" and c.host_config.get("AutoRemove"):
                raise InvalidArgument("Restart policy cannot be updated because AutoRemove is "
                                      "enabled for the container")
            if rp.get("MaximumRetryCount") and name != "on-failure":
                raise InvalidArgument(f"maximum retry count cannot be used with restart "
                                      f"policy '{name}'")
            changes["RestartPolicy"] = {"Name": name,
                                        "MaximumRetryCount": int(rp.get("MaximumRetryCount") or 0)}
        host = dict(c.host_config, **changes)
        if "Memory" in changes and "MemorySwap" not in changes and \
                (c.host_config.get("MemorySwap") or 0) > 0:
            host["MemorySwap"] = 0  # as much swap as memory again, like a fresh --memory
        if host.get("NanoCpus") and (host.get("CpuQuota") or host.get("CpuPeriod")):
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period/Quota cannot "
                                  "both be set")
        opts = SpecOptions(rootfs="", args=["true"], env=[], memory=int(host.get("Memory") or 0),
                           memory_swap=int(host.get("MemorySwap") or 0),
                           nano_cpus=int(host.get("NanoCpus") or 0),
                           cpu_shares=int(host.get("CpuShares") or 0),
                           pids_limit=int(host.get("PidsLimit") or 0))
        res = resources(opts)  # validates
        if host.get("MemoryReservation"):
            res.setdefault("memory", {})["reservation"] = host["MemoryReservation"]
        if host.get("CpuQuota"):
            res.setdefault("cpu", {})["quota"] = host["CpuQuota"]
            res["cpu"]["period"] = host.get("CpuPeriod") or 100000
        if host.get("CpusetCpus"):
            res.setdefault("cpu", {})["cpus"] = host["CpusetCpus"]
        async with self._lock(c.id):
            if c.state.status in ("running", "paused"):
                try:
                    await asyncio.to_thread(self.runtime.update, c.id, res)
                except RuntimeFailure as e:
                    raise InvalidArgument(f"Cannot update container {c.id}: {e}") from None
            c.host_config = host
            self.repo.save(c)
        self._emit(c, "update")
        return []

    async def stats(self, ref: str, *, stream: bool = True, one_shot: bool = False):
        """Docker's stats objects: one per second while streaming; otherwise one, whose
        precpu_stats is a reading a second earlier (so CPU % means something) unless
        ``one_shot``."""
        from ..runtime.stats import sample

        c = self.get(ref)
        path = self.cgroup_path(c.id)

        def reading() -> dict:
            cur = self.repo.get(c.id) if self.repo.has(c.id) else c
            if cur.state.status not in ("running", "paused"):
                return {}
            return sample(path)

        if one_shot:
            yield _stats_doc(c, await asyncio.to_thread(reading), {})
            return
        if not stream:
            pre = await asyncio.to_thread(reading)
            if pre:
                await asyncio.sleep(1.0)
            yield _stats_doc(c, await asyncio.to_thread(reading), pre)
            return
        pre: dict = {}
        while True:
            cur = await asyncio.to_thread(reading)
            yield _stats_doc(c, cur, pre)
            if not cur:
                return
            pre = cur
            await asyncio.sleep(1.0)

    def resize(self, ref: str, height: int, width: int) -> None:
        """Resize the container's terminal through conmon's control fifo."""
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if not c.config.get("Tty"):
            return  # Docker accepts and ignores a resize without a terminal
        if not (0 < height < 65536 and 0 < width < 65536):
            raise InvalidArgument(f"invalid terminal size {height}x{width}")
        try:
            fd = os.open(self.runtime.ctl_fifo_path(c.id), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise Conflict(f"cannot resize the terminal of {c.id[:12]}: {e.strerror}") from None
        try:
            os.write(fd, f"1 {height} {width}\n".encode())
        finally:
            os.close(fd)

    def _exit_future(self, cid: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(cid, []).append(fut)
        return fut

    # ---- wait -----------------------------------------------------------------------------

    def register_wait(self, ref: str, condition: str = "not-running") -> asyncio.Future:
        """Register a waiter now (so no exit is missed) and return a future of the exit code."""
        c = self.get(ref)
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition}")
        loop = asyncio.get_running_loop()
        if condition == "not-running" and not c.running:
            fut = loop.create_future()
            fut.set_result(c.state.exit_code)
            return fut
        if condition == "removed":
            fut = loop.create_future()
            self._removed_waiters.setdefault(c.id, []).append(fut)
            return fut
        return self._exit_future(c.id)

    # ---- remove ---------------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.status == "restarting" and force:
            self._cancel_restart(c)
        if c.running:
            if not force:
                sm.check("remove", c.state.status, ref)
            await self._kill_and_wait(c, self._exit_future(c.id))
        async with self._lock(c.id):
            if not self.repo.has(c.id):
                raise NotFound(f"No such container: {ref}")
            # The record goes first: the name is free and "removed" waiters go on at once;
            # disk cleanup follows, and a crash in between is reconciled at the next start.
            self.repo.delete(c.id)
            self.execs.forget_container(c.id)
            self._emit(c, "destroy")
            for fut in self._removed_waiters.pop(c.id, []) + self._exit_waiters.pop(c.id, []):
                if not fut.done():
                    fut.set_result(c.state.exit_code)
            try:
                await asyncio.to_thread(self._dispose, c)
                if c.mounts:  # rm -v and --rm take the container's anonymous volumes along
                    await asyncio.to_thread(self.volumes.container_removed, c,
                                            volumes or bool(c.host_config.get("AutoRemove")))
            except Exception:
                log.exception("cleanup of removed container %s failed", c.id[:12])
        self._locks.pop(c.id, None)
        self._backoff.pop(c.id, None)
        self._started_at.pop(c.id, None)

    def _dispose(self, c: Container) -> None:
        self._prepared.pop(c.id, None)
        if c.id in self._runtime_live:
            self._cleanup_runtime(c.id)
        self._remove_filesystem(c.id)
        if not self.images.exists(c.image_id):
            # Its image was force-deleted while in use: its layers can go now.
            self.images.prune_layers()

    # ---- listing --------------------------------------------------------------------------

    def list(self) -> list[Container]:
        return sorted(self.repo.all(), key=lambda c: c.created, reverse=True)

    def size_rw(self, c: Container) -> int:
        try:
            return self.snapshots.usage(c.id)
        except Exception:
            return 0

    def image_in_use(self, image_id: str) -> tuple[str, bool] | None:
        """(container id, running) of a container using the image, preferring a running one."""
        users = sorted((c for c in self.repo.all() if c.image_id == image_id),
                       key=lambda c: not c.running)
        return (users[0].id, users[0].running) if users else None

    def _remove_orphans(self) -> None:
        known = {c.id for c in self.repo.all()}
        for cid in self.runtime.list_ids():
            if cid not in known:
                self.runtime.delete(cid, force=True)
        for cid in os.listdir(self._rootfs_dir):
            if cid not in known:
                self._unmount(cid)
                shutil.rmtree(self.rootfs_path(cid), ignore_errors=True)
        for key in self.snapshots.snapshots():
            if key not in known:
                log.info("removing the leftovers of container %s", key[:12])
                self._remove_filesystem(key)
        for cid in os.listdir(self._containers_dir):
            if cid not in known:
                shutil.rmtree(self.container_dir(cid), ignore_errors=True)

    # ---- restore after a daemon restart ---------------------------------------------------------

    async def restore(self) -> None:
        """Reconcile records with reality: containers that ended while we were down get their
        exit code; running ones are left running (live restore); what a crash left of removed
        containers (runtime state, mounts, snapshots) goes."""
        await asyncio.to_thread(self._remove_orphans)
        with_state = set(self.runtime.list_ids())
        for c in self.repo.all():
            if c.id in with_state or os.path.ismount(self.rootfs_path(c.id)):
                self._runtime_live.add(c.id)
            if not c.running and c.id in self._runtime_live:
                # Prepared ahead of a start that never came, or an exit not cleaned up.
                await asyncio.to_thread(self._cleanup_runtime, c.id)
        pending_restart = set()
        for c in self.repo.all():
            if c.state.status == "restarting":  # the daemon stopped during a back-off
                c.state.status = "exited"
                self.repo.save(c)
                pending_restart.add(c.id)
        for c in self.repo.all():
            if c.state.status == "removing":
                await self.remove(c.id, force=True)
                continue
            if not c.running:
                continue
            if self.runtime.read_exit(c.id) is not None:
                self.on_exit(c.id)
                continue
            st = await asyncio.to_thread(self.runtime.state, c.id)
            if st and st.get("status") in ("running", "created", "paused"):
                if c.config.get("Healthcheck"):
                    self.health.resumed(c)
                self._track_log(c)
                continue
            # Nothing is left of it (host reboot, runtime state lost): Docker reports 255.
            c.state.status = "exited"
            c.state.exit_code = 255
            c.state.pid = 0
            c.state.finished_at = rfc3339_nano(time.time())
            self.repo.save(c)
            await asyncio.to_thread(self._cleanup_runtime, c.id)
            if c.host_config.get("AutoRemove"):
                await self.remove(c.id, force=True)
        if self.volumes is not None:
            await self.volumes.areconcile(c for c in self.repo.all() if c.running)
        await self._restart_policy_on_start(pending_restart)

    async def _restart_policy_on_start(self, pending: set[str]) -> None:
        """Docker's daemon start: ``always`` and not user-stopped ``unless-stopped`` containers
        that are not running are started again (so are those caught in a back-off)."""
        for c in self.repo.all():
            if c.state.status != "exited" or not c.has_been_started:
                continue
            if c.id in pending or restart_on_daemon_start(c.host_config, c.manually_stopped):
                try:
                    await self.start(c.id)
                except Exception as e:  # one bad container never stops the daemon's start
                    log.warning("restarting %s at daemon start failed: %s", c.id[:12], e)


def _stats_doc(c: Container, cur: dict, pre: dict) -> dict:
    def stamp(d: dict) -> str:
        return rfc3339_nano(d["read"]) if d else "0001-01-01T00:00:00Z"

    empty_cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                               "usage_in_usermode": 0},
                 "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {
        "read": stamp(cur), "preread": stamp(pre),
        "pids_stats": cur.get("pids_stats", {}),
        "blkio_stats": cur.get("blkio_stats", {}),
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cur.get("cpu_stats", empty_cpu),
        "precpu_stats": pre.get("cpu_stats", empty_cpu),
        "memory_stats": cur.get("memory_stats", {}),
        "name": "/" + c.name, "id": c.id,
    }
