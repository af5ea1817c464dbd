"""Managing the plan (/lavoro/<year>/piano/): who may do what, the services of the plan update
(revision, neutralization), the measurement rules, starting next year's cycle, the audit trail.

The test database starts with the 2019 cycle loaded (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.urls import reverse

from organization import roles
from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit
from performance import scoring, selectors
from performance.forms_plan import CycleRulesForm
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)
from performance.services import plan as services

PERSONAS = ("anonimo", "senza_ruolo", "referente", "controllo", "oiv")
REFUSED = ("anonimo", "senza_ruolo", "referente", "oiv")

# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def users(personas) -> dict:
    """The personas (tests/personas.py) under this file's names."""
    return {
        "anonimo": personas.anonymous,
        "senza_ruolo": personas.no_role,
        "referente": personas.referent,
        "controllo": personas.controllo,
        "oiv": personas.oiv,
    }


@pytest.fixture
def controllo(users):
    return users["controllo"]


def _client(client, users, persona):
    if users[persona] is not None:
        client.force_login(users[persona])
    return client


@pytest.fixture
def as_controllo(client, users):
    return _client(client, users, "controllo")


def _url(name, *args):
    return reverse(f"workspace:{name}", args=args)


def _quesiti(cycle) -> Target:
    """The Ente-level-less target "n. quesiti ... ≥ a 65" (Promozione), measured 90 in 2019."""
    return Target.objects.get(
        indicator__objective__cycle=cycle,
        indicator__name__startswith="n. quesiti che riguardano il servizio assistenza avanzato",
        text="≥ a 65",
    )


def _coordinamento(cycle) -> Target:
    """Servizio Affari Generali: "Formalizzazione del gruppo di coordinamento", not done (0%)."""
    return Target.objects.get(
        indicator__objective__cycle=cycle,
        unit__key="affari-generali",
        indicator__name__startswith="Formalizzazione del gruppo di coordinamento",
    )


def _aggiornamento(cycle) -> PlanDocument:
    return PlanDocument.objects.get(cycle=cycle, key="aggiornamento")


@pytest.fixture
def plan(cycle_2019):
    """The objects the pages work on, plus empty ones that may be deleted."""
    perspective = Perspective.objects.filter(cycle=cycle_2019).order_by("order").first()
    goal = StrategicObjective.objects.filter(cycle=cycle_2019).order_by("order").first()
    target = _quesiti(cycle_2019)
    indicator = target.indicator
    objective = indicator.objective
    empty_perspective = services.perspective_create(
        cycle=cycle_2019, user=None, code="9", name="Prospettiva vuota"
    )
    empty_goal = services.strategic_objective_create(
        cycle=cycle_2019, user=None, perspective=perspective, code="9.9", title="Vuoto"
    )
    empty_objective = services.objective_create(
        cycle=cycle_2019,
        user=None,
        kind="operational",
        title="Obiettivo senza indicatori",
        strategic_objective=goal,
    )
    empty_indicator = services.indicator_create(
        objective=objective, user=None, name="Indicatore senza target"
    )
    free_target = services.target_create(
        indicator=indicator,
        user=None,
        text="≥ 1",
        rule={"kind": "at_least", "threshold": 1},
    )
    return {
        "cycle": cycle_2019,
        "perspective": perspective,
        "goal": goal,
        "objective": objective,
        "indicator": indicator,
        "target": target,
        "unit": Unit.objects.get(cycle=cycle_2019, key="registro-imprese"),
        "document": _aggiornamento(cycle_2019),
        "empty_perspective": empty_perspective,
        "empty_goal": empty_goal,
        "empty_objective": empty_objective,
        "empty_indicator": empty_indicator,
        "free_target": free_target,
    }


def rules_post(cycle, **overrides) -> dict:
    """The rules page's POST data for the cycle's current rules (then ``overrides``)."""
    initial, rounding, bands = CycleRulesForm.initial_from(cycle.rules)

    def text(value):
        if isinstance(value, Decimal):
            return scoring.fmt(value)
        if value is None:
            return ""
        return str(value)

    data = {
        "points_per_day": text(initial["points_per_day"]),
        "floor": text(initial["floor"]),
        "grace_days": text(initial["grace_days"]),
        "weight_total": text(initial["weight_total"]),
        "arr-TOTAL_FORMS": str(len(rounding) + 1),
        "arr-INITIAL_FORMS": str(len(rounding)),
        "fasce-TOTAL_FORMS": str(len(bands) + 1),
        "fasce-INITIAL_FORMS": str(len(bands)),
    }
    if initial["roll_up_uses_rounded"]:
        data["roll_up_uses_rounded"] = "on"
    for name, value in initial.items():
        if name.startswith("aggregation_"):
            data[name] = value
    for index, row in enumerate(rounding):
        data[f"arr-{index}-level"] = row["level"]
        data[f"arr-{index}-decimals"] = str(row["decimals"])
        data[f"arr-{index}-mode"] = row["mode"]
    for index, row in enumerate(bands):
        data[f"fasce-{index}-key"] = row["key"]
        data[f"fasce-{index}-label"] = row["label"]
        data[f"fasce-{index}-minimum"] = scoring.fmt(row["minimum"])
        if row["inclusive"]:
            data[f"fasce-{index}-inclusive"] = "on"
    data.update(overrides)
    return data


