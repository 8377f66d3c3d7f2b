"""Capabilities, --privileged, --read-only with --tmpfs, --device, --sysctl, --shm-size."""

from __future__ import annotations

import json

import docker
import pytest

from dockyard.runtime.caps import ALL_CAPS, DEFAULT_CAPS


def _mask(names: list[str]) -> int:
    return sum(1 << ALL_CAPS.index(n) for n in names)


def _host_bounding() -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapBnd:"))


def _cap_eff(cli, *flags: str) -> int:
    out = cli.ok("run", "--rm", *flags, "busybox", "grep", "CapEff:", "/proc/self/status")
    return int(out.split()[1], 16)


def test_default_capabilities_and_add_drop(cli):
    assert _cap_eff(cli) == _mask(DEFAULT_CAPS)
    assert _cap_eff(cli, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
                    "--cap-add", "cap_sys_time") == _mask(["CAP_NET_ADMIN", "CAP_SYS_TIME"])
    expected = _mask([c for c in DEFAULT_CAPS if c != "CAP_CHOWN"])
    assert _cap_eff(cli, "--cap-drop", "CAP_CHOWN") == expected
    # ALL is limited to what this host can hand on (its bounding set).
    assert _cap_eff(cli, "--cap-add", "ALL") == _host_bounding()
    r = cli("run", "--rm", "--cap-drop", "chown", "busybox", "chown", "nobody", "/tmp")
    assert r.returncode == 1 and b"Operation not permitted" in r.stderr
    r = cli("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert r.returncode == 125 and b"NOT_A_CAP" in r.stderr


def test_privileged_gets_host_bounding_set_and_devices(cli):
    assert _cap_eff(cli, "--privileged") == _host_bounding()
    out = cli.ok("run", "--rm", "--privileged", "busybox", "sh", "-c",
                 "test -c /dev/fuse && echo fuse; test -c /dev/kmsg && echo kmsg")
    assert out.split() == ["fuse", "kmsg"]


def test_read_only_root_with_tmpfs(cli):
    r = cli("run", "--rm", "--read-only", "--tmpfs", "/run:size=64m,mode=1777", "busybox", "sh",
            "-c", "touch /probe; echo root=$?; touch /run/probe && echo run-ok; "
                  "stat -c %a /run; df -k /run | tail -1; grep ' /run ' /proc/mounts")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "root=1" and b"Read-only file system" in r.stderr
    assert lines[1] == "run-ok" and lines[2] == "1777"
    assert lines[3].split()[1] == "65536"
    assert "noexec" in lines[4] and "nosuid" in lines[4]
    r = cli("run", "--rm", "--tmpfs", "/x:bogus=1", "busybox", "true")
    assert r.returncode == 125 and b"tmpfs" in r.stderr


def test_device_node_and_cgroup_rule(cli):
    out = cli.ok("run", "--rm", "--device", "/dev/fuse", "busybox", "sh", "-c",
                 "ls -l /dev/fuse; grep 10:229 /sys/fs/cgroup/devices/devices.list; "
                 "cat /dev/fuse 2>&1 | head -c 200")
    lines = out.splitlines()
    assert lines[0].startswith("crw") and "10, 229" in lines[0]
    assert lines[1] == "c 10:229 rwm"
    # The device cgroup lets it open (fuse itself then refuses the read: nothing is mounted);
    # the same node made by hand without --device cannot even be opened.
    assert lines[2].startswith("cat: read error"), lines
    r = cli("run", "--rm", "busybox", "sh", "-c", "mknod /dev/f c 10 229 && cat /dev/f")
    assert b"can't open '/dev/f': Operation not permitted" in r.stderr, r.stderr
    out = cli.ok("run", "--rm", "--device", "/dev/fuse:/dev/myfuse:r", "busybox", "sh", "-c",
                 "ls /dev; grep 10:229 /sys/fs/cgroup/devices/devices.list")
    assert "myfuse" in out.split() and "fuse" not in out.split() and "c 10:229 r" in out
    assert cli.ok("run", "--rm", "busybox", "ls", "/dev").split().count("fuse") == 0
    r = cli("run", "--rm", "--device", "/dev/no-such-device", "busybox", "true")
    assert r.returncode != 0 and b"/dev/no-such-device" in r.stderr


def test_namespaced_sysctls_only(cli):
    out = cli.ok("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl",
                 "kernel.shmmax=1234567", "--sysctl", "fs.mqueue.msg_max=20", "busybox", "cat",
                 "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax",
                 "/proc/sys/fs/mqueue/msg_max")
    assert out.split() == ["1", "1234567", "20"]
    for bad in ("kernel.domainname=x", "vm.swappiness=1", "fs.file-max=100"):
        r = cli("run", "--rm", "--sysctl", bad, "busybox", "true")
        assert r.returncode != 0 and b"sysctl" in r.stderr and bad.encode() in r.stderr


def test_sysctls_and_devices_from_the_api(daemon):
    client = docker.DockerClient(base_url=daemon.host)
    try:
        with pytest.raises(docker.errors.APIError) as e:
            client.containers.create("busybox", "true", sysctls={"kernel.hostname": "x"})
        assert e.value.status_code == 400 and "kernel.hostname" in str(e.value)
        with pytest.raises(docker.errors.APIError) as e:
            client.containers.create("busybox", "true", network_mode="host",
                                     sysctls={"net.ipv4.ip_forward": "1"})
        assert e.value.status_code == 400
        out = client.containers.run("busybox", "cat /proc/sys/kernel/msgmax", remove=True,
                                    sysctls={"kernel.msgmax": "4096"}, devices=["/dev/fuse"])
        assert out.split() == [b"4096"]
    finally:
        client.close()


def test_shm_size(cli):
    out = cli.ok("run", "--rm", "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[-1].split()[1] == "16384"
    out = cli.ok("run", "--rm", "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[-1].split()[1] == "65536"


def test_inspect_shows_security_settings(cli, names):
    name = names()
    cli.ok("create", "--name", name, "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD",
           "--read-only", "--tmpfs", "/run:size=64m,mode=1777", "--device", "/dev/fuse",
           "--sysctl", "net.ipv4.ip_forward=1", "--security-opt", "no-new-privileges",
           "--shm-size", "16m", "busybox", "true")
    host = json.loads(cli.ok("inspect", name))[0]["HostConfig"]
    # Kept as sent (docker 28's CLI sends the CAP_ spelling).
    assert [c.removeprefix("CAP_") for c in host["CapAdd"]] == ["NET_ADMIN"]
    assert [c.removeprefix("CAP_") for c in host["CapDrop"]] == ["MKNOD"]
    assert host["ReadonlyRootfs"] is True and host["ShmSize"] == 16 << 20
    assert host["Tmpfs"] == {"/run": "size=64m,mode=1777"}
    assert host["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Devices"] == [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                                "CgroupPermissions": "rwm"}]


def test_exec_inherits_no_new_privileges_and_filter(cli, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--security-opt", "no-new-privileges:true", "busybox",
           "sleep", "1000")
    out = cli.ok("exec", name, "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status")
    assert out.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"]
