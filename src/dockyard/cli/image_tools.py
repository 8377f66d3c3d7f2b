"""Image commands over containers and archives: commit, diff, history, export, save, load."""

from __future__ import annotations

import os
import sys
import time

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.common import confirm, no_args, print_images_deleted
from dockyard.cli.flags import BOOL, LIST, STR, TRUE_BOOL, UsageError, exact_args, min_args
from dockyard.client import loads_stream, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from dockyard.cli.flags import FlagSpec

_CHUNK = 1 << 20


def _chunks(f: Any) -> Iterable[bytes]:
    while piece := f.read(_CHUNK):
        yield piece


# --- commit ----------------------------------------------------------------------------------

COMMIT_SPEC: list[FlagSpec] = [
    ("a", "author", STR, 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
    ("c", "change", LIST, "Apply Dockerfile instruction to the created image"),
    ("m", "message", STR, "Commit message"),
    ("p", "pause", TRUE_BOOL, "Pause container during commit (default true)"),
]


def cmd_commit(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
                           "Create a new image from a container's changes", COMMIT_SPEC)
    min_args(args, 1, "commit")
    if len(args) > 2:
        raise UsageError('"dockyard commit" requires at least 1 and at most 2 arguments.')
    query: list[tuple[str, Any]] = [("container", args[0])]
    if len(args) > 1:
        from dockyard.cli.images import split_repo_tag

        if "@" in args[1]:
            raise CLIError("refusing to create a tag with a digest reference", 1)
        repo, tag = split_repo_tag(args[1])
        query += [("repo", repo), ("tag", tag or None)]
    query += [("comment", opts["message"]), ("author", opts["author"]),
              ("pause", "1" if opts["pause"] else "0")]
    query += [("changes", c) for c in opts["change"]]
    res = ctx.client.call("POST", "/commit", query, json={}) or {}
    out(str(res.get("Id", "")))
    return 0


# --- diff ------------------------------------------------------------------------------------

def cmd_diff(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "diff CONTAINER",
                            "Inspect changes to files or directories on a container's "
                            "filesystem", [])
    exact_args(args, 1, "diff")
    items = ctx.client.get(f"/containers/{quote(args[0])}/changes") or []
    for item in items:
        out(f"{'CAD'[item.get('Kind', 0)] if item.get('Kind') in (0, 1, 2) else '?'} "
            f"{item.get('Path', '')}")
    return 0


# --- history ---------------------------------------------------------------------------------

HISTORY_SPEC: list[FlagSpec] = [
    ("", "format", STR, "Format output using a custom template"),
    ("H", "human", TRUE_BOOL, "Print sizes and dates in human readable format (default true)"),
    ("", "no-trunc", BOOL, "Don't truncate output"),
    ("q", "quiet", BOOL, "Only show image IDs"),
]
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
HISTORY_TABLE = ("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t"
                 "{{.Comment}}")


def _history_row(h: dict[str, Any], trunc: bool, human: bool, now: float) -> dict[str, Any]:
    from dockyard.cli.render import ellipsis, go_time, human_size, short_id, since

    image_id = h.get("Id") or "<missing>"
    created = h.get("Created") or 0
    created_by = (h.get("CreatedBy") or "").replace("\t", " ")
    if trunc:
        created_by = ellipsis(created_by, 45)
    size = h.get("Size") or 0
    return {
        "ID": short_id(image_id) if trunc and image_id != "<missing>" else image_id,
        "CreatedSince": (since(created, now) if created else "N/A") if human
        else go_time(created),
        "CreatedAt": go_time(created),
        "CreatedBy": created_by,
        "Size": human_size(size) if human else str(size),
        "Comment": h.get("Comment") or "",
    }


def cmd_history(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "history [OPTIONS] IMAGE", "Show the history of an image",
                           HISTORY_SPEC)
    exact_args(args, 1, "history")
    rows = ctx.client.get(f"/images/{quote(args[0], safe='/:@')}/history") or []
    trunc = not opts["no_trunc"]
    now = time.time()
    shown = [_history_row(h, trunc, opts["human"], now) for h in rows]
    if opts["quiet"]:
        for row in shown:
            out(row["ID"])
        return 0
    from dockyard.cli.formatting import write_rows

    fmt = opts["format"] or HISTORY_TABLE
    if fmt == "table":
        fmt = HISTORY_TABLE
    write_rows(fmt, shown, HISTORY_HEADERS)
    return 0


# --- export / save ---------------------------------------------------------------------------

def _write_body(resp: Any, output: str | None, what: str) -> None:
    """Stream a tar response into ``output`` (atomically) or stdout (never a terminal)."""
    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                for piece in resp.stream():
                    f.write(piece)
            os.replace(tmp, output)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return
    if sys.stdout.isatty():
        raise CLIError(f"cowardly refusing to save to a terminal. Use the -o flag or "
                       f"redirect ({what})", 1)
    sys.stdout.flush()
    fd = sys.stdout.fileno()
    for piece in resp.stream():
        view = memoryview(piece)
        while view:
            n = os.write(fd, view)
            view = view[n:]


EXPORT_SPEC: list[FlagSpec] = [("o", "output", STR, "Write to a file, instead of STDOUT")]


def cmd_export(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "export [OPTIONS] CONTAINER",
                           "Export a container's filesystem as a tar archive", EXPORT_SPEC)
    exact_args(args, 1, "export")
    if not opts["output"] and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect",
                       1)
    resp = ctx.client.request("GET", f"/containers/{quote(args[0])}/export")
    _write_body(resp, opts["output"], "export")
    return 0


