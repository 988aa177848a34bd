"""Members' IP addresses never reach a log line."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient


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
