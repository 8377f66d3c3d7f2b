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
    """CREATE TABLE diffid_blobs (
        diff_id TEXT NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        PRIMARY KEY (diff_id, blob))""",
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

    def remember_blob(self, diff_id: str, desc: dict) -> None:
        """A layer compressed for a push: the next push reuses it instead of compressing."""
        self.meta.execute("INSERT OR IGNORE INTO diffid_blobs VALUES(?,?,?,?)",
                          (diff_id, desc["digest"], int(desc["size"]), desc["mediaType"]))

    def blobs_for(self, diff_id: str) -> list[dict]:
        """Compressed blobs known for an uncompressed layer (from images and past pushes)."""
        rows = self.meta.query(
            "SELECT blob, blob_size AS size, media_type FROM image_layers"
            " WHERE diff_id=? AND blob IS NOT NULL"
            " UNION SELECT blob, size, media_type FROM diffid_blobs WHERE diff_id=?",
            (diff_id, diff_id))
        return [{"mediaType": r["media_type"], "digest": r["blob"], "size": r["size"]}
                for r in rows]

    def repos(self, digest: str, registry: str, exclude: str) -> list[str]:
        """Other repositories of ``registry`` that had ``digest``, most recent first."""
        rows = self.meta.query("SELECT repo FROM blob_sources WHERE digest=? AND registry=?"
                               " AND repo<>? ORDER BY seen DESC LIMIT 3",
                               (digest, registry, exclude))
        return [r["repo"] for r in rows]
