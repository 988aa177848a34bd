"""The REST API: flask-smorest blueprints under /api/v1, and the mapping of domain errors."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_smorest import Api, abort
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Conflict, HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from federation.services.errors import DomainError
from schemas.common import SLUG_PATTERN
from schemas.links import PUBLIC_BASE_URL


class FederationApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with a `message` on every error and domain errors mapped."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        data = getattr(error, "data", None) or {}
        if "message" not in data:
            # Werkzeug's own errors (404 route, 405, 413, malformed JSON) carry a description.
            data = {**data, "message": error.description}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110 requires Allow on a 405; flask-smorest only copies headers from `data`.
            data = {**data, "headers": {"Allow": ", ".join(error.valid_methods)}}
        error.data = data  # type: ignore[attr-defined]
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


class SlugConverter(BaseConverter):
    """A coalition or city slug in a URL; anything else is simply not found."""

    regex = SLUG_PATTERN


def init_app(app: Flask) -> FederationApi:
    app.url_map.converters["slug"] = SlugConverter
    api = FederationApi(app)
    api.register_converter(
        SlugConverter, lambda _c: {"type": "string", "pattern": f"^{SLUG_PATTERN}$"}
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "An API token."}
    )

    from federation.api import campaigns, cities, coalitions, events, health, peers

    for module in (coalitions, events, campaigns, cities, peers, health):
        api.register_blueprint(module.blp)

    @app.before_request
    def _refuse_oversized_body() -> None:
        # Refuse a declared-oversized body before authentication or parsing look at it, so the
        # client learns the real problem (413) even without a token.
        limit = request.max_content_length
        if limit is None:
            return
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        if (
            request.content_length is None
            and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        ):
            # A chunked body declares no length. Werkzeug stops reading it at the limit and
            # hands back the first `limit` bytes as if that were all, which then fail to parse
            # (a 400 that hides the real problem): read it now, and look one byte past it.
            body = request.get_data(cache=True)
            if len(body) >= limit and request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()

    @app.before_request
    def _public_base_url() -> None:
        # Subscribe links in responses are built from the configured public origin.
        PUBLIC_BASE_URL.set(app.config["FEDERATION_BASE_URL"])

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
