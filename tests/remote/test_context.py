"""``dockyard context``: named endpoints with TLS material, shared with the docker CLI."""

from __future__ import annotations

import json
import os
import subprocess

from remotekit import CLEAN_ENV, run_cli


def _create(cfg: str, tls_daemon, pki, name: str = "remote") -> None:
    r = run_cli("context", "create", name, "--description", "the tls daemon", "--docker",
                f"host={tls_daemon.tcp},ca={pki.ca},cert={pki.cert},key={pki.key}",
                env={"DOCKER_CONFIG": cfg})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == f"{name}\n".encode()


def test_context_create_use_ls_inspect_rm(tls_daemon, pki, tmp_path):
    cfg = str(tmp_path)
    env = {"DOCKER_CONFIG": cfg}
    _create(cfg, tls_daemon, pki)
    # --context picks it for one call
    r = run_cli("--context", "remote", "run", "--rm", "busybox", "echo", "via context",
                env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"via context\n"
    # use makes it the default for later calls; ls marks it
    r = run_cli("context", "use", "remote", env=env)
    assert r.returncode == 0 and r.stdout == b"remote\n"
    assert json.load(open(os.path.join(cfg, "config.json")))["currentContext"] == "remote"
    r = run_cli("info", "--format", "{{.Swarm.LocalNodeState}}", env=env)
    assert r.stdout == b"inactive\n", r.stderr
    lines = run_cli("context", "ls", env=env).stdout.decode().splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
    assert lines[2].startswith("remote *") and tls_daemon.tcp in lines[2]
    assert run_cli("context", "show", env=env).stdout == b"remote\n"
    # -H still wins over the current context (as docker)
    r = run_cli("-H", tls_daemon.host, "ps", "-q", env=env)
    assert r.returncode == 0, r.stderr
    (info,) = json.loads(run_cli("context", "inspect", "remote", env=env).stdout)
    assert info["Endpoints"]["docker"] == {"Host": tls_daemon.tcp, "SkipTLSVerify": False}
    assert info["TLSMaterial"] == {"docker": ["ca.pem", "cert.pem", "key.pem"]}
    # the stored key is private
    key_path = os.path.join(info["Storage"]["TLSPath"], "docker", "key.pem")
    assert os.stat(key_path).st_mode & 0o077 == 0
    # removal of the context in use needs -f, then the default is current again
    r = run_cli("context", "rm", "remote", env=env)
    assert r.returncode == 1 and b"in use" in r.stderr
    r = run_cli("context", "rm", "-f", "remote", env=env)
    assert r.returncode == 0 and r.stdout == b"remote\n"
    assert run_cli("context", "show", env=env).stdout == b"default\n"
    assert not os.path.exists(info["Storage"]["MetadataPath"])
    r = run_cli("--context", "remote", "ps", env=env)
    assert r.returncode == 1 and b'context "remote" does not exist' in r.stderr


def test_docker_cli_uses_a_context_made_by_dockyard(tls_daemon, pki, tmp_path):
    cfg = str(tmp_path)
    _create(cfg, tls_daemon, pki, "shared")
    env = dict(CLEAN_ENV, DOCKER_CONFIG=cfg)
    r = subprocess.run(["docker", "--context", "shared", "run", "--rm", "busybox", "echo",
                        "docker via dockyard's context"], capture_output=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"docker via dockyard's context\n"
    r = subprocess.run(["docker", "context", "ls", "--format", "{{.Name}}"],
                       capture_output=True, env=env, timeout=60)
    assert b"shared" in r.stdout.split()


def test_context_errors(tmp_path):
    env = {"DOCKER_CONFIG": str(tmp_path)}
    r = run_cli("context", "create", "default", "--docker", "host=tcp://127.0.0.1:1", env=env)
    assert r.returncode == 1 and b"reserved" in r.stderr
    r = run_cli("context", "create", "c1", "--docker", "host=tcp://127.0.0.1:1,bogus=1",
                env=env)
    assert r.returncode == 1 and b"unrecognized config key: bogus" in r.stderr
    r = run_cli("context", "create", "c1", "--docker", "host=tcp://127.0.0.1:1,ca=/nonexistent",
                env=env)
    assert r.returncode == 1 and b"/nonexistent" in r.stderr
    assert run_cli("context", "use", "nope", env=env).returncode == 1
    assert run_cli("context", "--help", env=env).returncode == 0
    assert run_cli("context", "create", "--help", env=env).returncode == 0


def test_default_context_follows_the_environment(tls_daemon, pki, tmp_path):
    """--context default means DOCKER_HOST (and its TLS variables), as in docker."""
    env = {"DOCKER_CONFIG": str(tmp_path)}
    _create(str(tmp_path), tls_daemon, pki, "other")
    assert run_cli("context", "use", "other", env=env).returncode == 0
    r = run_cli("--context", "default", "ps", "-q",
                env={**env, "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1 and b"/nonexistent.sock" in r.stderr
    r = run_cli("ps", "-q", env={**env, "DOCKER_HOST": tls_daemon.host})
    assert r.returncode == 0, r.stderr  # DOCKER_HOST wins over the current context
