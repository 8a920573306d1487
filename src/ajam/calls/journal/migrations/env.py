"""Alembic environment of the call journal.

ajam runs it through ``ajam.calls.journal.migrate`` with an open connection in
``config.attributes["connection"]``. For developers (``alembic revision --autogenerate``) it also accepts a
``sqlalchemy.url`` option, and ``--sql`` offline mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from ajam.calls.journal.schema import metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
    elif isinstance(connection, Connection):
        run_with(connection)
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection: open the journal with ajam.calls.journal.open_journal")
        engine = create_engine(url)
        try:
            with engine.begin() as fresh:
                run_with(fresh)
        finally:
            engine.dispose()


main()
