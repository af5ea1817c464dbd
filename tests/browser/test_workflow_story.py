"""In a real browser, the whole story of the Relazione 2019: the controllo di gestione submits it
to the OIV; the OIV returns it with a remark that reopens one objective; the controllo answers,
corrects the reopened value (the others stay read-only) and sends it again; the OIV validates it
(documento di validazione, frozen version with its PDF); the controllo publishes it; an anonymous
citizen reads the public page and downloads the PDF, whose SHA-256 is the one shown; afterwards
every edit is refused, and the UI says why."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from organization import roles
from organization.models import Cycle
from performance.dataset import read_dataset
from performance.models import Actual, Target
from reports.models.workflow import OivMember, RelazioneVersion, Remark
from reports.relazione import services as relazione_services
from reports.workflow import services as workflow
from tests.browser.conftest import YEAR, log_in, screenshot

pytestmark = pytest.mark.browser

RI = "registro-imprese"
PANEL = f"/lavoro/{YEAR}/ciclo/"
REVIEW = f"/lavoro/{YEAR}/revisione/"
ENTRY = f"/lavoro/{YEAR}/valori/{RI}/consuntivo/"
PUBLIC = f"/trasparenza/performance/{YEAR}/"
VALIDATION_TIMEOUT_MS = 180_000  # the Relazione's PDF is rendered by WeasyPrint: seconds


def stored(target: Target) -> Actual:
    return Actual.objects.get(target=target, period__is_final=True)


def save_values(page) -> None:
    """Submit the values form once its live previews are quiet (on SQLite the live server's
    threads share one connection: see conftest.py)."""
    pending: set = set()
    page.on("request", lambda r: pending.add(r) if "/anteprima/" in r.url else None)
    page.on("requestfinished", lambda r: pending.discard(r))
    page.on("requestfailed", lambda r: pending.discard(r))
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(600)
    for _ in range(100):
        if not pending:
            break
        page.wait_for_timeout(50)
    page.get_by_role("button", name="Salva tutti i valori").click()
    page.wait_for_load_state("load")


@pytest.fixture
def story(live_2019, make_user, dataset_2019):
    """2019 in "reporting", with its Relazione and the OIV's members; the two actors."""
    from pathlib import Path

    controllo = make_user("controllo", roles.CONTROLLO, first_name="Carla", last_name="Controllo")
    make_user("oiv", roles.OIV, first_name="Olga", last_name="Valutatrice")
    root = Path(__file__).resolve().parents[2]
    relazione_services.relazione_load(
        cycle=live_2019, data=read_dataset(root / "fixtures" / "relazione-2019.yaml")
    )
    OivMember.objects.create(
        organization=live_2019.organization, name="Maria Bianchi", role="Presidente"
    )
    workflow.cycle_start_monitoring(cycle=live_2019, user=controllo)
    workflow.cycle_start_reporting(cycle=live_2019, user=controllo)
    reopened = Target.objects.select_related("indicator__objective").get(
        indicator__objective__cycle=live_2019, unit__key=RI, text="≥ 80%", rule__kind="at_least"
    )
    closed = (
        Target.objects.filter(
            indicator__objective__cycle=live_2019,
            unit__key=RI,
            status=Target.Status.ACTIVE,
            rule__kind="at_least",
        )
        .exclude(indicator__objective=reopened.indicator.objective)
        .order_by("pk")
        .first()
    )
    return {"cycle": live_2019, "reopened": reopened, "closed": closed}


