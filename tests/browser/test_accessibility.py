"""WCAG 2.1 AA on every public page and on the staff workspace: axe-core (the npm package,
``make install`` runs ``npm ci``) in Chromium finds no violation of the wcag2a/wcag2aa/wcag21a/
wcag21aa rules, and the Relazione works with the keyboard (skip link first, then every link of the
Sommario, with a visible focus).

The staff pages are checked as their personas use them (controllo di gestione, a unit referent,
the OIV), in the cycle states they are used in, in their error states, with every ``<details>``
opened too, and at 390 px; besides axe, no ``aria-describedby``/``aria-labelledby``/``for``...
may point to a missing id (axe only lists that as "needs review").

axe-core is served to the page from its own origin through ``page.route`` (a same-origin
``<script src>``), so the site's Content-Security-Policy stays in force during the test."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from organization import roles
from organization.models import Unit
from performance.dataset import read_dataset
from performance.models import Indicator, Objective, Perspective, StrategicObjective, Target
from reports.models.pdf import RelazionePdf
from reports.models.workflow import OivMember
from reports.relazione import services as relazione_services
from reports.workflow import services as workflow
from tests.browser.conftest import YEAR, log_in, screenshot, sideways_overflow
from tests.browser.test_browser_entry import save, watch_previews
from tests.browser.test_browser_import import upload, values_xlsx
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
        lines.append(
            f"  [{v['impact']}] {v['id']} ({len(v['nodes'])}): {v['help']} ({v['helpUrl']})"
        )
        for node in v["nodes"][:10]:
            lines.append(f"      {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            if node.get("failureSummary"):
                summary = node["failureSummary"].replace("\n", " / ")
                lines.append(f"        {summary[:300]}")
    return lines


def _axe_context(new_context):
    """A browser session that serves axe-core from the site's origin (see the module docstring)."""
    source = _axe_source()
    context = new_context()
    context.route(
        f"**{AXE_URL}",
        lambda route: route.fulfill(status=200, content_type="application/javascript", body=source),
    )
    return context


def test_axe_finds_no_wcag_violation_on_any_public_page(new_context, published):
    page = _axe_context(new_context).new_page()
    report = []
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for url, status in PAGES:
            response = page.goto(url)
            assert response is not None and response.status == status, f"{url}: {response}"
            problems = _violations(page)
            if problems:
                report.append(f"{url} ({width} px):\n" + "\n".join(problems))
            if overflow := sideways_overflow(page):
                report.append(overflow)
    assert not report, "axe-core violations (WCAG 2.1 AA), pages wider than the window:\n" + (
        "\n".join(report)
    )


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


# ---- the staff workspace -------------------------------------------------------------------
#
# The personas who use /lavoro/ all day (controllo di gestione, a unit referent, the OIV), with
# the cycle in the state each page is used in: planning (everything editable, the Piano's forms),
# submitted to the OIV (the review page with its forms and remarks). The admin is excluded.

RI = "registro-imprese"
STAFF = f"/lavoro/{YEAR}/"
ENTRY = f"{STAFF}valori/{RI}/consuntivo/"
PLAN = f"{STAFF}piano/"

_DANGLING_JS = """() => {
    const out = [];
    const attrs = ['aria-describedby', 'aria-labelledby', 'aria-controls', 'aria-errormessage',
                   'aria-owns', 'for'];
    for (const attr of attrs) {
        for (const el of document.querySelectorAll(`[${attr}]`)) {
            if (attr === 'for' && el.tagName !== 'LABEL') continue;
            for (const id of el.getAttribute(attr).split(/\\s+/).filter(Boolean)) {
                if (!document.getElementById(id)) {
                    out.push(`${attr}="${id}": ${el.outerHTML.slice(0, 140)}`);
                }
            }
        }
    }
    return out;
}"""


def _dangling_references(page) -> list[str]:
    """ID references that point nowhere (axe lists them only as "needs review", under
    aria-valid-attr-value, and only when no id of the list exists): a help text or an error
    message that a field announces but the page does not have."""
    dangling = page.evaluate(_DANGLING_JS)
    if not dangling:
        return []
    title = f"  [own check] dangling-idref ({len(dangling)}): ID reference to a missing element"
    return [title] + [f"      {item}" for item in dangling[:10]]


def _check(
    page, url: str, report: list[str], *, label: str = "", go: bool = True, status: int = 200
) -> None:
    """axe (and the ID references) on ``url``, opened when ``go`` (else the page as it is), then
    again with every ``<details>`` opened; the problems go into ``report``."""
    if go:
        response = page.goto(url)
        assert response is not None and response.status == status, f"{url}: {response}"
        assert page.url.endswith(url), f"{url}: redirected to {page.url}"
    where = f"{url}{f' ({label})' if label else ''}"
    problems = _violations(page) + _dangling_references(page)
    if overflow := sideways_overflow(page):
        problems.append(overflow)
    if problems:
        report.append(f"{where}:\n" + "\n".join(problems))
    # what a user reveals: the OIV's forms in each objective, the manual override of a value...
    opened = page.evaluate(
        "() => { const shut = [...document.querySelectorAll('details:not([open])')];"
        " shut.forEach(d => { d.open = true; }); return shut.length; }"
    )
    if opened:
        problems = _violations(page)
        if problems:
            report.append(f"{where}, {opened} <details> aperti:\n" + "\n".join(problems))


