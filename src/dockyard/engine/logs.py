"""Container output for ``logs`` and ``attach``, read from conmon's log file, and stdin through
conmon's attach socket.

Attach reads the same log file as ``logs`` rather than conmon's attach socket: output written
between ``create`` and the client's attach is never lost, and the stream ends exactly when the
container has exited and the file is drained.
"""

import asyncio
import logging
import os
import socket
import time

from ..errors import NotFound, NotImplementedByDriver
from ..runtime.logfile import follow_log, read_log

log = logging.getLogger(__name__)


class LogService:
    def __init__(self, containers):
        self.containers = containers

    @staticmethod
    def check_readable(c) -> None:
        """``--log-driver none``: the file is still written (attach reads it) but, as in
        Docker, ``logs`` has nothing to read."""
        if (c.host_config.get("LogConfig") or {}).get("Type") == "none":
            raise NotImplementedByDriver("configured logging driver does not support reading")

    async def read(self, c, *, stdout: bool, stderr: bool, since: float, until: float, tail: int,
                   follow: bool):
        self.check_readable(c)
        path = self.containers.log_path(c.id)
        if not follow:
            for rec in await asyncio.to_thread(
                    lambda: list(read_log(path, stdout, stderr, since, until, tail))):
                yield rec
            return
        async for rec in follow_log(path, stdout, stderr, since, until, tail,
                                    stop=lambda: self.stopped_for_good(c.id)):
            yield rec

    async def stopped_for_good(self, cid: str) -> None:
        """Resolves once the container is neither running nor about to be restarted by its
        policy, or is gone: Docker's ``logs -f`` follows a container through its restarts."""
        svc = self.containers
        events = svc.events.subscribe()  # before looking, so no change is missed
        try:
            while True:
                try:
                    c = svc.get(cid)
                except NotFound:
                    return
                if not c.running:  # "running" includes paused and restarting
                    return
                waits = {asyncio.ensure_future(_next_event_of(events, cid))}
                if c.state.status == "restarting":
                    # A restart that fails ends it without an event: watch the pending restart
                    # (scheduled a moment after the exit; look again shortly until it is).
                    restart = svc.pending_restart(cid)
                    waits.add(asyncio.ensure_future(asyncio.shield(restart)) if restart
                              else asyncio.ensure_future(asyncio.sleep(0.2)))
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
        finally:
            svc.events.unsubscribe(events)

    async def attach_output(self, c, *, stdout: bool, stderr: bool, replay: bool, done):
        """Output from now on (or from the start with ``replay``) until ``done`` resolves."""
        path = self.containers.log_path(c.id)
        if done is None:  # logs only, no live stream
            if replay:
                for rec in await asyncio.to_thread(lambda: list(read_log(path, stdout, stderr))):
                    yield rec
            return
        if not (stdout or stderr):
            await done
            return
        since = 0.0 if replay else time.time()
        async for rec in follow_log(path, stdout, stderr, since, stop=done, partial=True):
            yield rec

    async def pump_stdin(self, c, chunks: asyncio.Queue) -> None:
        """Forward the client's bytes to the container's stdin via conmon's attach socket;
        closing our end tells conmon to close the container's stdin (EOF)."""
        svc = self.containers
        while True:
            current = svc.get(c.id)
            if current.state.status == "running":
                break
            if current.state.status == "exited" and current.has_been_started:
                return
            await asyncio.sleep(0.01)  # attach precedes start: wait for conmon's socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await _connect_long_path(loop, sock, svc.runtime.attach_socket_path(c.id))
            while True:
                data = await chunks.get()
                if data is None:
                    break
                for i in range(0, len(data), 8192):
                    await loop.sock_sendall(sock, data[i:i + 8192])
        except OSError as e:
            log.debug("stdin of %s: %s", c.id[:12], e)
        finally:
            sock.close()


async def _next_event_of(events: asyncio.Queue, cid: str) -> None:
    while True:
        event = await events.get()
        if event.get("Type") == "container" and event["Actor"]["ID"] == cid:
            return


async def _connect_long_path(loop, sock: socket.socket, path: str) -> None:
    """Unix socket paths are limited to 108 bytes; connect through /proc/self/fd/N/name."""
    dir_fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        await loop.sock_connect(sock, f"/proc/self/fd/{dir_fd}/{os.path.basename(path)}")
    finally:
        os.close(dir_fd)
