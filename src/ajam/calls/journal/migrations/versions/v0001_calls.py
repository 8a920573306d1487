"""Create the call journal: calls and call_extensions.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.Text(), nullable=False),
        sa.Column("callee_number", sa.Text(), nullable=False),
        sa.Column("callee_name", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("recording", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("precise_times", sa.JSON(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_occurred_at_id", "calls", ["occurred_at", "id"])
    op.create_index("ix_calls_caller_number", "calls", ["caller_number"])
    op.create_index("ix_calls_callee_number", "calls", ["callee_number"])
    op.create_index("ix_calls_direction_occurred_at", "calls", ["direction", "occurred_at", "id"])
    op.create_index("ix_calls_queue_occurred_at", "calls", ["queue", "occurred_at"])
    op.create_table(
        "call_extensions",
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("extension", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_extensions_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "extension", name="pk_call_extensions"),
    )
    op.create_index("ix_call_extensions_extension", "call_extensions", ["extension", "call_id"])


def downgrade() -> None:
    op.drop_index("ix_call_extensions_extension", table_name="call_extensions")
    op.drop_table("call_extensions")
    op.drop_index("ix_calls_queue_occurred_at", table_name="calls")
    op.drop_index("ix_calls_direction_occurred_at", table_name="calls")
    op.drop_index("ix_calls_callee_number", table_name="calls")
    op.drop_index("ix_calls_caller_number", table_name="calls")
    op.drop_index("ix_calls_occurred_at_id", table_name="calls")
    op.drop_table("calls")
