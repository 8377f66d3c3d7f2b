"""The default seccomp profile, Docker-format profile files, and ``--security-opt`` parsing.

The default profile is an allow list, as Docker's is (runtime/syscalls.py has the list, grouped
by purpose): every call an ordinary program needs, plus the calls a held capability governs
(``--cap-add SYS_ADMIN`` brings mount, unshare and setns, as in Docker), plus a few allowed only
with harmless arguments (``socket`` families, ``personality`` values, ``clone`` without
namespace flags). Everything else fails with EPERM, so programs see an ordinary permission
error, and a system call added to Linux later is refused until it is reviewed: with a deny list
it would have been allowed.

Profiles are built once per capability set and cached: a start reuses the same object.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.runtime import syscalls

EPERM = 1
ENOSYS = 38

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "i686": ["SCMP_ARCH_X86"],
    "armv7l": ["SCMP_ARCH_ARM"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
}
# Architectures whose clone(2) takes the flags as the first argument.
_CLONE_FLAGS_ARG = {"x86_64": 0, "aarch64": 0, "i686": 0, "armv7l": 0, "ppc64le": 0,
                    "riscv64": 0, "s390x": 1}


def native_arches(machine: str | None = None) -> list[str]:
    """The SCMP_ARCH_* names a filter must cover on this machine (its 32-bit ABIs too, else
    a process could switch ABI to reach the calls the native filter refuses).

    x32 only where this kernel runs x32 system calls. Most kernels are built with it but
    leave it off (``syscall.x32=n``); a filter without it kills (SIGSYS) the thread that makes
    one rather than answering EPERM, and it costs libseccomp two thirds of its work: about
    9 ms of every container start and exec here."""
    host = platform.machine()
    machine = machine or host
    arches = list(_ARCHES.get(machine, []))
    if machine == host == "x86_64" and not x32_abi_enabled():
        arches.remove("SCMP_ARCH_X32")
    return arches


_X32_PROBE = ("import ctypes, os; "
              "os._exit(0 if ctypes.CDLL(None).syscall(0x40000000 | 39) > 0 else 1)")  # getpid


@lru_cache(maxsize=1)
def x32_abi_enabled() -> bool:
    """Whether x32 system calls reach this kernel (tried in a child: a filter around the
    daemon itself may kill the caller)."""
    try:
        r = subprocess.run([sys.executable, "-I", "-S", "-c", _X32_PROBE], timeout=30,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return True  # unknown: keep filtering it
    return r.returncode == 0


def _allow(names: list[str], args: list[dict] | None = None) -> dict:
    rule: dict[str, Any] = {"names": names, "action": "SCMP_ACT_ALLOW"}
    if args:
        rule["args"] = args
    return rule


def _arg(index: int, op: str, value: int, value_two: int = 0) -> dict:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


@lru_cache(maxsize=64)
def _default_profile(caps: frozenset[str], machine: str) -> dict[str, Any]:
    allowed = set(syscalls.ALWAYS) | set(syscalls.BY_MACHINE.get(machine, ()))
    for cap, calls in syscalls.BY_CAPABILITY.items():
        if cap in caps:
            allowed.update(calls)
    rules = [_allow(sorted(allowed))]
    rules += [  # every address family but AF_ALG and AF_VSOCK
        _allow(["socket"], [_arg(0, "SCMP_CMP_LT", syscalls.AF_ALG)]),
        *(_allow(["socket"], [_arg(0, "SCMP_CMP_EQ", family)])
          for family in range(syscalls.AF_ALG + 1, syscalls.AF_VSOCK)),
        _allow(["socket"], [_arg(0, "SCMP_CMP_GT", syscalls.AF_VSOCK)]),
    ]
    rules += [_allow(["personality"], [_arg(0, "SCMP_CMP_EQ", p)])
              for p in syscalls.PERSONALITIES]
    if "clone" not in allowed:
        # Threads and processes, but no new namespace (mask the flags, want none of them).
        idx = _CLONE_FLAGS_ARG.get(machine, 0)
        rules.append(_allow(["clone"], [_arg(idx, "SCMP_CMP_MASKED_EQ",
                                             syscalls.CLONE_NAMESPACES, 0)]))
        # clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back
        # to clone, whose flags the rule above checks.
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    profile: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
                               "syscalls": rules}
    arches = native_arches(machine)
    if arches:
        profile["architectures"] = arches
    return profile


def default_profile(caps: list[str], machine: str | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object for a container holding ``caps`` (cached; treat the
    result as read-only)."""
    return _default_profile(frozenset(caps), machine or platform.machine())


