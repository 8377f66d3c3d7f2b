"""The core path, as a user sees it through the dockyard CLI."""

import os
import uuid


def _name() -> str:
    return "t-" + uuid.uuid4().hex[:10]


def test_run_prints_output_and_exits_zero(daemon):
    r = daemon.cli("run", "--rm", "busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"


def test_exit_status_is_the_containers(daemon):
    r = daemon.cli("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3


def test_stdout_and_stderr_are_kept_apart(daemon):
    r = daemon.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_missing_command_exits_127(daemon):
    r = daemon.cli("run", "--rm", "busybox", "nosuchcommand")
    assert r.returncode == 127
    assert b"executable file not found" in r.stderr or b"no such file" in r.stderr.lower()


def test_not_executable_exits_126(daemon):
    r = daemon.cli("run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126


def test_unknown_image_exits_125(daemon):
    r = daemon.cli("run", "--rm", "nosuchimage:1.0", "true")
    assert r.returncode == 125
    assert b"Unable to find image 'nosuchimage:1.0' locally" in r.stderr


def test_name_conflict(daemon):
    name = _name()
    assert daemon.cli("create", "--name", name, "busybox", "true").returncode == 0
    r = daemon.cli("create", "--name", name, "busybox", "true")
    assert r.returncode == 125
    assert b"Conflict" in r.stderr and b"already in use" in r.stderr
    assert daemon.cli("rm", name).returncode == 0


def test_pid_1_and_hostname_is_short_id(daemon):
    name = _name()
    r = daemon.cli("run", "--name", name, "busybox", "sh", "-c", "echo $$; hostname")
    assert r.returncode == 0, r.stderr
    pid, hostname = r.stdout.decode().split()
    cid = daemon.cli("inspect", "-f", "{{.Id}}", name).stdout.decode().strip()
    assert pid == "1"
    assert hostname == cid[:12]
    daemon.cli("rm", name)


def test_containers_are_isolated_from_each_other_and_the_host(daemon):
    marker = f"/isolation-{uuid.uuid4().hex}"
    r = daemon.cli("run", "--rm", "busybox", "sh", "-c", f"echo x > {marker} && cat {marker}")
    assert r.returncode == 0 and r.stdout == b"x\n"
    r = daemon.cli("run", "--rm", "busybox", "test", "-e", marker)
    assert r.returncode == 1
    assert not os.path.exists(marker)


def test_detached_lifecycle_ps_logs_stop_rm(daemon):
    name = _name()
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
                   "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    assert len(cid) == 64
    ps = daemon.cli("ps", "--format", "{{.Names}} {{.Status}}").stdout.decode()
    assert any(line.startswith(f"{name} Up") for line in ps.splitlines())
    logs = b""
    for _ in range(100):
        logs = daemon.cli("logs", name).stdout
        if logs:
            break
    assert logs == b"started\n"
    assert daemon.cli("stop", name).returncode == 0
    status = daemon.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
    assert status.stdout.decode().strip() == "exited 0"
    ps_all = daemon.cli("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.decode()
    assert any(line.startswith(f"{name} Exited (0)") for line in ps_all.splitlines())
    assert daemon.cli("rm", name).returncode == 0
    assert daemon.cli("inspect", name).returncode != 0


def test_kill_and_rm_force(daemon):
    name = _name()
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000").returncode == 0
    r = daemon.cli("rm", name)
    assert r.returncode != 0 and b"running" in r.stderr
    assert daemon.cli("kill", name).returncode == 0
    code = daemon.cli("wait", name)
    assert code.stdout.decode().strip() == "137"
    assert daemon.cli("rm", "-f", name).returncode == 0


def test_env_workdir_user_and_entrypoint(daemon):
    r = daemon.cli("run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "-u", "nobody",
                   "busybox", "sh", "-c", "echo $GREETING $(pwd) $(id -u)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["hi", "/tmp", "65534"]
    r = daemon.cli("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert r.stdout == b"via entrypoint\n"


def test_restart_appends_logs(daemon):
    name = _name()
    assert daemon.cli("run", "--name", name, "busybox", "echo", "again").returncode == 0
    assert daemon.cli("start", "-a", name).stdout == b"again\n"
    assert daemon.cli("logs", name).stdout == b"again\nagain\n"
    daemon.cli("rm", name)


def test_stdin_is_forwarded_with_i(daemon):
    r = daemon.cli("run", "--rm", "-i", "busybox", "cat", input=b"through stdin\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"through stdin\n"


def test_images_tag_rmi(daemon):
    tag = f"retag-{uuid.uuid4().hex[:6]}:v1"
    assert daemon.cli("tag", "busybox", tag).returncode == 0
    images = daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
    assert tag in images.split()
    r = daemon.cli("rmi", tag)
    assert r.returncode == 0
    assert b"Untagged: " + tag.encode() in r.stdout
    assert tag not in daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
    # busybox itself is still there
    assert daemon.cli("inspect", "--type", "image", "busybox").returncode == 0


def test_rmi_refuses_an_image_a_container_uses(daemon):
    tag = f"inuse-{uuid.uuid4().hex[:6]}"
    name = _name()
    busybox_id = daemon.cli("inspect", "-f", "{{.Id}}", "busybox").stdout.decode().strip()
    assert daemon.cli("tag", "busybox", tag).returncode == 0
    assert daemon.cli("run", "-d", "--name", name, tag, "sleep", "1000").returncode == 0
    # Untagging one of two names is allowed; deleting the image by id is not.
    r = daemon.cli("rmi", busybox_id)
    assert r.returncode != 0
    assert b"conflict" in r.stderr.lower() or b"referenced" in r.stderr.lower()
    assert daemon.cli("rm", "-f", name).returncode == 0
    assert daemon.cli("rmi", tag).returncode == 0
    assert daemon.cli("inspect", "--type", "image", "busybox").returncode == 0


def test_resource_limits_reach_the_cgroup(daemon):
    r = daemon.cli("run", "--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5",
                   "busybox", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                   "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"67108864", b"50", b"50000"]


def test_sandbox_defaults(daemon):
    """/sys is read-only, only loopback exists with --network none, and the default
    capability set applies."""
    r = daemon.cli("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                   "touch /sys/x 2>/dev/null && echo sys-writable; "
                   "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; "
                   "grep CapBnd /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\n")
    assert "sys-writable" not in lines
    assert lines[0] == "lo" and lines[1].startswith("CapBnd:")
    assert lines[1].split()[1] == "00000000a80425fb"  # Docker's default 14 capabilities


def test_run_rm_with_a_start_time_error_is_removed(daemon):
    """Any start failure of an auto-remove container removes it, so `run --rm` returns
    (docker 28's CLI waits for the removal)."""
    name = _name()
    r = daemon.cli("run", "--rm", "--name", name, "-u", "nosuchuser", "busybox", "true",
                   timeout=30)
    assert r.returncode == 125
    assert b"unable to find user nosuchuser" in r.stderr
    for _ in range(100):
        if daemon.cli("inspect", name).returncode != 0:
            break
    assert daemon.cli("inspect", name).returncode != 0
