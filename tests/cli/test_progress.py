"""The progress line of ``--wait`` with the environment's workflow steps, read from
``GET /api/workflow-runs/?subject_type=environment&subject_id=<id>``.

The portal's live server in the other tests has no such endpoint yet (the client then shows the status alone);
here a small HTTP server answers the environment and its runs in the endpoint's shape (id, kind, direction,
status, error, steps with position, name, status, attempts, note, error), and honours ``If-None-Match``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cli.conftest import Portal

STEPS = ["namespace core-services", "quota core-services", "ingress", "bucket"]


class FakePortal:
    """An environment whose run finishes one step every second look, then ends ``ends`` (ready or failed)."""

    def __init__(self, *, ends: str) -> None:
        self.gets = 0
        self.ends = ends
        self.not_modified = 0
        self.run_queries: list[dict[str, list[str]]] = []

    @property
    def done(self) -> int:
        return min(self.gets // 2, len(STEPS))

    def environment(self) -> dict[str, Any]:
        status = "provisioning" if self.done < len(STEPS) else self.ends
        return {"id": 7, "team": "student-experience", "name": "pr-1", "status": status, "expires_at": None}

    def runs(self) -> dict[str, Any]:
        def status(position: int) -> str:
            if self.done == len(STEPS):
                return "failed" if self.ends == "failed" and position == len(STEPS) else "succeeded"
            return "succeeded" if position <= self.done else "running" if position == self.done + 1 else "pending"

        steps = [
            {"position": position, "name": name, "status": status(position), "attempts": 1, "note": "", "error": ""}
            for position, name in enumerate(STEPS, start=1)
        ]
        run = {"id": 3, "kind": "environments.provision", "direction": "do", "status": "running", "steps": steps}
        return {"count": 1, "next": None, "previous": None, "results": [run]}


@pytest.fixture
def fake_portal(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakePortal]]:
    state = FakePortal(ends=request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            address = urlsplit(self.path)
            if address.path == "/api/environments/7/":
                state.gets += 1
                etag = f'"done-{state.done}"'
                if self.headers.get("If-None-Match") == etag:  # nothing changed since the client's last look
                    state.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                body, headers = state.environment(), {"ETag": etag}
            elif address.path == "/api/workflow-runs/":
                state.run_queries.append(parse_qs(address.query))
                body, headers = state.runs(), {}
            else:
                self.send_response(404)
                self.end_headers()
                return
            encoded = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("fake_portal", ["ready"], indirect=True)
def test_the_progress_line_names_each_step_of_the_environments_run_until_it_is_ready(
    portal: Portal, fake_portal: tuple[str, FakePortal]
) -> None:
    url, state = fake_portal

    ran = portal("env", "wait", "7", "--interval", "0.2", env={"PORTAL_URL": url, "PORTAL_TOKEN": "ppt_0123abcd_x"})

    assert ran.exit_code == 0, ran.stderr
    for position, name in enumerate(STEPS, start=1):
        assert f"student-experience/pr-1: provisioning · step {position} of 4: {name} (running)" in ran.stderr
    assert ran.stderr.rstrip().endswith("student-experience/pr-1: ready")
    assert state.run_queries[0] == {"subject_type": ["environment"], "subject_id": ["7"]}
    assert state.not_modified > 0  # unchanged looks were answered 304, and the client kept what it had


@pytest.mark.parametrize("fake_portal", ["failed"], indirect=True)
def test_a_wait_that_ends_failed_exits_5_and_names_the_failed_step(
    portal: Portal, fake_portal: tuple[str, FakePortal]
) -> None:
    url, _state = fake_portal

    ran = portal("env", "wait", "7", "--interval", "0.2", env={"PORTAL_URL": url, "PORTAL_TOKEN": "ppt_0123abcd_x"})

    assert ran.exit_code == 5
    assert "student-experience/pr-1 ended failed, not ready." in ran.stderr
    assert "The last step: step 4 of 4: bucket (failed)." in ran.stderr
    assert "portal env retry" in ran.stderr
