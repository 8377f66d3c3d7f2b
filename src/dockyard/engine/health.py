"""Health checks (Docker's HEALTHCHECK / ``--health-*``) and ``--health-on-failure``.

One asyncio task per running container that has a check, and none for the others: the task
sleeps for the interval, runs the probe through the exec machinery (``runc exec``), records the
result in the container's state (``State.Health``), and emits ``health_status`` events when the
status changes. A probe that outlives its timeout is killed. What Docker lacks: once a container
turns unhealthy, ``HostConfig.HealthOnFailure`` (``none|restart|stop|kill``) acts on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from ..errors import InvalidArgument
from ..util import rfc3339_nano

log = logging.getLogger(__name__)

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_LOG = 5  # results kept in State.Health.Log, as Docker
MAX_OUTPUT = 4096  # bytes of a probe's output kept, as Docker
ON_FAILURE = ("none", "restart", "stop", "kill")
ON_FAILURE_LABEL = "dockyard.health-on-failure"  # for clients that cannot set HostConfig


def probe_command(check: dict | None) -> list[str] | None:
    """The probe's argv from a Healthcheck's Test, or None when there is no check (absent,
    empty, or ``NONE``)."""
    if not check:
        return None
    test = check.get("Test")
    if not test or not isinstance(test, list) or test[0] == "NONE":
        return None
    if test[0] == "CMD" and len(test) > 1:
        return [str(a) for a in test[1:]]
    if test[0] == "CMD-SHELL" and len(test) > 1:
        return ["/bin/sh", "-c", " ".join(str(a) for a in test[1:])]
    return None


def _seconds(check: dict, key: str, default: float) -> float:
    value = check.get(key)
    if not value:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(f"Healthcheck.{key} must be a non-negative number of nanoseconds")
    return value / NS


def validate_check(check: dict | None) -> None:
    """Refuse a malformed Healthcheck at create rather than in a probe later."""
    if not check:
        return
    test = check.get("Test")
    if test is not None and (not isinstance(test, list)
                             or not all(isinstance(a, str) for a in test)):
        raise InvalidArgument("Healthcheck.Test must be a list of strings")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL", ""):
        raise InvalidArgument(f"Healthcheck.Test: unknown type {test[0]!r}")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        v = _seconds(check, key, 0)
        if v and v < 0.001:
            raise InvalidArgument(f"Healthcheck.{key} cannot be less than 1ms")
    retries = check.get("Retries")
    if retries is not None and (not isinstance(retries, int) or retries < 0):
        raise InvalidArgument("Healthcheck.Retries must be a non-negative integer")


def on_failure_action(config: dict, host: dict) -> str:
    action = host.get("HealthOnFailure") or (config.get("Labels") or {}).get(ON_FAILURE_LABEL)
    return action if action in ON_FAILURE else "none"


class HealthMonitor:
    def __init__(self, containers) -> None:
        self.containers = containers
        self._tasks: dict[str, asyncio.Task] = {}

    def started(self, c) -> None:
        """The container (re)started: a fresh "starting" status and a probe loop, if it has a
        check. Costs nothing otherwise."""
        cmd = probe_command(c.config.get("Healthcheck"))
        self.stopped(c.id)
        if cmd is None:
            if c.state.health is not None:
                c.state.health = None
            return
        c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._tasks[c.id] = asyncio.get_running_loop().create_task(self._run(c.id, cmd))

    def resumed(self, c) -> None:
        """After a daemon restart: keep the recorded status, probe again."""
        cmd = probe_command(c.config.get("Healthcheck"))
        if cmd is None or c.id in self._tasks:
            return
        if c.state.health is None:
            c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._tasks[c.id] = asyncio.get_running_loop().create_task(self._run(c.id, cmd))

    def stopped(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self, cid: str, cmd: list[str]) -> None:
        svc = self.containers
        try:
            c = svc.get(cid)
            check = c.config.get("Healthcheck") or {}
            interval = _seconds(check, "Interval", DEFAULT_INTERVAL)
            # --health-start-interval (API 1.44): the pace while the container is still in its
            # start period and not healthy yet. Unset, the interval (API 1.43, Docker 24).
            start_interval = _seconds(check, "StartInterval", interval)
            timeout = _seconds(check, "Timeout", DEFAULT_TIMEOUT)
            start_period = _seconds(check, "StartPeriod", 0.0)
            retries = check.get("Retries") or DEFAULT_RETRIES
            started = time.monotonic()
            while True:
                starting = (c.state.health or {}).get("Status") == "starting"
                in_start = time.monotonic() - started < start_period
                await asyncio.sleep(start_interval if in_start and starting else interval)
                c = svc.get(cid)
                if c.state.status == "paused":
                    continue
                if c.state.status != "running":
                    return
                result = await self._probe(c, cmd, timeout)
                c = svc.get(cid)
                if c.state.status not in ("running", "paused") or c.state.health is None:
                    return
                in_start = time.monotonic() - started < start_period
                if self._record(c, result, retries, in_start) == "unhealthy":
                    action = on_failure_action(c.config, c.host_config)
                    if action != "none":
                        # Its own task: the action ends this monitor (the container exits).
                        asyncio.get_running_loop().create_task(self._act(cid, action))
                        return
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("health check of %s failed", cid[:12])
        finally:
            if self._tasks.get(cid) is asyncio.current_task():
                self._tasks.pop(cid, None)

    async def _probe(self, c, cmd: list[str], timeout: float) -> dict:
        execs = self.containers.execs
        start = rfc3339_nano()
        out = bytearray()
        try:
            ex = execs.create(c.id, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
            ex = await execs.start(ex.id, detach=False)
        except Exception as e:
            return {"Start": start, "End": rfc3339_nano(), "ExitCode": -1, "Output": str(e)}

        async def collect() -> int:
            async for _, data in execs.output(ex):
                if len(out) < MAX_OUTPUT:
                    out.extend(data[:MAX_OUTPUT - len(out)])
            return await execs.wait(ex)

        try:
            code = await asyncio.wait_for(collect(), timeout)
            output = out.decode("utf-8", "replace")
            if ex.error and not output:
                output = ex.error
        except TimeoutError:
            await self._kill(ex)
            code = -1
            output = f"Health check exceeded timeout ({_fmt(timeout)})"
        finally:
            execs.finish(ex)
        return {"Start": start, "End": rfc3339_nano(), "ExitCode": code, "Output": output}

    @staticmethod
    async def _kill(ex) -> None:
        """The probe and runc exec both go: runc does not forward SIGKILL. A probe that timed
        out before runc reported its pid (a loaded host) is waited for, else killing runc
        alone would leave it running in the container."""
        p = ex.process
        for _ in range(500):
            if p is None or p.pid or (ex.done is not None and ex.done.done()):
                break
            await asyncio.sleep(0.01)
        for pid in (p.pid if p else None, p.proc.pid if p else None):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def _record(self, c, result: dict, retries: int, in_start: bool) -> str:
        h = c.state.health
        old = h.get("Status")
        h["Log"] = (h.get("Log") or [])[-(MAX_LOG - 1):] + [result]
        if result["ExitCode"] == 0:
            h["Status"] = "healthy"
            h["FailingStreak"] = 0
        elif not (in_start and old == "starting"):
            # Docker: failures in the start period do not count until a probe has passed.
            h["FailingStreak"] = int(h.get("FailingStreak") or 0) + 1
            if h["FailingStreak"] >= retries:
                h["Status"] = "unhealthy"
        self.containers.repo.save(c)
        if h["Status"] != old:
            self.containers._emit(c, f"health_status: {h['Status']}")
        return h["Status"]

    async def _act(self, cid: str, action: str) -> None:
        svc = self.containers
        log.info("container %s is unhealthy: %s", cid[:12], action)
        try:
            if action == "restart":
                await svc.restart(cid)
            elif action == "stop":
                await svc.stop(cid)
            elif action == "kill":
                await svc.kill(cid)
        except Exception as e:
            log.warning("health-on-failure %s of %s failed: %s", action, cid[:12], e)


def _fmt(seconds: float) -> str:
    """Go's duration format for whole and fractional seconds ("1s", "1.5s", "500ms")."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def validate_on_failure(action) -> None:
    if action is not None and action not in ON_FAILURE:
        raise InvalidArgument(f"invalid health-on-failure action {action!r}: "
                              "want none, restart, stop or kill")


def merge_check(mine: dict | None, image: dict | None) -> dict | None:
    """Docker's merge: the container's fields win, the image's fill what is unset (so
    ``--health-interval`` alone keeps the image's HEALTHCHECK command)."""
    if not mine:
        return image or None
    if not image:
        return mine
    out = dict(image)
    out.update({k: v for k, v in mine.items() if v})
    return out
