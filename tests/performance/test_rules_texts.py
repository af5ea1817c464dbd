"""What each rule kind shows people: the rule in words, its export columns, the hint for a
values sheet, the entry form's inputs and how they are read, a stored value in words and in the
inputs, the plan form's initial values.

These are the texts of the plan, the entry form, the exports and the Relazione; they are pinned
exactly (what main computes), kind by kind, with the edges: defaults, a missing n, the parts of
a multi target with and without names."""

import datetime
from decimal import Decimal

import pytest

from performance import parsing
from performance.rules import RULES, rule_columns, rule_summary, value_hint
from performance.rules.base import ScoringError, Value
from performance.rules.inputs import parse_value, value_display, value_inputs, value_texts

TARGETS = [
    (
        {"kind": "at_least", "threshold": "4,5"},
        "≥ 4,5",
        {"regola": "almeno", "soglia": Decimal("4.5")},
        "numero (4,6 – 82,7%)",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {"kind": "at_least", "threshold": Decimal("4.5")},
    ),
    (
        {"kind": "at_most", "threshold": 3},
        "≤ 3",
        {"regola": "al_massimo", "soglia": Decimal("3")},
        "numero (4,6 – -13,06)",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {"kind": "at_most", "threshold": Decimal("3")},
    ),
    (
        {"kind": "change", "change_pct": 5, "baseline": 524},
        "variazione +5% su 524",
        {"regola": "variazione", "variazione_pct": Decimal("5"), "valore_partenza": Decimal("524")},
        "numero (il nuovo valore, o la variazione in % senza valore di partenza)",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {"kind": "change", "change_pct": Decimal("5"), "baseline": Decimal("524")},
    ),
    (
        {"kind": "change", "change_pct": "-20"},
        "variazione -20%",
        {"regola": "variazione", "variazione_pct": Decimal("-20")},
        "numero (il nuovo valore, o la variazione in % senza valore di partenza)",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {"kind": "change", "change_pct": Decimal("-20")},
    ),
    (
        {"kind": "rating", "threshold": "4,4", "scale_min": 2, "scale_max": 7},
        "≥ 4,4 su scala 2–7",
        {
            "regola": "scala",
            "soglia": Decimal("4.4"),
            "scala_min": Decimal("2"),
            "scala_max": Decimal("7"),
        },
        "numero sulla scala (4,4)",
        [("x-value", "number", "Valore rilevato", "da 2 a 7, es. 4,6")],
        {
            "kind": "rating",
            "threshold": Decimal("4.4"),
            "scale_min": Decimal("2"),
            "scale_max": Decimal("7"),
        },
    ),
    (
        {"kind": "rating", "threshold": 4},
        "≥ 4 su scala 1–5",
        {
            "regola": "scala",
            "soglia": Decimal("4"),
            "scala_min": Decimal("1"),
            "scala_max": Decimal("5"),
        },
        "numero sulla scala (4,4)",
        [("x-value", "number", "Valore rilevato", "da 1 a 5, es. 4,6")],
        {"kind": "rating", "threshold": Decimal("4")},
    ),
    (
        {"kind": "thresholds", "minimum": 50, "target": "80,5", "minimum_score": 60},
        "minimo 50 (60%), obiettivo 80,5",
        {
            "regola": "soglie",
            "minimo": Decimal("50"),
            "obiettivo": Decimal("80.5"),
            "punteggio_minimo": Decimal("60"),
        },
        "numero",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {
            "kind": "thresholds",
            "minimum": Decimal("50"),
            "target_value": Decimal("80.5"),
            "minimum_score": Decimal("60"),
        },
    ),
    (
        {"kind": "thresholds", "minimum": 50, "target": 80},
        "minimo 50 (0%), obiettivo 80",
        {
            "regola": "soglie",
            "minimo": Decimal("50"),
            "obiettivo": Decimal("80"),
            "punteggio_minimo": Decimal("0"),
        },
        "numero",
        [("x-value", "number", "Valore rilevato", "con la virgola: 4,6 o 82,7%")],
        {"kind": "thresholds", "minimum": Decimal("50"), "target_value": Decimal("80")},
    ),
    (
        {"kind": "k_of_n", "n": 14},
        "k su 14",
        {"regola": "k_su_n", "n": Decimal("14")},
        "k su n (13 su 14) oppure k",
        [("x-k", "k_of_n", "Quanti su quanti", "es. 13 su 14; solo «13»: su 14")],
        {"kind": "k_of_n", "n": Decimal("14")},
    ),
    (
        {"kind": "k_of_n", "n": "x"},
        "k su x",
        {"regola": "k_su_n"},
        "k su n (13 su 14) oppure k",
        [("x-k", "k_of_n", "Quanti su quanti", "es. 13 su 14")],
        {"kind": "k_of_n", "n": "x"},
    ),
    (
        {"kind": "milestone"},
        "realizzato sì/no",
        {"regola": "realizzazione"},
        "sì / no (oppure la data di realizzazione)",
        [
            ("x-done", "done", "Realizzato", "sì oppure no"),
            ("x-date", "date", "Data di realizzazione (facoltativa)", "gg/mm/aaaa, es. 18/03/2019"),
        ],
        {"kind": "milestone"},
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        "entro il 31/07/2019",
        {"regola": "scadenza", "data_scadenza": datetime.date(2019, 7, 31)},
        "data gg/mm/aaaa, oppure «no» se non realizzato",
        [
            ("x-date", "date", "Data di realizzazione", "gg/mm/aaaa, es. 18/03/2019"),
            ("x-not_done", "not_done", "Non realizzato", ""),
        ],
        {"kind": "deadline", "due": datetime.date(2019, 7, 31)},
    ),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        "k su 14 + realizzato sì/no + entro il 31/07/2019 (minimo delle parti)",
        {
            "regola": "piu_parti",
            "parti_regole": "k_su_n; realizzazione; scadenza",
            "data_scadenza": "; ; 31/07/2019",
            "n": "14; ; ",
            "parti_etichette": "copertura",
            "parti_combinazione": "minimo",
        },
        (
            "parti separate da «;»: k su n (13 su 14) oppure k ; sì / no (oppure la data di "
            "realizzazione) ; data gg/mm/aaaa, oppure «no» se non realizzato"
        ),
        [
            ("x-p0-k", "k_of_n", "copertura – Quanti su quanti", "es. 13 su 14; solo «13»: su 14"),
            ("x-p1-done", "done", "Parte 2 – Realizzato", "sì oppure no"),
            (
                "x-p1-date",
                "date",
                "Parte 2 – Data di realizzazione (facoltativa)",
                "gg/mm/aaaa, es. 18/03/2019",
            ),
            ("x-p2-date", "date", "Parte 3 – Data di realizzazione", "gg/mm/aaaa, es. 18/03/2019"),
            ("x-p2-not_done", "not_done", "Parte 3 – Non realizzato", ""),
        ],
        {
            "kind": "multi",
            "multi": "{\n"
            '  "parts": [\n'
            "    {\n"
            '      "kind": "k_of_n",\n'
            '      "n": 14\n'
            "    },\n"
            "    {\n"
            '      "kind": "milestone"\n'
            "    },\n"
            "    {\n"
            '      "kind": "deadline",\n'
            '      "due": "2019-07-31"\n'
            "    }\n"
            "  ],\n"
            '  "labels": [\n'
            '    "copertura"\n'
            "  ],\n"
            '  "combine": "min"\n'
            "}",
        },
    ),
    (
        {
            "kind": "multi",
            "parts": [{"kind": "at_least", "threshold": 4}, {"kind": "at_most", "threshold": 2}],
        },
        "≥ 4 + ≤ 2 (media delle parti)",
        {
            "regola": "piu_parti",
            "parti_regole": "almeno; al_massimo",
            "soglia": "4; 2",
            "parti_etichette": "",
            "parti_combinazione": "media",
        },
        "parti separate da «;»: numero (4,6 – 82,7%) ; numero (4,6 – -13,06)",
        [
            ("x-p0-value", "number", "Parte 1 – Valore rilevato", "con la virgola: 4,6 o 82,7%"),
            ("x-p1-value", "number", "Parte 2 – Valore rilevato", "con la virgola: 4,6 o 82,7%"),
        ],
        {
            "kind": "multi",
            "multi": "{\n"
            '  "parts": [\n'
            "    {\n"
            '      "kind": "at_least",\n'
            '      "threshold": 4\n'
            "    },\n"
            "    {\n"
            '      "kind": "at_most",\n'
            '      "threshold": 2\n'
            "    }\n"
            "  ]\n"
            "}",
        },
    ),
]

