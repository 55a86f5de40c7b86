"""Referrals to partner bodies: the partners' directory and the referrals

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("contact_name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("partner_id", BigId, nullable=False),
        sa.Column("referred_by", BigId, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("sent_at", Moment, nullable=False),
        sa.Column("acknowledged_at", Moment, nullable=True),
        sa.Column("answered_at", Moment, nullable=True),
        sa.Column("closed_at", Moment, nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answer_files", sa.JSON(), nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_referrals_partner_id_partners")),
        sa.ForeignKeyConstraint(["referred_by"], ["users.id"], name=op.f("fk_referrals_referred_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"], unique=False)
    op.create_index("ix_referrals_partner_id", "referrals", ["partner_id"], unique=False)
    op.create_index("ix_referrals_status", "referrals", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_referrals_status", table_name="referrals")
    op.drop_index("ix_referrals_partner_id", table_name="referrals")
    op.drop_index("ix_referrals_case_id", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("partners")
