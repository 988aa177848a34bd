"""The guarded HTTP client the reading side fetches from peers with: every limit enforced.

A peer is untrusted input. It may answer with 50 MB, a gzip bomb, JSON nested a million deep, one
byte every few seconds, a redirect into our own network, or a name that resolves to 127.0.0.1
once we have checked it. `Client.get` refuses or aborts all of these with a `FetchError` whose
`reason` says which limit was hit, so the worker can back that peer off and go on with the others.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import socket
import threading
import time
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from http.client import HTTPException
from types import TracebackType
from typing import Any, Final
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from federation.addresses import Unresolvable, is_public_address, parse_address, resolve

# Small enough that the total deadline is checked often while a peer drips, large enough that a
# 2 MiB page is a few hundred reads.
CHUNK_BYTES: Final = 16 * 1024
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
REASONS: Final = frozenset(
    {
        "scheme",
        "address",
        "redirect",
        "too_large",
        "timeout",
        "connection",
        "status",
        "json",
        "depth",
    }
)
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# How much of a peer's words (a body, a Location) may appear in a message: enough to diagnose,
# too little to smuggle a page of text into our logs.
EXCERPT_CHARS: Final = 120


@dataclass(frozen=True)
class Limits:
    """What one request to a peer may cost us (see "Limits" in the federation protocol notes)."""

    max_bytes: int = 2 * 1024 * 1024  # body, counted while streaming, after decompression
    max_depth: int = 16  # JSON nesting depth
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0  # the whole request, redirects and a slow-drip body included
    max_redirects: int = 3  # only same-origin redirects are ever followed
    # FEDERATION_ALLOW_PRIVATE_PEERS=1: http:// and loopback/private addresses, for development
    # and tests only.
    allow_private: bool = False


DEFAULT_LIMITS: Final = Limits()


class FetchError(Exception):
    """A fetch refused or aborted; `reason` is one of REASONS, `message` says which limit."""

    def __init__(
        self, reason: str, message: str, *, status: int | None = None, body: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        # For reason "status": the body read within the limits (None if even that failed), so
        # a caller can read the machine-readable reason of a 410.
        self.body = body

    def __repr__(self) -> str:
        return f"FetchError({self.reason!r}, {self.message!r}, status={self.status!r})"


@dataclass(frozen=True)
class Response:
    """A peer's answer, its body read in full within the limits."""

    url: str  # after same-origin redirects
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    max_depth: int = DEFAULT_LIMITS.max_depth

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    def json(self) -> Any:
        """The body as JSON, within the depth limit; parsed once."""
        return self._document

    @cached_property
    def _document(self) -> Any:
        # cached_property writes the instance __dict__ directly, so it works on a frozen class.
        return parse_json(self.body, self.max_depth)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """`raw` as strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, nested ≤ `max_depth`."""
    try:
        # RFC 8259 §8.1: JSON between systems is UTF-8; anything else is not ours to guess.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError("json", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        # The C parser recurses per level: nesting in the thousands ends here, not in a crash.
        raise FetchError("depth", f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        # Syntax errors, duplicate keys, NaN, integers over Python's 4300-digit limit. The
        # message names a position, never the document.
        raise FetchError("json", f"the body is not valid JSON: {_excerpt(str(exc))}") from None
    if _deeper_than(document, max_depth):
        raise FetchError("depth", f"JSON nested deeper than {max_depth} levels")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers that keep different copies of a duplicated key read one signed object two ways;
    # refusing duplicates takes that ambiguity off the table.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {_excerpt(key)!r}")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(document: Any, max_depth: int) -> bool:
    # Iterative on purpose: the check must not itself recurse as deep as the document.
    if not isinstance(document, dict | list):
        return False
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _excerpt(text: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    short = text[:limit]
    # repr-style escapes keep a peer's newlines and control characters out of our log lines.
    escaped = short.encode("unicode_escape").decode("ascii")
    return escaped + ("…" if len(text) > limit else "")


# ---------------------------------------------------------------------------------------------
# Per-request guard: the connection classes below consult it, the watchdog enforces the deadline.


class _Guard:
    """One `Client.get`: whether private peers are allowed, and its total deadline.

    Checking the clock between chunks catches a dripping body, but not a peer that drips its
    status line, its headers or a chunk-size line, which the standard library reads in one
    blocking call. So a watchdog timer also shuts down every socket the request uses once the
    deadline passes; the blocked read then returns, and the error is reported as "timeout".
    """

    def __init__(self, limits: Limits) -> None:
        self.allow_private = limits.allow_private
        self.deadline = time.monotonic() + limits.total_timeout
        self.expired = False
        self._finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(limits.total_timeout, self._expire)
        self._timer.daemon = True
        self._token: contextvars.Token[_Guard | None] | None = None

    def __enter__(self) -> _Guard:
        self._token = _current_guard.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._finished = True
            self._sockets.clear()
        if self._token is not None:
            _current_guard.reset(self._token)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _cut(sock)
            elif not self._finished:
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


_current_guard: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar(
    "federation_fetch_guard", default=None
)


def _cut(sock: socket.socket) -> None:
    # shutdown(), not close(): it wakes a read blocked in another thread without freeing the file
    # descriptor under it. The plain socket method, so a TLS socket is cut at the TCP level too.
    # OSError: already closed or never connected, nothing left to cut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTPConnection(HTTPConnection):
    """Checks the address the socket actually reached, before a byte is sent.

    The host was checked before the request, but a name can resolve differently a moment later
    (DNS rebinding); only the connected peer address is the truth.
    """

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        guard = _current_guard.get()
        if guard is None or not guard.allow_private:
            peer = parse_address(str(sock.getpeername()[0]))
            if peer is None or not is_public_address(peer):
                sock.close()
                raise FetchError(
                    "address", f"{_excerpt(self.host)} connected to non-public address {peer}"
                )
        if guard is not None:
            guard.watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A kept-alive connection skips _new_conn: its socket (TLS-wrapped by now) joins the
        # watch of the request that reuses it.
        guard = _current_guard.get()
        if guard is not None:
            guard.watch(self.sock)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    """The TLS variant: the check runs in _new_conn, before the handshake."""


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # A new dict: PoolManager holds urllib3's module-level one, shared by every other
        # requests user in the process.
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


# ---------------------------------------------------------------------------------------------
# Bounded decompression.


class _Inflater:
    """gzip/deflate inflated in bounded steps.

    zlib's max_length caps what one call may produce, so a bomb never expands in memory beyond
    the limit plus one chunk. (urllib3 bounds its own decoders only since 2.6.0, and requests
    accepts older ones; decoding here keeps the guarantee whatever is installed.)
    """

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._decompressor: Any = self._new_gzip() if self._gzip else None
        self._head = b""  # deflate: the first bytes, until they say whether zlib wraps them
        self._members_done = 0
        self._ignoring = False

    @staticmethod
    def _new_gzip() -> Any:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, out: bytearray, limit: int) -> None:
        pending = data
        if self._decompressor is None:
            # "deflate" is meant to be zlib-wrapped, but some servers send it raw; a zlib header
            # is two bytes whose big-endian value is a multiple of 31, with method 8.
            self._head += data
            if len(self._head) < 2:
                return
            zlib_wrapped = self._head[0] & 0x0F == 8 and int.from_bytes(self._head[:2]) % 31 == 0
            self._decompressor = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -15)
            pending = self._head
        while pending and not self._ignoring:
            if self._decompressor.eof:
                if not self._gzip:
                    raise FetchError("connection", "bytes after the end of the deflate body")
                # Concatenated gzip members are one valid body (RFC 1952 §2.2).
                self._members_done += 1
                self._decompressor = self._new_gzip()
            # One byte more than allowed proves the limit was hit; a chunk at a time keeps the
            # step's temporary output small next to the body itself.
            room = min(limit - len(out) + 1, CHUNK_BYTES)
            try:
                out += self._decompressor.decompress(pending, room)
            except zlib.error:
                if self._members_done:
                    self._ignoring = True  # trailing garbage after a whole gzip, as urllib3 does
                    return
                raise FetchError("connection", "the compressed body is corrupt") from None
            if len(out) > limit:
                raise FetchError("too_large", f"the body inflates past {limit} bytes (max_bytes)")
            if self._decompressor.eof:
                pending = self._decompressor.unused_data
            else:
                pending = self._decompressor.unconsumed_tail

    def finish(self, out: bytearray, limit: int) -> None:
        if self._ignoring:
            return
        if self._decompressor is None:
            raise FetchError("connection", "the compressed body ends early")
        # All input is in by now, so what flush() releases is the little a step held back.
        out += self._decompressor.flush()
        if len(out) > limit:
            raise FetchError("too_large", f"the body inflates past {limit} bytes (max_bytes)")
        if not self._decompressor.eof:
            raise FetchError("connection", "the compressed body ends early")


