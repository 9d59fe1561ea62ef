"""Timing that holds up on a shared, noisy machine: engines interleaved, medians reported."""

import gc
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


def table(rows, header):
    """Rows of strings as an aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
