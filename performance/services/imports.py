"""Imports and exports of the plan and of the actual values as flat spreadsheets (XLSX, ODS, CSV).

Two formats, documented in docs/import-format.md: the *piano* (one row per target, with its
objective, indicator and rule in readable columns) and the *valori* (one row per actual value).
Both are read into a `Table` (header = row 1, rows numbered as in the spreadsheet) and imported by
`plan_import` / `values_import`, which validate every row first and report what would be created
and changed and every invalid row (row number, column, Italian reason). With ``dry_run`` nothing
is written; otherwise everything is applied in one transaction, or nothing if any row is invalid.

Exports (`plan_export`, `values_export`) write the same columns; text cells that a spreadsheet
would run as a formula get a leading apostrophe (numbers stay numbers), and the import removes it.

Spreadsheets are written with tablib through django-import-export's formats. They are read with
openpyxl, odfpy and the csv module directly: tablib's readers renumber rows (blank rows are
dropped) and its ODS reader shifts columns after repeated empty cells, as LibreOffice writes them.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

import tablib
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from import_export.formats import base_formats
from simple_history.utils import bulk_create_with_history

from organization import permissions
from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit
from performance import editability, scoring
from performance.models import (
    ACTUAL_VALUE_FIELDS,
    Actual,
    Indicator,
    Objective,
    Perspective,
    StrategicObjective,
    Target,
)
from performance.parsing import ParseError, parse_bool, parse_date, parse_k_of_n, parse_number
from performance.services.actuals import actual_record
from performance.services.cycle import _rule_json, value_from_actual

PLAN = "piano"
VALUES = "valori"
KINDS = {PLAN: "Piano (obiettivi, indicatori, target)", VALUES: "Valori rilevati"}
FORMATS = ("xlsx", "ods", "csv")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 200
MAX_UNPACKED_BYTES = 60 * 1024 * 1024

_EXPORT_FORMATS = {
    "xlsx": base_formats.XLSX(),
    "ods": base_formats.ODS(),
    "csv": base_formats.CSV(),
}
CONTENT_TYPES = {name: fmt.get_content_type() for name, fmt in _EXPORT_FORMATS.items()}
CONTENT_TYPES["csv"] = "text/csv; charset=utf-8"

# ------------------------------------------------------------------------------------ columns

PLAN_COLUMNS: dict[str, str] = {
    "codice_target": "codice del target (dall'esportazione; vuoto per un nuovo target)",
    "codice_obiettivo": "codice dell'obiettivo (dall'esportazione; facoltativo)",
    "codice_indicatore": "codice dell'indicatore (dall'esportazione; facoltativo)",
    "tipo_obiettivo": "strategico, operativo o individuale",
    "posizione": "codice della posizione (solo obiettivi individuali)",
    "prospettiva_codice": "codice della prospettiva (per creare un obiettivo strategico)",
    "prospettiva_nome": "nome della prospettiva (per crearla)",
    "obiettivo_strategico_codice": "codice dell'obiettivo strategico (es. 1.1)",
    "obiettivo_strategico_titolo": "titolo dell'obiettivo strategico (per crearlo)",
    "obiettivo_titolo": "titolo dell'obiettivo",
    "obiettivo_peso": "peso dell'obiettivo (vuoto: 1)",
    "obiettivo_stato": "attivo o neutralizzato",
    "motivo_neutralizzazione": "motivo della neutralizzazione",
    "neutralizzato_con": "codice del documento che neutralizza l'obiettivo",
    "indicatore_nome": "nome dell'indicatore",
    "unita_misura": "unità di misura (n., %, data, giorni...)",
    "direzione": "più alto o più basso (è meglio)",
    "baseline_valore": "valore di partenza dell'indicatore",
    "baseline_anno": "anno del valore di partenza",
    "baseline_testo": "valore di partenza come scritto",
    "fonte": "fonte del dato",
    "indicatore_note": "note dell'indicatore",
    "unita": "codice dell'unità organizzativa (vuoto: Ente)",
    "ufficio": "codice dell'ufficio che realizza l'attività",
    "target_testo": "target come approvato",
    "regola": "tipo di regola di calcolo",
    "soglia": "soglia (almeno, al_massimo, scala)",
    "data_scadenza": "scadenza gg/mm/aaaa (scadenza)",
    "variazione_pct": "variazione richiesta in % (variazione)",
    "valore_partenza": "valore di partenza della variazione (variazione)",
    "scala_min": "minimo della scala (scala; vuoto: 1)",
    "scala_max": "massimo della scala (scala; vuoto: 5)",
    "n": "totale n (k_su_n)",
    "minimo": "valore minimo (soglie)",
    "obiettivo": "valore obiettivo (soglie)",
    "punteggio_minimo": "punteggio al minimo (soglie; vuoto: 0)",
    "parti_regole": "regole delle parti separate da ; (piu_parti)",
    "parti_etichette": "etichette delle parti separate da ; (piu_parti)",
    "parti_combinazione": "media o minimo (piu_parti; vuoto: media)",
    "stato": "misurato o escluso",
    "motivo_esclusione": "motivo dell'esclusione",
    "riga_ripetuta": "sì se la riga ripete un'altra riga del documento",
    "peso": "peso del target (vuoto: 1)",
    "testo_originario": "testo del target prima della revisione",
    "rivisto_con": "codice del documento che ha rivisto il target",
    "nota_pie_pagina": "nota a piè di pagina",
    "note": "note del target",
    "percentuale_pubblicata": "percentuale stampata nel documento di origine",
}

VALUE_COLUMNS: dict[str, str] = {
    "codice_target": "codice del target (dall'esportazione del piano o dei valori)",
    "periodo": "codice del periodo di misurazione",
    "tipo_obiettivo": "per riconoscere il target senza codice",
    "posizione": "per riconoscere il target senza codice",
    "obiettivo_strategico_codice": "per riconoscere il target senza codice",
    "obiettivo_titolo": "per riconoscere il target senza codice",
    "indicatore_nome": "per riconoscere il target senza codice",
    "unita": "per riconoscere il target senza codice (vuoto: Ente)",
    "target_testo": "per riconoscere il target senza codice",
    "ripetizione": "1, 2... solo se più target hanno le stesse colonne qui sopra",
    "formato_valore": "come scrivere il valore (solo informativo, ignorato)",
    "valore": "valore rilevato come si scrive: 4,6 – 82,7% – 18/03/2019 – sì – 13 su 14",
    "valore_testo": "valore come scritto nel documento",
    "nota": "nota",
    "fonte": "fonte del dato",
    "data_rilevazione": "data di rilevazione gg/mm/aaaa",
    "rettifica_pct": "percentuale rettificata (0–100)",
    "rettifica_motivazione": "motivazione della rettifica (obbligatoria con la rettifica)",
}

RULE_NAMES = {
    "at_least": "almeno",
    "at_most": "al_massimo",
    "change": "variazione",
    "deadline": "scadenza",
    "milestone": "realizzazione",
    "rating": "scala",
    "thresholds": "soglie",
    "k_of_n": "k_su_n",
    "multi": "piu_parti",
}
_RULE_ALIASES = {
    **{kind: kind for kind in scoring.RULE_KINDS},
    **{name: kind for kind, name in RULE_NAMES.items()},
    "al_piu": "at_most",
    "massimo": "at_most",
    "entro": "deadline",
    "fase": "milestone",
    "valutazione": "rating",
    "copertura": "k_of_n",
    "parti": "multi",
}
_RULE_PARAMETERS = (
    "soglia",
    "data_scadenza",
    "variazione_pct",
    "valore_partenza",
    "scala_min",
    "scala_max",
    "n",
    "minimo",
    "obiettivo",
    "punteggio_minimo",
)
_OBJECTIVE_KINDS = {
    "strategico": Objective.Kind.STRATEGIC,
    "strategic": Objective.Kind.STRATEGIC,
    "operativo": Objective.Kind.OPERATIONAL,
    "operational": Objective.Kind.OPERATIONAL,
    "individuale": Objective.Kind.INDIVIDUAL,
    "individual": Objective.Kind.INDIVIDUAL,
}
_OBJECTIVE_KIND_NAMES = {
    Objective.Kind.STRATEGIC: "strategico",
    Objective.Kind.OPERATIONAL: "operativo",
    Objective.Kind.INDIVIDUAL: "individuale",
}
_OBJECTIVE_STATUSES = {
    "attivo": Objective.Status.ACTIVE,
    "active": Objective.Status.ACTIVE,
    "neutralizzato": Objective.Status.NEUTRALIZED,
    "neutralized": Objective.Status.NEUTRALIZED,
}
_TARGET_STATUSES = {
    "misurato": Target.Status.ACTIVE,
    "attivo": Target.Status.ACTIVE,
    "active": Target.Status.ACTIVE,
    "escluso": Target.Status.EXCLUDED,
    "excluded": Target.Status.EXCLUDED,
}
_DIRECTIONS = {
    "piu_alto": Indicator.Direction.HIGHER,
    "piu_alto_e_meglio": Indicator.Direction.HIGHER,
    "alto": Indicator.Direction.HIGHER,
    "crescente": Indicator.Direction.HIGHER,
    "higher": Indicator.Direction.HIGHER,
    "piu_basso": Indicator.Direction.LOWER,
    "piu_basso_e_meglio": Indicator.Direction.LOWER,
    "basso": Indicator.Direction.LOWER,
    "decrescente": Indicator.Direction.LOWER,
    "lower": Indicator.Direction.LOWER,
}
_COMBINE = {"media": "mean", "mean": "mean", "minimo": "min", "min": "min"}
_PLAN_ORDER = (
    "indicator__objective__order",
    "indicator__objective_id",
    "indicator__order",
    "indicator_id",
    "order",
    "id",
)

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


# ------------------------------------------------------------------------- reading a table


@dataclass
class SheetRow:
    number: int  # as in the spreadsheet: the header is row 1
    cells: dict[str, Any]  # column key -> value (None: empty cell)


@dataclass
class Table:
    columns: list[str]
    rows: list[SheetRow]

    def has(self, column: str) -> bool:
        return column in self.columns

    @classmethod
    def from_rows(cls, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Table:
        """A table from a header and rows (the first row is row 2), as if read from a file."""
        matrix = [(1, list(headers))]
        matrix += [(number, list(row)) for number, row in enumerate(rows, start=2)]
        return _table_from_matrix(matrix)


def column_key(text: str) -> str:
    """A header as a column key: "Unità" -> "unita", "Codice target" -> "codice_target"."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def file_format(filename: str) -> str:
    extension = PurePath(filename or "").suffix.lower().lstrip(".")
    if extension not in FORMATS:
        raise ImportFileError(
            "Formato non ammesso: caricare un file .xlsx (Excel), .ods (LibreOffice) o .csv."
        )
    return extension


