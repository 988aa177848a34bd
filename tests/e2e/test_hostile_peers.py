"""A hostile peer against a real instance: forged, tampered, replayed and skewed objects, nasty
responses and SSRF tricks (adversarial cases 3, 4, 5, 13, 14 and 15 of the protocol notes).

Every test checks both sides: the bad data is refused (and quarantined, or the round aborted
within its limits and the peer backed off), and the good data around it is kept. One instance
under test serves the whole module (peers are removed after each test); a second one, set up
as in production (https peers on public addresses only), is the real origin whose name a
forger takes, and the instance that must refuse loopback peers.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hostile_peer import (
    CHANGES_PATH,
    HostilePeer,
    MiB,
    Peers,
    RemoteOrigin,
    Reply,
    RequestInfo,
    deeply_nested,
    event_data,
    gzip_bomb,
    huge_json,
    items_json,
    json_reply,
    quarantined,
    running_instance,
    slow_drip,
    tampered,
)
from instances import Instance

from federation.db import get_session
from federation.envelope import DISCOVERY_PATH
from federation.models import Peer

# Seconds one request to a peer may take on the instances under test: a drip costs this much.
PEER_TIMEOUT = 2
# What a round that hits a limit may take at most, end to end (HTTP to gunicorn included).
ABORTED_WITHIN = PEER_TIMEOUT + 5.0


@pytest.fixture(scope="module")
def instance(
    fresh_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    """The instance under test: loopback peers allowed (they are all local here)."""
    with running_instance(
        "subject",
        fresh_database_url(),
        tmp_path_factory.mktemp("subject"),
        FEDERATION_PEER_TIMEOUT=str(PEER_TIMEOUT),
    ) as started:
        yield started


@pytest.fixture(scope="module")
def strict(
    fresh_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    """An instance configured as in production: peers over https on public addresses only."""
    with running_instance(
        "strict",
        fresh_database_url(),
        tmp_path_factory.mktemp("strict"),
        FEDERATION_ALLOW_PRIVATE_PEERS="0",
        FEDERATION_PEER_TIMEOUT=str(PEER_TIMEOUT),
    ) as started:
        yield started


@pytest.fixture
def peers() -> Iterator[Peers]:
    """Hostile servers for this test; the peers it adds are removed from their instance after."""
    with ExitStack() as stack:
        made = Peers(stack)
        yield made
        made.remove_all()


def status(instance: Instance, record: dict[str, Any]) -> dict[str, Any]:
    peer: dict[str, Any] = instance.json("GET", f"/api/v1/peers/{record['id']}")
    return dict(peer["status"])


def event_status(instance: Instance, object_id: uuid.UUID) -> int:
    return instance.request("GET", f"/api/v1/events/{object_id}").status_code


def event(instance: Instance, object_id: uuid.UUID) -> dict[str, Any]:
    found: dict[str, Any] = instance.json("GET", f"/api/v1/events/{object_id}")
    return found


def listed(instance: Instance, peer: HostilePeer) -> dict[str, str]:
    """The peer's events as the instance lists them: id -> title."""
    return {item["id"]: item["title"] for item in instance.everything(coalition=peer.slug)}


