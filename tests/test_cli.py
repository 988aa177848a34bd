"""The commands an operator runs, as real processes: migrate, mint a token, serve with gunicorn."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FEDERATION_DATABASE_URL": url,
        "FEDERATION_BASE_URL": "http://127.0.0.1:5000",
        **extra,
    }


def _flask(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def migrated_url(fresh_database_url: Callable[[], str]) -> str:
    url = fresh_database_url()
    result = _flask(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture
def gunicorn(migrated_url: str) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=_env(migrated_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"gunicorn did not start: {output}") from exc
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()


def test_create_admin_token_prints_only_the_token(migrated_url: str):
    result = _flask(migrated_url, "create-admin-token")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"sfed_[A-Za-z0-9_-]{43}\n", result.stdout)


def test_load_demo_once(migrated_url: str):
    assert _flask(migrated_url, "load-demo").returncode == 0
    again = _flask(migrated_url, "load-demo")
    assert again.returncode == 0
    assert "already" in again.stderr


def test_gunicorn_serves_the_api_and_honours_minted_tokens(migrated_url: str, gunicorn: str):
    token = _flask(migrated_url, "create-admin-token").stdout.strip()
    assert requests.get(f"{gunicorn}/healthz", timeout=5).json() == {"status": "ok"}
    coalition = {
        "slug": "los-angeles",
        "name": "Los Angeles Solidarity Coalition",
        "city": "Los Angeles",
        "city_slug": "los-angeles",
        "timezone": "America/Los_Angeles",
    }
    refused = requests.post(f"{gunicorn}/api/v1/coalitions", json=coalition, timeout=5)
    assert refused.status_code == 401
    created = requests.post(
        f"{gunicorn}/api/v1/coalitions",
        json=coalition,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    listed = requests.get(f"{gunicorn}/api/v1/coalitions", timeout=5).json()
    assert [c["slug"] for c in listed["items"]] == ["los-angeles"]


def test_revoked_token_stops_working(migrated_url: str, gunicorn: str):
    token = _flask(migrated_url, "create-admin-token").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    minted = requests.post(
        f"{gunicorn}/api/v1/coalitions",
        json={
            "slug": "new-york",
            "name": "NY",
            "city": "New York",
            "city_slug": "new-york",
            "timezone": "America/New_York",
        },
        headers=headers,
        timeout=5,
    )
    assert minted.status_code == 201
    coalition_token = requests.post(
        f"{gunicorn}/api/v1/coalitions/new-york/tokens", json={}, headers=headers, timeout=5
    ).json()
    assert _flask(migrated_url, "revoke-token", coalition_token["id"]).returncode == 0
    denied = requests.patch(
        f"{gunicorn}/api/v1/coalitions/new-york",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {coalition_token['token']}"},
        timeout=5,
    )
    assert denied.status_code == 401