def read_table(*, content: bytes, filename: str) -> Table:
    """Read the first sheet of an XLSX/ODS file or a CSV file (separator ; , or tab; UTF-8 with
    or without BOM, or Windows-1252 as older Excel versions write it)."""
    fmt = file_format(filename)
    if not content:
        raise ImportFileError("Il file è vuoto.")
    if len(content) > MAX_UPLOAD_BYTES:
        raise ImportFileError(
            f"Il file supera il limite di {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        )
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "ods": _read_ods}[fmt]
    return _table_from_matrix(reader(content))


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        return str(value)  # NaN, Infinity: text, which the parsers refuse with a message
    return value


def _table_from_matrix(matrix: list[tuple[int, list[Any]]]) -> Table:
    if not matrix or matrix[0][0] != 1 or not any(_clean(v) is not None for v in matrix[0][1]):
        raise ImportFileError("La prima riga del foglio deve contenere i nomi delle colonne.")
    headers = [column_key(_text(v)) for v in matrix[0][1]]
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise ImportFileError(f"Riga 1: la colonna «{header}» compare due volte.")
        seen.add(header)
    rows = []
    for number, values in matrix[1:]:
        cells = {
            h: _clean(values[i]) if i < len(values) else None for i, h in enumerate(headers) if h
        }
        if all(v is None for v in cells.values()):
            continue
        rows.append(SheetRow(number, cells))
    if len(rows) > MAX_ROWS:
        raise ImportFileError(f"Il file ha più di {MAX_ROWS} righe: dividerlo in più file.")
    return Table(columns=[h for h in headers if h], rows=rows)


