"""Helpers to build tar streams (benign and hostile) for tests."""

import io
import tarfile


def entry(name, type=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    ti.mode = kw.pop("mode", 0o755 if type == tarfile.DIRTYPE else 0o644)
    ti.mtime = kw.pop("mtime", 1_600_000_000)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def make_tar(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()
