"""Trainees' drafts: a shadow note or draft opinion on a shadowed case, and its expert's review

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = "0022"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trainee_drafts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("trainee_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("reviewer_id", BigId, nullable=True),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("ratings", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("reviewed_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_trainee_drafts_case_id_cases")),
        sa.ForeignKeyConstraint(["trainee_id"], ["users.id"], name=op.f("fk_trainee_drafts_trainee_id_users")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_trainee_drafts_reviewer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainee_drafts")),
    )
    op.create_index("ix_trainee_drafts_case_id", "trainee_drafts", ["case_id"], unique=False)
    op.create_index("ix_trainee_drafts_trainee_id", "trainee_drafts", ["trainee_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_trainee_drafts_trainee_id", table_name="trainee_drafts")
    op.drop_index("ix_trainee_drafts_case_id", table_name="trainee_drafts")
    op.drop_table("trainee_drafts")
