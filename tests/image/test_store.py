import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import subprocess
import tarfile

import pytest
import zstandard

from dockyard import digest
from dockyard.errors import Conflict, DigestMismatch, InvalidArgument, NotFound, UnsafeArchive
from rootfs import busybox_rootfs_tar

ROOTFS = busybox_rootfs_tar()
DIFF_ID = digest.of_bytes(ROOTFS)


def _import(images, tag="busybox:latest", data=ROOTFS, **kw):
    return images.import_rootfs(io.BytesIO(data), tag, **kw)


def _run_in(images, img, key, tmp_path, *cmd):
    images.snapshots.prepare(key, img.top_chain_id)
    target = str(tmp_path / f"mnt-{key}")
    images.test_mounts.append(target)
    images.snapshots.mount(key, target)
    return subprocess.run(["chroot", target, *cmd], capture_output=True, text=True,
                          check=True).stdout


def test_import_and_lookup(images, tmp_path):
    img = _import(images)
    assert img.id.startswith("sha256:") and img.id == digest.of_bytes(images.config_bytes(img))
    assert img.diff_ids == [DIFF_ID] and img.chain_ids == [DIFF_ID]
    assert img.top_chain_id == DIFF_ID
    assert img.repo_tags == ["busybox:latest"] and img.repo_digests == []
    assert img.config["os"] == "linux" and img.config["architecture"] in ("amd64", "arm64")
    assert img.config["rootfs"] == {"type": "layers", "diff_ids": [DIFF_ID]}
    assert img.config["history"][0]["comment"] == "Imported from -"
    assert img.created == img.config["created"]
    assert img.size >= os.path.getsize("/bin/busybox")
    hexid = img.id[7:]
    for name in ["busybox", "busybox:latest", "docker.io/library/busybox:latest",
                 "index.docker.io/library/busybox", img.id, hexid, hexid[:12], hexid[:3],
                 "sha256:" + hexid[:5]]:
        assert images.get(name).id == img.id, name
    for name in ["busybox:other", "nope", "sha256:" + "0" * 64, "0" * 64, "UPPER"]:
        with pytest.raises(NotFound, match="No such image"):
            images.get(name)
    assert [i.id for i in images.list()] == [img.id]
    assert _run_in(images, img, "c1", tmp_path, "/bin/cat", "/etc/hostname") == "one\n"


def test_layer_blob_is_gzip_reproducible_and_verifiable(images):
    img = _import(images)
    manifest = json.loads(images.manifest(img))
    assert manifest["config"]["digest"] == img.id
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = images.content.read(layer["digest"])
    assert len(blob) == layer["size"] and blob[:2] == b"\x1f\x8b"
    assert blob[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert gzip.decompress(blob) == ROOTFS
    again = _import(images, "again:1")
    assert again.layers[0]["digest"] == layer["digest"]  # same tree, same blob
    assert images.snapshots.layers() == [DIFF_ID]  # unpacked once


@pytest.mark.parametrize("codec", ["gzip", "zstd", "bzip2", "xz"])
def test_import_compressed(images, codec):
    comp = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress,
            "bzip2": bz2.compress, "xz": lzma.compress}[codec]
    img = _import(images, data=comp(ROOTFS))
    assert img.diff_ids == [DIFF_ID]


