"""``at_least`` (higher is better): met -> 100%; otherwise actual/threshold, floor 0.
A zero threshold is all-or-nothing; a negative one: 1 − (threshold − actual)/|threshold|."""

from __future__ import annotations

from collections.abc import Mapping

from performance.rules.base import (
    HUNDRED,
    ONE,
    THRESHOLD,
    ZERO,
    Rule,
    RuleResult,
    Value,
    fmt,
    fmt_pct,
    need_number,
    r2,
)


class AtLeast(Rule):
    kind = "at_least"
    label = "Almeno (≥ soglia, più alto è meglio)"
    import_name = "almeno"
    value_hint = "numero (4,6 – 82,7%)"
    params = (THRESHOLD,)
    example = {"kind": "at_least", "threshold": 4}
    example_inputs = {"value": "4,6"}

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        actual, threshold = need_number(value), spec["threshold"]
        if actual >= threshold:
            return RuleResult(HUNDRED, f"{fmt(actual)} ≥ {fmt(threshold)} → 100%")
        if threshold == 0:
            return RuleResult(ZERO, f"{fmt(actual)} < {fmt(threshold)} → 0%")
        if threshold > 0:
            pct = max(ZERO, actual) / threshold * HUNDRED
            return RuleResult(pct, f"{fmt(actual)}/{fmt(threshold)} = {fmt_pct(r2(pct))}")
        pct = (ONE - (threshold - actual) / abs(threshold)) * HUNDRED
        pct = max(ZERO, pct)
        return RuleResult(
            pct,
            f"1 − ({fmt(threshold)} − {fmt(actual)})/{fmt(abs(threshold))} = {fmt_pct(r2(pct))}",
        )

    def summary(self, rule: Mapping) -> str:
        return f"≥ {self.number(rule['threshold'])}"


RULE = AtLeast()
