"""Containers run for real through conmon + runc on a busybox rootfs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from dockyard.runtime.caps import ALL_CAPS, DEFAULT_CAPS, host_bounding_set
from dockyard.runtime.oci import ContainerRuntime

CG = "/sys/fs/cgroup"


def _mask(names: list[str]) -> int:
    return sum(1 << ALL_CAPS.index(n) for n in names)


def test_output_goes_to_log_and_exit_code_is_reported(h):
    cid, code = h.run(["sh", "-c", "echo hello; echo oops >&2; printf 'no newline'; exit 3"])
    assert code == 3
    assert h.output(cid, "stdout") == "hello\nno newline"
    assert h.output(cid, "stderr") == "oops\n"
    code2, finished = h.rt.read_exit(cid)
    assert code2 == 3 and finished > 0


def test_missing_command_fails_create_with_127_and_leaves_nothing(h):
    cid = h.new_id()
    with pytest.raises(RuntimeFailure) as ei:
        h.rt.create(cid, h.spec(cid, ["nosuchcmd"]), h.log_path(cid))
    assert ei.value.exit_code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in str(ei.value)
    assert h.rt.state(cid) is None
    assert cid not in h.rt.list_ids()


def test_non_executable_file_fails_with_126(h):
    cid = h.new_id()
    with pytest.raises(RuntimeFailure) as ei:
        h.rt.create(cid, h.spec(cid, ["/bin/notexec"]), h.log_path(cid))
    assert ei.value.exit_code == 126
    assert "permission denied" in str(ei.value)


def test_working_dir_that_is_a_file_is_a_runtime_failure(h):
    cid = h.new_id()
    with pytest.raises(RuntimeFailure) as ei:
        h.rt.create(cid, h.spec(cid, ["true"], cwd="/etc/passwd"), h.log_path(cid))
    assert "not a directory" in str(ei.value)
    assert ei.value.exit_code in (125, 126, 127)


def test_kill_reports_signal_death_and_state_transitions(h):
    cid, pid = h.create(["sleep", "1000"])
    assert h.rt.state(cid)["status"] == "created"
    h.rt.start(cid)
    st = h.rt.state(cid)
    assert st["status"] == "running" and st["pid"] == pid
    assert h.rt.read_exit(cid) is None
    h.rt.kill(cid, signal.SIGKILL)
    assert h.wait(cid) == 137
    assert h.rt.state(cid)["status"] == "stopped"
    with pytest.raises(Conflict):
        h.rt.kill(cid, signal.SIGKILL)
    h.rt.delete(cid)
    assert h.rt.state(cid) is None
    assert h.rt.read_exit(cid) is None
    h.rt.delete(cid)  # idempotent


def test_sigterm_to_a_shell_that_traps_it(h):
    cid, _ = h.create(["sh", "-c", "trap 'exit 143' TERM; echo ready; while true; do sleep 0.05; done"])
    h.rt.start(cid)
    # As pid 1 the shell ignores a SIGTERM that comes before its trap is set.
    deadline = time.monotonic() + 10
    while "ready" not in h.output(cid) and time.monotonic() < deadline:
        time.sleep(0.01)
    h.rt.kill(cid, signal.SIGTERM)
    assert h.wait(cid) == 143


def test_kill_of_unknown_container_is_not_found(h):
    with pytest.raises(NotFound):
        h.rt.kill("nosuchcontainer", signal.SIGKILL)
    assert h.rt.state("nosuchcontainer") is None


def test_force_delete_of_running_container(h):
    cid, pid = h.create(["sleep", "1000"])
    h.rt.start(cid)
    conmon = h.rt.conmon_pid(cid)
    assert conmon
    h.rt.delete(cid, force=True)
    assert h.rt.state(cid) is None
    assert not os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(f"/proc/{conmon}/cmdline") or h.rt.conmon_pid(cid) is None
    assert h.rt.read_exit(cid) is None
    assert not os.path.isdir(h.rt.bundle_dir(cid))


def test_pid1_is_the_command_and_hostname_is_set(h):
    cid, code = h.run(["sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname"],
                      hostname="box1")  # fmt: skip
    assert code == 0, h.output(cid, None)
    lines = h.output(cid).splitlines()
    assert lines[0] == "1"
    assert lines[1].startswith("sh -c")
    assert lines[2] == "box1"


def test_loopback_is_up_in_a_new_network_namespace(h):
    cid, code = h.run(["cat", "/sys/class/net/lo/flags"])
    assert code == 0
    assert int(h.output(cid).strip(), 16) & 0x1  # IFF_UP
    cid, code = h.run(["ls", "/sys/class/net"])
    assert h.output(cid).split() == ["lo"]


def test_cgroup_limits_are_applied(h):
    cid, _ = h.create(["sleep", "1000"], memory=64 * 1024 * 1024, pids_limit=42,
                      nano_cpus=500_000_000, cpu_shares=512)  # fmt: skip
    h.rt.start(cid)
    base = f"{h.cgroup_parent}/{cid}"

    def read(ctrl: str, name: str) -> str:
        with open(os.path.join(CG, ctrl, base, name)) as f:
            return f.read().strip()

    assert read("memory", "memory.limit_in_bytes") == str(64 * 1024 * 1024)
    assert read("pids", "pids.max") == "42"
    assert read("cpu", "cpu.cfs_quota_us") == "50000"
    assert read("cpu", "cpu.shares") == "512"
    pid = h.rt.pid(cid)
    assert str(pid) in read("pids", "cgroup.procs").split()
    h.rt.kill(cid, signal.SIGKILL)
    h.wait(cid)
    h.rt.delete(cid)
    assert not os.path.exists(os.path.join(CG, "pids", base))


def test_pids_limit_stops_fork_bombs(h):
    cid, code = h.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait"], pids_limit=4)
    assert "can't fork" in h.output(cid, "stderr") or "Resource temporarily unavailable" in h.output(cid, "stderr")


def test_rlimits_respected_and_clamped_to_host(h):
    cid, code = h.run(["sh", "-c", "ulimit -Sn; ulimit -Hn"],
                      ulimits=[{"Name": "nofile", "Soft": 1234, "Hard": 2345}])  # fmt: skip
    assert code == 0
    assert h.output(cid).split() == ["1234", "2345"]
    import resource

    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if host_hard < 10**9:  # asking above the host's hard limit is an error, not a silent clamp
        with pytest.raises(InvalidArgument, match="hard limit"):
            h.run(["true"], ulimits=[{"Name": "nofile", "Soft": 10**9, "Hard": 10**9}])
    cid, code = h.run(["sh", "-c", "ulimit -Sn"])  # default: Docker-like, within host limit
    assert code == 0 and int(h.output(cid)) == min(host_hard, 1048576)


def test_default_capabilities_are_dockers_14(h):
    cid, code = h.run(["grep", "-E", "^Cap(Eff|Bnd):", "/proc/self/status"])
    got = dict(line.split(":\t") for line in h.output(cid).splitlines())
    want = _mask([c for c in DEFAULT_CAPS if c in host_bounding_set()])
    assert int(got["CapEff"], 16) == want
    assert int(got["CapBnd"], 16) == want


def test_privileged_gets_host_bounding_set_and_rw_sys(h):
    cid, code = h.run(["sh", "-c", "grep ^CapEff: /proc/self/status; touch /sys/fs/cgroup/x 2>&1; "
                       "cat /proc/keys >/dev/null && echo keys-visible"], privileged=True)  # fmt: skip
    out = h.output(cid)
    assert int(out.split()[1], 16) == _mask(host_bounding_set())
    assert "keys-visible" in out


def test_masked_and_readonly_paths(h):
    cid, code = h.run(["sh", "-c", "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname; "
                       "touch /sys/x"])  # fmt: skip
    out = h.output(cid, None)
    assert out.splitlines()[0].strip() == "0"
    assert "Read-only file system" in out


def test_user_resolution_and_groups(h):
    cid, code = h.run(["id"], user="app")
    out = h.output(cid)
    assert out.startswith("uid=1000(app) gid=1000(app)")
    assert "50(staff)" in out and "29(audio)" in out
    cid, code = h.run(["sh", "-c", "id -u; id -g; echo $HOME"], user="nobody:staff")
    assert h.output(cid).split() == ["65534", "50", "/nonexistent"]
    with pytest.raises(InvalidArgument, match="unable to find user ghost: no matching entries in passwd file"):
        h.create(["id"], user="ghost")


def test_readonly_rootfs_and_env(h):
    cid, code = h.run(["sh", "-c", "echo $FOO $HOSTNAME; touch /newfile"], env=["FOO=bar"],
                      readonly_rootfs=True, hostname="h1")  # fmt: skip
    assert code != 0
    assert h.output(cid) == "bar h1\n"
    assert "Read-only file system" in h.output(cid, "stderr")


def test_tty_output_reaches_the_log(h):
    cid, _ = h.create(["sh", "-c", "test -t 1 && echo is-a-tty"], tty=True)
    h.rt.start(cid)
    assert h.wait(cid) == 0
    assert "is-a-tty" in h.output(cid)


def test_start_twice_is_refused(h):
    cid, _ = h.create(["sleep", "1000"])
    h.rt.start(cid)
    with pytest.raises(Conflict):
        h.rt.start(cid)
    h.rt.kill(cid, signal.SIGKILL)
    assert h.wait(cid) == 137


def test_invalid_ids_are_rejected(h):
    for bad in ("../x", "", "a/b", "-x"):
        with pytest.raises(InvalidArgument):
            h.rt.create(bad, {}, h.log_path("x"))


_CHILD = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {src!r})
    from dockyard.runtime.oci import ContainerRuntime
    rt = ContainerRuntime({exec_root!r})
    spec = json.loads(sys.stdin.read())
    pid = rt.create({cid!r}, spec, {log!r})
    rt.start({cid!r})
    print(pid, flush=True)
    time.sleep(1000)
""")


