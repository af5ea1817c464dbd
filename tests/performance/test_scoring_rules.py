"""Every scoring rule of performance/scoring.py and its edges, plus rounding, fmt() and dec()."""

import datetime as dt
from decimal import Decimal

import pytest

from performance import scoring
from performance.scoring import (
    Band,
    Lateness,
    Rounding,
    Rules,
    ScoringError,
    Value,
    dec,
    fmt,
    fmt_date,
    fmt_pct,
    score_rule,
    validate_spec,
)

D = Decimal
RULES = Rules()
DUE = dt.date(2019, 6, 30)


def pct(spec, rules=RULES, **value):
    return score_rule(spec, Value(**value), rules).pct


def formula(spec, rules=RULES, **value):
    return score_rule(spec, Value(**value), rules).formula


# ------------------------------------------------------------------------------------ at_least


def test_at_least_met_exactly_on_threshold():
    spec = {"kind": "at_least", "threshold": 10}
    assert pct(spec, number=D(10)) == 100
    assert formula(spec, number=D(10)) == "10 ≥ 10 → 100%"


def test_at_least_above_threshold():
    assert pct({"kind": "at_least", "threshold": "4,4"}, number=D("4.6")) == 100


def test_at_least_below_threshold_is_ratio():
    spec = {"kind": "at_least", "threshold": 10}
    assert pct(spec, number=D(8)) == 80
    assert formula(spec, number=D(8)) == "8/10 = 80%"


def test_at_least_fractional_ratio():
    result = score_rule({"kind": "at_least", "threshold": 5}, Value(number=D("4.6")), RULES)
    assert result.pct == D("92")
    assert result.formula == "4,6/5 = 92%"


def test_at_least_unrounded_pct_and_two_decimal_formula():
    result = score_rule({"kind": "at_least", "threshold": 17}, Value(number=D(16)), RULES)
    assert result.pct.quantize(D("0.0001")) == D("94.1176")
    assert result.formula == "16/17 = 94,12%"


def test_at_least_zero_threshold_all_or_nothing():
    spec = {"kind": "at_least", "threshold": 0}
    assert pct(spec, number=D(0)) == 100
    assert pct(spec, number=D(3)) == 100
    assert pct(spec, number=D("-0.01")) == 0
    assert formula(spec, number=D(-1)) == "-1 < 0 → 0%"


def test_at_least_negative_actual_with_positive_threshold_is_zero():
    assert pct({"kind": "at_least", "threshold": 10}, number=D(-4)) == 0


def test_at_least_negative_threshold_met():
    spec = {"kind": "at_least", "threshold": -5}
    assert pct(spec, number=D(-5)) == 100
    assert pct(spec, number=D(-4)) == 100
    assert pct(spec, number=D(3)) == 100


def test_at_least_negative_threshold_missed():
    spec = {"kind": "at_least", "threshold": -5}
    assert pct(spec, number=D("-7.5")) == 50
    assert formula(spec, number=D("-7.5")) == "1 − (-5 − -7,5)/5 = 50%"
    assert pct(spec, number=D(-6)) == 80


def test_at_least_negative_threshold_floor_zero():
    assert pct({"kind": "at_least", "threshold": -5}, number=D(-20)) == 0


def test_at_least_missing_number():
    with pytest.raises(ScoringError, match="numero rilevato"):
        score_rule({"kind": "at_least", "threshold": 10}, Value(done=True), RULES)


# ------------------------------------------------------------------------------------- at_most


def test_at_most_exactly_on_threshold():
    spec = {"kind": "at_most", "threshold": 10}
    assert pct(spec, number=D(10)) == 100
    assert formula(spec, number=D(10)) == "10 ≤ 10 → 100%"


def test_at_most_docstring_example_10_allowed_12_measured():
    spec = {"kind": "at_most", "threshold": 10}
    assert pct(spec, number=D(12)) == 80
    assert formula(spec, number=D(12)) == "1 − (12 − 10)/10 = 80%"


def test_at_most_far_exceeded_floor_zero():
    assert pct({"kind": "at_most", "threshold": 10}, number=D(25)) == 0


def test_at_most_payment_timeliness_negative_values():
    spec = {"kind": "at_most", "threshold": "-11.59"}
    assert pct(spec, number=D("-13.06")) == 100
    assert formula(spec, number=D("-13.06")) == "-13,06 ≤ -11,59 → 100%"
    assert pct(spec, number=D("-11.59")) == 100


def test_at_most_negative_threshold_exceeded():
    spec = {"kind": "at_most", "threshold": -10}
    assert pct(spec, number=D(-8)) == 80
    assert formula(spec, number=D(-8)) == "1 − (-8 − -10)/10 = 80%"
    assert pct(spec, number=D(0)) == 0


