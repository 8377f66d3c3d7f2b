"""Bad API input gets a 4xx with a JSON message, and the daemon keeps serving."""

import json

import pytest

from apiclient import json_request, request


def _alive(sock):
    status, _h, body = request(sock, "GET", "/_ping")
    assert status == 200 and body == b"OK"


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b'"str"', b"\xff\xfe"])
def test_malformed_create_bodies(daemon, raw):
    status, data = json_request(daemon.sock, "POST", "/v1.41/containers/create", raw=raw)
    assert 400 <= status < 500
    assert isinstance(data, dict) and data["message"]
    _alive(daemon.sock)


@pytest.mark.parametrize("body", [
    {"Image": "busybox", "Cmd": 5},
    {"Image": "busybox", "Env": "A=B"},
    {"Image": "busybox", "Env": [1, 2]},
    {"Image": "busybox", "Tty": "yes"},
    {"Image": "busybox", "HostConfig": {"Memory": "lots"}},
    {"Image": "busybox", "HostConfig": []},
    {"Image": 42},
    {"Cmd": ["true"]},
])
def test_wrong_field_types(daemon, body):
    status, data = json_request(daemon.sock, "POST", "/v1.41/containers/create", body=body)
    assert status == 400, data
    assert data["message"]
    _alive(daemon.sock)


@pytest.mark.parametrize("name", ["bad name", "-x", "a" * 300 + "/", "../etc"])
def test_bad_container_names(daemon, name):
    from urllib.parse import quote

    status, data = json_request(daemon.sock, "POST",
                                f"/containers/create?name={quote(name)}",
                                body={"Image": "busybox", "Cmd": ["true"]})
    assert status == 400, data
    assert "Invalid container name" in data["message"]


@pytest.mark.parametrize("path", [
    "/containers/nosuchid/json", "/containers/../../etc/json", "/images/nosuch:img/json",
    "/images/sha256:totallywrong/json",
])
def test_unknown_ids_are_404(daemon, path):
    status, data = json_request(daemon.sock, "GET", path)
    assert status == 404, data
    assert data["message"]


def test_bad_query_values(daemon):
    status, data = json_request(daemon.sock, "GET", "/containers/json?filters=%7Bnope")
    assert status == 400 and data["message"]
    status, data = json_request(daemon.sock, "GET", '/containers/json?filters={"bogus":["x"]}')
    assert status == 400 and data["message"]
    status, data = json_request(daemon.sock, "GET", "/containers/json?limit=abc")
    assert status == 400


def test_versioned_paths_and_headers(daemon):
    status, headers, body = request(daemon.sock, "GET", "/v1.41/version")
    assert status == 200
    assert headers["Api-Version"] >= "1.41"
    version = json.loads(body)
    assert version["MinAPIVersion"] == "1.24"
    status, headers, _ = request(daemon.sock, "HEAD", "/_ping")
    assert status == 200 and headers["Api-Version"]
    status, data = json_request(daemon.sock, "GET", "/v1.99/version")
    assert status == 400 and "too new" in data["message"]
    status, data = json_request(daemon.sock, "GET", "/v1.12/version")
    assert status == 400 and "too old" in data["message"]
    status, data = json_request(daemon.sock, "GET", "/v1.41/no/such/route")
    assert status == 404 and data["message"]


def test_truncated_import_leaves_store_intact(daemon):
    before = json_request(daemon.sock, "GET", "/images/json")[1]
    status, data = json_request(daemon.sock, "POST", "/images/create?fromSrc=-&repo=trunc",
                                raw=b"\x1f\x8b\x08\x00garbage")
    assert 400 <= status < 500, data
    after = json_request(daemon.sock, "GET", "/images/json")[1]
    assert {i["Id"] for i in before} == {i["Id"] for i in after}
    _alive(daemon.sock)


def test_huge_json_body_is_refused(daemon):
    body = b'{"Image": "busybox", "Cmd": ["' + b"x" * (20 << 20) + b'"]}'
    status, _h, _b = request(daemon.sock, "POST", "/containers/create", raw=body,
                             headers={"Content-Type": "application/json"})
    assert status == 413
    _alive(daemon.sock)
