"""``dockyard network``: create, ls, inspect, rm, connect, disconnect, prune as docker's."""

from __future__ import annotations

from typing import Any

from dockyard.cli.base import Context, out
from dockyard.cli.common import confirm, inspect_as, kv, no_args, print_ids, remove_each, run_group
from dockyard.cli.flags import BOOL, LIST, STR, UsageError, exact_args, min_args
from dockyard.client import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.flags import FlagSpec

SUBCOMMANDS = {
    "connect": "Connect a container to a network",
    "create": "Create a network",
    "disconnect": "Disconnect a container from a network",
    "inspect": "Display detailed information on one or more networks",
    "ls": "List networks",
    "prune": "Remove all unused networks",
    "rm": "Remove one or more networks",
}
_ALIASES = {"list": "ls", "remove": "rm"}

CREATE_SPEC: list[FlagSpec] = [
    ("", "attachable", BOOL, "Enable manual container attachment"),
    ("d", "driver", STR, "Driver to manage the Network (default \"bridge\")"),
    ("", "gateway", LIST, "IPv4 Gateway for the master subnet"),
    ("", "internal", BOOL, "Restrict external access to the network"),
    ("", "ip-range", LIST, "Allocate container ip from a sub-range"),
    ("", "ipam-driver", STR, "IP Address Management Driver (default \"default\")"),
    ("", "ipv6", BOOL, "Enable IPv6 networking"),
    ("", "label", LIST, "Set metadata on a network"),
    ("o", "opt", LIST, "Set driver specific options"),
    ("", "subnet", LIST, "Subnet in CIDR format that represents a network segment"),
]
LS_SPEC: list[FlagSpec] = [
    ("f", "filter", LIST, "Provide filter values (e.g. 'driver=bridge')"),
    ("", "format", STR, "Pretty-print networks using a Go template"),
    ("", "no-trunc", BOOL, "Do not truncate the output"),
    ("q", "quiet", BOOL, "Only display network IDs"),
]
INSPECT_SPEC: list[FlagSpec] = [
    ("f", "format", STR, "Format output using a custom template"),
    ("v", "verbose", BOOL, "Verbose output for diagnostics"),
]
RM_SPEC: list[FlagSpec] = [("f", "force", BOOL, "Do not error if the network does not exist")]
CONNECT_SPEC: list[FlagSpec] = [
    ("", "alias", LIST, "Add network-scoped alias for the container"),
    ("", "ip", STR, "IPv4 address (e.g., 172.30.100.104)"),
]
DISCONNECT_SPEC: list[FlagSpec] = [
    ("f", "force", BOOL, "Force the container to disconnect from a network"),
]
PRUNE_SPEC: list[FlagSpec] = [
    ("", "filter", LIST, "Provide filter values (e.g. 'until=<timestamp>')"),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
]
LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
              "CreatedAt": "CREATED AT"}


def cmd_network(ctx: Context, argv: list[str]) -> int:
    return run_group(ctx, argv, "network", "Manage networks", SUBCOMMANDS, _ALIASES,
                     lambda sub: globals()["_" + sub])


def _create(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network create [OPTIONS] NETWORK", SUBCOMMANDS["create"],
                           CREATE_SPEC)
    exact_args(args, 1, "network create")
    subnets, gateways, ranges = opts["subnet"], opts["gateway"], opts["ip_range"]
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    config = []
    for i, subnet in enumerate(subnets):
        cfg = {"Subnet": subnet}
        if i < len(gateways):
            cfg["Gateway"] = gateways[i]
        if i < len(ranges):
            cfg["IPRange"] = ranges[i]
        config.append(cfg)
    body = {"Name": args[0], "CheckDuplicate": True, "Driver": opts["driver"] or "bridge",
            "Internal": opts["internal"], "Attachable": opts["attachable"],
            "EnableIPv6": opts["ipv6"],
            "IPAM": {"Driver": opts["ipam_driver"] or "default", "Config": config,
                     "Options": {}},
            "Options": kv(opts["opt"], "--opt"), "Labels": kv(opts["label"], "--label")}
    res = ctx.client.post("/networks/create", json=body)
    out(res["Id"])
    return 0


def _ls(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network ls [OPTIONS]", SUBCOMMANDS["ls"], LS_SPEC)
    no_args(args, "network ls")
    from dockyard.cli.containers import parse_filters

    nets = ctx.client.get("/networks", {"filters": parse_filters(opts["filter"])}) or []
    nets.sort(key=lambda n: n["Name"])
    if opts["quiet"]:
        for n in nets:
            out(n["Id"] if opts["no_trunc"] else n["Id"][:12])
        return 0
    from dockyard.cli.formatting import write_rows

    rows: list[dict[str, Any]] = []
    for n in nets:
        rows.append({"ID": n["Id"] if opts["no_trunc"] else n["Id"][:12], "Name": n["Name"],
                     "Driver": n["Driver"], "Scope": n["Scope"],
                     "IPv6": str(n.get("EnableIPv6", False)).lower(),
                     "Internal": str(n.get("Internal", False)).lower(),
                     "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items()),
                     "CreatedAt": n.get("Created", "")})
    fmt = opts["format"] or LS_TABLE
    write_rows(LS_TABLE if fmt == "table" else fmt, rows, LS_HEADERS)
    return 0


def _inspect(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network inspect [OPTIONS] NETWORK [NETWORK...]",
                           SUBCOMMANDS["inspect"], INSPECT_SPEC)
    min_args(args, 1, "network inspect")
    return inspect_as(ctx, "network", opts["format"], args)


def _rm(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network rm NETWORK [NETWORK...]", SUBCOMMANDS["rm"], RM_SPEC)
    min_args(args, 1, "network rm")
    return remove_each(ctx, args, lambda name: f"/networks/{quote(name)}",
                       missing_ok=opts["force"])


def _connect(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network connect [OPTIONS] NETWORK CONTAINER",
                           SUBCOMMANDS["connect"], CONNECT_SPEC)
    exact_args(args, 2, "network connect")
    endpoint: dict[str, Any] = {}
    if opts["ip"]:
        endpoint["IPAMConfig"] = {"IPv4Address": opts["ip"]}
    if opts["alias"]:
        endpoint["Aliases"] = list(opts["alias"])
    ctx.client.call("POST", f"/networks/{quote(args[0])}/connect",
                    json={"Container": args[1], "EndpointConfig": endpoint})
    return 0


def _disconnect(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network disconnect [OPTIONS] NETWORK CONTAINER",
                           SUBCOMMANDS["disconnect"], DISCONNECT_SPEC)
    exact_args(args, 2, "network disconnect")
    ctx.client.call("POST", f"/networks/{quote(args[0])}/disconnect",
                    json={"Container": args[1], "Force": opts["force"]})
    return 0


def _prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "network prune [OPTIONS]", SUBCOMMANDS["prune"], PRUNE_SPEC)
    no_args(args, "network prune")
    if not opts["force"] and not confirm("WARNING! This will remove all custom networks not "
                                         "used by at least one container."):
        return 0
    from dockyard.cli.containers import parse_filters

    res = ctx.client.post("/networks/prune", {"filters": parse_filters(opts["filter"])}) or {}
    print_ids("Deleted Networks:", res.get("NetworksDeleted"))
    return 0