VALUES = [
    (
        {"kind": "at_least", "threshold": 4},
        Value(number=Decimal("4.60"), date=None, done=None, k=None, n=None, parts=None),
        "4,6",
        {"x-value": "4,6"},
    ),
    (
        {"kind": "at_least", "threshold": 4},
        Value(number=None, date=None, done=None, k=None, n=None, parts=None),
        "—",
        {},
    ),
    (
        {"kind": "k_of_n", "n": 14},
        Value(number=None, date=None, done=None, k=Decimal("13"), n=Decimal("15"), parts=None),
        "13 su 15",
        {"x-k": "13 su 15"},
    ),
    (
        {"kind": "k_of_n", "n": 14},
        Value(number=Decimal("13"), date=None, done=None, k=None, n=None, parts=None),
        "13 su 14",
        {"x-k": "13"},
    ),
    (
        {"kind": "k_of_n", "n": 14},
        Value(number=None, date=None, done=None, k=Decimal("13"), n=None, parts=None),
        "13 su 14",
        {"x-k": "13"},
    ),
    (
        {"kind": "k_of_n", "n": "x"},
        Value(number=None, date=None, done=None, k=Decimal("3"), n=None, parts=None),
        "3",
        {"x-k": "3"},
    ),
    (
        {"kind": "k_of_n", "n": 14},
        Value(number=None, date=None, done=None, k=None, n=None, parts=None),
        "—",
        {},
    ),
    (
        {"kind": "milestone"},
        Value(number=None, date=None, done=True, k=None, n=None, parts=None),
        "realizzato",
        {"x-done": "sì"},
    ),
    (
        {"kind": "milestone"},
        Value(number=None, date=None, done=False, k=None, n=None, parts=None),
        "non realizzato",
        {"x-done": "no"},
    ),
    (
        {"kind": "milestone"},
        Value(number=None, date=datetime.date(2019, 3, 18), done=True, k=None, n=None, parts=None),
        "realizzato il 18/03/2019",
        {"x-done": "sì", "x-date": "18/03/2019"},
    ),
    (
        {"kind": "milestone"},
        Value(number=None, date=datetime.date(2019, 3, 18), done=None, k=None, n=None, parts=None),
        "realizzato il 18/03/2019",
        {"x-date": "18/03/2019"},
    ),
    (
        {"kind": "milestone"},
        Value(number=None, date=None, done=None, k=None, n=None, parts=None),
        "—",
        {},
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        Value(number=None, date=datetime.date(2019, 7, 18), done=None, k=None, n=None, parts=None),
        "18/07/2019",
        {"x-date": "18/07/2019"},
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        Value(number=None, date=None, done=False, k=None, n=None, parts=None),
        "non realizzato",
        {"x-not_done": True},
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        Value(number=None, date=None, done=None, k=None, n=None, parts=None),
        "—",
        {"x-not_done": False},
    ),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        Value(
            number=None,
            date=None,
            done=None,
            k=None,
            n=None,
            parts=(
                Value(number=None, date=None, done=None, k=Decimal("13"), n=None, parts=None),
                None,
                Value(number=None, date=None, done=False, k=None, n=None, parts=None),
            ),
        ),
        "copertura: 13 su 14; parte 2: —; parte 3: non realizzato",
        {"x-p0-k": "13", "x-p2-not_done": True},
    ),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        Value(number=None, date=None, done=None, k=None, n=None, parts=None),
        "copertura: —; parte 2: —; parte 3: —",
        {},
    ),
]

