"""Container records in SQLite (one row per container, JSON body), and id/name resolution."""

import json
import re
import threading

from ..errors import Conflict, InvalidArgument, NotFound
from .model import Container

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS containers (
        id TEXT PRIMARY KEY,
        name TEXT UNIQUE NOT NULL,
        created TEXT NOT NULL,
        body TEXT NOT NULL
    )""",
]

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def validate_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


class ContainerRepo:
    """In-memory map backed by SQLite: reads are dict lookups, writes go through to disk."""

    def __init__(self, meta):
        self._meta = meta
        meta.migrate("containers", _SCHEMA)
        self._lock = threading.Lock()
        self._by_id: dict[str, Container] = {}
        for (body,) in meta.conn.execute("SELECT body FROM containers ORDER BY created"):
            c = Container.from_record(json.loads(body))
            self._by_id[c.id] = c

    def all(self) -> list[Container]:
        return list(self._by_id.values())

    def add(self, c: Container) -> None:
        with self._lock:
            if any(o.name == c.name for o in self._by_id.values()):
                other = next(o for o in self._by_id.values() if o.name == c.name)
                raise Conflict(
                    f'Conflict. The container name "/{c.name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            self._by_id[c.id] = c
            self._write(c)

    def save(self, c: Container) -> None:
        with self._lock:
            if c.id in self._by_id:
                self._write(c)

    def _write(self, c: Container) -> None:
        with self._meta.transaction():
            self._meta.conn.execute(
                "INSERT OR REPLACE INTO containers (id, name, created, body) VALUES (?,?,?,?)",
                (c.id, c.name, c.created, json.dumps(c.to_record())),
            )

    def delete(self, cid: str) -> None:
        with self._lock:
            self._by_id.pop(cid, None)
            with self._meta.transaction():
                self._meta.conn.execute("DELETE FROM containers WHERE id = ?", (cid,))

    def has(self, cid: str) -> bool:
        return cid in self._by_id

    def name_taken(self, name: str) -> bool:
        return any(o.name == name for o in self._by_id.values())

    def get(self, ref: str) -> Container:
        """Resolve as Docker: full id, then exact name, then unique id prefix."""
        if not ref:
            raise NotFound("No such container: ")
        c = self._by_id.get(ref)
        if c:
            return c
        name = ref.lstrip("/")
        for c in self._by_id.values():
            if c.name == name:
                return c
        matches = [c for c in self._by_id.values() if c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")
