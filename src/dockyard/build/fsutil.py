"""Paths inside a step's root filesystem: symlinks resolved with the rootfs as ``/`` (an
image's ``/app -> /etc`` must never lead a build step onto the host)."""

from __future__ import annotations

import os
import posixpath

from ..errors import InvalidArgument

_MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    """The host path of ``path`` inside ``root``, every symlink followed inside ``root``."""
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        if name == ".":
            continue
        cur = os.path.join(root, *resolved, name)
        if os.path.islink(cur):
            links += 1
            if links > _MAX_LINKS:
                raise InvalidArgument(f"too many symlinks in {path}")
            target = os.readlink(cur)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(name)
    return os.path.join(root, *resolved)


def mkdir_all(root: str, path: str, uid: int = 0, gid: int = 0) -> bool:
    """``mkdir -p`` inside root; True if anything was created."""
    target = secure_join(root, path)
    if os.path.isdir(target):
        return False
    rel = os.path.relpath(target, root)
    cur = root
    created = False
    for part in rel.split(os.sep):
        if part in ("", "."):
            continue
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            cur = secure_join(root, os.path.relpath(cur, root))
        if not os.path.isdir(cur):
            if os.path.lexists(cur):
                raise InvalidArgument(f"cannot create directory {path}: a file is in the way")
            os.mkdir(cur, 0o755)
            os.lchown(cur, uid, gid)
            created = True
    return created