ENTRIES = [
    (
        {"kind": "at_least", "threshold": 4},
        {"value": "4,6"},
        ({"value_number": Decimal("4.6")}, ["4,6"], {}),
    ),
    (
        {"kind": "k_of_n", "n": 14},
        {"k": "13 su 14"},
        ({"value_k": Decimal("13"), "value_n": Decimal("14")}, ["13 su 14"], {}),
    ),
    (
        {"kind": "k_of_n", "n": 14},
        {"k": "13"},
        ({"value_k": Decimal("13"), "value_n": None}, ["13"], {}),
    ),
    (
        {"kind": "k_of_n", "n": 14},
        {"k": "tredici"},
        (
            {},
            ["tredici"],
            {"k": "Quanti su quanti: «tredici» non è un numero (esempi: 4,6 oppure 1.234,5)"},
        ),
    ),
    (
        {"kind": "k_of_n", "n": 14},
        {"k": "1,2345 su 3"},
        ({}, ["1,2345 su 3"], {"k": "Quanti su quanti: al massimo 2 decimali"}),
    ),
    ({"kind": "milestone"}, {"done": "sì"}, ({"value_done": True, "value_date": None}, ["sì"], {})),
    (
        {"kind": "milestone"},
        {"done": "no", "date": "18/03/2019"},
        (
            {"value_done": False, "value_date": datetime.date(2019, 3, 18)},
            ["no", "18/03/2019"],
            {
                "date": "Data di realizzazione (facoltativa): "
                "una fase non realizzata non ha una data"
            },
        ),
    ),
    (
        {"kind": "milestone"},
        {"done": "forse"},
        (
            {"value_done": None, "value_date": None},
            ["forse"],
            {"done": "Realizzato: «forse»: rispondere sì o no"},
        ),
    ),
    (
        {"kind": "milestone"},
        {"date": "18/03/2019"},
        ({"value_done": None, "value_date": datetime.date(2019, 3, 18)}, ["18/03/2019"], {}),
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        {"date": "18/07/2019"},
        ({"value_date": datetime.date(2019, 7, 18)}, ["18/07/2019"], {}),
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        {"not_done": "on"},
        ({"value_date": None, "value_done": False}, ["non realizzato"], {}),
    ),
    (
        {"kind": "deadline", "due": "2019-07-31"},
        {"date": "18/07/2019", "not_done": "on"},
        (
            {"value_date": datetime.date(2019, 7, 18), "value_done": False},
            ["non realizzato"],
            {
                "date": "Data di realizzazione: indicare la data oppure «non realizzato», non "
                "entrambi"
            },
        ),
    ),
    ({"kind": "deadline", "due": "2019-07-31"}, {}, ({"value_date": None}, [], {})),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        {"p0-k": "13", "p1-done": "no", "p2-not_done": "on"},
        (
            {"value_parts": [{"k": "13"}, {"done": False}, {"done": False}]},
            ["copertura: 13", "Parte 2: no", "Parte 3: non realizzato"],
            {},
        ),
    ),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        {"p0-k": "x"},
        (
            {},
            ["copertura: x"],
            {
                "p0-k": "copertura – Quanti su quanti: «x» non è un numero (esempi: 4,6 oppure "
                "1.234,5)"
            },
        ),
    ),
    (
        {
            "kind": "multi",
            "parts": [
                {"kind": "k_of_n", "n": 14},
                {"kind": "milestone"},
                {"kind": "deadline", "due": "2019-07-31"},
            ],
            "labels": ["copertura"],
            "combine": "min",
        },
        {},
        ({}, [], {}),
    ),
]


