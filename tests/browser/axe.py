"""axe-core in a real browser: the accessibility check the browser tests run on the portal's pages.

axe-core comes from the npm registry at install time (``portal.assets.TEST_ASSETS``, pinned by
version and integrity) into a folder that no static files finder reads, so the portal never
serves it. It is evaluated in the page through the DevTools protocol, which the page's Content
Security Policy does not govern: the page is checked exactly as a user gets it, its CSP still
refusing inline scripts and styles, and nothing is added to it that the CSP would have to allow.

Violations of impact ``serious`` or ``critical`` fail a test (contrast, missing labels and names,
duplicate ids, invalid ARIA, ...); ``moderate`` and ``minor`` ones are not reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from playwright.sync_api import Page

from portal.assets import TEST_ASSETS_DIR

AXE_SCRIPT = TEST_ASSETS_DIR / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")

# Resolves to the violations of the failing impacts, each as plain data.
RUN_AXE = """async (impacts) => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations
    .filter((violation) => impacts.includes(violation.impact))
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      helpUrl: violation.helpUrl,
      targets: violation.nodes.map((node) => node.target.join(" ")),
    }));
}"""


@cache
def _axe_source() -> str:
    if not AXE_SCRIPT.exists():
        raise FileNotFoundError(f"{AXE_SCRIPT} is missing: run `make install` (it installs axe-core for the tests)")
    return AXE_SCRIPT.read_text()


# The page has loaded and htmx has no request in flight and nothing left to swap in or settle.
SETTLED = """() => document.readyState === "complete"
  && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")"""


def wait_until_settled(page: Page) -> None:
    """Wait until what the page loads once it opens (htmx's ``load`` triggers) is in it."""
    page.wait_for_function(SETTLED)


def axe_violations(page: Page) -> list[str]:
    """The serious and critical accessibility violations of the page as it is now, one readable entry each.

    Waits for the page to settle first, so what a page loads after it opens is checked too.
    """
    wait_until_settled(page)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return [_describe(violation) for violation in page.evaluate(RUN_AXE, list(FAILING_IMPACTS))]


def _describe(violation: dict[str, Any]) -> str:
    """The rule, its impact and what it asks, where on the page (the first few elements) and where to read more."""
    targets = violation["targets"]
    where = ", ".join(targets[:5]) + (f" and {len(targets) - 5} more" if len(targets) > 5 else "")
    return (
        f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
        f"      at {where}\n"
        f"      see {violation['helpUrl']}"
    )


def assert_pages_accessible(page: Page, paths: Iterable[str]) -> None:
    """Open each page in turn and check it with axe; fail once, listing every page's violations."""
    problems: list[str] = []
    for path in paths:
        response = page.goto(path)
        assert response is not None, f"{path} answered nothing"
        assert response.ok, f"{path} answered {response.status}"
        problems += [f"{path}: {line}" for line in axe_violations(page)]
    assert not problems, "serious or critical accessibility violations:\n" + "\n".join(problems)
