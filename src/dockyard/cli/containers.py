"""Container commands other than run/create/start: stop, kill, restart, rm, ps, logs, wait,
inspect. Output, columns and exit codes follow the docker CLI."""

from __future__ import annotations

import time

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import BOOL, INT, LIST, STR, UsageError, min_args
from dockyard.client import APIError, Client, dumps, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec


def _each(client: Client, names: list[str], act: Any, echo: bool = True) -> int:
    """Apply ``act`` to every name; print the name on success, docker's line on failure."""
    failed = False
    for name in names:
        try:
            act(client, name)
            if echo:
                out(name)
        except APIError as e:
            err(f"Error response from daemon: {e.message}")
            failed = True
    return 1 if failed else 0


# --- stop / kill / restart / rm / wait -------------------------------------------------------

STOP_SPEC: list[FlagSpec] = [
    ("s", "signal", STR, "Signal to send to the container"),
    ("t", "time", INT, "Seconds to wait before killing the container"),
]


def cmd_stop(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "stop [OPTIONS] CONTAINER [CONTAINER...]",
                           "Stop one or more running containers", STOP_SPEC)
    min_args(args, 1, "stop")
    query = {"t": opts["time"], "signal": opts["signal"]}
    return _each(ctx.client, args, lambda c, n: c.request(
        "POST", f"/containers/{quote(n)}/stop", query).read())


def cmd_restart(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "restart [OPTIONS] CONTAINER [CONTAINER...]",
                           "Restart one or more containers", STOP_SPEC)
    min_args(args, 1, "restart")
    query = {"t": opts["time"], "signal": opts["signal"]}
    return _each(ctx.client, args, lambda c, n: c.request(
        "POST", f"/containers/{quote(n)}/restart", query).read())


KILL_SPEC: list[FlagSpec] = [("s", "signal", STR, "Signal to send to the container")]


def cmd_kill(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "kill [OPTIONS] CONTAINER [CONTAINER...]",
                           "Kill one or more running containers", KILL_SPEC)
    min_args(args, 1, "kill")
    query = {"signal": opts["signal"]}
    return _each(ctx.client, args, lambda c, n: c.request(
        "POST", f"/containers/{quote(n)}/kill", query).read())


RM_SPEC: list[FlagSpec] = [
    ("f", "force", BOOL, "Force the removal of a running container (uses SIGKILL)"),
    ("l", "link", BOOL, "Remove the specified link"),
    ("v", "volumes", BOOL, "Remove anonymous volumes associated with the container"),
]


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "rm [OPTIONS] CONTAINER [CONTAINER...]",
                           "Remove one or more containers", RM_SPEC)
    min_args(args, 1, "rm")
    query = {"force": opts["force"] or None, "v": opts["volumes"] or None,
             "link": opts["link"] or None}
    return _each(ctx.client, args, lambda c, n: c.request(
        "DELETE", f"/containers/{quote(n)}", query).read())


def cmd_wait(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "wait CONTAINER [CONTAINER...]",
                            "Block until one or more containers stop, then print their exit codes",
                            [])
    min_args(args, 1, "wait")

    def wait(c: Client, name: str) -> None:
        result = c.call("POST", f"/containers/{quote(name)}/wait") or {}
        out(str(result.get("StatusCode", "")))
    return _each(ctx.client, args, wait, echo=False)


# --- ps --------------------------------------------------------------------------------------

PS_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Show all containers (default shows just running)"),
    ("f", "filter", LIST, "Filter output based on conditions provided"),
    ("", "format", STR, "Format output using a custom template"),
    ("n", "last", INT, "Show n last created containers (includes all states)"),
    ("l", "latest", BOOL, "Show the latest created container (includes all states)"),
    ("", "no-trunc", BOOL, "Don't truncate output"),
    ("q", "quiet", BOOL, "Only display container IDs"),
    ("s", "size", BOOL, "Display total file sizes"),
]
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
    "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
}
PS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
            "{{.Ports}}\t{{.Names}}")


