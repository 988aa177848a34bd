"""The peers API: instance admins add, inspect, change and remove the instances they pull from."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import BASE_URL, bearer
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from federation.db import get_session
from federation.models import FederationObject, Peer, QuarantinedObject
from federation.services.outbox import RelayedObject, log_relayed

PEERS = "/api/v1/peers"
MPLS = "https://mpls.example"


@pytest.fixture
def peer(client: FlaskClient, admin: dict[str, str]) -> dict[str, Any]:
    response = client.post(PEERS, json={"url": MPLS, "relay": True}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def test_an_added_peer_is_listed_with_its_reading_state(
    client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    assert peer["url"] == MPLS
    assert (peer["relay"], peer["enabled"], peer["name"]) == (True, True, None)
    status = peer["status"]
    assert status["resyncing"] is True  # never synced: the first round reads a snapshot
    assert (status["cursor"], status["failures"], status["quarantined"]) == (None, 0, 0)
    listed = client.get(PEERS, headers=admin).json
    assert [item["id"] for item in listed["items"]] == [peer["id"]]
    assert client.get(f"{PEERS}/{peer['id']}", headers=admin).json == listed["items"][0]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://mpls.example/federation", "origin"),
        ("https://mpls.example/?x=1", "origin"),
        ("http://mpls.example", "https"),
        ("ftp://mpls.example", "http"),
        ("https://user:pw@mpls.example", "origin"),
        ("not a url", "http"),
        (BASE_URL, "own"),
    ],
)
def test_a_peer_is_an_https_origin_other_than_ours(
    client: FlaskClient, admin: dict[str, str], url: str, reason: str
):
    response = client.post(PEERS, json={"url": url}, headers=admin)
    assert response.status_code == 422, response.json
    assert reason in str(response.json["errors"]["json"]["url"]).lower()


def test_trailing_slash_and_case_name_the_same_peer_twice_is_a_conflict(
    client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    response = client.post(PEERS, json={"url": "https://MPLS.example/"}, headers=admin)
    assert response.status_code == 409


def test_unknown_fields_and_bad_types_are_refused(client: FlaskClient, admin: dict[str, str]):
    response = client.post(PEERS, json={"url": MPLS, "relay": "perhaps", "x": 1}, headers=admin)
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"relay", "x"}


def test_only_instance_admins_manage_peers(
    client: FlaskClient, admin: dict[str, str], make_coalition: Any, peer: dict[str, Any]
):
    make_coalition()
    minted = client.post("/api/v1/coalitions/minneapolis/tokens", json={}, headers=admin).json
    coalition_admin = bearer(minted["token"])
    item = f"{PEERS}/{peer['id']}"
    for method, path, body in [
        ("get", PEERS, None),
        ("post", PEERS, {"url": "https://nyc.example"}),
        ("get", item, None),
        ("patch", item, {"enabled": False}),
        ("delete", item, None),
        ("post", f"{item}/sync", None),
    ]:
        anonymous = getattr(client, method)(path, json=body)
        assert anonymous.status_code == 401, (method, path)
        scoped = getattr(client, method)(path, json=body, headers=coalition_admin)
        assert scoped.status_code == 403, (method, path)


def test_patch_turns_relaying_and_the_peer_off_and_the_url_is_fixed(
    client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    item = f"{PEERS}/{peer['id']}"
    changed = client.patch(item, json={"relay": False, "enabled": False}, headers=admin)
    assert (changed.json["relay"], changed.json["enabled"]) == (False, False)
    assert client.patch(item, json={"url": "https://x.example"}, headers=admin).status_code == 422
    assert client.get(item, headers=admin).json["url"] == MPLS


def test_unknown_peer_is_404(client: FlaskClient, admin: dict[str, str]):
    missing = f"{PEERS}/{uuid.uuid4()}"
    assert client.get(missing, headers=admin).status_code == 404
    assert client.patch(missing, json={"enabled": False}, headers=admin).status_code == 404
    assert client.delete(missing, headers=admin).status_code == 404
    assert client.post(f"{missing}/sync", headers=admin).status_code == 404


def test_a_round_with_an_unreachable_peer_reports_the_error_and_backs_off(
    app: Flask, client: FlaskClient, admin: dict[str, str]
):
    # https to a name that cannot resolve: the round fails before anything is read.
    peer = client.post(PEERS, json={"url": "https://peer.invalid"}, headers=admin).json
    summary = client.post(f"{PEERS}/{peer['id']}/sync", headers=admin).json
    assert summary["ok"] is False
    assert summary["error"]
    status = client.get(f"{PEERS}/{peer['id']}", headers=admin).json["status"]
    assert status["failures"] == 1
    assert status["last_error"] == summary["error"]
    assert status["next_attempt_at"] > status["last_attempt_at"]


def _bring(app: Flask, peer_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Log `count` objects as if the peer had brought them."""
    with app.app_context():
        session = get_session()
        ids = [uuid.uuid4() for _ in range(count)]
        for object_id in ids:
            envelope = b'{"type":"Poll"}'
            log_relayed(session, RelayedObject(object_id, "Poll", MPLS, 1, envelope, peer_id))
        session.add(QuarantinedObject(peer_id=peer_id, kind="rejected", reason="test"))
        session.commit()
        return ids


def test_removing_a_peer_keeps_or_purges_what_it_brought(
    app: Flask, client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    peer_id = uuid.UUID(peer["id"])
    brought = _bring(app, peer_id, 3)
    assert client.get(f"{PEERS}/{peer_id}", headers=admin).json["status"]["quarantined"] == 1
    assert client.delete(f"{PEERS}/{peer_id}", headers=admin).status_code == 204
    with app.app_context():
        session = get_session()
        kept = session.scalars(select(FederationObject).where(FederationObject.id.in_(brought)))
        assert {row.peer_id for row in kept} == {None}
        assert session.scalars(select(QuarantinedObject)).all() == []

    again = client.post(PEERS, json={"url": MPLS}, headers=admin).json
    brought = _bring(app, uuid.UUID(again["id"]), 2)
    response = client.delete(f"{PEERS}/{again['id']}?purge=true", headers=admin)
    assert response.status_code == 204
    with app.app_context():
        session = get_session()
        left = session.scalars(select(FederationObject).where(FederationObject.id.in_(brought)))
        assert left.all() == []
        assert session.get(Peer, uuid.UUID(again["id"])) is None
