"""Image commands: images, rmi, tag, import, and busybox-image (the offline base image)."""

from __future__ import annotations

import os
import sys
import time

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import BOOL, LIST, STR, UsageError, exact_args, min_args
from dockyard.client import APIError, Client, loads_stream, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from dockyard.cli.flags import FlagSpec

IMAGES_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Show all images (default hides intermediate images)"),
    ("", "digests", BOOL, "Show digests"),
    ("f", "filter", LIST, "Filter output based on conditions provided"),
    ("", "format", STR, "Format output using a custom template"),
    ("", "no-trunc", BOOL, "Don't truncate output"),
    ("q", "quiet", BOOL, "Only show image IDs"),
]
IMAGES_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
                        "{{.CreatedSince}}\t{{.Size}}")


def split_repo_tag(ref: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); the colon of a registry port is not a tag separator."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, ""
    return name, tag


def image_rows(img: dict[str, Any], trunc: bool, digests: bool,
               now: float) -> list[dict[str, Any]]:
    """docker's image formatter: one row per repository:tag (or one <none> row)."""
    from dockyard.cli.render import go_time, human_size, short_id, since

    image_id = img.get("Id", "")
    created = img.get("Created") or 0
    size = img.get("Size") or 0
    base = {
        "ID": short_id(image_id) if trunc else image_id,
        "CreatedSince": since(created, now) if created else "N/A",
        "CreatedAt": go_time(created),
        "Size": human_size(size),
        "VirtualSize": human_size(img.get("VirtualSize", size) or 0),
        "SharedSize": human_size(img["SharedSize"]) if img.get("SharedSize", -1) >= 0
        else "N/A",
        "UniqueSize": human_size(size - img["SharedSize"]) if img.get("SharedSize", -1) >= 0
        else "N/A",
        "Containers": str(img["Containers"]) if img.get("Containers", -1) >= 0 else "N/A",
    }
    repo_tags: dict[str, list[str]] = {}
    repo_digests: dict[str, list[str]] = {}
    for ref in img.get("RepoTags") or []:
        if ref == "<none>:<none>":
            continue
        repo, tag = split_repo_tag(ref)
        repo_tags.setdefault(repo, []).append(tag)
    for ref in img.get("RepoDigests") or []:
        if ref == "<none>@<none>":
            continue
        repo, _, digest = ref.partition("@")
        repo_digests.setdefault(repo, []).append(digest)
    rows = []
    if not repo_tags and not repo_digests:
        rows.append({**base, "Repository": "<none>", "Tag": "<none>", "Digest": "<none>"})
    for repo, tags in repo_tags.items():
        dgs = repo_digests.get(repo) or ["<none>"]
        for tag in tags:
            if digests:
                rows.extend({**base, "Repository": repo, "Tag": tag, "Digest": d} for d in dgs)
            else:
                rows.append({**base, "Repository": repo, "Tag": tag, "Digest": dgs[0]})
    for repo, dgs in repo_digests.items():
        if repo not in repo_tags:
            rows.extend({**base, "Repository": repo, "Tag": "<none>", "Digest": d}
                        for d in (dgs if digests else dgs[:1]))
    return rows


def cmd_images(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "images [OPTIONS] [REPOSITORY[:TAG]]", "List images",
                           IMAGES_SPEC)
    if len(args) > 1:
        raise UsageError('"dockyard images" requires at most 1 argument.')
    from dockyard.cli.containers import parse_filters

    filters = list(opts["filter"])
    if args:
        filters.append(f"reference={args[0]}")
    query = {"all": True if opts["all"] else None, "digests": True if opts["digests"] else None,
             "filters": parse_filters(filters)}
    images = ctx.client.get("/images/json", query) or []
    trunc = not opts["no_trunc"]
    now = time.time()
    rows = [row for img in images for row in image_rows(img, trunc, opts["digests"], now)]
    if opts["quiet"]:
        seen = []
        for row in rows:
            if row["ID"] not in seen:
                seen.append(row["ID"])
        for image_id in seen:
            out(image_id)
        return 0
    from dockyard.cli.formatting import write_rows

    fmt = opts["format"] or (IMAGES_DIGESTS_TABLE if opts["digests"] else IMAGES_TABLE)
    if fmt == "table":
        fmt = IMAGES_TABLE
    write_rows(fmt, rows, IMAGES_HEADERS)
    return 0


RMI_SPEC: list[FlagSpec] = [
    ("f", "force", BOOL, "Force removal of the image"),
    ("", "no-prune", BOOL, "Do not delete untagged parents"),
]