def _inflater_for(content_encoding: str | None) -> _Inflater | None:
    codings = [
        coding
        for coding in (part.strip().lower() for part in (content_encoding or "").split(","))
        if coding and coding != "identity"
    ]
    if not codings:
        return None
    # One coding, and one we asked for: a chain of them is a known way to multiply a bomb.
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater(codings[0])
    raise FetchError(
        "connection", f"unsupported Content-Encoding {_excerpt(content_encoding or '')!r}"
    )


# ---------------------------------------------------------------------------------------------
# The client.


class Client:
    """GET JSON from peers within `limits`; keep one per worker round and close it after."""

    def __init__(
        self, limits: Limits = DEFAULT_LIMITS, *, user_agent: str = "solidarity-federation/1"
    ) -> None:
        self.limits = limits
        self.user_agent = user_agent
        # The adapter, not a requests.Session: Session.send reads the whole body of a redirect
        # even with allow_redirects=False (to build Response.next), unbounded, and it would also
        # keep cookies and take proxies and credentials from the environment.
        self._adapter = _GuardedAdapter(max_retries=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._adapter.close()

    def get(
        self, url: str, *, etag: str | None = None, accept: Collection[int] = (200, 304)
    ) -> Response:
        """GET `url` and read its body within the limits.

        Same-origin redirects are followed; a status outside `accept` raises FetchError("status")
        carrying the body. Every refusal or abort is a FetchError, never a requests exception.
        """
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": self.user_agent,
        }
        if etag is not None:
            headers["If-None-Match"] = etag
        with _Guard(self.limits) as guard:
            try:
                return self._get(url, headers, accept, guard)
            except FetchError:
                raise
            except (urllib3.exceptions.TimeoutError, requests.Timeout) as exc:
                if guard.expired or guard.remaining() <= 0:
                    raise FetchError("timeout", self._total_timeout_message(url)) from None
                raise FetchError("timeout", f"{_excerpt(url)}: {_timeout_message(exc)}") from None
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                HTTPException,
                OSError,
            ) as exc:
                if guard.expired:
                    raise FetchError("timeout", self._total_timeout_message(url)) from None
                raise FetchError(
                    "connection", f"{_excerpt(url)}: {type(exc).__name__}: {_excerpt(str(exc))}"
                ) from None

    def _get(
        self, url: str, headers: Mapping[str, str], accept: Collection[int], guard: _Guard
    ) -> Response:
        current, redirects = url, 0
        while True:
            request = self._prepare(current, headers)
            current = request.url or current
            remaining = guard.remaining()
            if remaining <= 0:
                raise FetchError("timeout", self._total_timeout_message(url))
            timeout = (
                min(self.limits.connect_timeout, remaining),
                min(self.limits.read_timeout, remaining),
            )
            response = self._adapter.send(request, stream=True, timeout=timeout, verify=True)
            try:
                status = response.status_code
                if status in REDIRECT_STATUSES:
                    # The redirect's body is never read: closing drops the connection instead.
                    current = self._redirect(current, response.headers.get("Location"), redirects)
                    redirects += 1
                    continue
                if status not in accept:
                    raise self._status_error(current, status, response, guard)
                body = self._read_body(response, guard)
                return Response(
                    url=current,
                    status=status,
                    headers=response.headers,
                    body=body,
                    max_depth=self.limits.max_depth,
                )
            finally:
                response.close()

    def _prepare(self, url: str, headers: Mapping[str, str]) -> requests.PreparedRequest:
        """The request for `url`, or a refusal if its scheme or host may not be fetched."""
        try:
            request = requests.Request("GET", url, headers=dict(headers)).prepare()
            # The very parser urllib3 connects with, so what is checked is what is reached.
            parts = parse_url(request.url or "")
        except (requests.RequestException, LocationParseError, ValueError):
            raise FetchError("scheme", f"not a URL: {_excerpt(url)!r}") from None
        scheme = (parts.scheme or "").lower()
        allowed = ("http", "https") if self.limits.allow_private else ("https",)
        if scheme not in allowed:
            raise FetchError(
                "scheme", f"{_excerpt(url)!r}: only {' or '.join(allowed)} URLs are fetched"
            )
        if parts.auth:
            # Credentials in a peer URL would be sent to it; and "trusted@evil" misleads readers.
            raise FetchError("scheme", f"credentials in a URL refused: {_excerpt(url)!r}")
        if not parts.host:
            raise FetchError("address", f"no host in {_excerpt(url)!r}")
        if not self.limits.allow_private:
            _check_host(parts.host, parts.port or DEFAULT_PORTS[scheme])
        return request

    def _redirect(self, current: str, location: str | None, redirects: int) -> str:
        if redirects >= self.limits.max_redirects:
            raise FetchError(
                "redirect", f"more than {self.limits.max_redirects} redirects (max_redirects)"
            )
        if not location:
            raise FetchError("redirect", f"{_excerpt(current)}: a redirect without a Location")
        target = urljoin(current, location)
        if _origin(target) != _origin(current):
            raise FetchError(
                "redirect",
                f"{_excerpt(current)}: redirect off the origin refused: {_excerpt(target)!r}",
            )
        return target

    def _status_error(
        self, url: str, status: int, response: requests.Response, guard: _Guard
    ) -> FetchError:
        body: bytes | None
        try:
            body = self._read_body(response, guard)
        except (FetchError, requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            body = None  # the status is the news; an unreadable body must not hide it
        detail = f": {_excerpt(body)!r}" if body else ""
        return FetchError(
            "status", f"{_excerpt(url)} answered HTTP {status}{detail}", status=status, body=body
        )

    def _read_body(self, response: requests.Response, guard: _Guard) -> bytes:
        limit = self.limits.max_bytes
        if response.status_code in (204, 304):
            return b""
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(
                "too_large", f"Content-Length {int(declared)} exceeds {limit} bytes (max_bytes)"
            )
        inflater = _inflater_for(response.headers.get("Content-Encoding"))
        raw: urllib3.BaseHTTPResponse = response.raw
        body = bytearray()
        received = 0
        while True:
            if guard.remaining() <= 0:
                raise FetchError("timeout", self._total_timeout_message(response.url))
            # read1: at most one read from the socket, so a drip returns each byte to us here
            # (read(n) would wait for n bytes); decode_content=False: we inflate, bounded.
            chunk = raw.read1(CHUNK_BYTES, decode_content=False)
            if not chunk:
                break
            received += len(chunk)
            # The wire bytes are capped too: compressed data never legitimately outgrows its
            # content by more than a few bytes.
            if received > limit:
                raise FetchError("too_large", f"the body exceeds {limit} bytes (max_bytes)")
            if inflater is None:
                body += chunk
            else:
                inflater.feed(chunk, body, limit)
        # The watchdog's shutdown looks like a clean end of a body without a length.
        if guard.expired:
            raise FetchError("timeout", self._total_timeout_message(response.url))
        if inflater is not None:
            inflater.finish(body, limit)
        return bytes(body)

    def _total_timeout_message(self, url: str | None) -> str:
        return (
            f"{_excerpt(url or '')}: not done within {self.limits.total_timeout:g} s"
            " (total_timeout)"
        )


def _timeout_message(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return "no connection within connect_timeout"
    return "the peer went silent for longer than read_timeout"


def _check_host(host: str, port: int) -> None:
    """Refuse a host that is, or resolves to, a non-public address, before connecting."""
    literal = parse_address(host.strip("[]"))
    if literal is not None:
        if not is_public_address(literal):
            raise FetchError("address", f"non-public address {literal} refused")
        return
    try:
        addresses = resolve(host, port)
    except Unresolvable as exc:
        raise FetchError("connection", f"cannot resolve {_excerpt(host)}: {exc}") from None
    # Every address must be public: the connection may use any of them.
    for address in addresses:
        if address is None or not is_public_address(address):
            raise FetchError(
                "address", f"{_excerpt(host)} resolves to non-public address {address}"
            )


def _origin(url: str) -> tuple[str, str, int]:
    try:
        parts = parse_url(requests.Request("GET", url).prepare().url or "")
    except (requests.RequestException, LocationParseError, ValueError):
        raise FetchError("redirect", f"redirect to an invalid URL: {_excerpt(url)!r}") from None
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, -1)
