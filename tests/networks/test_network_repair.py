"""Someone deletes the daemon's bridge, or its iptables chains, while it runs: the next
container start makes them again (address, up, the running containers' veths back on it;
chains and jumps), and containers get an address and reach each other and the host's
published ports as before."""

import ipaddress
import json
import os
import sys
import uuid

import pytest
from pyroute2 import IPRoute

from conftest import HTTPD, fetch, free_port, wget

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from daemonctl import Daemon  # noqa: E402
from dockyard.network.firewall import purge, rules_of  # noqa: E402
from multicli import until  # noqa: E402


@pytest.fixture(scope="module")
def own_daemon():
    """A daemon of this module's own: its bridge and chains get deleted here."""
    d = Daemon()
    try:
        d.start()
        d.import_busybox()
        yield d
    finally:
        d.teardown()


def _delete_link(name: str) -> None:
    with IPRoute() as ipr:
        for idx in ipr.link_lookup(ifname=name):
            ipr.link("del", index=idx)


def _bridge_state(name: str) -> tuple[bool, list[str]]:
    """(up, IPv4 addresses with prefix) of the link ``name``."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        assert found, f"bridge {name} does not exist"
        link = ipr.get_links(found[0])[0]
        addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                 for a in ipr.get_addr(index=found[0], family=2)]
    return bool(link["flags"] & 1), addrs


def _log(d) -> str:
    with open(d.log_path, errors="replace") as f:
        return f.read()


def _run(d, *args: str) -> str:
    r = d.cli(*args)
    assert r.returncode == 0, r.stderr.decode() + d.log()
    return r.stdout.decode().strip()


def test_deleted_default_bridge_is_made_again(own_daemon):
    d = own_daemon
    name = "srv-" + uuid.uuid4().hex[:6]
    _run(d, "run", "-d", "--name", name, "busybox", "sh", "-c", HTTPD)
    try:
        ip = _run(d, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
        host = _run(d, "inspect", "-f", "{{.Config.Hostname}}", name)
        _delete_link(d.bridge)
        # a new container gets an address on the bridge's subnet and reaches the one that
        # was running when the bridge went
        out = _run(d, "run", "--rm", "busybox", "sh", "-c",
                   "ip -4 -o addr show eth0 && " + wget(f"http://{ip}/")[2])
        addr = out.split()[3]
        assert ipaddress.ip_interface(addr).network == ipaddress.ip_interface(d.bip).network
        assert out.splitlines()[-1] == f"hello-{host}"
        up, addrs = _bridge_state(d.bridge)
        assert up and addrs == [d.bip]
        assert "was deleted behind the daemon" in _log(d)
    finally:
        d.cli("rm", "-f", name)


def test_deleted_user_bridge_keeps_names_resolving(own_daemon):
    d = own_daemon
    net = "rep-" + uuid.uuid4().hex[:6]
    name = "srv-" + uuid.uuid4().hex[:6]
    _run(d, "network", "create", net)
    try:
        _run(d, "run", "-d", "--name", name, "--network", net, "busybox", "sh", "-c", HTTPD)
        host = _run(d, "inspect", "-f", "{{.Config.Hostname}}", name)
        bridge = "br-" + _run(d, "network", "inspect", "-f", "{{.Id}}", net)[:12]
        _delete_link(bridge)
        out = _run(d, "run", "--rm", "--network", net, "busybox", *wget(f"http://{name}/"))
        assert out == f"hello-{host}"
        up, addrs = _bridge_state(bridge)
        subnet = json.loads(_run(d, "network", "inspect", net))[0]["IPAM"]["Config"][0]["Subnet"]
        assert up and len(addrs) == 1
        assert ipaddress.ip_interface(addrs[0]).network == ipaddress.ip_network(subnet)
    finally:
        d.cli("rm", "-f", name)
        d.cli("network", "rm", net)


def test_removed_chains_are_installed_again(own_daemon):
    d = own_daemon
    name = "web-" + uuid.uuid4().hex[:6]
    port = free_port()
    purge(d.bridge)
    assert rules_of(d.bridge) == []
    _run(d, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
         HTTPD)
    try:
        assert fetch(f"http://127.0.0.1:{port}/").startswith("hello-")
        rules = rules_of(d.bridge)
        assert any("--to-destination" in r for r in rules)
        assert any(r.startswith("-A FORWARD") for r in rules)
        assert "iptables chains of the daemon were removed" in _log(d)
    finally:
        d.cli("rm", "-f", name)


def test_removed_chains_come_back_with_plain_starts(own_daemon):
    """Containers that publish nothing also bring the chains back (a throttled check after
    their attach), so outgoing NAT and forwarding work again."""
    d = own_daemon
    purge(d.bridge)

    def started_and_repaired() -> bool:
        _run(d, "run", "--rm", "busybox", "true")
        return any(r.startswith("-A FORWARD") for r in rules_of(d.bridge))

    until(started_and_repaired, timeout=30, what="the chains installed again")
    rules = rules_of(d.bridge)
    assert any("MASQUERADE" in r for r in rules)
    assert any(r.startswith("-A POSTROUTING") for r in rules)
