"""The federation pull protocol as a peer sees it: discovery, signed envelopes, the changes
feed and its cursors, snapshots, single objects, keys; and position order = commit order."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_URL, backend, bearer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import ROOT, environment, flask
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError

from federation import create_app
from federation.db import get_database, get_session
from federation.envelope import (
    FloatInSignedData,
    ProofError,
    canonical,
    canonical_signed,
    check_identity,
    key_id,
    object_url,
    public_key_from_multibase,
    public_key_multibase,
    sign,
    verify,
)
from federation.keys import KeyFileError, KeyRing
from federation.migrate import upgrade
from federation.models import (
    Campaign,
    Coalition,
    Endorsement,
    Event,
    FederationObject,
    InstanceState,
    utcnow,
)
from federation.services import outbox

Maker = Callable[..., dict[str, Any]]
CHANGES = "/federation/v1/changes"
SNAPSHOT = "/federation/v1/snapshot"


def envelopes(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    items: list[dict[str, Any]] = response.json["items"]
    return items


def drain(client: FlaskClient, after: str | None = None, limit: int = 100) -> tuple[list, str]:
    """Follow the changes feed from `after` until up to date: (envelopes, cursor)."""
    items: list[dict[str, Any]] = []
    for _ in range(1000):
        query: dict[str, Any] = {"limit": limit}
        if after is not None:
            query["after"] = after
        response = client.get(CHANGES, query_string=query)
        items += envelopes(response)
        after = response.json["next"]
        if response.json["up_to_date"]:
            assert after is not None
            return items, after
    raise AssertionError("the changes feed never said it was up to date")


def public_keys(client: FlaskClient) -> dict[str, Any]:
    document = client.get("/.well-known/solidarity-federation").json
    return {key["id"]: key for key in document["public_keys"]}


def check_proof(client: FlaskClient, envelope: dict[str, Any]) -> None:
    key = public_keys(client)[envelope["proof"]["verificationMethod"]]
    verify(envelope, public_key_from_multibase(key["publicKeyMultibase"]))


def head_cursor(client: FlaskClient) -> str:
    return drain(client)[1]


@pytest.fixture
def coalition(make_coalition: Maker) -> dict[str, Any]:
    return make_coalition()


# --- discovery ---------------------------------------------------------------------------


def test_discovery_names_origin_endpoints_keys_and_limits(client: FlaskClient):
    response = client.get("/.well-known/solidarity-federation")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    document = response.json
    assert document["origin"] == BASE_URL
    assert document["name"] == "Test instance"
    assert document["protocol_versions"] == ["1"]
    assert document["endpoints"] == {
        "discovery": f"{BASE_URL}/.well-known/solidarity-federation",
        "changes": f"{BASE_URL}/federation/v1/changes",
        "snapshot": f"{BASE_URL}/federation/v1/snapshot",
        "objects": f"{BASE_URL}/federation/v1/objects/",
    }
    assert document["limits"] == {"page_default": 100, "page_max": 500, "object_max_bytes": 65536}
    assert document["tombstone_retention_days"] == 180
    [key] = document["public_keys"]
    assert key["id"].startswith(f"{BASE_URL}/.well-known/solidarity-federation#")
    assert key["type"] == "Multikey"
    assert key["algorithm"] == "Ed25519"
    assert key["status"] == "active"
    assert key["publicKeyMultibase"].startswith("z6Mk")
    public_key_from_multibase(key["publicKeyMultibase"])


# --- envelopes and proofs ------------------------------------------------------------------


def test_objects_are_signed_envelopes_that_verify_with_the_published_key(
    client: FlaskClient, coalition: dict[str, Any], make_event: Maker
):
    event = make_event()
    items, _ = drain(client)
    assert [item["type"] for item in items] == ["Coalition", "Event"]
    envelope = items[1]
    assert envelope["id"] == object_url(BASE_URL, event["id"])
    assert envelope["origin"] == BASE_URL
    assert envelope["version"] == 1
    assert set(envelope) == {
        "id",
        "type",
        "origin",
        "version",
        "published",
        "updated",
        "data",
        "proof",
    }
    proof = envelope["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"].startswith("z")
    for item in items:
        check_proof(client, item)
    data = envelope["data"]
    assert data["title"] == "March on the Capitol"
    assert data["coalition_id"] == coalition["id"]
    # No floats in signed data: coordinates travel as strings.
    assert data["location"]["latitude"] == "44.9553"
    assert data["location"]["longitude"] == "-93.1022"
    # Local-only fields stay home.
    assert not {"url", "coalition", "id", "origin", "feed_url"} & set(data)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "title"), "Rally cancelled by a forger"),
        (("version",), 99),
        (("origin",), "https://evil.example"),
        (("proof", "created"), "2000-01-01T00:00:00Z"),
    ],
)
def test_tampering_with_any_signed_field_breaks_the_proof(
    client: FlaskClient, coalition: dict[str, Any], make_event: Maker, path: tuple, value: Any
):
    make_event()
    envelope = drain(client)[0][-1]
    check_proof(client, envelope)
    target = envelope
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    with pytest.raises(ProofError):
        check_proof(client, envelope)


def test_a_proof_does_not_verify_with_another_key(client: FlaskClient, coalition: dict[str, Any]):
    envelope = drain(client)[0][0]
    with pytest.raises(ProofError):
        verify(envelope, Ed25519PrivateKey.generate().public_key())


def test_sign_and_verify_round_trip_and_refuse_floats():
    key = Ed25519PrivateKey.generate()
    unsigned = {"id": "https://a.example/federation/v1/objects/1", "data": {"n": 1, "s": "é"}}
    signed = sign(unsigned, key, key_id("https://a.example", "k1"), created=utcnow())
    verify(signed, key.public_key())
    # Canonical bytes: key order and whitespace do not matter to the proof.
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=3))
    verify(reordered, key.public_key())
    with pytest.raises(FloatInSignedData):
        canonical({"latitude": 44.9553})
    with pytest.raises(ProofError):
        verify({**signed, "data": {"n": 1.5}}, key.public_key())


# --- the changes feed ----------------------------------------------------------------------


def test_create_edit_cancel_delete_appear_as_increasing_versions_then_a_tombstone(
    client: FlaskClient, admin: dict[str, str], coalition: dict[str, Any], make_event: Maker
):
    _, cursor = drain(client)
    event = make_event()
    url = f"/api/v1/events/{event['id']}"
    steps = [
        lambda: client.patch(url, json={"title": "March on the Capitol, 1pm"}, headers=admin),
        lambda: client.patch(url, json={"status": "cancelled"}, headers=admin),
        lambda: client.delete(url, headers=admin),
    ]
    seen = []
    for step in [None, *steps]:
        if step is not None:
            assert step().status_code in {200, 204}
        items, cursor = drain(client, cursor)
        assert len(items) == 1, items
        seen.append(items[0])
    assert [item["version"] for item in seen] == [1, 2, 3, 4]
    assert [item["type"] for item in seen] == ["Event", "Event", "Event", "Tombstone"]
    assert seen[1]["data"]["title"] == "March on the Capitol, 1pm"
    assert seen[2]["data"]["status"] == "cancelled"
    tombstone = seen[3]
    assert tombstone["id"] == object_url(BASE_URL, event["id"])
    assert tombstone["data"] == {"former_type": "Event"}
    assert tombstone["published"] == seen[0]["published"]
    for item in seen:
        check_proof(client, item)
    # The log holds the current state only: from the start, the event is just its tombstone.
    everything, _ = drain(client)
    assert [item["type"] for item in everything] == ["Coalition", "Tombstone"]


def test_an_edit_that_changes_nothing_publishes_nothing(
    client: FlaskClient, admin: dict[str, str], coalition: dict[str, Any], make_event: Maker
):
    event = make_event()
    before = client.get(CHANGES)
    response = client.patch(
        f"/api/v1/events/{event['id']}", json={"title": event["title"]}, headers=admin
    )
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert client.get(CHANGES).headers["ETag"] == before.headers["ETag"]


def test_deleting_a_coalition_logs_every_tombstone_and_the_new_versions_it_causes(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, make_event: Maker
):
    make_coalition()
    make_coalition(slug="chicago", name="Chicago", city="Chicago", city_slug="chicago")
    campaign = client.post(
        "/api/v1/campaigns",
        json={
            "title": "Day",
            "starts_on": "2027-01-23",
            "ends_on": "2027-01-23",
            "coalition": "minneapolis",
        },
        headers=admin,
    ).json
    chicago_event = make_event("chicago", campaign_id=campaign["id"])
    _, cursor = drain(client)
    assert client.delete("/api/v1/coalitions/minneapolis", headers=admin).status_code == 204
    items, _ = drain(client, cursor)
    kinds = [(item["type"], item.get("data", {}).get("former_type")) for item in items]
    # The Chicago action leaves the deleted campaign (a new version), then the tombstones.
    assert kinds[0] == ("Event", None)
    assert items[0]["id"] == object_url(BASE_URL, chicago_event["id"])
    assert items[0]["data"]["campaign_id"] is None
    assert sorted(kinds[1:]) == [("Tombstone", "Campaign"), ("Tombstone", "Coalition")]


def test_one_transaction_is_logged_in_dependency_order(app: Flask, client: FlaskClient):
    with app.app_context():
        session = get_session()
        coalition = Coalition(
            origin=BASE_URL,
            slug="duluth",
            name="Duluth",
            city="Duluth",
            city_slug="duluth",
            timezone="America/Chicago",
        )
        campaign = Campaign(
            origin=BASE_URL,
            coalition=coalition,
            title="Day",
            starts_on=dt.date(2027, 1, 23),
            ends_on=dt.date(2027, 1, 23),
        )
        endorsement = Endorsement(
            origin=BASE_URL, campaign=campaign, organization="Teamsters", level="strike"
        )
        start = dt.datetime(2027, 1, 23, 18, tzinfo=dt.UTC)
        action = Event(
            origin=BASE_URL,
            coalition=coalition,
            title="Picket",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            timezone="America/Chicago",
            kind="picket",
            status="confirmed",
            all_day=False,
            description="",
            exdate_values=[],
        )
        # Added in reverse: the log must not depend on the order code happens to add things.
        session.add_all([action, endorsement, campaign, coalition])
        session.commit()
    items, _ = drain(client)
    assert [item["type"] for item in items] == ["Coalition", "Campaign", "Endorsement", "Event"]
    assert items[2]["data"]["campaign_id"] == items[1]["id"].rsplit("/", 1)[1]
    assert items[2]["data"]["coalition_id"] is None


def test_other_origins_objects_are_not_signed_here(app: Flask, client: FlaskClient):
    with app.app_context():
        session = get_session()
        session.add(
            Coalition(
                origin="https://nyc.example",
                slug="nyc",
                name="NYC",
                city="New York",
                city_slug="new-york",
                timezone="America/New_York",
            )
        )
        session.commit()
    assert drain(client)[0] == []


def test_a_rolled_back_write_logs_nothing(app: Flask, client: FlaskClient):
    with app.app_context():
        session = get_session()
        session.add(
            Coalition(
                origin=BASE_URL,
                slug="ghost",
                name="Ghost",
                city="X",
                city_slug="x",
                timezone="America/Chicago",
            )
        )
        session.flush()
        session.rollback()
        session.commit()
    assert drain(client)[0] == []


def test_relayed_envelopes_are_logged_verbatim_and_not_served_as_ours(
    app: Flask, client: FlaskClient
):
    key = Ed25519PrivateKey.generate()
    object_id = uuid.uuid4()
    foreign = sign(
        {
            "id": object_url("https://nyc.example", object_id),
            "type": "Event",
            "origin": "https://nyc.example",
            "version": 3,
            "published": "2027-01-01T00:00:00Z",
            "updated": "2027-01-02T00:00:00Z",
            "data": {"title": "x"},
            "x-unknown": {"kept": True},
        },
        key,
        key_id("https://nyc.example", "k"),
        created=utcnow(),
    )
    # Deliberately not canonical bytes: a relay passes on exactly what it received.
    raw = json.dumps(foreign, indent=1).encode()
    with app.app_context():
        session = get_session()
        outbox.log_relayed(
            session,
            outbox.RelayedObject(object_id, "Event", "https://nyc.example", 3, raw),
        )
        session.commit()
    response = client.get(CHANGES)
    assert raw in response.get_data()
    verify(envelopes(response)[0], key.public_key())
    assert client.get(f"/federation/v1/objects/{object_id}").status_code == 404


def test_paging_with_limit_delivers_each_change_once(
    client: FlaskClient, coalition: dict[str, Any], make_event: Maker
):
    for index in range(6):
        make_event(title=f"Action {index}")
    first = client.get(CHANGES, query_string={"limit": 3})
    assert len(envelopes(first)) == 3
    assert first.json["up_to_date"] is False
    items, cursor = drain(client, limit=2)
    ids = [item["id"] for item in items]
    assert len(ids) == 7
    assert len(set(ids)) == 7
    assert envelopes(client.get(CHANGES, query_string={"after": cursor})) == []


def test_items_are_the_stored_bytes_verbatim(
    app: Flask, client: FlaskClient, coalition: dict[str, Any]
):
    with app.app_context():
        stored = get_session().scalars(select(FederationObject.envelope)).one()
    body = client.get(CHANGES).get_data()
    assert body.startswith(b'{"items":[' + stored + b"]")
    assert client.get(f"/federation/v1/objects/{coalition['id']}").get_data() == stored


def test_an_idle_feed_answers_304_to_its_etag(
    client: FlaskClient, coalition: dict[str, Any], make_event: Maker
):
    first = client.get(CHANGES)
    etag = first.headers["ETag"]
    assert not etag.startswith("W/")
    # When up to date, the ETag is the quoted `next` cursor: a reader can send it back.
    assert etag == f'"{first.json["next"]}"'
    assert "no-cache" in first.headers["Cache-Control"]
    again = client.get(
        CHANGES, query_string={"after": first.json["next"]}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    make_event()
    changed = client.get(
        CHANGES, query_string={"after": first.json["next"]}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert [item["type"] for item in changed.json["items"]] == ["Event"]
    assert changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": "not a cursor"}, "after"),
        ({"after": base64.urlsafe_b64encode(b"epoch.-1").decode()}, "after"),
        ({"after": base64.urlsafe_b64encode(b"nodot").decode()}, "after"),
        ({"after": ""}, "after"),
    ],
)
def test_bad_arguments_are_422_in_the_api_error_shape(
    client: FlaskClient, query: dict[str, str], field: str
):
    response = client.get(CHANGES, query_string=query)
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert response.json["status"] == "Unprocessable Entity"
    assert field in response.json["errors"]["query"]


def test_a_new_epoch_turns_old_cursors_away_with_410(
    app: Flask, client: FlaskClient, coalition: dict[str, Any]
):
    cursor = head_cursor(client)
    result = app.test_cli_runner().invoke(args=["federation", "new-epoch"])
    assert result.exit_code == 0, result.output
    response = client.get(CHANGES, query_string={"after": cursor})
    assert response.status_code == 410
    assert response.json["reason"] == "epoch_changed"
    assert response.json["code"] == 410
    assert response.json["status"] == "Gone"
    assert response.json["message"]
    # Starting over works, and hands out cursors of the new epoch.
    assert client.get(CHANGES, query_string={"after": head_cursor(client)}).status_code == 200


def test_a_cursor_ahead_of_the_log_is_refused(client: FlaskClient, coalition: dict[str, Any]):
    epoch = base64.urlsafe_b64decode(head_cursor(client) + "==").decode().split(".")[0]
    ahead = base64.urlsafe_b64encode(f"{epoch}.999".encode()).decode().rstrip("=")
    response = client.get(CHANGES, query_string={"after": ahead})
    assert response.status_code == 410
    assert response.json["reason"] == "epoch_changed"


def test_purged_tombstones_expire_older_cursors(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    coalition: dict[str, Any],
    make_event: Maker,
):
    old_cursor = head_cursor(client)
    event = make_event()
    assert client.delete(f"/api/v1/events/{event['id']}", headers=admin).status_code == 204
    fresh_cursor = head_cursor(client)
    # Nothing is older than 180 days yet.
    kept = app.test_cli_runner().invoke(args=["federation", "purge-tombstones"])
    assert kept.exit_code == 0, kept.output
    assert "purged 0 tombstones" in kept.output
    purged = app.test_cli_runner().invoke(args=["federation", "purge-tombstones", "--days", "0"])
    assert purged.exit_code == 0, purged.output
    assert "purged 1 tombstones" in purged.output
    gone = client.get(CHANGES, query_string={"after": old_cursor})
    assert gone.status_code == 410
    assert gone.json["reason"] == "cursor_expired"
    assert client.get(CHANGES, query_string={"after": fresh_cursor}).status_code == 200
    # The event is simply unknown now, and its position is never handed out again.
    assert client.get(f"/federation/v1/objects/{event['id']}").status_code == 404
    make_event(title="Later")
    items, _ = drain(client, fresh_cursor)
    assert [item["data"]["title"] for item in items] == ["Later"]
    # A reader starting from nothing (no cursor) is never refused.
    assert client.get(CHANGES).status_code == 200


# --- snapshot ------------------------------------------------------------------------------


def walk_snapshot(client: FlaskClient, limit: int, between: Callable[[], None] = lambda: None):
    items: list[dict[str, Any]] = []
    page = None
    for _ in range(100):
        query: dict[str, Any] = {"limit": limit}
        if page is not None:
            query["page"] = page
        response = client.get(SNAPSHOT, query_string=query)
        items += envelopes(response)
        between()
        page = response.json["next_page"]
        if page is None:
            return items, response.json["cursor"]
        assert response.json["cursor"] is None
    raise AssertionError("the snapshot never ended")


def test_snapshot_is_pinned_and_hands_over_a_cursor(
    client: FlaskClient, admin: dict[str, str], coalition: dict[str, Any], make_event: Maker
):
    events = [make_event(title=f"Action {index}") for index in range(4)]
    calls = []

    def meanwhile() -> None:
        # While the reader pages: one already-read object changes, one new object appears.
        if not calls:
            calls.append(1)
            client.patch(
                f"/api/v1/coalitions/{coalition['slug']}", json={"name": "Renamed"}, headers=admin
            )
            make_event(title="Late")

    items, cursor = walk_snapshot(client, 2, meanwhile)
    titles = [item["data"].get("title", item["data"].get("name")) for item in items]
    assert titles == ["Twin Cities Solidarity Coalition"] + [e["title"] for e in events]
    rest, _ = drain(client, cursor)
    assert [item["data"].get("title", item["data"].get("name")) for item in rest] == [
        "Renamed",
        "Late",
    ]


def test_snapshot_leaves_out_nothing_live_and_keeps_tombstones(
    client: FlaskClient, admin: dict[str, str], coalition: dict[str, Any], make_event: Maker
):
    keep, drop = make_event(title="Keep"), make_event(title="Drop")
    assert client.delete(f"/api/v1/events/{drop['id']}", headers=admin).status_code == 204
    items, cursor = walk_snapshot(client, 100)
    assert [item["type"] for item in items] == ["Coalition", "Event", "Tombstone"]
    assert items[1]["id"].endswith(keep["id"])
    assert cursor == head_cursor(client)


def test_snapshot_tokens_are_checked(app: Flask, client: FlaskClient, coalition: dict[str, Any]):
    assert client.get(SNAPSHOT, query_string={"page": "garbage"}).status_code == 422
    page = client.get(SNAPSHOT, query_string={"limit": 1})
    token = page.json["next_page"]
    assert token is None  # one object: the first page is the last
    epoch = base64.urlsafe_b64decode(page.json["cursor"] + "==").decode().split(".")[0]
    beyond = base64.urlsafe_b64encode(f"{epoch}.99.0".encode()).decode()
    assert client.get(SNAPSHOT, query_string={"page": beyond}).status_code == 422
    stale = base64.urlsafe_b64encode(b"0123456789abcdef.1.0").decode()
    response = client.get(SNAPSHOT, query_string={"page": stale})
    assert response.status_code == 410
    assert response.json["reason"] == "epoch_changed"


# --- single objects ------------------------------------------------------------------------


def test_objects_endpoint_serves_200_then_410_with_the_tombstone_and_404_for_unknown(
    client: FlaskClient, admin: dict[str, str], coalition: dict[str, Any], make_event: Maker
):
    event = make_event()
    url = f"/federation/v1/objects/{event['id']}"
    live = client.get(url)
    assert live.status_code == 200
    assert live.content_type == "application/json"
    assert live.json["type"] == "Event"
    check_proof(client, live.json)
    assert client.delete(f"/api/v1/events/{event['id']}", headers=admin).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 410
    assert gone.json["type"] == "Tombstone"
    assert gone.json["version"] == 2
    check_proof(client, gone.json)
    missing = client.get(f"/federation/v1/objects/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json["code"] == 404
    assert client.get("/federation/v1/objects/not-a-uuid").status_code == 404


# --- keys ----------------------------------------------------------------------------------


def test_the_key_file_is_created_private_and_refused_when_readable(tmp_path: Path):
    path = tmp_path / "instance" / "keys.json"
    ring = KeyRing.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.open(path).active.name == ring.active.name
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyRing.open(path)
    # ...and the application refuses to start with it.
    with pytest.raises(KeyFileError):
        create_app({"FEDERATION_KEY_PATH": str(path), "FEDERATION_DATABASE_URL": "sqlite://"})


def test_the_default_key_path_is_in_the_instance_folder(monkeypatch: pytest.MonkeyPatch):
    from federation.config import settings_from_env

    monkeypatch.delenv("FEDERATION_KEY_PATH")
    settings = settings_from_env(os.environ, "/srv/instance")
    assert settings["FEDERATION_KEY_PATH"] == "/srv/instance/federation-keys.json"


@pytest.fixture
def own_keys_app(app: Flask, tmp_path: Path) -> Iterator[Callable[[], Flask]]:
    """Apps on the test's database (and outer transaction) with a key file of their own."""
    connection = get_database(app).sessionmaker.kw["bind"]
    made: list[Flask] = []

    def make() -> Flask:
        other = create_app(
            {
                "TESTING": True,
                "FEDERATION_DATABASE_URL": app.config["FEDERATION_DATABASE_URL"],
                "FEDERATION_BASE_URL": BASE_URL,
                "FEDERATION_KEY_PATH": str(tmp_path / "keys.json"),
            }
        )
        get_database(other).sessionmaker.configure(
            bind=connection, join_transaction_mode="create_savepoint"
        )
        made.append(other)
        return other

    yield make
    for other in made:
        get_database(other).engine.dispose()


