"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('call_budget',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('budget_key', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('call_budget', schema=None) as batch_op:
        batch_op.create_index('ix_call_budget_key_at', ['budget_key', 'at'], unique=False)

    op.create_table('drafts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('requester_id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('response_url', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('mofh_directory',
    sa.Column('account_key', sa.String(length=8), nullable=False),
    sa.Column('vpanel_username', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('account_key'),
    sa.UniqueConstraint('vpanel_username')
    )
    with op.batch_alter_table('mofh_directory', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mofh_directory_domain'), ['domain'], unique=False)

    op.create_table('processed_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('reset_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=255), nullable=False),
    sa.Column('account_input', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('ticket', sa.String(length=255), nullable=True),
    sa.Column('requester_id', sa.String(length=32), nullable=False),
    sa.Column('origin_channel', sa.String(length=32), nullable=True),
    sa.Column('response_url', sa.Text(), nullable=True),
    sa.Column('response_url_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_view_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('outcome_message', sa.Text(), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('card_channel', sa.String(length=32), nullable=True),
    sa.Column('card_ts', sa.String(length=32), nullable=True),
    sa.Column('dm_channel', sa.String(length=32), nullable=True),
    sa.Column('dm_ts', sa.String(length=32), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('execution_attempts', sa.Integer(), nullable=False),
    sa.Column('sealed_password', sa.LargeBinary(), nullable=True),
    sa.Column('sealed_input', sa.LargeBinary(), nullable=True),
    sa.Column('reveal_state', sa.String(length=16), nullable=False),
    sa.Column('reveal_token', sa.String(length=64), nullable=True),
    sa.Column('reveal_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reveal_claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reveal_token'),
    sa.UniqueConstraint('source_view_id')
    )
    with op.batch_alter_table('reset_requests', schema=None) as batch_op:
        batch_op.create_index('ix_reset_requests_requester', ['requester_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reset_requests_status', ['status'], unique=False)

    op.create_table('role_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('provider_scope', sa.String(length=16), nullable=False),
    sa.Column('granted_by', sa.String(length=32), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'role', 'provider_scope', name='uq_role_assignment')
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=True),
    sa.Column('account', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['reset_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_at')

    op.drop_table('audit_events')
    op.drop_table('role_assignments')
    with op.batch_alter_table('reset_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_reset_requests_status')
        batch_op.drop_index('ix_reset_requests_requester')

    op.drop_table('reset_requests')
    op.drop_table('processed_events')
    with op.batch_alter_table('mofh_directory', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mofh_directory_domain'))

    op.drop_table('mofh_directory')
    op.drop_table('drafts')
    with op.batch_alter_table('call_budget', schema=None) as batch_op:
        batch_op.drop_index('ix_call_budget_key_at')

    op.drop_table('call_budget')

