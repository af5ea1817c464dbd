"""The first sheet of an XLSX or ODS file as rows of values (`_read_xlsx`, `_read_ods`), for
`performance.services.imports.reading`, within the limits of the hardening issue (10).

XLSX: openpyxl reads the cells (as tablib does: ``load_workbook(read_only=True,
data_only=True)``), after a bounded pre-check on the bytes (`_Archive.check`: no XML is parsed
there). openpyxl builds what a file declares, and a file of a few kilobytes can declare millions
of things: 2 million styles or shared strings, which it builds on opening the workbook; 4 million
cells in one row, which its parser holds until the row ends; a sheet without a declared range,
which it parses whole on opening. So before openpyxl opens the file:

- the unpacked size of the archive (`MAX_UNPACKED_BYTES`);
- the markup of its parts (`MAX_XML_TAGS`: each ``<`` counted while the part is decompressed:
  cells, texts, styles and shared strings together), which bounds what openpyxl builds and the
  time it takes;
- no DTD or entity declaration (``<!DOCTYPE``, ``<!ENTITY``: "billion laughs", XXE).

Then the sheet's rows come from openpyxl's own row parser (``WorkSheetParser.parse``), which
yields the cells written with their row numbers; tablib's reader (``sheet.rows``) is not used: in
read-only mode it pads every row to the declared width and yields a row for every row number up
to the declared height (``<dimension ref="A1:XFD1048576">``: 17 billion cells), it drops the row
numbers the report needs, and it loses the number format that makes 0,827 a percentage. A
declared range beyond the grid of a spreadsheet makes the file unreadable; a smaller one is never
used to allocate anything: the cells decide.

ODS: read as a stream of XML events (expat) by `_ods_rows`. odfpy (tablib's reader) was measured
and does not meet the goals: its ``load`` builds an object for every element of the document (the
largest ODS accepted, 5,000 rows of 200 numbers, took more than 120 s and gigabytes), and even fed
row by row through its own ``LoadParser``, dropping each row once read, it takes 0,78 s of CPU
for 250 of those rows, about 15 s for the 5,000 (the goal is 5 s), most of it in the constructor
of odfpy's elements. tablib's ODS reader besides drops blank rows (shifting the row numbers of
the report) and skips repeated cells (moving the values after them to the left).
The stream counts the same markup budget, refuses a DTD or an entity, and checks ODS repeats
(``table:number-columns-repeated``, ``number-rows-repeated``, ``text:c``): whole numbers within
the grid, counted, never expanded.

For both, the cells are checked as they come (`_Cells`): data rows (`MAX_ROWS`: rows with at
least one value, the header excluded), the last row with data (`max_row_number()`: twice
`MAX_ROWS`, room for blank rows in between), a value beyond column `MAX_COLUMNS`, a text longer
than `MAX_CELL_CHARS`. Blank rows and cells, repeated or not, are counted, never stored.

Values are those openpyxl (``data_only``) and odfpy give: dates by the cell's number format,
percentages x 100, the paragraphs of an ODS cell joined by line breaks.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from xml.parsers import expat

from openpyxl import load_workbook
from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE
from openpyxl.worksheet._reader import WorkSheetParser  # the parser of openpyxl's reader

from performance.rules.base import fmt
from performance.services import imports as _package
from performance.services.imports.common import ImportFileError

# The grid of a spreadsheet (Excel, LibreOffice since 7.4): a repeat or a dimension beyond it does
# not come from a spreadsheet program.
GRID_ROWS = 1_048_576
GRID_COLUMNS = 16_384


def max_row_number() -> int:
    """The last row that may hold data: the header, `MAX_ROWS` data rows and as many blank."""
    return 2 * _package.MAX_ROWS + 1


# ------------------------------------------------------------------------------- the limits


def _too_many_rows() -> ImportFileError:
    return ImportFileError(
        f"Il file ha più di {fmt(_package.MAX_ROWS)} righe: dividerlo in più file."
    )


def _row_too_far(number: int) -> ImportFileError:
    return ImportFileError(
        f"Il foglio ha dati alla riga {fmt(number)}: le righe di dati devono stare entro "
        f"la riga {fmt(max_row_number())} (al massimo {fmt(_package.MAX_ROWS)} "
        "righe): eliminare le righe in più o dividere il file."
    )


def _letters(column: int) -> str:
    """A column's letters, as a spreadsheet shows them: 1 -> A, 201 -> GS."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_too_far(number: int | None, column: int) -> ImportFileError:
    where = f"Riga {fmt(number)}: " if number else ""
    return ImportFileError(
        f"{where}il foglio ha dati nella colonna {fmt(column)} ({_letters(column)}): "
        f"sono ammesse al massimo {_package.MAX_COLUMNS} colonne."
    )