def test_at_most_zero_threshold_all_or_nothing():
    spec = {"kind": "at_most", "threshold": 0}
    assert pct(spec, number=D(0)) == 100
    assert pct(spec, number=D(-3)) == 100
    assert pct(spec, number=D("0.5")) == 0
    assert formula(spec, number=D("0.5")) == "0,5 > 0 → 0%"


# -------------------------------------------------------------------------------------- change


def test_change_with_baseline_reduction_partially_met():
    spec = {"kind": "change", "change_pct": -20, "baseline": 524}
    result = score_rule(spec, Value(number=D("421.5")), RULES)
    assert result.pct.quantize(D("0.0001")) == D("97.8053")
    assert result.formula == ("(421,5 − 524)/524 = -19,56% (obiettivo -20%) → -19,56/-20 = 97,81%")


def test_change_with_baseline_reduction_exceeded():
    spec = {"kind": "change", "change_pct": -50, "baseline": 100}
    assert pct(spec, number=D("46.3")) == 100
    assert formula(spec, number=D("46.3")) == "(46,3 − 100)/100 = -53,7% (obiettivo -50%) → 100%"


def test_change_without_baseline_reduction_exceeded():
    spec = {"kind": "change", "change_pct": -50}
    assert pct(spec, number=D("-53.7")) == 100
    assert formula(spec, number=D("-53.7")) == "variazione -53,7% (obiettivo -50%) → 100%"


def test_change_exactly_on_target():
    assert pct({"kind": "change", "change_pct": -20}, number=D(-20)) == 100
    assert pct({"kind": "change", "change_pct": -20, "baseline": 50}, number=D(40)) == 100


def test_change_increase_when_reduction_required_is_zero():
    assert pct({"kind": "change", "change_pct": -20, "baseline": 100}, number=D(110)) == 0
    assert pct({"kind": "change", "change_pct": -20}, number=D(5)) == 0


def test_change_no_change_when_reduction_required_is_zero():
    assert pct({"kind": "change", "change_pct": -20, "baseline": 100}, number=D(100)) == 0


def test_change_without_baseline_partial():
    spec = {"kind": "change", "change_pct": -20}
    assert pct(spec, number=D(-10)) == 50
    assert formula(spec, number=D(-10)) == "variazione -10% (obiettivo -20%) → -10/-20 = 50%"


def test_change_increase_target():
    spec = {"kind": "change", "change_pct": 10, "baseline": 200}
    assert pct(spec, number=D(210)) == 50
    assert formula(spec, number=D(210)) == ("(210 − 200)/200 = 5% (obiettivo +10%) → 5/10 = 50%")
    assert pct(spec, number=D(220)) == 100
    assert pct(spec, number=D(190)) == 0


def test_change_negative_baseline_uses_absolute_value():
    # from -100 to -80 is +20% of |baseline|
    assert pct({"kind": "change", "change_pct": 20, "baseline": -100}, number=D(-80)) == 100
    assert pct({"kind": "change", "change_pct": 40, "baseline": -100}, number=D(-80)) == 50


# ------------------------------------------------------------------------------------ deadline

DEADLINE = {"kind": "deadline", "due": "2019-06-30"}


def test_deadline_on_the_due_date():
    assert pct(DEADLINE, date=DUE) == 100
    assert formula(DEADLINE, date=DUE) == "30/06/2019 entro il 30/06/2019 → 100%"


def test_deadline_before_the_due_date():
    assert pct(DEADLINE, date=dt.date(2019, 1, 1)) == 100


def test_deadline_one_day_late_default_rules():
    result = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 1)), RULES)
    assert result.pct == 99
    assert result.formula == "01/07/2019: 1 giorni di ritardo sul 30/06/2019 → 100 − 1 × 1 = 99%"


def test_deadline_due_given_as_date_object():
    assert pct({"kind": "deadline", "due": DUE}, date=dt.date(2019, 7, 3)) == 97


def test_deadline_points_per_day_from_dict():
    rules = Rules.from_dict({"lateness": {"points_per_day": 2}})
    assert pct(DEADLINE, rules, date=dt.date(2019, 7, 3)) == 94


def test_deadline_points_per_day_with_decimal_comma():
    rules = Rules.from_dict({"lateness": {"points_per_day": "0,5"}})
    assert rules.lateness.points_per_day == D("0.5")
    result = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 3)), rules)
    assert result.pct == D("98.5")
    assert result.formula.endswith("100 − 3 × 0,5 = 98,5%")


