"""Reading a file into a `Table`: the first sheet of an XLSX or ODS file (read by
`performance.services.imports.sheets`, with its limits) or a CSV file, rows numbered as in the
spreadsheet, within the size limits; and the check of a table's columns against a format. The
Resources import a table as a tablib Dataset (`resources.FormatResource.dataset_of`).

Cells with control characters (NUL...: PostgreSQL cannot store them) are not refused with the
file: each is an invalid row of the report (`Table.invalid`: row, column, reason), and the
character is left out of the value, so that no dry run sends it to the database either."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from performance.services import imports as _package
from performance.services.imports.columns import column_key
from performance.services.imports.common import (
    FORMATS,
    ImportFileError,
    ImportReport,
    InvalidRow,
    _text,
)
from performance.services.imports.sheets import (
    _column_too_far,
    _read_ods,
    _read_xlsx,
    _too_long,
    _too_many_rows,
)

# The limits are read through the package (``_package.MAX_ROWS``...), so that setting
# performance.services.imports.MAX_UPLOAD_BYTES (as the tests do) takes effect here too.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 200
MAX_UNPACKED_BYTES = 60 * 1024 * 1024
MAX_XML_TAGS = 2_000_000  # the markup of an XLSX or ODS file: tags, each '<'
MAX_CELL_CHARS = 32_767  # a cell of Excel holds at most this many characters

# Control characters other than tab, line feed and carriage return (C0, DEL, C1) and lone
# surrogates: PostgreSQL refuses NUL, and none of them belongs in a plan or a value.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class SheetRow:
    number: int  # as in the spreadsheet: the header is row 1
    cells: dict[str, Any]  # column key -> value (None: empty cell)


@dataclass
class Table:
    columns: list[str]
    rows: list[SheetRow]
    # cells that cannot be imported as they are (control characters), for the report
    invalid: list[InvalidRow] = field(default_factory=list)

    def has(self, column: str) -> bool:
        return column in self.columns

    @classmethod
    def from_rows(cls, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Table:
        """A table from a header and rows (the first row is row 2), as if read from a file."""
        matrix = [(1, list(headers))]
        matrix += [(number, list(row)) for number, row in enumerate(rows, start=2)]
        return _table_from_matrix(matrix)


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
    if len(content) > _package.MAX_UPLOAD_BYTES:
        raise ImportFileError(
            f"Il file supera il limite di {_package.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
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
    invalid: list[InvalidRow] = []
    for number, values in matrix[1:]:
        cells = {
            h: _clean(values[i]) if i < len(values) else None for i, h in enumerate(headers) if h
        }
        if all(v is None for v in cells.values()):
            continue
        for column, value in cells.items():
            if isinstance(value, str):
                if len(value) > _package.MAX_CELL_CHARS:
                    raise _too_long(number, column)
                if _CONTROL.search(value):
                    invalid.append(InvalidRow(number, column, _control_message(value)))
                    cells[column] = _clean(_CONTROL.sub("", value))
        rows.append(SheetRow(number, cells))
    if len(rows) > _package.MAX_ROWS:
        raise _too_many_rows()
    return Table(columns=[h for h in headers if h], rows=rows, invalid=invalid)


def _control_message(value: str) -> str:
    found = sorted({f"U+{ord(c):04X}" for c in _CONTROL.findall(value)})
    what = "un carattere di controllo" if len(found) == 1 else "caratteri di controllo"
    return (
        f"il testo contiene {what} non ammess{'o' if len(found) == 1 else 'i'} "
        f"({', '.join(found[:5])}): eliminarl{'o' if len(found) == 1 else 'i'} dal foglio"
    )


# ---------------------------------------------------------------------------------------- CSV


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
    matrix: list[tuple[int, list[Any]]] = []
    number = 0
    limit = _package.MAX_COLUMNS
    try:
        for number, row in enumerate(
            csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1
        ):
            if number > _package.MAX_ROWS + 1:
                raise _too_many_rows()
            if len(row) > limit:
                beyond = next((i for i, v in enumerate(row[limit:], limit + 1) if v.strip()), 0)
                if beyond:
                    raise _column_too_far(number, beyond)
                row = row[:limit]
            matrix.append((number, row))
    except csv.Error as error:
        raise ImportFileError(f"CSV non leggibile alla riga {number + 1}: {error}") from None
    return matrix


# ------------------------------------------------------------------------------------- columns


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
