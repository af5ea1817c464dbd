"""In a real browser: a referent enters the Registro Imprese actuals with Italian formats, sees the
live achievement, corrects an invalid value and saves; a second session hits the conflict, sees
both values, confirms its own and saves (the other value stays in the history)."""

from __future__ import annotations

import re
import weakref
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from organization import roles
from performance.models import Actual, Target
from tests.browser.conftest import YEAR, log_in, screenshot

pytestmark = pytest.mark.browser

RI = "registro-imprese"
FORM_PATH = f"/lavoro/{YEAR}/valori/{RI}/consuntivo/"


def ri_target(cycle, kind: str, text: str) -> Target:
    return Target.objects.get(
        indicator__objective__cycle=cycle, unit__key=RI, rule__kind=kind, text=text
    )


def stored(target: Target) -> Actual:
    return Actual.objects.get(target=target, period__key="consuntivo")


@pytest.fixture
def referent(make_user):
    return make_user(
        "referente-ri", roles.REFERENTE, unit_keys=[RI], first_name="Rita", last_name="Imprese"
    )


@pytest.fixture
def rows(live_2019) -> dict[str, Target]:
    """The Registro Imprese rows the tests type into (2019 values: 4,7 / 88 / 97)."""
    return {
        "rating": ri_target(live_2019, "rating", "≥ 4,5 (su scala da 1 a 5)"),
        "at_least_80": ri_target(live_2019, "at_least", "≥ 80%"),
        "at_least_85": ri_target(live_2019, "at_least", "≥ 85%"),
    }


def row_of(page, target: Target):
    return page.locator(f"#riga-{target.pk}")


def value_input(page, target: Target):
    return row_of(page, target).get_by_label("Valore rilevato", exact=True)


PREVIEW_DELAY_MS = 400  # static/js/entry.js: DELAY, the debounce of the live preview
_PREVIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # page -> requests in flight


def watch_previews(page):
    pending = _PREVIEWS.setdefault(page, set())
    page.on("request", lambda r: pending.add(r) if "/anteprima/" in r.url else None)
    page.on("requestfinished", lambda r: pending.discard(r))
    page.on("requestfailed", lambda r: pending.discard(r))
    return page


