"""Imports and exports of the plan and of the values: the service
(performance/services/imports/), the workspace pages /lavoro/<year>/importa/ and
/lavoro/<year>/esporta/, the sample files of docs/samples/ and the round trip of the 2019 cycle."""

import copy
import datetime as dt
import io
import itertools
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from organization import permissions, roles
from organization.models import Unit
from performance import selectors
from performance.management.commands.make_import_samples import sample_tables, write_samples
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StrategicObjective,
    Target,
)
from performance.services import cycle_load, imports
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
PLAN_KEYS = ("codice_target", "codice_obiettivo", "codice_indicatore")


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def groups(db):
    return roles.roles_sync()


def make_user(groups, username, group=None):
    user = UserFactory(username=username)
    if group:
        user.groups.add(groups[group])
    return user


# the personas (tests/personas.py)
@pytest.fixture
def controllo(personas):
    return personas.controllo


@pytest.fixture
def oiv(personas):
    return personas.oiv


@pytest.fixture
def no_role(personas):
    return personas.no_role


@pytest.fixture
def referent(personas):
    return personas.referent


# ---------------------------------------------------------------------------------- helpers


def table_of(content: bytes, fmt: str) -> imports.Table:
    return imports.read_table(content=content, filename=f"file.{fmt}")


def csv_bytes(header, rows, *, sep=";", bom=True, encoding="utf-8") -> bytes:
    def cell(value):
        text = "" if value is None else str(value)
        if sep in text or '"' in text or "\n" in text:
            text = '"' + text.replace('"', '""') + '"'
        return text

    lines = [sep.join(cell(v) for v in row) for row in [header, *rows]]
    data = "\r\n".join(lines).encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def rendered(columns, rows, fmt="csv") -> bytes:
    return imports.render_table(columns=columns, rows=rows, fmt=fmt, title="prova")


def snapshot(cycle):
    """Everything an import could change, to prove that nothing was written."""
    return (
        Perspective.objects.count(),
        StrategicObjective.objects.count(),
        Objective.objects.count(),
        Indicator.objects.count(),
        Target.objects.count(),
        Actual.objects.count(),
        Objective.history.count(),
        Indicator.history.count(),
        Target.history.count(),
        Actual.history.count(),
        imports.plan_export(cycle=cycle, format="csv"),
        imports.values_export(cycle=cycle, format="csv"),
    )


def target_of(cycle, unit_key, rule_kind, *, with_actual=None):
    targets = Target.objects.filter(
        indicator__objective__cycle=cycle, unit__key=unit_key, rule__kind=rule_kind
    ).order_by("id")
    if with_actual is not None:
        targets = targets.filter(actuals__isnull=not with_actual)
    return targets.first()


def value_row(target, value, **extra):
    return {"codice_target": target.id, "periodo": "consuntivo", "valore": value, **extra}


def values_file(rows, fmt="csv"):
    return rendered(list(imports.VALUE_COLUMNS), rows, fmt)


def structure_only(dataset, year):
    """The 2019 dataset without plan and actuals: the same Ente structure in another year."""
    data = copy.deepcopy(dataset)
    data["cycle"] = {**data["cycle"], "year": year}
    for key in ("perspectives", "operational", "individual", "stated"):
        data[key] = []
    return data


def invalid_pairs(report):
    return {(item.row, item.column) for item in report.invalid}


# ------------------------------------------------------------------------ views and personas


def urls(year=2019):
    return {
        "import": reverse("workspace:import", args=[year]),
        "confirm": reverse("workspace:import-confirm", args=[year]),
        "plan": reverse("workspace:export-plan", args=[year, "xlsx"]),
        "values": reverse("workspace:export-values", args=[year, "csv"]),
    }


def request_all(client):
    links = urls()
    return {
        "import-get": client.get(links["import"]),
        "import-post": client.post(links["import"], {"kind": "valori"}),
        "confirm": client.post(links["confirm"], {"token": "x"}),
        "plan": client.get(links["plan"]),
        "values": client.get(links["values"]),
    }


def test_urls_live_under_the_workspace():
    assert reverse("workspace:import", args=[2019]) == "/lavoro/2019/importa/"
    assert reverse("workspace:export-plan", args=[2019, "ods"]) == "/lavoro/2019/esporta/piano.ods"
    assert (
        reverse("workspace:export-values", args=[2019, "csv"]) == "/lavoro/2019/esporta/valori.csv"
    )


def test_anonymous_goes_to_the_log_in(client, cycle_2019):
    for name, response in request_all(client).items():
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accedi/?next="), name


@pytest.mark.parametrize("persona", ["no_role", "oiv"])
def test_no_role_and_oiv_are_forbidden(client, cycle_2019, persona, request):
    client.force_login(request.getfixturevalue(persona))
    before = snapshot(cycle_2019)
    for name, response in request_all(client).items():
        assert response.status_code == 403, name
    assert snapshot(cycle_2019) == before


