"""``at_most`` (lower is better): met -> 100%; otherwise 1 − (actual − threshold)/|threshold|,
floor 0 (for a positive threshold: 10 allowed, 12 measured -> 80%)."""

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


class AtMost(Rule):
    kind = "at_most"
    label = "Al più (≤ soglia, più basso è meglio)"
    import_name = "al_massimo"
    aliases = ("al_piu", "massimo")
    value_hint = "numero (4,6 – -13,06)"
    params = (THRESHOLD,)
    example = {"kind": "at_most", "threshold": 10}
    example_inputs = {"value": "12"}

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        actual, threshold = need_number(value), spec["threshold"]
        if actual <= threshold:
            return RuleResult(HUNDRED, f"{fmt(actual)} ≤ {fmt(threshold)} → 100%")
        if threshold == 0:
            return RuleResult(ZERO, f"{fmt(actual)} > {fmt(threshold)} → 0%")
        pct = max(ZERO, (ONE - (actual - threshold) / abs(threshold)) * HUNDRED)
        return RuleResult(
            pct,
            f"1 − ({fmt(actual)} − {fmt(threshold)})/{fmt(abs(threshold))} = {fmt_pct(r2(pct))}",
        )

    def summary(self, rule: Mapping) -> str:
        return f"≤ {self.number(rule['threshold'])}"


RULE = AtMost()
