"""Remove every network trace of one daemon: its bridges (with the veths still on them) and
its iptables chains. Used by test teardown after the daemon was stopped or killed."""

from __future__ import annotations

from .firewall import purge
from .netlink import Netlink


def purge_daemon_network(root: str, bridge_name: str) -> None:
    nl = Netlink()
    try:
        bridges = set(nl.owned_links(root)) | ({bridge_name} if nl.index(bridge_name) else set())
        for name in sorted(bridges):
            for port in nl.ports_of(name):
                nl.delete_link(port)
            nl.delete_link(name)
    finally:
        nl.close()
    purge(bridge_name)


def leftovers(root: str, bridge_name: str) -> dict[str, list[str]]:
    """What of a daemon's network is still on the host (leak checks in tests)."""
    from .firewall import rules_of

    nl = Netlink()
    try:
        bridges = set(nl.owned_links(root))
        veths = [p for b in bridges for p in nl.ports_of(b)]
    finally:
        nl.close()
    return {"bridges": sorted(bridges), "veths": veths, "rules": rules_of(bridge_name)}