def test_deadline_grace_days():
    rules = Rules.from_dict({"lateness": {"grace_days": 5}})
    inside = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 5)), rules)
    assert inside.pct == 100
    assert "entro la tolleranza di 5 giorni" in inside.formula
    after = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 6)), rules)
    assert after.pct == 99
    assert "6 giorni di ritardo" in after.formula
    assert "100 − 1 × 1 = 99%" in after.formula


def test_deadline_floor():
    rules = Rules.from_dict({"lateness": {"points_per_day": 10, "floor": 50}})
    assert pct(DEADLINE, rules, date=dt.date(2019, 7, 4)) == 60
    assert pct(DEADLINE, rules, date=dt.date(2019, 7, 5)) == 50
    result = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 8)), rules)
    assert result.pct == 50
    assert "minimo 50%" in result.formula


def test_deadline_floor_formula_shows_the_raw_penalty():
    rules = Rules.from_dict({"lateness": {"points_per_day": 10, "floor": 50}})
    result = score_rule(DEADLINE, Value(date=dt.date(2019, 7, 8)), rules)
    assert result.pct == 50
    assert "100 − 8 × 10 = 20%" in result.formula


def test_deadline_default_floor_zero_never_negative():
    result = score_rule(DEADLINE, Value(date=dt.date(2019, 12, 31)), RULES)
    assert result.pct == 0


def test_deadline_not_done_is_zero():
    result = score_rule(DEADLINE, Value(done=False), RULES)
    assert result.pct == 0
    assert result.formula == "non realizzato (scadenza 30/06/2019) → 0%"


def test_deadline_not_done_is_zero_even_with_a_floor():
    rules = Rules.from_dict({"lateness": {"floor": 50}})
    assert pct(DEADLINE, rules, done=False) == 0


def test_deadline_missing_date_rejected():
    with pytest.raises(ScoringError, match="data"):
        score_rule(DEADLINE, Value(done=True), RULES)
    with pytest.raises(ScoringError, match="data"):
        score_rule(DEADLINE, Value(), RULES)


@pytest.mark.parametrize(
    ("lateness", "word"),
    [
        ({"points_per_day": -1}, "ritardo"),
        ({"floor": 101}, "ritardo"),
        ({"floor": -1}, "ritardo"),
        ({"points_per_day": "abc"}, "penalità"),
    ],
)
def test_lateness_validation(lateness, word):
    with pytest.raises(ScoringError, match=word):
        Rules.from_dict({"lateness": lateness})


def test_lateness_defaults():
    assert Rules().lateness == Lateness(D(1), D(0), 0)
    assert Rules.from_dict(None).lateness == Lateness(D(1), D(0), 0)


# ----------------------------------------------------------------------------------- milestone


def test_milestone_done():
    assert pct({"kind": "milestone"}, done=True) == 100
    assert formula({"kind": "milestone"}, done=True) == "realizzato → 100%"


def test_milestone_done_with_date():
    assert formula({"kind": "milestone"}, date=dt.date(2019, 3, 15)) == (
        "realizzato il 15/03/2019 → 100%"
    )
    assert pct({"kind": "milestone"}, date=dt.date(2019, 3, 15)) == 100


def test_milestone_not_done():
    assert pct({"kind": "milestone"}, done=False) == 0
    assert formula({"kind": "milestone"}, done=False) == "non realizzato → 0%"


def test_milestone_missing_value():
    with pytest.raises(ScoringError, match="realizzata"):
        score_rule({"kind": "milestone"}, Value(), RULES)


# -------------------------------------------------------------------------------------- rating


def test_rating_below_threshold():
    result = score_rule({"kind": "rating", "threshold": "4.4"}, Value(number=D("4.2")), RULES)
    assert result.pct.quantize(D("0.0001")) == D("94.1176")
    assert result.pct == (D("4.2") - 1) / (D("4.4") - 1) * 100
    assert result.formula == "(4,2 − 1)/(4,4 − 1) = 94,12%"


def test_rating_met_and_on_threshold():
    spec = {"kind": "rating", "threshold": "4.4"}
    assert pct(spec, number=D("4.6")) == 100
    assert pct(spec, number=D("4.4")) == 100
    assert formula(spec, number=D("4.4")) == "4,4 ≥ 4,4 → 100%"


def test_rating_scale_minimum_is_zero():
    assert pct({"kind": "rating", "threshold": 4}, number=D(1)) == 0


def test_rating_custom_scale():
    spec = {"kind": "rating", "threshold": 8, "scale_min": 0, "scale_max": 10}
    assert pct(spec, number=D(6)) == 75
    assert pct(spec, number=D(10)) == 100


