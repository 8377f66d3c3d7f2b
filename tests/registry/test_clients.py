"""Real clients from Debian's packages (skopeo, podman, ctr) against the registry on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from .ocilayout import OCI_INDEX, Layout


def run(*cmd: str, **kw) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    assert p.returncode == 0, f"{cmd}: {p.stderr}"
    return p


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return run("skopeo", "--insecure-policy", *args)


def _layout_digest(path: str, tag: str) -> str:
    with open(os.path.join(path, "index.json")) as f:
        idx = json.load(f)
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    raise AssertionError(f"{tag} not in {path}")


def test_skopeo_copy_multi_layer_image_in_and_out(registry, tmp_path):
    src = Layout(str(tmp_path / "src"))
    desc = src.image([{"a.txt": b"a" * 5000}, {"b/c.txt": os.urandom(200_000)},
                      {"d.bin": os.urandom(1 << 20)}])
    src.tag(desc, "v1")
    dest = f"docker://{registry.host}/team/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src.path}:v1", dest)
    r = registry.req("HEAD", "/v2/team/app/manifests/v1")
    assert r.headers["Docker-Content-Digest"] == desc["digest"]
    out = str(tmp_path / "out")
    skopeo("copy", "--src-tls-verify=false", dest, f"oci:{out}:v1")
    assert _layout_digest(out, "v1") == desc["digest"]
    insp = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", dest).stdout)
    assert len(insp["layers"]) == 3
    for layer in insp["layers"]:
        with open(os.path.join(out, "blobs", "sha256", layer["digest"][7:]), "rb") as f:
            assert len(f.read()) == layer["size"]


def test_skopeo_copy_multi_platform_index_in_and_out(registry, tmp_path):
    src = Layout(str(tmp_path / "src"))
    idx = src.multi_platform(["amd64", "arm64", "s390x"])
    src.tag(idx, "multi")
    dest = f"docker://{registry.host}/multi/img:latest"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{src.path}:multi", dest)
    r = registry.req("GET", "/v2/multi/img/manifests/latest", headers={"Accept": OCI_INDEX})
    assert r.headers["Content-Type"] == OCI_INDEX
    assert r.headers["Docker-Content-Digest"] == idx["digest"]
    out = str(tmp_path / "out")
    skopeo("copy", "--all", "--src-tls-verify=false", dest, f"oci:{out}:multi")
    assert _layout_digest(out, "multi") == idx["digest"]
    children = json.loads(r.body)["manifests"]
    for c in children:
        assert os.path.exists(os.path.join(out, "blobs", "sha256", c["digest"][7:]))


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")
def test_podman_push_and_pull(registry, tmp_path):
    src = Layout(str(tmp_path / "src"))
    src.tag(src.image([{"hello": b"from podman test"}]), "v1")
    # podman refuses a runroot longer than 50 characters: keep it short, remove it after
    short = tempfile.mkdtemp(prefix="dyreg-", dir="/tmp")
    env = dict(os.environ)
    conf = os.path.join(short, "storage.conf")
    with open(conf, "w") as f:
        f.write(f'[storage]\ndriver = "vfs"\nrunroot = "{short}/run"\n'
                f'graphroot = "{short}/graph"\n')
    env["CONTAINERS_STORAGE_CONF"] = conf
    pod = ["podman", "--root", f"{short}/graph", "--runroot", f"{short}/run",
           "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    ref = f"{registry.host}/pod/app:v1"
    try:
        run(*pod, "pull", f"oci:{src.path}:v1", env=env)
        image_id = run(*pod, "images", "-q", env=env).stdout.split()[0]
        run(*pod, "tag", image_id, ref, env=env)
        run(*pod, "push", "--tls-verify=false", ref, env=env)
        assert registry.req("GET", "/v2/pod/app/tags/list").json()["tags"] == ["v1"]
        run(*pod, "rmi", "-a", "-f", env=env)
        run(*pod, "pull", "--tls-verify=false", ref, env=env)
        out = run(*pod, "images", "--format", "{{.Repository}}:{{.Tag}}", env=env).stdout
        assert ref in out
    finally:
        subprocess.run([*pod, "system", "reset", "-f"], env=env, capture_output=True,
                       timeout=60)
        shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def containerd():
    """A private containerd (own root, state and socket) for ``ctr``; stopped afterwards."""
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd not installed")
    base = tempfile.mkdtemp(prefix="dyctr-", dir="/tmp")
    sock = f"{base}/c.sock"
    cfg = f"{base}/config.toml"
    with open(cfg, "w") as f:
        f.write(f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n')
    log = open(f"{base}/log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(["containerd", "--config", cfg], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock) and subprocess.run(
                    ["ctr", "-a", sock, "version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("containerd did not start")
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-R", f"{base}/root"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_ctr_pull_plain_http_and_check(registry, containerd, tmp_path):
    src = Layout(str(tmp_path / "src"))
    src.tag(src.image([{"etc/hostname": b"ctr\n"}, {"data": os.urandom(300_000)}]), "v1")
    ref = f"{registry.host}/ctr/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src.path}:v1", f"docker://{ref}")
    ctr = ["ctr", "-a", containerd, "-n", "dyreg"]
    run(*ctr, "images", "pull", "--plain-http", "--snapshotter", "native", ref)
    out = run(*ctr, "images", "check").stdout
    line = next(ln for ln in out.splitlines() if ln.startswith(ref))
    assert "complete" in line, out
    run(*ctr, "images", "rm", ref)


def test_four_concurrent_skopeo_pushes_of_the_same_blobs(registry, tmp_path):
    src = Layout(str(tmp_path / "src"))
    desc = src.image([{"big": os.urandom(4 << 20)}, {"small": b"s"}])
    src.tag(desc, "v1")
    procs = [subprocess.Popen(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                               f"oci:{src.path}:v1", f"docker://{registry.host}/same/app:t{i}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(4)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    tags = registry.req("GET", "/v2/same/app/tags/list").json()["tags"]
    assert tags == ["t0", "t1", "t2", "t3"]
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/same/app:t3",
           f"oci:{out}:v1")
    assert _layout_digest(str(out), "v1") == desc["digest"]
