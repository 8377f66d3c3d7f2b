"""A tiny raw HTTP client over the daemon's unix socket, for API-level tests."""

import http.client
import json
import socket


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def request(sock_path: str, method: str, path: str, body=None, headers=None,
            raw: bytes | None = None) -> tuple[int, dict, bytes]:
    conn = _UnixConnection(sock_path)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), payload


def json_request(sock_path: str, method: str, path: str, body=None, raw=None):
    status, headers, payload = request(sock_path, method, path, body=body, raw=raw)
    try:
        data = json.loads(payload) if payload else None
    except json.JSONDecodeError:
        data = payload
    return status, data
