"""ExitWatcher: conmon's exit files become callbacks in the event loop, with no polling."""

from __future__ import annotations

import asyncio
import signal

from dockyard.runtime.exits import ExitWatcher


def test_watcher_fires_for_each_container_exit(h):
    a, _ = h.create(["sh", "-c", "exit 7"])
    b, _ = h.create(["sleep", "1000"])

    async def main():
        loop = asyncio.get_running_loop()
        seen: dict[str, int] = {}
        done = asyncio.Event()

        def on_exit(cid: str) -> None:
            seen[cid] = h.rt.read_exit(cid)[0]
            if len(seen) == 2:
                done.set()

        w = ExitWatcher(h.rt.exit_dir(), on_exit)
        w.start(loop)
        try:
            h.rt.start(a)
            h.rt.start(b)
            h.rt.kill(b, signal.SIGKILL)
            await asyncio.wait_for(done.wait(), 20)
        finally:
            w.close()
        return seen

    assert asyncio.run(main()) == {a: 7, b: 137}


def test_restarted_daemon_learns_exits_that_happened_while_down(h):
    cid, _ = h.run(["sh", "-c", "exit 4"])  # exited with no watcher running

    async def main():
        got = []
        w = ExitWatcher(h.rt.exit_dir(), got.append)
        w.start(asyncio.get_running_loop(), replay_existing=True)
        await asyncio.sleep(0)
        w.close()
        return got

    assert asyncio.run(main()) == [cid]
    assert h.rt.read_exit(cid)[0] == 4


def test_a_failing_callback_does_not_stop_delivery(h):
    a, _ = h.create(["true"])
    b, _ = h.create(["true"])

    async def main():
        got = []
        done = asyncio.Event()

        def on_exit(cid):
            got.append(cid)
            if len(got) == 2:
                done.set()
            raise RuntimeError("boom")

        w = ExitWatcher(h.rt.exit_dir(), on_exit)
        w.start(asyncio.get_running_loop())
        try:
            h.rt.start(a)
            h.rt.start(b)
            await asyncio.wait_for(done.wait(), 20)
        finally:
            w.close()
        return got

    assert sorted(asyncio.run(main())) == sorted([a, b])
