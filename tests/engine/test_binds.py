"""Bind mounts (-v /host:/ctr[:ro], --mount type=bind) and a rollback that keeps its data."""

import os
import tempfile
import uuid


def test_bind_mount_read_write_and_read_only(daemon):
    host = tempfile.mkdtemp(prefix="dockyard-bind-")
    try:
        r = daemon.cli("run", "--rm", "-v", f"{host}:/data", "busybox", "sh", "-c",
                       "echo written > /data/f && cat /data/f")
        assert r.returncode == 0, r.stderr
        assert open(os.path.join(host, "f")).read() == "written\n"
        r = daemon.cli("run", "--rm", "-v", f"{host}:/data:ro", "busybox", "sh", "-c",
                       "cat /data/f; echo more > /data/f")
        assert r.stdout == b"written\n"
        assert r.returncode != 0 and b"Read-only file system" in r.stderr
        r = daemon.cli("run", "--rm", "--mount", f"type=bind,source={host},target=/m,readonly",
                       "busybox", "cat", "/m/f")
        assert r.returncode == 0 and r.stdout == b"written\n", r.stderr
    finally:
        os.unlink(os.path.join(host, "f"))
        os.rmdir(host)


def test_inspect_lists_the_mounts(daemon):
    host = tempfile.mkdtemp(prefix="dockyard-bind-")
    name = "bind-" + uuid.uuid4().hex[:8]
    try:
        assert daemon.cli("create", "--name", name, "-v", f"{host}:/data:ro", "busybox",
                          "true").returncode == 0
        out = daemon.cli("inspect", "-f",
                         "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}}",
                         name).stdout.decode().strip()
        assert out == f"bind {host} /data false"
    finally:
        daemon.cli("rm", name)
        os.rmdir(host)


def test_bad_mounts_are_refused_at_create(daemon):
    for args, words in [(["-v", "bad name!:/data"], b"invalid characters"),
                        (["-v", "/tmp:relative"], b"must be absolute"),
                        (["-v", "/tmp:/data:bogus"], b"invalid mode"),
                        (["--mount", "type=bind,source=/no/such/dir,target=/x"], None)]:
        r = daemon.cli("run", "--rm", *args, "busybox", "true")
        assert r.returncode == 125, (args, r.stderr)
        if words:
            assert words in r.stderr, r.stderr


def test_rollback_by_tag_keeps_bind_mounted_data(daemon):
    """commit v1 and v2 of a service, run v2, go back to v1: the data on the bind survives."""
    data = tempfile.mkdtemp(prefix="dockyard-data-")
    repo = "svc-" + uuid.uuid4().hex[:6]
    names = []
    try:
        def run(image: str, script: str) -> bytes:
            name = "rb-" + uuid.uuid4().hex[:8]
            names.append(name)
            r = daemon.cli("run", "--name", name, "-v", f"{data}:/data", image, "sh", "-c", script)
            assert r.returncode == 0, r.stderr
            return r.stdout

        run("busybox", "echo v1 > /version; echo record-1 >> /data/log")
        assert daemon.cli("commit", names[-1], f"{repo}:v1").returncode == 0
        run(f"{repo}:v1", "echo v2 > /version; echo record-2 >> /data/log")
        assert daemon.cli("commit", names[-1], f"{repo}:v2").returncode == 0
        assert run(f"{repo}:v2", "cat /version /data/log") == b"v2\nrecord-1\nrecord-2\n"
        # roll back: v1 runs again, with everything written meanwhile still there
        assert run(f"{repo}:v1", "cat /version /data/log") == b"v1\nrecord-1\nrecord-2\n"
    finally:
        for name in names:
            daemon.cli("rm", "-f", name)
        daemon.cli("rmi", f"{repo}:v2", f"{repo}:v1")
        for f in os.listdir(data):
            os.unlink(os.path.join(data, f))
        os.rmdir(data)