# (url name, args from the plan fixture, POST data from the plan fixture, GET allowed)
PAGES = [
    (
        "plan-perspective-create",
        lambda p: [],
        lambda p: {"code": "8", "name": "Nuova", "weight": "1"},
        True,
    ),
    (
        "plan-perspective",
        lambda p: [p["perspective"].pk],
        lambda p: {"code": p["perspective"].code, "name": "Nome cambiato", "weight": "2"},
        True,
    ),
    ("plan-perspective-delete", lambda p: [p["empty_perspective"].pk], lambda p: {}, False),
    (
        "plan-strategic-create",
        lambda p: [],
        lambda p: {
            "perspective": p["perspective"].pk,
            "code": "8.1",
            "title": "Nuovo",
            "weight": "1",
        },
        True,
    ),
    (
        "plan-strategic",
        lambda p: [p["goal"].pk],
        lambda p: {
            "perspective": p["goal"].perspective_id,
            "code": p["goal"].code,
            "title": "Titolo cambiato",
            "weight": "1",
        },
        True,
    ),
    ("plan-strategic-delete", lambda p: [p["empty_goal"].pk], lambda p: {}, False),
    (
        "plan-objective-create",
        lambda p: [],
        lambda p: {
            "kind": "operational",
            "strategic_objective": p["goal"].pk,
            "title": "Nuovo obiettivo",
            "weight": "1",
        },
        True,
    ),
    (
        "plan-objective",
        lambda p: [p["objective"].pk],
        lambda p: {
            "kind": p["objective"].kind,
            "strategic_objective": p["objective"].strategic_objective_id,
            "title": "Titolo cambiato",
            "weight": "1",
        },
        True,
    ),
    ("plan-objective-delete", lambda p: [p["empty_objective"].pk], lambda p: {}, False),
    (
        "plan-objective-neutralize",
        lambda p: [p["objective"].pk],
        lambda p: {"document": p["document"].pk, "reason": "Evento annullato"},
        True,
    ),
    (
        "plan-indicator-create",
        lambda p: [p["objective"].pk],
        lambda p: {"name": "Nuovo indicatore", "direction": "higher"},
        True,
    ),
    (
        "plan-indicator",
        lambda p: [p["indicator"].pk],
        lambda p: {"name": "Nome cambiato", "direction": "higher", "unit_of_measure": "n."},
        True,
    ),
    ("plan-indicator-delete", lambda p: [p["empty_indicator"].pk], lambda p: {}, False),
    (
        "plan-target-create",
        lambda p: [p["indicator"].pk],
        lambda p: {"text": "≥ 5", "kind": "at_least", "threshold": "5", "weight": "1"},
        True,
    ),
    (
        "plan-target",
        lambda p: [p["target"].pk],
        lambda p: {
            "unit": p["target"].unit_id,
            "text": "≥ 70",
            "kind": "at_least",
            "threshold": "70",
            "weight": "1",
        },
        True,
    ),
    ("plan-target-delete", lambda p: [p["free_target"].pk], lambda p: {}, False),
    (
        "plan-target-revise",
        lambda p: [p["target"].pk],
        lambda p: {
            "text": "≥ 70",
            "kind": "at_least",
            "threshold": "70",
            "document": p["document"].pk,
            "reason": "Nuove risorse",
        },
        True,
    ),
    (
        "plan-unit",
        lambda p: [p["unit"].pk],
        lambda p: {"aggregation": "own_rows", "weight": "2"},
        True,
    ),
    ("plan-rules", lambda p: [], lambda p: rules_post(p["cycle"], grace_days="5"), True),
    ("plan-start-next", lambda p: [], lambda p: {}, True),
]
PAGE_IDS = [page[0] for page in PAGES]


def snapshot(cycle) -> tuple:
    """Everything a plan page may change (counts, histories, logs, rules, names, units)."""
    cycle.refresh_from_db()
    return (
        Cycle.objects.count(),
        Perspective.objects.count(),
        StrategicObjective.objects.count(),
        Objective.objects.count(),
        Indicator.objects.count(),
        Target.objects.count(),
        PlanDocument.objects.count(),
        Objective.history.count(),
        Indicator.history.count(),
        Target.history.count(),
        Cycle.history.count(),
        LogEntry.objects.count(),
        json.dumps(cycle.rules, sort_keys=True),
        tuple(Perspective.objects.order_by("id").values_list("code", "name", "weight")),
        tuple(StrategicObjective.objects.order_by("id").values_list("code", "title")),
        tuple(Unit.objects.order_by("id").values_list("aggregation", "weight")),
        tuple(Objective.objects.order_by("id").values_list("title", "status")),
        tuple(Target.objects.order_by("id").values_list("text", "original_text")),
    )


# ----------------------------------------------------------------------------- who may do what


@pytest.mark.parametrize("persona", PERSONAS)
def test_plan_page_is_read_by_every_persona_of_the_cycle(client, users, plan, persona):
    response = _client(client, users, persona).get(_url("plan", 2019))
    if persona == "anonimo":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        return
    if persona == "senza_ruolo":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert "Piano della performance 2019" in html
    assert "Sostenere la competitività del sistema imprenditoriale" in html
    edit_link = _url("plan-target", 2019, plan["target"].pk)
    if persona == "controllo":
        assert edit_link in html
        assert _url("plan-start-next", 2019) in html
    else:  # read-only: no edit links
        assert edit_link not in html
        assert _url("plan-rules", 2019) not in html


def test_plan_page_in_a_fixed_number_of_queries(as_controllo, plan, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        response = as_controllo.get(_url("plan", 2019))
    assert response.status_code == 200


def test_plan_of_an_unknown_year_is_404(as_controllo):
    assert as_controllo.get(_url("plan", 1999)).status_code == 404


@pytest.mark.parametrize("persona", REFUSED)
@pytest.mark.parametrize(("name", "args", "data", "has_get"), PAGES, ids=PAGE_IDS)
def test_writes_are_refused_and_change_nothing(
    client, users, plan, persona, name, args, data, has_get
):
    client = _client(client, users, persona)
    url = _url(name, 2019, *args(plan))
    before = snapshot(plan["cycle"])
    responses = [client.post(url, data(plan))]
    if has_get:
        responses.append(client.get(url))
    for response in responses:
        if persona == "anonimo":
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))
        else:
            assert response.status_code == 403
    assert snapshot(plan["cycle"]) == before


@pytest.mark.parametrize(("name", "args", "data", "has_get"), PAGES, ids=PAGE_IDS)
def test_controllo_di_gestione_may_write(as_controllo, plan, name, args, data, has_get):
    url = _url(name, 2019, *args(plan))
    if has_get:
        assert as_controllo.get(url).status_code == 200
    else:
        assert as_controllo.get(url).status_code == 405
    before = snapshot(plan["cycle"])
    response = as_controllo.post(url, data(plan))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert snapshot(plan["cycle"]) != before


def test_objects_of_another_cycle_are_404(as_controllo, plan, controllo):
    services.cycle_start_next(cycle=plan["cycle"], user=controllo)
    target_2020 = _quesiti(Cycle.objects.get(year=2020))
    assert as_controllo.get(_url("plan-target", 2019, target_2020.pk)).status_code == 404
    assert as_controllo.get(_url("plan-target", 2020, target_2020.pk)).status_code == 200


# ------------------------------------------------------------------------- create, edit, delete


