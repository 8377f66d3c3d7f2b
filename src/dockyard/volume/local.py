"""The local volume driver: one directory per volume, ``<root>/<name>/_data`` as Docker lays
it out, records in SQLite.

A volume is built in a temp directory and renamed into place, then recorded, so a crash
mid-create leaves either nothing or a directory that ``reconcile`` removes. Volumes with
``type``/``device``/``o`` options (tmpfs, a bind of a host path) are mounted on their first
user and unmounted when the last one goes; a restarted daemon unmounts the ones nobody uses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field

from ..errors import Conflict, InvalidArgument, NotFound
from ..sys import mount as m
from ..util import rfc3339_nano

log = logging.getLogger(__name__)

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        created TEXT NOT NULL,
        labels TEXT NOT NULL,
        options TEXT NOT NULL
    )""",
]
_OPTION_KEYS = {"type", "device", "o", "size"}


@dataclass
class Volume:
    name: str
    mountpoint: str
    created: str
    driver: str = "local"
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def needs_mount(self) -> bool:
        return bool(self.options.get("type") or self.options.get("device"))


def check_options(options: dict) -> dict:
    """Docker's local driver options: ``type``, ``device``, ``o`` (and ``size``)."""
    if not isinstance(options, dict):
        raise InvalidArgument("DriverOpts must be a JSON object")
    for k, v in options.items():
        if k not in _OPTION_KEYS:
            raise InvalidArgument(f"invalid option: {k!r}")
        if not isinstance(v, str):
            raise InvalidArgument(f"invalid option value for {k!r}: expected a string")
    kind = options.get("type", "")
    if kind and not options.get("device") and kind != "tmpfs":
        raise InvalidArgument("missing required option: \"device\"")
    if options.get("device") and not kind:
        raise InvalidArgument("missing required option: \"type\"")
    binds = "bind" in options.get("o", "").split(",")
    if binds and not options.get("device", "").startswith("/"):
        raise InvalidArgument("a bind volume needs an absolute host path as device")
    return dict(options)


