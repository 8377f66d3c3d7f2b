"""Build context: what the CLI packs (docker's rules) and how the daemon unpacks hostile tars."""

import gzip
import io
import os
import tarfile

import pytest

from dockyard.build.context import (
    drop_ignored_build_files,
    extract_context,
    pack_context,
    read_dockerfile,
)
from dockyard.errors import InvalidArgument, NotFound, UnsafeArchive


def write(path, data="x", mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def members(stream) -> dict[str, tarfile.TarInfo]:
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


def tree(root) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    write(f"{c}/Dockerfile", "FROM scratch\nCOPY . /\n")
    write(f"{c}/app.py", "print(1)\n", 0o755)
    write(f"{c}/notes.md", "n")
    write(f"{c}/README.md", "r")
    write(f"{c}/node_modules/x/index.js", "js")
    write(f"{c}/src/main.go", "go")
    write(f"{c}/src/gen/out.go", "go")
    write(f"{c}/secret/key", "k")
    write(f"{c}/secret/public.pem", "p")
    os.symlink("/etc/passwd", f"{c}/abs-link")
    os.symlink("../outside", f"{c}/rel-link")
    os.link(f"{c}/app.py", f"{c}/app-hardlink.py")
    return str(c)


def test_pack_applies_dockerignore_and_keeps_build_files(ctx):
    write(f"{ctx}/.dockerignore", "*.md\n!README.md\nnode_modules\nsecret\n!secret/public.pem\n"
                                  "**/gen\nDockerfile\n.dockerignore\n")
    stream = pack_context(ctx)
    assert stream.dockerfile == "Dockerfile"
    got = members(stream)
    assert sorted(got) == [".dockerignore", "Dockerfile", "README.md", "abs-link",
                           "app-hardlink.py", "app.py", "rel-link", "secret/public.pem",
                           "src", "src/main.go"]
    assert all(m.uid == 0 and m.gid == 0 for m in got.values())
    assert got["app.py"].mode == 0o755
    assert got["abs-link"].issym() and got["abs-link"].linkname == "/etc/passwd"
    assert got["app-hardlink.py"].islnk() or got["app.py"].islnk()


def test_pack_without_dockerignore_sends_everything(ctx):
    got = members(pack_context(ctx))
    assert "node_modules/x/index.js" in got and "secret/key" in got


def test_pack_dockerfile_outside_context(ctx, tmp_path):
    other = tmp_path / "elsewhere" / "build.Dockerfile"
    write(str(other), "FROM scratch\n")
    write(f"{other}.dockerignore", "src\n")  # a Dockerfile's own ignore file wins
    write(f"{ctx}/.dockerignore", "secret\n")
    stream = pack_context(ctx, str(other))
    name = stream.dockerfile
    assert name.startswith(".dockerfile.")
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = [m.name.rstrip("/") for m in tf.getmembers()]
        assert tf.extractfile(name).read() == b"FROM scratch\n"
        ignore = tf.extractfile(".dockerignore").read().decode()
    assert "src" not in names and "secret/key" in names
    assert ignore.splitlines()[-1] == name  # so the daemon drops it from the context
    assert f"{name}.dockerignore" in names
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(io.BytesIO(data), str(dest), dockerfile=name)
    assert read_dockerfile(str(dest), name) == "FROM scratch\n"
    assert not (dest / "src").exists()
    drop_ignored_build_files(str(dest), name)
    assert not (dest / name).exists()


def test_pack_dockerfile_from_stdin(ctx):
    stream = pack_context(ctx, dockerfile_content=b"FROM scratch\nRUN true\n")
    got = members(stream)
    assert stream.dockerfile in got and "app.py" in got


def test_pack_custom_dockerfile_inside_context(ctx):
    write(f"{ctx}/docker/Dockerfile.dev", "FROM scratch\n")
    write(f"{ctx}/docker/Dockerfile.dev.dockerignore", "docker\nsrc\n")
    stream = pack_context(ctx, f"{ctx}/docker/Dockerfile.dev")
    assert stream.dockerfile == "docker/Dockerfile.dev"
    got = members(stream)
    assert "docker/Dockerfile.dev" in got and "docker/Dockerfile.dev.dockerignore" in got
    assert "src/main.go" not in got


def test_pack_errors(tmp_path):
    with pytest.raises(NotFound, match="unable to prepare context: path"):
        pack_context(str(tmp_path / "missing"))
    with pytest.raises(NotFound, match="unable to evaluate symlinks in Dockerfile path"):
        pack_context(str(tmp_path))


def test_stream_read_in_pieces(ctx):
    whole = b"".join(pack_context(ctx))
    s = pack_context(ctx)
    parts = []
    while chunk := s.read(1000):
        parts.append(chunk)
    assert len(b"".join(parts)) == len(whole)


def test_roundtrip_and_daemon_side_ignore(ctx, tmp_path):
    """A client that ignores nothing (a raw API client): the daemon applies .dockerignore."""
    write(f"{ctx}/.dockerignore", "*.md\nnode_modules\nDockerfile\n")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tf:
        tf.add(ctx, arcname=".")
    data.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(data, str(dest))
    files = tree(dest)
    assert "notes.md" not in files and "node_modules" not in files
    assert "Dockerfile" in files and ".dockerignore" in files  # still to be read
    assert read_dockerfile(str(dest)) == "FROM scratch\nCOPY . /\n"
    assert os.readlink(dest / "rel-link") == "../outside"  # kept, never followed
    assert os.stat(dest / "app.py").st_ino == os.stat(dest / "app-hardlink.py").st_ino
    drop_ignored_build_files(str(dest))
    assert not (dest / "Dockerfile").exists() and (dest / ".dockerignore").exists()


def test_read_dockerfile_errors_and_fallback(tmp_path):
    with pytest.raises(NotFound, match="Cannot locate specified Dockerfile: Dockerfile"):
        read_dockerfile(str(tmp_path))
    write(f"{tmp_path}/dockerfile", "FROM scratch\n")
    assert read_dockerfile(str(tmp_path)) == "FROM scratch\n"
    write(f"{tmp_path}/empty", "")
    with pytest.raises(InvalidArgument, match=r"the Dockerfile \(empty\) cannot be empty"):
        read_dockerfile(str(tmp_path), "empty")


def test_read_dockerfile_symlink_stays_in_context(tmp_path):
    outside = tmp_path / "outside"
    write(f"{outside}/etc/passwd", "HOST FILE")
    root = tmp_path / "ctx"
    write(f"{root}/etc/passwd", "FROM scratch\n")
    os.symlink("/etc/passwd", root / "Dockerfile")
    os.symlink("../../etc/passwd", root / "Other")
    os.symlink("../outside/etc/passwd", root / "Escape")
    assert read_dockerfile(str(root)) == "FROM scratch\n"  # resolved inside the context
    assert read_dockerfile(str(root), "Other") == "FROM scratch\n"  # .. stops at the root
    with pytest.raises(NotFound):
        read_dockerfile(str(root), "Escape")


def hostile(*entries) -> io.BytesIO:
    """A tar built entry by entry: (name, kind, payload)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
                continue
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            tf.addfile(ti)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("entries", [
    [("../escape", "file", b"x")],
    [("a/../../escape", "file", b"x")],
    [("/abs/escape", "file", b"x")],
    [("link", "sym", "/OUT"), ("link/escape", "file", b"x")],
    [("link", "sym", "../.."), ("link/escape", "file", b"x")],
    [("dir", "dir", None), ("dir/l", "sym", "/"), ("dir/l/escape", "file", b"x")],
    [("hl", "hard", "../OUT/victim")],
    [("hl", "hard", "/OUT/victim")],
    [("l", "sym", "/OUT"), ("hl", "hard", "l/victim")],
    [("null", "chr", None)],
])
def test_hostile_tars_are_refused(tmp_path, entries):
    out = tmp_path / "OUT"
    out.mkdir()
    write(f"{out}/victim", "precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    fixed = [(n, k, str(out) if p == "/OUT" else
              (p.replace("/OUT", str(out)) if isinstance(p, str) and k == "hard" else p))
             for n, k, p in entries]
    with pytest.raises(UnsafeArchive):
        extract_context(hostile(*fixed), str(dest))
    assert sorted(os.listdir(out)) == ["victim"]
    assert (out / "victim").read_text() == "precious"
    assert not (tmp_path / "escape").exists()


def test_compressed_contexts(tmp_path):
    plain = hostile(("Dockerfile", "file", b"FROM scratch\n"), ("d", "dir", None),
                    ("d/f", "file", b"data"))
    for i, wrap in enumerate([lambda b: b, gzip.compress]):
        dest = tmp_path / f"d{i}"
        dest.mkdir()
        extract_context(io.BytesIO(wrap(plain.getvalue())), str(dest))
        assert (dest / "d" / "f").read_bytes() == b"data"


def test_garbage_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidArgument):
        extract_context(io.BytesIO(b"\x1f\x8b" + b"not really gzip" * 10), str(tmp_path))


@pytest.mark.parametrize("name, kind, size, link", [
    ("a", tarfile.REGTYPE, 5, ""), ("dir/", tarfile.DIRTYPE, 0, ""),
    ("dir2", tarfile.DIRTYPE, 0, ""), ("l", tarfile.SYMTYPE, 0, "../x/y"),
    ("h", tarfile.LNKTYPE, 0, "a"), ("fifo", tarfile.FIFOTYPE, 0, ""),
    ("x" * 100, tarfile.REGTYPE, 123456789, ""), ("b", tarfile.BLKTYPE, 0, ""),
    ("x" * 101, tarfile.REGTYPE, 1, ""), ("é", tarfile.REGTYPE, 1, ""),
    ("big", tarfile.REGTYPE, 9 * 2**30, ""),
])
def test_fast_headers_are_tarfiles(name, kind, size, link):
    """The hand-built ustar header is byte for byte tarfile's (or tarfile builds it)."""
    from dockyard.build.context import _header

    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname, ti.mode, ti.mtime = kind, size, link, 0o4755, 1_700_000_000
    ti.devmajor, ti.devminor = (8, 1) if kind == tarfile.BLKTYPE else (0, 0)
    ti.uname = ti.gname = ""
    assert _header(ti) == ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@pytest.mark.parametrize("ignore, sent", [
    # checked with the docker CLI (DOCKER_BUILDKIT=0): an ignored directory is entered only
    # for an exception that names a path inside it
    ("node_modules\n!**/*.go\n", ["keep/a"]),
    ("node_modules\n!node_modules/sub/y.go\n", ["keep/a", "node_modules/sub/y.go"]),
    ("*\n!*/a\n", []),
])
def test_ignored_directories_and_exceptions(tmp_path, ignore, sent):
    for f in ["node_modules/x.go", "node_modules/sub/y.go", "node_modules/z.js", "keep/a"]:
        write(f"{tmp_path}/{f}", "")
    write(f"{tmp_path}/Dockerfile", "FROM scratch\n")
    write(f"{tmp_path}/.dockerignore", ignore)
    got = {n for n, m in members(pack_context(str(tmp_path))).items() if not m.isdir()}
    assert got - {"Dockerfile", ".dockerignore"} == set(sent)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tf:
        tf.add(str(tmp_path), arcname=".")
    data.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(data, str(dest))  # the daemon's pass gives the same files
    files = {f for f in tree(dest) if os.path.isfile(dest / f)}
    assert files - {"Dockerfile", ".dockerignore"} == set(sent)


def test_cli_side_imports_only_the_standard_library():
    """The CLI imports the packing half: it must not pull in the daemon's dependencies."""
    import subprocess
    import sys

    code = ("import sys, dockyard.build.context, dockyard.build.dockerignore\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('aiohttp', 'isal', 'zstandard', 'pyroute2', 'ctypes')\n"
            "         or m in ('dockyard.archive', 'dockyard.build.copy')]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
