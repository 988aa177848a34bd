"""Real server processes for tests: the `flask` CLI and gunicorn, as an operator runs them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def environment(database_url: str, base_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FEDERATION_DATABASE_URL": database_url,
        "FEDERATION_BASE_URL": base_url,
        **extra,
    }


def flask(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi <args>` in the project directory, its output captured."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(
    env: Mapping[str, str], port: int, workers: int = 2, *, logs: Path | None = None
) -> Iterator[str]:
    """gunicorn serving `wsgi:app` on 127.0.0.1:`port` until the block ends; its base URL.
    With `logs`, its error log (stderr) and access log (stdout) go to error.log and access.log
    in that folder."""
    bind = f"127.0.0.1:{port}"
    command = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", bind, "wsgi:app"]
    # Files, not pipes: a pipe nobody reads fills up and blocks the server mid-test.
    with contextlib.ExitStack() as files:
        if logs is None:
            log = files.enter_context(tempfile.TemporaryFile())
            access: int | IO[bytes] = subprocess.DEVNULL
        else:
            log = files.enter_context(open(logs / "error.log", "w+b"))
            access = files.enter_context(open(logs / "access.log", "wb"))
        process = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=access, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"{base}/healthz", timeout=2)
                    break
                # A booting worker may accept the connection and answer late: not ready yet.
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait(timeout=30)
                        log.seek(0)
                        output = log.read().decode(errors="replace")
                        raise RuntimeError(f"gunicorn did not start: {output}") from exc
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)
