"""Helpers every resource service shares: applying changes and burying deleted objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from federation.models import Published, Tombstone, utcnow


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
