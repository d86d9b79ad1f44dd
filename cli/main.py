"""`tickpipe`: the command-line launcher.

Library errors become click.ClickException at this boundary: one clear line
on stderr, exit 1, no traceback. Commands are imported only when used, so
`tickpipe inspect` does not pay for the bench's or the engine's imports
(numba above all): the inspector must start in well under 300 ms.
"""

import importlib

import click

# command name -> "module:attribute" of its click command
LAZY_COMMANDS = {
    "run": "tickpipe.cli.run_cmd:run",
    "ls": "tickpipe.cli.inspect_cmd:ls_command",
    "inspect": "tickpipe.cli.inspect_cmd:inspect_command",
    "halt": "tickpipe.cli.inspect_cmd:halt_command",
    "reduce": "tickpipe.cli.inspect_cmd:reduce_command",
    "resume": "tickpipe.cli.inspect_cmd:resume_command",
    "cleanup": "tickpipe.cli.inspect_cmd:cleanup_command",
    "backtest": "tickpipe.cli.backtest_cmd:backtest",
    "roles": "tickpipe.cli.roles_cmd:roles",
    "bench": "tickpipe.cli.bench_cmd:bench",
    "bridge-keys": "tickpipe.cli.keys_cmd:bridge_keys",
    "journal": "tickpipe.cli.journal_cmd:journal",
    "venue": "tickpipe.cli.venue_cmd:venue",
    "tune": "tickpipe.tuning.cli:tune",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module the first time it is asked for."""

    def list_commands(self, ctx):
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx, name):
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tickpipe")
def tickpipe():
    """Shared-memory engine of pinned worker processes for low-latency trading.

    A feed, a strategy, a pre-trade risk check and an order gateway run as
    separate processes and pass 64-byte records through lock-free rings in
    one shared-memory segment.
    """


def main():
    tickpipe(prog_name="tickpipe")


if __name__ == "__main__":
    main()
