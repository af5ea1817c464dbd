"""What the imports and exports share: the kinds of file and the formats, the report of an
import (`ImportReport`, `InvalidRow`, `RowChange`, `ImportFileError`), formula escaping, and
the reading of a cell (Italian numbers and dates, choices, texts) with `_RowError` for an
invalid cell, and the lookups of stored items by code, key or name."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from organization.models import PlanDocument, Position, Unit
from performance import scoring
from performance.parsing import DateWindow, ParseError, parse_date, parse_number
from performance.services.imports.columns import RULE_NAMES, column_key

PLAN = "piano"
VALUES = "valori"
KINDS = {PLAN: "Piano (obiettivi, indicatori, target)", VALUES: "Valori rilevati"}
FORMATS = ("xlsx", "ods", "csv")

# ------------------------------------------------------------------------------- the report


class ImportFileError(ValidationError):
    """The file cannot be read as a table: format, size, encoding, missing header."""


@dataclass
class InvalidRow:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"riga {self.row}" + (f", colonna «{self.column}»" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class RowChange:
    row: int
    action: str  # "created" | "changed"
    label: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (column, before, after)

    @property
    def action_label(self) -> str:
        return "nuovo" if self.action == "created" else "modificato"


@dataclass
class ImportReport:
    kind: str
    year: int
    dry_run: bool
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    new_items: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def is_valid(self) -> bool:
        return not self.invalid

    @property
    def invalid_rows(self) -> list[int]:
        return sorted({item.row for item in self.invalid})

    def add_invalid(self, row: int, column: str, message: str) -> None:
        self.invalid.append(InvalidRow(row, column, message))

    def summary(self) -> str:
        parts = [
            f"{self.created} nuovi",
            f"{self.changed} modificati",
            f"{self.unchanged} invariati",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} righe senza valore ignorate")
        if self.invalid:
            parts.append(f"{len(self.invalid_rows)} righe non valide")
        return ", ".join(parts)


# ----------------------------------------------------------------------------- cell values

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """A leading apostrophe for text a spreadsheet would run as a formula (OWASP CSV
    injection); text that already starts with apostrophes before such a character gets one more,
    so `unescape_formula` gives back exactly the original."""
    return "'" + text if text.lstrip("'").startswith(_FORMULA_START) else text


def unescape_formula(text: str) -> str:
    if text.startswith("'") and text.lstrip("'").startswith(_FORMULA_START):
        return text[1:]
    return text


def _plain_number(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, with a dot: 4.6, 100, -11."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _text(value: Any) -> str:
    """A cell as text (codes, titles, notes)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, Decimal | int):
        return _plain_number(Decimal(value))
    if isinstance(value, float):
        return _plain_number(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return unescape_formula(str(value)).strip()


def _cell_for_parser(value: Any) -> Any:
    return unescape_formula(value) if isinstance(value, str) else value


def _show(value: Any) -> str:
    """A value for the report, in Italian."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, Decimal | int):
        return scoring.fmt(Decimal(value))
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Unit | Position | PlanDocument):
        return value.key
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


def _same(a: Any, b: Any) -> bool:
    """Equal as stored: objects by primary key, None and "" alike, 4.60 and 4.6 alike."""
    if isinstance(a, models.Model) or isinstance(b, models.Model):
        return type(a) is type(b) and a.pk is not None and a.pk == b.pk
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return str(a) == str(b)
    return a == b


class _RowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _number(value: Any, column: str) -> Decimal | None:
    try:
        return parse_number(_cell_for_parser(value))
    except ParseError as error:
        raise _RowError(column, str(error)) from None


def _date(value: Any, column: str, window: DateWindow | None = None) -> dt.date | None:
    try:
        return parse_date(_cell_for_parser(value), window=window)
    except ParseError as error:
        raise _RowError(column, str(error)) from None


def _choice(value: Any, choices: dict[str, str], column: str) -> str | None:
    text = _text(value)
    if not text:
        return None
    key = column_key(text)
    if key not in choices:
        allowed = _ALLOWED.get(column, ", ".join(sorted(choices)))
        raise _RowError(column, f"«{text}» non è ammesso (valori ammessi: {allowed})")
    return choices[key]


_ALLOWED = {
    "regola": ", ".join(RULE_NAMES.values()),
    "parti_regole": ", ".join(RULE_NAMES.values()),
    "tipo_obiettivo": "strategico, operativo, individuale",
    "obiettivo_stato": "attivo, neutralizzato",
    "stato": "misurato, escluso",
    "direzione": "più alto, più basso",
    "parti_combinazione": "media, minimo",
}


def _limited(text: str, column: str, limit: int) -> str:
    if len(text) > limit:
        raise _RowError(column, f"testo troppo lungo ({len(text)} caratteri, massimo {limit})")
    return text


# ------------------------------------------------------------------------------- lookups


def _id(code: str) -> int | None:
    return int(code) if re.fullmatch(r"\d{1,18}", code) else None


def _by_key_or_name(items: Iterable[Any], attribute: str) -> dict[str, Any]:
    """Lookup by key, then by the exact name (case-insensitive)."""
    out: dict[str, Any] = {}
    items = list(items)
    for item in items:
        out.setdefault(column_key(getattr(item, attribute)), item)
    for item in items:
        out[item.key] = item
    return out


def _lookup(mapping: dict[str, Any], text: str) -> Any:
    return mapping.get(text) or mapping.get(column_key(text))
