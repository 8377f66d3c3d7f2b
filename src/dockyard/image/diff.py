"""What a container changed, read from its overlay upper directory (``docker diff``).

The upper dir holds exactly what the container wrote: a 0:0 character device is a deletion,
anything else is an addition unless the image's layers have that path (then a change). Parent
directories are in the upper dir because overlayfs copies them up, so they show as changes,
as in Docker.
"""

from __future__ import annotations

import os
import stat

from ..archive import OVERLAY_OPAQUE_XATTR

KIND_MODIFIED, KIND_ADDED, KIND_DELETED = 0, 1, 2


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _in_lowers(rel: str, lowers: list[str]) -> bool:
    """Whether the image (lowers, top-most first) has ``rel``, honouring whiteouts and opaque
    directories of upper layers."""
    parts = rel.split("/")
    for lower in lowers:
        path = os.path.join(lower, rel)
        try:
            st = os.lstat(path)
        except OSError:
            # an opaque parent in this layer hides the path in every layer below
            if any(_opaque(os.path.join(lower, *parts[:i])) for i in range(1, len(parts))):
                return False
            continue
        return not _is_whiteout(st)
    return False


def changes(upper: str, lowers: list[str]) -> list[dict]:
    """Docker's ``[{"Path": "/x", "Kind": 0|1|2}]``, sorted by path."""
    out: list[dict] = []
    for root, dirs, files in os.walk(upper):
        rel_root = os.path.relpath(root, upper)
        for name in dirs + files:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if _is_whiteout(st):
                kind = KIND_DELETED
            else:
                kind = KIND_MODIFIED if _in_lowers(rel, lowers) else KIND_ADDED
            out.append({"Path": "/" + rel, "Kind": kind})
    out.sort(key=lambda c: c["Path"])
    return out
