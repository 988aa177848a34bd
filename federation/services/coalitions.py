"""Coalitions: creating, editing, deleting (with everything they published) and listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from federation.models import Campaign, Coalition, Endorsement, Event, Tombstone
from federation.services.auth import Actor
from federation.services.campaigns import bury_campaign
from federation.services.common import apply_changes, bury, is_local, like_pattern, require_local
from federation.services.errors import Conflict, NotFound
from federation.services.pagination import Page, paginate, text_key


def create_coalition(
    session: Session, actor: Actor, data: Mapping[str, Any], *, origin: str
) -> Coalition:
    """Register a coalition on this instance (instance admins only)."""
    actor.require_instance_admin()
    if session.scalar(select(Coalition.id).where(Coalition.slug == data["slug"])) is not None:
        raise Conflict("A coalition with this slug exists.", {"slug": ["Already taken."]})
    coalition = Coalition(origin=origin, **data)
    session.add(coalition)
    session.flush()
    return coalition


def get_coalition(session: Session, slug: str) -> Coalition:
    coalition = session.scalar(select(Coalition).where(Coalition.slug == slug))
    if coalition is None:
        raise NotFound("No such coalition.")
    return coalition


def update_coalition(
    session: Session, actor: Actor, coalition: Coalition, changes: Mapping[str, Any]
) -> Coalition:
    actor.require_coalition(coalition.id)
    require_local(session, coalition)
    apply_changes(coalition, changes)
    session.flush()
    return coalition


def delete_coalition(session: Session, actor: Actor, coalition: Coalition) -> Tombstone:
    """Delete a coalition with its actions, campaigns and endorsements, leaving tombstones.

    Other coalitions' data that only pointed at it is kept: their endorsements lose the
    coalition link, their actions leave its campaigns. Each such change is a new version.
    """
    actor.require_instance_admin()
    require_local(session, coalition)
    campaign_ids = list(
        session.scalars(select(Campaign.id).where(Campaign.coalition_id == coalition.id))
    )
    for event in session.scalars(select(Event).where(Event.coalition_id == coalition.id)):
        bury(session, event, "Event")
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))):
        bury_campaign(session, campaign)
    for endorsement in session.scalars(
        select(Endorsement).where(Endorsement.coalition_id == coalition.id)
    ):
        if endorsement in session.deleted or not is_local(session, endorsement):
            continue
        apply_changes(endorsement, {"coalition_id": None})
    tombstone = bury(session, coalition, "Coalition")
    session.flush()
    return tombstone


def list_coalitions(
    session: Session, *, city: str | None, q: str | None, cursor: str | None, limit: int
) -> Page[Coalition]:
    """Coalitions in slug order."""
    query: Select[Coalition] = select(Coalition)
    if city:
        query = query.where(Coalition.city_slug == city)
    if q:
        pattern = like_pattern(q)
        query = query.where(
            or_(
                Coalition.name.ilike(pattern, escape="\\"),
                Coalition.city.ilike(pattern, escape="\\"),
            )
        )
    return paginate(session, query, [text_key(Coalition.slug)], cursor=cursor, limit=limit)