@pytest.mark.parametrize(("spec", "summary", "columns", "hint", "inputs", "initial"), TARGETS)
def test_a_target_in_words_columns_hint_inputs_and_form(
    spec, summary, columns, hint, inputs, initial
):
    assert rule_summary(spec) == summary
    assert rule_columns(spec) == columns
    assert list(rule_columns(spec)) == list(columns)  # the order of the files' columns
    assert value_hint(spec) == hint
    got = [(i.name, i.kind, i.label, i.hint) for i in value_inputs(spec, prefix="x-")]
    assert got == inputs
    assert RULES[spec["kind"]].form_initial(spec) == initial


@pytest.mark.parametrize(("spec", "value", "display", "texts"), VALUES)
def test_a_stored_value_in_words_and_in_the_inputs(spec, value, display, texts):
    assert value_display(spec, value) == display
    assert value_texts(spec, value, prefix="x-") == texts


@pytest.mark.parametrize(("spec", "inputs", "parsed"), ENTRIES)
def test_the_entry_form_reads_a_value(spec, inputs, parsed):
    assert parse_value(spec, inputs) == parsed


def test_a_summary_that_cannot_be_written_names_the_kind():
    assert rule_summary({"kind": "at_least"}) == "regola «at_least»"
    assert rule_summary({"kind": "nope"}) == "regola «nope»"
    assert rule_summary(None) == "—"


