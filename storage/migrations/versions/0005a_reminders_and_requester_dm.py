"""The card-thread reminder and escalation, claimed and posted once each; the requester's reminders; the
requester's DM posted at once, so its Reveal button is marked by reveal_sent_at, no longer by dm_ts

Revision ID: 0005a
Revises: 0005b
"""

import sqlalchemy as sa
from alembic import op

revision = "0005a"
down_revision = "0005b"
branch_labels = None
depends_on = None

TIMES = ("reminded_at", "remind_claimed_at", "escalated_at", "escalate_claimed_at", "requester_reminded_at",
         "reveal_sent_at")


def upgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        for name in TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("remind_claim", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("escalate_claim", sa.String(length=80), nullable=True))
    # Before this revision a request's DM was its Reveal DM: one stored had its button.
    op.execute(sa.text("UPDATE reset_requests SET reveal_sent_at = updated_at WHERE dm_ts IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        for name in ("escalate_claim", "remind_claim", *reversed(TIMES)):
            batch_op.drop_column(name)
