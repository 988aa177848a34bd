"""Cities are not stored: a city is the set of coalitions sharing a city slug."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.models import Coalition
from federation.services.errors import NotFound


@dataclass(frozen=True)
class City:
    slug: str
    name: str
    coalitions: list[str]

    @property
    def feed_path(self) -> str:
        return f"/feeds/cities/{self.slug}.ics"


def list_cities(session: Session, *, slug: str | None = None) -> list[City]:
    """Every city with at least one coalition, by slug; its name is its first coalition's."""
    query = select(Coalition.city_slug, Coalition.city, Coalition.slug).order_by(
        Coalition.city_slug, Coalition.slug
    )
    if slug is not None:
        query = query.where(Coalition.city_slug == slug)
    cities: dict[str, City] = {}
    for city_slug, name, coalition in session.execute(query):
        cities.setdefault(city_slug, City(city_slug, name, [])).coalitions.append(coalition)
    return list(cities.values())


def get_city(session: Session, slug: str) -> City:
    cities = list_cities(session, slug=slug)
    if not cities:
        raise NotFound("No coalition in this city.")
    return cities[0]
