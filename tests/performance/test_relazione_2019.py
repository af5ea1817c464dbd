"""End to end: the 2019 dataset, loaded from fixtures/, reproduces the published Relazione.

Every published roll-up is asserted with its formula. Where the document contradicts itself the
computed figure stands and the consistency report lists the document's figure (see README,
"Incongruenze della Relazione 2019").
"""

from decimal import Decimal

import pytest

from performance import scoring
from performance.models import Target
from performance.selectors import cycle_score

pytestmark = pytest.mark.django_db


@pytest.fixture
def score(cycle_2019) -> scoring.CycleScore:
    return cycle_score(cycle=cycle_2019)


def node(score: scoring.CycleScore, ref: str) -> scoring.NodeResult:
    found = score.find(ref)
    assert found is not None, ref
    return found


@pytest.mark.parametrize(
    ("code", "achievement", "formula"),
    [
        ("1", "99.9", "1.698/17 = 99,9%"),
        ("2", "96.0", "480/5 = 96%"),
        ("3", "96.5", "193/2 = 96,5%"),
        ("4", "100.0", "200/2 = 100%"),
    ],
)
def test_perspectives(score, code, achievement, formula):
    perspective = node(score, f"perspective:{code}")
    assert perspective.achievement == Decimal(achievement)
    assert perspective.formula == formula


def test_strategic_total_is_the_mean_of_the_perspectives(score):
    assert score.strategic.achievement == Decimal("98.10")
    assert score.strategic.formula == "(99,9 + 96 + 96,5 + 100)/4 = 98,1%"
    assert score.strategic.total == Decimal("392.4")  # the document's "392,40/4"


def test_ente_operational_table(score):
    assert score.operational.achievement == Decimal("93.04")
    assert score.operational.formula == "4.931/53 = 93,04%"
    assert score.operational.count == 53
    excluded = {e.reason.split(":")[0] for e in score.operational.excluded}
    assert len(score.operational.excluded) == 4  # neutralized + three rows without a %
    assert "neutralizzato" in excluded


@pytest.mark.parametrize(
    ("key", "achievement", "formula"),
    [
        ("affari-generali", "79.75", "638/8 = 79,75%"),
        ("risorse-patrimonio", "95.45", "859/9 = 95,45%"),
        ("promozione", "83.00", "1.245/15 = 83%"),
        ("registro-imprese", "97.00", "1.067/11 = 97%"),
        ("regolazione-mercato", "98.75", "790/8 = 98,75%"),
        ("paviasviluppo", "96.77", "1.645/17 = 96,77%"),
        ("area-istituzionali", "97.74", "1.857/19 = 97,74%"),
        ("area-promozionali", "83.00", "1.245/15 = 83%"),
        # the Ufficio's table repeats one row: computed without the repetition (300/4),
        # the published 400/5 = 80% is reported as a discrepancy
        ("segreteria-presidenza", "75.00", "300/4 = 75%"),
        ("staff-sg", "83.40", "(75 + 79,75 + 95,45)/3 = 83,4%"),
        ("ente", "93.04", "4.931/53 = 93,04%"),
    ],
)
def test_units(score, key, achievement, formula):
    unit = node(score, f"unit:{key}")
    assert unit.achievement == Decimal(achievement)
    assert unit.formula == formula


def test_unit_rounding_is_the_cycles_rule(score):
    """859/9 = 95,444… and 1645/17 = 96,764…: the 2019 SMVP rounds unit figures up (the only
    rule that gives the published 95,45 and 96,77), rows half up to whole percents."""
    assert node(score, "unit:risorse-patrimonio").raw == Decimal(859) / 9
    assert scoring.Rules.from_dict({}).rounding_for("unit").apply(Decimal(859) / 9) == Decimal(
        "95.44"
    )


