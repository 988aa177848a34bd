"""Cities and their subscribe links."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from federation.api.parsing import Blueprint
from federation.db import get_session
from federation.services import cities as service
from schemas.cities import CityListSchema, CitySchema

blp = Blueprint("cities", __name__, url_prefix="/api/v1/cities", description="Cities")


@blp.route("")
class CityCollection(MethodView):
    @blp.response(200, CityListSchema)
    def get(self) -> dict[str, Any]:
        """List cities with coalitions here, with their feed links"""
        return {"items": service.list_cities(get_session()), "next_cursor": None}


@blp.route("/<slug:slug>")
class CityItem(MethodView):
    @blp.response(200, CitySchema)
    def get(self, slug: str) -> service.City:
        """Get a city: its coalitions and feed links"""
        return service.get_city(get_session(), slug)
