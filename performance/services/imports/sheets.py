"""The first sheet of an XLSX or ODS file as rows of values (`_read_xlsx`, `_read_ods`), for
`performance.services.imports.reading`.

A spreadsheet is read as a stream (expat, DTDs and entities refused), never as a whole document:
openpyxl and odfpy build every cell, style and string of a file first, and a file of a few
kilobytes can declare millions of them (an empty cell repeated 10⁸ times, a cell at row 100,000
that makes openpyxl fill every row above it, 4 million empty cells in one row, 2 million styles).
Here every limit is checked before anything is allocated for it, and reading stops at the first
one passed, with the Italian reason:

- the unpacked size of the archive (`MAX_UNPACKED_BYTES`) and the XML read from it
  (`MAX_XML_TAGS`: its tags, each ``<`` counted on the bytes before they are parsed: cells,
  texts, styles and shared strings together), which bound the time;
- data rows (`MAX_ROWS`: rows with at least one value, the header excluded) and the last row
  with data (`max_row_number()`: twice `MAX_ROWS`, room for blank rows in between);
- a value beyond column `MAX_COLUMNS`; a text longer than `MAX_CELL_CHARS`;
- ODS repeats (``table:number-columns-repeated``, ``number-rows-repeated``, ``text:c``) that are
  not whole numbers within the spreadsheet's grid. Blank cells and rows, repeated or not, are
  counted, never stored: LibreOffice writes the rest of the sheet as one repeated blank row.

XLSX's ``<dimension ref=...>`` (the range the writer declares) is read and checked against the
grid of a spreadsheet (A1:XFD1048576); a declared range beyond the limits above is not refused by
itself (it may cover formatted empty cells) and is never used to allocate anything: the cells
decide.

Only the parts needed are read (the package's relationships, the workbook, the styles' number
formats, the shared strings, the first sheet; ODS: content.xml up to the end of the first table),
with the values openpyxl (``data_only``) and odfpy gave: dates by the cell's number format,
percentages x 100, the paragraphs of an ODS cell joined by line breaks.
"""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from xml.parsers import expat

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


def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def _too_many_rows() -> ImportFileError:
    return ImportFileError(
        f"Il file ha più di {_thousands(_package.MAX_ROWS)} righe: dividerlo in più file."
    )


def _row_too_far(number: int) -> ImportFileError:
    return ImportFileError(
        f"Il foglio ha dati alla riga {_thousands(number)}: le righe di dati devono stare entro "
        f"la riga {_thousands(max_row_number())} (al massimo {_thousands(_package.MAX_ROWS)} "
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
    where = f"Riga {_thousands(number)}: " if number else ""
    return ImportFileError(
        f"{where}il foglio ha dati nella colonna {_thousands(column)} ({_letters(column)}): "
        f"sono ammesse al massimo {_package.MAX_COLUMNS} colonne."
    )


def _too_long(number: int, column: str | int) -> ImportFileError:
    name = f"«{column}»" if isinstance(column, str) else _letters(column)
    return ImportFileError(
        f"Riga {_thousands(number)}, colonna {name}: il testo supera "
        f"{_thousands(_package.MAX_CELL_CHARS)} caratteri."
    )


def _too_much_markup() -> ImportFileError:
    return ImportFileError(
        "Il file contiene troppi elementi (celle, testi, stili) per un foglio di "
        f"{_thousands(_package.MAX_ROWS)} righe e {_package.MAX_COLUMNS} colonne: salvarlo di "
        "nuovo con solo i dati da importare, o dividerlo."
    )


# --------------------------------------------------------------------- XML parts of a ZIP file


class _Stop(Exception):
    """Raised by a handler when it has read what it needs: the rest of the part is skipped."""


class _Archive:
    """The parts of an XLSX or ODS file (a ZIP archive), each read as a stream of XML events,
    with one budget of markup for the whole file: the tags read (each ``<``, counted on the
    bytes before they are parsed), which bounds the time spent in the handlers."""

    def __init__(self, content: bytes, label: str) -> None:
        self.label = label
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(content))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            raise ImportFileError(f"Il file non è un foglio {label} valido.") from None
        if sum(info.file_size for info in infos) > _package.MAX_UNPACKED_BYTES:
            raise ImportFileError("Il file è troppo grande una volta decompresso.")
        self.names = {info.filename for info in infos}
        self.tags_left = _package.MAX_XML_TAGS

    def unreadable(self) -> ImportFileError:
        return ImportFileError(f"Il file non è un foglio {self.label} leggibile.")

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


