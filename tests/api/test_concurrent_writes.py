"""Many writers at once against real gunicorn workers: every write is applied or refused with
409, never a 500 (on SQLite, "database is locked"), and no write that was answered 2xx is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import backend, coalition_payload, event_payload
from servers import environment, flask, free_port, gunicorn

from federation import create_app
from federation.db import WRITES, get_database, get_session
from federation.migrate import upgrade
from federation.services.auth import mint_token

WRITERS = 24
ROUNDS = 3


@pytest.fixture
def served(fresh_database_url: Callable[[], str]) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated database served by four gunicorn workers, and an instance admin's headers."""
    url = fresh_database_url()
    env = environment(url, "http://127.0.0.1:5000")
    migrated = flask(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    token = flask(env, "create-admin-token")
    assert token.returncode == 0, token.stderr
    with gunicorn(env, free_port(), workers=4) as base:
        yield base, {"Authorization": f"Bearer {token.stdout.strip()}"}


def _all_at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call in its own thread, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_parallel_creates_and_patches_all_succeed_or_conflict(
    served: tuple[str, dict[str, str]],
) -> None:
    base, admin = served
    api = f"{base}/api/v1"
    created = requests.post(
        f"{api}/coalitions", json=coalition_payload(), headers=admin, timeout=30
    )
    assert created.status_code == 201, created.text
    hot = [
        requests.post(
            f"{api}/coalitions/minneapolis/events",
            json=event_payload(title=f"Hot {n}"),
            headers=admin,
            timeout=30,
        ).json()["id"]
        for n in range(3)
    ]
    statuses: Counter[int] = Counter()
    applied_patches: Counter[str] = Counter()
    new_ids: list[str] = []

    for round_number in range(ROUNDS):
        calls: list[Callable[[], requests.Response]] = []
        targets: list[str | None] = []
        for n in range(WRITERS):
            if n % 3 == 0:
                body = event_payload(title=f"New {round_number}-{n}")
                calls.append(
                    lambda body=body: requests.post(
                        f"{api}/coalitions/minneapolis/events", json=body, headers=admin, timeout=60
                    )
                )
                targets.append(None)
            else:
                # Half the PATCHes on one event, the others spread over two more.
                target = hot[0] if n % 2 else hot[1 + n // 2 % 2]
                body = {"title": f"Edit {round_number}-{n}"}
                calls.append(
                    lambda target=target, body=body: requests.patch(
                        f"{api}/events/{target}", json=body, headers=admin, timeout=60
                    )
                )
                targets.append(target)
        responses = _all_at_once(calls)
        statuses.update(response.status_code for response in responses)
        failed = [r.text for r in responses if r.status_code not in (200, 201, 409)]
        assert not failed, (statuses, failed[:3])
        for target, response in zip(targets, responses, strict=True):
            if response.status_code == 201:
                new_ids.append(response.json()["id"])
            elif response.status_code == 200 and target is not None:
                applied_patches[target] += 1

    assert sum(statuses.values()) == WRITERS * ROUNDS
    # Every answered write is there: each create can be read, and each applied PATCH moved its
    # event one version on (none overwrote another unnoticed).
    for event_id in new_ids:
        assert requests.get(f"{api}/events/{event_id}", timeout=30).status_code == 200
    for event_id in hot:
        shown: dict[str, Any] = requests.get(f"{api}/events/{event_id}", timeout=30).json()
        assert shown["version"] == 1 + applied_patches[event_id], (statuses, shown)
    # And each of them reached the federation log once, at its own position.
    feed = requests.get(f"{base}/federation/v1/changes?limit=500", timeout=30).json()["items"]
    logged = Counter(item["id"].rsplit("/", 1)[-1] for item in feed)
    assert all(count == 1 for count in logged.values())
    assert set(new_ids) | set(hot) <= set(logged)


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's single writer lock")
def test_readers_do_not_wait_for_the_writer_and_writers_wait_their_turn(
    fresh_database_url: Callable[[], str], tmp_path: Path
) -> None:
    url = fresh_database_url()
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "FEDERATION_DATABASE_URL": url,
            "FEDERATION_KEY_PATH": str(tmp_path / "keys.json"),
        }
    )
    with app.app_context():
        session = get_session()
        admin = {"Authorization": f"Bearer {mint_token(session).token}"}
        session.commit()
    client = app.test_client()
    engine = get_database(app).engine
    try:
        # Another process's writer holds the write lock for a second.
        holder = engine.connect().execution_options(**{WRITES: True})
        holder.begin()
        threading.Timer(1.0, holder.close).start()
        started = time.monotonic()
        read = client.get("/api/v1/coalitions")
        read_took = time.monotonic() - started
        written = client.post("/api/v1/coalitions", json=coalition_payload(), headers=admin)
        write_took = time.monotonic() - started
    finally:
        engine.dispose()

    assert read.status_code == 200
    assert read_took < 0.5
    assert written.status_code == 201, written.json
    assert write_took >= 0.9  # it waited for the lock, and then wrote
