"""dockyard's own: publishing and unpublishing a port of a running container."""

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
