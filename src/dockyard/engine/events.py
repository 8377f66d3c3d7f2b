"""In-process event bus behind ``GET /events``: a bounded history plus live subscribers.

Events come from the loop and from worker threads (commit, image delete and prune run in
threads): the history is appended at once, delivery to the subscribers' queues always happens
on the loop (asyncio queues are not thread-safe)."""

import asyncio
import threading
import time
from collections import deque

# Old-style top-level fields (status, id, from) that dockerd still sends for these types.
_LEGACY_TYPES = ("container", "image")


class EventBus:
    def __init__(self, history: int = 1000):
        self._history: deque[dict] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def emit(self, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> None:
        event = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes or {}},
            "scope": "local",
        }
        if type_ in _LEGACY_TYPES:
            event.update(status=action, id=actor_id)
        if type_ == "container":
            event["from"] = (attributes or {}).get("image", "")
        with self._lock:  # time and history in one order, whichever thread emits
            now = time.time_ns()
            event.update(time=now // 1_000_000_000, timeNano=now)
            self._history.append(event)
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._deliver(event)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: dict) -> None:
        for q in list(self._subscribers):
            if q.qsize() < 10000:
                q.put_nowait(event)

    def since(self, since_ns: int, until_ns: int | None = None) -> list[dict]:
        with self._lock:
            history = list(self._history)
        return [e for e in history
                if e["timeNano"] >= since_ns and (until_ns is None or e["timeNano"] <= until_ns)]

    def subscribe(self) -> asyncio.Queue:
        self._loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subscribers.discard(q)


def emit_image(events: EventBus, action: str, image_id: str, name: str | None = None) -> None:
    """An image event as dockerd 20.10 writes it: the image id as actor, ``name`` the ref for
    tag/pull/push and the id for the others."""
    events.emit("image", action, image_id, {"name": name or image_id})
