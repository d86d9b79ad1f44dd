"""`tickpipe venue`: venues that run beside the engine. `tickpipe venue fix-sim` is a
simulated exchange behind a real FIX 4.4 session (workers/fix_venue/sim.py)."""

import os
import signal
import threading

import click

DEFAULT_STORE = os.path.join("~", ".local", "state", "tickpipe", "fix-sim")


def _port_free(port: int) -> None:
    """A taken port is one line here: QuickFIX's acceptor, failing to bind, took the
    process down at exit in our trials."""
    import socket
    with socket.socket() as probe:
        # as QuickFIX binds (SocketReuseAddress=Y): a port left in TIME_WAIT by the last
        # run's connections is free; one another process listens on is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            raise click.ClickException(f"--port {port}: {exc.strerror}") from None


def _engine_book(name: str) -> tuple[dict, float]:
    """--follow without --book: the symbols of the running engine `name` (its segment's
    instruments, in symbol-id order, so the book's rows line up), its finest tick; the
    touch until the engine's first tick: 100.00/100.01."""
    from tickpipe.engine.segment import SegmentError, attach_segment
    from tickpipe.engine.segment_catalog import read_instruments
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
    from tickpipe.shm_layouts.market_data import PRICE_SCALE
    try:
        segment = attach_segment(name, readonly=True)
    except (SegmentError, OSError) as exc:
        raise click.ClickException(f"--follow {name}: no such engine running ({exc}); give "
                                   "--book for each symbol, or start the engine first") \
            from None
    try:
        n_symbols = int(segment.view("control", CONTROL_DTYPE)[0]["n_symbols"])
        instruments = read_instruments(segment, n_symbols)
    finally:
        segment.close()
    tick = min(i.tick_size for i in instruments) / PRICE_SCALE
    return {i.name: (1_000_000, 1_000_100, 1, 1) for i in instruments}, tick


def _stop_when_gone(pid: int, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
        except PermissionError:
            pass  # alive, another user's


@click.group()
def venue():
    """Venues that run beside the engine (docs/fix.md)."""


@venue.command("fix-sim")
@click.option("--port", type=click.IntRange(1, 65535), default=9878, show_default=True,
              help="TCP port the acceptor listens on, on every interface (QuickFIX 1.16's "
                   "acceptor has no bind address: on a shared network, use --credentials).")
@click.option("--sender", default="VENUE", show_default=True, help="Its SenderCompID.")
@click.option("--target", default="TP", show_default=True,
              help="The SenderCompID it expects from the engine.")
@click.option("--book", "books", multiple=True, metavar="SYM=BID/ASKxBQ/AQ",
              help="A symbol's touch at the start, e.g. SYM0=100.00/100.01x50/50; repeat per "
                   "symbol. Default: SYM0..SYM3 at 100.00/100.01x50/50 (the engine's "
                   "synthetic instruments).")
@click.option("--tick-size", type=float, default=0.01, show_default=True,
              help="Price grid: orders off it are rejected off_tick.")
@click.option("--walk-ms", type=click.FloatRange(0, 60_000), default=50.0, show_default=True,
              help="Every this many ms a seeded step: a trade at the touch or the touch "
                   "moving a tick. 0: the book stays as set.")
@click.option("--seed", type=int, default=1, show_default=True, help="The walk's seed.")
@click.option("--store", default=DEFAULT_STORE, show_default=True,
              help="Directory of its state: QuickFIX's sequence numbers and its orders "
                   "(they survive a restart).")
@click.option("--credentials", "credentials_file", default=None, metavar="FILE",
              help="Require this username/password at logon (a file of mode 0600; or "
                   "TICKPIPE_FIX_USERNAME/PASSWORD). None given: any logon is taken.")
@click.option("--status-file", default=None, metavar="FILE",
              help="Write its counts as JSON here, five times a second.")
@click.option("--seconds", type=click.FloatRange(0), default=0.0,
              help="Stop after this long; 0: until Ctrl-C or SIGTERM.")
@click.option("--follow", metavar="ENGINE", default=None,
              help="Take the touch from this engine's own top of book (its segment) instead "
                   "of the walk: what [fix_venue] sim = true starts. Without --book, the "
                   "engine must be running: its symbols are the book's.")
@click.option("--exit-with", type=int, default=None, metavar="PID",
              help="Stop when this process has gone (the engine that started it).")
@click.option("--remove-on-exit", default=None, hidden=True, metavar="DIR",
              help="Remove DIR once stopped cleanly ([fix_venue] sim = true: the run's "
                   "stores, which no later run reads).")
def fix_sim(port, sender, target, books, tick_size, walk_ms, seed, store,
            credentials_file, status_file, seconds, follow, exit_with, remove_on_exit):
    """A simulated exchange behind a FIX 4.4 session (QuickFIX acceptor).

    It matches orders with the built-in venue's own kernels (the same book, queue
    model, fills and rejects), keeps its orders and sequence numbers in --store
    across restarts, and takes a resend (PossDupFlag) of an order it has once.
    Needs the extra: pip install 'tickpipe[fix]'.
    """
    try:
        from tickpipe.workers.fix_venue.credentials import CredentialsError, load_credentials
        from tickpipe.workers.fix_venue.fields import FieldError, price_units
        from tickpipe.workers.fix_venue.settings import SettingsError, make_settings
        from tickpipe.workers.fix_venue.sim import SimExchange, parse_book, run_acceptor
    except ImportError as exc:
        raise click.ClickException(f"{exc}: the FIX venue needs QuickFIX: "
                                   "pip install 'tickpipe[fix]'") from None
    from tickpipe.shm_layouts.market_data import PRICE_SCALE
    try:
        if books:
            book = dict(parse_book(text, PRICE_SCALE) for text in books)
        elif follow:
            book, tick_size = _engine_book(follow)
        else:
            book = {f"SYM{i}": (1_000_000, 1_000_100, 50, 50) for i in range(4)}
        tick = price_units(repr(tick_size))
        if tick <= 0:
            raise FieldError(f"--tick-size {tick_size}: must be > 0")
        credentials = load_credentials(credentials_file, required=False)
        store = os.path.expanduser(store)
        _port_free(port)
        settings = make_settings("acceptor", port, sender, target, os.path.join(store, "session"))
        app = SimExchange(book, os.path.join(store, "orders"), tick_size=tick,
                          credentials=credentials, seed=seed)
    except (FieldError, CredentialsError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"--store {store}: {exc.strerror or exc}") from None
    if credentials is None:
        click.echo("fix-sim: no --credentials: any logon is taken", err=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if seconds > 0:
        threading.Timer(seconds, stop.set).start()
    if exit_with is not None:
        threading.Thread(target=_stop_when_gone, args=(exit_with, stop), daemon=True).start()
    try:
        run_acceptor(app, settings, say=lambda line: click.echo(line, err=True),
                     walk_ms=walk_ms, stop=stop, status_file=status_file, follow=follow)
    except Exception as exc:  # QuickFIX's RuntimeError: the port is taken, and the like
        raise click.ClickException(f"fix-sim: {exc}") from None
    click.echo(f"fix-sim: stopped; {app.summary()}", err=True)
    if remove_on_exit:
        import shutil
        shutil.rmtree(remove_on_exit, ignore_errors=True)
