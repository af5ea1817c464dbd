"""Issue 10 ("attack run"), the uploads of /lavoro/<anno>/importa/:

1. tiny files that declare millions of cells (an XLSX of 2.5 KB with a cell at A100000, an ODS
   of 819 bytes with an empty cell repeated 10^8 times...) are refused in milliseconds, in little
   memory, with the Italian reason in the form; the largest files that are accepted stay within
   the goals too (200 MB, 5 s); ODS repeats that are not numbers are refused, not a 500; a cell
   with NUL (or another control character) is a row error of the dry run, never a 500 at the
   confirmation; DTDs and entities stay refused (XXE, "billion laughs"); the streaming readers
   give the values openpyxl and odfpy gave;
2. a pending import is applied at most once: a second confirmation (in sequence, or at the same
   time on PostgreSQL) is told "Importazione già applicata" (or "in corso", "annullata") and
   writes nothing; a unique row written meanwhile (IntegrityError) is a conflict message with
   nothing half-written.

The attack files are read in a child process with a hard address-space limit, so that a
regression cannot take the machine's memory. Peak memory is tracemalloc's; time is the CPU time
of the process (printed with the wall time: the CPU time does not depend on what else the machine
runs, the wall time does), each from its own run (tracemalloc slows Python down).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

import openpyxl
import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from organization import roles
from organization.models import Cycle
from performance.models import Actual, Indicator, Objective, PendingImport, Target
from performance.services import imports
from tests.performance.test_imports import (
    confirm,
    make_user,
    rendered,
    snapshot,
    target_of,
    upload,
    urls,
    value_row,
    values_file,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "docs" / "samples"
MEMORY_GOAL = 200 * 1024 * 1024
TIME_GOAL = 5.0  # seconds of CPU


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def controllo(personas):
    return personas.controllo


@pytest.fixture
def referent(personas):
    return personas.referent


# ---------------------------------------------------------------------- files, written by hand

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    f'.org/package/2006/relationships"><Relationship Id="rId1" Type="{_R}/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    f'spreadsheetml/2006/main" xmlns:r="{_R}"><sheets><sheet name="valori" sheetId="1" '
    'r:id="rId1"/></sheets></workbook>'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_file(
    sheet_data: str, *, dimension: str = "", parts: dict[str, str] | None = None
) -> bytes:
    """An XLSX file with one sheet (``sheet_data``: the <sheetData> content) and, in ``parts``,
    xl/styles.xml or xl/sharedStrings.xml."""
    parts = parts or {}
    relations = f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/>'
    for number, (name, kind) in enumerate(
        (("xl/styles.xml", "styles"), ("xl/sharedStrings.xml", "sharedStrings")), start=2
    ):
        if name in parts:
            target = name.removeprefix("xl/")
            relations += f'<Relationship Id="rId{number}" Type="{_R}/{kind}" Target="{target}"/>'
    book_relations = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships">{relations}</Relationships>'
    )
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">{declared}'
        f"<sheetData>{sheet_data}</sheetData></worksheet>"
    )
    buffer = io.BytesIO()
    types = _CONTENT_TYPES
    for name, kind in (("xl/styles.xml", "styles"), ("xl/sharedStrings.xml", "sharedStrings")):
        if name in parts:
            types = types.replace(
                "</Types>",
                f'<Override PartName="/{name}" ContentType="application/vnd.openxmlformats-'
                f'officedocument.spreadsheetml.{kind}+xml"/></Types>',
            )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", _PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", book_relations)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def column_letters(index: int) -> str:
    return openpyxl.utils.get_column_letter(index)


_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:'
    'tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
    'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
    'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type='
    '"text/xml"/></manifest:manifest>'
)


def ods_file(table: str, *, prolog: str = "") -> bytes:
    """An ODS file whose first sheet is ``table`` (its rows), content.xml written by hand."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Foglio1">'
        f"{table}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        archive.writestr("content.xml", content)
    return buffer.getvalue()


def text_cell(text: str, repeat: int | str | None = None) -> str:
    repeated = "" if repeat is None else f' table:number-columns-repeated="{repeat}"'
    return (
        f'<table:table-cell office:value-type="string"{repeated}>'
        f"<text:p>{text}</text:p></table:table-cell>"
    )


def empty_cell(repeat: int | str | None = None) -> str:
    repeated = "" if repeat is None else f' table:number-columns-repeated="{repeat}"'
    return f"<table:table-cell{repeated}/>"


def table_row(cells: str, repeat: int | str | None = None) -> str:
    repeated = "" if repeat is None else f' table:number-rows-repeated="{repeat}"'
    return f"<table:table-row{repeated}>{cells}</table:table-row>"


ODS_HEADER = table_row(text_cell("periodo") + text_cell("valore"))


# ---------------------------------------------------------------------------- the attack files


def xlsx_far_cell() -> bytes:
    """The attack run's XLSX: 200 header columns and one cell at A100000 (2.5 KB)."""
    header = "".join(inline(f"{column_letters(i)}1", f"c{i}") for i in range(1, 201))
    return xlsx_file(
        f'<row r="1">{header}</row><row r="100000">{inline("A100000", "x")}</row>',
        dimension="A1:GR100000",
    )


def ods_empty_cell_repeated() -> bytes:
    """The attack run's ODS: an empty cell repeated 10^8 times, then a value."""
    return ods_file(ODS_HEADER + table_row(text_cell("a") + empty_cell(10**8) + text_cell("b")))


def ods_row_repeated() -> bytes:
    return ods_file(ODS_HEADER + table_row(text_cell("consuntivo") + text_cell("1"), 10**8))


def ods_cell_repeated() -> bytes:
    return ods_file(ODS_HEADER + table_row(text_cell("x", 10**6)))


