"""The workflow engine on real Celery worker processes: runs go on without the web process, survive a killed worker,
and stop when cancelled."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from portal.celery import app
from providers.sandbox.cluster import SandboxClusterDriver
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.workflows.definitions import read_journal
from workflows import engine
from workflows.models import Run, RunStatus, StepStatus

DEFINITIONS = ("tests.workflows.definitions",)
# A short lease, so a killed worker's run is free again within a second.
SHORT_LEASE = {"PORTAL_WORKFLOW_LEASE_SECONDS": "1"}


def namespaces_run(tmp_path: Path, key: str = "ns-1", **params: Any) -> Run:
    return engine.start(
        "tests.namespaces",
        key=key,
        params={
            "namespaces": ["core-services", "student-services", "analytics"],
            "cluster_dir": str(tmp_path / "cluster"),
            "journal": str(tmp_path / "journal.jsonl"),
            "gate": str(tmp_path / "gate"),
            **params,
        },
    )


def status_of(run: Run) -> str:
    return Run.objects.get(pk=run.pk).status


def namespaces_in(tmp_path: Path) -> dict[str, str]:
    driver = SandboxClusterDriver(tmp_path / "cluster", "test-cluster")
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in driver.objects("Namespace")}


def test_a_run_started_by_the_web_process_is_carried_out_by_a_worker(
    start_celery_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_celery_worker(include=DEFINITIONS)

    run = namespaces_run(tmp_path)

    wait_until(lambda: status_of(run) == RunStatus.SUCCEEDED)
    assert set(namespaces_in(tmp_path)) == {"core-services", "student-services", "analytics"}


def test_a_throttled_step_is_tried_again_by_the_worker_without_anyone_asking(
    start_celery_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_celery_worker(include=DEFINITIONS)
    journal = tmp_path / "journal.jsonl"

    run = engine.start(
        "tests.scripted",
        key="throttled",
        params={"journal": str(journal), "steps": ["a", "b"], "script": {"b": ["throttled", "throttled"]}},
    )

    wait_until(lambda: status_of(run) == RunStatus.SUCCEEDED)
    assert read_journal(journal) == [["try", "a"], ["try", "b"], ["try", "b"], ["try", "b"]]


def test_a_run_whose_worker_is_killed_mid_step_is_finished_by_another_without_duplicates(
    start_celery_worker: WorkerFactory, tmp_path: Path
) -> None:
    first = start_celery_worker(include=DEFINITIONS, env=SHORT_LEASE)
    run = namespaces_run(tmp_path, hold="student-services")
    wait_until(lambda: ["holding", "student-services"] in read_journal(tmp_path / "journal.jsonl"))
    created_before_the_kill = namespaces_in(tmp_path)

    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    (tmp_path / "gate").touch()
    assert status_of(run) == RunStatus.RUNNING
    assert Run.objects.get(pk=run.pk).steps.get(name="Namespace student-services").status == StepStatus.RUNNING

    start_celery_worker(include=DEFINITIONS, env=SHORT_LEASE)
    # What beat does every 30 s: the lease ran out, so the run is enqueued again.
    wait_until(lambda: engine.sweep() or status_of(run) != RunStatus.RUNNING, timeout=10, interval=0.5)
    wait_until(lambda: status_of(run) == RunStatus.SUCCEEDED)

    done = Run.objects.get(pk=run.pk)
    assert done.leases == 2
    assert done.steps.get(name="Namespace student-services").attempts == 2
    namespaces = namespaces_in(tmp_path)
    assert set(namespaces) == {"core-services", "student-services", "analytics"}
    assert {name: namespaces[name] for name in created_before_the_kill} == created_before_the_kill, (
        "a namespace made before the kill was recreated"
    )
    assert [entry for entry in read_journal(tmp_path / "journal.jsonl") if entry[0] == "do"] == [
        ["do", "core-services"],
        ["do", "student-services"],
        ["do", "student-services"],  # performed again by the second worker: found, not duplicated
        ["do", "analytics"],
    ]


def test_cancelling_a_run_a_worker_is_on_stops_it_after_the_current_step(
    start_celery_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_celery_worker(include=DEFINITIONS)
    run = namespaces_run(tmp_path, hold="student-services")
    wait_until(lambda: ["holding", "student-services"] in read_journal(tmp_path / "journal.jsonl"))

    assert engine.cancel(run).status == RunStatus.RUNNING, "the worker holds it: cancelled between steps"
    (tmp_path / "gate").touch()

    wait_until(lambda: status_of(run) == RunStatus.CANCELLED)
    steps = dict(Run.objects.get(pk=run.pk).steps.values_list("name", "status"))
    assert steps == {
        "Namespace core-services": StepStatus.SUCCEEDED,
        "Namespace student-services": StepStatus.SUCCEEDED,
        "Namespace analytics": StepStatus.CANCELLED,
    }
    assert "analytics" not in namespaces_in(tmp_path)


def test_undoing_a_run_on_the_worker_removes_what_it_made(start_celery_worker: WorkerFactory, tmp_path: Path) -> None:
    start_celery_worker(include=DEFINITIONS)
    run = namespaces_run(tmp_path)
    wait_until(lambda: status_of(run) == RunStatus.SUCCEEDED)

    undo_run = engine.undo(Run.objects.get(pk=run.pk))

    wait_until(lambda: status_of(undo_run) == RunStatus.SUCCEEDED)
    assert namespaces_in(tmp_path) == {}


@pytest.mark.django_db
def test_beat_sweeps_for_runs_to_resume_twice_a_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["workflows-sweep"]
    app.loader.import_default_modules()  # what a worker does at start: import every app's tasks

    assert entry["task"] == "workflows.sweep"
    assert entry["schedule"] == 30.0
    assert "workflows.sweep" in app.tasks
    assert "workflows.advance" in app.tasks
