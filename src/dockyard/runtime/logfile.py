"""Read conmon's k8s-file container logs: ``<RFC3339Nano> stdout|stderr F|P <text>``.

conmon splits a line it received in pieces ("P", partial, with a newline added) and ends it
with "F"; readers join the pieces back so ``docker logs`` shows the lines the program wrote.
Timestamps come back in Docker's form (UTC, nine digits, "Z") whatever zone conmon used.
Following uses inotify on the file, never sleep-polling.
"""

from __future__ import annotations

import asyncio
import calendar
import inspect
import itertools
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from dockyard.sys import inotify

Record = tuple[str, str, bytes]  # (stream, timestamp, line including its newline)
StopSignal = asyncio.Event | Awaitable | Callable[[], Awaitable]

_CHUNK = 1 << 16


def parse_timestamp(ts: bytes) -> tuple[int, int] | None:
    """``2024-01-02T03:04:05.123456789+01:00`` (or ``Z``) → (unix seconds, nanoseconds)."""
    try:
        s = ts.decode("ascii")
        date, rest = s[:19], s[19:]
        tt = (int(date[0:4]), int(date[5:7]), int(date[8:10]), int(date[11:13]), int(date[14:16]), int(date[17:19]))
        if date[4] != "-" or date[10] != "T" or date[13] != ":":
            return None
        nanos = 0
        if rest.startswith("."):
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            frac = rest[1:i]
            nanos = int((frac + "000000000")[:9]) if frac else 0
            rest = rest[i:]
        if rest == "Z":
            offset = 0
        elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
            offset = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (1 if rest[0] == "+" else -1)
        else:
            return None
        return calendar.timegm(tt) - offset, nanos
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def format_timestamp(sec: int, nanos: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{nanos:09d}Z"


class _Parser:
    """Incremental: feed bytes as they arrive; complete (joined) records come out."""

    def __init__(self, stdout: bool, stderr: bool, since: float, until: float,
                 partial: bool = False) -> None:
        self.partial = partial  # live attach: pieces go out as they come (a prompt has no newline)
        self.want = {b"stdout": stdout, b"stderr": stderr}
        self.since = since
        self.until = until
        self.buf = b""
        self.pending: dict[bytes, tuple[int, int, list[bytes]]] = {}
        self.past_until = False

    def feed(self, data: bytes) -> Iterator[Record]:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                return
            line, self.buf = self.buf[: nl + 1], self.buf[nl + 1 :]
            rec = self._line(line)
            if rec is not None:
                yield rec

    def flush(self) -> Iterator[Record]:
        """Pieces never ended by an "F" (the program's last output had no newline)."""
        for stream, (sec, ns, parts) in sorted(self.pending.items(), key=lambda kv: kv[1][:2]):
            rec = self._emit(stream, sec, ns, b"".join(parts))
            if rec is not None:
                yield rec
        self.pending.clear()

    def _line(self, line: bytes) -> Record | None:
        parts = line.split(b" ", 3)
        if len(parts) != 4 or parts[2] not in (b"F", b"P"):
            return None  # torn or foreign line: skip rather than fail the whole log
        ts = parse_timestamp(parts[0])
        stream = parts[1]
        if ts is None or stream not in self.want:
            return None
        text = parts[3]
        if self.partial:
            return self._emit(stream, ts[0], ts[1], text[:-1] if parts[2] == b"P" else text)
        if parts[2] == b"P":
            text = text[:-1]  # conmon's added newline
            sec, ns, pieces = self.pending.setdefault(stream, (ts[0], ts[1], []))
            pieces.append(text)
            return None
        if stream in self.pending:
            sec, ns, pieces = self.pending.pop(stream)
            pieces.append(text)
            return self._emit(stream, sec, ns, b"".join(pieces))
        return self._emit(stream, ts[0], ts[1], text)

    def _emit(self, stream: bytes, sec: int, ns: int, text: bytes) -> Record | None:
        if not self.want[stream]:
            return None
        t = sec + ns / 1e9
        if self.since and t < self.since:
            return None
        if self.until and t > self.until:
            self.past_until = True
            return None
        return stream.decode(), format_timestamp(sec, ns), text


def read_log(
    path: str,
    stdout: bool = True,
    stderr: bool = True,
    since: float = 0,
    until: float = 0,
    tail: int = -1,
) -> Iterator[Record]:
    """Everything logged so far, rotated files (``<log>.N`` … ``<log>.1``) first; ``tail`` >= 0
    keeps only the last lines; a missing file is an empty log (the container never wrote)."""
    parser = _Parser(stdout, stderr, since, until)
    yield from _limit(_drain_files(rotated_paths(path), parser, final=True), tail)


def rotated_paths(path: str) -> list[str]:
    """The log's files, oldest first (engine/logrotate.py names them)."""
    older = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        older.append(f"{path}.{i}")
        i += 1
    return older[::-1] + [path]


def _drain_files(paths: list[str], parser: _Parser, final: bool) -> Iterator[Record]:
    for p in paths:
        try:
            f = open(p, "rb")
        except FileNotFoundError:  # rotated away meanwhile
            continue
        with f:
            yield from _drain(f, parser, final=False)
    if final:
        yield from parser.flush()


def _drain(f, parser: _Parser, final: bool) -> Iterator[Record]:
    while chunk := f.read(_CHUNK):
        yield from parser.feed(chunk)
    if final:
        yield from parser.flush()


def _limit(records: Iterator[Record], tail: int) -> Iterator[Record]:
    if tail < 0:
        yield from records
    elif tail > 0:
        yield from deque(records, maxlen=tail)
    else:
        deque(records, maxlen=0)


async def follow_log(
    path: str,
    stdout: bool = True,
    stderr: bool = True,
    since: float = 0,
    until: float = 0,
    tail: int = -1,
    *,
    stop: StopSignal,
    partial: bool = False,
) -> AsyncIterator[Record]:
    """What ``read_log`` gives, then new lines as conmon writes them, until ``stop`` fires (an
    asyncio.Event, an awaitable such as the container's exit future, or a callable returning
    one) and the file is drained. Wake-ups come from inotify, so an idle log costs nothing."""
    loop = asyncio.get_running_loop()
    stop_task = asyncio.ensure_future(_stop_awaitable(stop))
    ino = inotify.Inotify()
    wake = asyncio.Event()
    try:
        # Watch the directory too, so a log file that does not exist yet is picked up.
        directory = os.path.dirname(os.path.abspath(path))
        ino.add_watch(directory, inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_ONLYDIR)
        loop.add_reader(ino.fileno(), lambda: (ino.read(), wake.set()))
        parser = _Parser(stdout, stderr, since, until, partial)
        f = None
        first = True
        try:
            while True:
                if f is None:
                    try:
                        f = open(path, "rb")
                        ino.add_watch(path, inotify.IN_MODIFY)
                    except FileNotFoundError:
                        f = None
                wake.clear()
                if f is not None:
                    records = _drain(f, parser, final=False)
                    if first:
                        older = _drain_files(rotated_paths(path)[:-1], parser, final=False)
                        records = iter(list(_limit(itertools.chain(older, records), tail)))
                        first = False
                    for rec in records:
                        yield rec
                    if parser.past_until:
                        return
                    if _replaced(f, path):
                        # conmon rotated: the old inode is complete; go on with the new file.
                        for rec in _drain(f, parser, final=False):
                            yield rec
                        f.close()
                        f = None
                        wake.set()
                        continue
                if stop_task.done():
                    if f is not None:
                        for rec in _drain(f, parser, final=True):
                            yield rec
                    return
                waiter = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait({waiter, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
        finally:
            if f is not None:
                f.close()
            loop.remove_reader(ino.fileno())
    finally:
        ino.close()
        stop_task.cancel()


def _replaced(f, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return st.st_ino != os.fstat(f.fileno()).st_ino


async def _stop_awaitable(stop: StopSignal) -> None:
    if isinstance(stop, asyncio.Event):
        await stop.wait()
        return
    if callable(stop) and not inspect.isawaitable(stop):
        stop = stop()
    await stop  # type: ignore[misc]
