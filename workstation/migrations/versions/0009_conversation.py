"""A case is a conversation: messages and internal notes in the case's thread, with their event,
how they came (web, API, later mail, with room for its Message-ID), their attachments, and each
person's last look at a case

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Moment = sa.DateTime(timezone=True)

# The request and the answer written before the thread were added with their event, at the same
# moment: that is how each finds its event.
LINK_EVENTS = """
UPDATE case_messages SET event_id = (
    SELECT min(e.id) FROM case_events e
    WHERE e.case_id = case_messages.case_id AND e.created_at = case_messages.created_at
      AND e.action = CASE case_messages.kind WHEN 'request' THEN 'request_info' ELSE 'provide_info' END
)
WHERE event_id IS NULL
"""


def upgrade() -> None:
    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('internal', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('source', sa.String(length=8), server_default='web', nullable=False))
        batch_op.add_column(sa.Column('event_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('mail_message_id', sa.String(length=255), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_case_messages_event_id_case_events'), 'case_events', ['event_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_case_messages_event_id'), ['event_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_case_messages_mail_message_id'), ['mail_message_id'])
    op.execute(LINK_EVENTS)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_evidence_message_id_case_messages'), 'case_messages', ['message_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_evidence_message_id'), ['message_id'], unique=False)

    op.create_table('case_last_seen',
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('case_id', BigId, nullable=False),
    sa.Column('event_id', BigId, nullable=False),
    sa.Column('seen_at', Moment, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_last_seen_user_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_last_seen_case_id_cases')),
    sa.PrimaryKeyConstraint('user_id', 'case_id', name=op.f('pk_case_last_seen'))
    )
    with op.batch_alter_table('case_last_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_last_seen_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_table('case_last_seen')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_message_id'))
        batch_op.drop_constraint(batch_op.f('fk_evidence_message_id_case_messages'), type_='foreignkey')
        batch_op.drop_column('message_id')
    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_case_messages_mail_message_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_case_messages_event_id'))
        batch_op.drop_constraint(batch_op.f('fk_case_messages_event_id_case_events'), type_='foreignkey')
        batch_op.drop_column('mail_message_id')
        batch_op.drop_column('event_id')
        batch_op.drop_column('source')
        batch_op.drop_column('internal')
