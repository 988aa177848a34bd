"""Text stored before the text policy is cleaned: our objects become new versions (VEVENT
re-rendered, envelope re-signed for peers), other origins' copies are cleaned in place with
their signed envelopes kept as received; `db upgrade` does it, and so does `db clean-text`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import servers
from conftest import BASE_URL, backend
from flask import Flask
from flask.testing import FlaskClient
from ical_checks import check_feed
from remote import RemoteOrigin
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from federation import create_app
from federation import text as text_policy
from federation.db import get_database, get_session
from federation.envelope import verify
from federation.ical import render_event
from federation.models import (
    ApiToken,
    Campaign,
    Coalition,
    Endorsement,
    Event,
    FederationObject,
    Peer,
)
from federation.services.cleanup import clean_stored_text
from federation.services.outbox import publisher_of
from federation.sync.ingest import Ingest

MPLS = "https://mpls.example"
START = dt.datetime(2027, 1, 23, 18, tzinfo=dt.UTC)
# PostgreSQL cannot store a NUL at all; SQLite could, and an earlier version stored it there.
NUL = "\x00" if backend() == "sqlite" else ""


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield get_session()


def legacy_rows(session: Session, origin: str = BASE_URL) -> dict[str, Any]:
    """What an earlier version let through the API, written through the models."""
    coalition = Coalition(
        origin=origin,
        slug="minneapolis",
        name="Twin\nCities",
        city="Minneapolis",
        city_slug="minneapolis",
        timezone="America/Chicago",
        description="Unions\r\nand\rcommunity" + NUL,
        website="https://example.org/" + NUL,
        member_organizations=[{"name": "SEIU\rLocal 26", "kind": "union"}],
    )
    unreachable = Coalition(
        origin=origin,
        slug="x\n",
        name="X",
        city="X",
        city_slug="x",
        timezone="America/Chicago",
    )
    campaign = Campaign(
        coalition=coalition,
        origin=origin,
        title="Day\rEND:VEVENT",
        description="",
        call_to_action="Join\r\n",
        starts_on=START.date(),
        ends_on=START.date(),
    )
    event = Event(
        coalition=coalition,
        origin=origin,
        title="Rally\r\x1bnow",
        description="one\r\ntwo\rthree\x0b" + NUL,
        starts_at=START,
        ends_at=START + dt.timedelta(hours=2),
        timezone="America/Chicago",
        location_name="Cap\titol",
        online_url="https://meet.example.org/\x01room",
        language="en\n",
        kind="march",
        status="confirmed",
        all_day=False,
        campaign_id=None,
    )
    event.exdates = []
    event.tags = ["strike"]
    session.add_all([coalition, unreachable, campaign, event])
    session.flush()
    event.campaign_id = campaign.id
    session.add_all(
        [
            Endorsement(
                campaign=campaign, origin=origin, organization="Nurses\nUnited", level="strike"
            ),
            Endorsement(
                campaign=campaign, origin=origin, organization="Nurses United", level="endorse"
            ),
        ]
    )
    session.add(ApiToken(token_hash=uuid.uuid4().hex * 2, label="phone\r"))
    session.commit()
    return {"coalition": coalition.id, "unreachable": unreachable.id, "campaign": campaign.id,
            "event": event.id}  # fmt: skip


def logged(session: Session, object_id: uuid.UUID) -> dict[str, Any]:
    row = session.get(FederationObject, object_id)
    assert row is not None
    envelope: dict[str, Any] = json.loads(row.envelope)
    return envelope


def test_local_objects_become_new_versions_rendered_and_signed_again(
    session: Session, client: FlaskClient
) -> None:
    ids = legacy_rows(session)
    before = {name: logged(session, object_id) for name, object_id in ids.items()}

    cleaned = clean_stored_text(session)
    session.commit()

    assert cleaned == {"Coalition": 2, "Campaign": 1, "Endorsement": 1, "Event": 1, "ApiToken": 1}
    event = session.get(Event, ids["event"])
    assert event is not None
    assert (event.title, event.description) == ("Rally now", "one\ntwo\nthree\n")
    assert (event.location_name, event.online_url, event.language) == (
        "Cap itol",
        "https://meet.example.org/room",
        "en",
    )
    assert event.version == 2
    session.refresh(event, ["ical_block"])
    assert event.ical_block == render_event(event)
    assert b"SEQUENCE:1\r\n" in event.ical_block
    coalition = session.get(Coalition, ids["coalition"])
    assert coalition is not None
    assert (coalition.name, coalition.description) == ("Twin Cities", "Unions\nand\ncommunity")
    assert coalition.member_organizations == [{"name": "SEIU Local 26", "kind": "union"}]
    campaign = session.get(Campaign, ids["campaign"])
    assert campaign is not None
    assert (campaign.title, campaign.call_to_action) == ("Day END:VEVENT", "Join\n")
    # Unique values stay unique: the cleaned name was taken, a valid slug is at least two long.
    assert sorted(e.organization for e in campaign.endorsements) == [
        "Nurses United",
        "Nurses United (2)",
    ]
    assert session.get(Coalition, ids["unreachable"]).slug == "x-2"  # type: ignore[union-attr]
    assert session.scalar(select(ApiToken.label).where(ApiToken.label.like("phone%"))) == "phone"

    # Peers get each new version, signed by us, with the clean text.
    key = publisher_of(session).private_key.public_key()
    for name, object_id in ids.items():
        envelope = logged(session, object_id)
        assert envelope["version"] == before[name]["version"] + 1, name
        verify(envelope, key)
    assert logged(session, ids["event"])["data"]["title"] == "Rally now"
    assert logged(session, ids["unreachable"])["data"]["slug"] == "x-2"

    # What could not be reached through the API now can; the feeds are valid.
    assert client.get("/api/v1/coalitions/x-2").status_code == 200
    for path in ("/feeds/coalitions/minneapolis.ics", f"/feeds/campaigns/{ids['campaign']}.ics"):
        response = client.get(path)
        assert response.status_code == 200
        check_feed(response.data)


def test_a_second_run_changes_nothing(session: Session) -> None:
    ids = legacy_rows(session)
    clean_stored_text(session)
    session.commit()
    versions = {object_id: logged(session, object_id)["version"] for object_id in ids.values()}

    assert clean_stored_text(session) == {}
    session.commit()

    assert {object_id: logged(session, object_id)["version"] for object_id in ids.values()} == (
        versions
    )


def test_text_the_policy_allows_is_left_alone(session: Session) -> None:
    ids = legacy_rows(session)
    clean_stored_text(session)
    session.commit()
    # Leading spaces, tabs and LF in a description, a backslash-N: all allowed, none touched.
    session.execute(
        update(Event)
        .where(Event.id == ids["event"])
        .values(title="  Rally \\N", description="\tone\ntwo  ")
    )
    session.commit()

    assert clean_stored_text(session) == {}


def test_another_origins_copy_is_cleaned_in_place_and_its_envelope_kept(session: Session) -> None:
    mpls = RemoteOrigin(MPLS, "Minneapolis")
    peer = Peer(url=MPLS)
    session.add(peer)
    session.commit()
    ingest = Ingest(session, peer, own_origin=BASE_URL, discover=lambda _o: mpls.discovery())
    coalition, event = uuid.uuid4(), uuid.uuid4()
    ingest.apply_page([mpls.coalition(coalition), mpls.event(event, coalition)], listed=False)
    session.commit()
    envelope = session.get(FederationObject, event).envelope  # type: ignore[union-attr]
    # What an earlier version accepted from that peer.
    session.execute(update(Event).where(Event.id == event).values(title="Rally\rnow"))
    session.commit()

    assert clean_stored_text(session) == {"Event": 1}
    session.commit()

    stored = session.get(Event, event)
    assert stored is not None
    session.refresh(stored)
    assert (stored.title, stored.version, stored.origin) == ("Rally now", 1, MPLS)
    assert b"SUMMARY;LANGUAGE=en:Rally now\r\n" in stored.ical_block
    assert session.get(FederationObject, event).envelope == envelope  # type: ignore[union-attr]


def test_the_command_reports_what_it_cleaned(app: Flask, session: Session) -> None:
    legacy_rows(session)

    result = app.test_cli_runner().invoke(args=["db", "clean-text"])

    assert result.exit_code == 0, result.output
    assert (
        "text cleaned under the text policy: 1 ApiToken, 1 Campaign, 2 Coalition" in result.output
    )
    again = app.test_cli_runner().invoke(args=["db", "clean-text"])
    assert "nothing to clean" in again.output


def test_db_upgrade_cleans_what_an_earlier_version_stored(
    fresh_database_url: Callable[[], str],
) -> None:
    """The operator's path: stored text, then `flask db upgrade` in its own process."""
    url = fresh_database_url()
    env = servers.environment(url, BASE_URL)
    assert servers.flask(env, "db", "upgrade").returncode == 0
    app = create_app({"FEDERATION_DATABASE_URL": url, "FEDERATION_BASE_URL": BASE_URL})
    try:
        with app.app_context():
            ids = legacy_rows(get_session())

        upgraded = servers.flask(env, "db", "upgrade")

        assert upgraded.returncode == 0, upgraded.stderr
        assert "text cleaned under the text policy" in upgraded.stderr
        with app.app_context():
            session = get_session()
            event = session.get(Event, ids["event"])
            assert event is not None
            assert (event.title, event.version) == ("Rally now", 2)
            assert logged(session, ids["event"])["data"]["title"] == "Rally now"
            assert text_policy.refusal(logged(session, ids["coalition"])["data"]["name"]) is None
        response = app.test_client().get("/feeds/coalitions/minneapolis.ics")
        check_feed(response.data)
    finally:
        get_database(app).engine.dispose()
