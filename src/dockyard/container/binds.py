"""Bind mounts from ``HostConfig.Binds`` (``-v /host:/ctr[:ro]``) and ``HostConfig.Mounts``
(``--mount type=bind,...``), checked at create and turned into OCI mounts at start.

Named volumes and tmpfs mounts belong to the volumes work: until then they are refused with a
clear error rather than silently dropped.
"""

import os
from dataclasses import dataclass

from ..errors import InvalidArgument

_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_IGNORED = {"z", "Z", "nocopy", "consistent", "cached", "delegated"}


@dataclass(frozen=True)
class Bind:
    source: str
    destination: str
    read_only: bool = False
    propagation: str = "rprivate"
    create_source: bool = True  # -v creates a missing host path; --mount refuses it

    def to_inspect(self) -> dict:
        return {"Type": "bind", "Source": self.source, "Destination": self.destination,
                "Mode": "ro" if self.read_only else "", "RW": not self.read_only,
                "Propagation": self.propagation}

    def to_oci(self) -> dict:
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


def parse_bind(spec: str) -> Bind:
    """``/host:/ctr[:opt,opt]`` as ``docker run -v``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, dest = parts[0], parts[1]
    if not source.startswith("/"):
        raise InvalidArgument(
            f"named volumes are not supported yet ('{source}' in '{spec}'): "
            "use an absolute host path for a bind mount")
    read_only, propagation = False, "rprivate"
    for opt in (parts[2].split(",") if len(parts) == 3 else []):
        if opt in ("ro", "rw"):
            read_only = opt == "ro"
        elif opt in _PROPAGATION:
            propagation = opt
        elif opt not in _IGNORED:
            raise InvalidArgument(f"invalid mode: {opt}")
    return Bind(os.path.normpath(source), _check_destination(dest, spec), read_only, propagation)


def parse_mount(m: dict) -> Bind:
    """One ``HostConfig.Mounts`` entry; only ``bind`` for now."""
    if not isinstance(m, dict):
        raise InvalidArgument("invalid mount config: each mount must be an object")
    kind = m.get("Type") or "volume"
    if kind != "bind":
        raise InvalidArgument(f"mount type '{kind}' is not supported yet: use type=bind")
    source, target = m.get("Source"), m.get("Target")
    if not isinstance(source, str) or not source.startswith("/"):
        raise InvalidArgument("invalid mount config for type \"bind\": source must be an "
                              "absolute path")
    if not isinstance(target, str):
        raise InvalidArgument("invalid mount config: Target is required")
    opts = m.get("BindOptions") or {}
    propagation = opts.get("Propagation") or "rprivate"
    if propagation not in _PROPAGATION:
        raise InvalidArgument(f"invalid propagation mode: {propagation}")
    return Bind(os.path.normpath(source), _check_destination(target, target),
                bool(m.get("ReadOnly")), propagation, create_source=False)


def binds_of(host_config: dict) -> list[Bind]:
    """All bind mounts a container asks for; raises InvalidArgument on the first bad one."""
    out = [parse_bind(b) for b in host_config.get("Binds") or []]
    out += [parse_mount(m) for m in host_config.get("Mounts") or []]
    seen: set[str] = set()
    for b in out:
        if b.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {b.destination}")
        seen.add(b.destination)
    return out
