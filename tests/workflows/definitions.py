"""Workflows used only by the tests: one driving the sandbox cluster, one whose steps behave as a script says.

The worker process imports this module too (``celery worker --include``), so
both sides know the same kinds. What a step did is appended to a journal
file, which the worker and the test process can both read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from providers import errors
from providers.cluster import NamespaceSpec
from providers.sandbox.cluster import SandboxClusterDriver
from workflows.engine import NotYet, PlannedStep, StepContext, StepFailed, Workflow, register
from workflows.models import Run
from workflows.signals import run_finished

FINISHED: list[tuple[str, str]] = []  # (key, status) of every run that ended in this process


def journal(params: Mapping[str, Any], *entry: str) -> None:
    """Append one line to the run's journal file."""
    with open(params["journal"], "a") as handle:
        handle.write(json.dumps(list(entry)) + "\n")


def read_journal(path: Path) -> list[list[str]]:
    """What the steps of a run did, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@register
class SandboxNamespaces(Workflow):
    """Ensures namespaces on a sandbox cluster, one step each; undo deletes them.

    ``hold`` names a namespace whose step, after creating it, waits until the
    file ``gate`` exists: the moment a test kills the worker.
    """

    kind = "tests.namespaces"
    step_attempts = 3

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [PlannedStep(f"Namespace {name}", "namespace", {"name": name}) for name in params["namespaces"]]

    def _cluster(self, ctx: StepContext) -> SandboxClusterDriver:
        return SandboxClusterDriver(ctx.run_params["cluster_dir"], "test-cluster")

    def do_namespace(self, ctx: StepContext) -> Mapping[str, Any]:
        name = ctx.params["name"]
        journal(ctx.run_params, "do", name)
        applied = self._cluster(ctx).ensure_namespace(NamespaceSpec(name, {"portal.example/run": ctx.run_key}))
        if name == ctx.run_params.get("hold"):
            gate = Path(ctx.run_params["gate"])
            journal(ctx.run_params, "holding", name)
            deadline = time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return {"uid": applied.uid}

    def undo_namespace(self, ctx: StepContext) -> None:
        name = ctx.params["name"]
        journal(ctx.run_params, "undo", name, ctx.outputs.get(ctx.name, {}).get("uid", ""))
        self._cluster(ctx).delete_namespace(name)


SCRIPT_ERRORS: dict[str, Exception] = {
    "throttled": errors.Throttled("slow down", retry_after=0),
    "unavailable": errors.Unavailable("503 from the API"),
    "busy": errors.Busy("the database is being modified"),
    "invalid": errors.InvalidRequest("the name is not a DNS label"),
    "refused": StepFailed("the cluster has no room for another environment"),
    "crash": ZeroDivisionError("secret=hunter2 leaked in a bug"),
    "not-yet": NotYet("cluster is still creating", retry_after=0),
    "slow": NotYet("waiting for the database", retry_after=30),
}


@register
class Scripted(Workflow):
    """Steps ``a``, ``b``, ``c``…; ``script[step]`` lists what each try of it does (``ok`` when the list runs out)."""

    kind = "tests.scripted"
    step_attempts = 3
    backoff_base_seconds = 0.0
    backoff_cap_seconds = 0.0

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [PlannedStep(name, "act", {"step": name}) for name in params["steps"]]

    def do_act(self, ctx: StepContext) -> Mapping[str, Any]:
        name = ctx.params["step"]
        done = sum(1 for entry in read_journal(Path(ctx.run_params["journal"])) if entry[:2] == ["try", name])
        journal(ctx.run_params, "try", name)
        script = ctx.run_params.get("script", {}).get(name, [])
        behaviour = script[done] if done < len(script) else "ok"
        if behaviour == "cancel-me":
            Run.objects.filter(pk=ctx.run_id).update(cancel_requested_at=timezone.now())
        elif behaviour != "ok":
            raise SCRIPT_ERRORS[behaviour]
        return {"made": f"{name}-thing", "seen": sorted(ctx.outputs)}

    def undo_act(self, ctx: StepContext) -> None:
        journal(ctx.run_params, "undo", ctx.params["step"], ctx.outputs.get(ctx.name, {}).get("made", ""))


@receiver(run_finished, sender=Run, dispatch_uid="tests.scripted.finished")
def scripted_finished(sender: type[Run], *, run: Run, **kwargs: Any) -> None:
    """The scripted runs' app: records every end, or fails to when the run's params say so."""
    if run.kind != Scripted.kind:
        return
    if run.params.get("finished_fails"):
        raise RuntimeError("the subject could not be saved")
    FINISHED.append((run.key, run.status))
