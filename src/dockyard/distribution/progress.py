"""Docker's JSON progress messages (``JSONMessage``), built once for pull and push.

The docker CLI renders ``progressDetail`` itself; ``progress`` is the pre-rendered bar older
clients print. Byte updates are throttled per layer so a fast loopback pull does not send
thousands of messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..humanize import human_size

Emit = Callable[[dict], None]
_INTERVAL = 0.1


def bar(current: int, total: int) -> str:
    if total <= 0:
        return f"{human_size(current, 4):>8}" if current > 0 else ""
    pct = min(int(current / total * 100) // 2, 50)
    box = "[" + "=" * pct + ">" + " " * (50 - pct) + "] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}" if current <= total else ""
    return box + numbers


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class Progress:
    """Thread-safe emitter of status lines and throttled byte counters."""

    def __init__(self, emit: Emit):
        self._emit = emit
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._start: dict[str, int] = {}

    def message(self, msg: dict) -> None:
        with self._lock:
            self._emit(msg)

    def status(self, status: str, id: str | None = None, layer: bool = True) -> None:
        """A status line; per-layer ones carry an empty ``progressDetail``, which tells the
        docker CLI to redraw that layer's line in place."""
        msg: dict = {"status": status}
        if id and layer:
            msg["progressDetail"] = {}
        if id:
            msg["id"] = id
        self.message(msg)

    def bytes(self, id: str, action: str, current: int, total: int, force: bool = False
              ) -> None:
        now = time.monotonic()
        key = (id, action)
        last = self._last.get(key, 0.0)
        if not force and now - last < _INTERVAL and current < total:
            return
        self._last[key] = now
        start = self._start.setdefault(id, int(time.time()))
        self.message({"status": action,
                      "progressDetail": {"current": current, "total": total, "start": start},
                      "progress": bar(current, total), "id": id})

    def aux(self, data: dict) -> None:
        self.message({"progressDetail": {}, "aux": data})
