"""In-process event bus behind ``GET /events``: a bounded history plus live subscribers."""

import asyncio
import time
from collections import deque


class EventBus:
    def __init__(self, history: int = 1000):
        self._history: deque[dict] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue] = set()

    def emit(self, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> None:
        now = time.time_ns()
        event = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes or {}},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        if type_ == "container":
            event.update(status=action, id=actor_id, **{"from": (attributes or {}).get("image", "")})
        self._history.append(event)
        for q in list(self._subscribers):
            if q.qsize() < 10000:
                q.put_nowait(event)

    def since(self, since_ns: int, until_ns: int | None = None) -> list[dict]:
        return [e for e in self._history
                if e["timeNano"] >= since_ns and (until_ns is None or e["timeNano"] <= until_ns)]

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subscribers.discard(q)
