"""The web tier's gunicorn worker: gunicorn's threaded worker, telling each request how long it queued.

A threaded worker accepts connections as fast as they come and hands each request to the next free thread;
under overload the queue before the threads grows, and a request can wait there longer than its client will
(a browser gives up, a load balancer times out). This worker notes when a request was queued and puts the time
it waited before a thread took it into the WSGI environ (:data:`QUEUED_SECONDS`); the portal's
:class:`portal.middleware.QueueDeadlineMiddleware` answers one that waited too long with 503 and Retry-After at
once, without reading a session or the database, so the worker spends its time on requests someone still waits
for and the queue drains within seconds once the load drops.

Started as the image starts it: ``gunicorn --worker-class portal.workers.QueueTimedWorker --threads 4 …``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

QUEUED_SECONDS = "portal.queued_seconds"  # the WSGI environ key: seconds between queued and taken by a thread

_taken = threading.local()


class QueueTimedWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's ``gthread`` worker that says how long each request waited for a thread."""

    def enqueue_req(self, conn: Any) -> None:
        # Every way a request reaches the thread pool passes here: a new connection, a kept-alive one with a
        # next request, one whose data came late.
        conn.portal_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        _taken.waited = time.monotonic() - getattr(conn, "portal_queued_at", time.monotonic())
        return super().handle(conn)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        application = self.wsgi

        def timed(environ: dict[str, Any], start_response: Any) -> Any:
            environ[QUEUED_SECONDS] = getattr(_taken, "waited", 0.0)
            return application(environ, start_response)

        self.wsgi = timed
