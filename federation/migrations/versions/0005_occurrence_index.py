"""occurrence index

Every occurrence of every action, in day-long segments, so that a window query is one range
scan however old the series in it (federation/services/occurrences.py); and a partial index of
the series, so that those still going at a time are found without reading the history. The rows are written
by the application, which can expand rules: `flask db upgrade` indexes existing actions right
after this migration; until then `events.indexed_until` is NULL and such actions are expanded
at query time, as before.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_occurrences",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("segment_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_occurrences_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "starts_at", "segment_start", name=op.f("pk_event_occurrences")
        ),
    )
    op.create_index(
        "ix_event_occurrences_window",
        "event_occurrences",
        ["segment_start", "ends_at", "event_id", "starts_at"],
        unique=False,
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("indexed_from", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("indexed_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_events_indexed_from"), ["indexed_from"], unique=False)
        batch.create_index(batch.f("ix_events_indexed_until"), ["indexed_until"], unique=False)
        batch.create_index(
            "ix_events_series_live",
            ["series_ends_at"],
            unique=False,
            postgresql_where=sa.text("rrule IS NOT NULL"),
            sqlite_where=sa.text("rrule IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_series_live")
        batch.drop_index(batch.f("ix_events_indexed_until"))
        batch.drop_index(batch.f("ix_events_indexed_from"))
        batch.drop_column("indexed_until")
        batch.drop_column("indexed_from")
    op.drop_index("ix_event_occurrences_window", table_name="event_occurrences")
    op.drop_table("event_occurrences")
