"""``exec`` from the dockyard CLI and the real docker CLIs: output, exit codes, stdin, a real
terminal, options; the exec API through docker-py."""

from __future__ import annotations

import subprocess
import time

import pytest
from ctrhelp import unique
from ptydrive import PtySession


def test_output_streams_and_exit_code(cli, running):
    r = cli("exec", running, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr.endswith(b"err\n")


def test_command_that_cannot_run(cli, running):
    r = cli("exec", running, "nosuchcmd")
    assert r.returncode == 127, (r.stdout, r.stderr)
    assert b"executable file not found" in r.stdout + r.stderr
    r = cli("exec", running, "/etc/passwd")
    assert r.returncode == 126, (r.stdout, r.stderr)


def test_stdin_with_i(cli, running):
    r = cli("exec", "-i", running, "sh", "-c", "cat; echo end", input=b"line 1\nline 2\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"line 1\nline 2\nend\n"
    # Without -i the process gets no stdin at all: cat ends at once.
    r = cli("exec", running, "cat", input=b"ignored\n")
    assert (r.returncode, r.stdout) == (0, b"")


def test_env_workdir_user(cli, running):
    out = cli.ok("exec", "-e", "GREETING=hi there", "-w", "/tmp", "-u", "nobody", running,
                 "sh", "-c", 'echo "$GREETING"; pwd; id -u; echo $HOME')
    assert out.splitlines() == ["hi there", "/tmp", "65534", "/home"]
    # The container's own environment is inherited.
    assert "PATH=" in cli.ok("exec", running, "env")


def test_detached_exec_runs_in_background(cli, running):
    r = cli("exec", "-d", running, "sh", "-c", "sleep 0.2; echo done > /tmp/flag")
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    for _ in range(100):
        if cli("exec", running, "cat", "/tmp/flag").stdout == b"done\n":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the detached exec did not run")


def test_privileged_gets_every_capability(cli, running):
    def cap_eff(*flags: str) -> int:
        out = cli.ok("exec", *flags, running, "grep", "CapEff", "/proc/self/status")
        return int(out.split()[1], 16)

    default, privileged = cap_eff(), cap_eff("--privileged")
    assert default & ~privileged == 0 and privileged != default
    assert privileged & (1 << 21)  # CAP_SYS_ADMIN
    assert not default & (1 << 21)


def test_exec_in_a_stopped_container_fails(cli, daemon):
    name = unique("stopped")
    assert daemon.cli("create", "--name", name, "busybox", "true").returncode == 0
    try:
        r = cli("exec", name, "true")
        assert r.returncode != 0
        assert b"is not running" in r.stderr
        r = cli("exec", "nosuchcontainer-x", "true")
        assert r.returncode != 0 and b"No such container" in r.stderr
    finally:
        daemon.cli("rm", "-f", name)


def test_output_is_streamed_live(cli, running):
    proc = subprocess.Popen([*cli.argv, "exec", running, "sh", "-c", "echo first; sleep 30"],
                            stdout=subprocess.PIPE, env=cli.env)
    try:
        assert proc.stdout.readline() == b"first\n"
        assert proc.poll() is None  # still running: the line came before the end
    finally:
        proc.kill()
        proc.wait()


def test_exec_it_through_a_terminal(cli, running):
    s = PtySession([*cli.argv, "exec", "-it", running, "sh"], env=cli.env, rows=33, cols=101)
    try:
        s.read_until(b"# ")
        s.send(b"echo hi\r")
        s.read_until(b"\r\nhi\r\n")
        s.send(b"stty size; tty\r")
        s.read_until(b"33 101\r\n/dev/pts/")
        s.send(b"exit 3\r")
        assert s.wait() == 3
    finally:
        s.close()


def test_run_it_through_a_terminal(cli):
    s = PtySession([*cli.argv, "run", "-it", "--rm", "busybox", "sh"], env=cli.env)
    try:
        s.read_until(b"# ")
        s.send(b"echo hi\r")
        s.read_until(b"\r\nhi\r\n")
        s.send(b"exit\r")
        assert s.wait() == 0
    finally:
        s.close()


def test_unknown_user_fails_like_a_command_that_cannot_run(cli, running):
    r = cli("exec", "-u", "nosuchuser", running, "true")
    assert r.returncode == 126, (r.stdout, r.stderr)
    assert b"unable to find user nosuchuser" in r.stdout + r.stderr


def test_exec_it_detach_keys_leave_the_process_running(cli, running):
    s = PtySession([*cli.argv, "exec", "-it", running, "sh", "-c",
                    "echo started; sleep 4343"], env=cli.env)
    try:
        s.read_until(b"started")
        s.send(b"\x10\x11")
        s.wait()
    finally:
        s.close()
    assert "sleep 4343" in cli.ok("top", running)


RESIZED = (b"while [ \"$(stty size)\" != '41 123' ]; do usleep 20000; done; "
           b"echo resized-$((6*7))\r")


@pytest.mark.parametrize("verb", ["run", "exec"])
def test_window_resize_reaches_the_container(cli, running, verb):
    """A terminal resized during ``run -it`` / ``exec -it`` resizes the container's too."""
    argv = ["run", "-it", "--rm", "busybox", "sh"] if verb == "run" else ["exec", "-it",
                                                                           running, "sh"]
    s = PtySession([*cli.argv, *argv], env=cli.env, rows=24, cols=80)
    try:
        s.read_until(b"# ")
        s.send(b"stty size\r")
        s.read_until(b"\r\n24 80\r\n")
        s.resize(41, 123)
        s.send(RESIZED)
        s.read_until(b"resized-42")
        s.send(b"exit\r")
        assert s.wait() == 0
    finally:
        s.close()
