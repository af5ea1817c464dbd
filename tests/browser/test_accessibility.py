"""WCAG 2.1 AA on every public page: axe-core (the npm package, ``make install`` runs ``npm ci``)
in Chromium finds no violation of the wcag2a/wcag2aa/wcag21a/wcag21aa rules, and the Relazione
works with the keyboard (skip link first, then every link of the Sommario, with a visible focus).

axe-core is served to the page from its own origin through ``page.route`` (a same-origin
``<script src>``), so the site's Content-Security-Policy stays in force during the test."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import YEAR, screenshot
from tests.publishing import ROOT, publish

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PUBLIC = f"/trasparenza/performance/{YEAR}/"
PAGES = [  # (url, HTTP status)
    ("/trasparenza/performance/", 200),
    (PUBLIC, 200),
    (f"{PUBLIC}versioni/", 200),
    (f"{PUBLIC}versioni/1/", 200),
    (f"{PUBLIC}versioni/1/validazione/", 200),
    ("/trasparenza/performance/1900/", 404),
]


@pytest.fixture
def published(live_2019):
    return publish(live_2019)


def _axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(
            f"The accessibility test needs axe-core at {AXE}: run `make install` "
            "(or `npm ci --no-audit --no-fund`) at the repository root.",
            pytrace=False,
        )
    return AXE.read_text(encoding="utf-8")


def _violations(page) -> list[str]:
    page.add_script_tag(url=AXE_URL)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    lines = []
    for v in result["violations"]:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:10]:
            lines.append(f"      {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            if node.get("failureSummary"):
                summary = node["failureSummary"].replace("\n", " / ")
                lines.append(f"        {summary[:300]}")
    return lines


def test_axe_finds_no_wcag_violation_on_any_public_page(new_context, published):
    source = _axe_source()
    context = new_context()
    context.route(
        f"**{AXE_URL}",
        lambda route: route.fulfill(status=200, content_type="application/javascript", body=source),
    )
    page = context.new_page()
    report = []
    for url, status in PAGES:
        response = page.goto(url)
        assert response is not None and response.status == status, f"{url}: {response}"
        problems = _violations(page)
        if problems:
            report.append(f"{url}:\n" + "\n".join(problems))
    assert not report, "axe-core violations (WCAG 2.1 AA):\n" + "\n".join(report)


def _focus_visible(locator) -> bool:
    return locator.evaluate(
        """element => {
            const style = getComputedStyle(element);
            const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
            return outline || (style.boxShadow && style.boxShadow !== 'none');
        }"""
    )


def test_the_relazione_works_with_the_keyboard(page, published):
    page.goto(PUBLIC)
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Vai al contenuto principale")
    assert _focus_visible(skip), "the skip link has no visible focus"
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#contenuto")).to_be_focused()

    toc = page.locator("nav.toc a")
    wanted = toc.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert wanted, "the Relazione has no Sommario"
    reached: list[str] = []
    invisible: list[str] = []
    for _ in range(len(wanted) + 200):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        in_toc = focused.evaluate("el => !!el.closest('nav.toc')")
        if in_toc:
            reached.append(focused.get_attribute("href"))
            if not _focus_visible(focused):
                invisible.append(focused.get_attribute("href"))
        elif reached:
            break
    screenshot(page, "a11y-keyboard-toc")
    assert reached == wanted, (
        f"Sommario links not reached in order by Tab: {set(wanted) - set(reached)}"
    )
    assert not invisible, f"Sommario links without a visible focus: {invisible}"
