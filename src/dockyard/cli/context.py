"""``dockyard context``: named daemon endpoints (address + TLS material), as the docker CLI's.

Stored exactly where and how the docker CLI stores them, so a context made by either tool
works in both: ``<config>/contexts/meta/<sha256(name)>/meta.json`` holds the endpoint,
``<config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`` copies of the certificates,
and ``currentContext`` in ``<config>/config.json`` names the one in use. ``<config>`` is
``--config``, $DOCKER_CONFIG or ~/.docker.
"""

from __future__ import annotations

import os

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import BOOL, STR
from dockyard.client import DEFAULT_HOST, TLSConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration"


def _cid(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


def _meta_dir(cfg: str, name: str) -> str:
    return os.path.join(cfg, "contexts", "meta", _cid(name))


def _tls_dir(cfg: str, name: str) -> str:
    return os.path.join(cfg, "contexts", "tls", _cid(name), "docker")


def _check_name(name: str) -> None:
    import re

    if name == "default":
        raise CLIError('"default" is a reserved context name', 1)
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*", name):
        raise CLIError(f'context name "{name}" is invalid, names are validated against '
                       'regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"', 1)


def read_meta(cfg: str, name: str) -> dict[str, Any]:
    import json

    try:
        with open(os.path.join(_meta_dir(cfg, name), "meta.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CLIError(f"context \"{name}\" does not exist", 1) from None
    except (OSError, ValueError) as e:
        raise CLIError(f"context \"{name}\": unreadable metadata: {e}", 1) from None


def load_endpoint(cfg: str, name: str) -> tuple[str, TLSConfig | None]:
    """The daemon address and TLS settings of context ``name`` (for cli.connect)."""
    meta = read_meta(cfg, name)
    ep = (meta.get("Endpoints") or {}).get("docker") or {}
    host = ep.get("Host") or DEFAULT_HOST
    skip = bool(ep.get("SkipTLSVerify"))
    tdir = _tls_dir(cfg, name)
    have = {f: os.path.join(tdir, f) for f in TLS_FILES if os.path.exists(os.path.join(tdir, f))}
    if not have and not skip:
        return host, None
    return host, TLSConfig(ca=have.get("ca.pem"), cert=have.get("cert.pem"),
                           key=have.get("key.pem"), verify=not skip and "ca.pem" in have)


def _read_config(cfg: str) -> dict[str, Any]:
    import json

    try:
        with open(os.path.join(cfg, "config.json")) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise CLIError(f"cannot read {os.path.join(cfg, 'config.json')}: {e}", 1) from None


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Temp file and rename: a crash never leaves half a context."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _set_current(cfg: str, name: str) -> None:
    import json

    conf = _read_config(cfg)
    if name == "default":
        conf.pop("currentContext", None)
    else:
        conf["currentContext"] = name
    _write(os.path.join(cfg, "config.json"), (json.dumps(conf, indent="\t") + "\n").encode(),
           0o600)


def _current(cfg: str) -> str:
    from dockyard.cli.connect import GLOBAL_FLAGS

    return str(GLOBAL_FLAGS.get("context") or os.environ.get("DOCKER_CONTEXT")
               or _read_config(cfg).get("currentContext") or "default")


def _names(cfg: str) -> list[str]:
    import json

    base = os.path.join(cfg, "contexts", "meta")
    names = []
    for d in os.listdir(base) if os.path.isdir(base) else []:
        try:
            with open(os.path.join(base, d, "meta.json")) as f:
                names.append(json.load(f)["Name"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(names)


def _parse_docker_opt(value: str) -> dict[str, str]:
    """``host=tcp://h:2376,ca=PATH,cert=PATH,key=PATH,skip-tls-verify=true``."""
    fields: dict[str, str] = {}
    for part in value.split(","):
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or k not in ("host", "ca", "cert", "key", "skip-tls-verify", "from"):
            raise CLIError(f"unable to create docker endpoint config: unrecognized config "
                           f"key: {k}", 1)
        fields[k] = v
    return fields


def _default_meta() -> dict[str, Any]:
    """The built-in context: whatever DOCKYARD_HOST/DOCKER_HOST say, else the default socket."""
    host = os.environ.get("DOCKYARD_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    return {"Name": "default", "Metadata": {"Description": DEFAULT_DESCRIPTION},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
            "TLSMaterial": {}, "Storage": {"MetadataPath": "<IN MEMORY>",
                                            "TLSPath": "<IN MEMORY>"}}


CREATE_SPEC: list[FlagSpec] = [
    ("", "docker", STR, "set the docker endpoint (host=,ca=,cert=,key=,skip-tls-verify=)"),
    ("", "description", STR, "Description of the context"),
]
LS_SPEC: list[FlagSpec] = [
    ("f", "format", STR, "Pretty-print contexts using a Go template"),
    ("q", "quiet", BOOL, "Only show context names"),
]
RM_SPEC: list[FlagSpec] = [("f", "force", BOOL, "Force the removal of a context in use")]
INSPECT_SPEC: list[FlagSpec] = [("f", "format", STR, "Format output using a custom template")]


def _create(ctx: Context, cfg: str, argv: list[str]) -> int:
    import json

    opts, args = ctx.parse(argv, "context create [OPTIONS] CONTEXT", "Create a context",
                           CREATE_SPEC)
    if len(args) != 1:
        raise CLIError('"dockyard context create" requires exactly 1 argument.', 1)
    name = args[0]
    _check_name(name)
    if os.path.exists(os.path.join(_meta_dir(cfg, name), "meta.json")):
        raise CLIError(f'context "{name}" already exists', 1)
    fields = _parse_docker_opt(opts["docker"] or "")
    host = fields.get("host") or DEFAULT_HOST
    from dockyard.client import ClientError, parse_host

    try:
        parse_host(host)
    except ClientError as e:
        raise CLIError(f"unable to parse docker host `{host}`: {e}", 1) from None
    material: dict[str, bytes] = {}
    for key, fname in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")):
        if fields.get(key):
            path = os.path.expanduser(fields[key])
            try:
                with open(path, "rb") as f:
                    material[fname] = f.read()
            except OSError as e:
                raise CLIError(f"unable to create docker endpoint config: {e.strerror}: "
                               f"{path}", 1) from None
    if ("cert.pem" in material) != ("key.pem" in material):
        raise CLIError("unable to create docker endpoint config: cert and key must be "
                       "given together", 1)
    skip = fields.get("skip-tls-verify", "").lower() in ("1", "t", "true")
    meta = {"Name": name, "Metadata": {"Description": opts["description"] or ""},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}}}
    for fname, data in material.items():
        _write(os.path.join(_tls_dir(cfg, name), fname), data,
               0o600 if fname == "key.pem" else 0o644)
    _write(os.path.join(_meta_dir(cfg, name), "meta.json"), json.dumps(meta).encode())
    out(name)
    err(f'Successfully created context "{name}"')
    return 0


def _ls(ctx: Context, cfg: str, argv: list[str]) -> int:
    opts, _args = ctx.parse(argv, "context ls [OPTIONS]", "List contexts", LS_SPEC)
    current = _current(cfg)
    rows = []
    for meta in [_default_meta()] + [read_meta(cfg, n) for n in _names(cfg)]:
        ep = (meta.get("Endpoints") or {}).get("docker") or {}
        rows.append({"Name": meta["Name"], "Current": meta["Name"] == current,
                     "Description": (meta.get("Metadata") or {}).get("Description", ""),
                     "DockerEndpoint": ep.get("Host", ""), "Error": ""})
    if opts["quiet"]:
        for r in rows:
            out(r["Name"])
        return 0
    if opts["format"]:
        from dockyard.cli.formatting import write_json_lines, write_rows

        if opts["format"] == "json":
            write_json_lines(rows)
        else:
            write_rows(opts["format"], rows, {"Name": "NAME", "Description": "DESCRIPTION",
                                              "DockerEndpoint": "DOCKER ENDPOINT",
                                              "Error": "ERROR", "Current": "CURRENT"})
        return 0
    from dockyard.cli.render import tabulate

    lines = ["NAME\tDESCRIPTION\tDOCKER ENDPOINT\tERROR"]
    lines += [f"{r['Name']}{' *' if r['Current'] else ''}\t{r['Description']}\t"
              f"{r['DockerEndpoint']}\t" for r in rows]
    out(tabulate(lines))
    return 0


def _use(ctx: Context, cfg: str, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "context use CONTEXT", "Set the current docker context", [])
    if len(args) != 1:
        raise CLIError('"dockyard context use" requires exactly 1 argument.', 1)
    name = args[0]
    if name != "default":
        read_meta(cfg, name)  # must exist
    _set_current(cfg, name)
    out(name)
    err(f'Current context is now "{name}"')
    return 0


def _rm(ctx: Context, cfg: str, argv: list[str]) -> int:
    import shutil

    opts, args = ctx.parse(argv, "context rm CONTEXT [CONTEXT...]",
                           "Remove one or more contexts", RM_SPEC)
    if not args:
        raise CLIError('"dockyard context rm" requires at least 1 argument.', 1)
    current = _current(cfg)
    failed = False
    for name in args:
        try:
            if name == "default":
                raise CLIError("default: context \"default\" cannot be removed", 1)
            read_meta(cfg, name)
            if name == current:
                if not opts["force"]:
                    raise CLIError(f'context "{name}" is in use, set -f flag to force remove',
                                   1)
                _set_current(cfg, "default")
            shutil.rmtree(_meta_dir(cfg, name), ignore_errors=True)
            shutil.rmtree(os.path.dirname(_tls_dir(cfg, name)), ignore_errors=True)
            out(name)
        except CLIError as e:
            err(str(e.message))
            failed = True
    return 1 if failed else 0


def _inspect(ctx: Context, cfg: str, argv: list[str]) -> int:
    import json

    opts, args = ctx.parse(argv, "context inspect [OPTIONS] [CONTEXT] [CONTEXT...]",
                           "Display detailed information on one or more contexts",
                           INSPECT_SPEC)
    result = []
    for name in args or [_current(cfg)]:
        if name == "default":
            result.append(_default_meta())
            continue
        meta = read_meta(cfg, name)
        tdir = _tls_dir(cfg, name)
        files = [f for f in TLS_FILES if os.path.exists(os.path.join(tdir, f))]
        meta["TLSMaterial"] = {"docker": files} if files else {}
        meta["Storage"] = {"MetadataPath": _meta_dir(cfg, name),
                           "TLSPath": os.path.dirname(tdir)}
        result.append(meta)
    if opts["format"]:
        from dockyard.cli.formatting import write_rows

        write_rows(opts["format"], result, {})
    else:
        out(json.dumps(result, indent=4))
    return 0


def _show(ctx: Context, cfg: str, argv: list[str]) -> int:
    ctx.parse(argv, "context show", "Print the name of the current context", [])
    out(_current(cfg))
    return 0


_SUBCOMMANDS = {"create": _create, "ls": _ls, "list": _ls, "use": _use, "rm": _rm,
                "remove": _rm, "inspect": _inspect, "show": _show}

_HELP = """
Usage:  dockyard context COMMAND

Manage contexts (named daemon endpoints, shared with the docker CLI's ~/.docker/contexts)

Commands:
  create      Create a context
  inspect     Display detailed information on one or more contexts
  ls          List contexts
  rm          Remove one or more contexts
  show        Print the name of the current context
  use         Set the current docker context

Run 'dockyard context COMMAND --help' for more information on a command.
"""


def cmd_context(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.connect import config_dir

    if not argv or argv[0] in ("-h", "--help"):
        out(_HELP)
        return 0
    sub = _SUBCOMMANDS.get(argv[0])
    if sub is None:
        from dockyard.cli.flags import UsageError

        raise UsageError(f'unknown command "{argv[0]}" for "dockyard context"')
    return sub(ctx, config_dir(), argv[1:])
