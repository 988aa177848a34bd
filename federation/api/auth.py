"""Who is calling: the bearer token of the request, resolved once per write."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_smorest.error_handler import ErrorSchema

from federation.api.parsing import Blueprint
from federation.db import get_session
from federation.services.auth import Actor, authenticate

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def current_actor() -> Actor:
    return authenticate(get_session(), bearer_token())


def authenticated(blp: Blueprint) -> Callable[[F], F]:
    """Require a token before anything else is parsed; pass the caller as `actor`.

    Put it above @blp.arguments so a request without a valid token gets 401, not a
    validation report on a body it had no right to send.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, actor=current_actor(), **kwargs)

        wrapper = blp.doc(security=[{"bearerAuth": []}])(wrapper)
        wrapper = blp.alt_response(
            401, schema=ErrorSchema, description="Missing, unknown or revoked token"
        )(wrapper)
        wrapper = blp.alt_response(
            403, schema=ErrorSchema, description="The token may not do this"
        )(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorator
