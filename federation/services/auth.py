"""Bearer tokens and what their holder may do."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.models import ApiToken, Coalition, utcnow
from federation.services.common import require_local
from federation.services.errors import Forbidden, NotAuthenticated, NotFound

TOKEN_PREFIX = "sfed_"


@dataclass(frozen=True)
class Actor:
    """Who is acting: an instance admin (coalition_id None) or one coalition's admin."""

    token_id: uuid.UUID
    coalition_id: uuid.UUID | None

    @property
    def is_instance_admin(self) -> bool:
        return self.coalition_id is None

    def may_manage(self, coalition_id: uuid.UUID | None) -> bool:
        return self.is_instance_admin or (
            coalition_id is not None and coalition_id == self.coalition_id
        )

    def require_instance_admin(self) -> None:
        if not self.is_instance_admin:
            raise Forbidden("this needs an instance-admin token")

    def require_coalition(self, coalition_id: uuid.UUID | None) -> None:
        if not self.may_manage(coalition_id):
            raise Forbidden("this token may not act for that coalition")


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash cannot be brute-forced; what it
    # buys is that a copy of the database does not hand out working tokens.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class MintedToken:
    """A new token: its stored record plus the clear text, which exists only here."""

    record: ApiToken
    token: str

    def __getattr__(self, name: str) -> object:
        return getattr(self.record, name)


def mint_token(
    session: Session, *, coalition: Coalition | None = None, label: str = ""
) -> MintedToken:
    """Create a token; the clear text exists only in the return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_hash=hash_token(token), coalition=coalition, label=label)
    session.add(record)
    session.flush()
    return MintedToken(record=record, token=token)


def mint_coalition_token(
    session: Session, actor: Actor, coalition: Coalition, *, label: str = ""
) -> MintedToken:
    """A coalition-admin token, minted by an admin of the coalition or of the instance. Not
    for another origin's coalition: it is read-only here, so the token would be useless."""
    actor.require_coalition(coalition.id)
    require_local(session, coalition)
    return mint_token(session, coalition=coalition, label=label)


def authenticate(session: Session, token: str | None) -> Actor:
    """Resolve a bearer token to an Actor, or raise NotAuthenticated."""
    if not token:
        raise NotAuthenticated("a bearer token is required")
    digest = hash_token(token)
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by digest (an index hit, not a scan); comparing digests in constant time
    # as well keeps the check free of early-exit timing whatever the database does.
    if (
        record is None
        or record.revoked_at is not None
        or not hmac.compare_digest(record.token_hash, digest)
    ):
        raise NotAuthenticated("the token is unknown or revoked")
    return Actor(token_id=record.id, coalition_id=record.coalition_id)


def list_tokens(session: Session, actor: Actor, coalition: Coalition) -> list[ApiToken]:
    actor.require_coalition(coalition.id)
    query = (
        select(ApiToken)
        .where(ApiToken.coalition_id == coalition.id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return list(session.scalars(query))


def revoke_token(
    session: Session,
    actor: Actor,
    token_id: uuid.UUID,
    *,
    coalition: Coalition | None = None,
    now: dt.datetime | None = None,
) -> ApiToken:
    """Revoke a token by id; a coalition admin may revoke only their coalition's tokens."""
    record = session.get(ApiToken, token_id)
    if record is None or (coalition is not None and record.coalition_id != coalition.id):
        raise NotFound("no such token")
    actor.require_coalition(record.coalition_id)
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
    session.flush()
    return record