def test_an_invalid_rule_exports_only_its_name():
    assert rule_columns({"kind": "at_least", "threshold": "x"}) == {"regola": "almeno"}
    assert rule_columns({"kind": "nope"}) == {"regola": "nope"}
    assert value_hint({"kind": "nope"}) == ""


MILESTONE = {"kind": "milestone"}
DEADLINE = {"kind": "deadline", "due": "2019-07-31"}
WINDOW = parsing.DateWindow(
    datetime.date(2019, 1, 1), datetime.date(2019, 12, 31), "per il ciclo 2019"
)
OUTSIDE = (
    "«18/07/2020» è fuori dall'intervallo ammesso per il ciclo 2019: dal 01/01/2019 al 31/12/2019"
)


def test_k_of_n_entry_allows_eight_digits():
    k_of_n = {"kind": "k_of_n", "n": 14}
    assert parse_value(k_of_n, {"k": "12345678"})[0] == {
        "value_k": Decimal("12345678"),
        "value_n": None,
    }
    assert parse_value(k_of_n, {"k": "123456789"})[2] == {
        "k": "Quanti su quanti: numero troppo grande"
    }


@pytest.mark.parametrize(
    ("spec", "name", "label"),
    [
        (DEADLINE, "date", "Data di realizzazione"),
        (MILESTONE, "date", "Data di realizzazione (facoltativa)"),
        (
            {"kind": "multi", "parts": [MILESTONE, DEADLINE]},
            "p1-date",
            "Parte 2 – Data di realizzazione",
        ),
    ],
)
def test_a_date_outside_the_cycles_window_is_refused_on_its_input(spec, name, label):
    inputs = {name: "18/07/2020"}
    assert parse_value(spec, inputs, window=WINDOW)[2] == {name: f"{label}: {OUTSIDE}"}
    assert parse_value(spec, {name: "32/13/2019"})[2] == {
        name: f"{label}: «32/13/2019» non è una data esistente"
    }


def test_the_plan_form_fills_a_rating_scale_left_empty():
    assert RULES["rating"].form_spec({"threshold": Decimal(4)}) == {
        "kind": "rating",
        "threshold": Decimal(4),
        "scale_min": 1,
        "scale_max": 5,
    }


def test_a_multi_target_left_empty_in_the_plan_form():
    with pytest.raises(ScoringError) as caught:
        RULES["multi"].form_spec({})
    assert str(caught.value) == "obiettivo in più parti: indicare le parti (almeno due)"
    assert caught.value.field == "parts"


def test_a_multi_targets_names_keep_their_accents_and_are_exported_in_order():
    spec = {"kind": "multi", "parts": [MILESTONE, MILESTONE], "labels": ["attività", "verifica"]}
    assert '"attività",' in RULES["multi"].form_initial(spec)["multi"]
    assert rule_columns(spec)["parti_etichette"] == "attività; verifica"


def test_texts_of_odd_stored_rules():
    assert rule_summary({"kind": ["x"]}) == "regola «['x']»"
    assert rule_summary({"kind": "change", "change_pct": 0}) == "variazione 0%"
    assert rule_summary({"kind": "change", "change_pct": "0,5"}) == "variazione +0,5%"
    assert rule_summary({"kind": "at_least", "threshold": Decimal("4.50")}) == "≥ 4,5"
    assert value_hint({"kind": "multi", "parts": [{"kind": "nope"}, MILESTONE]}) == (
        "parti separate da «;»:  ; sì / no (oppure la data di realizzazione)"
    )


def test_a_multi_target_inside_a_multi_target_exports_its_parts():
    # (its parameter columns are not pinned: "soglia" reads "4; ; 4", the inner parts' slots
    # run into the outer ones)
    inner = {"kind": "multi", "parts": [{"kind": "at_least", "threshold": 4}, MILESTONE]}
    columns = rule_columns({"kind": "multi", "parts": [inner, {"kind": "at_most", "threshold": 2}]})
    assert columns["regola"] == "piu_parti"
    assert columns["parti_regole"] == "piu_parti; al_massimo"
