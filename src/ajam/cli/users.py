"""``ajam users``: the gateway's accounts (the first admin is created here, before ``ajam serve``)."""

from __future__ import annotations

import sys

import click

from ajam.cli.exit_codes import USAGE, fail
from ajam.errors import JournalError
from ajam.gateway.users import ROLES, UserExists, UserStore, open_store

DB_HELP = "The journal database the gateway uses (path or URL; default: ~/.local/share/ajam/calls.db)."


def _store(db: str | None) -> UserStore:
    try:
        return open_store(db)
    except JournalError as error:
        fail(error)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@click.group("users")
def users() -> None:
    """Accounts of the web gateway: admins, supervisors, operators bound to extensions."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--extension", "extensions", multiple=True, help="An operator's extension (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--db", default=None, help=DB_HELP)
def add(name: str, role: str, extensions: tuple[str, ...], password_stdin: bool, db: str | None) -> None:
    """Create a user (e.g. the first admin: ajam users add admin --role admin)."""
    password = _read_password(password_stdin)
    store = _store(db)
    try:
        user = store.add_user(name, password, role, extensions)
    except UserExists as error:
        click.echo(f"ajam users: {error}", err=True)
        sys.exit(USAGE)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    finally:
        store.close()
    bound = f" (extensions {', '.join(sorted(user.extensions))})" if user.extensions else ""
    click.echo(f"user {user.username} added as {user.role}{bound}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--db", default=None, help=DB_HELP)
def passwd(name: str, password_stdin: bool, db: str | None) -> None:
    """Set a user's password (their open sessions end)."""
    password = _read_password(password_stdin)
    store = _store(db)
    try:
        changed = store.set_password(name, password)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    finally:
        store.close()
    if not changed:
        click.echo(f"ajam users: no user {name!r}", err=True)
        sys.exit(USAGE)
    click.echo(f"password of {name} changed")


@users.command("list")
@click.option("--db", default=None, help=DB_HELP)
def list_users(db: str | None) -> None:
    """The users, their roles and extensions."""
    store = _store(db)
    try:
        found = store.list_users()
    finally:
        store.close()
    for user in found:
        click.echo(f"{user.username}\t{user.role}\t{','.join(sorted(user.extensions))}")


@users.command("delete")
@click.argument("name")
@click.option("--db", default=None, help=DB_HELP)
def delete(name: str, db: str | None) -> None:
    """Delete a user."""
    store = _store(db)
    try:
        removed = store.delete_user(name)
    finally:
        store.close()
    if not removed:
        click.echo(f"ajam users: no user {name!r}", err=True)
        sys.exit(USAGE)
    click.echo(f"user {name} deleted")
