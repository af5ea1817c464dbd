"""The plan and values formats as django-import-export Resources (`PlanResource`,
`ValuesResource`): one class per format, its columns as Fields with the Italian widgets
(`widgets`), serving the exports (`Resource.export`, then tablib writes XLSX, ODS or CSV) and the
imports (`Resource.import_data`: its dry run, its row results and invalid rows, in one
transaction), for the workspace pages and the admin alike.

An import reads a file into a `Table` (`reading`: rows numbered as in the spreadsheet, within the
limits), turns it into a tablib Dataset (the row number in the column ``ROW``) and runs
``import_data``. Each row's outcome is a RowResult (new, update, skip, invalid with the
ValidationError of its column) and an entry of the Italian report (`ImportReport`: row, column,
reason). The rows are only validated during the pass (``use_bulk``: nothing is written row by
row); ``after_import`` writes them all if no row is invalid and this is no dry run, so the confirm
is all or nothing.

The plan's rows depend on each other (the rows of one objective or indicator are matched and
compared together), so `PlanResource.before_import` resolves the whole file (`plan._PlanImport`)
and `import_row` reports each row's part of it; the values' rows are independent and each is
validated by `import_row` (`values._ValuesImport`).
"""

from __future__ import annotations

import codecs
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import tablib
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from import_export import fields, instance_loaders, resources
from import_export.formats import base_formats
from import_export.results import RowResult

from organization import editability, permissions
from organization.models import Cycle, MeasurementPeriod
from performance.services.imports import plan as _plan
from performance.services.imports import values as _values
from performance.services.imports.columns import (
    _COMBINE,
    _DIRECTIONS,
    _OBJECTIVE_KINDS,
    _OBJECTIVE_STATUSES,
    _RULE_ALIASES,
    _TARGET_STATUSES,
    PLAN_COLUMNS,
    VALUE_COLUMNS,
)
from performance.services.imports.common import (
    FORMATS,
    KINDS,
    PLAN,
    VALUES,
    ImportReport,
    InvalidRow,
    RowChange,
    _show,
)
from performance.services.imports.exports import plan_rows, values_rows
from performance.services.imports.reading import SheetRow, Table, _check_columns, read_table
from performance.services.imports.widgets import (
    BooleanWidget,
    CellWidget,
    ChoiceWidget,
    DateWidget,
    NumberWidget,
    ValueWidget,
)

ROW = "__riga__"  # the dataset's column with the row number of the spreadsheet

_EXPORT_FORMATS = {
    "xlsx": base_formats.XLSX(),
    "ods": base_formats.ODS(),
    "csv": base_formats.CSV(),
}
CONTENT_TYPES = {name: fmt.get_content_type() for name, fmt in _EXPORT_FORMATS.items()}
CONTENT_TYPES["csv"] = "text/csv; charset=utf-8"


def _field(column: str, widget: CellWidget | None = None) -> fields.Field:
    return fields.Field(attribute=column, column_name=column, widget=widget or CellWidget())


def _resource_fields(columns: Iterable[str], widgets: dict[str, CellWidget]) -> dict[str, Any]:
    return {column: _field(column, widgets.get(column)) for column in columns}


