"""Endpoint and IPAM details docker-py's own suite checks: IPAM echoed as asked, IPv6
networks (addresses on the bridge and in the container), endpoint Links / DriverOpts /
MacAddress / LinkLocalIPs, legacy --link variables and /etc/hosts, link removal, and a build
whose RUN steps join a user-defined network."""

import io
import subprocess
import uuid

import docker as dockersdk
import pytest


@pytest.fixture
def client(daemon):
    c = dockersdk.DockerClient(base_url=daemon.host, version="1.43")
    made: list = []
    yield c, made
    for obj in reversed(made):
        try:
            if isinstance(obj, str):
                c.images.remove(obj, force=True)
            elif hasattr(obj, "status"):
                obj.remove(force=True)
            else:
                obj.remove()
        except dockersdk.errors.APIError:
            pass
    c.close()


def _name(prefix: str = "ep") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_ipam_config_and_options_are_echoed_as_asked(client):
    c, made = client
    ipam = dockersdk.types.IPAMConfig(pool_configs=[dockersdk.types.IPAMPool(
        subnet="10.96.41.0/24", iprange="10.96.41.128/25", gateway="10.96.41.254",
        aux_addresses={"a": "10.96.41.5"})])
    net = c.networks.create(_name(), ipam=ipam)
    made.append(net)
    attrs = c.api.inspect_network(net.id)
    assert attrs["IPAM"] == {"Driver": "default", "Options": None, "Config": [{
        "Subnet": "10.96.41.0/24", "IPRange": "10.96.41.128/25", "Gateway": "10.96.41.254",
        "AuxiliaryAddresses": {"a": "10.96.41.5"}}]}
    assert attrs["EnableIPv6"] is False
    # a subnet without a gateway is shown without one (dockerd echoes the request)
    net2 = c.networks.create(_name(), ipam=dockersdk.types.IPAMConfig(
        pool_configs=[dockersdk.types.IPAMPool(subnet="10.96.42.0/24")],
        options={"o": "1"}))
    made.append(net2)
    attrs = c.api.inspect_network(net2.id)
    assert attrs["IPAM"]["Config"] == [{"Subnet": "10.96.42.0/24"}]
    assert attrs["IPAM"]["Options"] == {"o": "1"}
    # no IPAM at all: the chosen pool, with its gateway
    net3 = c.networks.create(_name())
    made.append(net3)
    cfg = c.api.inspect_network(net3.id)["IPAM"]["Config"]
    assert len(cfg) == 1 and set(cfg[0]) == {"Subnet", "Gateway"}


def _bridge_of(net_id: str) -> str:
    return f"br-{net_id[:12]}"


def test_ipv6_network_addresses_bridge_and_container(client):
    c, made = client
    ipam = dockersdk.types.IPAMConfig(pool_configs=[dockersdk.types.IPAMPool(
        subnet="fd00:d0c:41::/64", gateway="fd00:d0c:41::ffff")])
    name = _name()
    net = c.networks.create(name, enable_ipv6=True, ipam=ipam)
    made.append(net)
    attrs = c.api.inspect_network(net.id)
    assert attrs["EnableIPv6"] is True
    assert attrs["IPAM"]["Config"][-1] == {"Subnet": "fd00:d0c:41::/64",
                                           "Gateway": "fd00:d0c:41::ffff"}
    assert attrs["IPAM"]["Config"][0]["Subnet"]  # an IPv4 pool is chosen as well
    out = subprocess.run(["ip", "-6", "addr", "show", "dev", _bridge_of(net.id)],
                         capture_output=True, text=True).stdout
    assert "fd00:d0c:41::ffff/64" in out
    ctr = c.containers.create("busybox", ["sleep", "120"], network=name)
    made.append(ctr)
    c.api.disconnect_container_from_network(ctr.id, name)
    c.api.connect_container_to_network(ctr.id, name, ipv6_address="fd00:d0c:41::f00d")
    ctr.start()
    ctr.reload()
    ep = ctr.attrs["NetworkSettings"]["Networks"][name]
    assert ep["IPAMConfig"] == {"IPv6Address": "fd00:d0c:41::f00d"}
    assert ep["GlobalIPv6Address"] == "fd00:d0c:41::f00d"
    assert ep["GlobalIPv6PrefixLen"] == 64 and ep["IPv6Gateway"] == "fd00:d0c:41::ffff"
    code, out = ctr.exec_run(["ip", "-6", "addr", "show", "dev", "eth0"])
    assert code == 0 and b"fd00:d0c:41::f00d/64" in out
    code, out = ctr.exec_run(["ip", "-6", "route"])
    assert b"default via fd00:d0c:41::ffff" in out
    net_attrs = c.api.inspect_network(net.id)
    assert net_attrs["Containers"][ctr.id]["IPv6Address"] == "fd00:d0c:41::f00d/64"
    # a second container gets the lowest free address of the pool, reaches the first over
    # IPv6 and finds its IPv6 address through the embedded DNS (AAAA)
    other = c.containers.run("busybox", ["sh", "-c", "ip -6 addr show dev eth0 && "
                                         "ping -6 -c1 -W5 fd00:d0c:41::f00d && "
                                         f"nslookup -type=aaaa {ctr.name}"],
                             network=name, detach=True)
    made.append(other)
    assert other.wait()["StatusCode"] == 0, other.logs()
    logs = other.logs()
    assert b"fd00:d0c:41::1/64" in logs and b"1 packets received" in logs
    assert b"Address: fd00:d0c:41::f00d" in logs


