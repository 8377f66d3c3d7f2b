"""`docker save` ↔ `dockyard load` both ways, against a real dockerd (Debian's docker.io) that
this test starts with its own data root, exec root, socket and cgroup parent, and stops."""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from dockyard.cli.rootfs import busybox_rootfs_tar

DOCKERD = shutil.which("dockerd")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


@pytest.fixture(scope="module")
def dockerd():
    if not DOCKERD:
        pytest.fail("dockerd is missing: scripts/install.sh --test installs docker.io")
    base = tempfile.mkdtemp(prefix="dkt-")  # short: containerd's socket paths must fit
    tag = uuid.uuid4().hex[:8]
    sock = os.path.join(base, "d.sock")
    cgroup_parent = f"dockyard-test-dockerd-{tag}"
    log = open(os.path.join(base, "dockerd.log"), "wb")  # noqa: SIM115 - closed below
    # Its own network namespace: a dockerd with --bridge none deletes a docker0 it finds, and
    # the host's docker0 (another dockerd's) must stay untouched.
    proc = subprocess.Popen(
        ["unshare", "--net", "--", DOCKERD, "--data-root", os.path.join(base, "root"), "--exec-root",
         os.path.join(base, "x"), "-H", f"unix://{sock}", "--pidfile",
         os.path.join(base, "pid"), "--bridge", "none", "--iptables=false",
         "--ip-masq=false", "--cgroup-parent", cgroup_parent,
         "--default-ulimit", "nofile=1024:1024", "--default-ulimit", "nproc=1024:1024"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}",
               DOCKER_CONFIG=os.path.join(base, "cfg"))

    def docker(*args, input=None):
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, input=input,
                              timeout=120)

    try:
        deadline = time.monotonic() + 60
        while docker("version").returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, \
                open(os.path.join(base, "dockerd.log")).read()[-3000:]
            time.sleep(0.2)
        yield docker
    finally:
        subprocess.run([DOCKER, "rm", "-f", *docker("ps", "-aq").stdout.decode().split()],
                       env=env, capture_output=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(base)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for cg in glob.glob(f"/sys/fs/cgroup/*/{cgroup_parent}"):
            subprocess.run(["find", cg, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_docker_save_then_dockyard_load_and_run(dockerd, daemon, tmp_path):
    name = f"from-docker-{uuid.uuid4().hex[:6]}:v1"
    r = dockerd("import", "-c", 'CMD ["sh"]', "-", name, input=busybox_rootfs_tar())
    assert r.returncode == 0, r.stderr
    archive = tmp_path / "docker.tar"
    assert dockerd("save", "-o", str(archive), name).returncode == 0
    r = daemon.cli("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert f"Loaded image: {name}".encode() in r.stdout
    docker_layers = dockerd("image", "inspect", "-f", "{{json .RootFS.Layers}}", name).stdout
    ours = daemon.cli("image", "inspect", "-f", "{{json .RootFS.Layers}}", name).stdout
    assert docker_layers.strip() == ours.strip()
    r = daemon.cli("run", "--rm", name, "echo", "loaded from docker")
    assert r.returncode == 0 and r.stdout == b"loaded from docker\n", r.stderr
    daemon.cli("rmi", name)


def test_dockyard_save_then_docker_load_and_run(dockerd, daemon, tmp_path):
    name = f"from-dockyard-{uuid.uuid4().hex[:6]}:v1"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    archive = tmp_path / "dockyard.tar"
    assert daemon.cli("save", "-o", str(archive), name).returncode == 0
    r = dockerd("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert f"Loaded image: {name}".encode() in r.stdout
    ours = daemon.cli("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
    theirs = dockerd("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert ours == theirs  # the same config digest: the same image
    r = dockerd("run", "--rm", "--network", "none", name, "echo", "loaded from dockyard")
    assert r.returncode == 0 and r.stdout == b"loaded from dockyard\n", r.stderr
    daemon.cli("rmi", name)
