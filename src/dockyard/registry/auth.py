"""Access control: anonymous, htpasswd basic, and a built-in bearer token issuer.

Requests are turned into the scopes they need (``repository:NAME:pull``, …); an authorizer
either admits them or answers with the spec's ``WWW-Authenticate`` challenge. Tokens are
HS256 JWTs signed with a key the registry keeps, carrying docker's ``access`` claim.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from .errors import RegistryError
from .htpasswd import Htpasswd

ACTIONS = ("pull", "push", "delete")


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """``repository:a/b:pull,push``; None for anything malformed (ignored, as docker does)."""
    parts = text.split(":")
    if len(parts) < 3:
        return None
    typ, actions = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    if not typ or not name:
        return None
    return Scope(typ, name, tuple(a for a in actions.split(",") if a))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        user, sep, pw = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, pw) if sep else None


@dataclass
class AclEntry:
    account: str  # "*" any authenticated user, "" anonymous, else the user name
    name: str  # repository glob
    actions: tuple[str, ...]


@dataclass
class TokenConfig:
    htpasswd: str
    realm: str | None = None
    service: str = "dockyard-registry"
    issuer: str = "dockyard-registry"
    key: bytes = b""
    ttl: int = 300
    acl: list[AclEntry] = field(default_factory=list)

    @classmethod
    def load(cls, path: str, root: str) -> TokenConfig:
        """JSON (``.json``) or TOML config; a signing key is created under ``root`` if absent."""
        with open(path, "rb") as f:
            raw = f.read()
        try:
            if path.endswith(".json"):
                doc = json.loads(raw)
            else:
                import tomllib

                doc = tomllib.loads(raw.decode())
        except ValueError as e:
            raise InvalidArgument(f"token config {path}: {e}") from None
        if not isinstance(doc, dict) or "htpasswd" not in doc:
            raise InvalidArgument(f"token config {path}: 'htpasswd' is required")
        base = os.path.dirname(os.path.abspath(path))
        acl = []
        for e in doc.get("acl", []):
            acts = tuple(e.get("actions", []))
            if "*" in acts:
                acts = ACTIONS
            acl.append(AclEntry(str(e.get("account", "*")), str(e.get("name", "*")), acts))
        if not doc.get("acl"):
            acl = [AclEntry("*", "*", ACTIONS)]
        key = doc.get("key", "").encode() or _load_key(os.path.join(root, "token.key"))
        return cls(htpasswd=os.path.join(base, doc["htpasswd"]), realm=doc.get("realm"),
                   service=doc.get("service", cls.service), issuer=doc.get("issuer", cls.issuer),
                   key=key, ttl=int(doc.get("ttl", 300)), acl=acl)


def _load_key(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        from ..util import atomic_write

        os.makedirs(os.path.dirname(path), exist_ok=True)
        key = secrets.token_bytes(32)
        atomic_write(path, key, mode=0o600)
        return key


class Authorizer:
    """Anonymous access: everything is allowed."""

    def check(self, authorization: str | None, needed: list[Scope], base_url: str) -> str | None:
        """Return the account name (None for anonymous) or raise UNAUTHORIZED/DENIED."""
        return None


class BasicAuthorizer(Authorizer):
    def __init__(self, htpasswd_path: str, realm: str = "dockyard-registry"):
        self.users = Htpasswd(htpasswd_path)
        self.realm = realm

    def check(self, authorization: str | None, needed: list[Scope], base_url: str) -> str | None:
        creds = _basic(authorization)
        if creds is None or not self.users.verify(*creds):
            raise RegistryError("UNAUTHORIZED", headers={
                "WWW-Authenticate": f'Basic realm="{self.realm}"'})
        return creds[0]


class TokenAuthorizer(Authorizer):
    """Registry side and issuer side of docker's token protocol, in one process."""

    def __init__(self, cfg: TokenConfig):
        self.cfg = cfg
        self.users = Htpasswd(cfg.htpasswd)

    # -- issuer ----------------------------------------------------------------------------------

    def granted(self, account: str | None, scope: Scope) -> tuple[str, ...]:
        if scope.type == "registry":
            if scope.name == "catalog" and account is not None and any(
                    e.account in ("*", account) for e in self.cfg.acl if e.name == "*"):
                return tuple(a for a in scope.actions if a == "*")
            return ()
        if scope.type != "repository":
            return ()
        allowed: set[str] = set()
        for e in self.cfg.acl:
            who_ok = (e.account == "" and account is None) or (
                account is not None and e.account in ("*", account))
            if who_ok and fnmatch.fnmatchcase(scope.name, e.name):
                allowed.update(e.actions)
        return tuple(a for a in scope.actions if a in allowed)

    def issue(self, authorization: str | None, scopes: list[Scope],
              form: dict[str, str] | None = None) -> dict[str, Any]:
        """The ``/token`` endpoint; raises UNAUTHORIZED for bad credentials."""
        account: str | None = None
        creds = _basic(authorization)
        if form and form.get("grant_type") == "password":
            creds = (form.get("username", ""), form.get("password", ""))
        if creds is not None:
            if not self.users.verify(*creds):
                raise RegistryError("UNAUTHORIZED", "invalid username or password")
            account = creds[0]
        access = []
        for s in scopes:
            acts = self.granted(account, s)
            if acts:
                access.append({"type": s.type, "name": s.name, "actions": list(acts)})
        now = int(time.time())
        claims = {"iss": self.cfg.issuer, "sub": account or "", "aud": self.cfg.service,
                  "iat": now, "nbf": now - 5, "exp": now + self.cfg.ttl,
                  "jti": secrets.token_hex(8), "access": access}
        token = self._sign(claims)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token, "expires_in": self.cfg.ttl,
                "issued_at": issued}

    def _sign(self, claims: dict[str, Any]) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.cfg.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        try:
            head, body, sig = token.split(".")
            want = hmac.new(self.cfg.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _unb64(sig)):
                return None
            if json.loads(_unb64(head)).get("alg") != "HS256":
                return None
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError, AttributeError):
            return None
        now = time.time()
        if not isinstance(claims, dict) or claims.get("aud") != self.cfg.service:
            return None
        if not (claims.get("nbf", 0) <= now < claims.get("exp", 0)):
            return None
        return claims

    # -- registry side ---------------------------------------------------------------------------

    def challenge(self, base_url: str, needed: list[Scope], error: str | None = None) -> str:
        realm = self.cfg.realm or f"{base_url}/token"
        h = f'Bearer realm="{realm}",service="{self.cfg.service}"'
        if needed:
            h += f',scope="{" ".join(str(s) for s in needed)}"'
        if error:
            h += f',error="{error}"'
        return h

    def check(self, authorization: str | None, needed: list[Scope], base_url: str) -> str | None:
        claims = None
        if authorization and authorization[:7].lower() == "bearer ":
            claims = self._verify(authorization[7:].strip())
        if claims is None:
            raise RegistryError("UNAUTHORIZED", headers={
                "WWW-Authenticate": self.challenge(base_url, needed)})
        have: dict[tuple[str, str], set[str]] = {}
        for a in claims.get("access") or []:
            if isinstance(a, dict):
                have.setdefault((str(a.get("type")), str(a.get("name"))), set()).update(
                    str(x) for x in a.get("actions") or [])
        for s in needed:
            got = have.get((s.type, s.name), set())
            if not all(a in got or "*" in got for a in s.actions):
                # 401 (not 403) so that clients fetch a wider token and retry, as docker does
                raise RegistryError(
                    "UNAUTHORIZED", "insufficient scope: " + str(s), detail=[
                        {"Type": s.type, "Name": s.name, "Action": a} for a in s.actions],
                    headers={"WWW-Authenticate": self.challenge(base_url, needed,
                                                                "insufficient_scope")})
        return claims.get("sub") or None
