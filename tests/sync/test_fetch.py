"""The guarded fetch client against a hostile peer: every limit refuses or aborts in time."""

from __future__ import annotations

import gzip
import ipaddress
import json
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hostile import (
    HostileServer,
    MiB,
    Reply,
    RequestInfo,
    deeply_nested,
    gzip_bomb,
    huge_body,
    huge_json,
    items_json,
    json_reply,
    slow_drip,
)

from federation.addresses import is_public_address
from federation.sync.fetch import (
    REASONS,
    Client,
    FetchError,
    Limits,
    parse_json,
)

# Loopback peers need allow_private; short timeouts keep a failing test from hanging the suite.
LOCAL = Limits(allow_private=True, connect_timeout=2.0, read_timeout=2.0, total_timeout=5.0)
STRICT = Limits(connect_timeout=2.0, read_timeout=2.0, total_timeout=5.0)


@pytest.fixture
def peer() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(LOCAL) as local:
        yield local


@pytest.fixture
def strict() -> Iterator[Client]:
    with Client(STRICT) as guarded:
        yield guarded


def refused(client: Client, url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        client.get(url, **kwargs)
    assert info.value.reason in REASONS
    return info.value


def timed_refusal(client: Client, url: str) -> tuple[FetchError, float]:
    start = time.monotonic()
    error = refused(client, url)
    return error, time.monotonic() - start


# --- ordinary answers ---------------------------------------------------------------------


def test_json_document(client: Client, peer: HostileServer) -> None:
    peer.route("/doc", json_reply({"name": "Peer"}, headers={"ETag": '"v1"'}))
    response = client.get(f"{peer.url}/doc?x=1")
    assert (response.status, response.json(), response.etag) == (200, {"name": "Peer"}, '"v1"')
    assert response.url == f"{peer.url}/doc?x=1"
    assert response.headers["content-type"] == "application/json"
    sent = peer.requests[0].headers
    assert sent["Accept"] == "application/json"
    assert sent["Accept-Encoding"] == "gzip"
    assert sent["User-Agent"] == "solidarity-federation/1"
    assert sent["If-None-Match"] is None


def test_json_is_parsed_once(client: Client, peer: HostileServer) -> None:
    peer.route("/doc", json_reply({"items": []}))
    response = client.get(f"{peer.url}/doc")
    assert response.json() is response.json()


def test_not_modified_with_if_none_match(client: Client, peer: HostileServer) -> None:
    def conditional(request: RequestInfo) -> Reply:
        if request.headers["If-None-Match"] == '"head-7"':
            return Reply(304, headers={"ETag": '"head-7"'})
        return json_reply({"items": []}, headers={"ETag": '"head-7"'})

    peer.route("/changes", conditional)
    response = client.get(f"{peer.url}/changes", etag='"head-7"')
    assert (response.status, response.body, response.etag) == (304, b"", '"head-7"')
    assert peer.requests[0].headers["If-None-Match"] == '"head-7"'


def test_gone_raises_status_error_with_readable_body(client: Client, peer: HostileServer) -> None:
    peer.route("/changes", json_reply({"reason": "cursor_expired"}, status=410))
    error = refused(client, f"{peer.url}/changes?after=old")
    assert (error.reason, error.status) == ("status", 410)
    assert error.body is not None
    assert json.loads(error.body) == {"reason": "cursor_expired"}


def test_accepted_status_is_returned(client: Client, peer: HostileServer) -> None:
    peer.route("/objects/1", json_reply({"type": "Tombstone"}, status=410))
    response = client.get(f"{peer.url}/objects/1", accept=(200, 410))
    assert (response.status, response.json()) == (410, {"type": "Tombstone"})


def test_status_error_with_oversized_body_still_names_the_status(
    client: Client, peer: HostileServer
) -> None:
    peer.route("/", lambda _: Reply(500, {"Content-Length": str(50 * MiB)}, huge_body(50 * MiB)))
    error = refused(client, f"{peer.url}/")
    assert (error.reason, error.status, error.body) == ("status", 500, None)


def test_messages_quote_only_an_excerpt_of_the_body(client: Client, peer: HostileServer) -> None:
    peer.route("/", Reply(503, body=b"secret\n" * 2000))
    error = refused(client, f"{peer.url}/")
    assert error.reason == "status"
    assert len(error.message) < 300
    assert "\n" not in error.message  # a peer cannot forge lines in our logs


def test_kept_alive_connection_is_reused(client: Client, peer: HostileServer) -> None:
    peer.route("/doc", json_reply({}))
    client.get(f"{peer.url}/doc")
    client.get(f"{peer.url}/doc")
    assert (len(peer.requests), peer.connections) == (2, 1)


def test_aborted_connection_is_not_reused(client: Client, peer: HostileServer) -> None:
    peer.route("/big", lambda _: Reply(body=huge_body(10 * MiB), chunked=True))
    peer.route("/doc", json_reply({}))
    assert refused(client, f"{peer.url}/big").reason == "too_large"
    assert client.get(f"{peer.url}/doc").status == 200
    assert peer.connections == 2


def test_connection_refused(client: Client) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    assert refused(client, f"http://127.0.0.1:{port}/").reason == "connection"


# --- rule 1: scheme -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "ftp://127.0.0.1:{port}/feed",
        "gopher://127.0.0.1:{port}/feed",
        "ws://127.0.0.1:{port}/feed",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "127.0.0.1:{port}/feed",
        "//127.0.0.1:{port}/feed",
        "http://user:password@127.0.0.1:{port}/feed",
    ],
)
def test_other_schemes_refused_without_connecting(
    client: Client, peer: HostileServer, template: str
) -> None:
    error = refused(client, template.format(port=peer.port))
    assert error.reason == "scheme"
    assert peer.connections == 0