def test_import_changes(images):
    img = _import(images, changes=[
        'CMD ["/bin/sh", "-c", "echo hi"]', "ENTRYPOINT /bin/echo", "ENV A=1 B=\"two words\"",
        "EXPOSE 80 53/udp", "LABEL org.test=yes", "USER nobody", "VOLUME /data",
        "WORKDIR /srv", "STOPSIGNAL SIGINT"], message="my import", platform="linux/arm64/v8")
    c = img.config["config"]
    assert c["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "/bin/echo"]
    assert c["Env"] == ["A=1", "B=two words"]
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Labels"] == {"org.test": "yes"}
    assert (c["User"], c["WorkingDir"], c["StopSignal"]) == ("nobody", "/srv", "SIGINT")
    assert c["Volumes"] == {"/data": {}}
    assert img.config["history"][0]["comment"] == "my import"
    assert (img.config["architecture"], img.config["variant"]) == ("arm64", "v8")


@pytest.mark.parametrize("bad", [["RUN echo no"], ["FROB x"], ["EXPOSE notaport"],
                                 ["ENV"], ['VOLUME [""]']])
def test_bad_changes_store_nothing(images, bad):
    with pytest.raises(InvalidArgument):
        _import(images, changes=bad)
    assert images.list() == [] and images.content.list() == []


def test_hostile_import_stores_nothing(images, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("bin")
        ti.type, ti.linkname = tarfile.SYMTYPE, str(tmp_path)
        tf.addfile(ti)
        ti = tarfile.TarInfo("bin/owned")
        ti.size = 4
        tf.addfile(ti, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeArchive, match="bin/owned"):
        _import(images, data=gzip.compress(buf.getvalue()))
    assert not (tmp_path / "owned").exists()
    assert images.list() == [] and images.content.list() == []
    assert images.snapshots.layers() == []
    assert os.listdir(os.path.join(images.content.root, "ingest")) == []
    assert os.listdir(os.path.join(images.snapshots.root, "tmp")) == []
    with pytest.raises(InvalidArgument):
        _import(images, data=b"not a tar at all" * 100)


def test_tag_untag(images):
    img = _import(images)
    images.tag(img.id[7:19], "me/app", "v1")
    images.tag("busybox", "registry.local:5000/x/y:z")
    assert images.get("me/app:v1").repo_tags == [
        "busybox:latest", "me/app:v1", "registry.local:5000/x/y:z"]
    for repo, tag in [("Me/App", None), ("app@sha256:" + "a" * 64, None), ("a" * 64, None),
                      ("app", "bad tag"), ("app:v1", "v2")]:
        with pytest.raises(InvalidArgument):
            images.tag("busybox", repo, tag)
    with pytest.raises(NotFound):
        images.tag("missing", "x", None)
    # moving a tag leaves the old image dangling
    other = _import(images, "other:1", changes=["CMD true"])
    images.tag(other.id, "busybox", "latest")
    assert images.get("busybox").id == other.id
    assert "busybox:latest" not in images.get(img.id).repo_tags
    assert images.untag("me/app:v1") is True
    assert images.untag("me/app:v1") is False
    assert images.get(img.id).repo_tags == ["registry.local:5000/x/y:z"]


def test_delete_untags_then_deletes(images):
    img = _import(images)
    images.tag("busybox", "copy", "1")
    assert images.delete("busybox") == [{"Untagged": "busybox:latest"}]
    assert images.get(img.id).repo_tags == ["copy:1"]
    blobs = [img.id, img.manifest_digest, img.layers[0]["digest"]]
    assert all(images.content.has(b) for b in blobs)
    assert images.delete("copy:1") == [
        {"Untagged": "copy:1"}, {"Deleted": img.id}, {"Deleted": DIFF_ID}]
    assert images.list() == []
    assert not any(images.content.has(b) for b in blobs)
    assert images.snapshots.layers() == []
    with pytest.raises(NotFound, match="No such image: copy:1"):
        images.delete("copy:1")


def test_delete_by_id(images):
    img = _import(images)
    images.tag("busybox", "copy", "1")
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        images.delete(img.id[7:19])
    out = images.delete(img.id[7:19], force=True)
    assert out[:2] == [{"Untagged": "busybox:latest"}, {"Untagged": "copy:1"}]
    assert {"Deleted": img.id} in out
    single = _import(images, "solo:1")
    assert images.delete(single.id) == [
        {"Untagged": "solo:1"}, {"Deleted": single.id}, {"Deleted": DIFF_ID}]


def test_delete_in_use(images):
    img = _import(images)
    images.snapshots.prepare("ctr1", img.top_chain_id)
    stopped = lambda image_id: ("ctr1" + "0" * 60, False)  # noqa: E731
    running = lambda image_id: ("ctr1" + "0" * 60, True)  # noqa: E731
    with pytest.raises(Conflict, match="must force"):
        images.delete("busybox", in_use=stopped)
    with pytest.raises(Conflict, match="stopped container ctr100000000"):
        images.delete(img.id, in_use=stopped)
    with pytest.raises(Conflict, match="cannot be forced"):
        images.delete(img.id, force=True, in_use=running)
    # forcing a name away from a running container's image only untags it
    assert images.delete("busybox", force=True, in_use=running) == [
        {"Untagged": "busybox:latest"}]
    out = images.delete(img.id, force=True, in_use=stopped)
    assert out == [{"Deleted": img.id}]  # the layer stays: the container stands on it
    assert images.snapshots.has_layer(DIFF_ID)
    assert images.prune_layers() == []
    images.snapshots.remove("ctr1")
    assert images.prune_layers() == [DIFF_ID]


def test_shared_layers_survive_until_last_image(images):
    a = _import(images, "a:1")
    b = _import(images, "b:1", changes=["CMD true"])
    assert a.id != b.id and a.layers == b.layers
    images.delete("a:1")
    assert images.snapshots.has_layer(DIFF_ID)
    assert images.content.has(b.layers[0]["digest"])
    assert images.get("b:1").id == b.id
    assert {"Deleted": DIFF_ID} in images.delete("b:1")
    assert images.content.list() == []


def _pull_like(images, layer_blob, diff_id):
    layer_digest = images.content.write_bytes(layer_blob)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": digest.of_bytes(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": layer_digest, "size": len(layer_blob)}]}).encode()
    return config, manifest


