"""SQLite metadata database shared by every component of the daemon.

One connection in WAL mode: readers never block the writer and a crash never leaves half a
transaction. Writes are serialised by one re-entrant lock so a nested ``transaction()``
simply joins the outer one. Each component owns its tables and registers them through
``migrate``, so no component edits another's schema.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any


class MetaDB:
    def __init__(self, path: str):
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                    timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.RLock()
        self._depth = 0
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT PRIMARY KEY, version INTEGER NOT NULL)")

    def migrate(self, component: str, statements: list[str]) -> None:
        """Apply the statements not yet applied for ``component``.

        The list is append-only: statement *i* runs once, ever, so later releases add
        statements at the end instead of editing old ones.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT version FROM schema_migrations WHERE component=?",
                               (component,)).fetchone()
            done = row[0] if row else 0
            for stmt in statements[done:]:
                conn.execute(stmt)
            if len(statements) > done:
                conn.execute(
                    "INSERT INTO schema_migrations(component, version) VALUES(?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, len(statements)))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the write lock; rolls back on any exception."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read under the lock, so a reader never sees another thread's uncommitted rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; returns the affected row count."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        with self.lock:
            self.conn.close()
