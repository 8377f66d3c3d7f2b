"""The registry's durable index: links, manifests, tags and referrers in SQLite (WAL).

Answers tags, catalog and referrers without walking the tree, and is the serialisation point
between pushes and the online garbage collector: every change that must be atomic with respect
to GC runs inside one ``write()`` transaction (``BEGIN IMMEDIATE``), across processes too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY, size INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS repos (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS links (
  repo TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS links_digest ON links(digest);
CREATE TABLE IF NOT EXISTS manifests (
  repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
  artifact_type TEXT, subject TEXT, annotations TEXT, created REAL NOT NULL,
  PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repo, subject);
CREATE INDEX IF NOT EXISTS manifests_digest ON manifests(digest);
CREATE TABLE IF NOT EXISTS refs (
  repo TEXT NOT NULL, parent TEXT NOT NULL, child TEXT NOT NULL,
  PRIMARY KEY (repo, parent, child));
CREATE INDEX IF NOT EXISTS refs_child ON refs(child);
CREATE TABLE IF NOT EXISTS tags (
  repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, tag));
CREATE INDEX IF NOT EXISTS tags_digest ON tags(repo, digest);
"""


@dataclass(frozen=True)
class ManifestRow:
    repo: str
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    subject: str | None
    annotations: dict[str, str] | None
    created: float


class Index:
    """One SQLite file; a connection per thread, because handlers run in a thread pool too."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction; serialises with GC, also in another process."""
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def read(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- blobs and links ---------------------------------------------------------------------

    def blob_size(self, digest: str) -> int | None:
        rows = self.read("SELECT size FROM blobs WHERE digest=?", (digest,))
        return rows[0][0] if rows else None

    def linked_size(self, repo: str, digest: str) -> int | None:
        rows = self.read(
            "SELECT b.size FROM links l JOIN blobs b ON b.digest=l.digest "
            "WHERE l.repo=? AND l.digest=?", (repo, digest))
        return rows[0][0] if rows else None

    @staticmethod
    def add_link(c: sqlite3.Connection, repo: str, digest: str, size: int) -> None:
        now = time.time()
        c.execute("INSERT OR IGNORE INTO blobs(digest,size,created) VALUES(?,?,?)",
                  (digest, size, now))
        c.execute("INSERT OR IGNORE INTO repos(name) VALUES(?)", (repo,))
        c.execute("INSERT INTO links(repo,digest,created) VALUES(?,?,?) "
                  "ON CONFLICT(repo,digest) DO UPDATE SET created=excluded.created",
                  (repo, digest, now))

    def remove_link(self, repo: str, digest: str) -> bool:
        with self.write() as c:
            return c.execute("DELETE FROM links WHERE repo=? AND digest=?",
                             (repo, digest)).rowcount > 0

    # -- manifests and tags --------------------------------------------------------------------

    def manifest(self, repo: str, digest: str) -> ManifestRow | None:
        rows = self.read("SELECT repo,digest,media_type,size,artifact_type,subject,annotations,"
                         "created FROM manifests WHERE repo=? AND digest=?", (repo, digest))
        return _row(rows[0]) if rows else None

    def tag_digest(self, repo: str, tag: str) -> str | None:
        rows = self.read("SELECT digest FROM tags WHERE repo=? AND tag=?", (repo, tag))
        return rows[0][0] if rows else None

    def repo_exists(self, repo: str) -> bool:
        return bool(self.read("SELECT 1 FROM repos WHERE name=?", (repo,)))

    def tags(self, repo: str, last: str | None, n: int | None) -> list[str]:
        sql = "SELECT tag FROM tags WHERE repo=?"
        args: list[Any] = [repo]
        if last is not None:
            sql += " AND tag > ?"
            args.append(last)
        sql += " ORDER BY tag"
        if n is not None:
            sql += " LIMIT ?"
            args.append(n)
        return [r[0] for r in self.read(sql, tuple(args))]

    def catalog(self, last: str | None, n: int | None) -> list[str]:
        sql = "SELECT name FROM repos"
        args: list[Any] = []
        if last is not None:
            sql += " WHERE name > ?"
            args.append(last)
        sql += " ORDER BY name"
        if n is not None:
            sql += " LIMIT ?"
            args.append(n)
        return [r[0] for r in self.read(sql, tuple(args))]

    def referrers(self, repo: str, subject: str) -> list[ManifestRow]:
        rows = self.read("SELECT repo,digest,media_type,size,artifact_type,subject,annotations,"
                         "created FROM manifests WHERE repo=? AND subject=? ORDER BY digest",
                         (repo, subject))
        return [_row(r) for r in rows]

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self.write() as c:
            return c.execute("DELETE FROM tags WHERE repo=? AND tag=?", (repo, tag)).rowcount > 0

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Remove a manifest and every tag that points at it (what the spec asks)."""
        with self.write() as c:
            return self.delete_manifest_in(c, repo, digest)

    @staticmethod
    def delete_manifest_in(c: sqlite3.Connection, repo: str, digest: str) -> bool:
        n = c.execute("DELETE FROM manifests WHERE repo=? AND digest=?", (repo, digest)).rowcount
        c.execute("DELETE FROM tags WHERE repo=? AND digest=?", (repo, digest))
        c.execute("DELETE FROM refs WHERE repo=? AND parent=?", (repo, digest))
        return n > 0


def _row(r: tuple[Any, ...]) -> ManifestRow:
    return ManifestRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]) if r[6] else None,
                       r[7])
