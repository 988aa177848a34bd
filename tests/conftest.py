"""Test harness: one fresh database per run (SQLite or PostgreSQL), migrated by Alembic, and
each test inside an outer transaction that is rolled back, so the app may commit freely."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import servers
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from federation import create_app
from federation.db import get_database, get_session, make_engine
from federation.migrate import upgrade
from federation.services.auth import mint_token

BACKEND_ENV = "FEDERATION_TEST_BACKEND"
POSTGRES_ENV = "FEDERATION_TEST_DATABASE_URL"
BASE_URL = "http://federation.test"


def backend() -> str:
    return os.environ.get(BACKEND_ENV, "sqlite")


def _create_postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A uniquely named database on the server, and how to drop it."""
    name = f"federation_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="session", autouse=True)
def federation_key_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every app of the run, in-process or a subprocess, signs with keys in a temporary file:
    tests never write into instance/."""
    path = tmp_path_factory.mktemp("keys") / "federation-keys.json"
    patch = pytest.MonkeyPatch()
    patch.setenv("FEDERATION_KEY_PATH", str(path))
    yield path
    patch.undo()


@pytest.fixture(scope="session")
def fresh_database_url(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """Make another empty database of the leg's backend; dropped at the end of the run."""
    drops: list[Callable[[], None]] = []

    def make() -> str:
        if backend() == "postgresql":
            admin_url = os.environ.get(POSTGRES_ENV)
            if not admin_url:
                pytest.exit(f"{BACKEND_ENV}=postgresql needs {POSTGRES_ENV}", returncode=3)
            url, drop = _create_postgres_database(admin_url)
            drops.append(drop)
            return url
        path = Path(tmp_path_factory.mktemp("db")) / "federation.db"
        return f"sqlite:///{path}"

    yield make  # type: ignore[misc]
    for drop in drops:
        drop()


@pytest.fixture(scope="session")
def database_url(fresh_database_url: Callable[[], str]) -> str:
    url = fresh_database_url()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(database_url: str, engine: Engine) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "FEDERATION_DATABASE_URL": database_url,
            "FEDERATION_BASE_URL": BASE_URL,
            "FEDERATION_INSTANCE_NAME": "Test instance",
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


@dataclass(frozen=True)
class Served:
    """An instance served by real gunicorn: its base URL and an instance-admin token."""

    base: str
    token: str

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.token)


@pytest.fixture(scope="module")
def served(fresh_database_url: Callable[[], str]) -> Iterator[Served]:
    """gunicorn (one worker) on a migrated database of its own, for the module's tests:
    what only a real server shows (chunked bodies, headers on the wire)."""
    env = servers.environment(fresh_database_url(), "http://127.0.0.1:5000")
    assert servers.flask(env, "db", "upgrade").returncode == 0
    token = servers.flask(env, "create-admin-token").stdout.strip()
    with servers.gunicorn(env, servers.free_port(), workers=1) as base:
        yield Served(base, token)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(app: Flask) -> str:
    with app.app_context():
        session = get_session()
        minted = mint_token(session, label="test admin")
        session.commit()
        return minted.token


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    """Headers of an instance admin."""
    return bearer(admin_token)


def coalition_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "minneapolis",
        "name": "Twin Cities Solidarity Coalition",
        "city": "Minneapolis",
        "city_slug": "minneapolis",
        "timezone": "America/Chicago",
        "description": "Unions and community groups.",
        "website": "https://example.org/mpls",
        "member_organizations": [{"name": "SEIU Local 26", "kind": "union"}],
    }
    data.update(overrides)
    return data


def event_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "March on the Capitol",
        "description": "Bring signs.",
        "starts_at": "2027-01-23T12:00:00-06:00",
        "ends_at": "2027-01-23T15:00:00-06:00",
        "kind": "march",
        "tags": ["day-of-action"],
        "location": {
            "name": "Minnesota State Capitol",
            "address": "75 Rev Dr Martin Luther King Jr Blvd, St Paul, MN",
            "latitude": 44.9553,
            "longitude": -93.1022,
        },
    }
    data.update(overrides)
    return data


def campaign_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "January 23 Day of Action",
        "description": "No work, no school, no shopping.",
        "call_to_action": "Join the march.",
        "starts_on": "2027-01-23",
        "ends_on": "2027-01-23",
        "coalition": "minneapolis",
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_coalition(client: FlaskClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Create a coalition through the API; returns its JSON."""

    def make(**overrides: Any) -> dict[str, Any]:
        response = client.post(
            "/api/v1/coalitions", json=coalition_payload(**overrides), headers=admin
        )
        assert response.status_code == 201, response.json
        return response.json  # type: ignore[no-any-return]

    return make


@pytest.fixture
def make_event(client: FlaskClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Publish an event of coalition `coalition` (a slug, default minneapolis)."""

    def make(coalition: str = "minneapolis", **overrides: Any) -> dict[str, Any]:
        response = client.post(
            f"/api/v1/coalitions/{coalition}/events", json=event_payload(**overrides), headers=admin
        )
        assert response.status_code == 201, response.json
        return response.json  # type: ignore[no-any-return]

    return make


@pytest.fixture
def make_campaign(client: FlaskClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        response = client.post(
            "/api/v1/campaigns", json=campaign_payload(**overrides), headers=admin
        )
        assert response.status_code == 201, response.json
        return response.json  # type: ignore[no-any-return]

    return make


@pytest.fixture
def coalition_token(client: FlaskClient, admin: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """Mint a coalition-admin token through the API; returns its headers."""

    def mint(slug: str) -> dict[str, str]:
        response = client.post(f"/api/v1/coalitions/{slug}/tokens", json={}, headers=admin)
        assert response.status_code == 201, response.json
        return bearer(response.json["token"])

    return mint