def _save_invalid_value(page) -> None:
    """The entry form after a word typed as a value and an impossible date were submitted."""
    watch_previews(page)
    page.goto(ENTRY)
    page.get_by_label("Valore rilevato", exact=True).first.fill("novanta")
    dates = page.locator("input[data-date-picker]")
    if dates.count():
        dates.first.fill("31/02/2019")
    save(page)
    expect(page.locator("#riepilogo-errori")).to_be_visible()


def _submit_invalid_plan_form(page) -> None:
    """A plan form saved with its first required text field emptied: it comes back with errors."""
    form = page.locator("main form").first
    form.locator("input[type=text][required], textarea[required]").first.fill("")
    form.get_by_role("button", name="Salva").click()
    page.wait_for_load_state("load")
    expect(page.locator(".invalid-feedback").first).to_be_visible()


@pytest.fixture
def staff_users(make_user):
    return {
        "controllo": make_user(
            "a11y-staff-controllo", roles.CONTROLLO, first_name="Carla", last_name="Controllo"
        ),
        "referente": make_user(
            "a11y-staff-referente",
            roles.REFERENTE,
            unit_keys=[RI],
            first_name="Rita",
            last_name="Imprese",
        ),
        "oiv": make_user("a11y-staff-oiv", roles.OIV, first_name="Olga", last_name="Valutatrice"),
    }


def _load_relazione(cycle) -> None:
    relazione_services.relazione_load(
        cycle=cycle, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
    )
    OivMember.objects.create(
        organization_id=cycle.organization_id, name="Maria Bianchi", role="Presidente"
    )


def _failed_pdf_job(cycle) -> RelazionePdf:
    """A PDF render that failed (no worker runs in the tests): the staff page lists it and its
    progress page shows the error, without polling."""
    return RelazionePdf.objects.create(
        cycle=cycle,
        content_digest="0" * 64,
        status=RelazionePdf.Status.FAILED,
        progress="Impaginazione",
        error="WeasyPrint non disponibile (prova di accessibilità).",
    )


def _submit(cycle, controllo, oiv) -> None:
    """2019 submitted to the OIV (as tests/publishing.py does), with one objective accepted and
    two remarks, one reopening an objective: the OIV's review page as it is used."""
    workflow.cycle_start_monitoring(cycle=cycle, user=controllo)
    workflow.cycle_start_reporting(cycle=cycle, user=controllo)
    if workflow.consistency_reasons(cycle):
        workflow.consistency_review_record(
            cycle=cycle, user=controllo, comment="Differenze note: prevale la cifra calcolata."
        )
    workflow.cycle_submit(cycle=cycle, user=controllo)
    cycle.refresh_from_db()
    first, second = Objective.objects.filter(cycle=cycle).order_by("pk")[:2]
    workflow.objective_accept(cycle=cycle, objective=first, user=oiv)
    workflow.remark_create(
        cycle=cycle,
        user=oiv,
        objective=second,
        text="Il valore a consuntivo non è documentato: indicare la fonte.",
        reopen=True,
    )
    workflow.remark_create(cycle=cycle, user=oiv, text="Osservazione generale sulla Relazione.")


def _summary(report: list[str]) -> list[str]:
    """One line per rule and page: "[impact] rule (elements) url (label)"."""
    lines = set()
    for item in report:
        where, *details = item.splitlines()
        for line in details:
            if line.startswith("  ["):
                lines.add(f"{line.strip().split(':')[0]}  {where.rstrip(':')}")
    return sorted(lines)


