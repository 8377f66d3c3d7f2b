"""Server settings: defaults, then a config file (TOML or JSON), then command-line flags."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any

from ..errors import InvalidArgument

DEFAULT_ROOT = "/var/lib/dockyard/registry"


@dataclass
class Config:
    addr: str = "127.0.0.1:5000"
    root: str = DEFAULT_ROOT
    tls_cert: str | None = None
    tls_key: str | None = None
    auth: str | None = None  # "htpasswd:FILE" or "token:CONFIG"
    read_only: bool = False
    upload_max_age: float = 7 * 86400.0
    purge_interval: float = 3600.0
    log_level: str = "info"

    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InvalidArgument(f"invalid listen address {self.addr!r} (want HOST:PORT)")
        return (host.strip("[]") or "0.0.0.0"), int(port)

    def validate(self) -> None:
        self.host_port()
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidArgument("--tls-cert and --tls-key go together")
        for what, path in (("TLS certificate", self.tls_cert), ("TLS key", self.tls_key)):
            if path and not os.path.isfile(path):
                raise InvalidArgument(f"{what} not found: {path}")
        if self.auth is not None:
            kind, sep, arg = self.auth.partition(":")
            if kind not in ("htpasswd", "token") or not sep or not arg:
                raise InvalidArgument(f"invalid --auth {self.auth!r} "
                                      "(want htpasswd:FILE or token:CONFIG)")


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InvalidArgument(f"cannot read config {path}: {e.strerror}") from None
    try:
        if path.endswith(".json"):
            doc = json.loads(raw)
        else:
            import tomllib

            doc = tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"config {path}: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"config {path}: expected a table of settings")
    known = {f.name for f in fields(Config)}
    out = {}
    for k, v in doc.items():
        key = k.replace("-", "_")
        if key not in known:
            raise InvalidArgument(f"config {path}: unknown setting {k!r}")
        out[key] = v
    base = os.path.dirname(os.path.abspath(path))
    for key in ("root", "tls_cert", "tls_key"):
        if isinstance(out.get(key), str):
            out[key] = os.path.join(base, out[key])
    return out
