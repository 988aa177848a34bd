"""federation peers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:45:00.000000

The reading side: the peers this instance pulls from, the objects it quarantined, the public
keys of other origins, and which peer brought each relayed object.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("relay", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=True),
        sa.Column("snapshot_page", sa.String(length=200), nullable=True),
        sa.Column("snapshot_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
        sa.UniqueConstraint("url", name=op.f("uq_peers_url")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=300), nullable=True),
        sa.Column("object_type", sa.String(length=40), nullable=True),
        sa.Column("object_origin", sa.String(length=255), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('rejected', 'conflict', 'waiting')", name=op.f("ck_quarantine_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_quarantine_peer_id_peers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_object_id"), ["object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quarantine_peer_id"), ["peer_id"], unique=False)

    op.create_table(
        "remote_keys",
        sa.Column("id", sa.String(length=500), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_keys")),
    )
    with op.batch_alter_table("remote_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_keys_origin"), ["origin"], unique=False)

    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("peer_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_federation_objects_peer_id"), ["peer_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_federation_objects_peer_id_peers"),
            "peers",
            ["peer_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_federation_objects_peer_id_peers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_federation_objects_peer_id"))
        batch_op.drop_column("listed_at")
        batch_op.drop_column("peer_id")

    with op.batch_alter_table("remote_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_keys_origin"))
    op.drop_table("remote_keys")

    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_peer_id"))
        batch_op.drop_index(batch_op.f("ix_quarantine_object_id"))
    op.drop_table("quarantine")
    op.drop_table("peers")
