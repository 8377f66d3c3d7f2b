"""RUN: shell and exec forms, heredocs, --mount and --network, in a real container."""

from __future__ import annotations

import codecs
import contextlib
import json
import os

from .. import errors
from ..util import new_id
from .mounts import MountMaker, parse_mount
from .runner import RunRequest
from .step import Step, StepFailed
from .workspace import RUNTIME_STUBS, Workspace

_NETWORKS = ("default", "none", "host", "bridge")
_SCRIPT_PATH = "/dev/.dockyard-heredoc"  # in the container's /dev tmpfs: never in a layer
_RED, _RESET = "\x1b[91m", "\x1b[0m"


def _heredoc_script(ins) -> tuple[str, bool]:
    """The shell text of a RUN with heredocs; True when the heredoc *is* the script."""
    cmd = ins.args[0] if ins.args else ""
    first = cmd.strip()
    if len(ins.heredocs) == 1 and first.startswith("<<") and \
            first.lstrip("<-").strip("'\"") == ins.heredocs[0].name:
        return ins.heredocs[0].content, True
    text = cmd
    for h in ins.heredocs:
        body = h.content if h.content.endswith("\n") or not h.content else h.content + "\n"
        text += "\n" + body + h.name
    return text, False


def plan_run(sb, ins) -> Step:
    b = sb.builder
    flags = ins.flags or {}
    network = (flags.get("network") or [b.options.network or "default"])[-1]
    if network not in _NETWORKS and network != "" and network != b.options.network:
        raise errors.InvalidArgument(f"unsupported network mode {network!r} for RUN "
                                     "(default, none or host)")
    mounts = [parse_mount(sb.expand(m, sb.env())) for m in flags.get("mount", [])]
    script_file = None
    if ins.json_form:
        argv = list(ins.args)
    elif ins.heredocs:
        script, whole = _heredoc_script(ins)
        if whole and script.startswith("#!"):  # a shebang script runs as a file, as BuildKit
            script_file = script
            argv = [_SCRIPT_PATH]
        else:
            argv = sb.state.shell + [script]
    else:
        argv = sb.state.shell + [ins.args[0] if ins.args else ""]
    if not argv or not any(argv):
        raise errors.InvalidArgument("RUN requires at least one argument")
    arg_values = sb.args.values()
    proxies = sb.args.proxies()
    env = dict(sb.state.env)
    run_env = [f"{k}={v}" for k, v in env.items()]
    run_env += [f"{k}={v}" for k, v in {**arg_values, **proxies}.items() if k not in env]
    hist_args = [f"{k}={v}" for k, v in sorted(arg_values.items())]
    created_by = " ".join(argv)
    if hist_args:
        created_by = f"|{len(hist_args)} {' '.join(hist_args)} {created_by}"
    sources = []
    for m in mounts:
        if m.type == "bind":
            frm = m.opts.get("from")
            if frm:
                sources.append("from:" + sb.builder.resolve_from(sb, frm).image_id)
            else:
                src = m.opts.get("source") or m.opts.get("src") or "."
                sources.append(b.checksum([src]))
    key_text = "RUN " + json.dumps({"argv": argv, "script": script_file, "mounts": [m.key() for m in mounts],
                                    "network": network or "default"}, sort_keys=True)

    def act(st) -> object:
        with Workspace(b.images, st.top_chain_id, b.tmp_root) as ws:
            ws.note_stubs(list(RUNTIME_STUBS) + [m.target for m in mounts])
            maker = MountMaker(context_dir=b.context_dir, cache_root=b.cache_mount_root,
                               secrets=b.secrets, tmp_dir=ws.dir,
                               source_root=lambda frm: b.view(b.resolve_from(sb, frm)))
            stack = contextlib.ExitStack()
            try:
                oci = [o for o in (maker.oci(m) for m in mounts) if o is not None]
                if script_file is not None:
                    path = os.path.join(ws.dir, "heredoc")
                    with open(path, "w") as f:
                        f.write(script_file)
                    os.chmod(path, 0o755)
                    oci.append({"destination": _SCRIPT_PATH, "type": "bind", "source": path,
                                "options": ["rbind", "ro", "rprivate"]})
                cid = new_id()
                sb.out(f" ---> Running in {cid[:12]}\n")
                req = RunRequest(cid=cid, rootfs=ws.rootfs, args=argv, env=run_env,
                                 cwd=st.workdir, user=st.cc.get("User") or "",
                                 network=network or "default", mounts=oci,
                                 extra_hosts=b.options.extra_hosts, memory=b.options.memory,
                                 nano_cpus=b.options.nano_cpus,
                                 cpu_shares=b.options.cpu_shares, shm_size=b.options.shm_size,
                                 cancelled=b.is_cancelled)
                b.check_cancelled()
                net = stack.enter_context(b.step_network(cid, network or "default", sb.out))
                req.netns_path, req.hosts, req.resolv = net.netns_path, net.hosts, net.resolv
                b.step_started(cid)
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                err_decoder = codecs.getincrementaldecoder("utf-8")("replace")
                try:
                    def show(data: bytes) -> None:
                        text = decoder.decode(data)
                        if text:
                            sb.out(text)

                    def show_err(data: bytes) -> None:
                        text = err_decoder.decode(data)
                        if text:  # docker's classic builder: stderr chunks in red
                            sb.out(f"{_RED}{text}{_RESET}")

                    code = b.runner.run(req, show, show_err)
                    rest = decoder.decode(b"", final=True)
                    if rest:
                        sb.out(rest)
                    rest = err_decoder.decode(b"", final=True)
                    if rest:
                        sb.out(f"{_RED}{rest}{_RESET}")
                finally:
                    b.step_ended(cid)
                b.check_cancelled()
            finally:
                stack.close()
                maker.cleanup()
            if code != 0:
                raise StepFailed(f"The command '{' '.join(argv)}' returned a non-zero code: "
                                 f"{code}", code, exact=True)
            layer = ws.layer(b.epoch)
            # a step's container is never kept (it has no record to keep); with rm=0 docker
            # keeps it and says nothing, so the line goes with the option
            if b.options.rm or b.options.forcerm:
                sb.out(f"Removing intermediate container {cid[:12]}\n")
            return layer

    return Step(key_text, created_by, args={**arg_values}, sources="|".join(sources), act=act)
