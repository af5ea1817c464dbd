"""The Italian widgets of the import/export Resources (django-import-export's `Widget`): how a
cell of the plan and values formats is read (``clean``) and written (``render``).

Read: numbers with the decimal comma (4,6 – 1.050 – 82,7%), dates gg/mm/aaaa (within the cycle's
window when given), sì/no, "13 su 14", the parts of a multi-part value separated by «;», texts with
the formula escape removed. An invalid cell raises ValueError with the Italian reason, which the
Resources report as the row's error for that column (row, column, reason).

Written (``render(value, fmt=...)``): numbers stay numbers in XLSX and ODS and are written with
the decimal comma in CSV (what Excel in Italian expects), dates gg/mm/aaaa, sì/no, and text that
a spreadsheet would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from import_export.widgets import Widget

from performance.parsing import (
    DateWindow,
    ParseError,
    parse_bool,
    parse_date,
    parse_k_of_n,
    parse_number,
)
from performance.services.imports.common import (
    _cell_for_parser,
    _choice,
    _plain_number,
    _RowError,
    _text,
    escape_formula,
)


def export_cell(value: Any, fmt: str) -> Any:
    """A value as the cell of an export in ``fmt`` (xlsx, ods, csv)."""
    if value is None or value == "":
        return "" if fmt == "csv" else None
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, int | Decimal):
        number = Decimal(value)
        if fmt == "csv":
            return _plain_number(number).replace(".", ",")
        return (
            int(number) if number == number.to_integral_value() else Decimal(_plain_number(number))
        )
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    text = str(value)
    if fmt == "xlsx":
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return escape_formula(text)


class CellWidget(Widget):
    """A cell as text (codes, titles, notes): the formula escape is removed on reading."""

    def __init__(self) -> None:
        super().__init__(coerce_to_string=False)

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        return _text(value)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        return export_cell(value, kwargs.get("fmt", "csv"))


class NumberWidget(CellWidget):
    """An Italian number: 4,6 – 1.050 – -13,06 – 82,7% (a percentage cell is x 100)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Decimal | None:
        try:
            return parse_number(_cell_for_parser(value))
        except ParseError as error:
            raise ValueError(str(error)) from None


class DateWidget(CellWidget):
    """A date gg/mm/aaaa (or a date cell), within ``window`` (the cycle's years) if given."""

    def clean(
        self, value: Any, row: Any = None, window: DateWindow | None = None, **kwargs: Any
    ) -> dt.date | None:
        try:
            return parse_date(_cell_for_parser(value), window=window)
        except ParseError as error:
            raise ValueError(str(error)) from None


class BooleanWidget(CellWidget):
    """sì / no (also si, vero, falso, x...); empty is no."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool:
        try:
            return bool(parse_bool(_cell_for_parser(value)))
        except ParseError as error:
            raise ValueError(str(error)) from None


class ChoiceWidget(CellWidget):
    """One of a vocabulary (readable names, accents and case ignored): «strategico»..."""

    def __init__(self, choices: dict[str, str], column: str) -> None:
        super().__init__()
        self.choices = choices
        self.column = column

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:
        try:
            return _choice(value, self.choices, self.column)
        except _RowError as error:
            raise ValueError(error.message) from None


class ValueWidget(CellWidget):
    """The value of a target by the kind of its rule: a number, a date or «no» (scadenza),
    sì/no or a date (realizzazione), "13 su 14" or 13 (k su n), the parts separated by «;»
    (più parti). Read as the fields of actual_record (``rule``: the target's rule)."""

    def clean(
        self,
        value: Any,
        row: Any = None,
        rule: dict | None = None,
        window: DateWindow | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            return _parse_value(value, rule or {}, window=window)
        except _RowError as error:
            raise ValueError(error.message) from None


def _parse_value(
    raw: Any, rule: dict, column: str = "valore", window: DateWindow | None = None
) -> dict[str, Any]:
    """The value cell as the fields of actual_record, by the kind of the target's rule."""
    kind = rule.get("kind")
    raw = _cell_for_parser(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        if kind == "multi":
            parts_rules = rule.get("parts") or []
            slots = [s.strip() for s in _text(raw).split(";")]
            if len(slots) != len(parts_rules):
                raise _RowError(
                    column,
                    f"servono {len(parts_rules)} valori separati da «;», uno per parte "
                    f"(trovati {len(slots)})",
                )
            parts = []
            for slot, part_rule in zip(slots, parts_rules, strict=True):
                part = _parse_value(slot or None, part_rule, column, window) if slot else {}
                parts.append(_stored_part(part) if part else None)
            return {"parts": parts} if any(parts) else {}
        if kind == "deadline":
            try:
                return {"date": parse_date(raw, window=window)}
            except ParseError as error:
                done = _bool_or_none(raw)
                if done is False:
                    return {"done": False}
                if re.fullmatch(r"[\d/.\-\s]+", _text(raw)):
                    raise _RowError(column, str(error)) from None
                raise _RowError(
                    column, f"«{_text(raw)}»: scrivere la data di realizzazione (gg/mm/aaaa) o «no»"
                ) from None
        if kind == "milestone":
            done = _bool_or_none(raw)
            if done is not None:
                return {"done": done}
            try:
                return {"date": parse_date(raw, window=window)}
            except ParseError:
                raise _RowError(column, f"«{_text(raw)}»: scrivere sì, no o la data") from None
        if kind == "k_of_n":
            try:
                parsed = parse_k_of_n(_text(raw))
            except ParseError:
                raise _RowError(
                    column, f"«{_text(raw)}»: scrivere quanti su quanti, es. 13 su 14"
                ) from None
            if parsed is None:
                return {}
            k, n = parsed
            return {"k": k, "n": n} if n is not None else {"k": k}
        number = parse_number(raw)
        return {} if number is None else {"number": number}
    except ParseError as error:
        raise _RowError(column, str(error)) from None


def _bool_or_none(raw: Any) -> bool | None:
    try:
        return parse_bool(raw if not isinstance(raw, Decimal | int) else str(raw))
    except ParseError:
        return None


def _stored_part(part: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("number", "k", "n"):
        if part.get(key) is not None:
            out["value" if key == "number" else key] = _plain_number(part[key])
    if part.get("date") is not None:
        out["date"] = part["date"].isoformat()
    if part.get("done") is not None:
        out["done"] = bool(part["done"])
    return out
