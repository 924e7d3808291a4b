"""Retryable driver errors are retried with bounded, jittered backoff; the last one surfaces typed."""

from __future__ import annotations

import pytest

from providers.errors import InvalidRequest, Throttled, Unavailable
from providers.retry import RetryPolicy, call_with_retries


class Flaky:
    def __init__(self, failures: list[Exception], result: str = "done") -> None:
        self.failures = failures
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


def test_a_throttled_call_is_retried_until_it_succeeds() -> None:
    waits: list[float] = []
    operation = Flaky([Throttled("slow down"), Unavailable("reset")])

    assert call_with_retries(operation, RetryPolicy(attempts=3), sleep=waits.append) == "done"
    assert operation.calls == 3
    assert len(waits) == 2


def test_retries_are_bounded_and_the_last_error_surfaces() -> None:
    operation = Flaky([Throttled("slow down", retry_after=3)] * 5)

    with pytest.raises(Throttled):
        call_with_retries(operation, RetryPolicy(attempts=4), sleep=lambda _: None)
    assert operation.calls == 4


def test_an_error_that_retrying_cannot_fix_is_raised_at_once() -> None:
    operation = Flaky([InvalidRequest("bad name")])

    with pytest.raises(InvalidRequest):
        call_with_retries(operation, sleep=lambda _: None)
    assert operation.calls == 1


def test_waits_grow_are_capped_and_honour_the_backends_hint() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=8)

    assert all(0 <= policy.delay(1) <= 1 for _ in range(50))
    assert all(0 <= policy.delay(10) <= 8 for _ in range(50))
    assert policy.delay(1, hint=5) >= 5
    assert policy.delay(1, hint=60) <= 8
