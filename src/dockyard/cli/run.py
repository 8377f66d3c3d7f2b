"""``run``, ``create`` and ``start``: the hot path, kept to the client module and the stdlib.

``run`` does what the docker CLI does: create (pulling when the image is missing), attach
(hijacked) before start so no output is lost, send ``wait`` (``next-exit``, or ``removed`` with
``--rm``) before start so the exit cannot be missed, start, copy the streams, exit with the
container's status. A start failure maps to 125/126/127 the way docker maps runc's message.
"""

from __future__ import annotations

import os
import select
import sys

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import BOOL, INT, LIST, STR, TRUE_BOOL, UsageError, min_args
from dockyard.client import (
    APIError,
    Client,
    ClientError,
    dumps,
    error_message,
    quote,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

CREATE_SPEC: list[FlagSpec] = [
    ("a", "attach", LIST, "Attach to STDIN, STDOUT or STDERR"),
    ("", "add-host", LIST, "Add a custom host-to-IP mapping (host:ip)"),
    ("", "cap-add", LIST, "Add Linux capabilities"),
    ("", "cap-drop", LIST, "Drop Linux capabilities"),
    ("", "cidfile", STR, "Write the container ID to the file"),
    ("c", "cpu-shares", INT, "CPU shares (relative weight)"),
    ("", "cpus", STR, "Number of CPUs"),
    ("", "cpuset-cpus", STR, "CPUs in which to allow execution (0-3, 0,1)"),
    ("", "device", LIST, "Add a host device to the container"),
    ("", "dns", LIST, "Set custom DNS servers"),
    ("", "dns-option", LIST, "Set DNS options"),
    ("", "dns-search", LIST, "Set custom DNS search domains"),
    ("", "domainname", STR, "Container NIS domain name"),
    ("", "entrypoint", STR, "Overwrite the default ENTRYPOINT of the image"),
    ("e", "env", LIST, "Set environment variables"),
    ("", "env-file", LIST, "Read in a file of environment variables"),
    ("", "expose", LIST, "Expose a port or a range of ports"),
    ("", "group-add", LIST, "Add additional groups to join"),
    ("", "health-cmd", STR, "Command to run to check health"),
    ("", "health-interval", STR, "Time between running the check (ms|s|m|h) (default 0s)"),
    ("", "health-on-failure", STR, "Action when unhealthy: none, restart, stop or kill"),
    ("", "health-retries", INT, "Consecutive failures needed to report unhealthy"),
    ("", "health-start-interval", STR, "Time between running the check during the start "
     "period (ms|s|m|h) (default 0s)"),
    ("", "health-start-period", STR, "Start period for the container to initialize before "
     "starting health-retries countdown (ms|s|m|h) (default 0s)"),
    ("", "health-timeout", STR, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    ("h", "hostname", STR, "Container host name"),
    ("", "init", BOOL, "Run an init inside the container that forwards signals and reaps"),
    ("i", "interactive", BOOL, "Keep STDIN open even if not attached"),
    ("", "ip", STR, "IPv4 address (e.g., 172.30.100.104)"),
    ("", "ip6", STR, "IPv6 address (e.g., 2001:db8::33)"),
    ("", "ipc", STR, "IPC mode to use"),
    ("l", "label", LIST, "Set meta data on a container"),
    ("", "label-file", LIST, "Read in a line delimited file of labels"),
    ("", "link", LIST, "Add link to another container"),
    ("", "log-driver", STR, "Logging driver for the container"),
    ("", "log-opt", LIST, "Log driver options"),
    ("", "mac-address", STR, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    ("m", "memory", STR, "Memory limit"),
    ("", "memory-reservation", STR, "Memory soft limit"),
    ("", "memory-swap", STR, "Swap limit equal to memory plus swap: '-1' for unlimited"),
    ("", "mount", LIST, "Attach a filesystem mount to the container"),
    ("", "name", STR, "Assign a name to the container"),
    ("", "network", STR, "Connect a container to a network"),
    ("", "network-alias", LIST, "Add network-scoped alias for the container"),
    ("", "no-healthcheck", BOOL, "Disable any container-specified HEALTHCHECK"),
    ("", "pid", STR, "PID namespace to use"),
    ("", "pids-limit", INT, "Tune container pids limit (set -1 for unlimited)"),
    ("", "platform", STR, "Set platform if server is multi-platform capable"),
    ("", "privileged", BOOL, "Give extended privileges to this container"),
    ("p", "publish", LIST, "Publish a container's port(s) to the host"),
    ("P", "publish-all", BOOL, "Publish all exposed ports to random ports"),
    ("", "pull", STR, 'Pull image before running ("always", "missing", "never")'),
    ("q", "quiet", BOOL, "Suppress the pull output"),
    ("", "read-only", BOOL, "Mount the container's root filesystem as read only"),
    ("", "restart", STR, "Restart policy to apply when a container exits"),
    ("", "rm", BOOL, "Automatically remove the container when it exits"),
    ("", "security-opt", LIST, "Security Options"),
    ("", "shm-size", STR, "Size of /dev/shm"),
    ("", "stop-signal", STR, "Signal to stop the container"),
    ("", "stop-timeout", INT, "Timeout (in seconds) to stop a container"),
    ("", "sysctl", LIST, "Sysctl options"),
    ("", "tmpfs", LIST, "Mount a tmpfs directory"),
    ("t", "tty", BOOL, "Allocate a pseudo-TTY"),
    ("", "ulimit", LIST, "Ulimit options"),
    ("u", "user", STR, "Username or UID (format: <name|uid>[:<group|gid>])"),
    ("", "userns", STR, "User namespace to use"),
    ("v", "volume", LIST, "Bind mount a volume"),
    ("", "volumes-from", LIST, "Mount volumes from the specified container(s)"),
    ("w", "workdir", STR, "Working directory inside the container"),
]
RUN_SPEC: list[FlagSpec] = sorted(
    CREATE_SPEC + [
        ("d", "detach", BOOL, "Run container in background and print container ID"),
        ("", "detach-keys", STR, "Override the key sequence for detaching a container"),
        ("", "sig-proxy", TRUE_BOOL, "Proxy received signals to the process (default true)"),
    ],
    key=lambda f: f[1],
)
_ALIASES = {"net": "network"}


# --- flag values → Engine API body -----------------------------------------------------------


def parse_bytes(value: str, flag: str) -> int:
    """docker's RAMInBytes: "512m", "1.5g", "100k", "1024" (binary units)."""
    text = value.strip().lower()
    if text == "-1":
        return -1
    mult = 1
    if text.endswith("ib"):
        text = text[:-2] + "b"
    if text.endswith("b"):
        text = text[:-1]
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    if text and text[-1] in units:
        mult = units[text[-1]]
        text = text[:-1]
    try:
        number = float(text.strip())
    except ValueError:
        raise UsageError(f'invalid argument "{value}" for "{flag}" flag: '
                         f"invalid size: '{value}'") from None
    if number < 0:
        raise UsageError(f'invalid argument "{value}" for "{flag}" flag: '
                         f"invalid size: '{value}'")
    return int(number * mult)


def _env_value(item: str) -> str | None:
    """``K=V`` as is; a bare ``K`` takes the CLI's value, or is dropped when unset."""
    if "=" in item:
        if item.startswith("="):
            raise UsageError(f"invalid environment variable: {item}")
        return item
    value = os.environ.get(item)
    return None if value is None else f"{item}={value}"


def read_env_files(paths: list[str]) -> list[str]:
    out_env: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise UsageError(f"open {path}: {e.strerror}") from None
        for line in lines:
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            value = _env_value(line)
            if value is not None:
                out_env.append(value)
    return out_env


def _port_key(spec: str) -> str:
    port, _, proto = spec.partition("/")
    return f"{port}/{proto or 'tcp'}"


def parse_publish(items: list[str]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """``-p [ip:][hostPort:]containerPort[/proto]`` → (ExposedPorts, PortBindings)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for item in items:
        if item.startswith("["):  # [::1]:8080:80
            end = item.index("]")
            ip, rest = item[1:end], item[end + 2:]
            host_port, _, container = rest.rpartition(":")
        else:
            parts = item.split(":")
            if len(parts) == 1:
                ip, host_port, container = "", "", parts[0]
            elif len(parts) == 2:
                ip, (host_port, container) = "", parts
            elif len(parts) == 3:
                ip, host_port, container = parts
            else:
                raise UsageError(f"invalid port specification: {item!r}")
        number, _, proto = container.partition("/")
        ports = _port_range(number, "containerPort")
        hosts = _port_range(host_port, "hostPort") if host_port else []
        if len(hosts) > 1 and len(ports) > 1 and len(hosts) != len(ports):
            raise UsageError(f"invalid ranges specified for container and host Ports: "
                             f"{container} and {host_port}")
        for i, port in enumerate(ports):
            key = _port_key(f"{port}/{proto}" if proto else str(port))
            exposed[key] = {}
            if len(ports) > 1 and hosts:
                hp = str(hosts[i])
            else:
                hp = host_port
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": hp})
    return exposed, bindings


def _port_range(value: str, what: str) -> list[int]:
    """``80`` or ``8000-8010`` -> the ports."""
    lo, _, hi = value.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()) or int(hi or lo) < int(lo) or \
            not 0 < int(lo) <= int(hi or lo) < 65536:
        raise UsageError(f"invalid {what}: {value}")
    return list(range(int(lo), int(hi or lo) + 1))


def parse_restart(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise UsageError(f"invalid restart policy {value!r}")
    if count and name != "on-failure":
        raise UsageError(f"maximum retry count cannot be used with restart policy '{name}'")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise UsageError(f"invalid restart policy {value!r}") from None
    return {"Name": name, "MaximumRetryCount": retries}


def parse_ulimit(value: str) -> dict[str, Any]:
    name, eq, limits = value.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        soft_n = int(soft)
        hard_n = int(hard) if hard else soft_n
    except ValueError:
        raise UsageError(f"invalid ulimit argument: {value}") from None
    if not eq or not name:
        raise UsageError(f"invalid ulimit argument: {value}")
    return {"Name": name, "Soft": soft_n, "Hard": hard_n}


def security_opt(value: str) -> str:
    """docker reads a ``seccomp=FILE`` profile itself and sends its (compacted) contents."""
    key, sep, path = value.partition("=")
    if not sep and value.startswith("seccomp:"):
        key, sep, path = value.partition(":")
    if key != "seccomp" or path in ("unconfined", "builtin", ""):
        return value
    import json

    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except OSError as e:
        raise UsageError(f"opening seccomp profile ({path}) failed: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"compacting json for seccomp profile ({path}) failed: {e}") from None
    return "seccomp=" + json.dumps(doc, separators=(",", ":"))


def parse_device(value: str) -> dict[str, str]:
    """``/dev/fuse``, ``/dev/sda:/dev/xvda``, ``/dev/sda:/dev/xvda:r`` → a Devices entry."""
    parts = value.split(":")
    perms = "rwm"
    if len(parts) == 3:
        perms = parts.pop()
    elif len(parts) == 2 and parts[1] and not parts[1].startswith("/"):
        perms = parts.pop()
    if len(parts) > 2 or not parts[0] or not perms or set(perms) - set("rwm"):
        raise UsageError(f"invalid argument \"{value}\" for \"--device\" flag: "
                         f"bad format for path: {value}")
    inside = parts[1] if len(parts) == 2 else parts[0]
    return {"PathOnHost": parts[0], "PathInContainer": inside, "CgroupPermissions": perms}


_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def parse_sysctls(items: list[str]) -> dict[str, str]:
    """docker's ``--sysctl key=value``: namespaced ones only, refused as docker refuses."""
    out_map: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or (key not in _SYSCTLS and not key.startswith(("net.", "fs.mqueue."))):
            raise UsageError(f"invalid argument \"{item}\" for \"--sysctl\" flag: "
                             f"sysctl '{item}' is not whitelisted")
        out_map[key] = value
    return out_map


def _labels(items: list[str], files: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    lines = list(items)
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                lines += [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        except OSError as e:
            raise UsageError(f"open {path}: {e.strerror}") from None
    for item in lines:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def build_create_body(opts: dict[str, Any], image: str, cmd: list[str],
                      detach: bool) -> dict[str, Any]:
    """The ``POST /containers/create`` body for docker's run/create flags."""
    env = read_env_files(opts["env_file"])
    for item in opts["env"]:
        value = _env_value(item)
        if value is not None:
            env.append(value)
    streams = {s.lower() for s in opts["attach"]}
    for s in streams:
        if s not in ("stdin", "stdout", "stderr"):
            raise UsageError(f"invalid argument \"{s}\" for \"-a, --attach\" flag: "
                             "valid streams are STDIN, STDOUT and STDERR")
    if detach and streams:
        raise UsageError("conflicting options: cannot specify both --attach and --detach")
    interactive = opts["interactive"]
    attach_stdin = ("stdin" in streams) if streams else (interactive and not detach)
    attach_out = ("stdout" in streams) if streams else not detach
    attach_err = ("stderr" in streams) if streams else not detach
    exposed, bindings = parse_publish(opts["publish"])
    for item in opts["expose"]:
        number, _, proto = item.partition("/")
        for port in _port_range(number, "port"):
            exposed[_port_key(f"{port}/{proto}" if proto else str(port))] = {}
    binds: list[str] = []
    volumes: dict[str, dict] = {}
    for item in opts["volume"]:
        if item.startswith((".", "~")) and ":" in item:
            # docker 23+: a relative or ~ host path is made absolute by the client
            src, _, rest = item.partition(":")
            item = os.path.abspath(os.path.expanduser(src)) + ":" + rest
        if ":" in item:
            binds.append(item)
        else:
            volumes[item] = {}
    tmpfs: dict[str, str] = {}
    for item in opts["tmpfs"]:
        path, _, options = item.partition(":")
        tmpfs[path] = options
    host: dict[str, Any] = {
        "AutoRemove": opts["rm"],
        "Binds": binds or None,
        "NetworkMode": opts["network"] or "default",
        "PortBindings": bindings or None,
        "PublishAllPorts": opts["publish_all"],
        "Privileged": opts["privileged"],
        "ReadonlyRootfs": opts["read_only"],
        "CapAdd": opts["cap_add"] or None,
        "CapDrop": opts["cap_drop"] or None,
        "Dns": opts["dns"] or None,
        "DnsSearch": opts["dns_search"] or None,
        "DnsOptions": opts["dns_option"] or None,
        "ExtraHosts": opts["add_host"] or None,
        "GroupAdd": opts["group_add"] or None,
        "SecurityOpt": [security_opt(o) for o in opts["security_opt"]] or None,
        "Tmpfs": tmpfs or None,
        "VolumesFrom": opts["volumes_from"] or None,
        "Ulimits": [parse_ulimit(u) for u in opts["ulimit"]] or None,
        "RestartPolicy": parse_restart(opts["restart"] or "no"),
    }
    if opts["memory"]:
        host["Memory"] = parse_bytes(opts["memory"], "-m, --memory")
    if opts["memory_swap"]:
        host["MemorySwap"] = parse_bytes(opts["memory_swap"], "--memory-swap")
    if opts["cpus"]:
        try:
            host["NanoCpus"] = int(round(float(opts["cpus"]) * 1e9))
        except ValueError:
            raise UsageError(f'invalid argument "{opts["cpus"]}" for "--cpus" flag') from None
    if opts["cpu_shares"] is not None:
        host["CpuShares"] = opts["cpu_shares"]
    if opts["memory_reservation"]:
        host["MemoryReservation"] = parse_bytes(opts["memory_reservation"], "--memory-reservation")
    if opts["cpuset_cpus"]:
        host["CpusetCpus"] = opts["cpuset_cpus"]
    if opts["device"]:
        host["Devices"] = [parse_device(d) for d in opts["device"]]
    if opts["sysctl"]:
        host["Sysctls"] = parse_sysctls(opts["sysctl"])
    if opts["pids_limit"] is not None:
        host["PidsLimit"] = opts["pids_limit"]
    if opts["shm_size"]:
        host["ShmSize"] = parse_bytes(opts["shm_size"], "--shm-size")
    if opts["init"]:
        host["Init"] = True
    for key, name in (("ipc", "IpcMode"), ("pid", "PidMode"), ("userns", "UsernsMode")):
        if opts[key]:
            host[name] = opts[key]
    if opts["log_driver"] or opts["log_opt"]:
        host["LogConfig"] = {"Type": opts["log_driver"] or "",
                             "Config": dict(o.partition("=")[::2] for o in opts["log_opt"])}
    if opts["mount"]:
        host["Mounts"] = [_parse_mount(m) for m in opts["mount"]]
    if opts["health_on_failure"]:
        if opts["health_on_failure"] not in ("none", "restart", "stop", "kill"):
            raise UsageError(f'invalid argument "{opts["health_on_failure"]}" for '
                             '"--health-on-failure" flag: want none, restart, stop or kill')
        host["HealthOnFailure"] = opts["health_on_failure"]
    if host["AutoRemove"] and host["RestartPolicy"]["Name"] not in ("", "no"):
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    body: dict[str, Any] = {
        "Hostname": opts["hostname"] or "",
        "Domainname": opts["domainname"] or "",
        "User": opts["user"] or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_out,
        "AttachStderr": attach_err,
        "Tty": opts["tty"],
        "OpenStdin": interactive,
        "StdinOnce": interactive and attach_stdin,
        "Env": env,
        "Cmd": cmd or None,
        "Image": image,
        "Labels": _labels(opts["label"], opts["label_file"]),
        "WorkingDir": opts["workdir"] or "",
        "ExposedPorts": exposed or None,
        "Volumes": volumes or None,
        "HostConfig": host,
    }
    if opts["entrypoint"] is not None:
        body["Entrypoint"] = [opts["entrypoint"]]
    if opts["stop_signal"]:
        body["StopSignal"] = opts["stop_signal"]
    check = health_config(opts)
    if check is not None:
        body["Healthcheck"] = check
    if opts["stop_timeout"] is not None:
        body["StopTimeout"] = opts["stop_timeout"]
    endpoint: dict[str, Any] = {}
    if opts["mac_address"]:
        body["MacAddress"] = opts["mac_address"]
    if opts["ip"] or opts["ip6"]:
        endpoint["IPAMConfig"] = {k: v for k, v in (("IPv4Address", opts["ip"]),
                                                    ("IPv6Address", opts["ip6"])) if v}
    if opts["network_alias"]:
        endpoint["Aliases"] = list(opts["network_alias"])
    net = opts["network"] or "default"
    if opts["link"]:
        links = [lk if ":" in lk else f"{lk}:{lk}" for lk in opts["link"]]
        host["Links"] = links
        if net not in ("default", "bridge", "host", "none") and \
                not net.startswith("container:"):
            endpoint["Links"] = list(links)  # docker's CLI: links of a user network's endpoint
    if endpoint or net not in ("default", "host", "none") and not net.startswith("container:"):
        body["NetworkingConfig"] = {"EndpointsConfig": {
            "bridge" if net == "default" else net: endpoint}}
    return body


_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def parse_go_duration(value: str, flag: str) -> int:
    """Go's time.ParseDuration ("1m30s", "500ms", "2.5s") → nanoseconds."""
    import re

    text = value.strip()
    if text == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f'invalid argument "{value}" for "--{flag}" flag: '
                         f'time: invalid duration "{value}"')
    return int(sum(float(n) * _UNITS[u] for n, u in parts))


def health_config(opts: dict[str, Any]) -> dict[str, Any] | None:
    """docker's --health-* / --no-healthcheck → Config.Healthcheck (None: the image's)."""
    durations = {}
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod"),
                      ("health_start_interval", "StartInterval")):
        if opts[flag]:
            durations[key] = parse_go_duration(opts[flag], flag.replace("_", "-"))
            if durations[key] < 0:
                raise UsageError(f"--{flag.replace('_', '-')} cannot be negative")
    if opts["health_retries"] is not None and opts["health_retries"] < 0:
        raise UsageError("--health-retries cannot be negative")
    if opts["no_healthcheck"]:
        if opts["health_cmd"] or durations or opts["health_retries"] is not None:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not (opts["health_cmd"] or durations or opts["health_retries"] is not None):
        return None
    check: dict[str, Any] = dict(durations)
    if opts["health_cmd"]:
        check["Test"] = ["CMD-SHELL", opts["health_cmd"]]
    if opts["health_retries"] is not None:
        check["Retries"] = opts["health_retries"]
    return check


def _parse_mount(spec: str) -> dict[str, Any]:
    fields = dict(kv.partition("=")[::2] for kv in spec.split(","))
    mount: dict[str, Any] = {"Type": fields.get("type", "volume")}
    source = fields.get("source") or fields.get("src")
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise UsageError(f"invalid argument \"{spec}\" for \"--mount\" flag: target is required")
    mount["Target"] = target
    if source:
        mount["Source"] = source
    if "readonly" in fields or "ro" in fields:
        mount["ReadOnly"] = fields.get("readonly", fields.get("ro", "")) in ("", "1", "true")
    _mount_options(mount, spec)
    return mount


def _mount_options(mount: dict[str, Any], spec: str) -> None:
    """The per-type keys of ``--mount``: bind-propagation, volume-*, tmpfs-*."""
    vo: dict[str, Any] = {}
    for kv in spec.split(","):
        key, _, value = kv.partition("=")
        if key == "bind-propagation":
            mount.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "volume-nocopy":
            vo["NoCopy"] = value in ("", "1", "true")
        elif key == "volume-driver":
            vo.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            vo.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "volume-label":
            k, _, v = value.partition("=")
            vo.setdefault("Labels", {})[k] = v
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(value, "--mount")
        elif key == "tmpfs-mode":
            try:
                mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
            except ValueError:
                raise UsageError(f"invalid value for tmpfs-mode: {value}") from None
    if vo:
        mount["VolumeOptions"] = vo


# --- image reference helpers (no ``re``) ----------------------------------------------------


def tagged(image: str) -> str:
    """``busybox`` → ``busybox:latest`` (docker's TagNameOnly, for messages and pulls)."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else image + ":latest"


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) for ``POST /images/create?fromImage=&tag=``."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    full = tagged(image)
    repo, _, tag = full.rpartition(":")
    return repo, tag


# --- pull and create ------------------------------------------------------------------------


def pull(client: Client, image: str, quiet: bool = False, platform: str | None = None) -> None:
    """Pull a missing image as ``docker run`` does: stored credentials, progress bars on stderr;
    a failed pull is a daemon error (exit 125)."""
    from dockyard.cli.distribution import pull_image

    try:
        pull_image(client, image, platform, quiet)
    except CLIError as e:
        raise APIError(500, e.message or "pull failed") from None


def create(client: Client, body: dict[str, Any], name: str | None, platform: str | None,
           pull_policy: str, quiet: bool) -> dict[str, Any]:
    """Create the container, pulling the image first when it is missing (docker's way)."""
    image = body["Image"]
    query = {"name": name, "platform": platform}
    payload = dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if pull_policy == "always":
        pull(client, image, quiet, platform)
    try:
        return client.request("POST", "/containers/create", query, payload, headers).json()
    except APIError as e:
        if e.status != 404 or pull_policy == "never":
            raise
    err(f"Unable to find image '{tagged(image)}' locally")
    pull(client, image, quiet, platform)
    return client.request("POST", "/containers/create", query, payload, headers).json()


def _create_from_args(ctx: Context, argv: list[str], command: str) -> tuple[dict, dict, str]:
    usage = f"{command} [OPTIONS] IMAGE [COMMAND] [ARG...]"
    summary = ("Create and run a new container from an image" if command == "run"
               else "Create a new container")
    spec = RUN_SPEC if command == "run" else CREATE_SPEC
    opts, args = ctx.parse(argv, usage, summary, spec, interspersed=False, aliases=_ALIASES)
    min_args(args, 1, command)
    if command == "create":
        opts["detach"] = True
    pull_policy = (opts["pull"] or "missing").lower()
    if pull_policy not in ("missing", "always", "never"):
        raise UsageError(f'invalid pull option: \'{opts["pull"]}\': must be one of '
                         '"always", "missing" or "never"')
    body = build_create_body(opts, args[0], args[1:], opts["detach"])
    try:
        created = create(ctx.client, body, opts["name"], opts["platform"], pull_policy,
                         opts["quiet"])
    except APIError as e:
        raise CLIError(f"dockyard: Error response from daemon: {e.message}", 125) from None
    except ClientError as e:
        raise CLIError(f"dockyard: {e}", 125) from None
    for warning in created.get("Warnings") or []:
        err(f"WARNING: {warning}")
    if opts["cidfile"]:
        with open(opts["cidfile"], "x", encoding="utf-8") as f:
            f.write(created["Id"])
    return opts, body, created["Id"]


def cmd_create(ctx: Context, argv: list[str]) -> int:
    _opts, _body, cid = _create_from_args(ctx, argv, "create")
    out(cid)
    return 0


# --- start and the attached session --------------------------------------------------------


def start_error_code(message: str) -> int:
    """docker's mapping of a start failure: not found → 127, not executable → 126."""
    if ("executable file not found" in message or "no such file or directory" in message
            or "system cannot find the file specified" in message):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def run_attached(client: Client, cid: str, *, stdin: bool, stdout: bool, stderr: bool,
                 tty: bool, autoremove: bool, sig_proxy: bool, start: bool = True,
                 error_prefix: str = "dockyard: ", detach_keys: str | None = None) -> int:
    """Attach, send wait, start, copy streams; returns the container's exit status (0 when
    the user detached with the detach keys: the container keeps running)."""
    from dockyard.cli import attach

    keys = attach.parse_detach_keys(detach_keys) if tty and stdin else b""
    path = f"/containers/{quote(cid)}"
    conn = None
    detached = False
    if stdin or stdout or stderr:
        conn = client.hijack("POST", path + "/attach",
                             {"stream": True, "stdin": stdin, "stdout": stdout,
                              "stderr": stderr, "detachKeys": detach_keys})
    condition = "removed" if autoremove else "next-exit"
    waiter = client.send_only("POST", path + "/wait", {"condition": condition})
    # A daemon sends the response head once the wait is registered (dockerd does); wait for
    # it briefly so that a fast exit cannot slip in between, then read it.
    early = None
    if select.select([waiter.fileno()], [], [], 1.0)[0]:
        early = client.receive(waiter, check=False)
    restore = None
    try:
        if start:
            try:
                client.request("POST", path + "/start").read()
            except APIError as e:
                waiter.close()
                raise CLIError(f"{error_prefix}Error response from daemon: {e.message}",
                               start_error_code(e.message)) from None
        if conn is not None:
            if tty:
                attach.resize(client, path + "/resize", retries=5)
                attach.watch_resize(Client(client.host, client.version), path + "/resize")
                if stdin:
                    restore = attach.raw_terminal(0)
            elif sig_proxy:
                attach.proxy_signals(Client(client.host, client.version), cid)
            detached = attach.pump(conn, tty, 0 if stdin else None, exit_fd=waiter.fileno(),
                                   exited=bool(waiter.buf), detach_keys=keys)
    finally:
        if restore is not None:
            restore()
        if conn is not None:
            conn.close()
    if detached:
        waiter.close()
        return 0
    try:
        resp = early if early is not None else client.receive(waiter, check=False)
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.read(), resp.status))
        result = resp.json() or {}
    except APIError as e:
        raise CLIError(f"{error_prefix}Error response from daemon: {e.message}", 125) from None
    finally:
        waiter.close()
    if result.get("Error") and result["Error"].get("Message"):
        err(f"{error_prefix}Error waiting for container: {result['Error']['Message']}")
        return 125
    return int(result.get("StatusCode", 125))


def cmd_run(ctx: Context, argv: list[str]) -> int:
    opts, body, cid = _create_from_args(ctx, argv, "run")
    client = ctx.client
    if opts["detach"]:
        try:
            client.request("POST", f"/containers/{quote(cid)}/start").read()
        except APIError as e:
            raise CLIError(f"dockyard: Error response from daemon: {e.message}",
                           start_error_code(e.message)) from None
        out(cid)
        return 0
    sys.stdout.flush()
    try:
        return run_attached(client, cid, stdin=body["AttachStdin"],
                            stdout=body["AttachStdout"], stderr=body["AttachStderr"],
                            tty=body["Tty"], autoremove=body["HostConfig"]["AutoRemove"],
                            sig_proxy=opts["sig_proxy"], detach_keys=opts["detach_keys"])
    except ClientError as e:
        if isinstance(e, APIError):
            raise CLIError(f"dockyard: Error response from daemon: {e.message}", 125) from None
        raise CLIError(f"dockyard: {e}", 125) from None


START_SPEC: list[FlagSpec] = [
    ("a", "attach", BOOL, "Attach STDOUT/STDERR and forward signals"),
    ("", "detach-keys", STR, "Override the key sequence for detaching a container"),
    ("i", "interactive", BOOL, "Attach container's STDIN"),
]


def cmd_start(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "start [OPTIONS] CONTAINER [CONTAINER...]",
                           "Start one or more stopped containers", START_SPEC)
    min_args(args, 1, "start")
    client = ctx.client
    if opts["attach"] or opts["interactive"]:
        if len(args) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        info = client.get(f"/containers/{quote(args[0])}/json")
        config = info.get("Config") or {}
        host = info.get("HostConfig") or {}
        return run_attached(
            client, info["Id"], stdin=opts["interactive"] and bool(config.get("OpenStdin")),
            stdout=True, stderr=True, tty=bool(config.get("Tty")),
            autoremove=bool(host.get("AutoRemove")), sig_proxy=True, error_prefix="",
            detach_keys=opts["detach_keys"])
    failed = []
    for name in args:
        try:
            client.request("POST", f"/containers/{quote(name)}/start").read()
            out(name)
        except APIError as e:
            err(f"Error response from daemon: {e.message}")
            failed.append(name)
    if failed:
        raise CLIError(f"Error: failed to start containers: {', '.join(failed)}", 1)
    return 0


EXEC_SPEC: list[FlagSpec] = [
    ("d", "detach", BOOL, "Detached mode: run command in the background"),
    ("", "detach-keys", STR, "Override the key sequence for detaching a container"),
    ("e", "env", LIST, "Set environment variables"),
    ("", "env-file", LIST, "Read in a file of environment variables"),
    ("i", "interactive", BOOL, "Keep STDIN open even if not attached"),
    ("", "privileged", BOOL, "Give extended privileges to the command"),
    ("t", "tty", BOOL, "Allocate a pseudo-TTY"),
    ("u", "user", STR, "Username or UID (format: <name|uid>[:<group|gid>])"),
    ("w", "workdir", STR, "Working directory inside the container"),
]


def cmd_exec(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
                           "Execute a command in a running container", EXEC_SPEC,
                           interspersed=False)
    min_args(args, 2, "exec")
    env = read_env_files(opts["env_file"])
    env += [v for v in (_env_value(e) for e in opts["env"]) if v is not None]
    detach, tty, stdin = opts["detach"], opts["tty"], opts["interactive"]
    body = {"AttachStdin": stdin and not detach, "AttachStdout": not detach,
            "AttachStderr": not detach, "Tty": tty, "Cmd": args[1:], "Env": env or None,
            "User": opts["user"] or "", "WorkingDir": opts["workdir"] or "",
            "Privileged": opts["privileged"]}
    client = ctx.client
    try:
        exec_id = client.post(f"/containers/{quote(args[0])}/exec", json=body)["Id"]
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    start = dumps({"Detach": detach, "Tty": tty}).encode()
    if detach:
        client.request("POST", f"/exec/{exec_id}/start", body=start,
                       headers={"Content-Type": "application/json"}).read()
        return 0
    from dockyard.cli import attach

    conn = client.hijack("POST", f"/exec/{exec_id}/start", body=start)
    restore = None
    try:
        if tty:
            attach.resize(client, f"/exec/{exec_id}/resize")
            # A terminal resized meanwhile resizes the exec's (docker does the same).
            attach.watch_resize(Client(client.host, client.version), f"/exec/{exec_id}/resize")
            if stdin:
                restore = attach.raw_terminal(0)
        sys.stdout.flush()
        keys = attach.parse_detach_keys(opts["detach_keys"]) if tty and stdin else b""
        if attach.pump(conn, tty, 0 if stdin else None, detach_keys=keys):
            return 0  # detached: the process keeps running
    finally:
        if restore is not None:
            restore()
        conn.close()
    info = client.get(f"/exec/{exec_id}/json") or {}
    code = info.get("ExitCode")
    return int(code) if isinstance(code, int) else 126
