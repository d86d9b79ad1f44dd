"""Benchmark peers: each installed peer moves 64-byte messages between two pinned
processes; a missing one is unavailable with its reason; nothing can hang."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time

import numpy
import psutil
import pytest

from tickpipe.bench.peers import (
    BLOCKING_PEERS,
    PEER_NAMES,
    PeerUnavailable,
    _module_of,
    peer_rtt_samples,
    peer_throughput,
)
from tickpipe.cli.bench_cmd import PEER_COUNT

# The two lowest cores this process may use (one if that is all there is: both sides then share it).
CORES = tuple(sorted(os.sched_getaffinity(0))[:2])

LIBRARY_OF_PEER = {
    "posix_ipc-mq": "posix_ipc",
    "pyzmq-ipc": "zmq",
    "faster-fifo": "faster_fifo",
    "iceoryx2-python": "iceoryx2",
}


def run_or_skip(bench, *args, **kwargs):
    """Run a peer bench; a peer that is not installed here is a skip with its reason."""
    try:
        return bench(*args, **kwargs)
    except PeerUnavailable as exc:
        pytest.skip(str(exc))


def test_the_bench_progress_bar_counts_every_peer():
    # cli/bench_cmd.py keeps its own count (it does not import bench at startup) to size
    # the ringrtt and throughput progress bars: it must follow the peers there are.
    assert PEER_COUNT == len(PEER_NAMES)


def _receive_once(peer_module, spec, report):
    """A child: open side "b", say it is about to wait, wait for one message, say how many
    records it carried."""
    endpoint = importlib.import_module(peer_module).open_endpoint(spec, "b", 1, False)
    try:
        endpoint.connect()
        report.send("waiting")
        report.send(endpoint.count(endpoint.recv()))
    finally:
        endpoint.close()
        report.close()


IDLE_WINDOW_S = 0.5  # how long the receiver's wait is watched


@pytest.mark.parametrize("name", BLOCKING_PEERS)
def test_blocking_peer_waits_for_a_message_asleep_without_using_the_cpu(name):
    module = importlib.import_module(_module_of(name))
    ctx = multiprocessing.get_context("spawn")
    try:
        module.require()
        spec = module.create_channel(ctx, 1)
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    report, report_end = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_receive_once, args=(module.__name__, spec, report_end), daemon=True)
    child.start()
    report_end.close()
    try:
        sender = module.open_endpoint(spec, "a", 1, False)
        try:
            assert report.poll(60), f"{name}: the receiver never opened its end"
            assert report.recv() == "waiting"
            receiver = psutil.Process(child.pid)
            before = receiver.cpu_times()
            time.sleep(IDLE_WINDOW_S)  # the window measured: what waiting costs the receiver
            after = receiver.cpu_times()
            status = receiver.status()
            sender.send(sender.pack(1))
            assert report.poll(60), f"{name}: the message never reached the waiting receiver"
            assert report.recv() == 1
        finally:
            sender.close()
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
        report.close()
        module.destroy_channel(spec)
    used = (after.user + after.system) - (before.user + before.system)
    assert used < IDLE_WINDOW_S / 5, f"{name}: {used:.3f} s of CPU in {IDLE_WINDOW_S} s of waiting"
    assert status == psutil.STATUS_SLEEPING, f"{name}: the waiting receiver is {status}"


@pytest.mark.parametrize("name", PEER_NAMES)
def test_round_trip_gives_one_positive_sample_per_iteration(name):
    samples = run_or_skip(peer_rtt_samples, name, CORES, 2000, warmup=200)

    assert samples.dtype == numpy.int64
    assert len(samples) == 2000
    assert (samples > 0).all()


@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("name", PEER_NAMES)
def test_throughput_is_a_positive_rate_one_at_a_time_and_in_batches(name, batch):
    rate = run_or_skip(peer_throughput, name, CORES, 200 * batch, batch=batch)

    assert rate > 0


@pytest.mark.parametrize("name", ["mp.Pipe", "iceoryx2-python"])
def test_both_sides_may_share_one_core(name):
    samples = run_or_skip(peer_rtt_samples, name, CORES[:1], 200, warmup=20)

    assert len(samples) == 200


@pytest.mark.parametrize("name, library", sorted(LIBRARY_OF_PEER.items()))
def test_peer_without_its_library_is_unavailable_with_the_reason(monkeypatch, name, library):
    monkeypatch.setitem(sys.modules, library, None)  # `import library` now raises ImportError

    with pytest.raises(PeerUnavailable, match="not installed"):
        peer_rtt_samples(name, CORES, 10)
    with pytest.raises(PeerUnavailable, match="not installed"):
        peer_throughput(name, CORES, 10)


def test_unknown_peer_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="mp.Pipe"):
        peer_rtt_samples("carrier-pigeon", CORES, 10)


def test_core_outside_the_affinity_mask_is_refused_with_the_core():
    with pytest.raises(ValueError, match="core 4096"):
        peer_rtt_samples("mp.Pipe", (CORES[0], 4096), 10)


def test_throughput_needs_at_least_two_batches_to_time():
    with pytest.raises(ValueError, match="n_records=10 batch=8"):
        peer_throughput("mp.Pipe", CORES, 10, batch=8)


def test_peer_still_running_at_its_timeout_is_killed_and_reported():
    with pytest.raises(TimeoutError, match="mp.Pipe: not done within 1 s"):
        peer_rtt_samples("mp.Pipe", CORES, 10**9, timeout_s=1.0)

    assert multiprocessing.active_children() == []
