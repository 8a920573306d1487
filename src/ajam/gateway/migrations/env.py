"""Alembic environment of the gateway's own tables (users, API tokens, sessions).

They live in the journal's database but keep their own version table (``ajam_gateway_version``), so the
journal's and the gateway's migrations never see each other. Run through ``ajam.gateway.users``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ajam.gateway.users import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError("no connection: open the gateway's store with ajam.gateway.users.open_store")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
