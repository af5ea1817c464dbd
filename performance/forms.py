"""Forms of the staff workspace.

``UnitValuesForm``: the values of one unit for one period, one block of inputs per target, typed
by the kind of the target's rule (each kind's module in performance/rules/ says its inputs, how
they are read and how a stored value is shown in them):

- numbers (at_least, at_most, change, rating, thresholds): Italian decimal comma, "4,6",
  "1.234,5", "82,7%";
- dates (deadline, milestone): **text inputs typed as gg/mm/aaaa** ("18/03/2019", also
  "18.3.2019"; ISO "2019-03-18" is accepted too). Not ``type=date``: its display and keyboard
  entry depend on the browser's locale, while a text input reads and types the same everywhere;
- sì/no (milestone; "non realizzato" for a deadline);
- "k su n" (k_of_n: "13 su 14", or "13" for the target's n);
- the parts of a multi target, each typed by its own rule;

plus note, source and an optional override % ("rettifica") with its justification.

The form parses (syntax: every message is Italian and names the field); whether a value fits its
rule, the justification of an override and the versions are checked by the service
(performance/services/entry.py), whose errors the view puts back next to the fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from config.nul import has_nul, name_nul_errors, nul_message
from performance import parsing, scoring
from performance.models import Actual
from performance.rules.inputs import (
    PCT_DECIMALS,
    InputSpec,
    parse_value,
    value_display,
    value_inputs,
    value_texts,
)
from performance.rules.inputs import number as _number
from performance.rules.inputs import raw as _raw
from performance.rules.values import value_from_actual
from performance.selectors_entry import EntryObjective, EntryRow
from performance.services.actuals import ActualValue
from performance.services.entry import RowInput

_VERSION = re.compile(r"[0-9]{1,18}")


# ------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedRow(ActualValue):
    """One row as parsed, with the syntax errors by input name."""

    errors: dict[str, str] = field(default_factory=dict)

    def value(self) -> scoring.Value | None:
        return value_from_actual(
            {
                "value_number": self.number,
                "value_date": self.date,
                "value_done": self.done,
                "value_k": self.k,
                "value_n": self.n,
                "value_parts": self.parts,
            }
        )

    def is_blank(self) -> bool:
        return (
            self.value() is None
            and self.override_pct is None
            and not self.note
            and not self.source
            and not self.override_reason
        )


OVERRIDE_PCT_LABEL = "Rettifica: % di raggiungimento"
OVERRIDE_REASON_LABEL = "Motivazione della rettifica"
NOTE_LABEL = "Nota"
SOURCE_LABEL = "Fonte del dato"


def _labels(spec: Mapping) -> dict[str, str]:
    """The label of every input of a row, by input name."""
    labels = {s.name: s.label for s in value_inputs(spec)}
    labels.update(
        override_pct=OVERRIDE_PCT_LABEL,
        override_reason=OVERRIDE_REASON_LABEL,
        note=NOTE_LABEL,
        source=SOURCE_LABEL,
    )
    return labels


def parse_row(
    spec: Mapping, inputs: Mapping[str, Any], *, window: parsing.DateWindow | None = None
) -> ParsedRow:
    """Parse the raw inputs of one row (keys: the input suffixes, "note", "source",
    "override_pct", "override_reason"). Errors are in ``errors`` by input name, in Italian,
    each naming its field. Dates must be within ``window`` (the cycle's, see
    parsing.cycle_date_window; without it: plausible dates). An input containing NUL is an
    error (the form's fields refuse it before; the live preview's JSON gets here)."""
    labels = _labels(spec)
    refused = {n: nul_message(labels.get(n, n)) for n, v in inputs.items() if has_nul(v)}
    if refused:
        inputs = {name: ("" if name in refused else v) for name, v in inputs.items()}
    fields, typed, errors = parse_value(spec, inputs, window=window)
    errors.update(refused)
    override_pct = None
    try:
        override_pct = _number(
            _raw(inputs, "override_pct"), OVERRIDE_PCT_LABEL, places=PCT_DECIMALS
        )
    except parsing.ParseError as error:
        errors["override_pct"] = str(error)
    return ParsedRow(
        number=fields.get("value_number"),
        date=fields.get("value_date"),
        done=fields.get("value_done"),
        k=fields.get("value_k"),
        n=fields.get("value_n"),
        parts=fields.get("value_parts"),
        text="; ".join(typed)[:300],
        note=_raw(inputs, "note"),
        source=_raw(inputs, "source"),
        override_pct=override_pct,
        override_reason=_raw(inputs, "override_reason"),
        errors=errors,
    )


# ------------------------------------------------------------------- stored values as typed


def actual_inputs(spec: Mapping, actual: Actual | None) -> dict[str, Any]:
    """The inputs of a row showing a stored value (what the form opens with)."""
    if actual is None:
        return {}
    out = value_texts(spec, value_from_actual(actual.__dict__))
    out.update(note=actual.note, source=actual.source, override_reason=actual.override_reason)
    if actual.override_pct is not None:
        out["override_pct"] = scoring.fmt(actual.override_pct)
    return out


def actual_display(spec: Mapping, actual: Actual | None) -> str:
    return value_display(spec, value_from_actual(actual.__dict__) if actual else None)


# ----------------------------------------------------------------------------------- the form


@dataclass
class FormRow:
    """A row of the form as the template shows it: the data row and its bound fields."""

    entry: EntryRow
    inputs: list[forms.BoundField] = field(default_factory=list)
    note: forms.BoundField | None = None
    source: forms.BoundField | None = None
    override_pct: forms.BoundField | None = None
    override_reason: forms.BoundField | None = None
    version: forms.BoundField | None = None
    conflict: forms.BoundField | None = None
    resolve: forms.BoundField | None = None
    row_errors: list[str] = field(default_factory=list)
    in_conflict: bool = False
    typed: str = ""
    stored: str = ""

    @property
    def prefix(self) -> str:
        return f"t{self.entry.target.pk}-"

    @property
    def recorded_by(self) -> str:
        """Who recorded the stored value (the initial load has no user)."""
        user = self.entry.actual.recorded_by if self.entry.actual else None
        if user is None:
            return "caricamento dati"
        return user.get_full_name() or user.get_username()

    @property
    def achievement(self) -> str:
        """The stored value's achievement, Italian ("92,86%"; "n.d." when not scored)."""
        return scoring.fmt_pct(self.entry.result.achievement)

    @property
    def fields(self) -> list[forms.BoundField]:
        extra = (self.override_pct, self.override_reason, self.note, self.source, self.resolve)
        return [*self.inputs, *(f for f in extra if f is not None)]

    @property
    def has_errors(self) -> bool:
        return bool(self.row_errors) or any(f.errors for f in self.fields)


