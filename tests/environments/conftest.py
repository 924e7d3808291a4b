"""Environment tests count and list environments from a clean slate: the demo's deployment
environments (``deployments.demo``: a staging and a production one of Core Platform) are removed."""

from __future__ import annotations

import pytest

from deployments.demo import remove_demo_environments


@pytest.fixture(autouse=True)
def _no_demo_environments(request: pytest.FixtureRequest) -> None:
    if "demo" in request.fixturenames:
        request.getfixturevalue("demo")
        remove_demo_environments()
