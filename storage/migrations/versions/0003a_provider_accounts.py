"""provider_accounts: the provider's id of an account (Namecheap's UserId), to match reset-code changes

Revision ID: 0003a
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003a"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_accounts",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "account"),
    )
    op.create_index("ix_provider_accounts_user_id", "provider_accounts", ["provider", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_provider_accounts_user_id", table_name="provider_accounts")
    op.drop_table("provider_accounts")
