"""``ajam sim``: run the simulated PBX on loopback until Ctrl-C, and print where to connect."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import click

from ajam.sim.pbx import Pbx
from ajam.sim.server import SimulatedPbx


async def _serve(settings: dict[str, Any], scenarios: tuple[str, ...], calls_per_minute: float) -> None:
    async with SimulatedPbx(**settings) as sim:
        click.echo(f"AMI:     {sim.url('ami')}")
        for kind in ("rawman", "mxml", "arawman"):
            click.echo(f"{kind + ':':<8} {sim.url(kind)}")
        click.echo("Press Ctrl-C to stop.", err=True)
        for name in scenarios:
            asyncio.create_task(sim.pbx.run_scenario(name))
        if calls_per_minute > 0:
            sim.pbx.start_traffic(calls_per_minute)
        await asyncio.Event().wait()


@click.command("sim")
@click.option("--ami-port", default=5038, show_default=True, help="AMI TCP port (0: any free port).")
@click.option("--http-port", default=8088, show_default=True, help="AJAM HTTP port (0: any free port).")
@click.option(
    "--users",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A manager.conf with the users (default: admin/s3cret and limited/limited1).",
)
@click.option("--scenario", "scenarios", multiple=True, help="Play a scripted call at start (repeatable).")
@click.option("--calls-per-minute", default=0.0, show_default=True, help="Steady random call traffic.")
@click.option("--seed", type=int, default=None, help="Random seed (reproducible traffic).")
@click.option("--speed", default=1.0, show_default=True, help="Run call timings this many times faster.")
@click.option("--no-webenabled", is_flag=True, help="Do not publish the manager over HTTP (every path 404).")
def sim(
    ami_port: int,
    http_port: int,
    users: Path | None,
    scenarios: tuple[str, ...],
    calls_per_minute: float,
    seed: int | None,
    speed: float,
    no_webenabled: bool,
) -> None:
    """Run a simulated Asterisk PBX (AMI + AJAM) on 127.0.0.1 until Ctrl-C."""
    unknown = [name for name in scenarios if name not in Pbx.SCENARIOS]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(Pbx.SCENARIOS)}",
            param_hint="--scenario",
        )
    settings: dict[str, Any] = {
        "ami_port": ami_port,
        "http_port": http_port,
        "users": users,
        "webenabled": not no_webenabled,
        "seed": seed,
        "speed": speed,
    }
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, scenarios, calls_per_minute))
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1 ({error.strerror}): pick other ports"
        ) from error