def moment(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_lines(result: dict[str, Any]) -> dict[str, str]:
    """`flask federation sync` output: peer URL -> what its round did."""
    return dict(line.split(": ", 1) for line in result["stdout"].splitlines())


def assert_clean(summary: dict[str, Any], **counts: int) -> None:
    assert summary["ok"], summary
    assert summary["error"] is None
    for name, expected in counts.items():
        assert summary[name] == expected, (name, summary)


# -- 3. forgery ------------------------------------------------------------------------------


def test_objects_forged_in_another_instances_name_are_rejected(
    instance: Instance, strict: Instance, peers: Peers
) -> None:
    # A real instance A publishes a coalition and an action.
    a = strict
    a.json(
        "POST",
        "/api/v1/coalitions",
        201,
        json={
            "slug": "duluth",
            "name": "Duluth Labor Council",
            "city": "Duluth",
            "city_slug": "duluth",
            "timezone": "America/Chicago",
        },
    )
    genuine_id = uuid.UUID(
        a.json(
            "POST",
            "/api/v1/coalitions/duluth/events",
            201,
            json={
                "title": "Harbor picket",
                "starts_at": "2027-01-23T08:00:00-06:00",
                "ends_at": "2027-01-23T10:00:00-06:00",
                "kind": "picket",
            },
        )["id"]
    )
    with requests.get(f"{a.base}/federation/v1/changes", timeout=30) as response:
        a_coalition, a_event = response.json()["items"]
    with requests.get(f"{a.base}{DISCOVERY_PATH}", timeout=30) as response:
        (a_key,) = response.json()["public_keys"]
    assert a_event["type"] == "Event"
    assert a_event["id"].endswith(str(genuine_id))

    # The hostile peer relays A's objects (it is allowed to relay), and slips forgeries in.
    hostile = peers.hostile("Impostor")
    key_name = a_key["id"].split("#", 1)[1]
    # Its own key under the name of A's real key: the proof names A's key, it cannot verify.
    as_a = RemoteOrigin(a.base, key=hostile.origin.key, key_name=key_name)
    # Its own key under a key name A never published.
    as_a_new_key = RemoteOrigin(a.base, key=hostile.origin.key, key_name="key-impostor")
    cancelled = {**a_event["data"], "title": "Cancelled: stay home", "status": "cancelled"}
    forged_update = as_a.envelope("Event", genuine_id, cancelled, version=2)
    # An object on A's origin, signed by the hostile key under its own (hostile) key id.
    forged_new_id, unknown_key_id, own_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    forged_new = hostile.origin.envelope(
        "Event", forged_new_id, {**a_event["data"], "title": "Fake rally"}, origin=a.base
    )
    unknown_key = as_a_new_key.envelope("Event", unknown_key_id, a_event["data"])
    # A's genuine envelope, edited, A's proof kept.
    edited = tampered(a_event, title="Cancelled: stay home", status="cancelled")
    edited["version"] = 2
    hostile.publish(
        hostile.coalition(),
        a_coalition,
        forged_update,
        edited,
        forged_new,
        unknown_key,
        a_event,
        hostile.event(own_id, title="Impostor's own rally"),
    )
    record = peers.add(instance, hostile.url, relay=True)

    summary = instance.sync(record)

    assert_clean(summary, received=8, applied=4, rejected=4, waiting=0, conflicts=0)
    assert status(instance, record)["quarantined"] == 4
    bad_signature = "rejected: the signature does not match the object"
    assert quarantined(instance, record) == {
        forged_update["id"]: bad_signature,
        edited["id"]: bad_signature,
        forged_new["id"]: "rejected: id, origin and signing key are not all on the object's origin",
        unknown_key["id"]: "rejected: signed with a key its origin does not publish",
    }
    # A's action arrived as A signed it, not as the forgeries say.
    kept = event(instance, genuine_id)
    assert (kept["title"], kept["status"], kept["version"]) == ("Harbor picket", "confirmed", 1)
    assert kept["origin"] == a.base
    assert event_status(instance, forged_new_id) == 404
    assert event_status(instance, unknown_key_id) == 404
    # The peer's own objects, around the forgeries, are kept.
    assert listed(instance, hostile) == {str(own_id): "Impostor's own rally"}


# -- 4. tampering ----------------------------------------------------------------------------


def test_a_tampered_object_is_quarantined_and_the_cursor_moves_past_it(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    before, edited, after = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    signed = hostile.event(edited, title="Depot picket")
    hostile.publish(hostile.coalition(), hostile.event(before, title="Rally"))
    # Correctly signed, then moved two hours earlier: a page holding nothing else.
    forged = tampered(signed, starts_at="2027-01-23T10:00:00-06:00")
    hostile.publish(forged)
    hostile.publish(hostile.event(after, title="Teach-in"))
    record = peers.add(instance, hostile.url)

    first = instance.sync(record)

    # The snapshot page and three pages of changes.
    assert_clean(first, pages=4, received=4, applied=3, rejected=1, up_to_date=True)
    state = status(instance, record)
    assert state["quarantined"] == 1
    assert quarantined(instance, record) == {
        forged["id"]: "rejected: the signature does not match the object"
    }
    assert state["cursor"] == "c3"
    assert event_status(instance, edited) == 404
    assert listed(instance, hostile) == {str(before): "Rally", str(after): "Teach-in"}

    # The cursor is past it: the next round is one conditional request, answered 304.
    asked = len(hostile.requests)
    second = instance.sync(record)

    assert_clean(second, requests=1, not_modified=1, pages=0, received=0, rejected=0)
    (poll,) = hostile.requests[asked:]
    assert poll.route == CHANGES_PATH
    assert parse_qs(urlsplit(poll.path).query)["after"] == ["c3"]
    assert poll.headers["If-None-Match"] == '"c3"'
    assert status(instance, record)["quarantined"] == 1


# -- 5. rollback and replay ------------------------------------------------------------------


def test_older_versions_and_replays_after_a_tombstone_are_ignored(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    target, first, second, third = (uuid.uuid4() for _ in range(4))
    hostile.publish(
        hostile.coalition(),
        hostile.event(target, version=3, title="Version 3"),
        hostile.event(first, title="First"),
    )
    record = peers.add(instance, hostile.url)
    assert_clean(instance.sync(record), applied=3)

    # Rollback: version 2 after version 3.
    hostile.publish(
        hostile.event(target, version=2, title="Version 2"), hostile.event(second, title="Second")
    )
    assert_clean(instance.sync(record), received=2, applied=1, ignored=1, rejected=0)
    kept = event(instance, target)
    assert (kept["title"], kept["version"]) == ("Version 3", 3)

    # Deleted at version 4...
    hostile.publish(hostile.tombstone(target, version=4))
    assert_clean(instance.sync(record), received=1, applied=1)
    assert event_status(instance, target) == 410

    # ...then the pre-delete versions replayed: the tombstone holds.
    hostile.publish(
        hostile.event(target, version=3, title="Version 3"),
        hostile.event(target, version=2, title="Version 2"),
        hostile.event(third, title="Third"),
    )
    assert_clean(instance.sync(record), received=3, applied=1, ignored=2, rejected=0)
    assert event_status(instance, target) == 410
    assert listed(instance, hostile) == {
        str(first): "First",
        str(second): "Second",
        str(third): "Third",
    }
    # Ignoring an old version is routine, not an incident.
    assert status(instance, record)["quarantined"] == 0


# -- 13. clock skew --------------------------------------------------------------------------


def test_timestamps_from_a_skewed_clock_do_not_order_versions(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ahead, behind = now + dt.timedelta(hours=6), now - dt.timedelta(hours=6)
    rewound, stale, far = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def version(object_id: uuid.UUID, number: int, clock: dt.datetime) -> dict[str, Any]:
        data = event_data(hostile.coalition_id, title=f"Version {number}")
        return hostile.envelope(
            "Event", object_id, data, version=number, published=clock, updated=clock
        )

    hostile.publish(
        hostile.coalition(),
        # Version 1 stamped six hours ahead, version 2 six hours behind: version 2 wins.
        version(rewound, 1, ahead),
        # Version 2 stamped behind arrives first; version 1 stamped ahead is still older.
        version(stale, 2, behind),
        # Published two days from now, by its origin's clock.
        version(far, 1, now + dt.timedelta(days=2)),
    )
    hostile.publish(version(rewound, 2, behind), version(stale, 1, ahead))
    record = peers.add(instance, hostile.url)

    summary = instance.sync(record)

    assert_clean(summary, received=6, applied=5, ignored=1, rejected=0)
    for object_id in (rewound, stale):
        shown = event(instance, object_id)
        assert (shown["title"], shown["version"]) == ("Version 2", 2)
        assert moment(shown["updated_at"]) == behind
    assert event(instance, far)["version"] == 1
    assert status(instance, record)["quarantined"] == 0


# -- object size -----------------------------------------------------------------------------


def test_an_object_over_64_kib_is_quarantined_and_the_rest_of_its_page_applied(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    before, big, after = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # Valid but for its size: a member this release does not know, signed with the rest.
    oversized = hostile.event(big, title="Padded", padding="x" * (70 * 1024))
    hostile.publish(
        hostile.coalition(),
        hostile.event(before, title="Before"),
        oversized,
        hostile.event(after, title="After"),
    )
    record = peers.add(instance, hostile.url)

    summary = instance.sync(record)

    assert_clean(summary, received=4, applied=3, rejected=1, up_to_date=True)
    assert status(instance, record)["quarantined"] == 1
    assert quarantined(instance, record) == {oversized["id"]: "rejected: larger than 65536 bytes"}
    assert event_status(instance, big) == 404
    assert listed(instance, hostile) == {str(before): "Before", str(after): "After"}


# -- objects that once crashed the round ----------------------------------------------------


def test_objects_the_database_cannot_hold_are_quarantined_not_fatal(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    before, overflow, after = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # Signed, with a time at the very end of what a datetime holds: UTC is past it.
    out_of_range = hostile.signed(
        {**hostile.event(overflow), "published": "9999-12-31T23:59:59-05:00"}
    )
    # A lone surrogate (valid JSON, not UTF-8) and a NUL (which PostgreSQL text refuses) in
    # what the quarantine records of an object.
    base = f"{hostile.url}/federation/v1/objects/"
    surrogate = {"id": f"{base}\ud800", "type": "Event\udfff", "origin": hostile.url}
    nul = {"id": f"{base}\u0000", "type": "Event\u0000", "origin": f"{hostile.url}\u0000"}
    hostile.publish(
        hostile.coalition(),
        hostile.event(before, title="Before"),
        out_of_range,
        surrogate,
        nul,
        hostile.event(after, title="After"),
    )
    good = peers.hostile("Good neighbour")
    good_event = uuid.uuid4()
    good.snapshot = [good.coalition(), good.event(good_event, title="Solidarity picnic")]
    record = peers.add(instance, hostile.url)
    peers.add(instance, good.url)

    # The worker's round: the hostile peer first, then the other one.
    result = instance.sync_all()

    assert result["returncode"] == 0, result
    lines = run_lines(result)
    assert lines[hostile.url].startswith("ok; "), result
    assert "3 applied, 0 unchanged, 0 ignored, 3 rejected" in lines[hostile.url]
    assert lines[good.url].startswith("ok; "), result
    assert listed(instance, good) == {str(good_event): "Solidarity picnic"}
    assert listed(instance, hostile) == {str(before): "Before", str(after): "After"}
    assert status(instance, record)["quarantined"] == 3
    reasons = quarantined(instance, record)
    assert reasons[out_of_range["id"]] == "rejected: published is not a time"
    assert len(reasons) == 3
    assert all(reason.startswith("rejected: ") for reason in reasons.values())


def test_a_discovery_document_the_database_cannot_hold_is_not_fatal(
    instance: Instance, peers: Peers
) -> None:
    hostile = peers.hostile()
    document = hostile.discovery()
    document["name"] = "Evil\ud800\u0000"
    (key,) = document["public_keys"]
    # The same key again under ids no database stores: refused, the good one kept.
    document["public_keys"] += [
        {**key, "id": f"{key['id']}\ud800"},
        {**key, "id": f"{key['id']}\u0000"},
    ]
    hostile.route(DISCOVERY_PATH, json_reply(document))
    own = uuid.uuid4()
    hostile.publish(hostile.coalition(), hostile.event(own, title="Rally"))
    record = peers.add(instance, hostile.url)

    summary = instance.sync(record)

    assert_clean(summary, applied=2, rejected=0)
    assert listed(instance, hostile) == {str(own): "Rally"}
    # A name no database holds is not taken: the peer is shown by its URL.
    assert instance.json("GET", f"/api/v1/peers/{record['id']}")["name"] == hostile.url


# A feed's cursor or entity tag that no database column holds (too long, NUL, lone surrogate):
# (the changes page's members, its headers, the round's error or None if the round is fine).
UNSTORABLE_TOKENS: dict[str, tuple[dict[str, Any], dict[str, str], str | None]] = {
    "cursor with a NUL": ({"next": "c1\u0000"}, {}, "the page has no next cursor"),
    "cursor with a lone surrogate": ({"next": "c1\ud800"}, {}, "the page has no next cursor"),
    "cursor of 300 characters": ({"next": "c" * 300}, {}, "the page has no next cursor"),
    # An entity tag is only an optimization: without one, the next poll is a full request.
    "entity tag of 300 characters": ({}, {"ETag": f'"{"e" * 298}"'}, None),
    "entity tag with a NUL": ({}, {"ETag": '"c1\x00"'}, None),
}


@pytest.mark.parametrize("case", list(UNSTORABLE_TOKENS))
def test_a_cursor_or_entity_tag_the_database_cannot_hold_is_not_fatal(
    instance: Instance, peers: Peers, case: str
) -> None:
    page, headers, error = UNSTORABLE_TOKENS[case]
    hostile = peers.hostile()
    before, after = uuid.uuid4(), uuid.uuid4()
    hostile.snapshot = [hostile.coalition(), hostile.event(before, title="Before")]

    def changes(request: RequestInfo) -> Reply:
        body = {"items": [hostile.event(after, title="After")], "next": "c1", "up_to_date": True}
        return json_reply({**body, **page}, headers=headers)

    hostile.route(CHANGES_PATH, changes)
    record = peers.add(instance, hostile.url)

    summary = instance.sync(record)

    state = status(instance, record)
    if error is None:
        assert_clean(summary, applied=3, up_to_date=True)
        assert listed(instance, hostile) == {str(before): "Before", str(after): "After"}
        assert state["cursor"] == "c1"
    else:
        assert not summary["ok"], summary
        assert summary["error"] == error
        assert state["failures"] == 1
        assert moment(state["next_attempt_at"]) > dt.datetime.now(dt.UTC)
        # The snapshot before it is kept; the page with the bad cursor is not applied.
        assert listed(instance, hostile) == {str(before): "Before"}
        assert state["cursor"] == "c0"


# -- 14. hostile responses -------------------------------------------------------------------


JSON = {"Content-Type": "application/json"}
LOOPING = uuid.uuid4()


def _repeating_cursor(peer: HostilePeer) -> Reply:
    # Items every time, never up to date, always the same next cursor.
    return json_reply({"items": [peer.event(LOOPING)], "next": "again", "up_to_date": False})


# name -> (the changes feed's answer to every request, what the round's error must say)
HOSTILE_RESPONSES: dict[str, tuple[Callable[[HostilePeer], Reply], str]] = {
    # Streamed without a Content-Length: only counting while reading can stop it.
    "50 MB body": (
        lambda peer: Reply(headers=JSON, body=huge_json(50 * MiB)),
        "the body exceeds 2097152 bytes (max_bytes)",
    ),
    "gzip bomb": (
        lambda peer: Reply(headers={**JSON, "Content-Encoding": "gzip"}, body=gzip_bomb(50 * MiB)),
        "the body inflates past 2097152 bytes (max_bytes)",
    ),
    "nested 10,000 deep": (
        lambda peer: Reply(headers=JSON, body=deeply_nested(10_000)),
        "JSON nested deeper than 16 levels",
    ),
    "10,000 items": (
        lambda peer: Reply(headers=JSON, body=items_json(10_000)),
        "the page holds more than 500 objects",
    ),
    # One byte every 0.2 s, forever: only the total deadline stops it.
    "slow drip": (
        lambda peer: Reply(headers=JSON, body=slow_drip(b'{"items": ['), delay=0.2),
        f"not done within {PEER_TIMEOUT} s (total_timeout)",
    ),
    "repeating cursor": (_repeating_cursor, "a cursor it had already given (a loop)"),
}


@pytest.mark.parametrize("case", list(HOSTILE_RESPONSES))
def test_a_hostile_response_is_aborted_and_only_that_peer_backs_off(
    instance: Instance, peers: Peers, case: str
) -> None:
    answer, limit = HOSTILE_RESPONSES[case]
    hostile = peers.hostile("Hostile")
    # Its snapshot is fine; its changes feed is the attack.
    hostile.snapshot = [hostile.coalition()]
    hostile.route(CHANGES_PATH, lambda request: answer(hostile))
    good = peers.hostile("Good neighbour")
    good_event = uuid.uuid4()
    good.snapshot = [good.coalition(), good.event(good_event, title="Solidarity picnic")]
    record = peers.add(instance, hostile.url)
    good_record = peers.add(instance, good.url)

    started = time.monotonic()
    summary = instance.sync(record)
    elapsed = time.monotonic() - started

    assert not summary["ok"], summary
    assert limit in summary["error"]
    assert elapsed < ABORTED_WITHIN, (case, elapsed)
    if case == "slow drip":
        assert elapsed >= PEER_TIMEOUT * 0.9

    # The worker's round over every peer: the hostile one fails again, the other is unaffected.
    result = instance.sync_all()

    assert result["returncode"] == 1, result
    lines = run_lines(result)
    assert lines[hostile.url].startswith("FAILED: "), result
    assert limit in lines[hostile.url]
    assert lines[good.url].startswith("ok; "), result
    assert listed(instance, good) == {str(good_event): "Solidarity picnic"}
    assert status(instance, good_record)["failures"] == 0

    state = status(instance, record)
    assert state["failures"] == 2
    assert limit in state["last_error"]
    assert moment(state["next_attempt_at"]) > dt.datetime.now(dt.UTC)
    # What the hostile peer served correctly before the attack is kept.
    assert instance.request("GET", f"/api/v1/coalitions/{hostile.slug}").status_code == 200


# -- 15. SSRF --------------------------------------------------------------------------------


def test_a_production_instance_refuses_a_plain_http_peer(strict: Instance) -> None:
    response = strict.request("POST", "/api/v1/peers", json={"url": "http://127.0.0.1:9"})

    assert response.status_code == 422, response.text
    assert "https" in str(response.json()["errors"]["json"]["url"])


def test_a_production_instance_never_connects_to_loopback_peers(
    strict: Instance, peers: Peers
) -> None:
    target = peers.hostile("Internal service")
    port = target.server.port
    hosts = ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "127.1"]

    for host in hosts:
        refused = strict.request("POST", "/api/v1/peers", json={"url": f"https://{host}:{port}"})
        assert refused.status_code == 422, refused.text
        assert "non-public address" in str(refused.json()["errors"]["json"]["url"])
        # A peer stored before adding checked addresses (or whose name moved to loopback
        # since) is still refused at every connection.
        with strict.app() as app, app.app_context():
            session = get_session()
            stored = Peer(url=f"https://{host}:{port}")
            session.add(stored)
            session.commit()
            record = {"id": str(stored.id)}
        peers.record(strict, record["id"])
        summary = strict.sync(record)

        assert not summary["ok"], summary
        assert summary["error"].startswith("address: "), summary
        assert "non-public address" in summary["error"]
        state = status(strict, record)
        assert state["failures"] == 1
        assert moment(state["next_attempt_at"]) > dt.datetime.now(dt.UTC)

    assert target.server.connections == 0
    assert target.requests == []


@pytest.mark.parametrize("endpoint", [DISCOVERY_PATH, CHANGES_PATH])
def test_a_redirect_off_the_peers_origin_is_refused(
    instance: Instance, peers: Peers, endpoint: str
) -> None:
    # A working instance on another port: had the redirect been followed, the round would work.
    elsewhere = peers.hostile("Elsewhere")
    hostile = peers.hostile()
    hostile.snapshot = [hostile.coalition()]
    hostile.route(endpoint, Reply(status=302, headers={"Location": f"{elsewhere.url}{endpoint}"}))
    record = peers.add(instance, hostile.url)

    summary = instance.sync(record)

    assert not summary["ok"], summary
    assert summary["error"].startswith("redirect: "), summary
    assert f"redirect off the origin refused: '{elsewhere.url}{endpoint}'" in summary["error"]
    assert status(instance, record)["failures"] == 1
    assert elsewhere.server.connections == 0
    assert elsewhere.requests == []
    assert [request.route for request in hostile.requests][-1] == endpoint
