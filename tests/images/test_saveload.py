"""save / load round trips with skopeo, podman, Docker 20.10's format and dockyard itself."""

import gzip
import hashlib
import json
import os
import subprocess
import tarfile

from apiclient import request

HERE = os.path.dirname(__file__)


def _run(*cmd, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.decode()}"
    return r.stdout.decode()


def _committed(dy, text="payload"):
    """An image of two layers (busybox + a committed change) with two tags."""
    c = dy.container("busybox", "sh", "-c", f"echo {text} > /payload && rm /bin/ls")
    image = dy.image_name("sl")
    dy("commit", "-c", 'CMD ["cat", "/payload"]', c, image)
    return image


def _members(path):
    with tarfile.open(path) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_save_writes_docker_and_oci_layouts(dy, tmp_path):
    image = _committed(dy)
    info = dy.inspect(image)
    archive = tmp_path / "out.tar"
    dy("save", "-o", str(archive), image)
    names = _members(archive)
    for n in ("manifest.json", "index.json", "oci-layout", "repositories"):
        assert n in names
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        index = json.load(tf.extractfile("index.json"))
        blobs = {n: hashlib.sha256(tf.extractfile(n).read()).hexdigest()
                 for n in names if n.startswith("blobs/sha256/") and names[n].isfile()}
    assert all(n.endswith(h) for n, h in blobs.items())  # every blob is named by its digest
    assert manifest == [{"Config": f"blobs/sha256/{info['Id'][7:]}", "RepoTags": [image],
                         "Layers": [f"blobs/sha256/{d[7:]}" for d in info["RootFS"]["Layers"]]}]
    ann = index["manifests"][0]["annotations"]
    assert ann["io.containerd.image.name"] == f"docker.io/library/{image}"
    assert ann["org.opencontainers.image.ref.name"] == "v1"

    # skopeo reads both layouts and sees the image's layers (uncompressed: digest = diffID)
    sk = json.loads(_run("skopeo", "inspect", f"docker-archive:{archive}"))
    assert sk["Layers"] == info["RootFS"]["Layers"]
    assert json.loads(_run("skopeo", "inspect", "--config",
                           f"docker-archive:{archive}"))["rootfs"]["diff_ids"] == \
        info["RootFS"]["Layers"]
    oci = json.loads(_run("skopeo", "inspect", f"oci-archive:{archive}"))
    assert oci["Layers"] == info["RootFS"]["Layers"]
    assert oci["Digest"] == index["manifests"][0]["digest"]

    # the same image saved twice gives the same bytes
    again = tmp_path / "again.tar"
    dy("save", "-o", str(again), image)
    assert archive.read_bytes() == again.read_bytes()
    # to stdout, and by the API's single-name route
    assert dy("save", image).stdout == archive.read_bytes()
    status, _, body = request(dy.d.sock, "GET", f"/images/{image}/get")
    assert status == 200 and body == archive.read_bytes()


def test_load_round_trip_and_names(dy, tmp_path):
    image = _committed(dy, "round-trip")
    other = dy.image_name("sl2")
    dy("tag", image, other)
    old_id = dy.inspect(image)["Id"]
    archive = tmp_path / "two.tar"
    dy("save", "-o", str(archive), image, other, "busybox")
    dy("rmi", image, other)
    out = dy.out("load", "-i", str(archive))
    assert out.splitlines() == [f"Loaded image: {image}", f"Loaded image: {other}",
                                "Loaded image: busybox:latest"]
    assert dy.inspect(image)["Id"] == old_id and dy.inspect(other)["Id"] == old_id
    assert dy.out("run", "--rm", image).strip() == "round-trip"
    # from stdin, quietly; loading twice changes nothing
    before = dy.store_state()
    r = dy("load", "-q", input=archive.read_bytes())
    assert r.stdout.decode().splitlines()[0] == f"Loaded image: {image}"
    assert dy.store_state() == before
    # saved by ID: no names, loaded by ID
    by_id = tmp_path / "id.tar"
    dy("save", "-o", str(by_id), old_id[7:19])
    with tarfile.open(by_id) as tf:
        assert json.load(tf.extractfile("manifest.json"))[0]["RepoTags"] is None
    assert dy.out("load", "-i", str(by_id)).strip() == f"Loaded image ID: {old_id}"
    # gzip-compressed archives load too
    gz = tmp_path / "two.tar.gz"
    gz.write_bytes(gzip.compress(archive.read_bytes(), 1))
    assert f"Loaded image: {image}" in dy.out("load", "-i", str(gz))