def test_controllo_sees_every_page(client, cycle_2019, controllo):
    client.force_login(controllo)
    page = client.get(urls()["import"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Importa ed esporta – ciclo 2019" in html
    assert 'aria-label="Percorso di navigazione"' in html
    assert 'value="piano"' in html and 'value="valori"' in html
    for fmt in imports.FORMATS:
        assert reverse("workspace:export-plan", args=[2019, fmt]) in html
    for fmt, content_type in (
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("csv", "text/csv; charset=utf-8"),
    ):
        response = client.get(reverse("workspace:export-plan", args=[2019, fmt]))
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == f'attachment; filename="piano-2019.{fmt}"'
        assert len(table_of(response.content, fmt).rows) == 154
        response = client.get(reverse("workspace:export-values", args=[2019, fmt]))
        assert response.status_code == 200
        assert len(table_of(response.content, fmt).rows) == 151
    template = client.get(urls()["values"], {"periodo": "monitoraggio"})
    assert template["Content-Disposition"] == 'attachment; filename="valori-2019-monitoraggio.csv"'
    rows = table_of(template.content, "csv").rows
    assert len(rows) == 154  # one row per target, to fill in
    assert all(row.cells["valore"] is None for row in rows)
    assert client.get(urls()["values"], {"periodo": "nessuno"}).status_code == 404
    assert client.get("/lavoro/2019/esporta/piano.pdf").status_code == 404
    assert client.get(reverse("workspace:import", args=[1999])).status_code == 404
    home = client.get(reverse("workspace:home"))
    assert f'href="{urls()["import"]}"' in home.content.decode()  # "Importa" in the navigation


def test_referent_imports_and_exports_only_values_of_their_units(client, cycle_2019, referent):
    client.force_login(referent)
    page = client.get(urls()["import"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="valori"' in html and 'value="piano"' not in html
    assert reverse("workspace:export-plan", args=[2019, "xlsx"]) not in html
    assert client.get(urls()["plan"]).status_code == 403
    exported = table_of(client.get(urls()["values"]).content, "csv")
    allowed = Unit.objects.filter(id__in=permissions.referent_unit_ids(referent, cycle_2019))
    keys = {row.cells["unita"] for row in exported.rows}
    assert keys and keys <= set(allowed.values_list("key", flat=True))
    # a plan file is refused by the form, nothing is written
    before = snapshot(cycle_2019)
    plan = imports.plan_export(cycle=cycle_2019, format="csv")
    response = client.post(
        urls()["import"],
        {"kind": "piano", "file": _upload(plan, "piano.csv")},
    )
    assert response.status_code == 200 and "report" not in response.context
    assert "Scegli un'opzione valida" in response.context["form"].errors["kind"][0]
    assert snapshot(cycle_2019) == before


def _upload(content, name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def upload(client, content, name, kind):
    return client.post(urls()["import"], {"kind": kind, "file": _upload(content, name)})


def confirm(client, response, **extra):
    token = response.context["token"]
    return client.post(urls()["confirm"], {"token": token, **extra})


def test_plan_upload_dry_run_then_confirm(client, cycle_2019, controllo):
    client.force_login(controllo)
    rows = imports.plan_rows(cycle=cycle_2019)
    rows[2]["target_testo"] = "≥ 5 (rivisto)"
    rows[2]["peso"] = Decimal(2)
    changed_id = rows[2]["codice_target"]
    content = rendered(list(imports.PLAN_COLUMNS), rows, "xlsx")
    before = snapshot(cycle_2019)

    response = upload(client, content, "piano.xlsx", "piano")
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.created, report.changed, report.unchanged) == (0, 1, 153)
    assert report.changes[0].row == 4  # header = row 1, rows[2] = row 4
    assert ("peso", "1", "2") in report.changes[0].fields
    html = response.content.decode()
    assert "Conferma e applica" in html and "≥ 5 (rivisto)" in html
    assert snapshot(cycle_2019) == before  # the dry run wrote nothing

    done = confirm(client, response)
    assert done.status_code == 302 and done["Location"] == urls()["import"]
    target = Target.objects.get(id=changed_id)
    assert (target.text, target.weight) == ("≥ 5 (rivisto)", Decimal(2))
    assert target.history.latest().history_user == controllo
    messages = [str(m) for m in client.get(urls()["import"]).context["messages"]]
    assert messages == ["Importazione completata: 0 nuovi, 1 modificati, 153 invariati."]
    # the waiting file is gone and cannot be applied twice
    assert confirm(client, response).status_code == 302
    assert Target.history.filter(id=changed_id).count() == 2


def test_waiting_file_is_kept_privately_and_removed(client, cycle_2019, controllo, media_root):
    client.force_login(controllo)
    values = values_file([value_row(target_of(cycle_2019, "registro-imprese", "at_least"), "7")])
    response = upload(client, values, "valori.csv", "valori")
    folder = media_root / "importazioni-in-attesa"
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].name == f"{response.context['token']}.csv"
    assert client.session["workspace_pending_import"]["token"] == response.context["token"]
    cancelled = confirm(client, response, annulla="1")
    assert cancelled.status_code == 302
    assert list(folder.iterdir()) == []
    assert "workspace_pending_import" not in client.session


def test_one_bad_row_blocks_everything_until_fixed(client, cycle_2019, controllo):
    client.force_login(controllo)
    second = target_of(cycle_2019, "regolazione-mercato", "deadline")
    third = target_of(cycle_2019, "promozione", "k_of_n")
    rows = [value_row(second, "15/07/2019", nota="consegnato"), value_row(third, "abc")]
    before = snapshot(cycle_2019)

    response = upload(client, values_file(rows), "valori.csv", "valori")
    report = response.context["report"]
    assert [(i.row, i.column) for i in report.invalid] == [(3, "valore")]
    assert "«abc»" in report.invalid[0].message
    html = response.content.decode()
    assert "Righe non valide" in html and "Conferma e applica" not in html
    refused = confirm(client, response)
    assert refused.status_code == 200 and refused.context["failed"]
    assert "Nessuna modifica è stata applicata" in refused.content.decode()
    assert snapshot(cycle_2019) == before

    rows[1] = value_row(third, "13 su 14")
    response = upload(client, values_file(rows), "valori.csv", "valori")
    assert response.context["report"].is_valid
    assert confirm(client, response).status_code == 302
    assert Actual.objects.get(target=second, period__key="consuntivo").note == "consegnato"
    actual = Actual.objects.get(target=third, period__key="consuntivo")
    assert (actual.value_k, actual.value_n) == (Decimal(13), Decimal(14))


def test_confirm_needs_the_token_of_the_session(client, cycle_2019, controllo):
    client.force_login(controllo)
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    response = upload(client, values_file([value_row(target, "1")]), "valori.csv", "valori")
    before = snapshot(cycle_2019)
    wrong = client.post(urls()["confirm"], {"token": "0" * 32})
    assert wrong.status_code == 302
    assert snapshot(cycle_2019) == before
    assert confirm(client, response).status_code == 302
    assert snapshot(cycle_2019) != before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("valori.txt", b"a;b", "Formato non ammesso"),
        ("valori.xlsx", b"not a zip", "non è un foglio XLSX valido"),
        ("valori.ods", b"PK\x03\x04 broken", "non è un foglio ODS valido"),
        ("valori.csv", b"x" * (5 * 1024 * 1024 + 1), "supera il limite di 5 MB"),
        ("valori.csv", b"\n\nperiodo;valore\n", "La prima riga del foglio"),
    ],
)
def test_upload_checks_the_file(client, cycle_2019, controllo, name, content, message):
    client.force_login(controllo)
    response = upload(client, content, name, "valori")
    assert response.status_code == 200
    assert "report" not in response.context
    assert message in " ".join(response.context["form"].errors["file"])


def test_referent_rows_of_other_units_are_invalid(client, cycle_2019, referent):
    client.force_login(referent)
    own = target_of(cycle_2019, "registro-imprese", "at_least")
    other = target_of(cycle_2019, "promozione", "at_least")
    ente = Target.objects.filter(indicator__objective__cycle=cycle_2019, unit=None).first()
    rows = [value_row(own, "3"), value_row(other, "3"), value_row(ente, "3")]
    before = snapshot(cycle_2019)
    response = upload(client, values_file(rows), "valori.csv", "valori")
    report = response.context["report"]
    assert invalid_pairs(report) == {(3, "unita"), (4, "unita")}
    assert "Servizio di Promozione" in report.invalid[0].message
    assert "non è tra le unità assegnate all'utente" in report.invalid[0].message
    confirm(client, response)
    assert snapshot(cycle_2019) == before
    response = upload(client, values_file(rows[:1]), "valori.csv", "valori")
    assert confirm(client, response).status_code == 302
    actual = Actual.objects.get(target=own, period__key="consuntivo")
    assert actual.value_number == 3 and actual.recorded_by == referent


# ------------------------------------------------------------------------------ the service


def test_dry_run_writes_nothing(cycle_2019, controllo):
    rows = imports.plan_rows(cycle=cycle_2019)
    rows[0]["note"] = "nuova nota"
    new_row = {**rows[1], "codice_target": "", "unita": "promozione", "target_testo": "≥ 99"}
    plan = rendered(list(imports.PLAN_COLUMNS), [*rows, new_row])
    values = values_file([value_row(target_of(cycle_2019, "promozione", "k_of_n"), "1 su 2")])
    before = snapshot(cycle_2019)
    report = imports.plan_import(
        cycle=cycle_2019, table=table_of(plan, "csv"), user=controllo, dry_run=True
    )
    assert (report.created, report.changed, report.applied) == (1, 1, False)
    report = imports.values_import(
        cycle=cycle_2019, table=table_of(values, "csv"), user=controllo, dry_run=True
    )
    assert (report.changed, report.applied) == (1, False)
    assert snapshot(cycle_2019) == before


def test_plan_rows_without_codes_create_once(cycle_2019, controllo):
    columns, rows = sample_tables()["piano-esempio"]
    content = rendered(columns, rows, "ods")
    report = imports.plan_import(
        cycle=cycle_2019, table=table_of(content, "ods"), user=controllo, dry_run=False
    )
    assert report.applied and report.invalid == []
    assert (report.created, report.changed, report.unchanged) == (9, 0, 0)
    assert "Obiettivo strategico 2.2 «Esempio – Valorizzare i dati camerali»" in report.new_items
    digital = Objective.objects.get(title="Esempio – Digitalizzazione dei servizi al pubblico")
    assert digital.kind == "operational" and digital.strategic_objective.code == "1.5"
    assert digital.indicators.count() == 5
    individual = Objective.objects.get(title="Esempio – Revisione delle procedure interne")
    assert individual.position.key == "po-registro-imprese"
    multi = Target.objects.get(text="almeno 3 dataset, il primo entro giugno")
    assert multi.rule == {
        "kind": "multi",
        "parts": [
            {"kind": "at_least", "threshold": "3"},
            {"kind": "deadline", "due": "2019-06-30"},
        ],
        "labels": ["3 dataset", "il primo entro giugno"],
        "combine": "mean",
    }
    assert multi.unit is None and multi.indicator.objective.kind == "strategic"
    # importing the same file again updates instead of duplicating
    again = imports.plan_import(
        cycle=cycle_2019, table=table_of(content, "ods"), user=controllo, dry_run=False
    )
    assert (again.created, again.changed, again.unchanged) == (0, 0, 9)
    assert Objective.objects.filter(title__startswith="Esempio").count() == 5


def test_plan_rows_with_codes_update_in_place(cycle_2019, controllo):
    rows = imports.plan_rows(cycle=cycle_2019)
    row = next(r for r in rows if r["regola"] == "scadenza" and r["unita"] == "promozione")
    row.update(
        target_testo="entro il 30.11.2019",
        data_scadenza=dt.date(2019, 11, 30),
        unita="registro-imprese",
        obiettivo_titolo=row["obiettivo_titolo"] + " (rinominato)",
        stato="escluso",
        motivo_esclusione="attività sospesa",
    )
    report = imports.plan_import(
        cycle=cycle_2019,
        table=table_of(rendered(list(imports.PLAN_COLUMNS), rows), "csv"),
        user=controllo,
        dry_run=False,
    )
    assert report.applied
    assert report.created == 0 and report.changed == 1
    target = Target.objects.select_related("indicator__objective").get(id=row["codice_target"])
    assert target.text == "entro il 30.11.2019"
    assert target.rule == {"kind": "deadline", "due": "2019-11-30"}
    assert target.unit.key == "registro-imprese"
    assert (target.status, target.exclusion_reason) == ("excluded", "attività sospesa")
    assert target.indicator.objective.title.endswith("(rinominato)")
    columns = {column for column, _, _ in report.changes[0].fields}
    assert {"target_testo", "regola", "unita", "obiettivo_titolo", "stato"} <= columns


def test_invalid_plan_rows_name_row_column_and_reason(cycle_2019, controllo):
    rows = imports.plan_rows(cycle=cycle_2019)[:3]
    base = {**rows[0], "codice_target": "", "codice_indicatore": "", "codice_obiettivo": ""}
    bad = [
        {**base, "target_testo": "a", "unita": "ufficio-inesistente"},  # row 5
        {**base, "target_testo": "b", "regola": "almeno", "soglia": "tanti"},  # row 6
        {**base, "target_testo": "c", "regola": "scadenza", "data_scadenza": ""},  # row 7
        {**base, "target_testo": "d", "regola": "boh"},  # row 8
        {**base, "target_testo": "e", "tipo_obiettivo": "individuale", "posizione": ""},  # 9
        {**base, "target_testo": "f", "stato": "escluso", "motivo_esclusione": ""},  # row 10
        {**base, "target_testo": "g", "data_scadenza": "31/02/2019", "regola": "scadenza"},
        {**base, "target_testo": "h", "regola": "piu_parti", "parti_regole": "almeno"},
        {**base, "target_testo": "", "obiettivo_peso": "x"},  # row 13: two problems
    ]
    before = snapshot(cycle_2019)
    report = imports.plan_import(
        cycle=cycle_2019,
        table=table_of(rendered(list(imports.PLAN_COLUMNS), [*rows, *bad]), "csv"),
        user=controllo,
        dry_run=False,
    )
    assert not report.applied
    assert invalid_pairs(report) == {
        (5, "unita"),
        (6, "soglia"),
        (7, "data_scadenza"),
        (8, "regola"),
        (9, "posizione"),
        (10, "motivo_esclusione"),
        (11, "data_scadenza"),
        (12, "parti_regole"),
        (13, "target_testo"),
        (13, "obiettivo_peso"),
    }
    messages = {(i.row, i.column): i.message for i in report.invalid}
    assert messages[(5, "unita")] == "l'unità «ufficio-inesistente» non esiste nel ciclo 2019"
    assert messages[(6, "soglia")] == "«tanti» non è un numero (esempi: 4,6 oppure 1.234,5)"
    assert messages[(7, "data_scadenza")] == "obbligatoria per la regola «scadenza»"
    assert "valori ammessi: almeno, al_massimo" in messages[(8, "regola")]
    assert messages[(11, "data_scadenza")] == "«31/02/2019» non è una data esistente"
    assert str(report.invalid[0]).startswith("riga 5, colonna «unita»: ")
    assert snapshot(cycle_2019) == before


def test_rows_of_one_objective_must_agree(cycle_2019, controllo):
    rows = [r for r in imports.plan_rows(cycle=cycle_2019) if r["tipo_obiettivo"] == "operativo"]
    first, second = next(
        (a, b)
        for a, b in itertools.pairwise(rows)
        if a["codice_obiettivo"] == b["codice_obiettivo"]
    )
    second["obiettivo_peso"] = Decimal(3)
    report = imports.plan_import(
        cycle=cycle_2019,
        table=table_of(rendered(list(imports.PLAN_COLUMNS), [first, second]), "csv"),
        user=controllo,
        dry_run=True,
    )
    assert [(i.row, i.column) for i in report.invalid] == [(3, "obiettivo_peso")]
    assert "della riga 2 per lo stesso obiettivo" in report.invalid[0].message


def test_plan_import_is_for_controllo_only(cycle_2019, referent):
    table = table_of(imports.plan_export(cycle=cycle_2019, format="csv"), "csv")
    with pytest.raises(PermissionDenied):
        imports.plan_import(cycle=cycle_2019, table=table, user=referent, dry_run=True)


def test_a_file_of_the_other_kind_is_refused(cycle_2019, controllo):
    values = table_of(imports.values_export(cycle=cycle_2019, format="csv"), "csv")
    plan = table_of(imports.plan_export(cycle=cycle_2019, format="csv"), "csv")
    report = imports.plan_import(cycle=cycle_2019, table=values, user=controllo, dry_run=True)
    assert [(i.row, i.message) for i in report.invalid] == [
        (1, "il file contiene le colonne dei valori: importarlo come valori")
    ]
    report = imports.values_import(cycle=cycle_2019, table=plan, user=controllo, dry_run=True)
    assert report.invalid[0].row == 1 and "importarlo come piano" in report.invalid[0].message


def test_values_accept_italian_formats(cycle_2019, controllo):
    columns, plan_rows = sample_tables()["piano-esempio"]
    imports.plan_import(
        cycle=cycle_2019,
        table=table_of(rendered(columns, plan_rows), "csv"),
        user=controllo,
        dry_run=False,
    )
    columns, rows = sample_tables()["valori-esempio"]
    report = imports.values_import(
        cycle=cycle_2019,
        table=table_of(rendered(columns, rows, "xlsx"), "xlsx"),
        user=controllo,
        dry_run=False,
    )
    assert report.applied and report.created == 9
    stored = {
        a.target.text: a
        for a in Actual.objects.filter(target__indicator__objective__title__startswith="Esempio")
    }
    assert stored["≥ 80%"].value_number == Decimal("82.7")  # "82,7%"
    assert stored["≥ 80%"].note == "Dato estratto il 10/01/2020"
    assert stored["≤ 5 giorni"].value_number == Decimal("4.6")  # "4,6"
    assert stored["entro il 31.05.2019"].value_date == dt.date(2019, 3, 18)  # "18/03/2019"
    coverage = stored["almeno 1 addetto per ufficio (14 uffici)"]
    assert (coverage.value_k, coverage.value_n, coverage.text) == (13, 14, "13 uffici su 14")
    assert stored["riduzione del 10% rispetto al 2018"].value_number == 1050  # "1.050"
    assert stored["almeno 3 dataset, il primo entro giugno"].value_parts == [
        {"value": "3"},
        {"date": "2019-06-14"},
    ]  # "3; 14/06/2019"
    assert stored["Realizzazione"].value_done is True  # "sì"
    overridden = stored["minimo 50%, obiettivo 70%"]
    assert overridden.override_pct == 90 and overridden.override_reason.startswith("Esempio")
    score = selectors.cycle_score(cycle=cycle_2019)
    rows = {row.label: row for row in score.units.all_rows()}
    assert rows["Pratiche presentate online (Servizio di Promozione dell'Economia Locale)"].override


@pytest.mark.parametrize(
    ("rule_kind", "unit", "value", "column", "message"),
    [
        ("at_least", "registro-imprese", "abc", "valore", "«abc» non è un numero"),
        ("at_least", "registro-imprese", "18/03/2019", "valore", "non è un numero"),
        ("deadline", "regolazione-mercato", "sì", "valore", "scrivere la data"),
        ("deadline", "regolazione-mercato", "31/04/2019", "valore", "non è una data esistente"),
        ("k_of_n", "promozione", "tre", "valore", "scrivere quanti su quanti"),
        ("rating", None, "7", "valore", "fuori dalla scala"),
    ],
)
def test_values_are_checked_against_the_rule(
    cycle_2019, controllo, rule_kind, unit, value, column, message
):
    targets = Target.objects.filter(indicator__objective__cycle=cycle_2019, rule__kind=rule_kind)
    target = targets.filter(unit__key=unit).first() if unit else targets.first()
    report = imports.values_import(
        cycle=cycle_2019,
        table=table_of(values_file([value_row(target, value)]), "csv"),
        user=controllo,
        dry_run=True,
    )
    assert [(i.row, i.column) for i in report.invalid] == [(2, column)]
    assert message in report.invalid[0].message


def test_invalid_value_rows(cycle_2019, controllo):
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    other = target_of(cycle_2019, "promozione", "at_least")
    rows = [
        value_row(target, "5", rettifica_pct="80"),  # 2: no justification
        value_row(target, "5", periodo="2020"),  # 3: unknown period
        {"codice_target": "999999", "periodo": "consuntivo", "valore": "1"},  # 4
        value_row(other, "5", rettifica_pct="120", rettifica_motivazione="x"),  # 5
        value_row(target, "5", periodo="monitoraggio"),  # 6: valid
        value_row(target, "6", periodo="monitoraggio"),  # 7: same target and period
        {
            "periodo": "consuntivo",
            "valore": "1",
            "obiettivo_titolo": "?",
            "indicatore_nome": "?",
            "target_testo": "?",
        },  # 8: no such target
    ]
    report = imports.values_import(
        cycle=cycle_2019, table=table_of(values_file(rows), "csv"), user=controllo, dry_run=True
    )
    assert invalid_pairs(report) == {
        (2, "rettifica_motivazione"),
        (3, "periodo"),
        (4, "codice_target"),
        (5, "rettifica_pct"),
        (7, "codice_target"),
        (8, "target_testo"),
    }
    messages = {i.row: i.message for i in report.invalid}
    assert messages[3].startswith(
        "il periodo «2020» non esiste (periodi: consuntivo, monitoraggio)"
    )
    assert messages[4] == "«999999» non è un target del ciclo 2019"
    assert messages[7] == "stesso target e periodo della riga 6"


def test_targets_are_found_by_their_columns_and_repetition(cycle_2019, controllo):
    exported = imports.values_rows(cycle=cycle_2019, period=None)
    repeated = [r for r in exported if r["ripetizione"]]
    plain = next(r for r in exported if not r["ripetizione"] and r["unita"])
    rows = [{**plain, "codice_target": "", "valore": "1"}]
    if repeated:
        rows.append({**repeated[0], "codice_target": "", "ripetizione": None, "valore": "1"})
    report = imports.values_import(
        cycle=cycle_2019, table=table_of(values_file(rows), "csv"), user=controllo, dry_run=True
    )
    assert report.changed == 1
    assert [(i.row, i.column) for i in report.invalid] == ([(3, "ripetizione")] if repeated else [])


def test_empty_cells_keep_what_is_recorded(cycle_2019, controllo):
    actual = (
        Actual.objects.filter(
            target__indicator__objective__cycle=cycle_2019, target__rule__kind="at_least"
        )
        .exclude(note="")
        .first()
    )
    rows = [
        {"codice_target": actual.target_id, "periodo": "consuntivo", "valore": "3"},
        {"codice_target": actual.target_id, "periodo": "monitoraggio", "valore": ""},
    ]
    report = imports.values_import(
        cycle=cycle_2019, table=table_of(values_file(rows), "csv"), user=controllo, dry_run=False
    )
    assert report.applied and (report.changed, report.skipped) == (1, 1)
    updated = Actual.objects.get(id=actual.id)
    assert updated.value_number == 3 and updated.note == actual.note
    assert updated.version == actual.version + 1 and updated.recorded_by == controllo


def test_csv_as_excel_writes_it(cycle_2019, controllo):
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    header = ["codice_target", "periodo", "valore", "nota"]
    row = [target.id, "consuntivo", "1.234,5", "più; di una cosa"]
    variants = [
        csv_bytes(header, [row]),  # "CSV UTF-8": BOM and ";"
        csv_bytes(header, [row], bom=False, encoding="cp1252"),  # older Excel
        csv_bytes(header, [row], sep=",", bom=False),
        csv_bytes(header, [row], sep="\t"),
    ]
    for content in variants:
        table = table_of(content, "csv")
        assert table.columns == header
        report = imports.values_import(cycle=cycle_2019, table=table, user=controllo, dry_run=True)
        assert report.invalid == []
        changes = {column: after for column, _, after in report.changes[0].fields}
        assert changes == {"valore": "1.234,5", "nota": "più; di una cosa"}
    exported = imports.values_export(cycle=cycle_2019, format="csv")
    assert exported.startswith(b"\xef\xbb\xbfcodice_target;periodo;")
    assert b"\r\n" in exported


def test_spreadsheet_cells_as_staff_type_them(cycle_2019, controllo):
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    deadline = target_of(cycle_2019, "regolazione-mercato", "deadline")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Codice target", "Periodo", "Valore", "Nota"])  # headers as typed
    sheet.append([target.id, "consuntivo", 0.827, None])
    sheet["C2"].number_format = "0.0%"  # "82,7%" typed in Excel
    sheet.append([])  # a blank row keeps the numbering
    sheet.append([deadline.id, "Consuntivo al 31.12.2019", dt.datetime(2019, 7, 15), "=1+1"])
    other = target_of(cycle_2019, "promozione", "at_least")
    sheet.append([other.id, "consuntivo", 75, None])
    sheet["C5"].number_format = '0" %"'  # a literal "%": not a percentage cell
    buffer = io.BytesIO()
    book.save(buffer)
    table = table_of(buffer.getvalue(), "xlsx")
    assert [row.number for row in table.rows] == [2, 4, 5]
    report = imports.values_import(cycle=cycle_2019, table=table, user=controllo, dry_run=False)
    assert report.applied, report.invalid
    assert Actual.objects.get(target=target, period__key="consuntivo").value_number == Decimal(
        "82.7"
    )
    assert Actual.objects.get(target=deadline, period__key="consuntivo").value_date == dt.date(
        2019, 7, 15
    )
    assert Actual.objects.get(target=other, period__key="consuntivo").value_number == 75


def _ods(rows) -> bytes:
    """An ODS sheet written as LibreOffice does: repeated empty cells and rows."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Foglio1")
    for cells in rows:
        if cells == "blank":
            sheet.addElement(TableRow(numberrowsrepeated=3))
            continue
        row = TableRow()
        for cell in cells:
            if isinstance(cell, int):  # that many empty cells in one element
                row.addElement(TableCell(numbercolumnsrepeated=cell))
            elif isinstance(cell, tuple):  # a percentage cell
                row.addElement(TableCell(valuetype="percentage", value=cell[0]))
            else:
                element = TableCell(valuetype="string")
                element.addElement(P(text=cell))
                row.addElement(element)
        row.addElement(TableCell(numbercolumnsrepeated=1000))
        sheet.addElement(row)
    sheet.addElement(TableRow(numberrowsrepeated=1048000))
    document.spreadsheet.addElement(sheet)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_ods_as_libreoffice_writes_it(cycle_2019, controllo):
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    content = _ods(
        [
            ["codice_target", "periodo", "valore_testo", "nota", "valore"],
            "blank",
            [str(target.id), "consuntivo", 2, ("0.5",)],
        ]
    )
    table = table_of(content, "ods")
    assert [(row.number, row.cells) for row in table.rows] == [
        (
            5,
            {
                "codice_target": str(target.id),
                "periodo": "consuntivo",
                "valore_testo": None,
                "nota": None,
                "valore": Decimal(50),
            },
        )
    ]


def test_exports_escape_formulas(cycle_2019, controllo):
    target = Target.objects.filter(
        indicator__objective__cycle=cycle_2019, rule__kind="at_most"
    ).first()
    threshold = Decimal(target.rule["threshold"])
    assert threshold < 0  # a real negative number: exported as a number, not escaped
    target.text = '=HYPERLINK("http://esempio.it","clic")'
    target.notes = "+1+2"
    target.save()
    indicator = target.indicator
    indicator.notes = "@SUM(A1:A2)"
    indicator.source = "-cmd|' /C calc'!A0"
    indicator.save()
    actual = target.actuals.get()
    actual.note = "-2+3"
    actual.text = "'=già con apostrofo"
    actual.save()
    dangerous = {
        "target_testo": target.text,
        "note": "+1+2",
        "indicatore_note": "@SUM(A1:A2)",
        "fonte": "-cmd|' /C calc'!A0",
    }

    for fmt in imports.FORMATS:
        content = imports.plan_export(cycle=cycle_2019, format=fmt)
        table = table_of(content, fmt)
        row = next(r for r in table.rows if r.cells["codice_target"] in (target.id, str(target.id)))
        for column, text in dangerous.items():
            assert row.cells[column] == "'" + text, (fmt, column)
        assert imports._number(row.cells["soglia"], "soglia") == threshold, fmt
        assert not str(row.cells["soglia"]).startswith("'"), fmt
        values = table_of(imports.values_export(cycle=cycle_2019, format=fmt), fmt)
        vrow = next(r for r in values.rows if str(r.cells["codice_target"]) == str(target.id))
        assert vrow.cells["nota"] == "'-2+3"
        assert vrow.cells["valore_testo"] == "''=già con apostrofo"
        # importing the export back changes nothing: the apostrophes are removed
        assert (
            imports.plan_import(cycle=cycle_2019, table=table, user=controllo, dry_run=True).changed
            == 0
        )
        report = imports.values_import(cycle=cycle_2019, table=values, user=controllo, dry_run=True)
        assert report.changed == 0 and report.invalid == []

    book = openpyxl.load_workbook(io.BytesIO(imports.plan_export(cycle=cycle_2019, format="xlsx")))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == target.id:
            text_cell = row[header.index("target_testo")]
            number_cell = row[header.index("soglia")]
            assert text_cell.data_type == "s" and text_cell.value.startswith("'=")
            assert number_cell.data_type == "n" and Decimal(str(number_cell.value)) == threshold
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    csv_text = imports.plan_export(cycle=cycle_2019, format="csv").decode("utf-8-sig")
    assert ';"\'=HYPERLINK(""http://esempio.it"",""clic"")";' in csv_text
    assert f";{str(threshold).replace('.', ',')};" in csv_text  # numbers are not escaped


def test_escape_and_unescape_are_exact():
    texts = ["=1", "+1", "-1", "@a", "\tx", "\rx", "'=1", "'a", "a=1", "", "normale"]
    for text in texts:
        assert imports.unescape_formula(imports.escape_formula(text)) == text
    assert [imports.escape_formula(t) for t in texts] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
        "''=1",
        "'a",
        "a=1",
        "",
        "normale",
    ]
    for fmt in imports.FORMATS:
        content = rendered(["a", "b", "c"], [{"a": "\tx", "b": Decimal("-4.5"), "c": -3}], fmt)
        cells = table_of(content, fmt).rows[0].cells
        assert cells["a"] == "'\tx", fmt
        assert imports._number(cells["b"], "b") == Decimal("-4.5"), fmt
        assert imports._number(cells["c"], "c") == -3, fmt


# ---------------------------------------------------------------------------- the round trip


@pytest.mark.parametrize("fmt", imports.FORMATS)
def test_round_trip_of_the_2019_cycle(cycle_2019, dataset_2019, controllo, fmt):
    """Export the 2019 plan and values, import them into an empty cycle with the same structure:
    same scores for every unit, position and total, and the same rows. The empty cycle is the
    next year's: the 2019 dates (deadlines, values) are within its window (parsing.
    cycle_date_window: a cycle accepts the dates of the year before it), not a later year's."""
    plan = imports.plan_export(cycle=cycle_2019, format=fmt)
    values = imports.values_export(cycle=cycle_2019, format=fmt)
    empty = cycle_load(data=structure_only(dataset_2019, 2020))
    assert not Target.objects.filter(indicator__objective__cycle=empty).exists()

    report = imports.plan_import(
        cycle=empty, table=table_of(plan, fmt), user=controllo, dry_run=False
    )
    assert report.applied and report.invalid == [] and report.created == 154
    report = imports.values_import(
        cycle=empty, table=table_of(values, fmt), user=controllo, dry_run=False
    )
    assert report.applied and report.invalid == [] and report.created == 151

    original = selectors.cycle_score(cycle=cycle_2019)
    copied = selectors.cycle_score(cycle=empty)
    assert copied.strategic.achievement == original.strategic.achievement == Decimal("98.1")
    assert copied.operational.achievement == original.operational.achievement
    assert [(n.key, n.achievement) for n in copied.strategic.walk() if n.kind != "objective"] == [
        (n.key, n.achievement) for n in original.strategic.walk() if n.kind != "objective"
    ]
    assert {n.key: n.achievement for n in copied.units.walk()} == {
        n.key: n.achievement for n in original.units.walk()
    }
    assert [(p.key, p.achievement) for p in copied.individual] == [
        (p.key, p.achievement) for p in original.individual
    ]
    assert copied.counts == original.counts
    assert len(copied.overrides()) == len(original.overrides()) == 12

    def without_codes(rows):
        return [{k: v for k, v in row.items() if k not in PLAN_KEYS} for row in rows]

    assert without_codes(imports.plan_rows(cycle=empty)) == without_codes(
        imports.plan_rows(cycle=cycle_2019)
    )
    assert without_codes(imports.values_rows(cycle=empty)) == without_codes(
        imports.values_rows(cycle=cycle_2019)
    )
    # importing the same files again changes nothing, in both cycles
    for cycle in (empty, cycle_2019):
        again = imports.plan_import(cycle=cycle, table=table_of(plan, fmt), user=None, dry_run=True)
        assert (again.created, again.changed, again.unchanged) == (0, 0, 154)
        again = imports.values_import(
            cycle=cycle, table=table_of(values, fmt), user=None, dry_run=True
        )
        assert (again.created, again.changed, again.unchanged) == (0, 0, 151)


