"""Container exits: recording them, waking waiters, the restart policy's back-off and
auto-remove."""

import asyncio
import logging
import time

from ..container.model import Container
from ..errors import NotFound, RuntimeFailure
from ..runtime.stats import oom_killed
from ..util import rfc3339_nano
from .restart import Backoff, should_restart

log = logging.getLogger(__name__)

class ExitMixin:
    """Exit handling of :class:`ContainerService`."""

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
            if restart_delay is None and c.host_config.get("AutoRemove"):
                # The removal follows at once and deletes the runtime after the record (after
                # `run --rm` has its answer): only what another container may want at once
                # (published ports, leases, volume mounts) is freed before.
                await asyncio.to_thread(self._release_resources, c.id)
            else:
                t0 = time.perf_counter()
                await asyncio.to_thread(self._cleanup_runtime, c.id)
                log.debug("runtime of %s cleaned up in %.1f ms", c.id[:12],
                          (time.perf_counter() - t0) * 1e3)
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

    def pending_restart(self, cid: str) -> asyncio.Task | None:
        """The policy's scheduled restart of ``cid`` while it waits out its back-off."""
        return self._restarts.get(cid)

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
