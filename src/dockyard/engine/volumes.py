"""Volumes: the API's operations (create, list, inspect, remove, prune, export, import, clone)
and what containers need of them (resolving their mounts at create, OCI mounts at start,
copy-up of the image's content into a new empty volume, clean-up at remove).

A container's resolved mounts are stored on its record (``Container.mounts``, Docker's
MountPoints), so a volume is "in use" while any container record names it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterable

from ..container.binds import Bind, binds_of, check_volume_name
from ..errors import Conflict, InvalidArgument, NotFound
from ..util import new_id
from ..volume.local import ANONYMOUS_LABEL, LocalDriver, Volume

log = logging.getLogger(__name__)

_FILTERS = {"dangling", "name", "label", "driver", "all"}


def volume_json(v: Volume) -> dict:
    return {"CreatedAt": v.created, "Driver": v.driver, "Labels": v.labels or {},
            "Mountpoint": v.mountpoint, "Name": v.name, "Options": v.options or None,
            "Scope": "local"}


def inspect_mount(rec: dict) -> dict:
    """A stored mount record as Docker's inspect ``Mounts`` entry."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}


class VolumeService:
    def __init__(self, root: str, meta, events, containers: Callable[[], Iterable]):
        self.driver = LocalDriver(root, meta)
        self.events = events
        self._containers = containers  # all container records, for "in use"

    # ---- the API's operations -------------------------------------------------------------

    def _emit(self, action: str, name: str, **attrs) -> None:
        self.events.emit("volume", action, name, {"driver": "local", **attrs})

    def create(self, name: str | None = None, driver: str | None = None,
               options: dict | None = None, labels: dict | None = None) -> Volume:
        if driver not in (None, "", "local"):
            raise NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" "
                           "not found")
        if labels is not None and (not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
            raise InvalidArgument("Labels must be an object of strings")
        if not name:
            # Docker 23+: a volume without a name is anonymous, so `volume prune` (which
            # keeps named volumes unless all=true) removes it once unused.
            name = new_id()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        check_volume_name(name)
        if self.driver.exists(name):
            return self.driver.get(name)  # Docker answers with the existing volume
        try:
            v = self.driver.create(name, labels, options)
        except Conflict:  # created meanwhile by another request
            return self.driver.get(name)
        self._emit("create", name)
        return v

    def get(self, name: str) -> Volume:
        return self.driver.get(name)

    def users(self, name: str) -> list[str]:
        return [c.id for c in self._containers()
                if any(r.get("Name") == name for r in getattr(c, "mounts", None) or [])]

    def ref_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self._containers():
            for r in getattr(c, "mounts", None) or []:
                if r.get("Type") == "volume":
                    out[r["Name"]] = out.get(r["Name"], 0) + 1
        return out

    def list(self, filters: dict[str, list[str]]) -> list[Volume]:
        from ..api.filters import match_labels

        refs = self.ref_counts()
        out = []
        for v in self.driver.list():
            if "name" in filters and not any(f in v.name for f in filters["name"]):
                continue
            if "driver" in filters and v.driver not in filters["driver"]:
                continue
            if "label" in filters and not match_labels(v.labels, filters["label"]):
                continue
            if "dangling" in filters:
                want = {s.lower() in ("true", "1") for s in filters["dangling"]}
                if (v.name not in refs) not in want:
                    continue
            out.append(v)
        return out

    def usage(self) -> list[dict]:
        """``system df``'s volumes: Docker's JSON with ``UsageData`` (size, containers)."""
        refs = self.ref_counts()
        out = []
        for v in self.driver.list():
            doc = volume_json(v)
            doc["UsageData"] = {"Size": disk_usage(v.mountpoint), "RefCount": refs.get(v.name, 0)}
            out.append(doc)
        return out

    def remove(self, name: str, force: bool = False) -> None:
        try:
            self.driver.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self.users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.driver.remove(name)
        self._emit("destroy", name)

    def prune(self, filters: dict[str, list[str]], all_volumes: bool) -> tuple[list[str], int]:
        from ..api.filters import match_labels

        if "all" in filters:
            all_volumes = any(s.lower() in ("true", "1") for s in filters["all"])
        refs = self.ref_counts()
        deleted, space = [], 0
        for v in self.driver.list():
            if v.name in refs or (not all_volumes and not v.anonymous):
                continue
            labels = [f for f in filters.get("label", [])]
            if labels and not match_labels(v.labels, labels):
                continue
            if filters.get("label!") and match_labels(v.labels, filters["label!"]):
                continue
            size = disk_usage(v.mountpoint)
            try:
                self.remove(v.name)
            except (Conflict, NotFound):
                continue
            deleted.append(v.name)
            space += size
        return deleted, space

    # ---- beyond Docker: export, import, clone ---------------------------------------------

    def export(self, name: str, out) -> None:
        """Write the volume's content as a tar stream (blocking)."""
        from ..archive import write_tar

        v = self.driver.get(name)
        user = "export:" + uuid.uuid4().hex
        self.driver.acquire(v, user)
        try:
            write_tar(v.mountpoint, out, overlay_whiteouts=False)
        finally:
            self.driver.release(name, user)

    def import_(self, name: str, fileobj) -> Volume:
        """Apply a tar into the volume (created if missing). The tar is applied into a fresh
        directory beside the data first, so a hostile or broken tar changes nothing."""
        from ..archive import apply_tar

        created = not self.driver.exists(name)
        v = self.create(name) if created else self.driver.get(name)
        user = "import:" + uuid.uuid4().hex
        self.driver.acquire(v, user)
        staging = os.path.join(v.mountpoint, f".dockyard-import-{uuid.uuid4().hex}")
        try:
            os.mkdir(staging, 0o700)
            try:
                apply_tar(fileobj, staging, whiteout="delete")
                _merge_into(staging, v.mountpoint)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            self.driver.release(name, user)
            if created:
                self.driver.remove(name)
            raise
        self.driver.release(name, user)
        return v

    def clone(self, src: str, dst: str) -> Volume:
        s = self.driver.get(src)
        check_volume_name(dst)
        if self.driver.exists(dst):
            raise Conflict(f"volume {dst} already exists")
        labels = {k: v for k, v in s.labels.items() if k != ANONYMOUS_LABEL}
        d = self.driver.create(dst, labels, {})
        us = "clone:" + uuid.uuid4().hex
        try:
            self.driver.acquire(s, us)
            try:
                copy_tree(s.mountpoint, d.mountpoint)
            finally:
                self.driver.release(src, us)
        except BaseException:
            self.driver.remove(dst)
            raise
        self._emit("create", dst)
        return d

    # ---- containers -----------------------------------------------------------------------

    def resolve(self, config: dict, host: dict, get_container) -> list[dict]:
        """Docker's MountPoints of a new container: explicit mounts, then ``--volumes-from``,
        then anonymous volumes for ``Config.Volumes``; named volumes are created if missing."""
        # --tmpfs (HostConfig.Tmpfs) is the runtime spec's, and not in Docker's Mounts; it
        # still takes its destination from volumes.
        explicit = binds_of(dict(host, Tmpfs=None))
        records: list[dict] = []
        taken = {os.path.normpath(str(d)) for d in host.get("Tmpfs") or {}}
        for b in explicit:
            records.append(self._record(b))
            taken.add(b.destination)
        for spec in host.get("VolumesFrom") or []:
            ref, _, mode = str(spec).partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidArgument(f"invalid mode for volumes-from: {mode}")
            try:
                src = get_container(ref)
            except NotFound as e:  # a 404 would send clients off pulling the image
                raise InvalidArgument(f"volumes-from: {e}") from None
            src_mounts = getattr(src, "mounts", None) or [
                self._record(b) for b in binds_of(src.host_config)]
            for rec in src_mounts:
                if rec["Type"] == "tmpfs" or rec["Destination"] in taken:
                    continue
                rec = dict(rec, _anon=False)
                if mode:
                    rec["RW"] = mode == "rw"
                    rec["Mode"] = mode if rec["Type"] == "volume" else ("ro" if mode == "ro"
                                                                       else "")
                records.append(rec)
                taken.add(rec["Destination"])
        for dest in config.get("Volumes") or {}:
            d = os.path.normpath(str(dest))
            if not d.startswith("/") or d == "/":
                raise InvalidArgument(f"invalid mount config: mount path must be absolute: {dest}")
            if d not in taken:
                taken.add(d)
                records.append(self._record(Bind("", d, kind="volume", create_source=False)))
        return records

    def _record(self, b: Bind) -> dict:
        if b.kind == "bind":
            rec = b.to_inspect()
            rec["_create"] = b.create_source
            return rec
        if b.kind == "tmpfs":
            rec = b.to_inspect()
            rec["_tmpfs"] = b.tmpfs_options
            return rec
        return {"Type": "volume", "Name": b.source, "Source": "", "Destination": b.destination,
                "Driver": "local", "Mode": "z" if not b.read_only else "ro",
                "RW": not b.read_only, "Propagation": "", "_anon": not b.source,
                "_nocopy": b.nocopy, "_labels": b.labels, "_options": b.driver_options}

    def materialize(self, records: list[dict]) -> list[str]:
        """Create the volumes the records name (and names for anonymous ones); returns the
        names created, for a rollback."""
        created = []
        try:
            for rec in records:
                if rec["Type"] != "volume":
                    continue
                if not rec["Name"]:
                    rec["Name"] = new_id()
                    v = self.driver.create(rec["Name"], {ANONYMOUS_LABEL: ""}, {})
                    created.append(v.name)
                    self._emit("create", v.name)
                elif not self.driver.exists(rec["Name"]):
                    v = self.create(rec["Name"], None, rec.get("_options") or {},
                                    rec.get("_labels") or {})
                    created.append(v.name)
                else:
                    v = self.driver.get(rec["Name"])
                rec["Source"] = v.mountpoint
                rec.pop("_labels", None)
                rec.pop("_options", None)
        except BaseException:
            self.discard(created)
            raise
        return created

    def discard(self, names: list[str]) -> None:
        for name in names:
            try:
                self.driver.remove(name)
            except NotFound:
                pass

    def oci_mounts(self, cid: str, records: list[dict], rootfs: str) -> list[dict]:
        """OCI mounts for a start; mounts tmpfs/bind volumes and copies the image's content
        into new empty volumes (blocking; the rootfs is mounted)."""
        out = []
        for rec in records:
            kind, dest = rec["Type"], rec["Destination"]
            if kind == "bind":
                b = Bind(rec["Source"], dest, not rec["RW"], rec.get("Propagation") or "rprivate",
                         create_source=bool(rec.get("_create", True)))
                out.append(b.to_oci())
            elif kind == "tmpfs":
                b = Bind("", dest, not rec["RW"], "", kind="tmpfs",
                         tmpfs_options=rec.get("_tmpfs", ""))
                out.append(b.to_oci())
            else:
                try:
                    v = self.driver.get(rec["Name"])
                except NotFound:
                    raise NotFound(f"error while mounting volume '{rec['Name']}': no such "
                                   "volume") from None
                self.driver.acquire(v, cid)
                if not rec.get("_nocopy"):
                    copy_up(rootfs, dest, v.mountpoint)
                out.append({"destination": dest, "type": "bind", "source": v.mountpoint,
                            "options": ["rbind", "rprivate", "rw" if rec["RW"] else "ro"]})
        return out

    def release(self, cid: str) -> None:
        for name, users in self.driver.mounted_users().items():
            if cid in users:
                self.driver.release(name, cid)

    def container_removed(self, c, remove_anonymous: bool) -> None:
        """After the record is gone: release mounts; ``rm -v`` (and ``--rm``) remove the
        container's own anonymous volumes that no other container uses."""
        self.release(c.id)
        if not remove_anonymous:
            return
        for rec in getattr(c, "mounts", None) or []:
            if rec.get("Type") == "volume" and rec.get("_anon"):
                try:
                    self.remove(rec["Name"])
                except (Conflict, NotFound):
                    pass

    def reconcile(self, running: Iterable) -> None:
        users: dict[str, set[str]] = {}
        for c in running:
            for rec in getattr(c, "mounts", None) or []:
                if rec.get("Type") == "volume":
                    users.setdefault(rec["Name"], set()).add(c.id)
        self.driver.reconcile(users)

    async def areconcile(self, running: Iterable) -> None:
        await asyncio.to_thread(self.reconcile, list(running))


def copy_up(rootfs: str, dest: str, data: str) -> None:
    """Docker's copy of the image's content at the mount point into an empty volume, keeping
    owners, modes and times; a path escaping the rootfs (a symlink) is not followed."""
    try:
        if os.listdir(data):
            return
    except FileNotFoundError:
        return
    root = os.path.realpath(rootfs)
    src = os.path.realpath(os.path.join(root, dest.lstrip("/")))
    if not (src == root or src.startswith(root + "/")) or not os.path.isdir(src):
        return
    st = os.stat(src)
    if os.listdir(src):
        copy_tree(src, data)
    os.chown(data, st.st_uid, st.st_gid)
    os.chmod(data, st.st_mode & 0o7777)


def copy_tree(src: str, dst: str) -> None:
    r = subprocess.run(["cp", "-a", "--", src + "/.", dst + "/"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise InvalidArgument(f"copying volume content failed: {r.stderr.strip()}")


def _merge_into(staging: str, data: str) -> None:
    """Move the applied tree into the volume, replacing what it names."""
    for entry in os.listdir(staging):
        src, target = os.path.join(staging, entry), os.path.join(data, entry)
        if os.path.isdir(target) and not os.path.islink(target):
            if os.path.isdir(src) and not os.path.islink(src):
                copy_tree(src, target)
                continue
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        os.rename(src, target)


def disk_usage(path: str) -> int:
    """Bytes of data in a volume as Docker counts them: apparent sizes of the non-directory
    entries, each inode once (hard links are not counted twice)."""
    total = 0
    seen: set[int] = set()
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            if st.st_size and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total
