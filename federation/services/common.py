"""Helpers every resource service shares: applying changes and burying deleted objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from federation.models import Published, Tombstone, utcnow
from federation.services.errors import Forbidden
from federation.services.outbox import publisher_of


def apply_changes(
    obj: Published, values: Mapping[str, Any], now: dt.datetime | None = None
) -> bool:
    """Set attributes that differ; record one new version if anything did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    if changed:
        obj.touch(now)
    return changed


def local_origin(session: Session) -> str:
    """This instance's origin: the `origin` of every object it publishes."""
    return publisher_of(session).origin


def is_local(session: Session, obj: Published) -> bool:
    return obj.origin == local_origin(session)


def require_local(session: Session, obj: Published) -> None:
    """Only an object's origin changes it: another origin's copy here is read-only."""
    if not is_local(session, obj):
        raise Forbidden(
            f"This belongs to {obj.origin} and reached this instance by federation; "
            "it can only be changed there."
        )


def bury(session: Session, obj: Published, type_: str, now: dt.datetime | None = None) -> Tombstone:
    """Delete `obj`, leaving a tombstone one version above it so the deletion wins everywhere."""
    tombstone = Tombstone(
        id=obj.id,
        type=type_,
        slug=getattr(obj, "slug", None),
        origin=obj.origin,
        version=obj.version + 1,
        deleted_at=now or utcnow(),
    )
    session.delete(obj)
    session.add(tombstone)
    return tombstone


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its wildcards taken literally (escape \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
