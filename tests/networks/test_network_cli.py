"""Networks as a user sees them, from the dockyard CLI and both docker CLIs: published ports
served to the host's loopback, names and aliases on user networks, live connect/disconnect,
internal networks, and the errors Docker gives."""

import json

from conftest import HTTPD, fetch, free_port, wget


def test_published_port_serves_a_file_to_the_host(cli, names):
    name, port = names(), free_port()
    cli.ok("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
           HTTPD)
    assert fetch(f"http://127.0.0.1:{port}/index.html").startswith("hello-")
    assert cli.ok("port", name).strip() == f"80/tcp -> 127.0.0.1:{port}"
    assert cli.ok("port", name, "80").strip() == f"127.0.0.1:{port}"
    assert f"127.0.0.1:{port}->80/tcp" in cli.ok("ps", "--filter", f"name={name}")
    # The same host port again: Docker's error at start, exit 125.
    r = cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert r.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in r.stderr.decode()


def test_publish_all_exposed_ports_gets_random_host_ports(cli, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--expose", "80", "-P", "busybox", "sh", "-c", HTTPD)
    line = cli.ok("port", name, "80").strip().splitlines()[0]
    host_port = int(line.rsplit(":", 1)[1])
    assert host_port > 0
    assert fetch(f"http://127.0.0.1:{host_port}/index.html").startswith("hello-")


def test_containers_on_a_user_network_find_each_other_by_name_and_alias(cli, names, nets):
    net, server = nets(), names()
    cli.ok("network", "create", net)
    cli.ok("run", "-d", "--name", server, "--network", net, "--network-alias", "web",
           "busybox", "sh", "-c", HTTPD)
    for host in (server, "web"):
        r = cli("run", "--rm", "--network", net, "busybox", *wget(f"http://{host}/index.html"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().startswith("hello-")
    out = cli.ok("run", "--rm", "--network", net, "busybox", "nslookup", server)
    ip = json.loads(cli.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                           server))[net]["IPAddress"]
    assert ip and ip in out
    # In use: refused; the network goes once its containers did.
    r = cli("network", "rm", net)
    assert r.returncode != 0 and "active endpoints" in r.stderr.decode()
    cli.ok("rm", "-f", server)
    cli.ok("network", "rm", net)
    assert net not in cli.ok("network", "ls")


def test_default_bridge_has_no_name_resolution(cli, names):
    server = names()
    cli.ok("run", "-d", "--name", server, "busybox", "sleep", "60")
    r = cli("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", server)
    assert r.returncode != 0


def test_connect_and_disconnect_a_running_container(cli, names, nets):
    net, server, client = nets(), names(), names()
    cli.ok("network", "create", net)
    cli.ok("run", "-d", "--name", server, "--network", net, "busybox", "sh", "-c", HTTPD)
    cli.ok("run", "-d", "--name", client, "busybox", "sleep", "120")
    url = f"http://{server}/index.html"
    assert cli("exec", client, *wget(url, tries=1)).returncode != 0
    cli.ok("network", "connect", "--alias", "cl", net, client)
    assert cli.ok("exec", client, *wget(url)).startswith("hello-")
    nets_json = cli.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", client)
    assert net in nets_json and "bridge" in nets_json
    cli.ok("network", "disconnect", net, client)
    assert cli("exec", client, *wget(url, tries=1)).returncode != 0
    assert net not in cli.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", client)


def test_internal_network_has_no_route_out(cli, nets):
    net = nets()
    cli.ok("network", "create", "--internal", "--subnet", "10.99.77.0/24", net)
    routes = cli.ok("run", "--rm", "--network", net, "busybox", "ip", "route")
    assert "default" not in routes and "10.99.77.0/24" in routes
    assert '"Internal": true' in cli.ok("network", "inspect", net)


def test_ip_hostname_add_host_dns(cli, names, nets):
    net = nets()
    cli.ok("network", "create", "--subnet", "10.98.76.0/24", "--gateway", "10.98.76.254", net)
    out = cli.ok("run", "--rm", "--network", net, "--ip", "10.98.76.50", "--hostname", "box",
                 "--add-host", "db.example:10.1.2.3", "--dns", "10.9.9.9", "busybox", "sh",
                 "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; "
                       "hostname")
    assert "10.98.76.50/24" in out
    assert "default via 10.98.76.254" in out
    assert "10.1.2.3\tdb.example" in out and "10.98.76.50\tbox" in out
    assert "nameserver 10.9.9.9" in out and "127.0.0" not in out.split("nameserver")[1]
    assert out.strip().endswith("box")


def test_network_ls_inspect_filters_and_errors(cli, nets):
    net = nets()
    nid = cli.ok("network", "create", "--label", "team=net", net).strip()
    assert cli.ok("network", "ls", "-q", "--filter", "label=team=net").split() == [nid[:12]]
    names_out = cli.ok("network", "ls", "--format", "{{.Name}}").split()
    assert {"bridge", "host", "none", net} <= set(names_out)
    assert cli.ok("network", "inspect", "-f", "{{.Driver}} {{.Scope}}", net).strip() == \
        "bridge local"
    r = cli("network", "create", net)
    assert r.returncode != 0 and "already exists" in r.stderr.decode()
    r = cli("network", "rm", "bridge")
    assert r.returncode != 0 and "pre-defined network" in r.stderr.decode()
    r = cli("run", "--rm", "--network", "no-such-net-x", "busybox", "true")
    assert r.returncode != 0 and "not found" in r.stderr.decode()
    if not cli.name.startswith("docker-20."):  # docker 20.10's CLI drops --ip on "default"
        r = cli("run", "--rm", "--ip", "10.1.1.1", "busybox", "true")
        assert r.returncode != 0 and "user defined networks only" in r.stderr.decode()


def test_host_none_and_container_network_modes(cli, names):
    out = cli.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert "eth0" not in out and "lo" in out
    host_links = cli.ok("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert "eth0" in host_links or len(host_links.splitlines()) > 2
    first = names()
    cli.ok("run", "-d", "--name", first, "busybox", "sleep", "60")
    ip = cli.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", first).strip()
    out = cli.ok("run", "--rm", "--network", f"container:{first}", "busybox", "ip", "-4",
                 "addr")
    assert ip and ip in out


def test_stats_show_network_io(cli, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "busybox", "sleep", "60")
    gw = cli.ok("inspect", "-f", "{{.NetworkSettings.Gateway}}", name).strip()
    cli.ok("exec", name, "ping", "-c", "3", "-s", "1000", gw)
    out = cli.ok("stats", "--no-stream", "--format", "{{.NetIO}}", name).strip()
    assert out and not out.startswith("0B /"), out


def test_ps_filters_by_network_and_published_port(cli, names, nets):
    net, a, b, port = nets(), names(), names(), free_port()
    cli.ok("network", "create", net)
    cli.ok("run", "-d", "--name", a, "--network", net, "busybox", "sleep", "60")
    cli.ok("run", "-d", "--name", b, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60")
    assert cli.ok("ps", "--format", "{{.Names}}", "--filter", f"network={net}").split() == [a]
    assert cli.ok("ps", "--format", "{{.Names}}", "--filter", f"publish={port}").split() == [b]
    assert cli.ok("ps", "--format", "{{.Names}}", "--filter", "expose=80").split() == [b]