def test_ipv6_address_on_a_network_without_ipv6_is_refused(client):
    c, made = client
    name = _name()
    made.append(c.networks.create(name))
    with pytest.raises(dockersdk.errors.NotFound) as e:  # no default IPv6 pools, as dockerd
        c.networks.create(_name(), enable_ipv6=True)
    assert "IPv6 address pool" in str(e.value)
    # an IPv6 pool without EnableIPv6 is recorded (and shown) but not used
    plain = c.networks.create(_name(), ipam=dockersdk.types.IPAMConfig(pool_configs=[
        dockersdk.types.IPAMPool(subnet="10.96.47.0/24"),
        dockersdk.types.IPAMPool(subnet="fd00:d0c:47::/64")]))
    made.append(plain)
    attrs = c.api.inspect_network(plain.id)
    assert attrs["EnableIPv6"] is False
    assert attrs["IPAM"]["Config"] == [{"Subnet": "10.96.47.0/24"},
                                       {"Subnet": "fd00:d0c:47::/64"}]
    with pytest.raises(dockersdk.errors.APIError) as e:
        c.api.create_container("busybox", "true", host_config=c.api.create_host_config(
            network_mode=name), networking_config=c.api.create_networking_config(
            {name: c.api.create_endpoint_config(ipv6_address="fd00::5")}))
    assert e.value.status_code == 400


