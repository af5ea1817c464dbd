"""The target rules: one module per kind, listed in `RULES` (every other place reads it).

To add a rule kind: write ``performance/rules/<kind>.py`` with a `Rule` subclass (see
`performance/rules/base.py` for what it holds, and the other kinds as examples) and add its
``RULE`` to the tuple below. tests/performance/test_rules_registry.py checks that the plan form,
the entry form, the import columns, the exports and the summaries handle every kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from performance.rules import (
    at_least,
    at_most,
    change,
    deadline,
    k_of_n,
    milestone,
    multi,
    rating,
    thresholds,
)
from performance.rules.base import Rule, RuleResult, ScoringError, Value, clamp

if TYPE_CHECKING:
    from performance.scoring import Rules

RULES: dict[str, Rule] = {
    rule.kind: rule
    for rule in (
        at_least.RULE,
        at_most.RULE,
        change.RULE,
        deadline.RULE,
        milestone.RULE,
        rating.RULE,
        thresholds.RULE,
        k_of_n.RULE,
        multi.RULE,
    )
}
RULE_KINDS = tuple(RULES)
# every parameter's column in the import/export files
PARAMETER_COLUMNS = tuple(
    dict.fromkeys(p.column for rule in RULES.values() for p in rule.params if p.kind != "json")
)


def validate_spec(spec: Mapping) -> dict:
    """Check a target's machine-readable form; return it normalized (Decimals, dates)."""
    if not isinstance(spec, Mapping):
        raise ScoringError("regola: descrizione mancante", field="kind")
    kind = spec.get("kind")
    rule = RULES.get(kind) if isinstance(kind, str) else None
    if rule is None:
        raise ScoringError(f"regola: tipo «{kind}» sconosciuto", field="kind")
    return rule.validate(spec)


def score_rule(spec: Mapping, value: Value, rules: Rules) -> RuleResult:
    """Score one value against one target (see each kind's module for its rule)."""
    spec = validate_spec(spec)
    result = RULES[spec["kind"]].score(spec, value, rules)
    return RuleResult(clamp(result.pct), result.formula)


def rule_summary(rule: Any) -> str:
    """The rule in words: "≥ 4", "entro il 31/07/2019", "variazione −20% su 524"."""
    if not isinstance(rule, Mapping):
        return "—"
    kind = rule.get("kind")
    found = RULES.get(kind) if isinstance(kind, str) else None
    if found is not None:
        try:
            return found.summary(rule)
        except (KeyError, TypeError, ValueError):
            pass
    return f"regola «{kind}»"


def rule_columns(rule: Mapping, parameters: Sequence[str] = PARAMETER_COLUMNS) -> dict[str, Any]:
    """The readable columns of a stored rule ("regola" and its parameters) for the exports."""
    try:
        spec = validate_spec(rule)
    except ScoringError:
        kind = str(rule.get("kind"))
        found = RULES.get(kind)
        return {"regola": found.import_name if found else kind}
    found = RULES[spec["kind"]]
    return {"regola": found.import_name, **found.export_columns(spec, parameters)}


def value_hint(rule: Mapping) -> str:
    """How to write the value of a target with this (stored) rule, for the people filling in."""
    found = RULES.get(str(rule.get("kind")))
    return found.value_hint_of(rule) if found else ""
