"""What every ScoringError of the rule modules says and which field it names.

The plan form flags ``error.field`` (through ``Rule.form_field_for``) and the engine shows the
message as "non calcolabile: <message>", so both are a contract: these tests pin them, with the
formulas at the edges of each rule (ties, thresholds between 0 and 1, the lateness floor)."""

import datetime as dt
from decimal import Decimal

import pytest

from performance.rules import RULES, score_rule, validate_spec
from performance.rules.base import ScoringError, Value, dec, r2
from performance.scoring import Lateness, Rules

D = Decimal
RULES_DEFAULT = Rules()


def spec_error(spec) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        validate_spec(spec)
    return caught.value


def score_error(spec, **value) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        score_rule(spec, Value(**value), RULES_DEFAULT)
    return caught.value


def formula(spec, rules=RULES_DEFAULT, **value) -> str:
    return score_rule(spec, Value(**value), rules).formula


# ------------------------------------------------------------------- the target's form: fields


@pytest.mark.parametrize(
    ("spec", "message", "field"),
    [
        (None, "regola: descrizione mancante", "kind"),
        ("at_least", "regola: descrizione mancante", "kind"),
        ({"kind": "nope"}, "regola: tipo «nope» sconosciuto", "kind"),
        ({"kind": "at_least"}, "soglia: numero mancante", "threshold"),
        ({"kind": "at_least", "threshold": "abc"}, "soglia: «abc» non è un numero", "threshold"),
        (
            {"kind": "at_least", "threshold": "NaN"},
            "soglia: «NaN» non è un numero finito",
            "threshold",
        ),
        (
            {"kind": "at_most", "threshold": D("Infinity")},
            "soglia: «Infinity» non è un numero finito",
            "threshold",
        ),
        (
            {"kind": "rating", "threshold": 6, "scale_min": 1, "scale_max": 5},
            "soglia: fuori dalla scala di valutazione",
            "threshold",
        ),
        ({"kind": "k_of_n", "n": 0}, "n (totale): deve essere maggiore di 0", "n"),
        (
            {"kind": "thresholds", "minimum": 50, "target": 50},
            "valore minimo e valore obiettivo non possono coincidere",
            "target",
        ),
        (
            {"kind": "thresholds", "minimum": 50, "target": 80, "minimum_score": 101},
            "punteggio al minimo: fuori da 0–100",
            "minimum_score",
        ),
        (
            {"kind": "change", "change_pct": 0},
            "variazione obiettivo: non può essere 0 (usare «almeno» o «al più»)",
            "change_pct",
        ),
        (
            {"kind": "change", "change_pct": -20, "baseline": 0},
            "valore di partenza: non può essere 0 per una variazione in %",
            "baseline",
        ),
        (
            {"kind": "multi", "parts": [{"kind": "milestone"}]},
            "obiettivo in più parti: servono almeno due parti",
            "parts",
        ),
        (
            {"kind": "multi", "parts": "two"},
            "obiettivo in più parti: servono almeno due parti",
            "parts",
        ),
        (
            {"kind": "multi", "parts": [{"kind": "milestone"}] * 2, "labels": "a, b"},
            "obiettivo in più parti: i nomi delle parti vanno in un elenco",
            "labels",
        ),
        (
            {"kind": "multi", "parts": [{"kind": "milestone"}] * 2, "combine": "max"},
            "obiettivo in più parti: combinazione «mean» o «min»",
            "combine",
        ),
    ],
)
def test_each_target_error_says_what_and_names_its_field(spec, message, field):
    error = spec_error(spec)
    assert str(error) == message
    assert error.field == field


def test_the_field_an_error_names_is_a_field_of_the_plan_form():
    """What the plan form does with error.field: every key named above is a form field."""
    for kind, key in [
        ("at_least", "threshold"),
        ("rating", "threshold"),
        ("k_of_n", "n"),
        ("thresholds", "target"),
        ("thresholds", "minimum_score"),
        ("change", "change_pct"),
        ("change", "baseline"),
    ]:
        assert RULES[kind].form_field_for(key) in RULES[kind].form_fields
    assert RULES["at_least"].form_field_for(None) == "kind"


def test_a_scoring_error_without_arguments_has_no_message_and_no_field():
    error = ScoringError()
    assert str(error) == ""
    assert error.field is None


# -------------------------------------------------------------------------- numbers (dec)


@pytest.mark.parametrize("text", ["1_000", "１２３", "١٢٣"])
def test_dec_refuses_underscores_and_non_ascii_digits(text):
    with pytest.raises(ScoringError) as caught:
        dec(text, "soglia", field="threshold")
    assert str(caught.value) == f"soglia: «{text}» non è un numero"
    assert caught.value.field == "threshold"


def test_dec_missing_number_names_the_field():
    with pytest.raises(ScoringError) as caught:
        dec(None, "n (totale)", field="n")
    assert str(caught.value) == "n (totale): numero mancante"
    assert caught.value.field == "n"


