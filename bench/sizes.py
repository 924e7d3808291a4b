"""How big a benchmark runs: the full size under ``make bench``, a smoke size in the test suite.

``make test`` collects the benchmarks with the tests and runs each at a
smoke size (a few seconds: small row counts, the same code paths and the
same correctness assertions), so a change that breaks one fails CI.
``make bench`` sets ``BENCH_SIZE=full``. A benchmark's own variable
(``BENCH_COST_ROWS``, ``BENCH_ENVIRONMENTS``…) wins over both.
"""

from __future__ import annotations

import os

FULL = os.environ.get("BENCH_SIZE", "smoke") == "full"
if os.environ.get("BENCH_SIZE", "smoke") not in {"smoke", "full"}:
    raise SystemExit(f"BENCH_SIZE must be smoke or full, not {os.environ['BENCH_SIZE']!r}")


def size(variable: str, *, full: int, smoke: int) -> int:
    """``variable`` from the environment if set, else the full or the smoke size."""
    given = os.environ.get(variable)
    if given is None:
        return full if FULL else smoke
    if not given.isdigit() or int(given) < 1:
        raise SystemExit(f"{variable} must be a whole number of at least 1, not {given!r}")
    return int(given)
