"""Restart policies: on-failure[:N], always, unless-stopped, with stop and daemon restarts."""

from __future__ import annotations

import os
import signal
import time

import pytest
from ctrhelp import unique

from dockyard.engine.restart import Backoff, should_restart
from multicli import inspect as _inspect
from multicli import until as _until


@pytest.fixture
def names(daemon):
    made: list[str] = []

    def make() -> str:
        made.append(unique("rs"))
        return made[-1]

    yield make
    for n in made:
        daemon.cli("rm", "-f", n)


def test_on_failure_3_restarts_exactly_three_times(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--restart", "on-failure:3", "busybox",
           "sh", "-c", "echo run; exit 1")
    info = _until(lambda: (i := _inspect(daemon, name))["State"]["Status"] == "exited"
                  and i["RestartCount"] == 3 and i, what="three restarts")
    assert info["State"]["ExitCode"] == 1
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    time.sleep(0.5)  # a fourth restart would have been due after 0.8 s at most
    assert _inspect(daemon, name)["RestartCount"] == 3
    assert cli.ok("logs", name) == "run\n" * 4


def test_on_failure_leaves_a_clean_exit_alone(daemon, names):
    name = names()
    assert daemon.cli("run", "-d", "--name", name, "--restart", "on-failure", "busybox",
                      "true").returncode == 0
    info = _until(lambda: (i := _inspect(daemon, name))["State"]["Status"] == "exited" and i)
    time.sleep(0.3)
    assert _inspect(daemon, name)["RestartCount"] == 0 == info["RestartCount"]


def test_always_restarts_until_stopped(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "true")
    _until(lambda: _inspect(daemon, name)["RestartCount"] >= 2, what="two restarts")
    status = cli.ok("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert status.startswith(("Restarting (0)", "Up ")), status
    cli.ok("stop", name)
    info = _inspect(daemon, name)
    assert info["State"]["Status"] == "exited"
    count = info["RestartCount"]
    time.sleep(0.5)
    info = _inspect(daemon, name)
    assert (info["State"]["Status"], info["RestartCount"]) == ("exited", count)
    # The next start brings the policy back.
    cli.ok("start", name)
    _until(lambda: _inspect(daemon, name)["RestartCount"] >= 1, what="restart after start")


def test_backoff_doubles_and_resets():
    b = Backoff()
    assert [b.next(0.5) for _ in range(4)] == [0.1, 0.2, 0.4, 0.8]
    assert b.next(10.0) == 0.1  # a run of 10 s resets it
    for _ in range(20):
        b.next(0.1)
    assert b.delay == 60.0
    assert should_restart({"RestartPolicy": {"Name": "always"}}, 0, 99, True)
    assert not should_restart({"RestartPolicy": {"Name": "unless-stopped"}}, 1, 0, True)
    assert not should_restart({"RestartPolicy": {"Name": "on-failure",
                                                 "MaximumRetryCount": 2}}, 1, 2, False)
    assert not should_restart({"RestartPolicy": {"Name": "no"}}, 1, 0, False)


def _container_pid(daemon, name: str) -> int:
    return _inspect(daemon, name)["State"]["Pid"]


def test_policies_across_a_daemon_restart(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    for name, policy in (("alw", "always"), ("alw-stopped", "always"),
                         ("unl", "unless-stopped"), ("unl-stopped", "unless-stopped"),
                         ("none", "no")):
        r = d.cli("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
    for name in ("alw-stopped", "unl-stopped"):
        assert d.cli("stop", "-t", "0", name).returncode == 0
    # The daemon goes down; meanwhile the running ones die.
    pids = [_container_pid(d, name) for name in ("alw", "unl", "none")]
    d.stop()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    d.start()
    running = lambda n: _inspect(d, n)["State"]["Status"] == "running"  # noqa: E731
    _until(lambda: running("alw") and running("unl") and running("alw-stopped"),
           what="always and unless-stopped back")
    assert _inspect(d, "alw")["RestartCount"] == 1
    assert _inspect(d, "unl-stopped")["State"]["Status"] == "exited"
    info = _inspect(d, "none")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137


def test_docker_py_restart_policy_and_count(daemon, names):
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="auto")
    try:
        name = names()
        ctr = client.containers.run("busybox", ["sh", "-c", "exit 2"], name=name, detach=True,
                                    restart_policy={"Name": "on-failure",
                                                    "MaximumRetryCount": 2})

        def done():
            ctr.reload()
            return ctr.status == "exited" and ctr.attrs["RestartCount"] == 2

        _until(done, what="two restarts")
        assert ctr.attrs["State"]["ExitCode"] == 2
    finally:
        client.close()