def test_rating_threshold_equal_to_scale_min():
    assert pct({"kind": "rating", "threshold": 1}, number=D(1)) == 100


@pytest.mark.parametrize("actual", ["5.5", "0.5", "-1", "6"])
def test_rating_outside_the_scale_rejected(actual):
    with pytest.raises(ScoringError, match="fuori dalla scala 1–5"):
        score_rule({"kind": "rating", "threshold": 4}, Value(number=D(actual)), RULES)


def test_rating_scale_bounds_accepted():
    assert pct({"kind": "rating", "threshold": 4}, number=D(5)) == 100
    assert pct({"kind": "rating", "threshold": 5}, number=D(3)) == 50


# ---------------------------------------------------------------------------------- thresholds

HIGHER = {"kind": "thresholds", "minimum": 60, "target": 80}
LOWER = {"kind": "thresholds", "minimum": 30, "target": 20}


def test_thresholds_higher_is_better():
    assert pct(HIGHER, number=D("59.99")) == 0
    assert pct(HIGHER, number=D(60)) == 0
    assert pct(HIGHER, number=D(70)) == 50
    assert pct(HIGHER, number=D(75)) == 75
    assert pct(HIGHER, number=D(80)) == 100
    assert pct(HIGHER, number=D(95)) == 100


def test_thresholds_higher_formulas():
    assert formula(HIGHER, number=D(50)) == "50 non raggiunge il minimo 60 → 0%"
    assert formula(HIGHER, number=D(80)) == "80 raggiunge l'obiettivo 80 → 100%"
    assert formula(HIGHER, number=D(70)) == "0 + 100 × (70 − 60)/(80 − 60) = 50%"


def test_thresholds_minimum_score():
    spec = {**HIGHER, "minimum_score": 50}
    assert pct(spec, number=D(60)) == 50
    assert pct(spec, number=D(70)) == 75
    assert pct(spec, number=D("59.9")) == 0
    assert formula(spec, number=D(70)) == "50 + 50 × (70 − 60)/(80 − 60) = 75%"


def test_thresholds_lower_is_better():
    assert pct(LOWER, number=D(31)) == 0
    assert pct(LOWER, number=D(30)) == 0
    assert pct(LOWER, number=D(25)) == 50
    assert pct(LOWER, number=D(20)) == 100
    assert pct(LOWER, number=D(15)) == 100


def test_thresholds_lower_is_better_minimum_score():
    spec = {**LOWER, "minimum_score": 40}
    assert pct(spec, number=D(30)) == 40
    assert pct(spec, number=D(25)) == 70
    assert pct(spec, number=D("30.5")) == 0


# -------------------------------------------------------------------------------------- k_of_n


def test_k_of_n_docstring_example():
    result = score_rule({"kind": "k_of_n", "n": 14}, Value(k=D(13)), RULES)
    assert result.pct.quantize(D("0.0001")) == D("92.8571")
    assert result.formula == "13/14 = 92,86%"


def test_k_of_n_k_equals_n():
    assert pct({"kind": "k_of_n", "n": 14}, k=D(14)) == 100
    assert formula({"kind": "k_of_n", "n": 14}, k=D(14)) == "14/14 = 100%"


def test_k_of_n_k_greater_than_n_capped():
    result = score_rule({"kind": "k_of_n", "n": 14}, Value(k=D(15)), RULES)
    assert result.pct == 100
    assert result.formula == "15/14 = 100% (oltre il totale: 100%)"


def test_k_of_n_zero_k():
    assert pct({"kind": "k_of_n", "n": 14}, k=D(0)) == 0


def test_k_of_n_k_from_number():
    assert pct({"kind": "k_of_n", "n": 4}, number=D(3)) == 75


def test_k_of_n_value_n_wins_over_spec_n():
    assert pct({"kind": "k_of_n", "n": 4}, k=D(3), n=D(6)) == 50


@pytest.mark.parametrize("n", [0, -1, "0"])
def test_k_of_n_spec_n_zero_rejected(n):
    with pytest.raises(ScoringError, match=r"n \(totale\)"):
        validate_spec({"kind": "k_of_n", "n": n})


def test_k_of_n_value_n_zero_rejected():
    with pytest.raises(ScoringError, match="maggiore di 0"):
        score_rule({"kind": "k_of_n", "n": 4}, Value(k=D(0), n=D(0)), RULES)


def test_k_of_n_negative_k_rejected():
    with pytest.raises(ScoringError, match="negativo"):
        score_rule({"kind": "k_of_n", "n": 4}, Value(k=D(-1)), RULES)


