"""docker-py (the Python Docker SDK) drives dockyard unmodified."""

import uuid

import docker
import pytest


@pytest.fixture
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


def test_run_returns_output(client):
    assert client.containers.run("busybox", "echo hi from docker-py", remove=True) == \
        b"hi from docker-py\n"


def test_run_streams_output(client):
    lines = list(client.containers.run("busybox", ["sh", "-c", "echo 1; echo 2"],
                                       stream=True, remove=True))
    assert b"".join(lines) == b"1\n2\n"


def test_nonzero_exit_raises_container_error(client):
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3
    assert b"oops" in e.value.stderr


def test_missing_image_and_command(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nosuchimage:1")
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.run("busybox", "nosuchcmd", remove=True)
    assert e.value.status_code == 400
    assert "executable file not found" in str(e.value)


def test_detached_container_lifecycle(client):
    name = "dpy-" + uuid.uuid4().hex[:8]
    ct = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; sleep 1000"],
                               detach=True, name=name, labels={"suite": "dockyard"})
    ct.reload()
    assert ct.status == "running"
    assert ct.labels["suite"] == "dockyard"
    assert name in [c.name for c in client.containers.list(filters={"label": "suite=dockyard"})]
    for _ in range(100):
        if ct.logs() == b"a\nb\n":
            break
    assert ct.logs(stdout=True, stderr=False) == b"a\n"
    assert ct.logs(stdout=False, stderr=True) == b"b\n"
    ct.kill()
    assert ct.wait()["StatusCode"] == 137
    ct.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_images(client):
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    assert img.attrs["RootFS"]["Layers"][0].startswith("sha256:")
    tag = "dpy-tag-" + uuid.uuid4().hex[:6]
    assert img.tag(tag, "v1")
    assert f"{tag}:v1" in client.images.get(f"{tag}:v1").tags
    client.images.remove(f"{tag}:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{tag}:v1")
