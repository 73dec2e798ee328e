"""request_approvals (N-of-M approvals: one row per request and approver); the reason a request was denied

Revision ID: 0004a
Revises: 0003e
"""

import sqlalchemy as sa
from alembic import op

revision = "0004a"
down_revision = "0003e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_approvals",
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("approver_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["reset_requests.id"]),
        sa.PrimaryKeyConstraint("request_id", "approver_id"),
    )
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.add_column(sa.Column("deny_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_column("deny_reason")
    op.drop_table("request_approvals")
