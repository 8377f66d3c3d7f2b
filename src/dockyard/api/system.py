"""System routes: _ping, version, info, events."""

import asyncio
import json
import os
import platform
import time

from aiohttp import web

from .. import __version__
from ..errors import DockyardError
from .app import API_VERSION, MIN_API_VERSION
from .filters import parse_filters

_EVENT_FILTERS = {"container", "event", "image", "label", "type", "volume", "network", "daemon",
                  "plugin", "node", "service", "secret", "config", "scope"}


async def ping(request: web.Request) -> web.Response:
    headers = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
               "Builder-Version": "1"}
    if request.method == "HEAD":
        return web.Response(status=200, headers=headers, content_type="text/plain")
    return web.Response(text="OK", headers=headers)


def _kernel() -> str:
    return platform.release()


async def version(request: web.Request) -> web.Response:
    engine = request.app["engine"]
    return web.json_response({
        "Platform": {"Name": "dockyard"},
        "Components": [
            {"Name": "Engine", "Version": __version__,
             "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                         "Os": "linux", "Arch": _arch(), "KernelVersion": _kernel()}},
            {"Name": "runc", "Version": engine.runtime_version(), "Details": {}},
        ],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": _kernel(),
        "BuildTime": "",
    })


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


async def info(request: web.Request) -> web.Response:
    engine = request.app["engine"]
    containers = engine.containers.list()
    count = {s: sum(1 for c in containers if c.state.status == s)
             for s in ("running", "paused")}
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    return web.json_response({
        "ID": engine.daemon_id,
        "Containers": len(containers),
        "ContainersRunning": count["running"],
        "ContainersPaused": count["paused"],
        "ContainersStopped": len(containers) - count["running"] - count["paused"],
        "Images": len(engine.images.list()),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": _network_drivers(engine),
                    "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "KernelMemoryTCP": False,
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True, "OomKillDisable": True,
        "IPv4Forwarding": _proc_flag("/proc/sys/net/ipv4/ip_forward"),
        "BridgeNfIptables": _proc_flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _proc_flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "NEventsListener": len(getattr(engine.events, "_subscribers", ())),
        "KernelVersion": _kernel(),
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count(),
        "MemTotal": mem,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {},
                           "Mirrors": []},
        "DockerRootDir": engine.root,
        "GenericResources": None,
        "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
        "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
        "Name": platform.node(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {"runc": {"path": engine.runtime_path}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": engine.runtime_version(), "Expected": engine.runtime_version()},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default"],
        "ProductLicense": "",
        "DefaultAddressPools": _address_pools(engine),
        "Warnings": request.app.get("daemon_warnings") or None,
    })


def _proc_flag(path: str) -> bool:
    try:
        with open(path) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _network_drivers(engine) -> list[str]:
    """The drivers the network service offers, once there is one."""
    nets = getattr(engine, "networks", None)
    drivers = getattr(nets, "drivers", None)
    if callable(drivers):
        drivers = drivers()
    return list(drivers) if drivers else (["bridge", "host", "null"] if nets else
                                          ["host", "null"])


def _address_pools(engine) -> list[dict]:
    cfg = getattr(getattr(engine, "networks", None), "config", None)
    if cfg is None or not getattr(cfg, "pool", None):
        return []
    return [{"Base": cfg.pool, "Size": getattr(cfg, "pool_size", 24)}]


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _event_matches(event: dict, f: dict[str, list[str]]) -> bool:
    if "type" in f and event["Type"] not in f["type"]:
        return False
    # "exec_start: sh -c ..." matches event=exec_start, as Docker's filter does.
    if "event" in f and event["Action"] not in f["event"] \
            and event["Action"].split(":", 1)[0] not in f["event"]:
        return False
    if "container" in f:
        actor = event["Actor"]
        if event["Type"] != "container" or not any(
                actor["ID"].startswith(v) or actor["Attributes"].get("name") == v
                for v in f["container"]):
            return False
    if "image" in f and not _image_matches(event, f["image"]):
        return False
    attrs = event["Actor"].get("Attributes") or {}
    for kind in ("volume", "network", "daemon", "plugin", "node", "service", "secret",
                 "config"):
        if kind in f and (event["Type"] != kind or not any(
                event["Actor"]["ID"].startswith(v) or attrs.get("name") == v
                for v in f[kind])):
            return False
    if "label" in f and not _labels_match(attrs, f["label"]):
        return False
    if "scope" in f and event.get("scope", "local") not in f["scope"]:
        return False
    return True


def _image_matches(event: dict, wanted: list[str]) -> bool:
    """A container's image attribute, or an image event's id or name; "busybox" also
    matches "busybox:latest" (moby strips the tag to compare)."""
    attrs = event["Actor"].get("Attributes") or {}
    names = {attrs.get("image"), event["Actor"]["ID"]}
    if event["Type"] == "image":
        names.add(attrs.get("name"))
    names.discard(None)
    names |= {n.rsplit(":", 1)[0] for n in list(names)
              if ":" in n and "/" not in n.rsplit(":", 1)[1] and not n.startswith("sha256:")}
    return any(w in names for w in wanted)


def _labels_match(attrs: dict, wanted: list[str]) -> bool:
    """Event labels are the actor's attributes: ``key`` or ``key=value`` must be there."""
    from .filters import match_labels

    return match_labels(attrs, wanted)


def _ns(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(float(value) * 1e9)
    except ValueError:
        from ..errors import InvalidArgument
        raise InvalidArgument(f"invalid time value: {value!r}") from None


async def events(request: web.Request) -> web.StreamResponse:
    bus = request.app["engine"].events
    f = parse_filters(request.query.get("filters"), _EVENT_FILTERS)
    since, until = _ns(request.query.get("since")), _ns(request.query.get("until"))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    queue = bus.subscribe()
    try:
        if since is not None:
            for e in bus.since(since, until):
                if _event_matches(e, f):
                    await resp.write(json.dumps(e).encode() + b"\n")
        while True:
            timeout = None
            if until is not None:
                timeout = max(0.0, until / 1e9 - time.time())
            try:
                e = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                break
            if until is not None and e["timeNano"] > until:
                break
            if _event_matches(e, f):
                await resp.write(json.dumps(e).encode() + b"\n")
        await resp.write_eof()
    except ConnectionError:
        pass  # the client left (ctrl-c on `docker events`): nothing to report
    finally:
        bus.unsubscribe(queue)
    return resp


def _created_ts(created: str) -> float:
    """RFC 3339 with nanoseconds → Unix time (fromisoformat takes at most microseconds)."""
    import re
    from datetime import datetime

    text = re.sub(r"(\.\d{6})\d+", r"\1", created).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


async def prune_containers(request: web.Request) -> web.Response:
    """POST /containers/prune: remove every stopped container matching ``until``/``label``."""
    from .commit import _parse_until
    from .filters import match_labels

    engine = request.app["engine"]
    f = parse_filters(request.query.get("filters"), {"until", "label", "label!"})
    until = _parse_until(f["until"][0]) if f.get("until") else None
    deleted: list[str] = []
    space = 0
    for c in engine.containers.list():
        if c.state.status in ("running", "paused", "restarting", "removing"):
            continue
        labels = c.config.get("Labels") or {}
        if f.get("label") and not match_labels(labels, f["label"]):
            continue
        if f.get("label!") and any(match_labels(labels, [x]) for x in f["label!"]):
            continue
        if until is not None and _created_ts(c.created) >= until:
            continue
        try:
            size = await asyncio.to_thread(engine.containers.size_rw, c)
            await engine.containers.remove(c.id)
        except DockyardError:
            continue  # started or removed meanwhile: not ours to prune
        deleted.append(c.id)
        space += size
    engine.events.emit("container", "prune", "", {"reclaimed": str(space)})
    return web.json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": space})


def register(r) -> None:
    r.add("POST", "/containers/prune", prune_containers)
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/events", events)
