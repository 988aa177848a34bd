"""removed peers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000

A peer removed without purge is kept, marked `removed_at`, while objects it brought are here,
so that they can still be purged. Two fixes to existing rows:

- Peer URLs lose their scheme's default port (`https://x:443` is `https://x`); two rows that
  were one peer become one (the objects of the other move to it).
- Objects brought by a peer deleted before this release (its `peer_id` was set to NULL; only
  objects a peer brought have a `listed_at`) get a removed peer named by their origin, or the
  peer of that origin if there is one, so that they can be purged like any peer's.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this migration knows them (migrations do not import the application's models).
peers = sa.table(
    "peers",
    sa.column("id", sa.Uuid()),
    sa.column("url", sa.String()),
    sa.column("relay", sa.Boolean()),
    sa.column("enabled", sa.Boolean()),
    sa.column("failures", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("removed_at", sa.DateTime(timezone=True)),
)
objects = sa.table(
    "federation_objects",
    sa.column("origin", sa.String()),
    sa.column("peer_id", sa.Uuid()),
    sa.column("listed_at", sa.DateTime(timezone=True)),
)
quarantine = sa.table("quarantine", sa.column("peer_id", sa.Uuid()))
DEFAULT_PORTS = {"http": 80, "https": 443}


def _without_default_port(origin: str) -> str:
    parts = urlsplit(origin)
    try:
        port = parts.port
    except ValueError:
        return origin
    if port is not None and port == DEFAULT_PORTS.get(parts.scheme):
        return origin.rsplit(":", 1)[0]
    return origin


def upgrade() -> None:
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))

    connection = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # the application stores naive UTC there

    by_url = {
        url: peer_id for peer_id, url in connection.execute(sa.select(peers.c.id, peers.c.url))
    }
    for url, peer_id in list(by_url.items()):
        normalized = _without_default_port(url)
        if normalized == url:
            continue
        kept = by_url.get(normalized)
        if kept is None:
            connection.execute(peers.update().where(peers.c.id == peer_id).values(url=normalized))
            by_url[normalized] = peer_id
        else:
            connection.execute(
                objects.update().where(objects.c.peer_id == peer_id).values(peer_id=kept)
            )
            connection.execute(quarantine.delete().where(quarantine.c.peer_id == peer_id))
            connection.execute(peers.delete().where(peers.c.id == peer_id))
        del by_url[url]

    orphaned = sa.and_(objects.c.peer_id.is_(None), objects.c.listed_at.is_not(None))
    origins = connection.execute(sa.select(objects.c.origin).where(orphaned).distinct())
    for (origin,) in list(origins):
        url = _without_default_port(origin)
        peer_id = by_url.get(url)
        if peer_id is None:
            peer_id = uuid.uuid4()
            connection.execute(
                peers.insert().values(
                    id=peer_id,
                    url=url,
                    relay=False,
                    enabled=False,
                    failures=0,
                    created_at=now,
                    updated_at=now,
                    removed_at=now,
                )
            )
            by_url[url] = peer_id
        connection.execute(
            objects.update().where(orphaned, objects.c.origin == origin).values(peer_id=peer_id)
        )


def downgrade() -> None:
    connection = op.get_bind()
    removed = sa.select(peers.c.id).where(peers.c.removed_at.is_not(None))
    connection.execute(objects.update().where(objects.c.peer_id.in_(removed)).values(peer_id=None))
    connection.execute(quarantine.delete().where(quarantine.c.peer_id.in_(removed)))
    connection.execute(peers.delete().where(peers.c.removed_at.is_not(None)))
    # Not batch mode: on SQLite it would copy and drop the peers table, and dropping it deletes
    # the quarantine and unlinks every object from its peer (foreign keys are on). SQLite has
    # dropped columns itself since 3.35.
    op.drop_column("peers", "removed_at")