def test_put_image_from_blobs(images, tmp_path):
    config, manifest = _pull_like(images, gzip.compress(ROOTFS), DIFF_ID)
    mdigest = digest.of_bytes(manifest)
    img = images.put_image(config, manifest, repo_tags=["registry.local:5000/bb:1"],
                           repo_digests=[f"registry.local:5000/bb@{mdigest}"])
    assert img.manifest_digest == mdigest
    assert img.repo_digests == [f"registry.local:5000/bb@{mdigest}"]
    assert images.get(f"registry.local:5000/bb@{mdigest}").id == img.id
    assert _run_in(images, img, "p1", tmp_path, "/bin/echo", "pulled") == "pulled\n"


def test_put_image_rejects_wrong_diff_id(images):
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    config, manifest = _pull_like(images, gzip.compress(ROOTFS), wrong)
    with pytest.raises(DigestMismatch):
        images.put_image(config, manifest)
    assert images.snapshots.layers() == [] and images.list() == []


def test_plain_bool_in_use_and_reconcile(images):
    img = _import(images)
    with pytest.raises(Conflict, match="must be forced"):
        images.delete(img.id, in_use=lambda _id: True)
    # a crash left junk behind and lost the unpacked layer: start-up repairs it
    junk = os.path.join(images.snapshots.root, "tmp", "layer-crashed")
    os.makedirs(junk)
    images.snapshots.remove_layer(DIFF_ID)
    orphan = digest.of_bytes(b"orphan")
    images.snapshots.apply_layer(orphan, None, io.BytesIO(busybox_rootfs_tar({"x": b"1"})))
    images.reconcile()
    assert not os.path.exists(junk)
    assert images.snapshots.layers() == [DIFF_ID]
    assert images.delete("busybox")[-1] == {"Deleted": DIFF_ID}


def test_commit_container_changes(images, tmp_path):
    base = _import(images)
    _run_in(images, base, "c1", tmp_path, "/bin/sh", "-c",
            "echo made > /etc/made && rm /etc/os-release && rm -r /data")
    images.snapshots.unmount(str(tmp_path / "mnt-c1"))
    upper = images.snapshots.upper_dir("c1")
    new = images.commit(upper, base, {"Cmd": ["/bin/sh"]}, "committed:1",
                        changes=["ENV X=1"], comment="snap", author="me")
    again = images.layer_from_dir(upper, base.top_chain_id)
    assert again.digest == new.layers[-1]["digest"]  # same tree, same blob
    assert new.diff_ids[0] == DIFF_ID and len(new.diff_ids) == 2
    assert new.parent == base.id
    assert new.config["config"] == {"Cmd": ["/bin/sh"], "Env": ["X=1"]}
    assert new.config["history"][-1] == {"created": new.created, "created_by": "",
                                         "author": "me", "comment": "snap"}
    out = _run_in(images, new, "c2", tmp_path, "/bin/sh", "-c",
                  "cat /etc/made; ls /etc; test -e /data && echo data || echo nodata")
    assert out.splitlines() == ["made", "hostname", "made", "passwd", "nodata"]
    with pytest.raises(Conflict, match="dependent child images"):
        images.delete(base.id, force=True)


def test_history(images):
    img = _import(images)
    (row,) = images.history("busybox")
    assert row["Id"] == img.id and row["Tags"] == ["busybox:latest"]
    assert row["Comment"] == "Imported from -" and row["Size"] == img.size
    assert row["Created"] > 1_700_000_000  # unix seconds, parsed from the RFC 3339 config
