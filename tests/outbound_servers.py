"""Loopback servers for the outbound-request tests: a raw listener that counts connections, and an HTTPS webhook.

Every server listens on a 127.0.0.0/8 address of this machine only. The
HTTPS server's certificate comes from a throwaway CA (trustme) and names
``chat.example.test`` (and its loopback addresses), so the portal's client
checks a real certificate for a real host name while a stub resolver (or a
private network opened only for the test) points that name at loopback.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

CHAT_HOST = "chat.example.test"
SECRET_PATH = "/services/T0001/B0002/not-to-be-logged"


class Listener:
    """A TCP listener on a loopback address that accepts and counts connections, and answers nothing.

    It is the proof that a refused URL opened no connection: its count stays 0.
    """

    def __init__(self, host: str = "127.0.0.1", *, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.accepted += 1
            connection.close()

    def count(self) -> int:
        with self.lock:
            return self.accepted

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


class TestCA:
    """A throwaway CA and a server certificate for ``chat.example.test`` and the loopback addresses."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, directory: Path | None = None) -> None:
        self.ca = trustme.CA()
        self.certificate = self.ca.issue_cert(CHAT_HOST, "127.0.0.1", "127.0.0.2", "::1")
        self.pem = self.ca.cert_pem.bytes()
        # A file to trust (SSL_CERT_FILE, ca_certs) when a directory is given; a kubeconfig takes the PEM inline.
        self.bundle = directory / "test-ca.pem" if directory is not None else Path("/nonexistent")
        if directory is not None:
            self.ca.cert_pem.write_to_path(str(self.bundle))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.certificate.configure_cert(context)
        return context


class WebhookServer:
    """An HTTPS server on loopback: records each request, answers the statuses queued (then 200).

    ``answers`` items are a status or ``(status, {header: value})``, e.g.
    ``(302, {"Location": "https://127.0.0.1:9/"})``; ``body_bytes`` makes every
    answer that long.
    """

    def __init__(self, ca: TestCA, host: str = "127.0.0.1") -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.answers: list[int | tuple[int, dict[str, str]]] = []
        self.body_bytes = 2
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.lock:
                    server.received.append((self.path, dict(self.headers), json.loads(raw or b"null")))
                    answer = server.answers.pop(0) if server.answers else 200
                    size = server.body_bytes
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(b"o" * size)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client refusing the certificate is what some tests want; no traceback on stderr

        self.httpd = Server((host, 0), Handler)
        self.httpd.socket = ca.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = CHAT_HOST, path: str = SECRET_PATH) -> str:
        return f"https://{host}:{self.port}{path}"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StubResolver:
    """Answers names from a table; a name with several answer lists gives the next list at each lookup.

    ``{"chat.example.test": [["127.0.0.2"], ["127.0.0.1"]]}``: the first
    lookup gets 127.0.0.2, every later one 127.0.0.1 (a DNS-rebinding name).
    """

    def __init__(self, table: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self.table = {name: [list(answers) for answers in lists] for name, lists in table.items()}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        lists = self.table.get(host)
        if not lists:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return lists.pop(0) if len(lists) > 1 else lists[0]
