"""image prune [-a], system df, and the images filters, on a daemon of the test's own (prune -a
would take the session daemon's images)."""

import json
from urllib.parse import quote

import pytest

from apiclient import json_request


@pytest.fixture
def d(fresh_daemon):
    fresh_daemon.import_busybox()
    return fresh_daemon


def _ok(d, *args, input=None):
    r = d.cli(*args, input=input)
    assert r.returncode == 0, (args, r.stderr.decode())
    return r.stdout.decode()


def _ids(d, *args):
    return _ok(d, "images", "-q", "--no-trunc", *args).split()


def test_prune_df_and_filters(d):
    busybox = _ok(d, "inspect", "-f", "{{.Id}}", "busybox").strip()
    _ok(d, "run", "--name", "keep", "busybox", "sh", "-c", "echo k > /k")
    _ok(d, "run", "--name", "c2", "busybox", "sh", "-c", "echo d > /d")
    dangling = _ok(d, "commit", "-c", "LABEL kind=dangling", "c2").strip()
    _ok(d, "run", "--name", "c3", "busybox", "sh", "-c", "echo t > /t")
    tagged = _ok(d, "commit", "-c", "LABEL kind=tagged", "c3", "tagged:1").strip()
    _ok(d, "rm", "c2", "c3")

    assert _ids(d, "--filter", "dangling=true") == [dangling]
    assert set(_ids(d, "--filter", "dangling=false")) == {busybox, tagged}
    assert _ids(d, "--filter", "label=kind=tagged") == [tagged]
    assert set(_ids(d, "--filter", "label=kind")) == {dangling, tagged}
    assert busybox not in _ids(d, "--filter", "since=busybox")
    assert _ids(d, "--filter", f"before={dangling[7:19]}") == [busybox]
    head = _ok(d, "images", "--digests").splitlines()[0].split()
    assert head[:3] == ["REPOSITORY", "TAG", "DIGEST"]

    df = _ok(d, "system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "3", "1"]
    assert df[2].split()[:3] == ["Containers", "1", "0"]
    status, body = json_request(d.sock, "GET", "/system/df")
    assert status == 200 and body["LayersSize"] > 0
    by_id = {i["Id"]: i for i in body["Images"]}
    assert by_id[busybox]["Containers"] == 1 and by_id[tagged]["Containers"] == 0
    assert by_id[tagged]["SharedSize"] == by_id[busybox]["Size"]  # it shares busybox's layer
    assert [c["Names"] for c in body["Containers"]] == [["/keep"]]
    assert "IMAGE ID" in _ok(d, "system", "df", "-v")

    # without -f it asks, and "n" keeps everything
    assert "Are you sure" in _ok(d, "image", "prune", input=b"n\n")
    assert len(_ids(d, "-a")) == 3
    out = _ok(d, "image", "prune", "-f")
    assert f"deleted: {dangling}" in out and "Total reclaimed space: 2B" in out
    assert set(_ids(d, "-a")) == {busybox, tagged}
    out = _ok(d, "image", "prune", "-a", "-f")
    assert "untagged: tagged:1" in out and f"deleted: {tagged}" in out
    assert _ids(d, "-a") == [busybox]  # used by a container: kept
    status, body = json_request(d.sock, "POST", "/images/prune?filters=" + quote('{"bogus":["1"]}'))
    assert status == 400
    _ok(d, "rm", "keep")
    status, body = json_request(
        d.sock, "POST", "/images/prune?filters=" + quote(json.dumps({"dangling": ["false"]})))
    assert status == 200 and {"Deleted": busybox} in body["ImagesDeleted"]
    assert body["SpaceReclaimed"] > 1_000_000
    assert _ids(d, "-a") == []
