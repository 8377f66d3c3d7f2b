"""Overlay snapshotter, keyed as containerd's: committed layers by chainID, active snapshots
(container root filesystems) by a caller-chosen key.

Each layer is unpacked exactly once into ``layers/<chain>/fs`` and never changes afterwards;
containers get an ``upper``/``work`` pair over the chain of lowers. Every multi-file object is
built in ``tmp/`` and renamed into place, so a crash or a hostile layer never leaves a
half-unpacked layer under a chainID. Parent links live in small files next to each directory
(the filesystem is the index; the daemon reconciles it with its database at start).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from typing import BinaryIO

from .. import digest as _digest
from ..archive import apply_tar
from ..errors import Conflict, InvalidArgument, NotFound
from ..sys import mount as _mount

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _hex(chain_id: str) -> str:
    return _digest.parse(chain_id)[1]


class StagedLayer:
    """A layer being unpacked in tmp/; ``commit`` publishes it under its chainID."""

    def __init__(self, snap: Snapshotter, parent_chain_id: str | None):
        self._snap = snap
        self.parent = parent_chain_id
        self.dir = tempfile.mkdtemp(dir=snap._tmp, prefix="layer-")
        self.fs = os.path.join(self.dir, "fs")
        os.mkdir(self.fs, 0o755)
        self.size = 0

    def apply(self, tar_fileobj: BinaryIO) -> int:
        self.size += apply_tar(tar_fileobj, self.fs, "overlay",
                               allow_devices=self._snap.allow_devices)
        return self.size

    def commit(self, chain_id: str) -> int:
        """Publish; if another writer won the race the existing layer is kept."""
        target = self._snap._layer_dir(chain_id)
        with open(os.path.join(self.dir, "parent"), "w") as f:
            f.write(self.parent or "")
        with open(os.path.join(self.dir, "size"), "w") as f:
            f.write(str(self.size))
        try:
            os.rename(self.dir, target)
        except OSError:
            if not os.path.isdir(target):
                raise
            self.abort()
        return self._snap.layer_size(chain_id)

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Snapshotter:
    def __init__(self, root: str, allow_devices: bool = True):
        """``allow_devices``: create device nodes found in layers (Docker does, as root)."""
        self.root = root
        self.allow_devices = allow_devices
        self._layers = os.path.join(root, "layers")
        self._active = os.path.join(root, "active")
        self._tmp = os.path.join(root, "tmp")
        self._empty = os.path.join(root, "empty")
        for d in (self._layers, self._active, self._tmp, self._empty):
            os.makedirs(d, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- layers --------------------------------------------------------------------------------

    def _layer_dir(self, chain_id: str) -> str:
        return os.path.join(self._layers, _hex(chain_id))

    def layer_fs(self, chain_id: str) -> str:
        return os.path.join(self._layer_dir(chain_id), "fs")

    def has_layer(self, chain_id: str) -> bool:
        try:
            return os.path.isdir(self._layer_dir(chain_id))
        except InvalidArgument:
            return False

    def _lock_for(self, chain_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(chain_id, threading.Lock())

    def stage_layer(self, parent_chain_id: str | None) -> StagedLayer:
        """Start unpacking a layer whose chainID is not known yet (e.g. ``docker import``)."""
        if parent_chain_id and not self.has_layer(parent_chain_id):
            raise NotFound(f"parent layer {parent_chain_id} does not exist")
        return StagedLayer(self, parent_chain_id)

    def apply_layer(self, chain_id: str, parent_chain_id: str | None, tar_fileobj: BinaryIO,
                    verify: Callable[[], None] | None = None) -> int:
        """Unpack a decompressed layer tar once; ``verify`` runs before publishing (e.g. to
        drain the stream and check the diffID), and may raise to discard the layer."""
        _hex(chain_id)
        with self._lock_for(chain_id):
            if self.has_layer(chain_id):
                return self.layer_size(chain_id)
            staged = self.stage_layer(parent_chain_id)
            try:
                staged.apply(tar_fileobj)
                if verify is not None:
                    verify()
                return staged.commit(chain_id)
            except BaseException:
                staged.abort()
                raise

    def layer_parent(self, chain_id: str) -> str | None:
        try:
            with open(os.path.join(self._layer_dir(chain_id), "parent")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id} does not exist") from None

    def layer_size(self, chain_id: str) -> int:
        try:
            with open(os.path.join(self._layer_dir(chain_id), "size")) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id} does not exist") from None

    def layers(self) -> list[str]:
        return sorted(f"sha256:{n}" for n in os.listdir(self._layers))

    def lowers(self, chain_id: str | None) -> list[str]:
        """Layer directories for a chain, top-most first (overlay's lowerdir order)."""
        out = []
        seen = set()
        while chain_id:
            if chain_id in seen:
                raise InvalidArgument(f"layer chain loop at {chain_id}")
            seen.add(chain_id)
            if not self.has_layer(chain_id):
                raise NotFound(f"layer {chain_id} does not exist")
            out.append(self.layer_fs(chain_id))
            chain_id = self.layer_parent(chain_id)
        return out

    def _dependants(self, chain_id: str) -> list[str]:
        deps = []
        for n in os.listdir(self._layers):
            try:
                with open(os.path.join(self._layers, n, "parent")) as f:
                    if f.read().strip() == chain_id:
                        deps.append(f"layer sha256:{n}")
            except FileNotFoundError:
                pass
        for key, parent in self.snapshots().items():
            if parent == chain_id:
                deps.append(f"snapshot {key}")
        return deps

    def remove_layer(self, chain_id: str) -> None:
        """Remove a layer; Conflict while a child layer or a container snapshot needs it."""
        with self._lock_for(chain_id):
            if not self.has_layer(chain_id):
                return
            deps = self._dependants(chain_id)
            if deps:
                raise Conflict(f"layer {chain_id} is in use by {deps[0]}")
            self._discard(self._layer_dir(chain_id))

    def _discard(self, path: str) -> None:
        """Rename away first, so the object vanishes atomically even if the rmtree is slow."""
        trash = tempfile.mkdtemp(dir=self._tmp, prefix="rm-")
        victim = os.path.join(trash, "x")
        os.rename(path, victim)
        shutil.rmtree(trash, ignore_errors=True)

    # -- active snapshots ----------------------------------------------------------------------

    def _check_key(self, key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        return os.path.join(self._active, key)

    def prepare(self, key: str, parent_chain_id: str | None) -> None:
        path = self._check_key(key)
        if os.path.exists(path):
            raise Conflict(f"snapshot {key} already exists")
        lowers = self.lowers(parent_chain_id)
        tmp = tempfile.mkdtemp(dir=self._tmp, prefix="active-")
        try:
            upper = os.path.join(tmp, "fs")
            os.mkdir(upper, 0o755)
            os.mkdir(os.path.join(tmp, "work"), 0o700)
            if lowers:  # the merged root takes the upper dir's attributes: copy the image's
                st = os.stat(lowers[0])
                os.chown(upper, st.st_uid, st.st_gid)
                os.chmod(upper, stat.S_IMODE(st.st_mode))
            with open(os.path.join(tmp, "parent"), "w") as f:
                f.write(parent_chain_id or "")
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def has(self, key: str) -> bool:
        return os.path.isdir(self._check_key(key))

    def parent(self, key: str) -> str | None:
        try:
            with open(os.path.join(self._check_key(key), "parent")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            raise NotFound(f"snapshot {key} does not exist") from None

    def snapshots(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for key in sorted(os.listdir(self._active)):
            try:
                with open(os.path.join(self._active, key, "parent")) as f:
                    out[key] = f.read().strip() or None
            except FileNotFoundError:
                continue
        return out

    def upper_dir(self, key: str) -> str:
        return os.path.join(self._check_key(key), "fs")

    def work_dir(self, key: str) -> str:
        return os.path.join(self._check_key(key), "work")

    def mount(self, key: str, target: str) -> None:
        lowers = self.lowers(self.parent(key)) or [self._empty]
        os.makedirs(target, exist_ok=True)
        _mount.mount_overlay(lowers, target, self.upper_dir(key), self.work_dir(key))

    def mount_view(self, chain_id: str | None, target: str) -> None:
        """Read-only mount of an image's filesystem (no upper); overlay wants >= 2 lowers."""
        lowers = self.lowers(chain_id) + [self._empty]
        os.makedirs(target, exist_ok=True)
        _mount.mount_overlay(lowers, target, readonly=True)

    def unmount(self, target: str) -> None:
        _mount.unmount(target)

    def remove(self, key: str) -> None:
        path = self._check_key(key)
        if os.path.isdir(path):
            self._discard(path)

    def commit(self, key: str, chain_id: str) -> int:
        """Turn an (unmounted) active snapshot into the layer ``chain_id`` (build steps)."""
        path = self._check_key(key)
        parent = self.parent(key)
        with self._lock_for(chain_id):
            if not self.has_layer(chain_id):
                tmp = tempfile.mkdtemp(dir=self._tmp, prefix="commit-")
                os.rename(self.upper_dir(key), os.path.join(tmp, "fs"))
                with open(os.path.join(tmp, "parent"), "w") as f:
                    f.write(parent or "")
                with open(os.path.join(tmp, "size"), "w") as f:
                    f.write(str(tree_size(os.path.join(tmp, "fs"))))
                os.rename(tmp, self._layer_dir(chain_id))
            self._discard(path)
        return self.layer_size(chain_id)

    def usage(self, key: str) -> int:
        return tree_size(self.upper_dir(key))

    def clean_tmp(self) -> None:
        """Drop half-made objects left by a crash (call at start, before any writer runs)."""
        for n in os.listdir(self._tmp):
            shutil.rmtree(os.path.join(self._tmp, n), ignore_errors=True)


def tree_size(path: str) -> int:
    """Bytes of file content under ``path``, hardlinks counted once (Docker's SizeRw)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(path):
        for n in files:
            try:
                st = os.lstat(os.path.join(root, n))
            except FileNotFoundError:
                continue
            if st.st_nlink > 1:
                k = (st.st_dev, st.st_ino)
                if k in seen:
                    continue
                seen.add(k)
            total += st.st_size
    return total
