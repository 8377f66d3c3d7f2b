"""A published port keeps working across a daemon SIGKILL and restart; create/start/rm cycles
with networking leave no veth, lease, iptables rule or mount behind."""

import os
import signal
import subprocess
import sys

from conftest import HTTPD, fetch, free_port

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from apiclient import json_request  # noqa: E402
from dockyard.network.cleanup import leftovers  # noqa: E402
from multicli import until  # noqa: E402


def _leases(d) -> list:
    """Endpoints with an address: a running container's leases (through inspect)."""
    status, nets = json_request(d.sock, "GET", "/networks")
    assert status == 200
    out = []
    for n in nets:
        status, full = json_request(d.sock, "GET", f"/networks/{n['Id']}")
        out += [c["IPv4Address"] for c in (full.get("Containers") or {}).values()
                if c["IPv4Address"]]
    return out


def test_published_port_survives_a_daemon_sigkill(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    port = free_port()
    r = d.cli("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
              HTTPD)
    assert r.returncode == 0, r.stderr
    body = fetch(f"http://127.0.0.1:{port}/index.html")
    r = d.cli("run", "-d", "--name", "gone", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    gone_id = r.stdout.decode().strip()
    assert len(_leases(d)) == 2
    d.stop(signal.SIGKILL)
    # While the daemon is down: kernel NAT still serves, and a container ends.
    assert fetch(f"http://127.0.0.1:{port}/index.html") == body
    subprocess.run(["runc", "--root", os.path.join(d.exec_root, "runtime", "runc"), "kill",
                    gone_id, "KILL"], check=True)
    d.start()
    assert fetch(f"http://127.0.0.1:{port}/index.html") == body
    until(lambda: d.cli("inspect", "-f", "{{.State.Status}}", "gone").stdout.strip()
          == b"exited", what="the stopped container seen as exited")
    assert len(_leases(d)) == 1  # its lease was freed, the live one kept
    assert d.cli("port", "web").stdout.decode().strip() == f"80/tcp -> 127.0.0.1:{port}"
    assert d.cli("rm", "-f", "gone").returncode == 0
    assert d.cli("rm", "-f", "web").returncode == 0
    until(lambda: not leftovers(d.root, d.bridge)["veths"], what="veths gone")
    left = leftovers(d.root, d.bridge)
    assert not any("--to-destination" in rule for rule in left["rules"]), left
    assert _leases(d) == []


def test_cycles_leave_nothing_behind(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    r = d.cli("network", "create", "cycles")
    assert r.returncode == 0, r.stderr
    before = leftovers(d.root, d.bridge)
    for i in range(200):
        body = {"Image": "busybox", "Cmd": ["true"],
                "HostConfig": {"NetworkMode": "cycles" if i % 2 else "bridge"}}
        if i % 10 == 0:
            body["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "127.0.0.1",
                                                               "HostPort": ""}]}
        status, made = json_request(d.sock, "POST", "/containers/create", body)
        assert status == 201, made
        cid = made["Id"]
        status, err = json_request(d.sock, "POST", f"/containers/{cid}/start")
        assert status == 204, err
        status, _ = json_request(d.sock, "POST", f"/containers/{cid}/wait")
        assert status == 200
        status, _ = json_request(d.sock, "DELETE", f"/containers/{cid}?force=1")
        assert status == 204
    until(lambda: not leftovers(d.root, d.bridge)["veths"], what="veths gone")
    after = leftovers(d.root, d.bridge)
    assert after["rules"] == before["rules"]
    assert after["bridges"] == before["bridges"]
    assert _leases(d) == []
    with open("/proc/self/mounts") as f:
        assert not [ln for ln in f if d.base in ln and "/rootfs/" in ln]
    assert d.cli("network", "rm", "cycles").returncode == 0
    assert leftovers(d.root, d.bridge)["bridges"] == sorted([d.bridge])
