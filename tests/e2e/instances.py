"""Whole instances as real server processes (gunicorn, each with its own database and keys),
driven through their public HTTP API, as the federation tests and an operator see them.
(For volumes and for backups, `Instance.app()` also opens an instance's application in the
test process, on the same database and keys.)"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from servers import environment, flask, free_port, gunicorn

from federation import create_app
from federation.db import Base, get_database, get_session
from federation.services import coalitions as coalition_service
from federation.services import events as event_service
from federation.services.auth import Actor
from schemas.events import EventSchema


@dataclass
class Instance:
    """One running instance: its origin, environment (for CLI commands) and admin token."""

    name: str
    base: str
    env: dict[str, str]
    token: str

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def json(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def add_peer(self, other: Instance | str, *, relay: bool = False) -> dict[str, Any]:
        url = other.base if isinstance(other, Instance) else other
        peer: dict[str, Any] = self.json(
            "POST", "/api/v1/peers", 201, json={"url": url, "relay": relay}
        )
        return peer

    def sync(self, peer: dict[str, Any]) -> dict[str, Any]:
        """One round with `peer`, through the API; the round's summary."""
        summary: dict[str, Any] = self.json("POST", f"/api/v1/peers/{peer['id']}/sync")
        return summary

    def sync_all(self) -> dict[str, Any]:
        """`flask federation sync` for every peer, as the worker runs it; its summaries."""
        result = flask(self.env, "federation", "sync")
        return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}

    def peers(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("GET", "/api/v1/peers")["items"]
        return items

    def peer(self, other: Instance) -> dict[str, Any]:
        """The peer entry (with its reading status) for `other`, as the API shows it now."""
        (peer,) = [peer for peer in self.peers() if peer["url"] == other.base]
        return peer

    def remove_peers(self) -> None:
        """Remove every peer and the objects each brought (`DELETE ...?purge=true`)."""
        for peer in self.peers():
            self.json("DELETE", f"/api/v1/peers/{peer['id']}", 204, params={"purge": "true"})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`flask --app wsgi <args>` against this instance's database; must succeed."""
        result = flask(self.env, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def head(self) -> int:
        """The position of the newest change in this instance's federation log."""
        response = requests.get(f"{self.base}/federation/v1/changes?limit=1", timeout=60)
        assert response.status_code == 200, response.text
        return cursor_position(response.headers["ETag"].strip('"'))

    def changes(self, after: int | str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Every entry of the changes feed after a cursor (or a position of this epoch)."""
        if isinstance(after, int):
            after = self.cursor(after)
        items: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
            response = requests.get(f"{self.base}/federation/v1/changes", params=params, timeout=60)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            after = page["next"]
            if page["up_to_date"]:
                return items

    def cursor(self, position: int) -> str:
        """The changes cursor of `position` in the log's current epoch."""
        response = requests.get(f"{self.base}/federation/v1/changes?limit=1", timeout=60)
        epoch = decode_cursor(response.headers["ETag"].strip('"'))[0]
        return base64.urlsafe_b64encode(f"{epoch}.{position}".encode()).rstrip(b"=").decode()

    @contextlib.contextmanager
    def app(self) -> Iterator[Flask]:
        """This instance's application in the test process: same database, origin and keys,
        so what it writes is signed by this instance (for volumes the API would take long for).
        """
        app = create_app(
            {
                "FEDERATION_DATABASE_URL": self.env["FEDERATION_DATABASE_URL"],
                "FEDERATION_BASE_URL": self.env["FEDERATION_BASE_URL"],
                "FEDERATION_KEY_PATH": self.env["FEDERATION_KEY_PATH"],
                "FEDERATION_INSTANCE_NAME": self.name,
                "FEDERATION_ALLOW_PRIVATE_PEERS": True,
            }
        )
        try:
            yield app
        finally:
            get_database(app).engine.dispose()

    def backup(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, as a database backup would hold them."""
        with self.app() as app, get_database(app).engine.connect() as connection:
            return {
                table.name: [dict(row._mapping) for row in connection.execute(table.select())]
                for table in Base.metadata.sorted_tables
            }

    def restore(self, backup: dict[str, list[dict[str, Any]]]) -> None:
        """Put a `backup` back in place of everything, in one transaction, while the instance
        runs (as an operator restoring a dump would, before `flask federation new-epoch`)."""
        tables = Base.metadata.sorted_tables
        with self.app() as app, get_database(app).engine.begin() as connection:
            for table in reversed(tables):
                connection.execute(table.delete())
            for table in tables:
                if backup[table.name]:
                    connection.execute(table.insert(), backup[table.name])

    def publish_events(self, coalition_slug: str, payloads: list[dict[str, Any]]) -> list[str]:
        """Publish many actions of a coalition in ONE transaction, through the instance's own
        services in this process (so they are signed by it); their ids. The API would take
        one request, and one transaction, per action."""
        admin = Actor(token_id=uuid.uuid4(), coalition_id=None)
        with self.app() as app, app.app_context():
            session = get_session()
            coalition = coalition_service.get_coalition(session, coalition_slug)
            events = [
                event_service.publish_event(
                    session, admin, coalition, EventSchema().load(payload), origin=self.base
                )
                for payload in payloads
            ]
            session.commit()
            return [str(event.id) for event in events]

    def everything(self, path: str = "/api/v1/events", **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated API collection."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
            page = self.json("GET", path, params=query)
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(epoch, position) of a changes cursor (opaque to peers; tests may look inside)."""
    epoch, position = (
        base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(".")
    )
    return epoch, int(position)


def cursor_position(cursor: str) -> int:
    return decode_cursor(cursor)[1]


def launch(
    stack: contextlib.ExitStack, database_url: str, keys: Path, name: str, **extra: str
) -> Instance:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(
        database_url,
        base,
        FEDERATION_KEY_PATH=str(keys / f"{name}-keys.json"),
        FEDERATION_INSTANCE_NAME=name,
        **{"FEDERATION_ALLOW_PRIVATE_PEERS": "1", **extra},
    )
    upgraded = flask(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    minted = flask(env, "create-admin-token")
    assert minted.returncode == 0, minted.stderr
    stack.enter_context(gunicorn(env, port))
    return Instance(name=name, base=base, env=env, token=minted.stdout.strip())


@pytest.fixture
def start_instance(
    fresh_database_url: Callable[[], str], tmp_path: Path
) -> Iterator[Callable[..., Instance]]:
    """Start an instance (migrated database, own key file, loopback peers allowed)."""
    with contextlib.ExitStack() as stack:

        def start(name: str, **extra: str) -> Instance:
            return launch(stack, fresh_database_url(), tmp_path, name, **extra)

        yield start


@pytest.fixture(scope="module")
def start_module_instance(
    fresh_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Instance]]:
    """`start_instance` for a whole test module: the instances run until its last test ends
    (the tests share them, so each cleans up the peers it adds)."""
    keys = tmp_path_factory.mktemp("instances")
    with contextlib.ExitStack() as stack:

        def start(name: str, **extra: str) -> Instance:
            return launch(stack, fresh_database_url(), keys, name, **extra)

        yield start
