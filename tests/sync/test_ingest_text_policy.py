"""What a peer serves meets the same text policy as what a client writes: ingest loads data by
the API's schemas (federation/sync/checks.py), so a text our API refuses is refused there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BASE_URL
from flask import Flask
from remote import RemoteOrigin
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.db import get_session
from federation.models import Campaign, Coalition, Endorsement, Event, Peer, QuarantinedObject
from federation.sync.ingest import Ingest

MPLS = "https://mpls.example"


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield get_session()


@pytest.fixture
def mpls() -> RemoteOrigin:
    return RemoteOrigin(MPLS, "Minneapolis")


@pytest.fixture
def ingest(session: Session, mpls: RemoteOrigin) -> Ingest:
    peer = Peer(url=MPLS, relay=False)
    session.add(peer)
    session.commit()
    return Ingest(session, peer, own_origin=BASE_URL, discover=lambda _origin: mpls.discovery())


def apply(ingest: Ingest, *envelopes: dict[str, Any]) -> list[QuarantinedObject]:
    ingest.apply_page(list(envelopes), listed=False)
    ingest.session.commit()
    return list(ingest.session.scalars(select(QuarantinedObject)))


EVENT_DATA = [
    ({"title": "Rally\rBEGIN:VEVENT"}, "title"),
    ({"title": "Rally\u2028at noon"}, "title"),
    ({"title": " \u200b "}, "title"),
    ({"description": "one\r\ntwo"}, "description"),
    ({"description": "bell\x07"}, "description"),
    ({"online_url": "https://meet.example.org/\x00"}, "online_url"),
    ({"language": "en\n"}, "language"),
    ({"tags": ["strike\n"]}, "tags"),
    ({"location": {"name": "Capitol\t", "latitude": None, "longitude": None}}, "name"),
    ({"location": {"latitude": "44.9553", "longitude": None}}, "longitude"),
    ({"location": {"latitude": None, "longitude": "-93.1"}}, "latitude"),
]


@pytest.mark.parametrize(("change", "field"), EVENT_DATA)
def test_an_event_whose_text_the_api_would_refuse_is_refused(
    session: Session, ingest: Ingest, mpls: RemoteOrigin, change: dict[str, Any], field: str
) -> None:
    coalition, event, good = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    [record] = apply(
        ingest,
        mpls.coalition(coalition),
        mpls.event(event, coalition, **change),
        mpls.event(good, coalition),
    )

    assert (record.kind, record.object_id) == ("rejected", f"{MPLS}/federation/v1/objects/{event}")
    assert field in record.reason
    assert session.get(Event, event) is None
    assert session.get(Event, good) is not None  # the good object after it applied


def test_coalitions_campaigns_and_endorsements_too(
    session: Session, ingest: Ingest, mpls: RemoteOrigin
) -> None:
    good, campaign = uuid.uuid4(), uuid.uuid4()
    bad = {name: uuid.uuid4() for name in ("slug", "member", "call", "organization")}

    records = apply(
        ingest,
        mpls.coalition(good),
        # A slug "x\n" passed the old pattern (`$` matches before a final newline).
        mpls.coalition(bad["slug"], slug="twin-cities\n"),
        mpls.coalition(
            bad["member"], slug="other", member_organizations=[{"name": "A\x1bB", "kind": "union"}]
        ),
        mpls.campaign(campaign, good),
        mpls.campaign(bad["call"], good, call_to_action="Strike!\r"),
        mpls.endorsement(bad["organization"], campaign, organization="Nurses\nUnited"),
    )

    assert sorted(record.object_id.rsplit("/", 1)[1] for record in records) == sorted(
        str(object_id) for object_id in bad.values()
    )
    assert {record.kind for record in records} == {"rejected"}
    assert session.get(Coalition, good) is not None
    assert session.get(Campaign, campaign) is not None
    assert session.get(Coalition, bad["slug"]) is None
    assert session.get(Endorsement, bad["organization"]) is None


def test_text_the_api_accepts_is_applied_as_sent(
    session: Session, ingest: Ingest, mpls: RemoteOrigin
) -> None:
    coalition, event = uuid.uuid4(), uuid.uuid4()
    description = "Line one,\n\tindented; a typed \\N stays.\n\u202eRTL\u202c ✊🏽 e\u0301"

    records = apply(
        ingest,
        mpls.coalition(coalition),
        mpls.event(event, coalition, title="C:\\Notes ✊🏽", description=description),
    )

    assert records == []
    stored = session.get(Event, event)
    assert stored is not None
    assert (stored.title, stored.description) == ("C:\\Notes ✊🏽", description)