def test_endpoint_settings_are_echoed_and_mac_applied(client):
    c, made = client
    name = _name()
    made.append(c.networks.create(name))
    ctr = c.containers.create("busybox", ["sleep", "120"])
    made.append(ctr)
    c.api.connect_container_to_network(ctr.id, name, mac_address="02:42:ac:11:00:02",
                                       links=[("upstream", "up")],
                                       link_local_ips=["169.254.8.8"])
    ep = c.api.inspect_container(ctr.id)["NetworkSettings"]["Networks"][name]
    assert ep["MacAddress"] == "02:42:ac:11:00:02"
    assert ep["Links"] == ["upstream:up"]
    assert ep["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
    ctr.start()
    code, out = ctr.exec_run(["cat", "/sys/class/net/eth1/address"])
    assert code == 0 and out.strip() == b"02:42:ac:11:00:02"
    bridge = c.api.inspect_container(ctr.id)["NetworkSettings"]["Networks"]["bridge"]
    assert bridge["DriverOpts"] is None and bridge["Links"] is None
    with pytest.raises(dockersdk.errors.APIError) as e:
        c.api.create_container("busybox", "true", mac_address="zz:42")
    assert e.value.status_code == 400


def test_driver_opts_and_config_mac_address(client):
    c, made = client
    res = c.api.create_container(
        "busybox", ["sleep", "120"], mac_address="02:42:ac:11:00:0a",
        host_config=c.api.create_host_config(network_mode="bridge"),
        networking_config=c.api.create_networking_config(
            {"bridge": c.api.create_endpoint_config(driver_opt={"com.example.x": "on"})}))
    ctr = c.containers.get(res["Id"])
    made.append(ctr)
    ctr.start()
    ns = c.api.inspect_container(ctr.id)["NetworkSettings"]
    assert ns["MacAddress"] == "02:42:ac:11:00:0a"
    assert ns["Networks"]["bridge"]["DriverOpts"] == {"com.example.x": "on"}
    code, out = ctr.exec_run(["cat", "/sys/class/net/eth0/address"])
    assert out.strip() == b"02:42:ac:11:00:0a"


def test_legacy_links_env_hosts_and_removal(client):
    c, made = client
    child = c.containers.run("busybox", ["sleep", "120"], environment={"FOO": "1"},
                             ports={"80/tcp": None}, detach=True, name=_name("child"))
    made.append(child)
    child.reload()
    ip = child.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    parent_name = _name("parent")
    parent = c.containers.run("busybox", ["sh", "-c", "env; cat /etc/hosts; sleep 120"],
                              links={child.name: "my-db"}, detach=True, name=parent_name)
    made.append(parent)
    for _ in range(100):
        logs = parent.logs().decode()
        if "localhost" in logs:
            break
        subprocess.run(["sleep", "0.1"])
    assert f"MY_DB_NAME=/{parent_name}/my-db" in logs
    assert "MY_DB_ENV_FOO=1" in logs and "MY_DB_ENV_PATH" not in logs
    assert f"MY_DB_PORT=tcp://{ip}:80" in logs
    assert f"MY_DB_PORT_80_TCP_ADDR={ip}" in logs and "MY_DB_PORT_80_TCP_PROTO=tcp" in logs
    assert f"{ip}\tmy-db" in logs and child.name in logs
    c.api.remove_container(f"{parent_name}/my-db", link=True)
    parent.reload()
    assert not parent.attrs["HostConfig"]["Links"]
    assert {ctr.id for ctr in c.containers.list(all=True)} >= {parent.id, child.id}
    with pytest.raises(dockersdk.errors.NotFound) as e:
        c.api.remove_container(f"{parent_name}/my-db", link=True)
    assert f"No such container: {parent_name}/my-db" in str(e.value)
    # without link=1, parent/alias names the linked container itself (dockerd's link names)
    other = c.containers.create("busybox", "true", links={child.name: "kid"}, name=_name("p2"))
    made.append(other)
    with pytest.raises(dockersdk.errors.APIError) as e:
        c.api.remove_container(f"{other.name}/kid")
    assert e.value.status_code == 409  # the child runs
    c.api.remove_container(f"{other.name}/kid", force=True)
    with pytest.raises(dockersdk.errors.NotFound):
        child.reload()
    with pytest.raises(dockersdk.errors.APIError) as e:
        c.containers.create("busybox", "true", links={"no-such-child-x": "x"})
    assert e.value.status_code == 400
    assert "could not get container for no-such-child-x" in str(e.value)
    # dockerd refuses the start when the linked container is stopped or on another network
    stopped = c.containers.create("busybox", "true", name=_name("stopped"))
    made.append(stopped)
    late = c.containers.create("busybox", "true", links={stopped.name: "s"})
    made.append(late)
    with pytest.raises(dockersdk.errors.APIError) as e:
        late.start()
    assert f"Cannot link to a non running container: /{stopped.name} AS /{late.name}/s" \
        in str(e.value)
    late.reload()
    assert late.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ""


def test_user_network_link_alias_resolves(client):
    c, made = client
    name = _name()
    made.append(c.networks.create(name))
    up = _name("up")
    ctr = c.containers.run("busybox", ["sleep", "120"], detach=True, network=name,
                           networking_config={name: c.api.create_endpoint_config(
                               links=[(up, "bar")])})
    made.append(ctr)
    target = c.containers.run("busybox", ["sleep", "120"], detach=True, network=name,
                              name=up)
    made.append(target)
    target.reload()
    ip = target.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
    code, out = ctr.exec_run(["nslookup", "bar"])
    assert code == 0 and ip.encode() in out


def test_build_runs_steps_on_a_named_network(client, daemon):
    c, made = client
    name = _name()
    net = c.networks.create(name)
    made.append(net)
    target = c.containers.run("busybox", ["sleep", "120"], detach=True)
    made.append(target)
    net.connect(target, aliases=["pingtarget.example"])
    tag = _name("netbuild")
    made.append(tag)
    script = b"FROM busybox\nRUN ping -c1 -W5 pingtarget.example\n"
    out = list(c.api.build(fileobj=io.BytesIO(script), network_mode=name, tag=tag,
                           decode=True))
    assert not any("error" in o for o in out), out
    assert c.images.get(tag)
    logs = list(c.api.build(fileobj=io.BytesIO(script), network_mode="none", nocache=True,
                            decode=True))
    assert logs[-1]["errorDetail"]["code"] == 1
    logs = list(c.api.build(fileobj=io.BytesIO(script), network_mode="no-such-net-x",
                            nocache=True, decode=True))
    assert "error" in logs[-1] and "no-such-net-x" in logs[-1]["error"]


def test_cli_link_mac_address_and_ip6(cli, names, nets):
    child = names()
    cli.ok("run", "-d", "--name", child, "-e", "FOO=bar", "busybox", "sleep", "120")
    # docker 28's CLI sends --mac-address per endpoint, which needs API 1.44 (we serve 1.43)
    mac = [] if cli.name.startswith("docker-28") else ["--mac-address", "02:42:0a:0b:0c:0d"]
    out = cli.ok("run", "--rm", "--link", f"{child}:kid", *mac, "busybox", "sh", "-c",
                 "env; cat /etc/hosts /sys/class/net/eth0/address")
    assert "KID_ENV_FOO=bar" in out and "KID_NAME=/" in out and "\tkid " in out
    assert not mac or "02:42:0a:0b:0c:0d" in out
    r = cli("run", "--rm", "--link", "no-such-ctr-x:kid", "busybox", "true")
    assert r.returncode != 0
    net = nets()
    cli.ok("network", "create", "--ipv6", "--subnet", "fd00:d0c:43::/64", net)
    out = cli.ok("run", "--rm", "--network", net, "--ip6", "fd00:d0c:43::43", "busybox",
                 "ip", "-6", "addr", "show", "dev", "eth0")
    assert "fd00:d0c:43::43/64" in out


def test_auxiliary_addresses_are_reserved(client):
    c, made = client
    name = _name()
    made.append(c.networks.create(name, ipam=dockersdk.types.IPAMConfig(pool_configs=[
        dockersdk.types.IPAMPool(subnet="10.96.44.0/24", aux_addresses={"r": "10.96.44.2"})])))
    ctr = c.containers.run("busybox", ["ip", "-4", "addr", "show", "dev", "eth0"],
                           network=name, detach=True)
    made.append(ctr)
    assert ctr.wait()["StatusCode"] == 0
    assert b"10.96.44.3/24" in ctr.logs()
    with pytest.raises(dockersdk.errors.APIError) as e:
        c.networks.create(_name(), ipam=dockersdk.types.IPAMConfig(pool_configs=[
            dockersdk.types.IPAMPool(subnet="10.96.45.0/24",
                                     aux_addresses={"r": "10.96.46.2"})]))
    assert e.value.status_code == 400 and "aux-address" in str(e.value)


@pytest.mark.parametrize("path,body", [
    ("/networks/create", {"IPAM": {"Config": [{"Subnet": "10.96.51.0/24",
                                                "AuxiliaryAddresses": ["x"]}]}}),
    ("/networks/create", {"IPAM": {"Options": "x"}}),
    ("/networks/create", {"EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "fd00:d0c:51::/64", "Gateway": "10.0.0.1"}]}}),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Links": 5}}),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Links": [":"]}}),
    ("/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {
        "bridge": {"Links": "x"}}}}),
    ("/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {
        "bridge": {"IPAMConfig": {"LinkLocalIPs": "x"}}}}}),
    ("/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {
        "bridge": {"DriverOpts": {"a": 1}}}}}),
])
def test_malformed_network_fields_are_one_line_400s(daemon, path, body):
    from apiclient import json_request

    if path == "/networks/create":
        body = dict(body, Name=_name("bad"))
    status, out = json_request(daemon.sock, "POST", "/v1.43" + path, body)
    assert status == 400 and "\n" not in out["message"], out
