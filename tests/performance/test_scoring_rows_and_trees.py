"""Rows (exclusions, overrides, Ente rows), roll-ups of trees and whole cycles."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from performance.scoring import (
    EXCLUDED,
    NEUTRALIZED,
    CycleData,
    IndicatorData,
    Node,
    ObjectiveData,
    PerspectiveData,
    PositionData,
    Rounding,
    Row,
    Rules,
    ScoringError,
    Stated,
    StrategicObjectiveData,
    UnitData,
    Value,
    cycle_to_dict,
    ente_row,
    score_cycle,
    score_row,
    score_tree,
)

D = Decimal
RULES = Rules()
AT_LEAST_10 = {"kind": "at_least", "threshold": 10}
PCT = {"kind": "at_least", "threshold": 100}  # the actual is the row's percentage


def row(key, actual, spec=PCT, **kwargs):
    """A row scoring `actual` against `spec` (by default: actual% of 100)."""
    return Row(
        key,
        kwargs.pop("label", f"Target {key}"),
        spec=spec,
        value=Value(number=D(actual)),
        **kwargs,
    )


def rows(prefix, *actuals, **kwargs):
    return [row(f"{prefix}{i}", actual, **kwargs) for i, actual in enumerate(actuals)]


# ---------------------------------------------------------------------------- score_row: basic


def test_row_scored_by_its_rule():
    result = score_row(row("a", 8, AT_LEAST_10, weight=D(2), objective_key="o1"), RULES)
    assert result.achievement == 80
    assert result.rule_value == 80
    assert result.formula == "8/10 = 80%"
    assert result.band.key == "parziale"
    assert result.override is False
    assert result.excluded_reason == ""
    assert result.weight == 2
    assert result.objective_key == "o1"
    assert result.label == "Target a"


def test_row_rounded_by_row_rounding_and_formula_shows_it():
    spec = {"kind": "change", "change_pct": -20, "baseline": 524}
    result = score_row(row("a", "421.5", spec), RULES)
    assert result.achievement == 98
    assert result.rule_value.quantize(D("0.0001")) == D("97.8053")
    assert result.formula.endswith("= 97,81% ≈ 98%")


def test_row_rounding_two_decimals_no_approx_sign():
    rules = Rules(rounding={"default": Rounding(2), "row": Rounding(2)})
    spec = {"kind": "change", "change_pct": -20, "baseline": 524}
    result = score_row(row("a", "421.5", spec), rules)
    assert result.achievement == D("97.81")
    assert result.formula == "(421,5 − 524)/524 = -19,56% (obiettivo -20%) → -19,56/-20 = 97,81%"


def test_row_rounding_mode_up():
    rules = Rules(rounding={"default": Rounding(2), "row": Rounding(0, "up")})
    result = score_row(row("a", 13, {"kind": "k_of_n", "n": 14}), rules)
    assert result.achievement == 93
    assert result.formula == "13/14 = 92,86% ≈ 93%"
    rules_down = Rules(rounding={"default": Rounding(2), "row": Rounding(0, "down")})
    assert score_row(row("a", 13, {"kind": "k_of_n", "n": 14}), rules_down).achievement == 92


# ------------------------------------------------------------------------ score_row: excluded


def test_neutralized_row_with_reason():
    result = score_row(row("a", 8, AT_LEAST_10, status=NEUTRALIZED, reason="norma abrogata"), RULES)
    assert result.achievement is None
    assert result.formula == "neutralizzato: norma abrogata"
    assert result.excluded_reason == "neutralizzato: norma abrogata"
    assert result.band is None


def test_neutralized_row_without_reason():
    result = score_row(row("a", 8, AT_LEAST_10, status=NEUTRALIZED), RULES)
    assert result.achievement is None
    assert result.formula == "neutralizzato"
    assert result.excluded_reason == "neutralizzato"


def test_neutralized_row_ignores_an_override():
    r = row("a", 8, AT_LEAST_10, status=NEUTRALIZED, override=D(90), override_reason="x")
    assert score_row(r, RULES).achievement is None


def test_excluded_row():
    result = score_row(
        row("a", 8, AT_LEAST_10, status=EXCLUDED, reason="dato non disponibile"), RULES
    )
    assert result.achievement is None
    assert result.formula == "dato non disponibile"
    assert result.excluded_reason == "dato non disponibile"
    default = score_row(row("a", 8, AT_LEAST_10, status=EXCLUDED), RULES)
    assert default.achievement is None
    assert default.excluded_reason == "escluso dalla misurazione"


@pytest.mark.parametrize("value", [None, Value()])
def test_not_measured_row(value):
    result = score_row(Row("a", "A", spec=AT_LEAST_10, value=value), RULES)
    assert result.achievement is None
    assert result.formula == "valore non rilevato"
    assert result.excluded_reason == "valore non rilevato"


def test_not_computable_row_is_excluded_not_zero():
    r = Row("a", "A", spec={"kind": "rating", "threshold": 4}, value=Value(number=D(9)))
    result = score_row(r, RULES)
    assert result.achievement is None
    assert result.excluded_reason == "non calcolabile: valore: 9 è fuori dalla scala 1–5"
    assert result.formula == result.excluded_reason


# ------------------------------------------------------------------------ score_row: override


def test_override_requires_a_reason():
    with pytest.raises(ScoringError, match="motivazione"):
        score_row(row("a", 8, AT_LEAST_10, override=D(90)), RULES)
    with pytest.raises(ScoringError, match="motivazione"):
        score_row(row("a", 8, AT_LEAST_10, override=D(90), override_reason="   "), RULES)


def test_override_error_names_the_row():
    with pytest.raises(ScoringError, match=r"^Pratiche evase: la rettifica"):
        score_row(row("a", 8, AT_LEAST_10, label="Pratiche evase", override=D(90)), RULES)


def test_override_with_reason():
    r = row("a", 8, AT_LEAST_10, override=D(90), override_reason="verifica OIV")
    result = score_row(r, RULES)
    assert result.achievement == 90
    assert result.override is True
    assert result.override_reason == "verifica OIV"
    assert result.rule_value == 80
    assert result.formula == (
        "valore rettificato 90% (la regola darebbe 80%: 8/10 = 80%) — verifica OIV"
    )
    assert result.band.key == "parziale"


def test_override_clamped_and_rounded():
    r = row("a", 8, AT_LEAST_10, override=D(120), override_reason="x")
    assert score_row(r, RULES).achievement == 100
    r = row("a", 8, AT_LEAST_10, override=D("-5"), override_reason="x")
    assert score_row(r, RULES).achievement == 0
    r = row("a", 8, AT_LEAST_10, override=D("92.6"), override_reason="x")
    assert score_row(r, RULES).achievement == 93


def test_override_of_zero_is_an_override():
    r = row("a", 8, AT_LEAST_10, override=D(0), override_reason="dato errato")
    result = score_row(r, RULES)
    assert result.achievement == 0
    assert result.override is True
    assert result.formula.startswith("valore rettificato 0% (la regola darebbe 80%")


@pytest.mark.parametrize(
    "r",
    [
        Row("a", "A", spec=AT_LEAST_10, override=D(90), override_reason="dato OIV"),
        Row("a", "A", spec=AT_LEAST_10, value=Value(), override=D(90), override_reason="dato OIV"),
    ],
)
def test_override_without_a_value(r):
    result = score_row(r, RULES)
    assert result.achievement == 90
    assert result.override is True
    assert result.rule_value is None
    assert result.formula == "valore rettificato 90% — dato OIV"


def test_override_when_the_rule_cannot_score_the_value():
    r = Row(
        "a",
        "A",
        spec={"kind": "rating", "threshold": 4},
        value=Value(number=D(9)),
        override=D(70),
        override_reason="scala errata",
    )
    result = score_row(r, RULES)
    assert result.achievement == 70
    assert result.rule_value is None
    assert result.formula.startswith("valore rettificato 70%")
    assert result.formula.endswith("— scala errata")


# -------------------------------------------------------------------------------- Ente rows


def test_ente_row_unit_less_target_wins():
    ente = row("ente", 80)
    indicator = IndicatorData(
        "i1", "Ind", [row("u1", 90, unit_key="u1"), ente, row("u2", 70, unit_key="u2")]
    )
    assert ente_row(indicator) is ente


def test_ente_row_single_unit():
    first = row("u1a", 90, unit_key="u1")
    indicator = IndicatorData("i1", "Ind", [first, row("u1b", 50, unit_key="u1")])
    assert ente_row(indicator) is first


def test_ente_row_no_targets():
    assert ente_row(IndicatorData("i1", "Ind")) is None


def test_ente_row_several_units_mean():
    u1 = row("u1", 90, unit_key="u1", objective_key="o1", weight=D(3))
    u1b = row("u1b", 10, unit_key="u1")
    u2 = row("u2", 70, unit_key="u2")
    derived = ente_row(IndicatorData("i1", "Ind", [u1, u1b, u2]))
    assert derived.key == "ente:i1"
    assert derived.unit_key is None
    assert derived.indicator_key == "i1"
    assert derived.label == u1.label
    assert derived.objective_key == "o1"
    assert derived.weight == 3
    assert derived.derived_from == (u1, u2)
    result = score_row(derived, RULES)
    assert result.achievement == 80
    assert result.formula == "media delle unità: (90 + 70)/2 = 80%"


def test_derived_row_mean_rounded():
    derived = ente_row(
        IndicatorData("i1", "Ind", [row("u1", 80, unit_key="u1"), row("u2", 95, unit_key="u2")])
    )
    result = score_row(derived, RULES)
    assert result.achievement == 88
    assert result.formula == "media delle unità: (80 + 95)/2 = 87,5% ≈ 88%"


def test_derived_row_uses_rounded_unit_figures():
    spec = {"kind": "k_of_n", "n": 14}
    derived = ente_row(
        IndicatorData(
            "i1", "Ind", [row("u1", 13, spec, unit_key="u1"), row("u2", 14, spec, unit_key="u2")]
        )
    )
    result = score_row(derived, RULES)
    # 13/14 -> 93 (row rounding), (93 + 100)/2 = 96,5 -> 97
    assert result.formula == "media delle unità: (93 + 100)/2 = 96,5% ≈ 97%"
    assert result.achievement == 97


def test_derived_row_skips_excluded_units():
    derived = ente_row(
        IndicatorData(
            "i1",
            "Ind",
            [
                row("u1", 80, unit_key="u1"),
                row("u2", 10, unit_key="u2", status=NEUTRALIZED),
                Row("u3", "T", spec=PCT, unit_key="u3"),
            ],
        )
    )
    result = score_row(derived, RULES)
    assert result.achievement == 80
    assert result.formula == "media delle unità: (80)/1 = 80%"


def test_derived_row_nothing_measured():
    derived = ente_row(
        IndicatorData(
            "i1",
            "Ind",
            [Row("u1", "T", spec=PCT, unit_key="u1"), Row("u2", "T", spec=PCT, unit_key="u2")],
        )
    )
    result = score_row(derived, RULES)
    assert result.achievement is None
    assert result.excluded_reason == "nessuna unità ha un valore misurato"


def test_derived_row_override():
    base = ente_row(
        IndicatorData("i1", "Ind", [row("u1", 80, unit_key="u1"), row("u2", 60, unit_key="u2")])
    )
    derived = replace(base, override=D(75), override_reason="media OIV")
    result = score_row(derived, RULES)
    assert result.achievement == 75
    assert result.rule_value == 70
    assert result.formula == (
        "valore rettificato 75% (la regola darebbe 70%: media delle unità: (80 + 60)/2 = 70%)"
        " — media OIV"
    )


# ---------------------------------------------------------------------------------- score_tree

ROWS_638 = (80, 80, 80, 80, 80, 80, 80, 78)  # 638/8 = 79,75
ROWS_859 = (95, 95, 95, 95, 95, 95, 95, 95, 99)  # 859/9 = 95,444..
UP = Rules(rounding={"default": Rounding(2, "up"), "row": Rounding(0)})


def test_own_rows_formula_638_over_8():
    result = score_tree(Node("o", "Obiettivo", "objective", rows=rows("r", *ROWS_638)), RULES)
    assert result.achievement == D("79.75")
    assert result.raw == D("79.75")
    assert result.formula == "638/8 = 79,75%"
    assert result.total == 638
    assert result.count == 8
    assert result.method == "own_rows"
    assert result.band.key == "parziale"
    assert result.rescale_factor is None


def test_own_rows_rounding_mode_of_the_node_kind():
    node = Node("o", "Obiettivo", "objective", rows=rows("r", *ROWS_859))
    assert score_tree(node, RULES).formula == "859/9 = 95,44%"
    assert score_tree(node, UP).formula == "859/9 = 95,45%"
    assert score_tree(node, UP).achievement == D("95.45")
    assert score_tree(node, UP).raw == D(859) / D(9)


def test_children_formula_lists_the_figures():
    tree = Node(
        "s",
        "Strategici",
        "strategic",
        children=[
            Node("a", "A", "objective", rows=[row("a", 8, AT_LEAST_10)]),
            Node("b", "B", "objective", rows=rows("b", *ROWS_638)),
            Node("c", "C", "objective", rows=rows("c", *ROWS_859)),
        ],
    )
    result = score_tree(tree, UP)
    assert [c.achievement for c in result.children] == [80, D("79.75"), D("95.45")]
    assert result.method == "children"
    assert result.formula == "(80 + 79,75 + 95,45)/3 = 85,07%"
    assert result.achievement == D("85.07")
    assert result.total == D("255.20")


def test_children_more_than_eight_uses_the_sum():
    kids = [Node(f"k{i}", f"K{i}", "objective", rows=[row(f"r{i}", 90)]) for i in range(9)]
    result = score_tree(Node("g", "G", "group", children=kids), RULES)
    assert result.formula == "810/9 = 90%"


def test_subtree_rows_vs_children():
    kids = [
        Node("a", "A", "objective", rows=rows("a", 100, 100, 100)),
        Node("b", "B", "objective", rows=rows("b", 40)),
    ]
    subtree = score_tree(Node("p", "P", "perspective", children=kids), RULES)
    assert subtree.method == "subtree_rows"
    assert subtree.formula == "340/4 = 85%"
    by_children = score_tree(Node("p", "P", "perspective", method="children", children=kids), RULES)
    assert by_children.formula == "(100 + 40)/2 = 70%"


def test_subtree_rows_includes_own_rows_and_deep_rows():
    tree = Node(
        "p",
        "P",
        "perspective",
        method="subtree_rows",
        rows=rows("p", 10),
        children=[
            Node(
                "s",
                "S",
                "strategic_objective",
                children=[
                    Node("o", "O", "objective", rows=rows("o", 20, 30)),
                ],
            ),
        ],
    )
    result = score_tree(tree, RULES)
    assert result.formula == "60/3 = 20%"
    assert len(result.all_rows()) == 3
    assert [n.key for n in result.walk()] == ["p", "s", "o"]


def test_own_rows_ignores_children_rows():
    tree = Node(
        "o",
        "O",
        "objective",
        method="own_rows",
        rows=rows("o", 50),
        children=[Node("c", "C", "objective", rows=rows("c", 100))],
    )
    assert score_tree(tree, RULES).achievement == 50


def test_objectives_method_mean_per_objective():
    node_rows = [
        row("a", 100, objective_key="o1"),
        row("b", 80, objective_key="o1"),
        row("c", 60, objective_key="o2"),
    ]
    result = score_tree(
        Node("p", "Posizione", "position", method="objectives", rows=node_rows), RULES
    )
    assert result.formula == "(90 + 60)/2 = 75%"
    assert result.count == 2


def test_objectives_method_objective_weights():
    node_rows = [
        row("a", 100, objective_key="o1", objective_weight=D(3)),
        row("b", 80, objective_key="o1", objective_weight=D(3)),
        row("c", 60, objective_key="o2", objective_weight=D(1)),
    ]
    result = score_tree(Node("p", "P", "position", method="objectives", rows=node_rows), RULES)
    assert result.formula == "(3 × 90 + 1 × 60)/4 = 82,5%"
    assert result.achievement == D("82.5")


def test_objectives_method_rounding_of_the_objective_level():
    node_rows = [
        *rows("a", 100, 100, 99, objective_key="o1"),
        row("b", 50, objective_key="o2"),
    ]
    node = Node("p", "P", "position", method="objectives", rows=node_rows)
    rounded = score_tree(node, RULES)
    assert rounded.formula == "(99,67 + 50)/2 = 74,84%"
    raw = score_tree(node, Rules(roll_up_uses_rounded=False))
    assert raw.achievement == D("74.83")


def test_objectives_method_skips_excluded_rows():
    node_rows = [
        row("a", 100, objective_key="o1"),
        row("b", 0, objective_key="o1", status=NEUTRALIZED, reason="rinviato"),
        row("c", 60, objective_key="o2"),
    ]
    result = score_tree(Node("p", "P", "position", method="objectives", rows=node_rows), RULES)
    assert result.formula == "(100 + 60)/2 = 80%"
    assert [(e.label, e.reason) for e in result.excluded] == [
        ("Target b", "neutralizzato: rinviato")
    ]


def test_row_weights():
    node_rows = [row("a", 80, weight=D(2)), row("b", 50, weight=D(1))]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), RULES)
    assert result.formula == "(2 × 80 + 1 × 50)/3 = 70%"
    assert result.total == 210
    assert result.rescale_factor is None


def test_child_weights():
    tree = Node(
        "g",
        "G",
        "group",
        children=[
            Node("a", "A", "objective", weight=D(3), rows=rows("a", 80)),
            Node("b", "B", "objective", weight=D(1), rows=rows("b", 40)),
        ],
    )
    assert score_tree(tree, RULES).formula == "(3 × 80 + 1 × 40)/4 = 70%"


def test_weighted_formula_truncated_after_eight_terms():
    node_rows = [row(f"r{i}", 50, weight=D(1 + i % 2)) for i in range(10)]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), RULES)
    assert result.formula.count("×") == 8
    assert "+ …)/15" in result.formula
    assert result.achievement == 50


def test_weight_total_rescale_factor_in_the_formula():
    rules = Rules(weight_total=D(100))
    tree = Node(
        "g",
        "G",
        "group",
        children=[
            Node("a", "A", "objective", weight=D(30), rows=rows("a", 80)),
            Node("b", "B", "objective", weight=D(20), rows=rows("b", 50)),
        ],
    )
    result = score_tree(tree, rules)
    assert result.rescale_factor == 2
    assert result.achievement == 68
    assert result.formula == (
        "(30 × 80 + 20 × 50)/50 [pesi riscalati × 2: somma 50 invece di 100] = 68%"
    )


def test_weight_total_factor_after_an_excluded_row():
    rules = Rules.from_dict({"weight_total": 100})
    node_rows = [
        row("a", 90, weight=D(50)),
        row("b", 60, weight=D(20)),
        row("c", 10, weight=D(30), status=NEUTRALIZED),
    ]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), rules)
    assert result.rescale_factor == D(100) / D(70)
    assert "[pesi riscalati × 1,43: somma 70 invece di 100]" in result.formula
    assert result.formula.endswith("= 81,43%")


def test_weight_total_met_no_rescale():
    rules = Rules(weight_total=D(100))
    node_rows = [row("a", 80, weight=D(60)), row("b", 50, weight=D(40))]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), rules)
    assert result.rescale_factor is None
    assert result.formula == "(60 × 80 + 40 × 50)/100 = 68%"


def test_weight_total_rescale_with_equal_weights():
    rules = Rules(weight_total=D(100))
    node_rows = [row("a", 80, weight=D(25)), row("b", 60, weight=D(25)), row("c", 70, weight=D(25))]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), rules)
    assert result.achievement == 70
    assert result.rescale_factor == D(100) / D(75)
    assert "pesi riscalati × 1,33: somma 75 invece di 100" in result.formula


def test_roll_up_uses_rounded_true_vs_false():
    rounding = {"default": Rounding(2), "row": Rounding(0), "objective": Rounding(0)}
    tree = Node(
        "g",
        "G",
        "group",
        children=[
            Node("a", "A", "objective", rows=rows("a", 85, 84)),  # 84,5 -> 85
            Node("b", "B", "objective", rows=rows("b", 90)),
        ],
    )
    rounded = score_tree(tree, Rules(rounding=rounding, roll_up_uses_rounded=True))
    assert rounded.children[0].achievement == 85
    assert rounded.children[0].raw == D("84.5")
    assert rounded.formula == "(85 + 90)/2 = 87,5%"
    raw = score_tree(tree, Rules(rounding=rounding, roll_up_uses_rounded=False))
    assert raw.children[0].achievement == 85
    assert raw.formula == "(84,5 + 90)/2 = 87,25%"
    assert raw.achievement == D("87.25")


def test_method_from_rules_aggregation():
    rules = Rules.from_dict({"aggregation": {"group": "subtree_rows"}})
    tree = Node(
        "g",
        "G",
        "group",
        children=[
            Node("a", "A", "objective", rows=rows("a", 100, 100, 100)),
            Node("b", "B", "objective", rows=rows("b", 40)),
        ],
    )
    assert score_tree(tree, rules).formula == "340/4 = 85%"
    assert score_tree(tree, RULES).formula == "(100 + 40)/2 = 70%"


def test_unknown_method_rejected():
    with pytest.raises(ScoringError, match="metodo"):
        score_tree(Node("o", "O", "objective", method="median", rows=rows("r", 1)), RULES)


def test_zero_weights_rejected():
    with pytest.raises(ScoringError, match="pesi"):
        score_tree(Node("o", "O", "objective", rows=rows("r", 80, 90, weight=D(0))), RULES)


def test_empty_node():
    result = score_tree(Node("o", "O", "objective"), RULES)
    assert result.achievement is None
    assert result.raw is None
    assert result.formula == "nessun elemento misurato"
    assert result.count == 0
    assert result.band is None
    assert result.excluded == []


def test_node_with_only_excluded_rows():
    node_rows = [
        row("a", 80, status=NEUTRALIZED, reason="norma abrogata"),
        Row("b", "Target b", spec=PCT),
    ]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), RULES)
    assert result.achievement is None
    assert result.formula == "nessun elemento misurato"
    assert [(e.label, e.reason) for e in result.excluded] == [
        ("Target a", "neutralizzato: norma abrogata"),
        ("Target b", "valore non rilevato"),
    ]


def test_excluded_rows_leave_the_mean_not_counted_as_zero():
    node_rows = [row("a", 80), row("b", 60), row("c", 0, status=EXCLUDED, reason="fuori")]
    result = score_tree(Node("o", "O", "objective", rows=node_rows), RULES)
    assert result.formula == "140/2 = 70%"
    assert result.count == 2
    assert [e.label for e in result.excluded] == ["Target c"]


def test_excluded_children_listed():
    tree = Node(
        "s",
        "S",
        "strategic",
        children=[
            Node("a", "A", "objective", rows=rows("a", 80)),
            Node("b", "Obiettivo B", "objective"),
            Node("c", "C", "objective", rows=rows("c", 60)),
        ],
    )
    result = score_tree(tree, RULES)
    assert result.formula == "(80 + 60)/2 = 70%"
    assert [(e.label, e.reason) for e in result.excluded] == [
        ("Obiettivo B", "nessun valore misurato")
    ]
    assert result.children[1].formula == "nessun elemento misurato"


def test_subtree_rows_lists_deep_exclusions():
    tree = Node(
        "p",
        "P",
        "perspective",
        children=[
            Node("a", "A", "objective", rows=[row("a", 80), row("x", 1, status=NEUTRALIZED)]),
        ],
    )
    result = score_tree(tree, RULES)
    assert [(e.label, e.reason) for e in result.excluded] == [("Target x", "neutralizzato")]


def test_children_all_empty():
    tree = Node("s", "S", "strategic", children=[Node("a", "A", "objective")])
    result = score_tree(tree, RULES)
    assert result.achievement is None
    assert result.formula == "nessun elemento misurato"
    assert len(result.excluded) == 1


def test_node_band():
    assert score_tree(Node("o", "O", "objective", rows=rows("r", 95)), RULES).band.key == (
        "raggiunto"
    )
    assert score_tree(Node("o", "O", "objective", rows=rows("r", 50)), RULES).band.key == (
        "non_raggiunto"
    )


# ---------------------------------------------------------------------------------- score_cycle


def objective(key, *targets, strategic_code="", status="active", reason="", weight=None):
    return ObjectiveData(
        key=key,
        title=f"Obiettivo {key}",
        code=key.upper(),
        strategic_code=strategic_code,
        weight=D(1) if weight is None else weight,
        status=status,
        reason=reason,
        indicators=[IndicatorData(f"{key}-i", f"Indicatore {key}", list(targets))],
    )


STATED = [
    Stated("3.1", "Prospettiva 1", "perspective:P1", D("97.74")),
    Stated("3.2", "Prospettiva 2", "perspective:P2", D("99")),
    Stated("4.1", "Posizione 1", "position:pos1", D("99.90")),
    Stated("3.3", "Prospettiva 1 con somma", "perspective:P1", D("98.75"), sum=D(395), count=4),
    Stated("3.4", "Prospettiva 2 con somma", "perspective:P2", D("99.17"), sum=D(590), count=5),
    Stated("3.5", "Obiettivi strategici", "count:strategic:total", D(3)),
    Stated("3.6", "Obiettivi pienamente raggiunti", "count:strategic:full", D(2)),
    Stated("3.7", "Prospettiva inesistente", "perspective:ZZ", D(50)),
    Stated("3.8", "Unità 1", "unit:u1", D(95)),
    Stated("3.9", "Strategici", "strategic", D("99.31")),
    Stated("3.10", "Operativi", "operational", D("81.5")),
    Stated("3.11", "Obiettivo strategico 2", "strategic-objective:S2", D("99.1")),
]


def cycle_data(stated=STATED, units=True, unlinked=False):
    position_rows = [row(f"pos-{i}", 100) for i in range(24)]
    position_rows.append(row("pos-24", 100, override=D(97), override_reason="rettifica OIV"))
    return CycleData(
        year=2019,
        name="Piano 2019",
        rules=Rules(),
        perspectives=[
            PerspectiveData(
                "P1",
                "Prospettiva 1",
                strategic_objectives=[
                    StrategicObjectiveData(
                        "S1",
                        "Strategico 1",
                        objectives=[
                            objective("o1", *rows("o1-", 100, 100, 100, 95)),
                        ],
                    ),
                ],
            ),
            PerspectiveData(
                "P2",
                "Prospettiva 2",
                strategic_objectives=[
                    StrategicObjectiveData(
                        "S2",
                        "Strategico 2",
                        objectives=[
                            objective("o2", *rows("o2-", 100, 100, 100, 100, 100, 95)),
                            objective(
                                "o2b", row("o2b-0", 10), status="neutralized", reason="rimodulato"
                            ),
                        ],
                    ),
                ],
            ),
            PerspectiveData(
                "P3",
                "Prospettiva 3",
                strategic_objectives=[
                    StrategicObjectiveData(
                        "S3",
                        "Strategico 3",
                        objectives=[
                            objective(
                                "o3",
                                Row(
                                    "o3-0",
                                    "Fase",
                                    spec={"kind": "milestone"},
                                    value=Value(done=True),
                                ),
                            ),
                        ],
                    ),
                ],
            ),
        ],
        operational=[
            objective(
                "op1",
                row("op1-ente", 8, AT_LEAST_10),
                row("op1-u1", 10, AT_LEAST_10, unit_key="u1"),
                strategic_code="S1",
            ),
            objective(
                "op2",
                row("op2-u1", 90, unit_key="u1"),
                row("op2-u2", 75, unit_key="u2"),
                strategic_code="S2",
            ),
            objective(
                "op3",
                row("op3-u2", 10, unit_key="u2"),
                strategic_code="S1",
                status="neutralized",
                reason="soppresso",
            ),
            objective("op4", row("op4-ente", 100)),
        ][: 4 if unlinked else 3],
        units=UnitData(
            "ente",
            "Ente",
            "ente",
            children=[
                UnitData("u1", "Unità 1", "area"),
                UnitData("u2", "Unità 2", "area"),
            ],
        )
        if units
        else None,
        positions=[
            PositionData(
                "pos1",
                "Responsabile",
                holder="Mario Rossi",
                objectives=[
                    objective("po1", *position_rows),
                ],
            ),
        ],
        stated=list(stated),
    )


@pytest.fixture(scope="module")
def cycle():
    return score_cycle(cycle_data())


def test_cycle_strategic_tree(cycle):
    assert cycle.year == 2019
    assert cycle.strategic.formula == "(98,75 + 99,17 + 100)/3 = 99,31%"
    assert [p.code for p in cycle.strategic.children] == ["P1", "P2", "P3"]
    p1, p2, _ = cycle.strategic.children
    assert p1.formula == "395/4 = 98,75%"
    assert p2.formula == "595/6 = 99,17%"
    assert [(e.label, e.reason) for e in p2.excluded] == [
        ("Target o2b-0", "neutralizzato: rimodulato")
    ]


def test_cycle_counts(cycle):
    assert cycle.counts == {
        "strategic:total": 3,
        "strategic:full": 1,
        "operational:total": 2,
        "operational:full": 0,
    }


def test_cycle_operational_tree(cycle):
    op = cycle.operational
    assert [g.name for g in op.children] == ["Strategico 1", "Strategico 2"]
    assert [g.key for g in op.children] == ["operational:S1", "operational:S2"]
    op1, op3 = op.children[0].children
    assert op1.rows[0].key == "op1-ente"
    assert op1.achievement == 80
    assert op3.achievement is None
    assert op3.rows[0].excluded_reason == "neutralizzato: soppresso"
    op2 = op.children[1].children[0]
    assert op2.rows[0].key == "ente:op2-i"
    assert op2.rows[0].formula == "media delle unità: (90 + 75)/2 = 82,5% ≈ 83%"
    assert op.formula == "163/2 = 81,5%"


def test_cycle_without_strategic_code():
    score = score_cycle(cycle_data(stated=[], unlinked=True))
    assert score.operational.children[-1].name == "Senza obiettivo strategico"
    assert score.operational.children[-1].achievement == 100


def test_cycle_units(cycle):
    units = cycle.units
    assert units.kind == "ente"
    assert units.formula == "163/2 = 81,5%"
    u1, u2 = units.children
    assert u1.formula == "190/2 = 95%"
    assert u2.formula == "75/1 = 75%"
    assert [e.reason for e in u2.excluded] == ["neutralizzato: soppresso"]


def test_cycle_positions_and_overrides(cycle):
    (position,) = cycle.individual
    assert position.kind == "position"
    assert position.formula == "2.497/25 = 99,88%"
    overrides = cycle.overrides()
    assert [r.key for r in overrides] == ["pos-24"]
    assert overrides[0].achievement == 97
    assert overrides[0].rule_value == 100


def test_cycle_find(cycle):
    assert cycle.find("strategic") is cycle.strategic
    assert cycle.find("operational") is cycle.operational
    assert cycle.find("perspective:P2").achievement == D("99.17")
    assert cycle.find("perspective:perspective:P2").kind == "perspective"
    assert cycle.find("strategic-objective:S1").kind == "strategic_objective"
    assert cycle.find("strategic-objective:S1").achievement == D("98.75")
    assert cycle.find("unit:u2").achievement == 75
    assert cycle.find("unit:ente") is cycle.units
    assert cycle.find("position:pos1").achievement == D("99.88")
    assert cycle.find("perspective:S1") is None
    assert cycle.find("perspective:ZZ") is None
    assert cycle.find("unit:nessuna") is None
    assert cycle.find("objective:o1") is None


def checks_for(cycle, ref):
    return [
        (c.field, c.stated_value, c.computed, c.ok) for c in cycle.checks if c.stated.ref == ref
    ]


def test_check_discrepancy_97_74_vs_98_75(cycle):
    assert checks_for(cycle, "3.1") == [("valore", D("97.74"), D("98.75"), False)]


def test_check_consistent_at_zero_decimals(cycle):
    assert checks_for(cycle, "3.2") == [("valore", D("99"), D("99.17"), True)]


def test_check_stated_precision_99_90_vs_99_88(cycle):
    assert checks_for(cycle, "4.1") == [("valore", D("99.90"), D("99.88"), False)]


def test_check_sum_and_count_ok(cycle):
    assert checks_for(cycle, "3.3") == [
        ("valore", D("98.75"), D("98.75"), True),
        ("somma", D(395), D(395), True),
        ("numero", D(4), D(4), True),
    ]


def test_check_sum_and_count_wrong(cycle):
    assert checks_for(cycle, "3.4") == [
        ("valore", D("99.17"), D("99.17"), True),
        ("somma", D(590), D(595), False),
        ("numero", D(5), D(6), False),
    ]


def test_check_counts(cycle):
    assert checks_for(cycle, "3.5") == [("numero", D(3), D(3), True)]
    assert checks_for(cycle, "3.6") == [("numero", D(2), D(1), False)]


def test_check_node_not_found(cycle):
    (check,) = [c for c in cycle.checks if c.stated.ref == "3.7"]
    assert check.ok is False
    assert check.computed is None
    assert check.formula == "nodo non trovato"
    assert check.message == (
        "3.7 – Prospettiva inesistente: la fonte indica valore 50, il calcolo dà n.d."
        " (nodo non trovato)"
    )


def test_checks_other_nodes(cycle):
    assert checks_for(cycle, "3.8") == [("valore", D(95), D(95), True)]
    assert checks_for(cycle, "3.9") == [("valore", D("99.31"), D("99.31"), True)]
    assert checks_for(cycle, "3.10") == [("valore", D("81.5"), D("81.50"), True)]
    # 595/6 = 99,17 -> 99,2 at one decimal: a stated 99,1 is a discrepancy
    assert checks_for(cycle, "3.11") == [("valore", D("99.1"), D("99.17"), False)]


def test_discrepancies(cycle):
    assert [(c.stated.ref, c.field) for c in cycle.discrepancies] == [
        ("3.1", "valore"),
        ("4.1", "valore"),
        ("3.4", "somma"),
        ("3.4", "numero"),
        ("3.6", "numero"),
        ("3.7", "valore"),
        ("3.11", "valore"),
    ]
    first = cycle.discrepancies[0]
    assert first.message == (
        "3.1 – Prospettiva 1: la fonte indica valore 97,74, il calcolo dà 98,75 (395/4 = 98,75%)"
    )


def test_stated_precision_boundaries():
    stated = [
        Stated("a", "A", "perspective:P2", D("99.2")),  # 99.17 -> 99.2
        Stated("b", "B", "perspective:P2", D("99.170")),
        Stated("c", "C", "perspective:P2", D("100")),
        Stated("d", "D", "perspective:P1", D("98.8")),  # 98.75 -> 98.8 (half up)
        Stated("e", "E", "perspective:P1", D("99")),
    ]
    score = score_cycle(cycle_data(stated=stated))
    assert [c.ok for c in score.checks] == [True, True, False, True, True]


def walk_dict(node):
    yield node
    for child in node["children"]:
        yield from walk_dict(child)


def test_cycle_to_dict(cycle):
    data = cycle_to_dict(cycle)
    assert {"cycle", "strategic", "operational", "units", "individual", "discrepancies"} <= set(
        data
    )
    assert data["cycle"] == 2019
    assert data["name"] == "Piano 2019"
    assert set(data["strategic"]) == {"achievement", "formula", "perspectives"}
    assert data["strategic"]["achievement"] == 99.31
    assert data["strategic"]["formula"] == "(98,75 + 99,17 + 100)/3 = 99,31%"
    assert [p["code"] for p in data["strategic"]["perspectives"]] == ["P1", "P2", "P3"]
    assert data["operational"]["achievement"] == 81.5
    assert data["units"]["children"][0]["achievement"] == 95
    assert data["individual"][0]["achievement"] == 99.88
    assert data["counts"]["strategic:total"] == 3
    assert [o["name"] for o in data["overrides"]] == ["Target pos-24"]
    assert len(data["discrepancies"]) == 7
    first = data["discrepancies"][0]
    assert first["ref"] == "3.1"
    assert first["stated"] == 97.74
    assert first["computed"] == 98.75
    assert first["field"] == "valore"
    assert first["node"] == "perspective:P1"
    assert first["message"].startswith("3.1 – Prospettiva 1: la fonte indica valore 97,74")
    json.dumps(data)  # plain JSON types only


def test_cycle_to_dict_every_node_has_the_keys(cycle):
    data = cycle_to_dict(cycle)
    roots = [
        *data["strategic"]["perspectives"],
        data["operational"],
        data["units"],
        *data["individual"],
    ]
    keys = {"name", "kind", "code", "achievement", "formula", "children"}
    seen = 0
    for root in roots:
        for node in walk_dict(root):
            assert keys <= set(node), node
            seen += 1
    assert seen > 50
    p1 = data["strategic"]["perspectives"][0]
    assert p1["kind"] == "perspective"
    assert p1["achievement"] == 98.75
    target = next(n for n in walk_dict(p1) if n["kind"] == "target")
    assert target["code"] == ""
    assert target["achievement"] == 100
    neutralized = next(
        n
        for n in walk_dict(data["strategic"]["perspectives"][1])
        if n.get("excluded") and n["kind"] == "target"
    )
    assert neutralized["achievement"] is None
    assert neutralized["excluded"] == "neutralizzato: rimodulato"


def test_cycle_without_units():
    score = score_cycle(cycle_data(stated=[], units=False))
    assert score.units is None
    assert score.find("unit:u1") is None
    assert cycle_to_dict(score)["units"] is None
    assert score.checks == []
    assert cycle_to_dict(score)["discrepancies"] == []


def test_rows_contribute_unrounded_figures_without_roll_up_uses_rounded():
    rows = [
        Row(
            key="a", label="a", spec={"kind": "at_least", "threshold": 3}, value=Value(number=D(2))
        ),
        Row(
            key="b", label="b", spec={"kind": "at_least", "threshold": 3}, value=Value(number=D(3))
        ),
    ]
    node = Node("u", "Unità", "servizio", method="own_rows", rows=rows)
    rounded = score_tree(node, Rules.from_dict({}))
    raw = score_tree(node, Rules.from_dict({"roll_up_uses_rounded": False}))
    assert rounded.achievement == D("83.50")  # (67 + 100)/2
    assert raw.achievement == D("83.33")  # (66,666… + 100)/2, half up at 2 decimals


# ------------------------------------------------------------- walk / all_rows / subtree_rows


def _walk_reference(node):
    yield node
    for child in node.children:
        yield from _walk_reference(child)


def test_walk_and_all_rows_depth_first_parents_first():
    tree = Node(
        "root",
        "Radice",
        "area",
        rows=rows("r", 10),
        children=[
            Node(
                "a",
                "A",
                "area",
                rows=rows("a", 20, 30),
                children=[
                    Node("a1", "A1", "objective", rows=rows("a1-", 40)),
                    Node("a2", "A2", "objective", rows=rows("a2-", 50, 60)),
                ],
            ),
            Node("b", "B", "objective", rows=rows("b", 70)),
            Node("c", "C", "area", children=[Node("c1", "C1", "objective", rows=rows("c1-", 80))]),
        ],
    )
    result = score_tree(tree, RULES)
    assert [n.key for n in result.walk()] == [n.key for n in _walk_reference(result)]
    assert [n.key for n in result.walk()] == ["root", "a", "a1", "a2", "b", "c", "c1"]
    expected = [r.key for n in _walk_reference(result) for r in n.rows]
    assert [r.key for r in result.all_rows()] == expected
    assert expected == ["r0", "a0", "a1", "a1-0", "a2-0", "a2-1", "b0", "c1-0"]
    # subtree_rows: the node's own rows first, then every row below in walk order
    assert result.formula == "360/8 = 45%"
    assert result.count == 8
    assert result.total == 360
