"""Restore after a daemon restart: reconcile records with runtime state, remove what a crash
left of removed containers, apply the restart policy of a daemon start."""

import asyncio
import logging
import os
import shutil
import time

from ..util import rfc3339_nano
from .restart import restart_on_daemon_start

log = logging.getLogger(__name__)

class RestoreMixin:
    """Daemon-start reconciliation of :class:`ContainerService`."""

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
