"""The engine: the services the API sees, built from the stores and the runtime."""

import os
import subprocess

from ..image.store import ImageStore
from ..runtime.oci import ContainerRuntime
from ..store.content import ContentStore
from ..store.meta import MetaDB
from ..store.snapshot import Snapshotter
from .containers import ContainerService
from .events import EventBus
from .logs import LogService


class Engine:
    def __init__(self, root: str, exec_root: str, *, runtime: str = "runc",
                 cgroup_parent: str = "dockyard"):
        self.root = os.path.abspath(root)
        self.exec_root = os.path.abspath(exec_root)
        for d in (self.root, self.exec_root):
            os.makedirs(d, mode=0o711, exist_ok=True)
        self.meta = MetaDB(os.path.join(self.root, "meta.db"))
        self.content = ContentStore(os.path.join(self.root, "content"))
        self.snapshots = Snapshotter(os.path.join(self.root, "snapshots"))
        self.images = ImageStore(self.content, self.meta, self.snapshots)
        from ..build.cache import BuildCache

        # before any image GC runs: the build cache keeps the layers of its cached steps
        self.build_cache = BuildCache(self.meta, self.content, self.snapshots)
        self.images.pins.append(self.build_cache.pinned)
        self.runtime = ContainerRuntime(os.path.join(self.exec_root, "runtime"), runtime)
        self.runtime_path = self.runtime.runtime_path
        self.events = EventBus()
        self.containers = ContainerService(
            root=self.root, exec_root=self.exec_root, meta=self.meta, images=self.images,
            snapshots=self.snapshots, runtime=self.runtime, events=self.events,
            cgroup_parent=cgroup_parent)
        self.logs = LogService(self.containers)
        from .volumes import VolumeService

        self.volumes = VolumeService(os.path.join(self.root, "volumes"), self.meta, self.events,
                                     self.containers.repo.all)
        self.containers.volumes = self.volumes
        from .networks import NetworkService

        # Wired into the containers by networks.start() (the daemon); loopback only before.
        self.networks = NetworkService(self.meta, self.events, self.containers)
        self.daemon_id = self._daemon_id()
        self._runtime_version: str | None = None

    def _daemon_id(self) -> str:
        path = os.path.join(self.root, "engine-id")
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            from ..util import atomic_write, new_id

            value = new_id()[:36]
            atomic_write(path, value.encode())
            return value

    def runtime_version(self) -> str:
        if self._runtime_version is None:
            try:
                out = subprocess.run([self.runtime_path, "--version"], capture_output=True,
                                     text=True, timeout=5).stdout
                self._runtime_version = out.split("\n")[0].split()[-1]
            except (OSError, subprocess.SubprocessError, IndexError):
                self._runtime_version = "unknown"
        return self._runtime_version