def test_skopeo_copies_load_and_run(dy, tmp_path):
    image = _committed(dy, "via-skopeo")
    src = tmp_path / "src.tar"
    dy("save", "-o", str(src), image)
    for transport in ("docker-archive", "oci-archive"):
        dst = tmp_path / f"{transport}.tar"
        name = dy.image_name("sk")
        _run("skopeo", "copy", "--quiet", f"docker-archive:{src}:{image}",
             f"{transport}:{dst}:{name}")
        out = dy.out("load", "-i", str(dst))
        assert out.strip() == f"Loaded image: {name}", (transport, out)
        assert dy.out("run", "--rm", name).strip() == "via-skopeo"
        assert dy.inspect(name)["RootFS"]["Layers"] == dy.inspect(image)["RootFS"]["Layers"]


def test_docker_20_10_archive_loads_and_runs(dy):
    """An archive written by ``docker save`` of Docker 20.10 (<id>/layer.tar, <id>.json,
    gzip-compressed), of an image committed there: a file added and one deleted."""
    before = set(dy.out("images", "-q", "--no-trunc").split())
    dy.made_images += ["fixture/d2010:v1", "fixture/d2010:alias"]
    out = dy.out("load", "-i", os.path.join(HERE, "data", "docker-20.10-save.tar.gz"))
    assert sorted(out.splitlines()) == ["Loaded image: fixture/d2010:alias",
                                        "Loaded image: fixture/d2010:v1"]
    info = dy.inspect("fixture/d2010:v1")
    assert info["Id"] == "sha256:942d2758cd0307af05e3b57f76f89ce5eadb82ea429730020c6acfed6ccb7294"
    assert info["Id"] not in before
    assert dy.out("run", "--rm", "fixture/d2010:v1").strip() == "from-docker-20.10"
    assert dy("run", "--rm", "fixture/d2010:v1", "ls", "/", ok=False).returncode != 0


def test_podman_loads_dockyard_archive_and_dockyard_loads_podmans(dy, tmp_path, podman_root):
    image = _committed(dy, "via-podman")
    archive = tmp_path / "dy.tar"
    dy("save", "-o", str(archive), image)
    pm = podman_root
    out = _run(*pm, "load", "-i", str(archive))
    assert f"docker.io/library/{image}" in out
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    ran = _run(*pm, "run", "--rm", "--runtime", "runc", "--network", "none", *limits,
               image, timeout=180)
    assert ran.strip() == "via-podman"
    for fmt in ("docker-archive", "oci-archive"):
        dst = tmp_path / f"podman-{fmt}.tar"
        _run(*pm, "save", "--format", fmt, "-o", str(dst), image)
        dy("rmi", image)
        out = dy.out("load", "-i", str(dst))
        assert out.strip() in (f"Loaded image: {image}",
                               f"Loaded image: docker.io/library/{image}"), (fmt, out)
        assert dy.out("run", "--rm", image).strip() == "via-podman"


