"""``dockyard volume``: create, ls, inspect, rm, prune as docker's, plus export, import, clone."""

from __future__ import annotations

import os
import sys
from typing import Any

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.common import confirm, inspect_as, kv, no_args, print_ids, remove_each, run_group
from dockyard.cli.flags import BOOL, LIST, STR, UsageError, exact_args, min_args
from dockyard.client import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.flags import FlagSpec

SUBCOMMANDS = {
    "create": "Create a volume", "ls": "List volumes", "inspect":
    "Display detailed information on one or more volumes", "rm": "Remove one or more volumes",
    "prune": "Remove unused local volumes", "export": "Write a volume's content as a tar archive "
    "to STDOUT", "import": "Fill a volume from a tar archive (a file or STDIN)", "clone":
    "Copy a volume into a new volume",
}
_ALIASES = {"list": "ls", "remove": "rm"}

CREATE_SPEC: list[FlagSpec] = [
    ("d", "driver", STR, "Specify volume driver name (default \"local\")"),
    ("", "label", LIST, "Set metadata for a volume"),
    ("", "name", STR, "Specify volume name"),
    ("o", "opt", LIST, "Set driver specific options"),
]
LS_SPEC: list[FlagSpec] = [
    ("f", "filter", LIST, "Provide filter values (e.g. 'dangling=true')"),
    ("", "format", STR, "Pretty-print volumes using a Go template"),
    ("q", "quiet", BOOL, "Only display volume names"),
]
INSPECT_SPEC: list[FlagSpec] = [("f", "format", STR, "Format output using a custom template")]
RM_SPEC: list[FlagSpec] = [("f", "force", BOOL, "Force the removal of one or more volumes")]
PRUNE_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Remove all unused volumes, not just anonymous ones"),
    ("", "filter", LIST, "Provide filter values (e.g. 'label=<label>')"),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
]
NO_SPEC: list[FlagSpec] = []
LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
              "Scope": "SCOPE", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def cmd_volume(ctx: Context, argv: list[str]) -> int:
    return run_group(ctx, argv, "volume", "Manage volumes", SUBCOMMANDS, _ALIASES,
                     lambda sub: globals()["_" + sub], width=10)


def _create(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume create [OPTIONS] [VOLUME]", SUBCOMMANDS["create"],
                           CREATE_SPEC)
    if len(args) > 1:
        raise UsageError('"dockyard volume create" requires at most 1 argument.')
    if args and opts["name"] and args[0] != opts["name"]:
        raise UsageError("conflicting options: either specify --name or provide positional "
                         "arg, not both")
    body = {"Name": args[0] if args else (opts["name"] or ""),
            "Driver": opts["driver"] or "local",
            "DriverOpts": kv(opts["opt"], "--opt"), "Labels": kv(opts["label"], "--label")}
    v = ctx.client.post("/volumes/create", json=body)
    out(v["Name"])
    return 0


def _ls(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume ls [OPTIONS]", SUBCOMMANDS["ls"], LS_SPEC)
    no_args(args, "volume ls")
    from dockyard.cli.containers import parse_filters

    vols = (ctx.client.get("/volumes", {"filters": parse_filters(opts["filter"])})
            or {}).get("Volumes") or []
    vols.sort(key=lambda v: v["Name"])
    if opts["quiet"]:
        for v in vols:
            out(v["Name"])
        return 0
    from dockyard.cli.formatting import write_rows

    rows: list[dict[str, Any]] = []
    for v in vols:
        row = dict(v)
        row["Labels"] = ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items())
        rows.append(row)
    fmt = opts["format"] or LS_TABLE
    write_rows(LS_TABLE if fmt == "table" else fmt, rows, LS_HEADERS)
    return 0


def _inspect(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume inspect [OPTIONS] VOLUME [VOLUME...]",
                           SUBCOMMANDS["inspect"], INSPECT_SPEC)
    min_args(args, 1, "volume inspect")
    return inspect_as(ctx, "volume", opts["format"], args)


def _rm(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume rm [OPTIONS] VOLUME [VOLUME...]", SUBCOMMANDS["rm"],
                           RM_SPEC)
    min_args(args, 1, "volume rm")
    return remove_each(ctx, args, lambda name: f"/volumes/{quote(name)}",
                       {"force": True if opts["force"] else None})


def _prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume prune [OPTIONS]", SUBCOMMANDS["prune"], PRUNE_SPEC)
    no_args(args, "volume prune")
    what = "all volumes" if opts["all"] else "all anonymous local volumes"
    if not opts["force"] and not confirm(f"WARNING! This will remove {what} not used by at "
                                         "least one container."):
        return 0
    from dockyard.cli.containers import parse_filters
    from dockyard.cli.render import human_size

    filters = list(opts["filter"]) + ["all=true" if opts["all"] else "all=false"]
    res = ctx.client.post("/volumes/prune", {"filters": parse_filters(filters)}) or {}
    print_ids("Deleted Volumes:", res.get("VolumesDeleted"))
    out(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed') or 0)}")
    return 0


def _export(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "volume export [OPTIONS] VOLUME", SUBCOMMANDS["export"],
                           [("o", "output", STR, "Write to a file, instead of STDOUT")])
    exact_args(args, 1, "volume export")
    if not opts["output"] and os.isatty(1):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect",
                       1)
    resp = ctx.client.request("GET", f"/volumes/{quote(args[0])}/export")
    fd = os.open(opts["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) \
        if opts["output"] else 1
    try:
        from dockyard.client import write_fd

        for chunk in resp.stream():
            write_fd(fd, chunk)
    finally:
        if fd != 1:
            os.close(fd)
    return 0


def _import(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "volume import VOLUME FILE|-", SUBCOMMANDS["import"], NO_SPEC)
    exact_args(args, 2, "volume import")
    src = sys.stdin.buffer if args[1] == "-" else open(args[1], "rb")
    try:
        ctx.client.call("POST", f"/volumes/{quote(args[0])}/import", body=src,
                        headers={"Content-Type": "application/x-tar"})
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    out(args[0])
    return 0


def _clone(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "volume clone SOURCE TARGET", SUBCOMMANDS["clone"], NO_SPEC)
    exact_args(args, 2, "volume clone")
    ctx.client.call("POST", f"/volumes/{quote(args[0])}/clone", {"name": args[1]})
    out(args[1])
    return 0