def test_rotation_keeps_the_retired_key_listed_and_old_signatures_verifiable(
    own_keys_app: Callable[[], Flask], admin_token: str
):
    before = own_keys_app()
    client = before.test_client()
    payload = {
        "slug": "oakland",
        "name": "Oakland",
        "city": "Oakland",
        "city_slug": "oakland",
        "timezone": "America/Los_Angeles",
    }
    assert (
        client.post("/api/v1/coalitions", json=payload, headers=bearer(admin_token)).status_code
        == 201
    )
    [old] = drain(client)[0]
    result = before.test_cli_runner().invoke(args=["federation", "rotate-key"])
    assert result.exit_code == 0, result.output
    new_key_id = result.output.strip()
    # After a restart the instance signs with the new key and lists both.
    after = own_keys_app()
    client = after.test_client()
    keys = public_keys(client)
    assert keys[old["proof"]["verificationMethod"]]["status"] == "retired"
    assert keys[new_key_id]["status"] == "active"
    check_proof(client, old)
    response = client.patch(
        "/api/v1/coalitions/oakland", json={"name": "Oakland Unite"}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    [new] = drain(client)[0]
    assert new["proof"]["verificationMethod"] == new_key_id
    check_proof(client, new)


# --- publishing what is not logged yet -----------------------------------------------------


def test_publish_unlogged_logs_objects_written_without_the_hooks(
    app: Flask, client: FlaskClient, coalition: dict[str, Any], make_event: Maker
):
    make_event()
    with app.app_context():
        session = get_session()
        session.execute(text("DELETE FROM federation_objects"))
        session.execute(update(InstanceState).values(horizon=0))
        session.commit()
        assert outbox.publish_unlogged(session) == 2
        session.commit()
        assert outbox.publish_unlogged(session) == 0
        session.commit()
    assert [item["type"] for item in drain(client)[0]] == ["Coalition", "Event"]


def _flask(url: str, key_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = environment(url, "http://127.0.0.1:5000", FEDERATION_KEY_PATH=str(key_path))
    return flask(env, *args)


def test_db_upgrade_ends_with_every_local_object_logged(
    fresh_database_url: Callable[[], str], tmp_path: Path
):
    url = fresh_database_url()
    keys = tmp_path / "keys.json"
    assert _flask(url, keys, "db", "upgrade").returncode == 0
    assert _flask(url, keys, "load-demo").returncode == 0
    app = create_app(
        {
            "FEDERATION_DATABASE_URL": url,
            "FEDERATION_KEY_PATH": str(keys),
            "FEDERATION_BASE_URL": "http://127.0.0.1:5000",
        }
    )
    engine = get_database(app).engine
    try:
        # Empty the log, as a release from before the log would have left it.
        with engine.begin() as connection:
            logged = connection.execute(text("SELECT count(*) FROM federation_objects")).scalar()
            assert logged
            connection.execute(text("DELETE FROM federation_objects"))
        result = _flask(url, keys, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert f"federation log: {logged} objects published" in result.stderr
        with engine.connect() as connection:
            again = connection.execute(text("SELECT count(*) FROM federation_objects")).scalar()
        assert again == logged
    finally:
        engine.dispose()


# --- the ordering trap ---------------------------------------------------------------------


@pytest.fixture
def live_app(fresh_database_url: Callable[[], str], tmp_path: Path) -> Iterator[Flask]:
    """An app on its own database with real commits (no outer test transaction)."""
    url = fresh_database_url()
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "FEDERATION_DATABASE_URL": url,
            "FEDERATION_BASE_URL": BASE_URL,
            "FEDERATION_KEY_PATH": str(tmp_path / "keys.json"),
        }
    )
    yield app
    get_database(app).engine.dispose()


def test_writers_committing_out_of_order_never_make_a_reader_skip(live_app: Flask):
    """Each writer is held up between its last statement and its COMMIT for a random while,
    so transactions finish in a different order than they started; a reader polling the
    feed all along must still see every change exactly once."""
    database = get_database(live_app)
    writers, commits_each = 4, 8
    errors: list[BaseException] = []

    @event.listens_for(database.engine, "commit")
    def _slow_commit(_connection: Any) -> None:
        if threading.current_thread().name.startswith("writer"):
            time.sleep(random.uniform(0, 0.02))

    def write(number: int) -> None:
        try:
            for index in range(commits_each):
                with database.sessionmaker() as session:
                    slug = f"w{number}-{index}"
                    session.add(
                        Coalition(
                            origin=BASE_URL,
                            slug=slug,
                            name=slug,
                            city="c",
                            city_slug="c",
                            timezone="America/Chicago",
                        )
                    )
                    time.sleep(random.uniform(0, 0.01))
                    session.commit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(n,), name=f"writer-{n}") for n in range(writers)
    ]
    client = live_app.test_client()
    seen: list[str] = []
    cursor = None
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        items, cursor = drain(client, cursor, limit=3)
        seen += [item["id"] for item in items]
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    assert not errors, errors
    items, cursor = drain(client, cursor)
    seen += [item["id"] for item in items]
    assert len(seen) == writers * commits_each
    assert len(set(seen)) == len(seen)
    with database.engine.connect() as connection:
        positions = (
            connection.execute(text("SELECT position FROM federation_objects ORDER BY position"))
            .scalars()
            .all()
        )
    assert positions == list(range(1, writers * commits_each + 1))


