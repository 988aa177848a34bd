"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 03:16:56.781749
"""

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coalitions",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("city_slug", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("member_organizations", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coalitions")),
        sa.UniqueConstraint("slug", name=op.f("uq_coalitions_slug")),
    )
    with op.batch_alter_table("coalitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coalitions_city_slug"), ["city_slug"], unique=False)

    op.create_table(
        "instance_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_state")),
    )
    # The single row every write bumps (feed caches compare against it).
    op.execute(
        sa.text("INSERT INTO instance_state (id, revision, changed_at) VALUES (1, 0, :now)")
        .bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)))
        .bindparams(now=datetime.datetime.now(datetime.UTC))
    )
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
    )
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tombstones_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tombstones_slug"), ["slug"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("coalition_id", sa.Uuid(), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalitions.id"],
            name=op.f("fk_api_tokens_coalition_id_coalitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_tokens_coalition_id"), ["coalition_id"], unique=False
        )

    op.create_table(
        "campaigns",
        sa.Column("coalition_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("call_to_action", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ends_on >= starts_on", name=op.f("ck_campaigns_ends_on_after_starts_on")
        ),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalitions.id"],
            name=op.f("fk_campaigns_coalition_id_coalitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaigns_coalition_id"), ["coalition_id"], unique=False
        )
        batch_op.create_index("ix_campaigns_starts_on_id", ["starts_on", "id"], unique=False)

    op.create_table(
        "events",
        sa.Column("coalition_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=True),
        sa.Column("exdates", sa.JSON(), nullable=False),
        sa.Column("series_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location_name", sa.String(length=300), nullable=True),
        sa.Column("location_address", sa.String(length=500), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("online_url", sa.String(length=2000), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("ical_block", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('strike', 'walkout', 'picket', 'rally', 'march', 'vigil', 'noise_demo', 'boycott', 'teach_in', 'meeting', 'other')",
            name=op.f("ck_events_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('confirmed', 'tentative', 'cancelled')", name=op.f("ck_events_status_known")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_starts")),
        sa.CheckConstraint(
            "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name=op.f("ck_events_lat")
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)",
            name=op.f("ck_events_lon"),
        ),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalitions.id"],
            name=op.f("fk_events_coalition_id_coalitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_coalition_id"), ["coalition_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_events_series_ends_at"), ["series_ends_at"], unique=False
        )
        batch_op.create_index("ix_events_starts_at_id", ["starts_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_status"), ["status"], unique=False)

    op.create_table(
        "endorsements",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("coalition_id", sa.Uuid(), nullable=True),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN ('endorse', 'mobilize', 'strike', 'solidarity')",
            name=op.f("ck_endorsements_level_known"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_endorsements_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalitions.id"],
            name=op.f("fk_endorsements_coalition_id_coalitions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endorsements")),
    )
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endorsements_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_endorsements_coalition_id"), ["coalition_id"], unique=False
        )
        batch_op.create_index(
            "uq_endorsements_campaign_organization", ["campaign_id", "organization"], unique=True
        )

    op.create_table(
        "event_tags",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_tags_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "tag", name=op.f("pk_event_tags")),
    )
    with op.batch_alter_table("event_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_tags_tag"))

    op.drop_table("event_tags")
    with op.batch_alter_table("endorsements", schema=None) as batch_op:
        batch_op.drop_index("uq_endorsements_campaign_organization")
        batch_op.drop_index(batch_op.f("ix_endorsements_coalition_id"))
        batch_op.drop_index(batch_op.f("ix_endorsements_campaign_id"))

    op.drop_table("endorsements")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_status"))
        batch_op.drop_index("ix_events_starts_at_id")
        batch_op.drop_index(batch_op.f("ix_events_series_ends_at"))
        batch_op.drop_index(batch_op.f("ix_events_kind"))
        batch_op.drop_index(batch_op.f("ix_events_coalition_id"))
        batch_op.drop_index(batch_op.f("ix_events_campaign_id"))

    op.drop_table("events")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_starts_on_id")
        batch_op.drop_index(batch_op.f("ix_campaigns_coalition_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_coalition_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tombstones_slug"))
        batch_op.drop_index(batch_op.f("ix_tombstones_deleted_at"))

    op.drop_table("tombstones")
    op.drop_table("instance_state")
    with op.batch_alter_table("coalitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coalitions_city_slug"))

    op.drop_table("coalitions")
