"""axe-core over a page in its current state, for the browser tests.

axe-core is vendored for the tests only (tests/browser/vendor/, its version in the file name,
with its licence); the app never serves it. `check(page, state)` evaluates it once per document,
runs it over the whole document and fails on any violation of impact serious or critical; the
moderate and minor ones are collected in MODERATE (state, rule, what) so that a run can list
them. `snap(page, name)` writes a screenshot under $JOBDECK_SCREENSHOTS when that is set (to
judge the layout by eye), and does nothing otherwise: screenshots stay out of git.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
BLOCKING = ("serious", "critical")
MODERATE: set[tuple[str, str, str]] = set()


def check(page: Page, state: str) -> None:
    """No serious or critical axe-core violation on `page` as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Not add_script_tag: the page's CSP (script-src 'self') refuses inline scripts, and
        # rightly so; an evaluation from the test's side of the protocol is not subject to it.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    blocking = []
    for violation in results["violations"]:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]][:5]
        if violation["impact"] in BLOCKING:
            blocking.append(f"{violation['id']} ({violation['impact']}): {targets}")
        else:
            MODERATE.add((state, violation["id"], violation["help"]))
    assert not blocking, f"axe-core on {state}: " + "; ".join(blocking)


def snap(page: Page, name: str) -> None:
    folder = os.environ.get("JOBDECK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