@pytest.mark.skipif(backend() != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_transaction_holding_positions_blocks_later_ones_until_it_commits(live_app: Flask):
    """T1 has its positions and is not yet committed; T2 wants positions: it must wait for
    T1's COMMIT, or a reader could see T2's higher position first and pass T1 by."""
    database = get_database(live_app)
    release = threading.Event()
    t1_has_positions = threading.Event()
    order: list[str] = []

    @event.listens_for(database.engine, "commit")
    def _hold(_connection: Any) -> None:
        if threading.current_thread().name == "t1":
            t1_has_positions.set()
            release.wait(10)

    def writer(slug: str) -> None:
        with database.sessionmaker() as session:
            session.add(
                Coalition(
                    origin=BASE_URL,
                    slug=slug,
                    name=slug,
                    city="c",
                    city_slug="c",
                    timezone="America/Chicago",
                )
            )
            session.commit()
            order.append(slug)

    # T2 starts its transaction (and its first write) while T1 waits to commit; its own
    # writes never touch T1's rows, only the log's lock can order them.
    t1 = threading.Thread(target=writer, args=("first",), name="t1")
    t1.start()
    assert t1_has_positions.wait(10)
    with database.sessionmaker() as session:
        session.execute(text("SET lock_timeout = '300ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            outbox.lock_log(session)
        session.rollback()
    release.set()
    t1.join(10)
    assert order == ["first"]
    client = live_app.test_client()
    items, _ = drain(client)
    assert [item["data"]["slug"] for item in items] == ["first"]


def test_the_worked_example_of_the_spec_is_reproduced_exactly():
    """docs/federation.md, section 4: Ed25519 is deterministic, so the vector is exact."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    origin = "https://mpls.example"
    document = {
        "id": f"{origin}/federation/v1/objects/5f0c2c1e-7b7a-4f43-9a55-1d3b8c2e9a10",
        "type": "Event",
        "origin": origin,
        "version": 2,
        "published": "2026-11-20T15:04:05Z",
        "updated": "2026-11-21T09:30:00Z",
        "data": {
            "title": "March on the Capitol",
            "description": "Bring signs.",
            "starts_at": "2027-01-23T12:00:00-06:00",
            "ends_at": "2027-01-23T15:00:00-06:00",
            "timezone": "America/Chicago",
            "all_day": False,
            "rrule": None,
            "exdates": [],
            "location": {
                "name": "Minnesota State Capitol",
                "address": "75 Rev Dr Martin Luther King Jr Blvd, St Paul, MN",
                "latitude": "44.9553",
                "longitude": "-93.1022",
            },
            "online_url": None,
            "kind": "march",
            "tags": ["day-of-action"],
            "status": "confirmed",
            "language": "en",
            "campaign_id": "0b6f1c7e-2d55-4c8e-8f3a-6a2f0e9d1c44",
            "coalition_id": "9d2e4f60-1a3b-4c5d-8e7f-0a1b2c3d4e5f",
        },
    }
    signed = sign(
        document,
        key,
        key_id(origin, "key-20261120-1a2b3c4d"),
        created=dt.datetime(2026, 11, 21, 9, 30, 1, tzinfo=dt.UTC),
    )
    assert public_key_multibase(key.public_key()) == (
        "z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd"
    )
    assert signed["proof"]["proofValue"] == (
        "z4cteH6WVMmJNmvBBfKMoD25cGfP2WMBmCFhBz96DFnXGgzW1iKPwmAUXnampSgZvcHTSC7GuSZmW3zNS3VCjztR5"
    )
    spec = (ROOT / "docs" / "federation.md").read_text(encoding="utf-8")
    assert signed["proof"]["proofValue"] in spec
    assert canonical(document).decode() in spec


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -(2**53 - 1)}},
        {"text": 'quote " backslash \\ controls \b\f\n\r\t \x00 \x1f \x7f'},
        {"text": "é ñ ✊ \u2028 \u2029 \ufeff 🏳️‍🌈 \U0001f600 \ue000"},
        {"déjà": 1, "\U0001f600": 2, "\ue000": 3},
        [],
        "",
    ],
)
def test_canonical_bytes_are_rfc8785(value: Any):
    import rfc8785

    assert canonical(value) == rfc8785.dumps(value)


JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=6), st.dictionaries(JSON_TEXT, JSON_VALUES))
def test_an_envelope_and_its_signed_part_are_canonicalized_as_rfc8785_says(
    members: dict[str, Any], proof: dict[str, Any]
):
    import rfc8785

    envelope = {**members, "proof": proof}
    unsigned = {name: value for name, value in envelope.items() if name != "proof"}
    assert canonical_signed(envelope) == (rfc8785.dumps(envelope), rfc8785.dumps(unsigned))


@pytest.mark.parametrize("value", [{"big": 2**60}, {"lone": "\ud800"}])
def test_values_json_cannot_carry_exactly_are_refused_and_fail_verification(value: Any):
    with pytest.raises(ValueError, match=r"exceeds|non-UTF-8"):
        canonical(value)
    key = Ed25519PrivateKey.generate()
    signed = sign({"data": 1}, key, "k", created=utcnow())
    with pytest.raises(ProofError):
        verify({**signed, "data": value}, key.public_key())


def test_identity_check_requires_one_origin_for_id_origin_and_key(
    client: FlaskClient, coalition: dict[str, Any]
):
    envelope = drain(client)[0][0]
    assert check_identity(envelope) == BASE_URL
    forged_id = {**envelope, "id": envelope["id"].replace(BASE_URL, "https://nyc.example")}
    forged_key = {
        **envelope,
        "proof": {**envelope["proof"], "verificationMethod": "https://nyc.example/k#1"},
    }
    for forged in (forged_id, forged_key, {**envelope, "origin": "https://nyc.example"}):
        with pytest.raises(ProofError):
            check_identity(forged)


def test_a_thousand_changes_in_one_transaction_are_each_delivered_once(
    app: Flask, client: FlaskClient
):
    with app.app_context():
        session = get_session()
        coalition = Coalition(
            origin=BASE_URL,
            slug="big",
            name="Big",
            city="Big",
            city_slug="big",
            timezone="America/Chicago",
        )
        start = dt.datetime(2027, 1, 23, 18, tzinfo=dt.UTC)
        session.add_all(
            Event(
                origin=BASE_URL,
                coalition=coalition,
                title=f"Action {index}",
                starts_at=start,
                ends_at=start + dt.timedelta(hours=1),
                timezone="America/Chicago",
                kind="rally",
                status="confirmed",
                all_day=False,
                description="",
                exdate_values=[],
            )
            for index in range(1000)
        )
        session.commit()
    items, cursor = drain(client, limit=100)
    assert len({item["id"] for item in items}) == len(items) == 1001
    assert items[0]["type"] == "Coalition"
    assert client.get(CHANGES, query_string={"after": cursor}).json["items"] == []
