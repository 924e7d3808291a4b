"""Polling a backend until a resource reaches a state: bounded, with injectable sleep and clock.

Cloud resources take minutes (EKS, RDS, ElastiCache): a workflow step calls
``describe_*`` until the resource is ``available``, or, after a delete, until
it answers :class:`~providers.errors.NotFound`. :func:`wait_until` does the
polling and gives up with :class:`~providers.errors.TimedOut`, naming the last
state it saw, once ``timeout_seconds`` have passed. Tests pass a fake
``sleep`` and ``clock`` so nothing waits.

Errors the probe raises (other than the NotFound :func:`wait_for_deleted`
waits for) are not swallowed: drivers already retry throttling and transient
faults, so what reaches the poller is worth surfacing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from providers.errors import InvalidRequest, NotFound, TimedOut

T = TypeVar("T")


def describe_state(value: object) -> str:
    """A short description of a probed value for messages: its ``status`` when it has one, else its repr."""
    status = getattr(value, "status", None)
    if isinstance(status, str):
        return f"status {status!r}"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout_seconds: float,
    interval_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    what: str = "the resource",
) -> T:
    """Call ``probe`` until ``done`` holds for what it returns; return that value.

    Probes at once, then every ``interval_seconds`` (the last sleep is cut
    short so the wait never overruns ``timeout_seconds``), and probes once more
    at the deadline. Raises :class:`~providers.errors.TimedOut` with ``what``
    and the last state seen when the deadline passes first.
    """
    if timeout_seconds < 0 or interval_seconds <= 0:
        raise InvalidRequest("wait_until needs a timeout of at least 0 seconds and an interval above 0.")
    deadline = clock() + timeout_seconds
    while True:
        value = probe()
        if done(value):
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise TimedOut(
                f"Gave up waiting for {what} after {timeout_seconds:g} s; last seen: {describe_state(value)}.",
                resource=what,
            )
        sleep(min(interval_seconds, remaining))


_GONE = object()


def wait_for_deleted(
    describe: Callable[[str], object],
    name: str,
    *,
    timeout_seconds: float,
    interval_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Wait until ``describe(name)`` raises :class:`~providers.errors.NotFound` (the resource is gone).

    ``describe`` is a driver's ``describe_*`` method, e.g.
    ``wait_for_deleted(cloud.describe_database, "orders-eu", timeout_seconds=1800)``.
    Raises :class:`~providers.errors.TimedOut` with the last state seen.
    """

    def probe() -> object:
        try:
            return describe(name)
        except NotFound:
            return _GONE

    wait_until(
        probe,
        lambda value: value is _GONE,
        timeout_seconds=timeout_seconds,
        interval_seconds=interval_seconds,
        sleep=sleep,
        clock=clock,
        what=f"{name} to be deleted",
    )
