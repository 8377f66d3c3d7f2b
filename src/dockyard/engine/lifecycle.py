"""Starting containers: the runtime created ahead of the start (right after `create`), the
start itself, and the runtime cleanup that every path shares."""

import asyncio
import logging
import os
import time

from ..container import state as sm
from ..container.model import Container
from ..errors import RuntimeFailure
from ..runtime.spec import build_spec
from ..util import rfc3339_nano
from .logrotate import container_limits

log = logging.getLogger(__name__)

MAX_PREPARED = 8  # containers created ahead of their start at once
PREPARED_TTL = 30.0  # seconds a prepared runtime waits for its start


class StartMixin:
    """Start and prepare-ahead of :class:`ContainerService`."""

    # ---- start ----------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            sm.check("start", c.state.status, ref)
            try:
                t0 = time.perf_counter()
                pid = await asyncio.to_thread(self._start_blocking, c, self._prepared.pop(c.id, None))
                log.debug("%s started in %.1f ms", c.id[:12], (time.perf_counter() - t0) * 1e3)
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
            plan = self.networks.plan(c) if self.networks is not None else None
            spec = build_spec(self._spec_options(c, rootfs, plan))
            # A restarted container appends to its log, as Docker's json-file does.
            pid = self.runtime.create(
                c.id, spec, self.log_path(c.id),
                log_size_max=container_limits(c.host_config, self.log_opts)[0],
                tty=bool(c.config.get("Tty")), stdin=bool(c.config.get("OpenStdin")),
                # Docker closes stdin when the attached client goes only for StdinOnce without
                # a tty: a shell detached from (ctrl-p ctrl-q) keeps its terminal.
                leave_stdin_open=bool(c.config.get("Tty")) or not c.config.get("StdinOnce"),
            )
            t2 = time.perf_counter()
            if plan is not None and plan.endpoints:
                # Between runc create and start: the process sees its network from the start.
                self.networks.attach(c, pid, plan)
            log.debug("network of %s attached in %.1f ms", c.id[:12],
                      (time.perf_counter() - t2) * 1e3)
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

    async def discard_prepared(self, cid: str) -> None:
        """The container's network or ports change before its start (docker-compose connects
        its networks between create and start): a runtime prepared with the old endpoints
        would start with addresses the records no longer hold. Start creates it again."""
        await self._unprepare(cid)

    async def _unprepare(self, cid: str) -> None:
        if cid not in self._prepared:
            return
        async with self._lock(cid):
            if self._prepared.pop(cid, None) is not None:
                await asyncio.to_thread(self._cleanup_runtime, cid)

    def _cleanup_runtime(self, cid: str) -> None:
        self.runtime.delete(cid, force=True)
        self._unmount(cid)
        self._runtime_live.discard(cid)
        self._release_resources(cid)

    def _release_resources(self, cid: str) -> None:
        """Volume mounts, leases and published ports of a runtime that ended."""
        if self.volumes is not None:
            self.volumes.release(cid)
        if self.networks is not None:
            self.networks.release(cid)

    def _unmount(self, cid: str) -> None:
        target = self.rootfs_path(cid)
        if os.path.ismount(target):
            self.snapshots.unmount(target)
