"""Operations on a running container: top, update (live limits), stats, terminal resize."""

import asyncio
import logging
import os

from ..container.model import Container
from ..errors import Conflict, InvalidArgument, RuntimeFailure
from ..runtime.spec import SpecOptions
from ..util import rfc3339_nano

log = logging.getLogger(__name__)

class LiveOpsMixin:
    """top/update/stats/resize of :class:`ContainerService`."""

    async def top(self, ref: str, ps_args: str = "") -> dict:
        from .top import cgroup_pids, top

        c = self.get(ref)
        if not c.running or c.state.status == "restarting":
            raise Conflict(f"Container {c.id} is not running")
        pids = await asyncio.to_thread(cgroup_pids, self.cgroup_path(c.id))
        return await asyncio.to_thread(top, pids, ps_args)

    _UPDATABLE = {"Memory": int, "MemorySwap": int, "MemoryReservation": int, "NanoCpus": int,
                  "CpuShares": int, "CpuPeriod": int, "CpuQuota": int, "CpusetCpus": str,
                  "PidsLimit": int, "RestartPolicy": dict}

    async def update(self, ref: str, body: dict) -> list[str]:
        """Docker's ``update``: new limits (live when running) and restart policy."""
        from ..runtime.spec import resources

        if not isinstance(body, dict):
            raise InvalidArgument("update config must be a JSON object")
        c = self.get(ref)
        changes = {}
        for key, value in body.items():
            kind = self._UPDATABLE.get(key)
            if kind is None or value is None:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidArgument(f"invalid value for {key}: {value!r}")
            changes[key] = value
        if "RestartPolicy" in changes:
            rp = changes["RestartPolicy"]
            name = rp.get("Name") or "no"
            if name not in ("no", "always", "on-failure", "unless-stopped"):
                raise InvalidArgument(f"invalid restart policy '{name}'")
            if name != "no" and c.host_config.get("AutoRemove"):
                raise InvalidArgument("Restart policy cannot be updated because AutoRemove is "
                                      "enabled for the container")
            if rp.get("MaximumRetryCount") and name != "on-failure":
                raise InvalidArgument(f"maximum retry count cannot be used with restart "
                                      f"policy '{name}'")
            changes["RestartPolicy"] = {"Name": name,
                                        "MaximumRetryCount": int(rp.get("MaximumRetryCount") or 0)}
        host = dict(c.host_config, **changes)
        if "Memory" in changes and "MemorySwap" not in changes and \
                (c.host_config.get("MemorySwap") or 0) > 0:
            host["MemorySwap"] = 0  # as much swap as memory again, like a fresh --memory
        if host.get("NanoCpus") and (host.get("CpuQuota") or host.get("CpuPeriod")):
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period/Quota cannot "
                                  "both be set")
        opts = SpecOptions(rootfs="", args=["true"], env=[], memory=int(host.get("Memory") or 0),
                           memory_swap=int(host.get("MemorySwap") or 0),
                           nano_cpus=int(host.get("NanoCpus") or 0),
                           cpu_shares=int(host.get("CpuShares") or 0),
                           pids_limit=int(host.get("PidsLimit") or 0))
        res = resources(opts)  # validates
        if host.get("MemoryReservation"):
            res.setdefault("memory", {})["reservation"] = host["MemoryReservation"]
        if host.get("CpuQuota"):
            res.setdefault("cpu", {})["quota"] = host["CpuQuota"]
            res["cpu"]["period"] = host.get("CpuPeriod") or 100000
        if host.get("CpusetCpus"):
            res.setdefault("cpu", {})["cpus"] = host["CpusetCpus"]
        async with self._lock(c.id):
            if c.state.status in ("running", "paused"):
                try:
                    await asyncio.to_thread(self.runtime.update, c.id, res)
                except RuntimeFailure as e:
                    raise InvalidArgument(f"Cannot update container {c.id}: {e}") from None
            c.host_config = host
            self.repo.save(c)
        self._emit(c, "update")
        return []

    async def stats(self, ref: str, *, stream: bool = True, one_shot: bool = False):
        """Docker's stats objects: one per second while streaming; otherwise one, whose
        precpu_stats is a reading a second earlier (so CPU % means something) unless
        ``one_shot``."""
        from ..runtime.stats import sample

        c = self.get(ref)
        path = self.cgroup_path(c.id)

        def reading() -> dict:
            cur = self.repo.get(c.id) if self.repo.has(c.id) else c
            if cur.state.status not in ("running", "paused"):
                return {}
            out = sample(path)
            if self.networks is not None:
                nets = self.networks.counters(c.id)
                if nets:
                    out["networks"] = nets
            return out

        if one_shot:
            yield _stats_doc(c, await asyncio.to_thread(reading), {})
            return
        if not stream:
            pre = await asyncio.to_thread(reading)
            if pre:
                await asyncio.sleep(1.0)
            yield _stats_doc(c, await asyncio.to_thread(reading), pre)
            return
        pre: dict = {}
        while True:
            cur = await asyncio.to_thread(reading)
            yield _stats_doc(c, cur, pre)
            if not cur:
                return
            pre = cur
            await asyncio.sleep(1.0)

    def resize(self, ref: str, height: int, width: int) -> None:
        """Resize the container's terminal through conmon's control fifo."""
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if not c.config.get("Tty"):
            return  # Docker accepts and ignores a resize without a terminal
        if not (0 < height < 65536 and 0 < width < 65536):
            raise InvalidArgument(f"invalid terminal size {height}x{width}")
        try:
            fd = os.open(self.runtime.ctl_fifo_path(c.id), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise Conflict(f"cannot resize the terminal of {c.id[:12]}: {e.strerror}") from None
        try:
            os.write(fd, f"1 {height} {width}\n".encode())
        finally:
            os.close(fd)


def _stats_doc(c: Container, cur: dict, pre: dict) -> dict:
    def stamp(d: dict) -> str:
        return rfc3339_nano(d["read"]) if d else "0001-01-01T00:00:00Z"

    empty_cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                               "usage_in_usermode": 0},
                 "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {
        "read": stamp(cur), "preread": stamp(pre),
        "pids_stats": cur.get("pids_stats", {}),
        "blkio_stats": cur.get("blkio_stats", {}),
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cur.get("cpu_stats", empty_cpu),
        "precpu_stats": pre.get("cpu_stats", empty_cpu),
        "memory_stats": cur.get("memory_stats", {}),
        "name": "/" + c.name, "id": c.id,
        **({"networks": cur["networks"]} if cur.get("networks") else {}),
    }
