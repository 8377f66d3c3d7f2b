"""Shapes that docker's resource commands share: a command group's help and dispatch, ``K=V``
flag lists, ``inspect`` through the generic one, and prune's prompt and listings.

One place for them keeps the wording identical across ``volume``, ``network``, ``image``,
``builder``, ``container`` and ``system``. Standard library and ``cli.base`` only: every
command module imports this one, so it must stay light.
"""

from __future__ import annotations

import sys

from dockyard.cli.base import Context, err, out
from dockyard.cli.flags import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def no_args(args: list[str], command: str) -> None:
    """Docker's refusal of positional arguments for ``command`` (``volume ls``…)."""
    if args:
        raise UsageError(f'"dockyard {command}" accepts no arguments.')


def run_group(ctx: Context, argv: list[str], group: str, title: str,
              subcommands: dict[str, str], aliases: dict[str, str],
              handler: Callable[[str], Callable[[Context, list[str]], int]],
              width: int = 12) -> int:
    """``dockyard GROUP SUB ...``: the group's help without a subcommand (or with --help),
    else the subcommand's handler (``handler(name)``) on the rest of argv."""
    if not argv or argv[0] in ("--help", "-h"):
        lines = ["", f"Usage:  dockyard {group} COMMAND", "", title, "", "Commands:"]
        lines += [f"  {k.ljust(width)}{v}" for k, v in subcommands.items()]
        out("\n".join(lines) + "\n")
        return 0
    sub = aliases.get(argv[0], argv[0])
    if sub not in subcommands:
        raise UsageError(f"unknown command \"{argv[0]}\" for \"dockyard {group}\"")
    return handler(sub)(ctx, argv[1:])


def kv(items: list[str], flag: str) -> dict[str, str]:
    """``--label``/``--opt`` values ``K=V`` (or ``K``, an empty value) as a dict."""
    outd = {}
    for item in items:
        k, _eq, v = item.partition("=")
        if not k:
            raise UsageError(f'invalid argument "{item}" for "{flag}" flag')
        outd[k] = v
    return outd


def inspect_as(ctx: Context, kind: str, fmt: str | None, names: list[str]) -> int:
    """``volume inspect``, ``network inspect``…: the generic ``inspect --type KIND``."""
    from dockyard.cli.containers import cmd_inspect

    argv = ["--type", kind] + (["--format", fmt] if fmt else [])
    return cmd_inspect(ctx, argv + names)


def remove_each(ctx: Context, names: list[str], path_of: Callable[[str], str],
                query: dict | None = None, missing_ok: bool = False) -> int:
    """``X rm A B``: each removed in turn and echoed; a failure prints the daemon's line and
    makes the exit status 1 once the rest are tried. ``missing_ok`` skips a 404 silently."""
    from dockyard.client import APIError

    failed = False
    for name in names:
        try:
            ctx.client.call("DELETE", path_of(name), query)
            out(name)
        except APIError as e:
            if missing_ok and e.status == 404:
                continue
            err(f"Error response from daemon: {e.message}")
            failed = True
    return 1 if failed else 0


def confirm(warning: str, sep: str = "\n") -> bool:
    """Docker's ``[y/N]`` prompt after ``warning``; only y/yes goes on."""
    sys.stdout.write(f"{warning}{sep}Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def print_ids(title: str, ids: list[str] | None) -> None:
    """A prune's ``Deleted X:`` block (nothing when nothing was deleted)."""
    if ids:
        out(title)
        for i in ids:
            out(i)
        out("")


def print_images_deleted(items: list[dict] | None) -> None:
    """``Deleted Images:`` with docker's untagged:/deleted: lines."""
    if items:
        out("Deleted Images:")
        for item in items:
            if item.get("Untagged"):
                out(f"untagged: {item['Untagged']}")
            if item.get("Deleted"):
                out(f"deleted: {item['Deleted']}")
        out("")