def test_create_the_whole_chain_through_the_pages(as_controllo, cycle_2019):
    response = as_controllo.post(
        _url("plan-perspective-create", 2019), {"code": "5", "name": "Innovazione", "weight": "1"}
    )
    perspective = Perspective.objects.get(cycle=cycle_2019, code="5")
    assert response["Location"].endswith(f"#prospettiva-{perspective.pk}")
    as_controllo.post(
        _url("plan-strategic-create", 2019),
        {"perspective": perspective.pk, "code": "5.1", "title": "Digitale", "weight": "1,5"},
    )
    goal = StrategicObjective.objects.get(cycle=cycle_2019, code="5.1")
    assert goal.weight == Decimal("1.5")
    as_controllo.post(
        _url("plan-objective-create", 2019),
        {"kind": "strategic", "strategic_objective": goal.pk, "title": "Sportello digitale"},
    )
    # weight is required
    objective = Objective.objects.filter(title="Sportello digitale").first()
    assert objective is None
    as_controllo.post(
        _url("plan-objective-create", 2019),
        {
            "kind": "strategic",
            "strategic_objective": goal.pk,
            "title": "Sportello digitale",
            "weight": "1",
        },
    )
    objective = Objective.objects.get(title="Sportello digitale")
    response = as_controllo.post(
        _url("plan-indicator-create", 2019, objective.pk),
        {
            "name": "Data di attivazione",
            "unit_of_measure": "data",
            "direction": "higher",
            "baseline_value": "1.234,5",
            "baseline_year": "2018",
            "baseline_text": "n. 1.234,5 nel 2018",
            "source": "Gedoc",
        },
    )
    indicator = Indicator.objects.get(objective=objective)
    assert response["Location"] == _url("plan-target-create", 2019, indicator.pk)
    assert indicator.baseline_value == Decimal("1234.5")
    response = as_controllo.post(
        _url("plan-target-create", 2019, indicator.pk),
        {"text": "entro il 31.07.2019", "kind": "deadline", "due": "31/07/2019", "weight": "1"},
    )
    target = Target.objects.get(indicator=indicator)
    assert target.rule == {"kind": "deadline", "due": "2019-07-31"}
    assert target.unit is None  # the Ente figure
    # the new objective is scored: no value yet, so it is listed as not measured
    score = selectors.cycle_score(cycle=cycle_2019)
    node = score.find("strategic-objective:5.1")
    assert node is not None and node.achievement is None
    page = as_controllo.get(_url("plan", 2019)).content.decode()
    assert "Sportello digitale" in page and "entro il 31/07/2019" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "at_least", "threshold": ""}, "threshold", "soglia: numero mancante"),
        ({"kind": "at_most", "threshold": "dieci"}, "threshold", "«dieci» non è un numero"),
        (
            {"kind": "rating", "threshold": "6", "scale_min": "1", "scale_max": "5"},
            "threshold",
            "soglia: fuori dalla scala di valutazione",
        ),
        (
            {"kind": "change", "change_pct": "0"},
            "change_pct",
            "variazione obiettivo: non può essere 0",
        ),
        (
            {"kind": "change", "change_pct": "-20", "baseline": "0"},
            "baseline",
            "valore di partenza: non può essere 0 per una variazione in %",
        ),
        ({"kind": "deadline", "due": ""}, "due", "scadenza: data mancante"),
        ({"kind": "deadline", "due": "31/02/2020"}, "due", "non è una data esistente"),
        (
            {"kind": "thresholds", "minimum": "5", "target_value": "5"},
            "target_value",
            "valore minimo e valore obiettivo non possono coincidere",
        ),
        (
            {"kind": "thresholds", "minimum": "3", "target_value": "5", "minimum_score": "120"},
            "minimum_score",
            "punteggio al minimo: fuori da 0–100",
        ),
        ({"kind": "k_of_n", "n": "0"}, "n", "n (totale): deve essere maggiore di 0"),
        ({"kind": "multi", "multi": "[{"}, "multi", "JSON non valido"),
        (
            {"kind": "multi", "multi": '[{"kind": "milestone"}]'},
            "multi",
            "obiettivo in più parti: servono almeno due parti",
        ),
        (
            {"kind": "multi", "multi": '[{"kind": "at_least"}, {"kind": "milestone"}]'},
            "multi",
            "soglia: numero mancante",
        ),
    ],
)
def test_a_wrong_rule_is_explained_next_to_its_field(as_controllo, plan, data, field, message):
    before = snapshot(plan["cycle"])
    response = as_controllo.post(
        _url("plan-target-create", 2019, plan["indicator"].pk),
        {"text": "un target", "weight": "1", **data},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    html = response.content.decode()
    assert f'id="id_{field}-errori"' in html
    assert snapshot(plan["cycle"]) == before


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"kind": "at_least", "threshold": "4,4"}, {"kind": "at_least", "threshold": "4.4"}),
        ({"kind": "at_most", "threshold": "-11"}, {"kind": "at_most", "threshold": "-11"}),
        (
            {"kind": "change", "change_pct": "-20", "baseline": "524"},
            {"kind": "change", "change_pct": "-20", "baseline": "524"},
        ),
        ({"kind": "milestone"}, {"kind": "milestone"}),
        (
            {"kind": "rating", "threshold": "4,5"},
            {"kind": "rating", "threshold": "4.5", "scale_min": "1", "scale_max": "5"},
        ),
        (
            {"kind": "thresholds", "minimum": "3", "target_value": "5", "minimum_score": "50"},
            {"kind": "thresholds", "minimum": "3", "target": "5", "minimum_score": "50"},
        ),
        ({"kind": "k_of_n", "n": "14"}, {"kind": "k_of_n", "n": "14"}),
        (
            {
                "kind": "multi",
                "multi": '{"parts": [{"kind": "deadline", "due": "2019-04-30"}, '
                '{"kind": "at_least", "threshold": 2}], "labels": ["a", "b"]}',
            },
            {
                "kind": "multi",
                "parts": [
                    {"kind": "deadline", "due": "2019-04-30"},
                    {"kind": "at_least", "threshold": "2"},
                ],
                "labels": ["a", "b"],
                "combine": "mean",
            },
        ),
    ],
)
def test_each_rule_kind_through_the_friendly_form(as_controllo, plan, data, rule):
    response = as_controllo.post(
        _url("plan-target-create", 2019, plan["indicator"].pk),
        {"text": "un target", "weight": "1", "unit": plan["unit"].pk, **data},
    )
    assert response.status_code == 302
    target = Target.objects.filter(indicator=plan["indicator"]).latest("id")
    assert target.rule == rule
    assert target.unit == plan["unit"]
    # and the edit page shows it back in the same friendly form
    form = as_controllo.get(_url("plan-target", 2019, target.pk)).context["form"]
    assert form.initial["kind"] == rule["kind"]


def test_edit_page_shows_dates_the_italian_way_and_multi_as_json(as_controllo, cycle_2019):
    deadline = Target.objects.filter(
        indicator__objective__cycle=cycle_2019, rule__kind="deadline"
    ).first()
    html = as_controllo.get(_url("plan-target", 2019, deadline.pk)).content.decode()
    due = dt.date.fromisoformat(deadline.rule["due"])
    assert f'value="{due:%d/%m/%Y}"' in html
    multi = Target.objects.filter(
        indicator__objective__cycle=cycle_2019, rule__kind="multi"
    ).first()
    response = as_controllo.get(_url("plan-target", 2019, multi.pk))
    parsed = json.loads(response.context["form"].initial["multi"])
    assert len(parsed["parts"]) == 2


def test_an_individual_objective_needs_its_position(as_controllo, cycle_2019):
    before = Objective.objects.count()
    response = as_controllo.post(
        _url("plan-objective-create", 2019),
        {"kind": "individual", "title": "Obiettivo del SG", "weight": "1"},
    )
    assert response.status_code == 200
    assert "Un obiettivo individuale richiede la posizione." in response.content.decode()
    assert Objective.objects.count() == before
    position = Position.objects.get(cycle=cycle_2019, key="sg")
    as_controllo.post(
        _url("plan-objective-create", 2019),
        {"kind": "individual", "title": "Obiettivo del SG", "weight": "1", "position": position.pk},
    )
    assert Objective.objects.get(title="Obiettivo del SG").position == position