def cmd_rmi(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "rmi [OPTIONS] IMAGE [IMAGE...]",
                           "Remove one or more images", RMI_SPEC)
    min_args(args, 1, "rmi")
    failed = False
    for name in args:
        try:
            items = ctx.client.call("DELETE", f"/images/{quote(name, safe='/:@')}",
                                    {"force": opts["force"] or None,
                                     "noprune": opts["no_prune"] or None}) or []
        except APIError as e:
            err(f"Error response from daemon: {e.message}")
            failed = True
            continue
        for item in items:
            if item.get("Untagged"):
                out(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                out(f"Deleted: {item['Deleted']}")
    return 1 if failed else 0


def cmd_tag(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                            "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", [])
    exact_args(args, 2, "tag")
    target = args[1]
    if "@" in target:
        raise CLIError("refusing to create a tag with a digest reference", 1)
    repo, tag = split_repo_tag(target)
    ctx.client.request("POST", f"/images/{quote(args[0], safe='/:@')}/tag",
                       {"repo": repo, "tag": tag or "latest"}).read()
    return 0


# --- import ----------------------------------------------------------------------------------

IMPORT_SPEC: list[FlagSpec] = [
    ("c", "change", LIST, "Apply Dockerfile instruction to the created image"),
    ("m", "message", STR, "Set commit message for imported image"),
    ("", "platform", STR, "Set platform if server is multi-platform capable"),
]


def import_image(client: Client, source: str, body: Any, reference: str | None,
                 changes: list[str], message: str | None = None,
                 platform: str | None = None) -> str:
    """``POST /images/create?fromSrc=`` streaming ``body``; returns the new image id."""
    query: list[tuple[str, Any]] = [("fromSrc", source)]
    if reference:
        repo, tag = split_repo_tag(reference)
        if "@" in reference:
            raise CLIError("import does not accept a digest reference", 1)
        query += [("repo", repo), ("tag", tag or None)]
    query += [("message", message), ("platform", platform)]
    query += [("changes", c) for c in changes]
    headers = {"Content-Type": "application/x-tar"} if body is not None else None
    resp = client.request("POST", "/images/create", query, body, headers)
    image_id = ""
    text = resp.read().decode("utf-8", "replace")
    for msg in loads_stream(text):
        if not isinstance(msg, dict):
            continue
        if msg.get("error"):
            raise APIError(500, str(msg["error"]))
        status = msg.get("status")
        if status:
            image_id = str(status)
    return image_id


def _file_chunks(f: Any) -> Iterable[bytes]:
    while True:
        piece = f.read(1 << 20)
        if not piece:
            return
        yield piece


def cmd_import(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                           "Import the contents from a tarball to create a filesystem image",
                           IMPORT_SPEC)
    min_args(args, 1, "import")
    if len(args) > 2:
        raise UsageError('"dockyard import" requires at most 2 arguments.')
    source = args[0]
    reference = args[1] if len(args) > 1 else None
    if source == "-":
        body: Any = _file_chunks(sys.stdin.buffer)
        from_src = "-"
    elif source.startswith(("http://", "https://")):
        body, from_src = None, source
    else:
        try:
            f = open(source, "rb")  # noqa: SIM115 - streamed below, closed by the with
        except OSError as e:
            raise CLIError(f"open {source}: {e.strerror.lower()}", 1) from None
        with f:
            out(import_image(ctx.client, "-", _file_chunks(f), reference, opts["change"],
                             opts["message"], opts["platform"]))
        return 0
    out(import_image(ctx.client, from_src, body, reference, opts["change"], opts["message"],
                     opts["platform"]))
    return 0


# --- busybox-image ---------------------------------------------------------------------------

BUSYBOX_SPEC: list[FlagSpec] = [
    ("", "tag", STR, 'Name of the image to create (default "busybox:latest")'),
    ("", "busybox", STR, "Path of the static busybox binary (default: the host's)"),
    ("o", "output", STR, "Also write the root filesystem tar to this file"),
]


def cmd_busybox_image(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "busybox-image [OPTIONS]",
                           "Make the busybox base image from the host's busybox-static, offline",
                           BUSYBOX_SPEC)
    if args:
        raise UsageError('"dockyard busybox-image" accepts no arguments.')
    from dockyard.cli.rootfs import busybox_rootfs_tar
    from dockyard.errors import DockyardError

    try:
        tar = busybox_rootfs_tar(opts["busybox"])
    except DockyardError as e:
        raise CLIError(f"dockyard: {e}", 1) from None
    if opts["output"]:
        with open(opts["output"], "wb") as f:
            f.write(tar)
    reference = opts["tag"] or "busybox:latest"
    image_id = import_image(ctx.client, "-", tar, reference, ['CMD ["sh"]'],
                            f"busybox from {os.path.realpath(opts['busybox'] or '/bin/busybox')}")
    out(image_id)
    return 0
