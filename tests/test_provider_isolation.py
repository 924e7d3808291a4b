"""Only providers/ talks to AWS, Azure or Kubernetes: no other module imports their SDKs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOUD_SDKS = ("boto3", "botocore", "azure", "kubernetes", "moto")
# Tests and benchmarks exercise the drivers and their fakes; the portal's own code must not.
ALLOWED = ("providers", "tests", "bench", ".venv", ".tools", ".data")


def sdk_imports(source: str, name: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            modules = [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [(node.lineno, node.module)]
        else:
            continue
        found += [f"{name}:{line} imports {module}" for line, module in modules if module.split(".")[0] in CLOUD_SDKS]
    return found


def test_no_module_outside_providers_imports_a_cloud_or_kubernetes_sdk() -> None:
    offenders = [
        finding
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in ALLOWED
        for finding in sdk_imports(path.read_text(), str(path.relative_to(ROOT)))
    ]

    assert not offenders, "cloud SDKs imported outside providers/:\n  " + "\n  ".join(offenders)


def test_the_check_catches_plain_and_from_imports_but_not_relative_ones() -> None:
    source = "import boto3\nfrom azure.identity import DefaultAzureCredential\nfrom .kubernetes import x\n"

    assert sdk_imports(source, "portal/leak.py") == [
        "portal/leak.py:1 imports boto3",
        "portal/leak.py:2 imports azure.identity",
    ]
