"""Stopping containers: stop (signal, grace period, SIGKILL), kill, restart, pause."""

import asyncio
import logging
import signal as signals

from ..container import state as sm
from ..container.model import Container
from ..errors import Conflict, InvalidArgument, NotFound, NotModified, RuntimeFailure

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """Accept ``9``, ``KILL``, ``SIGKILL`` as Docker does."""
    if value in (None, ""):
        return default
    if isinstance(value, int) or str(value).isdigit():
        n = int(value)
        if 0 < n < 65:
            return n
        raise InvalidArgument(f"Invalid signal: {value}")
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(signals.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"Invalid signal: {value}") from None



class StopMixin:
    """stop/kill/restart/pause of :class:`ContainerService`."""

    # ---- stop / kill / restart --------------------------------------------------------------

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        c = self.get(ref)
        sig = parse_signal(signal)
        sm.check("kill", c.state.status, ref)
        if not c.manually_stopped:
            c.manually_stopped = True
            self.repo.save(c)
        if self._cancel_restart(c):
            self._emit(c, "kill", signal=str(sig))
            return
        fut = self._exit_future(c.id) if sig == signals.SIGKILL else None
        await asyncio.to_thread(self.runtime.kill, c.id, sig, True)
        if sig == signals.SIGKILL:
            await self._thaw(c)
        self._emit(c, "kill", signal=str(sig))
        if fut is not None:
            # SIGKILL cannot be ignored: return once the exit is recorded, as Docker does.
            try:
                await asyncio.wait_for(asyncio.shield(fut), 10)
            except TimeoutError:
                pass

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status not in ("running", "restarting", "paused"):
            raise NotModified(f"container {ref} is not running")
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            if timeout is None:
                timeout = DEFAULT_STOP_TIMEOUT
        sig = parse_signal(signal or c.config.get("StopSignal"), default=signals.SIGTERM)
        c.manually_stopped = True
        self.repo.save(c)
        if self._cancel_restart(c):
            self._emit(c, "stop")
            return
        self._stopping.add(c.id)
        try:
            fut = self._exit_future(c.id)
            await self._thaw(c)
            if timeout != 0:
                try:
                    await asyncio.to_thread(self.runtime.kill, c.id, sig, False)
                except (NotFound, Conflict):
                    pass
                try:
                    await asyncio.wait_for(asyncio.shield(fut), timeout if timeout > 0 else None)
                    self._emit(c, "stop")
                    return
                except TimeoutError:
                    pass
            await self._kill_and_wait(c, fut)
            self._emit(c, "stop")
        finally:
            self._stopping.discard(c.id)

    async def _thaw(self, c: Container) -> None:
        """A frozen container gets its signals only once thawed (Docker stops paused ones)."""
        if c.state.status != "paused":
            return
        try:
            await asyncio.to_thread(self.runtime.resume, c.id)
        except (NotFound, Conflict, RuntimeFailure):
            pass
        if c.state.status == "paused":
            c.state.status = "running"
            self.repo.save(c)

    async def _kill_and_wait(self, c: Container, exited: asyncio.Future) -> None:
        """SIGKILL every process of the container and return once its exit is recorded."""
        try:
            await asyncio.to_thread(self.runtime.kill, c.id, signals.SIGKILL, True)
        except (NotFound, Conflict):
            pass  # it exited meanwhile; the future resolves all the same
        await self._thaw(c)
        try:
            await asyncio.wait_for(asyncio.shield(exited), 30)
        except TimeoutError as e:
            raise RuntimeFailure(f"container {c.name} did not stop after SIGKILL") from e

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        if c.running:
            await self.stop(ref, timeout)
        await self.start(c.id)
        self._emit(c, "restart")

    # ---- pause / rename / top --------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            await asyncio.to_thread(self.runtime.pause, c.id)
            c.state.status = "paused"
            self.repo.save(c)
        self._emit(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            if c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            await asyncio.to_thread(self.runtime.resume, c.id)
            c.state.status = "running"
            self.repo.save(c)
        self._emit(c, "unpause")
