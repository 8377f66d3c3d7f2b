"""Registry credentials and ``WWW-Authenticate`` challenges (anonymous, Basic, Bearer).

Clients send credentials in ``X-Registry-Auth`` (base64url JSON, as the docker CLI does) or in
the body of ``POST /auth``; they live only for the request that carries them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from ..errors import InvalidArgument


@dataclass(frozen=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token from an earlier login
    registry_token: str = ""  # a bearer token to send as is

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.identity_token or self.registry_token)

    @classmethod
    def from_dict(cls, d: dict | None) -> AuthConfig:
        if not isinstance(d, dict):
            return cls()
        user, pw = str(d.get("username") or ""), str(d.get("password") or "")
        if not user and d.get("auth"):
            try:
                user, _, pw = base64.b64decode(str(d["auth"])).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidArgument("invalid auth in registry credentials") from None
        return cls(user, pw, str(d.get("identitytoken") or ""),
                   str(d.get("registrytoken") or ""))

    @classmethod
    def from_header(cls, value: str | None) -> AuthConfig:
        """Decode ``X-Registry-Auth``; docker sends ``{}``-like junk when not logged in."""
        if not value or not value.strip():
            return cls()
        raw = value.strip()
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            doc = json.loads(data)
        except (binascii.Error, ValueError):
            try:  # some clients send plain JSON
                doc = json.loads(raw)
            except ValueError:
                return cls()
        return cls.from_dict(doc)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenges(header: str | None) -> list[Challenge]:
    """``Bearer realm="…",service="…",scope="…"`` (one challenge per scheme is enough here)."""
    if not header:
        return []
    out: list[Challenge] = []
    for m in re.finditer(r"(?:^|,)\s*(Basic|Bearer)\b(.*?)(?=,\s*(?:Basic|Bearer)\b|$)",
                         header, re.IGNORECASE | re.DOTALL):
        params = {k.lower(): (q if q is not None and q != "" else (v or "")).replace('\\"', '"')
                  for k, q, v in _PARAM.findall(m.group(2))}
        out.append(Challenge(m.group(1).lower(), params))
    return out


def basic_header(auth: AuthConfig) -> str:
    token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
    return f"Basic {token}"