def test_container_outlives_daemon_death_and_restart_sees_it(h):
    """Simulates a daemon SIGKILLed with its whole process group: conmon and the container
    keep running, and a new ContainerRuntime (a restarted daemon) finds both, then the exit."""
    cid = h.new_id()
    h.ids.append(cid)
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    code = _CHILD.format(src=os.path.abspath(src), exec_root=h.rt.exec_root, cid=cid, log=h.log_path(cid))
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        child.stdin.write(json.dumps(h.spec(cid, ["sh", "-c", "echo up; sleep 1000"])).encode())
        child.stdin.close()
        pid = int(child.stdout.readline())
        os.killpg(child.pid, signal.SIGKILL)  # the "daemon" and everything in its group
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    restarted = ContainerRuntime(h.rt.exec_root)
    st = restarted.state(cid)
    assert st["status"] == "running" and st["pid"] == pid
    assert restarted.conmon_pid(cid) is not None
    assert restarted.read_exit(cid) is None
    assert cid in restarted.list_ids()
    # The shell may not have printed yet: the log must get its line with no daemon around.
    deadline = time.monotonic() + 10
    while h.output(cid) != "up\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    restarted.kill(cid, signal.SIGKILL)
    assert h.wait(cid) == 137
    assert restarted.read_exit(cid)[0] == 137
    assert h.output(cid) == "up\n"
    restarted.delete(cid)


