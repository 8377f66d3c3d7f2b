"""conmon k8s-file logs: partial lines joined, filters, tail, and inotify-driven following."""

from __future__ import annotations

import asyncio
import signal

from dockyard.runtime.logfile import follow_log, parse_timestamp, read_log

LOG = (
    b"2024-01-02T03:04:05.000000001+00:00 stdout F one\n"
    b"2024-01-02T04:04:06.500000000+01:00 stderr P par\n"
    b"2024-01-02T04:04:06.600000000+01:00 stdout F two\n"
    b"garbage line without format\n"
    b"2024-01-02T04:04:06.700000000+01:00 stderr F tial\n"
    b"2024-01-02T03:04:07.000000000Z stdout P tail-without-newline\n"
)


def test_read_joins_partials_and_normalizes_timestamps(tmp_path):
    p = tmp_path / "log"
    p.write_bytes(LOG)
    recs = list(read_log(str(p)))
    assert recs == [
        ("stdout", "2024-01-02T03:04:05.000000001Z", b"one\n"),
        ("stdout", "2024-01-02T03:04:06.600000000Z", b"two\n"),
        ("stderr", "2024-01-02T03:04:06.500000000Z", b"partial\n"),
        ("stdout", "2024-01-02T03:04:07.000000000Z", b"tail-without-newline"),
    ]
    assert [r[2] for r in read_log(str(p), stdout=False)] == [b"partial\n"]
    assert [r[2] for r in read_log(str(p), tail=2)] == [b"partial\n", b"tail-without-newline"]
    assert list(read_log(str(p), tail=0)) == []
    since = parse_timestamp(b"2024-01-02T03:04:06Z")[0]
    assert [r[2] for r in read_log(str(p), since=since)] == [b"two\n", b"partial\n", b"tail-without-newline"]
    assert list(read_log(str(tmp_path / "missing"))) == []


def test_until_is_inclusive_and_filters(tmp_path):
    p = tmp_path / "log"
    p.write_bytes(LOG)
    until = parse_timestamp(b"2024-01-02T03:04:05.000000001Z")
    assert [r[2] for r in read_log(str(p), until=until[0] + until[1] / 1e9)] == [b"one\n"]


def test_follow_sees_new_lines_and_stops_after_drain(tmp_path):
    p = tmp_path / "log"

    async def main():
        stop = asyncio.Event()
        got = []

        async def reader():
            async for rec in follow_log(str(p), stop=stop):
                got.append(rec[2])

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)  # file does not exist yet: the follower must wait for it
        with open(p, "ab") as f:
            f.write(b"2024-01-02T03:04:05.0Z stdout F first\n")
            f.flush()
            while not got:
                await asyncio.sleep(0.01)
            f.write(b"2024-01-02T03:04:05.1Z stdout P sec\n")
            f.flush()
            await asyncio.sleep(0.02)
            f.write(b"2024-01-02T03:04:05.1Z stdout F ond\n2024-01-02T03:04:05.2")
            f.flush()
            await asyncio.sleep(0.02)  # a torn write: the rest of the line comes later
            f.write(b"Z stdout F \n")
            f.write(b"2024-01-02T03:04:05.3Z stderr F last\n")
        stop.set()
        await asyncio.wait_for(task, 5)
        return got

    assert asyncio.run(main()) == [b"first\n", b"second\n", b"\n", b"last\n"]


def test_follow_real_container_until_exit(h):
    """Lines appear while the container runs; following ends once it has exited."""
    from dockyard.runtime.exits import ExitWatcher

    cid, _ = h.create(["sh", "-c", "echo a; sleep 0.1; echo b; sleep 1000"])

    async def main():
        loop = asyncio.get_running_loop()
        exited = loop.create_future()
        watcher = ExitWatcher(h.rt.exit_dir(), lambda c: c == cid and not exited.done() and exited.set_result(c))
        watcher.start(loop)
        got = []
        try:
            h.rt.start(cid)
            async for rec in follow_log(h.log_path(cid), stop=exited):
                got.append(rec[2])
                if rec[2] == b"b\n":
                    h.rt.kill(cid, signal.SIGKILL)
        finally:
            watcher.close()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 20)) == [b"a\n", b"b\n"]
