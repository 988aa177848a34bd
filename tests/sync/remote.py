"""Another origin, simulated: its key, its discovery document, and envelopes it signs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from conftest import campaign_payload, coalition_payload, event_payload
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.envelope import key_id, object_url, public_key_multibase, sign, timestamp

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class RemoteOrigin:
    origin: str
    name: str = "Remote instance"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_name: str = "key-1"
    status: str = "active"

    @property
    def key_id(self) -> str:
        return key_id(self.origin, self.key_name)

    def discovery(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "name": self.name,
            "protocol_versions": ["1"],
            "public_keys": [
                {
                    "id": self.key_id,
                    "type": "Multikey",
                    "controller": self.origin,
                    "algorithm": "Ed25519",
                    "publicKeyMultibase": public_key_multibase(self.key.public_key()),
                    "status": self.status,
                }
            ],
        }

    def envelope(
        self,
        type_name: str,
        object_id: uuid.UUID,
        data: dict[str, Any],
        *,
        version: int = 1,
        published: dt.datetime = T0,
        updated: dt.datetime | None = None,
        origin: str | None = None,
        signer: RemoteOrigin | None = None,
    ) -> dict[str, Any]:
        """A signed envelope; `origin`/`signer` let a test claim another origin or sign with
        another origin's key (forgeries)."""
        claimed = origin or self.origin
        signer = signer or self
        body = {
            "id": object_url(claimed, object_id),
            "type": type_name,
            "origin": claimed,
            "version": version,
            "published": timestamp(published),
            "updated": timestamp(updated or T0 + dt.timedelta(minutes=version)),
            "data": data,
        }
        return sign(body, signer.key, signer.key_id, created=T0)

    def coalition(self, object_id: uuid.UUID, version: int = 1, **data: Any) -> dict[str, Any]:
        return self.envelope("Coalition", object_id, coalition_data(**data), version=version)

    def campaign(
        self, object_id: uuid.UUID, coalition_id: uuid.UUID, version: int = 1, **data: Any
    ) -> dict[str, Any]:
        values = campaign_data(coalition_id, **data)
        return self.envelope("Campaign", object_id, values, version=version)

    def event(
        self, object_id: uuid.UUID, coalition_id: uuid.UUID, version: int = 1, **data: Any
    ) -> dict[str, Any]:
        return self.envelope("Event", object_id, event_data(coalition_id, **data), version=version)

    def endorsement(
        self, object_id: uuid.UUID, campaign_id: uuid.UUID, version: int = 1, **data: Any
    ) -> dict[str, Any]:
        values = {
            "organization": "Minnesota Nurses Association",
            "level": "solidarity",
            "campaign_id": str(campaign_id),
            "coalition_id": None,
            **data,
        }
        return self.envelope("Endorsement", object_id, values, version=version)

    def tombstone(self, object_id: uuid.UUID, former_type: str, version: int) -> dict[str, Any]:
        return self.envelope("Tombstone", object_id, {"former_type": former_type}, version=version)


def coalition_data(**overrides: Any) -> dict[str, Any]:
    """A coalition's data as its origin signs it (the API's fields, minus what is local)."""
    return coalition_payload(**{"slug": "twin-cities", **overrides})


def campaign_data(coalition_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    data = campaign_payload(coalition_id=str(coalition_id), **overrides)
    del data["coalition"]  # references travel as global ids, not local slugs
    return data


def event_data(coalition_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    data = event_payload(
        timezone="America/Chicago",
        all_day=False,
        rrule=None,
        exdates=[],
        online_url=None,
        status="confirmed",
        language="en",
        campaign_id=None,
        coalition_id=str(coalition_id),
    )
    # No floats in signed data: coordinates travel as strings.
    data["location"] = {**data["location"], "latitude": "44.9553", "longitude": "-93.1022"}
    data.update(overrides)
    return data
