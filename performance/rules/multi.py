"""``multi``: every part scored by its own rule, then their mean (or minimum). A part without a
value leaves the mean; the plan form takes the parts as JSON, the entry form an input group per
part, the export one value per part separated by «;»."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from performance import json_input
from performance.rules.base import (
    ZERO,
    Param,
    Rule,
    RuleResult,
    ScoringError,
    Value,
    fmt,
    fmt_date,
    fmt_pct,
    r2,
)
from performance.rules.inputs import EntryParse, InputSpec

if TYPE_CHECKING:
    from performance.scoring import Rules

MULTI_EXAMPLE = (
    '{"parts": [{"kind": "deadline", "due": "2020-04-30"}, '
    '{"kind": "at_least", "threshold": 2}], "labels": ["1 entro aprile", "n. 2 riunioni"], '
    '"combine": "mean"}'
)
# The plan form's one field (a text of JSON); its column, the rules of the parts.
PARTS = Param(
    "parts",
    "obiettivo in più parti",
    "multi",
    "parti_regole",
    "Parti (JSON)",
    kind="json",
    help_text=f"Una regola per parte, ad es. {MULTI_EXAMPLE}",
)


def _plain(value: Any) -> Any:
    """A rule as JSON writes it: Decimals as numbers, dates as ISO."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(text)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _slot_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, dt.date):
        return fmt_date(value)
    return str(value)


def _labels(spec: Mapping, default: str) -> list[tuple[str, Any]]:
    labels = list(spec.get("labels") or [])
    return [
        (labels[index] if index < len(labels) else f"{default} {index + 1}", part)
        for index, part in enumerate(spec.get("parts") or [])
    ]


