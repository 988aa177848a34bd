"""The peers API: instance admins add, inspect, change and remove the instances they pull from."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from conftest import BASE_URL, bearer
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from federation.db import get_database, get_session
from federation.models import FederationObject, Peer, QuarantinedObject, utcnow
from federation.services.outbox import RelayedObject, log_relayed
from federation.sync import settings_from_config
from federation.sync.worker import sync_all

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
        ("get", f"{item}/quarantine", None),
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
    assert client.get(f"{missing}/quarantine", headers=admin).status_code == 404


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


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://127.0.0.1:8443",
        "https://10.1.2.3",
        "https://192.168.1.20",
        "https://169.254.169.254",
        "https://[::1]",
        "https://[fe80::1]",
        "https://[fd00::5]",
        "https://[::ffff:127.0.0.1]",
        "https://0.0.0.0",
        "https://localhost",  # a name: /etc/hosts resolves it to loopback
    ],
)
def test_a_peer_on_a_loopback_private_or_link_local_address_is_refused_when_added(
    client: FlaskClient, admin: dict[str, str], url: str
):
    response = client.post(PEERS, json={"url": url}, headers=admin)
    assert response.status_code == 422, response.json
    assert "non-public address" in str(response.json["errors"]["json"]["url"])
    assert client.get(PEERS, headers=admin).json["items"] == []


def _resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make the resolver answer `names` with these addresses (and nothing else resolve)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in names[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_resolves_to_any_non_public_address_is_refused(
    client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    _resolving(
        monkeypatch,
        {
            "intranet.example": ["10.0.0.8"],
            "split.example": ["93.184.216.34", "192.168.0.9"],
            "public.example": ["93.184.216.34"],
        },
    )
    for name, address in [("intranet.example", "10.0.0.8"), ("split.example", "192.168.0.9")]:
        response = client.post(PEERS, json={"url": f"https://{name}"}, headers=admin)
        assert response.status_code == 422, response.json
        assert f"resolves to {address}" in str(response.json["errors"]["json"]["url"])
    assert (
        client.post(PEERS, json={"url": "https://public.example"}, headers=admin).status_code == 201
    )


def test_a_name_that_does_not_resolve_is_accepted_and_checked_at_each_connection(
    client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    # DNS may be down for a moment, or the peer's name not published yet; nothing is reached
    # through a name that does not resolve, and the worker checks every connected address.
    _resolving(monkeypatch, {})
    response = client.post(PEERS, json={"url": "https://not-yet.example"}, headers=admin)
    assert response.status_code == 201, response.json


def test_private_peers_are_allowed_in_development(
    app: Flask, client: FlaskClient, admin: dict[str, str]
):
    app.config["FEDERATION_ALLOW_PRIVATE_PEERS"] = True
    for url in ("https://127.0.0.1:8443", "http://localhost:5001", "http://10.1.2.3"):
        response = client.post(PEERS, json={"url": url}, headers=admin)
        assert response.status_code == 201, (url, response.json)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://nyc.example:443", "https://nyc.example"),
        ("https://NYC.example:443/", "https://nyc.example"),
        ("https://nyc.example:8443", "https://nyc.example:8443"),
    ],
)
def test_the_default_port_names_the_same_peer(
    client: FlaskClient, admin: dict[str, str], given: str, stored: str
):
    added = client.post(PEERS, json={"url": given}, headers=admin)
    assert added.status_code == 201, added.json
    assert added.json["url"] == stored
    for again in (stored, given):
        assert client.post(PEERS, json={"url": again}, headers=admin).status_code == 409


def test_a_plain_http_peer_loses_port_80_too(
    app: Flask, client: FlaskClient, admin: dict[str, str]
):
    app.config["FEDERATION_ALLOW_PRIVATE_PEERS"] = True
    added = client.post(PEERS, json={"url": "http://127.0.0.1:80"}, headers=admin)
    assert added.json["url"] == "http://127.0.0.1"
    assert client.post(PEERS, json={"url": "http://127.0.0.1"}, headers=admin).status_code == 409


def test_our_own_origin_with_its_default_port_is_still_us(
    client: FlaskClient, admin: dict[str, str]
):
    response = client.post(PEERS, json={"url": f"{BASE_URL}:80"}, headers=admin)
    assert response.status_code == 422
    assert "own" in str(response.json["errors"]["json"]["url"])


def test_an_empty_patch_is_refused(
    client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    item = f"{PEERS}/{peer['id']}"
    response = client.patch(item, json={}, headers=admin)
    assert response.status_code == 422, response.json
    assert response.json["errors"]["json"]["_schema"]
    assert client.get(item, headers=admin).json["updated_at"] == peer["updated_at"]


def _bring(app: Flask, peer_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Log `count` objects as if the peer had brought them, and one refusal."""
    with app.app_context():
        session = get_session()
        ids = [uuid.uuid4() for _ in range(count)]
        for object_id in ids:
            envelope = b'{"type":"Poll"}'
            log_relayed(session, RelayedObject(object_id, "Poll", MPLS, 1, envelope, peer_id))
        session.add(QuarantinedObject(peer_id=peer_id, kind="rejected", reason="test"))
        session.commit()
        return ids


