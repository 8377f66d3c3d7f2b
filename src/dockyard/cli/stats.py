"""``stats``: CPU %, memory, block I/O and pids per container, as docker computes and prints
them; ``--no-stream`` prints one table, otherwise it is redrawn every second."""

from __future__ import annotations

import sys
import threading

from dockyard.cli.base import CLIError, Context
from dockyard.cli.flags import BOOL, STR
from dockyard.client import APIError, Client, ClientError, loads_stream, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

STATS_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Show all containers (default shows just running)"),
    ("", "format", STR, "Format output using a custom template"),
    ("", "no-stream", BOOL, "Disable streaming stats and only pull the first result"),
    ("", "no-trunc", BOOL, "Do not truncate output"),
]
STATS_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
               "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME",
           "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
           "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def row(doc: dict[str, Any], name: str, trunc: bool) -> dict[str, str]:
    """docker's stats formatter context for one stats object."""
    from dockyard.cli.render import bytes_size, human_size

    cpu, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage", 0)
                 - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage")
                                         or []) or 1
    cpu_pct = cpu_delta / sys_delta * ncpu * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = doc.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    inactive = (mem.get("stats") or {}).get("total_inactive_file")
    if inactive is None:
        inactive = (mem.get("stats") or {}).get("inactive_file", 0)
    if inactive < usage:
        usage -= inactive
    limit = mem.get("limit", 0)
    read = write = 0
    for e in (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        if e.get("op", "").lower() == "read":
            read += e.get("value", 0)
        elif e.get("op", "").lower() == "write":
            write += e.get("value", 0)
    rx = sum(n.get("rx_bytes", 0) for n in (doc.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (doc.get("networks") or {}).values())
    cid = doc.get("id", "")
    return {
        "ID": cid[:12] if trunc else cid,
        "Container": name,
        "Name": (doc.get("name") or "").lstrip("/") or "--",
        "CPUPerc": f"{cpu_pct:.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{usage / limit * 100.0:.2f}%" if limit else "0.00%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(read)} / {human_size(write)}",
        "PIDs": str((doc.get("pids_stats") or {}).get("current", 0)),
    }


class _Watcher(threading.Thread):
    """Follows one container's stats stream; keeps the latest object."""

    def __init__(self, host: str, version: str, name: str, stream: bool):
        super().__init__(daemon=True)
        self.client = Client(host, version)
        self.name = name
        self.stream = stream
        self.latest: dict[str, Any] | None = None
        self.error: str | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            resp = self.client.request("GET", f"/containers/{quote(self.name)}/stats",
                                       {"stream": self.stream})
            pending = ""
            for chunk in resp.stream():
                pending += chunk.decode("utf-8", "replace")
                *lines, pending = pending.split("\n")
                for line in lines:
                    for doc in loads_stream(line):
                        self.latest = doc
                        self.ready.set()
        except APIError as e:
            self.error = e.message
        except ClientError as e:
            self.error = str(e)
        finally:
            self.ready.set()


def cmd_stats(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "stats [OPTIONS] [CONTAINER...]",
                           "Display a live stream of container(s) resource usage statistics",
                           STATS_SPEC)
    client = ctx.client
    names = list(args)
    if not names:
        try:
            listed = client.get("/containers/json", {"all": True if opts["all"] else None})
        except APIError as e:
            raise CLIError(f"Error response from daemon: {e.message}", 1) from None
        names = [c["Id"] for c in listed or []]
    stream = not opts["no_stream"]
    watchers = [_Watcher(client.host, client.version, n, stream) for n in names]
    for w in watchers:
        w.start()
    for w in watchers:
        w.ready.wait()
    failed = [w for w in watchers if w.error and w.latest is None]
    if args and failed:
        raise CLIError(f"Error response from daemon: {failed[0].error}", 1)
    from dockyard.cli.formatting import write_rows

    fmt = opts["format"] or STATS_TABLE
    trunc = not opts["no_trunc"]

    def draw() -> None:
        rows = [row(w.latest, w.name, trunc) for w in watchers if w.latest is not None]
        write_rows(fmt, rows, HEADERS)
        sys.stdout.flush()

    if not stream:
        draw()
        return 0
    import time

    try:
        while True:
            sys.stdout.write("\033[2J\033[H")
            draw()
            if all(not w.is_alive() for w in watchers):
                return 0
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
