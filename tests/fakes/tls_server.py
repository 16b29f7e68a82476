"""One small threaded HTTPS server for the fakes: a function answers each request.

The fake App Service's blob storage and each site's front door run on it; certificates come from
the one trustme CA of the fake, so a client that trusts `ca_path` (SSL_CERT_FILE) trusts them all.
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""


Answer = Callable[[Request], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.answer(Request(self.command, self.path, headers, body))
        self.send_response(reply.status)
        sent = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if "x-ms-request-id" not in sent:
            self.send_header("x-ms-request-id", secrets.token_hex(8))
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answer: Answer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-reply is not worth a traceback


@contextmanager
def serve_https(ca: trustme.CA, answer: Answer, *, port: int = 0, name: str = "fake-https") -> Iterator[str]:
    """Serve `answer` over HTTPS on 127.0.0.1 (`port` 0: a free one); yields the base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _Server(("127.0.0.1", port), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.answer = answer
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
