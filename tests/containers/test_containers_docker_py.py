"""docker-py's container calls the issue names and no other test drives: create with a host
config (the low-level API), logs with follow and timestamps, wait with a condition."""

from __future__ import annotations

import json
import re
import threading

import docker
import pytest
from ctrhelp import unique

from apiclient import _UnixConnection

STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host, version="auto")
    made: list[str] = []
    c.made = made
    yield c
    for name in made:
        try:
            c.api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass
    c.close()


def _name(client) -> str:
    client.made.append(unique("py"))
    return client.made[-1]


def test_create_with_a_host_config(client, tmp_path):
    api = client.api
    name = _name(client)
    (tmp_path / "f.txt").write_text("bound\n")
    hc = api.create_host_config(mem_limit="48m", restart_policy={"Name": "on-failure",
                                                                 "MaximumRetryCount": 2},
                                binds={str(tmp_path): {"bind": "/mnt", "mode": "ro"}},
                                cap_drop=["CHOWN"], pids_limit=64, shm_size="16m",
                                ulimits=[docker.types.Ulimit(name="nofile", soft=512, hard=512)])
    cid = api.create_container("busybox", ["sh", "-c", "cat /mnt/f.txt; ulimit -n"],
                               name=name, host_config=hc)["Id"]
    hc = api.inspect_container(cid)["HostConfig"]
    assert hc["Memory"] == 48 * 2**20 and hc["PidsLimit"] == 64 and hc["ShmSize"] == 16 * 2**20
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert hc["Binds"] == [f"{tmp_path}:/mnt:ro"] and hc["CapDrop"] == ["CHOWN"]
    api.start(cid)
    assert api.wait(cid)["StatusCode"] == 0
    assert api.logs(cid) == b"bound\n512\n"


def test_logs_follow_with_timestamps(client):
    name = _name(client)
    ctr = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 0.3; echo two >&2"],
                                name=name, detach=True)
    # Follows until the container ends, both streams, each line stamped (RFC 3339, nanos).
    lines = list(ctr.logs(stream=True, follow=True, timestamps=True))
    text = b"".join(lines).splitlines()
    assert [STAMP.sub(b"", line) for line in text] == [b"one", b"two"], text
    assert all(STAMP.match(line) for line in text)
    assert ctr.logs(stdout=False, stderr=True, timestamps=False) == b"two\n"


def _registered_wait(daemon, cid: str, condition: str):
    """A wait whose response head has come back: the daemon has registered it (it sends the
    head first, as dockerd does, so clients can start the container after it)."""
    conn = _UnixConnection(daemon.sock)
    conn.request("POST", f"/containers/{cid}/wait?condition={condition}")
    resp = conn.getresponse()
    assert resp.status == 200
    return conn, resp


def test_wait_with_conditions(client, daemon, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    name = _name(client)
    ctr = client.containers.create("busybox", ["sh", "-c", "while [ ! -e /g/go ]; do usleep "
                                               "10000; done; exit 5"], name=name,
                                   volumes={str(gate): {"bind": "/g"}})
    # not-running on a container that never ran answers at once (with its exit code, 0).
    assert ctr.wait(condition="not-running")["StatusCode"] == 0
    conn, next_exit = _registered_wait(daemon, ctr.id, "next-exit")
    try:
        ctr.start()
        result: dict = {}
        # docker-py's own wait, registered whenever it arrives: not-running is answered
        # either way once the container ends.
        waiter = threading.Thread(
            target=lambda: result.update(ctr.wait(condition="not-running", timeout=60)))
        waiter.start()
        (gate / "go").touch()
        waiter.join(60)
        assert result.get("StatusCode") == 5
        assert json.loads(next_exit.read())["StatusCode"] == 5
    finally:
        conn.close()
    conn, removed = _registered_wait(daemon, ctr.id, "removed")
    try:
        ctr.remove()
        assert json.loads(removed.read())["StatusCode"] == 5
    finally:
        conn.close()
    other = client.containers.create("busybox", "true", name=_name(client))
    with pytest.raises(docker.errors.APIError) as e:
        other.wait(condition="sometime")
    assert e.value.status_code == 400
