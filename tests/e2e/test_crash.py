"""The sync worker killed at random moments (SIGKILL, mid-round, mid-page) while its peer keeps
changing: restarting it is idempotent, its cursor is never ahead of the data it holds, and once
it has caught up it holds exactly what the origin has, each object once."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from instances import Instance, decode_cursor, start_instance
from servers import BIN, ROOT

# The fixture, imported so that pytest finds it in this module.
__all__ = ["start_instance"]

EVENTS = 9000  # under the 10,000 objects a round reads, and more than it reads in 1.5 s
KILLS = 5


def event_payload(number: int) -> dict[str, Any]:
    return {
        "title": f"Picket line {number}",
        "description": "Shifts every hour; bring water.",
        "starts_at": f"2027-02-{number % 28 + 1:02d}T{number % 12 + 8:02d}:00:00-06:00",
        "ends_at": f"2027-02-{number % 28 + 1:02d}T{number % 12 + 9:02d}:30:00-06:00",
        "kind": "picket",
        "tags": ["strike"],
        "location": {"name": "Plant gate", "latitude": 44.95, "longitude": -93.1},
    }


@contextlib.contextmanager
def sync_loop(instance: Instance) -> Iterator[subprocess.Popen[bytes]]:
    """`flask --app wsgi federation sync --loop --interval 1`, as an operator runs the worker."""
    loop = ["federation", "sync", "--loop", "--interval", "1"]
    command = [str(BIN / "flask"), "--app", "wsgi", *loop]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=instance.env, stdout=log, stderr=log)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@dataclass
class Origin:
    """The origin's actions as the test changed them: live ids, deleted ids, changes made."""

    instance: Instance
    slug: str
    live: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    changes: int = 0


class Editor(threading.Thread):
    """Keeps changing the origin's actions through its API (edits, cancellations, deletions,
    new ones) until stopped."""

    def __init__(self, origin: Origin, rng: random.Random):
        super().__init__(daemon=True)
        self.origin, self.rng = origin, rng
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.wait(self.rng.uniform(0.0, 0.05)):
                self.change()
        except BaseException as exc:  # re-raised by the test
            self.error = exc

    def change(self) -> None:
        origin, instance, roll = self.origin, self.origin.instance, self.rng.random()
        if roll < 0.05:
            path = f"/api/v1/coalitions/{origin.slug}/events"
            payload = event_payload(self.rng.randrange(10_000, 20_000))
            origin.live.append(instance.json("POST", path, 201, json=payload)["id"])
        elif roll < 0.12:
            event_id = origin.live.pop(self.rng.randrange(len(origin.live)))
            instance.json("DELETE", f"/api/v1/events/{event_id}", 204)
            origin.deleted.append(event_id)
        else:
            event_id = self.rng.choice(origin.live)
            change = {"status": "cancelled"} if roll < 0.2 else {"title": f"Edit {roll:.6f}"}
            instance.json("PATCH", f"/api/v1/events/{event_id}", json=change)
        origin.changes += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=60)
        if self.error is not None:
            raise self.error


def versions(instance: Instance, origin: Instance, **filters: Any) -> dict[str, int]:
    """id -> version of the actions of `origin` that `instance` lists, each exactly once."""
    items = [
        item
        for item in instance.everything("/api/v1/events", **filters)
        if item["origin"] == origin.base
    ]
    held = {item["id"]: item["version"] for item in items}
    assert len(held) == len(items), f"{instance.name} lists an action twice"
    return held