def ods_spaces() -> bytes:
    """odfpy's text:s expands text:c="10^8" into as many spaces (100 MB a cell)."""
    return ods_file(ODS_HEADER + table_row(text_cell('a<text:s text:c="100000000"/>b')))


def xlsx_wide_row() -> bytes:
    """4.5 million empty cells in one row: openpyxl's reader builds them all (1.5 GB)."""
    return xlsx_file('<row r="1">' + inline("A1", "periodo") + "<c/>" * 4_500_000 + "</row>")


def xlsx_many_styles() -> bytes:
    """2.5 million cell styles: openpyxl builds an object for each (2 GB)."""
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}"><cellXfs>'
        + '<xf numFmtId="0"/>' * 2_500_000
        + "</cellXfs></styleSheet>"
    )
    return xlsx_file(f'<row r="1">{inline("A1", "periodo")}</row>', parts={"xl/styles.xml": styles})


def xlsx_many_strings() -> bytes:
    strings = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}">'
        + "<si><t>a</t></si>" * 3_500_000
        + "</sst>"
    )
    return xlsx_file(
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', parts={"xl/sharedStrings.xml": strings}
    )


# name: (builder, format, size of the file at most, part of the Italian reason)
ATTACKS = {
    "xlsx-cell-at-A100000": (xlsx_far_cell, "xlsx", 3000, "dati alla riga 100.000"),
    "ods-empty-cell-x1e8": (ods_empty_cell_repeated, "ods", 900, "«100000000»"),
    "ods-row-x1e8": (ods_row_repeated, "ods", 900, "«100000000»"),
    "ods-cell-x1e6": (ods_cell_repeated, "ods", 900, "«1000000»"),
    "ods-spaces-x1e8": (ods_spaces, "ods", 900, "supera 32.767 caratteri"),
    "xlsx-4.5M-cells-in-a-row": (xlsx_wide_row, "xlsx", 30_000, "troppi elementi"),
    "xlsx-2.5M-styles": (xlsx_many_styles, "xlsx", 150_000, "troppi elementi"),
    "xlsx-3.5M-strings": (xlsx_many_strings, "xlsx", 200_000, "troppi elementi"),
}

_CHILD = """
import json, os, resource, sys, time, tracemalloc
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from performance.services import imports
content = sys.stdin.buffer.read()

def read():
    try:
        table = imports.read_table(content=content, filename="file." + sys.argv[1])
    except imports.ImportFileError as error:
        return "refused: " + " ".join(error.messages)
    return f"accepted: {len(table.rows)} rows"

cpu, wall = time.process_time(), time.perf_counter()
outcome = read()
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
tracemalloc.start()
read()
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"outcome": outcome, "cpu": cpu, "wall": wall, "peak": peak}))
"""


def read_in_child(content: bytes, fmt: str, *, address_space: int = 3 * 1024**3) -> dict:
    """read_table in a child process that cannot use more than ``address_space`` bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, fmt, str(address_space)],
        input=content,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def report_figures(name: str, size: int, figures: dict) -> None:
    print(
        f"\n{name}: {size:,} bytes -> {figures['outcome'][:90]} | CPU {figures['cpu']:.2f} s, "
        f"wall {figures['wall']:.2f} s, peak {figures['peak'] / 2**20:.1f} MB"
    )


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_file_is_refused_quickly_in_little_memory(name):
    build, fmt, largest, reason = ATTACKS[name]
    content = build()
    assert len(content) <= largest
    figures = read_in_child(content, fmt)
    report_figures(name, len(content), figures)
    assert figures["outcome"].startswith("refused: ") and reason in figures["outcome"]
    assert figures["peak"] < MEMORY_GOAL
    assert figures["cpu"] < TIME_GOAL


def test_the_attack_files_are_of_the_attack_run():
    assert 2000 <= len(xlsx_far_cell()) <= 3000  # "2.5 KB"
    assert len(ods_empty_cell_repeated()) <= 900  # "819 bytes"


@pytest.mark.parametrize("name", ["xlsx-cell-at-A100000", "ods-empty-cell-x1e8", "ods-row-x1e8"])
def test_the_referent_uploading_an_attack_file_reads_the_reason_in_the_form(
    client, cycle_2019, referent, media_root, name
):
    build, fmt, _, reason = ATTACKS[name]
    client.force_login(referent)
    started = time.process_time()
    response = upload(client, build(), f"valori.{fmt}", "valori")
    assert time.process_time() - started < TIME_GOAL
    assert response.status_code == 200 and "report" not in response.context
    assert reason in " ".join(response.context["form"].errors["file"])
    assert reason in response.content.decode()
    assert not PendingImport.objects.exists()
    assert not (media_root / imports.PENDING_FOLDER).exists() or not list(
        (media_root / imports.PENDING_FOLDER).iterdir()
    )


# ------------------------------------------------------------------ the largest files accepted


def largest_plan(cycle, fmt: str) -> bytes:
    """A plan of 5,000 new targets (the 2019 rows over and over, without their target codes):
    the largest plan the import accepts, all of it valid."""
    rows = imports.plan_rows(cycle=cycle)
    out = []
    for number in range(imports.MAX_ROWS):
        row = dict(rows[number % len(rows)], codice_target="")
        row["target_testo"] = f"{row['target_testo']} (riga {number})"
        out.append(row)
    return rendered(list(imports.PLAN_COLUMNS), out, fmt)


def largest_values(cycle, fmt: str) -> bytes:
    """5,000 rows of the values format with all its columns filled."""
    rows = imports.values_rows(cycle=cycle)
    out = [
        dict(rows[number % len(rows)], nota=f"Nota della riga {number}: dato del gestionale.")
        for number in range(imports.MAX_ROWS)
    ]
    return rendered(list(imports.VALUE_COLUMNS), out, fmt)


def csv_at_the_limits(cycle) -> bytes:
    """5,000 rows of 200 columns (the values format and filler columns) in just under 5 MB."""
    columns = list(imports.VALUE_COLUMNS)
    filler = [f"colonna_{i}" for i in range(imports.MAX_COLUMNS - len(columns))]
    rows = imports.values_rows(cycle=cycle)
    lines = [";".join(columns + filler)]
    for number in range(imports.MAX_ROWS):
        row = rows[number % len(rows)]
        known = [imports._text(row.get(c)).replace(";", ",") for c in columns]
        lines.append(";".join(known + [f"{number % 100:02d}"] * len(filler)))
    content = ("\r\n".join(lines)).encode("utf-8")
    assert imports.MAX_UPLOAD_BYTES * 0.7 < len(content) <= imports.MAX_UPLOAD_BYTES
    return content


def measure(action) -> dict:
    """CPU and wall time of ``action()``, then its peak memory (tracemalloc, a second run)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    tracemalloc.start()
    try:
        action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"result": result, "cpu": cpu, "wall": wall, "peak": peak}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "fmt"), [("piano", "xlsx"), ("piano", "ods"), ("valori", "xlsx"), ("valori", "ods")]
)
def test_the_largest_files_accepted_stay_within_the_goals(client, cycle_2019, controllo, kind, fmt):
    content = (largest_plan if kind == "piano" else largest_values)(cycle_2019, fmt)
    assert len(content) <= imports.MAX_UPLOAD_BYTES
    client.force_login(controllo)

    def dry_run():
        response = upload(client, content, f"{kind}.{fmt}", kind)
        assert response.status_code == 200 and "report" in response.context, response.context.get(
            "form"
        ).errors
        return response.context["report"]

    figures = measure(dry_run)
    report = figures["result"]
    report_figures(f"{kind}.{fmt} (5.000 righe)", len(content), {**figures, "outcome": "ok"})
    assert report.rows == imports.MAX_ROWS
    if kind == "piano":
        assert report.is_valid and report.created == imports.MAX_ROWS
    assert figures["peak"] < MEMORY_GOAL
    assert figures["cpu"] < TIME_GOAL


