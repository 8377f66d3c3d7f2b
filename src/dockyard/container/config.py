"""Validate a Docker ``POST /containers/create`` body and merge it with the image's config.

Untrusted JSON arrives here: every field is type-checked so a wrong type is a 400 with a clear
message, never a crash deeper down.
"""

from ..errors import InvalidArgument
from ..runtime.caps import normalize as normalize_cap
from ..runtime.seccomp import validate_security_opts
from ..runtime.spec import SpecOptions, build_rlimits, resources, tmpfs_options
from .binds import binds_of

# Config fields and the JSON types they accept (None is always accepted: "not set").
_CONFIG_TYPES: dict[str, tuple] = {
    "Hostname": (str,), "Domainname": (str,), "User": (str,),
    "AttachStdin": (bool,), "AttachStdout": (bool,), "AttachStderr": (bool,),
    "ExposedPorts": (dict,), "Tty": (bool,), "OpenStdin": (bool,), "StdinOnce": (bool,),
    "Env": (list,), "Cmd": (list, str), "Healthcheck": (dict,), "ArgsEscaped": (bool,),
    "Image": (str,), "Volumes": (dict,), "WorkingDir": (str,), "Entrypoint": (list, str),
    "NetworkDisabled": (bool,), "MacAddress": (str,), "OnBuild": (list,), "Labels": (dict,),
    "StopSignal": (str,), "StopTimeout": (int,), "Shell": (list,),
}
_HOST_TYPES: dict[str, tuple] = {
    "Binds": (list,), "NetworkMode": (str,), "PortBindings": (dict,), "RestartPolicy": (dict,),
    "AutoRemove": (bool,), "Memory": (int,), "MemorySwap": (int,), "MemoryReservation": (int,),
    "NanoCpus": (int,), "CpuShares": (int,), "CpuPeriod": (int,), "CpuQuota": (int,),
    "CpusetCpus": (str,), "PidsLimit": (int,), "Ulimits": (list,), "Privileged": (bool,),
    "CapAdd": (list,), "CapDrop": (list,), "ReadonlyRootfs": (bool,), "Init": (bool,),
    "ShmSize": (int,), "Tmpfs": (dict,), "Dns": (list,), "ExtraHosts": (list,),
    "SecurityOpt": (list,), "LogConfig": (dict,), "Mounts": (list,), "Devices": (list,),
    "Sysctls": (dict,), "OomKillDisable": (bool,), "VolumesFrom": (list,),
    "GroupAdd": (list,),
}


def _check_types(obj: dict, types: dict[str, tuple], where: str) -> None:
    for key, allowed in types.items():
        value = obj.get(key)
        if value is None:
            continue
        if bool not in allowed and isinstance(value, bool) and int in allowed:
            raise InvalidArgument(f"{where}.{key}: expected {allowed[0].__name__}, got bool")
        if not isinstance(value, allowed):
            names = " or ".join(t.__name__.replace("str", "string") for t in allowed)
            raise InvalidArgument(
                f"json: cannot unmarshal {type(value).__name__} into Go struct field "
                f"{where}.{key} of type {names}"
            )


def _str_list(value, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{field}: every element must be a string")
    return list(value)


def validate_create(body) -> tuple[dict, dict]:
    """Return (config, host_config) from a create body, or raise InvalidArgument."""
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body must be a JSON object")
    _check_types(body, _CONFIG_TYPES, "Config")
    host = body.get("HostConfig")
    host = {} if host is None else host
    if not isinstance(host, dict):
        raise InvalidArgument("HostConfig must be a JSON object")
    _check_types(host, _HOST_TYPES, "HostConfig")
    if not body.get("Image"):
        raise InvalidArgument("Config.Image: an image is required")
    config = {k: body.get(k) for k in _CONFIG_TYPES}
    config["Cmd"] = _str_list(config["Cmd"], "Cmd")
    config["Entrypoint"] = _str_list(config["Entrypoint"], "Entrypoint")
    config["Env"] = _str_list(config["Env"], "Env")
    for e in config["Env"] or []:
        if not e or e.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {e}")
    for key in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "ShmSize"):
        v = host.get(key)
        if v is not None and v < 0 and not (key in ("MemorySwap", "PidsLimit") and v == -1):
            raise InvalidArgument(f"invalid {key}: {v}")
    if host.get("Memory") and host["Memory"] < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    rp = host.get("RestartPolicy") or {}
    if rp.get("Name") and rp["Name"] not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy '{rp['Name']}'")
    if rp.get("Name") and host.get("AutoRemove") and rp["Name"] != "no":
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    binds_of(host)  # refuse bad mounts now, not at start
    _check_security(host)
    return config, dict(host)


