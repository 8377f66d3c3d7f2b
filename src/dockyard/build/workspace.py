"""A writable root filesystem for one build step: an overlay snapshot on the parent's chain,
mounted while the step works in it, then diffed (its upper dir) into a layer.

Paths the runtime creates only as mount points (/etc/hosts, /proc, a secret's target, ...)
are removed from the upper dir before the diff when the image did not have them, so they
never end up in a layer (Docker keeps them in a separate init layer).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from ..image.layer import LayerInfo
from ..sys import mount as _mount
from ..util import new_id
from .layerpack import layer_from_snapshot

RUNTIME_STUBS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys",
                 "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys/fs/cgroup")


class Workspace:
    def __init__(self, images, parent_chain_id: str | None, tmp_root: str):
        self.images = images
        self.snapshots = images.snapshots
        self.parent = parent_chain_id
        self.key = "build-" + new_id()[:24]
        self.id = self.key[len("build-"):]
        os.makedirs(tmp_root, exist_ok=True)
        self.dir = tempfile.mkdtemp(dir=tmp_root, prefix="ws-")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self._mounted = False
        self._stubs: list[str] = []
        self.snapshots.prepare(self.key, parent_chain_id)
        try:
            self.snapshots.mount(self.key, self.rootfs)
            self._mounted = True
        except BaseException:
            self.close()
            raise

    @property
    def upper(self) -> str:
        return self.snapshots.upper_dir(self.key)

    def note_stubs(self, paths) -> None:
        """Remember mount points the image lacks (checked now, before the runtime runs)."""
        for p in paths:
            full = os.path.join(self.rootfs, p.lstrip("/"))
            if not os.path.lexists(full):
                self._stubs.append(p)

    def unmount(self) -> None:
        if self._mounted:
            _mount.unmount(self.rootfs)
            self._mounted = False

    def _drop_stubs(self) -> None:
        upper = self.upper
        # deepest first, so a created parent directory is empty by the time it is checked
        for p in sorted(set(self._stubs), key=lambda s: s.count("/"), reverse=True):
            parts = p.strip("/").split("/")
            for i in range(len(parts), 0, -1):
                full = os.path.join(upper, *parts[:i])
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    try:
                        os.rmdir(full)
                    except OSError:
                        break
                elif stat.S_ISREG(st.st_mode) and st.st_size == 0 and i == len(parts):
                    os.unlink(full)
                else:
                    break

    def layer(self, epoch: int | None) -> LayerInfo | None:
        """Unmount and diff: the new layer, or None when nothing changed."""
        self.unmount()
        self._drop_stubs()
        upper = self.upper
        if not os.listdir(upper):
            return None
        return layer_from_snapshot(self.images, self.key, self.parent, epoch)

    def close(self) -> None:
        self.unmount()  # if this fails, nothing below may walk into the mount
        try:
            self.snapshots.remove(self.key)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
