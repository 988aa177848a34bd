"""Liveness and database reachability for load balancers and monitoring."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from federation.api.parsing import Blueprint
from federation.db import get_session
from schemas.tokens import HealthSchema

blp = Blueprint("health", __name__, description="Health")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="The database is unreachable")
    def get(self) -> dict[str, str]:
        """Report whether the service and its database answer"""
        try:
            get_session().execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            abort(503, message=f"database unreachable: {type(exc).__name__}")
        return {"status": "ok"}
