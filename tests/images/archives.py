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


def _config(layers: list[bytes], note: str) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    return json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": [note]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2020-01-01T00:00:00Z"} for _ in layers],
    }).encode()


def multi_archive(images: list[tuple[list[bytes], str | None]],
                  extra: list[tuple[tarfile.TarInfo, bytes]] | None = None,
                  manifest: list | None = None) -> bytes:
    """A Docker 20.10-style archive of several images: ``<n>/layer.tar``, ``<config>.json``,
    then manifest.json (last, as every writer puts it)."""
    buf = io.BytesIO()
    entries = []
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        n = 0
        for k, (layers, tag) in enumerate(images):
            paths = []
            for layer in layers:
                path = f"{n:064x}/layer.tar"
                n += 1
                _add(tf, path, layer)
                paths.append(path)
            config = _config(layers, f"IMAGE={k}")
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            _add(tf, config_name, config)
            entries.append({"Config": config_name, "RepoTags": [tag] if tag else None,
                            "Layers": paths})
        for ti, data in extra or []:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
        _add(tf, "manifest.json", json.dumps(entries if manifest is None else manifest).encode())
    return buf.getvalue()


def docker_archive(layers: list[bytes], tag: str | None = "hostile/img:latest",
                   extra: list[tuple[tarfile.TarInfo, bytes]] | None = None,
                   manifest: list | None = None) -> bytes:
    return multi_archive([(layers, tag)], extra, manifest)
