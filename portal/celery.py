"""The Celery application shared by the worker, beat and the web processes."""

from __future__ import annotations

import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class HeartbeatStep(bootsteps.StartStopStep):
    """Writes the worker's heartbeat to Redis so `/readyz` can tell a worker is alive.

    Asking workers with `inspect ping` costs a broadcast round trip per probe;
    a key with an expiry is one read.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entry: object | None = None

    def start(self, worker: object) -> None:
        from django.conf import settings

        from portal.health import record_worker_heartbeat

        hostname = str(getattr(worker, "hostname", "worker"))
        record_worker_heartbeat(hostname)
        self.timer_entry = worker.timer.call_repeatedly(  # type: ignore[attr-defined]
            settings.WORKER_HEARTBEAT_SECONDS, record_worker_heartbeat, (hostname,), priority=10
        )

    def stop(self, worker: object) -> None:
        from portal.health import forget_worker_heartbeat

        if self.timer_entry is not None:
            self.timer_entry.cancel()  # type: ignore[attr-defined]
        # A worker that stops cleanly says so at once rather than after three missed beats.
        forget_worker_heartbeat(str(getattr(worker, "hostname", "worker")))


app.steps["worker"].add(HeartbeatStep)
