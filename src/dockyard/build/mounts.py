"""``RUN --mount=type=bind|cache|secret|tmpfs``: parsed from BuildKit's CSV form into what the
step's container mounts. Secrets are bind-mounted read-only from the build's private secret
directory (never copied into the rootfs, so never into a layer or the cache)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field

from ..errors import InvalidArgument
from .fsutil import secure_join

_TYPES = ("bind", "cache", "secret", "tmpfs")
_BOOL_KEYS = ("readonly", "ro", "rw", "readwrite", "required")


@dataclass
class MountSpec:
    type: str
    target: str
    opts: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        return self.type + ":" + self.target + ":" + ",".join(
            f"{k}={v}" for k, v in sorted(self.opts.items()))


def parse_mount(text: str) -> MountSpec:
    opts: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        k, eq, v = part.partition("=")
        k = k.lower()
        if not eq:
            if k not in _BOOL_KEYS:
                raise InvalidArgument(f"unexpected key '{k}' in '{part}'")
            v = "true"
        opts[k] = v
    mtype = opts.pop("type", "bind").lower()
    if mtype not in _TYPES:
        raise InvalidArgument(f"unsupported mount type {mtype!r} (dockyard supports "
                              f"{', '.join(_TYPES)})")
    target = ""
    for k in ("target", "dst", "destination"):
        if k in opts:
            target = opts.pop(k)
    if mtype == "secret" and not target:
        sid = opts.get("id") or ""
        if not sid:
            raise InvalidArgument("secret mount requires an id or a target")
        target = "/run/secrets/" + sid
    if not target:
        raise InvalidArgument(f"mount type={mtype} requires a target")
    if not target.startswith("/"):
        target = "/" + target
    if mtype == "secret" and "id" not in opts:
        opts["id"] = os.path.basename(target)
    return MountSpec(mtype, os.path.normpath(target), opts)


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1", "yes")


class MountMaker:
    """Turns MountSpecs into OCI mounts for one step; ``cleanup`` undoes the temp copies."""

    def __init__(self, *, context_dir: str, cache_root: str, secrets: dict[str, str],
                 tmp_dir: str, source_root=None):
        self.context_dir = context_dir
        self.cache_root = cache_root
        self.secrets = secrets
        self.tmp_dir = tmp_dir
        self.source_root = source_root  # callable(from) -> a mounted root of a stage/image
        self._tmp: list[str] = []

    def oci(self, m: MountSpec) -> dict | None:
        if m.type == "tmpfs":
            opts = ["nosuid", "nodev"]
            if m.opts.get("size"):
                opts.append(f"size={m.opts['size']}")
            return {"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                    "options": opts}
        if m.type == "secret":
            sid = m.opts["id"]
            src = self.secrets.get(sid)
            if src is None:
                if _truthy(m.opts.get("required")):
                    raise InvalidArgument(f"secret {sid}: not provided")
                return None
            return {"destination": m.target, "type": "bind", "source": src,
                    "options": ["rbind", "ro", "rprivate", "nosuid", "nodev", "noexec"]}
        if m.type == "cache":
            cid = m.opts.get("id") or m.target
            d = os.path.join(self.cache_root, hashlib.sha256(cid.encode()).hexdigest()[:32])
            if not os.path.isdir(d):
                os.makedirs(d, exist_ok=True)
                os.chmod(d, int(m.opts.get("mode", "755"), 8))
                os.chown(d, int(m.opts.get("uid", "0")), int(m.opts.get("gid", "0")))
            ro = _truthy(m.opts.get("readonly")) or _truthy(m.opts.get("ro"))
            return {"destination": m.target, "type": "bind", "source": d,
                    "options": ["rbind", "ro" if ro else "rw", "rprivate"]}
        # bind
        frm = m.opts.get("from")
        root = self.source_root(frm) if frm else self.context_dir
        src = secure_join(root, m.opts.get("source") or m.opts.get("src") or "/")
        if not os.path.lexists(src):
            raise InvalidArgument(f"bind mount source {m.opts.get('source', '/')!r} does not "
                                  "exist")
        rw = _truthy(m.opts.get("rw")) or _truthy(m.opts.get("readwrite"))
        if rw:  # writes are discarded, as BuildKit does: the step works on a copy
            copy = os.path.join(self.tmp_dir, f"bind-{len(self._tmp)}")
            if os.path.isdir(src):
                shutil.copytree(src, copy, symlinks=True)
            else:
                shutil.copy2(src, copy)
            self._tmp.append(copy)
            src = copy
        return {"destination": m.target, "type": "bind", "source": src,
                "options": ["rbind", "rw" if rw else "ro", "rprivate"]}

    def cleanup(self) -> None:
        for p in self._tmp:
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        self._tmp.clear()
