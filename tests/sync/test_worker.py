"""The sync worker's own rules: one worker per peer at a time, and backoff that never gives up."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import zlib
from typing import Any
from urllib.parse import parse_qsl

import pytest
from conftest import backend
from flask import Flask
from hostile import HostileServer, Reply, RequestInfo, json_reply
from remote import RemoteOrigin
from sqlalchemy import Engine, select, text, update

from federation.db import get_database, get_session
from federation.envelope import DISCOVERY_PATH, SIGNATURE_MISMATCH
from federation.models import Event, Peer, QuarantinedObject, utcnow
from federation.services.occurrences import horizon_at
from federation.sync.checks import EnvelopeChecker
from federation.sync.fetch import Limits
from federation.sync.ingest import Ingest
from federation.sync.worker import (
    PEER_LOCK_CLASS,
    SyncSettings,
    backoff_delay,
    run_loop,
    sync_all,
    sync_peer,
)


def test_backoff_starts_at_a_minute_doubles_and_stays_under_an_hour():
    delays = [backoff_delay(failures).total_seconds() for failures in range(1, 12)]
    assert 48 <= delays[0] <= 72
    assert 96 <= delays[1] <= 144
    assert all(delay <= 3600 * 1.2 for delay in delays)
    assert delays[-1] >= 3600 * 0.8  # still retried after many failures, hourly


@pytest.mark.skipif(backend() != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_second_worker_leaves_a_peer_alone_while_another_reads_it(app: Flask, engine: Engine):
    with app.app_context():
        session = get_session()
        peer = Peer(url="https://peer.invalid")
        session.add(peer)
        session.commit()
        peer_id = peer.id
    key = zlib.crc32(peer_id.bytes) - 2**31
    settings = SyncSettings(own_origin="http://federation.test")
    factory = get_database(app).sessionmaker
    # Another worker (another connection) holds the peer's lock.
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": PEER_LOCK_CLASS, "k": key})
        summary = sync_peer(factory, peer_id, settings)
        assert summary.skipped
        assert summary.requests == 0
        other.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": PEER_LOCK_CLASS, "k": key})
    # Once it is free, a round runs (and fails: the name does not resolve).
    summary = sync_peer(factory, peer_id, settings)
    assert summary.skipped is None
    assert summary.ok is False
    with app.app_context():
        stored = get_session().get(Peer, peer_id)
        assert stored is not None
        assert stored.failures == 1
        assert stored.next_attempt_at is not None
        assert stored.next_attempt_at > dt.datetime.now(dt.UTC)


def test_an_unknown_peer_is_an_error(app: Flask):
    factory = get_database(app).sessionmaker
    with pytest.raises(LookupError):
        sync_peer(factory, uuid.uuid4(), SyncSettings(own_origin="http://federation.test"))


def _peer_server(origin_name: str) -> HostileServer:
    """A minimal well-behaved peer: its discovery document and an empty snapshot."""
    server = HostileServer()
    origin = RemoteOrigin(server.url, origin_name)
    server.route(DISCOVERY_PATH, json_reply(origin.discovery()))
    server.route(
        "/federation/v1/snapshot", json_reply({"items": [], "next_page": None, "cursor": "c0"})
    )
    server.route(
        "/federation/v1/changes", json_reply({"items": [], "next": "c0", "up_to_date": True})
    )
    return server


def test_an_unexpected_failure_with_one_peer_fails_only_that_peer(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    with _peer_server("Broken") as broken, _peer_server("Fine") as fine:
        with app.app_context():
            session = get_session()
            session.add_all([Peer(url=broken.url), Peer(url=fine.url)])
            session.commit()
        original = Ingest.apply_page

        def explode(self: Ingest, items: Any, **options: Any) -> None:
            if self.peer.url == broken.url:
                raise RuntimeError("a bug a peer's answer provoked")
            original(self, items, **options)

        monkeypatch.setattr(Ingest, "apply_page", explode)
        settings = SyncSettings(
            own_origin="http://federation.test", limits=Limits(allow_private=True)
        )
        summaries = {s.url: s for s in sync_all(get_database(app).sessionmaker, settings)}

    assert summaries[broken.url].ok is False
    assert "internal error (RuntimeError)" in (summaries[broken.url].error or "")
    assert summaries[fine.url].ok is True
    assert summaries[fine.url].up_to_date is True
    assert "failed unexpectedly" in caplog.text
    with app.app_context():
        peers = {peer.url: peer for peer in get_session().scalars(select(Peer))}
    assert peers[broken.url].failures == 1
    assert peers[fine.url].failures == 0


def _paged_peer(
    pages: int, failing: int | None = None, tampered: int | None = None
) -> tuple[HostileServer, list[list[dict[str, Any]]]]:
    """A peer whose snapshot holds `pages` pages of two events each (after their coalition),
    each page naming the next with a token "p<n>"; page `failing` answers 500, and the first
    event of page `tampered` was edited after it was signed."""
    server = HostileServer()
    origin = RemoteOrigin(server.url)
    coalition_id = uuid.uuid4()
    served = [[origin.coalition(coalition_id)]]
    served += [[origin.event(uuid.uuid4(), coalition_id) for _ in range(2)] for _ in range(pages)]
    if tampered is not None:
        served[tampered][0]["data"]["title"] = "Meet at the other gate"
    server.route(DISCOVERY_PATH, json_reply(origin.discovery()))

    def snapshot(request: RequestInfo) -> Reply:
        query = dict(parse_qsl(request.path.split("?", 1)[1]))
        index = int(query.get("page", "p0")[1:])
        last = index == len(served) - 1
        if index == failing:
            return json_reply({"code": 500, "status": "Internal Server Error"}, status=500)
        return json_reply(
            {
                "items": served[index],
                "next_page": None if last else f"p{index + 1}",
                "cursor": "c-end" if last else None,
            }
        )

    server.route("/federation/v1/snapshot", snapshot)
    server.route(
        "/federation/v1/changes", json_reply({"items": [], "next": "c-end", "up_to_date": True})
    )
    return server, served


def _add_peer(app: Flask, url: str) -> uuid.UUID:
    with app.app_context():
        session = get_session()
        peer = Peer(url=url)
        session.add(peer)
        session.commit()
        return peer.id


def _held_event_ids(app: Flask) -> set[str]:
    with app.app_context():
        return {str(event_id) for event_id in get_session().scalars(select(Event.id))}


def _ids(pages: list[list[dict[str, Any]]]) -> set[str]:
    return {item["id"].rsplit("/", 1)[-1] for page in pages for item in page}


def test_pages_fetched_ahead_are_applied_in_order_and_none_past_the_rounds_end(app: Flask):
    # The next page is fetched while one is applied; the peer still sees each page asked for
    # once, and not the page after the round's last.
    server, served = _paged_peer(pages=4)
    with server:
        peer_id = _add_peer(app, server.url)
        factory = get_database(app).sessionmaker
        settings = SyncSettings(
            own_origin="http://federation.test", limits=Limits(allow_private=True), max_pages=3
        )

        first = sync_peer(factory, peer_id, settings)
        pages_asked = [r.path for r in server.requests if r.route == "/federation/v1/snapshot"]
        assert first.ok
        assert not first.up_to_date
        assert first.pages == 3
        assert first.requests == 4
        assert len(pages_asked) == 3
        assert _held_event_ids(app) == _ids(served[1:3])

        second = sync_peer(factory, peer_id, settings)
        assert second.ok
        assert _held_event_ids(app) == _ids(served[1:])
    pages_asked = [r.path for r in server.requests if r.route == "/federation/v1/snapshot"]
    assert len(pages_asked) == len(set(pages_asked)) == len(served)


def test_a_page_fetched_ahead_that_fails_fails_the_round_after_the_page_before(app: Flask):
    # Page p2 is fetched while p1 is applied; its failure is the round's, once p1 is stored.
    server, served = _paged_peer(pages=3, failing=2)
    with server:
        peer_id = _add_peer(app, server.url)
        summary = sync_peer(
            get_database(app).sessionmaker,
            peer_id,
            SyncSettings(own_origin="http://federation.test", limits=Limits(allow_private=True)),
        )

    assert summary.ok is False
    assert summary.error is not None
    assert "500" in summary.error
    # What came before the failing page is kept, and the round resumes from there next time.
    assert _held_event_ids(app) == _ids(served[1:2])
    with app.app_context():
        stored = get_session().get(Peer, peer_id)
        assert stored is not None
        assert stored.snapshot_page == "p2"
        assert stored.failures == 1


def test_pages_checked_ahead_by_the_helpers_keep_every_verdict_on_its_own_object(
    app: Flask, monkeypatch: pytest.MonkeyPatch
):
    # With helper processes, a page fetched ahead is sent to them from the fetching thread,
    # while the page before is applied: a tampered object there is still the one refused.
    server, served = _paged_peer(pages=4, tampered=3)
    checker = EnvelopeChecker(1)
    threads: list[str] = []
    submit = checker.submit

    def recorded(batch: Any) -> Any:
        threads.append(threading.current_thread().name)
        return submit(batch)

    monkeypatch.setattr(checker, "submit", recorded)
    try:
        with server:
            peer_id = _add_peer(app, server.url)
            summary = sync_peer(
                get_database(app).sessionmaker,
                peer_id,
                SyncSettings(
                    own_origin="http://federation.test",
                    limits=Limits(allow_private=True),
                    checker=checker,
                ),
            )
    finally:
        checker.close(wait=True)

    assert summary.ok, summary.error
    assert "sync-fetch-ahead" in threads
    tampered = served[3][0]
    assert _held_event_ids(app) == _ids(served[1:]) - _ids([[tampered]])
    with app.app_context():
        [record] = get_session().scalars(select(QuarantinedObject))
    assert (record.object_id, record.reason) == (tampered["id"], SIGNATURE_MISMATCH)


def test_each_round_of_the_loop_keeps_the_occurrence_index_a_year_ahead(
    app: Flask, make_coalition: Any, make_event: Any
):
    """The worker moves the index's horizon on between rounds, with no peer at all (an
    instance that pulls from nobody still runs it)."""
    make_coalition()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    event_id = uuid.UUID(
        make_event(rrule="FREQ=DAILY", starts_at=start.isoformat(),
                   ends_at=(start + dt.timedelta(hours=1)).isoformat())["id"]
    )  # fmt: skip
    with app.app_context():
        session = get_session()
        session.execute(update(Event).where(Event.id == event_id).values(indexed_until=None))
        session.commit()
    rounds: list[bool] = []
    run_loop(
        get_database(app).sessionmaker,
        SyncSettings(own_origin="http://federation.test"),
        interval=1,
        report=lambda _summary: None,
        stop=lambda: rounds.append(True) or len(rounds) > 1,
    )
    with app.app_context():
        reach = get_session().scalar(select(Event.indexed_until).where(Event.id == event_id))
    assert reach == horizon_at(utcnow())
