"""A hostile peer that impersonates a whole instance, for the multi-process federation tests.

A `HostilePeer` is a `HostileServer` (tests/sync/hostile.py) scripted as an instance: it serves
a discovery document naming its own base URL as origin and the public key of a `RemoteOrigin`
(tests/sync/remote.py), a one-page snapshot, and a changes feed whose pages the test publishes;
the envelopes in them are signed with that key, or forged, tampered or replayed as a test needs.
Any endpoint can be rerouted to a nasty reply with `route`.

    with HostilePeer("Hostile") as peer:
        peer.publish(peer.coalition(), peer.event(uuid.uuid4()))
        record = instance.add_peer(peer.url)
        instance.sync(record)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from instances import Instance, launch
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.db import make_engine
from federation.envelope import DISCOVERY_PATH, sign
from federation.models import QuarantinedObject
from federation.sync.ingest import local_slug

# The hostile server and the simulated origin live beside the sync tests.
_SYNC_TESTS = str(Path(__file__).resolve().parents[1] / "sync")
if _SYNC_TESTS not in sys.path:
    sys.path.append(_SYNC_TESTS)

from hostile import (  # noqa: E402
    HostileServer,
    MiB,
    Reply,
    RequestInfo,
    deeply_nested,
    gzip_bomb,
    huge_json,
    items_json,
    json_reply,
    slow_drip,
)
from remote import T0, RemoteOrigin, coalition_data, event_data  # noqa: E402

# The test modules take the hostile server's and the simulated origin's helpers from here,
# once this module has made them importable.
__all__ = [
    "CHANGES_PATH",
    "SNAPSHOT_PATH",
    "HostilePeer",
    "HostileServer",
    "MiB",
    "Peers",
    "RemoteOrigin",
    "Reply",
    "RequestInfo",
    "coalition_data",
    "deeply_nested",
    "event_data",
    "gzip_bomb",
    "huge_json",
    "items_json",
    "json_reply",
    "quarantined",
    "running_instance",
    "slow_drip",
    "tampered",
]

CHANGES_PATH = "/federation/v1/changes"
SNAPSHOT_PATH = "/federation/v1/snapshot"
_CURSOR = re.compile(r"c(\d{1,6})")


class HostilePeer:
    """An instance impersonated by a scripted server: discovery, snapshot and changes feed.

    The snapshot is one page (`snapshot` items, then the cursor "c0"); the changes feed after
    "c<n>" serves the n-th published page with next "c<n+1>", and at the head an empty page
    whose ETag makes a conditional poll a 304.
    """

    def __init__(self, name: str = "Hostile peer") -> None:
        self.server = HostileServer()
        self.url = self.server.url
        self.origin = RemoteOrigin(self.url, name)
        self.coalition_id = uuid.uuid4()
        self.snapshot: list[Any] = []
        self.pages: list[list[Any]] = []
        self.server.route(DISCOVERY_PATH, lambda request: json_reply(self.discovery()))
        self.server.route(SNAPSHOT_PATH, self._snapshot)
        self.server.route(CHANGES_PATH, self._changes)

    def __enter__(self) -> HostilePeer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.close()

    # -- what it serves --------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestInfo]:
        received: list[RequestInfo] = self.server.requests
        return received

    @property
    def slug(self) -> str:
        """Where its coalition (slug twin-cities) lands on the instance that pulls it."""
        return local_slug("twin-cities", self.url)

    def route(self, path: str, reply: Reply | Callable[[RequestInfo], Reply]) -> None:
        self.server.route(path, reply)

    def publish(self, *items: Any) -> None:
        """Append a page to the changes feed."""
        self.pages.append(list(items))

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = self.origin.discovery()
        document["endpoints"] = {
            "discovery": f"{self.url}{DISCOVERY_PATH}",
            "changes": f"{self.url}{CHANGES_PATH}",
            "snapshot": f"{self.url}{SNAPSHOT_PATH}",
            "objects": f"{self.url}/federation/v1/objects/",
        }
        document["limits"] = {"page_default": 100, "page_max": 500, "object_max_bytes": 65536}
        document["tombstone_retention_days"] = 180
        return document

    def _snapshot(self, request: RequestInfo) -> Reply:
        return json_reply({"items": self.snapshot, "next_page": None, "cursor": "c0"})

    def _changes(self, request: RequestInfo) -> Reply:
        after = parse_qs(urlsplit(request.path).query).get("after", ["c0"])[0]
        match = _CURSOR.fullmatch(after)
        head = len(self.pages)
        if match is None or int(match[1]) > head:
            gone = {"code": 410, "status": "Gone", "message": "?", "reason": "epoch_changed"}
            return json_reply(gone, status=410)
        position = int(match[1])
        etag = f'"c{head}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if position == head and request.headers.get("If-None-Match") == etag:
            return Reply(status=304, headers=headers)
        items = self.pages[position] if position < head else []
        token = position + 1 if position < head else position
        page = {"items": items, "next": f"c{token}", "up_to_date": token == head}
        return json_reply(page, headers=headers)

    # -- envelopes signed with its key -----------------------------------------------------

    def envelope(
        self,
        type_name: str,
        object_id: uuid.UUID,
        data: dict[str, Any],
        *,
        version: int = 1,
        published: dt.datetime = T0,
        updated: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return self.origin.envelope(
            type_name, object_id, data, version=version, published=published, updated=updated
        )

    def signed(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` (any members, any values; a proof it has is dropped) signed with its key."""
        unsigned = {name: value for name, value in body.items() if name != "proof"}
        return sign(unsigned, self.origin.key, self.origin.key_id, created=T0)

    def coalition(self) -> dict[str, Any]:
        return self.envelope("Coalition", self.coalition_id, coalition_data())

    def event(self, object_id: uuid.UUID, *, version: int = 1, **data: Any) -> dict[str, Any]:
        return self.envelope(
            "Event", object_id, event_data(self.coalition_id, **data), version=version
        )

    def tombstone(self, object_id: uuid.UUID, version: int) -> dict[str, Any]:
        return self.envelope("Tombstone", object_id, {"former_type": "Event"}, version=version)


