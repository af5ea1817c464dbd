"""``rating`` on a scale (1–5 unless said): met -> 100%; otherwise
(actual − scale_min)/(threshold − scale_min); a value off the scale is an error."""

from __future__ import annotations

from collections.abc import Mapping

from performance.rules.base import (
    HUNDRED,
    THRESHOLD,
    Param,
    Rule,
    RuleResult,
    ScoringError,
    Value,
    fmt,
    fmt_pct,
    need_number,
    r2,
    spec_number,
)
from performance.rules.inputs import InputSpec, number_input

SCALE_MIN = Param(
    "scale_min",
    "minimo della scala",
    "scale_min",
    "scala_min",
    "Minimo della scala",
    default=1,
    initial="1",
)
SCALE_MAX = Param(
    "scale_max",
    "massimo della scala",
    "scale_max",
    "scala_max",
    "Massimo della scala",
    default=5,
    initial="5",
)


class Rating(Rule):
    kind = "rating"
    label = "Giudizio su scala (es. 1–5)"
    import_name = "scala"
    aliases = ("valutazione",)
    value_hint = "numero sulla scala (4,4)"
    params = (THRESHOLD, SCALE_MIN, SCALE_MAX)
    example = {"kind": "rating", "threshold": 4, "scale_min": 1, "scale_max": 5}
    example_inputs = {"value": "3,6"}

    def check(self, spec: dict) -> None:
        if not spec["scale_min"] <= spec["threshold"] <= spec["scale_max"]:
            raise ScoringError("soglia: fuori dalla scala di valutazione", field="threshold")

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        actual, threshold, low = need_number(value), spec["threshold"], spec["scale_min"]
        if actual > spec["scale_max"] or actual < low:
            raise ScoringError(
                f"valore: {fmt(actual)} è fuori dalla scala {fmt(low)}–{fmt(spec['scale_max'])}"
            )
        if actual >= threshold:
            return RuleResult(HUNDRED, f"{fmt(actual)} ≥ {fmt(threshold)} → 100%")
        pct = (actual - low) / (threshold - low) * HUNDRED
        return RuleResult(
            pct,
            f"({fmt(actual)} − {fmt(low)})/({fmt(threshold)} − {fmt(low)}) = {fmt_pct(r2(pct))}",
        )

    def summary(self, rule: Mapping) -> str:
        return (
            f"≥ {self.number(rule['threshold'])} su scala "
            f"{self.number(rule.get('scale_min', 1))}–{self.number(rule.get('scale_max', 5))}"
        )

    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        low, high = spec_number(spec, "scale_min", 1), spec_number(spec, "scale_max", 5)
        return [number_input(prefix, lead, f"da {fmt(low)} a {fmt(high)}, es. 4,6")]


RULE = Rating()
