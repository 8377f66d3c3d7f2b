"""Online garbage collection: untagged manifests, unreferenced links, then unreferenced blobs.

Safe while pushes continue because every deletion re-checks its condition inside an index
write transaction (the same lock every publish takes) and because nothing younger than the
grace period is touched: a blob just uploaded for a manifest not yet pushed stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import NotFound
from . import layout
from .service import Registry


@dataclass
class GCStats:
    manifests: int = 0
    links: int = 0
    blobs: int = 0
    bytes: int = 0
    uploads: int = 0


_ORPHAN_MANIFESTS = """
SELECT m.repo, m.digest FROM manifests m
WHERE m.created < :cutoff
  AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo=m.repo AND t.digest=m.digest)
  AND NOT EXISTS (SELECT 1 FROM refs r JOIN manifests p ON p.repo=r.repo AND p.digest=r.parent
                  WHERE r.repo=m.repo AND r.child=m.digest)
  AND (m.subject IS NULL OR NOT EXISTS (
        SELECT 1 FROM manifests s WHERE s.repo=m.repo AND s.digest=m.subject))
"""
_IS_ORPHAN_MANIFEST = _ORPHAN_MANIFESTS + " AND m.repo=:repo AND m.digest=:digest"

_ORPHAN_LINKS = """
SELECT l.repo, l.digest FROM links l
WHERE l.created < :cutoff
  AND NOT EXISTS (SELECT 1 FROM refs r JOIN manifests p ON p.repo=r.repo AND p.digest=r.parent
                  WHERE r.repo=l.repo AND r.child=l.digest)
"""
_IS_ORPHAN_LINK = _ORPHAN_LINKS + " AND l.repo=:repo AND l.digest=:digest"

_ORPHAN_BLOBS = """
SELECT b.digest, b.size FROM blobs b
WHERE b.created < :cutoff
  AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest=b.digest)
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest=b.digest)
"""
_IS_ORPHAN_BLOB = _ORPHAN_BLOBS + " AND b.digest=:digest"


def collect(registry: Registry, grace: float = 3600.0, delete_untagged: bool = True,
            upload_max_age: float = 7 * 86400.0, dry_run: bool = False) -> GCStats:
    """One pass; returns what was (or, with ``dry_run``, would be) removed."""
    idx = registry.index
    stats = GCStats()
    cutoff = time.time() - grace
    if delete_untagged:
        while True:
            victims = idx.read(_ORPHAN_MANIFESTS, {"cutoff": cutoff})
            removed = 0
            for repo, dg in victims:
                if dry_run:
                    stats.manifests += 1
                    continue
                with idx.write() as c:
                    if c.execute(_IS_ORPHAN_MANIFEST,
                                 {"cutoff": cutoff, "repo": repo, "digest": dg}).fetchone():
                        idx.delete_manifest_in(c, repo, dg)
                        removed += 1
            stats.manifests += removed
            if dry_run or not removed:
                break
    for repo, dg in idx.read(_ORPHAN_LINKS, {"cutoff": cutoff}):
        if dry_run:
            stats.links += 1
            continue
        with idx.write() as c:
            if c.execute(_IS_ORPHAN_LINK, {"cutoff": cutoff, "repo": repo, "digest": dg}).fetchone():
                c.execute("DELETE FROM links WHERE repo=? AND digest=?", (repo, dg))
                stats.links += 1
    for dg, size in idx.read(_ORPHAN_BLOBS, {"cutoff": cutoff}):
        if dry_run:
            stats.blobs += 1
            stats.bytes += size
            continue
        with idx.write() as c:
            if not c.execute(_IS_ORPHAN_BLOB, {"cutoff": cutoff, "digest": dg}).fetchone():
                continue
            c.execute("DELETE FROM blobs WHERE digest=?", (dg,))
            # the file goes while we still hold the lock: no publish of this digest can interleave
            try:
                registry.driver.delete(layout.blob_dir(dg))
            except NotFound:
                pass
            stats.blobs += 1
            stats.bytes += size
    _sweep_unindexed(registry, cutoff, stats, dry_run)
    if not dry_run:
        c2 = idx.read("SELECT name FROM repos r WHERE NOT EXISTS (SELECT 1 FROM links l WHERE "
                      "l.repo=r.name) AND NOT EXISTS (SELECT 1 FROM manifests m WHERE "
                      "m.repo=r.name)")
        for (repo,) in c2:
            with idx.write() as c:
                c.execute("DELETE FROM repos WHERE name=? AND NOT EXISTS (SELECT 1 FROM links l "
                          "WHERE l.repo=?) AND NOT EXISTS (SELECT 1 FROM manifests m WHERE "
                          "m.repo=?)", (repo, repo, repo))
        stats.uploads = registry.uploads.purge(upload_max_age)
    return stats


def _sweep_unindexed(registry: Registry, cutoff: float, stats: GCStats, dry_run: bool) -> None:
    """Blob files with no index row: left by a crash between publish and commit."""
    drv, idx = registry.driver, registry.index
    try:
        algos = drv.list(layout.BLOBS_ROOT)
    except NotFound:
        return
    for algo_dir in algos:
        for prefix in drv.list(algo_dir):
            for blob_dir in drv.list(prefix):
                dg = f"{algo_dir.rsplit('/', 1)[-1]}:{blob_dir.rsplit('/', 1)[-1]}"
                try:
                    info = drv.stat(f"{blob_dir}/data")
                except NotFound:
                    info = None
                if info is not None and info.mtime >= cutoff:
                    continue
                if idx.blob_size(dg) is not None:
                    continue
                if dry_run:
                    stats.blobs += 1
                    continue
                with idx.write() as c:
                    if c.execute("SELECT 1 FROM blobs WHERE digest=?", (dg,)).fetchone():
                        continue
                    try:
                        drv.delete(blob_dir)
                    except NotFound:
                        continue
                stats.blobs += 1
                stats.bytes += info.size if info else 0