def save(page) -> None:
    """Submit the form once the live preview is quiet: leaving a field fires ``change``, and the
    preview it schedules must not run while the form is posted (on SQLite the live server's
    threads share one connection; see conftest.py)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(PREVIEW_DELAY_MS + 100)
    pending = _PREVIEWS.get(page, set())
    for _ in range(100):
        if not pending:
            break
        page.wait_for_timeout(50)
    assert not pending, "a live preview request did not finish"
    page.get_by_role("button", name="Salva tutti i valori").click()
    page.wait_for_load_state("load")


def test_referent_enters_values_corrects_an_invalid_one_and_saves(page, referent, rows):
    rating, at_80, at_85 = rows["rating"], rows["at_least_80"], rows["at_least_85"]
    before = {t: (stored(t).value_number, stored(t).version) for t in rows.values()}

    watch_previews(page)
    log_in(page, "referente-ri", shot="00-login")
    screenshot(page, "01-home-referente")
    page.get_by_role("navigation", name="Navigazione principale").get_by_role(
        "link", name="Valori"
    ).click()
    expect(page.get_by_role("heading", name=f"Valori rilevati – ciclo {YEAR}")).to_be_visible()
    page.get_by_role(
        "link", name=re.compile(r"^Registra i valori di Servizio Registro Imprese – Consuntivo")
    ).click()
    page.wait_for_url(f"**{FORM_PATH}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Servizio Registro Imprese")

    # A rating typed with the decimal comma: the achievement appears while typing.
    value_input(page, rating).fill("")
    value_input(page, rating).press_sequentially("4,6")
    expect(row_of(page, rating).locator("output.entry-preview")).to_contain_text(
        "Con il valore scritto: 100%"
    )
    # A percentage under its target: the rule's figure, with the formula.
    value_input(page, at_80).fill("75,5")
    preview_80 = row_of(page, at_80).locator("output.entry-preview")
    expect(preview_80).to_contain_text("Con il valore scritto: 94%")
    expect(preview_80).to_contain_text("75,5")
    # A word instead of a number: the preview says why, in Italian.
    value_input(page, at_85).fill("novanta")
    preview_85 = row_of(page, at_85).locator("output.entry-preview")
    expect(preview_85).to_contain_text("«novanta» non è un numero")
    expect(preview_85).to_have_class(re.compile(r"text-danger"))
    screenshot(page, "02-form-live-preview", focus=row_of(page, at_80))

    save(page)
    expect(
        page.get_by_role(
            "heading", name="Nessun valore è stato salvato: correggere i campi indicati"
        )
    ).to_be_visible()
    error = page.locator(f"#id_t{at_85.pk}-value-errore")
    expect(error).to_be_visible()
    expect(error).to_contain_text("«novanta» non è un numero")
    expect(value_input(page, at_85)).to_have_attribute("aria-invalid", "true")
    # what was typed is all still there
    expect(value_input(page, at_85)).to_have_value("novanta")
    expect(value_input(page, rating)).to_have_value("4,6")
    expect(value_input(page, at_80)).to_have_value("75,5")
    # the summary links to the field
    summary = page.locator("#riepilogo-errori")
    expect(summary.get_by_role("link")).to_have_attribute("href", f"#id_t{at_85.pk}-value")
    screenshot(page, "03-form-invalid-value", focus=row_of(page, at_85))
    assert {t: (stored(t).value_number, stored(t).version) for t in rows.values()} == before

    value_input(page, at_85).fill("90")
    expect(preview_85).to_contain_text("Con il valore scritto: 100%")
    save(page)
    expect(page.get_by_role("alert").filter(has_text="Valori salvati")).to_have_text(
        "Valori salvati (3 modificati): le percentuali sotto sono ricalcolate."
    )
    result_rating = page.locator(f"#risultato-{rating.pk}")
    expect(result_rating).to_contain_text("Valore salvato: 4,6 – raggiungimento 100%")
    expect(result_rating).to_contain_text("Registrato da Rita Imprese")
    expect(page.locator(f"#risultato-{at_80.pk}")).to_contain_text(
        "Valore salvato: 75,5 – raggiungimento 94%"
    )
    expect(page.locator(f"#risultato-{at_85.pk}")).to_contain_text(
        "Valore salvato: 90 – raggiungimento 100%"
    )
    expect(value_input(page, rating)).to_have_value("4,6")
    screenshot(page, "04-form-saved", focus=page.get_by_role("alert"))

    for target, number in ((rating, "4.6"), (at_80, "75.5"), (at_85, "90")):
        actual = stored(target)
        assert actual.value_number == Decimal(number)
        assert actual.version == before[target][1] + 1
        assert actual.recorded_by == referent


def test_second_session_hits_the_conflict_and_confirms_its_value(new_context, make_user, rows):
    rating, at_80 = rows["rating"], rows["at_least_80"]
    version = stored(rating).version
    make_user("referente-ri", roles.REFERENTE, unit_keys=[RI], first_name="Rita")
    make_user("controllo", roles.CONTROLLO, first_name="Carla", last_name="Controllo")
    first = watch_previews(new_context().new_page())
    second = watch_previews(new_context().new_page())
    log_in(first, "referente-ri")
    log_in(second, "controllo")
    for page in (first, second):
        page.goto(FORM_PATH)
        expect(value_input(page, rating)).to_have_value("4,7")

    # The first session saves 4,8.
    value_input(first, rating).fill("4,8")
    expect(row_of(first, rating).locator("output.entry-preview")).to_contain_text("100%")
    save(first)
    expect(first.get_by_role("alert").filter(has_text="Valori salvati")).to_contain_text(
        "1 modificato"
    )

    # The second session, opened before that save, types 3,9 (and another row) and saves.
    value_input(second, rating).fill("3,9")
    expect(row_of(second, rating).locator("output.entry-preview")).to_contain_text(
        "Con il valore scritto: 83%"
    )
    value_input(second, at_80).fill("82")
    expect(row_of(second, at_80).locator("output.entry-preview")).to_contain_text("100%")
    save(second)
    expect(second.locator("#riepilogo-conflitti")).to_contain_text(
        "Nessun valore è stato salvato: 1 valore nel frattempo modificato da altri"
    )
    conflict = second.locator(f"#conflitto-{rating.pk}")
    expect(conflict).to_contain_text("Salvato da Rita")
    expect(conflict.locator("dd").nth(0)).to_have_text("3,9")
    expect(conflict.locator("dd").nth(1)).to_contain_text("4,8 – raggiungimento 100%")
    expect(conflict.get_by_label("Mantengo il valore salvato (4,8)")).to_be_visible()
    # nothing typed is lost
    expect(value_input(second, rating)).to_have_value("3,9")
    expect(value_input(second, at_80)).to_have_value("82")
    screenshot(second, "05-conflict", focus=conflict)
    assert stored(rating).value_number == Decimal("4.8")
    assert stored(at_80).value_number == Decimal(88)

    # Bootstrap Italia draws the radio on its label: click the label, as a user does.
    conflict.locator("label", has_text="Confermo il mio valore").click()
    expect(conflict.get_by_label("Confermo il mio valore")).to_be_checked()
    save(second)
    expect(second.get_by_role("alert").filter(has_text="Valori salvati")).to_have_text(
        "Valori salvati (2 modificati): le percentuali sotto sono ricalcolate."
    )
    expect(second.locator(f"#risultato-{rating.pk}")).to_contain_text(
        "Valore salvato: 3,9 – raggiungimento 83%"
    )
    expect(second.locator(f"#conflitto-{rating.pk}")).to_have_count(0)
    screenshot(second, "06-conflict-resolved", focus=row_of(second, rating))

    actual = stored(rating)
    assert (actual.value_number, actual.version) == (Decimal("3.9"), version + 2)
    assert actual.recorded_by.username == "controllo"
    assert stored(at_80).value_number == Decimal(82)
    # both values are kept: the first session's in the history, the second's as the value
    history = list(
        Actual.history.filter(id=actual.pk)
        .order_by("history_date")
        .values_list("value_number", "history_user__username")
    )
    assert history[-2:] == [(Decimal("4.8"), "referente-ri"), (Decimal("3.9"), "controllo")]


def test_a_date_is_chosen_from_the_calendar_and_written_as_typed(page, referent, live_2019):
    """Next to a date typed as gg/mm/aaaa, a calendar button opens the browser's date picker; the
    date picked is written into the text input as gg/mm/aaaa and previewed like a typed one."""
    deadline = ri_target(live_2019, "deadline", "31.3.2019")
    watch_previews(page)
    log_in(page, "referente-ri")
    page.goto(FORM_PATH)
    row = row_of(page, deadline)
    text = row.get_by_label("Data di realizzazione", exact=True)
    expect(text).to_have_value("18/03/2019")
    button = row.get_by_role("button", name="Scegli dal calendario: Data di realizzazione")
    expect(button).to_be_visible()
    button.click()  # the native picker opens (nothing to see in a headless browser)
    page.keyboard.press("Escape")
    # what the browser's picker does when a day is chosen: its input changes
    row.locator("input.entry-date-picker").evaluate(
        "picker => { picker.value = '2019-04-02';"
        " picker.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    expect(text).to_have_value("02/04/2019")
    expect(text).to_be_focused()
    preview = row.locator("output.entry-preview")
    expect(preview).to_contain_text("Con il valore scritto:")
    expect(preview).to_contain_text("02/04/2019")
    screenshot(page, "05-form-date-from-calendar", focus=row)
    save(page)
    expect(page.get_by_role("alert").filter(has_text="Valori salvati")).to_be_visible()
    assert stored(deadline).value_date.isoformat() == "2019-04-02"