@pytest.mark.slow
def test_a_csv_at_the_limits_is_accepted_within_the_goals(client, cycle_2019, referent):
    content = csv_at_the_limits(cycle_2019)
    client.force_login(referent)

    def dry_run():
        response = upload(client, content, "valori.csv", "valori")
        assert response.status_code == 200 and "report" in response.context
        return response.context["report"]

    figures = measure(dry_run)
    report_figures("valori.csv (5.000 × 200)", len(content), {**figures, "outcome": "ok"})
    assert figures["result"].rows == imports.MAX_ROWS
    assert figures["peak"] < MEMORY_GOAL
    assert figures["cpu"] < TIME_GOAL


def test_one_row_more_or_one_column_more_is_refused():
    header = [f"c{i}" for i in range(1, imports.MAX_COLUMNS + 1)]
    wide = ";".join(header) + "\r\n" + ";" * imports.MAX_COLUMNS + "x"
    with pytest.raises(imports.ImportFileError, match="dati nella colonna 201"):
        imports.read_table(content=wide.encode(), filename="f.csv")
    # empty cells past the last column are no data: accepted
    blank = ";".join(header) + "\r\n" + "a" + ";" * (imports.MAX_COLUMNS + 50)
    assert len(imports.read_table(content=blank.encode(), filename="f.csv").rows) == 1
    cells = "".join(inline(f"{column_letters(i)}2", "x") for i in (1, imports.MAX_COLUMNS + 1))
    sheet = f'<row r="1">{inline("A1", "a")}</row><row r="2">{cells}</row>'
    with pytest.raises(imports.ImportFileError, match="dati nella colonna 201"):
        imports.read_table(content=xlsx_file(sheet), filename="f.xlsx")
    rows = ODS_HEADER + table_row(text_cell("x") + empty_cell(imports.MAX_COLUMNS) + text_cell("y"))
    with pytest.raises(imports.ImportFileError, match="dati nella colonna 202"):
        imports.read_table(content=ods_file(rows), filename="f.ods")
    many = ODS_HEADER + table_row(text_cell("1") + text_cell("2"), imports.MAX_ROWS + 1)
    with pytest.raises(imports.ImportFileError, match=re.escape("più di 5.000 righe")):
        imports.read_table(content=ods_file(many), filename="f.ods")
    enough = ODS_HEADER + table_row(text_cell("1") + text_cell("2"), imports.MAX_ROWS)
    assert len(imports.read_table(content=ods_file(enough), filename="f.ods").rows) == 5000


