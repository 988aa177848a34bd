"""Checking a page's signatures in a helper process, while this one applies the page.

Ed25519 verification is a fifth of what a reader spends on each object, all of it in C with no
Python around it: the one part of ingest that another core can do without the database or the
session. What crosses between the processes is small (key, signature and message digest pair,
under 200 bytes) and the verdict is a boolean, so the helper costs almost nothing to feed.
Everything else (which key, whether the object may be applied) stays in the reading process.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from federation.envelope import signature_holds

logger = logging.getLogger(__name__)

Proof = tuple[bytes, bytes, bytes]
"""(raw Ed25519 public key, signature, signed message)."""


def check_proofs(batch: Sequence[Proof]) -> list[bool]:
    """Whether each signature holds for its key and message."""
    keys: dict[bytes, Ed25519PublicKey] = {}
    verdicts = []
    for raw_key, signature, message in batch:
        key = keys.get(raw_key)
        if key is None:
            key = keys[raw_key] = Ed25519PublicKey.from_public_bytes(raw_key)
        verdicts.append(signature_holds(key, signature, message))
    return verdicts


def _exit_with_parent(parent: int) -> None:
    """In a helper: exit once the reading process is gone, even killed with SIGKILL (the
    helper's queue never reports it: the helper holds both of its ends)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ProofChecker:
    """Checks batches of proofs in `processes` helper processes (0: in this process).

    Started on first use and kept until `close`: a worker's rounds share them. If a helper
    dies, the batch is checked here instead and the helpers are started afresh next time.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def submit(self, batch: Sequence[Proof]) -> Future[list[bool]]:
        if self.processes > 0:
            try:
                return self._started().submit(check_proofs, list(batch))
            except (BrokenProcessPool, RuntimeError, OSError):
                logger.warning("the proof-checking helper is gone; checking proofs here")
                self.close()
        done: Future[list[bool]] = Future()
        done.set_result(check_proofs(batch))
        return done

    def result(self, future: Future[list[bool]], batch: Sequence[Proof]) -> list[bool]:
        """The verdicts of a submitted batch (checked here if its helper died meanwhile)."""
        try:
            return future.result()
        except BrokenProcessPool:
            logger.warning("the proof-checking helper died; checking its batch here")
            self.close()
            return check_proofs(batch)

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # Spawned, not forked: the reader holds database connections and threads that a
            # forked child would share.
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.processes,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self, *, wait: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


def worker_proof_checker() -> ProofChecker:
    """The sync worker's: one helper process, when there is another core for it to run on (one
    is enough: the reading process spends several times longer on each object than its check)."""
    return ProofChecker(1 if (os.cpu_count() or 1) > 1 else 0)
