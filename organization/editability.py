"""Whether the plan, the actual values and the Relazione of a cycle may change now.

One answer for every writer (the services of performance.services.entry, actuals, plan, imports
and reports.relazione.services; the views that show a form or hide a button), driven by the cycle's
state
(organization.models.Cycle.Status) and by what the OIV reopened:

- planning, monitoring, reporting: everything may change (who may change what is
  organization.permissions' business);
- submitted, validated, published: nothing may change. From the submission to the OIV on, the
  Relazione under review, then the validated and published one, must stay what the OIV saw; a
  correction after publication is an errata corrige (reports.workflow.services.errata_open),
  which brings the cycle back to "reporting" and ends in a new version;
- returned (the OIV sent the Relazione back with remarks): only the objectives and the Relazione
  sections the OIV reopened (remarks with ``reopen``), as recorded on the return
  (reports.models.workflow.CycleTransition.data). An objective reopens its indicators, targets
  (exclusions included) and the values of its targets; a section reopens its text and the context
  tables shown after it; ``FRONT_MATTER`` reopens title, subtitle and signatories.

``edit_scope(cycle)`` reads the state (one query, two when the cycle was returned);
``EditScope.refusal(...)`` is the Italian reason shown to the user ("" when allowed);
``ensure_editable(...)`` raises ReadOnlyError (a ValidationError) with that reason.

Writes and changes of state never cross: inside a transaction, ``edit_scope`` (and so
``ensure_editable``) reads the cycle's row with a shared lock held until the commit
(PostgreSQL ``FOR SHARE``; ``FOR UPDATE`` where the database has no shared lock; SQLite has one
writer at a time anyway). The workflow's transitions lock the same row ``FOR UPDATE``
(reports.workflow.services), so a submission to the OIV waits for the writes already checked,
and a write that starts after it sees the new state and is refused. Writers check inside their
transaction: ``with editing(cycle, objective=...):`` opens it, locks, checks, and yields the
scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction

from organization.models import Cycle

Status = Cycle.Status

OPEN_STATES = frozenset({Status.PLANNING, Status.MONITORING, Status.REPORTING})
CLOSED_STATES = frozenset({Status.SUBMITTED, Status.VALIDATED, Status.PUBLISHED})
FRONT_MATTER = "frontespizio"  # the Relazione's title, subtitle and signatories


class ReadOnlyError(ValidationError):
    """The cycle's state does not allow this change: nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="read_only")


_CLOSED_REASONS = {
    Status.SUBMITTED: (
        "il Piano, i valori rilevati e la Relazione non sono più modificabili mentre l'OIV "
        "esamina la Relazione (si potrà correggere solo ciò che l'OIV riaprirà restituendola "
        "con osservazioni)"
    ),
    Status.VALIDATED: (
        "il Piano, i valori rilevati e la Relazione validati non sono più modificabili: una "
        "correzione dopo la pubblicazione si fa con un'errata corrige, che produce una nuova "
        "versione"
    ),
    Status.PUBLISHED: (
        "il Piano, i valori rilevati e la Relazione pubblicati non sono più modificabili: una "
        "correzione si fa con un'errata corrige, che produce una nuova versione e lascia "
        "consultabile quella pubblicata"
    ),
}


@dataclass(frozen=True)
class EditScope:
    """What may change in a cycle now."""

    year: int
    status: str
    everything: bool
    objective_ids: frozenset[int] = frozenset()
    section_keys: frozenset[str] = frozenset()

    @property
    def status_label(self) -> str:
        return Status(self.status).label if self.status in Status.values else self.status

    @property
    def anything(self) -> bool:
        """Can anything at all change (a whole cycle, or something the OIV reopened)?"""
        return self.everything or bool(self.objective_ids or self.section_keys)

    @property
    def values(self) -> bool:
        """Can any actual value change (everything, or at least one reopened objective)?"""
        return self.everything or bool(self.objective_ids)

    @property
    def is_partial(self) -> bool:
        return not self.everything and self.anything

    def allows(self, *, objective_id: int | None = None, section_key: str | None = None) -> bool:
        if self.everything:
            return True
        if objective_id is not None and objective_id in self.objective_ids:
            return True
        return section_key is not None and section_key in self.section_keys

    def refusal(self, *, objective_id: int | None = None, section_key: str | None = None) -> str:
        """Why the change is refused, in Italian ("" when it is allowed). Without an objective
        or a section, the question is about the whole cycle (its structure, its rules)."""
        if self.allows(objective_id=objective_id, section_key=section_key):
            return ""
        if self.status == Status.RETURNED:
            if objective_id is not None:
                what = "questo obiettivo non è tra quelli riaperti"
            elif section_key is not None:
                what = "questa parte della Relazione non è tra quelle riaperte"
            else:
                what = "la struttura del Piano e le regole di misurazione restano chiuse"
            return (
                f"Il ciclo {self.year} è stato restituito dall'OIV con osservazioni: si possono "
                f"modificare solo gli obiettivi e le sezioni della Relazione che l'OIV ha "
                f"riaperto, e {what}."
            )
        reason = _CLOSED_REASONS.get(self.status, "non è modificabile")
        return f"Il ciclo {self.year} è nello stato «{self.status_label}»: {reason}."

    def values_refusal(self) -> str:
        """Why no actual value of the cycle may change ("" when some may)."""
        if self.values:
            return ""
        if self.status == Status.RETURNED:
            return (
                f"Il ciclo {self.year} è stato restituito dall'OIV con osservazioni senza "
                "riaprire alcun obiettivo: i valori non sono modificabili."
            )
        return self.refusal()

    def ensure(self, *, objective_id: int | None = None, section_key: str | None = None) -> None:
        reason = self.refusal(objective_id=objective_id, section_key=section_key)
        if reason:
            raise ReadOnlyError(reason)


