"""The build cache: one row per executed step, persisted in the MetaDB (survives restarts).

A step's key is a hash over everything its result depends on: the parent state's ID (the
config digest, which covers every earlier layer and the whole config: env, workdir, user,
shell), the instruction after substitution, the build args it sees, and for COPY/ADD the
content checksum of its sources. The row keeps the resulting config and layer descriptors;
the layers themselves live in the snapshotter and the content store (they are ancestors of
the built image's chain), and a hit whose layers vanished (the image was removed) is a miss.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from ..image.layer import LayerInfo

SCHEMA = [
    """CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        config BLOB NOT NULL,
        layers TEXT NOT NULL,
        size INTEGER NOT NULL,
        created REAL NOT NULL,
        last_used REAL NOT NULL)""",
    "CREATE INDEX build_cache_image ON build_cache(image_id)",
    # for system df: what made the row, the step before it, how often it was used
    "ALTER TABLE build_cache ADD COLUMN description TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE build_cache ADD COLUMN parent TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE build_cache ADD COLUMN usage_count INTEGER NOT NULL DEFAULT 1",
]


def step_key(parent_id: str, instruction: str, *, args: dict[str, str] | None = None,
             sources: str = "", extra: str = "") -> str:
    """The cache key of a step (canonical JSON → sha256)."""
    doc = {"p": parent_id, "i": instruction, "a": sorted((args or {}).items()),
           "s": sources, "x": extra}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass
class CacheEntry:
    image_id: str
    config_bytes: bytes
    layers: list[LayerInfo]


def _layer_doc(li: LayerInfo) -> dict:
    return {"d": li.diff_id, "b": li.digest, "s": li.size, "m": li.media_type,
            "c": li.chain_id, "u": li.unpacked_size, "t": li.diff_size}


def _layer_from(doc: dict) -> LayerInfo:
    return LayerInfo(doc["d"], doc["b"], doc["s"], doc["m"], doc["c"], doc["u"], doc["t"])


class BuildCache:
    def __init__(self, meta, content, snapshots):
        self.meta = meta
        self.content = content
        self.snapshots = snapshots
        meta.migrate("build_cache", SCHEMA)
        self.dropped_blobs: set[str] = set()

    def pinned(self) -> tuple[set[str], set[str]]:
        """(chainIDs, blobs) of every cached step: kept by the image store's GC, so the
        cache of a stage that no image contains (a builder stage) survives restarts."""
        chains: set[str] = set()
        blobs: set[str] = set()
        for row in self.meta.query("SELECT layers FROM build_cache"):
            for d in json.loads(row["layers"]):
                chains.add(d["c"])
                blobs.add(d["b"])
        return chains, blobs

    def get(self, key: str) -> CacheEntry | None:
        row = self.meta.query_one(
            "SELECT image_id, config, layers FROM build_cache WHERE key=?", (key,))
        if row is None:
            return None
        layers = [_layer_from(d) for d in json.loads(row["layers"])]
        if not all(self.snapshots.has_layer(li.chain_id) and self.content.has(li.digest)
                   for li in layers):
            self.meta.execute("DELETE FROM build_cache WHERE key=?", (key,))
            return None
        self.meta.execute("UPDATE build_cache SET last_used=?, usage_count=usage_count+1 "
                          "WHERE key=?", (time.time(), key))
        return CacheEntry(row["image_id"], bytes(row["config"]), layers)

    def put(self, key: str, image_id: str, config_bytes: bytes, layers: list[LayerInfo],
            new_layer_size: int = 0, description: str = "", parent: str = "") -> None:
        now = time.time()
        self.meta.execute(
            "INSERT INTO build_cache(key, image_id, config, layers, size, created, last_used,"
            " description, parent) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET"
            " image_id=excluded.image_id, config=excluded.config, layers=excluded.layers,"
            " size=excluded.size, last_used=excluded.last_used,"
            " description=excluded.description, parent=excluded.parent",
            (key, image_id, config_bytes, json.dumps([_layer_doc(li) for li in layers]),
             new_layer_size, now, now, description, parent))

    def usage(self, image_chains: set[str]) -> list[dict]:
        """One record per row for ``system df``: Shared when the layer it made is also in an
        image (removing the row frees nothing), Size the bytes of that layer."""
        out = []
        for r in self.meta.query("SELECT key, size, layers, created, last_used, description,"
                                 " parent, usage_count FROM build_cache ORDER BY created"):
            layers = json.loads(r["layers"])
            top = layers[-1]["c"] if layers and int(r["size"] or 0) else None
            out.append({"key": r["key"], "parent": r["parent"], "size": int(r["size"] or 0),
                        "shared": top is None or top in image_chains,
                        "description": r["description"], "created": r["created"],
                        "last_used": r["last_used"], "usage_count": int(r["usage_count"])})
        return out

    def prune(self, all_: bool = False,
              image_chains: set[str] | None = None) -> tuple[list[str], int]:
        """Drop cache rows. Without ``all_`` only the dangling ones (``builder prune``): rows
        holding a layer that no present image contains, i.e. the space only the cache
        keeps; rows whose layers all belong to images cost nothing and stay, so rebuilding
        those images still hits. Returns (keys, bytes)."""
        image_chains = image_chains or set()
        with self.meta.transaction() as c:
            rows = c.execute("SELECT key, size, layers FROM build_cache").fetchall()
            gone = [r for r in rows if all_ or not {d["c"] for d in json.loads(r["layers"])}
                    <= image_chains]
            for r in gone:
                c.execute("DELETE FROM build_cache WHERE key=?", (r["key"],))
        self.dropped_blobs = {d["b"] for r in gone for d in json.loads(r["layers"])}
        return [r["key"] for r in gone], sum(int(r["size"] or 0) for r in gone)

    def count(self) -> int:
        row = self.meta.query_one("SELECT COUNT(*) AS n FROM build_cache")
        return int(row["n"]) if row else 0
