"""Pulls that survive broken connections, refuse tampered data, share downloads, choose a
platform from an index, refuse schema 1, skip present layers and use mirrors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading

import pytest
from distkit import docker_archive, inspect, load_image, load_random, make_client, random_layers


def _push_random(dy, ref: str, sizes: list[int]) -> tuple[str, list[dict]]:
    image_id = load_random(dy, ref, sizes)
    dy.ok("push", ref)
    dy.ok("rmi", ref)
    return image_id, []


def _layer_blobs(reg, repo: str, tag: str) -> list[dict]:
    status, _h, body = reg.req("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": (
        "application/vnd.oci.image.manifest.v1+json,"
        "application/vnd.docker.distribution.manifest.v2+json")})
    assert status == 200
    return json.loads(body)["layers"]


def _ingest_name(digest: str) -> str:
    return "ref-" + hashlib.sha256(("pull-" + digest).encode()).hexdigest()


def test_broken_connection_is_resumed_with_range(dy, docker_registry, make_proxy):
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/resume/once:v1"
    image_id, _ = _push_random(dy, ref, [4_000_000])
    (blob,) = _layer_blobs(docker_registry, "resume/once", "v1")
    proxy.served.clear()
    proxy.gets.clear()
    proxy.mode = "cut_once"
    dy.ok("pull", ref)
    assert inspect(dy, ref)["Id"] == image_id
    gets = [g for g in proxy.gets if g[0].endswith(blob["digest"])]
    assert len(gets) == 2 and gets[0][1] is None and gets[1][1].startswith("bytes=")
    assert proxy.blob_bytes(blob["digest"]) < blob["size"] * 1.05
    dy.ok("rmi", ref)


def test_interrupted_pull_restarts_where_it_stopped(daemon, dy, docker_registry, make_proxy):
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/resume/later:v1"
    image_id, _ = _push_random(dy, ref, [4_000_000])
    (blob,) = _layer_blobs(docker_registry, "resume/later", "v1")
    proxy.mode = "cut_then_broken"  # 60% once, then nothing: the pull gives up
    r = dy("pull", ref)
    assert r.returncode == 1
    assert dy("image", "inspect", ref).returncode != 0
    partial = os.path.join(daemon.root, "content", "ingest", _ingest_name(blob["digest"]))
    assert os.path.getsize(partial) >= blob["size"] * 0.5

    proxy.mode = "pass"
    proxy.served.clear()
    dy.ok("pull", ref)
    again = proxy.blob_bytes(blob["digest"])
    assert 0 < again < blob["size"] / 2
    assert inspect(dy, ref)["Id"] == image_id
    assert not os.path.exists(partial)
    dy.ok("rmi", ref)


def test_tampered_blob_is_rejected_and_nothing_is_stored(daemon, dy, docker_registry,
                                                         make_proxy):
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/tamper/app:v1"
    _push_random(dy, ref, [1_000_000])
    (blob,) = _layer_blobs(docker_registry, "tamper/app", "v1")
    proxy.mode = "tamper"
    r = dy("pull", ref)
    assert r.returncode == 1
    assert "verification failed" in r.stderr.decode() + r.stdout.decode()
    assert dy("image", "inspect", ref).returncode != 0
    hexd = blob["digest"].split(":")[1]
    assert not os.path.exists(os.path.join(daemon.root, "content", "blobs", "sha256", hexd))
    ingest = os.path.join(daemon.root, "content", "ingest")
    assert _ingest_name(blob["digest"]) not in os.listdir(ingest)
    tmp = os.path.join(daemon.root, "snapshots", "tmp")
    assert not [n for n in os.listdir(tmp) if n.startswith("layer-")]
    proxy.mode = "pass"
    dy.ok("pull", ref)  # the honest bytes still come through
    dy.ok("rmi", ref)


def test_concurrent_pulls_download_each_layer_once(dy, docker_registry, make_proxy):
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/conc/app:v1"
    image_id, _ = _push_random(dy, ref, [1_500_000, 1_500_000, 1_500_000, 1_500_000])
    blobs = _layer_blobs(docker_registry, "conc/app", "v1")
    proxy.served.clear()
    results: list[subprocess.CompletedProcess] = []
    threads = [threading.Thread(target=lambda: results.append(dy("pull", ref)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    for b in blobs:
        assert proxy.blob_bytes(b["digest"]) == b["size"], b
    assert inspect(dy, ref)["Id"] == image_id
    dy.ok("rmi", ref)


def test_present_layers_are_skipped(dy, docker_registry, make_proxy):
    proxy = make_proxy(docker_registry.port)
    layers = random_layers([300_000, 200_000])
    load_image(dy, docker_archive(f"{proxy.host}/skip/base:v1", layers[:1]))
    load_image(dy, docker_archive(f"{proxy.host}/skip/app:v1", layers))
    dy.ok("push", f"{proxy.host}/skip/app:v1")
    dy.ok("rmi", f"{proxy.host}/skip/app:v1")
    proxy.served.clear()
    out = dy.ok("pull", f"{proxy.host}/skip/app:v1")
    assert out.count("Already exists") == 1 and out.count("Pull complete") == 1
    base, top = _layer_blobs(docker_registry, "skip/app", "v1")
    assert proxy.blob_bytes(base["digest"]) == 0 and proxy.blob_bytes(top["digest"]) > 0
    dy.ok("rmi", f"{proxy.host}/skip/app:v1", f"{proxy.host}/skip/base:v1")


def _index(reg, repo: str, entries: list[tuple[str, str]]) -> str:
    manifests = []
    for tag, arch in entries:
        status, h, body = reg.req("GET", f"/v2/{repo}/manifests/{tag}", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert status == 200
        manifests.append({"mediaType": h["Content-Type"], "size": len(body),
                          "digest": h["Docker-Content-Digest"],
                          "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": manifests}).encode()
    status, h, body = reg.req("PUT", f"/v2/{repo}/manifests/multi", index,
                              {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert status == 201, body
    return h["Docker-Content-Digest"]


def test_manifest_list_platform_selection(dy, docker_registry):
    reg = docker_registry.host
    repo = "plat/app"
    amd_id = load_random(dy, f"{reg}/{repo}:amd", [1000])
    arm_id = load_random(dy, f"{reg}/{repo}:arm", [1000], arch="arm64")
    dy.ok("push", "-a", f"{reg}/{repo}")
    dy.ok("rmi", f"{reg}/{repo}:amd", f"{reg}/{repo}:arm")
    index_digest = _index(docker_registry, repo, [("amd", "amd64"), ("arm", "arm64")])

    out = dy.ok("pull", f"{reg}/{repo}:multi")
    assert f"Digest: {index_digest}" in out
    img = inspect(dy, f"{reg}/{repo}:multi")
    assert img["Id"] == amd_id and img["Architecture"] == "amd64"
    assert img["RepoDigests"] == [f"{reg}/{repo}@{index_digest}"]
    dy.ok("rmi", f"{reg}/{repo}:multi")

    dy.ok("pull", "--platform", "linux/arm64", f"{reg}/{repo}:multi")
    assert inspect(dy, f"{reg}/{repo}:multi")["Id"] == arm_id
    dy.ok("rmi", f"{reg}/{repo}:multi")

    r = dy("pull", "--platform", "linux/s390x", f"{reg}/{repo}:multi")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("Error response from daemon: no matching manifest "
                                         "for linux/s390x in the manifest list entries")
    r = dy("pull", "--platform", "linux/arm64", f"{reg}/{repo}:amd")
    assert r.returncode == 1 and "does not match the specified platform" in r.stderr.decode()


def test_schema1_is_refused_clearly(dy, docker_registry, make_proxy):
    proxy = make_proxy(docker_registry.port)
    body = json.dumps({"schemaVersion": 1, "name": "old/app", "tag": "v1",
                       "architecture": "amd64", "fsLayers": [], "history": []}).encode()
    proxy.canned["/v2/old/app/manifests/v1"] = (
        "application/vnd.docker.distribution.manifest.v1+prettyjws", body)
    r = dy("pull", f"{proxy.host}/old/app:v1")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "Docker Image manifest version 2, schema 1 support has been removed" in err
    assert f"{proxy.host}/old/app:v1" in err


def test_mirror_is_used_for_any_registry(option_daemon, workdir, docker_registry, servers,
                                         make_proxy):
    from distkit import DockerRegistry

    origin = servers(DockerRegistry).start()
    mirror = make_proxy(docker_registry.port)
    d = option_daemon("--registry-mirror", f"{origin.host}=http://{mirror.host}")
    dy = make_client("dockyard", d, workdir)
    # the image exists on the mirror's registry only: the pull must have gone there
    ref_m = f"{docker_registry.host}/mirrored/app:v1"
    image_id = load_random(dy, ref_m, [10_000])
    dy.ok("push", ref_m)
    dy.ok("rmi", ref_m)
    mirror.requests.clear()
    dy.ok("pull", f"{origin.host}/mirrored/app:v1")
    assert inspect(dy, f"{origin.host}/mirrored/app:v1")["Id"] == image_id
    assert ("GET", "/v2/mirrored/app/manifests/v1") in mirror.requests
    # what the mirror lacks comes from the registry itself
    ref_o = f"{origin.host}/only/origin:v1"
    load_random(dy, ref_o, [10_000])
    dy.ok("push", ref_o)
    dy.ok("rmi", ref_o)
    dy.ok("pull", ref_o)


def test_pull_resumes_after_the_daemon_was_killed(option_daemon, workdir, docker_registry,
                                                  make_proxy):
    import signal
    import time

    d = option_daemon()
    dy = make_client("dockyard", d, workdir)
    proxy = make_proxy(docker_registry.port)
    ref = f"{proxy.host}/resume/crash:v1"
    image_id, _ = _push_random(dy, ref, [4_000_000])
    (blob,) = _layer_blobs(docker_registry, "resume/crash", "v1")
    partial = os.path.join(d.root, "content", "ingest", _ingest_name(blob["digest"]))
    proxy.cut_fraction = 0.8
    proxy.mode = "stall"  # 80% of the layer, then the connection hangs
    pull = subprocess.Popen(dy.argv + ["pull", ref], env=dy.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(partial) and os.path.getsize(partial) >= blob["size"] * 0.7:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the pull never got halfway")
        d.stop(signal.SIGKILL)
        assert pull.wait(30) != 0
    finally:
        proxy.release.set()
        if pull.poll() is None:
            pull.kill()
            pull.wait()
    d.start()
    proxy.served.clear()
    dy.ok("pull", ref)
    assert 0 < proxy.blob_bytes(blob["digest"]) < blob["size"] / 2
    assert inspect(dy, ref)["Id"] == image_id


def test_zstd_and_uncompressed_layers(dy, docker_registry):
    import zstandard
    from distkit import _tar, sha, upload_blob

    reg = docker_registry
    tars = [_tar({"a.txt": b"zstd layer\n"}), _tar({"b.txt": b"plain layer\n"})]
    blobs = [(zstandard.ZstdCompressor().compress(tars[0]),
              "application/vnd.oci.image.layer.v1.tar+zstd"),
             (tars[1], "application/vnd.oci.image.layer.v1.tar")]
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in tars]}}).encode()
    for data, _mt in blobs:
        upload_blob(reg, "formats/app", data)
    upload_blob(reg, "formats/app", cfg)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha(cfg), "size": len(cfg)},
                "layers": [{"mediaType": mt, "digest": sha(d), "size": len(d)} for d, mt in blobs]}
    status, _h, body = reg.req("PUT", "/v2/formats/app/manifests/v1",
                               json.dumps(manifest).encode(),
                               {"Content-Type": manifest["mediaType"]})
    assert status == 201, body
    ref = f"{reg.host}/formats/app:v1"
    dy.ok("pull", ref)
    assert inspect(dy, ref)["RootFS"]["Layers"] == [sha(t) for t in tars]
    dy.ok("rmi", ref)


def test_distribution_inspect_with_docker_py(daemon, dy, docker_registry):
    import docker

    reg = docker_registry.host
    load_random(dy, f"{reg}/dpy/app:v1", [1000], arch="arm64")
    dy.ok("push", f"{reg}/dpy/app:v1")
    client = docker.DockerClient(base_url=daemon.host)
    try:
        data = client.images.get_registry_data(f"{reg}/dpy/app:v1")
        assert data.id == inspect(dy, f"{reg}/dpy/app:v1")["RepoDigests"][0].split("@")[1]
        assert data.has_platform("linux/arm64") and not data.has_platform("linux/amd64")
        with pytest.raises(docker.errors.NotFound):
            client.images.get_registry_data(f"{reg}/dpy/none:v1")
    finally:
        client.close()
    dy.ok("rmi", f"{reg}/dpy/app:v1")


def test_max_concurrent_downloads(option_daemon, workdir, docker_registry):
    d = option_daemon("--max-concurrent-downloads", "1")
    dy = make_client("dockyard", d, workdir)
    ref = f"{docker_registry.host}/limit/app:v1"
    _push_random(dy, ref, [10_000, 10_000, 10_000])
    out = dy.ok("pull", ref)
    assert out.count("Pulling fs layer") == 3 and out.count(": Waiting") == 2, out
    r = subprocess.run([*dy.argv[:1], "daemon", "--root", os.path.join(workdir, "r"),
                        "-H", f"unix://{workdir}/x.sock", "--max-concurrent-downloads", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "at least 1" in r.stderr