def test_plain_http_refused_unless_private_peers_allowed(
    strict: Client, peer: HostileServer
) -> None:
    assert refused(strict, f"{peer.url}/feed").reason == "scheme"
    assert peer.connections == 0


# --- rule 2: addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",  # 127.0.0.1 as one number: getaddrinfo still reads it
        "0.0.0.0",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::1]",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "[fe80::1]",
        "[fd00::1]",
        "[fec0::1]",
        "224.0.0.1",
    ],
)
def test_non_public_hosts_refused_before_connecting(
    strict: Client, peer: HostileServer, host: str
) -> None:
    error = refused(strict, f"https://{host}:{peer.port}/feed")
    assert error.reason == "address", error.message
    assert peer.connections == 0


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str], then: str = "127.0.0.1"
) -> None:
    """Answer `name` with `answers` one lookup at a time, then `then` for ever after."""
    real = socket.getaddrinfo
    remaining = iter(answers)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = next(remaining, then)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_name_resolving_to_loopback_refused_before_connecting(
    strict: Client, peer: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, "peer.example", [])
    error = refused(strict, f"https://peer.example:{peer.port}/feed")
    assert error.reason == "address"
    assert peer.connections == 0


def test_dns_rebinding_caught_on_the_connected_socket(
    strict: Client, peer: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Public when checked, loopback when connected: only the peer address tells.
    fake_dns(monkeypatch, "rebind.example", ["93.184.216.34"], then="127.0.0.1")
    error = refused(strict, f"https://rebind.example:{peer.port}/feed")
    assert error.reason == "address"
    # The socket did connect, and was closed before a byte was sent (the server may accept it
    # from its backlog a moment after the client has given up).
    deadline = time.monotonic() + 2.0
    while peer.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert peer.connections == 1
    assert peer.requests == []


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.1",
        "0.0.0.0",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.251",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:0:a00:1",  # SIIT-translated 10.0.0.1
        "::127.0.0.1",  # deprecated IPv4-compatible form
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::1",  # local-use NAT64
        "2001:db8::1",  # documentation
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


# --- rule 3: redirects ----------------------------------------------------------------------


def test_same_origin_redirect_followed(client: Client, peer: HostileServer) -> None:
    peer.route("/old", Reply(301, {"Location": "/new?page=2"}))
    peer.route("/new", json_reply({"moved": True}))
    response = client.get(f"{peer.url}/old")
    assert (response.url, response.json()) == (f"{peer.url}/new?page=2", {"moved": True})
    assert [request.path for request in peer.requests] == ["/old", "/new?page=2"]


def test_redirects_limited_to_max_redirects(client: Client, peer: HostileServer) -> None:
    for hop in range(1, 6):
        peer.route(f"/hop/{hop}", Reply(302, {"Location": f"{peer.url}/hop/{hop - 1}"}))
    peer.route("/hop/0", json_reply({}))
    assert client.get(f"{peer.url}/hop/3").status == 200  # three redirects: allowed
    peer.requests.clear()
    assert refused(client, f"{peer.url}/hop/4").reason == "redirect"
    assert len(peer.requests) == 4  # the fourth redirect is not followed


def test_redirect_to_another_port_refused(client: Client, peer: HostileServer) -> None:
    with HostileServer() as other:
        peer.route("/feed", Reply(307, {"Location": f"{other.url}/feed"}))
        assert refused(client, f"{peer.url}/feed").reason == "redirect"
        assert other.connections == 0


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/feed",
        "https://127.0.0.1:{port}/feed",
        "//10.0.0.1/feed",
        "ftp://127.0.0.1:{port}/feed",
    ],
)
def test_redirect_off_the_origin_refused(
    client: Client, peer: HostileServer, location: str
) -> None:
    peer.route("/feed", Reply(302, {"Location": location.format(port=peer.port)}))
    assert refused(client, f"{peer.url}/feed").reason == "redirect"
    assert len(peer.requests) == 1


