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
