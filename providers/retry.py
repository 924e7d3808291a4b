"""Bounded retries with exponential backoff and full jitter for retryable driver errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from providers.errors import Busy, ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries; waits grow as ``base * 2**n`` (capped), each drawn at random below it."""

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 20.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        wait = random.uniform(0, ceiling)  # noqa: S311 (jitter, not cryptography)
        return max(wait, min(hint, self.cap_seconds)) if hint else wait


def call_with_retries(
    operation: Callable[[], T],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``; retry it while it raises a retryable :class:`ProviderError`, then re-raise the last one.

    :class:`~providers.errors.Busy` is raised at once: a resource busy with
    another operation stays so for minutes, longer than these retries last,
    so the workflow step waits for it instead.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except ProviderError as error:
            if not error.retryable or isinstance(error, Busy) or attempt == policy.attempts:
                raise
            sleep(policy.delay(attempt, error.retry_after))
    raise AssertionError("unreachable")  # pragma: no cover
