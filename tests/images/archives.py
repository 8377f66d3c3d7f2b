"""Build image archives (docker-archive layout) around given layer tars, for load tests."""

import hashlib
import io
import json
import tarfile


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))


def docker_archive(layers: list[bytes], tag: str | None = "hostile/img:latest",
                   extra: list[tuple[tarfile.TarInfo, bytes]] | None = None,
                   manifest: list | None = None) -> bytes:
    """A Docker 20.10-style archive: ``<n>/layer.tar``, ``<config>.json``, manifest.json."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2020-01-01T00:00:00Z"} for _ in layers],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        paths = []
        for i, layer in enumerate(layers):
            path = f"{i:064x}/layer.tar"
            _add(tf, path, layer)
            paths.append(path)
        _add(tf, config_name, config)
        for ti, data in extra or []:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
        if manifest is None:
            manifest = [{"Config": config_name, "RepoTags": [tag] if tag else None,
                         "Layers": paths}]
        _add(tf, "manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()
