"""Containers outlive a SIGKILLed daemon; the next daemon picks them up."""

import signal
import time


def test_containers_survive_daemon_sigkill(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    assert d.cli("run", "-d", "--name", "keeps", "busybox", "sh", "-c",
                 "echo before; sleep 1000").returncode == 0
    assert d.cli("run", "-d", "--name", "ends", "busybox", "sh", "-c",
                 "read x < /dev/null; sleep 1; exit 7").returncode == 0
    pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", "keeps").stdout)

    d.stop(signal.SIGKILL)
    time.sleep(2)  # "ends" exits while no daemon is running
    assert _alive(pid)
    d.start()

    assert d.cli("inspect", "-f", "{{.State.Status}}", "keeps").stdout.strip() == b"running"
    assert d.cli("logs", "keeps").stdout == b"before\n"
    ends = d.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ends")
    assert ends.stdout.strip() == b"exited 7"

    assert d.cli("stop", "-t", "1", "keeps").returncode == 0
    assert not _alive(pid)
    assert d.cli("inspect", "-f", "{{.State.Status}}", "keeps").stdout.strip() == b"exited"
    assert d.cli("rm", "keeps", "ends").returncode == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
