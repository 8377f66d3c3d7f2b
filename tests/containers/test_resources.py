"""Resource use and limits: stats, update (live), out-of-memory kills."""

from __future__ import annotations

import json
import re
import time

import docker
import pytest
from ctrhelp import unique


@pytest.fixture
def names(daemon):
    made: list[str] = []

    def make() -> str:
        made.append(unique("res"))
        return made[-1]

    yield make
    for n in made:
        daemon.cli("rm", "-f", n)


def _inspect(daemon, name: str) -> dict:
    r = daemon.cli("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _cg(daemon, controller: str, cid: str, name: str) -> str:
    with open(f"/sys/fs/cgroup/{controller}/{daemon.cgroup_parent}/{cid}/{name}") as f:
        return f.read().strip()


def _mib(text: str) -> float:
    m = re.match(r"([\d.]+)([KMG]i)?B", text)
    assert m, text
    return float(m.group(1)) * {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024}[m.group(2)]


def test_out_of_memory_is_reported(cli, daemon, names):
    name = names()
    r = cli("run", "--name", name, "-m", "32m", "busybox", "sh", "-c",
            "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
    assert r.returncode == 137, r.stderr
    st = _inspect(daemon, name)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    # A plain SIGKILL is not an OOM kill.
    other = names()
    daemon.cli("run", "-d", "--name", other, "busybox", "sleep", "100")
    daemon.cli("kill", other)
    st = _inspect(daemon, other)["State"]
    assert st["OOMKilled"] is False and st["ExitCode"] == 137


def test_stats_no_stream_reports_cpu_and_memory(cli, daemon, names):
    name = names()
    # ~24 MiB in /dev/shm (charged to the container's memory) and a busy loop.
    daemon.cli("run", "-d", "--name", name, "-m", "64m", "busybox", "sh", "-c",
               "head -c 25165824 /dev/zero > /dev/shm/fill; while true; do :; done")
    time.sleep(0.5)  # the fill is done and the loop spins
    out = cli.ok("stats", "--no-stream", "--format",
                 "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", name)
    got_name, cpu, mem, pids = out.strip().split("|")
    assert got_name == name
    assert float(cpu.rstrip("%")) > 20.0  # one core spinning (100 %), on a busy test host
    usage, limit = (s.strip() for s in mem.split("/"))
    assert 20 <= _mib(usage) <= 40, mem
    assert limit == "64MiB"
    assert int(pids) >= 1
    table = cli.ok("stats", "--no-stream", name).splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"]


def test_update_limits_live_and_restart_policy(cli, daemon, names):
    name = names()
    daemon.cli("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "1000")
    cid = _inspect(daemon, name)["Id"]
    assert cli.ok("update", "-m", "96m", "--cpus", "0.5", "--pids-limit", "50",
                  "--restart", "on-failure:2", name).strip() == name
    assert int(_cg(daemon, "memory", cid, "memory.limit_in_bytes")) == 96 * 2**20
    assert _cg(daemon, "cpu", cid, "cpu.cfs_quota_us") == "50000"
    assert _cg(daemon, "pids", cid, "pids.max") == "50"
    host = _inspect(daemon, name)["HostConfig"]
    assert host["Memory"] == 96 * 2**20 and host["NanoCpus"] == 500_000_000
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    r = cli("update", "-m", "1k", name)
    assert r.returncode != 0 and b"Minimum memory limit" in r.stderr


def test_docker_py_stats_top_update(daemon, names):
    client = docker.DockerClient(base_url=daemon.host, version="auto")
    try:
        name = names()
        ctr = client.containers.run("busybox", ["sleep", "1000"], name=name, detach=True,
                                    mem_limit="64m")
        s = ctr.stats(stream=False)
        assert s["memory_stats"]["limit"] == 64 * 2**20
        assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
        assert s["precpu_stats"]["system_cpu_usage"] > 0
        stream = ctr.stats(stream=True, decode=True)
        first = next(stream)
        assert first["id"] == ctr.id and first["name"] == "/" + name
        top = ctr.top()
        assert "PID" in top["Titles"]
        assert any("sleep 1000" in " ".join(p) for p in top["Processes"])
        ctr.update(mem_limit="80m", restart_policy={"Name": "always"})
        ctr.reload()
        assert ctr.attrs["HostConfig"]["Memory"] == 80 * 2**20
        assert ctr.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
        ctr.update(restart_policy={"Name": "no"})
    finally:
        client.close()


def test_stats_streams(daemon, names):
    import os
    import select
    import subprocess

    name = names()
    daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
    argv = [os.path.join(os.path.dirname(__import__("sys").executable), "dockyard"),
            "-H", daemon.host, "stats", "--format", "{{.Name}} {{.PIDs}}", name]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        seen = b""
        deadline = time.monotonic() + 15
        while seen.count(f"{name} 1".encode()) < 2 and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert seen.count(f"{name} 1".encode()) >= 2, seen  # redrawn: a live stream
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
