"""The engine's build service: the cache, the step runner and their directories, and the
entry points the API calls (build from an extracted context, prune)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable

from ..errors import NotFound
from .builder import Build
from .cache import BuildCache
from .options import BuildOptions
from .runner import StepRunner

log = logging.getLogger(__name__)


class BuildService:
    def __init__(self, engine):
        self.engine = engine
        self.images = engine.images
        self.root = os.path.join(engine.root, "build")
        self.tmp_root = os.path.join(self.root, "tmp")
        self.cache_mount_root = os.path.join(self.root, "cache-mounts")
        self.context_root, self.context_prefix = _context_root(self.root)
        for d in (self.tmp_root, self.cache_mount_root, self.context_root):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self.cache = BuildCache(engine.meta, engine.content, engine.snapshots)
        self.runner = StepRunner(engine.exec_root, engine.runtime_path,
                                 getattr(engine.containers, "cgroup_parent", "dockyard"))

    def cleanup_leftovers(self) -> None:
        """Daemon start: what a crashed build left (step containers, temp dirs)."""
        self.runner.cleanup_leftovers()
        for d, prefix in ((self.tmp_root, ""), (self.context_root, self.context_prefix)):
            for n in os.listdir(d):
                if not n.startswith(prefix):
                    continue
                path = os.path.join(d, n)
                try:
                    self.images.snapshots.unmount(path)
                except OSError:
                    pass
                shutil.rmtree(path, ignore_errors=True)
        for key in list(self.images.snapshots.snapshots()):
            if key.startswith("build-"):
                self.images.snapshots.remove(key)

    # -- images -----------------------------------------------------------------------------

    def find_image(self, name: str, pull: bool, progress: Callable[[dict], None]):
        """A local image, pulled first when asked (--pull) or missing and pull exists."""
        puller = self._puller()
        if pull and puller is not None:
            puller(name, progress)
            return self.images.get(name)
        try:
            return self.images.get(name)
        except NotFound:
            pass
        if puller is not None:
            puller(name, progress)
            return self.images.get(name)
        from .. import reference as _reference

        try:
            fam = _reference.parse(name).familiar_name
        except Exception:  # noqa: BLE001 - only for the message
            fam = name
        raise NotFound(f"pull access denied for {fam}, repository does not exist or may "
                       "require 'docker login'")

    def _puller(self):
        """The engine's pull (the distribution package), when this engine has one."""
        pull = getattr(self.engine, "pull_image", None)
        if callable(pull):
            return pull
        return None

    # -- entry points -----------------------------------------------------------------------

    def build(self, context_dir: str, options: BuildOptions, emit: Callable[[dict], None],
              secrets: dict[str, str] | None = None, started: Callable[[Build], None] | None
              = None) -> str:
        b = Build(self, context_dir, options, emit, secrets or {})
        if started is not None:
            started(b)
        return b.run()

    def prune(self, all_: bool = False) -> dict:
        keep = {img.id for img in self.images.list()}
        keys, size = self.cache.prune(all_, keep)
        deleted = [k.split(":", 1)[-1][:25] for k in keys]
        if all_:
            for n in os.listdir(self.cache_mount_root):
                path = os.path.join(self.cache_mount_root, n)
                size += _du(path)
                shutil.rmtree(path, ignore_errors=True)
                deleted.append(n[:25])
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": size}


def _context_root(root: str) -> tuple[str, str]:
    """(directory, name prefix) for uploaded contexts: in memory (/dev/shm) when there is
    room, since a context is thrown away after the build and creating thousands of small
    files on a busy disk costs far more than the build itself; else under the daemon root.
    The prefix names this daemon's entries (several daemons share /dev/shm)."""
    import hashlib

    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize >= (2 << 30) and os.access(shm, os.W_OK):
            tag = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:16]
            return shm, f"dockyard-ctx-{tag}-"
    except OSError:
        pass
    return os.path.join(root, "contexts"), "ctx-"


def _du(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total