SAVE_SPEC: list[FlagSpec] = [
    ("o", "output", STR, "Write to a file, instead of STDOUT"),
]


def cmd_save(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "save [OPTIONS] IMAGE [IMAGE...]",
                           "Save one or more images to a tar archive (streamed to STDOUT by "
                           "default)", SAVE_SPEC)
    min_args(args, 1, "save")
    if not opts["output"] and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect",
                       1)
    resp = ctx.client.request("GET", "/images/get", [("names", n) for n in args])
    _write_body(resp, opts["output"], "save")
    return 0


# --- load ------------------------------------------------------------------------------------

LOAD_SPEC: list[FlagSpec] = [
    ("i", "input", STR, "Read from tar archive file, instead of STDIN"),
    ("q", "quiet", BOOL, "Suppress the load output"),
]


def cmd_load(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "load [OPTIONS]",
                           "Load an image from a tar archive or STDIN", LOAD_SPEC)
    no_args(args, "load")
    if opts["input"]:
        try:
            f = open(opts["input"], "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise CLIError(f"open {opts['input']}: {(e.strerror or str(e)).lower()}", 1
                           ) from None
    else:
        if sys.stdin.isatty():
            raise CLIError("requested load from stdin, but stdin is empty", 1)
        f = sys.stdin.buffer
    with f:
        resp = ctx.client.request("POST", "/images/load",
                                  {"quiet": "1" if opts["quiet"] else None}, _chunks(f),
                                  {"Content-Type": "application/x-tar"})
        text = resp.read().decode("utf-8", "replace")
    for msg in loads_stream(text):
        if not isinstance(msg, dict):
            continue
        if msg.get("error"):
            # The daemon answers 200 and names the failure in the stream: docker prints it
            # as it is (no "Error response from daemon" prefix), exit 1.
            raise CLIError(str(msg["error"]), 1)
        if msg.get("stream"):
            sys.stdout.write(msg["stream"])
    return 0


# --- image prune, system df ------------------------------------------------------------------

PRUNE_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Remove all unused images, not just dangling ones"),
    ("", "filter", LIST, 'Provide filter values (e.g. "until=<timestamp>")'),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
]


def cmd_image_prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "image prune [OPTIONS]", "Remove unused images", PRUNE_SPEC)
    no_args(args, "image prune")
    warning = ("WARNING! This will remove all images without at least one container "
               "associated to them." if opts["all"]
               else "WARNING! This will remove all dangling images.")
    if not opts["force"] and not confirm(warning):
        return 0
    from dockyard.cli.containers import parse_filters

    filters = list(opts["filter"])
    if opts["all"]:
        filters.append("dangling=false")
    res = ctx.client.call("POST", "/images/prune", {"filters": parse_filters(filters)}) or {}
    from dockyard.cli.render import human_size

    print_images_deleted(res.get("ImagesDeleted"))
    out(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed') or 0)}")
    return 0


DF_SPEC: list[FlagSpec] = [
    ("", "format", STR, "Format output using a custom template"),
    ("v", "verbose", BOOL, "Show detailed information on space usage"),
]
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}
DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _reclaim(value: int, total: int) -> str:
    from dockyard.cli.render import human_size

    pct = f" ({int(100 * value / total)}%)" if total else ""
    return human_size(value) + pct


def _build_cache_row(df: dict, human_size) -> dict:
    """As docker's: Size counts records not shared with images, Reclaimable is BuilderSize
    less what a running build uses."""
    cache = df.get("BuildCache") or []
    in_use = sum(c.get("Size") or 0 for c in cache if c.get("InUse") and not c.get("Shared"))
    return {"Type": "Build Cache", "TotalCount": str(len(cache)),
            "Active": str(sum(1 for c in cache if c.get("InUse"))),
            "Size": human_size(sum(c.get("Size") or 0 for c in cache if not c.get("Shared"))),
            "Reclaimable": human_size(max((df.get("BuilderSize") or 0) - in_use, 0))}


