"""customer_informed_at: when the engineer confirmed telling the customer (ASVS 5.0 V6.3.6)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.add_column(sa.Column("customer_informed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_column("customer_informed_at")
