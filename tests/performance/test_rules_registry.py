"""The target rules registry (performance/rules/): every kind in RULES is handled by every place
that reads it — the engine, the plan form, the entry form, the plan and values imports, the
exports and the summaries. A kind added with its module and its line in RULES is checked here
through its ``example`` (a target) and ``example_inputs`` (a value as typed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from performance import forms_plan, scoring
from performance.rules import PARAMETER_COLUMNS, RULES, rule_columns, rule_summary, value_hint
from performance.rules.base import Rule, ScoringError
from performance.rules.inputs import parse_value, value_display, value_inputs, value_texts
from performance.rules.values import value_from_actual
from performance.selectors_plan import RULE_KIND_LABELS
from performance.services import imports
from performance.services.imports.columns import _RULE_PARAMETERS, PLAN_COLUMNS, RULE_NAMES

KINDS = list(RULES)


def _value(fields: dict) -> scoring.Value | None:
    return value_from_actual({f"value_{k.removeprefix('value_')}": v for k, v in fields.items()})


def test_the_registry_lists_each_kind_once_under_its_own_name():
    assert list(scoring.RULE_KINDS) == KINDS
    for kind, rule in RULES.items():
        assert isinstance(rule, Rule)
        assert rule.kind == kind
        assert rule.example.get("kind") == kind, f"{kind}: an example target is needed"
        assert rule.example_inputs, f"{kind}: an example value (as typed) is needed"


@pytest.mark.parametrize("kind", KINDS)
def test_the_engine_validates_and_scores_the_example(kind):
    rule = RULES[kind]
    spec = scoring.validate_spec(rule.example)
    assert spec["kind"] == kind
    fields, _typed, errors = parse_value(rule.example, rule.example_inputs)
    assert errors == {}
    value = _value(fields)
    assert value is not None
    result = scoring.score_rule(rule.example, value, scoring.Rules())
    assert Decimal(0) <= result.pct <= Decimal(100)
    assert result.formula


@pytest.mark.parametrize("kind", KINDS)
def test_every_error_names_a_field_of_the_plan_form(kind):
    rule = RULES[kind]
    form_fields = forms_plan.RuleFieldsForm.base_fields
    for param in rule.params:
        broken = {**rule.example, param.key: "non un numero"}
        with pytest.raises(ScoringError) as raised:
            scoring.validate_spec(broken)
        assert raised.value.field is not None
        assert forms_plan.rule_field_for(kind, raised.value) in form_fields
        if param.kind != "json":
            assert raised.value.field == param.key
            assert forms_plan.rule_field_for(kind, raised.value) == param.form_field
    with pytest.raises(ScoringError) as raised:
        scoring.validate_spec({**rule.example, "kind": f"{kind}-sconosciuto"})
    assert raised.value.field == "kind"


@pytest.mark.parametrize(
    ("spec", "form_field"),
    [
        ({"kind": "change", "change_pct": 0}, "change_pct"),
        ({"kind": "change", "change_pct": 5, "baseline": 0}, "baseline"),
        ({"kind": "deadline"}, "due"),
        ({"kind": "rating", "threshold": 6}, "threshold"),
        ({"kind": "rating", "threshold": 4, "scale_min": "x"}, "scale_min"),
        ({"kind": "thresholds", "minimum": 2, "target": 2}, "target_value"),
        ({"kind": "thresholds", "minimum": 1, "target": 2, "minimum_score": 101}, "minimum_score"),
        ({"kind": "k_of_n", "n": 0}, "n"),
        ({"kind": "multi", "parts": [{"kind": "milestone"}]}, "multi"),
        ({"kind": "multi", "parts": [{"kind": "at_least"}, {"kind": "milestone"}]}, "multi"),
        ({"kind": "multi", "parts": [{"kind": "milestone"}] * 2, "combine": "max"}, "multi"),
    ],
)
def test_an_error_between_parameters_names_the_field_to_flag(spec, form_field):
    with pytest.raises(ScoringError) as raised:
        scoring.validate_spec(spec)
    assert forms_plan.rule_field_for(spec["kind"], raised.value) == form_field


def test_a_rule_that_is_not_one_names_the_kind():
    for spec in (None, [], {"kind": ["at_least"]}, {"kind": "sconosciuto"}):
        with pytest.raises(ScoringError) as raised:
            scoring.validate_spec(spec)
        assert raised.value.field == "kind"


@pytest.mark.parametrize("kind", KINDS)
def test_the_plan_form_shows_and_reads_every_kind(kind):
    rule = RULES[kind]
    assert kind in dict(forms_plan.RULE_KIND_CHOICES)
    assert RULE_KIND_LABELS[kind] == rule.label
    assert forms_plan.KIND_FIELDS[kind] == rule.form_fields
    form_fields = forms_plan.RuleFieldsForm.base_fields
    for name in rule.form_fields:
        assert name in form_fields
        assert name in forms_plan.RULE_FIELDS
    # the stored rule opens in the form, and the form gives the rule back
    initial = forms_plan.rule_initial(rule.example)
    assert initial["kind"] == kind
    probe = forms_plan.RuleFieldsForm()
    data = {
        name: probe.fields[name].prepare_value(value) if name in probe.fields else value
        for name, value in initial.items()
    }
    form = forms_plan.RuleFieldsForm(data)
    assert form.is_valid(), form.errors
    assert scoring.validate_spec(form.cleaned_data["rule"]) == scoring.validate_spec(rule.example)


@pytest.mark.parametrize("kind", KINDS)
def test_the_entry_form_has_inputs_and_shows_a_stored_value_as_typed(kind):
    rule = RULES[kind]
    inputs = value_inputs(rule.example)
    names = {spec.name for spec in inputs}
    assert inputs and all(spec.label for spec in inputs)
    assert set(rule.example_inputs) <= names
    if rule.entry_input != "parts":
        assert rule.entry_input in {spec.kind for spec in inputs}
    fields, _typed, errors = parse_value(rule.example, rule.example_inputs)
    assert errors == {}
    value = _value(fields)
    # the stored value shown in the inputs reads back as the same value
    shown = value_texts(rule.example, value)
    again, _typed, errors = parse_value(rule.example, shown)
    assert errors == {}
    assert _value(again) == value
    assert value_display(rule.example, value) not in ("", "—")


@pytest.mark.parametrize("kind", KINDS)
def test_the_plan_import_and_export_have_the_kinds_columns(kind):
    rule = RULES[kind]
    assert RULE_NAMES[kind] == rule.import_name
    assert imports.rule_kind(rule.import_name) == kind
    assert imports.rule_kind(kind) == kind
    for alias in rule.aliases:
        assert imports.rule_kind(alias) == kind
    for param in rule.params:
        assert param.column in PLAN_COLUMNS, f"{param.column}: describe it in PLAN_COLUMNS"
    assert set(PARAMETER_COLUMNS) == set(_RULE_PARAMETERS)
    columns = rule_columns(rule.example)
    assert columns["regola"] == rule.import_name
    for param in rule.params:
        if param.kind != "json" and rule.example.get(param.key) is not None:
            assert columns[param.column] not in (None, "")
    assert set(columns) <= set(PLAN_COLUMNS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_values_import_reads_the_value_and_the_export_says_how_to_write_it(kind):
    rule = RULES[kind]
    assert value_hint(rule.example)
    cell = "; ".join(rule.example_inputs.values())
    imported = imports._parse_value(cell, rule.example)
    entered, _typed, _errors = parse_value(rule.example, rule.example_inputs)
    rules = scoring.Rules()
    assert scoring.score_rule(rule.example, _value(imported), rules) == scoring.score_rule(
        rule.example, _value(entered), rules
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_summary_says_the_rule_in_words(kind):
    text = rule_summary(RULES[kind].example)
    assert text and text != f"regola «{kind}»"
