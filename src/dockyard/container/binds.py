"""What a container mounts, parsed from its create body: ``HostConfig.Binds`` (``-v``),
``HostConfig.Mounts`` (``--mount``), ``HostConfig.Tmpfs`` (``--tmpfs``) and the anonymous
volumes of ``Config.Volumes`` (the image's ``VOLUME`` and ``-v /path``).

Parsing is pure (no I/O) so a bad mount is refused at create with one clear line. Named and
anonymous volumes are resolved to real volumes by the engine's volume service.
"""

import os
import re
from dataclasses import dataclass, field

from ..errors import InvalidArgument

_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_IGNORED = {"z", "Z", "consistent", "cached", "delegated"}
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class Bind:
    """One mount request: ``kind`` is bind, volume or tmpfs; a volume without ``source`` is
    anonymous."""

    source: str
    destination: str
    read_only: bool = False
    propagation: str = "rprivate"
    create_source: bool = True  # -v creates a missing host path; --mount refuses it
    kind: str = "bind"
    nocopy: bool = False
    tmpfs_options: str = ""
    driver: str = "local"
    driver_options: dict = field(default_factory=dict, hash=False, compare=False)
    labels: dict = field(default_factory=dict, hash=False, compare=False)

    def to_inspect(self) -> dict:
        if self.kind == "tmpfs":
            return {"Type": "tmpfs", "Source": "", "Destination": self.destination,
                    "Mode": "", "RW": not self.read_only, "Propagation": ""}
        return {"Type": "bind", "Source": self.source, "Destination": self.destination,
                "Mode": "ro" if self.read_only else "", "RW": not self.read_only,
                "Propagation": self.propagation}

    def to_oci(self) -> dict:
        if self.kind == "tmpfs":
            from ..runtime.spec import tmpfs_options

            options = tmpfs_options(self.destination, self.tmpfs_options)
            if self.read_only:
                options = [o for o in options if o != "rw"] + ["ro"]
            return {"destination": self.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": options}
        if self.create_source:
            os.makedirs(self.source, exist_ok=True)
        elif not os.path.exists(self.source):
            raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path "
                                  f"does not exist: {self.source}")
        options = ["rbind", self.propagation, "ro" if self.read_only else "rw"]
        return {"destination": self.destination, "type": "bind", "source": self.source,
                "options": options}


def _check_destination(dest: str, spec: str) -> str:
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid mount config: mount path must be absolute: {spec}")
    dest = os.path.normpath(dest)
    if dest == "/":
        raise InvalidArgument(f"invalid mount config: cannot mount over the root: {spec}")
    return dest


def check_volume_name(name: str) -> str:
    if not VOLUME_NAME_RE.match(name):
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local '
                              'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                              'intended to pass a host directory, use absolute path')
    return name