def test_a_duplicate_code_is_refused(as_controllo, plan):
    response = as_controllo.post(
        _url("plan-perspective-create", 2019),
        {"code": plan["perspective"].code, "name": "Doppione", "weight": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        f"Esiste già una prospettiva con codice «{plan['perspective'].code}»."
    ]


@pytest.mark.parametrize(
    ("name", "key", "message"),
    [
        ("plan-perspective-delete", "perspective", "La prospettiva ha obiettivi strategici"),
        ("plan-strategic-delete", "goal", "All'obiettivo strategico sono collegati"),
        ("plan-objective-delete", "objective", "L'obiettivo ha indicatori"),
        ("plan-indicator-delete", "indicator", "L'indicatore ha dei target"),
        ("plan-target-delete", "target", "Il target ha valori rilevati"),
    ],
)
def test_deletion_is_refused_when_something_depends_on_it(as_controllo, plan, name, key, message):
    before = snapshot(plan["cycle"])
    response = as_controllo.post(_url(name, 2019, plan[key].pk), follow=True)
    assert message in html.unescape(response.content.decode())
    assert snapshot(plan["cycle"]) == before


@pytest.mark.parametrize(
    ("name", "key", "model"),
    [
        ("plan-perspective-delete", "empty_perspective", Perspective),
        ("plan-strategic-delete", "empty_goal", StrategicObjective),
        ("plan-objective-delete", "empty_objective", Objective),
        ("plan-indicator-delete", "empty_indicator", Indicator),
        ("plan-target-delete", "free_target", Target),
    ],
)
def test_deletion_when_nothing_depends_on_it(as_controllo, plan, controllo, name, key, model):
    pk = plan[key].pk
    response = as_controllo.post(_url(name, 2019, pk), follow=True)
    assert "eliminat" in response.content.decode()
    assert not model.objects.filter(pk=pk).exists()
    if hasattr(model, "history"):
        record = model.history.filter(id=pk).latest("history_date")
        assert record.history_type == "-" and record.history_user == controllo
    else:
        assert LogEntry.objects.filter(object_id=str(pk), user=controllo).exists()


def test_unit_aggregation_and_weight(as_controllo, cycle_2019, controllo):
    unit = Unit.objects.get(cycle=cycle_2019, key="affari-generali")
    response = as_controllo.post(
        _url("plan-unit", 2019, unit.pk), {"aggregation": "objectives", "weight": "2,5"}
    )
    assert response.status_code == 302
    unit.refresh_from_db()
    assert (unit.aggregation, unit.weight) == ("objectives", Decimal("2.5"))
    score = selectors.cycle_score(cycle=cycle_2019)
    assert selectors.unit_subtree(score=score, name_or_key="affari-generali").method == "objectives"
    new, previous = unit.history.order_by("-history_date", "-history_id")[:2]  # who, before/after
    assert new.history_user == controllo
    changes = {c.field: (c.old, c.new) for c in new.diff_against(previous).changes}
    assert changes == {"aggregation": ("", "objectives"), "weight": (Decimal(1), Decimal("2.5"))}


# --------------------------------------------------------------------------------- plan update


def test_revise_keeps_the_original_and_a_second_revision_keeps_the_first(cycle_2019, controllo):
    target = _quesiti(cycle_2019)
    assert (target.text, target.original_text) == ("≥ a 65", "")
    document = _aggiornamento(cycle_2019)
    services.target_revise(
        target=target,
        user=controllo,
        text="≥ 70",
        rule={"kind": "at_least", "threshold": 70},
        reason="Più risorse assegnate",
        document=document,
    )
    target.refresh_from_db()
    assert target.text == "≥ 70"
    assert target.rule == {"kind": "at_least", "threshold": "70"}
    assert target.original_text == "≥ a 65"
    assert target.original_rule == {"kind": "at_least", "threshold": "65"}
    assert target.revised_by == document

    services.target_revise(
        target=target,
        user=controllo,
        text="≥ 80",
        rule={"kind": "at_least", "threshold": 80},
        reason="Seconda revisione",
        document=document,
    )
    target.refresh_from_db()
    assert target.text == "≥ 80"
    assert (target.original_text, target.original_rule["threshold"]) == ("≥ a 65", "65")

    record = target.history.latest("history_date")
    assert record.history_user == controllo
    assert "Seconda revisione" in record.history_change_reason
    # the revised rule is the one scored: 90 against 80 is still 100%
    score = selectors.cycle_score(cycle=cycle_2019)
    row = next(r for r in score.units.all_rows() if r.key == f"t{target.pk}")
    assert row.achievement == 100


def test_revising_a_target_revised_in_2019_keeps_its_first_original(cycle_2019, controllo):
    target = Target.objects.filter(
        indicator__objective__cycle=cycle_2019, original_text="entro il 30.9.2019"
    ).first()
    services.target_revise(
        target=target,
        user=controllo,
        text="entro il 20.12.2019",
        rule={"kind": "deadline", "due": dt.date(2019, 12, 20)},
        reason="Ulteriore rinvio",
        document_number="90",
        document_date=dt.date(2019, 11, 20),
    )
    target.refresh_from_db()
    assert target.original_text == "entro il 30.9.2019"
    assert target.original_rule == {"kind": "deadline", "due": "2019-09-30"}
    assert target.rule == {"kind": "deadline", "due": "2019-12-20"}
    # the deliberation was created on the fly, as a plan update
    assert target.revised_by.kind == PlanDocument.Kind.AGGIORNAMENTO
    assert (target.revised_by.number, target.revised_by.date) == ("90", dt.date(2019, 11, 20))


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"reason": ""}, "reason", "Indicare il motivo della revisione del target."),
        ({"text": ""}, "text", "Indicare il nuovo target"),
        ({"rule": {"kind": "at_least"}}, "rule", "soglia: numero mancante"),
        ({"rule": {"kind": "boh"}}, "rule", "regola: tipo «boh» sconosciuto"),
        (
            {"text": "≥ a 65", "rule": {"kind": "at_least", "threshold": 65}},
            "text",
            "uguale a quello attuale",
        ),
        ({"document": None}, "document", "Indicare la deliberazione di aggiornamento"),
        (
            {"document": None, "document_number": "12"},
            "document_date",
            "Indicare la data della deliberazione",
        ),
        ({"document": "piano"}, "document", "Scegliere una deliberazione di aggiornamento"),
    ],
)
def test_revise_is_validated(cycle_2019, controllo, kwargs, field, message):
    target = _quesiti(cycle_2019)
    arguments = {
        "target": target,
        "user": controllo,
        "text": "≥ 70",
        "rule": {"kind": "at_least", "threshold": 70},
        "reason": "motivo",
        "document": _aggiornamento(cycle_2019),
        **kwargs,
    }
    if arguments["document"] == "piano":
        arguments["document"] = PlanDocument.objects.get(cycle=cycle_2019, key="piano")
    before = snapshot(cycle_2019)
    with pytest.raises(ValidationError) as raised:
        services.target_revise(**arguments)
    assert any(message in m for m in raised.value.message_dict[field])
    assert snapshot(cycle_2019) == before


