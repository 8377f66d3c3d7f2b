"""The registry's operations, independent of HTTP: blobs, uploads, manifests, tags, referrers.

Every publish (blob into the content store, manifest bytes, link, tag) happens inside one index
write transaction, which is what makes online GC safe: GC re-checks references in its own
transaction, so it either sees a push's references or the push sees the blob gone and fails
with MANIFEST_BLOB_UNKNOWN instead of losing data.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .. import digest as _digest
from ..errors import InvalidArgument, NotFound
from ..reference import is_valid_repository_path
from . import layout, manifests
from .driver import FilesystemDriver, StorageDriver
from .errors import RegistryError
from .index import Index, ManifestRow
from .uploads import Session, Uploads

_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def check_name(name: str) -> str:
    if not is_valid_repository_path(name):
        raise RegistryError("NAME_INVALID", f"invalid repository name: {name[:300]!r}")
    return name


def check_digest(value: str, code: str = "DIGEST_INVALID") -> str:
    try:
        _digest.parse(value)
    except InvalidArgument as e:
        raise RegistryError(code, str(e)) from None
    return value


def is_digest_ref(reference: str) -> bool:
    return ":" in reference


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise RegistryError("TAG_INVALID", f"invalid tag: {tag[:200]!r}")
    return tag


@dataclass
class Manifest:
    digest: str
    media_type: str
    body: bytes


class Registry:
    """The storage side of the registry. Blocking work is pushed to threads by the async methods."""

    def __init__(self, root: str, driver: StorageDriver | None = None, read_only: bool = False):
        self.root = os.path.abspath(root)
        self.driver = driver or FilesystemDriver(os.path.join(self.root, "data"))
        self.index = Index(os.path.join(self.root, "index.db"))
        self.uploads = Uploads(self.driver)
        self.read_only = read_only

    def close(self) -> None:
        self.index.close()

    def check_writable(self) -> None:
        if self.read_only:
            raise RegistryError("UNSUPPORTED", "registry is read-only", status=405)

    # -- blobs -----------------------------------------------------------------------------------

    def blob_size(self, repo: str, dg: str) -> int:
        size = self.index.linked_size(repo, dg)
        if size is None:
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown: {dg}")
        return size

    def blob_local_path(self, dg: str) -> str | None:
        return self.driver.local_path(layout.blob_data(dg))

    def open_blob(self, dg: str, offset: int = 0) -> Any:
        try:
            return self.driver.reader(layout.blob_data(dg), offset)
        except NotFound:
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown: {dg}") from None

    def delete_blob(self, repo: str, dg: str) -> None:
        self.check_writable()
        if not self.index.remove_link(repo, dg):
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown: {dg}")

    def mount(self, repo: str, dg: str, from_repo: str) -> int | None:
        """Link a blob another repository has; None when it has not (the client uploads)."""
        self.check_writable()
        size = self.index.linked_size(from_repo, dg)
        if size is None:
            return None
        with self.index.write() as c:
            if not c.execute("SELECT 1 FROM links WHERE repo=? AND digest=?",
                             (from_repo, dg)).fetchone():
                return None
            self.index.add_link(c, repo, dg, size)
        return size

    # -- uploads ---------------------------------------------------------------------------------

    def start_upload(self, repo: str) -> Session:
        self.check_writable()
        return self.uploads.start(repo)

    def get_upload(self, repo: str, sid: str) -> Session:
        return self.uploads.get(repo, sid)

    async def finish_upload(self, s: Session, expected: str) -> int:
        """Verify the digest and publish the blob atomically; the session is gone afterwards."""
        got, size = await self.uploads.digest(s, _digest.parse(expected)[0])
        if got != expected:
            self.uploads.delete(s)
            raise RegistryError("DIGEST_INVALID", f"digest mismatch: computed {got}",
                                detail={"expected": expected, "computed": got})

        def publish() -> None:
            with self.index.write() as c:
                self.driver.move(layout.upload_data(s.id), layout.blob_data(expected))
                self.index.add_link(c, s.repo, expected, size)
            self.uploads.delete(s)

        await asyncio.to_thread(publish)
        return size

    async def put_blob(self, repo: str, expected: str, chunks: AsyncIterator[bytes],
                       length: int | None) -> int:
        """Monolithic upload: one request carries the whole blob."""
        s = self.start_upload(repo)
        try:
            await self.uploads.append(s, chunks, None, length)
        except BaseException:
            self.uploads.delete(s)
            raise
        return await self.finish_upload(s, expected)

    # -- manifests -------------------------------------------------------------------------------

    def resolve(self, repo: str, reference: str) -> str:
        if is_digest_ref(reference):
            return check_digest(reference)
        if not _TAG_RE.match(reference):  # cannot exist; the spec's conformance wants 404
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference[:200]})
        dg = self.index.tag_digest(repo, reference)
        if dg is None:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference})
        return dg

    def manifest_row(self, repo: str, reference: str) -> ManifestRow:
        dg = self.resolve(repo, reference)
        row = self.index.manifest(repo, dg)
        if row is None:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference})
        return row

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        row = self.manifest_row(repo, reference)
        try:
            body = self.driver.get_content(layout.blob_data(row.digest))
        except NotFound:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference}) from None
        return Manifest(row.digest, row.media_type, body)

    def put_manifest(self, repo: str, reference: str, body: bytes,
                     content_type: str | None) -> tuple[str, str | None]:
        """Validate and store; returns (digest, subject digest or None)."""
        self.check_writable()
        tag = None
        if is_digest_ref(reference):
            algo, _ = _digest.parse(check_digest(reference))
            dg = _digest.of_bytes(body, algo)
            if dg != reference:
                raise RegistryError("DIGEST_INVALID", "manifest digest does not match reference",
                                    detail={"expected": reference, "computed": dg})
        else:
            tag = check_tag(reference)
            dg = _digest.of_bytes(body)
        parsed = manifests.parse(body, content_type)
        with self.index.write() as c:
            missing = [b for b in parsed.blobs if not c.execute(
                "SELECT 1 FROM links WHERE repo=? AND digest=?", (repo, b)).fetchone()]
            if missing:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN",
                                    f"blob unknown to registry: {missing[0]}",
                                    detail={"digest": missing[0]})
            path = layout.blob_data(dg)
            try:
                present = self.driver.stat(path).size == len(body)
            except NotFound:
                present = False
            if not present:
                self.driver.put_content(path, body)
            now = time.time()
            c.execute("INSERT OR IGNORE INTO blobs(digest,size,created) VALUES(?,?,?)",
                      (dg, len(body), now))
            c.execute("INSERT OR IGNORE INTO repos(name) VALUES(?)", (repo,))
            c.execute(
                "INSERT INTO manifests(repo,digest,media_type,size,artifact_type,subject,"
                "annotations,created) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(repo,digest) DO UPDATE "
                "SET created=excluded.created",
                (repo, dg, parsed.media_type, len(body), parsed.artifact_type, parsed.subject,
                 json.dumps(parsed.annotations) if parsed.annotations else None, now))
            for child in parsed.blobs + parsed.children:
                c.execute("INSERT OR IGNORE INTO refs(repo,parent,child) VALUES(?,?,?)",
                          (repo, dg, child))
            if tag is not None:
                c.execute("INSERT INTO tags(repo,tag,digest) VALUES(?,?,?) "
                          "ON CONFLICT(repo,tag) DO UPDATE SET digest=excluded.digest",
                          (repo, tag, dg))
        return dg, parsed.subject

    def delete_manifest(self, repo: str, reference: str) -> None:
        """By tag: untag only. By digest: remove the manifest and its tags."""
        self.check_writable()
        if is_digest_ref(reference):
            check_digest(reference)
            if not self.index.delete_manifest(repo, reference):
                raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference})
        else:
            if not _TAG_RE.match(reference) or not self.index.delete_tag(repo, reference):
                raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", detail={"Reference": reference})

    # -- discovery -------------------------------------------------------------------------------

    def tags(self, repo: str, last: str | None, n: int | None) -> list[str]:
        if not self.index.repo_exists(repo):
            raise RegistryError("NAME_UNKNOWN", f"repository name not known to registry: {repo}")
        return self.index.tags(repo, last, n)

    def catalog(self, last: str | None, n: int | None) -> list[str]:
        return self.index.catalog(last, n)

    def referrers(self, repo: str, subject: str, artifact_type: str | None) -> list[dict[str, Any]]:
        out = []
        for row in self.index.referrers(repo, check_digest(subject)):
            if artifact_type is not None and row.artifact_type != artifact_type:
                continue
            d: dict[str, Any] = {"mediaType": row.media_type, "digest": row.digest,
                                 "size": row.size}
            if row.artifact_type:
                d["artifactType"] = row.artifact_type
            if row.annotations:
                d["annotations"] = row.annotations
            out.append(d)
        return out
