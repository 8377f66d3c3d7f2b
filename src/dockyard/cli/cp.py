"""``cp``: copy files between a container and the host, or a tar on stdin/stdout (``-``).

Uses the archive API as the docker CLI does: HEAD for the destination's stat, GET for a tar
of the source, PUT of a tar into a directory. Renaming (``cp ctr:/a/f ./g``) rewrites the tar's
top-level name; host-side extraction uses tarfile's "tar" filter, so what a container put in
its files (absolute names, links out of the destination) cannot land outside the target.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tarfile

from dockyard.cli.base import CLIError, Context
from dockyard.cli.flags import BOOL, exact_args
from dockyard.client import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

CP_SPEC: list[FlagSpec] = [
    ("a", "archive", BOOL, "Archive mode (copy all uid/gid information)"),
    ("L", "follow-link", BOOL, "Always follow symbol link in SRC_PATH"),
    ("q", "quiet", BOOL, "Suppress progress output during copy"),
]
_DIR = 1 << 31


def _split(arg: str) -> tuple[str | None, str]:
    """``ctr:/path`` → (ctr, path); a local path (``./a:b``, ``/x:y``) → (None, arg)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ctr, _, path = arg.partition(":")
    return ctr, path


def _stat(client: Any, ctr: str, path: str) -> dict | None:
    try:
        resp = client.request("HEAD", f"/containers/{ctr}/archive", {"path": path})
    except APIError as e:
        if e.status == 404:
            return None
        raise
    resp.read()
    raw = resp.headers.get("x-docker-container-path-stat", "")
    return json.loads(base64.b64decode(raw)) if raw else {}


def cmd_cp(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(
        argv, "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        dockyard cp [OPTIONS] "
        "SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem", CP_SPEC)
    exact_args(args, 2, "cp")
    (sc, sp), (dc, dp) = _split(args[0]), _split(args[1])
    if sc is not None and dc is not None:
        raise CLIError("dockyard: copying between containers is not supported", 1)
    if sc is None and dc is None:
        raise CLIError("dockyard: must specify at least one container source", 1)
    try:
        if sc is not None:
            return _from_container(ctx, sc, sp, dp, opts["follow_link"])
        return _to_container(ctx, sp, dc, dp, opts["archive"], opts["follow_link"])
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None


def _from_container(ctx: Context, ctr: str, src: str, dest: str, follow: bool) -> int:
    client = ctx.client
    if follow and not src.endswith("/"):
        st = _stat(client, ctr, src)
        if st and st.get("linkTarget"):
            src = st["linkTarget"]
    try:
        resp = client.request("GET", f"/containers/{ctr}/archive", {"path": src})
    except APIError as e:
        if e.status == 404 and "Could not find the file" in e.message:
            raise CLIError(f"Error: No such container:path: {ctr}:{src}", 1) from None
        raise
    if dest == "-":
        fd = sys.stdout.buffer
        for piece in resp.stream():
            fd.write(piece)
        fd.flush()
        return 0
    st = json.loads(base64.b64decode(resp.headers.get("x-docker-container-path-stat", "e30=")))
    src_is_dir = bool(st.get("mode", 0) & _DIR)
    contents = src.endswith("/.")
    rename = None
    if os.path.isdir(dest):
        target = dest
        if contents:
            rename = ""
    else:
        if dest.endswith("/"):
            raise CLIError(f"dockyard: destination directory {dest} does not exist", 1)
        if os.path.exists(dest) and src_is_dir:
            raise CLIError("dockyard: cannot copy a directory to a file", 1)
        target = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(target):
            raise CLIError(f"dockyard: destination directory {target} does not exist", 1)
        rename = os.path.basename(dest)
    top = st.get("name") or os.path.basename(src.rstrip("/")) or "."
    with tarfile.open(fileobj=_Stream(resp.stream()), mode="r|") as tf:
        for m in tf:
            if rename is not None:
                rest = m.name[len(top):] if m.name == top or m.name.startswith(top + "/") else None
                if rest is None:
                    continue
                m.name = (rename + rest).lstrip("/") or "."
            tf.extract(m, target, filter="tar")
    return 0


class _Stream:
    """A read()-able view of the response's chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Any):
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            piece = next(self._it, None)
            if piece is None:
                break
            self._buf += piece
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _to_container(ctx: Context, src: str, ctr: str, dest: str, archive: bool,
                  follow: bool) -> int:
    client = ctx.client
    if src == "-":
        client.request("PUT", f"/containers/{ctr}/archive",
                       {"path": dest, "copyUIDGID": "1" if archive else None},
                       body=sys.stdin.buffer).read()
        return 0
    if not os.path.lexists(src):
        raise CLIError(f"dockyard: lstat {src}: no such file or directory", 1)
    src_is_dir = os.path.isdir(src) if follow or src.endswith("/") else (
        os.path.isdir(src) and not os.path.islink(src))
    st = _stat(client, ctr, dest)
    if st is not None and st.get("mode", 0) & _DIR:
        into, name = dest, os.path.basename(os.path.normpath(src))
    elif st is not None:
        if src_is_dir:
            raise CLIError("dockyard: cannot copy a directory to a file", 1)
        into, name = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest)
    else:
        if dest.endswith("/"):
            raise CLIError(f"Error: No such container:path: {ctr}:{dest}", 1)
        into, name = os.path.dirname(dest) or "/", os.path.basename(dest)
        if _stat(client, ctr, into) is None:
            raise CLIError(f"Error: No such container:path: {ctr}:{into}", 1)
    contents = src.endswith("/.") and src_is_dir
    r, w = os.pipe()
    import threading

    def produce() -> None:
        with os.fdopen(w, "wb") as f, tarfile.open(fileobj=f, mode="w|") as tf:
            def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
                if not archive:
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = ""
                return ti
            path = os.path.realpath(src) if follow else src.rstrip("/") or "/"
            if contents:
                for entry in sorted(os.listdir(path)):
                    tf.add(os.path.join(path, entry), arcname=entry, filter=owner)
            else:
                tf.add(path, arcname=name, filter=owner)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    with os.fdopen(r, "rb") as body:
        client.request("PUT", f"/containers/{ctr}/archive",
                       {"path": into, "copyUIDGID": "1" if archive else None}, body=body).read()
    t.join()
    return 0
