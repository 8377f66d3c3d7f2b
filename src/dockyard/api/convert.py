"""Internal records → the Docker Engine API's JSON shapes, in one place at the edge."""

import calendar
import time
from datetime import datetime

from ..container.binds import inspect_mounts
from ..container.model import Container
from ..humanize import human_duration
from ..util import ZERO_TIME

_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped",
    "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild",
    "Labels", "StopSignal", "StopTimeout", "Shell",
)
_OMIT_EMPTY = ("ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress",
               "StopSignal", "StopTimeout", "Shell")

# LogConfig says "json-file": conmon writes its own format, but what clients (docker-py's
# containers.run) decide from this name — that `logs` can read the output back — holds.
_HOST_DEFAULTS = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "private", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
    "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0,
    "PidMode": "", "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False,
    "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "runc",
    "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
    "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": None,
    "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
    "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None,
    "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None, "Init": None,
}


def unix_seconds(rfc3339: str) -> int:
    if not rfc3339 or rfc3339.startswith("0001"):
        return 0
    # fromisoformat is C code; strptime would dominate a `ps` of many containers.
    return calendar.timegm(datetime.fromisoformat(rfc3339[:19]).timetuple())


def _seconds_since(rfc3339: str) -> float:
    ts = unix_seconds(rfc3339)
    frac = rfc3339[20:29] if len(rfc3339) > 20 and rfc3339[19] == "." else "0"
    return max(0.0, time.time() - ts - float("0." + frac.rstrip("Z")))


def status_text(c: Container) -> str:
    st = c.state
    if st.status == "running":
        up = f"Up {human_duration(_seconds_since(st.started_at))}"
        return up + _health_suffix(st.health) if st.health else up
    if st.status == "paused":
        return f"Up {human_duration(_seconds_since(st.started_at))} (Paused)"
    if st.status == "restarting":
        return f"Restarting ({st.exit_code}) {human_duration(_seconds_since(st.finished_at))} ago"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "dead":
        return "Dead"
    if st.status == "exited":
        return f"Exited ({st.exit_code}) {human_duration(_seconds_since(st.finished_at))} ago"
    return "Created"


def _health_suffix(health: dict) -> str:
    status = health.get("Status")
    if status == "starting":
        return " (health: starting)"
    return f" ({status})" if status in ("healthy", "unhealthy") else ""


def container_config(c: Container) -> dict:
    out = {}
    for key in _CONFIG_KEYS:
        value = c.config.get(key)
        if key in _OMIT_EMPTY and value in (None, {}, ""):
            continue
        out[key] = value
    for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        out[key] = bool(out.get(key))
    for key in ("Hostname", "Domainname", "User", "WorkingDir"):
        out[key] = out.get(key) or ""
    out["Labels"] = out.get("Labels") or {}
    return out


def host_config(c: Container) -> dict:
    out = dict(_HOST_DEFAULTS)
    out.update({k: v for k, v in c.host_config.items() if v is not None})
    return out


def container_inspect(c: Container, *, container_dir: str, log_path: str, upper: str,
                      size_rw: int | None = None) -> dict:
    st = c.state
    out = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.status,
            "Running": st.status in ("running", "paused", "restarting"),
            "Paused": st.status == "paused",
            "Restarting": st.status == "restarting",
            "OOMKilled": st.oom_killed,
            "Dead": st.status == "dead",
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at or ZERO_TIME,
            "FinishedAt": st.finished_at or ZERO_TIME,
        },
        "Image": c.image_id,
        "ResolvConfPath": f"{container_dir}/resolv.conf",
        "HostnamePath": f"{container_dir}/hostname",
        "HostsPath": f"{container_dir}/hosts",
        "LogPath": log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config(c),
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": upper}},
        "Mounts": inspect_mounts(c),
        "Config": container_config(c),
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "",
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": {},
        },
    }
    out["Config"]["Image"] = c.image_name
    if st.health is not None:
        out["State"]["Health"] = st.health
    if size_rw is not None:
        out["SizeRw"] = size_rw
    return out


def container_summary(c: Container, size_rw: int | None = None) -> dict:
    # Docker quotes arguments that contain a space, and only those.
    cmd = " ".join([c.path] + [f"'{a}'" if " " in a else a for a in c.args])
    out = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.image_name,
        "ImageID": c.image_id,
        "Command": cmd,
        "Created": unix_seconds(c.created),
        "Ports": [],
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": inspect_mounts(c),
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
    return out


def image_inspect(img) -> dict:
    cfg = img.config
    inner = cfg.get("config") or {}
    return {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Parent": img.parent or "",
        "Comment": cfg.get("comment", "") or _last_history_comment(cfg),
        "Created": img.created,
        "Container": cfg.get("container", ""),
        "ContainerConfig": cfg.get("container_config") or _empty_config(),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": _image_config(inner),
        "Architecture": cfg.get("architecture", "amd64"),
        "Variant": cfg.get("variant") or None,
        "Os": cfg.get("os", "linux"),
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(img.diff_ids)},
        "Metadata": {"LastTagTime": ZERO_TIME},
    }


def _last_history_comment(cfg: dict) -> str:
    hist = cfg.get("history") or []
    return (hist[-1].get("comment") or "") if hist else ""


def _empty_config() -> dict:
    return {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
        "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }


def _image_config(inner: dict) -> dict:
    out = _empty_config()
    for key, value in inner.items():
        out[key] = value
    return out


def image_summary(img, tags: list[str] | None = None) -> dict:
    inner = img.config.get("config") or {}
    tags = list(img.repo_tags) if tags is None else tags
    return {
        "Id": img.id,
        "ParentId": img.parent or "",
        "RepoTags": tags or ["<none>:<none>"],
        "RepoDigests": list(img.repo_digests) or (["<none>@<none>"] if not img.repo_tags else []),
        "Created": unix_seconds(img.created),
        "Size": img.size,
        "VirtualSize": img.size,
        "SharedSize": -1,
        "Labels": inner.get("Labels") or {},
        "Containers": -1,
    }
