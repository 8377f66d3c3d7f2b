"""dockyard's own: publishing and unpublishing a port of a running container."""

import json
import socket
import urllib.request

import pytest

from conftest import HTTPD, fetch, free_port


def test_port_add_and_rm_on_a_running_container(daemon, names):
    name, port = names(), free_port()
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sh", "-c", HTTPD)
    assert r.returncode == 0, r.stderr
    r = daemon.cli("port", "add", name, f"127.0.0.1:{port}:80")
    assert r.returncode == 0, r.stderr
    assert f"80/tcp -> 127.0.0.1:{port}" in r.stdout.decode()
    assert fetch(f"http://127.0.0.1:{port}/index.html").startswith("hello-")
    r = daemon.cli("port", "rm", name, f"127.0.0.1:{port}:80")
    assert r.returncode == 0, r.stderr
    assert daemon.cli("port", name).stdout.decode().strip() == ""
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2)
    r = daemon.cli("port", "rm", name, f"127.0.0.1:{port}:80")
    assert r.returncode != 0 and "not published" in r.stderr.decode()


def test_a_port_held_by_a_host_process_is_refused(daemon):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = daemon.cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert r.returncode == 125
        assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in \
            r.stderr.decode()
    finally:
        s.close()


def test_user_networks_are_isolated_from_each_other(daemon, names, nets):
    one, two, target = nets(), nets(), names()
    for n in (one, two):
        assert daemon.cli("network", "create", n).returncode == 0
    r = daemon.cli("run", "-d", "--name", target, "--network", two, "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    ip = daemon.cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", target).stdout
    addr = json.loads(ip)[two]["IPAddress"]
    same = daemon.cli("run", "--rm", "--network", two, "busybox", "ping", "-c", "1", "-W", "2",
                      addr)
    assert same.returncode == 0, same.stdout
    other = daemon.cli("run", "--rm", "--network", one, "busybox", "ping", "-c", "1", "-W", "2",
                       addr)
    assert other.returncode != 0
