"""The default seccomp profile, masked /proc paths, read-only /sys, and what lifts them."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess

import docker
import pytest

from dockyard.runtime.seccomp import default_profile, native_arches, x32_abi_enabled

CLONE_NEWUSER = 0x10000000

CHECKS = (
    "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; "
    "unshare -U true; echo unshare=$?; "
    "mount -t tmpfs none /tmp; echo mount=$?; "
    "echo timer_list=$(wc -c < /proc/timer_list); "
    "head -c1 /proc/kcore >/dev/null 2>&1; echo kcore=$?; "
    "touch /sys/probe; echo sys=$?"
)


def _values(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        for sep in ("=", ":"):
            if sep in line:
                k, _, v = line.partition(sep)
                out[k.strip()] = v.strip()
                break
    return out


def test_default_container_refuses_mount_and_unshare(cli):
    r = cli("run", "--rm", "busybox", "sh", "-c", CHECKS)
    assert r.returncode == 0, r.stderr
    v = _values(r.stdout.decode())
    err = r.stderr.decode()
    assert v["Seccomp"] == "2" and v["NoNewPrivs"] == "0"
    assert v["unshare"] != "0" and "unshare(0x10000000): Operation not permitted" in err
    assert v["mount"] != "0" and "permission denied" in err
    assert v["timer_list"] == "0"  # masked: reads as /dev/null
    assert v["kcore"] != "0"  # masked (or absent on this kernel): never readable
    assert v["sys"] != "0" and "Read-only file system" in err


def test_privileged_lifts_profile_masks_and_readonly_sys(cli):
    r = cli("run", "--rm", "--privileged", "busybox", "sh", "-c", CHECKS + "; rm -f /sys/probe")
    v = _values(r.stdout.decode())
    assert v["Seccomp"] == "0"
    assert v["unshare"] == "0" and v["mount"] == "0", r.stderr
    assert int(v["timer_list"]) > 0
    # /sys is writable (a plain file cannot be made in sysfs, so the error is not EROFS).
    assert "Read-only file system" not in r.stderr.decode()
    mounts = cli.ok("run", "--rm", "--privileged", "busybox", "grep", " /sys ", "/proc/mounts")
    assert " rw," in mounts


def test_unconfined_and_no_new_privileges(cli):
    r = cli("run", "--rm", "--security-opt", "seccomp=unconfined", "--security-opt",
            "no-new-privileges", "busybox", "sh", "-c", CHECKS)
    v = _values(r.stdout.decode())
    assert v["Seccomp"] == "0" and v["NoNewPrivs"] == "1"
    assert v["unshare"] == "0"  # user namespaces need no capability
    assert v["mount"] != "0"  # still no CAP_SYS_ADMIN
    out = cli.ok("run", "--rm", "--security-opt", "no-new-privileges=true", "busybox",
                 "grep", "NoNewPrivs", "/proc/self/status")
    assert out.split() == ["NoNewPrivs:", "1"]


def test_cap_sys_admin_lifts_mount_and_unshare(cli):
    r = cli("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", CHECKS)
    v = _values(r.stdout.decode())
    assert v["Seccomp"] == "2"
    assert v["unshare"] == "0" and v["mount"] == "0", r.stderr


def test_profile_file_replaces_the_default(cli, tmp_path):
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            # Only for containers with CAP_SYS_ADMIN: not this one.
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile, indent=2))
    r = cli("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c",
            "mkdir /tmp/d; echo mkdir=$?; unshare -U true; echo unshare=$?; uname >/dev/null; "
            "echo uname=$?")
    v = _values(r.stdout.decode())
    assert v == {"mkdir": "1", "unshare": "0", "uname": "0"}, (r.stdout, r.stderr)
    assert "Operation not permitted" in r.stderr.decode()


def test_unreadable_or_bad_profiles_are_refused(cli, tmp_path):
    r = cli("run", "--rm", "--security-opt", f"seccomp={tmp_path}/missing.json", "busybox", "true")
    assert r.returncode != 0 and b"seccomp" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_BOGUS"}')
    r = cli("run", "--rm", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125 and b"SCMP_ACT_BOGUS" in r.stderr, r.stderr
    r = cli("run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert r.returncode != 0 and b"security-opt" in r.stderr


def test_everyday_programs_work_under_the_profile(cli, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
           "mkdir -p /www && echo served > /www/index.html && httpd -f -p 127.0.0.1:8080 -h /www")
    out = cli.ok("exec", name, "sh", "-c",
                 "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://127.0.0.1:8080/ && break; "
                 "sleep 0.2; done; ls /bin >/dev/null && echo ls-ok; ps | grep -c httpd; "
                 "top -b -n1 | head -1 | cut -c1-4; date >/dev/null && echo date-ok")
    lines = out.split()
    assert lines[0] == "served" and "ls-ok" in lines and "date-ok" in lines and "Mem:" in lines
    r = cli("exec", name, "unshare", "-U", "true")
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr
    # A terminal: the process sees a tty and still runs under the filter.
    out = cli.ok("run", "--rm", "-t", "busybox", "sh", "-c",
                 "test -t 1 && echo tty; grep Seccomp: /proc/self/status")
    assert "tty" in out and "Seccomp:\t2" in out


def test_api_refuses_bad_security_options(daemon):
    client = docker.DockerClient(base_url=daemon.host)
    try:
        for opt in (['seccomp={"defaultAction": 7}'], ["seccomp={not json"], ["bogus"]):
            with pytest.raises(docker.errors.APIError) as e:
                client.containers.create("busybox", "true", security_opt=opt)
            assert e.value.status_code == 400, opt
        c = client.containers.create("busybox", "true", security_opt=["seccomp=unconfined"])
        try:
            assert c.attrs["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined"]
        finally:
            c.remove(force=True)
    finally:
        client.close()


def _allows(profile: dict, name: str, arg0: int = 0) -> bool:
    """What the filter does with ``name(arg0, ...)``: the first matching rule, else default."""
    for rule in profile["syscalls"]:
        if name not in rule["names"]:
            continue
        ok = True
        for a in rule.get("args") or []:
            v, op = a["value"], a["op"]
            ok &= {"SCMP_CMP_EQ": arg0 == v, "SCMP_CMP_LT": arg0 < v, "SCMP_CMP_GT": arg0 > v,
                   "SCMP_CMP_MASKED_EQ": arg0 & v == a.get("valueTwo", 0)}[op]
        if ok:
            return rule["action"] == "SCMP_ACT_ALLOW"
    return profile["defaultAction"] == "SCMP_ACT_ALLOW"


def test_default_profile_is_an_allow_list():
    p = default_profile(["CAP_CHOWN", "CAP_SYS_CHROOT"], "x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    x32 = ["SCMP_ARCH_X32"] if x32_abi_enabled() or platform.machine() != "x86_64" else []
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", *x32]
    assert native_arches("aarch64")[0] == "SCMP_ARCH_AARCH64"
    for call in ("unshare", "mount", "umount2", "keyctl", "add_key", "request_key", "kexec_load",
                 "kexec_file_load", "bpf", "perf_event_open", "init_module", "finit_module",
                 "delete_module", "reboot", "swapon", "swapoff", "setns", "pivot_root",
                 "open_by_handle_at", "userfaultfd", "acct", "clock_settime", "settimeofday",
                 "io_uring_setup", "kcmp", "a_call_linux_adds_next_year"):
        assert not _allows(p, call), call
    for call in ("read", "openat", "execve", "futex", "epoll_wait", "mmap", "chroot",
                 "arch_prctl", "setresuid", "ptrace", "getrandom"):
        assert _allows(p, call), call
    # Threads yes, namespaces no; clone3 answers ENOSYS so libc falls back to clone.
    assert _allows(p, "clone", 0x3D0F00) and not _allows(p, "clone", CLONE_NEWUSER)
    assert [r["errnoRet"] for r in p["syscalls"] if r["names"] == ["clone3"]] == [38]
    assert _allows(p, "socket", 2) and _allows(p, "socket", 16) and _allows(p, "socket", 39)
    assert not _allows(p, "socket", 38) and not _allows(p, "socket", 40)  # AF_ALG, AF_VSOCK
    assert _allows(p, "personality", 0xFFFFFFFF) and not _allows(p, "personality", 0x0400000)
    arm = default_profile(["CAP_CHOWN"], "aarch64")
    assert _allows(arm, "cacheflush") and not _allows(arm, "arch_prctl")
    assert not _allows(default_profile(["CAP_CHOWN"], "x86_64"), "chroot")
    # Built once per capability set: the same object comes back.
    assert default_profile(["CAP_CHOWN", "CAP_SYS_CHROOT"], "x86_64") is p
    lifted = default_profile(["CAP_SYS_ADMIN", "CAP_SYS_TIME"], "x86_64")
    for call in ("mount", "unshare", "setns", "clock_settime", "clone3"):
        assert _allows(lifted, call), call
    assert _allows(lifted, "clone", CLONE_NEWUSER)
    assert not _allows(lifted, "kexec_load") and not _allows(lifted, "keyctl")


@pytest.fixture(scope="module")
def abiprobe(tmp_path_factory):
    """A static probe (built with gcc from abiprobe.c) asking for a user namespace through
    clone(2) flags and through the i386 and x32 system call ABIs."""
    out = tmp_path_factory.mktemp("abiprobe")
    src = os.path.join(os.path.dirname(__file__), "abiprobe.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out / "abiprobe"), src], check=True)
    return str(out)


def test_clone_flags_and_other_abis_are_filtered(cli, abiprobe):
    mount = ["-v", f"{abiprobe}:/probe:ro"]
    v = _values(cli.ok("run", "--rm", *mount, "busybox", "/probe/abiprobe"))
    assert v["clone"] == "Operation not permitted"
    assert v["i386"] == "Operation not permitted"  # int $0x80 reaches the same filter
    # Refused; on a kernel without the x32 ABI the filter leaves it out and kills the caller.
    assert v["x32"] in ("Operation not permitted", "Function not implemented",
                        f"killed by signal {signal.SIGSYS:d}")
    v = _values(cli.ok("run", "--rm", *mount, "--security-opt", "seccomp=unconfined",
                       "busybox", "/probe/abiprobe"))
    assert v["clone"] == "ok" and v["i386"] == "ok"


REFUSED = ("keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "bpf",
           "perf_event_open", "init_module", "finit_module", "delete_module", "reboot", "swapon",
           "swapoff", "setns", "pivot_root", "open_by_handle_at", "userfaultfd", "acct",
           "clock_settime", "settimeofday", "umount2")


def test_listed_calls_fail_with_eperm(cli, abiprobe):
    mount = ["-v", f"{abiprobe}:/probe:ro"]
    v = _values(cli.ok("run", "--rm", *mount, "busybox", "/probe/abiprobe", "calls"))
    assert {k: v[k] for k in REFUSED} == {k: "Operation not permitted" for k in REFUSED}
    # Without the filter the keyring calls work (they need no capability): the filter refused.
    v = _values(cli.ok("run", "--rm", *mount, "--security-opt", "seccomp=unconfined",
                       "busybox", "/probe/abiprobe", "calls"))
    assert v["keyctl"] == "ok" and v["add_key"] == "ok"
