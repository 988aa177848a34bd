"""Campaigns (days of action) and the endorsements organizations give them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from federation.models import Campaign, Coalition, Endorsement, Event, Tombstone
from federation.services.auth import Actor
from federation.services.common import (
    apply_changes,
    bury,
    is_local,
    like_pattern,
    local_origin,
    require_local,
)
from federation.services.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from federation.services.pagination import (
    Page,
    date_key,
    datetime_key,
    paginate,
    uuid_key,
)


def _coalition_by_slug(session: Session, slug: str, field: str) -> Coalition:
    coalition = session.scalar(select(Coalition).where(Coalition.slug == slug))
    if coalition is None:
        raise InvalidInput("Unknown coalition.", {field: ["No such coalition."]})
    return coalition


def _check_dates(starts_on: dt.date, ends_on: dt.date) -> None:
    if ends_on < starts_on:
        raise InvalidInput(
            "The campaign ends before it starts.", {"ends_on": ["Before starts_on."]}
        )


def create_campaign(
    session: Session, actor: Actor, data: Mapping[str, Any], *, origin: str
) -> Campaign:
    """Start a call for a day of action on behalf of the coalition named in `data`."""
    values = dict(data)
    coalition = _coalition_by_slug(session, values.pop("coalition_slug"), "coalition")
    actor.require_coalition(coalition.id)
    require_local(session, coalition)
    _check_dates(values["starts_on"], values["ends_on"])
    campaign = Campaign(coalition=coalition, origin=origin, **values)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: uuid.UUID) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        if session.get(Tombstone, campaign_id) is not None:
            raise Gone("This campaign was deleted.")
        raise NotFound("No such campaign.")
    return campaign


def update_campaign(
    session: Session, actor: Actor, campaign: Campaign, changes: Mapping[str, Any]
) -> Campaign:
    actor.require_coalition(campaign.coalition_id)
    require_local(session, campaign)
    _check_dates(
        changes.get("starts_on", campaign.starts_on), changes.get("ends_on", campaign.ends_on)
    )
    apply_changes(campaign, changes)
    session.flush()
    return campaign


def bury_campaign(session: Session, campaign: Campaign) -> Tombstone:
    """Delete a campaign with its endorsements; local actions that joined it leave it."""
    # Other origins' endorsements and actions are theirs to change: their copies here go
    # with the campaign (endorsements) or keep pointing at it (actions), as on their origin.
    for endorsement in campaign.endorsements:
        if is_local(session, endorsement):
            bury(session, endorsement, "Endorsement")
        else:
            session.delete(endorsement)
    for event in session.scalars(select(Event).where(Event.campaign_id == campaign.id)):
        if event not in session.deleted and is_local(session, event):
            apply_changes(event, {"campaign_id": None})
    return bury(session, campaign, "Campaign")


def bury_endorsements_of(
    session: Session,
    *,
    campaigns: Collection[uuid.UUID] = (),
    coalitions: Collection[uuid.UUID] = (),
) -> None:
    """Bury this instance's endorsements of other origins' campaigns that are about to go
    (the campaigns, or the coalitions holding them): deleted at their origin, or no longer
    held here. The database would remove the endorsements with them, silently; buried, they
    leave tombstones, so the instances holding our endorsements hear of it."""
    ours = select(Endorsement).join(Endorsement.campaign)
    ours = ours.where(Endorsement.origin == local_origin(session))
    # In chunks: SQLite caps the number of bound parameters of one statement.
    for column, ids in ((Campaign.id, list(campaigns)), (Campaign.coalition_id, list(coalitions))):
        for start in range(0, len(ids), 500):
            query = ours.where(column.in_(ids[start : start + 500]))
            for endorsement in session.scalars(query).all():
                bury(session, endorsement, "Endorsement")


def delete_campaign(session: Session, actor: Actor, campaign: Campaign) -> Tombstone:
    actor.require_coalition(campaign.coalition_id)
    require_local(session, campaign)
    tombstone = bury_campaign(session, campaign)
    session.flush()
    return tombstone


def list_campaigns(
    session: Session,
    *,
    coalition: str | None,
    city: str | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Campaign]:
    """Campaigns in (start date, id) order."""
    query: Select[Campaign] = select(Campaign).join(Campaign.coalition)
    if coalition:
        query = query.where(Coalition.slug == coalition)
    if city:
        query = query.where(Coalition.city_slug == city)
    if q:
        pattern = like_pattern(q)
        query = query.where(
            or_(
                Campaign.title.ilike(pattern, escape="\\"),
                Campaign.description.ilike(pattern, escape="\\"),
            )
        )
    keys = [date_key(Campaign.starts_on), uuid_key(Campaign.id)]
    return paginate(session, query, keys, cursor=cursor, limit=limit)


def _may_record(actor: Actor, campaign: Campaign, coalition_id: uuid.UUID | None) -> bool:
    """Whether `actor` may record an endorsement naming `coalition_id` (None: no coalition).

    An endorsement in a coalition's name speaks for that coalition: only its admins (and
    instance admins) may record it, the campaign's organizers included. One naming no
    coalition (a union, a community group) is recorded by the organizers, who keep the list.
    """
    if coalition_id is not None:
        return actor.may_manage(coalition_id)
    return actor.may_manage(campaign.coalition_id)


def _may_withdraw(actor: Actor, campaign: Campaign, coalition_id: uuid.UUID | None) -> bool:
    # The organizers may take any endorsement off their campaign's list; a coalition may
    # withdraw its own endorsement of another coalition's call.
    return actor.may_manage(campaign.coalition_id) or (
        coalition_id is not None and actor.may_manage(coalition_id)
    )


def add_endorsement(
    session: Session, actor: Actor, campaign: Campaign, data: Mapping[str, Any], *, origin: str
) -> Endorsement:
    """Record that an organization endorses the campaign at a level.

    Another origin's campaign (a day of action called elsewhere) may be endorsed here by one
    of this instance's coalitions, on its own behalf: the endorsement is ours, and reaches the
    campaign's origin if it pulls from us. Its list of endorsers is otherwise kept there.
    """
    coalition = None
    if data.get("coalition_slug"):
        coalition = _coalition_by_slug(session, data["coalition_slug"], "coalition")
        if not is_local(session, coalition):
            # Only its origin speaks for it: peers refuse an endorsement of ours in its name.
            raise Forbidden(
                f"This coalition belongs to {coalition.origin}; only that instance may record "
                "endorsements in its name.",
                {"coalition": ["Another instance's coalition."]},
            )
    if not _may_record(actor, campaign, coalition.id if coalition else None):
        if coalition is not None:
            raise Forbidden(
                "This token may record an endorsement only in its own coalition's name.",
                {"coalition": ["Not this token's coalition."]},
            )
        raise Forbidden("This token may not record endorsements for this campaign.")
    if not is_local(session, campaign) and coalition is None:
        raise Forbidden(
            f"This campaign belongs to {campaign.origin}. Endorse it here on behalf of one of "
            "this instance's coalitions (coalition), or on its origin."
        )
    duplicate = select(Endorsement.id).where(
        Endorsement.campaign_id == campaign.id,
        Endorsement.organization == data["organization"],
    )
    if session.scalar(duplicate) is not None:
        raise Conflict(
            "This organization already endorses the campaign.",
            {"organization": ["Already endorses this campaign."]},
        )
    endorsement = Endorsement(
        campaign=campaign,
        organization=data["organization"],
        coalition=coalition,
        level=data["level"],
        origin=origin,
    )
    session.add(endorsement)
    session.flush()
    return endorsement


def list_endorsements(
    session: Session, campaign: Campaign, *, cursor: str | None, limit: int
) -> Page[Endorsement]:
    query = select(Endorsement).where(Endorsement.campaign_id == campaign.id)
    keys = [datetime_key(Endorsement.created_at), uuid_key(Endorsement.id)]
    return paginate(session, query, keys, cursor=cursor, limit=limit)


def withdraw_endorsement(
    session: Session, actor: Actor, campaign: Campaign, endorsement_id: uuid.UUID
) -> Tombstone:
    endorsement = session.get(Endorsement, endorsement_id)
    if endorsement is None or endorsement.campaign_id != campaign.id:
        raise NotFound("No such endorsement of this campaign.")
    if not _may_withdraw(actor, campaign, endorsement.coalition_id):
        raise Forbidden("This token may not withdraw this endorsement.")
    require_local(session, endorsement)
    tombstone = bury(session, endorsement, "Endorsement")
    session.flush()
    return tombstone
