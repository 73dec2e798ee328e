"""policy_announcements: changes made with `resetbot policy set`, announced once by the running bot

Revision ID: 0006b
Revises: 0005a
"""

import sqlalchemy as sa
from alembic import op

revision = "0006b"
down_revision = "0005a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_announcements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_policy", sa.Text(), nullable=False),
        sa.Column("new_policy", sa.Text(), nullable=False),
        sa.Column("claim", sa.String(length=80), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policy_announcements_announced_at", "policy_announcements", ["announced_at"])


def downgrade() -> None:
    op.drop_index("ix_policy_announcements_announced_at", table_name="policy_announcements")
    op.drop_table("policy_announcements")
