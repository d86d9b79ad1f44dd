"""`tickpipe tune` (and `python -m tickpipe.tuning`): check, apply and revert the host's OS tuning.

Thin: parse options, call the tuning modules, print. Errors are one line and exit 2.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import click

from tickpipe.tuning.apply import apply_changes, planned_changes
from tickpipe.tuning.engine_check import check_engine_workers
from tickpipe.tuning.findings import FileWrite, Finding, Status, TuningError
from tickpipe.tuning.host import Host
from tickpipe.tuning.items_cmdline import boot_line, boot_line_instructions
from tickpipe.tuning.items_hugepages import verify_huge_pages
from tickpipe.tuning.registry import evaluate
from tickpipe.tuning.report import (EXIT_DIFFERS, EXIT_OK, check_as_json, exit_code, format_check,
                           format_table, targets_summary)
from tickpipe.tuning.revert import revert_changes
from tickpipe.tuning.state import DEFAULT_STATE_FILE
from tickpipe.tuning.targets import resolve_targets


class TuneFailure(click.ClickException):
    """One line on stderr, exit 2 (bad input, not root, nothing to check)."""
    exit_code = 2


@dataclass
class TuneEnvironment:
    """What the commands act on; tests pass their own (a fake tree) as click's `obj`."""
    host: Host
    running_as_root: bool


def _environment(ctx: click.Context) -> TuneEnvironment:
    env = ctx.find_object(TuneEnvironment)
    return env if env is not None else TuneEnvironment(Host("/"), os.geteuid() == 0)


def _state_file(env: TuneEnvironment, option: str | None) -> Path:
    return Path(option) if option else env.host.path(DEFAULT_STATE_FILE)


@contextlib.contextmanager
def _one_line_errors():
    try:
        yield
    except TuningError as err:
        raise TuneFailure(str(err)) from None
    except OSError as err:
        raise TuneFailure(f"{err.filename or ''}: {err.strerror or err}".lstrip(": ")) from None


def _require_root(env: TuneEnvironment, command: str) -> None:
    if not env.running_as_root:
        raise TuneFailure(f"{command} changes kernel settings and needs root: run `sudo tickpipe tune "
                          f"{command}` (or `sudo python -m tickpipe.tuning {command}`); --dry-run works without root")


cores_option = click.option(
    "--cores", metavar="LIST",
    help="Worker cores, e.g. 1-3 or 2,3. Default: every core but core 0 (core 1 on a 2-core machine).")
engine_size_option = click.option(
    "--engine-size", metavar="BYTES",
    help="Segment size to reserve huge pages for, in bytes or with K/M/G. Default: the default engine's.")
user_option = click.option(
    "--user", metavar="NAME",
    help="User the engine runs as (memlock limit, hugetlbfs owner). Default: $SUDO_USER, else you.")
state_file_option = click.option(
    "--state-file", metavar="PATH",
    help=f"Where the original values are saved. Default: {DEFAULT_STATE_FILE}.")


@click.group(name="tune")
def tune():
    """Check, apply and revert the OS settings a low-latency tickpipe host needs.

    check reads only and runs as any user; apply and revert need root. Every value
    apply changes is saved first, and revert puts it back.
    """


@tune.command()
@cores_option
@engine_size_option
@user_option
@click.option("--engine", metavar="NAME", help="Also check the running engine NAME's worker processes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--runtime-only", is_flag=True,
              help="Leave kernel command line items (needs reboot) out of the exit status; still listed.")
@click.pass_context
def check(ctx, cores, engine_size, user, engine, as_json, runtime_only):
    """Compare each setting with what tickpipe recommends (read-only).

    One row per item: current value, recommended value, status (ok, differs,
    unsupported here, needs reboot) and why it matters for latency. Exit status:
    0 when every supported item is ok, 1 when one differs or needs a reboot
    (see --runtime-only), 2 on an error.
    """
    env = _environment(ctx)
    with _one_line_errors():
        targets = resolve_targets(env.host, cores, engine_size, user)
        findings = evaluate(env.host, targets)
        engine_findings = check_engine_workers(env.host, engine, targets) if engine else None
    judged = findings + (engine_findings or [])
    if runtime_only:
        judged = [f for f in judged if f.status is not Status.NEEDS_REBOOT]
    if as_json:
        click.echo(check_as_json(targets, findings, engine_findings, exit_code(judged)))
    else:
        click.echo("\n".join(format_check(env.host, targets, findings, engine_findings)))
    ctx.exit(exit_code(judged))


