"""docker-compose 1.29 (Debian's, a Python client of the Engine API) runs a multi-service app
on dockyard: an image built from a context, a named volume, a user network where services
find each other by name, a port published on 127.0.0.1, health checks gating depends_on,
then logs, ps and down -v."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo stored-in-volume > /data/state && exec httpd -f -p 9000 -h /data"]
    volumes:
      - data:/data
    networks: [backend]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/state"]
      interval: 1s
      timeout: 3s
      retries: 30
  web:
    build: ./web
    image: composetest-web:{tag}
    ports:
      - "127.0.0.1:{port}:8080"
    networks: [backend]
    depends_on:
      db:
        condition: service_healthy
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ >/dev/null"]
      interval: 1s
      timeout: 3s
      retries: 30
  client:
    image: busybox
    networks: [backend]
    depends_on:
      web:
        condition: service_healthy
    command: ["sh", "-c", "wget -q -O- http://web:8080/ && wget -q -O- http://db:9000/state && echo client-done && exec sleep 3600"]
networks:
  backend: {{}}
volumes:
  data: {{}}
"""

DOCKERFILE = """\
FROM busybox
COPY index.html /www/index.html
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def project(daemon, tmp_path):
    """A compose project directory and a runner bound to the test daemon; down -v at the end."""
    tag = os.urandom(3).hex()
    port = _free_port()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "web" / "index.html").write_text(f"hello from web {tag}\n")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(port=port, tag=tag))
    name = f"ct{tag}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOCKER_", "COMPOSE_"))}
    env.update(DOCKER_HOST=daemon.host, COMPOSE_INTERACTIVE_NO_CLI="1",
               DOCKER_CONFIG=str(tmp_path / ".docker"))

    def compose(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(["docker-compose", "--ansi", "never", "-p", name, *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout)

    compose.name, compose.port, compose.tag = name, port, tag
    try:
        yield compose
    finally:
        compose("down", "-v", "--rmi", "local", "--remove-orphans")


def _wait_for_log(compose, service: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        logs = compose("logs", "--no-color", service).stdout
        if text in logs:
            return logs
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared in the logs of {service}:\n{logs}")


def test_compose_app_up_ps_logs_down(project, daemon):
    compose = project
    up = compose("up", "-d", "--build")
    assert up.returncode == 0, up.stdout + up.stderr

    # the published port answers from the host, on 127.0.0.1 only
    body = urllib.request.urlopen(f"http://127.0.0.1:{compose.port}/", timeout=10).read()
    assert body == f"hello from web {compose.tag}\n".encode()

    # the client found web and db by service name on the user network, and read the volume
    logs = _wait_for_log(compose, "client", "client-done")
    assert f"hello from web {compose.tag}" in logs and "stored-in-volume" in logs

    ps = compose("ps")
    assert ps.returncode == 0, ps.stderr
    rows = {line.split()[0]: line for line in ps.stdout.splitlines()[2:] if line.strip()}
    assert set(rows) == {f"{compose.name}_{s}_1" for s in ("db", "web", "client")}
    assert "(healthy)" in rows[f"{compose.name}_web_1"]
    assert "(healthy)" in rows[f"{compose.name}_db_1"]
    assert f"127.0.0.1:{compose.port}->8080/tcp" in rows[f"{compose.name}_web_1"]

    # compose's labels are on the containers; the named volume and network exist
    r = daemon.cli("ps", "--filter", f"label=com.docker.compose.project={compose.name}",
                   "--format", "{{.Names}}")
    assert len(r.stdout.split()) == 3
    assert daemon.cli("volume", "inspect", f"{compose.name}_data").returncode == 0

    down = compose("down", "-v")
    assert down.returncode == 0, down.stdout + down.stderr
    r = daemon.cli("ps", "-a", "--filter", f"label=com.docker.compose.project={compose.name}",
                   "-q")
    assert r.stdout == b""
    assert daemon.cli("volume", "inspect", f"{compose.name}_data").returncode != 0
    r = daemon.cli("network", "ls", "--format", "{{.Name}}")
    assert f"{compose.name}_backend" not in r.stdout.decode().split()
