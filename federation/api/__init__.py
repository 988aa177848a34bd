"""The REST API: flask-smorest blueprints under /api/v1, and the mapping of domain errors."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api, abort
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Conflict, HTTPException

from federation.services.errors import DomainError


class FederationApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with a `message` on every error and domain errors mapped."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        data = getattr(error, "data", None) or {}
        if "message" not in data:
            # Werkzeug's own errors (404 route, 405, 413, malformed JSON) carry a description.
            error.data = {**data, "message": error.description}  # type: ignore[attr-defined]
        return super().handle_http_exception(error)


def _as_http(error: DomainError) -> HTTPException:
    kwargs: dict[str, Any] = {"message": error.message}
    if error.errors:
        kwargs["errors"] = {error.location: error.errors}
    if error.status == 401:
        kwargs["headers"] = {"WWW-Authenticate": "Bearer"}
    try:
        abort(error.status, **kwargs)
    except HTTPException as exc:
        return exc
    raise AssertionError("abort() returned")  # pragma: no cover


def init_app(app: Flask) -> FederationApi:
    api = FederationApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "An API token."}
    )

    from federation.api import campaigns, coalitions, events, health

    for module in (coalitions, events, campaigns, health):
        api.register_blueprint(module.blp)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        return api.handle_http_exception(_as_http(error))

    @app.errorhandler(StaleDataError)
    def _stale(_error_: StaleDataError) -> Any:
        # Another writer changed the row between our read and our write.
        return api.handle_http_exception(
            Conflict("The resource changed while this request was applied; retry.")
        )

    @app.errorhandler(IntegrityError)
    def _integrity(_error_: IntegrityError) -> Any:
        # A uniqueness race the service's own check could not see (two creates at once).
        return api.handle_http_exception(Conflict("This conflicts with existing data."))

    return api