def parse_bind(spec: str) -> Bind:
    """``/host:/ctr[:opt,opt]`` or ``name:/ctr[:opt]`` as ``docker run -v``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, dest = parts[0], parts[1]
    is_bind = source.startswith("/")
    if not is_bind:
        check_volume_name(source)
    read_only, propagation, nocopy = False, "rprivate", False
    for opt in (parts[2].split(",") if len(parts) == 3 else []):
        if opt in ("ro", "rw"):
            read_only = opt == "ro"
        elif opt in _PROPAGATION and is_bind:
            propagation = opt
        elif opt == "nocopy" and not is_bind:
            nocopy = True
        elif opt not in _IGNORED and opt != "nocopy":
            raise InvalidArgument(f"invalid mode: {opt}")
    dest = _check_destination(dest, spec)
    if not is_bind:
        return Bind(source, dest, read_only, "", kind="volume", nocopy=nocopy)
    return Bind(os.path.normpath(source), dest, read_only, propagation)


def _tmpfs_option_string(opts: dict) -> str:
    out = []
    size = opts.get("SizeBytes")
    if size:
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument("invalid mount config: TmpfsOptions.SizeBytes must be a "
                                  "positive integer")
        out.append(f"size={size}")
    mode = opts.get("Mode")
    if mode:
        if not isinstance(mode, int):
            raise InvalidArgument("invalid mount config: TmpfsOptions.Mode must be an integer")
        out.append(f"mode={mode:o}")
    return ",".join(out)


def parse_mount(m: dict) -> Bind:
    """One ``HostConfig.Mounts`` entry: bind, volume or tmpfs."""
    if not isinstance(m, dict):
        raise InvalidArgument("invalid mount config: each mount must be an object")
    kind = m.get("Type") or "volume"
    source, target = m.get("Source"), m.get("Target")
    if not isinstance(target, str) or not target:
        raise InvalidArgument("invalid mount config: Target is required")
    read_only = bool(m.get("ReadOnly"))
    if kind == "tmpfs":
        if source:
            raise InvalidArgument("invalid mount config for type \"tmpfs\": source must not be "
                                  "specified")
        opts = m.get("TmpfsOptions") or {}
        if not isinstance(opts, dict):
            raise InvalidArgument("invalid mount config: TmpfsOptions must be an object")
        return Bind("", _check_destination(target, target), read_only, "", kind="tmpfs",
                    tmpfs_options=_tmpfs_option_string(opts))
    if kind == "volume":
        if source is not None and not isinstance(source, str):
            raise InvalidArgument("invalid mount config for type \"volume\": bad source")
        if source:
            check_volume_name(source)
        vo = m.get("VolumeOptions") or {}
        if not isinstance(vo, dict):
            raise InvalidArgument("invalid mount config: VolumeOptions must be an object")
        dc = vo.get("DriverConfig") or {}
        if not isinstance(dc, dict):
            raise InvalidArgument("invalid mount config: DriverConfig must be an object")
        driver = dc.get("Name") or "local"
        if driver != "local":
            raise InvalidArgument(f"error looking up volume plugin {driver}: plugin "
                                  f"\"{driver}\" not found")
        return Bind(source or "", _check_destination(target, target), read_only, "",
                    kind="volume", nocopy=bool(vo.get("NoCopy")), create_source=False,
                    driver_options=dict(dc.get("Options") or {}),
                    labels=dict(vo.get("Labels") or {}))
    if kind != "bind":
        raise InvalidArgument(f"mount type '{kind}' is not supported: use bind, volume or "
                              "tmpfs")
    if not isinstance(source, str) or not source.startswith("/"):
        raise InvalidArgument("invalid mount config for type \"bind\": source must be an "
                              "absolute path")
    opts = m.get("BindOptions") or {}
    propagation = opts.get("Propagation") or "rprivate"
    if propagation not in _PROPAGATION:
        raise InvalidArgument(f"invalid propagation mode: {propagation}")
    return Bind(os.path.normpath(source), _check_destination(target, target),
                read_only, propagation, create_source=False)


def binds_of(host_config: dict, config: dict | None = None) -> list[Bind]:
    """Every mount a container asks for (without ``--volumes-from``), the explicit ones first
    and then the anonymous volumes of ``Config.Volumes`` not covered by them; raises
    InvalidArgument on the first bad one."""
    out = [parse_bind(b) for b in host_config.get("Binds") or []]
    out += [parse_mount(m) for m in host_config.get("Mounts") or []]
    seen: set[str] = set()
    for b in out:
        if b.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {b.destination}")
        seen.add(b.destination)
    tmpfs = host_config.get("Tmpfs") or {}
    for dest, options in tmpfs.items():
        if not isinstance(options, str):
            raise InvalidArgument(f"invalid tmpfs options for {dest}: expected a string")
        d = _check_destination(str(dest), str(dest))
        if d in seen:
            raise InvalidArgument(f"Duplicate mount point: {d}")
        from ..runtime.spec import tmpfs_options

        tmpfs_options(d, options)  # refused now, not at start
        seen.add(d)
        out.append(Bind("", d, False, "", kind="tmpfs", tmpfs_options=options))
    for dest in (config or {}).get("Volumes") or {}:
        d = _check_destination(str(dest), str(dest))
        if d not in seen:
            seen.add(d)
            out.append(Bind("", d, False, "", kind="volume", create_source=False))
    return out


def needs_mounts(config: dict, host_config: dict) -> bool:
    """Cheap test so containers without mounts skip all of this."""
    return bool(host_config.get("Binds") or host_config.get("Mounts")
                or host_config.get("VolumesFrom") or config.get("Volumes"))


def inspect_mounts(c) -> list[dict]:
    """Docker's inspect ``Mounts``: the container's resolved mounts (older records: the binds
    of its HostConfig)."""
    if getattr(c, "mounts", None):
        return [{k: v for k, v in rec.items() if not k.startswith("_")} for rec in c.mounts]
    if c.host_config.get("Binds") or c.host_config.get("Mounts"):
        return [b.to_inspect() for b in binds_of(c.host_config)]
    return []
