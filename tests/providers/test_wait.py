"""Waiting for a resource: done at once, done later, given up with the last state, gone after a delete."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from providers.errors import InvalidRequest, NotFound, PermissionDenied, TimedOut
from providers.wait import wait_for_deleted, wait_until


@dataclass(frozen=True)
class Info:
    name: str
    status: str


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Backend:
    """A describe_* that answers the given states in turn, then keeps answering the last one."""

    def __init__(self, *states: str | None) -> None:
        self.states = list(states)
        self.calls = 0

    def describe(self, name: str) -> Info:
        self.calls += 1
        state = self.states[min(self.calls, len(self.states)) - 1]
        if state is None:
            raise NotFound(f"no cluster named {name}")
        return Info(name, state)


def test_it_returns_at_once_without_sleeping_when_the_resource_is_already_there() -> None:
    time = FakeTime()
    backend = Backend("available")

    info = wait_until(
        lambda: backend.describe("eks-orders"),
        lambda info: info.status == "available",
        timeout_seconds=60,
        sleep=time.sleep,
        clock=time.clock,
    )

    assert info == Info("eks-orders", "available")
    assert time.sleeps == []


def test_it_polls_every_interval_until_done() -> None:
    time = FakeTime()
    backend = Backend("creating", "creating", "available")

    info = wait_until(
        lambda: backend.describe("eks-orders"),
        lambda info: info.status == "available",
        timeout_seconds=600,
        interval_seconds=15,
        sleep=time.sleep,
        clock=time.clock,
    )

    assert info.status == "available"
    assert (backend.calls, time.sleeps) == (3, [15, 15])


def test_it_gives_up_at_the_deadline_with_a_typed_error_naming_the_last_state() -> None:
    time = FakeTime()
    backend = Backend("creating", "creating", "updating")

    with pytest.raises(TimedOut) as error:
        wait_until(
            lambda: backend.describe("eks-orders"),
            lambda info: info.status == "available",
            timeout_seconds=25,
            interval_seconds=10,
            sleep=time.sleep,
            clock=time.clock,
            what="eks-orders to be available",
        )

    assert "eks-orders to be available" in error.value.message
    assert "after 25 s" in error.value.message
    assert "last seen: status 'updating'" in error.value.message
    assert error.value.retryable
    # Probes at 0, 10, 20 and at the deadline (25): the last sleep is cut short, never past the deadline.
    assert time.sleeps == [10, 10, 5]
    assert backend.calls == 4


def test_a_value_without_a_status_is_described_by_its_repr() -> None:
    time = FakeTime()

    with pytest.raises(TimedOut, match=r"last seen: \{'ready': 1, 'desired': 3\}"):
        wait_until(
            lambda: {"ready": 1, "desired": 3},
            lambda value: value["ready"] == value["desired"],
            timeout_seconds=0,
            sleep=time.sleep,
            clock=time.clock,
        )


def test_errors_the_probe_raises_are_not_swallowed() -> None:
    def probe() -> Info:
        raise PermissionDenied("not allowed to describe clusters")

    with pytest.raises(PermissionDenied):
        wait_until(probe, lambda info: True, timeout_seconds=60, sleep=FakeTime().sleep)


def test_a_negative_timeout_or_a_zero_interval_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        wait_until(lambda: 1, lambda value: True, timeout_seconds=-1)
    with pytest.raises(InvalidRequest):
        wait_until(lambda: 1, lambda value: True, timeout_seconds=10, interval_seconds=0)


def test_waiting_for_a_delete_ends_when_describe_answers_not_found() -> None:
    time = FakeTime()
    backend = Backend("deleting", "deleting", None)

    wait_for_deleted(
        backend.describe, "eks-orders", timeout_seconds=300, interval_seconds=30, sleep=time.sleep, clock=time.clock
    )

    assert (backend.calls, time.sleeps) == (3, [30, 30])


def test_a_delete_that_does_not_finish_in_time_times_out_naming_the_resource_and_its_state() -> None:
    time = FakeTime()
    backend = Backend("deleting")

    with pytest.raises(TimedOut, match=r"eks-orders to be deleted after 60 s; last seen: status 'deleting'"):
        wait_for_deleted(
            backend.describe, "eks-orders", timeout_seconds=60, interval_seconds=20, sleep=time.sleep, clock=time.clock
        )