def test_revise_page_shows_the_original_beside_the_current(as_controllo, cycle_2019):
    target = _quesiti(cycle_2019)
    response = as_controllo.post(
        _url("plan-target-revise", 2019, target.pk),
        {
            "text": "≥ 70",
            "kind": "at_least",
            "threshold": "70",
            "document": "",
            "document_number": "101",
            "document_date": "15/09/2019",
            "reason": "Richiesta della Giunta",
        },
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.original_text == "≥ a 65"
    assert target.revised_by.number == "101"
    html = as_controllo.get(_url("plan", 2019)).content.decode()
    assert "Originario: ≥ a 65" in html
    assert "Richiesta della Giunta" in html
    html = as_controllo.get(_url("plan-target-revise", 2019, target.pk)).content.decode()
    assert "Target originario (Piano approvato)" in html and "≥ a 65" in html and "≥ 70" in html


def test_revise_page_without_a_deliberation(as_controllo, cycle_2019):
    target = _quesiti(cycle_2019)
    response = as_controllo.post(
        _url("plan-target-revise", 2019, target.pk),
        {"text": "≥ 70", "kind": "at_least", "threshold": "70", "document": "", "reason": "x"},
    )
    assert response.status_code == 200
    assert "Scegliere la deliberazione di aggiornamento" in response.content.decode()
    target.refresh_from_db()
    assert target.text == "≥ a 65"


def test_revise_page_refuses_both_a_chosen_and_a_new_deliberation(as_controllo, cycle_2019):
    target = _quesiti(cycle_2019)
    response = as_controllo.post(
        _url("plan-target-revise", 2019, target.pk),
        {
            "text": "≥ 70",
            "kind": "at_least",
            "threshold": "70",
            "document": _aggiornamento(cycle_2019).pk,
            "document_number": "101",
            "document_date": "15/09/2019",
            "reason": "x",
        },
    )
    assert response.status_code == 200
    assert "non entrambe" in response.context["form"].errors["document"][0]
    target.refresh_from_db()
    assert target.text == "≥ a 65"


def test_neutralize_requires_a_reason(cycle_2019, controllo):
    objective = _coordinamento(cycle_2019).indicator.objective
    with pytest.raises(ValidationError) as raised:
        services.objective_neutralize(
            objective=objective, user=controllo, reason="  ", document=_aggiornamento(cycle_2019)
        )
    assert raised.value.message_dict["reason"] == ["Indicare il motivo della neutralizzazione."]
    objective.refresh_from_db()
    assert objective.status == Objective.Status.ACTIVE


def test_neutralize_removes_the_objective_from_every_average(cycle_2019, controllo):
    score = selectors.cycle_score(cycle=cycle_2019)
    before = selectors.unit_subtree(score=score, name_or_key="affari-generali")
    assert before.formula == "638/8 = 79,75%"
    objective = _coordinamento(cycle_2019).indicator.objective
    services.objective_neutralize(
        objective=objective,
        user=controllo,
        reason="Gruppo di coordinamento soppresso",
        document=_aggiornamento(cycle_2019),
    )
    objective.refresh_from_db()
    assert objective.status == Objective.Status.NEUTRALIZED
    assert objective.neutralization_reason == "Gruppo di coordinamento soppresso"
    assert objective.neutralized_by == _aggiornamento(cycle_2019)
    score = selectors.cycle_score(cycle=cycle_2019)
    after = selectors.unit_subtree(score=score, name_or_key="affari-generali")
    assert after.formula == "638/7 = 91,15%"  # the 0% row left the mean, not counted as 0
    assert after.achievement == Decimal("91.15")
    record = objective.history.latest("history_date")
    assert record.history_user == controllo
    assert "Gruppo di coordinamento soppresso" in record.history_change_reason
    with pytest.raises(ValidationError, match="già neutralizzato"):
        services.objective_neutralize(
            objective=objective, user=controllo, reason="di nuovo", document=record.neutralized_by
        )


def test_neutralize_page(as_controllo, cycle_2019):
    objective = _coordinamento(cycle_2019).indicator.objective
    url = _url("plan-objective-neutralize", 2019, objective.pk)
    response = as_controllo.post(url, {"document": _aggiornamento(cycle_2019).pk, "reason": ""})
    assert response.status_code == 200
    assert 'id="id_reason-errori"' in response.content.decode()
    response = as_controllo.post(
        url, {"document": _aggiornamento(cycle_2019).pk, "reason": "Attività soppressa"}
    )
    assert response.status_code == 302
    html = as_controllo.get(_url("plan", 2019)).content.decode()
    assert "Attività soppressa" in html
    # already neutralized: the page says so
    response = as_controllo.get(url, follow=True)
    assert "già neutralizzato" in response.content.decode()


# --------------------------------------------------------------------------- measurement rules


@pytest.mark.parametrize(
    ("rules", "section", "message"),
    [
        (
            {"lateness": {"points_per_day": -1}},
            "lateness",
            "ritardo: penalità negativa o soglia fuori da 0–100",
        ),
        (
            {"lateness": {"floor": 120}},
            "lateness",
            "ritardo: penalità negativa o soglia fuori da 0–100",
        ),
        (
            {"rounding": {"row": {"decimals": 9, "mode": "half_up"}}},
            "rounding",
            "arrotondamento: i decimali vanno da 0 a 6",
        ),
        (
            {"rounding": {"row": {"decimals": 0, "mode": "strano"}}},
            "rounding",
            "arrotondamento: modalità «strano» sconosciuta",
        ),
        (
            {"aggregation": {"area": "media"}},
            "aggregation",
            "aggregazione «area»: metodo «media» sconosciuto",
        ),
        ({"bands": [{"key": "x", "min": "tanto"}]}, "bands", "fascia: «tanto» non è un numero"),
        ({"weight_total": "cento"}, "weight_total", "totale pesi: «cento» non è un numero"),
    ],
)
def test_rules_update_is_validated_by_the_engine(cycle_2019, controllo, rules, section, message):
    before = snapshot(cycle_2019)
    with pytest.raises(ValidationError) as raised:
        services.cycle_rules_update(cycle=cycle_2019, user=controllo, rules=rules)
    assert raised.value.message_dict[section] == [message]
    assert snapshot(cycle_2019) == before


def test_rules_update_saves_the_normal_form_with_history(cycle_2019, controllo):
    rules = dict(cycle_2019.rules)
    rules["lateness"] = {"points_per_day": "2", "floor": "10", "grace_days": 3}
    services.cycle_rules_update(cycle=cycle_2019, user=controllo, rules=rules)
    cycle_2019.refresh_from_db()
    assert cycle_2019.rules["lateness"] == {"points_per_day": "2", "floor": "10", "grace_days": 3}
    assert cycle_2019.rules == scoring.Rules.from_dict(rules).to_dict()
    record = cycle_2019.history.latest("history_date")
    assert record.history_user == controllo
    assert record.history_change_reason == "Regole di misurazione modificate"


def test_rules_page_round_trip_and_messages_next_to_fields(as_controllo, cycle_2019):
    url = _url("plan-rules", 2019)
    rules_before = cycle_2019.rules
    # unchanged form: saved as it was
    assert as_controllo.post(url, rules_post(cycle_2019)).status_code == 302
    cycle_2019.refresh_from_db()
    assert cycle_2019.rules == rules_before

    response = as_controllo.post(url, rules_post(cycle_2019, points_per_day="-1"))
    assert response.status_code == 200
    assert response.context["form"].errors["points_per_day"] == [
        "ritardo: penalità negativa o soglia fuori da 0–100"
    ]
    response = as_controllo.post(url, rules_post(cycle_2019, floor="150"))
    assert "floor" in response.context["form"].errors
    response = as_controllo.post(url, rules_post(cycle_2019, **{"arr-0-decimals": "9"}))
    assert response.status_code == 200
    errors = response.context["rounding"].forms[0].errors
    assert errors["decimals"] == ["arrotondamento: i decimali vanno da 0 a 6"]
    assert "arrotondamento: i decimali vanno da 0 a 6" in response.content.decode()
    response = as_controllo.post(
        url, rules_post(cycle_2019, **{"arr-3-level": "row", "arr-3-decimals": "1"})
    )
    assert response.status_code == 200
    assert "Livello ripetuto: Riga (target)." in response.content.decode()
    cycle_2019.refresh_from_db()
    assert cycle_2019.rules == rules_before

    # a real change: one more decimal for the perspectives, 5 days of grace, a new band
    data = rules_post(
        cycle_2019,
        grace_days="5",
        **{
            "arr-3-level": "objective",
            "arr-3-decimals": "1",
            "arr-3-mode": "half_even",
            "fasce-3-key": "eccellente",
            "fasce-3-label": "Eccellente",
            "fasce-3-minimum": "99,5",
            "fasce-3-inclusive": "on",
        },
    )
    assert as_controllo.post(url, data).status_code == 302
    cycle_2019.refresh_from_db()
    rules = scoring.Rules.from_dict(cycle_2019.rules)
    assert rules.lateness.grace_days == 5
    assert rules.rounding["objective"] == scoring.Rounding(1, "half_even")
    assert rules.bands[0].key == "eccellente" and rules.bands[0].minimum == Decimal("99.5")


# --------------------------------------------------------------------------- starting 2020


def test_start_next_copies_2019_into_2020(cycle_2019, controllo):
    referent = controllo.__class__.objects.create_user("ref")
    Unit.objects.get(cycle=cycle_2019, key="registro-imprese").referents.add(referent)
    new = services.cycle_start_next(cycle=cycle_2019, user=controllo)
    assert new.year == 2020
    assert new.status == Cycle.Status.PLANNING
    assert new.rules == cycle_2019.rules
    assert "2020-2022" in new.title

    def count(model, **filters):
        return model.objects.filter(**filters).count()

    for model in (Unit, Position, Perspective, StrategicObjective):
        assert count(model, cycle=new) == count(model, cycle=cycle_2019) > 0
    active = {"cycle": cycle_2019, "status": Objective.Status.ACTIVE}
    assert count(Objective, cycle=new) == count(Objective, **active) == 117
    assert count(Objective, cycle=new, status=Objective.Status.NEUTRALIZED) == 0
    assert count(Indicator, objective__cycle=new) == count(
        Indicator, objective__cycle=cycle_2019, objective__status="active"
    )
    expected_targets = count(
        Target,
        indicator__objective__cycle=cycle_2019,
        indicator__objective__status="active",
        is_duplicate=False,
    )
    assert count(Target, indicator__objective__cycle=new) == expected_targets == 152
    # structure: the tree, its referents, the positions' units
    unit = Unit.objects.get(cycle=new, key="registro-imprese")
    assert unit.parent.key == Unit.objects.get(cycle=cycle_2019, key="registro-imprese").parent.key
    assert unit.parent.cycle == new
    assert referent in unit.referents.all()
    assert (
        not Position.objects.filter(cycle=new).exclude(unit__isnull=True).exclude(unit__cycle=new)
    )
    # periods one year later; no deliberations, no actuals, no stated figures
    periods = list(MeasurementPeriod.objects.filter(cycle=new).order_by("end_date"))
    assert [(p.end_date, p.is_final) for p in periods] == [
        (dt.date(2020, 6, 30), False),
        (dt.date(2020, 12, 31), True),
    ]
    assert periods[1].name == "Consuntivo al 31.12.2020"
    assert count(PlanDocument, cycle=new) == 0
    assert count(Actual, target__indicator__objective__cycle=new) == 0
    assert count(StatedFigure, cycle=new) == 0
    # targets: deadlines one year later (in the text too), no original, no revision, all measured
    targets = Target.objects.filter(indicator__objective__cycle=new)
    assert not targets.exclude(original_text="").exists()
    assert not targets.filter(revised_by__isnull=False).exists()
    assert not targets.filter(status=Target.Status.EXCLUDED).exists()
    revised = targets.get(text="entro 30.11.2020")
    assert revised.rule == {"kind": "deadline", "due": "2020-11-30"}
    assert not targets.filter(unit__isnull=False).exclude(unit__cycle=new).exists()
    assert not targets.filter(office__isnull=False).exclude(office__cycle=new).exists()
    multi = targets.get(rule__kind="multi", rule__labels__0="1 entro aprile 2020")
    assert [p["due"] for p in multi.rule["parts"]] == ["2020-04-30", "2020-12-31"]
    assert multi.text == "1 entro aprile 2020 1 entro dicembre 2020"
    for old in Target.objects.filter(indicator__objective__cycle=cycle_2019, rule__kind="deadline"):
        assert old.rule["due"].startswith("2019")
    # baselines from the 2019 actuals
    quesiti = _quesiti(new).indicator
    assert (quesiti.baseline_value, quesiti.baseline_year) == (Decimal("90"), 2019)
    assert quesiti.baseline_text == "n. 90 nel 2019"
    # the new cycle scores (nothing measured yet)
    score = selectors.cycle_score(cycle=new)
    assert score.year == 2020


def test_start_next_writes_the_history(cycle_2019, controllo):
    new = services.cycle_start_next(cycle=cycle_2019, user=controllo)
    reason = "Avvio del ciclo 2020 dal ciclo 2019"
    for model, filters in (
        (Objective, {"cycle": new}),
        (Indicator, {"objective__cycle": new}),
        (Target, {"indicator__objective__cycle": new}),
    ):
        ids = set(model.objects.filter(**filters).values_list("id", flat=True))
        records = model.history.filter(id__in=ids, history_type="+")
        assert records.count() == len(ids) > 0
        assert set(records.values_list("history_user", flat=True)) == {controllo.pk}
        assert set(records.values_list("history_change_reason", flat=True)) == {reason}
    record = new.history.get()
    assert record.history_user == controllo and record.history_type == "+"


def test_start_next_refuses_a_second_time(cycle_2019, controllo):
    services.cycle_start_next(cycle=cycle_2019, user=controllo)
    before = snapshot(cycle_2019)
    with pytest.raises(ValidationError, match="Il ciclo 2020 esiste già"):
        services.cycle_start_next(cycle=cycle_2019, user=controllo)
    assert snapshot(cycle_2019) == before


def test_start_next_page(as_controllo, cycle_2019):
    url = _url("plan-start-next", 2019)
    assert "Avvia il ciclo 2020" in as_controllo.get(url).content.decode()
    response = as_controllo.post(url)
    assert response["Location"] == _url("plan", 2020)
    page = as_controllo.get(_url("plan", 2020)).content.decode()
    assert "Piano della performance 2020" in page and "n. 90 nel 2019" in page
    response = as_controllo.post(url, follow=True)
    assert "Il ciclo 2020 esiste già" in response.content.decode()
    assert Cycle.objects.filter(year=2020).count() == 1
    # the button is gone, a link to the 2020 plan instead
    page = as_controllo.get(_url("plan", 2019)).content.decode()
    assert _url("plan-start-next", 2019) not in page


# ------------------------------------------------------------------------------- audit trail


def test_the_audit_trail_records_who_changed_what(as_controllo, plan, controllo):
    objective = plan["objective"]
    old_title = objective.title
    as_controllo.post(
        _url("plan-objective", 2019, objective.pk),
        {
            "kind": objective.kind,
            "strategic_objective": objective.strategic_objective_id,
            "title": "Titolo nuovo",
            "weight": "2",
        },
    )
    new, previous = objective.history.order_by("-history_date")[:2]
    assert new.history_user == controllo
    changes = {c.field: (c.old, c.new) for c in new.diff_against(previous).changes}
    assert changes["title"] == (old_title, "Titolo nuovo")
    assert changes["weight"][1] == Decimal("2")

    indicator = plan["indicator"]
    as_controllo.post(
        _url("plan-indicator", 2019, indicator.pk),
        {"name": indicator.name, "direction": "higher", "source": "Nuova fonte"},
    )
    record = indicator.history.latest("history_date")
    assert record.history_user == controllo and record.source == "Nuova fonte"

    target = plan["target"]
    as_controllo.post(
        _url("plan-target", 2019, target.pk),
        {
            "unit": target.unit_id,
            "text": "≥ 66",
            "kind": "at_least",
            "threshold": "66",
            "weight": "1",
        },
    )
    new, previous = target.history.order_by("-history_date")[:2]
    changes = {c.field: (c.old, c.new) for c in new.diff_against(previous).changes}
    assert changes["text"] == ("≥ a 65", "≥ 66")
    assert new.history_user == controllo
    # the edit page shows the history
    html = as_controllo.get(_url("plan-target", 2019, target.pk)).content.decode()
    assert "Storico delle modifiche" in html and "controllo" in html

    perspective = plan["perspective"]
    as_controllo.post(
        _url("plan-perspective", 2019, perspective.pk),
        {"code": perspective.code, "name": "Competitività", "weight": "1"},
    )
    new, previous = perspective.history.order_by("-history_date", "-history_id")[:2]
    assert new.history_user == controllo
    assert [c.field for c in new.diff_against(previous).changes] == ["name"]


def test_an_unchanged_form_writes_no_history(as_controllo, plan):
    indicator = plan["indicator"]
    before = Indicator.history.count()
    data = {
        "name": indicator.name,
        "unit_of_measure": indicator.unit_of_measure,
        "direction": indicator.direction,
        "baseline_value": scoring.fmt(indicator.baseline_value),
        "baseline_year": indicator.baseline_year,
        "baseline_text": indicator.baseline_text,
        "source": indicator.source,
        "notes": indicator.notes,
    }
    assert as_controllo.post(_url("plan-indicator", 2019, indicator.pk), data).status_code == 302
    assert Indicator.history.count() == before


# ------------------------------------------------------------------ concurrent edits (the lock)

CONFLICT = "Modificato da un altro utente dopo l&#x27;apertura del modulo"
TAMPERED = "Il modulo è scaduto o alterato: ricaricare la pagina."


@pytest.fixture
def other_controllo(db, users, django_user_model):
    """A second controllo di gestione user, with their own browser."""
    from django.test import Client

    user = django_user_model.objects.create_user("controllo-bis")
    user.groups.add(roles.roles_sync()[roles.CONTROLLO])
    other = Client()
    other.force_login(user)
    return other


def _seen(response) -> str:
    """The signed snapshot in the form of a page (the hidden ``seen``)."""
    match = re.search(
        r'<input type="hidden" name="seen" value="([^"]+)"', response.content.decode()
    )
    assert match, "the form carries no seen"
    return html.unescape(match.group(1))


def _open(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return _seen(response)


def _objective_data(objective, **changes) -> dict:
    data = {
        "kind": objective.kind,
        "strategic_objective": objective.strategic_objective_id or "",
        "position": objective.position_id or "",
        "code": objective.code,
        "title": objective.title,
        "weight": scoring.fmt(objective.weight),
    }
    return {**data, **changes}


def test_a_stale_objective_form_does_not_overwrite_and_a_second_save_does(
    as_controllo, other_controllo, plan
):
    objective = plan["objective"]
    url = _url("plan-objective", 2019, objective.pk)
    seen_a, seen_b = _open(as_controllo, url), _open(other_controllo, url)

    response = as_controllo.post(url, _objective_data(objective, title="Titolo di A", seen=seen_a))
    assert response.status_code == 302
    records = Objective.history.count()

    response = other_controllo.post(
        url, _objective_data(objective, title="Titolo di B", seen=seen_b)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert CONFLICT in page and "ora vale «Titolo di A»" in page
    assert "Un altro utente ha modificato titolo dopo l&#x27;apertura del modulo" in page
    assert "Titolo di B" in page  # what B typed stays in the form
    objective.refresh_from_db()
    assert objective.title == "Titolo di A"
    assert Objective.history.count() == records

    # B has seen A's title: saving again deliberately replaces it
    renewed = _seen(response)
    assert renewed != seen_b
    response = other_controllo.post(
        url, _objective_data(objective, title="Titolo di B", seen=renewed)
    )
    assert response.status_code == 302
    objective.refresh_from_db()
    assert objective.title == "Titolo di B"


def test_a_stale_form_merges_what_the_other_user_changed(as_controllo, other_controllo, plan):
    objective = plan["objective"]
    url = _url("plan-objective", 2019, objective.pk)
    seen_a, seen_b = _open(as_controllo, url), _open(other_controllo, url)
    stale = _objective_data(objective)

    assert as_controllo.post(url, {**stale, "weight": "3", "seen": seen_a}).status_code == 302
    response = other_controllo.post(url, {**stale, "title": "Titolo di B", "seen": seen_b})
    assert response.status_code == 302

    objective.refresh_from_db()
    assert (objective.title, objective.weight) == ("Titolo di B", Decimal("3"))
    # B's history record shows the row as it is, not B's stale weight
    assert objective.history.latest("history_date").weight == Decimal("3")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda seen, p: seen[:-3] + ("abc" if seen[-3:] != "abc" else "xyz"), id="sig"
        ),
        pytest.param(lambda seen, p: "rubbish", id="rubbish"),
        pytest.param(lambda seen, p: p["goal_seen"], id="another-object"),
    ],
)
def test_a_tampered_seen_is_refused_and_nothing_is_written(as_controllo, plan, tamper):
    objective = plan["objective"]
    url = _url("plan-objective", 2019, objective.pk)
    plan["goal_seen"] = _open(as_controllo, _url("plan-strategic", 2019, plan["goal"].pk))
    seen = _open(as_controllo, url)
    before = snapshot(plan["cycle"])

    data = _objective_data(objective, title="Titolo nuovo", seen=tamper(seen, plan))
    response = as_controllo.post(url, data)

    assert response.status_code == 200
    assert TAMPERED in html.unescape(response.content.decode())
    assert snapshot(plan["cycle"]) == before


