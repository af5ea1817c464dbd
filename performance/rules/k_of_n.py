"""``k_of_n`` coverage: k/n, capped at 100% ("almeno 1 addetto per ufficio": 13 of 14 -> 92,86%).
The value is "k su n", or k alone for the target's n."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from performance import parsing
from performance.rules.base import (
    HUNDRED,
    Param,
    Rule,
    RuleResult,
    ScoringError,
    Value,
    fmt,
    fmt_pct,
    r2,
    spec_number,
)
from performance.rules.inputs import K_DECIMALS, EntryParse, InputSpec, number, raw

N = Param("n", "n (totale)", "n", "n", "n (totale)", help_text="Es. 14 uffici")


class KOfN(Rule):
    kind = "k_of_n"
    label = "k su n (es. almeno 1 addetto per ufficio)"
    import_name = "k_su_n"
    aliases = ("copertura",)
    value_hint = "k su n (13 su 14) oppure k"
    params = (N,)
    example = {"kind": "k_of_n", "n": 14}
    example_inputs = {"k": "13 su 14"}
    entry_input = "k_of_n"

    def check(self, spec: dict) -> None:
        if spec["n"] <= 0:
            raise ScoringError("n (totale): deve essere maggiore di 0", field="n")

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        k = value.k if value.k is not None else value.number
        if k is None:
            raise ScoringError("valore: manca k (quanti su n)")
        n = value.n if value.n is not None else spec["n"]
        if k < 0 or n <= 0:
            raise ScoringError("valore: k non può essere negativo e n deve essere maggiore di 0")
        pct = min(k, n) / n * HUNDRED
        capped = " (oltre il totale: 100%)" if k > n else ""
        return RuleResult(pct, f"{fmt(k)}/{fmt(n)} = {fmt_pct(r2(pct))}{capped}")

    def summary(self, rule: Mapping) -> str:
        return f"k su {self.number(rule['n'])}"

    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        n = spec_number(spec, "n")
        total = f"; solo «13»: su {fmt(n)}" if n is not None else ""
        return [
            InputSpec(f"{prefix}k", "k_of_n", f"{lead}Quanti su quanti", f"es. 13 su 14{total}")
        ]

    def parse_entry(self, spec: Mapping, inputs: Mapping[str, Any], entry: EntryParse) -> None:
        k_spec = entry.specs["k_of_n"]
        text = raw(inputs, k_spec.name)

        def k_of_n() -> tuple[Decimal, Decimal | None] | None:
            try:
                parsed = parsing.parse_k_of_n(text)
            except parsing.ParseError as error:
                raise parsing.ParseError(f"{k_spec.label}: {error}") from None
            if parsed is not None:
                for value in (n for n in parsed if n is not None):
                    number(
                        str(value),
                        k_spec.label,
                        places=K_DECIMALS,
                        digits=8,
                        allow_percent=False,
                    )
            return parsed

        parsed = entry.attempt(k_spec.name, k_of_n)
        if parsed is not None:
            entry.fields["value_k"], entry.fields["value_n"] = parsed
        if text:
            entry.type(text)

    def input_texts(self, spec: Mapping, value: Value, prefix: str) -> dict[str, Any]:
        k = value.k if value.k is not None else value.number
        if k is None:
            return {}
        text = fmt(k) if value.n is None else f"{fmt(k)} su {fmt(value.n)}"
        return {f"{prefix}k": text}

    def display(self, spec: Mapping, value: Value) -> str:
        k = value.k if value.k is not None else value.number
        if k is None:
            return "—"
        n = value.n if value.n is not None else spec_number(spec, "n")
        return f"{fmt(k)} su {fmt(n)}" if n is not None else fmt(k)


RULE = KOfN()
