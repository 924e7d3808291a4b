"""gunicorn's log lines in the portal's format: its access log and its own messages as JSON (or text) lines with
the request id, through the same secret redaction as the portal's (``LOGGING`` in portal/settings.py).

The image starts gunicorn with ``--logger-class portal.server_logging.GunicornLogger``. gunicorn builds its
logger before any Django setting is read, so the format is taken from ``PORTAL_LOG_FORMAT`` as the settings take
it (json unless ``text``). An access line's request id is the one the portal answered with (the ``X-Request-ID``
response header: the client's own when it sent an acceptable one), so it matches the request's other lines.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from gunicorn import glogging

from portal.logging import RedactSecrets, formatter


class GunicornLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        chosen = formatter("text" if os.environ.get("PORTAL_LOG_FORMAT", "json").strip() == "text" else "json")
        redact = RedactSecrets()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(chosen)
                handler.addFilter(redact)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("RAW_URI") or environ.get("PATH_INFO", "-")
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "correlation_id": request_id,
                "method": method,
                "path": path,
                "status": int(status),
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            },
        )