def object_id(entry: dict[str, Any]) -> str:
    return str(entry["id"]).rsplit("/", 1)[1]


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (the worker's envelope-checking helpers...)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces, so split after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def test_a_worker_killed_mid_round_again_and_again_ends_with_exactly_the_origins_data(
    start_instance: Callable[..., Instance],
):
    mpls = start_instance("minneapolis")
    nyc = start_instance("new-york", FEDERATION_SYNC_INTERVAL="1")
    coalition = {
        "slug": "twin-cities",
        "name": "Twin Cities Solidarity Coalition",
        "city": "Minneapolis",
        "city_slug": "minneapolis",
        "timezone": "America/Chicago",
    }
    mpls.json("POST", "/api/v1/coalitions", 201, json=coalition)
    copy_slug = f"twin-cities-{mpls.base.split('://')[1].replace('.', '-').replace(':', '-')}"
    peer = nyc.add_peer(mpls)
    assert nyc.sync(peer)["up_to_date"]  # New York starts from a cursor, not a snapshot

    origin = Origin(mpls, "twin-cities")
    for start in range(0, EVENTS, 500):
        payloads = [event_payload(number) for number in range(start, start + 500)]
        origin.live += mpls.publish_events(origin.slug, payloads)
    bulk = mpls.head()  # the last of those actions
    rng = random.Random()
    killed_at: list[int] = []  # New York's position in Minneapolis's log after each kill
    orphans: set[int] = set()  # processes the killed workers had started

    def round_started(since: str | None) -> bool:
        return bool(nyc.peer(mpls)["status"]["last_attempt_at"] != since)

    for kill in range(KILLS):
        attempted = nyc.peer(mpls)["status"]["last_attempt_at"]
        editor = Editor(origin, random.Random(rng.random()))
        with sync_loop(nyc) as worker:
            editor.start()
            # The kill lands at a random moment of the round the worker has just begun.
            wait_for(lambda: round_started(attempted), f"round {kill} to start")  # noqa: B023
            time.sleep(rng.uniform(0.3, 1.5))
            orphans |= children(worker.pid)
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(timeout=30) == -signal.SIGKILL
        editor.stop()

        # Killed: what New York committed is whole pages with the cursor after them. Every
        # object the origin logged at or before that cursor is held at that very version.
        cursor = nyc.peer(mpls)["status"]["cursor"]
        logged = mpls.changes()
        later = {entry["id"] for entry in mpls.changes(after=cursor)}
        held = versions(nyc, mpls, coalition=copy_slug)
        killed_at.append(decode_cursor(cursor)[1])
        for entry in logged:
            event = object_id(entry)
            if entry["id"] in later or entry["type"] == "Coalition":
                continue
            expected = None if entry["type"] == "Tombstone" else entry["version"]
            assert held.get(event) == expected, (kill, entry["type"], event, cursor)
        mine = {object_id(entry): entry["version"] for entry in logged}
        for event, version in held.items():
            assert version <= mine[event], (kill, event)
        assert killed_at[-1] <= mpls.head()

    assert origin.changes > 0
    # The worker checks envelopes in helper processes: killed, it leaves none behind.
    assert orphans, "the worker started no helper process"
    wait_for(lambda: not any(map(running, orphans)), "the killed workers' helpers to exit", 10)
    # A round reads up to 10,000 objects: unless a kill cut it short, the first one would have
    # read all the actions. (If this fails, the worker got faster: publish more actions.)
    assert killed_at[0] < bulk, (killed_at, bulk)

    # A last clean run of the worker catches up; a killed PostgreSQL session may hold the
    # peer's lock a moment longer, and the worker then skips the peer: run it again.
    def clean_run() -> bool:
        result = nyc.sync_all()
        assert result["returncode"] == 0, result
        return "up to date" in result["stdout"]

    wait_for(clean_run, "a clean sync round", timeout=120)

    origin_events = versions(mpls, mpls, coalition=origin.slug)
    assert set(origin_events) == set(origin.live)
    assert versions(nyc, mpls, coalition=copy_slug) == origin_events
    for event in origin.deleted[:20]:
        assert nyc.request("GET", f"/api/v1/events/{event}").status_code == 410
    origin_coalition = mpls.json("GET", "/api/v1/coalitions/twin-cities")
    copy = nyc.json("GET", f"/api/v1/coalitions/{copy_slug}")
    assert (copy["id"], copy["version"]) == (origin_coalition["id"], origin_coalition["version"])
    # Nothing left to read, nothing read twice: the next round is one request, answered 304.
    summary = nyc.sync(peer)
    assert (summary["requests"], summary["not_modified"]) == (1, 1), summary
    head = requests.get(f"{mpls.base}/federation/v1/changes?limit=1", timeout=60)
    assert nyc.peer(mpls)["status"]["cursor"] == head.headers["ETag"].strip('"')
