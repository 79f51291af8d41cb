"""Web servers on 127.0.0.1 that are not ShotGrid: a wrong site URL (an HTML page where the API
should be) or another host a link points at. Each gives one answer to every request and records
what it was asked."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HTML_PAGE = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
SIGN_IN_PAGE = b"<html><body><form>Sign in to continue</form></body></html>"
EMPTY_PAGE_OF_RECORDS = b'{"data": [], "links": {}}'


@dataclass(frozen=True)
class Request:
    path: str
    authorization: str | None


@contextmanager
def one_answer_server(body: bytes, content_type: str) -> Iterator[tuple[str, list[Request]]]:
    """`http://127.0.0.1:<port>` of a server answering 200 with `body` to every GET and POST, and
    the list of requests it got; stopped on exit."""
    seen: list[Request] = []

    class OneAnswer(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(Request(self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (free a moment ago): a site that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