def test_k_of_n_missing_k():
    with pytest.raises(ScoringError, match="manca k"):
        score_rule({"kind": "k_of_n", "n": 4}, Value(done=True), RULES)


# --------------------------------------------------------------------------------------- multi

MULTI = {
    "kind": "multi",
    "parts": [{"kind": "at_least", "threshold": 10}, {"kind": "milestone"}],
}


def test_multi_mean():
    result = score_rule(MULTI, Value(parts=(Value(number=D(8)), Value(done=True))), RULES)
    assert result.pct == 90
    assert result.formula == (
        "parte 1: 8/10 = 80%; parte 2: realizzato → 100%; media delle parti: (80 + 100)/2 = 90%"
    )


def test_multi_min():
    spec = {**MULTI, "combine": "min"}
    result = score_rule(spec, Value(parts=(Value(number=D(8)), Value(done=True))), RULES)
    assert result.pct == 80
    assert result.formula.endswith("; minimo delle parti = 80%")


def test_multi_labels():
    spec = {**MULTI, "labels": ["Pratiche", "Regolamento"]}
    result = score_rule(spec, Value(parts=(Value(number=D(8)), Value(done=False))), RULES)
    assert result.pct == 40
    assert result.formula.startswith("Pratiche: 8/10 = 80%; Regolamento: non realizzato → 0%")


def test_multi_missing_part_left_out_of_the_mean():
    result = score_rule(MULTI, Value(parts=(Value(number=D(8)), None)), RULES)
    assert result.pct == 80
    assert "parte 2: non rilevata" in result.formula
    assert result.formula.endswith("media delle parti: (80)/1 = 80%")


def test_multi_missing_trailing_part_and_empty_part():
    assert score_rule(MULTI, Value(parts=(Value(number=D(9)),)), RULES).pct == 90
    assert score_rule(MULTI, Value(parts=(Value(), Value(done=True))), RULES).pct == 100


def test_multi_no_part_measured():
    with pytest.raises(ScoringError, match="nessuna parte"):
        score_rule(MULTI, Value(parts=(None, None)), RULES)


def test_multi_three_parts_mean_of_unrounded():
    spec = {"kind": "multi", "parts": [{"kind": "k_of_n", "n": 3}] * 3}
    parts = (Value(k=D(1)), Value(k=D(2)), Value(k=D(3)))
    result = score_rule(spec, Value(parts=parts), RULES)
    assert result.pct.quantize(D("0.0001")) == D("66.6667")


# ------------------------------------------------------------------------------- validate_spec


@pytest.mark.parametrize(
    ("spec", "word"),
    [
        (["at_least"], "regola"),
        ({}, "tipo"),
        ({"kind": "between"}, "tipo"),
        ({"kind": "at_least"}, "soglia"),
        ({"kind": "at_most", "threshold": "abc"}, "soglia"),
        ({"kind": "change"}, "variazione obiettivo"),
        ({"kind": "change", "change_pct": 0}, "variazione obiettivo"),
        ({"kind": "change", "change_pct": -20, "baseline": 0}, "valore di partenza"),
        ({"kind": "change", "change_pct": -20, "baseline": "x"}, "valore di partenza"),
        ({"kind": "deadline"}, "scadenza"),
        ({"kind": "deadline", "due": "30/06/2019"}, "data"),
        ({"kind": "rating", "threshold": 6}, "soglia"),
        ({"kind": "rating", "threshold": 0}, "scala"),
        ({"kind": "rating", "threshold": 3, "scale_min": "x"}, "minimo della scala"),
        ({"kind": "rating", "threshold": 3, "scale_max": 2}, "scala"),
        ({"kind": "thresholds", "minimum": 5, "target": 5}, "coincidere"),
        ({"kind": "thresholds", "target": 5}, "valore minimo"),
        ({"kind": "thresholds", "minimum": 5}, "valore obiettivo"),
        ({"kind": "thresholds", "minimum": 1, "target": 5, "minimum_score": 120}, "punteggio"),
        ({"kind": "thresholds", "minimum": 1, "target": 5, "minimum_score": -1}, "punteggio"),
        ({"kind": "k_of_n"}, "totale"),
        ({"kind": "k_of_n", "n": 0}, "totale"),
        ({"kind": "multi", "parts": [{"kind": "milestone"}]}, "due parti"),
        ({"kind": "multi"}, "due parti"),
        (
            {"kind": "multi", "parts": [{"kind": "milestone"}] * 2, "combine": "max"},
            "combinazione",
        ),
        ({"kind": "multi", "parts": [{"kind": "milestone"}, {"kind": "at_least"}]}, "soglia"),
    ],
)
def test_validate_spec_errors(spec, word):
    with pytest.raises(ScoringError, match=word):
        validate_spec(spec)


