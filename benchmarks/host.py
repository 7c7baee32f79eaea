"""The machine's speed at the moment of a benchmark, measured by a fixed workload.

The benchmarks' wall and CPU seconds move together with the host's speed: on this shared 2-core machine,
identical runs of the same code have differed by 40 % within a session and by 1.6–2× between sessions,
with the load average near 1.0 each time. The load average cannot show that; a fixed workload can.
:func:`probe_s` times one (pure Python bytecode, the kind of work that dominates the pipeline's CPU), so a
figure can be read next to the speed of the machine that produced it: two runs are comparable side by side
when their probes agree, and a figure from another session can be scaled by the ratio of the probes.
"""

from __future__ import annotations

import time

#: the loop's length: 0.17–0.22 s of CPU on this machine on 2026-12-08 (one core busy with a benchmark)
PROBE_ITERATIONS = 2_000_000


def _workload(iterations: int) -> int:
    total = 0
    for number in range(iterations):
        total += number * number % 7
    return total


def probe_s(repeats: int = 3) -> float:
    """CPU seconds of the fixed workload, the fastest of ``repeats`` runs (slower runs are interruptions)."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.process_time()
        _workload(PROBE_ITERATIONS)
        best = min(best, time.process_time() - start)
    return round(best, 4)
