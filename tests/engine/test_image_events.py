"""Image events as dockerd emits them (tag, untag, delete, save, load, import, commit's and
build's tags, prune), seen through ``GET /events`` and ``events --filter type=image``; and
``version --format`` with the docker CLI's Go field names."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import docker
import pytest


@pytest.fixture
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


def _image_events(client, since: float) -> list[tuple[str, str, str]]:
    until = time.time() + 0.5
    evs = client.api.events(since=since, until=until, decode=True,
                            filters={"type": "image"})
    return [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name", ""))
            for e in evs]


def _rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("hello.txt")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"hi"))
    return buf.getvalue()


def test_image_events(client, daemon):
    repo = "ev-" + uuid.uuid4().hex[:8]
    since = time.time()
    bb = client.images.get("busybox")
    made: list[str] = []
    try:
        bb.tag(repo, "t")
        made.append(f"{repo}:t")
        data = b"".join(client.images.get(f"{repo}:t").save())
        client.images.load(data)
        client.images.remove(f"{repo}:t")
        imp = client.api.import_image_from_data(_rootfs_tar(), repository=repo, tag="imp")
        imp_id = json.loads(imp.splitlines()[-1])["status"] if isinstance(imp, str) else \
            client.images.get(f"{repo}:imp").id
        made.append(f"{repo}:imp")
        c = client.containers.create("busybox", "true")
        try:
            cm = c.commit(repository=repo, tag="cm")
            made.append(f"{repo}:cm")
        finally:
            c.remove()
        built, _logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL ev=1\n"),
                                           tag=f"{repo}:b", rm=True)
        made.append(f"{repo}:b")
        client.images.remove(f"{repo}:imp")
        events = _image_events(client, since)
    finally:
        for ref in made:
            try:
                client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass
    bid = bb.id
    assert ("tag", bid, f"{repo}:t") in events
    assert ("save", bid, bid) in events
    assert ("load", bid, bid) in events
    assert ("untag", bid, bid) in events
    assert ("tag", imp_id, f"{repo}:imp") in events
    assert ("import", imp_id, imp_id) in events
    assert ("tag", cm.id, f"{repo}:cm") in events
    assert ("tag", built.id, f"{repo}:b") in events
    assert ("untag", imp_id, imp_id) in events and ("delete", imp_id, imp_id) in events
    # In the order they happened.
    mine = [e for e in events if e in {("tag", bid, f"{repo}:t"), ("save", bid, bid),
                                       ("load", bid, bid), ("untag", bid, bid)}]
    assert [a for a, _i, _n in mine] == ["tag", "save", "load", "untag"]
    # The CLI's filter sees them too, by type and by image name.
    r = daemon.cli("events", "--since", str(int(since)), "--until", str(int(time.time()) + 1),
                   "--filter", "type=image", "--filter", f"image={repo}:t",
                   "--format", "{{.Action}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["tag"]


def test_version_format_uses_go_field_names(daemon):
    api = daemon.cli("version", "--format", "{{.Server.APIVersion}} {{.Server.Version}} "
                     "{{.Server.Os}} {{.Server.Arch}} {{.Client.APIVersion}}")
    assert api.returncode == 0, api.stderr
    server_api, version, os_, arch, client_api = api.stdout.decode().split()
    info = json.loads(daemon.cli("version", "--format", "{{json .Server}}").stdout)
    assert (server_api, version, os_, arch) == (info["ApiVersion"], info["Version"], "linux",
                                               info["Arch"])
    assert "APIVersion" not in info  # {{json}} keeps the JSON names
    assert client_api != "<no value>"
    kernel = daemon.cli("version", "--format", "{{.Server.KernelVersion}}").stdout.decode()
    assert kernel.strip() == info["KernelVersion"]
