"""cycle_load: small hand-written datasets (valid, invalid, replace, overrides, neutralized,
excluded, revised rows, history) and the overrides the 2019 dataset produces."""

import copy
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from organization.models import (
    Cycle,
    MeasurementPeriod,
    Organization,
    PlanDocument,
    Position,
    Unit,
)
from performance import scoring
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)
from performance.services import cycle_load, value_from_actual
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

YEAR = 2031
MODELS = (
    Organization,
    Cycle,
    PlanDocument,
    MeasurementPeriod,
    Unit,
    Position,
    Perspective,
    StrategicObjective,
    Objective,
    Indicator,
    Target,
    Actual,
    StatedFigure,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def target_data(**overrides) -> dict:
    data = {
        "text": "≥ 10",
        "rule": {"kind": "at_least", "threshold": 10},
        "actual": {"value": 10},
        "published": 100,
    }
    data.update(overrides)
    return data


def minimal(year: int = YEAR) -> dict:
    """A small valid cycle: 2 documents, 2 periods, 3 units, 1 position, 1 perspective with one
    strategic objective, one strategic, one operational and one individual objective."""
    return {
        "organization": {"name": "Camera di Commercio di Prova", "short_name": "CCIAA Prova"},
        "cycle": {"year": year, "title": f"Piano della Performance {year}"},
        "documents": [
            {"key": "piano", "kind": "piano", "title": "Piano", "number": "8"},
            {
                "key": "aggiornamento",
                "kind": "aggiornamento",
                "title": "Aggiornamento del Piano",
                "date": dt.date(year, 8, 16),
            },
        ],
        "rules": {"rounding": {"row": {"decimals": 0, "mode": "half_up"}}},
        "periods": [
            {"key": "monitoraggio", "name": "Monitoraggio", "end": dt.date(year, 6, 30)},
            {
                "key": "consuntivo",
                "name": "Consuntivo",
                "end": dt.date(year, 12, 31),
                "final": True,
            },
        ],
        "units": [
            {
                "key": "ente",
                "name": "Camera di Commercio di Prova",
                "kind": "ente",
                "aggregation": "own_rows",
                "children": [
                    {"key": "servizio-a", "name": "Servizio A", "kind": "servizio", "offices": 2},
                    {"key": "servizio-b", "name": "Servizio B", "kind": "servizio"},
                ],
            }
        ],
        "positions": [
            {"key": "sg", "kind": "segretario_generale", "title": "Segretario", "unit": "ente"}
        ],
        "perspectives": [
            {
                "code": "1",
                "name": "Competitività",
                "strategic_objectives": [
                    {
                        "code": "1.1",
                        "title": "Internazionalizzazione",
                        "objectives": [
                            {
                                "title": "Workshop B2B",
                                "indicators": [
                                    {
                                        "name": "N. workshop",
                                        "targets": [
                                            target_data(
                                                text="≥ 4",
                                                rule={"kind": "at_least", "threshold": 4},
                                                actual={"value": 4},
                                            )
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "operational": [
            {
                "strategic": "1.1",
                "title": "Sportello estero",
                "indicators": [
                    {
                        "name": "n. quesiti",
                        "unit_of_measure": "n.",
                        "baseline": {"value": 60, "year": year - 1, "text": "N. 60 quesiti"},
                        "source": "Gedoc",
                        "targets": [
                            target_data(
                                unit="servizio-a",
                                office="servizio-b",
                                text="≥ a 65",
                                rule={"kind": "at_least", "threshold": 65},
                                actual={"value": 90, "note": "N. 90 quesiti"},
                            )
                        ],
                    }
                ],
            }
        ],
        "individual": [
            {
                "position": "sg",
                "objectives": [
                    {
                        "title": "Coordinamento",
                        "strategic": "1.1",
                        "indicators": [
                            {
                                "name": "Riunioni",
                                "targets": [
                                    target_data(
                                        text="realizzazione",
                                        rule={"kind": "milestone"},
                                        actual={"done": True},
                                    )
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "stated": [
            {"ref": "Sezione 1", "label": "Prosp. 1", "node": "perspective:1", "value": 100}
        ],
    }


def op_target(data: dict, index: int = 0) -> dict:
    return data["operational"][0]["indicators"][0]["targets"][index]


def loaded_target(cycle: Cycle, indicator_name: str) -> Target:
    return Target.objects.get(indicator__objective__cycle=cycle, indicator__name=indicator_name)


# ------------------------------------------------------------------------------------ valid


def test_minimal_cycle_loads_every_object():
    before = counts()
    cycle = cycle_load(data=minimal())
    after = counts()
    assert {name: after[name] - before[name] for name in after} == {
        "Organization": 1,
        "Cycle": 1,
        "PlanDocument": 2,
        "MeasurementPeriod": 2,
        "Unit": 3,
        "Position": 1,
        "Perspective": 1,
        "StrategicObjective": 1,
        "Objective": 3,
        "Indicator": 3,
        "Target": 3,
        "Actual": 3,
        "StatedFigure": 1,
    }
    assert cycle.year == YEAR
    assert cycle.title == f"Piano della Performance {YEAR}"
    assert cycle.organization.short_name == "CCIAA Prova"
    assert cycle.rules["rounding"]["row"] == {"decimals": 0, "mode": "half_up"}
    assert MeasurementPeriod.objects.get(cycle=cycle, is_final=True).key == "consuntivo"
    kinds = sorted(Objective.objects.filter(cycle=cycle).values_list("kind", flat=True))
    assert kinds == ["individual", "operational", "strategic"]


def test_minimal_cycle_fields():
    cycle = cycle_load(data=minimal())
    servizio_a = Unit.objects.get(cycle=cycle, key="servizio-a")
    assert servizio_a.parent.key == "ente"
    assert servizio_a.offices == 2
    assert Position.objects.get(cycle=cycle, key="sg").unit.key == "ente"
    indicator = Indicator.objects.get(objective__cycle=cycle, name="n. quesiti")
    assert indicator.baseline_value == 60
    assert indicator.baseline_year == YEAR - 1
    assert indicator.baseline_text == "N. 60 quesiti"
    assert indicator.source == "Gedoc"
    assert indicator.objective.strategic_objective.code == "1.1"
    target = indicator.targets.get()
    assert (target.unit.key, target.office.key) == ("servizio-a", "servizio-b")
    assert target.rule == {"kind": "at_least", "threshold": "65"}  # normalized, as text
    assert target.published_pct == 100
    actual = target.actuals.get()
    assert actual.value_number == 90
    assert actual.note == "N. 90 quesiti"
    assert actual.period.key == "consuntivo"
    assert actual.override_pct is None
    individual = Objective.objects.get(cycle=cycle, kind="individual")
    assert individual.position.key == "sg"
    stated = StatedFigure.objects.get(cycle=cycle)
    assert (stated.node, stated.value) == ("perspective:1", "100")


def test_loaded_targets_and_actuals_have_history():
    user = UserFactory()
    before = Target.history.count()
    cycle = cycle_load(data=minimal(), user=user)
    targets = Target.objects.filter(indicator__objective__cycle=cycle)
    assert Target.history.count() - before == 3
    for target in targets:
        (record,) = target.history.all()
        assert record.history_type == "+"
        assert record.history_user == user
        assert record.text == target.text
    assert Actual.history.filter(target__indicator__objective__cycle=cycle).count() == 3
    assert Objective.history.filter(cycle=cycle).count() == 3


# ------------------------------------------------------------------------------- overrides


def test_published_figure_the_rule_gives_is_not_an_override():
    data = minimal()
    op_target(data).update(actual={"value": 52}, published=80)  # 52/65 = 80%
    cycle = cycle_load(data=data)
    actual = Actual.objects.get(target=loaded_target(cycle, "n. quesiti"))
    assert actual.override_pct is None
    assert actual.override_reason == ""


def test_published_figure_no_rule_gives_becomes_an_override():
    data = minimal()
    op_target(data).update(actual={"value": 52}, published=85)  # the rule gives 80
    cycle = cycle_load(data=data)
    actual = Actual.objects.get(target=loaded_target(cycle, "n. quesiti"))
    assert actual.override_pct == Decimal("85")
    assert actual.override_reason == f"valore approvato nella Relazione {YEAR}"
    assert actual.value_number == 52


def test_override_note_is_appended_to_the_reason():
    data = minimal()
    op_target(data).update(
        actual={"value": 52}, published=100, override_note="evento rinviato dalla Prefettura"
    )
    cycle = cycle_load(data=data)
    actual = Actual.objects.get(target=loaded_target(cycle, "n. quesiti"))
    assert actual.override_pct == 100
    assert actual.override_reason == (
        f"valore approvato nella Relazione {YEAR}: evento rinviato dalla Prefettura"
    )


def test_published_figure_without_an_actual_is_an_override_without_value():
    data = minimal()
    del op_target(data)["actual"]
    op_target(data)["published"] = 90
    cycle = cycle_load(data=data)
    actual = Actual.objects.get(target=loaded_target(cycle, "n. quesiti"))
    assert actual.override_pct == 90
    assert value_from_actual(actual.__dict__) is None


def test_target_without_actual_or_published_has_no_actual_row():
    data = minimal()
    del op_target(data)["actual"]
    del op_target(data)["published"]
    cycle = cycle_load(data=data)
    assert not Actual.objects.filter(target=loaded_target(cycle, "n. quesiti")).exists()


def test_row_rounding_of_the_cycle_decides_whether_published_matches():
    # 2/3 = 66.67%: rounded to 0 decimals (the cycle's rule) it is 67, so 67 is no override
    data = minimal()
    op_target(data).update(rule={"kind": "k_of_n", "n": 3}, actual={"k": 2}, published=67)
    cycle = cycle_load(data=data)
    assert Actual.objects.get(target=loaded_target(cycle, "n. quesiti")).override_pct is None

    data = minimal(YEAR + 1)
    op_target(data).update(rule={"kind": "k_of_n", "n": 3}, actual={"k": 2}, published=66)
    cycle = cycle_load(data=data)
    assert Actual.objects.get(target=loaded_target(cycle, "n. quesiti")).override_pct == 66


# ------------------------------------------------------- neutralized, excluded, revised rows


def test_neutralized_objective():
    data = minimal()
    data["operational"][0]["neutralized"] = {
        "reason": "Obiettivo eliminato in sede di aggiornamento",
        "document": "aggiornamento",
    }
    cycle = cycle_load(data=data)
    objective = Objective.objects.get(cycle=cycle, kind="operational")
    assert objective.status == Objective.Status.NEUTRALIZED
    assert objective.neutralization_reason == "Obiettivo eliminato in sede di aggiornamento"
    assert objective.neutralized_by == PlanDocument.objects.get(cycle=cycle, key="aggiornamento")
    others = Objective.objects.filter(cycle=cycle).exclude(pk=objective.pk)
    assert set(others.values_list("status", flat=True)) == {"active"}


def test_neutralized_on_a_target_neutralizes_its_objective():
    data = minimal()
    op_target(data)["neutralized"] = {"reason": "evento annullato", "document": "aggiornamento"}
    cycle = cycle_load(data=data)
    objective = Objective.objects.get(cycle=cycle, kind="operational")
    assert objective.status == Objective.Status.NEUTRALIZED
    assert objective.neutralization_reason == "evento annullato"


def test_excluded_row_keeps_its_reason_and_gets_no_override():
    data = minimal()
    op_target(data).update(excluded="Riga senza percentuale nella Relazione", published=50)
    cycle = cycle_load(data=data)
    target = loaded_target(cycle, "n. quesiti")
    assert target.status == Target.Status.EXCLUDED
    assert target.exclusion_reason == "Riga senza percentuale nella Relazione"
    assert target.is_duplicate is False
    actual = target.actuals.get()  # the measured value is kept
    assert actual.value_number == 90
    assert actual.override_pct is None


def test_duplicate_row():
    data = minimal()
    indicator = data["operational"][0]["indicators"][0]
    indicator["targets"].append({**copy.deepcopy(indicator["targets"][0]), "duplicate_of": True})
    cycle = cycle_load(data=data)
    first, second = Target.objects.filter(
        indicator__objective__cycle=cycle, indicator__name="n. quesiti"
    ).order_by("order")
    assert (first.status, first.is_duplicate) == ("active", False)
    assert (second.status, second.is_duplicate) == ("excluded", True)
    assert second.exclusion_reason == "riga ripetuta"


def test_duplicate_row_with_its_own_reason():
    data = minimal()
    op_target(data).update(duplicate_of=True, excluded="ripetuta nella tabella 3.2")
    cycle = cycle_load(data=data)
    target = loaded_target(cycle, "n. quesiti")
    assert target.exclusion_reason == "ripetuta nella tabella 3.2"
    assert target.is_duplicate is True


def test_revised_target_keeps_the_original():
    data = minimal()
    op_target(data).update(
        text="entro il 31.12",
        rule={"kind": "deadline", "due": dt.date(YEAR, 12, 31)},
        actual={"date": dt.date(YEAR, 11, 15)},
        original={
            "text": "entro il 30.9",
            "rule": {"kind": "deadline", "due": dt.date(YEAR, 9, 30)},
        },
        revised_by="aggiornamento",
    )
    cycle = cycle_load(data=data)
    target = loaded_target(cycle, "n. quesiti")
    assert target.text == "entro il 31.12"
    assert target.rule == {"kind": "deadline", "due": f"{YEAR}-12-31"}
    assert target.original_text == "entro il 30.9"
    assert target.original_rule == {"kind": "deadline", "due": f"{YEAR}-09-30"}
    assert target.revised_by == PlanDocument.objects.get(cycle=cycle, key="aggiornamento")
    assert target.actuals.get().value_date == dt.date(YEAR, 11, 15)


def test_multi_target_parts_are_stored_as_plain_json():
    data = minimal()
    op_target(data).update(
        rule={
            "kind": "multi",
            "parts": [{"kind": "at_least", "threshold": 2}, {"kind": "milestone"}],
            "labels": ["azioni", "evento"],
        },
        actual={"parts": [{"value": Decimal("2.5")}, {"done": True}]},
        published=100,
    )
    cycle = cycle_load(data=data)
    target = loaded_target(cycle, "n. quesiti")
    assert target.rule["parts"] == [{"kind": "at_least", "threshold": "2"}, {"kind": "milestone"}]
    actual = target.actuals.get()
    assert actual.value_parts == [{"value": "2.5"}, {"done": True}]
    assert actual.override_pct is None


# ----------------------------------------------------------------------------------- invalid


def _set(path: str, value):
    """A mutation of the dataset: set the item at a dotted path (ints index lists)."""

    def mutate(data: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = data
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
OP_T = "operational.0.indicators.0.targets.0"
OP_T_PATH = "operational[0].indicators[0].targets[0]"

# case: (mutation, message, consequent messages...)
INVALID = {
    "bad rule kind": (
        _set(f"{OP_T}.rule", {"kind": "almeno", "threshold": 1}),
        f"{OP_T_PATH}.rule: regola: tipo «almeno» sconosciuto",
    ),
    "rule without threshold": (
        _set(f"{OP_T}.rule", {"kind": "at_least"}),
        f"{OP_T_PATH}.rule: soglia: numero mancante",
    ),
    "unknown unit": (
        _set(f"{OP_T}.unit", "servizio-z"),
        f"{OP_T_PATH}.unit: unità «servizio-z» sconosciuta",
    ),
    "unknown office": (
        _set(f"{OP_T}.office", "ufficio-z"),
        f"{OP_T_PATH}.office: unità «ufficio-z» sconosciuta",
    ),
    "unknown strategic code": (
        _set("operational.0.strategic", "9.9"),
        "operational[0].strategic: obiettivo strategico «9.9» sconosciuto",
    ),
    "missing title": (
        _set("operational.0.title", "  "),
        "operational[0].title: manca il titolo dell'obiettivo",
    ),
    "missing final period": (
        _set("periods.1.final", False),
        "periods: manca il periodo di consuntivo (final: true)",
    ),
    "period without end": (
        _set("periods.0.end", "30 giugno"),
        "periods[0].end: data di fine mancante o non valida",
    ),
    "missing organization name": (
        _set("organization.name", ""),
        "organization.name: manca la denominazione dell'Ente",
    ),
    "year out of range": (_set("cycle.year", 1800), "cycle.year: anno mancante o non valido"),
    "year as text": (_set("cycle.year", "2031"), "cycle.year: anno mancante o non valido"),
    "unknown aggregation": (
        _set("rules.aggregation", {"objective": "media"}),
        "rules: aggregazione «objective»: metodo «media» sconosciuto",
    ),
    "bad rounding mode": (
        _set("rules.rounding.row.mode", "a caso"),
        "rules: arrotondamento: modalità «a caso» sconosciuta",
    ),
    "bad document kind": (
        _set("documents.0.kind", "delibera"),
        "documents[0].kind: tipo «delibera» non valido",
    ),
    "bad unit kind": (
        _set("units.0.children.1.kind", "reparto"),
        "units[0].children[1].kind: tipo di unità «reparto» non valido",
        f"{OP_T_PATH}.office: unità «servizio-b» sconosciuta",  # and what refers to it
    ),
    "bad unit aggregation": (
        _set("units.0.children.1.aggregation", "somma"),
        "units[0].children[1].aggregation: metodo «somma» non valido",
        f"{OP_T_PATH}.office: unità «servizio-b» sconosciuta",
    ),
    "repeated unit key": (
        _set("units.0.children.1.key", "servizio-a"),
        "units[0].children[1].key: codice «servizio-a» ripetuto",
        f"{OP_T_PATH}.office: unità «servizio-b» sconosciuta",
    ),
    "position of an unknown unit": (
        _set("positions.0.unit", "direzione"),
        "positions[0].unit: unità «direzione» sconosciuta",
        "individual[0].position: posizione «sg» sconosciuta",
    ),
    "bad position kind": (
        _set("positions.0.kind", "capo"),
        "positions[0].kind: tipo «capo» non valido",
        "individual[0].position: posizione «sg» sconosciuta",
    ),
    "individual objectives of an unknown position": (
        _set("individual.0.position", "vice"),
        "individual[0].position: posizione «vice» sconosciuta",
    ),
    "bad individual rule": (
        _set("individual.0.objectives.0.indicators.0.targets.0.rule", {"kind": "k_of_n", "n": 0}),
        "individual[0].objectives[0].indicators[0].targets[0].rule: "
        "n (totale): deve essere maggiore di 0",
    ),
    "bad strategic target rule": (
        _set(
            "perspectives.0.strategic_objectives.0.objectives.0.indicators.0.targets.0.rule",
            {"kind": "rating", "threshold": 7, "scale_min": 1, "scale_max": 5},
        ),
        "perspectives[0].strategic_objectives[0].objectives[0].indicators[0].targets[0].rule: "
        "soglia: fuori dalla scala di valutazione",
    ),
    "repeated strategic code": (
        lambda d: d["perspectives"][0]["strategic_objectives"].append(
            {"code": "1.1", "title": "Doppione", "objectives": []}
        ),
        "perspectives[0].strategic_objectives[1].code: codice «1.1» ripetuto",
    ),
    "objective without indicators": (
        _set("operational.0.indicators", []),
        "operational[0].indicators: l'obiettivo non ha indicatori",
    ),
    "indicator without targets": (
        _set("operational.0.indicators.0.targets", []),
        "operational[0].indicators[0].targets: l'indicatore non ha target",
    ),
    "indicator without name": (
        _set("operational.0.indicators.0.name", ""),
        "operational[0].indicators[0].name: manca il nome dell'indicatore",
    ),
    "bad direction": (
        _set("operational.0.indicators.0.direction", "up"),
        "operational[0].indicators[0].direction: direzione «up» non valida",
    ),
    "target without text": (
        _set(f"{OP_T}.text", ""),
        f"{OP_T_PATH}.text: manca il testo del target come approvato",
    ),
    "actual not a number": (
        _set(f"{OP_T}.actual", {"value": "novanta"}),
        f"{OP_T_PATH}.actual: valore: «novanta» non è un numero",
    ),
    "actual not a mapping": (
        _set(f"{OP_T}.actual", 90),
        f"{OP_T_PATH}.actual: il valore rilevato deve essere una mappa "
        "(value, date, done, k, parts)",
    ),
    "actual date not a date": (
        _set(f"{OP_T}.actual", {"date": "31/12"}),
        f"{OP_T_PATH}.actual: data: «31/12» non è una data (AAAA-MM-GG)",
    ),
    "unknown revising document": (
        _set(f"{OP_T}.revised_by", "delibera-99"),
        f"{OP_T_PATH}.revised_by: documento «delibera-99» sconosciuto",
    ),
    "bad original rule": (
        _set(f"{OP_T}.original", {"text": "x", "rule": {"kind": "entro"}}),
        f"{OP_T_PATH}.original.rule: regola: tipo «entro» sconosciuto",
    ),
    "neutralized without reason": (
        _set("operational.0.neutralized", {"reason": "", "document": "aggiornamento"}),
        "operational[0].neutralized.reason: manca il motivo della neutralizzazione",
    ),
    "stated figure not a number": (
        _set("stated.0.value", "cento"),
        "stated[0]: stated[0].value: «cento» non è un numero",
    ),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_input_is_reported_with_its_place_and_nothing_is_written(case):
    mutate, *messages = INVALID[case]
    data = minimal()
    mutate(data)
    before = counts()
    with pytest.raises(ValidationError) as raised:
        cycle_load(data=data)
    assert raised.value.messages == messages
    assert counts() == before


def test_several_errors_are_reported_together():
    data = minimal()
    for mutation in ("bad rule kind", "unknown strategic code", "missing final period"):
        INVALID[mutation][0](data)
    data["operational"][0]["indicators"][0]["targets"].append(target_data(unit="nessuna"))
    before = counts()
    with pytest.raises(ValidationError) as raised:
        cycle_load(data=data)
    assert sorted(raised.value.messages) == sorted(
        [
            "periods: manca il periodo di consuntivo (final: true)",
            "operational[0].strategic: obiettivo strategico «9.9» sconosciuto",
            f"{OP_T_PATH}.rule: regola: tipo «almeno» sconosciuto",
            "operational[0].indicators[0].targets[1].unit: unità «nessuna» sconosciuta",
        ]
    )
    assert counts() == before


def test_errors_before_writing_are_reported_together():
    data = minimal()
    data["organization"]["name"] = ""
    data["cycle"]["year"] = None
    data["rules"] = {"lateness": {"points_per_day": -1}}
    with pytest.raises(ValidationError) as raised:
        cycle_load(data=data)
    assert raised.value.messages == [
        "organization.name: manca la denominazione dell'Ente",
        "cycle.year: anno mancante o non valido",
        "rules: ritardo: penalità negativa o soglia fuori da 0–100",
    ]


# Malformed inputs: each is a ValidationError naming the place, and nothing is written.
MALFORMED = [
    pytest.param(
        _set(f"{OP_T}.published", 150),
        f"{OP_T_PATH}.published",
        id="published outside 0-100",
    ),
    pytest.param(
        lambda d: d["positions"].append(dict(d["positions"][0])),
        "positions[1].key",
        id="repeated position key",
    ),
    pytest.param(
        lambda d: d["documents"].append(dict(d["documents"][0])),
        "documents[2].key",
        id="repeated document key",
    ),
    pytest.param(
        _set("periods.0.final", True),
        "periods[1].final",
        id="two final periods",
    ),
    pytest.param(
        lambda d: d["units"][0]["children"].append({"name": "Senza codice", "kind": "ufficio"}),
        "units[0].children[2].key",
        id="unit without key",
    ),
    pytest.param(
        _set(f"{OP_T}.weight", "pesante"),
        f"{OP_T_PATH}.weight",
        id="weight not a number",
    ),
    pytest.param(
        _set("operational.0.neutralized", {"reason": "annullato", "document": "delibera-99"}),
        "operational[0].neutralized.document",
        id="neutralized by an unknown document",
    ),
]


@pytest.mark.parametrize(("mutate", "place"), MALFORMED)
def test_malformed_input_is_a_validation_error_naming_the_place(mutate, place):
    data = minimal()
    mutate(data)
    before = counts()
    with pytest.raises(ValidationError) as raised:
        cycle_load(data=data)
    assert any(message.startswith(f"{place}: ") for message in raised.value.messages)
    assert counts() == before


@pytest.mark.parametrize(
    ("mutate", "place"), [pytest.param(*p.values, id=p.id) for p in MALFORMED[:5]]
)
def test_even_a_crash_writes_nothing(mutate, place):
    data = minimal()
    mutate(data)
    before = counts()
    with pytest.raises(Exception):  # noqa: B017 - whatever it is, the transaction rolls back
        cycle_load(data=data)
    assert counts() == before


# -------------------------------------------------------------------------- loading twice


def test_same_year_twice_without_replace_is_refused():
    cycle_load(data=minimal())
    before = counts()
    with pytest.raises(ValidationError) as raised:
        cycle_load(data=minimal())
    assert raised.value.messages == [
        f"cycle.year: il ciclo {YEAR} esiste già (usare --replace per sostituirlo)"
    ]
    assert counts() == before


def test_same_year_with_replace_replaces():
    first = cycle_load(data=minimal())
    before = counts()
    data = minimal()
    data["cycle"]["title"] = "Piano aggiornato"
    op_target(data)["actual"] = {"value": 13}
    second = cycle_load(data=data, replace=True)
    assert second.pk != first.pk
    assert not Cycle.objects.filter(pk=first.pk).exists()
    assert counts() == before  # replaced, not added
    assert Cycle.objects.get(organization=second.organization, year=YEAR).title == (
        "Piano aggiornato"
    )
    assert Actual.objects.get(target=loaded_target(second, "n. quesiti")).value_number == 13


def test_replace_with_invalid_data_keeps_the_old_cycle():
    first = cycle_load(data=minimal())
    before = counts()
    data = minimal()
    INVALID["unknown unit"][0](data)
    with pytest.raises(ValidationError):
        cycle_load(data=data, replace=True)
    assert counts() == before
    assert Cycle.objects.filter(pk=first.pk).exists()


def test_same_year_of_another_organization_is_another_cycle():
    cycle_load(data=minimal())
    data = minimal()
    data["organization"]["name"] = "Altra Camera"
    other = cycle_load(data=data)
    assert Cycle.objects.filter(year=YEAR).count() == 2
    assert other.organization.name == "Altra Camera"


def test_replacing_the_2019_cycle_gives_the_same_plan(cycle_2019, dataset_2019):
    before = counts()
    replaced = cycle_load(data=copy.deepcopy(dataset_2019), replace=True)
    assert replaced.pk != cycle_2019.pk
    assert counts() == before


# --------------------------------------------------------------------------- the 2019 data

OVERRIDES_2019 = sorted(
    [
        # (indicator, unit key, override %, % by the rule)
        ("Attivazione del Data Management", None, 80, 70),
        ("Organizzazione e gestione evento", None, 94, 92),
        ("Riduzione delle ore di lavoro straordinario effettuato nel 2019", None, 97, 98),
        ("Report annuale di monitoraggio al Segretario Generale", None, 97, 90),
        ("Incontro con le OO.SS.", None, 98, 94),
        ("Predisposizione Bando per erogazione voucher", None, 91, 92),
        ("n. 1 iniziativa pubblica di valorizzazione", "affari-generali", 100, 65),
        ("n. 1 iniziativa pubblica di valorizzazione", "segreteria-presidenza", 100, 65),
        ("Incontro con le OO.SS.", "risorse-patrimonio", 98, 94),
        ("Informazione alle OO.SS.", "risorse-patrimonio", 98, 94),
        (
            "1 iniziativa di formazione per il personale di almeno 2 ore",
            "risorse-patrimonio",
            66,
            67,
        ),
        ("aggiudicazione lavori", "risorse-patrimonio", 100, 39),
    ],
    key=repr,
)


@pytest.fixture
def overrides_2019(cycle_2019):
    return list(
        Actual.objects.filter(
            target__indicator__objective__cycle=cycle_2019, override_pct__isnull=False
        ).select_related("target__indicator", "target__unit")
    )


def _rule_pct(actual: Actual, rules: scoring.Rules) -> Decimal:
    value = value_from_actual(actual.__dict__)
    result = scoring.score_rule(actual.target.rule, value, rules)
    return rules.rounding_for("row").apply(result.pct)


def test_2019_overrides_are_exactly_the_expected_rows(cycle_2019, overrides_2019):
    rules = scoring.Rules.from_dict(cycle_2019.rules)
    found = []
    for actual in overrides_2019:
        name = actual.target.indicator.name
        prefix = next(e[0] for e in OVERRIDES_2019 if name.startswith(e[0]))
        found.append(
            (
                prefix,
                actual.target.unit.key if actual.target.unit else None,
                int(actual.override_pct),
                int(_rule_pct(actual, rules)),
            )
        )
    assert len(overrides_2019) == 12
    assert sorted(found, key=repr) == OVERRIDES_2019


def test_2019_data_management_override(cycle_2019, overrides_2019):
    (actual,) = [
        a for a in overrides_2019 if a.target.indicator.name == "Attivazione del Data Management"
    ]
    assert actual.override_pct == Decimal("80")
    assert actual.override_reason == "valore approvato nella Relazione 2019"
    assert actual.value_date == dt.date(2019, 5, 30)
    assert actual.target.rule == {"kind": "deadline", "due": "2019-04-30"}
    assert _rule_pct(actual, scoring.Rules.from_dict(cycle_2019.rules)) == 70  # 30 days late
    assert actual.target.published_pct == 80


def test_2019_override_with_the_documents_note(cycle_2019, overrides_2019):
    (actual,) = [a for a in overrides_2019 if a.target.indicator.name == "aggiudicazione lavori"]
    assert actual.override_reason.startswith(
        "valore approvato nella Relazione 2019: Con il D.L. 18.4.2019, n. 32"
    )
    assert actual.value_date == dt.date(2019, 7, 31)


def test_2019_every_override_reason_and_every_published_figure(cycle_2019, overrides_2019):
    assert all(
        a.override_reason.startswith("valore approvato nella Relazione 2019")
        for a in overrides_2019
    )
    # every override is the published figure of its row
    assert all(a.override_pct == a.target.published_pct for a in overrides_2019)
    # no other row of the cycle carries an override
    assert (
        Actual.objects.filter(target__indicator__objective__cycle=cycle_2019)
        .exclude(override_reason="")
        .count()
        == 12
    )