def test_objective_update_service_with_a_stale_seen(plan, controllo):
    objective = plan["objective"]
    names = ("kind", "strategic_objective", "position", "code", "title", "weight")
    seen = services.snapshot(instance=objective, names=names)
    values = {
        "kind": objective.kind,
        "strategic_objective": objective.strategic_objective,
        "code": objective.code,
        "weight": objective.weight,
    }
    services.objective_update(objective=objective, user=controllo, title="Primo", **values)
    records = Objective.history.count()

    stale = Objective.objects.get(pk=objective.pk)
    with pytest.raises(services.PlanConflictError) as caught:
        services.objective_update(
            objective=stale, user=controllo, title="Secondo", seen=seen, **values
        )
    assert "ora vale «Primo»" in caught.value.message_dict["title"][0]
    assert caught.value.current["title"] == "Primo"
    assert Objective.objects.get(pk=objective.pk).title == "Primo"
    assert Objective.history.count() == records

    # the same value as the other user: no conflict; without seen: the last save wins, as before
    services.objective_update(objective=stale, user=controllo, title="Primo", seen=seen, **values)
    services.objective_update(objective=stale, user=controllo, title="Secondo", **values)
    assert Objective.objects.get(pk=objective.pk).title == "Secondo"


def test_a_merge_that_breaks_the_objective_rules_is_refused(plan, controllo):
    """A makes the objective strategic (its strategic objective is required); B, on a stale form,
    removes the strategic objective: each valid alone, not together."""
    objective = plan["empty_objective"]  # operational, linked to a strategic objective
    names = ("kind", "strategic_objective", "position", "code", "title", "weight")
    seen = services.snapshot(instance=objective, names=names)
    common = {"title": objective.title, "code": "", "weight": 1}
    services.objective_update(
        objective=objective,
        user=controllo,
        kind="strategic",
        strategic_objective=objective.strategic_objective,
        seen=dict(seen),
        **common,
    )
    with pytest.raises(ValidationError) as caught:
        services.objective_update(
            objective=Objective.objects.get(pk=objective.pk),
            user=controllo,
            kind="operational",
            strategic_objective=None,
            seen=seen,
            **common,
        )
    assert "strategic_objective" in caught.value.message_dict
    objective.refresh_from_db()
    assert (objective.kind, objective.strategic_objective_id) == ("strategic", plan["goal"].pk)


