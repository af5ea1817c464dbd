"""Imports and exports of the plan and of the actual values as flat spreadsheets (XLSX, ODS, CSV).

Two formats, documented in docs/import-format.md: the *piano* (one row per target, with its
objective, indicator and rule in readable columns) and the *valori* (one row per actual value).
Each is a django-import-export Resource (`resources.PlanResource`, `resources.ValuesResource`)
whose columns are Fields with Italian widgets (`widgets`). A file is read into a `Table` (header =
row 1, rows numbered as in the spreadsheet, within the limits) and imported by `plan_import` /
`values_import`, which run the Resource's import (its dry run, a result per row) and report what
would be created and changed and every invalid row (row number, column, Italian reason). With
``dry_run`` nothing is written; otherwise everything is applied in one transaction, or nothing if
any row is invalid. The admin imports and exports through the same Resources.

Exports (`plan_export`, `values_export`) are the Resources' exports, written by tablib; text cells
that a spreadsheet would run as a formula get a leading apostrophe (numbers stay numbers), and the
import removes it.

The package: `columns` (the formats' columns and vocabularies), `common` (kinds, formats, the
report, formula escaping, reading a cell), `widgets` (the Italian widgets), `resources` (the
Resources, the imports and exports, the admin's import formats), `reading` (a file into a
`Table`, the size limits), `sheets` (XLSX read by openpyxl after a bounded pre-check, ODS as a
stream, within the limits), `exports` (the rows of the exports), `plan` and `values` (the row
logic of each import), `pending` (a file waiting for its confirmation, applied at most once);
`import_file` is here. Everything is used as ``performance.services.imports.<name>``: setting a
size limit here (``MAX_UPLOAD_BYTES``...) takes effect in `reading` and `sheets`, which read them
from here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction

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
from performance.services.imports.exports import plan_rows, value_hint, values_rows
from performance.services.imports.pending import (
    PENDING_FOLDER,
    PENDING_MAX_AGE,
    ImportRefused,
    pending_apply,
    pending_cancel,
    pending_create,
    pending_get,
    pending_remove_stale,
)
from performance.services.imports.reading import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_XML_TAGS,
    SheetRow,
    Table,
    file_format,
    read_table,
)
from performance.services.imports.reading import _clean as _clean
from performance.services.imports.resources import (
    ADMIN_FORMATS,
    CONTENT_TYPES,
    PlanResource,
    ValuesResource,
    plan_export,
    plan_import,
    render_table,
    values_export,
    values_import,
)
from performance.services.imports.widgets import _parse_value as _parse_value

# The private helpers imported above as themselves (_number, _text...) are called directly by
# tests/performance/test_imports.py and tests/performance/test_parsers_properties.py.
__all__ = [
    "ADMIN_FORMATS",
    "CONTENT_TYPES",
    "FORMATS",
    "KINDS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_UNPACKED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_XML_TAGS",
    "PENDING_FOLDER",
    "PENDING_MAX_AGE",
    "PLAN",
    "PLAN_COLUMNS",
    "RULE_NAMES",
    "VALUES",
    "VALUE_COLUMNS",
    "ImportConflict",
    "ImportFileError",
    "ImportRefused",
    "ImportReport",
    "InvalidRow",
    "PlanResource",
    "RowChange",
    "SheetRow",
    "Table",
    "ValuesResource",
    "column_key",
    "escape_formula",
    "file_format",
    "import_file",
    "pending_apply",
    "pending_cancel",
    "pending_create",
    "pending_get",
    "pending_remove_stale",
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


CONFLICT = (
    "Importazione non applicata: mentre si applicava il file, un'altra operazione ha registrato "
    "gli stessi dati (per esempio lo stesso valore per lo stesso periodo). Nessuna modifica è "
    "stata applicata: caricare di nuovo il file per vederne la verifica aggiornata."
)


class ImportConflict(ImportFileError):
    """The database refused a write of the import (a unique row written meanwhile by another
    request): nothing of the import was applied."""


def import_file(
    *,
    cycle: Cycle,
    kind: str,
    content: bytes,
    filename: str,
    user: AbstractBaseUser | AnonymousUser | None,
    dry_run: bool,
) -> ImportReport:
    """Read ``content`` and import it as a plan or values file (ImportFileError if unreadable).
    Not a dry run: all or nothing, and an IntegrityError (another request wrote the same unique
    row between the validation and the write) is ImportConflict, with nothing written."""
    table = read_table(content=content, filename=filename)
    importers = {PLAN: plan_import, VALUES: values_import}
    if kind not in importers:
        raise ValueError(f"tipo di importazione sconosciuto: {kind}")
    if dry_run:
        return importers[kind](cycle=cycle, table=table, user=user, dry_run=True)
    try:
        with transaction.atomic():
            return importers[kind](cycle=cycle, table=table, user=user, dry_run=False)
    except IntegrityError:
        raise ImportConflict(CONFLICT) from None