def test_load_rejects_bad_archives_and_changes_nothing(dy, tmp_path):
    from .archives import docker_archive, multi_archive

    good_layer = _layer_tar({"ok": b"fine"})
    cases = {
        "not an archive": b"this is not a tar file" * 100,
        "filesystem tar": good_layer,
        "manifest names a missing layer": docker_archive(
            [good_layer], manifest=[{"Config": "x.json", "RepoTags": None,
                                     "Layers": ["nope/layer.tar"]}]),
        "manifest path escapes": docker_archive(
            [good_layer], manifest=[{"Config": "../../etc/passwd", "RepoTags": None,
                                     "Layers": []}]),
        "bad tag": docker_archive([good_layer], tag="Upper:x"),
        "diffID mismatch": _mismatched(good_layer),
        "truncated": docker_archive([good_layer])[:3000],
        "second image hostile": multi_archive(
            [([good_layer], "fine/first:1"),
             ([_layer_tar({"../escape": b"x"})], "bad/second:1")]),
        "entry escapes the archive": docker_archive(
            [good_layer], extra=[_entry("../../outside.json", b"{}")]),
        "symlink leaves the archive": docker_archive(
            [good_layer], extra=[_entry("link.json", b"", tarfile.SYMTYPE, "/etc/passwd")],
            manifest=[{"Config": "link.json", "RepoTags": None, "Layers": []}]),
        "blob not matching its name": _oci_with_bad_blob(good_layer),
    }
    before = dy.store_state()
    for what, data in cases.items():
        path = tmp_path / "bad.tar"
        path.write_bytes(data)
        r = dy("load", "-i", str(path), ok=False)
        msg = r.stderr.decode()
        # 200 with the error in the stream (moby); docker prints it bare, exit 1.
        assert r.returncode == 1 and msg.strip(), (what, msg)
        assert not msg.startswith("Error response from daemon"), (what, msg)
        assert "Traceback" not in msg and len(msg.strip().splitlines()) == 1, (what, msg)
        assert dy.store_state() == before, what
    assert dy.out("run", "--rm", "busybox", "echo", "alive").strip() == "alive"


def _layer_tar(files: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _mismatched(layer: bytes) -> bytes:
    """The config's diffID is of another layer than the one in the archive."""
    import io

    from .archives import docker_archive

    data = docker_archive([layer])
    other = _layer_tar({"other": b"x"})
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, \
            tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("layer.tar"):
                body = other
                m.size = len(body)
            dst.addfile(m, io.BytesIO(body) if body is not None else None)
    return out.getvalue()


def _entry(name, data=b"", kind=tarfile.REGTYPE, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, linkname
    return ti, data


def _oci_with_bad_blob(layer: bytes) -> bytes:
    """An OCI layout whose layer blob is stored under another digest's name."""
    import io

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    fake = "sha256:" + "ab" * 32
    manifest = json.dumps({"schemaVersion": 2, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": fake,
                    "size": len(layer)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "bad/oci:1"}}]}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, data in [("blobs/sha256/" + fake[7:], layer),
                           ("blobs/sha256/" + hashlib.sha256(config).hexdigest(), config),
                           ("blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), manifest),
                           ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", index)]:
            ti, _ = _entry(name, data)
            tf.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def test_gzip_layers_load_and_save_uncompressed(dy, tmp_path):
    """An archive with gzip layer files (older writers) loads; saving it again writes the
    layers uncompressed, under their diffIDs (the size is found once, then remembered)."""
    from .archives import docker_archive

    base = dy("save", "busybox").stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(base)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))[0]
        layer = tf.extractfile(manifest["Layers"][0]).read()
    extra = _layer_tar({"gz-marker": b"zipped"})
    name = dy.image_name("gz")
    data = docker_archive([layer, extra], tag=name)
    # gzip each layer file of the archive in place
    import io

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("layer.tar"):
                body = gzip.compress(body, 1)
                m.size = len(body)
            dst.addfile(m, io.BytesIO(body) if body is not None else None)
    path = tmp_path / "gz.tar"
    path.write_bytes(out.getvalue())
    assert dy.out("load", "-i", str(path)).strip() == f"Loaded image: {name}"
    assert dy.out("run", "--rm", name, "cat", "/gz-marker") == "zipped"
    info = dy.inspect(name)
    for _ in range(2):
        saved = tmp_path / "resaved.tar"
        dy("save", "-o", str(saved), name)
        sk = json.loads(_run("skopeo", "inspect", f"docker-archive:{saved}"))
        assert sk["Layers"] == info["RootFS"]["Layers"]


def test_save_errors_before_writing(dy, tmp_path):
    out = tmp_path / "never.tar"
    r = dy("save", "-o", str(out), "busybox", "no-such-image:1", ok=False)
    assert r.returncode == 1 and "No such image: no-such-image:1" in r.stderr.decode()
    assert not out.exists() and os.listdir(tmp_path) == []
    status, _, body = request(dy.d.sock, "GET", "/images/get?names=nope")
    assert status == 404 and b"No such image" in body
    r = dy("load", "-i", str(tmp_path / "missing.tar"), ok=False)
    assert r.returncode == 1 and "no such file" in r.stderr.decode()
