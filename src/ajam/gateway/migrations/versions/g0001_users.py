"""Gateway users, API tokens and browser sessions.

Revision ID: g0001
Revises:
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "g0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_users",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_gateway_users"),
    )
    op.create_table(
        "gateway_tokens",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_gateway_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_gateway_tokens_token_hash"),
    )
    op.create_table(
        "gateway_sessions",
        sa.Column("session_hash", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["gateway_users.username"], name="fk_gateway_sessions_username", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_hash", name="pk_gateway_sessions"),
    )
    op.create_index("ix_gateway_sessions_expires_at", "gateway_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_gateway_sessions_expires_at", table_name="gateway_sessions")
    op.drop_table("gateway_sessions")
    op.drop_table("gateway_tokens")
    op.drop_table("gateway_users")
