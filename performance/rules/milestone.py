"""``milestone``: done -> 100%, not done -> 0% (the date of completion is optional)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from performance import parsing
from performance.rules.base import HUNDRED, ZERO, Rule, RuleResult, ScoringError, Value, fmt_date
from performance.rules.inputs import DATE_HINT, EntryParse, InputSpec, date, raw, typed


class Milestone(Rule):
    kind = "milestone"
    label = "Fase realizzata sì/no"
    import_name = "realizzazione"
    aliases = ("fase",)
    value_hint = "sì / no (oppure la data di realizzazione)"
    entry_input = "done"
    example = {"kind": "milestone"}
    example_inputs = {"done": "sì"}

    def score(self, spec: dict, value: Value, rules: object) -> RuleResult:
        if value.done is None and value.date is None:
            raise ScoringError("valore: indicare se la fase è stata realizzata")
        if value.done is False:
            return RuleResult(ZERO, "non realizzato → 0%")
        when = f" il {fmt_date(value.date)}" if value.date else ""
        return RuleResult(HUNDRED, f"realizzato{when} → 100%")

    def summary(self, rule: Mapping) -> str:
        return "realizzato sì/no"

    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        return [
            InputSpec(f"{prefix}done", "done", f"{lead}Realizzato", "sì oppure no"),
            InputSpec(
                f"{prefix}date", "date", f"{lead}Data di realizzazione (facoltativa)", DATE_HINT
            ),
        ]

    def parse_entry(self, spec: Mapping, inputs: Mapping[str, Any], entry: EntryParse) -> None:
        done_spec, date_spec = entry.specs["done"], entry.specs["date"]
        raw_done, raw_date = raw(inputs, done_spec.name), raw(inputs, date_spec.name)

        def done() -> bool | None:
            try:
                return parsing.parse_bool(raw_done)
            except parsing.ParseError as error:
                raise parsing.ParseError(f"{done_spec.label}: {error}") from None

        fields = entry.fields
        fields["value_done"] = entry.attempt(done_spec.name, done)
        fields["value_date"] = entry.attempt(
            date_spec.name, lambda: date(raw_date, date_spec.label, entry.window)
        )
        if fields["value_done"] is False and fields["value_date"] is not None:
            entry.errors[date_spec.name] = (
                f"{date_spec.label}: una fase non realizzata non ha una data"
            )
        entry.typed += [typed(entry.part_label, t) for t in (raw_done, raw_date) if t]

    def input_texts(self, spec: Mapping, value: Value, prefix: str) -> dict[str, Any]:
        out = {}
        if value.done is not None:
            out[f"{prefix}done"] = "sì" if value.done else "no"
        if value.date is not None:
            out[f"{prefix}date"] = fmt_date(value.date)
        return out

    def display(self, spec: Mapping, value: Value) -> str:
        if value.done is None and value.date is None:
            return "—"
        when = f" il {fmt_date(value.date)}" if value.date else ""
        return f"{'non realizzato' if value.done is False else 'realizzato'}{when}"


RULE = Milestone()
