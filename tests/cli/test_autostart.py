"""When no daemon answers, the CLI starts one detached and waits for it (unless told not to)."""

import os
import signal
import sys
import time

import pytest

from daemonctl import _free_octet, _remove_network_state
from dockyard.cli.connect import AutoStartClient, DaemonStartFailed, make_client, resolve_host
from dockyard.client import Client


@pytest.fixture
def private_daemon_command(tmp_path):
    root = tmp_path / "d"
    sock = root / "dockyard.sock"
    command = [sys.executable, "-m", "dockyard.cli.main", "daemon", "--root", str(root / "root"),
               "--exec-root", str(root / "exec"), "-H", f"unix://{sock}",
               "--cgroup-parent", f"dockyard-cli-autostart-{os.getpid()}"]
    # Its own bridge and subnet, never the host's default dockyard0.
    bridge, octet = f"dya{os.getpid() % 100000}", _free_octet()
    command += ["--bridge-name", bridge, "--bip", f"10.{octet}.0.1/24",
                "--default-address-pool", f"base=10.{octet}.0.0/16,size=24"]
    started = []
    yield f"unix://{sock}", command, started
    for pid in started:  # our child here, since the client ran in this process
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(200):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    _remove_network_state(str(root / "root"), bridge)


def test_first_request_starts_a_detached_daemon(private_daemon_command, tmp_path):
    host, command, started = private_daemon_command
    log = tmp_path / "log" / "daemon.log"
    client = AutoStartClient(host, command=command, run_dir=str(tmp_path / "run"),
                             log_path=str(log))
    version = client.get("/version")
    started.append(client.started_pid)
    assert client.started_pid and version["ApiVersion"]
    assert os.getsid(client.started_pid) == client.started_pid  # its own session (setsid)
    assert log.exists()
    # the next CLI call finds it running and starts nothing
    again = AutoStartClient(host, command=command, run_dir=str(tmp_path / "run"),
                            log_path=str(log))
    assert again.ping() and again.started_pid is None


def test_a_daemon_that_cannot_start_is_one_clear_error(tmp_path):
    client = AutoStartClient(f"unix://{tmp_path}/none.sock",
                             command=[sys.executable, "-c", "raise SystemExit(3)"],
                             run_dir=str(tmp_path / "run"), log_path=str(tmp_path / "log"))
    with pytest.raises(DaemonStartFailed, match="starting it failed: the daemon exited"):
        client.get("/_ping")


def test_no_autostart_for_explicit_hosts_or_when_disabled(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKYARD_HOST", raising=False)
    monkeypatch.delenv("DOCKYARD_NO_AUTOSTART", raising=False)
    assert resolve_host(None) == ("unix:///run/dockyard/dockyard.sock", True)
    assert isinstance(make_client(None), AutoStartClient)
    assert type(make_client("unix:///x.sock")) is Client
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert resolve_host(None) == ("tcp://127.0.0.1:1", False)
    monkeypatch.setenv("DOCKYARD_HOST", "unix:///y.sock")
    assert resolve_host(None) == ("unix:///y.sock", False)
    assert resolve_host("unix:///z.sock") == ("unix:///z.sock", False)
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.delenv("DOCKYARD_HOST")
    monkeypatch.setenv("DOCKYARD_NO_AUTOSTART", "1")
    assert type(make_client(None)) is Client
