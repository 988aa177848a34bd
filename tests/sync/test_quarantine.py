"""A peer's quarantine seen by an operator: what a round refused is listed with its reasons, and
what was refused because the peer may not relay is applied once relaying is turned on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hostile import HostileServer, json_reply
from remote import RemoteOrigin

from federation.envelope import DISCOVERY_PATH
from federation.sync.ingest import local_slug

PEERS = "/api/v1/peers"


@pytest.fixture
def two_origins() -> Iterator[tuple[RemoteOrigin, RemoteOrigin, HostileServer]]:
    """Minneapolis, whose snapshot holds one coalition of its own and one New York coalition it
    relays, and New York, which publishes its keys; both on loopback ports."""
    with HostileServer() as mpls_server, HostileServer() as nyc_server:
        mpls = RemoteOrigin(mpls_server.url, "Minneapolis")
        nyc = RemoteOrigin(nyc_server.url, "New York")
        nyc_server.route(DISCOVERY_PATH, json_reply(nyc.discovery()))
        mpls_server.route(DISCOVERY_PATH, json_reply(mpls.discovery()))
        snapshot = [
            mpls.coalition(uuid.uuid4(), slug="twin-cities"),
            nyc.coalition(uuid.uuid4(), slug="nyc-labor"),
        ]
        mpls_server.route(
            "/federation/v1/snapshot",
            json_reply({"items": snapshot, "next_page": None, "cursor": "c1"}),
        )
        mpls_server.route(
            "/federation/v1/changes", json_reply({"items": [], "next": "c1", "up_to_date": True})
        )
        yield mpls, nyc, mpls_server


def _quarantine(client: FlaskClient, admin: dict[str, str], peer_id: str) -> list[Any]:
    response = client.get(f"{PEERS}/{peer_id}/quarantine", headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["next_cursor"] is None
    items: list[Any] = response.json["items"]
    return items


def test_turning_relay_on_applies_what_was_refused_for_relaying(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    two_origins: tuple[RemoteOrigin, RemoteOrigin, HostileServer],
) -> None:
    mpls, nyc, _server = two_origins
    app.config["FEDERATION_ALLOW_PRIVATE_PEERS"] = True  # loopback ports, plain http
    peer = client.post(PEERS, json={"url": mpls.origin, "relay": False}, headers=admin).json
    relayed_slug = local_slug("nyc-labor", nyc.origin)

    first = client.post(f"{PEERS}/{peer['id']}/sync", headers=admin).json
    assert (first["ok"], first["applied"], first["rejected"]) == (True, 1, 1), first
    (refused,) = _quarantine(client, admin, peer["id"])
    assert refused["kind"] == "rejected"
    assert "not trusted to relay" in refused["reason"]
    assert (refused["object_type"], refused["object_origin"]) == ("Coalition", nyc.origin)
    assert refused["version"] == 1
    assert client.get(f"/api/v1/coalitions/{relayed_slug}").status_code == 404

    turned = client.patch(f"{PEERS}/{peer['id']}", json={"relay": True}, headers=admin)
    assert turned.status_code == 200, turned.json
    (offered,) = _quarantine(client, admin, peer["id"])
    assert offered["kind"] == "waiting"

    second = client.post(f"{PEERS}/{peer['id']}/sync", headers=admin).json
    assert second["ok"], second
    assert second["applied"] == 1, second
    coalition = client.get(f"/api/v1/coalitions/{relayed_slug}")
    assert coalition.status_code == 200
    assert coalition.json["origin"] == nyc.origin
    assert _quarantine(client, admin, peer["id"]) == []


def test_turning_relay_off_and_on_again_leaves_other_refusals_alone(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    two_origins: tuple[RemoteOrigin, RemoteOrigin, HostileServer],
) -> None:
    mpls, nyc, server = two_origins
    # This time New York's coalition is tampered with: refused for its proof, relay or not.
    tampered = nyc.coalition(uuid.uuid4(), slug="nyc-forged")
    tampered["data"]["name"] = "Someone else"
    server.route(
        "/federation/v1/snapshot",
        json_reply({"items": [tampered], "next_page": None, "cursor": "c1"}),
    )
    app.config["FEDERATION_ALLOW_PRIVATE_PEERS"] = True
    peer = client.post(PEERS, json={"url": mpls.origin, "relay": True}, headers=admin).json
    assert client.post(f"{PEERS}/{peer['id']}/sync", headers=admin).json["rejected"] == 1

    for relay in (False, True):
        response = client.patch(f"{PEERS}/{peer['id']}", json={"relay": relay}, headers=admin)
        assert response.status_code == 200

    (refused,) = _quarantine(client, admin, peer["id"])
    assert refused["kind"] == "rejected"
    assert "relay" not in refused["reason"]
