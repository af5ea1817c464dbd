"""The entry form's side of the rules: the inputs of a value (`InputSpec`), how what is typed in
them is read (`EntryParse` and the readers every kind uses), the dispatch by kind.

Pure Python: the staff's form (performance/forms.py) builds its fields from `value_inputs` and
reads them with `parse_value`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from performance import parsing
from performance.rules.base import Rule, Value

VALUE_DECIMALS = 4  # Actual.value_number
K_DECIMALS = 2  # Actual.value_k / value_n
PCT_DECIMALS = 2  # Actual.override_pct
_TRUE_FLAGS = {True, "1", "on", "true", "sì", "si"}
DATE_HINT = "gg/mm/aaaa, es. 18/03/2019"


@dataclass(frozen=True)
class InputSpec:
    """One input of a row: ``name`` is its suffix ("value", "date", "p0-date"...)."""

    name: str
    kind: str  # number | date | done | not_done | k_of_n (and text | textarea: note, source...)
    label: str
    hint: str = ""


def number_input(prefix: str, lead: str, hint: str) -> InputSpec:
    return InputSpec(f"{prefix}value", "number", f"{lead}Valore rilevato", hint)


@dataclass
class EntryParse:
    """What reading one value collects: the Actual's fields, the texts as typed, the errors by
    input name; the inputs of the value by their kind (``specs``)."""

    specs: dict[str, InputSpec]
    prefix: str = ""
    part_label: str = ""
    window: parsing.DateWindow | None = None
    fields: dict = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def attempt(self, name: str, parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except parsing.ParseError as error:
            self.errors[name] = str(error)
            return None

    def type(self, text: str) -> None:
        self.typed.append(typed(self.part_label, text))


def raw(inputs: Mapping[str, Any], name: str) -> str:
    value = inputs.get(name)
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def flag(inputs: Mapping[str, Any], name: str) -> bool:
    value = inputs.get(name)
    return (value if isinstance(value, bool) else str(value or "").strip().lower()) in _TRUE_FLAGS


def number(
    text: str, label: str, *, places: int, digits: int = 12, allow_percent: bool = True
) -> Decimal | None:
    try:
        value = parsing.parse_number(text, allow_percent=allow_percent)
    except parsing.ParseError as error:
        raise parsing.ParseError(f"{label}: {error}") from None
    if value is None:
        return None
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise parsing.ParseError(f"{label}: al massimo {places} decimali")
    if abs(value) >= Decimal(10) ** digits:
        raise parsing.ParseError(f"{label}: numero troppo grande")
    return value


def date(text: str, label: str, window: parsing.DateWindow | None) -> dt.date | None:
    try:
        return parsing.parse_date(text, window=window)
    except parsing.ParseError as error:
        raise parsing.ParseError(f"{label}: {error}") from None


def typed(label: str, text: str) -> str:
    return f"{label}: {text}" if label else text


def parse_number_input(inputs: Mapping[str, Any], entry: EntryParse) -> None:
    """The one number of a value (at_least, at_most, change, rating, thresholds)."""
    number_spec = entry.specs["number"]
    text = raw(inputs, number_spec.name)
    entry.fields["value_number"] = entry.attempt(
        number_spec.name, lambda: number(text, number_spec.label, places=VALUE_DECIMALS)
    )
    if text:
        entry.type(text)


# ------------------------------------------------------------------------- dispatch by kind

_NUMBER = Rule()  # an unknown kind: one number, shown as a number or a date


def rule_of(spec: Any) -> Rule:
    from performance.rules import RULES

    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    return RULES.get(kind, _NUMBER) if isinstance(kind, str) else _NUMBER


def value_inputs(spec: Mapping, *, prefix: str = "", part_label: str = "") -> list[InputSpec]:
    """The inputs of a value for a rule (a multi rule: those of each part, prefixed p0-, p1-...)."""
    lead = f"{part_label} – " if part_label else ""
    return rule_of(spec).inputs(spec, prefix, lead)


def parse_value(
    spec: Mapping,
    inputs: Mapping[str, Any],
    *,
    prefix: str = "",
    part_label: str = "",
    window: parsing.DateWindow | None = None,
) -> tuple[dict, list[str], dict[str, str]]:
    """(Actual value fields, texts as typed, errors by input name) for one value; dates within
    ``window`` (the cycle's) when given."""
    specs = {s.kind: s for s in value_inputs(spec, prefix=prefix, part_label=part_label)}
    entry = EntryParse(specs=specs, prefix=prefix, part_label=part_label, window=window)
    rule_of(spec).parse_entry(spec, inputs, entry)
    return entry.fields, entry.typed, entry.errors


def plain_part(fields: dict) -> dict | None:
    """A part as stored in Actual.value_parts (the dataset's form: strings, ISO dates)."""
    out: dict = {}
    if fields.get("value_number") is not None:
        out["value"] = str(fields["value_number"])
    if fields.get("value_k") is not None:
        out["k"] = str(fields["value_k"])
    if fields.get("value_n") is not None:
        out["n"] = str(fields["value_n"])
    if fields.get("value_date") is not None:
        out["date"] = fields["value_date"].isoformat()
    if fields.get("value_done") is not None:
        out["done"] = fields["value_done"]
    return out or None


def value_texts(spec: Mapping, value: Value | None, prefix: str = "") -> dict[str, Any]:
    """The inputs (by name) that show ``value`` as a user would type it."""
    if value is None:
        return {}
    return rule_of(spec).input_texts(spec, value, prefix)


def value_display(spec: Mapping, value: Value | None) -> str:
    """A value in words, Italian formats ("13 su 14", "18/03/2019", "non realizzato")."""
    if value is None:
        return "—"
    return rule_of(spec).display(spec, value)
