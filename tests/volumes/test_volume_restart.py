"""A restarted daemon reconciles volumes: what a crash left mid-create goes, a tmpfs volume
still used by a running container stays mounted, an unused one is unmounted."""

import os
import signal
import subprocess


def _ok(r):
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def _volume_mounts(d) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(os.path.join(d.root, "volumes"))]


def test_restart_reconciles_volume_mounts_and_leftovers(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    for v in ("used", "unused"):
        _ok(d.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", v))
    _ok(d.cli("run", "-d", "--name", "svc", "-v", "used:/x", "busybox", "sh", "-c",
              "echo alive > /x/f; sleep 300"))
    vroot = os.path.join(d.root, "volumes")
    # What a crash can leave: a mount nobody uses, a half-built volume, an unrecorded dir.
    unused_data = os.path.join(vroot, "unused", "_data")
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", unused_data], check=True)
    os.makedirs(os.path.join(vroot, ".tmp-deadbeef", "_data"))
    os.makedirs(os.path.join(vroot, "ghost", "_data"))
    d.stop(signal.SIGKILL)
    d.start()
    assert sorted(os.listdir(vroot)) == ["unused", "used"]
    mounts = _volume_mounts(d)
    assert os.path.join(vroot, "used", "_data") in mounts and unused_data not in mounts
    # the running container's data is the data new users see
    assert _ok(d.cli("run", "--rm", "-v", "used:/x", "busybox", "cat", "/x/f")) == "alive\n"
    _ok(d.cli("rm", "-f", "svc"))
    assert _volume_mounts(d) == []
    assert sorted(_ok(d.cli("volume", "ls", "-q")).split()) == ["unused", "used"]


def test_no_mount_or_volume_left_after_many_cycles(daemon):
    """create/start/rm with a tmpfs volume, a named volume, an anonymous one and --tmpfs:
    nothing mounted and no volume left behind afterwards."""
    import uuid

    tag = uuid.uuid4().hex[:6]
    tv, nv = f"cyc-t-{tag}", f"cyc-n-{tag}"
    _ok(daemon.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", tv))
    before = set(_ok(daemon.cli("volume", "ls", "-q")).split())
    try:
        for i in range(15):
            name = f"cyc-{tag}-{i}"
            _ok(daemon.cli("create", "--name", name, "-v", f"{tv}:/t", "-v", f"{nv}:/n",
                           "-v", "/anon", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                           f"echo {i} >> /n/log"))
            _ok(daemon.cli("start", "-a", name))
            _ok(daemon.cli("rm", "-v", name))
        assert _volume_mounts(daemon) == []
        assert set(_ok(daemon.cli("volume", "ls", "-q")).split()) == before | {nv}
        out = _ok(daemon.cli("run", "--rm", "-v", f"{nv}:/n", "busybox", "wc", "-l", "/n/log"))
        assert out.split()[0] == "15"
    finally:
        daemon.cli("volume", "rm", "-f", tv, nv)
