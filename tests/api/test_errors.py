"""HTTP errors every endpoint shares: bad bodies, oversized bodies, unknown routes, health."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import BASE_URL, bearer, coalition_payload, event_payload
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from federation import create_app
from federation.db import get_database, get_session
from federation.services.auth import mint_token

Maker = Callable[..., dict[str, Any]]
SMALL_LIMIT = 1024


def _error_shape(response: Any, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.json
    assert body["code"] == status
    assert isinstance(body["status"], str)
    assert body["status"]
    assert isinstance(body["message"], str)
    assert body["message"]


@pytest.fixture
def small_app(database_url: str, engine: Engine) -> Iterator[Flask]:
    """A second app on the test database whose body limit is 1 KiB; rolled back like `app`."""
    app = create_app(
        {
            "TESTING": True,
            "FEDERATION_DATABASE_URL": database_url,
            "FEDERATION_BASE_URL": BASE_URL,
            "MAX_CONTENT_LENGTH": SMALL_LIMIT,
        }
    )
    connection = engine.connect()
    outer = connection.begin()
    get_database(app).sessionmaker.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    yield app
    outer.rollback()
    connection.close()
    get_database(app).engine.dispose()


@pytest.mark.parametrize(
    "raw", ['{"slug": ', "{'slug': 'minneapolis'}", "not json at all", '{"a": 1,}']
)
def test_malformed_json_is_400(client: FlaskClient, admin: dict[str, str], raw: str) -> None:
    response = client.post(
        "/api/v1/coalitions", data=raw, content_type="application/json", headers=admin
    )

    _error_shape(response, 400)
    assert client.get("/api/v1/coalitions").json["items"] == []


@pytest.mark.parametrize("body", [[coalition_payload()], "minneapolis", 42, None])
def test_json_body_that_is_not_an_object_is_422(
    client: FlaskClient, admin: dict[str, str], body: Any
) -> None:
    response = client.post(
        "/api/v1/coalitions", data=json.dumps(body), content_type="application/json", headers=admin
    )

    _error_shape(response, 422)
    assert client.get("/api/v1/coalitions").json["items"] == []


def test_body_over_the_default_limit_is_413(client: FlaskClient, admin: dict[str, str]) -> None:
    body = json.dumps(coalition_payload(description="x" * 300 * 1024))

    response = client.post(
        "/api/v1/coalitions", data=body, content_type="application/json", headers=admin
    )

    _error_shape(response, 413)
    assert client.get("/api/v1/coalitions").json["items"] == []


def test_oversized_body_is_refused_before_authentication(client: FlaskClient) -> None:
    """The limit guards the server: a huge body gets 413 whoever sends it."""
    body = json.dumps(coalition_payload(description="x" * 300 * 1024))

    response = client.post("/api/v1/coalitions", data=body, content_type="application/json")

    _error_shape(response, 413)


def test_body_limit_is_configurable(small_app: Flask) -> None:
    with small_app.app_context():
        session = get_session()
        admin = bearer(mint_token(session, label="small").token)
        session.commit()
    client = small_app.test_client()
    small = coalition_payload(member_organizations=[])
    big = coalition_payload(description="x" * 2 * SMALL_LIMIT)
    assert len(json.dumps(small)) < SMALL_LIMIT

    too_big = client.post("/api/v1/coalitions", json=big, headers=admin)
    fits = client.post("/api/v1/coalitions", json=small, headers=admin)

    _error_shape(too_big, 413)
    assert fits.status_code == 201, fits.json
    listed = client.get("/api/v1/coalitions").json["items"]
    assert [c["description"] for c in listed] == [small["description"]]


def test_unknown_route_is_404_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")

    _error_shape(response, 404)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("put", "/api/v1/coalitions"),
        ("delete", "/api/v1/coalitions"),
        ("post", "/api/v1/events"),
        ("post", "/healthz"),
    ],
)
def test_wrong_method_is_405_json(client: FlaskClient, method: str, url: str) -> None:
    response = getattr(client, method)(url, json={})

    _error_shape(response, 405)


def test_405_names_the_allowed_methods(client: FlaskClient) -> None:
    """RFC 9110 15.5.6: a 405 response must carry Allow, so a client can see what would work."""
    response = client.put("/api/v1/coalitions", json={})

    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers.get("Allow", "").split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_failing_write_leaves_nothing_behind(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    coalition = make_coalition()

    response = client.post(
        "/api/v1/coalitions/minneapolis/events",
        json=event_payload(rrule="FREQ=SOMETIMES;COUNT=3"),
        headers=admin,
    )

    _error_shape(response, 422)
    assert "rrule" in response.json["errors"]["json"]
    assert client.get("/api/v1/events").json["items"] == []
    assert (
        client.get("/api/v1/events", query_string={"coalition": "minneapolis"}).json["items"] == []
    )
    assert client.get("/api/v1/coalitions/minneapolis").json == coalition
