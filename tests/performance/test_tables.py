"""The staff workspace's read pages on the real 2019 cycle: the objectives and indicators tables
(filters, sorting, CSV/XLSX/ODS exports with formula escaping), the albero della performance,
the history of an indicator; who may see them; and their query counts."""

import csv
import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from organization import roles
from organization.models import Unit
from performance import selectors
from performance.models import Actual, Indicator, Objective, Target
from performance.services import actual_record
from performance.tables import escape_cell
from tests.factories import UserFactory

YEAR = 2019


# ------------------------------------------------------------------------------------ personas


def _user(username: str, group: str | None = None):
    user = UserFactory(username=username, first_name="", last_name="")
    if group:
        roles.roles_sync()
        user.groups.add(Group.objects.get(name=group))
    return user


# the personas (tests/personas.py)
@pytest.fixture
def controllo(personas):
    return personas.controllo


@pytest.fixture
def oiv(personas):
    return personas.oiv


@pytest.fixture
def referente(personas):
    return personas.referent


@pytest.fixture
def no_role(personas):
    return personas.no_role


@pytest.fixture
def client_controllo(client, controllo):
    client.force_login(controllo)
    return client


def _urls(cycle) -> dict[str, str]:
    indicator = Indicator.objects.filter(objective__cycle=cycle).order_by("id").first()
    return {
        "objectives": reverse("workspace:objectives", args=[cycle.year]),
        "indicators": reverse("workspace:indicators", args=[cycle.year]),
        "tree": reverse("workspace:tree", args=[cycle.year]),
        "history": reverse("workspace:indicator-history", args=[cycle.year, indicator.id]),
    }


