"""HTTP to one registry: endpoint choice (TLS, plain HTTP for insecure hosts), the auth
handshake from ``WWW-Authenticate``, and registry errors turned into docker's wording.

Blocking ``http.client`` on purpose: pull and push run in worker threads that stream bodies
straight into hashing, decompression and tar extraction (all of which release the GIL or need
a plain file-like reader), and loopback registries answer in microseconds.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..errors import DockyardError, Forbidden, InvalidArgument, NotFound, Unauthorized, Unavailable
from .auth import AuthConfig, Challenge, basic_header, parse_challenges
from .options import Endpoint, RegistryOptions

TIMEOUT = 120.0
BLOCK = 1 << 20
USER_AGENT = "dockyard/0.1 (docker-compatible)"


def errcode_text(body: bytes) -> str:
    """``{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}`` → ``manifest unknown: …``."""
    try:
        doc = json.loads(body)
        errs = doc.get("errors") or []
        e = errs[0]
        code = str(e.get("code", "")).lower().replace("_", " ")
        msg = str(e.get("message") or "")
        return f"{code}: {msg}" if msg else code
    except (ValueError, AttributeError, IndexError, TypeError):
        text = body.decode("utf-8", "replace").strip()
        return text.splitlines()[0][:300] if text else ""


def registry_error(status: int, method: str, url: str, body: bytes,
                   default: str = "") -> DockyardError:
    """One exception class per status, docker's ``Method "url": errcode: message`` text."""
    text = errcode_text(body) or default or http.client.responses.get(status, str(status))
    cls: type[DockyardError]
    if status == 401:
        cls = Unauthorized
    elif status == 403:
        cls = Forbidden
    elif status == 404:
        cls = NotFound
    elif status in (429, 502, 503, 504):
        cls = Unavailable
    elif 400 <= status < 500:
        cls = InvalidArgument
    else:
        cls = DockyardError
    err = cls(f'{method.capitalize()} "{url}": {text}' if status in (401, 403) or status >= 500
              else text)
    err.status = status  # type: ignore[attr-defined]
    err.text = text  # type: ignore[attr-defined]
    return err


class Response:
    """A response whose body is read by the caller; closes its connection if left unread."""

    def __init__(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection,
                 url: str, pooled: bool, owner: Session):
        self.raw = resp
        self.conn = conn
        self.url = url
        self.status = resp.status
        self.headers = resp.headers
        self._pooled = pooled
        self._owner = owner

    def read(self, limit: int | None = None) -> bytes:
        if limit is not None:
            length = self.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                self.close()
                raise InvalidArgument(f"response from {self.url} is larger than {limit} bytes")
            data = self.raw.read(limit + 1)
            if len(data) > limit:
                self.close()
                raise InvalidArgument(f"response from {self.url} is larger than {limit} bytes")
            self.release()
            return data
        data = self.raw.read()
        self.release()
        return data

    def release(self) -> None:
        """Back to the thread's pool when fully read and reusable, else closed."""
        if self._pooled and self.raw.isclosed() and not self.raw.will_close:
            self._owner._put_conn(self.conn)
        else:
            self.raw.close()
            self.conn.close()

    def close(self) -> None:
        self.raw.close()
        self.conn.close()


