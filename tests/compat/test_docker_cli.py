"""The real docker CLI — Debian's 20.10 and a current one — drives dockyard unmodified."""

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

CLIENTS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.split()[2].rstrip(",")


@pytest.fixture(params=CLIENTS, ids=lambda p: f"docker-{_version(p)}")
def docker(request, daemon):
    path = request.param
    cfg = tempfile.mkdtemp(prefix="dockercfg-")

    def run(*args, input=None):
        env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false")
        env.pop("DOCKER_HOST", None)
        return subprocess.run([path, "-H", daemon.host, *args], capture_output=True,
                              input=input, timeout=60, env=env)

    run.version = _version(path)
    yield run
    shutil.rmtree(cfg, ignore_errors=True)


def test_both_clients_are_present():
    versions = [_version(p) for p in CLIENTS]
    assert any(v.startswith("20.10") for v in versions), versions
    assert any(int(v.split(".")[0]) >= 27 for v in versions), versions


def test_run_rm_echo(docker):
    r = docker("run", "--rm", "busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"


def test_exit_codes(docker):
    assert docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = docker("run", "--rm", "busybox", "nosuchcmd")
    assert r.returncode == 127, r.stderr


def test_detached_ps_logs_inspect_stop_rm(docker):
    name = "dk-" + uuid.uuid4().hex[:8]
    r = docker("run", "-d", "--name", name, "busybox", "sh", "-c", "echo hi; sleep 1000")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    ps = docker("ps", "-a", "--no-trunc").stdout.decode()
    assert cid in ps and name in ps
    assert "CONTAINER ID" in ps.splitlines()[0]
    for _ in range(100):
        logs = docker("logs", name).stdout
        if logs:
            break
    assert logs == b"hi\n"
    status = docker("inspect", "-f", "{{.State.Status}} {{.Name}}", name).stdout.decode().strip()
    assert status == f"running /{name}"
    assert docker("stop", "-t", "1", name).returncode == 0
    assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == b"exited"
    assert docker("rm", "-f", name).returncode == 0
    assert name not in docker("ps", "-a").stdout.decode()


def test_rm_force_running(docker):
    name = "dkf-" + uuid.uuid4().hex[:8]
    assert docker("run", "-d", "--name", name, "busybox", "sleep", "1000").returncode == 0
    r = docker("rm", "-f", name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == name


def test_images_tag_rmi(docker):
    tag = f"dktag-{uuid.uuid4().hex[:6]}:v2"
    images = docker("images").stdout.decode()
    assert images.splitlines()[0].split()[:2] == ["REPOSITORY", "TAG"]
    assert "busybox" in images
    assert docker("tag", "busybox", tag).returncode == 0
    assert tag.split(":")[0] in docker("images").stdout.decode()
    r = docker("rmi", tag)
    assert r.returncode == 0, r.stderr
    assert f"Untagged: {tag}" in r.stdout.decode()
