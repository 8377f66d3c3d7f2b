"""Builds small real OCI image layouts on disk (tar+gzip layers, config, manifest, index),
the source images the client tests push with skopeo/podman."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(gzipped tar, diff id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tf.addfile(ti, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), _sha(tar)


class Layout:
    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                      "manifests": []}

    def blob(self, data: bytes) -> dict[str, Any]:
        dg = _sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", dg[7:]), "wb") as f:
            f.write(data)
        return {"digest": dg, "size": len(data)}

    def image(self, layers: list[dict[str, bytes]], arch: str = "amd64") -> dict[str, Any]:
        """Write an image; returns its manifest descriptor (not yet in index.json)."""
        descs, diff_ids = [], []
        for files in layers:
            gz, diff = make_layer(files)
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          **self.blob(gz)})
            diff_ids.append(diff)
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               **self.blob(config)},
                    "layers": descs}
        mdesc = {"mediaType": OCI_MANIFEST, **self.blob(json.dumps(manifest).encode()),
                 "platform": {"architecture": arch, "os": "linux"}}
        return mdesc

    def tag(self, desc: dict[str, Any], tag: str) -> None:
        d = dict(desc)
        d.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = tag
        self.index["manifests"].append(d)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(self.index, f)

    def multi_platform(self, archs: list[str]) -> dict[str, Any]:
        children = [self.image([{f"etc/{a}": a.encode() * 100}, {"bin/x": b"x" * 1000}], a)
                    for a in archs]
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
        return {"mediaType": OCI_INDEX, **self.blob(json.dumps(idx).encode())}