def write_dataset(dataset: tablib.Dataset, fmt: str) -> bytes:
    """XLSX, ODS or CSV (";" separator, UTF-8 with BOM, decimal comma: what Excel in Italian
    expects) of an exported dataset."""
    if fmt not in FORMATS:
        raise ValueError(f"formato sconosciuto: {fmt}")
    if fmt == "csv":
        text = _EXPORT_FORMATS["csv"].export_data(dataset, delimiter=";")
        return codecs.BOM_UTF8 + text.encode("utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _EXPORT_FORMATS[fmt].export_data(dataset)


class FormatResource(resources.Resource):
    """A format's columns as Fields over rows as dicts (column -> value); the exports write
    them with the widgets, the imports report into an `ImportReport`."""

    kind: ClassVar[str] = ""
    columns: ClassVar[dict[str, str]] = {}

    class Meta:
        instance_loader_class = instance_loaders.BaseInstanceLoader  # rows: the jobs match them
        use_bulk = True  # no write (nor savepoint) per row: after_import writes, all or nothing
        skip_diff = True
        report_skipped = True

    def __init__(
        self,
        *,
        cycle: Cycle | None = None,
        user: AbstractBaseUser | AnonymousUser | None = None,
        table: Table | None = None,
        report: ImportReport | None = None,
    ) -> None:
        super().__init__()
        self.cycle = cycle
        self.user = user
        self.table = table
        self.report = report
        self.scope: editability.EditScope | None = None
        self.dry_run = True

    @classmethod
    def get_display_name(cls) -> str:
        """The name of the Resource in the admin's forms."""
        return KINDS.get(cls.kind, cls.__name__)

    def get_export_order(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def export_bytes(self, rows: Iterable[dict[str, Any]], *, fmt: str, title: str) -> bytes:
        dataset = self.export(list(rows), fmt=fmt)
        dataset.title = title[:31]
        return write_dataset(dataset, fmt)

    def export(self, queryset: Any = None, **kwargs: Any) -> tablib.Dataset:
        """The rows (dicts of a format, or a queryset of the admin's changelist, read as the
        format's rows), written by the widgets for ``fmt`` (the admin: native cells for XLSX
        and ODS, text for CSV)."""
        if isinstance(queryset, QuerySet):
            queryset = self.rows_of(queryset)
        kwargs.setdefault("fmt", "xlsx" if kwargs.get("force_native_type") else "csv")
        return super().export(queryset, **kwargs)

    def rows_of(self, queryset: QuerySet) -> list[dict[str, Any]]:
        raise NotImplementedError

    # import --------------------------------------------------------------------------------
    def admit(self) -> bool:
        """Whether the table may be imported at all (the user, the cycle's state, the columns
        of the format); if not, the report says why (row 1)."""
        raise NotImplementedError

    def import_data(self, dataset: tablib.Dataset, dry_run: bool = False, **kwargs: Any) -> Any:
        """django-import-export's import (`import_data_inner`: before_import, import_row for
        each row, after_import), in a transaction rolled back on a dry run or an invalid row,
        after `admit`. The admin passes a dataset read by `ADMIN_FORMATS`
        (its table attached) and no report: both are made here."""
        assert self.cycle is not None
        if self.table is None:
            self.table = getattr(dataset, "table", None) or self._table_of(dataset)
        if self.report is None:
            self.report = ImportReport(
                kind=self.kind, year=self.cycle.year, dry_run=dry_run, rows=len(self.table.rows)
            )
            if not self.admit():
                return self._refused()
        for name in ("user", "raise_errors", "use_transactions", "collect_failed_rows"):
            kwargs.pop(name, None)  # the admin's: the resource has the user, this the rest
        kwargs.pop("rollback_on_validation_errors", None)
        self.dry_run = dry_run
        # one transaction (import_data would open a savepoint for before_import and another for
        # after_import besides its own): rolled back on a dry run or any invalid row
        with transaction.atomic():
            result = self.import_data_inner(dataset, dry_run, False, False, False, **kwargs)
            self._complete(result, dataset)
            if dry_run or result.has_errors() or result.has_validation_errors():
                transaction.set_rollback(True)
        return result

    def _complete(self, result: Any, dataset: tablib.Dataset) -> None:
        """The invalid rows of the Result numbered as in the spreadsheet, and with those that
        only the report has (cells with control characters, a write refused in after_import,
        the cycle's state changed meanwhile), so that the admin shows them too."""
        assert self.report is not None
        numbers = dataset[ROW] if len(dataset) else []
        for invalid in result.invalid_rows:
            if 0 < invalid.number <= len(numbers):
                invalid.number = int(numbers[invalid.number - 1])
        shown = {invalid.number for invalid in result.invalid_rows}
        self._add_invalid(result, [item for item in self.report.invalid if item.row not in shown])

    def _refused(self) -> Any:
        """A Result whose invalid rows are the report's (the file refused as a whole)."""
        assert self.report is not None
        result = self.get_result_class()()
        self._add_invalid(result, self.report.invalid)
        return result

    @staticmethod
    def _add_invalid(result: Any, items: Sequence[InvalidRow]) -> None:
        by_row: dict[int, dict[str, list[str]]] = {}
        for item in items:
            by_row.setdefault(item.row, {}).setdefault(item.column or NON_FIELD_ERRORS, [])
            by_row[item.row][item.column or NON_FIELD_ERRORS].append(item.message)
        for row, errors in by_row.items():
            result.append_invalid_row(row, {}, ValidationError(errors))

    @staticmethod
    def _table_of(dataset: tablib.Dataset) -> Table:
        columns = [h for h in dataset.headers if h != ROW]
        rows = []
        for number, values in enumerate(dataset.dict, start=2):
            cells = {c: values.get(c) for c in columns}
            rows.append(SheetRow(int(values.get(ROW) or number), cells))
        return Table(columns=columns, rows=rows)

    @staticmethod
    def dataset_of(table: Table) -> tablib.Dataset:
        """The rows of a table as a Dataset: its columns and the spreadsheet's row number."""
        dataset = tablib.Dataset(headers=[*table.columns, ROW])
        for row in table.rows:
            dataset.append([*(row.cells.get(c) for c in table.columns), row.number])
        return dataset

    def _check_import_id_fields(self, headers: Any) -> None:
        """The rows are matched by the format's own rules (codes, then contents)."""

    def _sheet_row(self, row: dict[str, Any]) -> SheetRow:
        return SheetRow(int(row[ROW]), {k: v for k, v in row.items() if k != ROW})

    @staticmethod
    def _row_result(import_type: str, errors: Sequence[tuple[str, str]] = ()) -> RowResult:
        result = RowResult()
        result.import_type = import_type
        if errors:
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            by_column: dict[str, list[str]] = {}
            for column, message in errors:
                by_column.setdefault(column or NON_FIELD_ERRORS, []).append(message)
            result.validation_error = ValidationError(by_column)
        return result


def _with_fields(name: str, columns: dict[str, Any]) -> type[FormatResource]:
    """A FormatResource with a Field per column (an attribute of the class, as the metaclass
    of Resource collects them): ``columns`` is what `_resource_fields` gives."""
    attrs: dict[str, Any] = {**columns, "__module__": __name__}
    return type(FormatResource)(name, (FormatResource,), attrs)


class ValuesResource(
    _with_fields(
        "ValuesFields",
        _resource_fields(
            VALUE_COLUMNS,
            {
                "valore": ValueWidget(),
                "data_rilevazione": DateWidget(),
                "rettifica_pct": NumberWidget(),
                "ripetizione": NumberWidget(),
            },
        ),
    )
):
    """The values format: one row per actual value (a target and a period)."""

    kind = VALUES
    columns = VALUE_COLUMNS

    class Meta(FormatResource.Meta):
        pass

    def rows_of(self, queryset: QuerySet) -> list[dict[str, Any]]:
        """The values format's rows of the actual values of ``queryset`` (the admin's)."""
        wanted = set(queryset.values_list("target_id", "period__key"))
        cycles = {c for c in queryset.values_list("target__indicator__objective__cycle", flat=True)}
        rows = []
        for cycle in Cycle.objects.filter(pk__in=cycles).order_by("year"):
            rows += [
                row
                for row in values_rows(cycle=cycle)
                if (row["codice_target"], row["periodo"]) in wanted
            ]
        return rows

    def admit(self) -> bool:
        user, cycle, table, report = self.user, self.cycle, self.table, self.report
        assert cycle is not None and table is not None and report is not None
        if user is not None and not (
            permissions.is_controllo(user) or permissions.is_referent(user)
        ):
            raise PermissionDenied("L'utente non può registrare valori.")
        self.scope = editability.edit_scope(cycle)
        if not self.scope.values:
            report.add_invalid(1, "", self.scope.values_refusal())
            return False
        if table.has("regola"):
            report.add_invalid(
                1, "", "il file contiene le colonne del piano: importarlo come piano"
            )
            return False
        if not _check_columns(table, report, VALUE_COLUMNS, ("periodo", "valore")):
            return False
        report.invalid.extend(table.invalid)  # cells with control characters
        return True

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        assert self.cycle is not None and self.table is not None and self.report is not None
        self.job = _values._ValuesImport(
            cycle=self.cycle, table=self.table, user=self.user, report=self.report
        )
        self.job.scope = self.scope
        self.job.resource = self
        self.pending: list[_values._ValueRow] = []
        self.seen: dict[tuple[int, int], int] = {}

    def import_row(self, row: dict[str, Any], instance_loader: Any, **kwargs: Any) -> RowResult:
        report = self.report
        assert report is not None
        sheet_row = self._sheet_row(row)
        try:
            value_row = self.job.row(sheet_row, self.seen)
        except _values._RowError as error:
            report.add_invalid(sheet_row.number, error.column, error.message)
            return self._row_result("", [(error.column, error.message)])
        except _values._MultipleErrors as errors:
            found = [(e.column, e.message) for e in errors.errors]
            for column, message in found:
                report.add_invalid(sheet_row.number, column, message)
            return self._row_result("", found)
        if value_row is None:
            report.skipped += 1
            return self._row_result(RowResult.IMPORT_TYPE_SKIP)
        target = value_row.target
        where = target.unit.name if target.unit else "Ente"
        label = _show(f"{target.indicator.name} – {where} – {target.text} ({value_row.period.key})")
        if value_row.current is None:
            report.created += 1
            report.changes.append(RowChange(value_row.number, "created", label, value_row.changes))
            import_type = RowResult.IMPORT_TYPE_NEW
        elif value_row.changes:
            report.changed += 1
            report.changes.append(RowChange(value_row.number, "changed", label, value_row.changes))
            import_type = RowResult.IMPORT_TYPE_UPDATE
        else:
            report.unchanged += 1
            return self._row_result(RowResult.IMPORT_TYPE_SKIP)
        self.pending.append(value_row)
        return self._row_result(import_type)

    def after_import(self, dataset: tablib.Dataset, result: Any, **kwargs: Any) -> None:
        report = self.report
        assert report is not None
        if report.invalid or self.dry_run:
            return
        for value_row in self.pending:
            try:
                self.job.apply(value_row)
            except ValidationError as error:
                for column, messages in _values._error_items(error):
                    for message in messages:
                        report.add_invalid(value_row.number, column, message)
        if report.invalid:
            transaction.set_rollback(True)
            return
        report.applied = True


class PlanResource(
    _with_fields(
        "PlanFields",
        _resource_fields(
            PLAN_COLUMNS,
            {
                **{
                    column: NumberWidget()
                    for column in (
                        "obiettivo_peso",
                        "baseline_valore",
                        "baseline_anno",
                        "peso",
                        "percentuale_pubblicata",
                        "soglia",
                        "variazione_pct",
                        "valore_partenza",
                        "scala_min",
                        "scala_max",
                        "n",
                        "minimo",
                        "obiettivo",
                        "punteggio_minimo",
                    )
                },
                "data_scadenza": DateWidget(),
                "riga_ripetuta": BooleanWidget(),
                "tipo_obiettivo": ChoiceWidget(_OBJECTIVE_KINDS, "tipo_obiettivo"),
                "obiettivo_stato": ChoiceWidget(_OBJECTIVE_STATUSES, "obiettivo_stato"),
                "stato": ChoiceWidget(_TARGET_STATUSES, "stato"),
                "direzione": ChoiceWidget(_DIRECTIONS, "direzione"),
                "regola": ChoiceWidget(_RULE_ALIASES, "regola"),
                "parti_combinazione": ChoiceWidget(_COMBINE, "parti_combinazione"),
            },
        ),
    )
):
    """The plan format: one row per target, with its objective, indicator and rule."""

    kind = PLAN
    columns = PLAN_COLUMNS

    class Meta(FormatResource.Meta):
        pass

    def rows_of(self, queryset: QuerySet) -> list[dict[str, Any]]:
        """The plan format's rows of the targets of ``queryset`` (the admin's)."""
        wanted = set(queryset.values_list("pk", flat=True))
        cycles = {c for c in queryset.values_list("indicator__objective__cycle", flat=True)}
        rows = []
        for cycle in Cycle.objects.filter(pk__in=cycles).order_by("year"):
            rows += [row for row in plan_rows(cycle=cycle) if row["codice_target"] in wanted]
        return rows

    def admit(self) -> bool:
        user, cycle, table, report = self.user, self.cycle, self.table, self.report
        assert cycle is not None and table is not None and report is not None
        if user is not None and not permissions.can_edit_plan(user, cycle):
            raise PermissionDenied("Solo il controllo di gestione può importare il piano.")
        scope = editability.edit_scope(cycle)
        if not scope.everything:
            report.add_invalid(
                1,
                "",
                scope.refusal() + " L'importazione del Piano non è disponibile in questo stato.",
            )
            return False
        if table.has("periodo") or table.has("valore"):
            report.add_invalid(
                1, "", "il file contiene le colonne dei valori: importarlo come valori"
            )
            return False
        if not _check_columns(table, report, PLAN_COLUMNS, ()):
            return False
        report.invalid.extend(table.invalid)  # cells with control characters
        return True

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        """The whole file, resolved: the rows of an objective or indicator go together."""
        assert self.cycle is not None and self.table is not None and self.report is not None
        self.job = _plan._PlanImport(
            cycle=self.cycle, table=self.table, user=self.user, report=self.report
        )
        self.job.resource = self
        self.job.parse()
        self.job.resolve()
        self.rows = {row.number: row for row in self.job.rows}

    def import_row(self, row: dict[str, Any], instance_loader: Any, **kwargs: Any) -> RowResult:
        report = self.report
        assert report is not None
        plan_row = self.rows[int(row[ROW])]
        for column, message in plan_row.errors:
            report.add_invalid(plan_row.number, column, message)
        if plan_row.errors:
            return self._row_result("", plan_row.errors)
        label = _plan._plan_row_label(plan_row)
        if plan_row.created:
            report.created += 1
            report.changes.append(RowChange(plan_row.number, "created", label))
            return self._row_result(RowResult.IMPORT_TYPE_NEW)
        if plan_row.changes:
            report.changed += 1
            report.changes.append(RowChange(plan_row.number, "changed", label, plan_row.changes))
            return self._row_result(RowResult.IMPORT_TYPE_UPDATE)
        report.unchanged += 1
        return self._row_result(RowResult.IMPORT_TYPE_SKIP)

    def after_import(self, dataset: tablib.Dataset, result: Any, **kwargs: Any) -> None:
        report = self.report
        assert report is not None and self.cycle is not None
        if report.invalid or self.dry_run:
            return
        # again, with the cycle's row locked until the commit (organization.editability): a
        # submission to the OIV meanwhile is seen here, one after it waits for this import
        scope = editability.edit_scope(self.cycle)
        if not scope.everything:
            report.add_invalid(1, "", scope.refusal())
            return
        self.job.apply()
        report.applied = True


def _import(
    resource: FormatResource, *, kind: str, cycle: Cycle, table: Table, dry_run: bool
) -> ImportReport:
    """Run a format's Resource over ``table``. An exception of the import (an IntegrityError:
    a unique row written meanwhile) is raised again once everything is rolled back, for
    import_file to report it."""
    report = resource.report = ImportReport(
        kind=kind, year=cycle.year, dry_run=dry_run, rows=len(table.rows)
    )
    if not resource.admit():
        return report
    result = resource.import_data(resource.dataset_of(table), dry_run=dry_run)
    if result.base_errors:
        raise result.base_errors[0].error
    return report


# ----------------------------------------------------------------------------- the imports


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
    resource = ValuesResource(cycle=cycle, user=user, table=table)
    return _import(resource, kind=VALUES, cycle=cycle, table=table, dry_run=dry_run)


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
    resource = PlanResource(cycle=cycle, user=user, table=table)
    return _import(resource, kind=PLAN, cycle=cycle, table=table, dry_run=dry_run)


# ------------------------------------------------------------------ the admin's import formats


class _LimitedFormat:
    """An import format of the admin that reads a file as the workspace pages do
    (`reading.read_table`: within the limits, rows numbered as in the spreadsheet)."""

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        content = in_stream.encode("utf-8") if isinstance(in_stream, str) else bytes(in_stream)
        table = read_table(content=content, filename=f"file.{self.get_extension()}")
        dataset = FormatResource.dataset_of(table)
        dataset.table = table  # with the cells refused for control characters
        return dataset


class AdminXLSX(_LimitedFormat, base_formats.XLSX):
    pass


class AdminODS(_LimitedFormat, base_formats.ODS):
    pass


class AdminCSV(_LimitedFormat, base_formats.CSV):
    pass


ADMIN_FORMATS = [AdminXLSX, AdminODS, AdminCSV]


# ----------------------------------------------------------------------------- the exports


def render_table(*, columns: Sequence[str], rows: Iterable[dict], fmt: str, title: str) -> bytes:
    """Write rows of any columns as XLSX, ODS or CSV, through a Resource of text cells (numbers
    stay numbers; text is escaped against formulas)."""
    if fmt not in FORMATS:
        raise ValueError(f"formato sconosciuto: {fmt}")
    table_resource = _with_fields("TableResource", _resource_fields(columns, {}))
    table_resource.columns = dict.fromkeys(columns, "")
    return table_resource().export_bytes(rows, fmt=fmt, title=title)


def plan_export(*, cycle: Cycle, format: str) -> bytes:
    if format not in FORMATS:
        raise ValueError(f"formato sconosciuto: {format}")
    return PlanResource(cycle=cycle).export_bytes(
        plan_rows(cycle=cycle), fmt=format, title=f"Piano {cycle.year}"
    )


def values_export(
    *,
    cycle: Cycle,
    format: str,
    period: MeasurementPeriod | None = None,
    unit_ids: set[int] | None = None,
) -> bytes:
    if format not in FORMATS:
        raise ValueError(f"formato sconosciuto: {format}")
    title = f"Valori {cycle.year}" + (f" {period.key}" if period else "")
    rows = values_rows(cycle=cycle, period=period, unit_ids=unit_ids)
    return ValuesResource(cycle=cycle).export_bytes(rows, fmt=format, title=title)