def test_validate_spec_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate_spec({"kind": "at_least"})


def test_score_rule_validates_the_spec():
    with pytest.raises(ScoringError, match="soglia"):
        score_rule({"kind": "at_least"}, Value(number=D(1)), RULES)


def test_validate_spec_normalizes():
    assert validate_spec({"kind": "at_least", "threshold": "4,6"}) == {
        "kind": "at_least",
        "threshold": D("4.6"),
    }
    assert validate_spec({"kind": "rating", "threshold": 4}) == {
        "kind": "rating",
        "threshold": D(4),
        "scale_min": D(1),
        "scale_max": D(5),
    }
    assert validate_spec(DEADLINE) == {"kind": "deadline", "due": DUE}
    assert validate_spec({"kind": "thresholds", "minimum": 1, "target": 2})["minimum_score"] == 0
    multi = validate_spec(MULTI)
    assert multi["combine"] == "mean"
    assert multi["labels"] == []
    assert multi["parts"] == [{"kind": "at_least", "threshold": D(10)}, {"kind": "milestone"}]
    assert "baseline" not in validate_spec({"kind": "change", "change_pct": 5})


# ------------------------------------------------------------------------------------ rounding


def test_rounding_modes_1645_over_17():
    value = D(1645) / D(17)
    assert Rounding(2, "up").apply(value) == D("96.77")
    assert Rounding(2, "half_up").apply(value) == D("96.76")
    assert Rounding(2, "half_even").apply(value) == D("96.76")
    assert Rounding(2, "down").apply(value) == D("96.76")


def test_rounding_modes_859_over_9():
    value = D(859) / D(9)
    assert Rounding(2, "up").apply(value) == D("95.45")
    assert Rounding(2, "half_up").apply(value) == D("95.44")
    assert Rounding(2, "down").apply(value) == D("95.44")


def test_rounding_half_up_vs_half_even_on_a_tie():
    assert Rounding(2, "half_up").apply(D("2.345")) == D("2.35")
    assert Rounding(2, "half_even").apply(D("2.345")) == D("2.34")
    assert Rounding(0, "half_up").apply(D("92.5")) == 93
    assert Rounding(0, "half_even").apply(D("92.5")) == 92
    assert Rounding(0, "half_even").apply(D("93.5")) == 94


def test_rounding_up_and_down_on_exact_values():
    assert Rounding(2, "up").apply(D("79.75")) == D("79.75")
    assert Rounding(0, "up").apply(D("79.01")) == 80
    assert Rounding(0, "down").apply(D("79.99")) == 79


def test_rounding_decimals_and_exponent():
    assert str(Rounding(2).apply(D("80"))) == "80.00"
    assert str(Rounding(0).apply(D("97.805"))) == "98"
    assert Rounding(1).apply(D("98.75")) == D("98.8")
    assert Rounding(6).apply(D(2) / D(3)) == D("0.666667")


def test_rounding_defaults():
    assert Rounding() == Rounding(2, "half_up")
    assert RULES.rounding_for("row") == Rounding(0)
    assert RULES.rounding_for("perspective") == Rounding(2)


@pytest.mark.parametrize(("decimals", "mode"), [(2, "ceiling"), (7, "up"), (-1, "up")])
def test_rounding_rejected(decimals, mode):
    with pytest.raises(ScoringError, match="arrotondamento"):
        Rounding(decimals, mode)


def test_rules_from_dict_rounding():
    rules = Rules.from_dict(
        {
            "rounding": {
                "default": {"decimals": 2, "mode": "up"},
                "perspective": {"decimals": 1},
            }
        }
    )
    assert rules.rounding_for("strategic") == Rounding(2, "up")
    assert rules.rounding_for("perspective") == Rounding(1, "half_up")
    assert rules.rounding_for("row") == Rounding(0, "half_up")
    with pytest.raises(ScoringError, match="arrotondamento"):
        Rules.from_dict({"rounding": {"row": {"mode": "nearest"}}})


# ------------------------------------------------------------------------- rules: other fields


def test_default_bands():
    assert RULES.band_for(D(100)).key == "raggiunto"
    assert RULES.band_for(D("90.01")).key == "raggiunto"
    assert RULES.band_for(D(90)).key == "parziale"
    assert RULES.band_for(D(70)).key == "parziale"
    assert RULES.band_for(D("69.99")).key == "non_raggiunto"
    assert RULES.band_for(D(0)).key == "non_raggiunto"
    assert RULES.band_for(None) is None


