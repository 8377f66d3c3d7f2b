"""The build's JSON message stream, in stage order although stages run concurrently.

Each stage writes into its own channel. The first unfinished stage (in Dockerfile order)
streams live; the others are buffered and flushed when every stage before them is done, so
the classic builder's ``Step N/M`` log reads as if the stages ran one after another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Emit = Callable[[dict], None]


class Output:
    def __init__(self, emit: Emit, order: list[int], quiet: bool = False):
        self._emit = emit
        self._order = list(order)
        self._pos = 0
        self._buffers: dict[int, list[dict]] = {i: [] for i in order}
        self._closed: set[int] = set()
        self._lock = threading.Lock()
        self.quiet = quiet
        self.held: list[dict] = []  # quiet mode: everything, shown only if the build fails

    def _send(self, msg: dict) -> None:
        if self.quiet and "stream" in msg:
            self.held.append(msg)
        else:
            self._emit(msg)

    def write(self, stage: int | None, msg: dict) -> None:
        with self._lock:
            if stage is None or self._pos >= len(self._order) or \
                    self._order[self._pos] == stage:
                self._send(msg)
            else:
                self._buffers.setdefault(stage, []).append(msg)

    def close(self, stage: int) -> None:
        with self._lock:
            self._closed.add(stage)
            while self._pos < len(self._order) and self._order[self._pos] in self._closed:
                self._pos += 1
                if self._pos < len(self._order):
                    nxt = self._order[self._pos]
                    for m in self._buffers.pop(nxt, []):
                        self._send(m)

    def flush_all(self) -> None:
        """On failure: whatever other stages wrote, after the live one."""
        with self._lock:
            for i in self._order[self._pos:]:
                for m in self._buffers.pop(i, []):
                    self._send(m)
            self._pos = len(self._order)

    def release_held(self) -> None:
        """Quiet mode, build failed: the output shown after all (as docker -q does)."""
        with self._lock:
            held, self.held = self.held, []
            for m in held:
                self._emit(m)

    def stream(self, stage: int | None, text: str) -> None:
        self.write(stage, {"stream": text})

    def direct(self, msg: dict) -> None:
        with self._lock:
            self._emit(msg)


class Channel:
    """One stage's writer."""

    def __init__(self, out: Output, stage: int):
        self.out = out
        self.stage = stage

    def __call__(self, text: str) -> None:
        self.out.stream(self.stage, text)

    def msg(self, msg: dict) -> None:
        self.out.write(self.stage, msg)
