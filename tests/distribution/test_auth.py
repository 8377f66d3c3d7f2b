"""Login, logout and authenticated push/pull: htpasswd basic auth (docker-registry), bearer
tokens (dockyard's registry), credentials in config.json or a credential helper."""

from __future__ import annotations

import base64
import os
import stat
import sys

import pytest
from distkit import (
    DOCKERS,
    DockerRegistry,
    DockyardRegistry,
    inspect,
    load_random,
    make_client,
    write_htpasswd,
)

CLIENTS = ["dockyard", *DOCKERS]


@pytest.fixture
def basic_registry(servers, workdir) -> DockerRegistry:
    path = write_htpasswd(os.path.join(workdir, "htpasswd"), {"alice": "s3cret"})
    return servers(DockerRegistry).start(htpasswd=path)


@pytest.fixture
def token_registry(servers, workdir) -> DockyardRegistry:
    write_htpasswd(os.path.join(workdir, "htpasswd"), {"alice": "s3cret", "bob": "bobpw"})
    cfg = os.path.join(workdir, "token.toml")
    with open(cfg, "w") as f:
        f.write('htpasswd = "htpasswd"\nservice = "test-registry"\n'
                '[[acl]]\naccount = "alice"\nname = "*"\nactions = ["pull", "push"]\n'
                '[[acl]]\naccount = "bob"\nname = "*"\nactions = ["pull"]\n')
    return servers(DockyardRegistry).start("--auth", f"token:{cfg}")


@pytest.mark.parametrize("kind", CLIENTS)
def test_basic_auth_login_push_pull_logout(daemon, dy, kind, basic_registry, workdir):
    cli = make_client(kind, daemon, workdir)
    host = basic_registry.host
    ref = f"{host}/private/app:v1"
    image_id = load_random(dy, ref, [20_000])

    r = cli("push", ref)
    assert r.returncode == 1
    assert "no basic auth credentials" in r.stderr.decode() + r.stdout.decode()

    r = cli("login", "-u", "alice", "--password-stdin", host, input=b"wrong\n")
    assert r.returncode == 1
    assert r.stderr.decode().strip().endswith(
        f"Error response from daemon: login attempt to http://{host}/v2/ failed with "
        "status: 401 Unauthorized")
    assert host not in cli.config().get("auths", {})

    out = cli.ok("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n")
    assert "Login Succeeded" in out
    entry = cli.config()["auths"][host]
    assert base64.b64decode(entry["auth"]).decode() == "alice:s3cret"

    cli.ok("push", ref)
    dy.ok("rmi", ref)
    cli.ok("pull", ref)
    assert inspect(dy, ref)["Id"] == image_id

    assert f"Removing login credentials for {host}" in cli.ok("logout", host)
    assert host not in cli.config().get("auths", {})
    r = cli("pull", ref)
    assert r.returncode == 1
    dy.ok("rmi", ref)


@pytest.mark.parametrize("kind", CLIENTS)
def test_token_auth(daemon, dy, kind, token_registry, workdir):
    cli = make_client(kind, daemon, workdir)
    host = token_registry.host
    ref = f"{host}/team/tok:v1"
    load_random(dy, ref, [20_000])

    r = cli("login", "-u", "alice", "-p", "nope", host)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert f'Error response from daemon: Get "http://{host}/v2/": unauthorized' in err, err

    r = cli("push", ref)  # anonymous: no token grants push
    assert r.returncode == 1

    cli.ok("login", "-u", "bob", "--password-stdin", host, input=b"bobpw\n")
    r = cli("push", ref)  # bob may only pull
    assert r.returncode == 1

    cli.ok("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n")
    cli.ok("push", ref)
    dy.ok("rmi", ref)
    cli.ok("pull", ref)
    cli.ok("logout", host)
    r = cli("pull", ref.replace(":v1", ":v2"))
    assert r.returncode == 1
    assert "pull access denied" in r.stderr.decode() + r.stdout.decode()
    dy.ok("rmi", ref)


HELPER = r'''#!{python}
import json, os, sys
store = os.environ["DYTEST_STORE"]
data = json.load(open(store)) if os.path.exists(store) else {{}}
action = sys.argv[1]
raw = sys.stdin.read()
if action == "store":
    doc = json.loads(raw)
    data[doc["ServerURL"]] = [doc["Username"], doc["Secret"]]
elif action == "get":
    if raw.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    u, s = data[raw.strip()]
    print(json.dumps({{"ServerURL": raw.strip(), "Username": u, "Secret": s}}))
elif action == "erase":
    data.pop(raw.strip(), None)
json.dump(data, open(store, "w"))
'''


def test_credential_helper(daemon, dy, basic_registry, workdir):
    bindir = os.path.join(workdir, "bin")
    os.makedirs(bindir)
    helper = os.path.join(bindir, "docker-credential-dytest")
    with open(helper, "w") as f:
        f.write(HELPER.format(python=sys.executable))
    os.chmod(helper, stat.S_IRWXU)
    cli = make_client("dockyard", daemon, workdir)
    cli.env["PATH"] = bindir + os.pathsep + cli.env["PATH"]
    cli.env["DYTEST_STORE"] = os.path.join(workdir, "helper.json")
    with open(os.path.join(cli.config_dir, "config.json"), "w") as f:
        f.write('{"credsStore": "dytest"}')
    host = basic_registry.host
    ref = f"{host}/helper/app:v1"
    load_random(dy, ref, [5000])

    r = cli("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n")
    assert r.returncode == 0, r.stderr
    assert "stored unencrypted" not in r.stderr.decode()
    assert "auths" not in cli.config() or host not in cli.config()["auths"]
    import json

    assert json.load(open(cli.env["DYTEST_STORE"]))[host] == ["alice", "s3cret"]
    cli.ok("push", ref)
    cli.ok("logout", host)
    assert host not in json.load(open(cli.env["DYTEST_STORE"]))
    assert cli("push", ref).returncode == 1
    dy.ok("rmi", ref)
