"""Metadata instructions: they change the image config and add an empty_layer history entry.

ENV, LABEL, EXPOSE, VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, CMD, ENTRYPOINT,
MAINTAINER, ONBUILD, ARG; WORKDIR also creates its directory when the image lacks it.
"""

from __future__ import annotations

import json

from ..errors import InvalidArgument
from . import dockerfile as _dockerfile
from .step import Step

NOP = "/bin/sh -c #(nop) "
def _flag(ins, name: str) -> str | None:
    vals = (ins.flags or {}).get(name)
    return vals[-1] if vals else None


def _pairs_text(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"{k}={json.dumps(v) if (' ' in v or not v) else v}" for k, v in pairs)


def plan_env(sb, ins) -> Step:
    env = sb.env()
    pairs = [(sb.expand(k, env), sb.expand(v or "", env)) for k, v in ins.pairs]
    for k, _ in pairs:
        if not k:
            raise InvalidArgument("ENV names can not be blank")

    def apply(st) -> None:
        for k, v in pairs:
            st.set_env(k, v)
    text = "ENV " + _pairs_text(pairs)
    return Step(text, NOP + " " + text, apply=apply)


def plan_label(sb, ins) -> Step:
    env = sb.env()
    pairs = [(sb.expand(k, env), sb.expand(v or "", env)) for k, v in ins.pairs]

    def apply(st) -> None:
        labels = dict(st.cc.get("Labels") or {})
        labels.update(pairs)
        st.cc["Labels"] = labels
    text = "LABEL " + _pairs_text(pairs)
    return Step(text, NOP + " " + text, apply=apply)


def _words(sb, ins) -> list[str]:
    env = sb.env()
    if ins.json_form:
        return [sb.expand(a, env) for a in ins.args]
    out: list[str] = []
    for a in ins.args:
        out.extend(sb.expand_words(a, env))
    return out


def plan_expose(sb, ins) -> Step:
    ports: list[str] = []
    for w in _words(sb, ins):
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise InvalidArgument(f"invalid containerPort: {port}")
        rng = range(int(lo), int(hi) + 1) if dash else [int(lo)]
        ports.extend(f"{p}/{proto}" for p in rng)

    def apply(st) -> None:
        exposed = dict(st.cc.get("ExposedPorts") or {})
        for p in ports:
            exposed[p] = {}
        st.cc["ExposedPorts"] = exposed
    text = "EXPOSE " + " ".join(ports)
    return Step(text, NOP + " " + text, apply=apply)


def plan_volume(sb, ins) -> Step:
    vols = [v for v in _words(sb, ins) if v]
    if not vols:
        raise InvalidArgument("VOLUME specified can not be an empty string")

    def apply(st) -> None:
        v = dict(st.cc.get("Volumes") or {})
        for p in vols:
            v[p] = {}
        st.cc["Volumes"] = v
    text = "VOLUME " + json.dumps(vols)
    return Step(text, NOP + " " + text, apply=apply)


def plan_user(sb, ins) -> Step:
    user = " ".join(_words(sb, ins))

    def apply(st) -> None:
        st.cc["User"] = user
    return Step("USER " + user, NOP + " USER " + user, apply=apply)


def plan_stopsignal(sb, ins) -> Step:
    sig = " ".join(_words(sb, ins))

    def apply(st) -> None:
        st.cc["StopSignal"] = sig
    return Step("STOPSIGNAL " + sig, NOP + " STOPSIGNAL " + sig, apply=apply)


def plan_maintainer(sb, ins) -> Step:
    who = " ".join(ins.args) if ins.args else ""

    def apply(st) -> None:
        st.config["author"] = who
    return Step("MAINTAINER " + who, NOP + " MAINTAINER " + who, apply=apply)


def plan_shell(sb, ins) -> Step:
    if not ins.json_form:
        raise InvalidArgument("SHELL requires the arguments to be in JSON form")
    shell = list(ins.args)
    if not shell:
        raise InvalidArgument("SHELL requires at least one argument")

    def apply(st) -> None:
        st.cc["Shell"] = shell
    text = "SHELL " + json.dumps(shell)
    return Step(text, NOP + " " + text, apply=apply)


def _command(sb, ins) -> list[str]:
    if ins.json_form:
        return list(ins.args)
    return sb.state.shell + [" ".join(ins.args)]


def plan_cmd(sb, ins) -> Step:
    cmd = _command(sb, ins)
    sb.cmd_set = True

    def apply(st) -> None:
        st.cc["Cmd"] = cmd
    text = "CMD " + json.dumps(cmd)
    return Step(text, NOP + " " + text, apply=apply)


def plan_entrypoint(sb, ins) -> Step:
    ep = _command(sb, ins)
    reset_cmd = not sb.cmd_set

    def apply(st) -> None:
        st.cc["Entrypoint"] = ep
        if reset_cmd:
            st.cc["Cmd"] = None
    text = "ENTRYPOINT " + json.dumps(ep)
    return Step(text, NOP + " " + text, apply=apply)


def plan_onbuild(sb, ins) -> Step:
    if ins.sub is not None:
        trigger = ins.sub.original
    else:
        trigger = " ".join(ins.args)
    trigger = trigger.strip()
    word = trigger.split(None, 1)[0].upper() if trigger else ""
    if word in ("ONBUILD",):
        raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if word in ("FROM", "MAINTAINER"):
        raise InvalidArgument(f"{word} isn't allowed as an ONBUILD trigger")

    def apply(st) -> None:
        st.cc["OnBuild"] = list(st.cc.get("OnBuild") or []) + [trigger]
    return Step("ONBUILD " + trigger, NOP + " ONBUILD " + trigger, apply=apply)


def plan_healthcheck(sb, ins) -> Step:
    check = _dockerfile.healthcheck_config(ins)

    def apply(st) -> None:
        st.cc["Healthcheck"] = check
    text = "HEALTHCHECK " + json.dumps(check, sort_keys=True)
    return Step(text, NOP + " " + text, apply=apply)


def plan_arg(sb, ins) -> Step:
    env = sb.env()
    names = []
    for k, v in ins.pairs:
        default = sb.expand(v, env) if v is not None else None
        sb.args.declare(k, default)
        names.append(k if v is None else f"{k}={v}")
    text = "ARG " + " ".join(names)
    return Step(text, NOP + " " + text)


PLANNERS = {
    "ENV": plan_env, "LABEL": plan_label, "EXPOSE": plan_expose, "VOLUME": plan_volume,
    "USER": plan_user, "STOPSIGNAL": plan_stopsignal, "MAINTAINER": plan_maintainer,
    "SHELL": plan_shell, "CMD": plan_cmd, "ENTRYPOINT": plan_entrypoint,
    "ONBUILD": plan_onbuild, "HEALTHCHECK": plan_healthcheck, "ARG": plan_arg,
}
