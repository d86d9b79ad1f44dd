"""Run one peer between two pinned OS processes and bring their results back.

Side "a" (initiator or producer) runs on the first core, side "b" (echo or consumer)
on the second. Both are 'spawn' children: a fresh interpreter, nothing inherited from
the parent's threads or numba state. A barrier starts the measured loop only once
both ends are open, and a second barrier keeps either end from closing while the
other still reads (a zmq socket closed with linger 0 drops what is queued).

The parent never waits without a deadline: a side that hangs or dies is killed and
reported, so no bench run and no test can hang.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import multiprocessing.connection
import time
import traceback
from array import array

from tickpipe.bench.peers.channel import Endpoint
from tickpipe.bench.peers.pairing import pin_current_process, resolve_cores

_BARRIER_TIMEOUT_S = 30.0
_JOIN_GRACE_S = 2.0


def _initiate_round_trips(endpoint: Endpoint, iterations: int, warmup: int) -> bytes:
    """Send a 64-byte ping and wait for its echo; int64 ns per round trip, as bytes."""
    send, recv, clock = endpoint.send, endpoint.recv, time.perf_counter_ns
    ping = endpoint.pack(1)
    for _ in range(warmup):
        send(ping)
        recv()
    # array('q') rather than numpy: the store runs between two timed windows on every
    # iteration, and array's item store is a few times cheaper than numpy's.
    samples = array("q", bytes(8 * iterations))
    for i in range(iterations):
        start = clock()
        send(ping)
        recv()
        samples[i] = clock() - start
    return samples.tobytes()


def _echo(endpoint: Endpoint, round_trips: int) -> None:
    send, recv = endpoint.send, endpoint.recv
    for _ in range(round_trips):
        send(recv())


def _produce(endpoint: Endpoint, n_records: int, batch: int) -> None:
    send = endpoint.send
    full_batches, rest = divmod(n_records, batch)
    message = endpoint.pack(batch)
    for _ in range(full_batches):
        send(message)
    if rest:
        send(endpoint.pack(rest))


def _consume(endpoint: Endpoint, n_records: int) -> float:
    """Records/s from the first receipt to the last.

    The records of the first receipt arrived before the clock started, so they are
    not counted: rate = records after the first receipt / time after it.
    """
    recv, count, clock = endpoint.recv, endpoint.count, time.perf_counter_ns
    first_count = count(recv())
    first_receipt = clock()
    received = first_count
    while received < n_records:
        received += count(recv())
    elapsed_ns = clock() - first_receipt
    return (received - first_count) * 1e9 / elapsed_ns


_JOBS = {
    "initiate_round_trips": _initiate_round_trips,
    "echo": _echo,
    "produce": _produce,
    "consume": _consume,
}


def _side_main(peer_module, spec, side, batch, shared_core, core, job, job_args, barrier, results):
    """Body of one child: pin, open, meet the other side, run the job, report."""
    try:
        pin_current_process(core)
        endpoint = importlib.import_module(peer_module).open_endpoint(spec, side, batch, shared_core)
        try:
            barrier.wait(_BARRIER_TIMEOUT_S)
            endpoint.connect()
            outcome = ("ok", _JOBS[job](endpoint, *job_args))
            barrier.wait(_BARRIER_TIMEOUT_S)
        finally:
            endpoint.close()
    except BaseException:
        outcome = ("error", traceback.format_exc())
    results.send(outcome)
    results.close()


def run_pinned_pair(peer_name, peer_module, batch, cores, job_a, job_b, timeout_s):
    """Run job_a on side "a" and job_b on side "b"; return (result_a, result_b).

    job_a / job_b are (job name, args). Raises TimeoutError when the pair is not done
    within timeout_s (both sides are then killed), RuntimeError when a side fails.
    """
    module = importlib.import_module(peer_module)
    module.require()
    core_a, core_b = resolve_cores(cores)
    shared_core = core_a == core_b
    ctx = mp.get_context("spawn")
    spec = module.create_channel(ctx, batch)
    barrier = ctx.Barrier(2)
    processes, result_ends = [], []
    try:
        for side, core, (job, job_args) in (("a", core_a, job_a), ("b", core_b, job_b)):
            result_end, report_end = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_side_main,
                args=(peer_module, spec, side, batch, shared_core, core, job, job_args, barrier, report_end),
                name=f"bench {peer_name} side {side}",
                daemon=True,
            )
            process.start()
            report_end.close()
            processes.append(process)
            result_ends.append(result_end)
        return _collect(peer_name, processes, result_ends, timeout_s)
    finally:
        for process in processes:
            process.join(_JOIN_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
        for result_end in result_ends:
            result_end.close()
        module.destroy_channel(spec)


def _collect(peer_name, processes, result_ends, timeout_s):
    deadline = time.monotonic() + timeout_s
    results = [None, None]
    pending = dict(zip(result_ends, range(2)))
    while pending:
        ready = multiprocessing.connection.wait(list(pending), max(0.0, deadline - time.monotonic()))
        if not ready:
            for process in processes:
                process.kill()
            raise TimeoutError(f"{peer_name}: not done within {timeout_s:g} s; both sides killed")
        for result_end in ready:
            index = pending.pop(result_end)
            side = "ab"[index]
            try:
                status, value = result_end.recv()
            except EOFError:
                processes[index].join(_JOIN_GRACE_S)
                status, value = "error", f"exited with code {processes[index].exitcode} before reporting"
            if status != "ok":
                for process in processes:
                    process.kill()
                raise RuntimeError(f"{peer_name} side {side} failed: {value}")
            results[index] = value
    return tuple(results)
