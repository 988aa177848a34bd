"""Headers every response carries, beyond the members' pages (tests/pages checks theirs)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def test_api_feeds_and_protocol_are_not_sniffed_framed_or_scripted(
    client: FlaskClient, make_coalition: Any, make_event: Any
):
    make_coalition()
    event = make_event()
    feed = client.get("/feeds/all.ics")
    responses = {
        "feed": feed,
        "feed 304": client.get("/feeds/all.ics", headers={"If-None-Match": feed.headers["ETag"]}),
        "event .ics": client.get(f"/events/{event['id']}.ics"),
        "API": client.get("/api/v1/events"),
        "API error": client.get("/api/v1/events/not-an-id"),
        "spec": client.get("/api/openapi.json"),
        "discovery": client.get("/.well-known/solidarity-federation"),
    }
    with client.get("/static/style.css") as stylesheet:
        responses["stylesheet"] = stylesheet
    assert responses["feed 304"].status_code == 304
    for name, response in responses.items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "no-referrer", name
        # Nothing here is a page: a browser that renders it anyway may run and load nothing.
        policy = response.headers["Content-Security-Policy"]
        assert policy == "default-src 'none'; frame-ancestors 'none'", name
        assert "Accept-Language" not in response.vary, name
