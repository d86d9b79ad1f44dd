"""Helpers and fixtures the inspector tests share (named test_* only because the inspector's
tests may add no other file; it holds no tests).

- `engine_segment(segments)`: an engine-shaped segment (control block, worker table,
  rings, histograms...) with no workers, owned by this live test process.
- `invoke`, `invoke_ok`, `assert_one_line_error`: the commands in-process (CliRunner);
  `run_cli`, `run_cli_as_nobody`: the real CLI in a subprocess.
"""

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from tickpipe.cli.inspect_cmd import COMMANDS
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOBODY = 65534
TICKPIPE = click.Group(commands={command.name: command for command in COMMANDS})

# The interpreter lives under /root (mode 0700), so a process cannot exec it as nobody:
# this one imports everything the CLI needs as root (commands load lazily, so by name),
# then drops to nobody and runs it.
_DROP_TO_NOBODY_AND_RUN = f"""
import os, sys
import tickpipe.cli.inspect_cmd, tickpipe.engine.snapshot, tickpipe.engine.control
import tickpipe.engine.cleanup
from tickpipe.cli.main import main
import click.exceptions, json
os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})
sys.argv = ["tickpipe", *sys.argv[1:]]
main()
"""


def make_engine_segment(segments, *, ready=True):
    """A segment laid out and initialised as `tickpipe run` does, without workers."""
    config = load_config()
    segment = segments.create(section_specs(config), ready=False)
    initialise(segment, config, place_workers(PIPELINE, None, "block"))
    if ready:
        segment.mark_ready()
    return segment


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tickpipe.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def run_cli_as_nobody(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _DROP_TO_NOBODY_AND_RUN, *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The CLI's error, asserting it is one line, exit 1, and no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def invoke(*args: str):
    """Run the commands in this process; a library error must have become a ClickException."""
    result = CliRunner().invoke(TICKPIPE, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def invoke_ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert expected in lines[0]
