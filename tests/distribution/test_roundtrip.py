"""Push, rmi, pull back, run: through the dockyard CLI and the real docker CLIs, against
Debian's docker-registry and dockyard's own registry; digests stay equal."""

from __future__ import annotations

import json

import pytest
from distkit import DOCKERS, docker_archive, inspect, load_image, load_random, make_client
from distkit import unique as _unique


def _commit_image(dy, name: str) -> str:
    """A runnable two-layer image: busybox + a committed file."""
    ctr = _unique("c")
    dy.ok("run", "--name", ctr, "busybox", "sh", "-c", f"echo {name} > /payload")
    try:
        dy.ok("commit", ctr, name)
    finally:
        dy("rm", "-f", ctr)
    return inspect(dy, name)["Id"]


@pytest.mark.parametrize("kind", ["docker-registry", "dockyard-registry"])
def test_push_rmi_pull_run(dy, kind, docker_registry, servers):
    if kind == "dockyard-registry":
        from distkit import DockyardRegistry

        reg = servers(DockyardRegistry).start()
    else:
        reg = docker_registry
    ref = f"{reg.host}/team/app:v1"
    image_id = _commit_image(dy, ref)
    out = dy.ok("push", ref)
    assert f"The push refers to repository [{reg.host}/team/app]" in out
    assert "Pushed" in out
    pushed = [line for line in out.splitlines() if line.startswith("v1: digest: sha256:")]
    assert len(pushed) == 1, out
    digest = pushed[0].split()[2]
    assert inspect(dy, ref)["RepoDigests"] == [f"{reg.host}/team/app@{digest}"]
    # the registry has exactly that manifest under the tag
    status, headers, body = reg.req("GET", "/v2/team/app/manifests/v1", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200 and headers["Docker-Content-Digest"] == digest

    dy.ok("rmi", ref)
    assert dy("image", "inspect", ref).returncode != 0
    out = dy.ok("pull", ref)
    assert "v1: Pulling from team/app" in out
    assert f"Digest: {digest}" in out
    assert f"Status: Downloaded newer image for {ref}" in out
    img = inspect(dy, ref)
    assert img["Id"] == image_id
    assert img["RepoDigests"] == [f"{reg.host}/team/app@{digest}"]
    assert dy.ok("run", "--rm", ref, "cat", "/payload").strip() == ref
    # the same again is a no-op, and a pull by digest finds the same image
    assert f"Status: Image is up to date for {ref}" in dy.ok("pull", ref)
    dy.ok("pull", f"{reg.host}/team/app@{digest}")
    assert inspect(dy, f"{reg.host}/team/app@{digest}")["Id"] == image_id
    dy.ok("rmi", ref)


@pytest.mark.parametrize("docker", DOCKERS)
def test_docker_cli_push_pull(daemon, dy, docker, docker_registry, workdir):
    cli = make_client(docker, daemon, workdir)
    ref = f"{docker_registry.host}/dockercli/app:{_unique('t')}"
    image_id = _commit_image(dy, ref)
    out = cli.ok("push", ref)
    assert "Pushed" in out and ": digest: sha256:" in out
    cli.ok("rmi", ref)
    out = cli.ok("pull", ref)
    assert "Pull complete" in out and "Status: Downloaded newer image" in out
    assert inspect(dy, ref)["Id"] == image_id
    assert dy.ok("run", "--rm", ref, "cat", "/payload").strip() == ref
    r = cli("pull", f"{docker_registry.host}/dockercli/missing:v1")
    assert r.returncode == 1
    assert (f"Error response from daemon: manifest for {docker_registry.host}/dockercli/"
            "missing:v1 not found: manifest unknown") in r.stderr.decode()
    cli.ok("rmi", ref)


def test_push_skips_existing_blobs_and_mounts_across_repositories(dy, docker_registry):
    reg = docker_registry.host
    load_random(dy, f"{reg}/one/app:v1", [50_000, 60_000])
    out = dy.ok("push", f"{reg}/one/app:v1")
    assert out.count("Pushed") == 2
    again = dy.ok("push", f"{reg}/one/app:v1")
    assert again.count("Layer already exists") == 2 and "Pushed" not in again
    dy.ok("tag", f"{reg}/one/app:v1", f"{reg}/two/app:v1")
    mounted = dy.ok("push", f"{reg}/two/app:v1")
    assert mounted.count("Mounted from one/app") == 2, mounted
    for r in ("one", "two"):
        dy.ok("rmi", f"{reg}/{r}/app:v1")


def test_push_all_tags_and_quiet(dy, docker_registry):
    reg = docker_registry.host
    load_random(dy, f"{reg}/multi/app:a", [1000])
    dy.ok("tag", f"{reg}/multi/app:a", f"{reg}/multi/app:b")
    out = dy.ok("push", "-a", f"{reg}/multi/app")
    assert "a: digest:" in out and "b: digest:" in out
    status, _h, body = docker_registry.req("GET", "/v2/multi/app/tags/list")
    assert sorted(json.loads(body)["tags"]) == ["a", "b"]
    assert dy.ok("push", "-q", f"{reg}/multi/app:a").strip() == f"{reg}/multi/app:a"
    dy.ok("rmi", f"{reg}/multi/app:a", f"{reg}/multi/app:b")
    out = dy.ok("pull", "-a", f"{reg}/multi/app")
    assert "a: Pulling from multi/app" in out and "b: Pulling from multi/app" in out
    assert dy.ok("pull", "-q", f"{reg}/multi/app:a").strip() == f"{reg}/multi/app:a"
    dy.ok("rmi", f"{reg}/multi/app:a", f"{reg}/multi/app:b")


def test_chunked_upload(option_daemon, workdir, docker_registry, make_proxy):
    d = option_daemon("--upload-chunk-size", str(1 << 20))
    dy = make_client("dockyard", d, workdir)
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/chunks/app:v1"
    load_random(dy, ref, [3_500_000])
    dy.ok("push", ref)
    patches = [p for m, p in proxy.requests if m == "PATCH"]
    assert len(patches) == 4, proxy.requests
    dy.ok("rmi", ref)
    dy.ok("pull", ref)


def test_pull_and_push_errors(dy, docker_registry):
    reg = docker_registry.host
    r = dy("pull", f"{reg}/nothing/here:v1")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == (
        f"Error response from daemon: manifest for {reg}/nothing/here:v1 not found: "
        "manifest unknown: manifest unknown")
    r = dy("push", f"{reg}/not/local:v1")
    assert r.returncode == 1
    assert "No such image" in r.stderr.decode() or "does not exist" in r.stderr.decode()
    r = dy("pull", "127.0.0.1:1/nothing:v1")
    assert r.returncode == 1 and "connection refused" in r.stderr.decode()
    assert dy("pull", "Bad/Name").returncode != 0


def test_push_reuses_another_blob_of_the_same_layer(dy, docker_registry):
    """An image pulled with a layer that was already present ("Already exists") has no blob
    of its own for it: push sends the blob the store has for that diffID."""
    import gzip
    import hashlib

    from distkit import _tar

    reg = docker_registry
    payload = b"x" * 300_000
    layer = _tar({"same.bin": payload})
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    load_image(dy, docker_archive(f"{reg.host}/blobs/local:v1", [{"same.bin": payload}]))
    assert inspect(dy, f"{reg.host}/blobs/local:v1")["RootFS"]["Layers"] == [diff_id]

    # the same layer, compressed another way, in a different image on the registry
    blob = gzip.compress(layer, 9, mtime=0)
    bd = "sha256:" + hashlib.sha256(blob).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2023-05-05T00:00:00Z",
                      "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cd = "sha256:" + hashlib.sha256(cfg).hexdigest()
    from distkit import upload_blob

    upload_blob(reg, "blobs/remote", blob)
    upload_blob(reg, "blobs/remote", cfg)
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": cd, "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "digest": bd, "size": len(blob)}]}
    status, _h, _b = reg.req("PUT", "/v2/blobs/remote/manifests/v1", json.dumps(manifest).encode(),
                             {"Content-Type": manifest["mediaType"]})
    assert status == 201
    out = dy.ok("pull", f"{reg.host}/blobs/remote:v1")
    assert "Already exists" in out

    dy.ok("tag", f"{reg.host}/blobs/remote:v1", f"{reg.host}/blobs/copy:v1")
    dy.ok("push", f"{reg.host}/blobs/copy:v1")
    status, _h, body = reg.req("GET", "/v2/blobs/copy/manifests/v1", headers={"Accept": (
        "application/vnd.docker.distribution.manifest.v2+json")})
    assert status == 200
    assert json.loads(body)["layers"][0]["digest"] != bd  # the blob this store has
    dy.ok("rmi", f"{reg.host}/blobs/copy:v1", f"{reg.host}/blobs/remote:v1",
          f"{reg.host}/blobs/local:v1")
    dy.ok("pull", f"{reg.host}/blobs/copy:v1")
    assert inspect(dy, f"{reg.host}/blobs/copy:v1")["RootFS"]["Layers"] == [diff_id]
    dy.ok("rmi", f"{reg.host}/blobs/copy:v1")
