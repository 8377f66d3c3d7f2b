"""The engine's build service: the cache, the step runner and their directories, and the
entry points the API calls (build from an extracted context, prune)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable

from ..errors import DockyardError, NotFound
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
        self.disk_context_root = os.path.join(self.root, "contexts")  # /dev/shm is too small
        for d in (self.tmp_root, self.cache_mount_root, self.context_root,
                  self.disk_context_root):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self.cache = getattr(engine, "build_cache", None)
        if self.cache is None:
            self.cache = BuildCache(engine.meta, engine.content, engine.snapshots)
            self.images.pins.append(self.cache.pinned)
        self.runner = StepRunner(engine.exec_root, engine.runtime_path,
                                 getattr(engine.containers, "cgroup_parent", "dockyard"))

    def cleanup_leftovers(self) -> None:
        """Daemon start: what a crashed build left (step containers, temp dirs)."""
        self.runner.cleanup_leftovers()
        for target in _mounts_under(self.tmp_root):  # never rmtree through a mount
            try:
                self.images.snapshots.unmount(target)
            except OSError as e:
                log.warning("cannot unmount leftover build mount %s: %s", target, e)
        for d, prefix in ((self.tmp_root, ""), (self.context_root, self.context_prefix),
                          (self.disk_context_root, "ctx-")):
            for n in os.listdir(d):
                if not n.startswith(prefix):
                    continue
                path = os.path.join(d, n)
                if _mounts_under(path):
                    continue
                shutil.rmtree(path, ignore_errors=True)
        for key in list(self.images.snapshots.snapshots()):
            if key.startswith("build-"):
                self.images.snapshots.remove(key)

    def context_dirs(self, size: int | None) -> tuple[str, str | None]:
        """(work directory, spill directory or None) for one upload: in /dev/shm unless the
        body's size (when the client gave it) does not fit in what it has free, with a disk
        directory to move to if an unpacked (decompressed) context fills it up anyway."""
        import tempfile

        disk = self.disk_context_root
        if self.context_root == disk:
            return tempfile.mkdtemp(dir=disk, prefix="ctx-"), None
        try:
            st = os.statvfs(self.context_root)
            free = st.f_bavail * st.f_frsize
        except OSError:
            free = 0
        if size is not None and size + (64 << 20) > free:
            return tempfile.mkdtemp(dir=disk, prefix="ctx-"), None
        return (tempfile.mkdtemp(dir=self.context_root, prefix=self.context_prefix),
                tempfile.mkdtemp(dir=disk, prefix="ctx-"))

    # -- images -----------------------------------------------------------------------------

    def find_image(self, name: str, pull: bool, progress: Callable[[dict], None],
                   auths: dict | None = None):
        """A local image, pulled first when asked (--pull) or when missing."""
        from .. import reference as _reference

        if not pull:
            try:
                return self.images.get(name)
            except NotFound:
                pass
        try:
            ref = _reference.parse(name)
        except DockyardError:
            raise NotFound(f"No such image: {name}") from None
        puller = self._puller()
        if puller is None:
            if pull:
                return self.images.get(name)
            raise NotFound(f"pull access denied for {ref.familiar_name}, repository does not "
                           "exist or may require 'docker login'")
        puller(ref, progress, auths or {})
        return self.images.get(ref.full_string() if not ref.digest else name)

    def _puller(self):
        """Pull through the engine's distribution service (made here if the API has not
        made it yet); None when this build of dockyard has no registry client."""
        try:
            from ..distribution.auth import AuthConfig
            from ..distribution.options import RegistryOptions
            from ..distribution.service import DistributionService
        except ImportError:
            return None
        engine = self.engine
        svc = getattr(engine, "distribution", None)
        if svc is None:
            opts = getattr(engine, "registry_options", None) or RegistryOptions()
            svc = DistributionService(engine.images, opts)
            engine.distribution = svc

        def pull(ref, progress, auths: dict) -> None:
            auth = AuthConfig.from_dict(_auth_for(ref.domain, auths))
            tag = None if ref.digest else ref.tag
            name = f"{ref.domain}/{ref.path}" + (f"@{ref.digest}" if ref.digest else "")
            svc.pull(name, tag, auth, progress)

        return pull

    # -- entry points -----------------------------------------------------------------------

    def build(self, context_dir: str, options: BuildOptions, emit: Callable[[dict], None],
              secrets: dict[str, str] | None = None, started: Callable[[Build], None] | None
              = None) -> str:
        b = Build(self, context_dir, options, emit, secrets or {})
        if started is not None:
            started(b)
        return b.run()

    def prune(self, all_: bool = False) -> dict:
        chains = {c for img in self.images.list() for c in img.chain_ids}
        keys, size = self.cache.prune(all_, chains)
        deleted = [k.split(":", 1)[-1][:25] for k in keys]
        self._collect(self.cache.dropped_blobs)
        if all_:
            for n in os.listdir(self.cache_mount_root):
                path = os.path.join(self.cache_mount_root, n)
                size += _du(path)
                shutil.rmtree(path, ignore_errors=True)
                deleted.append(n[:25])
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": size}


    def _collect(self, blobs: set[str]) -> None:
        """After a prune: the layers and blobs only the dropped cache rows kept."""
        self.images.prune_layers()
        _chains, pinned = self.cache.pinned()
        for b in blobs - pinned:
            used = self.images.meta.query_one(
                "SELECT 1 FROM images WHERE id=? OR manifest_digest=? UNION "
                "SELECT 1 FROM image_layers WHERE blob=? LIMIT 1", (b, b, b))
            if not used and self.images.content.has(b):
                self.images.content.delete(b)


def _context_root(root: str) -> tuple[str, str]:
    """(directory, name prefix) for uploaded contexts: in memory (/dev/shm) when there is
    room, since a context is thrown away after the build and creating thousands of small
    files on a busy disk costs far more than the build itself; else under the daemon root.
    The prefix names this daemon's entries (several daemons share /dev/shm)."""
    import hashlib

    shm = os.environ.get("DOCKYARD_BUILD_SHM") or "/dev/shm"  # tests: a small tmpfs
    try:
        st = os.statvfs(shm)
        if (st.f_bavail * st.f_frsize >= (2 << 30) or shm != "/dev/shm") and \
                os.access(shm, os.W_OK):
            tag = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:16]
            return shm, f"dockyard-ctx-{tag}-"
    except OSError:
        pass
    return os.path.join(root, "contexts"), "ctx-"


def _auth_for(domain: str, auths: dict) -> dict | None:
    """The X-Registry-Config entry for a registry (docker keys Docker Hub by its URL)."""
    keys = [domain]
    if domain in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        keys += ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    keys += [f"https://{domain}", f"http://{domain}"]
    for k in keys:
        if isinstance(auths.get(k), dict):
            return auths[k]
    return None


def _mounts_under(root: str) -> list[str]:
    """Mount points at or below ``root``, deepest first."""
    root = os.path.abspath(root)
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point == root or point.startswith(root + "/"):
                    found.append(point)
    except OSError:
        return []
    return sorted(set(found), key=len, reverse=True)


def _du(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total
