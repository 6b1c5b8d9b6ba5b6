"""Shared timing helpers for the benchmark scripts (not part of the installed packages).

Every benchmark measures stagepoint and its peer on the same work in the same run, interleaving
the two so that drift of the machine affects both alike, and prints the ratio of the medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Median and spread of repeated measurements of one piece of work, in seconds."""

    label: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


def measure_pair(
    ours: Callable[[], object],
    peer: Callable[[], object],
    *,
    repeat: int,
    labels: tuple[str, str] = ("stagepoint", "peer"),
    setup: Callable[[], object] | None = None,
) -> tuple[Timing, Timing]:
    """Time ``ours`` and ``peer`` alternately ``repeat`` times each (after one warm-up of each)."""
    ours_samples: list[float] = []
    peer_samples: list[float] = []
    for i in range(repeat + 1):
        order = ((ours, ours_samples), (peer, peer_samples))
        for fn, samples in order if i % 2 == 0 else order[::-1]:
            if setup is not None:
                setup()
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            if i > 0:
                samples.append(elapsed)
    return Timing(labels[0], tuple(ours_samples)), Timing(labels[1], tuple(peer_samples))


def report(title: str, ours: Timing, peer: Timing, *, target: float | None = None) -> float:
    """Print one comparison line (medians and their ratio), then each side's min-max spread,
    so a noisy run shows as noisy; return the ratio."""
    ratio = ours.median / peer.median
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:.2f}x  {'OK' if ratio <= target else 'MISSED'}"
    print(
        f"{title}: {ours.label} {_fmt(ours.median)} vs {peer.label} {_fmt(peer.median)}"
        f"  ratio {ratio:.2f}x{verdict}"
    )
    for side in (ours, peer):
        print(
            f"    {side.label}: median {_fmt(side.median)}, min-max {_fmt(side.best)}"
            f"-{_fmt(max(side.samples))} ({len(side.samples)} runs)"
        )
    return ratio


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"
