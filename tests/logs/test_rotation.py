"""Log rotation (--log-opt max-size/max-file, daemon-wide default) and logs --since/--until/
--tail/-f/-t across the rotated files."""

from __future__ import annotations

import calendar
import os
import signal
import subprocess
import time

import pytest

from daemonctl import DOCKYARD, Daemon
from multicli import inspect, until

WRITER = "i=0; while [ $i -lt {n} ]; do echo line-$i; i=$((i+1)); usleep {us}; done; {then}"


def _numbers(text: str) -> list[int]:
    return [int(line.rsplit("-", 1)[1]) for line in text.splitlines() if "line-" in line]


def _log_files(daemon, name: str) -> list[str]:
    """The log and its rotated files (not the daemon's .keep/.next/.tmp bookkeeping links)."""
    path = inspect(daemon, name)["LogPath"]
    d = os.path.dirname(path)
    base = os.path.basename(path)
    return sorted(f for f in os.listdir(d)
                  if f == base or (f.startswith(base + ".") and f[len(base) + 1:].isdigit()))


def _written(daemon, name, n):
    return until(lambda: b"line-%d\n" % (n - 1) in daemon.cli("logs", "--tail", "3",
                                                              name).stdout,
                 what="all lines written")


def test_rotation_keeps_max_file_files_in_order(cli, daemon, names):
    name = names()
    n = 300
    cli.ok("run", "-d", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
           "busybox", "sh", "-c", WRITER.format(n=n, us=2000, then="sleep 1000"))
    _written(daemon, name, n)
    lc = inspect(daemon, name)["HostConfig"]["LogConfig"]
    assert lc["Type"] == "json-file"
    assert lc["Config"]["max-size"] == "1k" and lc["Config"]["max-file"] == "3"
    files = _log_files(daemon, name)
    base = os.path.basename(inspect(daemon, name)["LogPath"])
    assert base + ".1" in files and base + ".2" in files and base + ".3" not in files, files
    d = os.path.dirname(inspect(daemon, name)["LogPath"])
    total = sum(os.path.getsize(os.path.join(d, f)) for f in files)
    assert total <= 3 * 1024 + 200, total
    got = _numbers(cli.ok("logs", name))
    # A contiguous run that ends with the last line: old lines dropped, none lost in between.
    assert got == list(range(got[0], n)), got
    assert got[0] > 0 and len(got) > 30
    assert _numbers(cli.ok("logs", "--tail", "5", name)) == list(range(n - 5, n))
    stamped = cli.ok("logs", "-t", name).splitlines()
    stamps = [line.split(" ", 1)[0] for line in stamped]
    assert stamps == sorted(stamps) and len(stamps) == len(got)
    # --since / --until with a line of the oldest kept file.
    pick = stamped[3].split(" ", 1)[0]
    secs = calendar.timegm(time.strptime(pick[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = pick[19:].rstrip("Z")
    since = f"{secs}{frac}"
    # conmon stamps what it reads at once with one time: lines can share a stamp.
    after = _numbers(cli.ok("logs", "--since", since, name))
    assert after == [k for k, st in zip(got, stamps, strict=True) if st >= pick]
    before = _numbers(cli.ok("logs", "--until", since, name))
    assert before == [k for k, st in zip(got, stamps, strict=True) if st <= pick]


def test_follow_crosses_rotations(daemon, names):
    name = names()
    n = 250
    r = daemon.cli("run", "-d", "--name", name, "--log-opt", "max-size=1k", "--log-opt",
                   "max-file=2", "busybox", "sh", "-c",
                   WRITER.format(n=n, us=4000, then="true"))
    assert r.returncode == 0, r.stderr
    follow = subprocess.run([DOCKYARD, "-H", daemon.host, "logs", "-f", name],
                            capture_output=True, timeout=60,
                            env=dict(os.environ, DOCKYARD_NO_AUTOSTART="1"))
    got = _numbers(follow.stdout.decode())
    assert got and got[-1] == n - 1
    assert got == list(range(got[0], n)), got
    kept = _numbers(daemon.cli("logs", name).stdout.decode())
    assert len(got) > len(kept)  # it saw lines that are rotated away by now


def test_rotations_while_the_daemon_does_not_react_lose_nothing(daemon, names, tmp_path):
    """conmon rotates twice while the daemon is stopped (SIGSTOP): both files are kept."""
    name = names()
    gate = tmp_path / "gate"
    gate.mkdir()
    pad = "x" * 60  # ~106 bytes a line in the file: 9 lines fill 1k, so 24 rotate twice
    r = daemon.cli("run", "-d", "--name", name, "--log-opt", "max-size=1k", "--log-opt",
                   "max-file=5", "-v", f"{gate}:/gate", "busybox", "sh", "-c",
                   "while [ ! -e /gate/go ]; do usleep 10000; done; "
                   f"i=0; while [ $i -lt 24 ]; do echo line-{pad}-$i; i=$((i+1)); done; "
                   "echo done; sleep 1000")
    assert r.returncode == 0, r.stderr
    path = inspect(daemon, name)["LogPath"]
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        (gate / "go").touch()
        until(lambda: os.path.exists(path) and b" done\n" in open(path, "rb").read(),
              what="the container's last line")
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    until(lambda: _numbers(daemon.cli("logs", name).stdout.decode()) == list(range(24)),
          what="all 24 lines")
    assert _log_files(daemon, name) == sorted(os.path.basename(path) + s
                                              for s in ("", ".1", ".2"))


def test_default_rotation_and_bad_options(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "busybox", "true")
    lc = inspect(daemon, name)["HostConfig"]["LogConfig"]
    # The built-in 10m x 3 applies but stays internal: Config is what the client sent (Docker).
    assert lc == {"Type": "json-file", "Config": {}}
    r = cli("run", "--log-opt", "max-size=lots", "busybox", "true")
    assert r.returncode != 0 and b"max-size" in r.stderr
    r = cli("run", "--log-driver", "syslog", "busybox", "true")
    assert r.returncode != 0 and b"syslog" in r.stderr


class _DaemonWithOpts(Daemon):
    def __init__(self, extra: list[str]):
        super().__init__()
        self.extra = extra

    def start(self, timeout: float = 20) -> None:
        real = subprocess.Popen

        def popen(argv, *a, **kw):
            if argv[:2] == [DOCKYARD, "daemon"]:
                argv = argv + self.extra
            return real(argv, *a, **kw)

        subprocess.Popen = popen
        try:
            super().start(timeout)
        finally:
            subprocess.Popen = real


@pytest.fixture
def small_log_daemon():
    d = _DaemonWithOpts(["--log-opt", "max-size=2k", "--log-opt", "max-file=2"])
    try:
        d.start()
        d.import_busybox()
        yield d
    finally:
        d.teardown()


def test_daemon_wide_default(small_log_daemon):
    d = small_log_daemon
    name = "lg-default"
    r = d.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
              WRITER.format(n=200, us=1000, then="sleep 1000"))
    assert r.returncode == 0, r.stderr
    _written(d, name, 200)
    lc = inspect(d, name)["HostConfig"]["LogConfig"]
    assert lc["Config"] == {"max-size": "2k", "max-file": "2"}
    files = _log_files(d, name)
    assert len(files) == 2, files
    got = _numbers(d.cli("logs", name).stdout.decode())
    assert got == list(range(got[0], 200)) and got[0] > 0
    # The container's own option still wins over the daemon's.
    r = d.cli("run", "-d", "--name", "lg-own", "--log-opt", "max-file=1", "busybox", "true")
    assert r.returncode == 0, r.stderr
    assert inspect(d, "lg-own")["HostConfig"]["LogConfig"]["Config"]["max-file"] == "1"
    d.cli("rm", "-f", name, "lg-own")


def test_bad_daemon_log_opt_refused():
    r = subprocess.run([DOCKYARD, "daemon", "--log-opt", "max-size=huge"], capture_output=True,
                       timeout=30)
    assert r.returncode != 0 and b"max-size" in r.stderr
