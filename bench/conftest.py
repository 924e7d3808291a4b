"""Benchmarks run under pytest (``make bench``) for its database set-up and the suite's fixtures.

Each ``bench_*`` function measures a baseline and the real thing in the same
process and prints their ratio (the machines are noisy: absolute times mean
little), and asserts only correctness (nothing lost, nothing duplicated),
never a time.
"""

pytest_plugins = ["tests.conftest"]
