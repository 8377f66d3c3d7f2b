"""htpasswd files with bcrypt entries, as docker-registry and Apache read them."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import bcrypt

from ..errors import InvalidArgument
from ..util import atomic_write


def _read(path: str) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith(b"#") or b":" not in line:
                    continue
                user, _, hashed = line.partition(b":")
                users[user.decode("utf-8", "replace")] = hashed
    except FileNotFoundError:
        pass
    return users


def _write(path: str, users: dict[str, bytes]) -> None:
    data = b"".join(u.encode() + b":" + h + b"\n" for u, h in sorted(users.items()))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, data, mode=0o600)


def _check_user(user: str) -> None:
    if not user or ":" in user or any(c.isspace() for c in user) or len(user) > 255:
        raise InvalidArgument(f"invalid user name: {user!r}")


def add_user(path: str, user: str, password: str, rounds: int = 10) -> None:
    """Add or replace a user; the hash is written with Apache's ``$2y$`` prefix."""
    _check_user(user)
    if not password:
        raise InvalidArgument("password must not be empty")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds))
    if hashed.startswith(b"$2b$"):
        hashed = b"$2y$" + hashed[4:]
    users = _read(path)
    users[user] = hashed
    _write(path, users)


def remove_user(path: str, user: str) -> bool:
    users = _read(path)
    if user not in users:
        return False
    del users[user]
    _write(path, users)
    return True


class Htpasswd:
    """Checks credentials; reloads the file when it changes, caches good checks briefly
    (bcrypt costs tens of milliseconds; a pull makes dozens of requests)."""

    CACHE_SECONDS = 300.0

    def __init__(self, path: str):
        self.path = path
        self._mtime = -1.0
        self._users: dict[str, bytes] = {}
        self._ok: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime != self._mtime:
            self._users = _read(self.path)
            self._mtime = mtime
            self._ok.clear()

    def verify(self, user: str, password: str) -> bool:
        with self._lock:
            self._refresh()
            hashed = self._users.get(user)
        if hashed is None:
            return False
        key = (user, hashlib.sha256(password.encode() + b"\0" + hashed).digest())
        exp = self._ok.get(key)
        if exp is not None and exp > time.monotonic():
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            self._ok[key] = time.monotonic() + self.CACHE_SECONDS
        return ok