def test_redirect_without_location_refused(client: Client, peer: HostileServer) -> None:
    peer.route("/feed", Reply(302))
    assert refused(client, f"{peer.url}/feed").reason == "redirect"


def test_redirect_body_is_never_read(client: Client, peer: HostileServer) -> None:
    # requests.Session reads a redirect's whole body even with allow_redirects=False.
    peer.route("/old", lambda _: Reply(302, {"Location": "/new"}, slow_drip(), delay=0.2))
    peer.route("/new", json_reply({}))
    start = time.monotonic()
    assert client.get(f"{peer.url}/old").status == 200
    assert time.monotonic() - start < 2.0


# --- rule 4: size ---------------------------------------------------------------------------


def test_declared_length_over_limit_refused_before_reading(
    client: Client, peer: HostileServer
) -> None:
    peer.route(
        "/", lambda _: Reply(headers={"Content-Length": str(50 * MiB)}, body=huge_body(50 * MiB))
    )
    error, elapsed = timed_refusal(client, f"{peer.url}/")
    assert error.reason == "too_large"
    assert str(50 * MiB) in error.message
    assert elapsed < 2.0


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_streamed_50_mb_refused(client: Client, peer: HostileServer, chunked: bool) -> None:
    peer.route("/", lambda _: Reply(body=huge_json(50 * MiB), chunked=chunked))
    error, elapsed = timed_refusal(client, f"{peer.url}/")
    assert error.reason == "too_large"
    assert "max_bytes" in error.message
    assert elapsed < 2.0


def test_gzip_bomb_refused_with_bounded_memory(client: Client, peer: HostileServer) -> None:
    bomb = gzip_bomb(50 * MiB)
    assert len(bomb) < 100 * 1024
    peer.route("/", Reply(headers={"Content-Encoding": "gzip"}, body=bomb))
    tracemalloc.start()
    try:
        error = refused(client, f"{peer.url}/")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "too_large"
    assert peak < LOCAL.max_bytes + MiB  # the body up to the limit, a chunk, bookkeeping


def test_gzip_and_deflate_bodies_are_inflated(client: Client, peer: HostileServer) -> None:
    document = items_json(1000)
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = compressor.compress(document) + compressor.flush()
    peer.route("/gzip", Reply(headers={"Content-Encoding": "gzip"}, body=gzip.compress(document)))
    peer.route(
        "/zlib", Reply(headers={"Content-Encoding": "deflate"}, body=zlib.compress(document))
    )
    peer.route("/raw", Reply(headers={"Content-Encoding": "deflate"}, body=raw_deflate))
    for path in ("/gzip", "/zlib", "/raw"):
        assert client.get(f"{peer.url}{path}").body == document


def test_concatenated_gzip_members_are_one_body(client: Client, peer: HostileServer) -> None:
    body = gzip.compress(b'{"items": [') + gzip.compress(b"]}")
    peer.route("/", Reply(headers={"Content-Encoding": "gzip"}, body=body))
    assert client.get(f"{peer.url}/").json() == {"items": []}


def test_compressed_bytes_are_capped_too(peer: HostileServer) -> None:
    # Random bytes do not compress: a body just under the limit is just over it gzipped.
    noise = bytes(range(256)) * 64
    body = zlib.compress(noise, 0)
    peer.route("/", Reply(headers={"Content-Encoding": "deflate"}, body=body))
    with Client(Limits(allow_private=True, max_bytes=len(noise))) as tight:
        assert refused(tight, f"{peer.url}/").reason == "too_large"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_unrequested_encodings_refused(client: Client, peer: HostileServer, encoding: str) -> None:
    peer.route("/", Reply(headers={"Content-Encoding": encoding}, body=gzip.compress(b"{}")))
    assert refused(client, f"{peer.url}/").reason == "connection"


