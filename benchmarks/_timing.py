"""Timing that holds up on a shared, noisy machine: engines interleaved, medians reported."""

import gc
import multiprocessing
import resource
import statistics
import time


def interleaved(workloads, repeats, warmup=1, collector=True):
    """Median seconds per call of each workload, running them in turn ``repeats`` times.

    ``workloads`` maps a name to a function of no arguments. Interleaving
    exposes every engine to the same background load; the median ignores
    the occasional stall. With ``collector=False`` Python's cyclic garbage
    collector is off while timing (it is switched back on after).
    """
    for _ in range(warmup):
        for work in workloads.values():
            work()
    samples = {name: [] for name in workloads}
    was_enabled = gc.isenabled()
    try:
        if not collector:
            gc.disable()
        for _ in range(repeats):
            for name, work in workloads.items():
                start = time.perf_counter()
                work()
                samples[name].append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
    return {name: statistics.median(times) for name, times in samples.items()}


def _engine_process(connection, factory, engine, arguments):
    """Runs in a process of its own: builds one engine's step with ``factory``, then runs batches of steps on request.

    Sends the first three results (losses), then for every batch size it
    receives the seconds and the minor page faults the batch took, until it
    receives None.
    """
    step = factory(engine, *arguments)
    connection.send([step() for _ in range(3)])
    for count in iter(connection.recv, None):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in range(count):
            step()
        seconds = time.perf_counter() - start
        connection.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))


def processes_taking_turns(engines, factory, arguments, repeats, steps_per_sample, warmup=2):
    """Each engine's step (``factory(engine, *arguments)``, a module-level function) in a process of its own.

    Processes share no heap, so one engine's allocations cannot change when
    malloc hands memory back to the system for another. They take turns,
    batch by batch, a different one first at each turn, so all see the same
    background load. Returns each engine's first three results, and its
    median seconds and mean minor page faults per step.
    """
    context = multiprocessing.get_context("spawn")
    processes, connections = [], {}
    for engine in engines:
        ours_end, theirs_end = context.Pipe()
        process = context.Process(target=_engine_process, args=(theirs_end, factory, engine, arguments))
        process.start()
        processes.append(process)
        connections[engine] = ours_end
    first = {engine: connection.recv() for engine, connection in connections.items()}
    samples = {engine: [] for engine in engines}
    for turn in range(warmup + repeats):
        for engine in engines[turn % len(engines):] + engines[:turn % len(engines)]:
            connections[engine].send(steps_per_sample)
            seconds, faults = connections[engine].recv()
            if turn >= warmup:
                samples[engine].append((seconds / steps_per_sample, faults / steps_per_sample))
    for connection in connections.values():
        connection.send(None)
    for process in processes:
        process.join()
    timed = {
        engine: (statistics.median(s for s, _ in batches), statistics.mean(f for _, f in batches))
        for engine, batches in samples.items()
    }
    return first, timed


def table(rows, header):
    """Rows of strings as an aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
