"""Domain errors; the API maps each to one HTTP status (see federation.api.errors)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400

    def __init__(
        self, message: str, errors: dict[str, Any] | None = None, *, location: str = "json"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        # Where the offending fields were: "json" (body) or "query", as webargs reports it.
        self.location = location


class InvalidInput(DomainError):
    """Input that is well-formed but breaks a rule; `errors` maps field names to messages."""

    status = 422


class NotAuthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    status = 410
