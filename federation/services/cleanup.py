"""Bringing text stored by earlier versions under the text policy (federation/text.py).

Before the policy, the API and ingest let through control characters in single-line fields
(a slug "x\\n", a CR in a title), CR and CRLF in descriptions, and a NUL in a URL on SQLite.
Such rows break feeds and pages, and some can never be read or deleted through the API.

This runs through the ORM, not as a migration, because a cleaned local object must become a
new version: the flush re-renders its VEVENT (services/changes.py) and the commit signs its
new envelope for peers (services/outbox.py), and migrations see neither the renderer nor the
signing key. Another origin's copy is cleaned in place, keeping its version: its signed
envelope stays as received, and only its origin can issue a new one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from federation import text as text_policy
from federation.models import (
    ApiToken,
    Campaign,
    Coalition,
    Endorsement,
    Event,
    EventTag,
    Peer,
    Published,
)
from federation.services.common import apply_changes, is_local

Kind = Literal["single", "multi", "compact"]
# Per model, each text column and how it is cleaned: single-line, multi-line, or compact
# (single-line text in which a space would be as wrong as the break: slugs, URLs, codes).
_COLUMNS: dict[type[Any], dict[str, Kind]] = {
    Coalition: {
        "slug": "compact",
        "name": "single",
        "city": "single",
        "city_slug": "compact",
        "timezone": "compact",
        "description": "multi",
        "website": "compact",
    },
    Campaign: {"title": "single", "description": "multi", "call_to_action": "multi"},
    Endorsement: {"organization": "single"},
    Event: {
        "title": "single",
        "description": "multi",
        "location_name": "single",
        "location_address": "single",
        "online_url": "compact",
        "language": "compact",
        "rrule": "compact",
        "timezone": "compact",
    },
    ApiToken: {"label": "single"},
    Peer: {"name": "single"},
}
_NAMES = {model: model.__name__ for model in _COLUMNS}


def _refused(value: Any, kind: Kind) -> bool:
    return (
        isinstance(value, str) and text_policy.refusal(value, multiline=kind == "multi") is not None
    )


def _cleaned(value: str, kind: Kind) -> str:
    return text_policy.clean(value, multiline=kind == "multi", compact=kind == "compact")


def clean_stored_text(session: Session) -> Counter[str]:
    """Clean every stored text the policy refuses; how many objects changed, by type.

    Only values the policy refuses change (a title with a leading space stays as it is), so
    running it again changes nothing. Flushes; the caller commits.
    """
    changed: Counter[str] = Counter()
    tagged = _events_with_refused_tags(session)
    for model, columns in _COLUMNS.items():
        attributes: list[InstrumentedAttribute[Any]] = [getattr(model, c) for c in columns]
        query = select(model.id, *attributes)
        if model is Coalition:
            query = query.add_columns(Coalition.member_organizations)
        for row in session.execute(query):
            values = dict(zip(columns, row[1 : 1 + len(columns)], strict=True))
            fixes: dict[str, Any] = {
                name: _cleaned(value, kind)
                for (name, kind), value in zip(columns.items(), values.values(), strict=True)
                if _refused(value, kind)
            }
            if model is Coalition and _members_refused(row[-1]):
                fixes["member_organizations"] = _clean_members(row[-1])
            if not fixes and row[0] not in tagged:
                continue
            obj = session.get(model, row[0])
            assert obj is not None
            if isinstance(obj, Event) and obj.id in tagged:
                tags = [tag for t in obj.tags if (tag := _cleaned(t, "compact").lower())]
                fixes["tags"] = list(dict.fromkeys(tags))
            _apply(session, obj, _unique(session, obj, fixes))
            changed[_NAMES[model]] += 1
    session.flush()
    return changed


def _apply(session: Session, obj: Any, values: dict[str, Any]) -> None:
    if isinstance(obj, Published) and is_local(session, obj):
        apply_changes(obj, values)  # a new version, re-rendered and re-signed
    else:
        for name, value in values.items():
            setattr(obj, name, value)


def _members_refused(members: Any) -> bool:
    return isinstance(members, list) and any(
        _refused(member.get(name), kind)
        for member in members
        for name, kind in _MEMBER_COLUMNS
        if isinstance(member, dict)
    )


_MEMBER_COLUMNS: tuple[tuple[str, Kind], ...] = (("name", "single"), ("kind", "compact"))


def _clean_members(members: Sequence[Any]) -> list[Any]:
    return [
        {
            **member,
            **{
                name: _cleaned(member[name], kind)
                for name, kind in _MEMBER_COLUMNS
                if _refused(member.get(name), kind)
            },
        }
        if isinstance(member, dict)
        else member
        for member in members
    ]


def _events_with_refused_tags(session: Session) -> set[Any]:
    rows = session.execute(select(EventTag.event_id, EventTag.tag))
    return {event_id for event_id, tag in rows if _refused(tag, "compact")}


def _unique(session: Session, obj: Any, fixes: dict[str, Any]) -> dict[str, Any]:
    """The fixes, with a cleaned value that must be unique made so (and a slug made valid)."""
    if isinstance(obj, Coalition) and "slug" in fixes:
        base = re.sub(r"[^a-z0-9]+", "-", fixes["slug"].lower()).strip("-") or "coalition"
        fixes["slug"] = _first_free(
            _candidates(base, lambda b, n: f"{b[:60]}-{n}", short=2),
            lambda slug: session.scalar(
                select(Coalition.id).where(Coalition.slug == slug, Coalition.id != obj.id)
            ),
        )
    if isinstance(obj, Endorsement) and "organization" in fixes:
        fixes["organization"] = _first_free(
            _candidates(fixes["organization"], lambda b, n: f"{b[:190]} ({n})"),
            lambda name: session.scalar(
                select(Endorsement.id).where(
                    Endorsement.campaign_id == obj.campaign_id,
                    Endorsement.organization == name,
                    Endorsement.id != obj.id,
                )
            ),
        )
    return fixes


def _candidates(base: str, numbered: Callable[[str, int], str], *, short: int = 1) -> Iterable[str]:
    if len(base) >= short:
        yield base
    n = 2
    while True:
        yield numbered(base, n)
        n += 1


def _first_free(candidates: Iterable[str], taken: Callable[[str], Any]) -> str:
    for candidate in candidates:
        if taken(candidate) is None:
            return candidate
    raise AssertionError("unreachable: the candidates never end")  # pragma: no cover