class Session:
    """Requests to one repository of one registry endpoint, with its tokens cached."""

    def __init__(self, options: RegistryOptions, endpoint: Endpoint, repo: str,
                 auth: AuthConfig, actions: tuple[str, ...] = ("pull",)):
        self.options = options
        self.endpoint = endpoint
        self.repo = repo
        self.auth = auth
        self.actions = actions
        self.challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._ssl: ssl.SSLContext | None = None

    # -- connections ----------------------------------------------------------------------------

    def _new_conn(self, scheme: str, host: str) -> http.client.HTTPConnection:
        if scheme == "https":
            if self._ssl is None:
                self._ssl = self.options.ssl_context(host)
            return http.client.HTTPSConnection(host, timeout=TIMEOUT, context=self._ssl,
                                               blocksize=BLOCK)
        return http.client.HTTPConnection(host, timeout=TIMEOUT, blocksize=BLOCK)

    def _get_conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        return conn or self._new_conn(self.endpoint.scheme, self.endpoint.host)

    def _put_conn(self, conn: http.client.HTTPConnection) -> None:
        old = getattr(self._local, "conn", None)
        if old is not None:
            old.close()
        self._local.conn = conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- the handshake --------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: learn the auth scheme; an insecure host falls back to plain HTTP."""
        ep = self.endpoint
        try:
            resp = self._send("GET", "/v2/", {}, None, pooled=True, auth=False)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            if ep.scheme != "https" or not ep.insecure:
                raise Unavailable(f'Get "{ep.base}/v2/": {_reason(e, ep.host)}') from None
            self.endpoint = Endpoint("http", ep.host, ep.mirror, ep.insecure, ep.prefix)
            try:
                resp = self._send("GET", "/v2/", {}, None, pooled=True, auth=False)
            except OSError as e2:
                raise Unavailable(f'Get "{self.endpoint.base}/v2/": '
                                  f'{_reason(e2, ep.host)}') from None
            if not ep.mirror:
                self.options.remember_scheme(ep.host, "http")
        body = resp.read(1 << 16)
        if resp.status == 401:
            chals = parse_challenges(resp.headers.get("WWW-Authenticate"))
            self.challenge = next((c for c in chals if c.scheme == "bearer"),
                                  chals[0] if chals else None)
        elif resp.status >= 400:
            raise registry_error(resp.status, "GET", resp.url, body)

    def scope(self, extra: Iterable[str] = ()) -> str:
        scopes = [f"repository:{self.repo}:{','.join(self.actions)}", *extra]
        return " ".join(scopes)

    def _token(self, challenge: Challenge, scope: str, force: bool = False) -> str:
        with self._lock:
            if not force and scope in self._tokens:
                return self._tokens[scope]
        if self.auth.registry_token:
            return self.auth.registry_token
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise Unauthorized(f"invalid token realm {realm!r} in the registry's challenge")
        q: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            q.append(("service", challenge.params["service"]))
        for s in scope.split():
            q.append(("scope", s))
        headers = {"User-Agent": USER_AGENT}
        body = None
        method = "GET"
        if self.auth.identity_token:
            method = "POST"
            form = q + [("grant_type", "refresh_token"), ("client_id", "dockyard"),
                        ("refresh_token", self.auth.identity_token)]
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            url = realm
        else:
            if self.auth.username:
                q.append(("account", self.auth.username))
                headers["Authorization"] = basic_header(self.auth)
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q)
        u = urllib.parse.urlsplit(url)
        conn = (http.client.HTTPSConnection(u.netloc, timeout=TIMEOUT,
                                            context=self.options.ssl_context(u.netloc))
                if u.scheme == "https" else http.client.HTTPConnection(u.netloc, timeout=TIMEOUT))
        try:
            path = u.path + ("?" + u.query if u.query else "")
            conn.request(method, path or "/", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read(1 << 20)
        except OSError as e:
            raise Unavailable(f'{method.capitalize()} "{url}": {_reason(e, u.netloc)}') from None
        finally:
            conn.close()
        if r.status != 200:
            raise registry_error(r.status, method, url, data, "unauthorized")
        try:
            doc = json.loads(data)
            token = str(doc.get("token") or doc.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise Unauthorized(f'{method.capitalize()} "{url}": no token in the answer')
        with self._lock:
            self._tokens[scope] = token
        return token

    def _authorization(self, scope: str, force: bool = False) -> str | None:
        ch = self.challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return None if self.auth.anonymous else basic_header(self.auth)
        return "Bearer " + self._token(ch, scope, force)

    # -- requests -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, headers: dict[str, str], body: Any,
              pooled: bool, auth: bool = True, scope: str | None = None,
              force_token: bool = False) -> Response:
        h = {"User-Agent": USER_AGENT, **headers}
        if auth:
            a = self._authorization(scope or self.scope(), force_token)
            if a:
                h["Authorization"] = a
        url = self.endpoint.base + path if path.startswith("/") else path
        if path.startswith("/"):
            target = self.endpoint.prefix + path
            conn = self._get_conn() if pooled else self._new_conn(self.endpoint.scheme,
                                                                   self.endpoint.host)
        else:  # an absolute Location (upload URLs, redirects)
            u = urllib.parse.urlsplit(path)
            target = u.path + ("?" + u.query if u.query else "")
            same = u.netloc == self.endpoint.host
            if not same:
                h.pop("Authorization", None)
            conn = self._new_conn(u.scheme, u.netloc)
            pooled = False
        if body is not None and "Content-Length" not in h and isinstance(body, bytes):
            h["Content-Length"] = str(len(body))
        try:
            conn.request(method, target, body=body, headers=h)
            r = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return Response(r, conn, url, pooled, self)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: Any = None, scope: str | None = None, pooled: bool = True,
                redirects: int = 5) -> Response:
        """Send with auth; a 401 with a fresh challenge gets one retry with a new token;
        redirects are followed (without our credentials when the host changes)."""
        headers = headers or {}
        replayable = body is None or isinstance(body, bytes)
        try:
            try:
                resp = self._send(method, path, headers, body, pooled, scope=scope)
            except (OSError, http.client.HTTPException):
                if not (pooled and replayable):
                    raise
                # a kept-alive connection the registry closed meanwhile: once more, fresh
                resp = self._send(method, path, headers, body, pooled, scope=scope)
        except (OSError, http.client.HTTPException) as e:
            url = self.endpoint.base + path if path.startswith("/") else path
            raise Unavailable(f'{method.capitalize()} "{url}": '
                              f'{_reason(e, self.endpoint.host)}') from None
        if resp.status == 401 and replayable:
            chals = parse_challenges(resp.headers.get("WWW-Authenticate"))
            resp.read(1 << 16)
            if chals:
                self.challenge = next((c for c in chals if c.scheme == "bearer"), chals[0])
                resp = self._send(method, path, headers, body, pooled, scope=scope,
                                  force_token=True)
        if resp.status == 401 and self.auth.anonymous and self.challenge is not None and \
                self.challenge.scheme == "basic":
            resp.close()
            raise Unauthorized(f'{method.capitalize()} "{resp.url}": no basic auth credentials')
        if resp.status in (301, 302, 303, 307, 308) and redirects > 0:
            loc = resp.headers.get("Location", "")
            resp.read(1 << 16)
            if loc:
                loc = urllib.parse.urljoin(resp.url, loc)
                return self.request("GET" if resp.status == 303 else method, loc, headers,
                                    body, scope, pooled, redirects - 1)
        return resp

    def url(self, path: str) -> str:
        return self.endpoint.base + path


def _reason(e: BaseException, host: str = "") -> str:
    """Go's net/http wording, which is what docker users see and search for."""
    if isinstance(e, socket.gaierror):
        return f"dial tcp: lookup {host.rsplit(':', 1)[0] or 'host'}: no such host"
    if isinstance(e, ConnectionRefusedError):
        return "dial tcp: connect: connection refused"
    if isinstance(e, ssl.SSLError):
        return f"http: server gave HTTP response to HTTPS client ({e.reason or e})" \
            if "WRONG_VERSION" in str(e).upper() else f"tls: {e.reason or e}"
    return str(e) or type(e).__name__
