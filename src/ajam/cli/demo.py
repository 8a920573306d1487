"""``ajam demo``: a simulated PBX with steady calls + the web gateway + demo accounts, in one process.

The simulator runs in the same event loop as the gateway (it only talks to it over loopback AMI). The
journal and the accounts live in a state folder (``~/.local/state/ajam/demo`` unless ``--state-dir``);
each run gives the demo accounts new random passwords and prints them with the URL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import click

from ajam.cli.exit_codes import run
from ajam.cli.serve import serve_app
from ajam.gateway.settings import DEFAULT_HOST, DEFAULT_PORT, GatewaySettings, parse_listen
from ajam.gateway.users import UserExists, UserStore, open_store

# username, role, extensions, description
DEMO_ACCOUNTS = (
    ("operator", "operator", ("101",), "operator of extension 101 (Иван Петров)"),
    ("operator2", "operator", ("102",), "operator of extension 102 (Anna Smirnova)"),
    ("supervisor", "supervisor", (), "supervisor: every call, the queue board"),
    ("admin", "admin", (), "admin: also users, tokens, raw actions"),
)


def default_state_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "ajam" / "demo"


def demo_accounts(store: UserStore) -> list[tuple[str, str, str]]:
    """(username, password, description) of each demo account, with a fresh password."""
    shown = []
    for username, role, extensions, description in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        try:
            store.add_user(username, password, role, extensions)
        except UserExists:
            store.delete_user(username)  # the role or extension may have changed since the last demo
            store.add_user(username, password, role, extensions)
        shown.append((username, password, description))
    return shown


async def _demo(listen: tuple[str, int], state_dir: Path, calls_per_minute: float, seed: int | None) -> None:
    from ajam.gateway.app import create_app
    from ajam.sim.server import SimulatedPbx

    host, port = listen
    db = str(state_dir / "calls.db")
    store = open_store(db)
    try:
        accounts = demo_accounts(store)
    finally:
        store.close()
    async with SimulatedPbx(ami_port=0, http_port=0, seed=seed) as sim:
        settings = GatewaySettings(pbx_url=sim.url("ami"), db=db, host=host, port=port)
        app = create_app(settings, clock=sim.pbx.clock.now)
        if calls_per_minute > 0:
            sim.pbx.start_traffic(calls_per_minute)

        def started(url: str) -> None:
            width = max(len(name) for name, _, _ in accounts)
            lines = [
                f"ajam demo: simulated PBX with {calls_per_minute:g} calls/minute; open {url}",
                "Log in as:",
                *(f"  {name:<{width}}  {password}   {about}" for name, password, about in accounts),
                f"Journal: {db}",
                "Press Ctrl-C to stop.",
            ]
            click.echo("\n".join(lines))

        try:
            await serve_app(app, host, port, started)
        finally:
            await sim.pbx.stop_traffic()


@click.command("demo")
@click.option(
    "--listen",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="Address and port of the panel.",
)
@click.option("--calls-per-minute", default=12.0, show_default=True, help="Steady simulated call traffic.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the journal and accounts are kept (default: ~/.local/state/ajam/demo).",
)
@click.option("--seed", type=int, default=None, help="Random seed of the traffic (reproducible).")
def demo(listen: str, calls_per_minute: float, state_dir: Path | None, seed: int | None) -> None:
    """The whole thing on this machine: simulated PBX, gateway, web panel and demo accounts."""
    try:
        address = parse_listen(listen)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    folder = state_dir if state_dir is not None else default_state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        run(_demo(address, folder, calls_per_minute, seed))
