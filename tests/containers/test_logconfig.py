"""HostConfig.LogConfig as Docker keeps it: what the client sent, the `none` driver, and
Docker's error for a driver that does not exist."""

from __future__ import annotations

import docker
import pytest


@pytest.fixture
def api(daemon):
    c = docker.APIClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


def _create(api, log_config):
    hc = api.create_host_config(log_config=log_config)
    return api.create_container("busybox", ["echo", "hello"], host_config=hc)["Id"]


def test_config_is_what_the_client_sent(api):
    ids = []
    try:
        for lc, want in [({"Type": "json-file", "Config": {"max-file": "100"}},
                          {"Type": "json-file", "Config": {"max-file": "100"}}),
                         ({"Type": "", "Config": {"max-file": "5"}},
                          {"Type": "json-file", "Config": {"max-file": "5"}}),
                         ({"Type": "json-file"}, {"Type": "json-file", "Config": {}})]:
            ids.append(_create(api, lc))
            assert api.inspect_container(ids[-1])["HostConfig"]["LogConfig"] == want
    finally:
        for cid in ids:
            api.remove_container(cid, force=True)


def test_unknown_driver_refused_at_create(api):
    with pytest.raises(docker.errors.APIError) as e:
        _create(api, {"Type": "asdf", "Config": {}})
    assert e.value.status_code == 400
    assert e.value.explanation == "logger: no log driver named 'asdf' is registered"


def test_none_driver_runs_but_has_no_logs(daemon, api):
    cid = _create(api, {"Type": "none"})
    try:
        info = api.inspect_container(cid)
        assert info["HostConfig"]["LogConfig"]["Type"] == "none" and info["LogPath"] == ""
        api.start(cid)
        assert api.wait(cid)["StatusCode"] == 0
        with pytest.raises(docker.errors.APIError) as e:
            api.logs(cid)
        assert e.value.status_code == 501
        assert e.value.explanation == "configured logging driver does not support reading"
        r = daemon.cli("logs", cid)
        assert r.returncode == 1
        assert r.stderr.decode().strip() == ("Error response from daemon: configured logging "
                                             "driver does not support reading")
    finally:
        api.remove_container(cid, force=True)