@dataclass
class FormGroup:
    objective: Any
    rows: list[FormRow]


RESOLVE_CHOICES = [
    ("mine", "Confermo il mio valore"),
    ("theirs", "Mantengo il valore salvato"),
]


class UnitValuesForm(forms.Form):
    """The values of one unit for one period (see the module docstring).

    Fields are named ``t<target id>-<input>``; each row also carries the ``version`` it was
    opened with (empty: no value then) and, after a conflict, ``conflict`` and ``resolve``
    ("mine": save what I typed over the newer value, "theirs": keep the stored one).
    """

    def __init__(
        self,
        data=None,
        *,
        groups: list[EntryObjective],
        initial: dict | None = None,
        year: int | None = None,
    ) -> None:
        super().__init__(data=data, initial=initial)
        self.groups = groups
        # dates within the cycle's window (parsing.cycle_date_window); without the cycle's year
        # only plausible dates
        self.window = parsing.cycle_date_window(year) if year is not None else None
        self.editable_rows = [row for group in groups for row in group.rows if row.editable]
        self.rows_to_save: list[RowInput] = []
        self._row_errors: dict[int, list[str]] = {}
        for row in self.editable_rows:
            self._add_fields(row)
        name_nul_errors(self.fields)

    def _add_fields(self, row: EntryRow) -> None:
        prefix = f"t{row.target.pk}-"
        initial = actual_inputs(row.target.rule, row.actual)
        for spec in value_inputs(row.target.rule):
            if spec.kind == "not_done":
                field_ = forms.BooleanField(required=False, label=spec.label)
            else:
                field_ = _text_field(spec.label, 100)
            field_.entry = spec
            field_.initial = initial.get(spec.name)
            self.fields[prefix + spec.name] = field_
            if spec.kind == "not_done" and self.initial:
                # an unbound form showing submitted data: a checkbox is there only if ticked
                self.initial.setdefault(prefix + spec.name, False)
        for name, label, size, textarea in (
            ("override_pct", OVERRIDE_PCT_LABEL, 20, False),
            ("override_reason", OVERRIDE_REASON_LABEL, 2000, True),
            ("note", NOTE_LABEL, 4000, True),
            ("source", SOURCE_LABEL, 300, False),
        ):
            field_ = _text_field(label, size, textarea=textarea)
            field_.entry = InputSpec(name, "textarea" if textarea else "text", label)
            field_.initial = initial.get(name, "")
            self.fields[prefix + name] = field_
        self.fields[prefix + "version"] = forms.CharField(
            required=False,
            widget=forms.HiddenInput,
            initial="" if row.actual is None else str(row.actual.version),
        )
        self.fields[prefix + "conflict"] = forms.CharField(required=False, widget=forms.HiddenInput)
        self.fields[prefix + "resolve"] = forms.ChoiceField(
            required=False,
            choices=RESOLVE_CHOICES,
            widget=forms.RadioSelect,
            label="In conflitto: quale valore salvare?",
        )

    # -- validation ------------------------------------------------------------------------
    def clean(self) -> dict:
        cleaned = super().clean()
        self.rows_to_save = []
        for row in self.editable_rows:
            prefix = f"t{row.target.pk}-"
            if cleaned.get(prefix + "conflict") == "1":
                resolve = cleaned.get(prefix + "resolve")
                if resolve == "theirs":
                    continue
                if resolve != "mine":
                    self.add_error(
                        prefix + "resolve",
                        "Scegliere se confermare il proprio valore o mantenere quello salvato.",
                    )
                    continue
            inputs = {
                name[len(prefix) :]: value
                for name, value in cleaned.items()
                if name.startswith(prefix)
            }
            parsed = parse_row(row.target.rule, inputs, window=self.window)
            for name, message in parsed.errors.items():
                self.add_error(prefix + name, message)
            raw_version = (cleaned.get(prefix + "version") or "").strip()
            # ASCII digits (isdigit() takes "²", which int() refuses), at most a bigint
            if raw_version and not _VERSION.fullmatch(raw_version):
                self._row_errors.setdefault(row.target.pk, []).append(
                    "Versione del valore non valida: ricaricare la pagina."
                )
                continue
            if any(self.has_error(name) for name in self.fields if name.startswith(prefix)):
                continue
            version = int(raw_version) if raw_version else None
            if version is None and parsed.is_blank():
                continue  # nothing typed, nothing stored
            self.rows_to_save.append(
                RowInput(target_id=row.target.pk, expected_version=version, **parsed.as_kwargs())
            )
        if self._row_errors:
            raise forms.ValidationError("Alcune righe non sono valide.")
        return cleaned

    def add_row_errors(self, row_errors: Mapping[int, Mapping[str, list[str]]]) -> None:
        """Put the service's errors (by target id and field) next to the fields."""
        for target_id, errors in row_errors.items():
            prefix = f"t{target_id}-"
            for name, messages in errors.items():
                for message in messages:
                    text = message[:1].upper() + message[1:]
                    if name == "value":
                        first = next((n for n in self.fields if n.startswith(prefix)), None)
                        if first is not None:
                            self.add_error(first, text)
                            continue
                    if prefix + name in self.fields:
                        self.add_error(prefix + name, text)
                    else:
                        self._row_errors.setdefault(target_id, []).append(text)

    # -- display ---------------------------------------------------------------------------
    def form_groups(self, *, conflicts: set[int] | None = None) -> list[FormGroup]:
        """The groups and rows with their bound fields, for the template."""
        conflicts = conflicts or set()
        out = []
        for group in self.groups:
            rows = []
            for entry in group.rows:
                row = FormRow(entry=entry, stored=actual_display(entry.target.rule, entry.actual))
                if entry.editable:
                    prefix = f"t{entry.target.pk}-"
                    specs = value_inputs(entry.target.rule)
                    row.inputs = [self[prefix + s.name] for s in specs]
                    for name in (
                        "note",
                        "source",
                        "override_pct",
                        "override_reason",
                        "version",
                        "conflict",
                        "resolve",
                    ):
                        setattr(row, name, self[prefix + name])
                    row.row_errors = self._row_errors.get(entry.target.pk, [])
                    row.in_conflict = (
                        entry.target.pk in conflicts or str(row.conflict.value() or "") == "1"
                    )
                    if row.in_conflict:
                        inputs = {s.name: row.inputs[i].value() for i, s in enumerate(specs)}
                        row.typed = (
                            parse_row(entry.target.rule, inputs, window=self.window).text
                            or "(nessun valore)"
                        )
                rows.append(row)
            out.append(FormGroup(objective=group.objective, rows=rows))
        return out

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor, message) for every error, for the summary at the top of the page."""
        out = []
        labels = {row.target.pk: row.target.indicator.name for row in self.editable_rows}
        for name, errors in self.errors.items():
            if name == NON_FIELD_ERRORS:
                continue
            target_id = int(name[1:].split("-", 1)[0])
            for error in errors:
                out.append((f"id_{name}", f"{labels.get(target_id, '')} – {error}"))
        for target_id, errors in self._row_errors.items():
            for error in errors:
                out.append((f"riga-{target_id}", f"{labels.get(target_id, '')} – {error}"))
        return out


def _text_field(label: str, max_length: int, *, textarea: bool = False) -> forms.CharField:
    return forms.CharField(
        required=False,
        label=label,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": 2}) if textarea else forms.TextInput,
        # Django formats this message with %-params: a "%" of the label must be doubled.
        error_messages={
            "max_length": f"{label.replace('%', '%%')}: al massimo {max_length} caratteri."
        },
    )


def conflict_initial(data: Mapping, conflicts: Mapping[int, Actual | None]) -> dict[str, Any]:
    """What the form shows again after a conflict: everything as submitted (typed values kept),
    every conflicting row marked and carrying the stored version, so that re-submitting it
    confirms what was typed. Used as the ``initial`` of an unbound form: nothing is validated
    (and no error shown) until the user submits again."""
    out: dict[str, Any] = {key: data.get(key) for key in data}
    for target_id, current in conflicts.items():
        prefix = f"t{target_id}-"
        out[prefix + "version"] = "" if current is None else str(current.version)
        out[prefix + "conflict"] = "1"
        out.pop(prefix + "resolve", None)
    return out