def _indicator_data(indicator, **changes) -> dict:
    data = {
        "name": indicator.name,
        "unit_of_measure": indicator.unit_of_measure,
        "direction": indicator.direction,
        "baseline_value": scoring.fmt(indicator.baseline_value)
        if indicator.baseline_value is not None
        else "",
        "baseline_year": indicator.baseline_year or "",
        "baseline_text": indicator.baseline_text,
        "source": indicator.source,
        "notes": indicator.notes,
    }
    return {**data, **changes}


def _target_data(target, **changes) -> dict:
    data = {
        "unit": target.unit_id or "",
        "office": target.office_id or "",
        "text": target.text,
        "kind": "at_least",
        "threshold": "65",
        "weight": scoring.fmt(target.weight),
        "notes": target.notes,
    }
    return {**data, **changes}


# (url name, the field changed, the object, its form's data with that field changed, the values
# of the two saves, how the page shows the first)
LOCKED_PAGES = [
    (
        "plan-perspective",
        "name",
        lambda p: p["perspective"],
        lambda obj, value: {"code": obj.code, "name": value, "weight": scoring.fmt(obj.weight)},
        ("Nome di A", "Nome di B"),
        "Nome di A",
    ),
    (
        "plan-strategic",
        "title",
        lambda p: p["goal"],
        lambda obj, value: {
            "perspective": obj.perspective_id,
            "code": obj.code,
            "title": value,
            "weight": scoring.fmt(obj.weight),
        },
        ("Titolo di A", "Titolo di B"),
        "Titolo di A",
    ),
    (
        "plan-indicator",
        "name",
        lambda p: p["indicator"],
        lambda obj, value: _indicator_data(obj, name=value),
        ("Indicatore di A", "Indicatore di B"),
        "Indicatore di A",
    ),
    (
        "plan-target",
        "text",
        lambda p: p["target"],
        lambda obj, value: _target_data(obj, text=value),
        ("≥ 66", "≥ 67"),
        "≥ 66",
    ),
    (
        "plan-unit",
        "weight",
        lambda p: p["unit"],
        lambda obj, value: {"aggregation": obj.aggregation, "weight": value},
        ("2,5", "3"),
        "2,5",
    ),
]


@pytest.mark.parametrize(
    ("name", "field", "subject", "data", "values", "shown"),
    LOCKED_PAGES,
    ids=[page[0] for page in LOCKED_PAGES],
)
def test_every_plan_form_refuses_a_stale_overwrite(
    as_controllo, other_controllo, plan, name, field, subject, data, values, shown
):
    obj = subject(plan)
    url = _url(name, 2019, obj.pk)
    seen_a, seen_b = _open(as_controllo, url), _open(other_controllo, url)
    first, second = values

    def stored() -> str:
        return services.snapshot(instance=type(obj).objects.get(pk=obj.pk), names=[field])[field]

    assert as_controllo.post(url, {**data(obj, first), "seen": seen_a}).status_code == 302
    after_a = snapshot(plan["cycle"])

    response = other_controllo.post(url, {**data(obj, second), "seen": seen_b})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"ora vale «{shown}»" in page
    assert "Un altro utente ha modificato" in page
    assert snapshot(plan["cycle"]) == after_a

    assert stored() == first.replace(",", ".")

    response = other_controllo.post(url, {**data(obj, second), "seen": _seen(response)})
    assert response.status_code == 302
    assert stored() == second
