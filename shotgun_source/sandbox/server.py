"""HTTP/1.1 plumbing: sockets, keep-alive, headers, and really stopping.

A thread per connection (as `http.server` does), keep-alive by default, every response
with Content-Length. The `Date` header follows the site clock because clients use it as
the site's "now". `stop()` closes the listening socket *and* every open connection, and
joins the connection threads, so tests can start and stop many sandboxes.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import socket
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .app import App
from .messages import Request, Response

_CACHE_CONTROL = "private, max-age=0, must-revalidate"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "shotgun-sandbox"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: SandboxHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None  # the app logs requests itself (to stderr, when verbose)

    def date_time_string(self, timestamp: float | None = None) -> str:
        now = self.server.app.site.now_float() if timestamp is None else timestamp
        return email.utils.formatdate(now, usegmt=True)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        req = Request(
            method=self.command,
            path=parts.path,
            query_string=parts.query,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self._write(self.server.app.handle(req))

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", _CACHE_CONTROL)
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        if resp.status == 200 and resp.body:
            digest = hashlib.md5(f"{zlib.crc32(resp.body)}:{len(resp.body)}".encode(), usedforsecurity=False)
            self.send_header("ETag", f'W/"{digest.hexdigest()}"')
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.drop:
            self.send_header("Connection", "close")
        self.end_headers()
        if resp.drop:
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if resp.trickle > 0:
            self._trickle(resp.body, resp.trickle)
            return
        if resp.body:
            self.wfile.write(resp.body)

    def _trickle(self, body: bytes, interval: float) -> None:
        """The body a byte every `interval` seconds, until it is sent, the client hangs up or the
        server stops (stop() shuts the socket down, so the next write fails)."""
        for start in range(len(body)):
            try:
                self.wfile.write(body[start : start + 1])
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return
            time.sleep(interval)


class SandboxHTTPServer(ThreadingHTTPServer):
    """Threading server that remembers its connections so `stop()` can close them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._conn_lock = threading.Lock()
        self._active: dict[socket.socket, threading.Thread] = {}
        self._thread: threading.Thread | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True, name="sandbox-conn"
        )
        with self._conn_lock:
            self._active[request] = t
        t.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._active.pop(request, None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.name = "sandbox-http"
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close every connection, and wait for the threads to end."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
        with self._conn_lock:
            active = list(self._active.items())
        for sock, _ in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, t in active:
            t.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