def test_exec_in_running_container(h):
    cid, pid = h.create(["sleep", "1000"], hostname="exbox")
    h.rt.start(cid)
    assert os.path.exists(h.rt.attach_socket_path(cid))
    log = os.path.join(h.dir, "exec.log")
    proc = {"args": ["sh", "-c", "hostname; echo $$ >&2; exit 5"], "env": ["PATH=/bin"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}}  # fmt: skip
    assert h.rt.exec(cid, proc, log_path=log) == 5
    from dockyard.runtime.logfile import read_log

    recs = list(read_log(log))
    assert ("stdout", b"exbox\n") in [(s, line) for s, _, line in recs]
    assert any(s == "stderr" and line.strip() != b"1" for s, _, line in recs)
    with pytest.raises(RuntimeFailure) as ei:
        h.rt.exec(cid, dict(proc, args=["nosuchcmd"]))
    assert ei.value.exit_code == 127
    assert h.rt.exec(cid, dict(proc, args=["true"])) == 0
    assert h.rt.state(cid)["status"] == "running"
    assert os.path.exists(h.rt.attach_socket_path(cid))  # exec left the container's socket alone
    h.rt.kill(cid, signal.SIGKILL)
    assert h.wait(cid) == 137


def test_stdin_through_the_attach_socket(h):
    """conmon's attach socket feeds the container's stdin; closing it ends stdin (docker's
    StdinOnce), so `cat` sees EOF and exits."""
    import socket

    cid = h.new_id()
    h.rt.create(cid, h.spec(cid, ["cat"], open_stdin=True), h.log_path(cid), stdin=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(h.rt.attach_socket_path(cid))
        h.rt.start(cid)
        sock.sendall(b"hello via stdin\n")
        sock.shutdown(socket.SHUT_WR)
        assert h.wait(cid) == 0
    finally:
        sock.close()
    assert h.output(cid) == "hello via stdin\n"
