"""The real docker CLIs (Debian's 20.10 and a current one) and docker-py drive commit, diff,
history, save, load and export against dockyard unmodified."""

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid

import pytest

CLIENTS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


@pytest.fixture(params=CLIENTS, ids=lambda p: "docker-" + p.split("/")[2])
def docker(request, daemon):
    cfg = tempfile.mkdtemp(prefix="dockercfg-")
    made: list[tuple[str, str]] = []

    def run(*args, input=None, ok=True):
        env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false")
        env.pop("DOCKER_HOST", None)
        r = subprocess.run([request.param, "-H", daemon.host, *args], capture_output=True,
                           input=input, timeout=120, env=env)
        if ok:
            assert r.returncode == 0, (args, r.stderr.decode())
        return r

    run.made = made
    try:
        yield run
    finally:
        for kind, name in made:
            run("rm" if kind == "c" else "rmi", "-f", name, ok=False)
        shutil.rmtree(cfg, ignore_errors=True)


def test_docker_cli_commit_diff_history_save_load_export(docker, tmp_path):
    tag = uuid.uuid4().hex[:8]
    name, image = f"dk-{tag}", f"dkimg-{tag}:v1"
    docker.made += [("c", name), ("i", image)]
    docker("run", "--name", name, "busybox", "sh", "-c", "echo hi > /hello && rm /bin/ls")
    assert docker("diff", name).stdout.decode().splitlines() == ["C /bin", "D /bin/ls",
                                                                 "A /hello"]
    docker("commit", "-m", "hello step", "-c", 'CMD ["cat", "/hello"]', name, image)
    assert docker("run", "--rm", image).stdout.decode().strip() == "hi"
    hist = docker("history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}",
                  image).stdout.decode().splitlines()
    assert hist[0] == "hello step|sh -c echo hi > /hello && rm /bin/ls"
    archive = tmp_path / "img.tar"
    docker("save", "-o", str(archive), image)
    docker("rmi", image)
    assert f"Loaded image: {image}" in docker("load", "-i", str(archive)).stdout.decode()
    assert docker("run", "--rm", image).stdout.decode().strip() == "hi"
    exported = docker("export", name).stdout
    names = tarfile.open(fileobj=io.BytesIO(exported)).getnames()
    assert "hello" in names and "bin/ls" not in names


def test_docker_py_commit_save_load(daemon):
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=daemon.host, version="1.41")
    tag = uuid.uuid4().hex[:8]
    c = client.containers.run("busybox", ["sh", "-c", "echo py > /py"], name=f"py-{tag}",
                              detach=True)
    try:
        c.wait()
        assert {"Path": "/py", "Kind": 1} in c.diff()
        img = c.commit(repository=f"pyimg-{tag}", tag="v1", message="from docker-py")
        assert img.history()[0]["Comment"] == "from docker-py"
        data = b"".join(img.save(named=True))
        client.images.remove(f"pyimg-{tag}:v1")
        loaded = client.images.load(data)
        assert [i.id for i in loaded] == [img.id]
        out = client.containers.run(f"pyimg-{tag}:v1", ["cat", "/py"], remove=True)
        assert out == b"py\n"
    finally:
        c.remove(force=True)
        try:
            client.images.remove(f"pyimg-{tag}:v1", force=True)
        except dockerpy.errors.ImageNotFound:
            pass
        client.close()


def test_load_error_is_in_the_stream(daemon):
    """moby answers a bad archive with 200 and an error line; docker-py raises ImageLoadError."""
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=daemon.host, version="auto")
    try:
        resp = client.api._post(client.api._url("/images/load"), data=b"abc")
        assert resp.status_code == 200
        line = resp.json()
        assert line["error"] and line["errorDetail"] == {"message": line["error"]}
        with pytest.raises(dockerpy.errors.ImageLoadError):
            client.images.load(b"abc")
    finally:
        client.close()
