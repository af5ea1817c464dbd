"""In a real browser, at 390 px and 1280 px: what the hardening (issue 10) shows to people.

- the OIV opens the review of a submitted Relazione whose computed tree changed after the
  submission (a change made outside the application): the red alert says so and why the
  validation is refused;
- a citizen asks for a published PDF that was replaced on disk: an Italian 503 page, not the file;
- a citizen follows a link with a NUL byte in it: the Italian 400 page;
- a referent uploads a 2.5 KB spreadsheet declaring a cell at A100000: the form says why, in
  Italian, at once.

No page scrolls sideways at either width."""

from __future__ import annotations

import io
import zipfile

import pytest
from playwright.sync_api import expect

from organization import roles
from organization.models import Unit
from tests.browser.conftest import YEAR, log_in, screenshot, sideways_overflow

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)


def no_sideways_scroll(page) -> None:
    problem = sideways_overflow(page)
    assert not problem, problem


def at_widths(page, name: str, check) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        check()
        screenshot(page, f"hardening-{name}-{width}px")
        no_sideways_scroll(page)


@pytest.fixture
def people(make_user):
    return {
        "controllo": make_user("hb-controllo", roles.CONTROLLO, first_name="Carla"),
        "oiv": make_user("hb-oiv", roles.OIV, first_name="Olga"),
        "referente": make_user(
            "hb-referente", roles.REFERENTE, unit_keys=["registro-imprese"], first_name="Rita"
        ),
    }


def _advance(cycle, people, to, monkeypatch):
    from tests.hardening import advance, make_ready, patch_fast_pdf

    patch_fast_pdf(monkeypatch)
    make_ready(cycle)
    return advance(cycle, people, to)


def test_the_oiv_sees_that_the_figures_changed_after_the_submission(
    page, people, live_2019, monkeypatch
):
    cycle = _advance(live_2019, people, "submitted", monkeypatch)
    # A change the application refuses after the submission, made behind its back (ORM update).
    unit = Unit.objects.get(cycle=cycle, key="registro-imprese")
    other = Unit.objects.filter(cycle=cycle, parent__isnull=False).exclude(
        pk__in=[unit.pk, unit.parent_id]
    )
    Unit.objects.filter(pk=unit.pk).update(parent=other.exclude(parent=unit).first().parent)

    log_in(page, "hb-oiv")
    page.goto(f"/lavoro/{YEAR}/revisione/")
    alert = page.locator("#cifre-cambiate")

    def check():
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("Le cifre calcolate sono cambiate dopo l'ultimo invio")
        expect(alert).to_contain_text("non può essere validata")

    at_widths(page, "review-tree-changed", check)


def test_a_replaced_pdf_is_not_served_to_citizens(page, people, live_2019, monkeypatch, settings):
    from reports.models.workflow import RelazioneVersion

    cycle = _advance(live_2019, people, "published", monkeypatch)
    version = RelazioneVersion.objects.filter(cycle=cycle).order_by("-number").first()
    path = version.pdf.path
    with open(path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"manomesso")

    page.goto(f"/trasparenza/performance/{YEAR}/")
    response = page.request.get(f"/trasparenza/performance/{YEAR}/relazione.pdf")
    assert response.status == 503
    assert "application/pdf" not in response.headers.get("content-type", "")

    page.goto(f"/trasparenza/performance/{YEAR}/versioni/{version.number}/relazione.pdf")

    def check():
        expect(page.locator("h1")).to_have_text("Versione non integra")
        expect(page.locator("body")).to_contain_text("non ha superato la verifica di integrità")
        assert page.locator("html").get_attribute("lang") == "it"

    at_widths(page, "version-not-intact", check)


def test_a_link_with_a_nul_byte_gets_the_italian_400_page(page, live_2019):
    page.goto(f"/trasparenza/performance/{YEAR}/dati.csv?periodo=%00")

    def check():
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == "it"
        expect(page.locator("body")).not_to_contain_text("Bad Request")

    at_widths(page, "400", check)


def _far_cell_xlsx() -> bytes:
    """The attack run's file: one cell at A100000, a declared dimension to match."""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<dimension ref="A1:A100000"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>codice_target</t></is></c></row>'
        '<row r="100000"><c r="A100000" t="inlineStr"><is><t>x</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
            'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="valori" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_a_referent_uploading_a_huge_sheet_reads_why_it_is_refused(page, people, live_2019):
    content = _far_cell_xlsx()
    assert len(content) < 4096
    log_in(page, "hb-referente")
    page.goto(f"/lavoro/{YEAR}/importa/")
    page.get_by_label("File da importare").set_input_files(
        files=[
            {
                "name": "valori.xlsx",
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "buffer": content,
            }
        ]
    )
    page.get_by_role("button", name="Verifica il file").click()
    page.wait_for_load_state("load")
    body = page.locator("main")
    message = "Il foglio ha dati alla riga 100.000"
    expect(body).to_contain_text(message)

    def check():
        expect(body).to_contain_text(message)

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        check()
        screenshot(page, f"hardening-import-refused-{width}px")
        no_sideways_scroll(page)
