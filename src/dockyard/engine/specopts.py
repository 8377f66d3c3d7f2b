"""The OCI spec options of a container: from its record to runtime.spec's SpecOptions."""

import logging
import os

from ..container.binds import binds_of
from ..container.model import Container
from ..errors import InvalidArgument
from ..runtime.caps import effective_caps
from ..runtime.seccomp import parse_security_opts, seccomp_for
from ..runtime.spec import SpecOptions
from . import files

log = logging.getLogger(__name__)

INIT_BINARIES = ("/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/bin/catatonit",
                 "/usr/libexec/podman/catatonit")


def init_binary() -> str:
    """A statically linked init for ``--init`` (tini or catatonit from Debian)."""
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise InvalidArgument("--init needs tini or catatonit installed on the host "
                          "(apt-get install tini)")



class SpecMixin:
    """The SpecOptions of a container (its /etc files, mounts, limits, security)."""

    def _spec_options(self, c: Container, rootfs: str, plan=None) -> SpecOptions:
        """``plan``: the network's (engine/networks.Plan); None = loopback only."""
        h = c.host_config
        cdir = self.container_dir(c.id)
        extra_mounts = files.write_etc_files(cdir, c.config.get("Hostname") or c.id[:12],
                                             c.config.get("Domainname") or "",
                                             hosts=plan.hosts if plan else None,
                                             resolv=plan.resolv if plan else None)
        if c.mounts:
            extra_mounts += self.volumes.oci_mounts(c.id, c.mounts, rootfs)
        elif h.get("Binds") or h.get("Mounts"):  # a record from before volumes
            extra_mounts += [b.to_oci() for b in binds_of(h)]
        env = list(getattr(plan, "env", None) or []) + list(c.config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):
            env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if not any(e.startswith("HOSTNAME=") for e in env):
            env.append(f"HOSTNAME={c.config.get('Hostname') or c.id[:12]}")
        if c.config.get("Tty") and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        args = [c.path] + list(c.args)
        security = list(h.get("SecurityOpt") or [])
        if h.get("Init"):
            # Docker's --init: a static init bind-mounted read-only at /sbin/docker-init, as
            # pid 1, forwarding signals and reaping zombies.
            extra_mounts.append({"destination": "/sbin/docker-init", "type": "bind",
                                 "source": init_binary(),
                                 "options": ["rbind", "ro", "rprivate"]})
            args = ["/sbin/docker-init", "--", *args]
        return SpecOptions(
            rootfs=rootfs,
            args=args,
            env=env,
            cwd=c.config.get("WorkingDir") or "/",
            user=c.config.get("User") or "",
            hostname=c.config.get("Hostname") or c.id[:12],
            netns_path=plan.netns_path if plan else None,
            host_network=bool(plan and plan.mode == "host"),
            tty=bool(c.config.get("Tty")),
            open_stdin=bool(c.config.get("OpenStdin")),
            readonly_rootfs=bool(h.get("ReadonlyRootfs")),
            privileged=bool(h.get("Privileged")),
            cap_add=list(h.get("CapAdd") or []),
            cap_drop=list(h.get("CapDrop") or []),
            memory=int(h.get("Memory") or 0),
            memory_swap=int(h.get("MemorySwap") or 0),
            nano_cpus=int(h.get("NanoCpus") or 0),
            cpu_shares=int(h.get("CpuShares") or 0),
            pids_limit=int(h.get("PidsLimit") or 0),
            ulimits=list(h.get("Ulimits") or []),
            extra_mounts=extra_mounts,
            cgroups_path=self.cgroup_path(c.id),
            labels=dict(c.config.get("Labels") or {}),
            shm_size=int(h.get("ShmSize") or 64 * 1024 * 1024),
            memory_reservation=int(h.get("MemoryReservation") or 0),
            cpuset_cpus=str(h.get("CpusetCpus") or ""),
            devices=list(h.get("Devices") or []),
            sysctls=dict(h.get("Sysctls") or {}),
            tmpfs=dict(h.get("Tmpfs") or {}),
            seccomp=seccomp_for(security, effective_caps(
                list(h.get("CapAdd") or []), list(h.get("CapDrop") or []), privileged=False),
                bool(h.get("Privileged"))),
            no_new_privileges=parse_security_opts(security).no_new_privileges,
            group_add=list(h.get("GroupAdd") or []),
        )
