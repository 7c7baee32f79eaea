"""Fault injection for the PMH relay's crash-matrix tests (REL-04): never shipped, never in production.

The relay calls its ``fault_hook`` at each point of :data:`services.pmh.states.FAULT_POINTS`;
:func:`fault_point` is such a hook, driven by ``KODOMO_PMH_FAULT=<point>[:raise|kill][:<n>]``: at the n-th
hit (default 1st) of ``<point>`` it raises :class:`PmhFaultInjected` or, for ``kill``, sends SIGKILL to its
own process. ``python -m devtools.pmh_relay_runner`` passes it to a relay run in a child process.
"""

from __future__ import annotations

import collections
import os
import signal
import threading

from services.pmh.states import FAULT_POINTS

__all__ = ["FAULT_ENV", "FAULT_POINTS", "PmhFaultInjected", "fault_point", "reset_fault_counters"]

FAULT_ENV = "KODOMO_PMH_FAULT"


class PmhFaultInjected(RuntimeError):  # noqa: N818 - it is not an error of the code
    """Raised at a named fault point (tests only)."""

    safe_message = True


_fault_hits: collections.Counter = collections.Counter()
_fault_lock = threading.Lock()


def reset_fault_counters() -> None:
    """Forget how often each fault point was hit (tests)."""
    with _fault_lock:
        _fault_hits.clear()


def fault_point(name: str) -> None:
    """Raise or SIGKILL here when ``KODOMO_PMH_FAULT`` names this point (at its n-th hit, default 1st)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    action, _, nth = rest.partition(":")
    with _fault_lock:
        _fault_hits[name] += 1
        hit = _fault_hits[name]
    if hit != int(nth or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise PmhFaultInjected(f"fault injected at {name}")
