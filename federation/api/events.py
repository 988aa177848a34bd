"""Actions: listing across coalitions, reading, editing, cancelling and deleting."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from federation.api.auth import authenticated
from federation.api.parsing import Blueprint
from federation.db import get_session
from federation.models import Event
from federation.services import events as service
from federation.services.auth import Actor
from federation.services.pagination import Page
from schemas.events import EventPageSchema, EventPatchSchema, EventQueryArgsSchema, EventSchema

blp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="Actions (events)")


@blp.route("")
class EventCollection(MethodView):
    @blp.arguments(EventQueryArgsSchema, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args: dict[str, Any]) -> Page[Event]:
        """List actions, in order of start

        Recurring actions are included when one of their occurrences overlaps from/to.
        """
        cursor, limit = args.pop("cursor", None), args.pop("limit")
        return service.list_events(
            get_session(), service.EventFilters(**args), cursor=cursor, limit=limit
        )


@blp.route("/<uuid:event_id>")
class EventItem(MethodView):
    @blp.response(200, EventSchema)
    def get(self, event_id: uuid.UUID) -> Event:
        """Get an action"""
        return service.get_event(get_session(), event_id)

    @authenticated(blp)
    @blp.arguments(EventPatchSchema)
    @blp.response(200, EventSchema)
    def patch(self, changes: dict[str, Any], event_id: uuid.UUID, actor: Actor) -> Event:
        """Edit an action; set status to cancelled to cancel it"""
        session = get_session()
        event = service.update_event(session, actor, service.get_event(session, event_id), changes)
        session.commit()
        return event

    @authenticated(blp)
    @blp.response(204)
    def delete(self, event_id: uuid.UUID, actor: Actor) -> None:
        """Delete an action (a tombstone is kept)"""
        session = get_session()
        service.delete_event(session, actor, service.get_event(session, event_id))
        session.commit()