def tampered(envelope: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A copy of a signed envelope with some `data` members changed and its proof kept."""
    copy: dict[str, Any] = json.loads(json.dumps(envelope))
    copy["data"].update(data)
    return copy


@contextlib.contextmanager
def running_instance(
    name: str, database_url: str, key_dir: Path, **extra: str
) -> Iterator[Instance]:
    """A real instance for as long as the block runs (see instances.start_instance)."""
    with contextlib.ExitStack() as stack:
        yield launch(stack, database_url, key_dir, name, **extra)


def quarantined(instance: Instance, peer: Mapping[str, Any]) -> dict[str, str]:
    """What the instance quarantined from a peer, as an operator finds it in the database:
    object id -> "kind: reason"."""
    engine = make_engine(instance.env["FEDERATION_DATABASE_URL"])
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(
                    QuarantinedObject.object_id, QuarantinedObject.kind, QuarantinedObject.reason
                ).where(QuarantinedObject.peer_id == uuid.UUID(str(peer["id"])))
            )
            return {str(object_id): f"{kind}: {reason}" for object_id, kind, reason in rows}
    finally:
        engine.dispose()


class Peers:
    """Hostile peers and peer records made by one test, all removed when it ends, so that a
    module's tests can share one instance (`flask federation sync` reads every peer)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._records: list[tuple[Instance, str]] = []

    def hostile(self, name: str = "Hostile peer") -> HostilePeer:
        return self._stack.enter_context(HostilePeer(name))

    def add(self, instance: Instance, url: str, *, relay: bool = False) -> dict[str, Any]:
        record = instance.add_peer(url, relay=relay)
        self.record(instance, str(record["id"]))
        return record

    def record(self, instance: Instance, peer_id: str) -> None:
        """Remove this peer of `instance` when the test ends too."""
        self._records.append((instance, peer_id))

    def remove_all(self) -> None:
        for instance, peer_id in self._records:
            response = instance.request("DELETE", f"/api/v1/peers/{peer_id}")
            assert response.status_code == 204, response.text
