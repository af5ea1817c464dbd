"""Selectors: the engine's data for a factory-built plan, a fixed number of queries whatever the
plan's size, and finding a unit's subtree."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from organization.models import Cycle
from performance import scoring
from performance.models import Objective, StatedFigure, Target
from performance.selectors import cycle_data, cycle_score, unit_subtree
from tests.factories import (
    ActualFactory,
    CycleFactory,
    IndicatorFactory,
    MeasurementPeriodFactory,
    ObjectiveFactory,
    PerspectiveFactory,
    PositionFactory,
    StrategicObjectiveFactory,
    TargetFactory,
    UnitFactory,
)

pytestmark = pytest.mark.django_db

D = Decimal


def build_plan(cycle: Cycle, size: int) -> dict:
    """``size`` perspectives (one strategic objective and objective each), services (each with
    an office and a position), operational objectives (one row per service and one for the
    Ente, with values) and stated figures. Returns the main objects of the first of each."""
    final = MeasurementPeriodFactory(cycle=cycle, key="consuntivo")
    ente = UnitFactory(
        cycle=cycle, key="ente", name="Camera di Prova", kind="ente", aggregation="own_rows"
    )
    built: dict = {"final": final, "ente": ente}
    for i in range(size):
        service = UnitFactory(cycle=cycle, parent=ente, key=f"servizio-{i}", name=f"Servizio {i}")
        office = UnitFactory(
            cycle=cycle, parent=service, key=f"ufficio-{i}", name=f"Ufficio {i}", kind="ufficio"
        )
        position = PositionFactory(
            cycle=cycle, key=f"po-{i}", title=f"PO {i}", holder=f"Titolare {i}", unit=service
        )
        perspective = PerspectiveFactory(cycle=cycle, code=str(i + 1), name=f"Prospettiva {i}")
        goal = StrategicObjectiveFactory(
            perspective=perspective, code=f"{i + 1}.1", title=f"Obiettivo strategico {i}"
        )
        strategic = ObjectiveFactory(
            cycle=cycle, kind="strategic", strategic_objective=goal, title=f"Strategico {i}"
        )
        s_target = TargetFactory(
            indicator=IndicatorFactory(objective=strategic, name=f"N. iniziative {i}")
        )
        ActualFactory(target=s_target, period=final, value_number=D("10"))
        operational = ObjectiveFactory(
            cycle=cycle, kind="operational", strategic_objective=goal, title=f"Operativo {i}"
        )
        indicator = IndicatorFactory(objective=operational, name=f"n. pratiche {i}")
        unit_target = TargetFactory(indicator=indicator, unit=service, weight=D("2"))
        ente_target = TargetFactory(indicator=indicator, unit=None)
        ActualFactory(target=unit_target, period=final, value_number=D("8"))
        ActualFactory(
            target=ente_target,
            period=final,
            value_number=D("5"),
            override_pct=D("90"),
            override_reason="approvato dall'OIV",
        )
        individual = ObjectiveFactory(
            cycle=cycle, kind="individual", position=position, title=f"Individuale {i}"
        )
        i_target = TargetFactory(
            indicator=IndicatorFactory(objective=individual, name=f"Riunioni {i}")
        )
        ActualFactory(target=i_target, period=final, value_number=D("12"))
        StatedFigure.objects.create(
            cycle=cycle,
            ref="Sezione 1",
            label=f"Prospettiva {i}",
            node=f"perspective:{i + 1}",
            value="100.0",
            order=i,
        )
        if i == 0:
            built.update(
                service=service,
                office=office,
                position=position,
                perspective=perspective,
                goal=goal,
                strategic=strategic,
                s_target=s_target,
                operational=operational,
                indicator=indicator,
                unit_target=unit_target,
                ente_target=ente_target,
                individual=individual,
                i_target=i_target,
            )
    return built


@pytest.fixture
def cycle():
    return CycleFactory(year=2034, organization__short_name="CCIAA Prova")


@pytest.fixture
def plan(cycle):
    return build_plan(cycle, 1)


# ------------------------------------------------------------------------------- cycle_data


def test_cycle_data_header(cycle, plan):
    data = cycle_data(cycle=cycle)
    assert data.year == 2034
    assert data.name == "CCIAA Prova"
    assert data.rules == scoring.Rules()
    assert data.stated == [
        scoring.Stated(
            ref="Sezione 1", label="Prospettiva 0", node="perspective:1", value=D("100.0")
        )
    ]


def test_cycle_data_perspectives(cycle, plan):
    (perspective,) = cycle_data(cycle=cycle).perspectives
    assert (perspective.code, perspective.name, perspective.weight) == ("1", "Prospettiva 0", 1)
    (goal,) = perspective.strategic_objectives
    assert (goal.code, goal.title) == ("1.1", "Obiettivo strategico 0")
    (objective,) = goal.objectives
    assert objective.key == f"o{plan['strategic'].pk}"
    assert (objective.title, objective.strategic_code, objective.status) == (
        "Strategico 0",
        "1.1",
        "active",
    )
    (indicator,) = objective.indicators
    (row,) = indicator.targets
    assert row == scoring.Row(
        key=f"t{plan['s_target'].pk}",
        label="N. iniziative 0",
        spec={"kind": "at_least", "threshold": "10"},
        value=scoring.Value(number=D("10")),
        weight=D("1"),
        status="active",
        reason="",
        override=None,
        override_reason="",
        objective_key=f"o{plan['strategic'].pk}",
        objective_weight=D("1"),
        indicator_key=f"i{plan['s_target'].indicator_id}",
        unit_key=None,
    )


def test_cycle_data_operational_rows_with_unit_keys_and_overrides(cycle, plan):
    (objective,) = cycle_data(cycle=cycle).operational
    assert objective.key == f"o{plan['operational'].pk}"
    assert objective.strategic_code == "1.1"
    (indicator,) = objective.indicators
    assert (indicator.key, indicator.name) == (f"i{plan['indicator'].pk}", "n. pratiche 0")
    unit_row, ente_row = indicator.targets
    assert unit_row.key == f"t{plan['unit_target'].pk}"
    assert unit_row.label == "n. pratiche 0 (Servizio 0)"
    assert unit_row.unit_key == "servizio-0"
    assert unit_row.weight == 2
    assert unit_row.value == scoring.Value(number=D("8"))
    assert (unit_row.override, unit_row.override_reason) == (None, "")
    assert ente_row.label == "n. pratiche 0"
    assert ente_row.unit_key is None
    assert ente_row.value == scoring.Value(number=D("5"))
    assert (ente_row.override, ente_row.override_reason) == (D("90"), "approvato dall'OIV")


def test_cycle_data_unit_tree(cycle, plan):
    root = cycle_data(cycle=cycle).units
    assert (root.key, root.name, root.kind, root.method) == (
        "ente",
        "Camera di Prova",
        "ente",
        "own_rows",
    )
    (service,) = root.children
    assert (service.key, service.name, service.kind, service.method) == (
        "servizio-0",
        "Servizio 0",
        "servizio",
        None,
    )
    assert [c.key for c in service.children] == ["ufficio-0"]
    assert service.children[0].children == []


def test_cycle_data_positions(cycle, plan):
    (position,) = cycle_data(cycle=cycle).positions
    assert (position.key, position.title, position.holder, position.kind) == (
        "po-0",
        "PO 0",
        "Titolare 0",
        "posizione_organizzativa",
    )
    (objective,) = position.objectives
    assert objective.key == f"o{plan['individual'].pk}"
    assert objective.indicators[0].targets[0].value == scoring.Value(number=D("12"))


def test_cycle_data_neutralized_objective_and_excluded_row(cycle, plan):
    Objective.objects.filter(pk=plan["operational"].pk).update(
        status="neutralized", neutralization_reason="eliminato con l'aggiornamento"
    )
    Target.objects.filter(pk=plan["s_target"].pk).update(
        status="excluded", exclusion_reason="riga senza %"
    )
    data = cycle_data(cycle=cycle)
    (operational,) = data.operational
    assert (operational.status, operational.reason) == (
        "neutralized",
        "eliminato con l'aggiornamento",
    )
    row = data.perspectives[0].strategic_objectives[0].objectives[0].indicators[0].targets[0]
    assert (row.status, row.reason) == ("excluded", "riga senza %")


def test_cycle_data_of_another_period(cycle, plan):
    interim = MeasurementPeriodFactory(
        cycle=cycle, key="monitoraggio", is_final=False, end_date=dt.date(2034, 6, 30)
    )
    ActualFactory(target=plan["unit_target"], period=interim, value_number=D("3"))
    rows = cycle_data(cycle=cycle, period=interim).operational[0].indicators[0].targets
    assert [r.value for r in rows] == [scoring.Value(number=D("3")), None]
    assert [r.override for r in rows] == [None, None]
    final_rows = cycle_data(cycle=cycle).operational[0].indicators[0].targets
    assert [r.value for r in final_rows] == [
        scoring.Value(number=D("8")),
        scoring.Value(number=D("5")),
    ]


def test_cycle_data_without_a_final_period_has_no_values(cycle):
    target = TargetFactory(indicator__objective__cycle=cycle)
    data = cycle_data(cycle=cycle)
    assert data.operational[0].indicators[0].targets[0].key == f"t{target.pk}"
    assert data.operational[0].indicators[0].targets[0].value is None
    assert data.units is None
    assert data.perspectives == []


def test_cycle_data_several_root_units_get_a_common_root(cycle):
    UnitFactory(cycle=cycle, key="a", name="A")
    UnitFactory(cycle=cycle, key="b", name="B")
    root = cycle_data(cycle=cycle).units
    assert (root.key, root.name, root.kind) == ("ente", "CCIAA Prova", "ente")
    assert [c.key for c in root.children] == ["a", "b"]


def test_cycle_data_ignores_other_cycles(cycle, plan, cycle_2019):
    data = cycle_data(cycle=cycle)
    assert len(data.operational) == 1
    assert len(data.positions) == 1


def test_cycle_score_of_the_small_plan(cycle, plan):
    score = cycle_score(cycle=cycle)
    assert score.operational.achievement == D("90")  # the Ente row's override
    assert score.units.achievement == D("90")  # Ente: own rows (the Ente table)
    service = unit_subtree(score=score, name_or_key="servizio-0")
    assert service.achievement == D("80")
    assert service.formula == "80/1 = 80%"
    assert score.individual[0].achievement == D("100")
    assert [r.key for r in score.overrides()] == [f"t{plan['ente_target'].pk}"]


# ----------------------------------------------------------------------- number of queries

QUERIES_WITH_PERIOD = 9  # units, positions, perspectives, goals, objectives, indicators,
# targets, actuals, stated figures
QUERIES = QUERIES_WITH_PERIOD + 2  # + the final period + the cycle's organization (its name)


def count_queries(cycle_pk: int, **kwargs) -> tuple[int, scoring.CycleScore]:
    cycle = Cycle.objects.get(pk=cycle_pk)
    with CaptureQueriesContext(connection) as context:
        score = cycle_score(cycle=cycle, **kwargs)
    return len(context.captured_queries), score


def test_cycle_score_queries_do_not_grow_with_the_plan():
    small, big = CycleFactory(year=2035), CycleFactory(year=2036)
    build_plan(small, 1)
    build_plan(big, 5)
    small_queries, small_score = count_queries(small.pk)
    big_queries, big_score = count_queries(big.pk)
    assert len(big_score.individual) == 5 * len(small_score.individual) == 5
    assert len(big_score.units.children) == 5
    assert small_queries == big_queries == QUERIES


def test_cycle_score_queries_with_a_period(plan, cycle):
    queries, _ = count_queries(cycle.pk, period=plan["final"])
    assert queries == QUERIES_WITH_PERIOD + 1  # + the organization


def test_cycle_score_queries_on_the_2019_cycle(cycle_2019):
    queries, score = count_queries(cycle_2019.pk)
    assert queries == QUERIES
    assert score.strategic.achievement == D("98.10")


# ------------------------------------------------------------------------------ unit_subtree


@pytest.fixture
def score_2019(cycle_2019):
    return cycle_score(cycle=cycle_2019)


@pytest.mark.parametrize(
    "wanted",
    [
        "Registro Imprese",
        "registro imprese",
        "  REGISTRO IMPRESE ",
        "Servizio Registro Imprese",
        "registro-imprese",
        "Registro",
    ],
)
def test_unit_subtree_finds_registro_imprese(score_2019, wanted):
    node = unit_subtree(score=score_2019, name_or_key=wanted)
    assert node.key == "registro-imprese"
    assert node.name == "Servizio Registro Imprese"
    assert node.achievement == D("97")
    assert node.formula == "1.067/11 = 97%"
    assert [c.key for c in node.children] == ["ufficio-sportello"]


@pytest.mark.parametrize(
    ("wanted", "key"),
    [
        ("ente", "ente"),
        ("paviasviluppo", "paviasviluppo"),
        ("Ufficio Metrico", "ufficio-metrico"),
        ("metrico", "ufficio-metrico"),
        ("area servizi promozionali", "area-promozionali"),
    ],
)
def test_unit_subtree_other_units(score_2019, wanted, key):
    assert unit_subtree(score=score_2019, name_or_key=wanted).key == key


@pytest.mark.parametrize(
    "wanted",
    ["Ufficio", "Servizio", "area", "Camera di Commercio di Milano", "registro-impresa", ""],
)
def test_unit_subtree_ambiguous_or_unknown(score_2019, wanted):
    assert unit_subtree(score=score_2019, name_or_key=wanted) is None


def test_unit_subtree_exact_name_wins_over_a_longer_one(cycle):
    ente = UnitFactory(cycle=cycle, key="ente", name="Ente", kind="ente")
    UnitFactory(cycle=cycle, parent=ente, key="prom", name="Promozione")
    UnitFactory(cycle=cycle, parent=ente, key="prom-estera", name="Promozione estera")
    score = cycle_score(cycle=cycle)
    assert unit_subtree(score=score, name_or_key="promozione").key == "prom"
    assert unit_subtree(score=score, name_or_key="estera").key == "prom-estera"
    assert unit_subtree(score=score, name_or_key="promo") is None


def test_unit_subtree_without_units(cycle):
    TargetFactory(indicator__objective__cycle=cycle)
    assert unit_subtree(score=cycle_score(cycle=cycle), name_or_key="ente") is None
