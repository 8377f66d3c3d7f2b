"""A TLS listener that keeps a connection writable after the client's close_notify.

Docker's attach and exec hijack the HTTP connection; a client with no stdin to send (``docker
run`` without ``-i``) half-closes it at once, which on TLS is a close_notify alert (Go's
``tls.Conn.CloseWrite``). dockerd (Go) keeps writing the container's output after that;
asyncio's SSL transport instead starts shutting down, so the output would be lost. TLS itself
allows writing after receiving close_notify, so this protocol lets the application keep the
transport open when its ``eof_received`` asks for it (aiohttp does for hijacked streams),
exactly as it can on a plain TCP socket. Everything else is asyncio's SSLProtocol.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto

from aiohttp import web

log = logging.getLogger("dockyard.daemon")


_HTTP_METHODS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"OPTI", b"PATC", b"CONN")
_PLAIN_HTTP_ANSWER = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      b"Connection: close\r\n\r\n"
                      b"Client sent an HTTP request to an HTTPS server.\n")


class HalfCloseSSLProtocol(sslproto.SSLProtocol):
    """SSLProtocol whose app may keep writing after the peer's close_notify, and which tells
    a client speaking plain HTTP what went wrong (as Go's server does) instead of a reset."""

    _half_closed = False
    _first_bytes = True

    def buffer_updated(self, nbytes: int) -> None:
        if self._first_bytes and nbytes:
            self._first_bytes = False
            if nbytes >= 4 and bytes(self._ssl_buffer_view[:4]) in _HTTP_METHODS:
                self._transport.write(_PLAIN_HTTP_ANSWER)
                self._transport.close()
                return
        super().buffer_updated(nbytes)

    def _call_eof_received(self) -> None:
        try:
            if self._app_state == sslproto.AppProtocolState.STATE_CON_MADE:
                self._app_state = sslproto.AppProtocolState.STATE_EOF
                if self._app_protocol.eof_received():
                    self._half_closed = True
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as ex:
            self._fatal_error(ex, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        # A shutdown triggered by reading close_notify is skipped while the app keeps its side
        # open; the app's own close() (which marks its transport closed first) goes through.
        app = self._app_transport
        if self._half_closed and app is not None and not app._closed:
            return
        super()._start_shutdown()


def supported() -> bool:
    """The private hooks exist in this Python (3.11+ asyncio's SSLProtocol)."""
    return hasattr(sslproto, "AppProtocolState") and all(
        hasattr(sslproto.SSLProtocol, a) for a in ("_call_eof_received", "_start_shutdown"))


class HalfCloseTLSSite(web.TCPSite):
    """aiohttp's TCPSite with TLS done by HalfCloseSSLProtocol."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None and self._ssl_context is not None
        ctx: ssl.SSLContext = self._ssl_context

        def factory() -> asyncio.Protocol:
            waiter = loop.create_future()
            # a failed handshake (refused client certificate) is normal: retrieve it quietly
            waiter.add_done_callback(_log_handshake_failure)
            return HalfCloseSSLProtocol(loop, server(), ctx, waiter, server_side=True)

        self._server = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)


def _log_handshake_failure(fut: asyncio.Future) -> None:
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        log.info("TLS handshake refused: %s", getattr(exc, "reason", None) or exc)
