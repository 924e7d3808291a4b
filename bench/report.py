"""Timing and printing for benchmarks: ratios against a baseline measured in the same process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stopwatch:
    """Wall-clock seconds of what ran inside ``with stopwatch:``."""

    seconds: float = 0.0
    _started: float = field(default=0.0, repr=False)

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._started


@contextmanager
def timed() -> Iterator[Stopwatch]:
    with Stopwatch() as watch:
        yield watch


def best_of(runs: int, measure: Callable[[], float]) -> float:
    """The fastest of ``runs`` measurements (the one least disturbed by the rest of the machine)."""
    return min(measure() for _ in range(runs))


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a benchmark's results as an aligned block."""
    width = max(len(name) for name, _ in rows)
    print(f"\n== {title}")
    for name, value in rows:
        print(f"   {name.ljust(width)}  {value}")
