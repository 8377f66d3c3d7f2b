"""htpasswd basic auth and the built-in token issuer, with real clients where it matters."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse

import pytest

from .ocilayout import Layout
from .test_clients import skopeo

PASSWORDS = {"alice": "alice-Secret-77", "bob": "bob-Secret-88"}


def _basic(user: str) -> dict[str, str]:
    tok = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {tok}"}


def registry_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard.registry", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def htpasswd(tmp_path) -> str:
    path = str(tmp_path / "auth" / "htpasswd")
    for user, pw in PASSWORDS.items():
        p = registry_cli("user", "add", user, "--htpasswd", path, "--password-stdin",
                         stdin=pw + "\n")
        assert p.returncode == 0, p.stderr
    return path


def _assert_no_secrets(log: str) -> None:
    for user, pw in PASSWORDS.items():
        assert pw not in log
        assert base64.b64encode(f"{user}:{pw}".encode()).decode() not in log


def test_user_add_writes_bcrypt_and_rm_removes(htpasswd):
    lines = open(htpasswd).read().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["alice", "bob"]
    assert all(ln.split(":", 1)[1].startswith("$2y$") for ln in lines)
    assert registry_cli("user", "rm", "bob", "--htpasswd", htpasswd).returncode == 0
    assert [ln.split(":")[0] for ln in open(htpasswd).read().splitlines()] == ["alice"]
    p = registry_cli("user", "rm", "bob", "--htpasswd", htpasswd)
    assert p.returncode == 1 and "no such user" in p.stderr


def test_htpasswd_basic_auth(make_registry, htpasswd, tmp_path):
    reg = make_registry("--auth", f"htpasswd:{htpasswd}")
    r = reg.req("GET", "/v2/")
    assert r.status == 401 and r.code() == "UNAUTHORIZED"
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert reg.req("GET", "/v2/", headers={"Authorization": "Basic " + base64.b64encode(
        b"alice:wrong").decode()}).status == 401
    assert reg.req("GET", "/v2/", headers=_basic("alice")).status == 200
    assert reg.req("POST", "/v2/x/blobs/uploads/").status == 401
    src = Layout(str(tmp_path / "src"))
    src.tag(src.image([{"f": b"basic"}]), "v1")
    dest = f"docker://{reg.host}/secure/app:v1"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORDS['alice']}",
           f"oci:{src.path}:v1", dest)
    p = subprocess.run(["skopeo", "--insecure-policy", "inspect", "--tls-verify=false", dest],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0  # anonymous pull refused
    skopeo("inspect", "--tls-verify=false", "--creds", f"bob:{PASSWORDS['bob']}", dest)
    _assert_no_secrets(reg.log())


@pytest.fixture
def token_registry(make_registry, htpasswd, tmp_path):
    cfg = tmp_path / "auth" / "token.toml"
    cfg.write_text(
        'htpasswd = "htpasswd"\nservice = "test-registry"\n'
        '[[acl]]\naccount = "alice"\nname = "*"\nactions = ["pull", "push", "delete"]\n'
        '[[acl]]\naccount = "bob"\nname = "*"\nactions = ["pull"]\n'
        '[[acl]]\naccount = ""\nname = "public/*"\nactions = ["pull"]\n')
    return make_registry("--auth", f"token:{cfg}")


def _token(reg, user: str | None, scope: str) -> str:
    q = urllib.parse.urlencode({"service": "test-registry", "scope": scope})
    r = reg.req("GET", f"/token?{q}", headers=_basic(user) if user else {})
    assert r.status == 200, r.body
    return r.json()["token"]


def test_token_challenge_and_scopes(token_registry):
    reg = token_registry
    r = reg.req("GET", "/v2/")
    assert r.status == 401
    chal = r.headers["WWW-Authenticate"]
    assert chal.startswith(f'Bearer realm="http://{reg.host}/token",service="test-registry"')
    r = reg.req("POST", "/v2/team/app/blobs/uploads/")
    assert 'scope="repository:team/app:pull,push"' in r.headers["WWW-Authenticate"]
    bad = base64.b64encode(b"alice:nope").decode()
    assert reg.req("GET", "/token?service=test-registry",
                   headers={"Authorization": f"Basic {bad}"}).status == 401
    # bob asks for push but is granted pull only
    tok = _token(reg, "bob", "repository:team/app:pull,push")
    claims = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {tok}"}
    r = reg.req("POST", "/v2/team/app/blobs/uploads/", headers=bearer)
    assert r.status == 401 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert reg.req("GET", "/v2/team/app/tags/list", headers=bearer).status == 404  # allowed
    # a token for one repository does not open another
    assert reg.req("GET", "/v2/other/tags/list", headers=bearer).status == 401
    # alice may push
    tok = _token(reg, "alice", "repository:team/app:pull,push")
    r = reg.req("POST", "/v2/team/app/blobs/uploads/",
                headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 202
    # forged token
    forged = tok.rsplit(".", 1)[0] + ".AAAA"
    assert reg.req("GET", "/v2/", headers={"Authorization": f"Bearer {forged}"}).status == 401
    # anonymous gets only what the ACL gives anonymous users
    anon = _token(reg, None, "repository:team/app:pull repository:public/x:pull")
    claims = json.loads(base64.urlsafe_b64decode(anon.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]


def test_token_auth_with_skopeo(token_registry, tmp_path):
    reg = token_registry
    src = Layout(str(tmp_path / "src"))
    src.tag(src.image([{"f": b"token"}]), "v1")
    dest = f"docker://{reg.host}/team/app:v1"
    p = subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                        "--dest-creds", f"bob:{PASSWORDS['bob']}", f"oci:{src.path}:v1", dest],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0, "a pull-only user must not be able to push"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORDS['alice']}",
           f"oci:{src.path}:v1", dest)
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", f"bob:{PASSWORDS['bob']}", dest,
           f"oci:{out}:v1")
    assert os.path.exists(out / "index.json")
    _assert_no_secrets(reg.log())


def test_tls_serving_with_skopeo(make_registry, tmp_path):
    import shutil as _sh
    import ssl
    import urllib.request

    if _sh.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    reg = make_registry("--tls-cert", str(cert), "--tls-key", str(key))
    ctx = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://{reg.host}/v2/", context=ctx) as r:
        assert r.status == 200 and r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    certs = tmp_path / "certs.d"
    certs.mkdir()
    _sh.copy(cert, certs / "ca.crt")
    src = Layout(str(tmp_path / "src"))
    src.tag(src.image([{"f": b"over tls"}]), "v1")
    dest = f"docker://{reg.host}/tls/app:v1"
    skopeo("copy", "--dest-cert-dir", str(certs), f"oci:{src.path}:v1", dest)
    out = tmp_path / "out"
    skopeo("copy", "--src-cert-dir", str(certs), dest, f"oci:{out}:v1")
    assert os.path.exists(out / "index.json")


def test_login_with_token_auth(token_registry, tmp_path):
    """What ``docker login`` does: /v2/ challenge, /token with basic credentials, retry."""
    reg = token_registry
    authfile = str(tmp_path / "auth.json")
    p = subprocess.run(["skopeo", "login", "--tls-verify=false", "--authfile", authfile,
                        "-u", "alice", "--password-stdin", reg.host],
                       input=PASSWORDS["alice"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["skopeo", "login", "--tls-verify=false", "--authfile", authfile,
                        "-u", "alice", "--password-stdin", reg.host],
                       input="wrong", capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    _assert_no_secrets(reg.log())
