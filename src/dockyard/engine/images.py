"""Image work that reads container state: commit, diff and export of a container's filesystem;
and the image operations whose events dockerd emits (tag, delete, prune).

Containers are only read here (their record, their snapshot); the container service owns them.
Blocking functions: the API runs them in threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .. import reference
from ..archive import write_tar
from ..errors import Conflict, DockyardError, InvalidArgument, NotFound
from ..image.diff import changes as _changes
from ..sys import mount as _mount
from .events import emit_image

log = logging.getLogger(__name__)

# Keys of a container's Config that describe the run, not the image (Docker drops them too).
_RUN_ONLY = ("Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
             "OpenStdin", "StdinOnce", "Image")


def get_container(engine, ref: str):
    """The container, checked to still have its filesystem."""
    c = engine.containers.get(ref)
    if not engine.snapshots.has(c.id):
        raise Conflict(f"container {c.id[:12]} has no filesystem")
    return c


def _merge_config(container_config: dict, override: dict | None) -> dict:
    """Docker's commit: the container's config, with the request body's non-empty keys on top."""
    out = {k: v for k, v in (container_config or {}).items() if k not in _RUN_ONLY}
    for key, value in (override or {}).items():
        if value not in (None, "", [], {}) and key not in _RUN_ONLY:
            out[key] = value
    return out


@contextlib.contextmanager
def _paused(engine, c, pause: bool) -> Iterator[None]:
    """Freeze a running container while its upper dir is read (``commit --pause``)."""
    if not (pause and c.state.status == "running"):
        yield
        return
    runtime = engine.runtime
    frozen = False
    try:
        runtime.pause(c.id)
        frozen = True
    except DockyardError as e:  # already paused, or gone meanwhile: commit what is there
        log.debug("commit: could not pause %s: %s", c.id[:12], e)
    try:
        yield
    finally:
        if frozen:
            try:
                runtime.resume(c.id)
            except DockyardError as e:
                log.warning("commit: could not resume %s: %s", c.id[:12], e)


def commit(engine, ref: str, repo_tag: str | None = None, *, comment: str = "",
           author: str = "", changes: list[str] | None = None, pause: bool = True,
           config: dict | None = None):
    """``POST /commit``: the container's upper dir becomes a layer over its image."""
    c = get_container(engine, ref)
    if config is not None and not isinstance(config, dict):
        raise InvalidArgument("commit config must be a JSON object")
    try:
        base = engine.images.get(c.image_id)
    except NotFound:
        raise NotFound(f"image {c.image_id} of container {c.id[:12]} no longer exists"
                       ) from None
    cfg = _merge_config(c.config, config)
    created_by = " ".join(c.config.get("Cmd") or [c.path, *c.args])
    container_config = dict(c.config)
    with _paused(engine, c, pause):
        img = engine.images.commit(
            engine.snapshots.upper_dir(c.id), base, cfg, repo_tag, changes, comment, author,
            created_by, extra={"container": c.id, "container_config": container_config})
    attrs = {"name": c.name, "image": c.image_name}
    if repo_tag:
        attrs["imageRef"] = repo_tag
        emit_image(engine.events, "tag", img.id, _familiar(repo_tag))
    engine.events.emit("container", "commit", c.id, attrs)
    return img


def _familiar(ref: str) -> str:
    try:
        return reference.parse(ref).familiar_string()
    except InvalidArgument:
        return ref


def tag(engine, name: str, repo: str, tag_: str | None) -> None:
    """``POST /images/{name}/tag``, with dockerd's ``tag`` event."""
    store = engine.images
    store.tag(name, repo, tag_)
    emit_image(engine.events, "tag", store.get(name).id,
               store.parse_tag(repo, tag_).familiar_string())


def delete(engine, name: str, force: bool) -> list[dict]:
    """``DELETE /images/{name}``, with dockerd's ``untag``/``delete`` events."""
    image_id = engine.images.get(name).id
    records = engine.images.delete(name, force, engine.containers.image_in_use)
    emit_removal(engine.events, image_id, records)
    return records


def emit_removal(events, image_id: str, records: list[dict]) -> None:
    """One ``untag`` per dropped reference, one ``delete`` per removed image (dockerd's)."""
    for r in records:
        if "Untagged" in r:
            emit_image(events, "untag", image_id)
        elif "Deleted" in r:
            emit_image(events, "delete", r["Deleted"])


