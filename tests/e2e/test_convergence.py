"""Convergence between real instances (Minneapolis, New York, Los Angeles), each its own
gunicorn process and database, observed only as a user or a peer sees them: the REST API, the
federation endpoints and the calendar feeds.

The three instances are started once for the module; every test uses coalitions of its own and
removes the peers it added (with the objects they brought), so what an instance holds at the
start of a test is its own objects only.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import event_payload
from instances import Instance, start_module_instance

from federation.db import get_database
from federation.sync import settings_from_config
from federation.sync.worker import sync_peer

__all__ = ["start_module_instance"]


@dataclasses.dataclass(frozen=True)
class Cities:
    minneapolis: Instance
    new_york: Instance
    los_angeles: Instance

    def __iter__(self) -> Iterator[Instance]:
        return iter((self.minneapolis, self.new_york, self.los_angeles))


@pytest.fixture(scope="module")
def running(start_module_instance: Callable[..., Instance]) -> Cities:
    return Cities(
        start_module_instance("minneapolis"),
        start_module_instance("new-york"),
        start_module_instance("los-angeles"),
    )


@pytest.fixture
def cities(running: Cities) -> Iterator[Cities]:
    yield running
    for instance in running:
        instance.remove_peers()


# -- builders and observers ----------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def local_slug(slug: str, origin: Instance) -> str:
    """The slug another instance gives `origin`'s coalition: qualified by the origin's host."""
    host = origin.base.split("://", 1)[1].replace(".", "-").replace(":", "-")
    return f"{slug}-{host}"


def make_coalition(instance: Instance, prefix: str, city: str, timezone: str) -> dict[str, Any]:
    payload = {
        "slug": unique(prefix),
        "name": f"{city} Solidarity Coalition",
        "city": city,
        "city_slug": city.lower().replace(" ", "-"),
        "timezone": timezone,
        "description": "Unions and community groups.",
        "member_organizations": [{"name": "SEIU", "kind": "union"}],
    }
    coalition: dict[str, Any] = instance.json("POST", "/api/v1/coalitions", 201, json=payload)
    return coalition


def make_event(instance: Instance, coalition: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    path = f"/api/v1/coalitions/{coalition['slug']}/events"
    event: dict[str, Any] = instance.json("POST", path, 201, json=event_payload(**overrides))
    return event


def make_campaign(instance: Instance, coalition: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "title": "January 23 Day of Action",
        "description": "No work, no school, no shopping.",
        "call_to_action": "Join the march.",
        "starts_on": "2027-01-23",
        "ends_on": "2027-01-23",
        "coalition": coalition["slug"],
    }
    campaign: dict[str, Any] = instance.json("POST", "/api/v1/campaigns", 201, json=payload)
    return campaign


SHARED = ("id", "origin", "version", "title", "starts_at", "ends_at", "status", "campaign_id")


def shown(event: dict[str, Any]) -> dict[str, Any]:
    """What every instance must show alike for an action (not the local slug or links)."""
    return {name: event[name] for name in SHARED}


def status_of(instance: Instance, path: str) -> int:
    return instance.request("GET", path).status_code


def held(instance: Instance, origin: Instance, path: str) -> set[tuple[str, int]]:
    """(id, version) of every object of `origin` that `instance` lists at `path`."""
    items = instance.everything(path)
    pairs = [(item["id"], item["version"]) for item in items if item["origin"] == origin.base]
    ids = [object_id for object_id, _ in pairs]
    assert len(ids) == len(set(ids)), f"an object listed twice at {instance.name}{path}"
    return set(pairs)


def assert_same_sets(origin: Instance, copy: Instance) -> None:
    for path in ("/api/v1/coalitions", "/api/v1/campaigns", "/api/v1/events"):
        assert held(copy, origin, path) == held(origin, origin, path), path


def ok(summary: dict[str, Any]) -> dict[str, Any]:
    assert summary["ok"], summary
    assert summary["rejected"] == summary["conflicts"] == summary["waiting"] == 0, summary
    return summary


def idle(summary: dict[str, Any]) -> bool:
    return summary["ok"] and summary["requests"] == 1 and summary["not_modified"] == 1


def assert_idle(instance: Instance, peer: dict[str, Any]) -> None:
    summary = instance.sync(peer)
    assert idle(summary), summary
    assert summary["received"] == summary["applied"] == 0, summary


def ical_uid(instance: Instance, event_id: str) -> str:
    response = requests.get(f"{instance.base}/events/{event_id}.ics", timeout=60)
    assert response.status_code == 200, response.text
    # Content lines may be folded (CRLF + a space); unfold before reading the UID.
    lines = response.text.replace("\r\n ", "").splitlines()
    (uid,) = [line.split(":", 1)[1] for line in lines if line.startswith("UID:")]
    return uid


# -- the tests -----------------------------------------------------------------------------------


def test_create_update_cancel_delete_converge_and_an_idle_round_is_one_304(cities: Cities):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    event = make_event(mpls, coalition)
    peer = nyc.add_peer(mpls)

    assert ok(nyc.sync(peer))["up_to_date"]
    copy = nyc.json("GET", f"/api/v1/events/{event['id']}")
    assert shown(copy) == shown(event)
    assert copy["origin"] == mpls.base
    assert copy["coalition"] == local_slug(coalition["slug"], mpls)

    edited = mpls.json(
        "PATCH",
        f"/api/v1/events/{event['id']}",
        json={
            "title": "March on the Capitol, rescheduled",
            "starts_at": "2027-01-24T13:00:00-06:00",
            "ends_at": "2027-01-24T16:30:00-06:00",
        },
    )
    assert ok(nyc.sync(peer))["applied"] == 1
    assert shown(nyc.json("GET", f"/api/v1/events/{event['id']}")) == shown(edited)
    assert edited["version"] == 2

    cancelled = mpls.json("PATCH", f"/api/v1/events/{event['id']}", json={"status": "cancelled"})
    assert ok(nyc.sync(peer))["applied"] == 1
    copy = nyc.json("GET", f"/api/v1/events/{event['id']}")
    assert shown(copy) == shown(cancelled)
    assert copy["status"] == "cancelled"
    listed = nyc.everything(status="cancelled")
    assert event["id"] in {item["id"] for item in listed}

    mpls.json("DELETE", f"/api/v1/events/{event['id']}", 204)
    assert ok(nyc.sync(peer))["applied"] == 1
    assert status_of(nyc, f"/api/v1/events/{event['id']}") == 410
    assert event["id"] not in {item["id"] for item in nyc.everything()}
    # The coalition is still there: only its action was deleted.
    assert nyc.json("GET", f"/api/v1/coalitions/{local_slug(coalition['slug'], mpls)}")

    assert_idle(nyc, peer)


def test_a_chain_relays_the_origins_objects_unchanged_to_an_instance_that_never_asked_it(
    cities: Cities,
):
    mpls, nyc, la = cities
    twin = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    campaign = make_campaign(mpls, twin)
    march = make_event(mpls, twin, campaign_id=campaign["id"])
    nyc_peer_of_mpls = nyc.add_peer(mpls)
    ok(nyc.sync(nyc_peer_of_mpls))
    # New York joins Minneapolis's day of action with an action of its own.
    nyc_coalition = make_coalition(nyc, "nyc-labor", "New York", "America/New_York")
    rally = make_event(
        nyc,
        nyc_coalition,
        title="Foley Square rally",
        starts_at="2027-01-23T12:00:00-05:00",
        ends_at="2027-01-23T14:00:00-05:00",
        campaign_id=campaign["id"],
    )
    mpls_ids = [twin["id"], campaign["id"], march["id"]]

    # Los Angeles does not let New York relay: Minneapolis's objects are refused, New York's come.
    relayed = {item["id"]: item for item in nyc.changes()}
    refused = sum(item["origin"] == mpls.base for item in relayed.values())
    assert refused >= len(mpls_ids)
    strict = la.add_peer(nyc, relay=False)
    summary = la.sync(strict)
    assert summary["ok"], summary
    assert summary["rejected"] == refused, summary
    assert summary["applied"] == len(relayed) - refused, summary
    assert la.peer(nyc)["status"]["quarantined"] == refused
    assert shown(la.json("GET", f"/api/v1/events/{rally['id']}")) == shown(rally)
    assert status_of(la, f"/api/v1/events/{march['id']}") == 404
    assert status_of(la, f"/api/v1/campaigns/{campaign['id']}") == 404
    assert status_of(la, f"/api/v1/coalitions/{local_slug(twin['slug'], mpls)}") == 404
    la.remove_peers()

    # Relaying allowed: Los Angeles peers only New York and holds Minneapolis's objects as
    # Minneapolis signed them, under the same ids, with Minneapolis as their origin.
    la_peer = la.add_peer(nyc, relay=True)
    assert [peer["url"] for peer in la.peers()] == [nyc.base]
    ok(la.sync(la_peer))
    assert la.peer(nyc)["status"]["quarantined"] == 0
    coalition_copy = la.json("GET", f"/api/v1/coalitions/{local_slug(twin['slug'], mpls)}")
    assert (coalition_copy["id"], coalition_copy["origin"]) == (twin["id"], mpls.base)
    campaign_copy = la.json("GET", f"/api/v1/campaigns/{campaign['id']}")
    assert (campaign_copy["origin"], campaign_copy["version"]) == (mpls.base, campaign["version"])
    assert shown(la.json("GET", f"/api/v1/events/{march['id']}")) == shown(march)
    assert ical_uid(la, march["id"]) == ical_uid(mpls, march["id"])
    # The day of action lists both cities' actions, there too.
    joined = {item["id"] for item in la.everything(campaign=campaign["id"])}
    assert joined == {march["id"], rally["id"]}

    # New York passes the envelopes on verbatim: origin, version and proof are Minneapolis's;
    # nobody but the origin serves them as its own objects.
    for object_id in mpls_ids:
        url = f"{mpls.base}/federation/v1/objects/{object_id}"
        original = requests.get(url, timeout=60).json()
        assert relayed[url] == original
        assert relayed[url]["origin"] == mpls.base
        for relay in (nyc, la):
            assert status_of(relay, f"/federation/v1/objects/{object_id}") == 404

    mpls.json("PATCH", f"/api/v1/events/{march['id']}", json={"title": "March, new route"})
    ok(nyc.sync(nyc_peer_of_mpls))
    ok(la.sync(la_peer))
    edited = la.json("GET", f"/api/v1/events/{march['id']}")
    assert (edited["title"], edited["version"], edited["origin"]) == (
        "March, new route",
        2,
        mpls.base,
    )

    mpls.json("DELETE", f"/api/v1/events/{march['id']}", 204)
    ok(nyc.sync(nyc_peer_of_mpls))
    ok(la.sync(la_peer))
    assert status_of(la, f"/api/v1/events/{march['id']}") == 410
    assert {item["id"] for item in la.everything(campaign=campaign["id"])} == {rally["id"]}


def test_full_mesh_one_edit_takes_one_new_position_on_every_node_and_nothing_echoes(
    cities: Cities,
):
    nodes = list(cities)
    peers = {
        node.name: [node.add_peer(other, relay=True) for other in nodes if other is not node]
        for node in nodes
    }

    def round_everywhere() -> list[dict[str, Any]]:
        return [
            {"reader": node.name, **node.sync(peer)} for node in nodes for peer in peers[node.name]
        ]

    def until_quiet() -> list[dict[str, Any]]:
        """Rounds everywhere until one is all 304s; the summaries of every round."""
        summaries: list[dict[str, Any]] = []
        for _ in range(6):
            summaries += [ok(summary) for summary in round_everywhere()]
            if all(idle(summary) for summary in summaries[-6:]):
                return summaries
        pytest.fail("the mesh did not become quiet within 6 rounds")

    mpls = cities.minneapolis
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    event = make_event(mpls, coalition)
    until_quiet()
    heads = {node.name: node.head() for node in nodes}

    mpls.json("PATCH", f"/api/v1/events/{event['id']}", json={"title": "March, edited once"})
    summaries = until_quiet()
    object_url = f"{mpls.base}/federation/v1/objects/{event['id']}"
    # New York and Los Angeles offered the edit back to Minneapolis, which ignored it...
    assert sum(s["ignored"] for s in summaries if s["reader"] == mpls.name) >= 1
    assert sum(s["applied"] for s in summaries) == 2  # ...and each of them applied it once

    for node in nodes:
        assert node.head() == heads[node.name] + 1, node.name
        (entry,) = node.changes(after=heads[node.name])
        assert (entry["id"], entry["origin"], entry["version"]) == (object_url, mpls.base, 2)
        assert node.json("GET", f"/api/v1/events/{event['id']}")["title"] == "March, edited once"
        # Once in the whole log too: the feed is one entry per object.
        assert [item["id"] for item in node.changes()].count(entry["id"]) == 1
    assert all(idle(summary) for summary in round_everywhere())


def test_another_origins_objects_are_read_only_on_a_relay(cities: Cities):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    event = make_event(mpls, coalition)
    ok(nyc.sync(nyc.add_peer(mpls)))
    copy_slug = local_slug(coalition["slug"], mpls)

    for method, path, body in (
        ("PATCH", f"/api/v1/events/{event['id']}", {"title": "Hijacked"}),
        ("DELETE", f"/api/v1/events/{event['id']}", None),
        ("PATCH", f"/api/v1/coalitions/{copy_slug}", {"name": "Hijacked"}),
        ("DELETE", f"/api/v1/coalitions/{copy_slug}", None),
        ("POST", f"/api/v1/coalitions/{copy_slug}/events", event_payload()),
    ):
        response = nyc.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == 403

    assert shown(nyc.json("GET", f"/api/v1/events/{event['id']}")) == shown(event)
    assert nyc.json("GET", f"/api/v1/coalitions/{copy_slug}")["version"] == 1


def test_a_new_york_union_endorses_the_minneapolis_day_of_action_from_new_york(cities: Cities):
    mpls, nyc = cities.minneapolis, cities.new_york
    twin_cities = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    campaign = make_campaign(mpls, twin_cities)
    new_york = make_coalition(nyc, "nyc", "New York", "America/New_York")
    ok(nyc.sync(nyc.add_peer(mpls)))

    path = f"/api/v1/campaigns/{campaign['id']}/endorsements"
    union = {"organization": "NYSNA", "level": "strike", "coalition": new_york["slug"]}
    endorsement = nyc.json("POST", path, 201, json=union)
    assert endorsement["origin"] == nyc.base
    # Minneapolis, pulling from New York, lists it among its own day of action's endorsers.
    from_nyc = mpls.add_peer(nyc)
    assert ok(mpls.sync(from_nyc))["applied"] >= 2  # the coalition and the endorsement
    endorsers = mpls.json("GET", f"/api/v1/campaigns/{campaign['id']}")["endorsements"]
    assert [(e["id"], e["organization"], e["origin"]) for e in endorsers] == [
        (endorsement["id"], "NYSNA", nyc.base)
    ]

    # Minneapolis calls the day off: New York buries its endorsement, and says so.
    mpls.json("DELETE", f"/api/v1/campaigns/{campaign['id']}", 204)
    ok(nyc.sync(nyc.peer(mpls)))
    assert status_of(nyc, f"/api/v1/campaigns/{campaign['id']}") == 410
    # Its feed holds each object's latest version: the endorsement is now its tombstone.
    buried = [c for c in nyc.changes() if c["id"].endswith(endorsement["id"])]
    assert [(c["type"], c["version"], c["data"]) for c in buried] == [
        ("Tombstone", 2, {"former_type": "Endorsement"})
    ]
    ok(mpls.sync(from_nyc))


def test_a_thousand_changes_in_one_transaction_are_each_delivered_once(cities: Cities):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "big-coalition", "Minneapolis", "America/Chicago")
    payloads = [event_payload(title=f"Picket line {number}") for number in range(999)]
    ids = set(mpls.publish_events(coalition["slug"], payloads))
    copy_slug = local_slug(coalition["slug"], mpls)
    peer = nyc.add_peer(mpls)
    assert ok(nyc.sync(peer))["up_to_date"]
    assert {event["id"] for event in nyc.everything(coalition=copy_slug)} == ids

    # Deleting the coalition buries it and its 999 actions in one transaction: 1,000 changes.
    before = mpls.head()
    mpls.json("DELETE", f"/api/v1/coalitions/{coalition['slug']}", 204)
    assert mpls.head() == before + 1000
    served = mpls.changes(after=before, limit=100)
    assert len(served) == len({item["id"] for item in served}) == 1000
    assert {item["type"] for item in served} == {"Tombstone"}

    # The sync worker itself (page size fixed at 500 in the API and CLI) reads them in pages
    # of 100, in this process, against New York's database.
    with nyc.app() as app:
        settings = dataclasses.replace(settings_from_config(app.config), page_size=100)
        summary = sync_peer(get_database(app).sessionmaker, uuid.UUID(peer["id"]), settings)
    assert summary.ok, summary
    assert (summary.pages, summary.requests) == (10, 10)
    # Each change once: a second delivery would have counted as unchanged or ignored.
    assert summary.received == summary.applied == 1000
    assert summary.unchanged == summary.ignored == summary.rejected == 0
    assert summary.up_to_date

    assert not ids & {event["id"] for event in nyc.everything()}
    assert status_of(nyc, f"/api/v1/coalitions/{copy_slug}") == 404
    assert {status_of(nyc, f"/api/v1/events/{event_id}") for event_id in sorted(ids)[:20]} == {410}
    assert_idle(nyc, peer)
    # Tidy up for the tests that follow: later peers need not read these tombstones.
    mpls.cli("federation", "purge-tombstones", "--days", "0")


def test_a_peer_offline_past_tombstone_retention_resyncs_and_drops_what_was_deleted(
    cities: Cities,
):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    events = [make_event(mpls, coalition, title=f"Action {n}") for n in range(4)]
    peer = nyc.add_peer(mpls)
    ok(nyc.sync(peer))
    assert_same_sets(mpls, nyc)

    deleted = events[:2]
    for event in deleted:
        mpls.json("DELETE", f"/api/v1/events/{event['id']}", 204)
    mpls.json("PATCH", f"/api/v1/events/{events[2]['id']}", json={"title": "Action 2, moved"})
    mpls.cli("federation", "purge-tombstones", "--days", "0")
    stale = requests.get(
        f"{mpls.base}/federation/v1/changes",
        params={"after": nyc.peer(mpls)["status"]["cursor"]},
        timeout=60,
    )
    assert (stale.status_code, stale.json()["reason"]) == (410, "cursor_expired")

    summary = ok(nyc.sync(peer))
    assert summary["resynced"]
    assert summary["up_to_date"]
    assert summary["swept"] >= len(deleted)
    assert_same_sets(mpls, nyc)
    for event in deleted:  # New York never saw their tombstones: they are simply gone
        assert status_of(nyc, f"/api/v1/events/{event['id']}") == 404
    assert nyc.json("GET", f"/api/v1/events/{events[2]['id']}")["title"] == "Action 2, moved"
    assert_idle(nyc, peer)


def test_a_new_epoch_on_the_origin_is_resynced_cleanly_without_duplicates(cities: Cities):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    events = [make_event(mpls, coalition, title=f"Action {n}") for n in range(3)]
    peer = nyc.add_peer(mpls)
    ok(nyc.sync(peer))

    mpls.cli("federation", "new-epoch")
    mpls.json("PATCH", f"/api/v1/events/{events[0]['id']}", json={"title": "After the new epoch"})

    summary = ok(nyc.sync(peer))
    assert summary["resynced"]
    assert summary["up_to_date"]
    assert summary["swept"] == 0
    assert summary["applied"] == 1  # the edit; everything else was already held
    assert_same_sets(mpls, nyc)
    assert nyc.json("GET", f"/api/v1/events/{events[0]['id']}")["title"] == "After the new epoch"
    assert_idle(nyc, peer)


def test_an_origin_restored_from_a_backup_is_resynced_without_losing_what_it_still_has(
    cities: Cities,
):
    mpls, nyc = cities.minneapolis, cities.new_york
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    kept, edited, deleted = (make_event(mpls, coalition, title=t) for t in ("W", "X", "Z"))
    backup = mpls.backup()
    mpls.json("PATCH", f"/api/v1/events/{edited['id']}", json={"title": "X, edited"})
    mpls.json("DELETE", f"/api/v1/events/{deleted['id']}", 204)
    forgotten = make_event(mpls, coalition, title="Y, lost with the restore")
    peer = nyc.add_peer(mpls)
    ok(nyc.sync(peer))

    # Minneapolis's disk dies; the operator restores last night's backup and starts a new epoch.
    mpls.restore(backup)
    mpls.cli("federation", "new-epoch")
    assert shown(mpls.json("GET", f"/api/v1/events/{edited['id']}")) == shown(edited)
    assert status_of(mpls, f"/api/v1/events/{forgotten['id']}") == 404

    summary = ok(nyc.sync(peer))
    assert summary["resynced"]
    assert summary["up_to_date"]
    # What the restored origin no longer has is dropped...
    assert status_of(nyc, f"/api/v1/events/{forgotten['id']}") == 404
    # ...what it still has stays, each once: a deletion New York saw is not undone by the
    # older version, nor is the newer version of an edit replaced by the older one.
    assert shown(nyc.json("GET", f"/api/v1/events/{kept['id']}")) == shown(kept)
    assert status_of(nyc, f"/api/v1/events/{deleted['id']}") == 410
    tombstones = {item["id"] for item in nyc.changes() if item["type"] == "Tombstone"}
    assert f"{mpls.base}/federation/v1/objects/{deleted['id']}" in tombstones  # passed on
    assert nyc.json("GET", f"/api/v1/events/{edited['id']}")["version"] == 2
    held(nyc, mpls, "/api/v1/events")  # each once
    copies = nyc.everything(coalition=local_slug(coalition["slug"], mpls))
    assert {event["id"] for event in copies} == {kept["id"], edited["id"]}
    assert_idle(nyc, peer)

    # The restored origin edits X again: its version 2 is not New York's (a conflict, ours
    # kept). Another resync must not take X for deleted either: the origin lists it.
    mpls.json("PATCH", f"/api/v1/events/{edited['id']}", json={"title": "X, edited again"})
    assert nyc.sync(peer)["conflicts"] == 1
    mpls.cli("federation", "new-epoch")
    summary = nyc.sync(peer)
    assert (summary["ok"], summary["resynced"], summary["swept"]) == (True, True, 0), summary
    assert nyc.json("GET", f"/api/v1/events/{edited['id']}")["version"] == 2


def test_an_old_version_from_a_lagging_relay_does_not_replace_the_newer_one(cities: Cities):
    mpls, nyc, la = cities
    coalition = make_coalition(mpls, "twin-cities", "Minneapolis", "America/Chicago")
    event = make_event(mpls, coalition)
    nyc_peer = nyc.add_peer(mpls)
    ok(nyc.sync(nyc_peer))  # New York now holds version 1, and stays behind
    newer = mpls.json("PATCH", f"/api/v1/events/{event['id']}", json={"title": "Version 2"})

    direct = la.add_peer(mpls)
    via_nyc = la.add_peer(nyc, relay=True)
    ok(la.sync(direct))
    head = la.head()
    stale = ok(la.sync(via_nyc))
    assert stale["ignored"] >= 1, stale
    assert shown(la.json("GET", f"/api/v1/events/{event['id']}")) == shown(newer)
    # Not logged again either (New York's own objects are), so nothing old flows on from here.
    object_url = f"{mpls.base}/federation/v1/objects/{event['id']}"
    assert object_url not in {item["id"] for item in la.changes(after=head)}

    ok(nyc.sync(nyc_peer))  # New York catches up; Los Angeles finds nothing new there
    head = la.head()
    caught_up = ok(la.sync(via_nyc))
    assert (caught_up["applied"], caught_up["unchanged"]) == (0, 1), caught_up
    assert la.head() == head
    assert shown(la.json("GET", f"/api/v1/events/{event['id']}")) == shown(newer)
