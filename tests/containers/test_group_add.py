"""HostConfig.GroupAdd (``--group-add``): names from the image's /etc/group and numbers become
the process's supplementary groups, in the container and in its execs."""

from __future__ import annotations

import docker
import pytest


@pytest.fixture
def api(daemon):
    c = docker.APIClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


def _groups(text: bytes) -> set[str]:
    return set(text.decode().split())


def test_group_add_numbers_and_names(api):
    hc = api.create_host_config(group_add=[1000, "1001", "daemon"])  # daemon: gid 1 in busybox
    ids = []
    try:
        ids.append(api.create_container("busybox", ["id", "-G"], host_config=hc)["Id"])
        assert api.inspect_container(ids[0])["HostConfig"]["GroupAdd"] == ["1000", "1001",
                                                                          "daemon"]
        api.start(ids[0])
        assert api.wait(ids[0], timeout=60)["StatusCode"] == 0
        assert {"0", "1000", "1001", "1"} <= _groups(api.logs(ids[0]))
        ids.append(api.create_container("busybox", ["sleep", "1000"], host_config=hc)["Id"])
        api.start(ids[1])
        for user in ("", "nobody"):
            eid = api.exec_create(ids[1], ["id", "-G"], user=user)["Id"]
            assert {"1000", "1001", "1"} <= _groups(api.exec_start(eid))
    finally:
        for cid in ids:
            api.remove_container(cid, force=True)


def test_unknown_group_name_fails_start(api):
    hc = api.create_host_config(group_add=["no-such-group"])
    cid = api.create_container("busybox", ["true"], host_config=hc)["Id"]
    try:
        with pytest.raises(docker.errors.APIError) as e:
            api.start(cid)
        assert "Unable to find group no-such-group" in str(e.value)
    finally:
        api.remove_container(cid, force=True)