class Multi(Rule):
    kind = "multi"
    label = "In più parti"
    import_name = "piu_parti"
    aliases = ("parti",)
    params = (PARTS,)
    entry_input = "parts"
    example = {
        "kind": "multi",
        "parts": [{"kind": "deadline", "due": "2020-04-30"}, {"kind": "at_least", "threshold": 2}],
        "labels": ["1 entro aprile", "n. 2 riunioni"],
        "combine": "mean",
    }
    example_inputs = {"p0-date": "30/04/2020", "p1-value": "2"}

    def validate(self, spec: Mapping) -> dict:
        from performance.rules import validate_spec

        out: dict = {"kind": self.kind}
        parts = spec.get("parts") or []
        if not isinstance(parts, list | tuple) or len(parts) < 2:
            raise ScoringError("obiettivo in più parti: servono almeno due parti", field="parts")
        out["parts"] = [validate_spec(p) for p in parts]
        labels = spec.get("labels") or []
        if not isinstance(labels, list | tuple):
            raise ScoringError(
                "obiettivo in più parti: i nomi delle parti vanno in un elenco", field="labels"
            )
        out["labels"] = list(labels)
        out["combine"] = spec.get("combine", "mean")
        if out["combine"] not in ("mean", "min"):
            raise ScoringError(
                "obiettivo in più parti: combinazione «mean» o «min»", field="combine"
            )
        return out

    def score(self, spec: dict, value: Value, rules: Rules) -> RuleResult:
        from performance.rules import score_rule

        parts_values = value.parts or ()
        scored: list[Decimal] = []
        texts: list[str] = []
        labels = spec["labels"]
        for index, part in enumerate(spec["parts"]):
            label = labels[index] if index < len(labels) else f"parte {index + 1}"
            part_value = parts_values[index] if index < len(parts_values) else None
            if part_value is None or part_value.is_empty():
                texts.append(f"{label}: non rilevata")
                continue
            result = score_rule(part, part_value, rules)
            scored.append(result.pct)
            texts.append(f"{label}: {result.formula}")
        if not scored:
            raise ScoringError("valore: nessuna parte rilevata")
        if spec["combine"] == "min":
            pct = min(scored)
            summary = f"minimo delle parti = {fmt_pct(r2(pct))}"
        else:
            pct = sum(scored, ZERO) / len(scored)
            summary = (
                f"media delle parti: ({' + '.join(fmt(r2(s)) for s in scored)})/{len(scored)}"
                f" = {fmt_pct(r2(pct))}"
            )
        return RuleResult(pct, "; ".join(texts) + f"; {summary}")

    def summary(self, rule: Mapping) -> str:
        from performance.rules import rule_summary

        parts = " + ".join(rule_summary(p) for p in rule.get("parts") or [])
        how = "minimo" if rule.get("combine") == "min" else "media"
        return f"{parts} ({how} delle parti)"

    # ------------------------------------------------------------------------ plan form
    def form_field_for(self, key: str | None) -> str:
        return "multi"  # every error of the parts, their names or how they combine

    def form_spec(self, data: Mapping) -> dict:
        raw = (data.get("multi") or "").strip()
        if not raw:
            raise ScoringError(
                "obiettivo in più parti: indicare le parti (almeno due)", field="parts"
            )
        try:
            parsed = json_input.loads(raw)
        except json_input.JSONInputError as error:
            raise ScoringError(str(error), field="parts") from error
        if isinstance(parsed, list):
            parsed = {"parts": parsed}
        if not isinstance(parsed, dict):
            raise ScoringError(
                'scrivere un elenco di regole oppure {"parts": [...], ...}', field="parts"
            )
        return {**parsed, "kind": "multi"}

    def form_initial(self, rule: Mapping) -> dict:
        data = {k: rule[k] for k in ("parts", "labels", "combine") if k in rule}
        return {"kind": self.kind, "multi": json.dumps(_plain(data), ensure_ascii=False, indent=2)}

    # ------------------------------------------------------------------- import / export
    def export_columns(self, spec: dict, parameters: Sequence[str] = ()) -> dict[str, Any]:
        from performance.rules import rule_columns

        parts = [rule_columns(part, parameters) for part in spec["parts"]]
        out: dict[str, Any] = {"parti_regole": "; ".join(part["regola"] for part in parts)}
        for column in parameters:
            slots = [_slot_text(part.get(column)) for part in parts]
            if any(slots):
                out[column] = "; ".join(slots)
        out["parti_etichette"] = "; ".join(str(label) for label in spec["labels"])
        out["parti_combinazione"] = "minimo" if spec["combine"] == "min" else "media"
        return out

    def value_hint_of(self, rule: Mapping) -> str:
        from performance.rules import RULES

        hints = [
            getattr(RULES.get(str(p.get("kind"))), "value_hint", "")
            for p in rule.get("parts") or []
        ]
        return "parti separate da «;»: " + " ; ".join(hints)

    # ----------------------------------------------------------------------- entry form
    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        from performance.rules.inputs import value_inputs

        out: list[InputSpec] = []
        for index, (label, part) in enumerate(_labels(spec, "Parte")):
            out += value_inputs(part, prefix=f"{prefix}p{index}-", part_label=label)
        return out

    def parse_entry(self, spec: Mapping, inputs: Mapping[str, Any], entry: EntryParse) -> None:
        from performance.rules.inputs import parse_value, plain_part

        parts: list[dict | None] = []
        for index, (label, part) in enumerate(_labels(spec, "Parte")):
            part_fields, part_typed, part_errors = parse_value(
                part,
                inputs,
                prefix=f"{entry.prefix}p{index}-",
                part_label=label,
                window=entry.window,
            )
            entry.errors.update(part_errors)
            entry.typed += part_typed
            parts.append(plain_part(part_fields))
        if any(p is not None for p in parts):
            entry.fields["value_parts"] = parts

    def input_texts(self, spec: Mapping, value: Value, prefix: str) -> dict[str, Any]:
        from performance.rules.inputs import value_texts

        out: dict[str, Any] = {}
        for index, part in enumerate(spec.get("parts") or []):
            parts = value.parts or ()
            part_value = parts[index] if index < len(parts) else None
            out.update(value_texts(part, part_value, prefix=f"{prefix}p{index}-"))
        return out

    def display(self, spec: Mapping, value: Value) -> str:
        from performance.rules.inputs import value_display

        parts = value.parts or ()
        texts = []
        for index, (label, part) in enumerate(_labels(spec, "parte")):
            part_value = parts[index] if index < len(parts) else None
            texts.append(f"{label}: {value_display(part, part_value)}")
        return "; ".join(texts)


RULE = Multi()
