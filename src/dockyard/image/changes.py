"""Dockerfile instructions applied to an image config (``docker import --change``, ``commit -c``).

Only the instructions that change configuration are allowed, as in Docker; the parser is kept
small on purpose and lives here because the image layer must not import the builder.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Any

from ..errors import InvalidArgument

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL",
           "USER", "VOLUME", "WORKDIR")
KNOWN = ALLOWED + ("ADD", "ARG", "COPY", "FROM", "MAINTAINER", "RUN", "SHELL")

_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                "m": 60_000_000_000, "h": 3_600_000_000_000}


def _env_map(cfg: dict) -> dict[str, str]:
    out = {}
    for item in cfg.get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _expand(text: str, env: dict[str, str]) -> str:
    """$VAR / ${VAR} from the config's Env, except inside single quotes (as the builder)."""
    out = []
    parts = re.split(r"('[^']*')", text)
    for part in parts:
        if part.startswith("'") and part.endswith("'") and len(part) >= 2:
            out.append(part)
        else:
            out.append(_VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), part))
    return "".join(out)


def _json_list(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    as_json = _json_list(rest)
    if as_json is not None:
        return as_json
    return ["/bin/sh", "-c", rest]


def _pairs(instr: str, rest: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` or the legacy ``key value with spaces`` form."""
    try:
        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise InvalidArgument(f"{instr}: {e}") from None
    if not words:
        raise InvalidArgument(f"{instr} requires at least one argument")
    if "=" not in words[0]:
        first, _, value = rest.strip().partition(" ")
        value = value.strip()
        if not value and instr == "ENV":
            raise InvalidArgument("ENV must have two arguments")
        try:
            value = " ".join(shlex.split(value)) if value else ""
        except ValueError:
            pass
        return [(first, value)]
    pairs = []
    for w in words:
        k, sep, v = w.partition("=")
        if not sep or not k:
            raise InvalidArgument(f"{instr} names can not be blank" if not k else
                                  f"Syntax error - can't find = in {w!r}. Must be of the form: "
                                  f"name=value")
        pairs.append((k, v))
    return pairs


def _ports(rest: str) -> list[str]:
    out = []
    for word in rest.split():
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        lo, _, hi = port.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise InvalidArgument(f"invalid containerPort: {port}") from None
        if not (0 < a <= b <= 65535):
            raise InvalidArgument(f"invalid range format for --expose: {word}")
        out.extend(f"{p}/{proto}" for p in range(a, b + 1))
    if not out:
        raise InvalidArgument("EXPOSE requires at least one argument")
    return out


def _duration(text: str, flag: str) -> int:
    pos, total = 0, 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _DURATION_NS[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f"invalid duration for --{flag}: {text!r}")
    return total


def _healthcheck(rest: str) -> dict[str, Any]:
    words = rest.split()
    hc: dict[str, Any] = {}
    while words and words[0].startswith("--"):
        flag, _, value = words.pop(0)[2:].partition("=")
        if flag in ("interval", "timeout", "start-period", "start-interval"):
            hc[{"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                "start-interval": "StartInterval"}[flag]] = _duration(value, flag)
        elif flag == "retries":
            try:
                hc["Retries"] = int(value)
            except ValueError:
                raise InvalidArgument(f"invalid retries: {value!r}") from None
        else:
            raise InvalidArgument(f"unknown flag: --{flag}")
    if not words:
        raise InvalidArgument("Missing command after HEALTHCHECK")
    kind = words[0].upper()
    rest = rest[rest.find(words[0]) + len(words[0]):].strip()
    if kind == "NONE":
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidArgument(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    as_json = _json_list(rest)
    hc["Test"] = ["CMD"] + as_json if as_json is not None else ["CMD-SHELL", rest]
    return hc


def apply_changes(config: dict[str, Any], changes: list[str] | None) -> dict[str, Any]:
    """Return a copy of the container config (OCI ``config`` object) with ``changes`` applied."""
    cfg = json.loads(json.dumps(config or {}))
    cmd_set = False
    for raw in changes or []:
        for line in str(raw).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            instr, _, rest = line.partition(" ")
            instr, rest = instr.upper(), rest.strip()
            if instr not in KNOWN:
                raise InvalidArgument(f"dockerfile parse error: unknown instruction: {instr}")
            if instr not in ALLOWED:
                raise InvalidArgument(f"{instr} is not a valid change command")
            if not rest and instr not in ("CMD", "ENTRYPOINT"):
                raise InvalidArgument(f"{instr} requires at least one argument")
            env = _env_map(cfg)
            if instr == "CMD":
                cfg["Cmd"] = _command(rest) if rest else []
                cmd_set = True
            elif instr == "ENTRYPOINT":
                cfg["Entrypoint"] = _command(rest) if rest else None
                if not cmd_set:
                    cfg.pop("Cmd", None)
            elif instr == "ENV":
                for k, v in _pairs("ENV", _expand(rest, env)):
                    env[k] = v
                cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
            elif instr == "LABEL":
                labels = cfg.get("Labels") or {}
                labels.update(_pairs("LABEL", _expand(rest, env)))
                cfg["Labels"] = labels
            elif instr == "EXPOSE":
                ports = cfg.get("ExposedPorts") or {}
                for p in _ports(_expand(rest, env)):
                    ports[p] = {}
                cfg["ExposedPorts"] = ports
            elif instr == "VOLUME":
                rest = _expand(rest, env)
                vols = _json_list(rest)
                vols = vols if vols is not None else rest.split()
                if not vols or any(not v.strip() for v in vols):
                    raise InvalidArgument("VOLUME specified can not be an empty string")
                volumes = cfg.get("Volumes") or {}
                for v in vols:
                    volumes[v.strip()] = {}
                cfg["Volumes"] = volumes
            elif instr == "WORKDIR":
                path = _expand(rest, env)
                if not path.startswith("/"):
                    path = posixpath.join(cfg.get("WorkingDir") or "/", path)
                cfg["WorkingDir"] = posixpath.normpath(path)
            elif instr == "USER":
                cfg["User"] = _expand(rest, env)
            elif instr == "STOPSIGNAL":
                sig = _expand(rest, env)
                if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", sig.upper()):
                    raise InvalidArgument(f"Invalid signal: {sig}")
                cfg["StopSignal"] = sig
            elif instr == "ONBUILD":
                trigger = rest.split(None, 1)[0].upper()
                if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
                cfg["OnBuild"] = (cfg.get("OnBuild") or []) + [rest]
            elif instr == "HEALTHCHECK":
                cfg["Healthcheck"] = _healthcheck(rest)
    return cfg
