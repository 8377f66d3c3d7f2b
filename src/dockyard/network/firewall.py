"""iptables rules of one daemon, in chains of its own named after its default bridge.

Every change rewrites the daemon's chains in one ``iptables-restore --noflush`` (a chain named
in the input is flushed and refilled atomically), so rules never drift from the database and a
restarted daemon writes the same rules again. The built-in chains only get one jump each into
ours, inserted first: the anchor dockerd's or podman's rules (and br_netfilter) never see our
traffic before we accepted it. Published ports are kernel DNAT (with route_localnet on our
bridges for 127.0.0.1), so they keep working while the daemon is down.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass

from ..errors import RuntimeFailure


@dataclass
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool = False


@dataclass
class DnatRule:
    proto: str
    host_ip: str  # "0.0.0.0" = every local address
    host_port: int
    to_ip: str
    to_port: int


def chain_names(tag: str) -> dict[str, str]:
    return {"fwd": f"DOCKYARD-{tag}", "iso1": f"DY-ISO1-{tag}", "iso2": f"DY-ISO2-{tag}",
            "dnat": f"DOCKYARD-{tag}", "post": f"DY-POST-{tag}"}


def _jumps(tag: str) -> list[tuple[str, str, list[str]]]:
    c = chain_names(tag)
    return [
        ("filter", "FORWARD", ["-j", c["fwd"]]),
        ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", c["dnat"]]),
        ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", c["dnat"]]),
        ("nat", "POSTROUTING", ["-j", c["post"]]),
    ]


def render(tag: str, bridges: list[BridgeRules], dnat: list[DnatRule]) -> str:
    c = chain_names(tag)
    f = ["*filter", f":{c['fwd']} - [0:0]", f":{c['iso1']} - [0:0]", f":{c['iso2']} - [0:0]",
         f"-A {c['fwd']} -j {c['iso1']}"]
    for b in bridges:
        if b.internal:
            f += [f"-A {c['fwd']} -i {b.bridge} -o {b.bridge} -j ACCEPT",
                  f"-A {c['fwd']} -i {b.bridge} -j DROP",
                  f"-A {c['fwd']} -o {b.bridge} -j DROP"]
        else:
            f += [f"-A {c['fwd']} -o {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED "
                  "-j ACCEPT",
                  f"-A {c['fwd']} -o {b.bridge} -m conntrack --ctstate DNAT -j ACCEPT",
                  f"-A {c['fwd']} -i {b.bridge} -j ACCEPT"]
        f += [f"-A {c['iso1']} -i {b.bridge} ! -o {b.bridge} -j {c['iso2']}",
              f"-A {c['iso2']} -o {b.bridge} -j DROP"]
    f.append("COMMIT")
    n = ["*nat", f":{c['dnat']} - [0:0]", f":{c['post']} - [0:0]"]
    for r in dnat:
        dst = "" if r.host_ip in ("", "0.0.0.0") else f"-d {r.host_ip}/32 "
        n.append(f"-A {c['dnat']} {dst}-p {r.proto} -m {r.proto} --dport {r.host_port} "
                 f"-j DNAT --to-destination {r.to_ip}:{r.to_port}")
    for b in bridges:
        if not b.internal:
            n.append(f"-A {c['post']} -s {b.subnet} ! -o {b.bridge} -j MASQUERADE")
        # The host's loopback reaching a published port (route_localnet): the container
        # must answer the bridge's address, not 127.0.0.1.
        n.append(f"-A {c['post']} -s 127.0.0.0/8 -o {b.bridge} -j MASQUERADE")
    n.append("COMMIT")
    return "\n".join(f + n) + "\n"


class Firewall:
    def __init__(self, tag: str):
        self.tag = tag
        self._lock = threading.Lock()
        self._last = ""

    def apply(self, bridges: list[BridgeRules], dnat: list[DnatRule]) -> None:
        text = render(self.tag, bridges, dnat)
        with self._lock:
            if text == self._last:
                return
            r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text.encode(),
                               capture_output=True)
            if r.returncode != 0:
                raise RuntimeFailure("iptables-restore failed: "
                                     + r.stderr.decode(errors="replace").strip()[:300])
            if not self._last:
                self._ensure_jumps()
            self._last = text

    def intact(self) -> bool:
        """Are the chains and the built-in chains' jumps into them still there? (someone may
        have flushed or deleted them: ``iptables -F``, a firewall reload). One
        iptables-save."""
        r = subprocess.run(["iptables-save"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return True  # cannot tell: leave the rules alone
        return missing(self.tag, r.stdout) == []

    def invalidate(self) -> None:
        """Forget what was written: the next apply writes every chain and jump again."""
        with self._lock:
            self._last = ""

    def _ensure_jumps(self) -> None:
        for table, chain, rule in _jumps(self.tag):
            if _ipt("-t", table, "-C", chain, *rule).returncode != 0:
                r = _ipt("-t", table, "-I", chain, "1", *rule)
                if r.returncode != 0:
                    raise RuntimeFailure(f"iptables: cannot hook {table}/{chain}: "
                                         + r.stderr.decode(errors="replace").strip()[:300])


def missing(tag: str, saved: str) -> list[str]:
    """The chains and jumps of ``tag`` absent from ``iptables-save`` output."""
    c = chain_names(tag)
    out = []
    table = ""
    declared: set[tuple[str, str]] = set()
    jumps: set[tuple[str, str, str]] = set()
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            declared.add((table, line[1:].split(" ", 1)[0]))
        elif line.startswith("-A "):
            parts = line.split()
            if "-j" in parts and parts.index("-j") + 1 < len(parts):
                jumps.add((table, parts[1], parts[parts.index("-j") + 1]))
    for table, names in (("filter", (c["fwd"], c["iso1"], c["iso2"])),
                         ("nat", (c["dnat"], c["post"]))):
        out += [f"{table}/{n}" for n in names if (table, n) not in declared]
    for table, chain, rule in _jumps(tag):
        if (table, chain, rule[-1]) not in jumps:
            out.append(f"{table}/{chain} -> {rule[-1]}")
    return out


def _ipt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["iptables", "-w", *args], capture_output=True)


def purge(tag: str) -> None:
    """Remove the jumps and chains of the daemon ``tag`` (teardown and tests)."""
    for table, chain, rule in _jumps(tag):
        for _ in range(10):
            if _ipt("-t", table, "-D", chain, *rule).returncode != 0:
                break
    c = chain_names(tag)
    for table, names in (("filter", (c["fwd"], c["iso1"], c["iso2"])),
                         ("nat", (c["dnat"], c["post"]))):
        for name in names:
            _ipt("-t", table, "-F", name)
        for name in names:
            _ipt("-t", table, "-X", name)


def rules_of(tag: str) -> list[str]:
    """Every iptables rule line that mentions the daemon's chains (leak checks)."""
    out = []
    for table in ("filter", "nat"):
        r = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        out += [ln for ln in r.stdout.splitlines()
                if ln.startswith("-A") and any(n in ln for n in chain_names(tag).values())]
    return out