# ---- Docker-format profile files -----------------------------------------------------------

_ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY"}
_OPS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
        "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
_ARCH_NAMES = {a for arches in _ARCHES.values() for a in arches}


def _native_scmp_arch(machine: str) -> str:
    arches = _ARCHES.get(machine)
    return arches[0] if arches else ""


def _filter_matches(flt: Any, caps: frozenset[str], arch: str, where: str) -> bool:
    """Docker's includes/excludes: caps and arches (minKernel is not checked)."""
    if flt is None:
        return True
    if not isinstance(flt, dict):
        raise InvalidArgument(f"seccomp profile: {where} must be an object")
    want_caps = flt.get("caps") or []
    want_arches = flt.get("arches") or []
    if not isinstance(want_caps, list) or not isinstance(want_arches, list):
        raise InvalidArgument(f"seccomp profile: {where} caps and arches must be lists")
    arch_short = arch.removeprefix("SCMP_ARCH_").lower()
    arch_ok = not want_arches or any(str(a).lower() in (arch_short, arch.lower()) for a in want_arches)
    caps_ok = all(("CAP_" + str(c).upper().removeprefix("CAP_")) in caps for c in want_caps)
    return arch_ok and caps_ok


def _excluded(flt: Any, caps: frozenset[str], arch: str) -> bool:
    if not flt:
        return False
    if not isinstance(flt, dict):
        raise InvalidArgument("seccomp profile: excludes must be an object")
    if flt.get("arches") and _filter_matches({"arches": flt["arches"]}, caps, arch, "excludes"):
        return True
    return bool(flt.get("caps")) and any(
        ("CAP_" + str(c).upper().removeprefix("CAP_")) in caps for c in flt["caps"])


def _check_action(action: Any, where: str) -> str:
    if action not in _ACTIONS:
        raise InvalidArgument(f"seccomp profile: {where}: unknown action {action!r}")
    return action


