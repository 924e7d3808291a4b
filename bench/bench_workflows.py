"""The workflow engine's cost per step, and a real worker's throughput.

Baseline: the same sandbox-cluster calls made directly, in this process.
Engine in-process: the same steps as workflow runs advanced here (what the
engine adds: leases, saved state before and after each step).
Worker: the runs carried out by one real Celery worker process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bench.report import best_of, report, timed
from bench.sizes import size
from providers.cluster import NamespaceSpec
from providers.sandbox.cluster import SandboxClusterDriver
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from workflows import engine
from workflows.engine import PlannedStep, StepContext, Workflow, register
from workflows.models import Run, RunStatus

RUNS = size("BENCH_WORKFLOW_RUNS", full=100, smoke=10)
IN_PROCESS = min(20, RUNS)  # the worker's baseline
STEPS = 6  # the spec's six namespaces, as an environment's provisioning has


@register
class BenchNamespaces(Workflow):
    kind = "bench.namespaces"

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [PlannedStep(f"ns {i}", "namespace", {"name": f"{params['prefix']}-{i}"}) for i in range(STEPS)]

    def do_namespace(self, ctx: StepContext) -> Mapping[str, Any]:
        driver = SandboxClusterDriver(ctx.run_params["cluster_dir"], "bench")
        return {"uid": driver.ensure_namespace(NamespaceSpec(ctx.params["name"])).uid}


def start_runs(cluster_dir: Path, label: str) -> list[int]:
    return [
        engine.start(
            "bench.namespaces", key=f"{label}-{n}", params={"prefix": f"{label}-{n}", "cluster_dir": str(cluster_dir)}
        ).pk
        for n in range(RUNS)
    ]


def namespaces(cluster_dir: Path, label: str) -> list[str]:
    names = [item["metadata"]["name"] for item in SandboxClusterDriver(cluster_dir, "bench").objects("Namespace")]
    return [name for name in names if name.startswith(f"{label}-")]


@pytest.mark.django_db(transaction=True)
def bench_engine_overhead_per_step(tmp_path: Path) -> None:
    def baseline() -> float:
        driver = SandboxClusterDriver(tmp_path / "direct", "bench")
        with timed() as watch:
            for n in range(RUNS):
                for i in range(STEPS):
                    driver.ensure_namespace(NamespaceSpec(f"direct-{n}-{i}"))
        return watch.seconds

    direct = best_of(1, baseline)
    run_ids = start_runs(tmp_path / "engine", "engine")
    with timed() as watch:
        for run_id in run_ids:
            engine.advance(run_id)

    statuses = set(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True))
    assert statuses == {RunStatus.SUCCEEDED}
    assert len(namespaces(tmp_path / "engine", "engine")) == RUNS * STEPS, "lost or duplicated"
    steps = RUNS * STEPS
    report(
        f"workflow engine, {RUNS} runs x {STEPS} steps, in-process",
        [
            ("direct driver calls", f"{direct:.2f} s ({1000 * direct / steps:.1f} ms a step)"),
            ("through the engine", f"{watch.seconds:.2f} s ({1000 * watch.seconds / steps:.1f} ms a step)"),
            ("ratio engine / direct", f"{watch.seconds / direct:.2f}x"),
        ],
    )


def bench_one_worker_throughput(start_celery_worker: WorkerFactory, tmp_path: Path) -> None:
    run_ids = start_runs(tmp_path / "warm", "warm")[:1]
    start_celery_worker(include=("bench.bench_workflows",))
    wait_until(lambda: Run.objects.get(pk=run_ids[0]).status == RunStatus.SUCCEEDED, timeout=60)

    with timed() as in_process:
        for run_id in start_runs(tmp_path / "local", "local")[:IN_PROCESS]:
            engine.advance(run_id)
    with timed() as worker:
        run_ids = start_runs(tmp_path / "worker", "worker")
        wait_until(
            lambda: Run.objects.filter(pk__in=run_ids, status=RunStatus.SUCCEEDED).count() == RUNS,
            timeout=600,
            interval=0.2,
        )

    assert len(namespaces(tmp_path / "worker", "worker")) == RUNS * STEPS, "lost or duplicated"
    per_run_local = in_process.seconds / IN_PROCESS
    per_run_worker = worker.seconds / RUNS
    report(
        f"one Celery worker, {RUNS} runs x {STEPS} steps",
        [
            ("runs a second (worker)", f"{1 / per_run_worker:.1f}"),
            ("runs a second (in-process)", f"{1 / per_run_local:.1f}"),
            ("ratio worker / in-process time", f"{per_run_worker / per_run_local:.2f}x"),
        ],
    )
