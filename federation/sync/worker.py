"""The sync worker: one round per peer pulls its changes (or a snapshot after a 410), applies
them, and commits each page's objects together with the peer's new cursor.

Killing the worker at any moment loses nothing: what is committed is a page and the cursor
after it, and applying a page again is harmless (ingest is idempotent). Several workers may run
at once: on PostgreSQL a session-level advisory lock per peer lets only one of them read a
given peer at a time (SQLite has a single writer, and the round commits page by page).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from federation.db import writing_session
from federation.envelope import DISCOVERY_PATH
from federation.models import Peer, utcnow
from federation.services import occurrences
from federation.sync.checks import EnvelopeChecker
from federation.sync.fetch import Client, FetchError, Limits, Response
from federation.sync.ingest import (
    APPLIED,
    CONFLICT,
    IGNORED,
    REJECTED,
    UNCHANGED,
    WAITING,
    CheckedAhead,
    Ingest,
)
from schemas.federation import PAGE_MAX

logger = logging.getLogger(__name__)

# Any constant, as long as every worker uses the same one (the federation log uses another).
PEER_LOCK_CLASS = 0x5F_ED_5C
BACKOFF_FIRST = 60.0
BACKOFF_MAX = 3600.0


class ProtocolError(ValueError):
    """The peer answered, but not as the protocol says (a loop, a malformed page...)."""


@dataclass(frozen=True)
class SyncSettings:
    own_origin: str
    limits: Limits = field(default_factory=Limits)
    page_size: int = PAGE_MAX
    max_pages: int = 20
    max_seconds: float = 120.0
    # Where envelopes are checked (None: in this process, as the API's "sync now" does).
    checker: EnvelopeChecker | None = None


@dataclass
class RoundSummary:
    """What one round with one peer did; the API and the CLI show it as it is."""

    peer_id: str
    url: str
    ok: bool = True
    skipped: str | None = None
    requests: int = 0
    not_modified: int = 0
    pages: int = 0
    received: int = 0
    applied: int = 0
    unchanged: int = 0
    ignored: int = 0
    rejected: int = 0
    conflicts: int = 0
    waiting: int = 0
    resynced: bool = False
    swept: int = 0
    up_to_date: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.skipped:
            return f"{self.url}: skipped ({self.skipped})"
        state = "ok" if self.ok else f"FAILED: {self.error}"
        return (
            f"{self.url}: {state}; {self.requests} requests ({self.not_modified} not modified), "
            f"{self.pages} pages, {self.received} objects: {self.applied} applied, "
            f"{self.unchanged} unchanged, {self.ignored} ignored, {self.rejected} rejected, "
            f"{self.conflicts} conflicts, {self.waiting} waiting"
            + ("; resynced from a snapshot" if self.resynced else "")
            + (f", {self.swept} removed" if self.swept else "")
            + ("; up to date" if self.up_to_date else "")
        )


def backoff_delay(failures: int) -> dt.timedelta:
    """1 min after the first failure, doubling up to 1 h, jittered; never permanent."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))
    return dt.timedelta(seconds=base * random.uniform(0.8, 1.2))


@contextlib.contextmanager
def _peer_lock(factory: sessionmaker[Session], peer_id: uuid.UUID) -> Iterator[bool]:
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine | Connection) or bind.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(peer_id.bytes) - 2**31  # the lock key is a signed 32-bit integer
    args = {"cls": PEER_LOCK_CLASS, "key": key}
    # A connection of its own: a session's connection goes back to the pool at each commit,
    # and a session-level lock must stay with the round until it ends.
    own = bind.connect() if isinstance(bind, Engine) else None
    connection: Connection = own or bind  # type: ignore[assignment]
    try:
        got = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:cls, :key)"), args))
        if own is not None:
            own.commit()
        try:
            yield got
        finally:
            if got:
                connection.scalar(text("SELECT pg_advisory_unlock(:cls, :key)"), args)
                if own is not None:
                    own.commit()
    finally:
        if own is not None:
            own.close()


