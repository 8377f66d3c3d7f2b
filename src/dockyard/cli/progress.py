"""Render a stream of docker ``JSONMessage`` lines (pull, push, build, load) as docker does.

On a terminal each ``id`` owns a line that is redrawn in place (cursor up, clear, write,
cursor down) with a bar, bytes, time left and speed; elsewhere only status lines are printed,
no bars. ``stream`` text is copied through, ``aux`` goes to a callback, ``error`` ends the
stream with a CLIError. Standard library only: the CLI imports it on its hot path.
"""

from __future__ import annotations

import os
import sys
import time

from dockyard.cli.base import CLIError
from dockyard.client import loads_stream
from dockyard.humanize import human_size as _human_size


def human_size(n: float) -> str:
    """go-units HumanSize (four significant digits): ``2.765MB``."""
    return _human_size(n, 4)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO


def _duration(seconds: int) -> str:
    """Go's Duration.String for whole seconds: ``1m5s``, ``42s``."""
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def progress_text(detail: dict, width: int, now: float | None = None,
                  rate: float | None = None) -> str:
    """JSONProgress.String: ``[====>   ]  1.2MB/3.4MB 2s`` (bar only on wide terminals)."""
    cur = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    if cur <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(cur):>8}"
    pct = min(int(cur / total * 100) // 2, 50)
    box = f"[{'=' * pct}>{' ' * (50 - pct)}] " if width > 110 else ""
    numbers = f"{human_size(cur):>8}/{human_size(total)}" if cur <= total else ""
    left = ""
    start = int(detail.get("start") or 0)
    if cur > 0 and start > 0 and pct < 50 and width > 50:
        elapsed = (now or time.time()) - start
        if elapsed > 0:
            left = " " + _duration(int((total - cur) * (elapsed / cur)))
    speed = f" {human_size(rate)}/s" if rate and width > 80 else ""
    return box + numbers + left + speed


class Renderer:
    """Feeds on decoded messages; keeps the per-id line table of docker's display loop."""

    def __init__(self, out: TextIO, tty: bool, on_aux: Callable[[Any], None] | None = None):
        self.out = out
        self.tty = tty
        self.on_aux = on_aux
        self.ids: dict[str, int] = {}
        self.width = _width(out) if tty else 200
        self._rates: dict[str, tuple[float, int]] = {}

    def _rate(self, key: str, detail: dict) -> float | None:
        cur = int(detail.get("current") or 0)
        now = time.monotonic()
        first = self._rates.setdefault(key, (now, cur))
        dt = now - first[0]
        return (cur - first[1]) / dt if dt > 0.2 else None

    def show(self, msg: dict) -> None:
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            text = msg.get("error") or detail.get("message") or "unknown error"
            raise CLIError(str(text), 1)
        if "aux" in msg:
            if self.on_aux is not None:
                self.on_aux(msg["aux"])
            return
        out = self.out
        id_ = msg.get("id") or ""
        detail = msg.get("progressDetail")
        has_progress = isinstance(detail, dict)
        diff = 0
        if id_ and has_progress:
            line = self.ids.get(id_)
            if line is None:
                line = len(self.ids)
                self.ids[id_] = line
                if self.tty:
                    out.write("\n")
            diff = len(self.ids) - line
            if self.tty and diff:
                out.write(f"\x1b[{diff}A")
        else:
            self.ids = {}
        endl = ""
        text = ""
        if has_progress and not msg.get("stream"):
            assert isinstance(detail, dict)
            if self.tty:
                out.write("\x1b[2K\r")
                endl = "\r"
                text = progress_text(detail, self.width,
                                     rate=self._rate(f"{id_}/{msg.get('status')}", detail)
                                     if detail else None)
            elif progress_text(detail, 200):
                return  # no bars off a terminal
        if id_:
            out.write(f"{id_}: ")
        if msg.get("stream"):
            out.write(str(msg["stream"]) + endl)
        elif has_progress and self.tty:
            out.write(f"{msg.get('status', '')} {text}{endl}")
        else:
            out.write(f"{msg.get('status', '')}{endl}\n")
        if id_ and self.tty and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()


def _width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 200


def render(chunks: Iterable[bytes], out: TextIO | None = None, tty: bool | None = None,
           on_aux: Callable[[Any], None] | None = None, quiet: bool = False) -> None:
    """Decode newline-separated JSON messages as they arrive and show them."""
    out = out or sys.stdout
    if tty is None:
        try:
            tty = out.isatty()
        except (AttributeError, ValueError):
            tty = False
    r = Renderer(out, bool(tty), on_aux)
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        text, pending = pending[:cut + 1], pending[cut + 1:]
        _feed(r, text, quiet)
    if pending.strip():
        _feed(r, pending, quiet)


def _feed(r: Renderer, text: bytes, quiet: bool) -> None:
    for msg in loads_stream(text.decode("utf-8", "replace")):
        if not isinstance(msg, dict):
            continue
        if quiet:
            if msg.get("error") or msg.get("errorDetail"):
                r.show(msg)
            elif "aux" in msg and r.on_aux is not None:
                r.on_aux(msg["aux"])
            continue
        r.show(msg)
