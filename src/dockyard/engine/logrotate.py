"""Container logs that do not fill the disk: ``--log-opt max-size=10m --log-opt max-file=3``.

conmon's ``--log-size-max`` bounds the file but keeps nothing: at the limit it opens a fresh
``<log>.tmp`` and renames it over the log, so the old inode is simply dropped (conmon 2.1,
``reopen_k8s_file``). To keep ``max-file - 1`` old files, the daemon holds a hard link
(``<log>.keep``) to the inode conmon is writing. When inotify reports the rename over the log,
the kept inode (complete: conmon closed it before the rename) moves into the rotation chain
``<log>.1`` (newest) … ``<log>.N`` and the link moves to the new inode. Nothing is copied,
nothing polled, and no line is lost to a copy/truncate race. A rotation that happens while the
daemon is down is caught up when the container is tracked again (the inodes differ).
"""

from __future__ import annotations

import asyncio
import logging
import os

from ..errors import InvalidArgument
from ..runtime.logfile import rotated_paths  # noqa: F401  (the readers' view of the chain)
from ..sys import inotify

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILE = 3
DRIVERS = ("", "json-file", "k8s-file", "local")
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
          "g": 1024 ** 3, "gb": 1024 ** 3}


def parse_size(value: str) -> int:
    """Docker's max-size: "10m", "1g", "512k", "4096" (binary units)."""
    text = str(value).strip().lower()
    num = text.rstrip("bkmg")
    unit = text[len(num):]
    try:
        n = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid max-size {value!r}: want a size like 10m") from None
    if unit not in _UNITS or n < 0:
        raise InvalidArgument(f"invalid max-size {value!r}: want a size like 10m")
    return int(n * _UNITS[unit])


def effective_config(log_config: dict | None, defaults: dict[str, str]) -> dict:
    """The container's LogConfig with the daemon's defaults filled in, checked (a create-time
    error rather than a start-time one)."""
    lc = log_config or {}
    if not isinstance(lc, dict):
        raise InvalidArgument("HostConfig.LogConfig must be an object")
    kind = lc.get("Type") or ""
    if kind not in DRIVERS:
        raise InvalidArgument(f"logging driver {kind!r} is not supported: use json-file "
                              "(with --log-opt max-size and max-file)")
    opts = dict(defaults)
    given = lc.get("Config") or {}
    if not isinstance(given, dict):
        raise InvalidArgument("HostConfig.LogConfig.Config must be an object")
    for key, value in given.items():
        if key not in ("max-size", "max-file", "mode", "compress", "labels", "env", "tag"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
        opts[key] = str(value)
    limits(opts)
    return {"Type": "json-file", "Config": opts}


def limits(opts: dict[str, str]) -> tuple[int, int]:
    """(max size in bytes or 0 for none, number of files kept including the current one)."""
    size = parse_size(opts["max-size"]) if opts.get("max-size") not in (None, "", "-1") else 0
    try:
        files = int(opts.get("max-file") or 1)
    except ValueError:
        raise InvalidArgument(f"invalid max-file {opts.get('max-file')!r}") from None
    if files < 1:
        raise InvalidArgument("max-file cannot be less than 1")
    if files > 1 and not size:
        raise InvalidArgument("max-file cannot be set without max-size")
    return size, files


def parse_daemon_opts(items: list[str]) -> dict[str, str]:
    """``dockyard daemon --log-opt max-size=10m --log-opt max-file=3``."""
    opts = {"max-size": "10m", "max-file": str(DEFAULT_MAX_FILE)}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid --log-opt {item!r}: want key=value")
        opts[key.strip()] = value.strip()
    limits(opts)
    return opts


def rotate(path: str, max_file: int) -> bool:
    """If conmon replaced the log since we linked it, shift the kept inode into the chain.
    True when a rotation was done."""
    keep = path + ".keep"
    try:
        kept = os.stat(keep)
    except FileNotFoundError:
        _link(path, keep)
        return False
    try:
        cur = os.stat(path)
    except FileNotFoundError:
        return False
    if (kept.st_ino, kept.st_dev) == (cur.st_ino, cur.st_dev):
        return False
    for i in range(max_file - 1, 1, -1):
        try:
            os.rename(f"{path}.{i - 1}", f"{path}.{i}")
        except FileNotFoundError:
            pass
    os.rename(keep, f"{path}.1")
    for i in range(max_file, max_file + 8):  # max-file lowered since: drop the extra ones
        try:
            os.unlink(f"{path}.{i}")
        except FileNotFoundError:
            break
    _link(path, keep)
    return True


def _link(path: str, keep: str) -> None:
    try:
        os.link(path, keep)
    except FileExistsError:
        os.unlink(keep)
        os.link(path, keep)
    except FileNotFoundError:
        pass


def container_limits(host_config: dict, defaults: dict[str, str]) -> tuple[int, int]:
    """(max size, files) of a container, also one created before rotation existed."""
    lc = host_config.get("LogConfig") or {}
    opts = dict(defaults)
    opts.update({k: str(v) for k, v in (lc.get("Config") or {}).items()})
    try:
        return limits(opts)
    except InvalidArgument:
        return limits(defaults)


class LogRotator:
    """One inotify instance for all containers whose logs keep more than one file."""

    def __init__(self) -> None:
        self._ino: inotify.Inotify | None = None
        self._by_wd: dict[int, tuple[str, str, int]] = {}  # wd -> (cid, path, max_file)
        self._wd_of: dict[str, int] = {}

    def track(self, cid: str, path: str, max_file: int) -> None:
        if max_file < 2 or cid in self._wd_of:
            return
        if self._ino is None:
            self._ino = inotify.Inotify()
            asyncio.get_running_loop().add_reader(self._ino.fileno(), self._ready)
        rotate(path, max_file)  # caught up (a rotation while the daemon was down), linked
        wd = self._ino.add_watch(os.path.dirname(path), inotify.IN_MOVED_TO | inotify.IN_ONLYDIR)
        self._by_wd[wd] = (cid, path, max_file)
        self._wd_of[cid] = wd

    def untrack(self, cid: str) -> None:
        """conmon is gone: take in a last rotation; the current file stays the log."""
        wd = self._wd_of.pop(cid, None)
        if wd is None:
            return
        _, path, max_file = self._by_wd.pop(wd)
        try:
            self._ino.rm_watch(wd)
        except OSError:
            pass
        try:
            rotate(path, max_file)
            os.unlink(path + ".keep")
        except OSError as e:
            log.debug("log rotation of %s at exit: %s", cid[:12], e)

    def _ready(self) -> None:
        for ev in self._ino.read():
            entry = self._by_wd.get(ev.wd)
            if entry is None or ev.name != os.path.basename(entry[1]):
                continue
            try:
                rotate(entry[1], entry[2])
            except OSError as e:
                log.warning("log rotation of %s failed: %s", entry[0][:12], e)