def _too_long(number: int | None, column: str | int | None) -> ImportFileError:
    if number is None:
        return ImportFileError(
            f"Il file contiene un testo che supera {fmt(_package.MAX_CELL_CHARS)} caratteri."
        )
    name = f"«{column}»" if isinstance(column, str) else _letters(column or 0)
    return ImportFileError(
        f"Riga {fmt(number)}, colonna {name}: il testo supera "
        f"{fmt(_package.MAX_CELL_CHARS)} caratteri."
    )


def _too_much_markup() -> ImportFileError:
    return ImportFileError(
        "Il file contiene troppi elementi (celle, testi, stili) per un foglio di "
        f"{fmt(_package.MAX_ROWS)} righe e {_package.MAX_COLUMNS} colonne: salvarlo di "
        "nuovo con solo i dati da importare, o dividerlo."
    )


_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
_OVERLAP = 16  # bytes kept from a chunk, for a declaration across two chunks


class _Stop(Exception):
    """Raised by a handler when it has read what it needs: the rest of the part is skipped."""


class _Archive:
    """An XLSX or ODS file (a ZIP archive) before a library opens it: its unpacked size, and one
    budget of markup for the parts read (each ``<``, counted while the part is decompressed)."""

    def __init__(self, content: bytes, label: str) -> None:
        self.label = label
        self.content = content
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(content))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            raise ImportFileError(f"Il file non è un foglio {label} valido.") from None
        if sum(info.file_size for info in infos) > _package.MAX_UNPACKED_BYTES:
            raise ImportFileError("Il file è troppo grande una volta decompresso.")
        self.names = [info.filename for info in infos]
        self.tags_left = _package.MAX_XML_TAGS

    def unreadable(self) -> ImportFileError:
        return ImportFileError(f"Il file non è un foglio {self.label} leggibile.")

    def check(self, names: Iterable[str]) -> None:
        """Before a library opens the file: count the markup of the parts ``names`` (on the
        bytes, as they are decompressed) and refuse a DTD or an entity."""
        for name in names:
            tail = b""
            try:
                with self.zip.open(name) as stream:
                    while chunk := stream.read(1 << 16):
                        self.tags_left -= chunk.count(b"<")
                        if self.tags_left < 0:
                            raise _too_much_markup()
                        window = tail + chunk
                        if _DECLARATION.search(window):
                            raise self.unreadable()
                        tail = window[-_OVERLAP:]
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError):
                raise self.unreadable() from None
            except (NotImplementedError, RuntimeError):  # unsupported compression, encryption
                raise self.unreadable() from None

    def parse(
        self,
        name: str,
        start: Callable[[str, dict[str, str]], None],
        end: Callable[[str], None] | None = None,
        text: Callable[[str], None] | None = None,
    ) -> None:
        """Stream the part ``name`` through expat. A DOCTYPE (and so any entity declaration,
        internal or external: "billion laughs", XXE) makes the file unreadable."""
        if name not in self.names:
            raise self.unreadable()
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

        def refuse(*args: Any) -> None:
            raise self.unreadable()

        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.ExternalEntityRefHandler = refuse
        parser.StartElementHandler = start
        if end is not None:
            parser.EndElementHandler = end
        if text is not None:
            parser.CharacterDataHandler = text
        try:
            with self.zip.open(name) as stream:
                while chunk := stream.read(1 << 16):
                    self.tags_left -= chunk.count(b"<")
                    if self.tags_left < 0:
                        raise _too_much_markup()
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except _Stop:
            pass
        except (expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
            raise self.unreadable() from None
        except (NotImplementedError, RuntimeError):  # an unsupported compression, encryption
            raise self.unreadable() from None


def _small_int(value: str | None, default: int) -> int:
    """A whole number of at most 9 ASCII digits, or ``default``."""
    if value and len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return default


def _repeat(value: str | None, maximum: int, archive: _Archive, minimum: int = 1) -> int:
    if value is None:
        return 1
    number = _small_int(value, -1)
    if not minimum <= number <= maximum:
        raise _bad_repeat(value, archive)
    return number


def _bad_repeat(value: str, archive: _Archive) -> ImportFileError:
    shown = value if len(value) <= 20 else value[:20] + "…"
    return ImportFileError(
        f"Il file non è un foglio {archive.label} leggibile: una ripetizione di righe, celle o "
        f"spazi vale «{shown}», che non è un numero intero da 1 alla dimensione del foglio."
    )


class _Text:
    """The text of a cell, collected in pieces up to MAX_CELL_CHARS characters."""

    __slots__ = ("left", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.left = _package.MAX_CELL_CHARS

    def add(self, piece: str) -> bool:
        """False when the text is too long."""
        self.left -= len(piece)
        if self.left < 0:
            return False
        self.pieces.append(piece)
        return True

    def value(self) -> str:
        return "".join(self.pieces)


class _Cells:
    """The values of the rows being read, with the row, column and text limits (blank cells
    are counted, never stored)."""

    def __init__(self) -> None:
        self.matrix: list[tuple[int, list[Any]]] = []
        self.max_row = max_row_number()
        self.max_columns = _package.MAX_COLUMNS
        self.max_chars = _package.MAX_CELL_CHARS
        self.max_rows = _package.MAX_ROWS + 1  # with the header

    def add_row(self, number: int, values: list[Any], repeat: int = 1) -> None:
        for _ in range(repeat):
            if number > self.max_row:
                raise _row_too_far(number)
            if len(self.matrix) >= self.max_rows:
                raise _too_many_rows()
            self.matrix.append((number, values))
            number += 1

    def check_text(self, value: Any, number: int, column: int) -> None:
        if isinstance(value, str) and len(value) > self.max_chars:
            raise _too_long(number, column)


# what a damaged file can raise while a library reads it (a limit passed is an ImportFileError)
_DAMAGED = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
    UnicodeError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    SyntaxError,  # xml.etree's ParseError
    NotImplementedError,
    RuntimeError,
)


# ---------------------------------------------------------------------------------------- XLSX

_QUOTED = re.compile(r'"[^"]*"|\\.')  # literal text in a number format: 0" %" is no percentage


def _read_xlsx(content: bytes) -> list[tuple[int, list[Any]]]:
    archive = _Archive(content, "XLSX")
    # every part: openpyxl reads the styles and the shared strings on opening the workbook,
    # and each sheet up to its declared range (all of it when none is declared)
    archive.check(archive.names)
    try:
        return _xlsx_rows(archive)
    except ImportFileError:
        raise
    except _DAMAGED:
        raise archive.unreadable() from None


def _xlsx_rows(archive: _Archive) -> list[tuple[int, list[Any]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = load_workbook(io.BytesIO(archive.content), read_only=True, data_only=True)
    if not book.worksheets:
        raise ImportFileError("Il file XLSX non contiene fogli di lavoro.")
    sheet = book.worksheets[0]
    if getattr(sheet, "_worksheet_path", None) is None:
        raise ImportFileError("Il file XLSX non contiene fogli di lavoro.")
    # the declared range (openpyxl read it on opening): beyond the grid, not a spreadsheet's
    if (sheet.max_row or 0) > GRID_ROWS or (sheet.max_column or 0) > GRID_COLUMNS:
        raise ImportFileError(
            "Il file non è un foglio XLSX leggibile: dichiara un'area più grande di un foglio "
            "di calcolo."
        )

    percentages: dict[int, bool] = {}

    def is_percentage(style: int) -> bool:
        found = percentages.get(style)
        if found is None:
            number = book._cell_styles[style].numFmtId if 0 <= style < len(book._cell_styles) else 0
            if number < BUILTIN_FORMATS_MAX_SIZE:
                code = BUILTIN_FORMATS.get(number, "General")
            else:
                code = book._number_formats[number - BUILTIN_FORMATS_MAX_SIZE]
            found = percentages[style] = "%" in _QUOTED.sub("", str(code or ""))
        return found

    cells = _Cells()
    max_columns = cells.max_columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a date out of range is "#VALUE!", as openpyxl says
        with book._archive.open(sheet._worksheet_path) as source:
            parser = WorkSheetParser(
                source,
                sheet._shared_strings,
                data_only=True,
                epoch=book.epoch,
                date_formats=book._date_formats,
                timedelta_formats=book._timedelta_formats,
            )
            for number, row in parser.parse():
                if not 0 < number <= GRID_ROWS:
                    raise archive.unreadable()
                values: list[Any] = []
                for cell in row:
                    value = cell["value"]
                    if value is None or (isinstance(value, str) and not value.strip()):
                        continue
                    column = cell["column"]
                    if column > max_columns:
                        raise _column_too_far(number, column)
                    if cell["data_type"] == "n" and not isinstance(value, bool):
                        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
                        if is_percentage(cell["style_id"]):
                            value *= 100  # 82,7% is stored as 0.827
                    cells.check_text(value, number, column)
                    if column > len(values):
                        values.extend([None] * (column - len(values)))
                    values[column - 1] = value
                if values:
                    cells.add_row(number, values)
    book.close()
    return cells.matrix


# ----------------------------------------------------------------------------------------- ODS

_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXTNS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_SPREADSHEET = f"{_OFFICE} spreadsheet"
_SHEET = f"{_TABLE} table"
_ROW = f"{_TABLE} table-row"
_ROW_GROUPS = {
    f"{_TABLE} {name}" for name in ("table-header-rows", "table-rows", "table-row-group")
}
_CELLS = {f"{_TABLE} table-cell", f"{_TABLE} covered-table-cell"}
_PARAGRAPH = f"{_TEXTNS} p"
_SPACES = f"{_TEXTNS} s"
_TAB = f"{_TEXTNS} tab"
_LINE_BREAK = f"{_TEXTNS} line-break"
_ROWS_REPEATED = f"{_TABLE} number-rows-repeated"
_COLUMNS_REPEATED = f"{_TABLE} number-columns-repeated"
_SPACE_COUNT = f"{_TEXTNS} c"
_VALUE_TYPE = f"{_OFFICE} value-type"
_VALUE = f"{_OFFICE} value"
_DATE_VALUE = f"{_OFFICE} date-value"
_BOOLEAN_VALUE = f"{_OFFICE} boolean-value"


def _ods_rows(archive: _Archive) -> list[tuple[int, list[Any]]]:
    """The first table of an ODS file's content.xml, as odfpy's document model gave it (the
    paragraphs of a cell joined by line breaks, text:s as spaces...), in one streaming pass
    that ends with that table. Closures over local variables, as for XLSX's sheet."""
    cells = _Cells()
    add_row = cells.add_row
    max_columns = cells.max_columns
    max_chars = _package.MAX_CELL_CHARS
    depth = 0
    spreadsheet = 0  # depth of office:spreadsheet
    groups: list[int] = []  # depths of the table and of the row groups in it
    row = 0  # depth of the row being read
    cell = 0  # depth of the cell being read
    paragraph = 0  # depth of the paragraph (of the cell) being read
    found = False
    number = 0  # the last row number
    row_repeat = 1
    values: list[Any] = []
    pending = 0  # blank cells not yet written (trailing ones never are)
    cell_attrs: dict[str, str] = {}
    paragraphs: list[str] = []
    text: _Text | None = None
    cell_chars = 0  # characters of the cell's paragraphs so far

    def too_long() -> ImportFileError:
        return _too_long(number + 1, len(values) + pending + 1)

    def add(piece: str) -> None:
        if text is not None and not text.add(piece):
            raise too_long()

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, spreadsheet, row, cell, paragraph, found, row_repeat, values, pending
        nonlocal cell_attrs, paragraphs, text, cell_chars
        depth += 1
        if paragraph:
            if tag == _SPACES:
                count = _repeat(attrs.get(_SPACE_COUNT), 999_999_999, archive, minimum=0)
                add(" " * min(count, max_chars + 1))
            elif tag == _TAB:
                add("\t")
            elif tag == _LINE_BREAK:
                add("\n")
        elif cell:
            if tag == _PARAGRAPH and depth == cell + 1:
                paragraph = depth
                text = _Text()
                text.left -= cell_chars
        elif row:
            if depth == row + 1 and tag in _CELLS:
                cell = depth
                cell_attrs = attrs
                paragraphs = []
                cell_chars = 0
        elif groups:
            if depth == groups[-1] + 1:
                if tag == _ROW:
                    row = depth
                    row_repeat = _repeat(attrs.get(_ROWS_REPEATED), GRID_ROWS, archive)
                    values = []
                    pending = 0
                elif tag in _ROW_GROUPS:
                    groups.append(depth)
        elif spreadsheet:
            if tag == _SHEET and depth == spreadsheet + 1:
                groups.append(depth)
                found = True
        elif tag == _SPREADSHEET:
            spreadsheet = depth

    def end(tag: str) -> None:
        nonlocal depth, row, cell, paragraph, number, values, pending, text, cell_chars
        ended = depth
        depth -= 1
        if paragraph:
            if ended == paragraph:
                piece = text.value() if text is not None else ""
                paragraphs.append(piece)
                cell_chars += len(piece) + 1
                paragraph = 0
                text = None
        elif cell:
            if ended == cell:
                cell = 0
                repeat = _repeat(cell_attrs.get(_COLUMNS_REPEATED), GRID_COLUMNS, archive)
                value = _ods_value(cell_attrs, paragraphs)
                if value is None:
                    pending += repeat
                    return
                first = len(values) + pending + 1
                if first + repeat - 1 > max_columns:
                    raise _column_too_far(number + 1, max(first, max_columns + 1))
                if pending:
                    values.extend([None] * pending)
                    pending = 0
                values.extend([value] * repeat)
        elif row:
            if ended == row:
                row = 0
                if values:
                    add_row(number + 1, values, row_repeat)
                number += row_repeat  # LibreOffice writes blank rows as one repeated row
        elif groups and ended == groups[-1]:
            groups.pop()
            if not groups:
                raise _Stop  # the first table is read: the other sheets are not needed

    def characters(data: str) -> None:
        if paragraph:
            add(data)

    archive.parse("content.xml", start, end, characters)
    if not found:
        raise ImportFileError("Il file ODS non contiene fogli.")
    return cells.matrix


def _ods_value(attrs: dict[str, str], paragraphs: list[str]) -> Any:
    kind = attrs.get(_VALUE_TYPE)
    try:
        if kind in ("float", "currency", "percentage"):
            raw = attrs.get(_VALUE) or ""
            if len(raw) <= 100:
                number = Decimal(raw)
                return number * 100 if kind == "percentage" else number
    except (ArithmeticError, ValueError):
        pass
    if kind == "date":
        try:
            return dt.date.fromisoformat((attrs.get(_DATE_VALUE) or "")[:10])
        except ValueError:
            pass
    if kind == "boolean":
        return attrs.get(_BOOLEAN_VALUE) == "true"
    text = "\n".join(paragraphs)
    return text if text.strip() else None


def _read_ods(content: bytes) -> list[tuple[int, list[Any]]]:
    archive = _Archive(content, "ODS")
    try:
        return _ods_rows(archive)
    except _DAMAGED:
        raise archive.unreadable() from None