def test_blank_rows_and_cells_are_counted_not_refused():
    """LibreOffice writes the rest of a sheet as repeated blank rows and cells; Excel writes
    formatted empty cells far below the data: none of that is refused."""
    rows = (
        ODS_HEADER
        + table_row(empty_cell(16384), 1048000)
        + table_row(text_cell("consuntivo") + empty_cell(16000))
    )
    with pytest.raises(imports.ImportFileError, match=re.escape("dati alla riga 1.048.002")):
        imports.read_table(content=ods_file(rows), filename="f.ods")
    trailing = (
        ODS_HEADER
        + table_row(text_cell("consuntivo") + text_cell("3") + empty_cell(16382))
        + table_row(empty_cell(16384), 1048570)
    )
    table = imports.read_table(content=ods_file(trailing), filename="f.ods")
    assert [(r.number, r.cells) for r in table.rows] == [
        (2, {"periodo": "consuntivo", "valore": "3"})
    ]
    formatted = (
        f'<row r="1">{inline("A1", "periodo")}</row><row r="2">{inline("A2", "consuntivo")}'
        '<c r="XFD2" s="0"/></row><row r="900000"><c r="A900000" s="0"/></row>'
    )
    table = imports.read_table(
        content=xlsx_file(formatted, dimension="A1:XFD900000"), filename="f.xlsx"
    )
    assert [(r.number, r.cells) for r in table.rows] == [(2, {"periodo": "consuntivo"})]
    # data rows may be spread over twice the rows: blank rows in between are no data
    spread = f'<row r="1">{inline("A1", "periodo")}</row><row r="10001">{inline("A10001", "x")}'
    assert len(imports.read_table(content=xlsx_file(spread + "</row>"), filename="f.xlsx").rows)
    beyond = f'<row r="1">{inline("A1", "periodo")}</row><row r="10002">{inline("A10002", "x")}'
    with pytest.raises(imports.ImportFileError, match=re.escape("dati alla riga 10.002")):
        imports.read_table(content=xlsx_file(beyond + "</row>"), filename="f.xlsx")
    with pytest.raises(imports.ImportFileError, match="più grande di un foglio"):
        imports.read_table(
            content=xlsx_file(spread + "</row>", dimension="A1:A2000000"), filename="f.xlsx"
        )


# ---------------------------------------------------------------------- repeats, text, NUL


@pytest.mark.parametrize(
    "repeat", ["abc", "-3", "0", "99999999999", "1e3", "", " 2", "٣", "grid+1"]
)
def test_an_ods_repeat_that_is_no_whole_number_of_the_grid_is_refused(
    client, cycle_2019, controllo, repeat
):
    """odfpy's int() of "abc" was a 500; a negative or huge one was taken as it is."""
    cells_repeat, rows_repeat = ("16385", "1048577") if repeat == "grid+1" else (repeat, repeat)
    cells = ods_file(ODS_HEADER + table_row(text_cell("consuntivo") + empty_cell(cells_repeat)))
    rows = ods_file(ODS_HEADER + table_row(text_cell("consuntivo") + text_cell("1"), rows_repeat))
    spaces = ods_file(ODS_HEADER + table_row(text_cell(f'a<text:s text:c="{cells_repeat}"/>')))
    client.force_login(controllo)
    for content in (cells, rows) if repeat in ("0", "grid+1") else (cells, rows, spaces):
        response = upload(client, content, "valori.ods", "valori")
        assert response.status_code == 200 and "report" not in response.context
        assert "non è un foglio ODS leggibile: una ripetizione" in response.content.decode()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("consuntivo\x00", "U+0000"),
        ("nota\x07con campanello", "U+0007"),
        ("\x1b[31mrosso", "U+001B"),
        ("fine\x7f", "U+007F"),
        ("â\x82¬", "U+0082"),
    ],
)
def test_a_control_character_in_a_cell_is_a_row_error_of_the_dry_run(
    client, cycle_2019, controllo, cell, message
):
    client.force_login(controllo)
    target = target_of(cycle_2019, "registro-imprese", "at_least")
    rows = [value_row(target, "3", nota="prima riga"), value_row(target, "4", nota=cell)]
    rows[1]["periodo"] = "monitoraggio"
    before = snapshot(cycle_2019)
    response = upload(client, values_file(rows), "valori.csv", "valori")
    report = response.context["report"]
    errors = [(i.row, i.column) for i in report.invalid]
    assert errors == [(3, "nota")]
    assert message in report.invalid[0].message and "carattere di controllo" in (
        report.invalid[0].message
    )
    html = response.content.decode()
    assert "Conferma e applica" not in html and message in html
    refused = confirm(client, response)
    assert refused.status_code == 200 and refused.context["failed"]
    assert snapshot(cycle_2019) == before


def test_nul_in_the_plan_is_a_row_error_and_never_reaches_the_database(cycle_2019, controllo):
    rows = imports.plan_rows(cycle=cycle_2019)[:3]
    rows[1]["obiettivo_titolo"] = "Titolo\x00 con NUL"
    rows[2]["note"] = "riga\tcon tabulazione\ne a capo\r\n"  # allowed
    table = imports.read_table(
        content=rendered(list(imports.PLAN_COLUMNS), rows, "csv"), filename="piano.csv"
    )
    assert [(i.row, i.column) for i in table.invalid] == [(3, "obiettivo_titolo")]
    assert table.rows[1].cells["obiettivo_titolo"] == "Titolo con NUL"  # not sent anywhere
    report = imports.plan_import(cycle=cycle_2019, table=table, user=controllo, dry_run=False)
    assert not report.applied and (3, "obiettivo_titolo") in {
        (i.row, i.column) for i in report.invalid
    }


def test_a_text_over_the_cell_limit_is_refused():
    long = "x" * (imports.MAX_CELL_CHARS + 1)
    for content, fmt in (
        (f"periodo;nota\r\nconsuntivo;{long}".encode(), "csv"),
        (
            xlsx_file(
                f'<row r="1">{inline("A1", "nota")}</row><row r="2">{inline("A2", long)}</row>'
            ),
            "xlsx",
        ),
        (ods_file(table_row(text_cell("nota")) + table_row(text_cell(long))), "ods"),
    ):
        with pytest.raises(imports.ImportFileError, match=re.escape("supera 32.767 caratteri")):
            imports.read_table(content=content, filename=f"f.{fmt}")


# ------------------------------------------------------------------------ XML: DTDs, entities

_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>'
)