def changes(engine, ref: str) -> list[dict]:
    """``GET /containers/{id}/changes``."""
    c = get_container(engine, ref)
    lowers = engine.snapshots.lowers(engine.snapshots.parent(c.id))
    return _changes(engine.snapshots.upper_dir(c.id), lowers)


@contextlib.contextmanager
def filesystem_view(engine, ref: str) -> Iterator[str]:
    """A private read-only overlay of the container's filesystem: its upper dir as the top
    lower over the image's layers, so running and stopped containers look the same."""
    c = get_container(engine, ref)
    lowers = [engine.snapshots.upper_dir(c.id)]
    lowers += engine.snapshots.lowers(engine.snapshots.parent(c.id))
    if len(lowers) < 2:
        lowers.append(engine.snapshots._empty)
    base = os.path.join(engine.exec_root, "views")
    os.makedirs(base, exist_ok=True)
    target = tempfile.mkdtemp(dir=base, prefix=c.id[:12] + "-")
    try:
        _mount.mount_overlay(lowers, target, readonly=True)
        try:
            yield target
        finally:
            _mount.unmount(target)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)  # never rmtree: a failed unmount must not take files with it


def export(engine, ref: str, out: BinaryIO) -> None:
    """``GET /containers/{id}/export``: the merged filesystem as a plain tar."""
    with filesystem_view(engine, ref) as root:
        write_tar(root, out, overlay_whiteouts=False)


def _layer_sizes(engine, images) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for img in images:
        for chain_id in img.chain_ids:
            if chain_id not in sizes:
                try:
                    sizes[chain_id] = engine.snapshots.layer_size(chain_id)
                except NotFound:
                    sizes[chain_id] = 0
    return sizes


def prune(engine, all_images: bool = False,
          label_match: Callable[[dict], bool] | None = None,
          until: float | None = None) -> dict:
    """``POST /images/prune``: dangling images (all unused ones with ``all_images``) that no
    container uses; children go before their parents."""
    used = {c.image_id for c in engine.containers.list()}
    store = engine.images
    before = set(engine.snapshots.layers())
    sizes = _layer_sizes(engine, store.list())
    records: list[dict] = []
    progress = True
    while progress:
        progress = False
        for img in store.list():  # newest first: children before parents
            if img.id in used or (img.repo_tags and not all_images):
                continue
            if label_match and not label_match(img.container_config.get("Labels") or {}):
                continue
            if until is not None and _created_unix(img.created) >= until:
                continue
            if store.children(img.id):
                continue
            try:
                removed = store.delete(img.id, force=True, in_use=engine.containers.image_in_use)
            except (Conflict, NotFound):
                continue
            emit_removal(engine.events, img.id, removed)
            records += removed
            progress = True
    gone = before - set(engine.snapshots.layers())
    space = sum(sizes.get(c, 0) for c in gone)
    engine.events.emit("image", "prune", "", {"reclaimed": str(space)})
    return {"ImagesDeleted": records or None, "SpaceReclaimed": space}


def _created_unix(created: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0


@dataclass
class DiskUsage:
    images: list           # Image records
    shared: dict[str, int]  # image id -> bytes shared with other images
    containers_of: dict[str, int]  # image id -> number of containers
    containers: list       # Container records
    size_rw: dict[str, int]  # container id -> writable layer bytes
    layers_size: int


def disk_usage(engine) -> DiskUsage:
    """What ``GET /system/df`` reports: per image the bytes it shares with other images and
    its container count, per container its writable layer size."""
    images = engine.images.list()
    containers = engine.containers.list()
    sizes = _layer_sizes(engine, images)
    users: dict[str, int] = {}
    for img in images:
        for chain_id in set(img.chain_ids):
            users[chain_id] = users.get(chain_id, 0) + 1
    count: dict[str, int] = {}
    for c in containers:
        count[c.image_id] = count.get(c.image_id, 0) + 1
    shared = {img.id: img.size - sum(sizes[ch] for ch in set(img.chain_ids) if users[ch] == 1)
              for img in images}
    return DiskUsage(images, shared, count, containers,
                     {c.id: engine.containers.size_rw(c) for c in containers},
                     sum(sizes.values()))