def cmd_system_df(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "system df [OPTIONS]", "Show docker disk usage", DF_SPEC)
    no_args(args, "system df")
    from dockyard.cli.render import human_size

    df = ctx.client.get("/system/df") or {}
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    layers = df.get("LayersSize") or 0
    active_images = [i for i in images if (i.get("Containers") or 0) > 0]
    active_unique = sum((i.get("Size") or 0) - max(i.get("SharedSize") or 0, 0)
                        for i in active_images)
    shared_active = max((i.get("SharedSize") or 0) for i in active_images) if active_images \
        else 0
    image_reclaim = max(layers - active_unique - shared_active, 0)
    ctr_size = sum(c.get("SizeRw") or 0 for c in containers)
    running = [c for c in containers if c.get("State") == "running"]
    ctr_reclaim = sum(c.get("SizeRw") or 0 for c in containers if c.get("State") != "running")
    volumes = [v for v in df.get("Volumes") or [] if v.get("UsageData")]
    vol_size = sum(max(v["UsageData"].get("Size") or 0, 0) for v in volumes)
    vol_reclaim = sum(max(v["UsageData"].get("Size") or 0, 0) for v in volumes
                      if not v["UsageData"].get("RefCount"))
    rows = [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(len(active_images)),
         "Size": human_size(layers), "Reclaimable": _reclaim(image_reclaim, layers)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(len(running)), "Size": human_size(ctr_size),
         "Reclaimable": _reclaim(ctr_reclaim, ctr_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for v in volumes if v["UsageData"]["RefCount"])),
         "Size": human_size(vol_size), "Reclaimable": _reclaim(vol_reclaim, vol_size)},
        _build_cache_row(df, human_size),
    ]
    from dockyard.cli.formatting import write_rows

    if opts["verbose"]:
        _df_verbose(df, images, containers)
        return 0
    fmt = opts["format"] or DF_TABLE
    if fmt == "table":
        fmt = DF_TABLE
    write_rows(fmt, rows, DF_HEADERS)
    return 0


DF_IMAGES_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
                   "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
DF_IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                     "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                     "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}
DF_CONTAINERS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
                       "{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
DF_CONTAINERS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                         "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE",
                         "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES"}
DF_VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
DF_VOLUMES_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
DF_CACHE_TABLE = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t"
                  "{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")
DF_CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                    "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                    "UsageCount": "USAGE", "Shared": "SHARED"}


def _df_verbose(df: dict, images: list, containers: list) -> None:
    """docker's ``system df -v``: one table per kind, in docker's order, columns and titles."""
    from dockyard.cli.containers import ps_row
    from dockyard.cli.formatting import write_rows
    from dockyard.cli.images import image_rows
    from dockyard.cli.render import ellipsis, go_quote, human_size, parse_rfc3339, since

    now = time.time()
    img_rows = []
    for img in images:
        for row in image_rows(img, True, False, now):
            shared = img.get("SharedSize")
            shared = 0 if shared is None else shared
            # docker's units.HumanSize here: four significant digits, not SIZE's three.
            row["UniqueSize"] = (human_size((img.get("Size") or 0) - shared, 4)
                                 if shared >= 0 else "N/A")
            row["SharedSize"] = human_size(shared, 4) if shared >= 0 else "N/A"
            row["Containers"] = str(img.get("Containers") or 0)
            img_rows.append(row)
    out("Images space usage:\n")
    write_rows(DF_IMAGES_TABLE, img_rows, DF_IMAGES_HEADERS)

    out("\nContainers space usage:\n")
    ctr_rows = []
    for c in containers:
        row = ps_row(c, True, now)
        # docker cuts the command to 20 characters first, then quotes it: "sh -c 'echo…"
        row["Command"] = go_quote(ellipsis(c.get("Command") or "", 20))
        ctr_rows.append(row)
    write_rows(DF_CONTAINERS_TABLE, ctr_rows, DF_CONTAINERS_HEADERS)

    vol_rows = []
    for v in df.get("Volumes") or []:
        usage = v.get("UsageData")
        size = (usage or {}).get("Size")
        vol_rows.append({
            "Name": v.get("Name") or "",
            "Links": str(usage.get("RefCount")) if usage else "N/A",
            "Size": human_size(size) if usage and size is not None and size >= 0 else "N/A"})
    out("\nLocal Volumes space usage:\n")
    write_rows(DF_VOLUMES_TABLE, vol_rows, DF_VOLUMES_HEADERS)

    def ago(stamp) -> str:
        epoch = parse_rfc3339(stamp) if isinstance(stamp, str) and stamp else None
        return since(epoch, now) if epoch is not None else ""

    cache_rows = []
    for c in df.get("BuildCache") or []:
        cid = (c.get("ID") or "")[:12]
        cache_rows.append({
            "ID": cid + "*" if c.get("Mutable") else cid,
            "CacheType": c.get("Type") or "",
            "Size": human_size(c.get("Size") or 0),
            "CreatedSince": ago(c.get("CreatedAt")),
            "LastUsedSince": ago(c.get("LastUsedAt")),
            "UsageCount": str(c.get("UsageCount") or 0),
            "Shared": "true" if c.get("Shared") else "false"})
    out(f"\nBuild cache usage: {human_size(df.get('BuilderSize') or 0, 4)}\n")
    write_rows(DF_CACHE_TABLE, cache_rows, DF_CACHE_HEADERS)
