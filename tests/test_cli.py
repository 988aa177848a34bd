"""The commands an operator runs, as real processes: migrate, mint a token, serve with gunicorn."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from servers import environment, flask, free_port, gunicorn
from sqlalchemy import delete, func, select, update

from federation import create_app
from federation.db import get_database, get_session
from federation.models import Event, Occurrence
from federation.services.auth import Actor
from federation.services.coalitions import create_coalition
from federation.services.events import publish_event


def _env(url: str, **extra: str) -> dict[str, str]:
    return environment(url, "http://127.0.0.1:5000", **extra)


def _flask(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return flask(_env(url), *args)


@pytest.fixture
def migrated_url(fresh_database_url: Callable[[], str]) -> str:
    url = fresh_database_url()
    result = _flask(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture
def served(migrated_url: str) -> Iterator[str]:
    with gunicorn(_env(migrated_url), free_port()) as base:
        yield base


def test_create_admin_token_prints_only_the_token(migrated_url: str):
    result = _flask(migrated_url, "create-admin-token")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"sfed_[A-Za-z0-9_-]{43}\n", result.stdout)


def test_load_demo_once(migrated_url: str):
    assert _flask(migrated_url, "load-demo").returncode == 0
    again = _flask(migrated_url, "load-demo")
    assert again.returncode == 0
    assert "already" in again.stderr


def test_gunicorn_serves_the_api_and_honours_minted_tokens(migrated_url: str, served: str):
    token = _flask(migrated_url, "create-admin-token").stdout.strip()
    assert requests.get(f"{served}/healthz", timeout=5).json() == {"status": "ok"}
    coalition = {
        "slug": "los-angeles",
        "name": "Los Angeles Solidarity Coalition",
        "city": "Los Angeles",
        "city_slug": "los-angeles",
        "timezone": "America/Los_Angeles",
    }
    refused = requests.post(f"{served}/api/v1/coalitions", json=coalition, timeout=5)
    assert refused.status_code == 401
    created = requests.post(
        f"{served}/api/v1/coalitions",
        json=coalition,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    listed = requests.get(f"{served}/api/v1/coalitions", timeout=5).json()
    assert [c["slug"] for c in listed["items"]] == ["los-angeles"]


def test_revoked_token_stops_working(migrated_url: str, served: str):
    token = _flask(migrated_url, "create-admin-token").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    minted = requests.post(
        f"{served}/api/v1/coalitions",
        json={
            "slug": "new-york",
            "name": "NY",
            "city": "New York",
            "city_slug": "new-york",
            "timezone": "America/New_York",
        },
        headers=headers,
        timeout=5,
    )
    assert minted.status_code == 201
    coalition_token = requests.post(
        f"{served}/api/v1/coalitions/new-york/tokens", json={}, headers=headers, timeout=5
    ).json()
    assert _flask(migrated_url, "revoke-token", coalition_token["id"]).returncode == 0
    denied = requests.patch(
        f"{served}/api/v1/coalitions/new-york",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {coalition_token['token']}"},
        timeout=5,
    )
    assert denied.status_code == 401


def test_db_upgrade_and_the_index_command_index_what_is_not_indexed(migrated_url: str):
    """An action an older release stored (no index rows) is indexed by `db upgrade`, as an
    operator runs it after every upgrade, and `federation index-occurrences` does the same."""
    app = create_app({"FEDERATION_DATABASE_URL": migrated_url})
    admin = Actor(token_id=uuid.uuid4(), coalition_id=None)
    with app.app_context():
        session = get_session()
        coalition = create_coalition(
            session,
            admin,
            {"slug": "mpls", "name": "Twin Cities", "city": "Minneapolis",
             "city_slug": "minneapolis", "timezone": "America/Chicago"},
            origin="http://127.0.0.1:5000",
        )  # fmt: skip
        start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        data = {"title": "Nightly", "kind": "noise_demo", "starts_at": start,
                "ends_at": start + dt.timedelta(hours=1), "rrule": "FREQ=DAILY"}  # fmt: skip
        event = publish_event(session, admin, coalition, data, origin="http://127.0.0.1:5000")
        session.commit()

        def forget() -> None:
            session.execute(delete(Occurrence).where(Occurrence.event_id == event.id))
            session.execute(update(Event).where(Event.id == event.id).values(indexed_until=None))
            session.commit()

        def indexed() -> int:
            count = select(func.count()).where(Occurrence.event_id == event.id)
            found = int(session.scalar(count) or 0)
            session.rollback()  # end the transaction: the commands below need the writer lock
            return found

        forget()
        assert indexed() == 0
        result = _flask(migrated_url, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "occurrence index: 1 actions indexed" in result.stderr
        assert indexed() > 365
        forget()
        assert _flask(migrated_url, "federation", "index-occurrences").returncode == 0
        assert indexed() > 365
    get_database(app).engine.dispose()
