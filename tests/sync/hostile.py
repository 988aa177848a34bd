"""A hostile peer on a loopback port: tests script each path's reply, however nasty.

    with HostileServer() as peer:
        peer.route("/feed", Reply(body=gzip_bomb(50 * MiB), headers={"Content-Encoding": "gzip"}))
        peer.route("/slow", lambda request: Reply(body=slow_drip(), delay=0.2))
        client.get(peer.url + "/feed")
        assert peer.requests[0].headers["Accept-Encoding"] == "gzip"

A reply's body is bytes or an iterable of chunks (streamed, `delay` seconds before each); `raw`
replies skip the status line and headers so a test can send a malformed or dripping head.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import socket
import socketserver
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

MiB = 1024 * 1024
# Long enough for any test, short enough that a handler stuck writing to a client that stopped
# reading cannot outlive the test run by much.
SOCKET_TIMEOUT = 10.0
JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class RequestInfo:
    """One request as the hostile peer received it."""

    method: str
    path: str  # as sent: the query string included
    headers: Message  # case-insensitive: headers["if-none-match"]
    body: bytes = b""

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class Reply:
    """What to answer. Content-Length is added for bytes bodies unless a header sets one; an
    iterable body without one ends by closing the connection, or is chunked if `chunked`."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0  # seconds before each chunk of an iterable body: a slow drip
    chunked: bool = False
    raw: bool = False  # write `body` as the whole response: no status line, no headers


Handler = Callable[[RequestInfo], Reply]


def json_reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(value).encode(),
    )


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that answers each path as a test routed it.

    `.requests` lists what arrived and `.connections` counts TCP connections accepted, so a test
    can prove a refused fetch never reached it. Unrouted paths answer 404.
    """

    def __init__(self) -> None:
        self.requests: list[RequestInfo] = []
        self.connections = 0
        self._routes: dict[str, Reply | Handler] = {}
        self._closing = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def closing(self) -> threading.Event:
        return self._closing

    def route(self, path: str, reply: Reply | Handler) -> None:
        """Answer `path` (exact, query ignored) with `reply`, or with what `reply(request)` gives.

        A fixed Reply with an iterator body serves it once; route a handler to stream per request.
        """
        self._routes[path] = reply

    def reply_for(self, request: RequestInfo) -> Reply:
        reply = self._routes.get(request.route)
        if reply is None:
            return json_reply({"code": 404, "status": "Not Found"}, status=404)
        return reply if isinstance(reply, Reply) else reply(request)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.close_connections(JOIN_TIMEOUT)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # We join our own handler threads on close, after cutting their connections.
    block_on_close = False

    def __init__(self, owner: HostileServer) -> None:
        self.owner = owner
        self._lock = threading.Lock()
        self._handlers: list[tuple[threading.Thread, socket.socket]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's full name, which can wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.owner.connections += 1
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._lock:
            self._handlers.append((thread, request))
        thread.start()

    def close_connections(self, timeout: float) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for _thread, sock in handlers:
            # Wakes a handler blocked reading the next keep-alive request or writing to a client
            # that stopped reading; the handler then closes its socket itself.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _sock in handlers:
            thread.join(timeout)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _Server

    def handle(self) -> None:
        # A client that aborted mid-body resets the connection the handler then reads the next
        # request from: the expected outcome, not a server error worth a traceback.
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read .requests; stderr noise would only hide real failures

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "")
        body = self.rfile.read(min(int(length), MiB)) if length.isdigit() else b""
        request = RequestInfo(self.command, self.path, self.headers, body)
        owner = self.server.owner
        owner.requests.append(request)
        reply = owner.reply_for(request)
        try:
            self._send(reply)
        except (ConnectionError, TimeoutError):
            # The client gave up mid-body: exactly what a guarded client should do.
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        closing = self.server.owner.closing
        if reply.raw:
            self.close_connection = True
            self._write_all(_chunks(reply.body), reply.delay, closing, chunked=False)
            return
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        streamed = not isinstance(reply.body, bytes)
        if not streamed and "content-length" not in names and reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(_as_bytes(reply.body))))
        if streamed and reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif streamed and "content-length" not in names:
            self.send_header("Connection", "close")  # the end of the body is the end of the socket
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self._write_all(_chunks(reply.body), reply.delay, closing, chunked=reply.chunked)

    def _write_all(
        self, chunks: Iterable[bytes], delay: float, closing: threading.Event, *, chunked: bool
    ) -> None:
        for chunk in chunks:
            if delay and closing.wait(delay):
                return
            if closing.is_set():
                return
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunk else b"")
            else:
                self.wfile.write(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


def _as_bytes(body: bytes | Iterable[bytes]) -> bytes:
    return body if isinstance(body, bytes) else b"".join(body)


def _chunks(body: bytes | Iterable[bytes]) -> Iterable[bytes]:
    return [body] if isinstance(body, bytes) else body


# -------------------------------------------------------------------------------------------
# Nasty bodies.


@functools.cache
def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes gzipped: about a thousandth of `size` on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(size // MiB)]
    parts.append(compressor.compress(bytes(size % MiB)))
    parts.append(compressor.flush())
    return b"".join(parts)


def deeply_nested(depth: int) -> bytes:
    """A JSON array nested `depth` levels deep: [[[...]]]."""
    return b"[" * depth + b"]" * depth


def items_json(count: int) -> bytes:
    """A changes-feed-like page with `count` small items."""
    items = [{"id": f"https://peer.example/objects/{n}", "version": 1} for n in range(count)]
    return json.dumps({"items": items, "next": "cursor", "up_to_date": True}).encode()


def huge_json(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A valid JSON array of strings about `size` bytes long, streamed in `chunk`-byte pieces."""
    piece = b'"' + b"x" * (chunk - 4) + b'",'
    yield b"["
    for _ in range(max(size // len(piece), 1)):
        yield piece
    yield b'""]'


def huge_body(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`size` bytes of filler, streamed: never all in memory at once."""
    block = b"x" * chunk
    for _ in range(size // chunk):
        yield block
    yield block[: size % chunk]


def slow_drip(
    prefix: bytes = b"[", drop: bytes = b" ", count: int | None = None
) -> Iterator[bytes]:
    """`prefix`, then `drop` again and again (forever unless `count`); pair with Reply.delay."""
    yield prefix
    sent = 0
    while count is None or sent < count:
        yield drop
        sent += 1