@pytest.mark.parametrize(
    ("key", "achievement", "formula"),
    [
        ("sg", "99.17", "1.190/12 = 99,17%"),
        ("po-registro-imprese", "94.43", "661/7 = 94,43%"),
        ("po-regolazione-mercato", "100.00", "900/9 = 100%"),
        ("po-risorse-patrimonio", "99.00", "792/8 = 99%"),
        ("po-promozione", "75.92", "911/12 = 75,92%"),
    ],
)
def test_individual_objectives(score, key, achievement, formula):
    position = node(score, f"position:{key}")
    assert position.achievement == Decimal(achievement)
    assert position.formula == formula


def test_objective_counts(score):
    assert score.counts == {
        "strategic:total": 19,
        "strategic:full": 16,
        "operational:total": 51,
        "operational:full": 41,
    }


def test_consistency_report_lists_exactly_the_documents_errors(score):
    found = sorted(
        (c.stated.ref, c.stated.node, c.field, str(c.stated_value), str(c.computed))
        for c in score.discrepancies
    )
    segreteria = "Sezione 3.2 – Ufficio Segreteria di Presidenza"
    assert found == sorted(
        [
            # section 1 repeats the Segreteria's 80 and the SG group's mean built on it
            ("Sezione 1", "unit:segreteria-presidenza", "valore", "80", "75.00"),
            ("Sezione 1", "unit:staff-sg", "valore", "85.07", "83.40"),
            # section 1 copies Area Servizi Istituzionali's figure with two digits swapped...
            ("Sezione 1", "unit:area-istituzionali", "valore", "97.37", "97.74"),
            # ...and gives Regolazione del Mercato the Area's figure instead of 790/8 = 98,75%
            ("Sezione 1", "unit:regolazione-mercato", "valore", "97.74", "98.75"),
            # section 3 counts 43 operational objectives at 100%, its tables give 41
            ("Sezione 3", "count:operational:full", "numero", "43", "41"),
            # the Segreteria's table repeats a row: 400/5 instead of 300/4
            (segreteria, "unit:segreteria-presidenza", "valore", "80", "75.00"),
            (segreteria, "unit:segreteria-presidenza", "somma", "400", "300"),
            (segreteria, "unit:segreteria-presidenza", "numero", "5", "4"),
        ]
    )
    # every other stated figure matches at the precision the document uses
    assert len(score.checks) - len(score.discrepancies) >= 40


def test_every_measured_row_equals_the_published_percentage(cycle_2019, score):
    published = {
        f"t{pk}": pct
        for pk, pct in Target.objects.filter(
            indicator__objective__cycle=cycle_2019, published_pct__isnull=False
        ).values_list("pk", "published_pct")
    }
    rows = {
        r.key: r
        for tree in (score.strategic, score.operational, score.units, *score.individual)
        for r in tree.all_rows()
    }
    compared = 0
    for key, pct in published.items():
        row = rows.get(key)
        if row is None or row.achievement is None:
            continue
        assert row.achievement == pct, (row.label, row.formula)
        compared += 1
    assert compared == 149


def test_overrides_are_the_rows_no_rule_explains(score):
    overrides = score.overrides()
    assert len(overrides) == 12
    assert all(
        r.override_reason.startswith("valore approvato nella Relazione 2019") for r in overrides
    )
    data_management = next(r for r in overrides if r.label == "Attivazione del Data Management")
    assert data_management.achievement == 80
    assert data_management.rule_value == 70
    assert "valore rettificato 80%" in data_management.formula


def test_json_form(score):
    data = scoring.cycle_to_dict(score)
    assert data["cycle"] == 2019
    assert data["strategic"]["achievement"] == 98.1
    assert [p["achievement"] for p in data["strategic"]["perspectives"]] == [99.9, 96, 96.5, 100]
    assert data["operational"]["achievement"] == 93.04
    assert data["units"]["name"] == "Camera di Commercio di Pavia"
    assert len(data["individual"]) == 5
    assert len(data["discrepancies"]) == 8

    def walk(item):
        assert {"name", "kind", "code", "achievement", "formula", "children"} <= item.keys()
        for child in item["children"]:
            walk(child)

    walk(data["operational"])
    walk(data["units"])
    for perspective in data["strategic"]["perspectives"]:
        walk(perspective)
