"""federation log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:26:09.713437

The log starts empty: envelopes need the instance's signing key, which migrations never see.
`flask --app wsgi db upgrade` logs every existing local object right after migrating.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federation_objects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_objects")),
    )
    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_objects_changed_at"), ["changed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_federation_objects_origin"), ["origin"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_federation_objects_position"), ["position"], unique=True
        )

    # Server defaults only to fill the existing row; the application always sets both.
    with op.batch_alter_table("instance_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("epoch", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("horizon", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        sa.text("UPDATE instance_state SET epoch = :epoch").bindparams(epoch=secrets.token_hex(8))
    )
    with op.batch_alter_table("instance_state", schema=None) as batch_op:
        batch_op.alter_column("epoch", server_default=None)
        batch_op.alter_column("horizon", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("instance_state", schema=None) as batch_op:
        batch_op.drop_column("horizon")
        batch_op.drop_column("epoch")

    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_objects_position"))
        batch_op.drop_index(batch_op.f("ix_federation_objects_origin"))
        batch_op.drop_index(batch_op.f("ix_federation_objects_changed_at"))

    op.drop_table("federation_objects")
