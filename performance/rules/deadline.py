"""``deadline``: on or before the due date -> 100%; late: 100 − points_per_day × days late (the
cycle's lateness rule, after its grace days), never below the rule's floor; not done -> 0%."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from performance.rules.base import (
    HUNDRED,
    ZERO,
    Param,
    Rule,
    RuleResult,
    ScoringError,
    Value,
    fmt,
    fmt_date,
    fmt_pct,
)
from performance.rules.inputs import DATE_HINT, EntryParse, InputSpec, date, flag, raw

if TYPE_CHECKING:
    from performance.scoring import Rules

DUE = Param(
    "due",
    "scadenza",
    "due",
    "data_scadenza",
    "Scadenza (gg/mm/aaaa)",
    kind="date",
)


class Deadline(Rule):
    kind = "deadline"
    label = "Entro una data (scadenza)"
    import_name = "scadenza"
    aliases = ("entro",)
    value_hint = "data gg/mm/aaaa, oppure «no» se non realizzato"
    params = (DUE,)
    example = {"kind": "deadline", "due": "2019-07-31"}
    example_inputs = {"date": "18/07/2019"}
    entry_input = "date"

    def score(self, spec: dict, value: Value, rules: Rules) -> RuleResult:
        due: dt.date = spec["due"]
        if value.date is None:
            if value.done is False:
                return RuleResult(ZERO, f"non realizzato (scadenza {fmt_date(due)}) → 0%")
            raise ScoringError("valore: manca la data di realizzazione")
        late = (value.date - due).days
        if late <= 0:
            return RuleResult(HUNDRED, f"{fmt_date(value.date)} entro il {fmt_date(due)} → 100%")
        lateness = rules.lateness
        counted = late - lateness.grace_days
        if counted <= 0:
            return RuleResult(
                HUNDRED,
                f"{fmt_date(value.date)}: {late} giorni di ritardo, entro la tolleranza di "
                f"{lateness.grace_days} giorni → 100%",
            )
        raw_pct = HUNDRED - lateness.points_per_day * counted
        pct = max(lateness.floor, raw_pct)
        floor_note = f" → minimo {fmt_pct(lateness.floor)}" if raw_pct < lateness.floor else ""
        return RuleResult(
            pct,
            f"{fmt_date(value.date)}: {late} giorni di ritardo sul {fmt_date(due)} → "
            f"100 − {counted} × {fmt(lateness.points_per_day)} = {fmt_pct(raw_pct)}{floor_note}",
        )

    def summary(self, rule: Mapping) -> str:
        return f"entro il {fmt_date(dt.date.fromisoformat(str(rule['due'])))}"

    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        return [
            InputSpec(f"{prefix}date", "date", f"{lead}Data di realizzazione", DATE_HINT),
            InputSpec(f"{prefix}not_done", "not_done", f"{lead}Non realizzato"),
        ]

    def parse_entry(self, spec: Mapping, inputs: Mapping[str, Any], entry: EntryParse) -> None:
        date_spec, flag_spec = entry.specs["date"], entry.specs["not_done"]
        text = raw(inputs, date_spec.name)
        entry.fields["value_date"] = entry.attempt(
            date_spec.name, lambda: date(text, date_spec.label, entry.window)
        )
        if flag(inputs, flag_spec.name):
            if text:
                entry.errors[date_spec.name] = (
                    f"{date_spec.label}: indicare la data oppure «non realizzato», non entrambi"
                )
            entry.fields["value_done"] = False
            entry.type("non realizzato")
        elif text:
            entry.type(text)

    def input_texts(self, spec: Mapping, value: Value, prefix: str) -> dict[str, Any]:
        if value.date is not None:
            return {f"{prefix}date": fmt_date(value.date)}
        return {f"{prefix}not_done": value.done is False}

    def display(self, spec: Mapping, value: Value) -> str:
        if value.date is None and value.done is False:
            return "non realizzato"
        return super().display(spec, value)


RULE = Deadline()
