"""Benchmarks, run under pytest for its database set-up and the suite's fixtures.

Each ``bench_*`` function measures a baseline and the real thing in the same
process and prints their ratio (the machines are noisy: absolute times mean
little), and asserts only correctness (nothing lost, nothing duplicated),
never a time. ``make bench`` runs them at full size; ``make test`` at a smoke
size (``bench/sizes.py``).
"""
