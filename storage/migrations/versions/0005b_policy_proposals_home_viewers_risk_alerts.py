"""policy_proposals (loosening policy changes waiting for a second admin), home_viewers, risk_alerts

Revision ID: 0005b
Revises: 0004a
"""

import sqlalchemy as sa
from alembic import op

revision = "0005b"
down_revision = "0004a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_policy", sa.Text(), nullable=False),
        sa.Column("new_policy", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("card_channel", sa.String(length=32), nullable=True),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policy_proposals_provider_status", "policy_proposals", ["provider", "status"])
    op.create_table(
        "home_viewers",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_home_viewers_opened_at", "home_viewers", ["opened_at"])
    op.create_table(
        "risk_alerts",
        sa.Column("engineer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("engineer_id", "kind"),
    )


def downgrade() -> None:
    op.drop_table("risk_alerts")
    op.drop_index("ix_home_viewers_opened_at", table_name="home_viewers")
    op.drop_table("home_viewers")
    op.drop_index("ix_policy_proposals_provider_status", table_name="policy_proposals")
    op.drop_table("policy_proposals")
