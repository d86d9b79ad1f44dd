"""`tickpipe`: the command-line launcher.

Library errors become click.ClickException at this boundary: one clear line
on stderr, exit 1, no traceback.
"""

import click

from cli.bench_cmd import bench
from cli.run_cmd import run
from tuning.cli import tune


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


def main():
    tickpipe(prog_name="tickpipe")


if __name__ == "__main__":
    main()
