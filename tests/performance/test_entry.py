"""Entering actuals on the real 2019 cycle: the unit's form (every persona, Italian formats, all
or nothing, optimistic locking with both values shown, overrides), the live preview endpoint
(same figures as the engine), the unit_values_record service and its query counts."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from organization.models import Cycle, MeasurementPeriod, Unit
from performance import scoring, selectors, selectors_entry
from performance.forms import actual_inputs
from performance.models import Actual, Objective, Target
from performance.services import actual_record
from performance.services.entry import (
    RowInput,
    UnitValuesConflict,
    UnitValuesInvalid,
    unit_values_record,
)

YEAR = 2019
RI = "registro-imprese"
# Targets of the Servizio Registro Imprese in the 2019 cycle.
T_AT_LEAST_80 = 55  # "≥ 80%", stored 88
T_AT_LEAST_85 = 57  # "≥ 85%", stored 97
T_DEADLINE = 56  # "31.3.2019", stored 18/03/2019
T_RATING = 58  # "≥ 4,5 (su scala da 1 a 5)", stored 4,7
T_K_OF_N = 92  # k of 2, stored 2
T_MULTI = 54  # two deadlines
T_EXCLUDED = 64  # excluded row of Registro Imprese


# ------------------------------------------------------------------------------------ personas


def _client(personas, name: str, **kwargs) -> Client:
    return personas.client(name, **kwargs)


def form_url(unit_key: str = RI, period_key: str = "consuntivo") -> str:
    return reverse("workspace:entry-form", args=[YEAR, unit_key, period_key])


INDEX_URL = f"/lavoro/{YEAR}/valori/"
PREVIEW_URL = f"/lavoro/{YEAR}/valori/anteprima/"


def snapshot() -> tuple:
    """Every stored value and the size of the history: to check that nothing changed."""
    rows = Actual.objects.order_by("pk").values_list(
        "pk", "version", "value_number", "value_date", "value_done", "value_k", "note"
    )
    return tuple(rows), Actual.history.count()


def stored(target_id: int, period_key: str = "consuntivo") -> Actual | None:
    return Actual.objects.filter(target_id=target_id, period__key=period_key).first()


class _FormFields(HTMLParser):
    """The data a browser would submit from the page's form #modulo-valori, as rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "modulo-valori":
            self.inside = True
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value", "on")
            elif kind != "submit":
                self.data[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def page_data(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.data


def opened_form(client: Client, url: str | None = None) -> dict[str, str]:
    response = client.get(url or form_url())
    assert response.status_code == 200
    return page_data(response)


# ---------------------------------------------------------------------------------- the index


@pytest.mark.parametrize(
    ("persona", "status", "shown", "hidden"),
    [
        ("anonimo", 302, [], []),
        ("nessun-ruolo", 403, [], []),
        (
            "referente-ri",
            200,
            ["Servizio Registro Imprese", "Registra: 11 su 11", "Registra: 0 su 11"],
            ["Promozione dell", "Camera di Commercio di Pavia</th>"],
        ),
        ("referente-altro", 200, ["Servizio di Promozione"], ["Servizio Registro Imprese"]),
        (
            "controllo",
            200,
            ["Servizio Registro Imprese", "Servizio di Promozione", "Camera di Commercio di Pavia"],
            [],
        ),
        ("oiv", 200, ["Consulta: 11 su 11", "Servizio di Promozione"], ["Registra:"]),
    ],
)
def test_index_for_every_persona(personas, persona, status, shown, hidden):
    response = _client(personas, persona).get(INDEX_URL)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    text = response.content.decode()
    for fragment in shown:
        assert fragment in text
    for fragment in hidden:
        assert fragment not in text
    if status == 200:
        assert 'href="/lavoro/2019/valori/"' in text  # the navigation link appears by itself


def test_index_links_every_period(personas):
    text = _client(personas, "referente-ri").get(INDEX_URL).content.decode()
    assert form_url(RI, "consuntivo") in text
    assert form_url(RI, "monitoraggio") in text
    assert "Consuntivo al 31.12.2019" in text


# ------------------------------------------------------------------------------ the form: GET


@pytest.mark.parametrize(
    ("persona", "status", "inputs"),
    [
        ("anonimo", 302, False),
        ("nessun-ruolo", 403, False),
        ("referente-ri", 200, True),
        ("referente-altro", 403, False),
        ("controllo", 200, True),
        ("oiv", 200, False),
    ],
)
def test_form_get_for_every_persona(personas, persona, status, inputs):
    response = _client(personas, persona).get(form_url())
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    if status != 200:
        return
    text = response.content.decode()
    assert "Servizio Registro Imprese" in text
    assert "Percorso di navigazione" in text  # breadcrumbs
    # values and achievements are shown to everyone who may see the page
    assert "percentuale delle comunicazioni di avvio del procedimento" in text
    assert "88 ≥ 80 → 100%" in text
    assert ('name="t55-value"' in text) is inputs
    assert ('id="modulo-valori"' in text) is inputs
    assert ("js/entry.js" in text) is inputs
    if not inputs:
        assert "sola lettura" in text


def test_form_shows_every_row_grouped_by_objective_with_the_reasons(personas):
    text = _client(personas, "referente-ri").get(form_url()).content.decode()
    assert text.count('class="card card-bg entry-row') == 12
    assert "Attivazione del servizio libri digitali" in text  # an objective heading
    assert "Escluso dalla misurazione: Riga senza percentuale" in text
    assert 'name="t64-' not in text  # the excluded row is read-only
    # inputs typed by rule kind, labels tied to inputs, Italian formats
    assert '<label class="form-label fw-semibold" for="id_t56-date">' in text
    assert 'id="id_t56-date" name="t56-date" value="18/03/2019"' in text
    assert 'name="t56-not_done"' in text
    assert 'name="t58-value" value="4,7"' in text
    assert 'name="t92-k" value="2"' in text
    assert 'name="t54-p0-date" value="11/03/2019"' in text
    assert 'name="t54-p1-date" value="14/05/2019"' in text
    assert 'name="t55-override_pct"' in text
    assert 'name="t55-override_reason"' in text
    assert 'name="t55-version" value="1"' in text


def test_neutralized_rows_are_read_only_with_their_reason(personas):
    response = _client(personas, "controllo").get(form_url("promozione"))
    text = response.content.decode()
    neutralized = Target.objects.filter(
        unit__key="promozione", indicator__objective__status=Objective.Status.NEUTRALIZED
    )
    assert neutralized.exists()
    for target in neutralized:
        assert f'name="t{target.pk}-' not in text
    assert "Obiettivo neutralizzato: Obiettivo eliminato in sede di aggiornamento" in text


def test_the_ente_form_holds_the_rows_without_a_unit(personas):
    response = _client(personas, "controllo").get(form_url("ente"))
    assert response.status_code == 200
    text = response.content.decode()
    assert (
        text.count('class="card card-bg entry-row')
        == Target.objects.filter(unit__isnull=True).count()
    )
    assert "Individuale" in text and "rettifica" in text


def test_unknown_unit_or_period_is_404(personas):
    client = _client(personas, "controllo")
    assert client.get(form_url("nessuna")).status_code == 404
    assert client.get(form_url(RI, "nessuno")).status_code == 404
    assert client.get(f"/lavoro/2018/valori/{RI}/consuntivo/").status_code == 404


# ----------------------------------------------------------------------------- the form: POST


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonimo", 302),
        ("nessun-ruolo", 403),
        ("referente-ri", 302),
        ("referente-altro", 403),
        ("controllo", 302),
        ("oiv", 403),
    ],
)
def test_form_post_for_every_persona(personas, persona, status):
    data = opened_form(_client(personas, "controllo"))
    data["t55-value"] = "91"
    before = snapshot()
    response = _client(personas, persona).post(form_url(), data)
    assert response.status_code == status
    if persona in ("referente-ri", "controllo"):
        assert response["Location"] == form_url()
        actual = stored(T_AT_LEAST_80)
        assert (actual.value_number, actual.version, actual.text) == (Decimal(91), 2, "91")
        assert actual.recorded_by == personas[persona]
        assert actual.history.latest().history_user == personas[persona]
    else:
        if status == 302:
            assert response["Location"].startswith(reverse("login"))
        assert snapshot() == before


