"""Bearer tokens: who may write, minting and revoking coalition tokens, the admin-token command."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conftest import bearer, campaign_payload, coalition_payload, event_payload
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from federation.db import get_session

Maker = Callable[..., dict[str, Any]]
TokenMaker = Callable[[str], dict[str, str]]


@pytest.fixture
def two_coalitions(make_coalition: Maker) -> None:
    make_coalition()
    make_coalition(slug="chicago", name="Chicago Coalition", city="Chicago", city_slug="chicago")


def _mint(client: FlaskClient, slug: str, headers: dict[str, str], label: str = "") -> Any:
    return client.post(f"/api/v1/coalitions/{slug}/tokens", json={"label": label}, headers=headers)


WRITES = [
    ("post", "/api/v1/coalitions", coalition_payload(slug="chicago")),
    ("patch", "/api/v1/coalitions/minneapolis", {"name": "Hijacked"}),
    ("delete", "/api/v1/coalitions/minneapolis", None),
    ("post", "/api/v1/coalitions/minneapolis/events", event_payload()),
    ("post", "/api/v1/campaigns", campaign_payload()),
    ("post", "/api/v1/coalitions/minneapolis/tokens", {}),
    ("get", "/api/v1/coalitions/minneapolis/tokens", None),
]
WRITE_IDS = [f"{method} {url}" for method, url, _ in WRITES]


def _unchanged(client: FlaskClient, coalition: dict[str, Any]) -> None:
    assert client.get("/api/v1/coalitions/minneapolis").json == coalition
    assert [c["slug"] for c in client.get("/api/v1/coalitions").json["items"]] == ["minneapolis"]
    assert client.get("/api/v1/events").json["items"] == []
    assert client.get("/api/v1/campaigns").json["items"] == []


@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=WRITE_IDS)
def test_write_without_token_is_401(
    client: FlaskClient, make_coalition: Maker, method: str, url: str, body: Any
) -> None:
    coalition = make_coalition()

    response = getattr(client, method)(url, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["code"] == 401
    assert response.json["status"] == "Unauthorized"
    assert response.json["message"]
    _unchanged(client, coalition)


@pytest.mark.parametrize(
    "authorization",
    ["Token abc", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer", "sfed_abc"],
)
def test_malformed_authorization_is_401(
    client: FlaskClient, make_coalition: Maker, authorization: str
) -> None:
    coalition = make_coalition()

    response = client.patch(
        "/api/v1/coalitions/minneapolis",
        json={"name": "Hijacked"},
        headers={"Authorization": authorization},
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    _unchanged(client, coalition)


def test_malformed_header_around_a_valid_token_is_401(
    client: FlaskClient, admin_token: str, make_coalition: Maker
) -> None:
    coalition = make_coalition()

    response = client.patch(
        "/api/v1/coalitions/minneapolis",
        json={"name": "Hijacked"},
        headers={"Authorization": f"Token {admin_token}"},
    )

    assert response.status_code == 401
    _unchanged(client, coalition)


@pytest.mark.parametrize("token", ["sfed_not-a-real-token", "x" * 64, "\u00e9t\u00e9"])
def test_unknown_token_is_401(client: FlaskClient, make_coalition: Maker, token: str) -> None:
    coalition = make_coalition()

    response = client.patch(
        "/api/v1/coalitions/minneapolis", json={"name": "Hijacked"}, headers=bearer(token)
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["message"]
    _unchanged(client, coalition)


def test_reads_need_no_token(
    client: FlaskClient, make_coalition: Maker, make_event: Maker, make_campaign: Maker
) -> None:
    make_coalition()
    event = make_event()
    campaign = make_campaign()

    urls = [
        "/api/v1/coalitions",
        "/api/v1/coalitions/minneapolis",
        "/api/v1/events",
        f"/api/v1/events/{event['id']}",
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{campaign['id']}",
        f"/api/v1/campaigns/{campaign['id']}/endorsements",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "WWW-Authenticate" not in response.headers


def test_minted_token_acts_for_its_coalition(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    response = _mint(client, "minneapolis", admin, label="Ana's laptop")

    assert response.status_code == 201, response.json
    minted = response.json
    assert minted["coalition"] == "minneapolis"
    assert minted["label"] == "Ana's laptop"
    assert uuid.UUID(minted["id"])
    assert minted["token"]
    assert minted["revoked_at"] is None
    edit = client.patch(
        "/api/v1/coalitions/minneapolis", json={"name": "Edited"}, headers=bearer(minted["token"])
    )
    assert edit.status_code == 200, edit.json
    assert client.get("/api/v1/coalitions/minneapolis").json["name"] == "Edited"


def test_each_minted_token_is_different(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    first = _mint(client, "minneapolis", admin).json
    second = _mint(client, "minneapolis", admin).json

    assert first["token"] != second["token"]
    assert first["id"] != second["id"]


def test_token_is_stored_only_as_a_hash(
    app: Flask, client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()
    minted = _mint(client, "minneapolis", admin).json

    with app.app_context():
        rows = get_session().execute(text("SELECT * FROM api_tokens")).mappings().all()

    (row,) = [r for r in rows if uuid.UUID(str(r["id"])) == uuid.UUID(minted["id"])]
    assert row["token_hash"]
    assert row["token_hash"] != minted["token"]
    for stored in rows:
        for column, value in stored.items():
            assert minted["token"] not in str(value), column


def test_token_list_never_shows_tokens(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()
    minted = [_mint(client, "minneapolis", admin, label=f"t{n}").json for n in range(2)]

    response = client.get("/api/v1/coalitions/minneapolis/tokens", headers=admin)

    assert response.status_code == 200
    items = response.json["items"]
    assert sorted(item["id"] for item in items) == sorted(m["id"] for m in minted)
    for item in items:
        assert "token" not in item
        assert item["coalition"] == "minneapolis"
    clear_tokens = {m["token"] for m in minted}
    assert not any(token in response.get_data(as_text=True) for token in clear_tokens)


@pytest.mark.usefixtures("two_coalitions")
def test_token_list_is_per_coalition(client: FlaskClient, admin: dict[str, str]) -> None:
    ours = _mint(client, "minneapolis", admin).json
    _mint(client, "chicago", admin)

    response = client.get("/api/v1/coalitions/minneapolis/tokens", headers=bearer(ours["token"]))

    assert response.status_code == 200
    assert [item["id"] for item in response.json["items"]] == [ours["id"]]


def test_revoked_token_is_401(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()
    minted = _mint(client, "minneapolis", admin).json
    kept = _mint(client, "minneapolis", admin).json

    response = client.delete(f"/api/v1/coalitions/minneapolis/tokens/{minted['id']}", headers=admin)

    assert response.status_code == 200, response.json
    assert response.json["revoked_at"] is not None
    assert "token" not in response.json
    refused = client.patch(
        "/api/v1/coalitions/minneapolis", json={"name": "Edited"}, headers=bearer(minted["token"])
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    allowed = client.patch(
        "/api/v1/coalitions/minneapolis", json={"name": "Edited"}, headers=bearer(kept["token"])
    )
    assert allowed.status_code == 200
    listed = client.get("/api/v1/coalitions/minneapolis/tokens", headers=admin).json["items"]
    revoked = next(item for item in listed if item["id"] == minted["id"])
    assert revoked["revoked_at"] is not None


def test_coalition_admin_revokes_its_own_token(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()
    minted = _mint(client, "minneapolis", admin).json
    headers = bearer(minted["token"])

    response = client.delete(
        f"/api/v1/coalitions/minneapolis/tokens/{minted['id']}", headers=headers
    )

    assert response.status_code == 200
    assert client.get("/api/v1/coalitions/minneapolis/tokens", headers=headers).status_code == 401


@pytest.mark.usefixtures("two_coalitions")
def test_coalition_token_cannot_mint_or_list_for_another_coalition(
    client: FlaskClient, admin: dict[str, str], coalition_token: TokenMaker
) -> None:
    minneapolis = coalition_token("minneapolis")

    minted = _mint(client, "chicago", minneapolis)
    listed = client.get("/api/v1/coalitions/chicago/tokens", headers=minneapolis)

    assert minted.status_code == 403
    assert "token" not in minted.json
    assert listed.status_code == 403
    assert client.get("/api/v1/coalitions/chicago/tokens", headers=admin).json["items"] == []


@pytest.mark.usefixtures("two_coalitions")
def test_coalition_token_cannot_revoke_another_coalitions_token(
    client: FlaskClient, admin: dict[str, str], coalition_token: TokenMaker
) -> None:
    chicago = _mint(client, "chicago", admin).json
    minneapolis = coalition_token("minneapolis")

    response = client.delete(
        f"/api/v1/coalitions/chicago/tokens/{chicago['id']}", headers=minneapolis
    )

    assert response.status_code == 403
    still = client.patch(
        "/api/v1/coalitions/chicago", json={"name": "Still ours"}, headers=bearer(chicago["token"])
    )
    assert still.status_code == 200


@pytest.mark.usefixtures("two_coalitions")
def test_revoking_through_the_wrong_coalition_is_404(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    chicago = _mint(client, "chicago", admin).json
    minneapolis = _mint(client, "minneapolis", admin).json

    by_admin = client.delete(
        f"/api/v1/coalitions/minneapolis/tokens/{chicago['id']}", headers=admin
    )
    by_other = client.delete(
        f"/api/v1/coalitions/minneapolis/tokens/{chicago['id']}",
        headers=bearer(minneapolis["token"]),
    )

    assert by_admin.status_code == 404
    assert by_other.status_code == 404
    still = client.patch(
        "/api/v1/coalitions/chicago", json={"name": "Still ours"}, headers=bearer(chicago["token"])
    )
    assert still.status_code == 200


def test_revoking_unknown_token_is_404(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    response = client.delete(f"/api/v1/coalitions/minneapolis/tokens/{uuid.uuid4()}", headers=admin)

    assert response.status_code == 404


def test_tokens_of_unknown_coalition_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    assert _mint(client, "atlantis", admin).status_code == 404
    assert client.get("/api/v1/coalitions/atlantis/tokens", headers=admin).status_code == 404


def test_create_admin_token_command_prints_a_working_admin_token(
    app: Flask, client: FlaskClient
) -> None:
    result = app.test_cli_runner().invoke(args=["create-admin-token", "--label", "ops"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    token = lines[0].strip()
    assert token
    created = client.post("/api/v1/coalitions", json=coalition_payload(), headers=bearer(token))
    assert created.status_code == 201, created.json
    # An instance-admin token: it may act for any coalition, including one made after it.
    minted = _mint(client, "minneapolis", bearer(token))
    assert minted.status_code == 201


def test_each_admin_token_command_prints_a_new_token(app: Flask) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(args=["create-admin-token"])
    second = runner.invoke(args=["create-admin-token"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert first.output.strip() != second.output.strip()
