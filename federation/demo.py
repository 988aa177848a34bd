"""A small demo dataset: three cities joining one day of action, and a nightly noise demo."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.models import Coalition
from federation.services.auth import Actor
from federation.services.campaigns import add_endorsement, create_campaign
from federation.services.coalitions import create_coalition
from federation.services.events import publish_event

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def _at(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone)


def day_of_action_year(today: dt.date) -> int:
    """The year of the next January 23 whose run-up (from January 10) is still ahead."""
    return today.year if today < dt.date(today.year, 1, 10) else today.year + 1


def load_demo_data(session: Session, *, origin: str, today: dt.date | None = None) -> bool:
    """Create the demo records unless any coalition exists; return whether it did.

    Dates follow the calendar, so the demo's day of action is always upcoming.
    """
    if session.scalar(select(Coalition.id).limit(1)) is not None:
        return False
    year = day_of_action_year(today or dt.date.today())
    admin = Actor(token_id=uuid.uuid4(), coalition_id=None)
    cities = {}
    for slug, name, city, zone_name, members in (
        (
            "minneapolis",
            "Twin Cities Solidarity Coalition",
            "Minneapolis",
            "America/Chicago",
            [("SEIU Local 26", "union"), ("CTUL", "community"), ("ISAIAH", "faith")],
        ),
        (
            "new-york",
            "New York Solidarity Coalition",
            "New York",
            "America/New_York",
            [("NYSNA", "union"), ("Make the Road New York", "immigrant_rights")],
        ),
        (
            "los-angeles",
            "Los Angeles Solidarity Coalition",
            "Los Angeles",
            "America/Los_Angeles",
            [("UNITE HERE Local 11", "union"), ("CHIRLA", "immigrant_rights")],
        ),
    ):
        cities[slug] = create_coalition(
            session,
            admin,
            {
                "slug": slug,
                "name": name,
                "city": city,
                "city_slug": slug,
                "timezone": zone_name,
                "description": f"Unions, faith and community groups of {city} acting together.",
                "member_organizations": [{"name": n, "kind": k} for n, k in members],
            },
            origin=origin,
        )
    campaign = create_campaign(
        session,
        admin,
        {
            "coalition_slug": "minneapolis",
            "title": "January 23 Day of Action: No work, no school, no shopping",
            "description": "A day of truth and freedom called by Minnesota's unions and "
            "community groups, joined by parallel actions across the country.",
            "call_to_action": "Stay home from work and school, shop nowhere, join the march.",
            "starts_on": dt.date(year, 1, 23),
            "ends_on": dt.date(year, 1, 23),
        },
        origin=origin,
    )
    for organization, coalition, level in (
        ("SEIU Local 26", "minneapolis", "strike"),
        ("Minnesota Nurses Association", "minneapolis", "solidarity"),
        ("NYSNA", "new-york", "mobilize"),
        ("UNITE HERE Local 11", "los-angeles", "endorse"),
    ):
        add_endorsement(
            session,
            admin,
            campaign,
            {"organization": organization, "coalition_slug": coalition, "level": level},
            origin=origin,
        )
    # The three marches step off at the same instant: noon in Minneapolis.
    for slug, zone, hour, title, place, address, lat, lon in (
        (
            "minneapolis",
            CHICAGO,
            12,
            "March on the Capitol",
            "Minnesota State Capitol",
            "75 Rev Dr Martin Luther King Jr Blvd, St Paul, MN",
            44.9553,
            -93.1022,
        ),
        (
            "new-york",
            NEW_YORK,
            13,
            "Solidarity rally at Foley Square",
            "Foley Square",
            "Foley Square, New York, NY",
            40.7142,
            -74.0031,
        ),
        (
            "los-angeles",
            LOS_ANGELES,
            10,
            "March from MacArthur Park",
            "MacArthur Park",
            "2230 W 6th St, Los Angeles, CA",
            34.0577,
            -118.2771,
        ),
    ):
        publish_event(
            session,
            admin,
            cities[slug],
            {
                "title": title,
                "description": "Part of the January 23 day of action. Bring signs, water, "
                "and a friend. Marshals will wear orange vests.",
                "starts_at": _at(zone, year, 1, 23, hour),
                "ends_at": _at(zone, year, 1, 23, hour + 3),
                "kind": "march" if slug != "new-york" else "rally",
                "tags": ["day-of-action", "general-strike"],
                "location": {"name": place, "address": address, "latitude": lat, "longitude": lon},
                "campaign_id": campaign.id,
                "language": "en",
            },
            origin=origin,
        )
    publish_event(
        session,
        admin,
        cities["minneapolis"],
        {
            "title": "Nightly noise demonstration",
            "description": "Pots, pans and whistles at 7 pm every night until the 30th.",
            "starts_at": _at(CHICAGO, year, 1, 10, 19),
            "ends_at": _at(CHICAGO, year, 1, 10, 19, 30),
            # Through January 30 local: UNTIL is 19:00 Chicago time that night, in UTC.
            "rrule": f"FREQ=DAILY;UNTIL={year}0131T010000Z",
            "kind": "noise_demo",
            "tags": ["noise"],
            "location": {"name": "Lake Street and Chicago Avenue"},
        },
        origin=origin,
    )
    publish_event(
        session,
        admin,
        cities["new-york"],
        {
            "title": "Economic blackout: buy nothing",
            "starts_at": _at(NEW_YORK, year, 1, 23),
            "ends_at": _at(NEW_YORK, year, 1, 24),
            "all_day": True,
            "kind": "boycott",
            "campaign_id": campaign.id,
            "language": "es",
            "description": "Ni trabajo, ni escuela, ni compras.",
        },
        origin=origin,
    )
    session.flush()
    return True
