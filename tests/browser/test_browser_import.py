"""In a real browser: the controllo di gestione uploads an XLSX of values (docs/import-format.md)
with one bad row, reads the row number and the reason in the dry run, uploads the fixed file,
confirms, and the values are applied."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from organization import roles
from performance.models import Actual, Target
from tests.browser.conftest import YEAR, log_in, screenshot

pytestmark = pytest.mark.browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["codice_target", "periodo", "valore", "nota"]


def values_xlsx(rows: list[list]) -> bytes:
    """A values file as staff would save it from Excel: header in row 1, one value per row."""
    book = Workbook()
    sheet = book.active
    sheet.title = "valori"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def first_target(cycle, unit_key: str, kind: str) -> Target:
    return (
        Target.objects.filter(
            indicator__objective__cycle=cycle, unit__key=unit_key, rule__kind=kind
        )
        .order_by("id")
        .first()
    )


def consuntivo(target: Target) -> Actual | None:
    return Actual.objects.filter(target=target, period__key="consuntivo").first()


def upload(page, name: str, content: bytes) -> None:
    expect(page.get_by_role("heading", name=f"Importa ed esporta – ciclo {YEAR}")).to_be_visible()
    # Bootstrap Italia draws the radio on its label: click the label, as a user does.
    page.locator("label", has_text="Valori rilevati").click()
    expect(page.get_by_label("Valori rilevati")).to_be_checked()
    page.get_by_label("File da importare").set_input_files(
        files=[{"name": name, "mimeType": XLSX, "buffer": content}]
    )
    page.get_by_role("button", name="Verifica il file").click()
    page.wait_for_load_state("load")


def test_controllo_imports_an_xlsx_with_one_bad_row_then_the_fixed_file(page, make_user, live_2019):
    make_user("controllo", roles.CONTROLLO, first_name="Carla", last_name="Controllo")
    ri = first_target(live_2019, "registro-imprese", "at_least")  # "≥ 2", stored 2
    k_of_n = first_target(live_2019, "promozione", "k_of_n")
    deadline = first_target(live_2019, "regolazione-mercato", "deadline")
    before = {t.pk: getattr(consuntivo(t), "version", None) for t in (ri, k_of_n, deadline)}
    rows = [
        [ri.pk, "consuntivo", "3", "Dato del gestionale"],
        [k_of_n.pk, "consuntivo", "tredici su 14", ""],
        [deadline.pk, "Consuntivo al 31.12.2019", "15/07/2019", "consegnato"],
    ]

    log_in(page, "controllo")
    page.get_by_role("navigation", name="Navigazione principale").get_by_role(
        "link", name="Importa"
    ).click()
    upload(page, "valori-consuntivo.xlsx", values_xlsx(rows))

    # The dry run: the bad row with its number in the sheet, its column and the reason.
    expect(page.get_by_role("heading", level=1)).to_have_text("Verifica del file")
    expect(page.get_by_role("alert").filter(has_text="righe non valide")).to_contain_text(
        "Il file contiene righe non valide (1): non può essere applicato."
    )
    invalid = page.locator("section", has=page.get_by_role("heading", name="Righe non valide"))
    cells = invalid.locator("tbody tr").first.locator("td")
    expect(invalid.locator("tbody tr")).to_have_count(1)
    expect(cells.nth(0)).to_have_text("3")
    expect(cells.nth(1)).to_have_text("valore")
    expect(cells.nth(2)).to_contain_text("«tredici su 14»")
    expect(page.get_by_role("button", name="Conferma e applica")).to_have_count(0)
    screenshot(page, "07-import-dry-run-bad-row", focus=invalid)
    assert {t.pk: getattr(consuntivo(t), "version", None) for t in (ri, k_of_n, deadline)} == (
        before
    )

    # Fixed and uploaded again: valid, nothing written until confirmed.
    rows[1][2] = "13 su 14"
    page.get_by_role("link", name="Carica un altro file").click()
    upload(page, "valori-consuntivo-corretto.xlsx", values_xlsx(rows))
    expect(page.get_by_role("status")).to_contain_text("Verifica senza errori")
    changes = page.locator(
        "section", has=page.get_by_role("heading", name="Righe nuove e modificate")
    )
    expect(changes.locator("tbody tr")).to_have_count(3)
    expect(changes.locator("tbody tr").nth(1).locator("td").first).to_have_text("3")
    screenshot(page, "08-import-dry-run-valid")
    assert consuntivo(ri).value_number == Decimal(2)

    page.get_by_role("button", name="Conferma e applica").click()
    page.wait_for_url(f"**/lavoro/{YEAR}/importa/")
    expect(page.get_by_role("alert").filter(has_text="Importazione completata")).to_have_text(
        "Importazione completata: 0 nuovi, 3 modificati, 0 invariati."
    )
    screenshot(page, "09-import-applied")

    applied = consuntivo(ri)
    assert (applied.value_number, applied.note) == (Decimal(3), "Dato del gestionale")
    assert applied.recorded_by.username == "controllo"
    assert applied.version == before[ri.pk] + 1
    counted = consuntivo(k_of_n)
    assert (counted.value_k, counted.value_n) == (Decimal(13), Decimal(14))
    done = consuntivo(deadline)
    assert (done.value_date, done.note) == (dt.date(2019, 7, 15), "consegnato")

    # The unit's form shows the imported value and its achievement.
    page.goto(f"/lavoro/{YEAR}/valori/registro-imprese/consuntivo/")
    expect(page.locator(f"#risultato-{ri.pk}")).to_contain_text(
        "Valore salvato: 3 – raggiungimento 100%"
    )
    expect(page.locator(f"#risultato-{ri.pk}")).to_contain_text("Registrato da Carla Controllo")
