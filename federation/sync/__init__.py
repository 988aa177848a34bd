"""The reading side of federation: fetching from peers, ingesting their objects, the sync worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.sync.fetch import Limits
from federation.sync.worker import SyncSettings


def settings_from_config(config: Mapping[str, Any]) -> SyncSettings:
    """The worker's settings from the app's configuration."""
    return SyncSettings(
        own_origin=str(config["FEDERATION_BASE_URL"]),
        limits=Limits(
            allow_private=bool(config["FEDERATION_ALLOW_PRIVATE_PEERS"]),
            max_bytes=int(config["FEDERATION_PEER_MAX_BYTES"]),
            total_timeout=float(config["FEDERATION_PEER_TIMEOUT"]),
            # A connection or a silence never gets longer than the whole request.
            connect_timeout=min(5.0, float(config["FEDERATION_PEER_TIMEOUT"])),
            read_timeout=min(15.0, float(config["FEDERATION_PEER_TIMEOUT"])),
        ),
    )
