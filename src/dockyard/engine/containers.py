"""Container lifecycle service: create, wait, remove, list, rename.

The service owns the order of side effects (snapshot, mount, runtime, record) and the waiters.
Blocking work (mounts, runc via conmon) runs in threads so the event loop keeps serving.
Its other concerns live in mixins of their own modules: starting (lifecycle), the OCI spec
(specopts), exits and the restart policy (exits), stop/kill/pause (stopping), restore after a
daemon restart (restore), and top/update/stats/resize (liveops).
"""

import asyncio
import logging
import os
import shutil
import socket
import time

from ..container import state as sm
from ..container.binds import needs_mounts
from ..container.config import command_line, merge_with_image, validate_create
from ..container.model import Container
from ..container.names import random_name
from ..container.repo import ContainerRepo, validate_name
from ..errors import Conflict, InvalidArgument, NotFound
from ..util import new_id, rfc3339_nano
from .exits import ExitMixin
from .lifecycle import StartMixin
from .liveops import LiveOpsMixin
from .logrotate import effective_config as effective_log_config
from .restart import Backoff
from .restore import RestoreMixin
from .specopts import INIT_BINARIES, SpecMixin, init_binary  # noqa: F401 (re-exported)
from .stopping import DEFAULT_STOP_TIMEOUT, StopMixin, parse_signal  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


class ContainerService(StartMixin, SpecMixin, ExitMixin, StopMixin, RestoreMixin, LiveOpsMixin):
    volumes = None  # the VolumeService, set by the Engine (containers with mounts need it)
    networks = None  # the NetworkService, set by the Engine (None: loopback only)

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
        attachments = (self.networks.validate(config, host, body.get("NetworkingConfig"))
                       if self.networks is not None else [])
        cid = new_id()
        if not merged.get("Hostname"):
            mode = host.get("NetworkMode") or ""
            merged["Hostname"] = socket.gethostname() if mode == "host" else \
                "" if mode.startswith("container:") else cid[:12]
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
                if attachments:
                    self.networks.created(c.id, attachments)
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
            try:
                # Before the waiters: `run --rm` / `rm -v` return with the anonymous volumes
                # gone, as Docker's do (they are no longer in use: the record is gone).
                if c.mounts:
                    await asyncio.to_thread(self.volumes.container_removed, c,
                                            volumes or bool(c.host_config.get("AutoRemove")))
            except Exception:
                log.exception("volume cleanup of removed container %s failed", c.id[:12])
            for fut in self._removed_waiters.pop(c.id, []) + self._exit_waiters.pop(c.id, []):
                if not fut.done():
                    fut.set_result(c.state.exit_code)
            log.debug("record of %s removed", c.id[:12])
            try:
                await asyncio.to_thread(self._dispose, c)
            except Exception:
                log.exception("cleanup of removed container %s failed", c.id[:12])
        self._locks.pop(c.id, None)
        self._backoff.pop(c.id, None)
        self._started_at.pop(c.id, None)

    def _dispose(self, c: Container) -> None:
        self._prepared.pop(c.id, None)
        if c.id in self._runtime_live:
            t0 = time.perf_counter()
            self._cleanup_runtime(c.id)
            log.debug("runtime of %s cleaned up in %.1f ms", c.id[:12],
                      (time.perf_counter() - t0) * 1e3)
        self._remove_filesystem(c.id)
        if self.networks is not None:
            self.networks.removed(c.id)
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

