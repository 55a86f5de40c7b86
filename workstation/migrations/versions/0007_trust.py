"""Trust: login sessions kept on the server, login failures for throttling, API tokens with a name,
an expiry, a last use and revocation, and the administrative audit log (append-only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Moment = sa.DateTime(timezone=True)

# Audit rows are append-only: on PostgreSQL a trigger refuses to change or delete them.
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""
AUDIT_TABLES = ('access_log', 'admin_audit')


def upgrade() -> None:
    op.create_table('login_sessions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', Moment, nullable=False),
    sa.Column('last_seen_at', Moment, nullable=False),
    sa.Column('ended_at', Moment, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_login_sessions_secret_hash'))
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('login_failures',
    sa.Column('id', BigId, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('at', Moment, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_key_at', ['key', 'at'], unique=False)

    op.create_table('admin_audit',
    sa.Column('id', BigId, nullable=False),
    sa.Column('at', Moment, nullable=False),
    sa.Column('actor_id', BigId, nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject_id', BigId, nullable=True),
    sa.Column('case_id', BigId, nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_admin_audit_actor_id_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['users.id'], name=op.f('fk_admin_audit_subject_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_admin_audit_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_audit'))
    )
    with op.batch_alter_table('admin_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_audit_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_audit_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_audit_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_audit_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('expires_at', Moment, nullable=True))
        batch_op.add_column(sa.Column('last_used_at', Moment, nullable=True))
        batch_op.add_column(sa.Column('revoked_at', Moment, nullable=True))

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(APPEND_ONLY_FUNCTION)
        for table in AUDIT_TABLES:
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} '
                'FOR EACH ROW EXECUTE FUNCTION refuse_audit_change()'
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in AUDIT_TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON {table}')
        op.execute('DROP FUNCTION IF EXISTS refuse_audit_change()')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('name')
    op.drop_table('admin_audit')
    op.drop_table('login_failures')
    op.drop_table('login_sessions')
