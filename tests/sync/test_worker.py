"""The sync worker's own rules: one worker per peer at a time, and backoff that never gives up."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from typing import Any

import pytest
from conftest import backend
from flask import Flask
from hostile import HostileServer, json_reply
from remote import RemoteOrigin
from sqlalchemy import Engine, select, text

from federation.db import get_database, get_session
from federation.envelope import DISCOVERY_PATH
from federation.models import Peer
from federation.sync.fetch import Limits
from federation.sync.ingest import Ingest
from federation.sync.worker import (
    PEER_LOCK_CLASS,
    SyncSettings,
    backoff_delay,
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

        def explode(self: Ingest, items: Any, *, listed: bool = False) -> None:
            if self.peer.url == broken.url:
                raise RuntimeError("a bug a peer's answer provoked")
            original(self, items, listed=listed)

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
