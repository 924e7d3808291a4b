# syntax=docker/dockerfile:1
# Platform Portal image: one image for web (the default command), Celery worker,
# Celery beat and one-shot management commands. See docs/operations.md, "Running with
# Docker Compose" and "Container image".

# --- builder: the locked runtime dependencies and the collected static files ---
FROM python:3.11-slim AS builder

# Keep in step with UV_VERSION in the Makefile.
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. Only the
# project's own dependencies: not the `dev` group (tests, linters) nor the
# `embedded` group (PostgreSQL and Redis wheels for `make run`), which are the
# default groups of pyproject.toml. The xstatic-bootstrap sdist is built with
# setuptools<81, as [tool.uv.extra-build-dependencies] in pyproject.toml says.
# The command-line client (cli/) is a member of the uv workspace: its pyproject is needed to read the lock;
# it is installed with the rest of the code below.
COPY pyproject.toml uv.lock ./
COPY cli/pyproject.toml cli/README.md cli/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --no-install-workspace

COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --no-editable

# Front-end assets without a Python package (Chart.js) from the npm registry, integrity-checked.
RUN /app/.venv/bin/python -m portal.assets

# Settings are read at import time, so collectstatic needs values for the
# required variables. These exist only in this build step; nothing connects.
RUN PORTAL_SECRET_KEY=build-only \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    PORTAL_ALLOWED_HOSTS=localhost \
    PORTAL_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1rZXktZm9yLWFueS1kYXQ= \
    PORTAL_AUDIT_KEYS=build-only-not-an-audit-key-for-any-data \
    PORTAL_AUDIT_CHECKPOINT_DIR=/nonexistent \
    /app/.venv/bin/python manage.py collectstatic --no-input \
 && /app/.venv/bin/python -m compileall -q -x '/app/\.venv/' /app


# --- runtime ---
FROM python:3.11-slim

# psycopg[binary] carries its own libpq: no system packages needed.
# /var/lib/portal/audit-checkpoints: a directory the portal user may write, for
# PORTAL_AUDIT_CHECKPOINT_DIR (the audit log's signed checkpoints). Mount a volume there;
# a new named volume takes this directory's owner (docker-compose.yml does so).
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /home/portal --create-home \
    --shell /usr/sbin/nologin portal \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/portal/audit-checkpoints

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /app
# Owned by root and read-only for the portal user: the code, the venv and the
# static files under /app/.data/staticfiles (leave PORTAL_DATA_DIR unset here).
COPY --from=builder /app /app

USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz touches no backing service). Django checks the Host
# header even here, so the probe sends the first name of PORTAL_ALLOWED_HOSTS
# (or PORTAL_ALLOWED_HOSTS_FILE), with a leading "." or "*" removed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# 3 sync workers for a 2-core pod, chosen with bench/bench_load.py (docs/operations.md, "Sizing the web tier").
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--workers", "3", "--access-logfile", "-", "--logger-class", "portal.server_logging.GunicornLogger", "--no-control-socket"]
