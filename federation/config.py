"""Settings: defaults < FEDERATION_* environment variables < what create_app() is given."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_MAX_BODY_BYTES = 256 * 1024


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in {"", "0", "false", "no"}:
        return False
    if raw in {"1", "true", "yes"}:
        return True
    raise RuntimeError(f"{name} must be 1 or 0, got {raw!r}")


def settings_from_env(env: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Read every setting the service knows from the environment (see README, Configuration)."""
    default_db = "sqlite:///" + str(Path(instance_path) / "federation.db")
    base_url = env.get("FEDERATION_BASE_URL") or DEFAULT_BASE_URL
    return {
        "FEDERATION_DATABASE_URL": env.get("FEDERATION_DATABASE_URL") or default_db,
        # Stored without a trailing slash: it is the `origin` of every local object and the
        # prefix of every public URL we hand out, so one spelling must win.
        "FEDERATION_BASE_URL": base_url.rstrip("/"),
        "FEDERATION_INSTANCE_NAME": env.get("FEDERATION_INSTANCE_NAME") or "Solidarity federation",
        # Nothing durable is signed with it yet; a per-process random key is a safe default.
        "SECRET_KEY": env.get("FEDERATION_SECRET_KEY") or secrets.token_hex(32),
        # Werkzeug answers 413 before the body is read when Content-Length exceeds this, and
        # stops reading a streamed body at this size.
        "MAX_CONTENT_LENGTH": _int(env, "FEDERATION_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        # Feeds hold events that ended at most this many days ago, and every future one...
        "FEDERATION_FEED_PAST_DAYS": _int(env, "FEDERATION_FEED_PAST_DAYS", 30),
        # ...up to this many events per feed (the calendar description says when it cuts).
        "FEDERATION_FEED_MAX_EVENTS": _int(env, "FEDERATION_FEED_MAX_EVENTS", 5000),
        # The instance's private signing keys: a file beside the database, never in it, so a
        # database dump cannot sign and a restored backup cannot roll the keys back.
        "FEDERATION_KEY_PATH": env.get("FEDERATION_KEY_PATH")
        or str(Path(instance_path) / "federation-keys.json"),
        # How long peers can stay offline and still catch up from their cursor.
        "FEDERATION_TOMBSTONE_DAYS": _int(env, "FEDERATION_TOMBSTONE_DAYS", 180),
        # Development and tests only: let peers be plain http and on loopback or private
        # addresses. In production a peer URL must never reach the internal network.
        "FEDERATION_ALLOW_PRIVATE_PEERS": _flag(env, "FEDERATION_ALLOW_PRIVATE_PEERS"),
        # Seconds between the sync loop's rounds (jittered by a quarter either way).
        "FEDERATION_SYNC_INTERVAL": _int(env, "FEDERATION_SYNC_INTERVAL", 120),
        # The most we read from a peer in one response (after decompression), and the most
        # time one request may take, slow drip included.
        "FEDERATION_PEER_MAX_BYTES": _int(env, "FEDERATION_PEER_MAX_BYTES", 2 * 1024 * 1024),
        "FEDERATION_PEER_TIMEOUT": _int(env, "FEDERATION_PEER_TIMEOUT", 30),
    }


def load_settings(instance_path: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults < environment < explicit overrides (tests and embedding)."""
    settings = settings_from_env(os.environ, instance_path)
    settings.update(
        API_TITLE="Solidarity federation API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    if overrides:
        settings.update(overrides)
        if "FEDERATION_BASE_URL" in overrides:
            settings["FEDERATION_BASE_URL"] = str(overrides["FEDERATION_BASE_URL"]).rstrip("/")
    return settings