def test_axe_finds_no_wcag_violation_on_the_staff_pages(new_context, live_2019, staff_users):
    _load_relazione(live_2019)
    job = _failed_pdf_job(live_2019)
    objective = Objective.objects.filter(cycle=live_2019).order_by("pk").first()
    indicator = Indicator.objects.filter(objective__cycle=live_2019).order_by("pk").first()
    target = (
        Target.objects.filter(indicator__objective__cycle=live_2019, unit__key=RI)
        .order_by("pk")
        .first()
    )
    perspective = Perspective.objects.filter(cycle=live_2019).order_by("pk").first()
    strategic = StrategicObjective.objects.filter(cycle=live_2019).order_by("pk").first()
    unit = Unit.objects.get(cycle=live_2019, key=RI)
    report: list[str] = []

    # ---- the log-in page, empty and after a wrong password
    controllo = _axe_context(new_context).new_page()
    _check(controllo, "/accedi/", report)
    controllo.get_by_label("Nome utente").fill("a11y-staff-controllo")
    controllo.get_by_label("Password").fill("sbagliata")
    controllo.get_by_role("button", name="Accedi").click()
    controllo.wait_for_load_state("load")
    _check(controllo, "/accedi/", report, label="password errata", go=False)

    # ---- controllo di gestione, cycle in planning: every page, every form editable
    log_in(controllo, "a11y-staff-controllo")
    _check(controllo, "/lavoro/", report, go=False)
    for url in (
        f"{STAFF}valori/",
        ENTRY,
        f"{STAFF}obiettivi/",
        f"{STAFF}indicatori/",
        f"{STAFF}albero/",
        f"{STAFF}indicatori/{indicator.pk}/storico/",
        PLAN,
        f"{PLAN}prospettive/{perspective.pk}/",
        f"{PLAN}obiettivi-strategici/{strategic.pk}/",
        f"{PLAN}obiettivi/nuovo/",
        f"{PLAN}obiettivi/{objective.pk}/",
        f"{PLAN}obiettivi/{objective.pk}/neutralizza/",
        f"{PLAN}indicatori/{indicator.pk}/",
        f"{PLAN}target/{target.pk}/",
        f"{PLAN}target/{target.pk}/rivedi/",
        f"{PLAN}unita/{unit.pk}/",
        f"{PLAN}regole/",
        f"{PLAN}nuovo-ciclo/",
        f"{STAFF}importa/",
        f"{STAFF}ciclo/",
        f"{STAFF}relazione/",
        f"{STAFF}relazione/sezioni/premessa/",
        f"{STAFF}relazione/tabelle/numeri-territorio/",
        f"{STAFF}relazione/pdf/",
        f"{STAFF}relazione/pdf/{job.pk}/",
    ):
        _check(controllo, url, report)
    _check(controllo, "/lavoro/1900/valori/", report, status=404)  # the 404 page, signed in

    # a phone-sized window: the navigation bar and the wide tables reflow
    controllo.set_viewport_size({"width": 390, "height": 844})
    for url in (
        "/lavoro/",
        ENTRY,
        f"{STAFF}valori/",
        f"{STAFF}obiettivi/",
        f"{STAFF}indicatori/",
        f"{STAFF}albero/",
        PLAN,
        f"{PLAN}obiettivi/{objective.pk}/",
        f"{PLAN}target/{target.pk}/",
        f"{PLAN}regole/",
        f"{STAFF}importa/",
        f"{STAFF}ciclo/",
        f"{STAFF}relazione/",
        f"{STAFF}relazione/sezioni/premessa/",
        f"{STAFF}relazione/tabelle/numeri-territorio/",
    ):
        _check(controllo, url, report, label="390 px")
    controllo.goto("/lavoro/")
    screenshot(controllo, "a11y-staff-home-390px")
    controllo.set_viewport_size({"width": 1280, "height": 900})

    # the error states: a plan form, the values form (date picker included), an import
    controllo.goto(f"{PLAN}obiettivi/{objective.pk}/")
    _submit_invalid_plan_form(controllo)
    _check(controllo, f"{PLAN}obiettivi/{objective.pk}/", report, label="errori", go=False)
    _save_invalid_value(controllo)
    screenshot(controllo, "a11y-staff-entry-errors")
    _check(controllo, ENTRY, report, label="valore non valido", go=False)
    controllo.goto(f"{STAFF}importa/")
    upload(controllo, "valori.xlsx", values_xlsx([[target.pk, "consuntivo", "tre", ""]]))
    _check(controllo, f"{STAFF}importa/", report, label="verifica con errori", go=False)

    # ---- a unit referent: home, values, the entry form and its error state, the tables
    referent = _axe_context(new_context).new_page()
    log_in(referent, "a11y-staff-referente")
    _check(referent, "/lavoro/", report, label="referente", go=False)
    for url in (f"{STAFF}valori/", ENTRY, f"{STAFF}obiettivi/", PLAN):
        _check(referent, url, report, label="referente")
    _save_invalid_value(referent)
    _check(referent, ENTRY, report, label="referente, valore non valido", go=False)

    # ---- the OIV, cycle submitted: the review page and its forms, the panel, the PDF page
    _submit(live_2019, staff_users["controllo"], staff_users["oiv"])
    oiv = _axe_context(new_context).new_page()
    log_in(oiv, "a11y-staff-oiv")
    _check(oiv, "/lavoro/", report, label="OIV", go=False)
    for url in (f"{STAFF}revisione/", f"{STAFF}ciclo/", f"{STAFF}relazione/pdf/", ENTRY, PLAN):
        _check(oiv, url, report, label="OIV, inviato")
    oiv.set_viewport_size({"width": 390, "height": 844})
    for url in (f"{STAFF}revisione/", f"{STAFF}ciclo/"):
        _check(oiv, url, report, label="OIV, inviato, 390 px")
    for url in (f"{STAFF}ciclo/", f"{STAFF}revisione/", f"{STAFF}relazione/", ENTRY):
        _check(controllo, url, report, label="controllo, inviato")

    assert not report, (
        "axe-core violations (WCAG 2.1 AA) on the staff pages:\n"
        + "\n".join(_summary(report))
        + "\n\n"
        + "\n".join(report)
    )
