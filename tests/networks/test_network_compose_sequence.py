"""The Engine API sequence of docker-compose 1.29 (raw docker-py low-level calls): a labelled
user network, a container created on it with aliases and published ports, its network
disconnected and connected again (and a second network connected) between create and start.
The daemon prepares a container's runtime right after create; the published ports, addresses
and names must follow what the records say at start, not what they said at create."""

import json
import os
import subprocess
import time
import uuid

import docker as dockersdk
import pytest

from conftest import HTTPD, fetch, free_port, wget


def _runc_state(daemon, cid: str) -> str:
    out = subprocess.run(["runc", "--root", os.path.join(daemon.exec_root, "runtime", "runc"),
                          "state", cid], capture_output=True, text=True)
    return json.loads(out.stdout)["status"] if out.returncode == 0 else ""


def _wait_prepared(daemon, cid: str, timeout: float = 20) -> None:
    """The runtime the daemon creates ahead of the start exists (runc says 'created')."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _runc_state(daemon, cid) == "created":
            return
        time.sleep(0.05)
    raise AssertionError("the daemon never prepared the container's runtime")


@pytest.fixture
def api(daemon):
    c = dockersdk.APIClient(base_url=daemon.host, version="1.43")
    made: dict[str, list[str]] = {"containers": [], "networks": []}
    yield c, made
    for cid in made["containers"]:
        try:
            c.remove_container(cid, force=True)
        except dockersdk.errors.APIError:
            pass
    for nid in made["networks"]:
        try:
            c.remove_network(nid)
        except dockersdk.errors.APIError:
            pass
    c.close()


def test_compose_sequence_publishes_and_resolves(api, daemon):
    c, made = api
    project = "cp" + uuid.uuid4().hex[:6]
    net = f"{project}_default"
    other = f"{project}_other"
    for name in (net, other):
        made["networks"].append(c.create_network(name, driver="bridge", labels={
            "com.docker.compose.project": project,
            "com.docker.compose.network": name.split("_", 1)[1]})["Id"])
    fixed = free_port()
    web = c.create_container(
        "busybox", ["sh", "-c", HTTPD], name=f"{project}_web_1", hostname="web",
        ports=[80], labels={"com.docker.compose.project": project},
        host_config=c.create_host_config(
            network_mode=net, port_bindings={80: [("127.0.0.1",), ("127.0.0.1", fixed)]}),
        networking_config=c.create_networking_config(
            {net: c.create_endpoint_config(aliases=["web"])}))["Id"]
    made["containers"].append(web)
    _wait_prepared(daemon, web)
    # compose: the short id is not among the aliases yet, so disconnect and connect again
    c.disconnect_container_from_network(web, net)
    c.connect_container_to_network(web, net, aliases=["web", web[:12]])
    c.connect_container_to_network(web, other, aliases=["web-other"])
    c.start(web)

    ports = c.inspect_container(web)["NetworkSettings"]["Ports"]["80/tcp"]
    assert {p["HostIp"] for p in ports} == {"127.0.0.1"}
    auto = next(int(p["HostPort"]) for p in ports if int(p["HostPort"]) != fixed)
    for port in (auto, fixed):
        assert fetch(f"http://127.0.0.1:{port}/").strip() == "hello-web"

    # the addresses inspect reports are the ones the container has, on both networks
    nets = c.inspect_container(web)["NetworkSettings"]["Networks"]
    assert set(nets) == {net, other}
    out = c.exec_start(c.exec_create(web, ["ip", "-4", "-o", "addr"])["Id"]).decode()
    for name in (net, other):
        assert nets[name]["IPAddress"] and f"{nets[name]['IPAddress']}/" in out

    # a second service finds it by its alias on each network
    for name, alias in ((net, "web"), (other, "web-other")):
        client = c.create_container(
            "busybox", wget(f"http://{alias}/"),
            host_config=c.create_host_config(network_mode=name))["Id"]
        made["containers"].append(client)
        c.start(client)
        assert c.wait(client, timeout=60)["StatusCode"] == 0
        assert c.logs(client).decode().strip() == "hello-web"


def test_disconnect_before_start_leaves_no_address(api, daemon):
    """A container created on a network and disconnected from it before its start has
    only loopback (the prepared runtime's endpoint is not kept)."""
    c, made = api
    net = "cp" + uuid.uuid4().hex[:6]
    made["networks"].append(c.create_network(net, driver="bridge")["Id"])
    ctr = c.create_container("busybox", ["sleep", "60"],
                             host_config=c.create_host_config(network_mode=net))["Id"]
    made["containers"].append(ctr)
    _wait_prepared(daemon, ctr)
    c.disconnect_container_from_network(ctr, net)
    c.start(ctr)
    out = c.exec_start(c.exec_create(ctr, ["ip", "-4", "-o", "addr"])["Id"]).decode()
    assert [ln.split()[1] for ln in out.splitlines()] == ["lo"]
    assert c.inspect_network(net)["Containers"] == {}
