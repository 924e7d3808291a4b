"""bandit finds no security mistake of medium severity or above in the portal's code (``make lint`` runs it too;
``[tool.bandit]`` in pyproject.toml). A finding reviewed and kept says why beside its ``# nosec``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bandit_finds_nothing_of_medium_severity_or_above() -> None:
    bandit = Path(sys.executable).with_name("bandit")
    result = subprocess.run(
        [str(bandit), "-q", "-c", "pyproject.toml", "-r", ".", "--severity-level", "medium", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    found = [
        f"{issue['filename']}:{issue['line_number']} {issue['test_id']} {issue['issue_text']}"
        for issue in report["results"]
    ]
    assert found == [], "\n".join(found)
    assert result.returncode == 0, result.stderr
    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 20_000, f"bandit read only {scanned} lines: is it looking at the portal's code?"