def parse_filters(items: list[str]) -> str | None:
    """``-f k=v`` flags → the API's ``filters`` JSON (``{"k": ["v", ...]}``)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        filters.setdefault(key.strip().lower(), []).append(value)
    return dumps(filters) if filters else None


def ps_row(c: dict[str, Any], trunc: bool, now: float) -> dict[str, Any]:
    """docker's container formatter context as display strings."""
    from dockyard.cli.render import (
        ellipsis,
        format_ports,
        go_quote,
        go_time,
        human_size,
        short_id,
        since,
    )

    cid = c.get("Id", "")
    image = c.get("Image") or "<no image>"
    if trunc and image.startswith("sha256:"):
        image = short_id(image)
    command = c.get("Command") or ""
    names = [n[1:] if n.startswith("/") else n for n in c.get("Names") or []]
    if trunc:  # docker cuts, then quotes: "sh -c 'echo hello >…"
        command = ellipsis(command, 20)
        names = [n for n in names if "/" not in n][:1] or names[:1]
    command = go_quote(command)
    created = c.get("Created") or 0
    labels = c.get("Labels") or {}
    mounts = c.get("Mounts") or []
    size = ""
    if c.get("SizeRw") is not None or c.get("SizeRootFs") is not None:
        size = human_size(c.get("SizeRw") or 0)
        if c.get("SizeRootFs"):
            size += f" (virtual {human_size(c['SizeRootFs'])})"
    networks = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    return {
        "ID": short_id(cid) if trunc else cid,
        "Image": image,
        "Command": command,
        "CreatedAt": go_time(created),
        "RunningFor": since(created, now),
        "Ports": format_ports(c.get("Ports")),
        "State": c.get("State") or "",
        "Status": c.get("Status") or "",
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": lambda key: labels.get(key, ""),
        "Mounts": ",".join(m.get("Name") or m.get("Source") or "" for m in mounts),
        "Networks": ",".join(networks),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Driver") == "local")),
    }


def cmd_ps(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "ps [OPTIONS]", "List containers", PS_SPEC)
    if args:
        raise UsageError('"dockyard ps" accepts no arguments.')
    limit = 1 if opts["latest"] else opts["last"]
    query = {"all": True if opts["all"] or (limit and limit > 0) else None,
             "limit": limit if limit and limit > 0 else None,
             "size": True if opts["size"] else None,
             "filters": parse_filters(opts["filter"])}
    containers = ctx.client.get("/containers/json", query) or []
    trunc = not opts["no_trunc"]
    if opts["quiet"]:
        for c in containers:
            out(c["Id"][:12] if trunc else c["Id"])
        return 0
    from dockyard.cli.formatting import write_rows

    now = time.time()
    rows = [ps_row(c, trunc, now) for c in containers]
    fmt = opts["format"] or PS_TABLE
    if fmt == "table":
        fmt = PS_TABLE
    if opts["size"] and not opts["format"]:
        fmt += "\t{{.Size}}"
    write_rows(fmt, rows, PS_HEADERS)
    return 0


# --- logs ------------------------------------------------------------------------------------

LOGS_SPEC: list[FlagSpec] = [
    ("", "details", BOOL, "Show extra details provided to logs"),
    ("f", "follow", BOOL, "Follow log output"),
    ("", "since", STR,
     "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)"),
    ("n", "tail", STR, 'Number of lines to show from the end of the logs (default "all")'),
    ("t", "timestamps", BOOL, "Show timestamps"),
    ("", "until", STR, "Show logs before a timestamp or relative (e.g. 42m for 42 minutes)"),
]
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Go's time.ParseDuration ("1h30m", "42m", "1.5s") in seconds; None if it is not one."""
    if not text:
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    rest = text.lstrip("+-")
    total, found = 0.0, False
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        if i == 0:
            return None
        number = rest[:i]
        j = i
        while j < len(rest) and not (rest[j].isdigit() or rest[j] == "."):
            j += 1
        unit = rest[i:j]
        if unit not in _DURATION_UNITS:
            return None
        try:
            total += float(number) * _DURATION_UNITS[unit]
        except ValueError:
            return None
        found = True
        rest = rest[j:]
    return sign * total if found else None