def _read_csv(content: bytes) -> list[tuple[int, list[Any]]]:
    if content.startswith(codecs.BOM_UTF8):
        try:
            text = content[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFileError("Il file CSV non è in UTF-8 valido.") from None
    else:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = content.decode("cp1252", errors="replace")
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    matrix = []
    number = 0
    try:
        for number, row in enumerate(
            csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1
        ):
            if number > MAX_ROWS + 1:
                raise ImportFileError(f"Il file ha più di {MAX_ROWS} righe: dividerlo.")
            matrix.append((number, row[:MAX_COLUMNS]))
    except csv.Error as error:
        raise ImportFileError(f"CSV non leggibile alla riga {number + 1}: {error}") from None
    return matrix


def _check_zip(content: bytes, label: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ImportFileError(f"Il file non è un foglio {label} valido.") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise ImportFileError("Il file è troppo grande una volta decompresso.")


def _read_xlsx(content: bytes) -> list[tuple[int, list[Any]]]:
    _check_zip(content, "XLSX")
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(content), data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for a damaged file
        raise ImportFileError("Il file non è un foglio XLSX leggibile.") from None
    sheet = book.worksheets[0]
    matrix = []
    for row in sheet.iter_rows(max_col=min(sheet.max_column, MAX_COLUMNS)):
        values = [_xlsx_value(cell) for cell in row]
        if any(v is not None for v in values):
            matrix.append((row[0].row, values))
            if len(matrix) > MAX_ROWS + 1:
                raise ImportFileError(f"Il file ha più di {MAX_ROWS} righe: dividerlo.")
    return matrix


_QUOTED = re.compile(r'"[^"]*"|\\.')  # literal text in a number format: 0" %" is no percentage


def _xlsx_value(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if "%" in _QUOTED.sub("", str(cell.number_format or "")):
            number *= 100  # "82,7%" typed in a cell is stored as 0.827
        return number
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _read_ods(content: bytes) -> list[tuple[int, list[Any]]]:
    _check_zip(content, "ODS")
    from odf.namespaces import TABLENS
    from odf.opendocument import load

    try:
        document = load(io.BytesIO(content))
    except Exception:  # odfpy raises many kinds of errors for a damaged file
        raise ImportFileError("Il file non è un foglio ODS leggibile.") from None
    sheets = [n for n in document.spreadsheet.childNodes if n.qname == (TABLENS, "table")]
    if not sheets:
        raise ImportFileError("Il file ODS non contiene fogli.")
    matrix = []
    number = 0
    for row in _ods_rows(sheets[0]):
        repeat = int(_attribute(row, "numberrowsrepeated") or 1)
        values = _ods_cells(row)
        if not any(v is not None for v in values):
            number += repeat  # LibreOffice writes blank rows as one repeated row
            continue
        for _ in range(min(repeat, MAX_ROWS + 2)):
            number += 1
            matrix.append((number, values))
        if len(matrix) > MAX_ROWS + 1:
            raise ImportFileError(f"Il file ha più di {MAX_ROWS} righe: dividerlo.")
    return matrix


def _attribute(element: Any, name: str) -> str | None:
    try:
        return element.getAttribute(name)
    except (AttributeError, ValueError):
        return None


def _ods_rows(element: Any) -> Iterable[Any]:
    from odf.namespaces import TABLENS

    for child in element.childNodes:
        if child.qname == (TABLENS, "table-row"):
            yield child
        elif child.qname in (
            (TABLENS, "table-header-rows"),
            (TABLENS, "table-rows"),
            (TABLENS, "table-row-group"),
        ):
            yield from _ods_rows(child)


def _ods_cells(row: Any) -> list[Any]:
    from odf.namespaces import TABLENS

    values: list[Any] = []
    pending = 0  # empty cells not yet written (trailing ones never are)
    for cell in row.childNodes:
        if cell.qname not in ((TABLENS, "table-cell"), (TABLENS, "covered-table-cell")):
            continue
        repeat = int(_attribute(cell, "numbercolumnsrepeated") or 1)
        value = _ods_value(cell)
        if value is None:
            pending += repeat
            continue
        values.extend([None] * pending)
        pending = 0
        values.extend([value] * min(repeat, MAX_COLUMNS))
        if len(values) >= MAX_COLUMNS:
            return values[:MAX_COLUMNS]
    return values


def _ods_value(cell: Any) -> Any:
    from odf import teletype
    from odf.namespaces import TEXTNS

    kind = _attribute(cell, "valuetype")
    try:
        if kind in ("float", "currency"):
            return Decimal(_attribute(cell, "value") or "")
        if kind == "percentage":
            return Decimal(_attribute(cell, "value") or "") * 100
    except InvalidOperation:
        pass
    if kind == "date":
        value = _attribute(cell, "datevalue") or ""
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    if kind == "boolean":
        return _attribute(cell, "booleanvalue") == "true"
    paragraphs = [
        teletype.extractText(node) for node in cell.childNodes if node.qname == (TEXTNS, "p")
    ]
    text = "\n".join(paragraphs)
    return text if text.strip() else None


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


def _date(value: Any, column: str) -> dt.date | None:
    try:
        return parse_date(_cell_for_parser(value))
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


# ---------------------------------------------------------------------------------- exports


def _export_cell(value: Any, fmt: str) -> Any:
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


def render_table(*, columns: Sequence[str], rows: Iterable[dict], fmt: str, title: str) -> bytes:
    """Write rows as XLSX, ODS or CSV (";" separator, UTF-8 with BOM, decimal comma: what
    Excel in Italian expects). Numbers stay numbers; text is escaped against formulas."""
    if fmt not in FORMATS:
        raise ValueError(f"formato sconosciuto: {fmt}")
    dataset = tablib.Dataset(headers=list(columns), title=title[:31])
    for row in rows:
        dataset.append([_export_cell(row.get(column), fmt) for column in columns])
    if fmt == "csv":
        text = _EXPORT_FORMATS["csv"].export_data(dataset, delimiter=";")
        return codecs.BOM_UTF8 + text.encode("utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _EXPORT_FORMATS[fmt].export_data(dataset)


def _rule_columns(rule: dict) -> dict[str, Any]:
    """The readable columns of a stored rule."""
    try:
        spec = scoring.validate_spec(rule)
    except scoring.ScoringError:
        return {"regola": RULE_NAMES.get(str(rule.get("kind")), str(rule.get("kind")))}
    kind = spec["kind"]
    out: dict[str, Any] = {"regola": RULE_NAMES[kind]}
    if kind == "multi":
        parts = [_rule_columns(part) for part in spec["parts"]]
        out["parti_regole"] = "; ".join(part["regola"] for part in parts)
        for column in _RULE_PARAMETERS:
            slots = [_slot_text(part.get(column)) for part in parts]
            if any(slots):
                out[column] = "; ".join(slots)
        out["parti_etichette"] = "; ".join(str(label) for label in spec["labels"])
        out["parti_combinazione"] = "minimo" if spec["combine"] == "min" else "media"
        return out
    names = {
        "threshold": "soglia",
        "due": "data_scadenza",
        "change_pct": "variazione_pct",
        "baseline": "valore_partenza",
        "scale_min": "scala_min",
        "scale_max": "scala_max",
        "n": "n",
        "minimum": "minimo",
        "target": "obiettivo",
        "minimum_score": "punteggio_minimo",
    }
    for key, column in names.items():
        if key in spec:
            out[column] = spec[key]
    return out


def _slot_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return scoring.fmt(value)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _plan_targets(*, cycle: Cycle) -> list[Target]:
    return list(
        Target.objects.filter(indicator__objective__cycle=cycle)
        .select_related(
            "unit",
            "office",
            "revised_by",
            "indicator__objective__position",
            "indicator__objective__neutralized_by",
            "indicator__objective__strategic_objective__perspective",
        )
        .order_by(*_PLAN_ORDER)
    )


def plan_rows(*, cycle: Cycle) -> list[dict[str, Any]]:
    """One row per target of the cycle, in the order of the plan (three queries)."""
    rows = []
    for target in _plan_targets(cycle=cycle):
        indicator = target.indicator
        objective = indicator.objective
        goal = objective.strategic_objective
        perspective = goal.perspective if goal else None
        neutralized = objective.status == Objective.Status.NEUTRALIZED
        rows.append(
            {
                "codice_target": target.id,
                "codice_obiettivo": objective.id,
                "codice_indicatore": indicator.id,
                "tipo_obiettivo": _OBJECTIVE_KIND_NAMES[objective.kind],
                "posizione": objective.position.key if objective.position else "",
                "prospettiva_codice": perspective.code if perspective else "",
                "prospettiva_nome": perspective.name if perspective else "",
                "obiettivo_strategico_codice": goal.code if goal else "",
                "obiettivo_strategico_titolo": goal.title if goal else "",
                "obiettivo_titolo": objective.title,
                "obiettivo_peso": objective.weight,
                "obiettivo_stato": "neutralizzato" if neutralized else "attivo",
                "motivo_neutralizzazione": objective.neutralization_reason,
                "neutralizzato_con": objective.neutralized_by.key
                if objective.neutralized_by
                else "",
                "indicatore_nome": indicator.name,
                "unita_misura": indicator.unit_of_measure,
                "direzione": "più basso"
                if indicator.direction == Indicator.Direction.LOWER
                else "più alto",
                "baseline_valore": indicator.baseline_value,
                "baseline_anno": indicator.baseline_year,
                "baseline_testo": indicator.baseline_text,
                "fonte": indicator.source,
                "indicatore_note": indicator.notes,
                "unita": target.unit.key if target.unit else "",
                "ufficio": target.office.key if target.office else "",
                "target_testo": target.text,
                **_rule_columns(target.rule),
                "stato": "escluso" if target.status == Target.Status.EXCLUDED else "misurato",
                "motivo_esclusione": target.exclusion_reason,
                "riga_ripetuta": "sì" if target.is_duplicate else "",
                "peso": target.weight,
                "testo_originario": target.original_text,
                "rivisto_con": target.revised_by.key if target.revised_by else "",
                "nota_pie_pagina": target.footnote,
                "note": target.notes,
                "percentuale_pubblicata": target.published_pct,
            }
        )
    return rows


def plan_export(*, cycle: Cycle, format: str) -> bytes:
    return render_table(
        columns=list(PLAN_COLUMNS),
        rows=plan_rows(cycle=cycle),
        fmt=format,
        title=f"Piano {cycle.year}",
    )


def _content_key(target: Target) -> tuple[str, ...]:
    """What identifies a target without its code (the values format's columns)."""
    objective = target.indicator.objective
    return (
        objective.kind,
        objective.position.key if objective.position else "",
        objective.strategic_objective.code if objective.strategic_objective else "",
        objective.title,
        target.indicator.name,
        target.unit.key if target.unit else "",
        target.text,
    )


def _repetitions(targets: Sequence[Target]) -> dict[int, int]:
    """target id -> its rank among targets with the same content key (only where repeated)."""
    by_key: dict[tuple, list[Target]] = defaultdict(list)
    for target in targets:
        by_key[_content_key(target)].append(target)
    ranks = {}
    for same in by_key.values():
        if len(same) > 1:
            for rank, target in enumerate(same, start=1):
                ranks[target.id] = rank
    return ranks


_VALUE_HINTS = {
    "at_least": "numero (4,6 – 82,7%)",
    "at_most": "numero (4,6 – -13,06)",
    "change": "numero (il nuovo valore, o la variazione in % senza valore di partenza)",
    "deadline": "data gg/mm/aaaa, oppure «no» se non realizzato",
    "milestone": "sì / no (oppure la data di realizzazione)",
    "rating": "numero sulla scala (4,4)",
    "thresholds": "numero",
    "k_of_n": "k su n (13 su 14) oppure k",
}


def value_hint(rule: dict) -> str:
    """How to write the value of a target with this (stored) rule, for the people filling in."""
    kind = rule.get("kind")
    if kind == "multi":
        hints = [_VALUE_HINTS.get(str(p.get("kind")), "") for p in rule.get("parts") or []]
        return "parti separate da «;»: " + " ; ".join(hints)
    return _VALUE_HINTS.get(str(kind), "")


def _value_cell(actual: Actual) -> Any:
    value = value_from_actual(actual.__dict__)
    if value is None:
        return None
    if value.parts is not None:
        return "; ".join(_part_text(part) for part in value.parts)
    return _single_value(value)


def _single_value(value: scoring.Value) -> Any:
    if value.k is not None:
        if value.n is None:
            return value.k
        return f"{scoring.fmt(value.k)} su {scoring.fmt(value.n)}"
    if value.date is not None:
        return value.date
    if value.done is not None:
        return "sì" if value.done else "no"
    return value.number


def _part_text(part: scoring.Value | None) -> str:
    if part is None or part.is_empty():
        return ""
    value = _single_value(part)
    if isinstance(value, Decimal):
        return scoring.fmt(value)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def values_rows(
    *,
    cycle: Cycle,
    period: MeasurementPeriod | None = None,
    unit_ids: set[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per recorded value (all periods); with ``period``, one row per target for that
    period, empty where there is no value yet (a sheet to fill in). ``unit_ids`` restricts the
    rows to those units' targets (None: every target)."""
    targets = _plan_targets(cycle=cycle)
    ranks = _repetitions(targets)
    actuals = Actual.objects.filter(target__indicator__objective__cycle=cycle).select_related(
        "period"
    )
    if period is not None:
        actuals = actuals.filter(period=period)
    by_target: dict[int, list[Actual]] = defaultdict(list)
    for actual in actuals.order_by("period__end_date", "period_id"):
        by_target[actual.target_id].append(actual)
    rows = []
    for target in targets:
        if unit_ids is not None and target.unit_id not in unit_ids:
            continue
        found = by_target.get(target.id, [])
        if period is not None:
            pairs = [(period, found[0] if found else None)]
        else:
            pairs = [(actual.period, actual) for actual in found]
        kind, position, goal, title, indicator, unit, text = _content_key(target)
        for row_period, actual in pairs:
            rows.append(
                {
                    "codice_target": target.id,
                    "periodo": row_period.key,
                    "tipo_obiettivo": _OBJECTIVE_KIND_NAMES[kind],
                    "posizione": position,
                    "obiettivo_strategico_codice": goal,
                    "obiettivo_titolo": title,
                    "indicatore_nome": indicator,
                    "unita": unit,
                    "target_testo": text,
                    "ripetizione": ranks.get(target.id),
                    "formato_valore": value_hint(target.rule),
                    "valore": _value_cell(actual) if actual else None,
                    "valore_testo": actual.text if actual else "",
                    "nota": actual.note if actual else "",
                    "fonte": actual.source if actual else "",
                    "data_rilevazione": actual.measured_on if actual else None,
                    "rettifica_pct": actual.override_pct if actual else None,
                    "rettifica_motivazione": actual.override_reason if actual else "",
                }
            )
    return rows


def values_export(
    *,
    cycle: Cycle,
    format: str,
    period: MeasurementPeriod | None = None,
    unit_ids: set[int] | None = None,
) -> bytes:
    title = f"Valori {cycle.year}" + (f" {period.key}" if period else "")
    return render_table(
        columns=list(VALUE_COLUMNS),
        rows=values_rows(cycle=cycle, period=period, unit_ids=unit_ids),
        fmt=format,
        title=title,
    )


# -------------------------------------------------------------------------- common import


def import_file(
    *,
    cycle: Cycle,
    kind: str,
    content: bytes,
    filename: str,
    user: AbstractBaseUser | AnonymousUser | None,
    dry_run: bool,
) -> ImportReport:
    """Read ``content`` and import it as a plan or values file (ImportFileError if unreadable)."""
    table = read_table(content=content, filename=filename)
    if kind == PLAN:
        return plan_import(cycle=cycle, table=table, user=user, dry_run=dry_run)
    if kind == VALUES:
        return values_import(cycle=cycle, table=table, user=user, dry_run=dry_run)
    raise ValueError(f"tipo di importazione sconosciuto: {kind}")


def _check_columns(
    table: Table, report: ImportReport, known: dict[str, str], required: Sequence[str]
) -> bool:
    for column in table.columns:
        if column not in known:
            report.notices.append(f"La colonna «{column}» non fa parte del formato: ignorata.")
    missing = [column for column in required if not table.has(column)]
    for column in missing:
        report.add_invalid(1, column, "colonna mancante")
    return not missing


def rule_kind(text: str) -> str | None:
    """The rule kind of a readable name ("scadenza", "più parti", "at_least"), None if unknown."""
    return _RULE_ALIASES.get(column_key(text))


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


# ------------------------------------------------------------------------------ plan import

_OBJECTIVE_FIELDS = {
    "kind": "tipo_obiettivo",
    "position": "posizione",
    "goal_code": "obiettivo_strategico_codice",
    "title": "obiettivo_titolo",
    "weight": "obiettivo_peso",
    "status": "obiettivo_stato",
    "neutralization_reason": "motivo_neutralizzazione",
    "neutralized_by": "neutralizzato_con",
}
_INDICATOR_FIELDS = {
    "name": "indicatore_nome",
    "unit_of_measure": "unita_misura",
    "direction": "direzione",
    "baseline_value": "baseline_valore",
    "baseline_year": "baseline_anno",
    "baseline_text": "baseline_testo",
    "source": "fonte",
    "notes": "indicatore_note",
}
_TARGET_FIELDS = {
    "unit": "unita",
    "office": "ufficio",
    "text": "target_testo",
    "rule": "regola",
    "status": "stato",
    "exclusion_reason": "motivo_esclusione",
    "is_duplicate": "riga_ripetuta",
    "weight": "peso",
    "original_text": "testo_originario",
    "revised_by": "rivisto_con",
    "footnote": "nota_pie_pagina",
    "notes": "note",
    "published_pct": "percentuale_pubblicata",
}
_OBJECTIVE_DEFAULTS = {
    "position": None,
    "goal_code": "",
    "weight": Decimal(1),
    "status": Objective.Status.ACTIVE,
    "neutralization_reason": "",
    "neutralized_by": None,
}
_INDICATOR_DEFAULTS = {
    "unit_of_measure": "",
    "direction": Indicator.Direction.HIGHER,
    "baseline_value": None,
    "baseline_year": None,
    "baseline_text": "",
    "source": "",
    "notes": "",
}
_TARGET_DEFAULTS = {
    "unit": None,
    "office": None,
    "status": Target.Status.ACTIVE,
    "exclusion_reason": "",
    "is_duplicate": False,
    "weight": Decimal(1),
    "original_text": "",
    "revised_by": None,
    "footnote": "",
    "notes": "",
    "published_pct": None,
}


@dataclass
class _PlanRow:
    number: int
    target_code: str = ""
    objective_code: str = ""
    indicator_code: str = ""
    target: Target | None = None  # the target named by codice_target, if of this cycle
    objective: dict[str, Any] = field(default_factory=dict)
    goal: dict[str, Any] = field(default_factory=dict)
    indicator: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # the target's fields
    errors: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    created: bool = False


@dataclass
class _Group:
    """An objective or indicator the rows point to: existing (``instance`` saved) or new."""

    first: _PlanRow
    rows: list[_PlanRow] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    instance: Any = None
    is_new: bool = False


class _PlanImport:
    def __init__(self, *, cycle: Cycle, table: Table, user: Any, report: ImportReport) -> None:
        self.cycle = cycle
        self.table = table
        self.user = user
        self.report = report
        self.units = _by_key_or_name(Unit.objects.filter(cycle=cycle), "name")
        self.positions = _by_key_or_name(Position.objects.filter(cycle=cycle), "title")
        self.documents = {d.key: d for d in PlanDocument.objects.filter(cycle=cycle)}
        self.perspectives = {p.code: p for p in Perspective.objects.filter(cycle=cycle)}
        self.goals = {
            g.code: g
            for g in StrategicObjective.objects.filter(cycle=cycle).select_related("perspective")
        }
        self.objectives = list(
            Objective.objects.filter(cycle=cycle)
            .select_related("position", "strategic_objective", "neutralized_by")
            .order_by("order", "id")
        )
        self.objectives_by_id = {o.id: o for o in self.objectives}
        self.indicators = list(
            Indicator.objects.filter(objective__cycle=cycle).order_by(
                "objective__order", "objective_id", "order", "id"
            )
        )
        self.indicators_by_id = {i.id: i for i in self.indicators}
        self.targets = _plan_targets(cycle=cycle)
        self.targets_by_id = {t.id: t for t in self.targets}
        self.rows: list[_PlanRow] = []
        self.new_perspectives: list[Perspective] = []
        self.new_goals: list[StrategicObjective] = []
        self.changed_structure: list[Perspective | StrategicObjective] = []
        self.objective_groups: list[_Group] = []
        self.indicator_groups: list[_Group] = []

    # parsing ------------------------------------------------------------------------------
    def parse(self) -> None:
        claimed_codes: dict[int, int] = {}
        for sheet_row in self.table.rows:
            row = _PlanRow(number=sheet_row.number)
            for column, value in sheet_row.cells.items():
                if column not in PLAN_COLUMNS:
                    continue
                try:
                    self._cell(row, column, value)
                except _RowError as error:
                    row.errors.append((error.column, error.message))
            if self.table.has("regola"):
                try:
                    self._rule(row, sheet_row.cells)
                except _RowError as error:
                    row.errors.append((error.column, error.message))
            row.target_code = _text(sheet_row.cells.get("codice_target"))
            row.objective_code = _text(sheet_row.cells.get("codice_obiettivo"))
            row.indicator_code = _text(sheet_row.cells.get("codice_indicatore"))
            target_id = _id(row.target_code)
            if target_id is not None and target_id in self.targets_by_id:
                if target_id in claimed_codes:
                    row.errors.append(
                        (
                            "codice_target",
                            f"codice ripetuto: è già alla riga {claimed_codes[target_id]}",
                        )
                    )
                else:
                    claimed_codes[target_id] = row.number
                    row.target = self.targets_by_id[target_id]
            self.rows.append(row)

    def _cell(self, row: _PlanRow, column: str, value: Any) -> None:
        text = _text(value)
        required = {
            "tipo_obiettivo",
            "obiettivo_titolo",
            "indicatore_nome",
            "target_testo",
            "regola",
        }
        if column in required and not text:
            raise _RowError(column, "obbligatoria: non può essere vuota")
        if column == "tipo_obiettivo":
            row.objective["kind"] = _choice(value, _OBJECTIVE_KINDS, column)
        elif column == "posizione":
            position = _lookup(self.positions, text) if text else None
            if text and position is None:
                raise _RowError(column, f"la posizione «{text}» non esiste nel ciclo")
            row.objective["position"] = position
        elif column == "obiettivo_strategico_codice":
            row.objective["goal_code"] = _limited(text, column, 10)
        elif column == "obiettivo_strategico_titolo":
            if text:
                row.goal["title"] = _limited(text, column, 500)
        elif column == "prospettiva_codice":
            if text:
                row.goal["perspective_code"] = _limited(text, column, 10)
        elif column == "prospettiva_nome":
            if text:
                row.goal["perspective_name"] = _limited(text, column, 300)
        elif column == "obiettivo_titolo":
            row.objective["title"] = text
        elif column in ("obiettivo_peso", "peso"):
            weight = _number(value, column)
            if weight is not None and not Decimal(0) <= weight < Decimal(100000):
                raise _RowError(column, "il peso deve essere tra 0 e 99.999")
            target = row.objective if column == "obiettivo_peso" else row.values
            target["weight"] = Decimal(1) if weight is None else weight
        elif column == "obiettivo_stato":
            row.objective["status"] = _choice(value, _OBJECTIVE_STATUSES, column)
        elif column == "motivo_neutralizzazione":
            row.objective["neutralization_reason"] = text
        elif column in ("neutralizzato_con", "rivisto_con"):
            document = self.documents.get(text) if text else None
            if text and document is None:
                raise _RowError(column, f"il documento «{text}» non esiste nel ciclo")
            key = "neutralized_by" if column == "neutralizzato_con" else "revised_by"
            (row.objective if column == "neutralizzato_con" else row.values)[key] = document
        elif column == "indicatore_nome":
            row.indicator["name"] = text
        elif column == "unita_misura":
            row.indicator["unit_of_measure"] = _limited(text, column, 60)
        elif column == "direzione":
            row.indicator["direction"] = (
                _choice(value, _DIRECTIONS, column) or Indicator.Direction.HIGHER
            )
        elif column == "baseline_valore":
            row.indicator["baseline_value"] = _number(value, column)
        elif column == "baseline_anno":
            year = _number(value, column)
            if year is not None and (year != year.to_integral_value() or not 1900 <= year <= 2200):
                raise _RowError(column, f"«{text}» non è un anno")
            row.indicator["baseline_year"] = None if year is None else int(year)
        elif column == "baseline_testo":
            row.indicator["baseline_text"] = _limited(text, column, 300)
        elif column == "fonte":
            row.indicator["source"] = _limited(text, column, 300)
        elif column == "indicatore_note":
            row.indicator["notes"] = text
        elif column in ("unita", "ufficio"):
            unit = _lookup(self.units, text) if text else None
            if text and unit is None:
                raise _RowError(column, f"l'unità «{text}» non esiste nel ciclo {self.cycle.year}")
            row.values["unit" if column == "unita" else "office"] = unit
        elif column == "target_testo":
            row.values["text"] = _limited(text, column, 500)
        elif column == "stato":
            row.values["status"] = _choice(value, _TARGET_STATUSES, column)
        elif column == "motivo_esclusione":
            row.values["exclusion_reason"] = text
        elif column == "riga_ripetuta":
            try:
                row.values["is_duplicate"] = bool(parse_bool(_cell_for_parser(value)))
            except ParseError as error:
                raise _RowError(column, str(error)) from None
        elif column == "testo_originario":
            row.values["original_text"] = _limited(text, column, 500)
        elif column == "nota_pie_pagina":
            row.values["footnote"] = text
        elif column == "note":
            row.values["notes"] = text
        elif column == "percentuale_pubblicata":
            published = _number(value, column)
            if published is not None and not Decimal(0) <= published <= Decimal(100):
                raise _RowError(column, "la percentuale deve essere tra 0 e 100")
            row.values["published_pct"] = published

    def _rule(self, row: _PlanRow, cells: dict[str, Any]) -> None:
        kind = _choice(cells.get("regola"), _RULE_ALIASES, "regola")
        if kind is None:
            return  # reported as an empty required column
        if kind == "multi":
            part_kinds = [p.strip() for p in _text(cells.get("parti_regole")).split(";")]
            if len([p for p in part_kinds if p]) < 2:
                raise _RowError("parti_regole", "servono almeno due regole separate da «;»")
            parts = []
            for index, part in enumerate(part_kinds):
                part_kind = _choice(part, _RULE_ALIASES, "parti_regole")
                if part_kind in (None, "multi"):
                    raise _RowError("parti_regole", f"regola della parte {index + 1} non valida")

                def slot(column: str, index: int = index, count: int = len(part_kinds)) -> Any:
                    slots = [s.strip() for s in _text(cells.get(column)).split(";")]
                    if len(slots) == 1:
                        return slots[0] or None
                    if len(slots) != count:
                        raise _RowError(
                            column, f"servono {count} valori separati da «;», uno per parte"
                        )
                    return slots[index] or None

                parts.append(self._spec(part_kind, slot, f" (parte {index + 1})"))
            labels = [label.strip() for label in _text(cells.get("parti_etichette")).split(";")]
            spec: dict[str, Any] = {
                "kind": "multi",
                "parts": parts,
                "labels": labels if any(labels) else [],
                "combine": _choice(cells.get("parti_combinazione"), _COMBINE, "parti_combinazione")
                or "mean",
            }
        else:
            spec = self._spec(kind, cells.get, "")
        try:
            row.values["rule"] = _rule_json(spec)
        except scoring.ScoringError as error:
            raise _RowError("regola", str(error)) from None

    @staticmethod
    def _spec(kind: str, cell: Callable[[str], Any], where: str) -> dict[str, Any]:
        def need(column: str, parse: Callable[[Any, str], Any]) -> Any:
            value = parse(cell(column), column)
            if value is None:
                raise _RowError(column, f"obbligatoria per la regola «{RULE_NAMES[kind]}»{where}")
            return value

        def optional(column: str, default: Any) -> Any:
            value = _number(cell(column), column)
            return default if value is None else value

        spec: dict[str, Any] = {"kind": kind}
        if kind in ("at_least", "at_most"):
            spec["threshold"] = need("soglia", _number)
        elif kind == "change":
            spec["change_pct"] = need("variazione_pct", _number)
            baseline = _number(cell("valore_partenza"), "valore_partenza")
            if baseline is not None:
                spec["baseline"] = baseline
        elif kind == "deadline":
            spec["due"] = need("data_scadenza", _date)
        elif kind == "rating":
            spec["threshold"] = need("soglia", _number)
            spec["scale_min"] = optional("scala_min", Decimal(1))
            spec["scale_max"] = optional("scala_max", Decimal(5))
        elif kind == "thresholds":
            spec["minimum"] = need("minimo", _number)
            spec["target"] = need("obiettivo", _number)
            spec["minimum_score"] = optional("punteggio_minimo", Decimal(0))
        elif kind == "k_of_n":
            spec["n"] = need("n", _number)
        return spec

    # resolving ----------------------------------------------------------------------------
    def resolve(self) -> None:
        rows = [row for row in self.rows if not row.errors]
        self._structure(rows)
        rows = [row for row in rows if not row.errors]
        self._objectives(rows)
        rows = [row for row in rows if not row.errors]
        self._indicators(rows)
        rows = [row for row in rows if not row.errors]
        self._targets(rows)

    def _structure(self, rows: list[_PlanRow]) -> None:
        """Perspectives and strategic objectives: created when missing, renamed or moved."""
        goals: dict[str, tuple[_PlanRow, dict]] = {}
        perspectives: dict[str, tuple[_PlanRow, str]] = {}
        for row in rows:
            code = row.objective.get("goal_code")
            if code:
                self._agree(goals, code, row, row.goal, "obiettivo strategico")
            pcode = row.goal.get("perspective_code")
            if pcode and "perspective_name" in row.goal:
                if pcode in perspectives and perspectives[pcode][1] != row.goal["perspective_name"]:
                    first = perspectives[pcode][0].number
                    row.errors.append(("prospettiva_nome", f"diverso da quello della riga {first}"))
                perspectives.setdefault(pcode, (row, row.goal["perspective_name"]))
        order = max((p.order for p in self.perspectives.values()), default=-1)
        for pcode, (row, name) in perspectives.items():
            existing = self.perspectives.get(pcode)
            if existing is None:
                order += 1
                created = Perspective(cycle=self.cycle, code=pcode, name=name, order=order)
                self.perspectives[pcode] = created
                self.new_perspectives.append(created)
                self.report.new_items.append(f"Prospettiva {pcode} «{name}»")
            elif existing.name != name:
                row.changes.append(("prospettiva_nome", existing.name, name))
                existing.name = name
                self.changed_structure.append(existing)
        order = max((g.order for g in self.goals.values()), default=-1)
        for code, (row, info) in goals.items():
            existing = self.goals.get(code)
            pcode = info.get("perspective_code")
            perspective = self.perspectives.get(pcode) if pcode else None
            if pcode and perspective is None:
                row.errors.append(
                    ("prospettiva_nome", f"obbligatorio per creare la prospettiva «{pcode}»")
                )
                continue
            if existing is None:
                if not info.get("title") or perspective is None:
                    column = "obiettivo_strategico_titolo" if perspective else "prospettiva_codice"
                    row.errors.append(
                        (column, f"obbligatorio per creare l'obiettivo strategico «{code}»")
                    )
                    continue
                order += 1
                created = StrategicObjective(
                    cycle=self.cycle,
                    perspective=perspective,
                    code=code,
                    title=info["title"],
                    order=order,
                )
                self.goals[code] = created
                self.new_goals.append(created)
                self.report.new_items.append(f"Obiettivo strategico {code} «{info['title']}»")
                continue
            changed = False
            if info.get("title") and info["title"] != existing.title:
                row.changes.append(("obiettivo_strategico_titolo", existing.title, info["title"]))
                existing.title = info["title"]
                changed = True
            if perspective is not None and (
                perspective.pk is None or perspective.pk != existing.perspective_id
            ):
                row.changes.append(
                    ("prospettiva_codice", existing.perspective.code, perspective.code)
                )
                existing.perspective = perspective
                changed = True
            if changed:
                self.changed_structure.append(existing)

    @staticmethod
    def _agree(
        seen: dict[str, tuple[_PlanRow, dict]], code: str, row: _PlanRow, info: dict, what: str
    ) -> None:
        if code not in seen:
            seen[code] = (row, dict(info))
            return
        first, known = seen[code]
        for key, column in (
            ("title", "obiettivo_strategico_titolo"),
            ("perspective_code", "prospettiva_codice"),
        ):
            if key in info and key in known and info[key] != known[key]:
                row.errors.append(
                    (column, f"diverso dalla riga {first.number} per lo stesso {what} «{code}»")
                )
            elif key in info:
                known[key] = info[key]

    def _merge(self, group: _Group, section: str, columns: dict[str, str], what: str) -> None:
        """The group's values: each from the first row giving it; other rows must agree."""
        first_seen: dict[str, _PlanRow] = {}
        for row in group.rows:
            values = getattr(row, section)
            for key, value in values.items():
                if key not in columns:
                    continue
                if key not in group.values:
                    group.values[key] = value
                    first_seen[key] = row
                elif not _same(group.values[key], value):
                    row.errors.append(
                        (
                            columns[key],
                            f"«{_show(value)}» diverso da «{_show(group.values[key])}» della "
                            f"riga {first_seen[key].number} per lo stesso {what}",
                        )
                    )

    def _objectives(self, rows: list[_PlanRow]) -> None:
        def content(values: dict, instance: Objective | None = None) -> tuple | None:
            if instance is not None:
                return (
                    instance.kind,
                    instance.position.key if instance.position else "",
                    instance.strategic_objective.code if instance.strategic_objective else "",
                    instance.title,
                )
            if "kind" not in values or "title" not in values:
                return None
            position = values.get("position")
            return (
                values["kind"],
                position.key if position else "",
                values.get("goal_code", ""),
                values["title"],
            )

        groups: dict[tuple, _Group] = {}
        for row in rows:
            own = self.objectives_by_id.get(_id(row.objective_code) or 0)
            if own is not None:
                key: tuple = ("id", own.id)
            elif row.objective_code:
                key = ("code", row.objective_code)
            elif row.target is not None:
                key = ("id", row.target.indicator.objective_id)
            elif content(row.objective) is not None:
                key = ("content", content(row.objective))
            else:
                for key_name, column in (("kind", "tipo_obiettivo"), ("title", "obiettivo_titolo")):
                    if key_name not in row.objective:
                        row.errors.append((column, "obbligatoria per un nuovo target"))
                continue
            group = groups.setdefault(key, _Group(first=row))
            group.rows.append(row)
            if key[0] == "id":
                group.instance = self.objectives_by_id[key[1]]
        for group in groups.values():
            self._merge(group, "objective", _OBJECTIVE_FIELDS, "obiettivo")
        claimed = {g.instance.id for g in groups.values() if g.instance is not None}
        by_content: dict[tuple, list[Objective]] = defaultdict(list)
        for objective in self.objectives:
            by_content[content({}, objective)].append(objective)
        order = max((o.order for o in self.objectives), default=0)
        for key, group in groups.items():
            if group.instance is None:
                wanted = content(group.values)
                candidates = by_content.get(wanted, []) if wanted else []
                if key[0] == "code":
                    candidates = [c for c in candidates if c.id not in claimed]
                if candidates:
                    group.instance = candidates[0]
                    claimed.add(group.instance.id)
            if group.instance is None:
                order += 1
                self._new_objective(group, order)
            else:
                self._update_objective(group)
            self.objective_groups.append(group)
            for row in group.rows:
                row.objective["_group"] = group

    def _objective_state(self, group: _Group, base: dict[str, Any]) -> dict[str, Any] | None:
        values = {**base, **group.values}
        row = group.first
        errors = []
        kind = values.get("kind")
        if kind == Objective.Kind.INDIVIDUAL and values.get("position") is None:
            errors.append(("posizione", "obbligatoria per un obiettivo individuale"))
        if kind != Objective.Kind.INDIVIDUAL and values.get("position") is not None:
            errors.append(("posizione", "solo gli obiettivi individuali hanno una posizione"))
        code = values.get("goal_code") or ""
        goal = self.goals.get(code) if code else None
        if kind == Objective.Kind.STRATEGIC and not code:
            errors.append(
                ("obiettivo_strategico_codice", "obbligatorio per un obiettivo strategico")
            )
        elif code and goal is None:
            errors.append(
                (
                    "obiettivo_strategico_codice",
                    f"l'obiettivo strategico «{code}» non esiste: indicare titolo e prospettiva",
                )
            )
        inferred = "status" not in group.values and "neutralization_reason" in group.values
        if values.get("status") is None or inferred:
            values["status"] = (
                Objective.Status.NEUTRALIZED
                if values.get("neutralization_reason")
                else Objective.Status.ACTIVE
            )
        if values["status"] == Objective.Status.NEUTRALIZED:
            if not values.get("neutralization_reason"):
                errors.append(("motivo_neutralizzazione", "obbligatorio se neutralizzato"))
        elif values.get("neutralization_reason"):
            errors.append(("motivo_neutralizzazione", "indicato per un obiettivo attivo"))
        elif values.get("neutralized_by") is not None:
            errors.append(("neutralizzato_con", "indicato per un obiettivo attivo"))
        if errors:
            row.errors.extend(errors)
            return None
        values["strategic_objective"] = goal
        values.pop("goal_code", None)
        return values

    def _new_objective(self, group: _Group, order: int) -> None:
        row = group.first
        missing = [
            c
            for k, c in (("kind", "tipo_obiettivo"), ("title", "obiettivo_titolo"))
            if k not in group.values
        ]
        if missing:
            for column in missing:
                row.errors.append((column, "obbligatoria per un nuovo obiettivo"))
            return
        values = self._objective_state(group, _OBJECTIVE_DEFAULTS)
        if values is None:
            return
        group.is_new = True
        group.instance = Objective(cycle=self.cycle, order=order, **values)
        kind = _OBJECTIVE_KIND_NAMES[values["kind"]]
        self.report.new_items.append(f"Obiettivo {kind} «{_show(values['title'])}»")

    def _update_objective(self, group: _Group) -> None:
        instance: Objective = group.instance
        current = {
            "kind": instance.kind,
            "position": instance.position,
            "goal_code": instance.strategic_objective.code if instance.strategic_objective else "",
            "title": instance.title,
            "weight": instance.weight,
            "status": instance.status,
            "neutralization_reason": instance.neutralization_reason,
            "neutralized_by": instance.neutralized_by,
        }
        values = self._objective_state(group, current)
        if values is None:
            return
        current["strategic_objective"] = instance.strategic_objective
        changed = {}
        for key, value in values.items():
            before = current[key]
            if _same(before, value):
                continue
            changed[key] = value
            if key == "strategic_objective":
                column = _OBJECTIVE_FIELDS["goal_code"]
                before, value = (before.code if before else ""), (value.code if value else "")
            else:
                column = _OBJECTIVE_FIELDS[key]
            group.first.changes.append((column, _show(before), _show(value)))
        group.values = changed

    def _indicators(self, rows: list[_PlanRow]) -> None:
        groups: dict[tuple, _Group] = {}
        for row in rows:
            objective_group = row.objective["_group"]
            own = self.indicators_by_id.get(_id(row.indicator_code) or 0)
            if own is not None:
                key: tuple = ("id", own.id)
            elif row.indicator_code:
                key = (id(objective_group), "code", row.indicator_code)
            elif row.target is not None:
                key = ("id", row.target.indicator_id)
            elif "name" in row.indicator:
                key = (id(objective_group), "content", row.indicator["name"])
            else:
                row.errors.append(("indicatore_nome", "obbligatoria per un nuovo indicatore"))
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(first=row)
                group.values["_objective"] = objective_group
            elif group.values["_objective"] is not objective_group:
                row.errors.append(
                    (
                        "codice_indicatore",
                        "lo stesso indicatore è in un altro obiettivo alla riga "
                        f"{group.first.number}",
                    )
                )
                continue
            group.rows.append(row)
            if key[0] == "id":
                group.instance = self.indicators_by_id[key[1]]
        claimed = {g.instance.id for g in groups.values() if g.instance is not None}
        by_objective: dict[int, list[Indicator]] = defaultdict(list)
        for indicator in self.indicators:
            by_objective[indicator.objective_id].append(indicator)
        next_order: dict[int, int] = {}
        for key, group in groups.items():
            objective_group: _Group = group.values.pop("_objective")
            self._merge(group, "indicator", _INDICATOR_FIELDS, "indicatore")
            objective = objective_group.instance
            if group.instance is None and not objective_group.is_new:
                candidates = [
                    i
                    for i in by_objective.get(objective.id, [])
                    if i.name == group.values.get("name")
                    and (key[1] == "content" or i.id not in claimed)
                ]
                if candidates:
                    group.instance = candidates[0]
                    claimed.add(group.instance.id)
            if group.instance is None:
                if "name" not in group.values:
                    group.first.errors.append(
                        ("indicatore_nome", "obbligatoria per un nuovo indicatore")
                    )
                    continue
                siblings = [] if objective_group.is_new else by_objective.get(objective.id, [])
                start = max((i.order for i in siblings), default=-1)
                next_order[id(objective_group)] = next_order.get(id(objective_group), start) + 1
                group.is_new = True
                group.instance = Indicator(
                    objective=objective,
                    order=next_order[id(objective_group)],
                    **{**_INDICATOR_DEFAULTS, **group.values},
                )
                self.report.new_items.append(f"Indicatore «{_show(group.values['name'])}»")
            else:
                instance: Indicator = group.instance
                changed = {}
                for key_name, value in group.values.items():
                    before = getattr(instance, key_name)
                    if not _same(before, value):
                        changed[key_name] = value
                        group.first.changes.append(
                            (_INDICATOR_FIELDS[key_name], _show(before), _show(value))
                        )
                if objective_group.is_new or instance.objective_id != objective.id:
                    changed["objective"] = objective
                    before = self.objectives_by_id[instance.objective_id].title
                    group.first.changes.append(
                        ("obiettivo_titolo", _show(before), _show(objective.title))
                    )
                group.values = changed
            self.indicator_groups.append(group)
            for row in group.rows:
                row.indicator["_group"] = group

    def _targets(self, rows: list[_PlanRow]) -> None:
        claimed = {row.target.id for row in rows if row.target is not None}
        by_indicator: dict[int, list[Target]] = defaultdict(list)
        for target in self.targets:
            by_indicator[target.indicator_id].append(target)
        next_order: dict[int, int] = {}
        for row in rows:
            group: _Group = row.indicator["_group"]
            indicator = group.instance
            if row.target is None and not group.is_new:
                unit = row.values.get("unit")
                candidates = [
                    t
                    for t in by_indicator.get(indicator.id, [])
                    if t.id not in claimed
                    and t.text == row.values.get("text")
                    and t.unit_id == (unit.id if unit else None)
                ]
                if candidates:
                    row.target = candidates[0]
                    claimed.add(row.target.id)
            if row.target is None:
                self._new_target(row, group, by_indicator, next_order)
            else:
                self._update_target(row, group)

    def _target_state(self, row: _PlanRow, values: dict[str, Any]) -> bool:
        inferred = "status" not in row.values and "exclusion_reason" in row.values
        if values.get("status") is None or inferred:
            values["status"] = (
                Target.Status.EXCLUDED if values.get("exclusion_reason") else Target.Status.ACTIVE
            )
        if values["status"] == Target.Status.EXCLUDED and not values.get("exclusion_reason"):
            row.errors.append(("motivo_esclusione", "obbligatorio per un target escluso"))
        elif values["status"] == Target.Status.ACTIVE and values.get("exclusion_reason"):
            row.errors.append(("motivo_esclusione", "indicato per un target misurato"))
        return not row.errors

    def _new_target(
        self,
        row: _PlanRow,
        group: _Group,
        by_indicator: dict[int, list[Target]],
        next_order: dict[int, int],
    ) -> None:
        missing = [
            c for k, c in (("text", "target_testo"), ("rule", "regola")) if k not in row.values
        ]
        for column in missing:
            row.errors.append((column, "obbligatoria per un nuovo target"))
        values = {**_TARGET_DEFAULTS, **row.values}
        if missing or not self._target_state(row, values):
            return
        siblings = [] if group.is_new else by_indicator.get(group.instance.id, [])
        start = max((t.order for t in siblings), default=-1)
        next_order[id(group)] = next_order.get(id(group), start) + 1
        row.target = Target(indicator=group.instance, order=next_order[id(group)], **values)
        row.created = True

    def _update_target(self, row: _PlanRow, group: _Group) -> None:
        target = row.target
        assert target is not None
        current = {key: getattr(target, key) for key in _TARGET_FIELDS}
        values = {**current, **row.values}
        if not self._target_state(row, values):
            return
        changed = {}
        for key, value in values.items():
            before = current[key]
            same = _same_rule(before, value) if key in ("rule",) else _same(before, value)
            if not same:
                changed[key] = value
                shown = (
                    (_rule_text(before), _rule_text(value))
                    if key == "rule"
                    else (_show(before), _show(value))
                )
                row.changes.append((_TARGET_FIELDS[key], *shown))
        if group.is_new or target.indicator_id != group.instance.id:
            changed["indicator"] = group.instance
            row.changes.append(
                ("indicatore_nome", _show(target.indicator.name), _show(group.instance.name))
            )
        row.values = changed

    # writing ------------------------------------------------------------------------------
    def apply(self) -> None:
        user = self.user if isinstance(self.user, AbstractBaseUser) else None
        Perspective.objects.bulk_create(self.new_perspectives)
        for item in self.changed_structure:
            if isinstance(item, Perspective):
                item.save(update_fields=["name"])
        StrategicObjective.objects.bulk_create(self.new_goals)
        for item in self.changed_structure:
            if isinstance(item, StrategicObjective):
                item.save(update_fields=["title", "perspective"])
        self._write(self.objective_groups, Objective, user)
        self._write(self.indicator_groups, Indicator, user)
        new_targets = []
        for row in self.rows:
            if row.target is None:
                continue
            if row.created:
                new_targets.append(row.target)
            elif row.values:
                self._save(row.target, row.values, user)
        _bulk_create(new_targets, Target, user)

    def _write(self, groups: list[_Group], model: type[models.Model], user: Any) -> None:
        new = [g.instance for g in groups if g.is_new and g.instance is not None]
        _bulk_create(new, model, user)
        for group in groups:
            if not group.is_new and group.instance is not None and group.values:
                self._save(group.instance, group.values, user)

    @staticmethod
    def _save(instance: models.Model, values: dict[str, Any], user: Any) -> None:
        for key, value in values.items():
            setattr(instance, key, value)
        instance._history_user = user
        instance.save()


def _bulk_create(instances: list[models.Model], model: type[models.Model], user: Any) -> None:
    """Create with history; foreign keys to objects created just before are resolved by
    Django from the related instances."""
    if instances:
        bulk_create_with_history(instances, model, default_user=user)


def _same_rule(before: Any, after: Any) -> bool:
    try:
        return scoring.validate_spec(before) == scoring.validate_spec(after)
    except scoring.ScoringError:
        return before == after


def _rule_text(rule: Any) -> str:
    if not isinstance(rule, dict):
        return _show(rule)
    columns = _rule_columns(rule)
    details = [
        f"{k} {_show(v)}" for k, v in columns.items() if k != "regola" and v not in ("", None)
    ]
    return columns.get("regola", "") + (f" ({', '.join(details)})" if details else "")


def plan_import(
    *,
    cycle: Cycle,
    table: Table,
    user: AbstractBaseUser | AnonymousUser | None,
    dry_run: bool,
) -> ImportReport:
    """Import the plan format: create or update objectives, indicators and targets.

    Every row is validated first; the report lists what would be created and changed and every
    invalid row. With ``dry_run`` nothing is written; otherwise everything is applied in one
    transaction, or nothing at all if any row is invalid. Nothing is ever deleted.
    """
    if user is not None and not permissions.can_edit_plan(user, cycle):
        raise PermissionDenied("Solo il controllo di gestione può importare il piano.")
    report = ImportReport(kind=PLAN, year=cycle.year, dry_run=dry_run, rows=len(table.rows))
    scope = editability.edit_scope(cycle)
    if not scope.everything:
        report.add_invalid(
            1, "", scope.refusal() + " L'importazione del Piano non è disponibile in questo stato."
        )
        return report
    if table.has("periodo") or table.has("valore"):
        report.add_invalid(1, "", "il file contiene le colonne dei valori: importarlo come valori")
        return report
    if not _check_columns(table, report, PLAN_COLUMNS, ()):
        return report
    with transaction.atomic():
        job = _PlanImport(cycle=cycle, table=table, user=user, report=report)
        job.parse()
        job.resolve()
        for row in job.rows:
            for column, message in row.errors:
                report.add_invalid(row.number, column, message)
            if row.errors:
                continue
            label = _plan_row_label(row)
            if row.created:
                report.created += 1
                report.changes.append(RowChange(row.number, "created", label))
            elif row.changes:
                report.changed += 1
                report.changes.append(RowChange(row.number, "changed", label, row.changes))
            else:
                report.unchanged += 1
        if report.invalid or dry_run:
            return report
        job.apply()
        report.applied = True
    return report


def _plan_row_label(row: _PlanRow) -> str:
    target = row.target
    if target is None:
        return ""
    indicator_group = row.indicator.get("_group")
    indicator = indicator_group.instance if indicator_group else target.indicator
    unit = row.values.get("unit", target.unit) if not row.created else target.unit
    where = unit.name if unit else "Ente"
    return _show(f"{indicator.name} – {where} – {target.text}")


# ---------------------------------------------------------------------------- values import


@dataclass
class _ValueRow:
    number: int
    target: Target
    period: MeasurementPeriod
    current: Actual | None
    fields: dict[str, Any]
    changes: list[tuple[str, str, str]]


_ACTUAL_COLUMNS = {
    "number": "valore",
    "date": "valore",
    "done": "valore",
    "k": "valore",
    "n": "valore",
    "parts": "valore",
    "text": "valore_testo",
    "note": "nota",
    "source": "fonte",
    "measured_on": "data_rilevazione",
    "override_pct": "rettifica_pct",
    "override_reason": "rettifica_motivazione",
}
_ERROR_COLUMNS = {
    "value": "valore",
    "override_pct": "rettifica_pct",
    "override_reason": "rettifica_motivazione",
}


def _parse_value(raw: Any, rule: dict, column: str = "valore") -> dict[str, Any]:
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
                part = _parse_value(slot or None, part_rule, column) if slot else {}
                parts.append(_stored_part(part) if part else None)
            return {"parts": parts} if any(parts) else {}
        if kind == "deadline":
            try:
                return {"date": parse_date(raw)}
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
                return {"date": parse_date(raw)}
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


def _actual_fields(actual: Actual | None) -> dict[str, Any]:
    if actual is None:
        return {
            "number": None,
            "date": None,
            "done": None,
            "k": None,
            "n": None,
            "parts": None,
            "text": "",
            "note": "",
            "source": "",
            "measured_on": None,
            "override_pct": None,
            "override_reason": "",
        }
    return {
        "number": actual.value_number,
        "date": actual.value_date,
        "done": actual.value_done,
        "k": actual.value_k,
        "n": actual.value_n,
        "parts": actual.value_parts,
        "text": actual.text,
        "note": actual.note,
        "source": actual.source,
        "measured_on": actual.measured_on,
        "override_pct": actual.override_pct,
        "override_reason": actual.override_reason,
    }


def _value_of(fields: dict[str, Any]) -> scoring.Value | None:
    """The engine's Value of a row's fields (named as ActualValue's: ``number`` for the Actual's
    ``value_number``...), None when empty: value_from_actual's."""
    return value_from_actual(
        {name: fields.get(name.removeprefix("value_")) for name in ACTUAL_VALUE_FIELDS}
    )


def _value_show(fields: dict[str, Any]) -> str:
    value = _value_of(fields)
    if value is None:
        return "—"
    if value.parts is not None:
        return "; ".join(_part_text(p) or "—" for p in value.parts)
    return _show(_single_value(value))


class _ValuesImport:
    def __init__(self, *, cycle: Cycle, table: Table, user: Any, report: ImportReport) -> None:
        self.cycle = cycle
        self.table = table
        self.user = user
        self.report = report
        self.targets = list(
            Target.objects.filter(indicator__objective__cycle=cycle)
            .select_related(
                "unit",
                "indicator__objective__position",
                "indicator__objective__strategic_objective",
            )
            .order_by(*_PLAN_ORDER)
        )
        self.targets_by_id = {t.id: t for t in self.targets}
        self.by_title: dict[tuple[str, str, str], list[Target]] = defaultdict(list)
        for target in self.targets:
            key = _content_key(target)
            self.by_title[(key[3], key[4], key[6])].append(target)
        periods = list(MeasurementPeriod.objects.filter(cycle=cycle))
        self.periods = _by_key_or_name(periods, "name")
        self.actuals = {
            (a.target_id, a.period_id): a
            for a in Actual.objects.filter(target__indicator__objective__cycle=cycle)
        }
        self.editable = None if user is None else permissions.editable_unit_ids(user, cycle)
        self.scope: editability.EditScope | None = None  # set by values_import
        self.units = {u.id: u for u in Unit.objects.filter(cycle=cycle)}
        self.units_by_key = _by_key_or_name(self.units.values(), "name")

    def _target(self, cells: dict[str, Any]) -> Target:
        code = _text(cells.get("codice_target"))
        target = self.targets_by_id.get(_id(code) or 0) if code else None
        if target is not None:
            return target
        title = _text(cells.get("obiettivo_titolo"))
        name = _text(cells.get("indicatore_nome"))
        text = _text(cells.get("target_testo"))
        if not (title and name and text):
            if code:
                raise _RowError(
                    "codice_target", f"«{code}» non è un target del ciclo {self.cycle.year}"
                )
            raise _RowError(
                "codice_target",
                "indicare il codice del target, oppure obiettivo_titolo, indicatore_nome e "
                "target_testo",
            )
        candidates = self.by_title.get((title, name, text), [])
        filters = {
            "tipo_obiettivo": 0,
            "posizione": 1,
            "obiettivo_strategico_codice": 2,
            "unita": 5,
        }
        for column, index in filters.items():
            if not self.table.has(column):
                continue
            wanted = _text(cells.get(column))
            if column == "tipo_obiettivo" and wanted:
                wanted = _choice(wanted, _OBJECTIVE_KINDS, column) or ""
            if column == "unita" and wanted:
                unit = _lookup(self.units_by_key, wanted)
                wanted = unit.key if unit else wanted
            candidates = [t for t in candidates if _content_key(t)[index] == wanted]
        repetition = _number(cells.get("ripetizione"), "ripetizione")
        if repetition is not None:
            rank = int(repetition) if repetition == repetition.to_integral_value() else 0
            if not 1 <= rank <= len(candidates):
                raise _RowError(
                    "ripetizione",
                    f"{_show(repetition)}: i target con queste colonne sono {len(candidates)}",
                )
            return candidates[rank - 1]
        if not candidates:
            raise _RowError(
                "target_testo",
                f"nessun target del ciclo {self.cycle.year} ha obiettivo, indicatore, unità e "
                "testo indicati",
            )
        if len(candidates) > 1:
            raise _RowError(
                "ripetizione",
                f"{len(candidates)} target hanno le stesse colonne: indicare codice_target o "
                "ripetizione",
            )
        return candidates[0]

    def row(self, sheet_row: SheetRow, seen: dict[tuple[int, int], int]) -> _ValueRow | None:
        cells = sheet_row.cells
        target = self._target(cells)
        period_text = _text(cells.get("periodo"))
        if not period_text:
            raise _RowError("periodo", "obbligatoria: indicare il periodo di misurazione")
        period = _lookup(self.periods, period_text)
        if period is None:
            keys = ", ".join(sorted(p.key for p in set(self.periods.values())))
            raise _RowError("periodo", f"il periodo «{period_text}» non esiste (periodi: {keys})")
        if self.editable is not None and target.unit_id not in self.editable:
            where = f"dell'unità «{target.unit.name}»" if target.unit else "dell'Ente (senza unità)"
            raise _RowError(
                "unita", f"il target è {where}, che non è tra le unità assegnate all'utente"
            )
        objective_id = target.indicator.objective_id
        if self.scope is not None and not self.scope.allows(objective_id=objective_id):
            raise _RowError("codice_target", self.scope.refusal(objective_id=objective_id))
        key = (target.id, period.id)
        if key in seen:
            raise _RowError("codice_target", f"stesso target e periodo della riga {seen[key]}")
        seen[key] = sheet_row.number
        current = self.actuals.get(key)
        given: dict[str, Any] = {}
        errors: list[_RowError] = []

        def collect(parse: Callable[[], None]) -> None:
            try:
                parse()
            except _RowError as error:
                errors.append(error)

        def value() -> None:
            parsed = _parse_value(cells.get("valore"), target.rule)
            if parsed:
                given.update(
                    {k: parsed.get(k) for k in ("number", "date", "done", "k", "n", "parts")}
                )

        def texts() -> None:
            for column, name, limit in (
                ("valore_testo", "text", 300),
                ("nota", "note", None),
                ("fonte", "source", 300),
                ("rettifica_motivazione", "override_reason", None),
            ):
                text = _text(cells.get(column))
                if text:
                    given[name] = _limited(text, column, limit) if limit else text

        def measured() -> None:
            day = _date(cells.get("data_rilevazione"), "data_rilevazione")
            if day is not None:
                given["measured_on"] = day

        def override() -> None:
            pct = _number(cells.get("rettifica_pct"), "rettifica_pct")
            if pct is not None:
                if not Decimal(0) <= pct <= Decimal(100):
                    raise _RowError("rettifica_pct", "la percentuale deve essere tra 0 e 100")
                given["override_pct"] = pct

        for parse in (value, texts, measured, override):
            collect(parse)
        if errors:
            raise errors[0] if len(errors) == 1 else _MultipleErrors(errors)
        if not given:
            return None  # an empty row never deletes anything
        fields = {**_actual_fields(current), **given}
        if "override_pct" in given and not fields["override_reason"].strip():
            raise _RowError("rettifica_motivazione", "obbligatoria con la rettifica")
        if "override_reason" in given and fields["override_pct"] is None:
            raise _RowError("rettifica_pct", "la motivazione è indicata senza la rettifica")
        value_now = _value_of(fields)
        if value_now is not None:
            try:
                scoring.score_rule(target.rule, value_now, scoring.Rules())
            except scoring.ScoringError as error:
                raise _RowError("valore", str(error)) from None
        before = _actual_fields(current)
        changes = []
        if _value_of(before) != value_now:
            changes.append(("valore", _value_show(before), _value_show(fields)))
        for name in ("text", "note", "source", "measured_on", "override_pct", "override_reason"):
            if not _same(before[name], fields[name]):
                changes.append((_ACTUAL_COLUMNS[name], _show(before[name]), _show(fields[name])))
        return _ValueRow(sheet_row.number, target, period, current, fields, changes)

    def apply(self, row: _ValueRow) -> None:
        fields = row.fields
        actual_record(
            target=row.target,
            period=row.period,
            user=self.user if isinstance(self.user, AbstractBaseUser) else None,
            expected_version=row.current.version if row.current else None,
            number=fields["number"],
            date=fields["date"],
            done=fields["done"],
            k=fields["k"],
            n=fields["n"],
            parts=fields["parts"],
            text=fields["text"],
            note=fields["note"],
            source=fields["source"],
            measured_on=fields["measured_on"],
            override_pct=fields["override_pct"],
            override_reason=fields["override_reason"],
        )


class _MultipleErrors(Exception):
    def __init__(self, errors: list[_RowError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def values_import(
    *,
    cycle: Cycle,
    table: Table,
    user: AbstractBaseUser | AnonymousUser | None,
    dry_run: bool,
) -> ImportReport:
    """Import the values format: record (create or change) actual values through
    actual_record, with its checks against each target's rule. A referent may import only rows
    of the units assigned to them (the others are invalid rows). Empty cells leave the stored
    data as it is; nothing is deleted. All or nothing, as for the plan."""
    report = ImportReport(kind=VALUES, year=cycle.year, dry_run=dry_run, rows=len(table.rows))
    if user is not None and not (permissions.is_controllo(user) or permissions.is_referent(user)):
        raise PermissionDenied("L'utente non può registrare valori.")
    scope = editability.edit_scope(cycle)
    if not scope.values:
        report.add_invalid(1, "", scope.values_refusal())
        return report
    if table.has("regola"):
        report.add_invalid(1, "", "il file contiene le colonne del piano: importarlo come piano")
        return report
    if not _check_columns(table, report, VALUE_COLUMNS, ("periodo", "valore")):
        return report
    with transaction.atomic():
        job = _ValuesImport(cycle=cycle, table=table, user=user, report=report)
        job.scope = scope
        pending: list[_ValueRow] = []
        seen: dict[tuple[int, int], int] = {}
        for sheet_row in table.rows:
            try:
                row = job.row(sheet_row, seen)
            except _RowError as error:
                report.add_invalid(sheet_row.number, error.column, error.message)
                continue
            except _MultipleErrors as errors:
                for error in errors.errors:
                    report.add_invalid(sheet_row.number, error.column, error.message)
                continue
            if row is None:
                report.skipped += 1
                continue
            target = row.target
            where = target.unit.name if target.unit else "Ente"
            label = _show(f"{target.indicator.name} – {where} – {target.text} ({row.period.key})")
            if row.current is None:
                report.created += 1
                report.changes.append(RowChange(row.number, "created", label, row.changes))
            elif row.changes:
                report.changed += 1
                report.changes.append(RowChange(row.number, "changed", label, row.changes))
            else:
                report.unchanged += 1
                continue
            pending.append(row)
        if report.invalid or dry_run:
            return report
        for row in pending:
            try:
                job.apply(row)
            except ValidationError as error:
                for column, messages in _error_items(error):
                    for message in messages:
                        report.add_invalid(row.number, column, message)
        if report.invalid:
            transaction.set_rollback(True)
            return report
        report.applied = True
    return report


def _error_items(error: ValidationError) -> list[tuple[str, list[str]]]:
    if hasattr(error, "error_dict"):
        return [
            (_ERROR_COLUMNS.get(name, ""), [str(m) for e in errors for m in e.messages])
            for name, errors in error.error_dict.items()
        ]
    return [("", list(error.messages))]
