"""Reading a file into a `Table`: the first sheet of an XLSX or ODS file or a CSV file, rows
numbered as in the spreadsheet, within the size limits; and the check of a table's columns
against a format."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from performance.services import imports as _package
from performance.services.imports.columns import column_key
from performance.services.imports.common import (
    FORMATS,
    ImportFileError,
    ImportReport,
    _text,
)

# The limits are read through the package (``_package.MAX_ROWS``...), so that setting
# performance.services.imports.MAX_UPLOAD_BYTES (as the tests do) takes effect here too.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 200
MAX_UNPACKED_BYTES = 60 * 1024 * 1024


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
    for number, values in matrix[1:]:
        cells = {
            h: _clean(values[i]) if i < len(values) else None for i, h in enumerate(headers) if h
        }
        if all(v is None for v in cells.values()):
            continue
        rows.append(SheetRow(number, cells))
    if len(rows) > _package.MAX_ROWS:
        raise ImportFileError(
            f"Il file ha più di {_package.MAX_ROWS} righe: dividerlo in più file."
        )
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
            if number > _package.MAX_ROWS + 1:
                raise ImportFileError(f"Il file ha più di {_package.MAX_ROWS} righe: dividerlo.")
            matrix.append((number, row[: _package.MAX_COLUMNS]))
    except csv.Error as error:
        raise ImportFileError(f"CSV non leggibile alla riga {number + 1}: {error}") from None
    return matrix


def _check_zip(content: bytes, label: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ImportFileError(f"Il file non è un foglio {label} valido.") from None
    if sum(info.file_size for info in archive.infolist()) > _package.MAX_UNPACKED_BYTES:
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
    for row in sheet.iter_rows(max_col=min(sheet.max_column, _package.MAX_COLUMNS)):
        values = [_xlsx_value(cell) for cell in row]
        if any(v is not None for v in values):
            matrix.append((row[0].row, values))
            if len(matrix) > _package.MAX_ROWS + 1:
                raise ImportFileError(f"Il file ha più di {_package.MAX_ROWS} righe: dividerlo.")
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
        for _ in range(min(repeat, _package.MAX_ROWS + 2)):
            number += 1
            matrix.append((number, values))
        if len(matrix) > _package.MAX_ROWS + 1:
            raise ImportFileError(f"Il file ha più di {_package.MAX_ROWS} righe: dividerlo.")
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
        values.extend([value] * min(repeat, _package.MAX_COLUMNS))
        if len(values) >= _package.MAX_COLUMNS:
            return values[: _package.MAX_COLUMNS]
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