class _Cells:
    """The values of the rows being read, with the row limits (blank cells before a value are
    counted by the readers, never stored)."""

    def __init__(self) -> None:
        self.matrix: list[tuple[int, list[Any]]] = []
        self.max_row = max_row_number()
        self.max_columns = _package.MAX_COLUMNS
        self.max_rows = _package.MAX_ROWS + 1  # with the header

    def add_row(self, number: int, values: list[Any], repeat: int = 1) -> None:
        for _ in range(repeat):
            if number > self.max_row:
                raise _row_too_far(number)
            if len(self.matrix) >= self.max_rows:
                raise _too_many_rows()
            self.matrix.append((number, values))
            number += 1


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


# ---------------------------------------------------------------------------------------- XLSX

_MAIN = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
_RELATIONSHIPS = (
    "http://schemas.openxmlformats.org/package/2006/relationships",
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)


def _tags(namespaces: Sequence[str], *names: str) -> dict[str, str]:
    return {f"{ns} {name}": name for ns in namespaces for name in names}


_SHEET_TAGS = _tags(_MAIN, "dimension", "sheetData", "row", "c", "v", "is", "t", "rPh")
_STRING_TAGS = _tags(_MAIN, "si", "t", "rPh")
_STYLE_TAGS = _tags(_MAIN, "numFmt", "cellXfs", "xf")
_BOOK_TAGS = _tags(_MAIN, "workbookPr", "sheet")
_REL_TAGS = _tags(_RELATIONSHIPS, "Relationship")
_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
_RANGE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,10})(?::\$?([A-Za-z]{1,3})\$?([0-9]{1,10}))?")
_QUOTED = re.compile(r'"[^"]*"|\\.')  # literal text in a number format: 0" %" is no percentage


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index


