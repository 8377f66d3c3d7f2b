"""The spec builder: Docker's defaults, option validation, user lookup inside an untrusted root."""

from __future__ import annotations

import os
import resource

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.caps import DEFAULT_CAPS, effective_caps
from dockyard.runtime.spec import MASKED_PATHS, READONLY_PATHS, SpecOptions, build_spec
from dockyard.runtime.users import resolve_user


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n# comment\n\napp:x:1000:1001::/home/app:/bin/sh\n"
        "broken-line\n"
    )
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nbad\n")
    return str(tmp_path)


def test_defaults_match_docker(root):
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=["A=1"]))
    proc = spec["process"]
    assert sorted(proc["capabilities"]["bounding"]) == sorted(DEFAULT_CAPS)
    assert len(DEFAULT_CAPS) == 14
    assert proc["noNewPrivileges"] is False and proc["oomScoreAdj"] == 0
    assert proc["user"] == {"uid": 0, "gid": 0}
    assert "A=1" in proc["env"] and any(e.startswith("PATH=") for e in proc["env"])
    assert spec["linux"]["maskedPaths"] == MASKED_PATHS
    assert spec["linux"]["readonlyPaths"] == READONLY_PATHS
    ns = {n["type"] for n in spec["linux"]["namespaces"]}
    assert ns == {"pid", "ipc", "uts", "mount", "network", "cgroup"}
    dests = {m["destination"]: m for m in spec["mounts"]}
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} <= set(dests)
    assert "ro" in dests["/sys"]["options"] and "ro" in dests["/sys/fs/cgroup"]["options"]
    assert "size=67108864" in dests["/dev/shm"]["options"]
    assert "seccomp" not in spec["linux"]


def test_rlimits_never_exceed_host_hard_limit(root):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=[],
                                  ulimits=[{"Name": "nproc", "Soft": -1, "Hard": -1}]))  # fmt: skip
    rl = {r["type"]: r for r in spec["process"]["rlimits"]}
    assert rl["RLIMIT_NOFILE"]["hard"] <= hard and rl["RLIMIT_NOFILE"]["soft"] <= hard
    if hard < 10**8:  # a number above the host's hard limit is an error ("unlimited" is clamped)
        with pytest.raises(InvalidArgument, match="hard limit"):
            build_spec(SpecOptions(rootfs=root, args=["sh"], env=[],
                                   ulimits=[{"Name": "nofile", "Soft": 10**8, "Hard": 10**8}]))
    nproc_hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if nproc_hard != resource.RLIM_INFINITY:
        assert rl["RLIMIT_NPROC"]["hard"] == nproc_hard
    with pytest.raises(InvalidArgument):
        build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], ulimits=[{"Name": "bogus", "Soft": 1, "Hard": 1}]))
    with pytest.raises(InvalidArgument):
        build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], ulimits=[{"Name": "nofile", "Soft": 5, "Hard": 1}]))


def test_resources_follow_docker_semantics(root):
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], memory=100 << 20,
                                  nano_cpus=1_500_000_000, pids_limit=-1))  # fmt: skip
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 100 << 20, "swap": 200 << 20}
    assert res["cpu"] == {"period": 100000, "quota": 150000}
    assert res["pids"] == {"limit": -1}
    for bad in (dict(memory=1024), dict(memory_swap=1 << 30), dict(memory=100 << 20, memory_swap=1 << 20)):
        with pytest.raises(InvalidArgument):
            build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], **bad))
    with pytest.raises(InvalidArgument, match="no command"):
        build_spec(SpecOptions(rootfs=root, args=[], env=[]))


def test_privileged_and_seccomp_hook(root):
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], privileged=True, seccomp={"defaultAction": "SCMP_ACT_ERRNO"}))
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []
    assert "seccomp" not in spec["linux"]
    assert any(d["path"] == "/dev/null" for d in spec["linux"]["devices"])
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], seccomp={"defaultAction": "SCMP_ACT_ERRNO"}))
    assert spec["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ERRNO"}


def test_extra_mounts_replace_defaults_and_labels_become_annotations(root):
    m = {"destination": "/dev/shm", "type": "bind", "source": "/tmp", "options": ["rbind"]}
    spec = build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], extra_mounts=[m], labels={"a": "b"}))
    shm = [x for x in spec["mounts"] if x["destination"] == "/dev/shm"]
    assert shm == [m]
    assert spec["annotations"] == {"a": "b"}
    with pytest.raises(InvalidArgument):
        build_spec(SpecOptions(rootfs=root, args=["sh"], env=[], extra_mounts=[{"destination": "rel"}]))


def test_caps_merge_like_docker():
    host = effective_caps([], [], True)
    assert effective_caps(["NET_ADMIN"], ["chown"], False) == [c for c in DEFAULT_CAPS if c != "CAP_CHOWN"] + ["CAP_NET_ADMIN"]
    assert effective_caps(["net_admin"], ["ALL"], False) == ["CAP_NET_ADMIN"]
    everything = effective_caps(["ALL"], ["CAP_KILL"], False)
    assert "CAP_KILL" not in everything and set(everything) <= set(host)
    # A capability the host cannot grant is never asked for.
    assert effective_caps(["SYS_ADMIN"], [], False, host=DEFAULT_CAPS) == DEFAULT_CAPS
    with pytest.raises(InvalidArgument, match="unknown capability"):
        effective_caps(["FLY"], [], False)


def test_user_forms(root):
    assert resolve_user(root, "").uid == 0
    u = resolve_user(root, "app")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (1000, 1001, [10], "/home/app")
    u = resolve_user(root, "1000")
    assert (u.uid, u.gid) == (1000, 1001)
    u = resolve_user(root, "4242")
    assert (u.uid, u.gid, u.home) == (4242, 0, "/")
    u = resolve_user(root, "4242:77")
    assert (u.uid, u.gid) == (4242, 77)
    u = resolve_user(root, "app:wheel")
    assert (u.uid, u.gid) == (1000, 10)
    with pytest.raises(InvalidArgument, match="unable to find user nobody: no matching entries in passwd file"):
        resolve_user(root, "nobody")
    with pytest.raises(InvalidArgument, match="unable to find group staff: no matching entries in group file"):
        resolve_user(root, "app:staff")
    with pytest.raises(InvalidArgument):
        resolve_user(root, ":5")


def test_passwd_symlink_cannot_escape_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "etc/passwd")  # absolute: resolves inside the root
    with pytest.raises(InvalidArgument, match="unable to find user root"):
        resolve_user(str(tmp_path), "root")
    os.unlink(tmp_path / "etc/passwd")
    os.symlink("../../../../../../etc/passwd", tmp_path / "etc/passwd")
    with pytest.raises(InvalidArgument, match="unable to find user root"):
        resolve_user(str(tmp_path), "root")
    assert resolve_user(str(tmp_path), "0").uid == 0  # numeric ids need no passwd file
