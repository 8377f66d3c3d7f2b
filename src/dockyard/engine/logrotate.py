"""Container logs that do not fill the disk: ``--log-opt max-size=10m --log-opt max-file=3``.

conmon's ``--log-size-max`` bounds the file but keeps nothing: at the limit it opens
``<log>.tmp`` (O_CREAT) and renames it over the log, so the old inode is simply dropped
(conmon 2.1, ``reopen_k8s_file``). To keep ``max-file - 1`` old files, the daemon holds a hard
link (``<log>.keep``) to the inode conmon is writing, and creates conmon's next file in advance:
an empty ``<log>.tmp`` that is also named ``<log>.next``. When inotify reports a rename over the
log, the complete files (conmon closed them before renaming) move into the rotation chain
``<log>.1`` (newest) … ``<log>.N``, oldest first, ``.keep`` moves to the current file and a new
``.next`` is made. So a file is never without a name of ours: even when conmon rotates twice
before the daemon reacts (a busy loop, a stopped daemon), the first file is ``.keep``, the
second ``.next`` and the third the log itself. Nothing is copied, nothing polled. Rotations
while the daemon is down are caught up when the container is tracked again (the inodes differ);
only a third one before it reacts drops a file, the price of a bounded disk without the daemon.
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
BUILTIN_OPTS = {"max-size": "10m", "max-file": str(DEFAULT_MAX_FILE)}
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
    """The container's LogConfig as stored, checked at create time rather than at start: the
    client's options plus those the operator gave the daemon (``--log-opt``), as Docker merges
    daemon.json's; the built-in 10m x 3 stays internal, so a plain container shows ``{}`` as
    Docker's does. ``none`` keeps no log to read."""
    lc = log_config or {}
    if not isinstance(lc, dict):
        raise InvalidArgument("HostConfig.LogConfig must be an object")
    kind = lc.get("Type") or ""
    if not isinstance(kind, str) or (kind not in DRIVERS and kind != "none"):
        raise InvalidArgument(f"logger: no log driver named '{kind}' is registered")
    given = lc.get("Config") or {}
    if not isinstance(given, dict):
        raise InvalidArgument("HostConfig.LogConfig.Config must be an object")
    driver = "none" if kind == "none" else "json-file"
    for key in given:
        if driver == "none" or key not in ("max-size", "max-file", "mode", "compress",
                                           "labels", "env", "tag"):
            raise InvalidArgument(f"unknown log opt '{key}' for {driver} log driver")
    opts = {str(k): str(v) for k, v in given.items()}
    limits({**defaults, **opts})
    if driver == "json-file":
        operator = {k: v for k, v in defaults.items() if BUILTIN_OPTS.get(k) != v}
        opts = {**operator, **opts}
    return {"Type": driver, "Config": opts}


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
    opts = dict(BUILTIN_OPTS)
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid --log-opt {item!r}: want key=value")
        opts[key.strip()] = value.strip()
    limits(opts)
    return opts


def rotate(path: str, max_file: int) -> bool:
    """Bring the chain up to date with the rotations conmon did since the last call, oldest
    file first; link the file conmon writes now and prepare the one it writes next. True when
    files were shifted into the chain."""
    keep, nxt, tmp = path + ".keep", path + ".next", path + ".tmp"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # no output yet
    try:
        cur = _ino(os.fstat(fd))
        prepared = _ino(_stat(tmp))
        done: list[str] = []  # complete files conmon left behind, oldest first
        seen = {cur}
        for name in (keep, nxt):
            ino = _ino(_stat(name))
            if ino is None or ino in seen or (name == nxt and ino == prepared):
                continue  # missing, the current file, or the next one still unused
            done.append(name)
            seen.add(ino)
        _shift(path, max_file, done)
        if _ino(_stat(keep)) != cur:
            _link_fd(fd, keep)
        if _ino(_stat(nxt)) == cur:  # conmon took the prepared file: .keep names it now
            os.unlink(nxt)
        _prepare_next(path)
        return bool(done)
    finally:
        os.close(fd)


def _shift(path: str, max_file: int, done: list[str]) -> None:
    """Make room for ``done`` at the young end of ``<log>.1`` … ``<log>.(max_file-1)``."""
    m = len(done)
    if m:
        for i in range(max_file - 1, 0, -1):
            older = f"{path}.{i}"
            try:
                if i + m <= max_file - 1:
                    os.rename(older, f"{path}.{i + m}")
                else:
                    os.unlink(older)
            except FileNotFoundError:
                pass
        for i, name in enumerate(reversed(done), start=1):  # the newest becomes .1
            if i <= max_file - 1:
                os.rename(name, f"{path}.{i}")
            else:
                os.unlink(name)
    for i in range(max_file, max_file + 8):  # max-file lowered since: drop the extra ones
        try:
            os.unlink(f"{path}.{i}")
        except FileNotFoundError:
            break


def _prepare_next(path: str) -> None:
    """Create the file conmon opens at its next rotation (``<log>.tmp``, which conmon opens
    with O_CREAT and renames over the log) under a second name of ours (``<log>.next``): the
    next file has a name that survives even a further rotation before the daemon reacts."""
    nxt, tmp = path + ".next", path + ".tmp"
    if _stat(tmp) is not None or _stat(nxt) is not None:
        return  # ready, or conmon is between its open and its rename: the event follows
    fd = os.open(nxt, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    try:
        os.link(nxt, tmp)
    except FileExistsError:  # conmon just created its own
        os.unlink(nxt)


def discard_prepared(path: str) -> None:
    """Remove the unused next file (conmon is gone; a new conmon appends to the log)."""
    nxt, tmp = path + ".next", path + ".tmp"
    a, b = _ino(_stat(nxt)), _ino(_stat(tmp))
    if a is not None and a == b:
        for name in (tmp, nxt):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass


def _stat(name: str) -> os.stat_result | None:
    try:
        return os.stat(name)
    except FileNotFoundError:
        return None


def _ino(st: os.stat_result | None) -> tuple[int, int] | None:
    return None if st is None else (st.st_dev, st.st_ino)


def _link_fd(fd: int, name: str) -> None:
    """Give the open file (not whatever the log's name points to by now) the name ``name``."""
    src = f"/proc/self/fd/{fd}"
    # With a directory fd, os.link is linkat(..., AT_SYMLINK_FOLLOW); plain link(2) would try
    # to link the /proc symlink itself.
    dir_fd = os.open(os.path.dirname(name) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        base = os.path.basename(name)
        try:
            os.link(src, base, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:
            os.unlink(base, dir_fd=dir_fd)
            os.link(src, base, dst_dir_fd=dir_fd, follow_symlinks=True)
    finally:
        os.close(dir_fd)


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
            discard_prepared(path)
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
