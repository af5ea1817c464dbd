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

The package: `columns` (the formats' columns and vocabularies), `common` (kinds, formats, the
report, formula escaping, reading a cell), `reading` (a file into a `Table`, the size limits),
`exports` (the exports and `render_table`), `plan` (`plan_import`), `values` (`values_import`);
`import_file` is here. Everything is used as ``performance.services.imports.<name>``: setting a
size limit here (``MAX_UPLOAD_BYTES``...) takes effect in `reading`, which reads them from here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from organization.models import Cycle
from performance.services.imports.columns import (
    PLAN_COLUMNS,
    RULE_NAMES,
    VALUE_COLUMNS,
    column_key,
    rule_kind,
)
from performance.services.imports.common import (
    FORMATS,
    KINDS,
    PLAN,
    VALUES,
    ImportFileError,
    ImportReport,
    InvalidRow,
    RowChange,
    escape_formula,
    unescape_formula,
)
from performance.services.imports.common import _number as _number
from performance.services.imports.common import _plain_number as _plain_number
from performance.services.imports.common import _RowError as _RowError
from performance.services.imports.common import _text as _text
from performance.services.imports.exports import (
    CONTENT_TYPES,
    plan_export,
    plan_rows,
    render_table,
    value_hint,
    values_export,
    values_rows,
)
from performance.services.imports.plan import plan_import
from performance.services.imports.reading import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_BYTES,
    SheetRow,
    Table,
    file_format,
    read_table,
)
from performance.services.imports.reading import _clean as _clean
from performance.services.imports.values import _parse_value as _parse_value
from performance.services.imports.values import values_import

# The private helpers imported above as themselves (_number, _text...) are called directly by
# tests/test_imports.py and tests/test_parsers_properties.py.
__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "KINDS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_UNPACKED_BYTES",
    "MAX_UPLOAD_BYTES",
    "PLAN",
    "PLAN_COLUMNS",
    "RULE_NAMES",
    "VALUES",
    "VALUE_COLUMNS",
    "ImportFileError",
    "ImportReport",
    "InvalidRow",
    "RowChange",
    "SheetRow",
    "Table",
    "column_key",
    "escape_formula",
    "file_format",
    "import_file",
    "plan_export",
    "plan_import",
    "plan_rows",
    "read_table",
    "render_table",
    "rule_kind",
    "unescape_formula",
    "value_hint",
    "values_export",
    "values_import",
    "values_rows",
]


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
