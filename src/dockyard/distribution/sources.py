"""Where each blob is known to live (registry, repository): a push mounts from there instead
of uploading (``POST …/blobs/uploads/?mount=&from=``), as Docker's v2 metadata does."""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..store.meta import MetaDB

SCHEMA = [
    """CREATE TABLE blob_sources (
        digest TEXT NOT NULL,
        registry TEXT NOT NULL,
        repo TEXT NOT NULL,
        seen REAL NOT NULL,
        PRIMARY KEY (digest, registry, repo))""",
]


class BlobSources:
    def __init__(self, meta: MetaDB):
        self.meta = meta
        meta.migrate("distribution", SCHEMA)

    def add(self, digests: Iterable[str], registry: str, repo: str) -> None:
        now = time.time()
        with self.meta.transaction() as c:
            for d in digests:
                c.execute("INSERT INTO blob_sources VALUES(?,?,?,?) ON CONFLICT DO UPDATE"
                          " SET seen=excluded.seen", (d, registry, repo, now))

    def repos(self, digest: str, registry: str, exclude: str) -> list[str]:
        """Other repositories of ``registry`` that had ``digest``, most recent first."""
        rows = self.meta.query("SELECT repo FROM blob_sources WHERE digest=? AND registry=?"
                               " AND repo<>? ORDER BY seen DESC LIMIT 3",
                               (digest, registry, exclude))
        return [r["repo"] for r in rows]
