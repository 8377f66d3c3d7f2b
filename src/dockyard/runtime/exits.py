"""Container exits as events: conmon renames ``<exit_dir>/<cid>`` into place when a container
dies, and inotify tells us at once. No polling loop, and it works for containers started by an
earlier daemon (their conmon keeps writing to the same directory)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from dockyard.sys import inotify

log = logging.getLogger(__name__)


class ExitWatcher:
    """Watches conmon's exit directory with inotify (fd registered with loop.add_reader)."""

    def __init__(self, exit_dir: str, on_exit: Callable[[str], None]) -> None:
        self.exit_dir = exit_dir
        self.on_exit = on_exit
        self._ino: inotify.Inotify | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop, replay_existing: bool = False) -> None:
        """Begin watching. With ``replay_existing`` every exit file already present is reported
        too (after the watch is armed, so none is missed): a restarted daemon learns of the
        exits that happened while it was down. Callbacks may see a cid twice; be idempotent."""
        if self._ino is not None:
            return
        os.makedirs(self.exit_dir, exist_ok=True)
        self._loop = loop
        self._ino = inotify.Inotify()
        # glib writes a temp file and renames it over <cid>: IN_MOVED_TO is the one event that
        # means "complete exit file"; the temp file's own CLOSE_WRITE is ignored.
        self._ino.add_watch(self.exit_dir, inotify.IN_MOVED_TO | inotify.IN_ONLYDIR)
        loop.add_reader(self._ino.fileno(), self._readable)
        if replay_existing:
            for name in sorted(os.listdir(self.exit_dir)):
                loop.call_soon(self._fire, name)

    def _readable(self) -> None:
        if self._ino is None:
            return
        for ev in self._ino.read():
            if ev.mask & inotify.IN_Q_OVERFLOW:
                # Events were dropped: report every exit file; receivers are idempotent.
                for name in sorted(os.listdir(self.exit_dir)):
                    self._fire(name)
            elif ev.name:
                self._fire(ev.name)

    def _fire(self, cid: str) -> None:
        if not os.path.exists(os.path.join(self.exit_dir, cid)):
            return
        try:
            self.on_exit(cid)
        except Exception:  # a bad callback must not stop exit delivery for everyone else
            log.exception("exit callback failed for %s", cid)

    def close(self) -> None:
        if self._ino is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._ino.fileno())
            self._ino.close()
            self._ino = None
