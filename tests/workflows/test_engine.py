"""The workflow engine's rules, advanced in this process step by step (the worker tests prove the asynchronous side)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.workflows.definitions import FINISHED, read_journal
from workflows import engine
from workflows.models import Direction, Run, RunStatus, StepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.jsonl"


@pytest.fixture(autouse=True)
def no_finished_runs() -> Iterator[None]:
    FINISHED.clear()
    yield
    FINISHED.clear()


def scripted(journal: Path, key: str = "run-1", steps: tuple[str, ...] = ("a", "b", "c"), **script: list[str]) -> Run:
    return engine.start("tests.scripted", key=key, params={"journal": str(journal), "steps": steps, "script": script})


def advance(run: Run) -> Run:
    engine.advance(run.pk)
    return Run.objects.get(pk=run.pk)


def come_back_now(run: Run) -> None:
    """Let the time a waiting run was told to wait pass."""
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def states(run: Run) -> list[tuple[str, str]]:
    return list(run.steps.values_list("name", "status"))


def test_a_run_performs_its_steps_in_order_and_each_sees_the_outputs_before_it(journal: Path) -> None:
    run = advance(scripted(journal))

    assert run.status == RunStatus.SUCCEEDED
    assert read_journal(journal) == [["try", "a"], ["try", "b"], ["try", "c"]]
    outputs = dict(run.steps.values_list("name", "output"))
    assert outputs["c"] == {"made": "c-thing", "seen": ["a", "b"]}
    assert all(step.started_at and step.finished_at and step.duration is not None for step in run.steps.all())
    assert FINISHED == [("run-1", "succeeded")]


def test_starting_a_run_twice_with_one_key_gives_the_first_run(journal: Path) -> None:
    first = scripted(journal)
    second = scripted(journal, steps=("x",))

    assert second.pk == first.pk
    assert Run.objects.count() == 1
    assert [step.name for step in second.steps.all()] == ["a", "b", "c"]


def test_params_that_are_not_json_are_refused_before_anything_is_saved(journal: Path) -> None:
    with pytest.raises(TypeError, match="JSON"):
        engine.start("tests.scripted", key="bad", params={"journal": journal, "steps": ["a"]})

    assert not Run.objects.exists()


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(LookupError, match="no workflow is registered as 'nope'"):
        engine.start("nope", key="k")


def test_throttling_makes_the_step_wait_and_the_run_then_goes_on(journal: Path) -> None:
    run = advance(scripted(journal, b=["throttled"]))

    assert run.status == RunStatus.WAITING
    assert run.next_attempt_at is not None
    step_b = run.steps.get(name="b")
    assert (step_b.status, step_b.attempts) == (StepStatus.WAITING, 1)
    assert "Throttled: slow down (try 1 of 3)" in step_b.note
    assert run.lease_token == "", "a waiting run holds no lease"

    come_back_now(run)
    run = advance(run)

    assert run.status == RunStatus.SUCCEEDED
    assert run.steps.get(name="b").attempts == 2
    assert read_journal(journal).count(["try", "a"]) == 1, "a step that succeeded is never done again"


def test_a_run_that_is_waiting_is_not_advanced_before_its_time(journal: Path) -> None:
    run = engine.start(
        "tests.scripted",
        key="slow",
        params={"journal": str(journal), "steps": ["a"], "script": {"a": ["slow"]}},
    )
    run = advance(run)
    run = advance(run)

    assert run.status == RunStatus.WAITING
    assert read_journal(journal) == [["try", "a"]]
    assert run.steps.get().note == "waiting for the database"


def test_a_retryable_error_that_outlasts_the_attempts_fails_the_run_with_its_type(journal: Path) -> None:
    run = scripted(journal, b=["unavailable"] * 5)
    for _ in range(3):
        run = advance(run)
        come_back_now(run)

    assert run.status == RunStatus.FAILED
    step_b = run.steps.get(name="b")
    assert (step_b.status, step_b.error_code, step_b.error) == (StepStatus.FAILED, "Unavailable", "503 from the API")
    assert run.error == "b: 503 from the API"
    assert run.steps.get(name="c").status == StepStatus.PENDING
    assert FINISHED == [("run-1", "failed")]


def test_a_resource_busy_with_another_operation_is_waited_for_beyond_the_attempts(journal: Path) -> None:
    run = scripted(journal, b=["busy"] * 5)
    for _ in range(5):
        run = advance(run)
        assert run.status == RunStatus.WAITING
        step_b = run.steps.get(name="b")
        assert (step_b.status, step_b.attempts) == (StepStatus.WAITING, 0), "waiting is not trying"
        assert step_b.note == "Busy: the database is being modified"
        assert run.next_attempt_at is not None
        assert run.next_attempt_at > timezone.now() + timedelta(seconds=20), "asked again after half a minute"
        come_back_now(run)

    run = advance(run)

    assert run.status == RunStatus.SUCCEEDED
    assert read_journal(journal).count(["try", "b"]) == 6


def test_an_error_retrying_cannot_fix_fails_at_once_and_retry_resumes_at_that_step(journal: Path) -> None:
    run = advance(scripted(journal, b=["invalid"]))

    assert run.status == RunStatus.FAILED
    assert run.steps.get(name="b").error_code == "InvalidRequest"

    run = advance(engine.retry(run))

    assert run.status == RunStatus.SUCCEEDED
    assert read_journal(journal) == [["try", "a"], ["try", "b"], ["try", "b"], ["try", "c"]]


def test_retrying_a_run_that_did_not_fail_changes_nothing(journal: Path) -> None:
    run = advance(scripted(journal))

    assert engine.retry(run).status == RunStatus.SUCCEEDED
    assert advance(run).status == RunStatus.SUCCEEDED
    assert len(read_journal(journal)) == 3


def test_a_step_failure_a_person_must_resolve_is_shown_as_the_step_said(journal: Path) -> None:
    run = advance(scripted(journal, a=["refused"]))

    step = run.steps.get(name="a")
    assert (step.error_code, step.error) == ("StepFailed", "the cluster has no room for another environment")


def test_an_unexpected_exception_fails_the_step_without_showing_its_details(
    journal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = advance(scripted(journal, b=["crash"]))

    step = run.steps.get(name="b")
    assert step.error_code == "InternalError"
    assert "hunter2" not in step.error
    assert "ZeroDivisionError" not in step.error
    assert "the worker log has the details" in step.error
    assert "ZeroDivisionError" in caplog.text, "the details go to the log"


def test_a_step_that_is_not_ready_waits_with_a_note_and_gives_up_after_its_deadline(journal: Path) -> None:
    run = advance(scripted(journal, a=["not-yet"] * 100))
    step = run.steps.get(name="a")
    assert (run.status, step.status, step.attempts, step.note) == (
        RunStatus.WAITING,
        StepStatus.WAITING,
        0,
        "cluster is still creating",
    )

    run.steps.filter(pk=step.pk).update(wait_until=timezone.now() - timedelta(seconds=1))
    come_back_now(run)
    run = advance(run)

    step = run.steps.get(name="a")
    assert (run.status, step.error_code, step.error) == (
        RunStatus.FAILED,
        "TimedOut",
        "gave up waiting: cluster is still creating",
    )


def test_cancelling_a_run_no_worker_holds_stops_it_at_once(journal: Path) -> None:
    run = advance(scripted(journal, b=["slow"]))

    run = engine.cancel(run)

    assert run.status == RunStatus.CANCELLED
    assert states(run) == [("a", "succeeded"), ("b", "cancelled"), ("c", "cancelled")]
    come_back_now(run)
    assert advance(run).status == RunStatus.CANCELLED
    assert read_journal(journal) == [["try", "a"], ["try", "b"]]


def test_cancelling_a_run_a_worker_holds_stops_it_before_the_next_step(journal: Path) -> None:
    run = advance(scripted(journal, b=["cancel-me"]))

    assert run.status == RunStatus.CANCELLED
    assert states(run) == [("a", "succeeded"), ("b", "succeeded"), ("c", "cancelled")]
    assert FINISHED == [("run-1", "cancelled")]


def test_cancelling_a_finished_run_changes_nothing(journal: Path) -> None:
    run = advance(scripted(journal))

    assert engine.cancel(run).status == RunStatus.SUCCEEDED


def test_undo_reverses_every_step_that_began_newest_first_with_what_it_made(journal: Path) -> None:
    run = advance(scripted(journal, c=["invalid"]))

    undo_run = advance(engine.undo(run))

    assert (undo_run.direction, undo_run.status, undo_run.parent_id) == (
        Direction.UNDO,
        RunStatus.SUCCEEDED,
        run.pk,
    )
    assert [entry for entry in read_journal(journal) if entry[0] == "undo"] == [
        ["undo", "c", ""],  # failed half-way: undone too, with nothing recorded
        ["undo", "b", "b-thing"],
        ["undo", "a", "a-thing"],
    ]
    assert engine.undo(run).pk == undo_run.pk, "undo twice starts one undo run"


def test_undo_leaves_out_steps_that_never_began(journal: Path) -> None:
    run = engine.cancel(advance(scripted(journal, b=["slow"])))

    undo_run = engine.undo(run)

    assert [step.name for step in undo_run.steps.all()] == ["b", "a"]


def test_a_run_still_going_or_an_undo_run_cannot_be_undone(journal: Path) -> None:
    waiting = advance(scripted(journal, b=["slow"]))
    with pytest.raises(ValueError, match="cancel it first"):
        engine.undo(waiting)

    done = advance(scripted(journal, key="run-2"))
    undo_run = advance(engine.undo(done))
    with pytest.raises(ValueError, match="cannot itself be undone"):
        engine.undo(undo_run)


def test_a_run_another_worker_holds_is_left_alone(journal: Path) -> None:
    run = scripted(journal)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, lease_token="other", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    advance(run)

    assert read_journal(journal) == []


def test_a_run_whose_worker_died_is_resumed_once_the_lease_expires(journal: Path) -> None:
    run = scripted(journal)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, lease_token="dead", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run.steps.filter(name="a").update(status=StepStatus.RUNNING, attempts=1, started_at=timezone.now())

    run = advance(run)

    assert run.status == RunStatus.SUCCEEDED
    assert run.steps.get(name="a").attempts == 2
    assert run.leases == 1


def test_a_step_whose_worker_keeps_dying_fails_instead_of_looping(journal: Path) -> None:
    run = scripted(journal)
    run.steps.filter(name="a").update(status=StepStatus.RUNNING, attempts=3, started_at=timezone.now())

    run = advance(run)

    step = run.steps.get(name="a")
    assert (run.status, step.error_code) == (RunStatus.FAILED, "WorkerLost")
    assert read_journal(journal) == []


def test_the_sweeper_enqueues_only_runs_that_are_due_and_held_by_nobody(
    journal: Path, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        due = scripted(journal, key="due", b=["slow"])
        held = scripted(journal, key="held")
        lost = scripted(journal, key="lost")
        later = scripted(journal, key="later", b=["slow"])
    for run in (due, later):
        advance(run)
    # due: enqueued when it began to wait, and the wait is now over
    Run.objects.filter(pk=due.pk).update(enqueued_at=now - timedelta(seconds=30), next_attempt_at=now)
    Run.objects.filter(pk=held.pk).update(status=RunStatus.RUNNING, lease_expires_at=now + timedelta(minutes=1))
    Run.objects.filter(pk=lost.pk).update(enqueued_at=now - timedelta(hours=1))

    assert engine.sweep() == 2
    enqueued = {run.key for run in Run.objects.filter(enqueued_at__gte=now + timedelta(microseconds=1))}
    assert {"due", "lost"} <= enqueued
    assert engine.sweep() == 0, "what was just enqueued is not enqueued again"


def test_a_cancel_requested_while_a_worker_let_go_is_carried_out_on_the_next_sweep(journal: Path) -> None:
    run = advance(scripted(journal, b=["slow"]))
    # the worker was still letting go of the run when the cancel came: only the request was recorded
    Run.objects.filter(pk=run.pk).update(cancel_requested_at=timezone.now())

    assert engine.sweep() == 1
    run = advance(run)

    assert run.status == RunStatus.CANCELLED


def test_each_step_has_its_own_idempotency_token_that_every_try_shares(journal: Path) -> None:
    run = scripted(journal)
    a, b = run.steps.all()[:2]

    def token(step: Any) -> str:
        return engine._context(run, step).idempotency_token

    assert token(a) == token(a)
    assert token(a) != token(b)
    assert len(token(a)) == 32


def test_a_run_ends_even_when_its_definition_fails_to_hear_of_it(journal: Path) -> None:
    run = engine.start(
        "tests.scripted", key="hook", params={"journal": str(journal), "steps": ["a"], "finished_fails": True}
    )

    run = advance(run)

    assert run.status == RunStatus.SUCCEEDED
    assert "the page may not show the outcome yet" in run.error
    assert engine.sweep() == 0, "an ended run is not run again"
