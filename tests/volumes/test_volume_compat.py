"""The real docker CLI (Debian's 20.10 and a current one) and docker-py drive dockyard's
volumes unmodified."""

import json
import os
import shutil
import subprocess
import tempfile
import uuid

import docker as dockersdk
import pytest

CLIENTS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.split()[2].rstrip(",")


@pytest.fixture(params=CLIENTS, ids=lambda p: f"docker-{_version(p)}")
def docker(request, daemon):
    cfg = tempfile.mkdtemp(prefix="dockercfg-")

    def run(*args, input=None):
        env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false")
        env.pop("DOCKER_HOST", None)
        return subprocess.run([request.param, "-H", daemon.host, *args], capture_output=True,
                              input=input, timeout=60, env=env)

    run.major = int(_version(request.param).split(".")[0])
    yield run
    shutil.rmtree(cfg, ignore_errors=True)


def _ok(r):
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_volume_lifecycle_and_data_outliving_containers(docker):
    v, c = f"dv-{uuid.uuid4().hex[:8]}", f"dc-{uuid.uuid4().hex[:8]}"
    try:
        assert _ok(docker("volume", "create", "--label", "k=v", v)).strip() == v
        info = json.loads(_ok(docker("volume", "inspect", v)))[0]
        assert info["Name"] == v and info["Driver"] == "local" and info["Labels"] == {"k": "v"}
        assert v in _ok(docker("volume", "ls", "-q", "--filter", "label=k=v")).split()
        assert _ok(docker("volume", "ls", "--format", "{{.Name}}", "-f", f"name={v}")) == f"{v}\n"
        _ok(docker("run", "--name", c, "-v", f"{v}:/data", "busybox", "sh", "-c",
                   "echo persisted > /data/f"))
        r = docker("volume", "rm", v)
        assert r.returncode != 0 and b"volume is in use" in r.stderr
        mounts = json.loads(_ok(docker("inspect", "-f", "{{json .Mounts}}", c)))
        assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == v
        assert mounts[0]["Destination"] == "/data" and mounts[0]["RW"] is True
        _ok(docker("rm", c))
        out = _ok(docker("run", "--rm", "--mount", f"type=volume,source={v},target=/d,readonly",
                         "busybox", "cat", "/d/f"))
        assert out == "persisted\n"
        assert _ok(docker("volume", "rm", v)).strip() == v
    finally:
        docker("rm", "-f", c)
        docker("volume", "rm", "-f", v)


def test_volumes_from_tmpfs_and_anonymous(docker):
    data = f"dd-{uuid.uuid4().hex[:8]}"
    try:
        _ok(docker("create", "--name", data, "-v", "/shared", "busybox", "true"))
        _ok(docker("run", "--rm", "--volumes-from", data, "busybox", "sh", "-c",
                   "echo hi > /shared/f"))
        r = docker("run", "--rm", "--volumes-from", f"{data}:ro", "busybox", "sh", "-c",
                   "cat /shared/f && touch /shared/g")
        assert r.stdout == b"hi\n" and r.returncode != 0 and b"Read-only" in r.stderr
        out = _ok(docker("run", "--rm", "--tmpfs", "/run/t:size=1m", "busybox", "sh", "-c",
                         "grep ' /run/t ' /proc/mounts"))
        assert out.startswith("tmpfs /run/t tmpfs")
        anon = json.loads(_ok(docker("inspect", "-f", "{{json .Mounts}}", data)))[0]["Name"]
        _ok(docker("rm", "-v", data))
        assert anon not in _ok(docker("volume", "ls", "-q")).split()
    finally:
        docker("rm", "-f", "-v", data)


def test_prune_as_docker_does(docker):
    named = f"dp-{uuid.uuid4().hex[:8]}"
    _ok(docker("volume", "create", named))
    try:
        out = _ok(docker("volume", "prune", "-f"))
        if docker.major >= 23:  # API >= 1.42: anonymous volumes only, unless --all
            assert named not in out
            assert named in _ok(docker("volume", "prune", "-f", "--all"))
        else:  # the 20.10 CLI speaks API 1.41, where prune takes every unused volume
            assert named in out
    finally:
        docker("volume", "rm", "-f", named)


def test_docker_py_volumes(daemon):
    client = dockersdk.DockerClient(base_url=daemon.host, version="auto")
    name = f"py-{uuid.uuid4().hex[:8]}"
    try:
        vol = client.volumes.create(name, labels={"app": "x"})
        assert vol.name == name and vol.attrs["Labels"] == {"app": "x"}
        assert name in [v.name for v in client.volumes.list(filters={"label": "app=x"})]
        out = client.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"],
                                    volumes={name: {"bind": "/v", "mode": "rw"}}, remove=True)
        assert out == b"py\n"
        assert client.volumes.get(name).attrs["Mountpoint"].endswith("/_data")
        client.volumes.get(name).remove()
        with pytest.raises(dockersdk.errors.NotFound):
            client.volumes.get(name)
    finally:
        try:
            client.volumes.get(name).remove(force=True)
        except dockersdk.errors.NotFound:
            pass
        client.close()


def test_unnamed_volume_is_anonymous_and_pruned(daemon):
    """Docker 23+: a volume created without a name is anonymous, so a plain prune takes it
    (and keeps named ones)."""
    client = dockersdk.APIClient(base_url=daemon.host, version="1.43")
    named = f"keep-{uuid.uuid4().hex[:8]}"
    anon = client.create_volume()["Name"]
    client.create_volume(named)
    try:
        assert client.inspect_volume(anon)["Labels"] == {"com.docker.volume.anonymous": ""}
        deleted = client.prune_volumes()["VolumesDeleted"] or []
        assert anon in deleted and named not in deleted
    finally:
        for n in (anon, named):
            try:
                client.remove_volume(n, force=True)
            except dockersdk.errors.NotFound:
                pass
        client.close()
