"""``system prune`` and ``container prune``: remove what nothing uses, in docker's order.

``system prune`` calls each resource's prune endpoint (containers, networks, volumes with
``--volumes``, images, build cache); a daemon without one of them (404) is skipped, so the
command works whichever services this daemon has.
"""

from __future__ import annotations

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.common import confirm, no_args, print_ids, print_images_deleted
from dockyard.cli.flags import BOOL, LIST
from dockyard.client import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

SYSTEM_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Remove all unused images not just dangling ones"),
    ("", "filter", LIST, "Provide filter values (e.g. 'label=<key>=<value>')"),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
    ("", "volumes", BOOL, "Prune anonymous volumes"),
]
CONTAINER_SPEC: list[FlagSpec] = [
    ("", "filter", LIST, "Provide filter values (e.g. 'until=<timestamp>')"),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
]


def _prune(ctx: Context, path: str, filters: list[str],
           extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """POST one prune endpoint; None when this daemon has no such service."""
    from dockyard.cli.containers import parse_filters

    try:
        return ctx.client.call("POST", path, {"filters": parse_filters(filters),
                                              **(extra or {})}) or {}
    except APIError as e:
        if e.status in (404, 405):
            return None
        raise


def cmd_container_prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "container prune [OPTIONS]", "Remove all stopped containers",
                           CONTAINER_SPEC)
    no_args(args, "container prune")
    if not opts["force"] and not confirm(
            "WARNING! This will remove all stopped containers."):
        return 0
    from dockyard.cli.render import human_size

    res = _prune(ctx, "/containers/prune", opts["filter"]) or {}
    print_ids("Deleted Containers:", res.get("ContainersDeleted"))
    out(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed') or 0)}")
    return 0


def cmd_system_prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "system prune [OPTIONS]", "Remove unused data", SYSTEM_SPEC)
    no_args(args, "system prune")
    filters = list(opts["filter"])
    if opts["volumes"] and any(f.startswith("until=") for f in filters):
        raise CLIError('ERROR: The "until" filter is not supported with "--volumes"', 1)
    items = ["all stopped containers", "all networks not used by at least one container"]
    if opts["volumes"]:
        items.append("all anonymous volumes not used by at least one container")
    items += ["all images without at least one container associated to them" if opts["all"]
              else "all dangling images",
              "all build cache" if opts["all"] else "unused build cache"]
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not opts["force"] and not confirm(warning):
        return 0
    from dockyard.cli.render import human_size

    space = 0
    res = _prune(ctx, "/containers/prune", filters) or {}
    print_ids("Deleted Containers:", res.get("ContainersDeleted"))
    space += res.get("SpaceReclaimed") or 0
    res = _prune(ctx, "/networks/prune", filters) or {}
    print_ids("Deleted Networks:", res.get("NetworksDeleted"))
    if opts["volumes"]:
        res = _prune(ctx, "/volumes/prune", filters) or {}
        print_ids("Deleted Volumes:", res.get("VolumesDeleted"))
        space += res.get("SpaceReclaimed") or 0
    res = _prune(ctx, "/images/prune",
                 filters + (["dangling=false"] if opts["all"] else [])) or {}
    print_images_deleted(res.get("ImagesDeleted"))
    space += res.get("SpaceReclaimed") or 0
    res = _prune(ctx, "/build/prune", filters, {"all": True} if opts["all"] else None) or {}
    print_ids("Deleted build cache objects:", res.get("CachesDeleted"))
    space += res.get("SpaceReclaimed") or 0
    out(f"Total reclaimed space: {human_size(space)}")
    return 0