@pytest.mark.parametrize("entity", ["laughs", "external", "parameter"])
def test_dtds_and_entities_are_refused(tmp_path, entity):
    """Regression guards: odfpy (defusedxml) and openpyxl refused these before the streaming
    readers; they still do, and no entity is ever resolved."""
    secret = tmp_path / "segreto.txt"
    secret.write_text("PAROLA-SEGRETA")
    prolog, reference = {
        "laughs": (_LAUGHS, "&lol9;"),
        "external": (f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;"),
        "parameter": (
            f'<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
            "x",
        ),
    }[entity]
    ods = ods_file(table_row(text_cell("periodo")) + table_row(text_cell(reference)), prolog=prolog)
    sheet = (
        f'<?xml version="1.0"?>{prolog}<worksheet xmlns="{_MAIN}"><sheetData><row r="1">'
        f'{inline("A1", "periodo")}</row><row r="2">{inline("A2", reference)}</row></sheetData>'
        "</worksheet>"
    )
    xlsx = xlsx_file("")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            target.writestr(item, data)
    for content, fmt in ((ods, "ods"), (buffer.getvalue(), "xlsx")):
        started = time.process_time()
        with pytest.raises(imports.ImportFileError) as refused:
            imports.read_table(content=content, filename=f"f.{fmt}")
        assert time.process_time() - started < 1
        assert f"non è un foglio {fmt.upper()} leggibile" in " ".join(refused.value.messages)
        assert "PAROLA-SEGRETA" not in " ".join(refused.value.messages)


def test_the_zip_bomb_limit_still_holds(monkeypatch):
    monkeypatch.setattr(imports, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(imports.ImportFileError, match="troppo grande una volta decompresso"):
        imports.read_table(content=ods_file(table_row(text_cell("x" * 20_000))), filename="f.ods")


def test_the_largest_ods_of_numbers_is_accepted_within_the_goals():
    """5,000 rows of 200 distinct numbers (a million values, 2.5 MB packed, 53 MB of XML): the
    most memory an accepted spreadsheet can take."""
    content = ods_of_numbers(imports.MAX_ROWS, imports.MAX_COLUMNS)
    figures = read_in_child(content, "ods")
    report_figures("ods 5.000 × 200 numeri", len(content), figures)
    assert figures["outcome"] == f"accepted: {imports.MAX_ROWS} rows"
    assert figures["peak"] < MEMORY_GOAL
    assert figures["cpu"] < TIME_GOAL


def ods_of_numbers(rows: int, columns: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        with archive.open("content.xml", "w") as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8"?><o:document-content '
                b'xmlns:o="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                b'xmlns:t="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
                b'xmlns:x="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
                b"<o:body><o:spreadsheet><t:table><t:table-row>"
            )
            for i in range(columns):
                out.write(
                    f'<t:table-cell o:value-type="string"><x:p>c{i}</x:p></t:table-cell>'.encode()
                )
            out.write(b"</t:table-row>")
            number = 0
            for _ in range(rows):
                cells = []
                for _ in range(columns):
                    number += 1
                    cells.append(f'<t:table-cell o:value-type="float" o:value="{number}"/>')
                out.write(("<t:table-row>" + "".join(cells) + "</t:table-row>").encode())
            out.write(b"</t:table></o:spreadsheet></o:body></o:document-content>")
    return buffer.getvalue()


# --------------------------------------- the streaming readers read what openpyxl and odfpy read


def reference_matrix(content: bytes, fmt: str) -> list:
    """The rows as the readers before issue 10 gave them (openpyxl's whole workbook, odfpy's
    document model), for files within the limits."""
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(content), data_only=True)
        sheet = book.worksheets[0]
        matrix = []
        for row in sheet.iter_rows(max_col=min(sheet.max_column, imports.MAX_COLUMNS)):
            values = []
            for cell in row:
                value = cell.value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
                    if "%" in re.sub(r'"[^"]*"|\\.', "", str(cell.number_format or "")):
                        number *= 100
                    value = number
                elif isinstance(value, str) and not value.strip():
                    value = None
                values.append(value)
            if any(v is not None for v in values):
                matrix.append((row[0].row, values))
        return matrix
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load

    def attribute(element, name):
        try:
            return element.getAttribute(name)
        except (AttributeError, ValueError):
            return None

    def rows_of(element):
        for child in element.childNodes:
            if child.qname == (TABLENS, "table-row"):
                yield child
            elif child.qname in (
                (TABLENS, "table-header-rows"),
                (TABLENS, "table-rows"),
                (TABLENS, "table-row-group"),
            ):
                yield from rows_of(child)

    def value_of(cell):
        kind = attribute(cell, "valuetype")
        with contextlib.suppress(InvalidOperation):
            if kind in ("float", "currency", "percentage"):
                number = Decimal(attribute(cell, "value") or "")
                return number * 100 if kind == "percentage" else number
        with contextlib.suppress(ValueError):
            if kind == "date":
                return dt.date.fromisoformat((attribute(cell, "datevalue") or "")[:10])
        if kind == "boolean":
            return attribute(cell, "booleanvalue") == "true"
        text = "\n".join(
            teletype.extractText(node) for node in cell.childNodes if node.qname == (TEXTNS, "p")
        )
        return text if text.strip() else None

    document = load(io.BytesIO(content))
    sheet = next(n for n in document.spreadsheet.childNodes if n.qname == (TABLENS, "table"))
    matrix, number = [], 0
    for row in rows_of(sheet):
        repeat = int(attribute(row, "numberrowsrepeated") or 1)
        values, pending = [], 0
        for cell in row.childNodes:
            if cell.qname not in ((TABLENS, "table-cell"), (TABLENS, "covered-table-cell")):
                continue
            times = int(attribute(cell, "numbercolumnsrepeated") or 1)
            value = value_of(cell)
            if value is None:
                pending += times
                continue
            values += [None] * pending + [value] * times
            pending = 0
        if not values:
            number += repeat
            continue
        for _ in range(repeat):
            number += 1
            matrix.append((number, values))
    return matrix


def rich_xlsx(epoch_1904: bool = False) -> bytes:
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    book = openpyxl.Workbook()
    if epoch_1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    sheet.append(["Codice target", "Periodo", "Valore", "Nota", "Data", "Durata", "Sì/no"])
    sheet.append([412, "consuntivo", 0.827, "  ", dt.datetime(2019, 7, 15), 1.5, True])
    sheet["C2"].number_format = "0.0%"
    sheet["F2"].number_format = "[h]:mm"
    sheet.append([])
    sheet.append([413, "Consuntivo al 31.12.2019", 75, "=1+1", dt.date(2019, 3, 18), 0.25, False])
    sheet["C4"].number_format = '0" %"'
    sheet["E4"].number_format = "dd/mm/yyyy"
    sheet["F4"].number_format = "hh:mm"
    sheet["D5"] = CellRichText(["testo ", TextBlock(InlineFont(b=True), "in grassetto")])
    sheet["A5"] = 1e-7
    sheet["B5"] = "riga\ncon a capo"
    sheet["C5"] = 123456789012
    sheet["G7"] = "ultima colonna"
    sheet["A8"] = -0.0
    sheet.append([])
    second = book.create_sheet("altro")
    second.append(["non letto"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rich_ods() -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import (
        CoveredTableCell,
        Table,
        TableCell,
        TableHeaderRows,
        TableRow,
        TableRowGroup,
    )
    from odf.text import LineBreak, P, S, Span, Tab

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Foglio1")
    header = TableHeaderRows()
    row = TableRow()
    for name in ("codice_target", "periodo", "valore", "nota", "data", "fatto"):
        cell = TableCell(valuetype="string")
        cell.addElement(P(text=name))
        row.addElement(cell)
    header.addElement(row)
    sheet.addElement(header)
    group = TableRowGroup()
    row = TableRow(numberrowsrepeated=2)
    row.addElement(TableCell(valuetype="float", value="412"))
    row.addElement(TableCell(numbercolumnsrepeated=1))
    row.addElement(TableCell(valuetype="percentage", value="0.827"))
    note = TableCell(valuetype="string")
    paragraph = P(text="prima")
    paragraph.addElement(S(c=3))
    paragraph.addElement(Span(text="parte"))
    paragraph.addElement(Tab())
    paragraph.addElement(LineBreak())
    note.addElement(paragraph)
    note.addElement(P(text="seconda riga"))
    row.addElement(note)
    row.addElement(TableCell(valuetype="date", datevalue="2019-07-15T10:00:00"))
    row.addElement(TableCell(valuetype="boolean", booleanvalue="true"))
    row.addElement(TableCell(numbercolumnsrepeated=1000))
    group.addElement(row)
    sheet.addElement(group)
    sheet.addElement(TableRow(numberrowsrepeated=3))
    row = TableRow()
    row.addElement(TableCell(valuetype="currency", value="1050.5"))
    covered = CoveredTableCell(valuetype="string")
    covered.addElement(P(text="coperta"))
    row.addElement(covered)
    row.addElement(TableCell(valuetype="float", value="non un numero"))
    spaces = TableCell(valuetype="string")
    spaces.addElement(P(text="   "))
    row.addElement(spaces)
    sheet.addElement(row)
    sheet.addElement(TableRow(numberrowsrepeated=1048000))
    document.spreadsheet.addElement(sheet)
    other = Table(name="Foglio2")
    other.addElement(TableRow())
    document.spreadsheet.addElement(other)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def shared_strings_xlsx() -> bytes:
    """As Excel writes it: shared strings (runs, phonetic runs, spaces kept), number formats of
    the styles (custom percent and date), cells and rows without their reference."""
    strings = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="6" uniqueCount="6">'
        "<si><t>codice_target</t></si><si><t>periodo</t></si><si><t>valore</t></si>"
        '<si><r><t>con</t></r><r><rPr><b/></rPr><t xml:space="preserve"> stile</t></r>'
        '<rPh sb="0" eb="1"><t>fonetica</t></rPh></si>'
        '<si><t xml:space="preserve">  spazi  </t></si><si><t>a_x005F_x000D_b</t></si></sst>'
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}"><numFmts count="2">'
        '<numFmt numFmtId="164" formatCode="0.0&quot; pt&quot;%"/>'
        '<numFmt numFmtId="165" formatCode="d/m/yyyy"/></numFmts>'
        '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
        '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/>'
        '<xf numFmtId="10"/><xf numFmtId="49"/></cellXfs></styleSheet>'
    )
    sheet = (
        '<row r="1" spans="1:4"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="s"><v>2</v></c><c r="D1" t="inlineStr"><is><t>nota</t></is></c></row>'
        '<row r="2"><c r="A2"><v>412</v></c><c r="B2" t="s"><v>3</v></c><c r="C2" s="1">'
        '<v>0.5</v></c><c r="D2" t="s"><v>4</v></c></row>'
        '<row><c><v>413</v></c><c t="str"><f>A1</f><v>calcolato</v></c>'
        '<c s="3"><v>0.25</v></c><c t="s"><v>5</v></c></row>'
        '<row r="5"><c r="A5" s="2"><v>43661</v></c><c r="B5" t="e"><v>#N/A</v></c>'
        '<c r="C5" t="b"><v>1</v></c><c r="D5" t="d"><v>2019-03-18T00:00:00</v></c></row>'
        '<row r="6"><c r="A6" s="4"><v>7</v></c><c r="C6" t="s"><v></v></c></row>'
    )
    return xlsx_file(
        sheet,
        dimension="A1:D6",
        parts={"xl/sharedStrings.xml": strings, "xl/styles.xml": styles},
    )


def parity_files(cycle) -> list[tuple[str, bytes, str]]:
    files = [(path.name, path.read_bytes(), path.suffix[1:]) for path in sorted(SAMPLES.iterdir())]
    for fmt in ("xlsx", "ods"):
        files.append((f"piano.{fmt}", imports.plan_export(cycle=cycle, format=fmt), fmt))
        files.append((f"valori.{fmt}", imports.values_export(cycle=cycle, format=fmt), fmt))
    files += [
        ("celle.xlsx", rich_xlsx(), "xlsx"),
        ("celle-1904.xlsx", rich_xlsx(epoch_1904=True), "xlsx"),
        ("celle.ods", rich_ods(), "ods"),
        ("stringhe.xlsx", shared_strings_xlsx(), "xlsx"),
    ]
    return [f for f in files if f[2] in ("xlsx", "ods")]


def test_the_streaming_readers_give_the_values_of_openpyxl_and_odfpy(cycle_2019):
    from performance.services.imports.reading import _table_from_matrix

    for name, content, fmt in parity_files(cycle_2019):
        ours = imports.read_table(content=content, filename=name)
        theirs = _table_from_matrix(reference_matrix(content, fmt))
        assert ours.columns == theirs.columns, name
        assert [(r.number, r.cells) for r in ours.rows] == [
            (r.number, r.cells) for r in theirs.rows
        ], name
    shared = imports.read_table(content=shared_strings_xlsx(), filename="stringhe.xlsx")
    assert [r.cells for r in shared.rows][:2] == [
        {"codice_target": 412, "periodo": "con stile", "valore": 50, "nota": "  spazi  "},
        {"codice_target": 413, "periodo": "calcolato", "valore": 25, "nota": "a_x000D_b"},
    ]
    rich = imports.read_table(content=rich_ods(), filename="celle.ods")
    assert rich.rows[0].cells["nota"] == "prima   parte\t\n\nseconda riga"
    assert [r.number for r in rich.rows] == [2, 3, 7]


# ------------------------------------------------------------ a pending import is applied once


def plan_with_new_rows(cycle, count: int = 3) -> bytes:
    rows = imports.plan_rows(cycle=cycle)[:count]
    for number, row in enumerate(rows):
        row["codice_target"] = ""
        row["target_testo"] = f"≥ {90 + number} (nuovo)"
    return rendered(list(imports.PLAN_COLUMNS), rows, "csv")


def targets_without_value(cycle, count: int) -> list[Target]:
    """Targets with no value yet for the "monitoraggio" period (2019 has none for it)."""
    return list(
        Target.objects.filter(indicator__objective__cycle=cycle, rule__kind="at_least")
        .exclude(actuals__period__key="monitoraggio")
        .order_by("id")[:count]
    )


def values_with_new_rows(cycle) -> bytes:
    targets = targets_without_value(cycle, 2)
    return values_file([value_row(t, "5", periodo="monitoraggio") for t in targets])


def answer(client, token: str, **extra) -> tuple[int, str]:
    """Confirm (or cancel) ``token``: the status after the redirect and the page's text."""
    response = client.post(urls()["confirm"], {"token": token, **extra}, follow=True)
    return response.status_code, response.content.decode()


def posted(client, token: str, **extra) -> str:
    """The page after confirming (or cancelling) ``token``, with its message."""
    status, page = answer(client, token, **extra)
    assert status == 200
    return page


def counts() -> tuple[int, ...]:
    return (
        Objective.objects.count(),
        Indicator.objects.count(),
        Target.objects.count(),
        Actual.objects.count(),
        Target.history.count(),
        Actual.history.count(),
    )


@pytest.mark.parametrize("kind", ["piano", "valori"])
def test_an_import_confirmed_twice_is_applied_once(client, cycle_2019, controllo, media_root, kind):
    client.force_login(controllo)
    content = (plan_with_new_rows if kind == "piano" else values_with_new_rows)(cycle_2019)
    response = upload(client, content, f"{kind}.csv", kind)
    token = response.context["token"]
    assert response.context["report"].is_valid
    before = counts()
    page = posted(client, token)
    assert "Importazione completata" in page
    applied = counts()
    assert applied[2 if kind == "piano" else 3] == before[2 if kind == "piano" else 3] + (
        3 if kind == "piano" else 2
    )
    pending = PendingImport.objects.get(token=token)
    assert (pending.state, pending.user, pending.kind, pending.format) == (
        "applied",
        controllo,
        kind,
        "csv",
    )
    assert pending.finished_at is not None and "nuovi" in pending.outcome
    assert pending.size == len(content) and pending.original_name == f"{kind}.csv"
    assert list((media_root / imports.PENDING_FOLDER).iterdir()) == []

    page = posted(client, token)  # the same confirmation again: a double click
    assert "Importazione già applicata" in page
    assert "Importazione completata" not in page
    page = posted(client, token, annulla="1")
    assert "Importazione già applicata" in page
    assert counts() == applied


def test_a_cancelled_or_expired_import_is_not_applied(client, cycle_2019, controllo, media_root):
    client.force_login(controllo)
    before = counts()
    cancelled = upload(client, plan_with_new_rows(cycle_2019), "piano.csv", "piano")
    page = posted(client, cancelled.context["token"], annulla="1")
    assert "Importazione annullata: nessuna modifica applicata." in page
    page = posted(client, cancelled.context["token"])
    assert "Importazione annullata" in page and "completata" not in page

    late = upload(client, plan_with_new_rows(cycle_2019), "piano.csv", "piano")
    PendingImport.objects.filter(token=late.context["token"]).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    page = posted(client, late.context["token"])
    assert "Importazione scaduta (più di 24 ore dal caricamento)" in page
    assert PendingImport.objects.get(token=late.context["token"]).state == "cancelled"
    assert counts() == before
    assert list((media_root / imports.PENDING_FOLDER).iterdir()) == []


def test_stale_imports_are_cleaned_up_at_the_next_upload(client, cycle_2019, controllo, media_root):
    client.force_login(controllo)
    first = upload(client, plan_with_new_rows(cycle_2019), "piano.csv", "piano")
    other = Client()
    other.force_login(controllo)  # another session: the first upload stays pending
    stuck = upload(other, plan_with_new_rows(cycle_2019, 2), "piano.csv", "piano")
    PendingImport.objects.filter(token=stuck.context["token"]).update(state="applying")
    PendingImport.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    folder = media_root / imports.PENDING_FOLDER
    orphan = folder / ("0" * 32 + ".csv")
    orphan.write_bytes(b"x")
    old = time.time() - 25 * 3600
    os.utime(orphan, (old, old))
    fresh = upload(client, plan_with_new_rows(cycle_2019, 1), "piano.csv", "piano")
    states = dict(PendingImport.objects.values_list("token", "state"))
    assert states == {
        first.context["token"]: "cancelled",
        stuck.context["token"]: "failed",
        fresh.context["token"]: "pending",
    }
    assert [p.name for p in folder.iterdir()] == [f"{fresh.context['token']}.csv"]


def test_the_token_is_the_uploaders_only_and_the_file_must_be_unchanged(
    client, cycle_2019, controllo, referent, media_root
):
    client.force_login(controllo)
    response = upload(client, values_with_new_rows(cycle_2019), "valori.csv", "valori")
    token = response.context["token"]
    before = counts()
    intruder = Client()
    intruder.force_login(referent)
    page = posted(intruder, token)
    assert "Nessuna importazione in attesa di conferma" in page
    page = posted(intruder, token, annulla="1")
    assert "Nessuna importazione in attesa di conferma" in page
    assert PendingImport.objects.get(token=token).state == "pending"
    (media_root / imports.PENDING_FOLDER / f"{token}.csv").write_bytes(b"periodo;valore\r\nx;1")
    page = posted(client, token)
    assert "Il file caricato non è più disponibile" in page
    assert PendingImport.objects.get(token=token).state == "failed"
    assert counts() == before


def test_a_unique_row_written_meanwhile_is_a_conflict_with_nothing_half_written(
    client, cycle_2019, controllo, monkeypatch
):
    """Another request records the same value (target, period) between the validation and the
    write: the database refuses the second row (IntegrityError, actual_unique_period), which
    was a 500; now the import says so and its first rows are rolled back too."""
    from performance.services.imports import values as values_import

    client.force_login(controllo)
    first, second = targets_without_value(cycle_2019, 2)
    response = upload(client, values_with_new_rows(cycle_2019), "valori.csv", "valori")
    real = values_import.actual_record
    calls = []

    def meanwhile(**kwargs):
        calls.append(kwargs["target"])
        if len(calls) == 2:  # the other request's row, then this import's
            Actual.objects.create(target=kwargs["target"], period=kwargs["period"])
            Actual.objects.create(target=kwargs["target"], period=kwargs["period"])
        return real(**kwargs)

    monkeypatch.setattr(values_import, "actual_record", meanwhile)
    before = counts()
    page = posted(client, response.context["token"])
    assert calls == [first, second]
    assert "Importazione non applicata: mentre si applicava il file" in page
    assert counts() == before
    assert not Actual.objects.filter(target=first, period__key="monitoraggio").exists()
    assert PendingImport.objects.get(token=response.context["token"]).state == "failed"


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason=(
        "SQLite: the test database is one in-memory connection shared by the threads, so two "
        "requests cannot run at the same time (the claim, one conditional UPDATE, is covered "
        "there by the confirmations in sequence)"
    ),
)