def test_r2_rounds_half_up():
    assert r2(D("0.125")) == D("0.13")
    assert r2(D("2.345")) == D("2.35")
    assert formula({"kind": "at_least", "threshold": 800}, number=D(1)) == "1/800 = 0,13%"


@pytest.mark.parametrize(("key", "raw"), [("k", "tredici"), ("n", "x")])
def test_a_stored_value_names_its_k_or_n(key, raw):
    with pytest.raises(ScoringError) as caught:
        Value.from_dict({key: raw})
    assert str(caught.value) == f"{key}: «{raw}» non è un numero"


# ----------------------------------------------------------------- values the rule cannot score


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        ({"kind": "at_least", "threshold": 4}, {}, "valore: manca il numero rilevato"),
        ({"kind": "k_of_n", "n": 14}, {}, "valore: manca k (quanti su n)"),
        (
            {"kind": "k_of_n", "n": 14},
            {"k": D(-1)},
            "valore: k non può essere negativo e n deve essere maggiore di 0",
        ),
        (
            {"kind": "k_of_n", "n": 14},
            {"k": D(1), "n": D(0)},
            "valore: k non può essere negativo e n deve essere maggiore di 0",
        ),
        (
            {"kind": "deadline", "due": "2019-06-30"},
            {},
            "valore: manca la data di realizzazione",
        ),
        ({"kind": "milestone"}, {}, "valore: indicare se la fase è stata realizzata"),
        (
            {"kind": "rating", "threshold": 4, "scale_min": 1, "scale_max": 5},
            {"number": D(6)},
            "valore: 6 è fuori dalla scala 1–5",
        ),
        (
            {"kind": "multi", "parts": [{"kind": "milestone"}, {"kind": "milestone"}]},
            {"parts": (None, Value())},
            "valore: nessuna parte rilevata",
        ),
    ],
)
def test_each_value_error_says_what_is_missing(spec, value, message):
    error = score_error(spec, **value)
    assert str(error) == message
    assert error.field is None


# ------------------------------------------------------------------- formulas at the edges


def test_deadline_on_the_floor_exactly_shows_no_floor_note():
    rules = Rules(lateness=Lateness(points_per_day=D(10), floor=D(50)))
    spec = {"kind": "deadline", "due": "2019-06-30"}
    assert formula(spec, rules, date=dt.date(2019, 7, 5)) == (
        "05/07/2019: 5 giorni di ritardo sul 30/06/2019 → 100 − 5 × 10 = 50%"
    )
    assert formula(spec, rules, date=dt.date(2019, 7, 6)) == (
        "06/07/2019: 6 giorni di ritardo sul 30/06/2019 → 100 − 6 × 10 = 40% → minimo 50%"
    )


def test_multi_scores_its_parts_with_the_cycles_rules():
    rules = Rules(lateness=Lateness(points_per_day=D(10)))
    spec = {
        "kind": "multi",
        "parts": [{"kind": "deadline", "due": "2019-06-30"}, {"kind": "milestone"}],
        "labels": ["consegna", "collaudo"],
    }
    value = {"parts": (Value(date=dt.date(2019, 7, 2)), Value(done=True))}
    result = score_rule(spec, Value(**value), rules)
    assert result.pct == D(90)
    assert result.formula.startswith(
        "consegna: 02/07/2019: 2 giorni di ritardo sul 30/06/2019 → 100 − 2 × 10 = 80%; "
    )


def test_thresholds_lower_is_better_reaching_the_target_exactly():
    spec = {"kind": "thresholds", "minimum": 80, "target": 50, "minimum_score": 60}
    assert formula(spec, number=D(50)) == "50 raggiunge l'obiettivo 50 → 100%"


def test_at_least_threshold_between_zero_and_one():
    spec = {"kind": "at_least", "threshold": D("0.5")}
    assert formula(spec, number=D("0.25")) == "0,25/0,5 = 50%"


@pytest.mark.parametrize(
    ("change_pct", "actual", "expected"),
    [
        (-20, D(-20), "variazione -20% (obiettivo -20%) → 100%"),
        (10, D(10), "variazione 10% (obiettivo +10%) → 100%"),
        (D("0.5"), D("0.2"), "variazione 0,2% (obiettivo +0,5%) → 0,2/0,5 = 40%"),
        (D("0.5"), D("0.5"), "variazione 0,5% (obiettivo +0,5%) → 100%"),
    ],
)
def test_change_at_the_edges(change_pct, actual, expected):
    spec = {"kind": "change", "change_pct": change_pct}
    assert formula(spec, number=actual) == expected


@pytest.mark.parametrize("minimum_score", [0, 100])
def test_thresholds_minimum_score_bounds_are_allowed(minimum_score):
    spec = validate_spec(
        {"kind": "thresholds", "minimum": 50, "target": 80, "minimum_score": minimum_score}
    )
    assert spec["minimum_score"] == D(minimum_score)
