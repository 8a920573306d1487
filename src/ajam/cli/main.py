"""``ajam``: the command group. Each command lives in its own module."""

from __future__ import annotations

import importlib
import logging

import click

from ajam.cli.doctor import doctor
from ajam.cli.events import events
from ajam.cli.exit_codes import EXIT_CODES_HELP
from ajam.cli.send import send

URL_HELP = """\b
URLs:
  ami://user:secret@host:5038       AMI over TCP (?auth=md5 for the challenge login)
  amis://user:secret@host:5039      AMI over TLS
  http://user:secret@host:8088/asterisk[/rawman|/mxml|/manager|/arawman|/amxml]
  https://...                       AJAM over TLS
Credentials may be left out of the URL: AJAM_USERNAME / AJAM_SECRET, or a [host] table
in ~/.config/ajam/credentials.toml (or the file named by AJAM_CONFIG).
"""

# Commands owned by other packages, imported only when used (a command whose module cannot be imported
# yet is simply not offered).
LAZY_COMMANDS = {
    "sim": "ajam.cli.sim:sim",
    "calls": "ajam.cli.calls:calls",
    "dial": "ajam.cli.dial:dial",
    "journal": "ajam.cli.journal:journal",
    "queues": "ajam.cli.queues:queues",
    "sms": "ajam.cli.sms:sms",
    "serve": "ajam.cli.serve:serve",
    "users": "ajam.cli.users:users",
    "demo": "ajam.cli.demo:demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [name for name in LAZY_COMMANDS if self._load(name) is not None]
        return sorted([*super().list_commands(ctx), *lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return command if command is not None else self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            if error.name is None or not error.name.startswith("ajam."):
                raise
            logging.getLogger("ajam.cli").debug("command %r unavailable: %s", name, error)
            return None
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None


@click.group(
    cls=LazyGroup,
    epilog=URL_HELP + "\n" + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-v", "--verbose", count=True, help="Log what happens (-vv: every action; secrets are never shown)."
)
def main(verbose: int) -> None:
    """Asterisk Manager Interface over TCP (AMI) and HTTP (AJAM)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):  # they log whole request URLs; ajam logs its own, redacted
        logging.getLogger(noisy).setLevel(logging.WARNING)


main.add_command(send)
main.add_command(events)
main.add_command(doctor)