def _errno(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 4096:
        raise InvalidArgument(f"seccomp profile: {where}: invalid errnoRet {value!r}")
    return value


def parse_profile(text: str | bytes, caps: list[str], machine: str | None = None) -> dict[str, Any]:
    """A Docker-format profile (``--security-opt seccomp=FILE``; the CLI sends its contents)
    → the OCI ``linux.seccomp`` object, for this machine and capability set."""
    machine = machine or platform.machine()
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("Decoding seccomp profile failed: the profile must be a JSON object")
    capset = frozenset(caps)
    out: dict[str, Any] = {"defaultAction": _check_action(doc.get("defaultAction"), "defaultAction")}
    ret = _errno(doc.get("defaultErrnoRet"), "defaultErrnoRet")
    if ret is not None:
        out["defaultErrnoRet"] = ret
    arches = doc.get("architectures") or []
    arch_map = doc.get("archMap") or []
    if arches and arch_map:
        raise InvalidArgument("seccomp profile: 'architectures' and 'archMap' were specified "
                              "in the seccomp profile, use either 'architectures' or 'archMap'")
    if not isinstance(arches, list) or not isinstance(arch_map, list):
        raise InvalidArgument("seccomp profile: architectures and archMap must be lists")
    native = _native_scmp_arch(machine)
    for entry in arch_map:
        if isinstance(entry, dict) and entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
    for a in arches:
        if a not in _ARCH_NAMES:
            raise InvalidArgument(f"seccomp profile: unknown architecture {a!r}")
    if arches:
        out["architectures"] = list(arches)
    flags = doc.get("flags")
    if flags:
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise InvalidArgument("seccomp profile: flags must be a list of strings")
        out["flags"] = list(flags)
    syscalls = doc.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise InvalidArgument("seccomp profile: syscalls must be a list")
    rules = []
    for i, sc in enumerate(syscalls):
        where = f"syscalls[{i}]"
        if not isinstance(sc, dict):
            raise InvalidArgument(f"seccomp profile: {where} must be an object")
        if not _filter_matches(sc.get("includes"), capset, native, where + ".includes"):
            continue
        if _excluded(sc.get("excludes"), capset, native):
            continue
        names = sc.get("names") or ([sc["name"]] if sc.get("name") else [])
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise InvalidArgument(f"seccomp profile: {where}: names must be a non-empty list of strings")
        rule: dict[str, Any] = {"names": list(names), "action": _check_action(sc.get("action"), where)}
        ret = _errno(sc.get("errnoRet"), where)
        if ret is not None:
            rule["errnoRet"] = ret
        args = sc.get("args") or []
        if not isinstance(args, list):
            raise InvalidArgument(f"seccomp profile: {where}: args must be a list")
        clean_args = []
        for a in args:
            if not isinstance(a, dict) or a.get("op") not in _OPS:
                raise InvalidArgument(f"seccomp profile: {where}: invalid argument filter {a!r}")
            vals = [a.get("index", 0), a.get("value", 0), a.get("valueTwo", 0)]
            if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in vals):
                raise InvalidArgument(f"seccomp profile: {where}: invalid argument filter {a!r}")
            if vals[0] > 5:
                raise InvalidArgument(f"seccomp profile: {where}: argument index {vals[0]} > 5")
            clean_args.append({"index": vals[0], "value": vals[1], "valueTwo": vals[2], "op": a["op"]})
        if clean_args:
            rule["args"] = clean_args
        rules.append(rule)
    out["syscalls"] = rules
    return out


# ---- --security-opt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityOptions:
    """What ``HostConfig.SecurityOpt`` asks for."""

    seccomp: str = "default"  # "default", "unconfined", or a Docker-format profile (JSON text)
    no_new_privileges: bool = False


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_security_opts(items: list[str]) -> SecurityOptions:
    """Docker's ``--security-opt`` forms: ``seccomp=unconfined|builtin|<profile JSON>``,
    ``no-new-privileges[=true|false]``, ``label=…``/``apparmor=…`` (accepted, no effect on
    a host without SELinux/AppArmor), ``key:value`` as the older spelling."""
    seccomp, nnp = "default", False
    for opt in items:
        if not isinstance(opt, str):
            raise InvalidArgument(f"Invalid --security-opt: {opt!r}")
        key, eq, value = opt.partition("=")
        if not eq and key != "no-new-privileges":
            if ":" not in opt:
                raise InvalidArgument(f"Invalid --security-opt: {opt!r}")
            key, _, value = opt.partition(":")
        if key == "no-new-privileges":
            if not eq and not value and ":" not in opt:
                nnp = True
            elif value in _TRUE:
                nnp = True
            elif value in _FALSE:
                nnp = False
            else:
                raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
        elif key == "seccomp":
            if value in ("unconfined", "builtin", ""):
                seccomp = {"unconfined": "unconfined"}.get(value, "default")
            else:
                seccomp = value
        elif key in ("label", "apparmor", "systempaths", "writable-cgroups"):
            pass
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
    return SecurityOptions(seccomp, nnp)


def validate_security_opts(items: list[str]) -> None:
    """Refuse at create what would fail at start: bad forms and unreadable profiles."""
    sec = parse_security_opts(items)
    if sec.seccomp not in ("default", "unconfined"):
        parse_profile(sec.seccomp, [])


def seccomp_for(items: list[str], caps: list[str], privileged: bool) -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` object for a container, or None (unconfined)."""
    if privileged:
        return None
    sec = parse_security_opts(items)
    if sec.seccomp == "unconfined":
        return None
    if sec.seccomp == "default":
        return default_profile(caps)
    return parse_profile(sec.seccomp, caps)
