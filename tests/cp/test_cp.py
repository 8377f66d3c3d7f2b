"""cp in both directions through the archive API, from dockyard and the real docker CLIs;
paths resolve inside the container's root; hostile tars are refused."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid

import pytest


@pytest.fixture
def ctr(daemon, names):
    name = names()
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
                   "mkdir -p /data/sub && echo inside > /data/sub/f.txt && "
                   "ln -s /data/sub /data/link && sleep 1000")
    assert r.returncode == 0, r.stderr
    for _ in range(100):
        if daemon.cli("exec", name, "test", "-L", "/data/link").returncode == 0:
            break
    return name


def _exec(daemon, name, *cmd) -> str:
    r = daemon.cli("exec", name, *cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def _missing(stderr: bytes) -> bool:
    """docker 20.10 and dockyard say "No such container:path", docker 28 passes the daemon's
    "Could not find the file" on."""
    return b"No such container:path" in stderr or b"Could not find the file" in stderr


def test_copy_out_file_and_directory(cli, daemon, ctr, tmp_path):
    cli.ok("cp", f"{ctr}:/data/sub/f.txt", str(tmp_path / "copy.txt"))
    assert (tmp_path / "copy.txt").read_text() == "inside\n"
    cli.ok("cp", f"{ctr}:/data/sub", str(tmp_path))
    assert (tmp_path / "sub" / "f.txt").read_text() == "inside\n"
    cli.ok("cp", f"{ctr}:/data", str(tmp_path / "renamed"))
    assert (tmp_path / "renamed" / "sub" / "f.txt").read_text() == "inside\n"
    assert os.readlink(tmp_path / "renamed" / "link") == "/data/sub"
    os.mkdir(tmp_path / "contents")
    cli.ok("cp", f"{ctr}:/data/sub/.", str(tmp_path / "contents"))
    assert (tmp_path / "contents" / "f.txt").read_text() == "inside\n"


def test_copy_in_file_and_directory(cli, daemon, ctr, tmp_path):
    (tmp_path / "hello.txt").write_text("from host\n")
    cli.ok("cp", str(tmp_path / "hello.txt"), f"{ctr}:/data/")
    assert _exec(daemon, ctr, "cat", "/data/hello.txt") == "from host\n"
    cli.ok("cp", str(tmp_path / "hello.txt"), f"{ctr}:/data/new-name.txt")
    assert _exec(daemon, ctr, "cat", "/data/new-name.txt") == "from host\n"
    tree = tmp_path / "tree"
    (tree / "deep").mkdir(parents=True)
    (tree / "deep" / "x").write_text("x\n")
    cli.ok("cp", str(tree), f"{ctr}:/data/")
    assert _exec(daemon, ctr, "cat", "/data/tree/deep/x") == "x\n"
    r = cli("cp", str(tmp_path / "hello.txt"), f"{ctr}:/nowhere/at/all")
    assert r.returncode != 0 and _missing(r.stderr)


def test_owner_is_root_unless_archive_mode(cli, daemon, ctr, tmp_path):
    f = tmp_path / "owned.txt"
    f.write_text("mine\n")
    os.chown(f, 1234, 4321)
    cli.ok("cp", str(f), f"{ctr}:/data/plain.txt")
    assert _exec(daemon, ctr, "stat", "-c", "%u:%g", "/data/plain.txt").strip() == "0:0"
    cli.ok("cp", "-a", str(f), f"{ctr}:/data/kept.txt")
    assert _exec(daemon, ctr, "stat", "-c", "%u:%g", "/data/kept.txt").strip() == "1234:4321"


def test_tar_on_stdin_and_stdout(cli, daemon, ctr):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"tar in\n"
        ti = tarfile.TarInfo("piped.txt")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    cli.ok("cp", "-", f"{ctr}:/data", input=buf.getvalue())
    assert _exec(daemon, ctr, "cat", "/data/piped.txt") == "tar in\n"
    r = cli("cp", f"{ctr}:/data/sub", "-")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        assert tf.getnames() == ["sub", "sub/f.txt"]
        assert tf.extractfile("sub/f.txt").read() == b"inside\n"


def test_stopped_and_created_containers(cli, daemon, names, tmp_path):
    name = names()
    daemon.cli("create", "--name", name, "busybox", "cat", "/in.txt")
    (tmp_path / "in.txt").write_text("before start\n")
    cli.ok("cp", str(tmp_path / "in.txt"), f"{name}:/")
    r = daemon.cli("start", "-a", name)
    assert r.stdout == b"before start\n", r.stderr
    cli.ok("cp", f"{name}:/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "before start\n"
    # The copy left no mount behind: the container starts again as usual.
    assert daemon.cli("start", "-a", name).stdout == b"before start\n"


def test_stopped_container_copies_see_its_volumes_and_binds(cli, daemon, names, tmp_path):
    """As Docker, cp on a stopped container reads and writes its volumes and bind mounts,
    not the snapshot underneath; nothing stays mounted afterwards."""
    name, vol = names(), names()
    bind, robind = tmp_path / "bind", tmp_path / "robind"
    bind.mkdir()
    robind.mkdir()
    (bind / "b.txt").write_text("bound\n")
    try:
        r = daemon.cli("run", "--name", name, "-v", f"{vol}:/vol", "-v", f"{bind}:/srv/bind",
                       "-v", f"{robind}:/ro:ro", "busybox", "sh", "-c",
                       "echo in-volume > /vol/v.txt")
        assert r.returncode == 0, r.stderr
        cli.ok("cp", f"{name}:/vol/v.txt", str(tmp_path / "v.txt"))
        assert (tmp_path / "v.txt").read_text() == "in-volume\n"
        cli.ok("cp", f"{name}:/srv/bind/b.txt", str(tmp_path / "b.txt"))
        assert (tmp_path / "b.txt").read_text() == "bound\n"
        (tmp_path / "new.txt").write_text("copied in\n")
        cli.ok("cp", str(tmp_path / "new.txt"), f"{name}:/srv/bind/")
        assert (bind / "new.txt").read_text() == "copied in\n"
        cli.ok("cp", str(tmp_path / "new.txt"), f"{name}:/vol/")
        r = daemon.cli("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/new.txt")
        assert r.stdout == b"copied in\n", r.stderr
        r = cli("cp", str(tmp_path / "new.txt"), f"{name}:/ro/")
        assert r.returncode != 0 and b"read-only" in r.stderr, r.stderr
        assert not (robind / "new.txt").exists()
        mounts = open("/proc/self/mountinfo").read()
        assert str(bind) not in mounts and str(robind) not in mounts
        # The snapshot itself did not get the files: they went to the mounts.
        assert daemon.cli("start", "-a", name).returncode == 0
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("volume", "rm", "-f", vol)


def test_no_escape_through_dotdot_or_symlinks(cli, daemon, ctr, tmp_path):
    marker = f"/tmp/cp-host-{uuid.uuid4().hex[:8]}"
    os.makedirs(marker)
    try:
        with open(f"{marker}/secret", "w") as f:
            f.write("host secret\n")
        _exec(daemon, ctr, "ln", "-s", f"{marker}/secret", "/data/evil")
        _exec(daemon, ctr, "ln", "-s", "../../../../../../..", "/data/up")
        _exec(daemon, ctr, "ln", "-s", marker, "/data/evildir")
        for path in (f"/../../../../..{marker}/secret", f"/data/up{marker}/secret",
                     "/data/evildir/secret"):
            r = cli("cp", f"{ctr}:{path}", str(tmp_path / "out"))
            assert r.returncode != 0 and _missing(r.stderr), (path, r.stderr)
            assert not (tmp_path / "out").exists()
        # -L follows the link, inside the container: nothing there.
        r = cli("cp", "-L", f"{ctr}:/data/evil", str(tmp_path / "out"))
        assert r.returncode != 0
        # Writing through a symlink lands inside the container, never on the host.
        _exec(daemon, ctr, "mkdir", "-p", marker)
        (tmp_path / "secret").write_text("overwritten\n")
        cli.ok("cp", str(tmp_path / "secret"), f"{ctr}:/data/evildir/")
        assert open(f"{marker}/secret").read() == "host secret\n"
        assert _exec(daemon, ctr, "cat", f"{marker}/secret") == "overwritten\n"
        cli.ok("cp", str(tmp_path / "secret"), f"{ctr}:/data/up/tmp/")
        assert _exec(daemon, ctr, "cat", "/tmp/secret") == "overwritten\n"
    finally:
        subprocess.run(["rm", "-rf", marker])


def _tar(*entries: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for ti in entries:
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def test_hostile_tars_are_refused(daemon, ctr):
    up = tarfile.TarInfo("../../../escaped")
    link = tarfile.TarInfo("l")
    link.type, link.linkname = tarfile.SYMTYPE, "/"
    through = tarfile.TarInfo("l/tmp/through-link")
    absolute = tarfile.TarInfo("/abs-name")
    for body in (_tar(up), _tar(link, through), _tar(absolute)):
        r = daemon.cli("cp", "-", f"{ctr}:/data", input=body)
        assert r.returncode != 0, r.stdout
        assert b"Error response from daemon" in r.stderr
    assert daemon.cli("exec", ctr, "ls", "/tmp/through-link").returncode != 0
    assert not os.path.exists("/escaped") and not os.path.exists("/tmp/through-link")
    r = daemon.cli("cp", "-", f"{ctr}:/data", input=b"not a tar at all" * 64)
    assert r.returncode != 0


def test_missing_paths_and_containers(cli, daemon, ctr, tmp_path):
    r = cli("cp", f"{ctr}:/no/such/file", str(tmp_path))
    assert r.returncode != 0 and _missing(r.stderr)
    r = cli("cp", f"no-such-ctr-{uuid.uuid4().hex[:6]}:/x", str(tmp_path))
    assert r.returncode != 0 and b"No such container" in r.stderr
