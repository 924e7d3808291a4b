"""The fixtures of the whole suite (tests/fixtures.py), for the tests and the benchmarks alike.

pytest reads ``pytest_plugins`` only from this top-level conftest; both
``tests/`` and ``bench/`` use the same personas, demo data, Celery worker
processes and browser.
"""

pytest_plugins = ["tests.fixtures"]
