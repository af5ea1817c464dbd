"""``change`` against a baseline: the change in percent (actual − baseline)/baseline; a reduction
target (−20%) is met at −20% or less, otherwise achieved change / required change, floor 0.
Without a baseline the value measured is already the change in percent."""

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
    dec,
    fmt,
    fmt_pct,
    need_number,
    r2,
)

CHANGE_PCT = Param(
    "change_pct",
    "variazione obiettivo",
    "change_pct",
    "variazione_pct",
    "Variazione richiesta (%)",
    help_text="Es. -20 per una riduzione",
)
BASELINE = Param(
    "baseline",
    "valore di partenza",
    "baseline",
    "valore_partenza",
    "Valore di partenza",
    required=False,
    help_text="Vuoto: il valore rilevato è già la variazione in %.",
)


class Change(Rule):
    kind = "change"
    label = "Variazione % rispetto al valore di partenza"
    import_name = "variazione"
    value_hint = "numero (il nuovo valore, o la variazione in % senza valore di partenza)"
    params = (CHANGE_PCT, BASELINE)
    example = {"kind": "change", "change_pct": -20, "baseline": 524}
    example_inputs = {"value": "420"}

    def validate(self, spec: Mapping) -> dict:
        out: dict = {"kind": self.kind, "change_pct": CHANGE_PCT.read(spec)}
        if out["change_pct"] == 0:
            raise ScoringError(
                "variazione obiettivo: non può essere 0 (usare «almeno» o «al più»)",
                field="change_pct",
            )
        if spec.get("baseline") is not None:
            out["baseline"] = BASELINE.read(spec)
            if out["baseline"] == 0:
                raise ScoringError(
                    "valore di partenza: non può essere 0 per una variazione in %",
                    field="baseline",
                )
        return out

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        actual, required = need_number(value), spec["change_pct"]
        baseline = spec.get("baseline")
        if baseline is None:
            change = actual
            prefix = f"variazione {fmt(change)}%"
        else:
            change = (actual - baseline) / abs(baseline) * HUNDRED
            prefix = f"({fmt(actual)} − {fmt(baseline)})/{fmt(abs(baseline))} = {fmt(r2(change))}%"
        target = f"obiettivo {'+' if required > 0 else ''}{fmt(required)}%"
        met = change <= required if required < 0 else change >= required
        if met:
            return RuleResult(HUNDRED, f"{prefix} ({target}) → 100%")
        pct = max(ZERO, change / required * HUNDRED)
        return RuleResult(
            pct,
            f"{prefix} ({target}) → {fmt(r2(change))}/{fmt(required)} = {fmt_pct(r2(pct))}",
        )

    def summary(self, rule: Mapping) -> str:
        base = f" su {self.number(rule['baseline'])}" if rule.get("baseline") is not None else ""
        pct = dec(rule["change_pct"])
        sign = "+" if pct > 0 else ""
        return f"variazione {sign}{fmt(pct)}%{base}"


RULE = Change()
