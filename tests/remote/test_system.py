"""System endpoints as clients probe them: API versioning, info, df, prune, events, swarm."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse

from remotekit import CLEAN_ENV

from apiclient import json_request, request

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
               '"docker swarm join" to connect this node to swarm and try again.')


def test_versioned_and_unversioned_paths_and_headers(daemon):
    for path in ("/version", "/v1.43/version", "/v1.24/version", "/v1.41/version"):
        status, headers, body = request(daemon.sock, "GET", path)
        assert status == 200, path
        assert headers["Api-Version"] == "1.43"
        assert headers["Server"].startswith("Docker/")
        assert json.loads(body)["ApiVersion"] == "1.43"


def test_versions_outside_the_supported_range_are_refused(daemon):
    status, data = json_request(daemon.sock, "GET", "/v1.99/info")
    assert status == 400
    assert data["message"] == ("client version 1.99 is too new. "
                               "Maximum supported API version is 1.43")
    status, data = json_request(daemon.sock, "GET", "/v1.12/containers/json")
    assert status == 400
    assert "client version 1.12 is too old. Minimum supported API version is 1.24" \
        in data["message"]


def test_swarm_endpoints_answer_not_a_manager(daemon):
    for method, path in (("GET", "/swarm"), ("GET", "/v1.43/nodes"), ("GET", "/services"),
                         ("POST", "/services/create"), ("GET", "/tasks"),
                         ("GET", "/secrets"), ("GET", "/configs"),
                         ("DELETE", "/v1.41/services/abc")):
        status, data = json_request(daemon.sock, method, path)
        assert (status, data["message"]) == (503, NOT_MANAGER), path
    status, data = json_request(daemon.sock, "POST", "/swarm/leave?force=1")
    assert (status, data["message"]) == (503, "This node is not part of a swarm")


def test_docker_cli_and_docker_py_see_no_swarm(daemon):
    env = dict(CLEAN_ENV, DOCKER_HOST=daemon.host)
    r = subprocess.run(["docker", "node", "ls"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 1
    assert b"This node is not a swarm manager" in r.stderr
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="1.43")
    try:
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        assert client.swarm.leave(force=True) is True  # docker-py's probe: 503 means "not in one"
    finally:
        client.close()


def test_info_has_the_fields_clients_read(daemon):
    status, info = json_request(daemon.sock, "GET", "/info")
    assert status == 200
    for key in ("ID", "Containers", "ContainersRunning", "ContainersPaused",
                "ContainersStopped", "Images", "Driver", "DriverStatus", "DockerRootDir",
                "Plugins", "MemoryLimit", "SwapLimit", "CpuCfsPeriod", "CpuCfsQuota",
                "CPUShares", "CPUSet", "PidsLimit", "OomKillDisable", "IPv4Forwarding",
                "BridgeNfIptables", "Debug", "NFd", "NGoroutines", "SystemTime",
                "LoggingDriver", "CgroupDriver", "CgroupVersion", "NEventsListener",
                "KernelVersion", "OperatingSystem", "OSType", "Architecture", "NCPU",
                "MemTotal", "IndexServerAddress", "RegistryConfig", "Name", "Labels",
                "ServerVersion", "Runtimes", "DefaultRuntime", "Swarm", "LiveRestoreEnabled",
                "InitBinary", "RuncCommit", "SecurityOptions", "Warnings"):
        assert key in info, key
    assert info["Images"] >= 1 and info["NCPU"] >= 1 and info["MemTotal"] > 0
    env = dict(CLEAN_ENV, DOCKER_HOST=daemon.host)
    r = subprocess.run(["docker", "info", "--format", "{{.Driver}} {{.Swarm.LocalNodeState}}"],
                       capture_output=True, env=env, timeout=60)
    assert r.stdout == b"overlay2 inactive\n", r.stderr


def test_container_prune_removes_only_stopped_matching_containers(daemon):
    keep = daemon.cli("run", "-d", "--label", "sweep=prune", "busybox", "sleep", "60")
    assert keep.returncode == 0, keep.stderr
    keep_id = keep.stdout.decode().strip()
    other = daemon.cli("create", "--label", "sweep=other", "busybox", "true")
    other_id = other.stdout.decode().strip()
    gone = daemon.cli("run", "--label", "sweep=prune", "busybox", "sh", "-c", "echo x > /f")
    assert gone.returncode == 0
    gone_id = daemon.cli("ps", "-aq", "--no-trunc", "--filter", "label=sweep=prune",
                         "--filter", "status=exited").stdout.decode().split()
    try:
        r = daemon.cli("container", "prune", "-f", "--filter", "label=sweep=prune")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "Deleted Containers:"
        assert set(lines[1:-2]) == set(gone_id)
        assert lines[-1].startswith("Total reclaimed space: ")
        ids = daemon.cli("ps", "-aq", "--no-trunc").stdout.decode().split()
        assert keep_id in ids and other_id in ids
        assert not set(gone_id) & set(ids)
    finally:
        daemon.cli("rm", "-f", keep_id, other_id)


def test_system_prune_and_df(daemon):
    daemon.cli("create", "--name", "prune-me", "busybox", "true")
    r = daemon.cli("system", "prune", "--volumes", input=b"n\n")
    assert r.returncode == 0
    assert b"WARNING! This will remove:" in r.stdout
    assert b"all anonymous volumes not used by at least one container" in r.stdout
    assert daemon.cli("inspect", "prune-me").returncode == 0  # declined: nothing removed
    r = daemon.cli("system", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert b"Deleted Containers:" in r.stdout and b"Total reclaimed space:" in r.stdout
    assert daemon.cli("inspect", "prune-me").returncode != 0
    status, df = json_request(daemon.sock, "GET", "/system/df")
    assert status == 200
    assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    assert any("busybox:latest" in (i.get("RepoTags") or []) for i in df["Images"])


def test_events_filters_by_type_and_label(daemon):
    since = time.time()
    daemon.cli("volume", "create", "--label", "evt=yes", "evtvol")
    daemon.cli("volume", "rm", "evtvol")
    r = daemon.cli("run", "--rm", "--label", "evt=yes", "busybox", "true")
    assert r.returncode == 0
    until = time.time() + 1
    q = f"since={since:.3f}&until={until:.3f}"
    f = urllib.parse.quote(json.dumps({"type": ["volume"], "volume": ["evtvol"]}))
    status, _h, body = request(daemon.sock, "GET", f"/events?{q}&filters={f}")
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert [e["Action"] for e in events] == ["create", "destroy"]
    f = urllib.parse.quote(json.dumps({"type": ["container"], "label": ["evt=yes"],
                                       "event": ["start"]}))
    status, _h, body = request(daemon.sock, "GET", f"/events?{q}&filters={f}")
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert len(events) == 1 and events[0]["Actor"]["Attributes"]["evt"] == "yes"


def test_plugins_none_installed(daemon):
    status, data = json_request(daemon.sock, "GET", "/v1.43/plugins")
    assert (status, data) == (200, [])
    status, data = json_request(daemon.sock, "GET", "/plugins/vieux/sshfs:latest/json")
    assert (status, data["message"]) == (404, 'plugin "vieux/sshfs:latest" not found')
    status, data = json_request(daemon.sock, "POST", "/plugins/pull?remote=vieux/sshfs")
    assert status == 501 and "plugins" in data["message"]
    env = dict(CLEAN_ENV, DOCKER_HOST=daemon.host)
    r = subprocess.run(["docker", "plugin", "ls", "--format", "{{.Name}}"], capture_output=True,
                       env=env, timeout=60)
    assert (r.returncode, r.stdout) == (0, b""), r.stderr
    status, data = json_request(daemon.sock, "PUT", "/volumes/somevol", body={})
    assert status == 503 and "swarm is not enabled" in data["message"]
