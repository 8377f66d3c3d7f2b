"""A client TLS connection with the two things ``ssl.SSLSocket`` lacks for Docker's streams.

1. Half-close. Attach and exec send stdin, then close their side and keep reading the
   output. On TLS that is a close_notify alert while the connection stays readable (Go's
   ``tls.Conn.CloseWrite``, what the docker CLI does). ``SSLSocket.shutdown`` instead drops
   the TLS layer, so every byte read after it would be ciphertext.
2. No hidden buffer. The CLI ``select()``s on the socket; ``SSLSocket.recv`` may leave
   decrypted bytes inside OpenSSL where ``select`` cannot see them. ``recv`` here returns
   everything already decrypted.

It drives OpenSSL over memory BIOs on a plain blocking socket, so the bytes on the wire are
exactly what the TLS state machine says. It is written on the builtin ``_ssl`` module (the
one ``ssl.SSLObject`` wraps): ``import ssl`` costs a CLI call over 20 ms (``socket``, ``enum``,
``re``, ``base64``), ``_ssl`` 4 ms. The exception classes are the same objects ``ssl`` exports.
"""

from __future__ import annotations

import _socket
import _ssl
from _ssl import (  # noqa: F401 - re-exported for callers that catch them
    SSLCertVerificationError,
    SSLEOFError,
    SSLError,
    SSLWantReadError,
    SSLZeroReturnError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CHUNK = 65536
_CERT_NONE = 0


def client_context(ca: str | None, cert: str | None, key: str | None, verify: bool) -> Any:
    """A TLS 1.2+ client context: the daemon checked against ``ca`` (and the name dialled)
    when ``verify``; ``cert``/``key`` presented when the daemon asks (--tlsverify)."""
    ctx = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
    ctx.minimum_version = _ssl.PROTO_TLSv1_2
    if verify:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = _CERT_NONE
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


class TLSSocket:
    """The subset of the socket interface the client uses: recv, sendall, shutdown, close,
    fileno, settimeout."""

    def __init__(self, raw: Any, ctx: Any, server_hostname: str):
        self.raw = raw
        self._in = _ssl.MemoryBIO()
        self._out = _ssl.MemoryBIO()
        # An ASCII name or address as ssl.py would pass it (IDNA names need the ssl module).
        server_hostname.encode("ascii")
        self._obj = ctx._wrap_bio(self._in, self._out, False, server_hostname)
        self._eof = False  # the TLS stream ended (close_notify, or a ragged end)
        self._raw_eof = False  # the socket ended
        self._handshake()

    # wire
    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.raw.sendall(data)

    def _feed(self) -> bool:
        """Move bytes from the socket into OpenSSL; False at the end of the stream."""
        data = self.raw.recv(_CHUNK)
        if not data:
            self._in.write_eof()
            return False
        self._in.write(data)
        return True

    def _handshake(self) -> None:
        while True:
            try:
                self._obj.do_handshake()
                self._flush()
                return
            except SSLWantReadError:
                self._flush()
                if not self._feed():
                    raise SSLEOFError(
                        "the daemon closed the connection in the handshake") from None

    # socket interface
    def version(self) -> str | None:
        return self._obj.version()

    def fileno(self) -> int:
        return self.raw.fileno()

    def settimeout(self, value: float | None) -> None:
        self.raw.settimeout(value)

    def recv(self, _bufsize: int = _CHUNK) -> bytes:
        """Everything decrypted so far (blocking for the first bytes); b"" at the end."""
        while True:
            chunks = []
            try:
                while True:
                    piece = self._obj.read(_CHUNK)
                    if not piece:  # the peer's close_notify (read reports it as b"")
                        self._eof = True
                        break
                    chunks.append(piece)
            except SSLWantReadError:
                pass
            except (SSLZeroReturnError, SSLEOFError):
                self._eof = True
            self._flush()  # post-handshake messages (key updates) may need an answer
            if chunks:
                return b"".join(chunks)
            if self._eof or self._raw_eof:
                return b""
            self._raw_eof = not self._feed()  # at EOF OpenSSL is told, and says how it ended

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._obj.write(view)
            view = view[n:]
            self._flush()

    def shutdown(self, how: int) -> None:
        """SHUT_WR: send close_notify and keep reading (OpenSSL allows reading after it)."""
        if how == _socket.SHUT_RD:
            self.raw.shutdown(how)
            return
        try:
            self._obj.shutdown()
        except SSLError:  # SSLWantReadError among them
            pass  # close_notify is queued; the peer's own comes later, with its last bytes
        self._flush()

    def close(self) -> None:
        self.raw.close()