class _Ahead:
    """The next page, fetched in a thread while this one is applied.

    Applying a page waits on PostgreSQL and the CPU; fetching one waits on the peer. Doing both
    at once makes a backfill about a tenth faster (bench/federation_sync.py). Nothing changes
    in what is applied or committed: a page fetched ahead is used only if the round asks for
    that very URL next.
    """

    def __init__(
        self,
        client: Client,
        url: str,
        accept: tuple[int, ...],
        check: Callable[[list[Any]], CheckedAhead] | None = None,
    ) -> None:
        self.url = url
        self.accept = accept
        self._client = client
        self._check = check
        self._response: Response | None = None
        self._error: Exception | None = None
        # The page's envelopes, sent to the envelope checker as soon as the page is here.
        self.checked: CheckedAhead | None = None
        self._thread = threading.Thread(target=self._fetch, name="sync-fetch-ahead", daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        try:
            self._response = self._client.get(self.url, accept=self.accept)
            if self._response.status != 200:
                return
            document = self._response.json()  # parsed here; an error shows again when used
        except Exception as exc:  # handed to the round, which reports it as its own
            self._error = exc
            return
        items = document.get("items") if isinstance(document, dict) else None
        if self._check is not None and isinstance(items, list) and len(items) <= PAGE_MAX:
            try:
                self.checked = self._check(items)
            except Exception:  # only a head start: the page is checked when applied anyway
                logger.warning("checking a page ahead failed", exc_info=True)

    def result(self) -> Response:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response

    def wait(self) -> None:
        """Let an unused fetch end (bounded by the client's total timeout)."""
        self._thread.join()


class _Round:
    def __init__(self, session: Session, peer: Peer, settings: SyncSettings, client: Client):
        self.session = session
        self.peer = peer
        self.settings = settings
        self.client = client
        self.summary = RoundSummary(peer_id=str(peer.id), url=peer.url)
        self.ingest = Ingest(
            session,
            peer,
            own_origin=settings.own_origin,
            discover=self.discover,
            checker=settings.checker,
        )
        self.seen: set[str] = set()
        self.restarts = 0
        self.ahead: _Ahead | None = None
        # What was checked ahead of the page `page` returned last.
        self.checked: CheckedAhead | None = None

    def get(self, url: str, *, etag: str | None = None, accept: tuple[int, ...] = (200,)) -> Any:
        self.summary.requests += 1
        return self.client.get(url, etag=etag, accept=accept)

    def page(self, url: str, *, etag: str | None = None, accept: tuple[int, ...] = (200,)) -> Any:
        """`get` a page: the one fetched ahead if it is this one."""
        ahead, self.ahead = self.ahead, None
        self.checked = None
        if ahead is not None and (ahead.url, ahead.accept, etag) == (url, accept, None):
            response = ahead.result()
            self.checked = ahead.checked
            return response
        if ahead is not None:
            ahead.wait()
        return self.get(url, etag=etag, accept=accept)

    def fetch_ahead(self, url: str, accept: tuple[int, ...]) -> None:
        """Start fetching the page the round will ask for next, unless this page is its last."""
        if self.summary.pages + 1 >= self.settings.max_pages:
            return
        self.summary.requests += 1
        # Checking ahead gives the helper processes work; without them it would only move
        # the same work from this thread to the fetching one.
        check = self.ingest.check_ahead() if self.ingest.checker.processes else None
        self.ahead = _Ahead(self.client, url, accept, check)

    def finish(self) -> None:
        if self.ahead is not None:
            self.ahead.wait()
            self.ahead = None

    def discover(self, origin: str) -> Mapping[str, Any]:
        document = self.get(f"{origin}{DISCOVERY_PATH}").json()
        if not isinstance(document, dict):
            raise ProtocolError("the discovery document is not a JSON object")
        return document

    def run(self) -> None:
        peer, settings = self.peer, self.settings
        if peer.name is None:
            document = self.discover(peer.url)
            error = self.ingest.refresh_keys(peer.url, document)
            if error:
                raise ProtocolError(error)
            name = document.get("name")
            # isprintable: no NUL (PostgreSQL refuses it) and no lone surrogate (not UTF-8).
            peer.name = name[:200] if isinstance(name, str) and name.isprintable() else peer.url
            self.session.commit()
        deadline = time.monotonic() + settings.max_seconds
        # Fetching other origins' keys counts against the round's time too.
        self.ingest.deadline = deadline
        done = False
        while not done and self.summary.pages < settings.max_pages:
            if time.monotonic() > deadline:
                break
            if peer.cursor is None or peer.snapshot_page is not None:
                done = self.snapshot_page()
            else:
                done = self.changes_page()
        self.ingest.retry_waiting()
        self.session.commit()
        self.summary.up_to_date = done

    def _apply(self, items: list[Any], *, listed: bool) -> None:
        self.summary.pages += 1
        self.summary.received += len(items)
        checked, self.checked = self.checked, None
        self.ingest.apply_page(items, listed=listed, ahead=checked)

    def _advance(self, token: str) -> None:
        # Opaque cursors cannot be compared, but one seen before in this round is a loop.
        if token in self.seen:
            raise ProtocolError("the peer handed out a cursor it had already given (a loop)")
        self.seen.add(token)

    def _restart(self) -> None:
        self.restarts += 1
        if self.restarts > 2:
            raise ProtocolError("the peer keeps refusing our position (410) within one round")
        peer = self.peer
        peer.cursor = peer.snapshot_page = peer.snapshot_started_at = peer.etag = None
        self.summary.resynced = True
        self.session.commit()

    def changes_url(self, cursor: str | None) -> str:
        query = urlencode({"after": cursor, "limit": self.settings.page_size})
        return f"{self.peer.url}/federation/v1/changes?{query}"

    def snapshot_url(self, page: str | None) -> str:
        arguments = {"limit": self.settings.page_size, **({"page": page} if page else {})}
        return f"{self.peer.url}/federation/v1/snapshot?{urlencode(arguments)}"

    def changes_page(self) -> bool:
        peer = self.peer
        try:
            response = self.page(self.changes_url(peer.cursor), etag=peer.etag, accept=(200, 304))
        except FetchError as exc:
            if exc.status == 410:
                self._restart()
                return False
            raise
        if response.status == 304:
            self.summary.not_modified += 1
            peer.caught_up_at = utcnow()
            self.session.commit()
            return True
        page = _page(response.json(), ("next", "up_to_date"))
        items, token, up_to_date = page["items"], page["next"], page["up_to_date"]
        if not _storable_token(token):
            raise ProtocolError("the page has no next cursor")
        if not isinstance(up_to_date, bool):
            raise ProtocolError("the page does not say whether it is the last")
        if not items and not up_to_date:
            raise ProtocolError("an empty page that is not the last: no progress")
        if token != peer.cursor or items:
            self._advance(token)
        if not up_to_date:
            self.fetch_ahead(self.changes_url(token), (200, 304))
        self._apply(items, listed=False)
        peer.cursor = token
        # The entity tag names the head we now hold: the next idle poll is a 304.
        etag = response.etag
        peer.etag = etag if up_to_date and _storable_token(etag) else None
        if up_to_date:
            peer.caught_up_at = utcnow()
        self.session.commit()
        return up_to_date

    def snapshot_page(self) -> bool:
        peer = self.peer
        if peer.snapshot_page is None:
            peer.snapshot_started_at = utcnow()
            self.summary.resynced = self.summary.resynced or peer.last_success_at is not None
        try:
            response = self.page(self.snapshot_url(peer.snapshot_page))
        except FetchError as exc:
            if exc.status == 410:
                self._restart()
                return False
            raise
        page = _page(response.json(), ("next_page", "cursor"))
        next_page, cursor = page["next_page"], page["cursor"]
        for token in (next_page, cursor):
            if token is not None and not _storable_token(token):
                raise ProtocolError("a malformed page token or cursor")
        if (next_page is None) == (cursor is None):
            raise ProtocolError("a snapshot page names neither (or both) a next page and a cursor")
        self._advance(next_page or cursor)
        started = peer.snapshot_started_at or utcnow()
        if next_page is not None:
            self.fetch_ahead(self.snapshot_url(next_page), (200,))
        self._apply(page["items"], listed=True)
        if next_page is not None:
            peer.snapshot_page = next_page
        else:
            self.summary.swept += self.ingest.sweep(started)
            peer.cursor, peer.snapshot_page, peer.snapshot_started_at = cursor, None, None
            peer.etag = None
        self.session.commit()
        return False


def _storable_token(token: Any) -> bool:
    """Whether a cursor, page token or entity tag from the peer fits its column: at most 200
    characters, none of them NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    return isinstance(token, str) and 0 < len(token) <= 200 and token.isprintable()


def _page(body: Any, tail: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ProtocolError("the page is not an object with an items list")
    if len(body["items"]) > PAGE_MAX:
        raise ProtocolError(f"the page holds more than {PAGE_MAX} objects")
    return {"items": body["items"], **{name: body.get(name) for name in tail}}


def sync_peer(
    factory: sessionmaker[Session], peer_id: uuid.UUID, settings: SyncSettings
) -> RoundSummary:
    """Run one round with one peer (enabled or not, but not removed) and record its outcome
    on the peer."""
    with _peer_lock(factory, peer_id) as acquired:
        # Every transaction of a round writes (the peer's state, a page and its cursor): on
        # SQLite each takes the write lock at BEGIN, beside the API's writers.
        session = writing_session(factory)
        try:
            peer = session.get(Peer, peer_id)
            if peer is None:
                raise LookupError(f"no peer {peer_id}")
            if not acquired:
                return RoundSummary(str(peer.id), peer.url, skipped="another worker is on it")
            if peer.removed_at is not None:
                return RoundSummary(str(peer.id), peer.url, skipped="removed")
            peer.last_attempt_at = utcnow()
            session.commit()
            client = Client(settings.limits)
            sync = _Round(session, peer, settings, client)
            try:
                sync.run()
            except (FetchError, ProtocolError) as exc:
                session.rollback()
                _failed(session, peer_id, sync.summary, exc)
            except Exception as exc:
                # Whatever one peer's answers provoke, it fails that peer's round (and backs
                # it off), never the other peers' or the loop.
                logger.exception("sync round with %s failed unexpectedly", peer.url)
                session.rollback()
                _failed(session, peer_id, sync.summary, exc)
            else:
                peer.last_success_at = utcnow()
                peer.failures, peer.last_error, peer.next_attempt_at = 0, None, None
                session.commit()
            finally:
                sync.finish()
                client.close()
            _count(sync.summary, sync.ingest.counts)
            return sync.summary
        finally:
            session.close()


def _failed(session: Session, peer_id: uuid.UUID, summary: RoundSummary, error: Exception) -> None:
    message = str(error)
    if isinstance(error, FetchError):
        message = f"{error.reason}: {error.message}"
    elif not isinstance(error, ProtocolError):
        message = f"internal error ({type(error).__name__}); see the worker's log"
    summary.ok, summary.error = False, message[:1000]
    peer = session.get(Peer, peer_id)
    if peer is None:  # pragma: no cover - removed while syncing
        return
    now = utcnow()
    peer.failures += 1
    peer.last_error, peer.last_error_at = summary.error, now
    peer.next_attempt_at = now + backoff_delay(peer.failures)
    session.commit()


def _count(summary: RoundSummary, counts: Mapping[str, int]) -> None:
    summary.applied = counts[APPLIED]
    summary.unchanged = counts[UNCHANGED]
    summary.ignored = counts[IGNORED]
    summary.rejected = counts[REJECTED]
    summary.conflicts = counts[CONFLICT]
    summary.waiting = counts[WAITING]


def sync_all(
    factory: sessionmaker[Session], settings: SyncSettings, *, due_only: bool = False
) -> list[RoundSummary]:
    """One round over every enabled peer; `due_only` skips peers still backing off."""
    with factory() as session:
        query = (
            select(Peer.id)
            .where(Peer.enabled.is_(True), Peer.removed_at.is_(None))
            .order_by(Peer.created_at, Peer.id)
        )
        if due_only:
            now = utcnow()
            query = query.where((Peer.next_attempt_at.is_(None)) | (Peer.next_attempt_at <= now))
        peer_ids = list(session.scalars(query))
    return [sync_peer(factory, peer_id, settings) for peer_id in peer_ids]


def run_loop(
    factory: sessionmaker[Session],
    settings: SyncSettings,
    *,
    interval: float,
    report: Callable[[RoundSummary], None],
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll every peer that is due, then sleep about `interval` seconds (jittered, so that
    instances started together do not poll in step); until `stop()`."""
    while not stop():
        for summary in sync_all(factory, settings, due_only=True):
            report(summary)
        # Local and pulled series alike: keep the occurrence index a year ahead.
        occurrences.keep_index(factory)
        pause = interval * random.uniform(0.75, 1.25)
        end = time.monotonic() + pause
        while not stop() and time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