def test_submit_return_answer_fix_validate_publish_and_read(new_context, story):
    cycle, reopened, closed = story["cycle"], story["reopened"], story["closed"]
    objective = reopened.indicator.objective

    # ---- the controllo di gestione submits
    staff = new_context().new_page()
    log_in(staff, "controllo")
    staff.get_by_role("navigation", name="Navigazione principale").get_by_role(
        "link", name="Ciclo", exact=True
    ).click()
    expect(staff.get_by_role("heading", name=f"Ciclo della performance {YEAR}")).to_be_visible()
    submit = staff.locator("#azione-invia")
    expect(submit).to_contain_text("Non ancora possibile")
    expect(submit).to_contain_text("Il rapporto di coerenza non è stato verificato")
    screenshot(staff, "workflow-01-panel-not-yet", focus=submit)
    staff.locator("#azione-verifica-coerenza").get_by_label("Commento (facoltativo)").fill(
        "Le 8 differenze sono note: prevale la cifra calcolata."
    )
    staff.locator("#azione-verifica-coerenza").get_by_role("button").click()
    expect(staff.get_by_role("alert").filter(has_text="Verifica del rapporto")).to_be_visible()
    expect(staff.locator("#azione-invia")).not_to_contain_text("Non ancora possibile")
    staff.locator("#azione-invia").get_by_role("button", name="Invia all'OIV").click()
    expect(staff.get_by_role("alert").filter(has_text="Relazione inviata all'OIV")).to_be_visible()
    expect(staff.locator("[data-status]").first).to_have_text("Inviato all'OIV")
    # from now on the values are read-only, and the form says why
    staff.goto(ENTRY)
    expect(staff.get_by_role("note").filter(has_text="«Inviato all'OIV»")).to_be_visible()
    expect(staff.locator(f"#riga-{reopened.pk}").get_by_label("Valore rilevato")).to_have_count(0)

    # ---- the OIV returns it with a remark that reopens one objective
    oiv = new_context().new_page()
    log_in(oiv, "oiv")
    oiv.goto(REVIEW)
    expect(oiv.get_by_role("heading", name="Da esaminare per primo (25)")).to_be_visible()
    expect(oiv.locator("#attenzione-rettifiche")).to_contain_text("Rettifiche motivate")
    screenshot(oiv, "workflow-02-review-attention", focus=oiv.locator("#attenzione"))
    block = oiv.locator(f"#obiettivo-{objective.pk}")
    block.evaluate("details => { details.open = true; }")
    block.get_by_label("Osservazione sull'obiettivo").fill(
        "Il valore a consuntivo non è documentato: indicare la fonte e verificarlo."
    )
    reopen = block.get_by_label(re.compile(r"^Riapri l'obiettivo"))
    block.locator(f'label[for="riapri-{objective.pk}"]').click()  # Bootstrap Italia's checkbox
    expect(reopen).to_be_checked()
    block.get_by_role("button", name="Scrivi l'osservazione").click()
    expect(oiv.get_by_role("alert").filter(has_text="Osservazione registrata")).to_be_visible()
    expect(oiv.locator(f"#obiettivo-{objective.pk}")).to_contain_text("Con osservazione")
    screenshot(oiv, "workflow-03-remark", focus=oiv.locator(f"#obiettivo-{objective.pk}"))
    oiv.locator("#azione-restituisci").get_by_label("Commento (facoltativo)").fill(
        "Si restituisce per la verifica indicata."
    )
    oiv.locator("#azione-restituisci").get_by_role(
        "button", name="Restituisci con osservazioni"
    ).click()
    expect(oiv.get_by_role("alert").filter(has_text="Relazione restituita")).to_be_visible()
    expect(oiv.locator("[data-status]").first).to_have_text("Restituito con osservazioni")

    # ---- the controllo answers, corrects the reopened value, sends it again
    staff.goto(REVIEW)
    remark = Remark.objects.get(cycle=cycle)
    answer = staff.locator(f"#osservazione-{remark.pk}")
    answer.get_by_label("Risposta all'osservazione").fill(
        "Fonte: cruscotto Infocamere al 31/12/2019; il valore corretto è 91%."
    )
    answer.get_by_role("button", name="Rispondi").click()
    expect(staff.get_by_role("alert").filter(has_text="Risposta registrata")).to_be_visible()
    expect(staff.locator(f"#osservazione-{remark.pk}")).to_contain_text("Con risposta")

    staff.goto(ENTRY)
    expect(staff.get_by_role("note").filter(has_text="restituito dall'OIV")).to_be_visible()
    closed_row = staff.locator(f"#riga-{closed.pk}")
    expect(closed_row.get_by_label("Valore rilevato", exact=True)).to_have_count(0)
    expect(closed_row).to_contain_text("Non riaperto dall'OIV")
    value = staff.locator(f"#riga-{reopened.pk}").get_by_label("Valore rilevato", exact=True)
    value.fill("91")
    save_values(staff)
    expect(staff.get_by_role("alert").filter(has_text="Valori salvati")).to_be_visible()
    screenshot(staff, "workflow-04-reopened-value", focus=staff.locator(f"#riga-{reopened.pk}"))
    assert stored(reopened).value_number == Decimal(91)

    staff.goto(PANEL)
    expect(staff.locator("#azione-reinvia")).not_to_contain_text("Non ancora possibile")
    staff.locator("#azione-reinvia").get_by_role("button", name="Invia di nuovo all'OIV").click()
    expect(staff.get_by_role("alert").filter(has_text="inviata di nuovo")).to_be_visible()

    # ---- the OIV sees the change made after the submission, and validates
    oiv.goto(REVIEW)
    changes = oiv.locator("#attenzione-modifiche")
    expect(changes).to_contain_text("Valore:")
    expect(changes).to_contain_text("«88» → «91»")
    validate = oiv.locator("#azione-valida")
    button = validate.get_by_role("button", name="Valida la Relazione")
    # while the version and its PDF render (seconds) the OIV is told so and cannot click twice:
    # the page stops the first submission itself, so that state can be looked at
    oiv.evaluate(
        "() => window.addEventListener('submit', (e) => e.preventDefault(), "
        "{capture: true, once: true})"
    )
    button.click()
    expect(validate.get_by_role("status")).to_contain_text("Validazione in corso")
    expect(button).to_be_disabled()
    oiv.reload()
    expect(button).to_be_enabled()
    validate.get_by_label("Motivazione e osservazioni (nel documento di validazione)").fill(
        "La Relazione è validata: la fonte del valore corretto è stata documentata."
    )
    button.click(timeout=VALIDATION_TIMEOUT_MS)
    oiv.wait_for_url("**/validazione/", timeout=VALIDATION_TIMEOUT_MS)
    expect(
        oiv.get_by_role(
            "heading", name=f"Documento di validazione della Relazione sulla performance {YEAR}"
        )
    ).to_be_visible()
    expect(oiv.locator(".validation-decision")).to_contain_text("VALIDA")
    expect(oiv.locator(".validation-members")).to_contain_text("Maria Bianchi")
    screenshot(oiv, "workflow-05-validation-document")

    # ---- the controllo publishes
    staff.goto(PANEL)
    staff.locator("#azione-pubblica").get_by_role("button", name="Pubblica").click()
    expect(staff.get_by_role("alert").filter(has_text="Relazione pubblicata")).to_be_visible()
    expect(staff.locator("[data-status]").first).to_have_text("Pubblicato")

    # ---- an anonymous citizen reads the page and downloads the PDF
    citizen = new_context().new_page()
    citizen.goto("/trasparenza/performance/")
    citizen.get_by_role("link", name=f"Relazione sulla performance {YEAR}").click()
    citizen.wait_for_url(f"**{PUBLIC}")
    expect(citizen.get_by_role("heading", name="Versione 1 – Versione originale")).to_be_visible()
    expect(citizen.locator("#relazione-titolo")).to_be_visible()
    shown = citizen.locator("#impronta-sha256").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", shown)
    screenshot(citizen, "workflow-06-public-page", focus=citizen.locator(".version-banner"))
    link = citizen.locator("#scarica-pdf")
    response = citizen.request.get(link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    content = response.body()
    assert content.startswith(b"%PDF")
    assert hashlib.sha256(content).hexdigest() == shown
    version = RelazioneVersion.objects.get(cycle=cycle)
    assert (version.pdf_sha256, version.published_at is not None) == (shown, True)

    # ---- any edit attempt afterwards is refused
    before = stored(reopened).value_number, stored(reopened).version
    staff.goto(ENTRY)
    expect(staff.get_by_role("note").filter(has_text="«Pubblicato»")).to_be_visible()
    expect(staff.locator(f"#riga-{reopened.pk}").get_by_label("Valore rilevato")).to_have_count(0)
    refused = staff.request.post(
        ENTRY,
        form={f"t{reopened.pk}-value": "50"},
        headers={"X-CSRFToken": _csrf(staff), "Referer": staff.url},
    )
    assert refused.status == 403
    staff.goto(f"/lavoro/{YEAR}/piano/obiettivi/{objective.pk}/")
    staff.get_by_label("Titolo").fill("Titolo cambiato dopo la pubblicazione")
    staff.get_by_role("button", name=re.compile("Salva")).click()
    expect(staff.get_by_text(re.compile(r"è nello stato «Pubblicato»")).first).to_be_visible()
    screenshot(staff, "workflow-07-edit-refused")
    assert (stored(reopened).value_number, stored(reopened).version) == before
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.PUBLISHED
    assert objective.__class__.objects.get(pk=objective.pk).title == objective.title
    citizen.reload()
    expect(citizen.locator("#impronta-sha256")).to_have_text(shown)


def _csrf(page) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return cookies.get("csrftoken", "")