def _held(app: Flask, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """Which of `ids` are still in the federation log, and the peer each is counted to."""
    with app.app_context():
        query = select(FederationObject).where(FederationObject.id.in_(ids))
        return {row.id: row.peer_id for row in get_session().scalars(query)}


def test_a_peer_removed_without_purge_is_kept_as_removed_until_purged(
    app: Flask, client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    peer_id = uuid.UUID(peer["id"])
    item = f"{PEERS}/{peer_id}"
    brought = _bring(app, peer_id, 3)
    assert client.get(item, headers=admin).json["status"]["quarantined"] == 1

    assert client.delete(item, headers=admin).status_code == 204

    removed = client.get(item, headers=admin).json
    assert removed["removed_at"] is not None
    assert removed["enabled"] is False
    assert removed["status"]["quarantined"] == 0  # reading it has stopped
    assert [p["id"] for p in client.get(PEERS, headers=admin).json["items"]] == [peer["id"]]
    assert _held(app, brought) == {object_id: peer_id for object_id in brought}
    # It is no longer read, by hand or by the worker, nor changed.
    assert client.post(f"{item}/sync", headers=admin).status_code == 409
    assert client.patch(item, json={"enabled": True}, headers=admin).status_code == 409
    settings = settings_from_config(app.config)
    assert sync_all(get_database(app).sessionmaker, settings) == []
    # Deleting it again changes nothing; purging it removes what it brought, and it.
    assert client.delete(item, headers=admin).status_code == 204
    assert _held(app, brought) == {object_id: peer_id for object_id in brought}
    assert client.delete(f"{item}?purge=true", headers=admin).status_code == 204
    assert _held(app, brought) == {}
    assert client.get(item, headers=admin).status_code == 404
    assert client.get(PEERS, headers=admin).json["items"] == []


def test_a_removed_peer_that_brought_nothing_leaves_no_record(
    client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    item = f"{PEERS}/{peer['id']}"
    assert client.delete(item, headers=admin).status_code == 204
    assert client.get(item, headers=admin).status_code == 404


def test_adding_a_removed_peers_url_again_revives_it_with_what_it_brought(
    app: Flask, client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    peer_id = uuid.UUID(peer["id"])
    brought = _bring(app, peer_id, 2)
    with app.app_context():
        session = get_session()
        stored = session.get(Peer, peer_id)
        assert stored is not None
        stored.cursor, stored.name, stored.failures = "c42", "Minneapolis", 3
        stored.last_success_at = utcnow()
        session.commit()
    assert client.delete(f"{PEERS}/{peer_id}", headers=admin).status_code == 204

    again = client.post(PEERS, json={"url": f"{MPLS}:443", "relay": False}, headers=admin)

    assert again.status_code == 201, again.json
    revived = again.json
    assert revived["id"] == peer["id"]
    assert (revived["removed_at"], revived["enabled"], revived["relay"]) == (None, True, False)
    # Read again from the start: its snapshot, then a sweep of what it no longer lists.
    assert revived["name"] is None
    status = revived["status"]
    assert (status["resyncing"], status["cursor"], status["failures"]) == (True, None, 0)
    assert status["last_success_at"] is None
    assert _held(app, brought) == {object_id: peer_id for object_id in brought}
    assert client.post(PEERS, json={"url": MPLS}, headers=admin).status_code == 409


def test_purging_a_peer_removes_what_it_brought_and_the_peer(
    app: Flask, client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    brought = _bring(app, uuid.UUID(peer["id"]), 2)
    response = client.delete(f"{PEERS}/{peer['id']}?purge=true", headers=admin)
    assert response.status_code == 204
    assert _held(app, brought) == {}
    with app.app_context():
        assert get_session().get(Peer, uuid.UUID(peer["id"])) is None
        assert get_session().scalars(select(QuarantinedObject)).all() == []


def test_the_quarantine_is_listed_page_by_page_without_envelopes(
    app: Flask, client: FlaskClient, admin: dict[str, str], peer: dict[str, Any]
):
    peer_id = uuid.UUID(peer["id"])
    with app.app_context():
        session = get_session()
        for number in range(5):
            session.add(
                QuarantinedObject(
                    peer_id=peer_id,
                    kind="waiting" if number % 2 else "rejected",
                    object_id=f"{MPLS}/federation/v1/objects/{uuid.uuid4()}",
                    object_type="Event",
                    object_origin=MPLS,
                    version=number + 1,
                    reason=f"reason {number}",
                    envelope=b'{"secret":"bytes"}',
                )
            )
        session.commit()
    url = f"{PEERS}/{peer_id}/quarantine"

    first = client.get(url, query_string={"limit": 2}, headers=admin).json
    items = list(first["items"])
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(url, query_string={"limit": 2, "cursor": cursor}, headers=admin).json
        items += page["items"]
        cursor = page["next_cursor"]

    assert len(first["items"]) == 2
    assert sorted(item["reason"] for item in items) == [f"reason {n}" for n in range(5)]
    assert set(items[0]) == {
        "id",
        "kind",
        "object_id",
        "object_type",
        "object_origin",
        "version",
        "reason",
        "received_at",
    }
    assert {item["kind"] for item in items} == {"rejected", "waiting"}
    assert "secret" not in str(items)
    bad = client.get(url, query_string={"cursor": "nonsense"}, headers=admin)
    assert bad.status_code == 422
