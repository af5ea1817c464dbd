"""Forms of the Relazione editing pages. They only read and shape the input; the services
(reports/relazione/services.py) validate and write."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from reports.relazione.services import MAX_COLUMNS, MAX_ROWS, TITLE_MAX

_TEXT = {"class": "form-control"}


class VersionField(forms.CharField):
    """The ``updated_at`` the user saw when the form was opened (ISO 8601, in a hidden input).
    Required: without it the service could not refuse a stale save."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {"required": "Versione del modulo mancante: ricaricare la pagina."},
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return value

    def to_python(self, value) -> dt.datetime | None:
        value = super().to_python(value)
        if not value:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise forms.ValidationError(
                "Versione del modulo non valida: ricaricare la pagina.", code="invalid"
            ) from None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, dt.UTC)
        return parsed


def bounded_int(value, *, low: int, high: int, default: int) -> int:
    """A count posted by the page (rows, columns), kept within bounds (ASCII digits: int()
    would read "١٢" as 12)."""
    if isinstance(value, str):
        digits = value.strip().removeprefix("-").removeprefix("+")
        if not (digits.isascii() and digits.isdigit()):
            return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))


class SectionForm(forms.Form):
    title = forms.CharField(
        label="Titolo", max_length=TITLE_MAX, widget=forms.TextInput(attrs=_TEXT)
    )
    body = forms.CharField(
        label="Testo (Markdown)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 22, "spellcheck": "true"}),
        help_text=(
            "**grassetto**, *corsivo*, elenchi con «- », tabelle con «| … |», «<br>» per andare "
            "a capo in una cella. Le cifre calcolate si scrivono con i segnaposto {{strategici}} "
            "e {{operativi}}."
        ),
    )
    expected_updated_at = VersionField()


class RelazioneForm(forms.Form):
    """Title, subtitle and signatories (a grid of role/name pairs plus one blank pair; pairs left
    empty are dropped)."""

    title = forms.CharField(
        label="Titolo", max_length=TITLE_MAX, widget=forms.TextInput(attrs=_TEXT)
    )
    subtitle = forms.CharField(
        label="Sottotitolo",
        max_length=TITLE_MAX,
        required=False,
        widget=forms.TextInput(attrs=_TEXT),
    )
    expected_updated_at = VersionField()

    def __init__(self, *args, signatory_count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.signatory_count = signatory_count
        for index in range(signatory_count):
            self.fields[f"role_{index}"] = forms.CharField(
                label=f"Carica del firmatario {index + 1}",
                required=False,
                max_length=TITLE_MAX,
                widget=forms.TextInput(attrs=_TEXT),
            )
            self.fields[f"name_{index}"] = forms.CharField(
                label=f"Nome del firmatario {index + 1}",
                required=False,
                max_length=TITLE_MAX,
                widget=forms.TextInput(attrs=_TEXT),
            )

    @staticmethod
    def initial_for(relazione) -> dict:
        initial = {
            "title": relazione.title,
            "subtitle": relazione.subtitle,
            "expected_updated_at": relazione.updated_at,
        }
        for index, item in enumerate(relazione.signatories or []):
            initial[f"role_{index}"] = item.get("role", "")
            initial[f"name_{index}"] = item.get("name", "")
        return initial

    def signatory_fields(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"role_{i}"], self[f"name_{i}"]) for i in range(self.signatory_count)]

    def signatories(self) -> list[dict[str, str]]:
        out = []
        for index in range(self.signatory_count):
            role = self.cleaned_data.get(f"role_{index}", "")
            name = self.cleaned_data.get(f"name_{index}", "")
            if role or name:
                out.append({"role": role, "name": name})
        return out


class TableForm(forms.Form):
    """A context table as a grid of inputs: one heading per column, ``row_count`` rows of cells
    (each with a "remove" box), footnotes one per line. Rows left all empty are dropped."""

    title = forms.CharField(
        label="Titolo", max_length=TITLE_MAX, widget=forms.TextInput(attrs=_TEXT)
    )
    footnotes = forms.CharField(
        label="Note (una per riga)",
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 4}),
    )
    expected_updated_at = VersionField()

    def __init__(self, *args, column_count: int, row_count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.column_count = max(1, min(MAX_COLUMNS, column_count))
        self.row_count = max(0, min(MAX_ROWS, row_count))
        for c in range(self.column_count):
            self.fields[f"col_{c}"] = forms.CharField(
                label=f"Intestazione della colonna {c + 1}",
                max_length=TITLE_MAX,
                error_messages={"required": "L'intestazione della colonna è obbligatoria."},
                widget=forms.TextInput(attrs=_TEXT),
            )
        for r in range(self.row_count):
            self.fields[f"delete_{r}"] = forms.BooleanField(
                label=f"Elimina la riga {r + 1}", required=False
            )
            for c in range(self.column_count):
                self.fields[f"cell_{r}_{c}"] = forms.CharField(
                    label=f"Riga {r + 1}, colonna {c + 1}",
                    required=False,
                    widget=forms.TextInput(
                        attrs={**_TEXT, "class": "form-control form-control-sm"}
                    ),
                )

    @staticmethod
    def initial_for(table) -> dict:
        initial = {
            "title": table.title,
            "footnotes": "\n".join(table.footnotes or []),
            "expected_updated_at": table.updated_at,
        }
        for c, column in enumerate(table.columns or []):
            initial[f"col_{c}"] = column
        for r, row in enumerate(table.rows or []):
            for c, cell in enumerate(row):
                initial[f"cell_{r}_{c}"] = cell
        return initial

    def header(self) -> list[forms.BoundField]:
        return [self[f"col_{c}"] for c in range(self.column_count)]

    def grid(self) -> list[dict]:
        return [
            {
                "number": r + 1,
                "delete": self[f"delete_{r}"],
                "cells": [self[f"cell_{r}_{c}"] for c in range(self.column_count)],
            }
            for r in range(self.row_count)
        ]

    def columns(self) -> list[str]:
        return [self.cleaned_data.get(f"col_{c}", "") for c in range(self.column_count)]

    def rows(self) -> list[list[str]]:
        out = []
        for r in range(self.row_count):
            if self.cleaned_data.get(f"delete_{r}"):
                continue
            cells = [self.cleaned_data.get(f"cell_{r}_{c}", "") for c in range(self.column_count)]
            if any(cells):
                out.append(cells)
        return out

    def footnote_list(self) -> list[str]:
        text = self.cleaned_data.get("footnotes", "")
        return [line.strip() for line in text.splitlines() if line.strip()]