def test_corrupt_or_truncated_bodies_refused(client: Client, peer: HostileServer) -> None:
    whole = gzip.compress(items_json(100))
    peer.route("/corrupt", Reply(headers={"Content-Encoding": "gzip"}, body=b"\x1f\x8bnot gzip"))
    peer.route(
        "/cut", lambda _: Reply(headers={"Content-Encoding": "gzip"}, body=iter([whole[:50]]))
    )
    peer.route(
        "/short", Reply(headers={"Content-Length": "1000", "Connection": "close"}, body=b"{}")
    )
    for path in ("/corrupt", "/cut", "/short"):
        assert refused(client, f"{peer.url}{path}").reason == "connection", path


# --- rule 5: time ---------------------------------------------------------------------------


def test_slow_drip_body_aborted_after_total_timeout(peer: HostileServer) -> None:
    peer.route("/", lambda _: Reply(body=slow_drip(), delay=0.2))
    with Client(Limits(allow_private=True, total_timeout=1.0)) as hurried:
        error, elapsed = timed_refusal(hurried, f"{peer.url}/")
    assert error.reason == "timeout"
    assert "total_timeout" in error.message
    assert 0.9 < elapsed < 2.5  # the deadline, plus a loaded machine's slack


def test_slow_drip_headers_aborted_after_total_timeout(peer: HostileServer) -> None:
    # The standard library reads a header line in one blocking call; only the watchdog cuts it.
    head = slow_drip(b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a")
    peer.route("/", lambda _: Reply(body=head, delay=0.2, raw=True))
    with Client(Limits(allow_private=True, total_timeout=1.0)) as hurried:
        error, elapsed = timed_refusal(hurried, f"{peer.url}/")
    assert error.reason == "timeout"
    assert 0.9 < elapsed < 2.5  # the deadline, plus a loaded machine's slack


def test_silent_peer_hits_read_timeout(peer: HostileServer) -> None:
    peer.route("/", lambda _: Reply(body=slow_drip(count=1), delay=1.0))
    with Client(Limits(allow_private=True, read_timeout=0.3)) as hurried:
        error, elapsed = timed_refusal(hurried, f"{peer.url}/")
    assert error.reason == "timeout"
    assert "read_timeout" in error.message
    assert elapsed < 1.0  # the peer's byte would have come at 1 s


# --- rule 6: JSON ---------------------------------------------------------------------------


def test_ten_thousand_items_parse(client: Client, peer: HostileServer) -> None:
    body = items_json(10_000)
    assert len(body) < LOCAL.max_bytes
    peer.route("/changes", Reply(body=body))
    assert len(client.get(f"{peer.url}/changes").json()["items"]) == 10_000


def test_depth_sixteen_accepted_seventeen_refused(client: Client, peer: HostileServer) -> None:
    peer.route("/16", Reply(body=deeply_nested(16)))
    peer.route("/17", Reply(body=deeply_nested(17)))
    assert client.get(f"{peer.url}/16").json() == json.loads(deeply_nested(16))
    with pytest.raises(FetchError) as info:
        client.get(f"{peer.url}/17").json()
    assert info.value.reason == "depth"


def test_depth_counts_objects_and_arrays() -> None:
    assert parse_json(b'{"a": [{"b": 1}]}', 3) == {"a": [{"b": 1}]}
    with pytest.raises(FetchError) as info:
        parse_json(b'{"a": [{"b": []}]}', 3)
    assert info.value.reason == "depth"
    assert parse_json(b'"scalar"', 0) == "scalar"


def test_absurd_nesting_is_a_depth_error_not_a_crash() -> None:
    with pytest.raises(FetchError) as info:
        parse_json(deeply_nested(200_000), 16)
    assert info.value.reason == "depth"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"name": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\xef\xbb\xbf{}",  # a byte order mark
        b"",
        b"{",
        b"[1, 2,]",
        b"NaN",
        b'{"n": -Infinity}',
        b'{"id": "a", "id": "b"}',
        b"9" * 5000,
    ],
)
def test_invalid_json_refused(raw: bytes) -> None:
    with pytest.raises(FetchError) as info:
        parse_json(raw, 16)
    assert info.value.reason == "json"
    assert len(info.value.message) < 300


def test_invalid_utf8_body_refused(client: Client, peer: HostileServer) -> None:
    peer.route("/", Reply(body=b'{"title": "\xff\xfe"}'))
    with pytest.raises(FetchError) as info:
        client.get(f"{peer.url}/").json()
    assert info.value.reason == "json"
