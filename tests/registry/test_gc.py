"""Garbage collection, offline through the CLI and online while pushes continue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from dockyard.registry.gc import collect
from dockyard.registry.service import Registry

from .conftest import sha


def gc_cli(root: str, *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "dockyard.registry", "gc", "--root", root,
                        "--grace", "0", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _blob_files(root: str) -> set[str]:
    out = set()
    for d, _, files in os.walk(os.path.join(root, "data", "blobs")):
        if "data" in files:
            out.add("sha256:" + os.path.basename(d))
    return out


def test_gc_removes_untagged_manifests_and_unreferenced_blobs(registry):
    keep_dg, _ = registry.push_image("app", "keep", [b"shared", b"keep-only"])
    drop_dg, _ = registry.push_image("app", "drop", [b"shared", b"drop-only"])
    stray = registry.push_blob("app", b"never referenced")
    assert registry.req("DELETE", "/v2/app/manifests/drop").status == 202
    out = gc_cli(registry.root, "--dry-run")
    assert "would remove: 1 manifests" in out
    assert sha(b"drop-only") in _blob_files(registry.root)
    out = gc_cli(registry.root)
    assert "removed: 1 manifests" in out
    files = _blob_files(registry.root)
    assert sha(b"drop-only") not in files and stray not in files and drop_dg not in files
    assert {sha(b"shared"), sha(b"keep-only"), keep_dg} <= files
    assert registry.req("GET", f"/v2/app/manifests/{drop_dg}").status == 404
    assert registry.req("HEAD", f"/v2/app/blobs/{stray}").status == 404
    r = registry.req("GET", "/v2/app/manifests/keep")
    assert r.status == 200
    for layer in json.loads(r.body)["layers"]:
        assert registry.req("GET", f"/v2/app/blobs/{layer['digest']}").status == 200


def test_gc_keeps_index_children_and_referrers(registry):
    child, cbody = registry.push_image("app", None, [b"child layer"])
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": child, "size": len(cbody)}]}
    assert registry.push_manifest("app", "multi", idx,
                                  "application/vnd.oci.image.index.v1+json").status == 201
    sig, _ = registry.push_image("app", None, [b"signature"], config_type="application/x-sig",
                                 subject={"mediaType": "application/vnd.oci.image.index.v1+json",
                                          "digest": sha(json.dumps(idx).encode()),
                                          "size": len(json.dumps(idx))})
    gc_cli(registry.root)
    assert registry.req("GET", f"/v2/app/manifests/{child}").status == 200
    assert registry.req("GET", f"/v2/app/manifests/{sig}").status == 200
    assert registry.req("GET", f"/v2/app/blobs/{sha(b'child layer')}").status == 200
    # untag the index: index, child and referrer all go
    assert registry.req("DELETE", "/v2/app/manifests/multi").status == 202
    gc_cli(registry.root)
    for dg in (child, sig):
        assert registry.req("GET", f"/v2/app/manifests/{dg}").status == 404
    assert _blob_files(registry.root) == set()


def test_online_gc_while_pushing_loses_nothing(registry):
    """Pushes race GC rounds; every manifest that was accepted must stay fully pullable."""
    stop = threading.Event()
    pushed: list[tuple[str, list[bytes]]] = []
    errors: list[str] = []

    def pusher(n: int) -> None:
        i = 0
        while not stop.is_set() and i < 40:
            layers = [b"shared-base", f"p{n}-{i}".encode() * 100]
            try:
                registry.push_image("race", f"t{n}-{i}", layers)
                if i % 3 == 0:  # leave garbage behind for the collector
                    registry.req("DELETE", f"/v2/race/manifests/t{n}-{i}")
                else:
                    pushed.append((f"t{n}-{i}", layers))
            except AssertionError as e:
                errors.append(str(e))
            i += 1

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    reg = Registry(registry.root)
    try:
        while any(t.is_alive() for t in threads):
            collect(reg, grace=0)
    finally:
        stop.set()
        for t in threads:
            t.join()
        collect(reg, grace=0)
        reg.close()
    # with zero grace a push may be refused (blob collected before its manifest arrived),
    # but an accepted manifest must never lose a blob
    assert pushed
    for tag, _layers in pushed:
        r = registry.req("GET", f"/v2/race/manifests/{tag}")
        assert r.status == 200, tag
        m = json.loads(r.body)
        for d in [m["config"], *m["layers"]]:
            g = registry.req("GET", f"/v2/race/blobs/{d['digest']}")
            assert g.status == 200 and sha(g.body) == d["digest"], (tag, d)


def test_gc_removes_blob_files_the_index_never_recorded(registry):
    """A crash between moving a blob into place and committing its row leaves a file only."""
    dg = registry.push_blob("app", b"indexed")
    orphan = sha(b"orphan")
    d = os.path.join(registry.root, "data", "blobs", "sha256", orphan[7:9], orphan[7:])
    os.makedirs(d)
    with open(os.path.join(d, "data"), "wb") as f:
        f.write(b"orphan")
    assert orphan in _blob_files(registry.root)
    gc_cli(registry.root, "--keep-untagged")
    files = _blob_files(registry.root)
    assert orphan not in files
    assert dg not in files  # unreferenced by any manifest, so collected too