def test_bands_from_dict_sorted_highest_first():
    rules = Rules.from_dict(
        {
            "bands": [
                {"key": "basso", "min": 0},
                {"key": "alto", "label": "Alto", "min": "80,5", "inclusive": False},
            ]
        }
    )
    assert [b.key for b in rules.bands] == ["alto", "basso"]
    assert rules.bands[0] == Band("alto", "Alto", D("80.5"), False)
    assert rules.band_for(D("80.5")).key == "basso"
    assert rules.band_for(D("80.51")).key == "alto"


def test_aggregation_from_dict():
    rules = Rules.from_dict({"aggregation": {"objective": "subtree_rows"}})
    assert rules.method_for("objective") == "subtree_rows"
    assert rules.method_for("strategic") == "children"
    assert rules.method_for("something_else") == "own_rows"
    with pytest.raises(ScoringError, match="aggregazione"):
        Rules.from_dict({"aggregation": {"objective": "median"}})


def test_weight_total_from_dict():
    assert Rules.from_dict({"weight_total": "100"}).weight_total == 100
    assert Rules.from_dict({"weight_total": ""}).weight_total is None
    assert Rules.from_dict({}).weight_total is None
    with pytest.raises(ScoringError, match="totale pesi"):
        Rules.from_dict({"weight_total": "cento"})


def test_rules_round_trip_through_dict():
    rules = Rules.from_dict(
        {
            "rounding": {"default": {"decimals": 2, "mode": "up"}},
            "roll_up_uses_rounded": False,
            "lateness": {"points_per_day": 2, "floor": 10, "grace_days": 3},
            "weight_total": 100,
        }
    )
    again = Rules.from_dict(rules.to_dict())
    assert again == rules
    assert again.roll_up_uses_rounded is False
    assert again.lateness == Lateness(D(2), D(10), 3)


# ------------------------------------------------------------------------------------- Value


def test_value_from_dict():
    assert Value.from_dict(None) is None
    assert Value.from_dict({}) is None
    assert Value.from_dict({"value": "4,6"}) == Value(number=D("4.6"))
    assert Value.from_dict({"number": 3}) == Value(number=D(3))
    assert Value.from_dict({"date": "2019-06-30"}) == Value(date=DUE)
    assert Value.from_dict({"k": 13, "n": 14}) == Value(k=D(13), n=D(14))
    parsed = Value.from_dict({"parts": [{"value": 8}, None, {"done": True}]})
    assert parsed == Value(parts=(Value(number=D(8)), None, Value(done=True)))
    with pytest.raises(ScoringError, match="data"):
        Value.from_dict({"date": "ieri"})


def test_value_is_empty():
    assert Value().is_empty()
    assert Value(parts=()).is_empty()
    assert not Value(done=False).is_empty()
    assert not Value(number=D(0)).is_empty()
    assert not Value(k=D(0)).is_empty()


# ---------------------------------------------------------------------------------- fmt / dec


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (D("79.75"), None, "79,75"),
        (D(1245), None, "1.245"),
        (D("-13.06"), None, "-13,06"),
        (D("392.40"), None, "392,4"),
        (D("100.00"), None, "100"),
        (D(100), None, "100"),
        (D("0.5"), None, "0,5"),
        (D("1234567.891"), None, "1.234.567,891"),
        (12, None, "12"),
        (D("1234567.891"), 2, "1.234.567,89"),
        (D("85.0666"), 2, "85,07"),
        (D("2.5"), 0, "3"),
        (D("80"), 2, "80,00"),
        (D("-1245.5"), 1, "-1.245,5"),
    ],
)
def test_fmt(value, decimals, text):
    assert fmt(value, decimals) == text


def test_fmt_none_and_pct_and_date():
    assert fmt(None) == "n.d."
    assert fmt_pct(None) == "n.d."
    assert fmt_pct(D("79.75")) == "79,75%"
    assert fmt_pct(D("100.00")) == "100%"
    assert fmt_date(dt.date(2019, 3, 5)) == "05/03/2019"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4,6", D("4.6")),
        (" 4,6 ", D("4.6")),
        ("1.245,5", D("1245.5")),
        ("-13,06", D("-13.06")),
        ("4.6", D("4.6")),
        ("1 245", D(1245)),
        (5, D(5)),
        (0.1, D("0.1")),
        (D("7.25"), D("7.25")),
    ],
)
def test_dec_accepts(raw, expected):
    result = dec(raw)
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        ("abc", "non è un numero"),
        ("", "non è un numero"),
        (None, "numero mancante"),
        (True, "numero mancante"),
        ("NaN", "finito"),
        ("Infinity", "finito"),
        (float("inf"), "finito"),
    ],
)
def test_dec_rejects(raw, word):
    with pytest.raises(ScoringError, match=word):
        dec(raw, "soglia")