@needs_postgresql
@pytest.mark.parametrize("kind", ["piano", "valori"])
def test_two_confirmations_at_the_same_time_apply_the_import_once(committed_db, monkeypatch, kind):
    cycle = Cycle.objects.get(year=2019)
    user = make_user(roles.roles_sync(), "controllo-concorrente", roles.CONTROLLO)
    client = Client()
    client.force_login(user)
    content = (plan_with_new_rows if kind == "piano" else values_with_new_rows)(cycle)
    token = upload(client, content, f"{kind}.csv", kind).context["token"]
    before = counts()
    # both requests wait for each other before applying: without the claim both would apply
    together = threading.Barrier(2, timeout=3)
    real = imports.import_file

    def at_the_same_time(**kwargs):
        if not kwargs["dry_run"]:
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return real(**kwargs)

    monkeypatch.setattr(imports, "import_file", at_the_same_time)
    answers: list = [None, None]

    def confirmation(index: int) -> None:
        browser = Client(raise_request_exception=False)
        browser.cookies = copy.deepcopy(client.cookies)
        try:
            answers[index] = answer(browser, token)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirmation, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [status for status, _ in answers] == [200, 200]
    pages = [page for _, page in answers]
    assert sum("Importazione completata" in page for page in pages) == 1
    assert (
        sum(
            "Importazione già in corso" in page or "Importazione già applicata" in page
            for page in pages
        )
        == 1
    )
    after = counts()
    if kind == "piano":
        assert after[2] == before[2] + 3 and after[4] == before[4] + 3
    else:
        assert after[3] == before[3] + 2 and after[5] == before[5] + 2
    assert PendingImport.objects.get(token=token).state == "applied"