class LocalDriver:
    def __init__(self, root: str, meta):
        self.root = root
        self.meta = meta
        os.makedirs(root, mode=0o701, exist_ok=True)
        meta.migrate("volumes", _SCHEMA)
        self._lock = threading.Lock()
        self._users: dict[str, set[str]] = {}  # mounted volumes → containers using the mount

    # ---- records ------------------------------------------------------------------------

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _row(self, row) -> Volume:
        return Volume(row["name"], os.path.join(self._dir(row["name"]), "_data"),
                      row["created"], row["driver"], json.loads(row["labels"]),
                      json.loads(row["options"]))

    def get(self, name: str) -> Volume:
        row = self.meta.query_one("SELECT * FROM volumes WHERE name=?", (name,))
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return self._row(row)

    def exists(self, name: str) -> bool:
        return self.meta.query_one("SELECT 1 FROM volumes WHERE name=?", (name,)) is not None

    def list(self) -> list[Volume]:
        return [self._row(r) for r in self.meta.query("SELECT * FROM volumes ORDER BY name")]

    def create(self, name: str, labels: dict | None = None,
               options: dict | None = None) -> Volume:
        """A new empty volume; built aside and renamed, then recorded."""
        options = check_options(options or {})
        with self._lock:
            if self.exists(name):
                raise Conflict(f"volume {name} already exists")
            tmp = os.path.join(self.root, f".tmp-{uuid.uuid4().hex}")
            os.makedirs(os.path.join(tmp, "_data"), mode=0o755)
            try:
                os.chmod(os.path.join(tmp, "_data"), 0o755)
                final = self._dir(name)
                if os.path.exists(final):  # a crash left it without a record
                    m.unmount(os.path.join(final, "_data"))  # never recurse into a host path
                    shutil.rmtree(final)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            created = rfc3339_nano()
            try:
                self.meta.execute(
                    "INSERT INTO volumes (name, driver, created, labels, options) "
                    "VALUES (?,?,?,?,?)",
                    (name, "local", created, json.dumps(labels or {}), json.dumps(options)))
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
        return self.get(name)

    def remove(self, name: str) -> None:
        v = self.get(name)
        with self._lock:
            self._users.pop(name, None)
            if v.needs_mount:
                m.unmount(v.mountpoint)
            self.meta.execute("DELETE FROM volumes WHERE name=?", (name,))
            # Renamed first so a crash during the (long) delete leaves a temp dir, not a
            # half volume under its name.
            trash = os.path.join(self.root, f".tmp-{uuid.uuid4().hex}")
            try:
                os.rename(self._dir(name), trash)
            except FileNotFoundError:
                return
            if v.needs_mount:
                # Never recurse into a host path that is still mounted there.
                m.unmount(os.path.join(trash, "_data"))
            shutil.rmtree(trash, ignore_errors=True)

    # ---- mounts of tmpfs / bind volumes ---------------------------------------------------

    def acquire(self, v: Volume, user: str) -> None:
        """Mount the volume for ``user`` if it needs a mount and is not mounted yet."""
        if not v.needs_mount:
            return
        with self._lock:
            users = self._users.setdefault(v.name, set())
            if not users and not m.is_mountpoint(v.mountpoint):
                self._mount(v)
            users.add(user)

    def release(self, name: str, user: str) -> None:
        with self._lock:
            users = self._users.get(name)
            if users is None:
                return
            users.discard(user)
            if not users:
                del self._users[name]
                try:
                    m.unmount(os.path.join(self._dir(name), "_data"))
                except OSError as e:
                    log.warning("unmounting volume %s failed: %s", name, e)

    def mounted_users(self) -> dict[str, set[str]]:
        with self._lock:
            return {k: set(v) for k, v in self._users.items()}

    def _mount(self, v: Volume) -> None:
        o = v.options
        kind, device = o.get("type", ""), o.get("device", "")
        flags, data = 0, []
        for opt in filter(None, o.get("o", "").split(",")):
            if opt == "bind":
                flags |= m.MS_BIND
            elif opt == "rbind":
                flags |= m.MS_BIND | m.MS_REC
            elif opt == "ro":
                flags |= m.MS_RDONLY
            elif opt in ("nosuid", "nodev", "noexec"):
                flags |= {"nosuid": m.MS_NOSUID, "nodev": m.MS_NODEV, "noexec": m.MS_NOEXEC}[opt]
            elif opt != "rw":
                data.append(opt)
        if o.get("size") and kind == "tmpfs":
            data.append(f"size={o['size']}")
        try:
            if flags & m.MS_BIND:
                m.mount(device, v.mountpoint, None, flags & (m.MS_BIND | m.MS_REC))
                if flags & m.MS_RDONLY:
                    m.mount(None, v.mountpoint, None, m.MS_REMOUNT | m.MS_BIND | m.MS_RDONLY)
            else:
                m.mount(device or kind, v.mountpoint, kind, flags, ",".join(data) or None)
        except OSError as e:
            raise InvalidArgument(f"error while mounting volume '{v.mountpoint}': failed to "
                                  f"mount local volume: {e.strerror}") from None

    # ---- restart ------------------------------------------------------------------------

    def reconcile(self, users: dict[str, set[str]]) -> None:
        """After a daemon restart: drop temp dirs a crash left, directories without a record,
        and mounts of volumes no running container uses; adopt the others' users."""
        known = {v.name: v for v in self.list()}
        for entry in os.listdir(self.root):
            path = self._dir(entry)
            if entry.startswith(".tmp-") or entry not in known:
                log.info("removing leftover volume directory %s", entry)
                m.unmount(os.path.join(path, "_data"))
                shutil.rmtree(path, ignore_errors=True)
        for name, v in known.items():
            os.makedirs(v.mountpoint, exist_ok=True)
            if not v.needs_mount:
                continue
            if users.get(name):
                with self._lock:
                    self._users[name] = set(users[name])
                    if not m.is_mountpoint(v.mountpoint):
                        self._mount(v)
            elif m.is_mountpoint(v.mountpoint):
                log.info("unmounting unused volume %s", name)
                m.unmount(v.mountpoint)