class _XlsxReader:
    """The first worksheet of an XLSX file, with its shared strings and the number formats of
    its styles (dates, percentages), read as openpyxl reads them (``data_only``: the values a
    formula last computed)."""

    def __init__(self, archive: _Archive) -> None:
        self.archive = archive
        self.cells = _Cells()
        self.strings: list[str] = []
        self.style_formats: list[int] = []  # numFmtId of each cell style (cellXfs)
        self.custom_formats: dict[int, str] = {}
        self.kinds: dict[int, tuple[bool, bool, bool]] = {}  # style -> (date, timedelta, %)
        self.epoch = None

    # --- the parts: package relationships, workbook, styles, shared strings, sheet
    def read(self) -> list[tuple[int, list[Any]]]:
        from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

        package = self._relationships("_rels/.rels", "")
        book = next(
            (t for kind, t, _ in package if kind.endswith("/officeDocument")), "xl/workbook.xml"
        )
        folder, name = posixpath.split(book)
        parts = self._relationships(posixpath.join(folder, "_rels", name + ".rels"), folder)
        relations = {rid: (kind, target) for kind, target, rid in parts}
        sheets, date1904 = self._workbook(book)
        self.epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
        sheet = next(
            (
                relations[rid][1]
                for rid in sheets
                if rid in relations and relations[rid][0].endswith("/worksheet")
            ),
            None,
        )
        if sheet is None:
            raise ImportFileError("Il file XLSX non contiene fogli di lavoro.")
        for kind, target, _ in parts:
            if kind.endswith("/styles") and target in self.archive.names:
                self._styles(target)
        for kind, target, _ in parts:
            if kind.endswith("/sharedStrings") and target in self.archive.names:
                self._shared_strings(target)
        self._sheet(sheet)
        return self.cells.matrix

    def _relationships(self, name: str, folder: str) -> list[tuple[str, str, str]]:
        """(type, target, id) of each relationship of the part ``name`` (targets resolved)."""
        found: list[tuple[str, str, str]] = []
        archive = self.archive

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag in _REL_TAGS and attrs.get("TargetMode") != "External":
                target = attrs.get("Target", "")
                if target.startswith("/"):
                    target = target[1:]
                else:
                    target = posixpath.normpath(posixpath.join(folder, target))
                found.append((attrs.get("Type", ""), target, attrs.get("Id", "")))

        if name in archive.names:
            archive.parse(name, start)
        return found

    def _workbook(self, name: str) -> tuple[list[str], bool]:
        sheets: list[str] = []
        date1904 = [False]
        archive = self.archive

        def start(tag: str, attrs: dict[str, str]) -> None:
            local = _BOOK_TAGS.get(tag)
            if local == "sheet":
                rid = next((v for k, v in attrs.items() if k.endswith(" id")), "")
                sheets.append(rid)
            elif local == "workbookPr":
                date1904[0] = attrs.get("date1904", "false") not in ("false", "f", "0", "")

        archive.parse(name, start)
        return sheets, date1904[0]

    def _styles(self, name: str) -> None:
        """The number format of each cell style (cellXfs) and the custom formats."""
        formats = self.style_formats
        custom = self.custom_formats
        tag_of = _STYLE_TAGS.get
        in_xfs = False

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal in_xfs
            local = tag_of(tag)
            if local == "xf":
                if in_xfs:
                    formats.append(_small_int(attrs.get("numFmtId"), 0))
            elif local == "cellXfs":
                in_xfs = True
            elif local == "numFmt":
                number = _small_int(attrs.get("numFmtId"), -1)
                if number >= 0:
                    custom[number] = attrs.get("formatCode", "")[:1000]

        def end(tag: str) -> None:
            nonlocal in_xfs
            if tag_of(tag) == "cellXfs":
                in_xfs = False

        self.archive.parse(name, start, end)

    def _shared_strings(self, name: str) -> None:
        """The shared strings: the text of each <si>, its runs included, phonetic ones not."""
        strings = self.strings
        tag_of = _STRING_TAGS.get
        current: _Text | None = None  # the string being read
        target: _Text | None = None  # where the characters go (inside a <t>)
        phonetic = 0

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal current, target, phonetic
            local = tag_of(tag)
            if local == "t":
                if not phonetic:
                    target = current
            elif local == "si":
                current = _Text()
            elif local == "rPh":
                phonetic += 1

        def end(tag: str) -> None:
            nonlocal current, target, phonetic
            local = tag_of(tag)
            if local == "t":
                target = None
            elif local == "si":
                strings.append(current.value().replace("x005F_", "") if current else "")
                current = None
            elif local == "rPh":
                phonetic -= 1

        def text(data: str) -> None:
            if target is not None and not target.add(data):
                raise ImportFileError(
                    "Il file contiene un testo più lungo di "
                    f"{_thousands(_package.MAX_CELL_CHARS)} caratteri."
                )

        self.archive.parse(name, start, end, text)

    # --- the cells
    def _kind(self, style: int) -> tuple[bool, bool, bool]:
        kind = self.kinds.get(style)
        if kind is None:
            from openpyxl.styles.numbers import (
                BUILTIN_FORMATS,
                is_date_format,
                is_timedelta_format,
            )

            number = self.style_formats[style] if 0 <= style < len(self.style_formats) else 0
            code = self.custom_formats.get(number, BUILTIN_FORMATS.get(number))
            kind = (
                is_date_format(code),
                is_timedelta_format(code),
                "%" in _QUOTED.sub("", str(code or "")),
            )
            self.kinds[style] = kind
        return kind

    def _value(self, kind: str, raw: str | None, inline: str | None, style: int) -> Any:
        """A cell's value, as openpyxl gives it and then as the old reader adjusted it."""
        if kind == "inlineStr":
            value: Any = inline
        elif not raw:
            return None
        elif kind == "n":
            number: int | float = float(raw) if ("." in raw or "e" in raw.lower()) else int(raw)
            is_date, is_timedelta, is_percentage = self._kind(style)
            if is_date:
                from openpyxl.utils.datetime import from_excel

                try:
                    return from_excel(number, self.epoch, timedelta=is_timedelta)
                except (OverflowError, ValueError):
                    return "#VALUE!"
            result = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
            return result * 100 if is_percentage else result  # 82,7% is stored as 0.827
        elif kind == "s":
            value = self.strings[int(raw)]
        elif kind == "b":
            return bool(int(raw))
        elif kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(raw)
        else:  # "str" (a formula's text), "e" (an error such as #N/A)
            value = raw
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def _dimension(self, ref: str) -> None:
        match = _RANGE.fullmatch(ref.strip())
        if match is None:
            return  # openpyxl ignores a dimension it cannot read, and so does Excel
        last_column, last_row = match.group(3) or match.group(1), match.group(4) or match.group(2)
        if _column_index(last_column) > GRID_COLUMNS or int(last_row) > GRID_ROWS:
            raise ImportFileError(
                f"Il file non è un foglio XLSX leggibile: dichiara l'area «{ref[:40]}», più "
                "grande di un foglio di calcolo."
            )

    def _sheet(self, name: str) -> None:
        """The cells of the sheet (closures over local variables: the handlers run for every
        element of the sheet, and these are the fastest names Python has)."""
        archive = self.archive
        add_row = self.cells.add_row
        max_columns = self.cells.max_columns
        value_of = self._value
        tag_of = _SHEET_TAGS.get
        letters: dict[str, int] = {}
        in_data = False
        row = 0  # number of the row being read
        values: list[Any] | None = None  # its values, None outside a row
        column = 0
        kind = "n"
        style = 0
        raw: _Text | None = None  # the <v> of the cell
        inline: _Text | None = None  # its inline string
        target: _Text | None = None  # the text being read
        phonetic = 0

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal in_data, row, values, column, kind, style, raw, inline, target, phonetic
            local = tag_of(tag)
            if local is None:
                return
            if not in_data:
                if local == "sheetData":
                    in_data = True
                elif local == "dimension":
                    self._dimension(attrs.get("ref", ""))
            elif local == "c":
                ref = attrs.get("r")
                if ref:
                    match = _CELL.fullmatch(ref)
                    if match is None:
                        raise archive.unreadable()
                    letter = match.group(1)
                    column = letters.get(letter) or letters.setdefault(
                        letter, _column_index(letter)
                    )
                else:
                    column += 1
                kind = attrs.get("t", "n")
                style = _small_int(attrs.get("s"), 0)
                raw = inline = target = None
            elif local == "v":
                if kind != "inlineStr":
                    raw = target = _Text()
            elif local == "t":
                if inline is not None and not phonetic:
                    target = inline
            elif local == "is":
                inline = _Text()
            elif local == "rPh":
                phonetic += 1
            elif local == "row":
                number = attrs.get("r")
                if number is None:
                    row += 1
                elif 0 < _small_int(number, 0) <= GRID_ROWS:
                    row = int(number)
                else:
                    raise archive.unreadable()
                values = []
                column = 0

        def end(tag: str) -> None:
            nonlocal values, raw, inline, target, phonetic
            local = tag_of(tag)
            if local is None:
                return
            if local == "c":
                if values is None or (raw is None and inline is None):
                    return  # an empty (formatted) cell
                try:
                    value = value_of(
                        kind,
                        raw.value() if raw is not None else None,
                        inline.value() if inline is not None else None,
                        style,
                    )
                except (ValueError, IndexError, OverflowError, ArithmeticError):
                    raise archive.unreadable() from None
                raw = inline = target = None
                if value is None:
                    return
                if column > max_columns:
                    raise _column_too_far(row, column)
                if column > len(values):
                    values.extend([None] * (column - len(values)))
                values[column - 1] = value
            elif local == "v" or local == "t":
                target = None
            elif local == "rPh":
                phonetic -= 1
            elif local == "row":
                if values:
                    add_row(row, values)
                values = None
            elif local == "sheetData":
                raise _Stop

        def text(data: str) -> None:
            if target is not None and not target.add(data):
                raise _too_long(row, column)

        archive.parse(name, start, end, text)


# what a damaged part can raise while it is read (a limit passed is an ImportFileError)
_DAMAGED = (KeyError, IndexError, TypeError, ValueError, ArithmeticError, UnicodeError)


def _read_xlsx(content: bytes) -> list[tuple[int, list[Any]]]:
    archive = _Archive(content, "XLSX")
    try:
        return _XlsxReader(archive).read()
    except _DAMAGED:
        raise archive.unreadable() from None


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
