"""Hardening of every input (issue 10, the attack run): findings reproduced on real URLs.

- NUL characters (\\x00) in any text input: refused with an Italian message naming the field (forms
  and the workflow's posts) or a 400 (query parameters), never a server error (PostgreSQL refuses
  to store or compare them: psycopg2 raises ValueError);
- the live preview's JSON body: malformed, too deep, too large, non-finite numbers, wrong types: a
  400 in JSON with an Italian message (the multi-part rule's JSON of the target form the same, as
  a field error);
- numbers and dates: ASCII digits only (Python's int() and Decimal() read any Unicode digit), dates
  within a plausible window (1900–2100) and, where the cycle is known, within the cycle's window.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import include, path, reverse

from organization.models import Cycle
from performance import forms_plan, json_input, parsing, scoring
from performance.forms import parse_row
from performance.models import Actual, Indicator, Perspective, Target
from reports.models.workflow import CycleTransition, Remark
from tests.factories import PASSWORD, UserFactory
from tests.performance.test_entry import opened_form as entry_form_data
from tests.workflow import test_workflow
from tests.workflow.test_workflow import advance

pytestmark = pytest.mark.django_db

# the workflow tests' fixtures: the personas, the 2019 cycle ready for the workflow, fast PDFs
people = test_workflow.people
ready = test_workflow.ready
fast_pdf = test_workflow.fast_pdf

YEAR = 2019
RI = "registro-imprese"
T_AT_LEAST_80 = 55  # "≥ 80%", stored 88
T_DEADLINE = 56  # "31.3.2019", stored 18/03/2019
T_MULTI = 54  # two deadlines
FORM_URL = f"/lavoro/{YEAR}/valori/{RI}/consuntivo/"
PREVIEW_URL = f"/lavoro/{YEAR}/valori/anteprima/"
NUL = "\x00"


def client_of(people, persona: str) -> Client:
    return people.client(persona)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def values_snapshot() -> tuple:
    return tuple(
        Actual.objects.order_by("pk").values_list(
            "pk", "version", "value_number", "value_date", "value_done", "note"
        )
    )


# =========================================================================== 1. NUL characters


def test_a_transition_comment_with_nul_is_refused_naming_the_field(cycle_2019, people):
    client = client_of(people, "controllo")
    before = CycleTransition.objects.count()
    response = client.post(
        reverse("workflow:transition", args=[YEAR, "avvia-monitoraggio"]),
        {"comment": f"Avvio{NUL}"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Commento: contiene un carattere non ammesso" in text_of(response)
    cycle_2019.refresh_from_db()
    assert cycle_2019.status == Cycle.Status.PLANNING
    assert CycleTransition.objects.count() == before


S = Cycle.Status


@pytest.mark.parametrize(
    ("state", "persona", "url_name", "args", "data", "label"),
    [
        (S.SUBMITTED, "oiv", "remark-create", [], {"text": f"Da rivedere{NUL}"}, "Osservazione"),
        (
            S.SUBMITTED,
            "oiv",
            "remark-create",
            [],
            {"text": "x", "section_key": NUL},
            "Sezione della Relazione",
        ),
        (S.SUBMITTED, "oiv", "remark-create", [], {"text": "x", "objective": NUL}, "Obiettivo"),
        (
            S.SUBMITTED,
            "oiv",
            "transition",
            ["valida"],
            {"decision": "valid", "decision_text": f"Validata{NUL}"},
            "Testo della decisione",
        ),
        (
            S.SUBMITTED,
            "oiv",
            "transition",
            ["valida"],
            {"decision": f"valid{NUL}", "decision_text": "Validata"},
            "Decisione",
        ),
        (
            S.REPORTING,
            "controllo",
            "transition",
            ["verifica-coerenza"],
            {"comment": NUL},
            "Commento",
        ),
        (
            S.PUBLISHED,
            "controllo",
            "transition",
            ["errata"],
            {"note": f"Nota{NUL}"},
            "Nota dell'errata corrige",
        ),
    ],
)
def test_workflow_posts_with_nul_are_refused_naming_the_field(
    ready, people, state, persona, url_name, args, data, label
):
    advance(ready, people, state)
    remarks, transitions = Remark.objects.count(), CycleTransition.objects.count()
    response = client_of(people, persona).post(
        reverse(f"workflow:{url_name}", args=[YEAR, *args]), data, follow=True
    )
    assert response.status_code == 200
    assert f"{label}: contiene un carattere non ammesso" in text_of(response)
    assert (Remark.objects.count(), CycleTransition.objects.count()) == (remarks, transitions)
    ready.refresh_from_db()
    assert ready.status == state


def test_a_remark_answer_with_nul_is_refused(ready, people):
    from reports.workflow import services as workflow

    advance(ready, people, S.SUBMITTED)
    target = Target.objects.get(pk=T_AT_LEAST_80)
    remark = workflow.remark_create(
        cycle=ready,
        user=people["oiv"],
        objective=target.indicator.objective,
        text="Perché?",
        reopen=True,
    )
    workflow.cycle_return(cycle=ready, user=people["oiv"])
    response = client_of(people, "controllo").post(
        reverse("workflow:remark-answer", args=[YEAR, remark.pk]),
        {"text": f"Ecco{NUL}"},
        follow=True,
    )
    assert "Risposta: contiene un carattere non ammesso" in text_of(response)
    assert not remark.answers.exists()


def test_an_exclusion_reason_with_nul_is_refused(ready, people):
    advance(ready, people, S.REPORTING)
    target = Target.objects.get(pk=T_AT_LEAST_80)
    response = client_of(people, "controllo").post(
        reverse("workflow:exclude", args=[YEAR, target.pk]), {"reason": f"Doppia{NUL}"}, follow=True
    )
    assert "Motivo dell'esclusione: contiene un carattere non ammesso" in text_of(response)
    assert Target.objects.get(pk=target.pk).status == Target.Status.ACTIVE


@pytest.mark.parametrize(
    "url",
    [
        f"/lavoro/{YEAR}/esporta/valori.csv?periodo=%00",
        f"/lavoro/{YEAR}/esporta/valori.xlsx?periodo=consuntivo%00",
        f"/lavoro/{YEAR}/indicatori/?cerca=%00",
        f"/lavoro/{YEAR}/obiettivi/?cerca=abc%00def&stato=",
        f"/lavoro/{YEAR}/obiettivi/?unita=%00",
        f"/lavoro/{YEAR}/indicatori/?sort=%00",
        f"/lavoro/{YEAR}/piano/obiettivi/nuovo/?strategico=%00",
        f"/lavoro/{YEAR}/valori/?x%00=1",
        "/admin/performance/indicator/?q=%00",
        "/trasparenza/performance/?anno=2019%00",
        f"/lavoro/{YEAR}/valori/%00/consuntivo/",
    ],
)
def test_a_query_parameter_with_nul_is_a_400_in_italian(people, url):
    response = client_of(people, "controllo").get(url)
    assert response.status_code == 400


def test_a_query_parameter_with_nul_on_a_json_address_is_a_400_in_json(cycle_2019):
    response = Client().get(f"/trasparenza/performance/{YEAR}/dati.json?x=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "carattere non ammesso" in response.json()["message"]


def test_a_cookie_with_nul_is_a_400(cycle_2019):
    """A session cookie with NUL made the session's query fail on PostgreSQL (500 on every
    page, public ones too); the site never sets one: 400."""
    for url in ("/trasparenza/performance/", "/lavoro/"):
        client = Client()
        client.cookies["sessionid"] = f"abcdefgh{NUL}ijkl"  # sent quoted: "abcdefgh\000ijkl"
        response = client.get(url)
        assert response.status_code == 400
        assert response.cookies["sessionid"].value == ""  # deleted: the next request is fine
        assert client.get(url).status_code in (200, 302)


def test_a_value_with_nul_in_the_values_form_is_an_error_naming_the_field(people):
    client = client_of(people, "referente-ri")
    data = entry_form_data(client)
    data.update({f"t{T_AT_LEAST_80}-value": f"9{NUL}1", f"t{T_DEADLINE}-note": f"nota{NUL}"})
    before = values_snapshot()
    response = client.post(FORM_URL, data)
    assert response.status_code == 400
    text = text_of(response)
    assert "Valore rilevato: contiene un carattere non ammesso" in text
    assert "Nota: contiene un carattere non ammesso" in text
    assert values_snapshot() == before


def test_nul_in_a_field_whose_label_has_a_percent_sign_is_an_error_not_a_500(people):
    """The override's label has a "%": Django formats the message with the validator's
    parameters, so the label is escaped (found by the property test of the values form)."""
    client = client_of(people, "referente-ri")
    data = entry_form_data(client)
    data[f"t{T_AT_LEAST_80}-override_pct"] = NUL
    response = client.post(FORM_URL, data)
    assert response.status_code == 400
    assert "contiene un carattere non ammesso" in text_of(response)


def test_a_plan_form_field_with_nul_is_an_error_naming_the_field(people):
    client = client_of(people, "controllo")
    count = Perspective.objects.count()
    response = client.post(
        reverse("workspace:plan-perspective-create", args=[YEAR]),
        {"code": "9", "name": f"Nuova{NUL}", "weight": "1"},
    )
    assert response.status_code == 200
    assert "Nome della prospettiva: contiene un carattere non ammesso" in text_of(response)
    assert Perspective.objects.count() == count


def test_the_login_form_with_nul_is_not_a_server_error(cycle_2019):
    user = UserFactory(username="persona")
    client = Client()
    for data in (
        {"username": f"persona{NUL}", "password": PASSWORD},
        {"username": "persona", "password": f"{PASSWORD}{NUL}"},
        {"username": NUL, "password": NUL},
    ):
        response = client.post("/accedi/", data)
        assert response.status_code == 200  # the form again, with Django's Italian error
        assert "non sono ammessi" in text_of(response)
    assert "_auth_user_id" not in client.session
    assert (
        client.post("/accedi/", {"username": user.username, "password": PASSWORD}).status_code
        == 302
    )


def test_the_preview_refuses_nul_in_its_inputs(people):
    response = client_of(people, "referente-ri").post(
        PREVIEW_URL,
        json.dumps({"target": T_AT_LEAST_80, "inputs": {"value": "80", "override_reason": NUL}}),
        content_type="application/json",
    )
    body = response.json()
    assert body["ok"] is False
    assert "carattere non ammesso" in body["message"]


def _driver_refuses_nul(request):
    raise ValueError("A string literal cannot contain NUL (0x00) characters.")  # psycopg2's


def _other_value_error(request):
    raise ValueError("altro")


# this module is the URLconf of the safety-net test: the site, and two views raising errors
urlpatterns = [
    path("nul/", _driver_refuses_nul),
    path("altro/", _other_value_error),
    path("", include("config.urls")),
]


def test_a_database_error_about_nul_is_a_400_not_a_500(settings):
    """The safety net (config.nul.NulInputMiddleware, in settings.MIDDLEWARE): a NUL that reaches
    PostgreSQL anyway (psycopg2 refuses it with this ValueError before sending the query) is a
    400, not a server error; any other ValueError stays a server error."""
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    assert client.post("/nul/", {"x": "y"}).status_code == 400
    assert client.get("/altro/").status_code == 500


# ===================================================================== 2. the preview's JSON body

DEEP = "[" * 50_000 + "]" * 50_000  # 100 KB: over the preview's limit, refused by size
DEEP_SMALL = "[" * 10_000 + "]" * 10_000  # 20 KB: a RecursionError in json.loads


@pytest.mark.parametrize(
    "body",
    [
        '{"target": Infinity}',
        '{"target": -Infinity}',
        '{"target": NaN}',
        '{"target": 1e400}',
        DEEP,
        DEEP_SMALL,
        '{"target": 55, "inputs": ' + DEEP_SMALL + "}",
        '{"target": 55, "inputs": {"value": ' + "[" * 30 + "]" * 30 + "}}",
        "[]",
        "[55]",
        '"55"',
        "null",
        "55",
        '{"target": 99999999999999999999999999}',
        '{"target": ' + "9" * 4000 + "}",
        '{"target": "9999999999999999999999999"}',
        '{"target": -5}',
        '{"target": 0}',
        '{"target": true}',
        '{"target": 55.5}',
        '{"target": "abc"}',
        '{"target": "٥٥"}',
        '{"target": [55]}',
        '{"target": {"id": 55}}',
        '{"inputs": {}}',
        '{"target": 55, "inputs": []}',
        '{"target": 55, "inputs": "80"}',
        '{"target": 55, "inputs": {"value": 80}}',
        '{"target": 55, "inputs": {"value": ["80"]}}',
        '{"target": 55, "inputs": {"value": {"x": 1}}}',
        '{"target": 55, "inputs": {"value": NaN}}',
        '{"target": 55, "inputs": {"value": "' + "8" * 100_000 + '"}}',
        "{",
        "",
        '{"target": 55} trailing',
    ],
)
def test_a_malformed_preview_body_is_a_400_in_json(people, body):
    client = client_of(people, "referente-ri")
    client.raise_request_exception = False
    response = client.post(PREVIEW_URL, body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, body[:80])
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert payload["ok"] is False
    assert payload["message"].startswith("Richiesta non valida")


def test_a_preview_body_over_the_limit_is_refused_before_parsing(people):
    client = client_of(people, "referente-ri")
    body = json.dumps({"target": T_AT_LEAST_80, "inputs": {"note": "x" * 200_000}})
    response = client.post(PREVIEW_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "troppo grande" in response.json()["message"]


def test_a_well_formed_preview_still_works(people):
    client = client_of(people, "referente-ri")
    for target in (T_AT_LEAST_80, str(T_AT_LEAST_80)):  # the page's script sends a string
        response = client.post(
            PREVIEW_URL,
            json.dumps({"target": target, "inputs": {"value": "50", "not_done": False}}),
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["display"] == "63%"


@pytest.mark.parametrize(
    "text",
    [
        DEEP,  # 50,000 nested arrays: a RecursionError in json.loads
        "[" * (json_input.MAX_DEPTH + 1) + "]" * (json_input.MAX_DEPTH + 1),
        '{"a": Infinity}',
        "[-Infinity]",
        "NaN",
        "1e400",
        "9" * 5000,  # over Python's 4,300 digits for int()
        "9" * (json_input.MAX_NUMBER_DIGITS + 1),
        b"\xff\xfe",
        "x" * (json_input.MAX_BYTES + 1),
    ],
)
def test_json_input_refuses_what_would_become_a_server_error(text):
    with pytest.raises(json_input.JSONInputError):
        json_input.loads(text, max_bytes=200_000 if text is DEEP else json_input.MAX_BYTES)


def test_json_input_reads_plain_json():
    text = '{"a": [1, -2.5, "x", null, true], "b": {"c": 12345678901234567890}}'
    assert json_input.loads(text) == json.loads(text)
    nested = "[" * json_input.MAX_DEPTH + "]" * json_input.MAX_DEPTH
    assert json_input.loads(nested) == json.loads(nested)


@pytest.mark.parametrize(
    "multi",
    [
        '{"parts": [{"kind": "at_least", "threshold": Infinity}, {"kind": "milestone"}]}',
        '{"parts": [{"kind": "at_least", "threshold": NaN}, {"kind": "milestone"}]}',
        '{"parts": [{"kind": "at_least", "threshold": 1e400}, {"kind": "milestone"}]}',
        '{"parts": [{"kind": "at_least", "threshold": ' + "9" * 5000 + '}, {"kind": "milestone"}]}',
        DEEP,
        '{"parts": ' + "[" * 2000 + "]" * 2000 + "}",
        '{"kind": "multi", "parts": [' * 400 + "]}" * 400,
    ],
)
def test_a_malformed_multi_part_rule_is_an_error_of_its_field(people, multi):
    client = client_of(people, "controllo")
    indicator = Target.objects.get(pk=T_AT_LEAST_80).indicator
    count = Target.objects.count()
    client.raise_request_exception = False
    response = client.post(
        reverse("workspace:plan-target-create", args=[YEAR, indicator.pk]),
        {"kind": "multi", "multi": multi, "text": "due parti", "weight": "1"},
    )
    assert response.status_code == 200
    assert "Parti (JSON)" in text_of(response)
    form = forms_plan.TargetForm(
        {"kind": "multi", "multi": multi, "text": "t", "weight": "1"},
        cycle=Cycle.objects.get(year=YEAR),
    )
    assert not form.is_valid()
    assert form.errors["multi"]
    assert Target.objects.count() == count


# =============================================================== 3. digits and plausible dates

NON_ASCII_NUMBERS = ["١٢٣", "１２３", "۱۲۳", "१२३", "12٣", "1.２34,5", "²", "٤,٦", "82,٧%"]


@pytest.mark.parametrize("text", NON_ASCII_NUMBERS)
def test_numbers_take_ascii_digits_only(text):
    with pytest.raises(parsing.ParseError, match="cifre da 0 a 9"):
        parsing.parse_number(text)
    with pytest.raises(scoring.ScoringError):
        scoring.dec(text, "soglia")


@pytest.mark.parametrize("text", ["١٣ su ١٤", "１３/１４", "13 su ١٤", "١٣"])
def test_k_of_n_takes_ascii_digits_only(text):
    with pytest.raises(parsing.ParseError):
        parsing.parse_k_of_n(text)


@pytest.mark.parametrize(
    "text", ["٠١/٠١/٢٠١٩", "０１/０１/２０１９", "18/03/٢٠١٩", "٢٠١٩-٠٣-١٨", "١٨.٣.٢٠١٩"]
)
def test_dates_take_ascii_digits_only(text):
    with pytest.raises(parsing.ParseError):
        parsing.parse_date(text)


@pytest.mark.parametrize(
    "value",
    [
        "01/01/0001",
        "31/12/9999",
        "0001-01-01",
        "31/12/1899",
        "01/01/2101",
        dt.date(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59),
    ],
)
def test_dates_out_of_the_plausible_window_are_refused(value):
    with pytest.raises(parsing.ParseError, match="dal 01/01/1900 al 31/12/2100"):
        parsing.parse_date(value)


def test_the_plausible_window_bounds_are_accepted():
    assert parsing.parse_date("01/01/1900") == dt.date(1900, 1, 1)
    assert parsing.parse_date("31/12/2100") == dt.date(2100, 12, 31)


def test_the_cycle_window():
    window = parsing.cycle_date_window(2019)
    assert (window.first, window.last) == (dt.date(2018, 1, 1), dt.date(2021, 12, 31))
    assert parsing.parse_date("01/01/2018", window=window) == dt.date(2018, 1, 1)
    assert parsing.parse_date("31/12/2021", window=window) == dt.date(2021, 12, 31)
    for text in ("31/12/2017", "01/01/2022"):
        with pytest.raises(parsing.ParseError, match=r"ciclo 2019: dal 01/01/2018 al 31/12/2021"):
            parsing.parse_date(text, window=window)


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        (f"t{T_AT_LEAST_80}-value", "١٢٣", "Valore rilevato: «١٢٣»: usare solo le cifre da 0 a 9"),
        (f"t{T_AT_LEAST_80}-value", "１２３", "Valore rilevato: «１２３»: usare solo le cifre"),
        (f"t{T_AT_LEAST_80}-override_pct", "٩٠", "Rettifica: % di raggiungimento: «٩٠»"),
        (
            f"t{T_DEADLINE}-date",
            "01/01/0001",
            "Data di realizzazione: «01/01/0001» è fuori dall'intervallo ammesso per il ciclo "
            "2019: dal 01/01/2018 al 31/12/2021",
        ),
        (f"t{T_DEADLINE}-date", "31/12/9999", "Data di realizzazione: «31/12/9999» è fuori"),
        (f"t{T_DEADLINE}-date", "31/12/2017", "Data di realizzazione: «31/12/2017» è fuori"),
        (f"t{T_MULTI}-p0-date", "01/01/2030", "è fuori dall'intervallo ammesso per il ciclo 2019"),
        ("t92-k", "١٣ su ١٤", "Quanti su quanti: «١٣ su ١٤»"),
    ],
)
def test_the_values_form_refuses_implausible_numbers_and_dates(people, field, typed, message):
    client = client_of(people, "referente-ri")
    data = entry_form_data(client)
    data[field] = typed
    before = values_snapshot()
    response = client.post(FORM_URL, data)
    assert response.status_code == 400
    assert message in text_of(response)
    assert values_snapshot() == before


@pytest.mark.parametrize(
    ("target", "inputs", "message"),
    [
        (T_AT_LEAST_80, {"value": "١٢٣"}, "cifre da 0 a 9"),
        (T_DEADLINE, {"date": "01/01/0001"}, "fuori dall'intervallo ammesso per il ciclo 2019"),
        (T_DEADLINE, {"date": "31/12/9999"}, "fuori dall'intervallo ammesso per il ciclo 2019"),
    ],
)
def test_the_preview_refuses_implausible_numbers_and_dates(people, target, inputs, message):
    response = client_of(people, "referente-ri").post(
        PREVIEW_URL,
        json.dumps({"target": target, "inputs": inputs}),
        content_type="application/json",
    )
    body = response.json()
    assert body["ok"] is False
    assert message in body["message"]


def test_parse_row_uses_the_cycle_window_it_is_given():
    rule = {"kind": "deadline", "due": "2019-03-31"}
    assert parse_row(rule, {"date": "01/01/2030"}).errors == {}  # plausible: no cycle given
    parsed = parse_row(rule, {"date": "01/01/2030"}, window=parsing.cycle_date_window(2019))
    assert "ciclo 2019" in parsed.errors["date"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "deadline", "due": "31/12/9999"}, "due", "Scadenza (gg/mm/aaaa): «31/12/9999»"),
        ({"kind": "deadline", "due": "01/01/0001"}, "due", "ciclo 2019: dal 01/01/2018"),
        ({"kind": "deadline", "due": "31/07/2025"}, "due", "ciclo 2019: dal 01/01/2018"),
        ({"kind": "at_least", "threshold": "١٢٣"}, "threshold", "usare solo le cifre da 0 a 9"),
        ({"kind": "k_of_n", "n": "１４"}, "n", "usare solo le cifre da 0 a 9"),
        (
            {
                "kind": "multi",
                "multi": '[{"kind": "deadline", "due": "0001-01-01"}, {"kind": "milestone"}]',
            },
            "multi",
            "ciclo 2019: dal 01/01/2018",
        ),
        (
            {
                "kind": "multi",
                "multi": '[{"kind": "at_least", "threshold": "١٢٣"}, {"kind": "milestone"}]',
            },
            "multi",
            "non è un numero",
        ),
    ],
)
def test_the_target_form_refuses_implausible_numbers_and_dates(cycle_2019, data, field, message):
    form = forms_plan.TargetForm({"text": "t", "weight": "1", **data}, cycle=cycle_2019)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_the_target_form_accepts_a_deadline_in_the_cycle_window(cycle_2019):
    form = forms_plan.TargetForm(
        {"text": "t", "weight": "1", "kind": "deadline", "due": "31/07/2020"}, cycle=cycle_2019
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["rule"]["due"] == dt.date(2020, 7, 31)


def test_a_plan_update_deliberation_date_is_within_the_cycle_window(cycle_2019):
    form = forms_plan.ObjectiveNeutralizeForm(
        {"document_number": "12", "document_date": "01/01/0001", "reason": "x"}, cycle=cycle_2019
    )
    assert not form.is_valid()
    assert "ciclo 2019" in " ".join(form.errors["document_date"])


@pytest.mark.parametrize("typed", ["٢٠١٩", "２０１９"])
def test_whole_numbers_of_the_plan_forms_take_ascii_digits_only(typed):
    form = forms_plan.IndicatorForm(
        {"name": "i", "direction": Indicator.Direction.choices[0][0], "baseline_year": typed}
    )
    assert not form.is_valid()
    assert "cifre da 0 a 9" in " ".join(form.errors["baseline_year"])
    rules = forms_plan.CycleRulesForm({"points_per_day": "1", "floor": "0", "grace_days": "٣"})
    assert not rules.is_valid()
    assert "cifre da 0 a 9" in " ".join(rules.errors["grace_days"])


@pytest.mark.parametrize("objective", ["²", "١", "9" * 40])
def test_an_odd_objective_id_in_a_remark_is_not_a_server_error(ready, people, objective):
    advance(ready, people, S.SUBMITTED)  # the OIV may write remarks
    client = client_of(people, "oiv")
    client.raise_request_exception = False
    response = client.post(
        reverse("workflow:remark-create", args=[YEAR]), {"text": "x", "objective": objective}
    )
    assert response.status_code in (302, 404)
    assert Remark.objects.count() == 0


@pytest.mark.parametrize("version", ["²", "١", "9" * 40])
def test_an_odd_version_in_the_values_form_is_not_a_server_error(people, version):
    client = client_of(people, "referente-ri")
    client.raise_request_exception = False
    data = entry_form_data(client)
    data.update({f"t{T_AT_LEAST_80}-value": "91", f"t{T_AT_LEAST_80}-version": version})
    before = values_snapshot()
    response = client.post(FORM_URL, data)
    assert response.status_code == 400
    assert "Versione del valore non valida" in text_of(response)
    assert values_snapshot() == before


def test_the_relazione_pages_counts_take_ascii_digits_only():
    from reports.relazione.forms import bounded_int

    assert bounded_int("١٢", low=1, high=20, default=3) == 3  # int() reads it as 12
    assert bounded_int("２", low=1, high=20, default=3) == 3
    assert bounded_int(" 12 ", low=1, high=20, default=3) == 12
    assert bounded_int("-5", low=1, high=20, default=3) == 1


def test_stored_values_and_2019_dates_still_read(cycle_2019):
    # what the application writes and the 2019 data hold stays readable
    assert parsing.parse_number("1.234,5") == Decimal("1234.5")
    assert parsing.parse_date("6.12.2020", window=parsing.cycle_date_window(2019)) == dt.date(
        2020, 12, 6
    )
    assert scoring.dec("4.6") == Decimal("4.6")
    assert scoring.dec("1E+1") == Decimal(10)
