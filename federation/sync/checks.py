"""What can be checked of a peer's envelopes without the database, in a helper process.

A reader spends most of its time on each object in work that needs neither the session nor
the objects before it: writing the envelope's canonical bytes, checking its Ed25519
signature, and loading its data by the API's schema. `check_envelopes` does that for a batch,
while the reading process applies the objects before them in order; everything that needs the
database (which key, versions, references) stays in the reading process.

What crosses between the processes is the envelope (a dict of short strings, a few µs to
pickle) one way, and its canonical bytes, the verdict on its proof and its loaded data back.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from marshmallow import EXCLUDE, Schema, ValidationError

from federation.envelope import (
    OBJECT_MAX_BYTES,
    FloatInSignedData,
    ProofError,
    canonical_signed,
    verify,
)
from schemas.campaigns import CampaignSchema, EndorsementSchema
from schemas.coalitions import CoalitionSchema
from schemas.events import EventSchema

logger = logging.getLogger(__name__)

# An object's data is loaded by the same schema as the API's, limited to what its origin signs.
_SCHEMAS: dict[str, Schema] = {
    "Coalition": CoalitionSchema(
        only=(
            "slug",
            "name",
            "city",
            "city_slug",
            "timezone",
            "description",
            "website",
            "member_organizations",
        ),
        unknown=EXCLUDE,
    ),
    "Campaign": CampaignSchema(
        only=("title", "description", "call_to_action", "starts_on", "ends_on"), unknown=EXCLUDE
    ),
    "Endorsement": EndorsementSchema(only=("organization", "level"), unknown=EXCLUDE),
    "Event": EventSchema(
        exclude=("id", "origin", "version", "created_at", "updated_at", "coalition", "url"),
        unknown=EXCLUDE,
    ),
}


class Envelope(NamedTuple):
    """An envelope to check, and the raw Ed25519 public key of the key its proof names.

    A helper gets a copy, pickled when the batch is sent, which may be after `submit`
    returns: the envelope must not change meanwhile (ingest never changes one).
    """

    key: bytes
    envelope: dict[str, Any]


class Verdict(NamedTuple):
    """What `check_envelopes` found of one envelope."""

    raw: bytes
    """Its RFC 8785 bytes (empty when refused before they were written)."""
    refusal: str | None
    """Why it cannot be accepted: not canonical JSON, too large, or its proof does not hold."""
    values: dict[str, Any] | None
    """Its data, loaded by its type's schema (None: refused, a type without data rules, or
    data that breaks them)."""
    invalid: str | None
    """Why its data breaks its type's schema. Only a reason to refuse the object once it is
    to be applied: an older version is ignored whatever its data."""


def invalid_data(errors: Any) -> str:
    return f"invalid data: {errors}"[:900]


def load_data(type_name: str, data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """An object's data as its type's schema loads it, or why it cannot."""
    schema = _SCHEMAS.get(type_name)
    if schema is None:
        return None, None
    if type_name == "Event":
        # The coalition is the reference the reader resolves, not a field of the schema.
        data = {name: value for name, value in data.items() if name != "coalition_id"}
    try:
        return schema.load(data), None
    except ValidationError as exc:
        return None, invalid_data(exc.messages)


class Unkeepable(ValueError):
    """An envelope that cannot be kept (nor relayed, nor offered again): it has no canonical
    bytes, or they are over the size limit."""


def keepable(envelope: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The envelope's RFC 8785 bytes, and those of the envelope without its proof (what the
    proof signs); Unkeepable if it cannot be kept."""
    try:
        raw, unsigned = canonical_signed(envelope)
    except (FloatInSignedData, ValueError, TypeError) as exc:
        raise Unkeepable(f"cannot be canonicalized: {exc}") from exc
    if len(raw) > OBJECT_MAX_BYTES:
        raise Unkeepable(f"larger than {OBJECT_MAX_BYTES} bytes")
    return raw, unsigned


def check_envelope(key: Ed25519PublicKey, envelope: Mapping[str, Any]) -> Verdict:
    """Canonical bytes and size, proof against `key`, then data, of one envelope."""
    try:
        raw, unsigned = keepable(envelope)
    except Unkeepable as exc:
        return Verdict(b"", str(exc), None, None)
    try:
        verify(envelope, key, unsigned=unsigned)
    except ProofError as exc:  # malformed, or SIGNATURE_MISMATCH
        return Verdict(raw, str(exc), None, None)
    data = envelope.get("data")
    type_name = envelope.get("type")
    if not isinstance(data, Mapping) or not isinstance(type_name, str):
        return Verdict(raw, None, None, None)  # the reader refuses these before asking
    return Verdict(raw, None, *load_data(type_name, data))


def check_envelopes(batch: Sequence[Envelope]) -> list[Verdict]:
    keys: dict[bytes, Ed25519PublicKey] = {}
    verdicts = []
    for raw_key, envelope in batch:
        key = keys.get(raw_key)
        if key is None:
            key = keys[raw_key] = Ed25519PublicKey.from_public_bytes(raw_key)
        verdicts.append(check_envelope(key, envelope))
    return verdicts


def _exit_with_parent(parent: int) -> None:
    """In a helper: exit once the reading process is gone, even killed with SIGKILL (the
    helper's queue never reports it: the helper holds both of its ends)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class EnvelopeChecker:
    """Runs `check_envelopes` in `processes` helper processes (0: in this process).

    Started on first use and kept until `close`: a worker's rounds share them. If a helper
    dies, the batch is checked here instead and the helpers are started afresh next time.
    Batches may be submitted from several threads (the next page is checked from the thread
    that fetches it).
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, batch: Sequence[Envelope]) -> Future[list[Verdict]]:
        if self.processes > 0:
            try:
                return self._started().submit(check_envelopes, list(batch))
            except (BrokenProcessPool, RuntimeError, OSError):
                logger.warning("the envelope-checking helper is gone; checking envelopes here")
                self.close()
        done: Future[list[Verdict]] = Future()
        done.set_result(check_envelopes(batch))
        return done

    def result(self, future: Future[list[Verdict]], batch: Sequence[Envelope]) -> list[Verdict]:
        """The verdicts of a submitted batch (checked here if its helper died meanwhile)."""
        try:
            return future.result()
        except BrokenProcessPool:
            logger.warning("the envelope-checking helper died; checking its batch here")
            self.close()
            return check_envelopes(batch)

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Spawned, not forked: the reader holds database connections and threads that
                # a forked child would share.
                context = multiprocessing.get_context("spawn")
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.processes,
                    mp_context=context,
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def close(self, *, wait: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


# Helper processes of a sync worker. The checks cost each object more CPU than the reading
# process spends on it, and the reader also waits on PostgreSQL and the peer: with two helpers,
# a 2-core machine's backfill ran 18 % faster than with one (bench/federation_sync.py).
WORKER_HELPERS = 2


def worker_envelope_checker() -> EnvelopeChecker:
    """The sync worker's: WORKER_HELPERS helper processes, none on a single core."""
    return EnvelopeChecker(WORKER_HELPERS if (os.cpu_count() or 1) > 1 else 0)
