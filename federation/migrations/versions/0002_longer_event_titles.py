"""event titles up to 500 characters

A call to action written in Spanish, Somali or Hmong with its translation easily passes 300
characters; 500 is what the calendar feeds are tested with.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot ALTER a column's type in place.
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "title", existing_type=sa.String(length=300), type_=sa.String(length=500)
        )


def downgrade() -> None:
    # Titles longer than 300 characters are cut, not lost with the row.
    op.execute(sa.text("UPDATE events SET title = substr(title, 1, 300)"))
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "title", existing_type=sa.String(length=500), type_=sa.String(length=300)
        )
