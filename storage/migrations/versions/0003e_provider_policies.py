"""provider_policies; the policy each request was made under; longer audit actors ("cli:<OS user>")

Revision ID: 0003e
Revises: 0003b
"""

import sqlalchemy as sa
from alembic import op

revision = "0003e"
down_revision = "0003b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_policies",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("expire_after", sa.Integer(), nullable=False),
        sa.Column("remind_after", sa.Integer(), nullable=False),
        sa.Column("escalate_after", sa.Integer(), nullable=False),
        sa.Column("escalate_to", sa.String(length=32), nullable=True),
        sa.Column("requests_per_hour", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("approvals BETWEEN 1 AND 5", name="ck_provider_policies_approvals"),
        sa.CheckConstraint("expire_after > 0 AND remind_after >= 0 AND escalate_after >= 0 "
                           "AND requests_per_hour >= 0", name="ck_provider_policies_non_negative"),
        sa.PrimaryKeyConstraint("provider"),
    )
    with op.batch_alter_table("reset_requests") as batch_op:
        # Requests made before policies existed needed one approval, and neither remind nor escalate.
        batch_op.add_column(sa.Column("approvals_needed", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalate_to", sa.String(length=32), nullable=True))
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.alter_column("actor_id", existing_type=sa.String(length=32), type_=sa.String(length=64),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.alter_column("actor_id", existing_type=sa.String(length=64), type_=sa.String(length=32),
                              existing_nullable=True, postgresql_using="left(actor_id, 32)")
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_column("escalate_to")
        batch_op.drop_column("escalate_at")
        batch_op.drop_column("remind_at")
        batch_op.drop_column("approvals_needed")
    op.drop_table("provider_policies")
