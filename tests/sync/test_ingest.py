"""Ingest rules, object by object: what a peer serves is applied, ignored or quarantined, and a
bad object never takes the good ones around it down with it."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import BASE_URL
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from remote import RemoteOrigin
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from federation.db import get_session
from federation.envelope import SIGNATURE_MISMATCH, canonical
from federation.models import (
    Endorsement,
    Event,
    FederationObject,
    Occurrence,
    Peer,
    QuarantinedObject,
    RemoteKey,
    Tombstone,
    utcnow,
)
from federation.services.occurrences import horizon_at
from federation.sync import ingest as ingest_module
from federation.sync.checks import Envelope, EnvelopeChecker
from federation.sync.fetch import FetchError
from federation.sync.ingest import CHECK_BATCH, KEY_TTL, MAX_DISCOVERIES, Ingest, local_slug
from schemas.common import SLUG_PATTERN

MPLS = "https://mpls.example"
NYC = "https://nyc.example"


@pytest.fixture
def origins() -> dict[str, RemoteOrigin]:
    return {MPLS: RemoteOrigin(MPLS, "Minneapolis"), NYC: RemoteOrigin(NYC, "New York")}


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield get_session()


@pytest.fixture
def make_ingest(session: Session, origins: dict[str, RemoteOrigin]) -> Callable[..., Ingest]:
    """An Ingest for a peer at MPLS (relaying or not), checking envelopes with `checker`
    (default: in this process); discovery answers from `origins`."""

    def discover(origin: str) -> dict[str, Any]:
        if origin not in origins:
            raise FetchError("connection", f"cannot reach {origin}")
        return origins[origin].discovery()

    def make(
        relay: bool = False, url: str = MPLS, checker: EnvelopeChecker | None = None
    ) -> Ingest:
        peer = session.scalar(select(Peer).where(Peer.url == url))
        if peer is None:
            peer = Peer(url=url, relay=relay)
            session.add(peer)
        peer.relay = relay
        session.commit()
        return Ingest(session, peer, own_origin=BASE_URL, discover=discover, checker=checker)

    return make


@pytest.fixture(params=[0, 1], ids=["in-process", "helper-process"])
def checker(request: pytest.FixtureRequest) -> Iterator[EnvelopeChecker]:
    checker = EnvelopeChecker(request.param)
    yield checker
    checker.close(wait=True)


def apply(ingest: Ingest, *items: Any, listed: bool = False) -> None:
    ingest.apply_page(list(items), listed=listed)
    ingest.session.commit()


def quarantine(session: Session) -> list[QuarantinedObject]:
    return list(session.scalars(select(QuarantinedObject).order_by(QuarantinedObject.received_at)))


@pytest.fixture
def ids() -> dict[str, uuid.UUID]:
    return {name: uuid.uuid4() for name in ("coalition", "campaign", "event", "other", "endorse")}


def test_objects_of_the_peer_appear_with_their_origin_ids_and_a_qualified_slug(
    client: FlaskClient, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.campaign(ids["campaign"], ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"], campaign_id=str(ids["campaign"])),
        mpls.endorsement(ids["endorse"], ids["campaign"]),
    )
    assert ingest.counts["applied"] == 4

    event = client.get(f"/api/v1/events/{ids['event']}").json
    assert event["origin"] == MPLS
    assert event["url"] == f"{MPLS}/events/{ids['event']}"
    assert event["campaign_id"] == str(ids["campaign"])
    assert event["starts_at"] == "2027-01-23T12:00:00-06:00"
    assert event["location"]["latitude"] == pytest.approx(44.9553)
    assert event["coalition"] == "twin-cities-mpls-example"
    coalition = client.get("/api/v1/coalitions/twin-cities-mpls-example").json
    assert (coalition["id"], coalition["origin"]) == (str(ids["coalition"]), MPLS)
    campaign = client.get(f"/api/v1/campaigns/{ids['campaign']}").json
    assert campaign["endorsements"][0]["organization"] == "Minnesota Nurses Association"

    # The calendar entry has the UID the origin gives it, so a member subscribed on two
    # instances sees one action, not two.
    feed = Calendar.from_ical(client.get("/feeds/cities/minneapolis.ics").data)
    uids = [str(component["UID"]) for component in feed.walk("VEVENT")]
    assert uids == [f"{ids['event']}@mpls.example"]


def test_relayed_objects_are_served_on_verbatim_so_a_third_instance_can_verify_them(
    client: FlaskClient, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    envelope = origins[MPLS].coalition(ids["coalition"], unknown_future_field={"kept": True})
    apply(make_ingest(), envelope)
    items = client.get("/federation/v1/changes").json["items"]
    relayed = [item for item in items if item["origin"] == MPLS]
    assert relayed == [envelope]
    assert canonical(relayed[0]) == canonical(envelope)


def test_a_forgery_signed_by_another_origin_is_quarantined_and_the_page_goes_on(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls, nyc = origins[MPLS], origins[NYC]
    forged = mpls.coalition(ids["other"])
    # Claims Minneapolis's origin, signed with New York's key: id, origin and key disagree.
    forged = mpls.envelope("Coalition", ids["other"], forged["data"], signer=nyc)
    ingest = make_ingest(relay=True)
    apply(ingest, forged, mpls.coalition(ids["coalition"]))
    assert (ingest.counts["rejected"], ingest.counts["applied"]) == (1, 1)
    [record] = quarantine(session)
    assert record.kind == "rejected"
    assert "origin" in record.reason
    assert client.get("/api/v1/coalitions/twin-cities-mpls-example").status_code == 200
    assert session.get(FederationObject, ids["other"]) is None


def test_a_tampered_object_fails_its_proof(
    session: Session, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls = origins[MPLS]
    coalition = mpls.coalition(ids["coalition"])
    event = mpls.event(ids["event"], ids["coalition"])
    event["data"]["starts_at"] = "2027-01-23T18:00:00-06:00"  # send people at the wrong time
    good = mpls.event(ids["other"], ids["coalition"])
    ingest = make_ingest()
    apply(ingest, coalition, event, good)
    assert ingest.counts["applied"] == 2
    [record] = quarantine(session)
    assert "signature" in record.reason
    assert record.object_id == event["id"]


def test_tampered_objects_anywhere_in_a_long_page_fail_and_only_they(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    checker: EnvelopeChecker,
):
    # Signatures are checked in batches (in a helper process for the sync worker): a verdict
    # must land on its own object, in the first batch, the last, and across batch borders.
    mpls = origins[MPLS]
    events = [mpls.event(uuid.uuid4(), ids["coalition"]) for _ in range(2 * CHECK_BATCH + 20)]
    tampered = {0, CHECK_BATCH - 1, CHECK_BATCH, len(events) - 1}
    for index in tampered:
        events[index]["data"]["title"] = "Meet at the other gate"
    ingest = make_ingest(checker=checker)
    apply(ingest, mpls.coalition(ids["coalition"]), *events)

    assert ingest.counts["applied"] == 1 + len(events) - len(tampered)
    records = quarantine(session)
    assert {record.object_id for record in records} == {events[i]["id"] for i in tampered}
    assert all("signature" in record.reason for record in records)
    held = {event.id: event for event in session.scalars(select(Event))}
    assert set(held) == {
        uuid.UUID(e["id"].rsplit("/", 1)[1]) for i, e in enumerate(events) if i not in tampered
    }
    # What is stored is the data as its schema loads it, wherever it was loaded.
    last = events[-2]["data"]
    stored = held[uuid.UUID(events[-2]["id"].rsplit("/", 1)[1])]
    assert (stored.title, stored.location_name) == (last["title"], last["location"]["name"])
    assert stored.starts_at == dt.datetime.fromisoformat(last["starts_at"])
    assert stored.tags == last["tags"]


def test_a_page_checked_ahead_uses_a_verdict_only_against_the_key_it_is_applied_with(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    checker: EnvelopeChecker,
    monkeypatch: pytest.MonkeyPatch,
):
    # The worker sends the next page to the checker while this one is applied, with the keys
    # it holds then. A key it has meanwhile dropped or replaced must not vouch for anything.
    mpls, nyc = origins[MPLS], origins[NYC]
    ingest = make_ingest(checker=checker)
    apply(ingest, mpls.coalition(ids["coalition"]))  # its key is held from now on
    events = [mpls.event(uuid.uuid4(), ids["coalition"]) for _ in range(CHECK_BATCH + 5)]
    events[3]["data"]["title"] = "Meet at the other gate"
    right = ingest._keys[mpls.key_id]

    submitted: list[int] = []
    submit = checker.submit

    def counted(batch: Any) -> Any:
        submitted.append(len(batch))
        return submit(batch)

    monkeypatch.setattr(checker, "submit", counted)
    ahead = ingest.check_ahead()(events)
    assert submitted == [CHECK_BATCH, 5]
    ingest.apply_page(events, ahead=ahead)
    session.commit()
    assert submitted == [CHECK_BATCH, 5]  # the verdicts from ahead were used
    assert ingest.counts["applied"] == 1 + len(events) - 1
    assert [r.object_id for r in quarantine(session)] == [events[3]["id"]]

    # Checked ahead against a key that is not the origin's (say, one replaced since): every
    # verdict says "forged", and none of them is used.
    more = [mpls.event(uuid.uuid4(), ids["coalition"]) for _ in range(3)]
    ingest._keys[mpls.key_id] = nyc.key.public_key().public_bytes_raw()
    stale = ingest.check_ahead()(more)
    ingest._keys[mpls.key_id] = right
    ingest.apply_page(more, ahead=stale)
    session.commit()
    assert ingest.counts["applied"] == len(events) + 3
    assert len(quarantine(session)) == 1


def test_a_helper_that_dies_leaves_its_envelopes_checked_here(origins: Any, ids: Any):
    mpls = origins[MPLS]
    raw_key = mpls.key.public_key().public_bytes_raw()
    good = mpls.event(ids["event"], ids["coalition"])
    forged = mpls.event(ids["other"], ids["coalition"])
    forged["data"]["title"] = "Meet at the other gate"
    batch = [Envelope(raw_key, good), Envelope(raw_key, forged)]
    checker = EnvelopeChecker(1)

    def refusals() -> list[str | None]:
        return [verdict.refusal for verdict in checker.result(checker.submit(batch), batch)]

    try:
        assert refusals() == [None, SIGNATURE_MISMATCH]
        assert checker._pool is not None
        for process in list(checker._pool._processes.values()):
            process.kill()
            process.join()
        # The next batch (or the one in flight) is checked in this process instead.
        assert refusals() == [None, SIGNATURE_MISMATCH]
        assert refusals() == [None, SIGNATURE_MISMATCH]
    finally:
        checker.close(wait=True)


def test_older_versions_are_ignored_and_a_tombstone_blocks_resurrection(
    client: FlaskClient, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(ingest, mpls.coalition(ids["coalition"]))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=3, title="Edited"))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=2, title="Stale"))
    assert client.get(f"/api/v1/events/{ids['event']}").json["title"] == "Edited"

    apply(ingest, mpls.tombstone(ids["event"], "Event", version=4))
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 410
    # A replay of the version before the deletion, or a late "create", changes nothing.
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=3, title="Edited"))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=1))
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 410
    assert ingest.counts["ignored"] == 3


def test_same_version_other_content_keeps_ours_and_records_a_conflict(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(ingest, mpls.coalition(ids["coalition"]))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=2, title="First"))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=2, title="First"))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=2, title="Second"))
    assert client.get(f"/api/v1/events/{ids['event']}").json["title"] == "First"
    assert ingest.counts["unchanged"] == 1
    [record] = quarantine(session)
    assert record.kind == "conflict"


def test_our_own_objects_offered_back_are_ignored(
    session: Session, client: FlaskClient, make_coalition: Any, make_ingest: Callable[..., Ingest]
):
    ours = client.get("/federation/v1/changes").json["items"]
    make_coalition()
    ours = client.get("/federation/v1/changes").json["items"]
    ingest = make_ingest(relay=True)
    apply(ingest, *ours)
    assert ingest.counts["ignored"] == len(ours)
    assert quarantine(session) == []


def test_another_origins_objects_need_a_peer_trusted_to_relay(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    nyc = origins[NYC]
    ingest = make_ingest(relay=False)
    apply(ingest, nyc.coalition(ids["coalition"], slug="nyc-unite"))
    assert ingest.counts["rejected"] == 1
    assert "relay" in quarantine(session)[0].reason

    ingest = make_ingest(relay=True)
    apply(ingest, nyc.coalition(ids["coalition"], slug="nyc-unite"))
    assert ingest.counts["applied"] == 1
    coalition = client.get("/api/v1/coalitions/nyc-unite-nyc-example").json
    assert coalition["origin"] == NYC


def test_an_object_waiting_for_its_coalition_is_applied_once_the_coalition_arrives(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    # The coalition's latest version sits after its events in the feed (it was edited later).
    apply(ingest, mpls.event(ids["event"], ids["coalition"]))
    assert ingest.counts["waiting"] == 1
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 404
    apply(ingest, mpls.coalition(ids["coalition"], version=2))
    ingest.retry_waiting()
    session.commit()
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 200
    assert quarantine(session) == []

    # A waiting copy is dropped as soon as the object itself is applied, not only on retry.
    apply(ingest, mpls.campaign(ids["campaign"], ids["other"]))
    assert [record.kind for record in quarantine(session)] == ["waiting"]
    apply(
        make_ingest(),
        mpls.coalition(ids["other"], slug="other"),
        mpls.campaign(ids["campaign"], ids["other"], version=2),
    )
    assert quarantine(session) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rrule": "FREQ=DAILY;INTERVAL=0"}, "rrule"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"ends_at": "2027-01-23T11:00:00-06:00"}, "ends_at"),
        ({"kind": "riot"}, "kind"),
        ({"title": "x" * 501}, "title"),
        ({"location": {"latitude": "91", "longitude": "0"}}, "latitude"),
        # A hostile peer's rule that would expand to every second of every day.
        ({"rrule": "FREQ=DAILY;BYHOUR=12;BYMINUTE=0,1,2,3,4,5,6,7,8;BYSECOND=0"}, "a day"),
    ],
)
def test_invalid_data_is_refused_by_the_same_rules_as_local_actions(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    change: dict[str, Any],
    message: str,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"], **change),
    )
    [record] = quarantine(session)
    assert record.kind == "rejected"
    assert message in record.reason


def test_pulled_actions_are_indexed_like_local_ones(
    client: FlaskClient, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    """A peer's nightly series, stored in bulk, lists in windows from the index; its next
    version, moved a week later, takes its index along (applied through the ORM)."""
    mpls = origins[MPLS]
    nightly = {"rrule": "FREQ=DAILY", "starts_at": "2027-01-23T19:00:00-06:00",
               "ends_at": "2027-01-23T21:00:00-06:00"}  # fmt: skip
    apply(
        make_ingest(),
        mpls.coalition(ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"], **nightly),
    )
    with client.application.app_context():
        session = get_session()
        indexed = session.scalars(
            select(Occurrence.starts_at).where(Occurrence.event_id == ids["event"])
        ).all()
        reach = session.scalar(select(Event.indexed_until).where(Event.id == ids["event"]))
    assert min(indexed) == dt.datetime(2027, 1, 24, 1, tzinfo=dt.UTC)
    assert reach == horizon_at(utcnow())

    def listed(day: int) -> list[str]:
        start = dt.datetime(2027, 1, day, 12, tzinfo=dt.UTC)
        query = {"from": start.isoformat(), "to": (start + dt.timedelta(days=1)).isoformat()}
        return [e["id"] for e in client.get("/api/v1/events", query_string=query).json["items"]]

    assert listed(24) == [str(ids["event"])]
    moved = {**nightly, "starts_at": "2027-01-30T19:00:00-06:00",
             "ends_at": "2027-01-30T21:00:00-06:00"}  # fmt: skip
    apply(make_ingest(), mpls.event(ids["event"], ids["coalition"], version=2, **moved))
    assert listed(24) == []
    assert listed(30) == [str(ids["event"])]


def test_a_flood_of_refusable_objects_keeps_only_the_newest_refusals(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    # A hostile peer serves junk without end: its records must not fill the disk.
    monkeypatch.setattr(ingest_module, "REFUSED_KEPT", 3)
    mpls = origins[MPLS]

    def tampered(title: str) -> dict[str, Any]:
        event = mpls.event(uuid.uuid4(), ids["coalition"])
        event["data"]["title"] = title
        return event

    ingest = make_ingest()
    first = [tampered(f"first {n}") for n in range(4)]
    apply(ingest, mpls.coalition(ids["coalition"]), *first)
    assert {r.object_id for r in quarantine(session)} == {e["id"] for e in first[1:]}
    second = [tampered(f"second {n}") for n in range(2)]
    good = mpls.event(ids["event"], ids["coalition"])
    apply(ingest, *second, good)
    assert ingest.counts["rejected"] == 6
    kept = {r.object_id for r in quarantine(session)}
    assert kept == {first[-1]["id"], *(e["id"] for e in second)}
    assert session.get(Event, ids["event"]) is not None  # the good object around them applied


def test_objects_waiting_past_the_limit_are_refused(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(ingest_module, "WAITING_KEPT", 2)
    mpls = origins[MPLS]
    orphans = [mpls.event(uuid.uuid4(), ids["coalition"]) for _ in range(3)]
    ingest = make_ingest()
    apply(ingest, *orphans[:2])
    apply(ingest, orphans[2])
    records = quarantine(session)
    assert [r.kind for r in records] == ["waiting", "waiting", "rejected"]
    assert "waiting already" in records[2].reason
    # The ones that waited are applied when their coalition arrives.
    apply(ingest, mpls.coalition(ids["coalition"]))
    ingest.retry_waiting()
    session.commit()
    held = set(session.scalars(select(Event.id)))
    assert held == {uuid.UUID(e["id"].rsplit("/", 1)[1]) for e in orphans[:2]}


def test_an_object_too_large_or_with_floats_is_refused(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    checker: EnvelopeChecker,
):
    mpls = origins[MPLS]
    big = mpls.coalition(ids["coalition"], description="x" * 70_000)
    floats = mpls.coalition(ids["other"])
    floats["data"]["score"] = 1.5
    ingest = make_ingest(checker=checker)
    apply(ingest, big, floats, "not an object", [1, 2])
    reasons = [record.reason for record in quarantine(session)]
    assert len(reasons) == 4
    assert "larger than" in reasons[0]
    assert "float" in reasons[1]


def test_invalid_data_of_an_older_version_is_ignored_not_refused(
    session: Session,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    checker: EnvelopeChecker,
):
    # Data is loaded with the signature check, but only refuses an object that is applied.
    mpls = origins[MPLS]
    ingest = make_ingest(checker=checker)
    coalition = mpls.coalition(ids["coalition"])
    apply(ingest, coalition, mpls.event(ids["event"], ids["coalition"], version=2))
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=1, kind="riot"))
    assert ingest.counts["ignored"] == 1
    assert quarantine(session) == []
    apply(ingest, mpls.event(ids["event"], ids["coalition"], version=3, kind="riot"))
    [record] = quarantine(session)
    assert (record.kind, record.version) == ("rejected", 3)
    assert "kind" in record.reason


def test_unknown_types_are_kept_and_relayed_but_not_shown(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    poll = origins[MPLS].envelope("Poll", ids["other"], {"question": "Strike?"})
    ingest = make_ingest()
    apply(ingest, poll)
    assert ingest.counts["applied"] == 1
    assert session.get(FederationObject, ids["other"]).type == "Poll"
    assert poll in client.get("/federation/v1/changes").json["items"]


def test_keys_are_fetched_from_the_origin_and_a_revoked_or_unknown_key_is_refused(
    session: Session, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls = origins[MPLS]
    impostor = RemoteOrigin(MPLS, key_name="key-unlisted")
    apply(make_ingest(), impostor.coalition(ids["other"]))
    assert "does not publish" in quarantine(session)[-1].reason

    # The origin revokes its key; we learn of it when the cached copy is due for a refresh.
    mpls.status = "revoked"
    session.execute(update(RemoteKey).values(fetched_at=utcnow() - KEY_TTL - dt.timedelta(1)))
    session.commit()
    apply(make_ingest(), mpls.coalition(ids["coalition"]))
    assert "revoked" in quarantine(session)[-1].reason
    assert session.get(RemoteKey, mpls.key_id).status == "revoked"


def test_an_unreachable_origin_key_makes_a_relayed_object_wait(
    session: Session, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    far = RemoteOrigin("https://la.example")  # not in `origins`: discovery fails
    ingest = make_ingest(relay=True)
    apply(ingest, far.coalition(ids["coalition"], slug="la"))
    [record] = quarantine(session)
    assert record.kind == "waiting"
    assert "cannot be fetched" in record.reason
    # One that could not be kept to be offered again is refused at once instead.
    apply(ingest, far.coalition(ids["other"], slug="la-2", description="x" * 70_000))
    assert [(r.kind, r.reason) for r in quarantine(session)][1:] == [
        ("rejected", "larger than 65536 bytes")
    ]


def test_an_origin_cannot_take_over_the_id_of_another_origins_object(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls, nyc = origins[MPLS], origins[NYC]
    ingest = make_ingest(relay=True)
    apply(ingest, mpls.coalition(ids["coalition"]))
    # New York signs, validly, an object of its own origin that reuses Minneapolis's id.
    apply(ingest, nyc.coalition(ids["coalition"], version=9, name="Hijacked"))
    assert quarantine(session)[-1].reason.startswith("this id belongs to")
    coalition = client.get("/api/v1/coalitions/twin-cities-mpls-example").json
    assert coalition["name"] == "Twin Cities Solidarity Coalition"


def test_a_database_error_on_one_object_quarantines_only_that_object(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    mpls = origins[MPLS]
    original = Ingest._event

    def fail_once(self: Ingest, claim: Any) -> None:
        original(self, claim)
        if claim.id == ids["other"]:
            raise IntegrityError("INSERT", {}, Exception("constraint"))

    monkeypatch.setitem(ingest_module._APPLY, "Event", fail_once)
    ingest = make_ingest()
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.event(ids["other"], ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"]),
    )
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 200
    assert client.get(f"/api/v1/events/{ids['other']}").status_code == 404
    assert [record.reason for record in quarantine(session)] == [
        "could not be stored: IntegrityError"
    ]
    relayed = {item["id"] for item in client.get("/federation/v1/changes").json["items"]}
    assert f"{MPLS}/federation/v1/objects/{ids['other']}" not in relayed
    assert ingest.counts["applied"] == 2


def test_deleting_a_coalition_removes_its_copies_and_keeps_a_tombstone(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(ingest, mpls.coalition(ids["coalition"]), mpls.event(ids["event"], ids["coalition"]))
    apply(
        ingest,
        mpls.tombstone(ids["event"], "Event", 2),
        mpls.tombstone(ids["coalition"], "Coalition", 2),
    )
    assert client.get("/api/v1/coalitions/twin-cities-mpls-example").status_code == 404
    assert client.get("/feeds/coalitions/twin-cities-mpls-example.ics").status_code == 410
    assert session.get(Tombstone, ids["coalition"]).origin == MPLS


def test_remote_objects_are_read_only_here(
    client: FlaskClient,
    admin: dict[str, str],
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    apply(
        make_ingest(),
        mpls.coalition(ids["coalition"]),
        mpls.campaign(ids["campaign"], ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"]),
    )
    slug = "twin-cities-mpls-example"
    attempts = [
        client.patch(f"/api/v1/events/{ids['event']}", json={"title": "x"}, headers=admin),
        client.delete(f"/api/v1/events/{ids['event']}", headers=admin),
        client.patch(f"/api/v1/coalitions/{slug}", json={"name": "x"}, headers=admin),
        client.delete(f"/api/v1/coalitions/{slug}", headers=admin),
        client.patch(f"/api/v1/campaigns/{ids['campaign']}", json={"title": "x"}, headers=admin),
        client.delete(f"/api/v1/campaigns/{ids['campaign']}", headers=admin),
        client.post(
            f"/api/v1/coalitions/{slug}/events",
            json={
                "title": "x",
                "starts_at": "2027-01-01T10:00:00Z",
                "ends_at": "2027-01-01T11:00:00Z",
                "kind": "rally",
            },
            headers=admin,
        ),
        # A token for a coalition nobody here may administer.
        client.post(f"/api/v1/coalitions/{slug}/tokens", json={}, headers=admin),
    ]
    for response in attempts:
        assert response.status_code == 403, response.json
        assert MPLS in response.json["message"]
    assert client.get(f"/api/v1/events/{ids['event']}").json["title"] == "March on the Capitol"


def test_a_local_action_can_join_a_remote_day_of_action(
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Any,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    apply(
        make_ingest(),
        mpls.coalition(ids["coalition"]),
        mpls.campaign(ids["campaign"], ids["coalition"]),
    )
    make_coalition(slug="nyc", city="New York", city_slug="new-york", timezone="America/New_York")
    response = client.post(
        "/api/v1/coalitions/nyc/events",
        json={
            "title": "Rally at Foley Square",
            "starts_at": "2027-01-23T13:00:00-05:00",
            "ends_at": "2027-01-23T15:00:00-05:00",
            "kind": "rally",
            "campaign_id": str(ids["campaign"]),
        },
        headers=admin,
    )
    assert response.status_code == 201, response.json
    campaign_events = client.get(f"/api/v1/events?campaign={ids['campaign']}").json["items"]
    assert [event["title"] for event in campaign_events] == ["Rally at Foley Square"]


@pytest.mark.parametrize("removed_by", ["tombstone", "purge", "sweep"])
def test_a_local_coalition_endorses_a_remote_day_of_action_until_it_goes(
    session: Session,
    client: FlaskClient,
    admin: dict[str, str],
    make_coalition: Any,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
    removed_by: str,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.campaign(ids["campaign"], ids["coalition"]),
    )
    make_coalition(slug="nyc", city="New York", city_slug="new-york", timezone="America/New_York")
    url = f"/api/v1/campaigns/{ids['campaign']}/endorsements"
    union = {"organization": "NYSNA", "level": "endorse"}
    # Only on behalf of one of our coalitions: the campaign's own list is kept at its origin.
    unowned = client.post(url, json=union, headers=admin)
    remote = client.post(
        url, json={**union, "coalition": "twin-cities-mpls-example"}, headers=admin
    )
    assert (unowned.status_code, remote.status_code) == (403, 403)
    assert MPLS in unowned.json["message"]

    created = client.post(url, json={**union, "coalition": "nyc"}, headers=admin)
    assert created.status_code == 201, created.json
    endorsement = created.json
    assert endorsement["origin"] == BASE_URL
    head = client.get("/federation/v1/changes").json
    assert endorsement["id"] in {item["id"].rsplit("/", 1)[1] for item in head["items"]}

    # The day of action goes (deleted at its origin, its peer removed with what it brought, or
    # no longer listed by it): our endorsement leaves a tombstone for the instances holding it.
    if removed_by == "tombstone":
        apply(ingest, mpls.tombstone(ids["campaign"], "Campaign", version=2))
    elif removed_by == "purge":
        removed = client.delete(f"/api/v1/peers/{ingest.peer.id}?purge=true", headers=admin)
        assert removed.status_code in (200, 204), removed.json
    else:  # a resync's snapshot no longer listed it
        assert ingest.sweep(utcnow() + dt.timedelta(seconds=1)) == 2
        session.commit()
    after = client.get("/federation/v1/changes", query_string={"after": head["next"]}).json
    buried = [item for item in after["items"] if item["id"].endswith(endorsement["id"])]
    assert [(item["type"], item["data"]) for item in buried] == [
        ("Tombstone", {"former_type": "Endorsement"})
    ]
    assert client.get(f"{url}").status_code in (404, 410)


def test_an_origin_endorses_another_origins_campaign_only_for_its_own_coalitions(
    session: Session, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls, nyc = origins[MPLS], origins[NYC]
    nyc_coalition = uuid.uuid4()
    ingest = make_ingest(relay=True)
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.campaign(ids["campaign"], ids["coalition"]),
        nyc.coalition(nyc_coalition, slug="nyc"),
    )
    own = nyc.endorsement(ids["event"], ids["campaign"], coalition_id=str(nyc_coalition))
    # New York cannot say that a Minneapolis coalition endorses anything.
    forged = nyc.endorsement(
        ids["other"],
        ids["campaign"],
        organization="Twin Cities DSA",
        coalition_id=str(ids["coalition"]),
    )
    apply(ingest, own, forged)
    held = session.get(Endorsement, ids["event"])
    assert held is not None
    assert (held.origin, held.coalition_id) == (NYC, nyc_coalition)
    [record] = quarantine(session)
    assert (record.object_id, record.reason) == (
        forged["id"],
        "its coalition belongs to another origin",
    )


def test_local_slugs_stay_valid_and_distinct():
    assert local_slug("twin-cities", "https://mpls.example") == "twin-cities-mpls-example"
    assert local_slug("a", "http://127.0.0.1:5001") == "a-127-0-0-1-5001"
    long_one = local_slug("x" * 60, "https://a.example")
    other = local_slug("x" * 60, "https://b.example")
    assert len(long_one) <= 64
    assert long_one != other
    assert re.fullmatch(SLUG_PATTERN, long_one)


def test_a_page_marks_what_a_snapshot_listed_and_sweep_drops_the_rest(
    session: Session,
    client: FlaskClient,
    make_ingest: Callable[..., Ingest],
    origins: Any,
    ids: Any,
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"]),
        mpls.event(ids["other"], ids["coalition"]),
    )
    started = utcnow()
    # The resync's snapshot no longer lists `other` (deleted, its tombstone long purged).
    apply(
        ingest,
        mpls.coalition(ids["coalition"]),
        mpls.event(ids["event"], ids["coalition"]),
        listed=True,
    )
    assert ingest.sweep(started) == 1
    session.commit()
    assert client.get(f"/api/v1/events/{ids['other']}").status_code == 404
    assert client.get(f"/api/v1/events/{ids['event']}").status_code == 200


def test_versions_order_changes_whatever_the_origins_clock_says(
    client: FlaskClient, make_ingest: Callable[..., Ingest], origins: Any, ids: Any
):
    mpls = origins[MPLS]
    ingest = make_ingest()
    skewed_ahead = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    skewed_behind = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    coalition = mpls.coalition(ids["coalition"])
    first = mpls.envelope(
        "Event",
        ids["event"],
        mpls.event(ids["event"], ids["coalition"])["data"],
        version=2,
        updated=skewed_ahead,
    )
    newer = mpls.envelope(
        "Event",
        ids["event"],
        {**first["data"], "title": "Moved indoors"},
        version=3,
        updated=skewed_behind,
    )
    apply(ingest, coalition, first, newer)
    assert client.get(f"/api/v1/events/{ids['event']}").json["title"] == "Moved indoors"
    apply(ingest, first)
    assert client.get(f"/api/v1/events/{ids['event']}").json["title"] == "Moved indoors"


def test_a_round_fetches_few_origins_keys_and_none_past_its_time(
    session: Session, make_ingest: Callable[..., Ingest], ids: Any
):
    far = [RemoteOrigin(f"https://city{number}.example") for number in range(MAX_DISCOVERIES + 2)]
    asked: list[str] = []

    def discover(origin: str) -> dict[str, Any]:
        asked.append(origin)
        return next(remote for remote in far if remote.origin == origin).discovery()

    ingest = make_ingest(relay=True)
    ingest.discover = discover
    apply(ingest, *(remote.coalition(uuid.uuid4(), slug="city") for remote in far))
    assert len(asked) == MAX_DISCOVERIES
    assert ingest.counts["applied"] == MAX_DISCOVERIES
    assert ingest.counts["waiting"] == 2

    late = make_ingest(relay=True)
    late.discover = discover
    late.deadline = time.monotonic() - 1
    asked.clear()
    apply(late, RemoteOrigin("https://city0.example").coalition(ids["other"], slug="late"))
    apply(late, far[-1].coalition(uuid.uuid4(), slug="city"))
    assert asked == []
    assert "deferred" in quarantine(session)[-1].reason
