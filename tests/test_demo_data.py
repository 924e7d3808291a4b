"""`manage.py load_demo`: safe to run twice, keeps what people changed, refused on a real portal.

The topology it loads is checked in tests/test_demo_topology.py.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from access.models import User
from costs.models import CostLineItem
from deployments.models import Service, Workload
from portal.demo import DEMO_PASSWORD, Persona, username_of
from regions.models import Region, RegionHealth
from tests.test_demo_topology import DEMO_MODELS, SPEC_NAMESPACES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_sandbox(settings: Settings, tmp_path: Path) -> None:
    """The command writes the demo workloads into the sandbox clusters: this test's own, not the shared one."""
    settings.DATA_DIR = tmp_path


def load_demo(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def loaded(settings: Settings) -> None:
    settings.DEBUG = True
    load_demo()


def snapshot() -> dict[str, list[int]]:
    """The primary keys of every demo object, by model."""
    return {model.__name__: sorted(model._default_manager.values_list("pk", flat=True)) for model in DEMO_MODELS}


def test_running_it_twice_creates_nothing_new(settings: Settings) -> None:
    settings.DEBUG = True
    load_demo()
    first = snapshot()

    load_demo()

    assert snapshot() == first
    assert {model: len(pks) for model, pks in first.items()}["Namespace"] == 14 * len(SPEC_NAMESPACES)


def test_running_it_again_keeps_a_password_someone_changed(loaded: None) -> None:
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    developer.set_password("a-better-password")
    developer.save()

    load_demo()

    developer.refresh_from_db()
    assert developer.check_password("a-better-password")
    assert not developer.check_password(DEMO_PASSWORD)


def test_it_refuses_to_run_with_debug_off(settings: Settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match=r"DEBUG is off.*--allow-production"):
        load_demo()

    assert not User.objects.exists()
    assert not Region.objects.exists()


def test_allow_production_loads_it_with_debug_off(settings: Settings) -> None:
    settings.DEBUG = False

    output = load_demo("--allow-production")

    workloads = Workload.objects.filter(gone_at__isnull=True).count()
    assert workloads > 0
    line_items = CostLineItem.objects.count()
    assert line_items > 0
    assert (
        f"Demo data loaded ({workloads} workloads in the sandbox clusters, {line_items} cost line items, "
        f"12 regions checked, {Service.objects.count()} services scored)." in output
    )
    assert Region.objects.count() == 12
    assert RegionHealth.objects.count() == 12
