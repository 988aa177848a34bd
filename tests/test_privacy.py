"""Members' IP addresses never reach a log line."""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from servers import environment, flask, free_port, gunicorn


def test_request_log_of_the_development_server_has_no_client_address(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
):
    from werkzeug.serving import WSGIRequestHandler

    class FakeHandler(WSGIRequestHandler):
        def __init__(self) -> None:
            self.client_address = ("203.0.113.7", 51234)
            self.requestline = "GET /api/v1/events HTTP/1.1"

    with caplog.at_level(logging.INFO, logger="werkzeug"):
        FakeHandler().log_request(200, 123)
    assert caplog.records, "the request line was not logged at all"
    assert all("203.0.113.7" not in record.getMessage() for record in caplog.records)
    assert "GET /api/v1/events" in caplog.records[-1].getMessage()


def test_gunicorn_access_log_format_has_no_client_address():
    import runpy
    from pathlib import Path

    config = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
    assert "%(h)s" not in config["access_log_format"]
    assert "%(a)s" not in config["access_log_format"]


# Malformed requests as a scanner or a broken client sends them, and the error gunicorn must
# still log for each (the part of its message that says what was wrong).
MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400, "request line: 'GARBAGE'"),
    (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method: 'G@T'"),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "Invalid HTTP Version"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n", 400, "header name"),
    # A header line without a colon, naming a user agent and an address: the log keeps that
    # the header was bad, not what it said.
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent probe-agent/1.0 via 198.51.100.7:5123\r\n\r\n",
        400,
        "'User-Agent -'",
    ),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: a\r\n" * 200 + b"\r\n", 431, "headers"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "Request Line is too large"),
]


def _send(port: int, raw: bytes) -> tuple[int, int]:
    """Send raw bytes from a fresh connection; the client port used and the status answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(raw)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(1024)):
            answer += chunk
    return client_port, int(answer.split(b" ", 2)[1])


def test_gunicorn_logs_malformed_requests_without_the_client_address(
    fresh_database_url: Callable[[], str], tmp_path: Path
):
    url = fresh_database_url()
    port = free_port()
    env = environment(url, f"http://127.0.0.1:{port}")
    assert flask(env, "db", "upgrade").returncode == 0
    error_log, access_log = tmp_path / "error.log", tmp_path / "access.log"
    with gunicorn(env, port, workers=1, logs=tmp_path):
        started = error_log.stat().st_size
        ports = []
        for raw, status, _ in MALFORMED:
            client_port, answered = _send(port, raw)
            assert answered == status, raw[:40]
            ports.append(client_port)
        # A good request with what a proxy and a browser add: neither may reach the log.
        ports.append(
            _send(
                port,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: probe-agent/1.0\r\n"
                b"X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n",
            )[0]
        )
        deadline = time.monotonic() + 10
        while error_log.read_text().count("Invalid request") < len(MALFORMED):
            assert time.monotonic() < deadline, error_log.read_text()
            time.sleep(0.1)
        errors = error_log.read_text()
        access = access_log.read_text()
    handled = errors[started:]

    # The server's own address is logged once, as where it listens; a client's never.
    assert "127.0.0.1" not in errors.replace(f"Listening at: http://127.0.0.1:{port}", "")
    for log in (handled, access):
        for needle in ("127.0.0.1", "ip=", "198.51.100.7", "203.0.113.9", "probe-agent"):
            assert needle not in log, (needle, log)
        for client_port in ports:
            assert not re.search(rf"(?<![\d.\[]){client_port}(?![\d\]])", log), (client_port, log)

    # What went wrong is still logged, request by request.
    warnings = [line for line in handled.splitlines() if "Invalid request" in line]
    assert len(warnings) == len(MALFORMED), handled
    for line, (_, _, error) in zip(warnings, MALFORMED, strict=True):
        assert error in line, line
    assert 'GET /healthz HTTP/1.1" 200' in access


def test_gunicorn_access_log_blanks_client_atoms_even_if_the_format_asks_for_them():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from federation.privacy import GunicornLogger

    config = Config()
    config.set("accesslog", "-")
    config.set(
        "access_log_format",
        '%(h)s %(a)s %({x-forwarded-for}i)s %({remote_addr}e)s %({remote_port}e)s "%(r)s" %(s)s',
    )
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    log = GunicornLogger(config)
    log.access_log.addHandler(handler)
    try:
        headers = [("USER-AGENT", "probe-agent/1.0"), ("X-FORWARDED-FOR", "203.0.113.9")]
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": "/feeds/all.ics",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "203.0.113.9",
            "REMOTE_PORT": "51234",
            "HTTP_USER_AGENT": "probe-agent/1.0",
        }
        response = SimpleNamespace(status="200 OK", headers=[], sent=10)
        log.access(response, SimpleNamespace(headers=headers), environ, dt.timedelta(0))
    finally:
        log.access_log.removeHandler(handler)
    assert lines == ['- - - - - "GET /feeds/all.ics HTTP/1.1" 200']