Reopened = Callable[[int], tuple[frozenset[int], frozenset[str]]]
_reopened_source: Reopened | None = None


def reopened_source(source: Reopened) -> None:
    """Install what reads the objectives and sections reopened by a cycle's latest return. The
    workflow, a layer above, owns that record (reports.models.workflow.CycleTransition) and
    installs its reader when the app is ready (reports.apps); this module imports nothing of it."""
    global _reopened_source
    _reopened_source = source


def reopened(cycle_id: int) -> tuple[frozenset[int], frozenset[str]]:
    """The objectives and sections reopened by the cycle's latest return (one query; nothing
    when no workflow is installed)."""
    if _reopened_source is None:
        return frozenset(), frozenset()
    return _reopened_source(cycle_id)


def scope_for(*, year: int, status: str, cycle_id: int) -> EditScope:
    if status in OPEN_STATES:
        return EditScope(year=year, status=status, everything=True)
    if status == Status.RETURNED:
        objective_ids, section_keys = reopened(cycle_id)
        return EditScope(
            year=year,
            status=status,
            everything=False,
            objective_ids=objective_ids,
            section_keys=section_keys,
        )
    return EditScope(year=year, status=status, everything=False)


def edit_scope(cycle: Cycle | int, *, fresh: bool = True) -> EditScope:
    """What may change in ``cycle`` now. ``fresh`` reads the state from the database (one
    query; services do, so a stale instance never lets a write through); without it the
    instance's status is trusted (views, which have just loaded it)."""
    if isinstance(cycle, Cycle) and not fresh:
        return scope_for(year=cycle.year, status=cycle.status, cycle_id=cycle.pk)
    cycle_id = cycle.pk if isinstance(cycle, Cycle) else int(cycle)
    row = _state_row(cycle_id)
    if row is None:
        raise Cycle.DoesNotExist(f"ciclo {cycle_id} inesistente")
    year, status = row
    return scope_for(year=year, status=status, cycle_id=cycle_id)


def _state_row(cycle_id: int) -> tuple[int, str] | None:
    """(year, status) of the cycle; inside a transaction with the row locked until the commit
    (shared where the database can: concurrent writers do not wait for each other, only for a
    change of state, which locks the row for update)."""
    alias = router.db_for_write(Cycle)
    connection = connections[alias]
    if not connection.in_atomic_block:
        return Cycle.objects.filter(pk=cycle_id).values_list("year", "status").first()
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Cycle._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT year, status FROM {table} WHERE id = %s FOR SHARE", [cycle_id])
            row = cursor.fetchone()
        return tuple(row) if row else None
    queryset = Cycle.objects.using(alias).filter(pk=cycle_id)
    if connection.features.has_select_for_update:
        queryset = queryset.select_for_update()
    return queryset.values_list("year", "status").first()


def _id(value: models.Model | int | None) -> int | None:
    if value is None:
        return None
    return value.pk if isinstance(value, models.Model) else int(value)


def is_editable(
    cycle: Cycle | int,
    *,
    objective: models.Model | int | None = None,
    section_key: str | None = None,
    fresh: bool = True,
) -> bool:
    """May ``objective`` (its indicators, targets, values), ``section_key`` (a Relazione section
    and its tables, or FRONT_MATTER) or, with neither, the whole cycle change now?"""
    scope = edit_scope(cycle, fresh=fresh)
    return scope.allows(objective_id=_id(objective), section_key=section_key)


def ensure_editable(
    cycle: Cycle | int,
    *,
    objective: models.Model | int | None = None,
    section_key: str | None = None,
) -> EditScope:
    """ReadOnlyError with the Italian reason unless the change is allowed now (state read from
    the database). Returns the scope, for callers that check several rows."""
    scope = edit_scope(cycle)
    scope.ensure(objective_id=_id(objective), section_key=section_key)
    return scope


@contextmanager
def editing(
    cycle: Cycle | int,
    *,
    objective: models.Model | int | None = None,
    section_key: str | None = None,
    for_update: bool = False,
) -> Iterator[EditScope]:
    """A transaction for a change that ``ensure_editable`` allows: the cycle's row stays locked
    (shared) until the commit, so no change of state happens between the check and the write.
    ``for_update``: the change writes the cycle's own row (its rules), which is then locked for
    update from the start (two shared locks both upgraded would deadlock)."""
    with transaction.atomic():
        if for_update:
            cycle_id = cycle.pk if isinstance(cycle, Cycle) else int(cycle)
            Cycle.objects.select_for_update().filter(pk=cycle_id).values_list("pk").first()
        yield ensure_editable(cycle, objective=objective, section_key=section_key)


REOPENED_ONLY = "Non riaperto dall'OIV: in sola lettura fino alla validazione"


def mark_entry_rows(groups, scope: EditScope) -> None:
    """In a unit's values form (performance.selectors_entry.unit_entry's groups), make read-only
    the rows of the objectives the OIV did not reopen (they get a reason, as excluded rows do)."""
    if scope.everything:
        return
    for group in groups:
        if scope.allows(objective_id=group.objective.pk):
            continue
        for row in group.rows:
            if not row.reason:
                row.reason = REOPENED_ONLY
                row.read_only = True  # measured, but closed: the template says "Sola lettura"
