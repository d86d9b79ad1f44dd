"""`tickpipe`: the command-line launcher.

Library errors become click.ClickException at this boundary: one clear line
on stderr, exit 1, no traceback.
"""

import click

from cli.bench_cmd import bench
from cli.run_cmd import run
from tuning.cli import tune

try:  # the inspector commands (tickpipe ls, inspect, cleanup, halt, reduce, resume)
    from cli.inspect_cmd import COMMANDS as INSPECT_COMMANDS
except ImportError:  # pragma: no cover - only while the module is being written
    INSPECT_COMMANDS = ()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tickpipe")
def tickpipe():
    """Shared-memory engine of pinned worker processes for low-latency trading.

    A feed, a strategy, a pre-trade risk check and an order gateway run as
    separate processes and pass 64-byte records through lock-free rings in
    one shared-memory segment.
    """


tickpipe.add_command(run)
tickpipe.add_command(bench)
tickpipe.add_command(tune)
for _command in INSPECT_COMMANDS:
    tickpipe.add_command(_command)


def main():
    tickpipe(prog_name="tickpipe")


if __name__ == "__main__":
    main()
