"""One open request per provider and account (a partial unique index); the card's posting claim; sealed_until_sent

Revision ID: 0003b
Revises: 0003a

Requests left open twice for one account by an older version: the later waiting ones are
expired (with a sentence saying why) so the index can be built; two being changed at once
cannot be resolved here, and the upgrade stops with a sentence until they finish.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003b"
down_revision = "0003a"
branch_labels = None
depends_on = None

OPEN_WHERE = "status IN ('pending', 'executing')"


def upgrade() -> None:
    _expire_later_duplicates()
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.add_column(sa.Column("card_claim", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("card_claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sealed_until_sent", sa.LargeBinary(), nullable=True))
    op.create_index("uq_reset_requests_open_account", "reset_requests", ["provider", "account"], unique=True,
                    sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE))


def downgrade() -> None:
    op.drop_index("uq_reset_requests_open_account", table_name="reset_requests",
                  sqlite_where=sa.text(OPEN_WHERE), postgresql_where=sa.text(OPEN_WHERE))
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_column("sealed_until_sent")
        batch_op.drop_column("card_claimed_at")
        batch_op.drop_column("card_claim")


def _expire_later_duplicates() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        f"SELECT id, provider, account, status FROM reset_requests WHERE {OPEN_WHERE} "
        "ORDER BY CASE WHEN status = 'executing' THEN 0 ELSE 1 END, created_at, id")).all()
    kept: set[tuple[str, str]] = set()
    for request_id, provider, account, status in rows:
        if (provider, account) not in kept:
            kept.add((provider, account))
        elif status == "pending":
            connection.execute(
                sa.text("UPDATE reset_requests SET status = 'expired', sealed_input = NULL, "
                        "outcome_message = :why WHERE id = :id AND status = 'pending'"),
                {"id": request_id, "why": "Expired by the upgrade: another request for this account was already "
                                          "open. Ask again if it is still needed."})
        else:
            raise RuntimeError(f"two requests for {provider} account {account} are being changed at once; "
                               "let them finish, then upgrade again")
