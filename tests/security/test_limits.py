"""Resource limits at create: cgroup v1 files on the host, ulimits inside, inspect's HostConfig."""

from __future__ import annotations

import json
import resource

import docker
import pytest


def _cg(daemon, controller: str, cid: str, name: str) -> str:
    with open(f"/sys/fs/cgroup/{controller}/{daemon.cgroup_parent}/{cid}/{name}") as f:
        return f.read().strip()


def test_limits_reach_the_cgroup_and_inspect(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--memory", "64m", "--memory-swap", "128m",
           "--memory-reservation", "32m", "--cpu-shares", "512", "--cpuset-cpus", "0",
           "--pids-limit", "50", "busybox", "sleep", "1000")
    info = json.loads(cli.ok("inspect", name))[0]
    cid, host = info["Id"], info["HostConfig"]
    assert host["Memory"] == 64 << 20 and host["MemorySwap"] == 128 << 20
    assert host["MemoryReservation"] == 32 << 20 and host["CpuShares"] == 512
    assert host["CpusetCpus"] == "0" and host["PidsLimit"] == 50
    assert _cg(daemon, "memory", cid, "memory.limit_in_bytes") == str(64 << 20)
    assert _cg(daemon, "memory", cid, "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert _cg(daemon, "memory", cid, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _cg(daemon, "cpu", cid, "cpu.shares") == "512"
    assert _cg(daemon, "cpuset", cid, "cpuset.cpus") == "0"
    assert _cg(daemon, "pids", cid, "pids.max") == "50"
    # The pids limit holds: 60 sleeps cannot all start.
    r = cli("exec", name, "sh", "-c", "for i in $(seq 60); do sleep 5 & done 2>&1; wait")
    assert b"fork" in r.stdout + r.stderr or r.returncode != 0


def test_bad_limits_are_refused(cli):
    for flags, words in (
        (["--memory", "32m", "--memory-reservation", "64m"], b"reservation"),
        (["--cpuset-cpus", "99"], b"99"),
        (["--cpuset-cpus", "a-b"], b"cpuset"),
        (["--memory-swap", "64m"], b"Memory"),
    ):
        r = cli("run", "--rm", *flags, "busybox", "true")
        assert r.returncode == 125 and words in r.stderr, (flags, r.stderr)


def test_ulimits_inside_and_host_hard_limits(cli):
    out = cli.ok("run", "--rm", "--ulimit", "nofile=1000:2000", "--ulimit", "nproc=500",
                 "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u")
    assert out.split() == ["1000", "2000", "500"]
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    out = cli.ok("run", "--rm", "busybox", "sh", "-c", "ulimit -Hn")
    assert int(out) <= hard_nofile  # the default is clamped to what the host has
    if hard_nofile != resource.RLIM_INFINITY:
        r = cli("run", "--rm", "--ulimit", f"nofile={hard_nofile + 1}", "busybox", "true")
        assert r.returncode == 125 and b"host's hard limit" in r.stderr, r.stderr
    r = cli("run", "--rm", "--ulimit", "nofile=10:5", "busybox", "true")
    assert r.returncode != 0


def test_limits_from_docker_py(daemon):
    client = docker.DockerClient(base_url=daemon.host)
    try:
        c = client.containers.run("busybox", "sh -c 'ulimit -n; cat /sys/fs/cgroup/pids/pids.max'",
                                  detach=True, mem_limit="48m", mem_reservation="16m",
                                  cpuset_cpus="0", pids_limit=40,
                                  ulimits=[docker.types.Ulimit(name="nofile", soft=512, hard=512)])
        try:
            assert c.wait()["StatusCode"] == 0
            assert c.logs().split() == [b"512", b"40"]
            c.reload()
            assert c.attrs["HostConfig"]["MemoryReservation"] == 16 << 20
            assert c.attrs["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 512}]
        finally:
            c.remove(force=True)
        with pytest.raises(docker.errors.APIError) as e:
            client.containers.create("busybox", "true", cpuset_cpus="1-999")
        assert e.value.status_code == 400
    finally:
        client.close()
