"""docker-py's network calls and containers.run with ports behave against dockyard as against
Docker."""

import uuid

import docker as dockersdk
import pytest

from conftest import HTTPD, fetch, free_port


@pytest.fixture
def client(daemon):
    c = dockersdk.DockerClient(base_url=daemon.host, version="1.43")
    made: list = []
    yield c, made
    for obj in reversed(made):
        try:
            obj.remove(force=True) if hasattr(obj, "status") else obj.remove()
        except dockersdk.errors.APIError:
            pass
    c.close()


def test_network_lifecycle_and_live_connect(client):
    c, made = client
    name = "py-" + uuid.uuid4().hex[:8]
    ipam = dockersdk.types.IPAMConfig(pool_configs=[
        dockersdk.types.IPAMPool(subnet="10.97.31.0/24", gateway="10.97.31.1")])
    net = c.networks.create(name, driver="bridge", ipam=ipam, labels={"k": "v"})
    made.append(net)
    net.reload()
    assert net.name == name
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.97.31.0/24"
    assert net.attrs["Labels"] == {"k": "v"}
    assert name in [n.name for n in c.networks.list(names=[name])]
    ctr = c.containers.run("busybox", ["sleep", "120"], detach=True)
    made.append(ctr)
    net.connect(ctr, aliases=["pyalias"], ipv4_address="10.97.31.77")
    net.reload()
    assert ctr.id in net.attrs["Containers"]
    assert net.attrs["Containers"][ctr.id]["IPv4Address"] == "10.97.31.77/24"
    ctr.reload()
    assert ctr.attrs["NetworkSettings"]["Networks"][name]["IPAddress"] == "10.97.31.77"
    code, out = ctr.exec_run(["ip", "-4", "addr"])
    assert code == 0 and b"10.97.31.77/24" in out
    with pytest.raises(dockersdk.errors.APIError) as e:
        net.remove()
    assert e.value.status_code == 403
    net.disconnect(ctr)
    net.reload()
    assert ctr.id not in net.attrs["Containers"]
    code, out = ctr.exec_run(["ip", "-4", "addr"])
    assert b"10.97.31.77" not in out
    net.remove()
    made.remove(net)
    with pytest.raises(dockersdk.errors.NotFound):
        c.networks.get(name)


def test_containers_run_with_ports(client):
    c, made = client
    port = free_port()
    ctr = c.containers.run("busybox", ["sh", "-c", HTTPD], detach=True,
                           ports={"80/tcp": ("127.0.0.1", port)})
    made.append(ctr)
    ctr.reload()
    assert ctr.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert fetch(f"http://127.0.0.1:{port}/index.html").startswith("hello-")


def test_networks_prune(client):
    c, made = client
    keep, gone = "py-" + uuid.uuid4().hex[:8], "py-" + uuid.uuid4().hex[:8]
    kept = c.networks.create(keep, labels={"keep": "1"})
    made.append(kept)
    c.networks.create(gone)
    res = c.networks.prune(filters={"label!": "keep"})
    assert gone in res["NetworksDeleted"] and keep not in res["NetworksDeleted"]
    assert c.networks.get(keep).name == keep