# Sysctls that belong to a container's own namespaces (Docker's list).
_SYSCTL_NAMES = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                 "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
_SYSCTL_PREFIXES = ("net.", "fs.mqueue.")


def check_sysctls(sysctls: dict, network_mode: str = "") -> None:
    """Only namespaced sysctls: others would change the host for every container."""
    for key, value in sysctls.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"sysctl '{key}': the value must be a string")
        if key not in _SYSCTL_NAMES and not key.startswith(_SYSCTL_PREFIXES):
            raise InvalidArgument(f"sysctl '{key}={value}' is not whitelisted")
        if key.startswith("net.") and network_mode == "host":
            raise InvalidArgument(f"sysctl '{key}' is not allowed in host network namespace")


def _group(g) -> str:
    """Docker's []string; a number is taken too (a gid is a gid). Names resolve at start."""
    if isinstance(g, bool) or not isinstance(g, str | int) or g == "" or \
            (isinstance(g, int) and not 0 <= g < 2**32 - 1):
        raise InvalidArgument(f"GroupAdd: invalid group {g!r}: want a name or a number")
    return str(g)


def _check_security(host: dict) -> None:
    """SecurityOpt, Sysctls, Devices, Tmpfs and CpusetCpus: refused at create, with one line."""
    validate_security_opts(_str_list(host.get("SecurityOpt"), "SecurityOpt") or [])
    for key in ("CapAdd", "CapDrop"):
        for cap in _str_list(host.get(key), key) or []:
            normalize_cap(cap)
    if host.get("GroupAdd") is not None:
        host["GroupAdd"] = [_group(g) for g in host["GroupAdd"]]
    check_sysctls(host.get("Sysctls") or {}, host.get("NetworkMode") or "")
    for d in host.get("Devices") or []:
        if not isinstance(d, dict) or not isinstance(d.get("PathOnHost"), str) or \
                not str(d.get("PathOnHost")).startswith("/"):
            raise InvalidArgument(f"invalid device mapping: {d!r}")
        for key in ("PathInContainer", "CgroupPermissions"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise InvalidArgument(f"invalid device mapping: {d!r}")
        perms = d.get("CgroupPermissions") or "rwm"
        if set(perms) - set("rwm"):
            raise InvalidArgument(f"invalid device mode: {perms}")
    for dest, options in (host.get("Tmpfs") or {}).items():
        if options is not None and not isinstance(options, str):
            raise InvalidArgument(f"invalid tmpfs options for {dest}")
        tmpfs_options(dest, options or "")
    ulimits = host.get("Ulimits") or []
    if not all(isinstance(u, dict) for u in ulimits):
        raise InvalidArgument("HostConfig.Ulimits: every element must be an object")
    build_rlimits(ulimits)
    # What start would refuse (limits that do not fit together, devices that are not there)
    # is refused now: a client waiting for an --rm container's removal must not wait forever.
    resources(SpecOptions(
        rootfs="", args=["true"], env=[], memory=host.get("Memory") or 0,
        memory_swap=host.get("MemorySwap") or 0,
        memory_reservation=host.get("MemoryReservation") or 0,
        nano_cpus=host.get("NanoCpus") or 0, cpu_shares=host.get("CpuShares") or 0,
        pids_limit=host.get("PidsLimit") or 0, cpuset_cpus=host.get("CpusetCpus") or "",
        devices=[] if host.get("Privileged") else list(host.get("Devices") or [])))


def _env_key(e: str) -> str:
    return e.split("=", 1)[0]


def merge_with_image(config: dict, image_config: dict) -> dict:
    """Docker's merge: the container's settings win; image values fill what is unset."""
    img = image_config or {}
    out = dict(config)
    env = list(img.get("Env") or [])
    user_env = config.get("Env") or []
    user_keys = {_env_key(e) for e in user_env}
    out["Env"] = [e for e in env if _env_key(e) not in user_keys] + list(user_env)
    if not config.get("Entrypoint"):
        if not config.get("Cmd"):
            out["Cmd"] = img.get("Cmd")
        if config.get("Entrypoint") is None:
            out["Entrypoint"] = img.get("Entrypoint")
    for key in ("WorkingDir", "User", "StopSignal", "Healthcheck", "Shell", "OnBuild"):
        if not out.get(key) and img.get(key):
            out[key] = img[key]
    labels = dict(img.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    out["Labels"] = labels
    for key in ("ExposedPorts", "Volumes"):
        merged = dict(img.get(key) or {})
        merged.update(config.get(key) or {})
        out[key] = merged or None
    if out.get("Entrypoint") == [""]:
        out["Entrypoint"] = None
    return out


def command_line(config: dict) -> list[str]:
    argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not argv:
        raise InvalidArgument("No command specified")
    return argv
