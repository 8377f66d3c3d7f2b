"""``events``: the daemon's event stream, docker's line format, filters and --since/--until
(durations such as ``10m``, RFC 3339 times or unix seconds)."""

from __future__ import annotations

import sys
import time

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.flags import LIST, STR, UsageError
from dockyard.client import APIError, ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

EVENTS_SPEC: list[FlagSpec] = [
    ("f", "filter", LIST, "Filter output based on conditions provided"),
    ("", "format", STR, "Format the output using the given Go template"),
    ("", "since", STR, "Show all events created since timestamp"),
    ("", "until", STR, "Stream events until this timestamp"),
]
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Go's ``time.ParseDuration`` ("1h30m", "10s", "250ms"), in seconds; None if not one."""
    i, total, n = 0, 0.0, len(text)
    if not text:
        return None
    while i < n:
        j = i
        while j < n and (text[j].isdigit() or text[j] == "."):
            j += 1
        if j == i:
            return None
        k = j
        while k < n and not (text[k].isdigit() or text[k] == "."):
            k += 1
        unit = text[j:k]
        if unit not in _UNITS:
            return None
        try:
            total += float(text[i:j]) * _UNITS[unit]
        except ValueError:
            return None
        i = k
    return total


def parse_time(value: str, now: float) -> str:
    """docker's GetTimestamp: a duration before now, a date/time, or unix seconds."""
    d = parse_duration(value)
    if d is not None:
        return f"{now - d:.9f}"
    try:
        return f"{float(value):.9f}"
    except ValueError:
        pass
    from datetime import UTC, datetime

    text = value.replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f'invalid value for time: "{value}"') from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC) if "T" not in value else dt.astimezone()
    return f"{dt.timestamp():.9f}"


def event_line(e: dict[str, Any]) -> str:
    """``2024-01-02T03:04:05.123456789Z container start <id> (image=busybox, name=x)``"""
    ns = int(e.get("timeNano") or int(e.get("time") or 0) * 1_000_000_000)
    sec, frac = divmod(ns, 1_000_000_000)
    tm = time.localtime(sec)
    offset = tm.tm_gmtoff
    sign = "+" if offset > 0 else "-"
    zone = "Z" if offset == 0 else f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{frac:09d}" + zone
    actor = e.get("Actor") or {}
    line = f"{stamp} {e.get('Type', '')} {e.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


def cmd_events(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "events [OPTIONS]", "Get real time events from the server",
                           EVENTS_SPEC)
    if args:
        raise UsageError('"dockyard events" accepts no arguments.')
    from dockyard.cli.containers import parse_filters

    now = time.time()
    query = {"since": parse_time(opts["since"], now) if opts["since"] else None,
             "until": parse_time(opts["until"], now) if opts["until"] else None,
             "filters": parse_filters(opts["filter"])}
    template = None
    if opts["format"]:
        from dockyard.cli.formatting import compile_format

        _table, template = compile_format(opts["format"])
    try:
        resp = ctx.client.request("GET", "/events", query)
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    from dockyard.client import loads

    pending = b""
    try:
        for chunk in resp.stream():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if not raw.strip():
                    continue
                e = loads(raw)
                out(template.render(e) if template is not None else event_line(e))
            sys.stdout.flush()  # a live stream: each event shows (or reaches a pipe) at once
    except KeyboardInterrupt:
        return 0
    except ClientError as e:
        raise CLIError(f"dockyard: {e}", 1) from None
    return 0