def api_timestamp(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp: relative durations, RFC 3339 or unix times → "secs.nanos"."""
    from dockyard.cli.render import parse_rfc3339

    now = time.time() if now is None else now
    try:
        float(value)
        return value
    except ValueError:
        pass
    duration = parse_duration(value)
    if duration is not None:
        ts = now - duration
    else:
        text = value
        if "T" not in text:
            text += "T00:00:00"
        if not (text.endswith("Z") or "+" in text[10:] or "-" in text[10:]):
            text += "Z"
        parsed = parse_rfc3339(text)
        if parsed is None:
            raise UsageError(f'invalid value for "since"/"until": {value}')
        ts = parsed
    seconds = int(ts // 1)
    return f"{seconds}.{int(round((ts - seconds) * 1e9)):09d}"


def cmd_logs(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "logs [OPTIONS] CONTAINER", "Fetch the logs of a container",
                           LOGS_SPEC)
    if len(args) != 1:
        raise UsageError('"dockyard logs" requires exactly 1 argument.')
    from dockyard.cli.attach import FrameWriter
    from dockyard.client import write_fd

    client = ctx.client
    info = client.get(f"/containers/{quote(args[0])}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    query = {"stdout": True, "stderr": True, "follow": opts["follow"] or None,
             "timestamps": opts["timestamps"] or None, "details": opts["details"] or None,
             "tail": opts["tail"] or "all",
             "since": api_timestamp(opts["since"]) if opts["since"] else None,
             "until": api_timestamp(opts["until"]) if opts["until"] else None}
    resp = client.request("GET", f"/containers/{quote(info.get('Id') or args[0])}/logs", query)
    if tty:
        for chunk in resp.stream():
            write_fd(1, chunk)
    else:
        writer = FrameWriter()
        for chunk in resp.stream():
            writer.feed(chunk)
    return 0


# --- inspect ---------------------------------------------------------------------------------

INSPECT_SPEC: list[FlagSpec] = [
    ("f", "format", STR, "Format output using a custom template"),
    ("s", "size", BOOL, "Display total file sizes if the type is container"),
    ("", "type", STR, "Return JSON for specified type"),
]


def indent_json(items: list[Any]) -> str:
    """``json.MarshalIndent(v, "", "    ")`` as the docker CLI prints inspect output."""
    import json

    text = json.dumps(items, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inspect_one(client: Client, name: str, kind: str | None, size: bool) -> Any:
    kinds = [kind] if kind else ["container", "image"]
    for k in kinds:
        try:
            if k == "container":
                return client.get(f"/containers/{quote(name)}/json",
                                  {"size": True if size else None})
            if k == "image":
                return client.get(f"/images/{quote(name, safe='/:@')}/json")
            if k == "volume":
                return client.get(f"/volumes/{quote(name)}")
            if k == "network":
                return client.get(f"/networks/{quote(name)}")
        except APIError as e:
            if e.status != 404:
                raise
    return None


def cmd_inspect(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "inspect [OPTIONS] NAME|ID [NAME|ID...]",
                           "Return low-level information on dockyard objects", INSPECT_SPEC)
    min_args(args, 1, "inspect")
    kind = opts["type"]
    if kind and kind not in ("container", "image", "volume", "network"):
        raise UsageError(f'"{kind}" is not a valid value for --type')
    template = None
    if opts["format"]:
        from dockyard.cli.formatting import compile_format

        _table, template = compile_format(opts["format"])
    found: list[Any] = []
    missing = []
    for name in args:
        obj = _inspect_one(ctx.client, name, kind, opts["size"])
        if obj is None:
            missing.append(name)
            continue
        if template is None:
            found.append(obj)
            continue
        from dockyard.cli.template import TemplateError, template_message

        try:
            out(template.render(obj))
        except TemplateError as e:
            raise CLIError(template_message(e), 1) from None
    if template is None:
        out(indent_json(found))
    for name in missing:
        what = kind or "object"
        err(f"Error: No such {what}: {name}")
    return 1 if missing else 0


# --- pause / unpause / rename / top ----------------------------------------------------------


def cmd_pause(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "pause CONTAINER [CONTAINER...]",
                            "Pause all processes within one or more containers", [])
    min_args(args, 1, "pause")
    return _each(ctx.client, args, lambda c, n: c.request(
        "POST", f"/containers/{quote(n)}/pause").read())


def cmd_unpause(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "unpause CONTAINER [CONTAINER...]",
                            "Unpause all processes within one or more containers", [])
    min_args(args, 1, "unpause")
    return _each(ctx.client, args, lambda c, n: c.request(
        "POST", f"/containers/{quote(n)}/unpause").read())


def cmd_rename(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "rename CONTAINER NEW_NAME", "Rename a container", [])
    if len(args) != 2:
        raise UsageError('"dockyard rename" requires exactly 2 arguments.')
    try:
        ctx.client.request("POST", f"/containers/{quote(args[0])}/rename",
                           {"name": args[1]}).read()
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    return 0


def cmd_top(ctx: Context, argv: list[str]) -> int:
    _opts, args = ctx.parse(argv, "top CONTAINER [ps OPTIONS]",
                            "Display the running processes of a container", [],
                            interspersed=False)
    min_args(args, 1, "top")
    query = {"ps_args": " ".join(args[1:]) or None}
    try:
        result = ctx.client.get(f"/containers/{quote(args[0])}/top", query) or {}
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    rows = [result.get("Titles") or []] + list(result.get("Processes") or [])
    # docker's tabwriter: cells at least 20 wide, 3 spaces of padding, last column free.
    ncols = max(len(r) for r in rows)
    widths = [max([20] + [len(r[i]) + 3 for r in rows if i < len(r)]) for i in range(ncols)]
    for r in rows:
        cells = [cell.ljust(widths[i]) if i < len(r) - 1 else cell for i, cell in enumerate(r)]
        out("".join(cells))
    return 0


def cmd_port(ctx: Context, argv: list[str]) -> int:
    if argv and argv[0] in ("add", "rm") and len(argv) >= 3 and not argv[1].startswith("-"):
        return _port_change(ctx, argv[0], argv[1:])
    _opts, args = ctx.parse(argv, "port CONTAINER [PRIVATE_PORT[/PROTO]]\n"
                            "        dockyard port add|rm CONTAINER [IP:]HOST:CONTAINER[/PROTO]...",
                            "List port mappings or a specific mapping for the container; "
                            "add or remove published ports of a container (also running)", [])
    if not 1 <= len(args) <= 2:
        raise UsageError('"dockyard port" requires at least 1 and at most 2 arguments.')
    try:
        info = ctx.client.get(f"/containers/{quote(args[0])}/json")
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    ports = ((info.get("NetworkSettings") or {}).get("Ports")) or {}
    if len(args) == 2:
        port, _, proto = args[1].partition("/")
        key = f"{port}/{proto or 'tcp'}"
        bindings = ports.get(key) or []
        if not bindings:
            raise CLIError(f"Error: No public port '{key}' published for {args[0]}", 1)
        for b in bindings:
            out(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort', '')}")
        return 0
    for key in sorted(ports):
        for b in ports[key] or []:
            out(f"{key} -> {b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort', '')}")
    return 0


def _port_change(ctx: Context, action: str, args: list[str]) -> int:
    """dockyard's own ``port add|rm CONTAINER SPEC...``: publish or unpublish live."""
    from dockyard.cli.run import parse_publish

    _exposed, bindings = parse_publish(args[1:])
    body = {"Add" if action == "add" else "Remove": bindings}
    try:
        ctx.client.call("POST", f"/containers/{quote(args[0])}/ports", json=body)
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    if action == "add":
        return cmd_port(ctx, [args[0]])
    return 0


UPDATE_SPEC: list[FlagSpec] = [
    ("", "blkio-weight", INT, "Block IO (relative weight), between 10 and 1000"),
    ("", "cpu-period", INT, "Limit CPU CFS (Completely Fair Scheduler) period"),
    ("", "cpu-quota", INT, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    ("c", "cpu-shares", INT, "CPU shares (relative weight)"),
    ("", "cpus", STR, "Number of CPUs"),
    ("", "cpuset-cpus", STR, "CPUs in which to allow execution (0-3, 0,1)"),
    ("m", "memory", STR, "Memory limit"),
    ("", "memory-reservation", STR, "Memory soft limit"),
    ("", "memory-swap", STR, "Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
    ("", "pids-limit", INT, "Tune container pids limit (set -1 for unlimited)"),
    ("", "restart", STR, "Restart policy to apply when a container exits"),
]


def cmd_update(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "update [OPTIONS] CONTAINER [CONTAINER...]",
                           "Update configuration of one or more containers", UPDATE_SPEC)
    min_args(args, 1, "update")
    from dockyard.cli.run import parse_bytes, parse_restart

    body: dict[str, Any] = {}
    for key, field in (("memory", "Memory"), ("memory_swap", "MemorySwap"),
                       ("memory_reservation", "MemoryReservation")):
        if opts[key]:
            body[field] = parse_bytes(opts[key], "--" + key.replace("_", "-"))
    for key, field in (("cpu_shares", "CpuShares"), ("cpu_period", "CpuPeriod"),
                       ("cpu_quota", "CpuQuota"), ("pids_limit", "PidsLimit"),
                       ("blkio_weight", "BlkioWeight")):
        if opts[key] is not None:
            body[field] = opts[key]
    if opts["cpus"]:
        try:
            body["NanoCpus"] = int(round(float(opts["cpus"]) * 1e9))
        except ValueError:
            raise UsageError(f'invalid argument "{opts["cpus"]}" for "--cpus" flag') from None
    if opts["cpuset_cpus"]:
        body["CpusetCpus"] = opts["cpuset_cpus"]
    if opts["restart"]:
        body["RestartPolicy"] = parse_restart(opts["restart"])
    if not body:
        raise CLIError("You must provide one or more flags when using this command.", 1)
    return _each(ctx.client, args, lambda c, n: c.call(
        "POST", f"/containers/{quote(n)}/update", json=body))