@tune.command()
@cores_option
@engine_size_option
@user_option
@click.option("--dry-run", is_flag=True, help="Print every write apply would make; write nothing.")
@state_file_option
@click.pass_context
def apply(ctx, cores, engine_size, user, dry_run, state_file):
    """Save every original value to the state file, then apply the recommended settings.

    Idempotent: what is already tuned is left alone, and a second apply keeps the
    originals saved by the first. Kernel command line items are never applied;
    their boot loader line is printed. Needs root unless --dry-run.
    """
    env = _environment(ctx)
    if not dry_run:
        _require_root(env, "apply")
    with _one_line_errors():
        targets = resolve_targets(env.host, cores, engine_size, user)
        findings = evaluate(env.host, targets)
        path = _state_file(env, state_file)
        click.echo("\n".join(targets_summary(env.host, targets)))
        changes = planned_changes(findings)
        if dry_run:
            _print_dry_run(findings, changes, path)
            return
        if not changes:
            click.echo("Nothing to change: every supported item is already tuned.")
        outcome = apply_changes(env.host, changes, path, click.echo)
        verified = _report_after_apply(env, targets, findings, outcome.refused_paths)
    ctx.exit(EXIT_OK if verified and not outcome.failed else EXIT_DIFFERS)


def _print_dry_run(findings: list[Finding], changes, state_file: Path) -> None:
    if not changes:
        click.echo("Dry run: nothing to change.")
    else:
        click.echo(f"Dry run, nothing written. apply would save the originals to {state_file}, then:")
    for change in changes:
        if isinstance(change, FileWrite) and "\n" in change.value.rstrip("\n"):
            click.echo(f"  write {change.path}:")
            click.echo("".join(f"      | {line}\n" for line in change.value.splitlines()), nl=False)
        else:
            click.echo(f"  {change.describe()}")
    _print_notes(findings)


def _print_notes(findings: list[Finding]) -> None:
    for finding in findings:
        if finding.status is Status.DIFFERS and finding.note:
            click.echo(f"  note ({finding.name}): {finding.note}")
    unsupported = [f.name for f in findings if f.status is Status.UNSUPPORTED]
    if unsupported:
        click.echo(f"Not available on this host (left alone): {', '.join(unsupported)}")
    line = boot_line(findings)
    if line:
        click.echo(boot_line_instructions(line))


def _report_after_apply(env: TuneEnvironment, targets, findings: list[Finding],
                        refused_paths: set[str]) -> bool:
    """Probe again (a write's return code proves nothing) and verify huge pages for real.

    An item whose only remaining writes are ones the kernel refused by design
    (best effort: an IRQ it will not move) does not count as still differing.
    """
    _print_notes(findings)
    after = evaluate(env.host, targets)
    still = [f for f in after if f.status is Status.DIFFERS
             and any(getattr(change, "path", None) not in refused_paths for change in f.changes)]
    verified = not still
    if still:
        click.echo("Still differing after apply:")
        click.echo("\n".join(format_table(still)))
    hugepage_items = [f for f in after if f.name in ("vm.nr_hugepages", "hugetlbfs mount")]
    if hugepage_items and all(f.status is Status.OK for f in hugepage_items):
        ok, message = verify_huge_pages(env.host, targets)
        click.echo(message)
        verified = verified and ok
    return verified


@tune.command()
@click.option("--dry-run", is_flag=True, help="Print what would be restored; change nothing.")
@state_file_option
@click.pass_context
def revert(ctx, dry_run, state_file):
    """Restore exactly what apply saved in the state file, and say what was restored.

    A file is written back byte for byte and read back to prove it; a file or a
    directory tuning created is removed; a hugetlbfs mount it made is unmounted.
    """
    env = _environment(ctx)
    if not dry_run:
        _require_root(env, "revert")
    with _one_line_errors():
        restored = revert_changes(env.host, _state_file(env, state_file), click.echo, dry_run)
    ctx.exit(EXIT_OK if restored else EXIT_DIFFERS)