# --------------------------------------------------------------------------- sample files


def test_sample_files_are_reproducible(tmp_path):
    written = write_samples(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{name}.{fmt}" for name in ("piano-esempio", "valori-esempio") for fmt in imports.FORMATS
    )
    for path in written:
        committed = SAMPLES / path.name
        assert committed.exists(), path.name
        fmt = path.suffix[1:]
        fresh, stored = table_of(path.read_bytes(), fmt), table_of(committed.read_bytes(), fmt)
        assert fresh == stored, path.name
    # the three formats say the same thing
    for name in ("piano-esempio", "valori-esempio"):
        tables = [
            table_of((SAMPLES / f"{name}.{fmt}").read_bytes(), fmt) for fmt in imports.FORMATS
        ]

        def text(value):
            if isinstance(value, Decimal):
                return imports._plain_number(value).replace(".", ",")
            return imports._text(value)

        texts = [[{k: text(v) for k, v in row.cells.items()} for row in t.rows] for t in tables]
        assert texts[0] == texts[1] == texts[2], name
        assert 5 <= len(tables[0].rows) <= 10


def test_sample_files_import_into_the_2019_cycle(cycle_2019, controllo):
    for fmt in imports.FORMATS:
        plan = table_of((SAMPLES / f"piano-esempio.{fmt}").read_bytes(), fmt)
        report = imports.plan_import(cycle=cycle_2019, table=plan, user=controllo, dry_run=True)
        assert report.is_valid and report.created == 9, (fmt, report.invalid)
    imports.plan_import(cycle=cycle_2019, table=plan, user=controllo, dry_run=False)
    for fmt in imports.FORMATS:
        values = table_of((SAMPLES / f"valori-esempio.{fmt}").read_bytes(), fmt)
        report = imports.values_import(cycle=cycle_2019, table=values, user=controllo, dry_run=True)
        assert report.is_valid and report.created == 9, (fmt, report.invalid)


def test_xlsx_zip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(imports, "MAX_UNPACKED_BYTES", 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "0" * 5000)
    with pytest.raises(imports.ImportFileError, match="troppo grande una volta decompresso"):
        table_of(buffer.getvalue(), "xlsx")


def test_exports_and_dry_runs_use_a_fixed_number_of_queries(
    cycle_2019, controllo, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        plan = imports.plan_export(cycle=cycle_2019, format="csv")
    with django_assert_max_num_queries(3):
        values = imports.values_export(cycle=cycle_2019, format="csv")
    plan_table, values_table = table_of(plan, "csv"), table_of(values, "csv")
    with django_assert_max_num_queries(15):
        imports.plan_import(cycle=cycle_2019, table=plan_table, user=controllo, dry_run=True)
    with django_assert_max_num_queries(10):
        imports.values_import(cycle=cycle_2019, table=values_table, user=controllo, dry_run=True)
