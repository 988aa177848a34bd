"""feeds: stored VEVENT blocks, tombstone slugs, instance revision

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:12:27.688019
"""

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    instance_state = op.create_table(
        "instance_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_state")),
    )
    # The single row every write bumps; existing events get their VEVENT rendered lazily.
    op.bulk_insert(
        instance_state,
        [{"id": 1, "revision": 0, "changed_at": datetime.datetime.now(datetime.UTC)}],
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ical_block", sa.LargeBinary(), nullable=True))

    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_tombstones_slug"), ["slug"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tombstones_slug"))
        batch_op.drop_column("slug")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("ical_block")

    op.drop_table("instance_state")
