"""Instructions that write files: COPY, ADD (local archives extracted, URLs downloaded) and
WORKDIR (creates its directory when the image lacks it)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile

from ..errors import DockyardError, InvalidArgument, NotFound
from . import copy as _copy
from . import shell as _shell
from .fetch import download, is_url, url_filename
from .fsutil import mkdir_all
from .step import Step, StepFailed
from .steps_meta import NOP
from .workspace import Workspace


def _flag(sb, ins, name: str) -> str | None:
    vals = (ins.flags or {}).get(name)
    return sb.expand(vals[-1], sb.env()) if vals else None


def plan_workdir(sb, ins) -> Step:
    b = sb.builder
    words = [sb.expand(a, sb.env()) for a in ins.args]
    path = " ".join(words).strip()
    if not path:
        raise InvalidArgument("WORKDIR requires exactly one argument")
    new = posixpath.normpath(posixpath.join(sb.state.workdir, path))

    def apply(st) -> None:
        st.cc["WorkingDir"] = new

    def act(st):
        with Workspace(b.images, st.top_chain_id, b.tmp_root) as ws:
            if not mkdir_all(ws.rootfs, new):
                return None
            return ws.layer(b.epoch)

    return Step("WORKDIR " + new, NOP + " WORKDIR " + new, apply=apply, act=act)


def plan_copy(sb, ins, add: bool = False) -> Step:
    b = sb.builder
    cmd = "ADD" if add else "COPY"
    env = sb.env()
    heredocs = {h.name: h for h in (ins.heredocs or [])}
    words: list[str] = []
    docs: list = []
    for a in ins.args:
        name = a.lstrip("<").lstrip("-").strip("'\"") if a.startswith("<<") else None
        if name is not None and name in heredocs:
            docs.append(heredocs[name])
        else:
            words.append(sb.expand(a, env))
    if len(words) + len(docs) < 2 or not words:
        raise InvalidArgument(f"{cmd} requires at least two arguments, but only one was "
                              "provided. Destination could not be determined.")
    dest = words[-1]
    srcs = words[:-1]
    chown = _flag(sb, ins, "chown")
    chmod = _flag(sb, ins, "chmod")
    if chmod is not None and not re.fullmatch(r"[0-7]{3,4}", chmod):
        raise InvalidArgument(f"invalid chmod parameter: {chmod!r}")
    frm = _flag(sb, ins, "from")
    if frm is not None and add:
        raise InvalidArgument("ADD does not support the --from flag")
    groups: list[tuple] = []  # (root getter, sources, extract archives)
    key_parts: list[str] = []
    local = list(srcs)
    if frm:
        src_state = b.resolve_from(sb, frm)
        key_parts.append("from:" + src_state.image_id)
        groups.append((lambda: b.view(src_state), local, False))
    else:
        urls = [s for s in local if add and is_url(s)]
        files = [s for s in local if s not in urls]
        if files:
            key_parts.append("ctx:" + b.checksum(files, cmd))
            groups.append((lambda: b.context_dir, files, add))
        if urls:
            stage = tempfile.mkdtemp(dir=b.tmp_root, prefix="add-")
            b.track_tmp(stage)
            names = []
            for u in urls:
                name = url_filename(u)
                download(u, stage, name)
                names.append(name)
            key_parts.append("url:" + _copy.source_checksum(stage, names))
            groups.append((lambda: stage, names, False))
    if docs:
        stage = tempfile.mkdtemp(dir=b.tmp_root, prefix="heredoc-")
        b.track_tmp(stage)
        names = []
        for h in docs:
            text = _shell.expand_heredoc(h.content, env) if h.expand else h.content
            with open(os.path.join(stage, h.name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(stage, h.name), 0o644)
            names.append(h.name)
        key_parts.append("doc:" + _copy.source_checksum(stage, names))
        groups.append((lambda: stage, names, False))
    nsrc = sum(len(g[1]) for g in groups)
    if nsrc > 1 and not dest.endswith("/"):
        raise StepFailed(f"When using {cmd} with more than one source file, the destination "
                         "must be a directory and end with a /")
    flags_text = "".join(f" --{k}={v}" for k, v in (("from", frm), ("chown", chown),
                                                     ("chmod", chmod)) if v)
    text = f"{cmd}{flags_text} {json.dumps(srcs + [h.name for h in docs])} {dest}"
    digest = hashlib.sha256("|".join(key_parts).encode()).hexdigest()
    kind = "multi" if nsrc > 1 else ("dir" if srcs and srcs[0].endswith("/") else "file")
    created_by = f"{NOP}{cmd}{flags_text} {kind}:{digest} in {dest} "

    def act(st):
        with Workspace(b.images, st.top_chain_id, b.tmp_root) as ws:
            for root, names, extract in groups:
                try:
                    _copy.copy_sources(root(), names, ws.rootfs, dest, workdir=st.workdir,
                                       chown=chown, chmod=chmod, extract_archives=extract)
                except NotFound as e:
                    raise StepFailed(f"{cmd} failed: {e}") from None
                except DockyardError as e:
                    raise StepFailed(f"{cmd} failed: {e}") from None
            return ws.layer(b.epoch)

    return Step(text, created_by, sources="|".join(key_parts), act=act)


def plan_add(sb, ins) -> Step:
    return plan_copy(sb, ins, add=True)
