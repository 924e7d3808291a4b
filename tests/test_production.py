"""Production mode, as the container image runs it: the static build and gunicorn with DEBUG off.

The rest of the suite runs with the test settings, which serve static files
from the finders and never collect them; a production server stores them
under hashed names (the manifest storage) and refuses to render a page whose
static file is missing from the manifest. These tests read the build step and
the server command from the Dockerfile itself, so a change there is tested
as written.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from access.models import Role, Team, User
from access.permissions import BuiltinRole
from access.tokens import services as token_services
from portal.demo import DEMO_PASSWORD, Persona, load_demo, username_of
from portal.devstack import free_port, listens, stop
from tests.production import (
    ROOT,
    BehindTheIngress,
    bare_environment,
    collectstatic_step,
    server_command,
    server_environment,
)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory the Dockerfile's collectstatic step collected into (STATIC_ROOT is under it)."""
    data_dir = tmp_path_factory.mktemp("image-data")
    variables, command = collectstatic_step()
    assert "PORTAL_DEBUG" not in variables, "the image's static build must run with DEBUG off"
    build = subprocess.run(
        command,
        cwd=ROOT,
        env=bare_environment(**variables, PORTAL_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"the image's collectstatic step failed:\n{build.stdout}\n{build.stderr}"
    return data_dir


def test_the_image_build_collects_every_static_file_under_hashed_names(collected: Path) -> None:
    manifest = json.loads((collected / "staticfiles" / "staticfiles.json").read_text())["paths"]

    for name in ("portal/portal.css", "vendor/chartjs/chart.umd.min.js", "vendor/bootstrap/css/bootstrap.min.css"):
        hashed = manifest[name]
        assert hashed != name, f"{name} was not stored under a hashed name"
        assert (collected / "staticfiles" / hashed).exists()
        assert (collected / "staticfiles" / f"{hashed}.gz").exists(), f"{name} has no compressed copy"


@pytest.fixture
def server_home(tmp_path: Path) -> Path:
    """The home directory of the image's user: the server must write nothing there (the root file system may be
    read-only)."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def production_server(collected: Path, server_home: Path, transactional_db: None) -> Iterator[str]:
    """gunicorn as the image starts it, with production settings, on the test database and Redis."""
    port = free_port()
    environment = server_environment(data_dir=collected, home=server_home)
    server = subprocess.Popen(server_command(port), cwd=ROOT, env=environment, start_new_session=True)
    try:
        assert listens(port, server, timeout=60), "gunicorn did not start with the production settings"
        yield f"http://localhost:{port}"
    finally:
        stop([server])


def test_gunicorn_with_production_settings_serves_a_signed_in_page_the_api_and_static_files(
    production_server: str, server_home: Path
) -> None:
    load_demo()
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    # The test settings hash with MD5 for speed; the production settings accept only their own hashers.
    hasher = PBKDF2PasswordHasher()
    developer.password = hasher.encode(DEMO_PASSWORD, hasher.salt())
    developer.save(update_fields=["password"])
    browser = BehindTheIngress(production_server)

    signed_in = browser.sign_in(developer.username, DEMO_PASSWORD)

    page = browser.request("GET", signed_in.headers["Location"])
    assert page.status_code == 200
    assert developer.first_name in page.text
    page = browser.request("GET", "/environments/")
    assert page.status_code == 200
    stylesheet = re.search(r'href="(/static/portal/portal\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet is not None, "the page does not link the portal's stylesheet under its hashed name"

    static = browser.request("GET", stylesheet[1], headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200
    assert static.text == (ROOT / "static" / "portal" / "portal.css").read_text()
    assert static.headers["Content-Encoding"] == "gzip"
    assert "immutable" in static.headers["Cache-Control"]

    new_token = token_services.api_token_create(
        actor=developer,
        name="production test",
        team=Team.objects.get(slug="student-experience"),
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        expires_at=timezone.now() + timedelta(days=1),
    )
    api = requests.get(
        f"{production_server}/api/regions/",
        headers={"Authorization": f"Bearer {new_token.secret}", "X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert api.status_code == 200
    assert "eu-west-1" in {region["code"] for region in api.json()["results"]}

    missing = browser.request("GET", "/no-such-page/")
    assert missing.status_code == 404
    assert "DEBUG = True" not in missing.text, "a production server showed Django's debug page"
    written = [str(path.relative_to(server_home)) for path in server_home.rglob("*")]
    assert not written, f"the server wrote into its user's home directory, which may be read-only: {written}"


def test_a_request_that_queued_too_long_behind_busy_workers_is_turned_away_and_the_next_is_served(
    collected: Path, server_home: Path, transactional_db: None
) -> None:
    """The image's server with one worker and a limit of one second: a client that sends half its request holds
    the worker, while a second request, stamped by the ingress when it arrived, waits two seconds in the
    kernel's queue of connections. It is answered 503 at once; with nothing queued, the next is served."""
    port = free_port()
    server_settings = server_environment(data_dir=collected, home=server_home)
    environment = {**server_settings, "PORTAL_REQUEST_QUEUE_TIMEOUT_SECONDS": "1"}
    server = subprocess.Popen(server_command(port), cwd=ROOT, env=environment, start_new_session=True)
    api = f"http://localhost:{port}/api/"
    try:
        assert listens(port, server, timeout=60), "gunicorn did not start with the production settings"
        with socket.create_connection(("127.0.0.1", port)) as holder, ThreadPoolExecutor(1) as queue:
            holder.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # the headers are not finished
            time.sleep(0.5)  # the only worker has taken it and waits for the rest
            arrived = {"X-Forwarded-Proto": "https", "X-Request-Start": f"t={time.time():.3f}"}
            queued = queue.submit(requests.get, api, headers=arrived, timeout=30)
            time.sleep(2)
            holder.sendall(b"\r\n")
            assert holder.recv(4096).startswith(b"HTTP/1.1 200")
            turned_away = queued.result()

        arrived = {"X-Forwarded-Proto": "https", "X-Request-Start": f"t={time.time():.3f}"}
        served = requests.get(api, headers=arrived, timeout=30)
    finally:
        stop([server])

    assert turned_away.status_code == 503
    assert turned_away.headers["Retry-After"] == "5"
    assert turned_away.json()["error"]["code"] == "busy"
    assert served.status_code != 503  # nothing queued: the API answers as ever (here: who are you?)
    assert served.json()["error"]["code"] != "busy"


def test_the_servers_access_log_lines_are_json_with_the_request_id_and_no_secret(
    collected: Path, server_home: Path, tmp_path: Path, transactional_db: None
) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as written:
        server = subprocess.Popen(
            server_command(port),
            cwd=ROOT,
            env=server_environment(data_dir=collected, home=server_home),
            start_new_session=True,
            stdout=written,
            stderr=subprocess.STDOUT,
        )
        try:
            assert listens(port, server, timeout=60), "gunicorn did not start with the production settings"
            browser = BehindTheIngress(f"http://localhost:{port}")
            traced = browser.request("GET", "/sign-in/", headers={"X-Request-ID": "ingress-7f3a.1"})
            secret = "ppt_" + "s3cr3t" * 6
            refused = browser.request("GET", f"/api/regions/?token={secret}")
        finally:
            stop([server])

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = {line["path"]: line for line in lines if line["logger"] == "gunicorn.access"}
    sign_in = access["/sign-in/"]
    assert (sign_in["method"], sign_in["request_id"]) == ("GET", "ingress-7f3a.1")
    assert sign_in["status"] == traced.status_code == 302  # to the sign-in form
    assert traced.headers["X-Request-ID"] == "ingress-7f3a.1"
    assert sign_in["duration_ms"] >= 0
    assert {"time", "level", "message", "remote_addr", "user_agent", "bytes"} <= set(sign_in)
    api = next(line for path, line in access.items() if path.startswith("/api/regions/"))
    assert api["status"] == refused.status_code == 401
    assert api["request_id"] == refused.headers["X-Request-ID"]  # the id the portal made for it
    assert any(line["logger"] == "gunicorn.error" for line in lines), "gunicorn's own lines are JSON too"
    assert secret not in log.read_text()
