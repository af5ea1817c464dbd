"""``thresholds`` (minimum / target): below the minimum 0%; at the minimum ``minimum_score``;
linear up to 100% at the target (a target below the minimum: lower is better)."""

from __future__ import annotations

from collections.abc import Mapping

from performance.rules.base import (
    HUNDRED,
    ZERO,
    Param,
    Rule,
    RuleResult,
    ScoringError,
    Value,
    fmt,
    fmt_pct,
    need_number,
    r2,
)

MINIMUM = Param("minimum", "valore minimo", "minimum", "minimo", "Valore minimo")
TARGET = Param("target", "valore obiettivo", "target_value", "obiettivo", "Valore obiettivo")
MINIMUM_SCORE = Param(
    "minimum_score",
    "punteggio al minimo",
    "minimum_score",
    "punteggio_minimo",
    "Punteggio al valore minimo (%)",
    default=0,
    initial="0",
)


class Thresholds(Rule):
    kind = "thresholds"
    label = "Soglie minimo/obiettivo"
    import_name = "soglie"
    value_hint = "numero"
    params = (MINIMUM, TARGET, MINIMUM_SCORE)
    example = {"kind": "thresholds", "minimum": 50, "target": 80, "minimum_score": 60}
    example_inputs = {"value": "65"}

    def check(self, spec: dict) -> None:
        if spec["minimum"] == spec["target"]:
            raise ScoringError(
                "valore minimo e valore obiettivo non possono coincidere", field="target"
            )
        if not ZERO <= spec["minimum_score"] <= HUNDRED:
            raise ScoringError("punteggio al minimo: fuori da 0–100", field="minimum_score")

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        actual, low, target, base = (
            need_number(value),
            spec["minimum"],
            spec["target"],
            spec["minimum_score"],
        )
        higher = target > low
        reached_target = actual >= target if higher else actual <= target
        below_min = actual < low if higher else actual > low
        if reached_target:
            return RuleResult(HUNDRED, f"{fmt(actual)} raggiunge l'obiettivo {fmt(target)} → 100%")
        if below_min:
            return RuleResult(ZERO, f"{fmt(actual)} non raggiunge il minimo {fmt(low)} → 0%")
        pct = base + (HUNDRED - base) * (actual - low) / (target - low)
        return RuleResult(
            pct,
            f"{fmt(base)} + {fmt(HUNDRED - base)} × ({fmt(actual)} − {fmt(low)})/"
            f"({fmt(target)} − {fmt(low)}) = {fmt_pct(r2(pct))}",
        )

    def summary(self, rule: Mapping) -> str:
        return (
            f"minimo {self.number(rule['minimum'])} "
            f"({self.number(rule.get('minimum_score', 0))}%), "
            f"obiettivo {self.number(rule['target'])}"
        )


RULE = Thresholds()