PAGES = ("objectives", "indicators", "tree", "history")


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_log_in(client, cycle_2019, page):
    url = _urls(cycle_2019)[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("page", PAGES)
def test_user_without_role_is_forbidden(client, cycle_2019, no_role, page):
    client.force_login(no_role)
    assert client.get(_urls(cycle_2019)[page]).status_code == 403


@pytest.mark.parametrize("persona", ["referente", "controllo", "oiv"])
@pytest.mark.parametrize("page", PAGES)
def test_personas_may_read(client, request, cycle_2019, persona, page):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(_urls(cycle_2019)[page])
    assert response.status_code == 200
    assert b"Percorso di navigazione" in response.content  # breadcrumbs


@pytest.mark.parametrize("page", PAGES)
def test_referent_without_units_in_the_cycle_is_forbidden(client, cycle_2019, page):
    client.force_login(_user("referente-senza-unita", roles.REFERENTE))
    assert client.get(_urls(cycle_2019)[page]).status_code == 403


@pytest.mark.parametrize("name", ["objectives", "indicators", "tree"])
def test_unknown_year_is_404(client_controllo, name):
    assert client_controllo.get(reverse(f"workspace:{name}", args=[1999])).status_code == 404


def test_history_of_an_indicator_of_another_cycle_is_404(client_controllo, cycle_2019):
    indicator = Indicator.objects.filter(objective__cycle=cycle_2019).first()
    url = reverse("workspace:indicator-history", args=[YEAR, indicator.id + 100000])
    assert client_controllo.get(url).status_code == 404


def test_nav_links_appear(client_controllo):
    content = client_controllo.get(reverse("workspace:home")).content.decode()
    for name in ("objectives", "indicators", "tree"):
        assert reverse(f"workspace:{name}", args=[YEAR]) in content


# ------------------------------------------------------------------------------------- helpers


def _get(client, name: str, query: str = ""):
    response = client.get(reverse(f"workspace:{name}", args=[YEAR]) + query)
    assert response.status_code == 200, response.status_code
    return response


def _records(response) -> list:
    return [row.record for row in response.context["table"].rows]


def _targets(cycle):
    return Target.objects.filter(indicator__objective__cycle=cycle)


# -------------------------------------------------------------------------------------- tables


def test_indicators_table_has_every_target_with_the_engines_figures(client_controllo, cycle_2019):
    response = _get(client_controllo, "indicators")
    records = _records(response)
    assert len(records) == _targets(cycle_2019).count() == 154
    assert response.context["count"] == 154
    scored = selectors.cycle_scored(cycle=cycle_2019)
    for record in records:
        result = scored.rows[f"t{record.pk}"]
        assert record.achievement == result.achievement
        assert record.override == result.override
    content = response.content.decode()
    assert "<caption>Indicatori e target del ciclo 2019</caption>" in content
    assert 'scope="col"' in content
    # an override: Italian figure, the badge, what the rule would give
    data_management = next(r for r in records if r.indicator == "Attivazione del Data Management")
    assert data_management.achievement_display == "80%"
    assert data_management.override and data_management.band_key == "parziale"
    assert "rettifica</span>" in content
    assert "la regola darebbe 70%" in content
    # k of n figure in Italian format, and the value as written
    coverage = next(r for r in records if r.formula.startswith("13/14"))
    assert coverage.achievement_display == "93%"
    assert "13/14 = 92,86% ≈ 93%" in content
    # excluded and neutralized rows carry their reason
    repeated = [r for r in records if r.status == "escluso" and "riga ripetuta" in r.reason]
    assert len(repeated) == 1 and repeated[0].achievement_display == "n.d."
    neutralized = [r for r in records if r.status == "neutralizzato"]
    assert neutralized and all(r.reason.startswith("neutralizzato:") for r in neutralized)
    assert "Obiettivo eliminato in sede di aggiornamento" in content
    # a link to the history of each indicator
    url = reverse("workspace:indicator-history", args=[YEAR, records[0].indicator_id])
    assert f'href="{url}"' in content


def test_objectives_table_has_every_objective(client_controllo, cycle_2019):
    response = _get(client_controllo, "objectives")
    records = _records(response)
    assert len(records) == Objective.objects.filter(cycle=cycle_2019).count() == 118
    by_kind = {kind: [r for r in records if r.kind == kind] for kind in KINDS}
    assert {kind: len(rows) for kind, rows in by_kind.items()} == {
        "strategic": 19,
        "operational": 55,
        "individual": 44,
    }
    # strategic first, then operational, then individual (the plan's order)
    assert [r.kind_sort for r in records] == sorted(r.kind_sort for r in records)
    privacy = next(r for r in records if r.objective.startswith("Sviluppare il processo di ass"))
    assert privacy.achievement_display == "93,34%" and privacy.formula == "280/3 = 93,34%"
    assert privacy.override  # one of its rows is an override
    neutralized = [r for r in records if r.status == "neutralizzato"]
    assert len(neutralized) == 1 and "aggiornamento del Piano" in neutralized[0].reason
    content = response.content.decode()
    assert "280/3 = 93,34%" in content
    assert "<caption>Obiettivi del ciclo 2019</caption>" in content


KINDS = ("strategic", "operational", "individual")


@pytest.mark.parametrize(
    ("tipo", "kind"),
    [("strategico", "strategic"), ("operativo", "operational"), ("individuale", "individual")],
)
def test_filter_by_kind(client_controllo, cycle_2019, tipo, kind):
    records = _records(_get(client_controllo, "indicators", f"?tipo={tipo}"))
    expected = _targets(cycle_2019).filter(indicator__objective__kind=kind).count()
    assert len(records) == expected > 0
    assert {r.kind for r in records} == {kind}
    objectives = _records(_get(client_controllo, "objectives", f"?tipo={tipo}"))
    assert len(objectives) == Objective.objects.filter(cycle=cycle_2019, kind=kind).count()


def test_filter_by_perspective(client_controllo, cycle_2019):
    perspective = cycle_2019.perspectives.get(code="2")
    records = _records(_get(client_controllo, "indicators", f"?prospettiva={perspective.id}"))
    expected = _targets(cycle_2019).filter(
        indicator__objective__strategic_objective__perspective=perspective
    )
    assert len(records) == expected.count() > 0
    assert {r.perspective for r in records} == {"2. Processi interni"}
    objectives = _records(_get(client_controllo, "objectives", f"?prospettiva={perspective.id}"))
    assert len(objectives) == (
        Objective.objects.filter(strategic_objective__perspective=perspective).count()
    )


def test_filter_by_unit_includes_the_units_below(client_controllo, cycle_2019):
    from django.db.models import Q

    registro = Unit.objects.get(cycle=cycle_2019, key="registro-imprese")
    below = [registro.id, *registro.children.values_list("id", flat=True)]
    records = _records(_get(client_controllo, "indicators", f"?unita={registro.id}"))
    expected = _targets(cycle_2019).filter(
        Q(unit_id__in=below)
        | Q(unit__isnull=True, indicator__objective__position__unit_id__in=below)
    )
    assert len(records) == expected.count() > 0
    assert {r.unit for r in records} == {
        "Servizio Registro Imprese",
        "Posizione organizzativa responsabile del Servizio Registro Imprese",
    }
    area = Unit.objects.get(cycle=cycle_2019, key="area-istituzionali")
    in_area = _records(_get(client_controllo, "indicators", f"?unita={area.id}"))
    assert len(in_area) > len(records)
    assert {r.pk for r in records} < {r.pk for r in in_area}
    objectives = _records(_get(client_controllo, "objectives", f"?unita={registro.id}"))
    assert objectives and all(
        "Registro Imprese" in r.unit for r in objectives
    )  # operational objectives of the service and the PO's individual ones


def test_filter_by_status(client_controllo, cycle_2019):
    total = _targets(cycle_2019).count()
    missing = Actual.objects.get(
        target__indicator__name="N. workshop realizzati",
        target__indicator__objective__kind="strategic",
    )
    missing.delete()  # every 2019 row has a value or a reason: make one not measured
    counts = {}
    for status in ("attivo", "neutralizzato", "escluso", "non_rilevato"):
        records = _records(_get(client_controllo, "indicators", f"?stato={status}"))
        assert {r.status for r in records} <= {status}
        counts[status] = len(records)
    assert sum(counts.values()) == total
    assert counts["neutralizzato"] == (
        _targets(cycle_2019).filter(indicator__objective__status="neutralized").count()
    )
    assert counts["escluso"] == (
        _targets(cycle_2019)
        .filter(status="excluded", indicator__objective__status="active")
        .count()
    )
    assert counts["non_rilevato"] == 1 and counts["attivo"] > 100
    missing_row = _records(_get(client_controllo, "indicators", "?stato=non_rilevato"))[0]
    assert (missing_row.pk, missing_row.reason) == (missing.target_id, "valore non rilevato")
    assert missing_row.achievement_display == "n.d." and missing_row.actual_text == ""
    objectives = _records(_get(client_controllo, "objectives", "?stato=neutralizzato"))
    assert len(objectives) == Objective.objects.filter(status="neutralized").count() == 1


def test_filter_by_band(client_controllo, cycle_2019):
    total = _targets(cycle_2019).count()
    counts = {}
    for band in ("raggiunto", "parziale", "non_raggiunto"):
        records = _records(_get(client_controllo, "indicators", f"?fascia={band}"))
        assert records and {r.band_key for r in records} == {band}
        counts[band] = len(records)
    unbanded = len(_records(_get(client_controllo, "indicators", "?stato=attivo")))
    assert sum(counts.values()) == unbanded < total
    parziale = _records(_get(client_controllo, "indicators", "?fascia=parziale"))
    assert all(Decimal(70) <= r.achievement <= Decimal(90) for r in parziale)
    objectives = _records(_get(client_controllo, "objectives", "?fascia=non_raggiunto"))
    assert objectives and all(r.achievement < 70 for r in objectives)


def test_filters_combine_and_search(client_controllo, cycle_2019):
    registro = Unit.objects.get(cycle=cycle_2019, key="registro-imprese")
    records = _records(
        _get(client_controllo, "indicators", f"?unita={registro.id}&tipo=operativo&stato=attivo")
    )
    assert records and {(r.kind, r.status) for r in records} == {("operational", "attivo")}
    found = _records(_get(client_controllo, "indicators", "?cerca=attivazione+del+DATA"))
    assert [r.indicator for r in found] == ["Attivazione del Data Management"]
    broader = _records(_get(client_controllo, "indicators", "?cerca=data+management"))
    assert len(broader) == 3  # the objective's title mentions it too
    assert all("data management" in f"{r.indicator} {r.objective}".casefold() for r in broader)


def test_invalid_filter_is_ignored_and_explained(client_controllo):
    response = _get(client_controllo, "indicators", "?prospettiva=abc&fascia=ottimo")
    assert len(_records(response)) == 154
    assert response.content.decode().count("Il filtro non è applicato.") == 2


def test_sorting(client_controllo, cycle_2019):
    response = _get(client_controllo, "indicators", "?ordina=-achievement")
    figures = [r.achievement for r in _records(response)]
    measured = [f for f in figures if f is not None]
    assert figures[: len(measured)] == sorted(measured, reverse=True)
    assert all(f is None for f in figures[len(measured) :])
    assert 'aria-sort="descending"' in response.content.decode()
    ascending = [
        r.achievement for r in _records(_get(client_controllo, "indicators", "?ordina=achievement"))
    ]
    assert ascending[-1] == 100 and ascending[0] is None
    by_unit = [r.unit_sort for r in _records(_get(client_controllo, "indicators", "?ordina=unit"))]
    assert by_unit == sorted(by_unit)
    titles = [
        r.objective for r in _records(_get(client_controllo, "objectives", "?ordina=objective"))
    ]
    assert titles == sorted(titles, key=str.casefold)
    bands = [
        r.band_sort for r in _records(_get(client_controllo, "objectives", "?ordina=band_label"))
    ]
    assert bands == sorted(bands)
    # sorting keeps the filters, filtering keeps the sorting
    filtered = _get(client_controllo, "indicators", "?tipo=individuale&ordina=-achievement")
    assert {r.kind for r in _records(filtered)} == {"individual"}
    assert 'name="ordina" value="-achievement"' in filtered.content.decode()


# ------------------------------------------------------------------------------------- exports


def test_escape_cell():
    for text in ("=1+1", "+39", "-13,06", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(text) == "'" + text
    for value in ("testo", "", "1=1", Decimal("-5"), -5, 4.5, None):
        assert escape_cell(value) == value


@pytest.fixture
def formula_actual(cycle_2019):
    """A value written as a formula, as an attacker (or a careless paste) would."""
    actual = Actual.objects.get(
        target__indicator__name="N. workshop realizzati",
        target__indicator__objective__kind="strategic",
    )
    actual.text = "=1+1"
    actual.save()
    return actual


def test_csv_export(client_controllo, cycle_2019, formula_actual):
    response = _get(client_controllo, "indicators", "?_export=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="indicatori-2019.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 154
    assert header[:3] == ["Codice", "Indicatore", "Obiettivo"]
    assert "Storico" not in header
    assert {"Raggiungimento", "Fascia", "Rettifica", "Formula"} <= set(header)
    column = {name: header.index(name) for name in header}
    workshop = next(r for r in body if r[column["Valore rilevato"]].endswith("=1+1"))
    assert workshop[column["Valore rilevato"]] == "'=1+1"
    assert workshop[column["Raggiungimento"]] == "100"  # a number, not escaped or formatted
    assert workshop[column["Fascia"]] == "Raggiunto"  # plain text, no HTML
    negative = [
        r[column["Valore rilevato"]] for r in body if "13,06" in r[column["Valore rilevato"]]
    ]
    assert negative and all(value.startswith("'-") for value in negative)
    overrides = [r for r in body if r[column["Rettifica"]] == "sì"]
    assert len(overrides) == 12
    excluded = next(
        r for r in body if "riga ripetuta" in r[column["Motivazione o motivo dell'esclusione"]]
    )
    assert excluded[column["Raggiungimento"]] == ""
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in body for cell in row)


def test_export_follows_filters_and_sorting(client_controllo, cycle_2019):
    response = _get(
        client_controllo, "objectives", "?tipo=strategico&ordina=-achievement&_export=csv"
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert len(rows) == 1 + 19
    figures = [Decimal(r[rows[0].index("Raggiungimento")]) for r in rows[1:]]
    assert figures == sorted(figures, reverse=True)
    assert response["Content-Disposition"] == 'attachment; filename="obiettivi-2019.csv"'


def test_xlsx_export(client_controllo, cycle_2019, formula_actual):
    openpyxl = pytest.importorskip("openpyxl")
    response = _get(client_controllo, "indicators", "?_export=xlsx")
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == 'attachment; filename="indicatori-2019.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Indicatori e target 2019"
    header = [cell.value for cell in sheet[1]]
    assert sheet.max_row == 155
    actual_col = header.index("Valore rilevato") + 1
    figure_col = header.index("Raggiungimento") + 1
    cells = [sheet.cell(row=i, column=actual_col) for i in range(2, sheet.max_row + 1)]
    escaped = [c for c in cells if c.value == "'=1+1"]
    assert len(escaped) == 1 and escaped[0].data_type == "s"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    figure = sheet.cell(row=escaped[0].row, column=figure_col)
    assert figure.data_type == "n" and figure.value == 100


def test_ods_export(client_controllo, cycle_2019, formula_actual):
    response = _get(client_controllo, "objectives", "?_export=ods")
    assert response["Content-Type"] == "application/vnd.oasis.opendocument.spreadsheet"
    assert response["Content-Disposition"] == 'attachment; filename="obiettivi-2019.ods"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        content = archive.read("content.xml").decode("utf-8")
    assert "Obiettivi" in content and "Raggiungimento" in content
    assert 'office:value-type="float"' in content  # figures are numbers
    indicators = _get(client_controllo, "indicators", "?_export=ods")
    with zipfile.ZipFile(io.BytesIO(indicators.content)) as archive:
        content = archive.read("content.xml").decode("utf-8")
    assert "&apos;=1+1" in content or "'=1+1" in content
    assert ">=1+1<" not in content


def test_unknown_export_format_shows_the_page(client_controllo):
    response = _get(client_controllo, "indicators", "?_export=pdf")
    assert response["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------------------------------- tree


def test_tree_page(client_controllo):
    response = _get(client_controllo, "tree")
    content = response.content.decode()
    # strategic tree, Ente table, unit tree, individual objectives, each with its formula
    assert "(99,9 + 96 + 96,5 + 100)/4 = 98,1%" in content
    assert "1.698/17 = 99,9%" in content
    assert "4.931/53 = 93,04%" in content
    assert "638/8 = 79,75%" in content
    assert "(75 + 79,75 + 95,45)/3 = 83,4%" in content
    assert "1.857/19 = 97,74%" in content
    assert "1.190/12 = 99,17%" in content
    # excluded rows with their reason, overrides marked
    assert "riga ripetuta due volte" in content
    assert "Obiettivo eliminato in sede di aggiornamento del Piano" in content
    assert "Rettifiche manuali (12)" in content
    assert content.count('badge badge-override">rettifica') >= 12
    # the consistency report, last
    assert content.index("Rapporto di coerenza") > content.index("Obiettivi individuali")
    assert "8 incongruenze" in content
    assert '<td class="num">97,37</td>' in content
    assert '<td class="num">85,07</td>' in content
    # accessible structure
    assert "<caption>Incongruenze tra le cifre dichiarate e quelle calcolate</caption>" in content
    assert '<th scope="row">' in content
    assert "<script" not in content.split('id="contenuto"')[1].split("</main>")[0]


def test_tree_individual_objectives_are_grouped_by_objective(client_controllo, cycle_2019):
    response = _get(client_controllo, "tree")
    individual = response.context["individual"]
    assert len(individual) == 5
    registro = next(p for p in individual if "Registro Imprese" in p.name)
    assert registro.formula == "661/7 = 94,43%"
    assert all(child.kind == "objective" for child in registro.children)
    assert sum(len(child.rows) for child in registro.children) == 7


# ------------------------------------------------------------------------------------- history


def test_history_shows_who_when_and_old_new(client, controllo, cycle_2019):
    from django.utils import timezone

    actual = Actual.objects.select_related("target__indicator", "period").get(
        target__indicator__name="N. workshop realizzati",
        target__indicator__objective__kind="strategic",
    )
    controllo.first_name, controllo.last_name = "Chiara", "Controllo"
    controllo.save()
    actual_record(
        target=actual.target,
        period=actual.period,
        user=controllo,
        expected_version=actual.version,
        number=Decimal("5"),
        text="5 workshop",
    )
    indicator = actual.target.indicator
    indicator.name = "N. workshop realizzati nell'anno"
    indicator._history_user = controllo
    indicator.save()

    client.force_login(controllo)
    url = reverse("workspace:indicator-history", args=[YEAR, indicator.id])
    response = client.get(url)
    assert response.status_code == 200
    entries = response.context["entries"]
    assert [e.order for e in entries] == sorted((e.order for e in entries), reverse=True)
    newest, change = entries[0], entries[1]
    assert (newest.action, newest.subject, newest.who) == (
        "Modifica",
        "Indicatore",
        "Chiara Controllo",
    )
    assert [(c.label, c.old, c.new) for c in newest.changes] == [
        ("indicatore", "N. workshop realizzati", "N. workshop realizzati nell'anno")
    ]
    assert change.action == "Modifica"
    assert change.subject == "Valore rilevato – Consuntivo al 31.12.2019 – Ente"
    assert change.who == "Chiara Controllo"
    assert [(c.label, c.old, c.new) for c in change.changes] == [
        ("valore", "4", "5"),
        ("valore come scritto", "—", "5 workshop"),
    ]
    assert {e.action for e in entries[2:]} == {"Creazione"}
    assert {e.who for e in entries[2:]} == {"caricamento dati"}
    content = response.content.decode()
    today = timezone.localdate().strftime("%d/%m/%Y")
    assert f"{today}" in content and "Chiara Controllo" in content
    assert '<th scope="row">Valore come scritto</th>' in content
    assert "<td>4</td>" in content and "<td>5</td>" in content


def test_history_link_from_the_indicators_table(client_controllo, cycle_2019):
    indicator = Indicator.objects.get(
        name="Attivazione del Data Management", objective__cycle=cycle_2019
    )
    content = _get(client_controllo, "indicators").content.decode()
    assert reverse("workspace:indicator-history", args=[YEAR, indicator.id]) in content


# --------------------------------------------------------------------------------- query counts

MAX_QUERIES = {"objectives": 25, "indicators": 25, "tree": 18, "history": 12}


def _more_plan(cycle, n: int = 5) -> None:
    """More indicators, targets, values and history: the query counts must not move."""
    from organization.models import MeasurementPeriod

    period = MeasurementPeriod.objects.get(cycle=cycle, is_final=True)
    unit = Unit.objects.get(cycle=cycle, key="registro-imprese")
    indicator = Indicator.objects.filter(objective__cycle=cycle).order_by("id").first()
    objective = Objective.objects.filter(cycle=cycle, kind="operational").first()
    for i in range(n):
        extra = Indicator.objects.create(objective=objective, name=f"Indicatore in più {i}")
        for target_indicator in (extra, indicator):
            target = Target.objects.create(
                indicator=target_indicator,
                unit=unit,
                text=f"≥ {i + 1}",
                rule={"kind": "at_least", "threshold": str(i + 1)},
            )
            Actual.objects.create(target=target, period=period, value_number=i, text=f"-{i}")


@pytest.mark.parametrize("page", PAGES)
def test_query_counts_are_bounded_and_constant(
    client_controllo, cycle_2019, django_assert_max_num_queries, page
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = _urls(cycle_2019)[page]
    with django_assert_max_num_queries(MAX_QUERIES[page]):
        assert client_controllo.get(url).status_code == 200
    with CaptureQueriesContext(connection) as before:
        client_controllo.get(url)
    _more_plan(cycle_2019)
    with CaptureQueriesContext(connection) as after:
        assert client_controllo.get(url).status_code == 200
    assert len(after.captured_queries) == len(before.captured_queries)


@pytest.mark.parametrize("name", ["objectives", "indicators"])
@pytest.mark.parametrize("export", ["csv", "xlsx", "ods"])
def test_export_query_counts(client_controllo, django_assert_max_num_queries, name, export):
    with django_assert_max_num_queries(MAX_QUERIES[name]):
        _get(client_controllo, name, f"?_export={export}")


def test_referent_query_counts(client, referente, cycle_2019, django_assert_max_num_queries):
    client.force_login(referente)
    for page, url in _urls(cycle_2019).items():
        with django_assert_max_num_queries(MAX_QUERIES[page] + 2):
            assert client.get(url).status_code == 200


# ---------------------------------------------------------------------------------- small cycles


def test_pages_of_an_empty_cycle(client_controllo):
    from tests.factories import CycleFactory

    cycle = CycleFactory()
    for name in ("objectives", "indicators", "tree"):
        response = client_controllo.get(reverse(f"workspace:{name}", args=[cycle.year]))
        assert response.status_code == 200
    response = client_controllo.get(reverse("workspace:indicators", args=[cycle.year]))
    assert "Nessuna riga corrisponde ai filtri." in response.content.decode()


def test_pages_of_a_small_cycle_without_periods(client_controllo):
    from tests.factories import IndicatorFactory, TargetFactory, UnitFactory

    target = TargetFactory(indicator=IndicatorFactory(objective__title="Un obiettivo"))
    cycle = target.indicator.objective.cycle
    UnitFactory(cycle=cycle, kind=Unit.Kind.ENTE, name="Ente di prova")
    records = _records(client_controllo.get(reverse("workspace:indicators", args=[cycle.year])))
    assert [(r.unit, r.status, r.achievement_display, r.actual_text) for r in records] == [
        ("Ente", "non_rilevato", "n.d.", "")
    ]
    objectives = _records(client_controllo.get(reverse("workspace:objectives", args=[cycle.year])))
    assert [(r.objective, r.status) for r in objectives] == [("Un obiettivo", "non_rilevato")]
    tree = client_controllo.get(reverse("workspace:tree", args=[cycle.year]))
    assert tree.status_code == 200 and "valore non rilevato" in tree.content.decode()