def test_after_saving_the_page_shows_the_achievements_and_formulas(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data["t55-value"] = "60"
    response = client.post(form_url(), data, follow=True)
    text = response.content.decode()
    assert "Valori salvati (1 modificato)" in text
    assert "60/80 = 75%" in text
    assert "raggiungimento <strong>75%</strong>" in text


def test_an_unchanged_form_writes_nothing(personas):
    client = _client(personas, "controllo")
    for unit_key in (RI, "ente", "promozione"):
        data = opened_form(client, form_url(unit_key))
        before = snapshot()
        response = client.post(form_url(unit_key), data, follow=True)
        assert "Nessun valore modificato." in response.content.decode()
        assert snapshot() == before, unit_key


def test_italian_formats_are_accepted(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update(
        {
            "t58-value": "4,6",
            "t55-value": "82,7%",
            "t57-value": "1.234,5",
            "t56-date": "20/03/2019",
            "t59-date": "6.5.2019",
            f"t{T_K_OF_N}-k": "13 su 14",
            "t54-p0-date": "2019-03-12",
            "t55-note": "dato Gedoc",
            "t55-source": "Gedoc",
        }
    )
    response = client.post(form_url(), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert stored(T_RATING).value_number == Decimal("4.6")
    assert (stored(55).value_number, stored(55).text) == (Decimal("82.7"), "82,7%")
    assert (stored(55).note, stored(55).source) == ("dato Gedoc", "Gedoc")
    assert stored(57).value_number == Decimal("1234.5")
    assert stored(T_DEADLINE).value_date == dt.date(2019, 3, 20)
    assert stored(59).value_date == dt.date(2019, 5, 6)
    assert (stored(T_K_OF_N).value_k, stored(T_K_OF_N).value_n) == (Decimal(13), Decimal(14))
    assert stored(T_MULTI).value_parts == [{"date": "2019-03-12"}, {"date": "2019-05-14"}]


def test_yes_no_and_not_done(personas):
    """Milestones take sì/no (Ente rows: controllo); a deadline can be "non realizzato"."""
    milestone = Target.objects.filter(rule__kind="milestone", unit__isnull=True).first()
    client = _client(personas, "controllo")
    data = opened_form(client, form_url("ente"))
    data[f"t{milestone.pk}-done"] = "no"
    response = client.post(form_url("ente"), data)
    assert response.status_code == 302
    assert stored(milestone.pk).value_done is False
    data = opened_form(client, form_url("ente"))
    data[f"t{milestone.pk}-done"] = "sì"
    assert client.post(form_url("ente"), data).status_code == 302
    assert stored(milestone.pk).value_done is True

    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data["t56-date"] = ""
    data["t56-not_done"] = "1"
    response = client.post(form_url(), data, follow=True)
    assert stored(T_DEADLINE).value_done is False
    assert stored(T_DEADLINE).value_date is None
    assert "non realizzato (scadenza 31/03/2019) → 0%" in response.content.decode()


def test_a_new_value_in_an_empty_period(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client, form_url(RI, "monitoraggio"))
    assert data["t55-version"] == ""
    data["t55-value"] = "40"
    response = client.post(form_url(RI, "monitoraggio"), data)
    assert response.status_code == 302
    actual = stored(55, "monitoraggio")
    assert (actual.value_number, actual.version) == (Decimal(40), 1)
    assert Actual.objects.filter(period__key="monitoraggio").count() == 1  # blank rows: none


# ---------------------------------------------------------------------------- invalid input


def test_invalid_input_keeps_what_was_typed_and_saves_nothing(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update({"t55-value": "91", "t57-value": "novanta", "t56-date": "31/02/2019"})
    before = snapshot()
    response = client.post(form_url(), data)
    assert response.status_code == 400
    text = response.content.decode()
    assert snapshot() == before
    assert "Nessun valore è stato salvato" in text
    # the message is next to the field and names it
    assert (
        '<div class="invalid-feedback d-block" id="id_t57-value-errore">Valore rilevato: '
        "«novanta» non è un numero (esempi: 4,6 oppure 1.234,5)</div>" in text
    )
    assert "Data di realizzazione: «31/02/2019» non è una data esistente" in text
    assert 'aria-describedby="id_t57-value-aiuto id_t57-value-errore"' in text
    assert 'aria-invalid="true"' in text
    assert 'href="#id_t57-value"' in text  # the summary links to the field
    # what was typed is still there
    assert 'name="t55-value" value="91"' in text
    assert 'name="t57-value" value="novanta"' in text
    assert 'name="t56-date" value="31/02/2019"' in text


def test_a_value_the_rule_refuses_saves_nothing(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update({"t55-value": "91", "t58-value": "7"})
    before = snapshot()
    response = client.post(form_url(), data)
    assert response.status_code == 400
    text = response.content.decode()
    assert "Valore: 7 è fuori dalla scala 1–5" in text
    assert 'name="t55-value" value="91"' in text
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("t92-k", "tredici", "Quanti su quanti: «tredici» non è un numero"),
        ("t92-k", "3 su 0", "Quanti su quanti: «3 su 0»: il totale deve essere maggiore di 0"),
        ("t55-value", "4,12345", "Valore rilevato: al massimo 4 decimali"),
        ("t56-date", "2019/31/12", "Data di realizzazione: «2019/31/12» non è una data"),
        ("t55-override_pct", "molto", "Rettifica: % di raggiungimento: «molto» non è un numero"),
    ],
)
def test_messages_name_the_field(personas, field, typed, message):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data[field] = typed
    before = snapshot()
    response = client.post(form_url(), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert snapshot() == before


def test_date_and_not_done_together_are_refused(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data["t56-not_done"] = "1"
    response = client.post(form_url(), data)
    assert response.status_code == 400
    assert "indicare la data oppure «non realizzato», non entrambi" in response.content.decode()


# -------------------------------------------------------------------------------- overrides


def test_override_without_justification_is_refused(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update({"t55-value": "70", "t55-override_pct": "95"})
    before = snapshot()
    response = client.post(form_url(), data)
    assert response.status_code == 400
    text = response.content.decode()
    assert (
        '<div class="invalid-feedback d-block" id="id_t55-override_reason-errore">'
        "La rettifica richiede una motivazione.</div>" in text
    )
    assert 'name="t55-override_pct" value="95"' in text
    assert snapshot() == before


def test_override_with_justification_is_marked_as_rettifica(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update(
        {"t55-value": "70", "t55-override_pct": "95,5", "t55-override_reason": "delibera OIV"}
    )
    response = client.post(form_url(), data, follow=True)
    actual = stored(55)
    assert (actual.override_pct, actual.override_reason) == (Decimal("95.5"), "delibera OIV")
    text = response.content.decode()
    assert 'badge badge-override">rettifica</span>' in text
    assert "valore rettificato 96% (la regola darebbe 88%: 70/80 = 87,5%) — delibera OIV" in text
    # read-only view (OIV): marked too
    oiv_text = _client(personas, "oiv").get(form_url()).content.decode()
    assert "rettifica</span> Motivazione: delibera OIV" in oiv_text


def test_override_out_of_range_is_refused(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    data.update({"t55-override_pct": "120", "t55-override_reason": "x"})
    response = client.post(form_url(), data)
    assert response.status_code == 400
    assert "La percentuale deve essere tra 0 e 100." in response.content.decode()


# --------------------------------------------------------------------------------- conflicts


def test_a_value_changed_meanwhile_refuses_the_whole_form_and_shows_both(personas):
    ri, controllo = personas["referente-ri"], personas["controllo"]
    client = _client(personas, "referente-ri")
    data = opened_form(client)  # opened at version 1
    target = Target.objects.get(pk=55)
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key="consuntivo")
    actual_record(
        target=target,
        period=period,
        user=controllo,
        expected_version=1,
        number=Decimal("84"),
        note="corretto dal controllo",
    )
    data.update({"t55-value": "91,5", "t57-value": "90"})
    before = snapshot()
    response = client.post(form_url(), data)
    assert response.status_code == 409
    assert snapshot() == before  # nothing saved, not even the row without a conflict
    text = response.content.decode()
    assert "Nessun valore è stato salvato: 1 valore nel frattempo modificato da altri" in text
    assert 'Il tuo valore (come scritto)</dt><dd class="col-sm-8">91,5</dd>' in text
    assert "Salvato da controllo il" in text
    assert "84 – raggiungimento 100%" in text and "nota: corretto dal controllo" in text
    # what was typed is kept; the row now carries the new version
    assert 'name="t55-value" value="91,5"' in text
    assert 'name="t57-value" value="90"' in text
    assert "Scegliere se confermare" not in text  # no error before a choice was asked for
    assert 'name="t55-resolve"' in text
    reopened = page_data(response)
    assert reopened["t55-version"] == "2"
    assert reopened["t55-conflict"] == "1"

    # no choice made: refused again
    response = client.post(form_url(), reopened)
    assert response.status_code == 400
    assert "Scegliere se confermare il proprio valore" in response.content.decode()
    assert snapshot() == before

    # "confirm mine": re-submitted with the new version
    reopened["t55-resolve"] = "mine"
    response = client.post(form_url(), reopened)
    assert response.status_code == 302
    assert (stored(55).value_number, stored(55).version) == (Decimal("91.5"), 3)
    assert stored(55).recorded_by == ri
    assert stored(57).value_number == Decimal(90)


def test_keep_theirs(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key="consuntivo")
    actual_record(
        target=Target.objects.get(pk=55),
        period=period,
        user=personas["controllo"],
        expected_version=1,
        number=Decimal("84"),
    )
    data.update({"t55-value": "91", "t57-value": "90"})
    reopened = page_data(client.post(form_url(), data))
    reopened["t55-resolve"] = "theirs"
    assert client.post(form_url(), reopened).status_code == 302
    assert (stored(55).value_number, stored(55).version) == (Decimal(84), 2)
    assert stored(57).value_number == Decimal(90)


def test_a_value_created_meanwhile_is_a_conflict(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client, form_url(RI, "monitoraggio"))
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key="monitoraggio")
    actual_record(
        target=Target.objects.get(pk=55),
        period=period,
        user=personas["controllo"],
        expected_version=None,
        number=Decimal("50"),
    )
    data["t55-value"] = "45"
    response = client.post(form_url(RI, "monitoraggio"), data)
    assert response.status_code == 409
    assert stored(55, "monitoraggio").value_number == Decimal(50)
    assert page_data(response)["t55-version"] == "1"


def test_the_same_value_saved_meanwhile_is_not_a_conflict(personas):
    client = _client(personas, "referente-ri")
    data = opened_form(client)
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key="consuntivo")
    actual_record(
        target=Target.objects.get(pk=55),
        period=period,
        user=personas["controllo"],
        expected_version=1,
        number=Decimal("91"),
        note=stored(55).note,
    )
    data.update({"t55-value": "91", "t57-value": "90"})
    assert client.post(form_url(), data).status_code == 302
    assert stored(55).version == 2  # left alone
    assert stored(57).value_number == Decimal(90)


# ------------------------------------------------------------------------------ the preview


def _preview(client: Client, target_id: int, inputs: dict, **extra):
    return client.post(
        PREVIEW_URL,
        json.dumps({"target": target_id, "inputs": inputs}),
        content_type="application/json",
        **extra,
    )


def _engine_rows(cycle) -> dict[str, scoring.RowResult]:
    score = selectors.cycle_score(cycle=cycle)
    rows: dict[str, scoring.RowResult] = {}
    for tree in (score.strategic, score.operational, score.units, *score.individual):
        for row in tree.all_rows():
            rows.setdefault(row.key, row)
    return rows


def test_the_preview_gives_the_engines_figures_for_the_2019_values(personas, cycle_2019):
    engine = _engine_rows(cycle_2019)
    client = _client(personas, "controllo")
    targets = (
        Target.objects.filter(
            indicator__objective__cycle=cycle_2019,
            status=Target.Status.ACTIVE,
            indicator__objective__status=Objective.Status.ACTIVE,
            actuals__period__key="consuntivo",
        )
        .select_related("indicator")
        .prefetch_related("actuals")
    )
    kinds = set()
    checked = 0
    for target in targets:
        actual = target.actuals.get(period__key="consuntivo")
        expected = engine[f"t{target.pk}"]
        response = _preview(client, target.pk, actual_inputs(target.rule, actual))
        assert response.status_code == 200
        body = response.json()
        assert body["ok"], (target.pk, body)
        assert Decimal(body["achievement"]) == expected.achievement, target.pk
        assert body["formula"] == expected.formula
        assert body["override"] is expected.override
        kinds.add(target.rule["kind"])
        checked += 1
    assert checked > 100
    assert kinds >= {"at_least", "deadline", "k_of_n", "multi", "rating", "change", "milestone"}


@pytest.mark.parametrize(
    ("target_id", "inputs", "display", "formula"),
    [
        (T_AT_LEAST_80, {"value": "82,7%"}, "100%", "82,7 ≥ 80 → 100%"),
        (T_AT_LEAST_80, {"value": "4,6"}, "6%", "4,6/80 = 5,75% ≈ 6%"),
        (T_DEADLINE, {"date": "18/03/2019"}, "100%", "18/03/2019 entro il 31/03/2019 → 100%"),
        (T_DEADLINE, {"not_done": "1"}, "0%", "non realizzato (scadenza 31/03/2019) → 0%"),
        (T_K_OF_N, {"k": "13 su 14"}, "93%", "13/14 = 92,86% ≈ 93%"),
        (T_RATING, {"value": "4,6"}, "100%", "4,6 ≥ 4,5 → 100%"),
    ],
)
def test_the_preview_reads_italian_formats(personas, target_id, inputs, display, formula):
    response = _preview(_client(personas, "referente-ri"), target_id, inputs)
    body = response.json()
    assert body["ok"] is True
    assert (body["display"], body["formula"]) == (display, formula)


def test_the_preview_of_a_milestone_and_an_override(personas):
    milestone = Target.objects.filter(rule__kind="milestone", unit__isnull=True).first()
    client = _client(personas, "controllo")
    assert _preview(client, milestone.pk, {"done": "sì"}).json()["display"] == "100%"
    body = _preview(
        client,
        T_AT_LEAST_80,
        {"value": "60", "override_pct": "90", "override_reason": "delibera"},
    ).json()
    assert body["override"] is True
    assert body["formula"].startswith("valore rettificato 90% (la regola darebbe 75%")


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        ({"value": "abc"}, "value", "Valore rilevato: «abc» non è un numero"),
        ({"value": "60", "override_pct": "90"}, "override_reason", "La rettifica richiede"),
    ],
)
def test_the_preview_reports_errors_in_italian(personas, inputs, field, message):
    body = _preview(_client(personas, "referente-ri"), T_AT_LEAST_80, inputs).json()
    assert body["ok"] is False
    assert body["errors"][field].startswith(message)
    assert body["message"].startswith(message)


def test_the_preview_of_a_rule_error_and_an_empty_value(personas):
    client = _client(personas, "referente-ri")
    body = _preview(client, T_RATING, {"value": "7"}).json()
    assert (body["ok"], body["errors"]) == (False, {"value": "Valore: 7 è fuori dalla scala 1–5"})
    body = _preview(client, T_AT_LEAST_80, {"value": ""}).json()
    assert (body["ok"], body["achievement"], body["formula"]) == (
        True,
        None,
        "valore non rilevato",
    )
    body = _preview(client, T_EXCLUDED, {"date": "01/04/2019"}).json()
    assert body["ok"] is False and body["message"].startswith("Escluso dalla misurazione")


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonimo", 302),
        ("nessun-ruolo", 403),
        ("referente-ri", 200),
        ("referente-altro", 403),
        ("controllo", 200),
        ("oiv", 403),
    ],
)
def test_the_preview_for_every_persona(personas, persona, status):
    before = snapshot()
    response = _preview(_client(personas, persona), T_AT_LEAST_80, {"value": "50"})
    assert response.status_code == status
    if status == 200:
        assert response.json()["display"] == "63%"
    assert snapshot() == before  # a preview never writes


def test_the_preview_is_post_only_csrf_protected_and_checks_its_input(personas):
    client = _client(personas, "referente-ri", enforce_csrf_checks=True)
    assert client.get(PREVIEW_URL).status_code == 405
    assert _preview(client, T_AT_LEAST_80, {"value": "50"}).status_code == 403  # no token
    page = client.get(form_url())
    token = page_data(page)["csrfmiddlewaretoken"]
    response = _preview(client, T_AT_LEAST_80, {"value": "50"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    bad = client.post(PREVIEW_URL, "{", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert bad.status_code == 400
    assert _preview(client, 999999, {}, HTTP_X_CSRFTOKEN=token).status_code == 404


def test_the_form_loads_the_script_and_points_it_to_the_preview(personas):
    text = _client(personas, "referente-ri").get(form_url()).content.decode()
    assert 'data-preview-url="/lavoro/2019/valori/anteprima/"' in text
    assert (
        '<output class="entry-preview d-block mb-2" id="anteprima-55" aria-live="polite">' in text
    )


# ------------------------------------------------------------------------------ the service


@pytest.fixture
def ri_context(personas):
    unit = Unit.objects.select_related("cycle").get(cycle__year=YEAR, key=RI)
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key="consuntivo")
    return unit, period


def test_service_refuses_a_user_of_another_unit(personas, ri_context):
    unit, period = ri_context
    with pytest.raises(PermissionDenied):
        unit_values_record(
            unit=unit,
            period=period,
            user=personas["referente-altro"],
            rows=[RowInput(target_id=55, expected_version=1, number=Decimal(1))],
        )
    assert stored(55).value_number == Decimal(88)


def test_service_refuses_targets_of_other_units_and_unmeasured_rows(personas, ri_context):
    unit, period = ri_context
    other = Target.objects.filter(unit__key="promozione").first()
    before = snapshot()
    with pytest.raises(UnitValuesInvalid) as raised:
        unit_values_record(
            unit=unit,
            period=period,
            user=personas["controllo"],
            rows=[
                RowInput(target_id=55, expected_version=1, number=Decimal(90)),
                RowInput(target_id=other.pk, expected_version=None, number=Decimal(1)),
                RowInput(target_id=T_EXCLUDED, expected_version=None, date=dt.date(2019, 4, 1)),
                RowInput(target_id=T_RATING, expected_version=1, number=Decimal(9)),
            ],
        )
    errors = raised.value.row_errors
    assert errors[other.pk] == {"__all__": ["Il target non appartiene a questa unità."]}
    assert errors[T_EXCLUDED]["__all__"][0].startswith("Escluso dalla misurazione")
    assert errors[T_RATING] == {"value": ["valore: 9 è fuori dalla scala 1–5"]}
    assert 55 not in errors
    assert snapshot() == before


def test_service_reports_every_conflict_with_the_stored_value(personas, ri_context):
    unit, period = ri_context
    controllo = personas["controllo"]
    actual_record(
        target=Target.objects.get(pk=55),
        period=period,
        user=controllo,
        expected_version=1,
        number=Decimal("84"),
    )
    before = snapshot()
    with pytest.raises(UnitValuesConflict) as raised:
        unit_values_record(
            unit=unit,
            period=period,
            user=personas["referente-ri"],
            rows=[
                RowInput(target_id=55, expected_version=1, number=Decimal(90)),
                RowInput(target_id=57, expected_version=1, number=Decimal(90)),
            ],
        )
    (conflict,) = raised.value.conflicts
    assert conflict.row.number == Decimal(90)
    assert (conflict.current.value_number, conflict.current.version) == (Decimal(84), 2)
    assert conflict.current.recorded_by == controllo
    assert snapshot() == before


def test_service_loses_a_race_between_read_and_write(personas, ri_context, monkeypatch):
    """Another writer changes a value after the rows were read (SQLite does not lock them): the
    compare-and-set claims fewer rows, the other writer's value is reported and nothing of this
    save is written."""
    from performance.services import entry

    unit, period = ri_context
    original_same = entry._same
    raced = []

    def same_then_race(current, fields):
        if not raced:  # the rows have been read: another writer commits meanwhile
            raced.append(True)
            Actual.objects.filter(target_id=55, period=period).update(
                version=7, value_number=Decimal("50")
            )
        return original_same(current, fields)

    monkeypatch.setattr(entry, "_same", same_then_race)
    with pytest.raises(UnitValuesConflict) as raised:
        unit_values_record(
            unit=unit,
            period=period,
            user=personas["controllo"],
            rows=[
                RowInput(target_id=55, expected_version=1, number=Decimal(90)),
                RowInput(target_id=57, expected_version=1, number=Decimal(90)),
            ],
        )
    monkeypatch.undo()
    (conflict,) = raised.value.conflicts
    assert (conflict.row.target_id, conflict.current.version) == (55, 7)
    assert conflict.current.value_number == Decimal(50)
    assert (stored(57).value_number, stored(57).version) == (Decimal(97), 1)  # nothing written


def test_service_refuses_a_closed_cycle(personas, ri_context):
    unit, period = ri_context
    Cycle.objects.filter(pk=unit.cycle_id).update(status=Cycle.Status.VALIDATED)
    unit.cycle.refresh_from_db()
    with pytest.raises(ValidationError, match="non sono più modificabili"):
        unit_values_record(
            unit=unit,
            period=period,
            user=personas["controllo"],
            rows=[RowInput(target_id=55, expected_version=1, number=Decimal(90))],
        )
    response = _client(personas, "controllo").get(form_url())
    assert 'name="t55-value"' not in response.content.decode()
    assert "non sono più modificabili" in response.content.decode()


def test_service_creates_and_updates_with_history(personas, ri_context):
    unit, _ = ri_context
    interim = MeasurementPeriod.objects.get(cycle__year=YEAR, key="monitoraggio")
    user = personas["referente-ri"]
    result = unit_values_record(
        unit=unit,
        period=interim,
        user=user,
        rows=[
            RowInput(target_id=55, expected_version=None, number=Decimal(40), text="40"),
            RowInput(target_id=57, expected_version=None),  # blank: nothing to create
        ],
    )
    assert [a.target_id for a in result.created] == [55]
    assert result.unchanged == [57]
    created = stored(55, "monitoraggio")
    assert (created.version, created.recorded_by, created.text) == (1, user, "40")
    assert created.history.get().history_type == "+"
    result = unit_values_record(
        unit=unit,
        period=interim,
        user=user,
        rows=[RowInput(target_id=55, expected_version=1, number=Decimal(40), note="verificato")],
    )
    assert [a.version for a in result.updated] == [2]
    updated = stored(55, "monitoraggio")
    assert (updated.version, updated.note, updated.text) == (2, "verificato", "40")
    new, old = updated.history.order_by("-history_id")
    assert (new.history_type, new.history_user, new.note) == ("~", user, "verificato")
    assert (old.history_type, old.note) == ("+", "")


# ----------------------------------------------------------------------------- query counts


def _all_rows(unit: Unit, period: MeasurementPeriod, change) -> list[RowInput]:
    """A row for every editable target of the unit, its stored value changed by ``change``."""
    rows = []
    for group in selectors_entry.unit_entry(
        unit=unit, period=period, rules=scoring.Rules.from_dict(unit.cycle.rules)
    ):
        for row in group.rows:
            if not row.editable:
                continue
            actual = row.actual
            rows.append(
                RowInput(
                    target_id=row.target.pk,
                    expected_version=actual.version if actual else None,
                    number=actual.value_number if actual else None,
                    date=actual.value_date if actual else None,
                    done=actual.value_done if actual else None,
                    k=actual.value_k if actual else None,
                    n=actual.value_n if actual else None,
                    parts=actual.value_parts if actual else None,
                    note=change(row.target.pk),
                    source=actual.source if actual else "",
                    override_pct=actual.override_pct if actual else None,
                    override_reason=actual.override_reason if actual else "",
                )
            )
    return rows


def _save_queries(user, unit_key: str, period_key: str) -> tuple[int, int]:
    user = User.objects.get(pk=user.pk)  # no cached roles: as in a request
    unit = Unit.objects.select_related("cycle").get(cycle__year=YEAR, key=unit_key)
    period = MeasurementPeriod.objects.get(cycle__year=YEAR, key=period_key)
    rows = _all_rows(unit, period, lambda pk: f"nota {pk}")
    with CaptureQueriesContext(connection) as queries:
        result = unit_values_record(unit=unit, period=period, user=user, rows=rows)
    assert len(result.created) + len(result.updated) == len(rows)
    return len(rows), len(queries)


def test_a_save_takes_the_same_queries_for_a_small_and_a_large_unit(personas):
    user = personas["controllo"]
    small_rows, small = _save_queries(user, RI, "consuntivo")  # updates
    large_rows, large = _save_queries(user, "promozione", "consuntivo")
    assert (small_rows, large_rows) == (11, 15)
    assert small == large
    small_rows, small_new = _save_queries(user, RI, "monitoraggio")  # creates
    large_rows, large_new = _save_queries(user, "paviasviluppo", "monitoraggio")
    assert small_new == large_new
    print(f"\nqueries per save: update {small}, create {small_new}")


def test_a_save_of_the_whole_ente_stays_within_the_bulk_batches(personas):
    """77 rows: SQLite's 999 parameters per statement split each bulk write in batches (about
    40 rows per batch): still a handful of queries, not one per row."""
    user = personas["controllo"]
    _, small = _save_queries(user, RI, "consuntivo")
    rows, large = _save_queries(user, "ente", "consuntivo")
    assert rows == 77
    limit = small if connection.vendor != "sqlite" else small + 4
    assert large <= limit
    print(f"\nqueries per save: 11 rows {small}, 77 rows {large}")


def _page_queries(client: Client, url: str, django_assert_max_num_queries, limit: int) -> int:
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_form_page_takes_the_same_queries_whatever_the_unit(
    personas, django_assert_max_num_queries
):
    client = _client(personas, "controllo")
    small = _page_queries(client, form_url(RI), django_assert_max_num_queries, 20)
    large = _page_queries(client, form_url("ente"), django_assert_max_num_queries, 20)
    assert small == large
    index = _page_queries(client, INDEX_URL, django_assert_max_num_queries, 20)
    print(f"\nqueries per page: form {small}, index {index}")


def test_a_post_takes_the_same_queries_whatever_the_unit(personas):
    client = _client(personas, "controllo")
    counts = []
    for unit_key in (RI, "promozione"):
        data = opened_form(client, form_url(unit_key))
        for name in data:
            if name.endswith("-note"):
                data[name] = "nota aggiunta"
        with CaptureQueriesContext(connection) as queries:
            response = client.post(form_url(unit_key), data)
        assert response.status_code == 302
        counts.append(len(queries))
    assert counts[0] == counts[1]
    print(f"\nqueries per POST: {counts[0]}")


def test_service_writes_only_the_fields_that_changed(personas, ri_context):
    """One row changes its number, another only its note: both are saved with their history,
    nothing else moves, and the bulk UPDATE names only the columns some row changed."""
    unit, period = ri_context
    first, second = stored(55), stored(57)
    keep = {"text": "", "note": "", "source": ""}
    rows = [
        RowInput(
            target_id=55,
            expected_version=first.version,
            number=Decimal(90),
            **{name: getattr(first, name) for name in keep},
        ),
        RowInput(
            target_id=57,
            expected_version=second.version,
            number=second.value_number,
            text=second.text,
            note="Nota aggiunta dopo la verifica.",
            source=second.source,
        ),
    ]
    with CaptureQueriesContext(connection) as queries:
        unit_values_record(unit=unit, period=period, user=personas["controllo"], rows=rows)
    updates = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "performance_actual" SET "value_number" =')
    ]
    assert len(updates) == 1
    written = set(re.findall(r'(?<!\.)"(\w+)" = ', updates[0]))  # not "table"."column" = ...
    # the value of one row, the note of the other, who and when (the loader recorded nobody)
    assert written == {"value_number", "note", "recorded_by_id", "recorded_at", "version"}

    after_first, after_second = stored(55), stored(57)
    assert (after_first.value_number, after_first.note) == (Decimal(90), first.note)
    assert after_first.version == first.version + 1
    assert after_second.value_number == second.value_number
    assert after_second.note == "Nota aggiunta dopo la verifica."
    assert after_second.version == second.version + 1
    assert after_second.recorded_by == personas["controllo"]
    assert after_second.history.first().note == "Nota aggiunta dopo la verifica."