def test_dec_error_names_the_field():
    with pytest.raises(ScoringError, match=r"^soglia: «abc» non è un numero$"):
        dec("abc", "soglia")
    with pytest.raises(ScoringError, match=r"^valore: "):
        dec("abc")


@pytest.mark.parametrize("spec", [3, {"decimals": "due"}])
def test_rules_rounding_must_be_a_mapping_with_whole_decimals(spec):
    with pytest.raises(ScoringError, match="arrotondamento «row»"):
        Rules.from_dict({"rounding": {"row": spec}})


# ---------------------------------------- formatting cache; rule values of every type and case


@pytest.mark.parametrize("decimals", [None, 0, 2])
def test_fmt_cache_equal_values_in_any_order_give_the_uncached_text(decimals):
    values = [
        D("0"),
        D("-0"),
        D("0.00"),
        D("-0.000"),
        0,
        D("5"),
        D("5.00"),
        5,
        5.0,
        True,
        D("1E+3"),
        D("1000"),
        D("-1.5"),
        D("-1.50"),
        D("1245.675"),
        D("0.005"),
        D("-0.001"),
        0.1,
        D(0.1),
    ]
    for sequence in (values, values[::-1]):
        for value in sequence:
            assert fmt(value, decimals) == scoring._fmt(value, decimals), (value, decimals)


def test_fmt_negative_zero_keeps_its_sign_after_a_zero():
    assert fmt(D("0")) == "0"
    assert fmt(D("-0")) == "-0"
    assert fmt(D("0"), 2) == "0,00"
    assert fmt(D("-0.001"), 2) == "-0,00"


def test_fmt_date_cached_same_text():
    assert fmt_date(dt.date(2019, 3, 31)) == "31/03/2019"
    assert fmt_date(dt.date(2019, 3, 31)) == "31/03/2019"
    assert fmt_date(dt.datetime(2019, 3, 31, 12, 0)) == "31/03/2019"


def test_rule_values_true_is_not_one():
    # 1 and True are equal in Python: validation tells them apart.
    assert pct({"kind": "at_least", "threshold": 1}, number=D(1)) == 100
    with pytest.raises(ScoringError, match="numero mancante"):
        pct({"kind": "at_least", "threshold": True}, number=D(1))
    assert pct({"kind": "at_least", "threshold": "1"}, number=D(1)) == 100


def test_invalid_rule_raises_every_time():
    spec = {"kind": "at_least", "threshold": "abc"}
    for _ in range(2):
        with pytest.raises(ScoringError, match="non è un numero"):
            pct(spec, number=D(1))


def test_rule_with_float_or_decimal_values_scored_as_before():
    assert formula({"kind": "at_least", "threshold": 4.0}, number=D(3)) == "3/4 = 75%"
    assert formula({"kind": "at_least", "threshold": D("4.00")}, number=D(3)) == "3/4 = 75%"
    assert formula({"kind": "at_least", "threshold": "4.00"}, number=D(3)) == "3/4 = 75%"


def test_multi_rule_scored_with_its_parts():
    spec = {
        "kind": "multi",
        "parts": [{"kind": "at_least", "threshold": "10"}, {"kind": "milestone"}],
        "labels": ["pratiche", "regolamento"],
    }
    value = dict(parts=(Value(number=D(8)), Value(done=True)))
    first = formula(spec, **value)
    assert formula(spec, **value) == first
    assert first == (
        "pratiche: 8/10 = 80%; regolamento: realizzato → 100%; "
        "media delle parti: (80 + 100)/2 = 90%"
    )


def test_rounding_survives_pickling_and_copying():
    import copy
    import pickle

    for rounding in (Rounding(1, "down"), Rounding(0), Rounding(3, "half_even")):
        for clone in (pickle.loads(pickle.dumps(rounding)), copy.copy(rounding)):
            assert clone == rounding
            assert repr(clone) == repr(rounding)
            assert clone.apply(D("2.34567")) == rounding.apply(D("2.34567"))
    old = object.__new__(Rounding)  # as unpickled from before the quantum was kept
    object.__setattr__(old, "decimals", 1)
    object.__setattr__(old, "mode", "down")
    assert old.apply(D("2.39")) == D("2.3")
    with pytest.raises(AttributeError):
        old.missing  # noqa: B018
