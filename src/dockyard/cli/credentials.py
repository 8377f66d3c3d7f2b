"""Registry credentials as the docker CLI keeps them: ``~/.docker/config.json`` (``auths`` with
base64 ``user:password``), or a credential helper (``credsStore``/``credHelpers`` →
``docker-credential-NAME get|store|erase`` speaking JSON on stdin/stdout).

The CLI reads them and sends them to the daemon in ``X-Registry-Auth``, as docker does.
"""

from __future__ import annotations

import binascii
import os

from dockyard.cli.base import CLIError
from dockyard.client import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HUB_SERVER = "https://index.docker.io/v1/"
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes, urlsafe: bool = False) -> str:
    """base64 via binascii: the ``base64`` module imports ``re`` (CLI start-up)."""
    out = binascii.b2a_base64(data, newline=False)
    return (out.translate(_URLSAFE) if urlsafe else out).decode()


def _unb64(text: str) -> bytes:
    return binascii.a2b_base64(text.encode())


def config_dir() -> str:
    """``--config``, else $DOCKER_CONFIG, else ~/.docker (as contexts and certs)."""
    from dockyard.cli.connect import config_dir as _dir

    return _dir()


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def load_config() -> dict[str, Any]:
    try:
        with open(config_path(), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CLIError(f"loading config file: {e.strerror}: {config_path()}", 1) from None
    if not data.strip():
        return {}
    try:
        doc = loads(data)
    except Exception:  # noqa: BLE001 - any decode failure is one message
        raise CLIError(f"loading config file: {config_path()}: invalid JSON", 1) from None
    return doc if isinstance(doc, dict) else {}


def save_config(doc: dict[str, Any]) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_pretty(doc) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _pretty(doc: Any, indent: str = "") -> str:
    """Tab-indented JSON like the docker CLI writes (the client's encoder is compact)."""
    inner = indent + "\t"
    if isinstance(doc, dict):
        if not doc:
            return "{}"
        items = [f"{inner}{dumps(str(k))}: {_pretty(v, inner)}" for k, v in doc.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(doc, list):
        if not doc:
            return "[]"
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in doc) + "\n" + indent + "]"
    return dumps(doc)


def server_key(registry: str) -> str:
    """The ``auths`` key of a registry: docker.io → ``https://index.docker.io/v1/``."""
    host = _host(registry)
    return HUB_SERVER if host in ("docker.io", "index.docker.io", "registry-1.docker.io") \
        else host


def _host(server: str) -> str:
    s = server.strip()
    for p in ("https://", "http://"):
        if s.startswith(p):
            s = s[len(p):]
    return s.split("/", 1)[0]


def registry_of(image: str) -> str:
    """The registry part of an image name, docker's way (``busybox`` → docker.io)."""
    name = image.split("@", 1)[0]
    first, sep, _rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _helper(doc: dict[str, Any], key: str) -> str | None:
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict) and helpers.get(_host(key)):
        return str(helpers[_host(key)])
    store = doc.get("credsStore")
    return str(store) if store else None


def _run_helper(name: str, action: str, data: str) -> str:
    import subprocess

    prog = f"docker-credential-{name}"
    try:
        p = subprocess.run([prog, action], input=data.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CLIError(f"error getting credentials - err: exec: \"{prog}\": executable file "
                       "not found in $PATH", 1) from None
    text = p.stdout.decode("utf-8", "replace").strip()
    if p.returncode != 0:
        if "credentials not found" in text.lower():
            return ""
        raise CLIError(f"error {action}ing credentials - err: {prog} {action} failed: "
                       f"{text or p.stderr.decode('utf-8', 'replace').strip()}", 1)
    return text


def get(registry: str) -> dict[str, str]:
    """``{"username","password","serveraddress"}`` (or an identity token); empty if none."""
    doc = load_config()
    key = server_key(registry)
    helper = _helper(doc, key)
    if helper:
        text = _run_helper(helper, "get", key)
        if not text:
            return {}
        got = loads(text)
        user, secret = str(got.get("Username", "")), str(got.get("Secret", ""))
        if user == "<token>":
            return {"identitytoken": secret, "serveraddress": key}
        return {"username": user, "password": secret, "serveraddress": key}
    auths = doc.get("auths") or {}
    entry = None
    for k, v in auths.items():
        if server_key(k) == key and isinstance(v, dict):
            entry = v
            break
    if not entry:
        return {}
    out = {"serveraddress": key}
    if entry.get("auth"):
        try:
            user, _, pw = _unb64(str(entry["auth"])).decode().partition(":")
        except (ValueError, binascii.Error):
            raise CLIError(f"invalid auth for {key} in {config_path()}", 1) from None
        out.update(username=user, password=pw)
    if entry.get("identitytoken"):
        out["identitytoken"] = str(entry["identitytoken"])
    return out


def header_for(image_or_registry: str, is_image: bool = True) -> dict[str, str]:
    """The ``X-Registry-Auth`` header for an image's registry (``{}`` base64 when none)."""
    reg = registry_of(image_or_registry) if is_image else image_or_registry
    creds = get(reg)
    raw = dumps(creds).encode()
    return {"X-Registry-Auth": _b64(raw, urlsafe=True)}


def store(server: str, username: str, password: str, identity_token: str = "") -> str | None:
    """Save after a successful login; returns the file path when stored unencrypted."""
    doc = load_config()
    key = server_key(server)
    helper = _helper(doc, key)
    if helper:
        secret = identity_token or password
        _run_helper(helper, "store", dumps({"ServerURL": key,
                                            "Username": "<token>" if identity_token else username,
                                            "Secret": secret}))
        return None
    auths = doc.setdefault("auths", {})
    for k in [k for k in auths if server_key(k) == key and k != key]:
        del auths[k]
    entry: dict[str, str] = {"auth": _b64(f"{username}:{password}".encode())}
    if identity_token:
        entry = {"identitytoken": identity_token}
    auths[key] = entry
    save_config(doc)
    return config_path()


def erase(server: str) -> bool:
    """Forget a registry's credentials; False if there were none."""
    doc = load_config()
    key = server_key(server)
    helper = _helper(doc, key)
    found = False
    if helper:
        found = bool(_run_helper(helper, "get", key))
        if found:
            _run_helper(helper, "erase", key)
    auths = doc.get("auths") or {}
    for k in [k for k in auths if server_key(k) == key]:
        del auths[k]
        found = True
    if found:
        save_config(doc)
    return found
