"""Reads of the cycle's workflow (reports.models.workflow): its history, the OIV's review (the
attention list, objective by objective), the remarks, the frozen versions. A fixed number of
queries per page, whatever the size of the plan."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from organization.models import Cycle, MeasurementPeriod, PlanDocument, Position, Unit
from performance import scoring
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StrategicObjective,
    Target,
)
from performance.selectors import ScoredCycle, scored_targets
from performance.services.cycle import value_from_actual
from reports.models import ContextTable, Relazione, Section
from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    OivMember,
    RelazioneVersion,
    Remark,
)

Action = CycleTransition.Action
SUBMISSIONS = (Action.SUBMIT, Action.RESUBMIT)
# A value recorded by a user more than this many days after the end of its period is "late"
# (settings.WORKFLOW_LATE_ENTRY_DAYS). Values loaded from a dataset (no user) are not.
DEFAULT_LATE_ENTRY_DAYS = 30


def late_entry_days() -> int:
    return int(getattr(settings, "WORKFLOW_LATE_ENTRY_DAYS", DEFAULT_LATE_ENTRY_DAYS))


# ------------------------------------------------------------------------------- history


def transitions(*, cycle: Cycle) -> list[CycleTransition]:
    return list(
        CycleTransition.objects.filter(cycle=cycle).select_related("user").order_by("at", "id")
    )


def current_round(*, cycle: Cycle) -> int:
    """How many times the cycle has been sent to the OIV (the current submission's number)."""
    return CycleTransition.objects.filter(cycle=cycle, action__in=SUBMISSIONS).count()


def last_transition(*, cycle: Cycle, actions) -> CycleTransition | None:
    return (
        CycleTransition.objects.filter(cycle=cycle, action__in=list(actions))
        .select_related("user")
        .order_by("-at", "-id")
        .first()
    )


def reporting_started_at(*, cycle: Cycle) -> dt.datetime | None:
    """When the current version's reporting began: the latest start of the reporting or of an
    errata corrige (None for a cycle that never went through it here)."""
    found = last_transition(cycle=cycle, actions=[Action.START_REPORTING, Action.ERRATA])
    return found.at if found else None


def first_submission(*, cycle: Cycle) -> CycleTransition | None:
    """The first submission to the OIV of the version being reviewed."""
    since = reporting_started_at(cycle=cycle)
    transitions_ = CycleTransition.objects.filter(cycle=cycle, action__in=SUBMISSIONS)
    if since is not None:
        transitions_ = transitions_.filter(at__gte=since)
    return transitions_.select_related("user").order_by("at", "id").first()


def latest_submission(*, cycle: Cycle) -> CycleTransition | None:
    """The latest submission (or new submission) to the OIV: what the OIV is reviewing."""
    return last_transition(cycle=cycle, actions=SUBMISSIONS)


def submitted_tree_sha256(*, cycle: Cycle) -> str:
    """The digest of the computed tree (reports.workflow.services.cycle_tree) as it was when the
    Relazione was last sent to the OIV ("" before the first submission, or for a submission
    recorded before digests were kept)."""
    submission = latest_submission(cycle=cycle)
    return str((submission.data or {}).get("tree_sha256") or "") if submission else ""


def consistency_review(*, cycle: Cycle) -> CycleTransition | None:
    """The latest review of the consistency report for the current version."""
    found = last_transition(cycle=cycle, actions=[Action.CONSISTENCY_REVIEW])
    since = reporting_started_at(cycle=cycle)
    if found is None or (since is not None and found.at < since):
        return None
    return found


def discrepancy_messages(score: scoring.CycleScore) -> list[str]:
    return [check.message for check in score.discrepancies]


# -------------------------------------------------------------------------- preconditions


@dataclass
class MissingValue:
    target: Target

    @property
    def label(self) -> str:
        target = self.target
        where = target.unit.name if target.unit_id else "Ente"
        return f"{target.indicator.name} – {where} (target {target.text})"


def missing_values(*, cycle: Cycle) -> list[MissingValue]:
    """The scored targets (active rows of active objectives) without a value in the final
    period (an override counts as a value). Excluded rows and neutralized objectives have their
    reason. Two queries."""
    period = MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).first()
    targets = list(
        scored_targets(cycle=cycle)
        .select_related("unit", "indicator__objective")
        .order_by("indicator__objective__kind", "indicator__objective__order", "order", "id")
    )
    if period is None:
        return [MissingValue(t) for t in targets]
    fields = ("value_number", "value_date", "value_done", "value_k", "value_n", "value_parts")
    with_value = set()
    for row in Actual.objects.filter(period=period, target__in=[t.pk for t in targets]).values(
        "target_id", "override_pct", *fields
    ):
        if row["override_pct"] is not None or value_from_actual(row) is not None:
            with_value.add(row["target_id"])
    return [MissingValue(t) for t in targets if t.pk not in with_value]


# ------------------------------------------------------------------------------ remarks


def remarks(*, cycle: Cycle) -> list[Remark]:
    return list(
        Remark.objects.filter(cycle=cycle)
        .select_related("objective", "author", "resolved_by")
        .prefetch_related("answers__author")
        .order_by("created_at", "id")
    )


def open_remarks(*, cycle: Cycle, round: int | None = None) -> QuerySet[Remark]:
    found = Remark.objects.filter(cycle=cycle, status=Remark.Status.OPEN)
    return found if round is None else found.filter(round=round)


def remark_counts(*, cycle: Cycle) -> dict[str, int]:
    counts = dict(
        Remark.objects.filter(cycle=cycle)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in Remark.Status.values}


def latest_decisions(*, cycle: Cycle) -> dict[int, ObjectiveReview]:
    """The OIV's latest decision per objective id (one query)."""
    out: dict[int, ObjectiveReview] = {}
    for review in (
        ObjectiveReview.objects.filter(cycle=cycle).select_related("reviewer").order_by("at", "id")
    ):
        out[review.objective_id] = review
    return out


def oiv_members(*, cycle: Cycle) -> list[OivMember]:
    return list(
        OivMember.objects.filter(organization_id=cycle.organization_id, is_active=True).order_by(
            "order", "id"
        )
    )


# ------------------------------------------------------------------- the attention list


@dataclass
class AttentionItem:
    kind: str
    title: str  # what: the indicator and unit, the objective...
    detail: str  # the reason, the formula, the change
    objective_id: int | None = None
    when: dt.datetime | None = None
    who: str = ""


@dataclass
class Attention:
    overrides: list[AttentionItem] = field(default_factory=list)
    exclusions: list[AttentionItem] = field(default_factory=list)
    late: list[AttentionItem] = field(default_factory=list)
    discrepancies: list[AttentionItem] = field(default_factory=list)
    changes: list[AttentionItem] = field(default_factory=list)
    submitted_at: dt.datetime | None = None
    late_days: int = DEFAULT_LATE_ENTRY_DAYS
    # The computed tree's digest when the Relazione was last sent to the OIV, and now: they
    # differ when something that changes a computed figure changed after the submission.
    submitted_tree_sha256: str = ""
    tree_sha256: str = ""

    @property
    def tree_changed(self) -> bool:
        return bool(self.submitted_tree_sha256 and self.tree_sha256) and (
            self.submitted_tree_sha256 != self.tree_sha256
        )

    @property
    def total(self) -> int:
        return sum(
            len(items)
            for items in (
                self.overrides,
                self.exclusions,
                self.late,
                self.discrepancies,
                self.changes,
            )
        )

    def objective_flags(self) -> dict[int, set[str]]:
        flags: dict[int, set[str]] = defaultdict(set)
        for kind, items in (
            ("rettifica", self.overrides),
            ("esclusione", self.exclusions),
            ("ritardo", self.late),
            ("modifica", self.changes),
        ):
            for item in items:
                if item.objective_id is not None:
                    flags[item.objective_id].add(kind)
        return flags


def _target_label(target: Target) -> str:
    where = target.unit.name if target.unit_id and target.unit else "Ente"
    return f"{target.indicator.name} – {where}"


def attention(*, cycle: Cycle, scored: ScoredCycle, tree_sha256: str = "") -> Attention:
    """What deserves the OIV's attention first: overrides with their justification, excluded
    rows and neutralized objectives with their reasons, late entries, the discrepancies of the
    consistency report, the changes made after the (first) submission of this version, and
    (``tree_sha256``: the computed tree's digest now) whether the computed figures are still
    those of the latest submission."""
    out = Attention(
        late_days=late_entry_days(),
        submitted_tree_sha256=submitted_tree_sha256(cycle=cycle),
        tree_sha256=tree_sha256,
    )
    score = scored.score
    targets = {
        t.pk: t
        for t in Target.objects.filter(indicator__objective__cycle=cycle).select_related(
            "unit", "indicator__objective"
        )
    }
    for row in score.overrides():
        target = targets.get(int(row.key[1:])) if row.key.startswith("t") else None
        if target is None:
            continue
        rule = scoring.fmt_pct(row.rule_value) if row.rule_value is not None else "n.d."
        out.overrides.append(
            AttentionItem(
                "rettifica",
                _target_label(target),
                f"{scoring.fmt_pct(row.achievement)} al posto del {rule} della regola: "
                f"{row.override_reason}",
                target.indicator.objective_id,
            )
        )
    neutralized_seen: set[int] = set()
    for target in sorted(targets.values(), key=lambda t: (t.indicator.objective_id, t.pk)):
        objective = target.indicator.objective
        if objective.status == Objective.Status.NEUTRALIZED:
            if objective.pk not in neutralized_seen:
                neutralized_seen.add(objective.pk)
                out.exclusions.append(
                    AttentionItem(
                        "neutralizzato",
                        f"Obiettivo neutralizzato: {objective.title[:200]}",
                        objective.neutralization_reason,
                        objective.pk,
                    )
                )
        elif target.status == Target.Status.EXCLUDED:
            out.exclusions.append(
                AttentionItem(
                    "escluso",
                    _target_label(target),
                    target.exclusion_reason,
                    objective.pk,
                )
            )
    # late entries: recorded by a user after the end of the period + the grace days
    days = out.late_days
    for actual in (
        Actual.objects.filter(target__indicator__objective__cycle=cycle, recorded_by__isnull=False)
        .select_related("period", "recorded_by")
        .order_by("period__end_date", "recorded_at")
    ):
        deadline = timezone.make_aware(
            dt.datetime.combine(actual.period.end_date + dt.timedelta(days=days + 1), dt.time())
        )
        if actual.recorded_at >= deadline:
            target = targets.get(actual.target_id)
            if target is None:
                continue
            late_by = (timezone.localdate(actual.recorded_at) - actual.period.end_date).days
            out.late.append(
                AttentionItem(
                    "ritardo",
                    _target_label(target),
                    f"{actual.period.name}: registrato il "
                    f"{timezone.localtime(actual.recorded_at):%d/%m/%Y}, {late_by} giorni dopo "
                    f"la fine del periodo ({actual.period.end_date:%d/%m/%Y}).",
                    target.indicator.objective_id,
                    actual.recorded_at,
                    actual.recorded_by.get_username() if actual.recorded_by else "",
                )
            )
    for check in score.discrepancies:
        out.discrepancies.append(
            AttentionItem(
                "incongruenza",
                f"{check.stated.ref} – {check.stated.label}",
                f"la fonte indica {check.field} {scoring.fmt(check.stated_value)}, il calcolo dà "
                f"{scoring.fmt(check.computed)}" + (f" ({check.formula})" if check.formula else ""),
            )
        )
    submission = first_submission(cycle=cycle)
    if submission is not None:
        out.submitted_at = submission.at
        out.changes = changes_since(cycle=cycle, since=submission.at, targets=targets)
    return out


# ----------------------------------------------------------------- changes after submission

_IGNORED = {"id", "version", "updated_at", "recorded_at", "recorded_by", "updated_by", "order"}
# The cycle's state changes by the workflow's transitions (listed on the cycle's page), not here.
_IGNORED_BY_MODEL = {Cycle: {"status", "created_at"}}


def _diff(model, before, after) -> list[str]:
    if before is None:
        if after.history_type == "+":
            return ["creato"]
        return ["modificato (lo stato precedente non è registrato nello storico)"]
    ignored = _IGNORED | _IGNORED_BY_MODEL.get(model, set())
    out = []
    for model_field in model._meta.concrete_fields:
        name = model_field.attname
        if name in ignored or name.endswith("_ptr_id"):
            continue
        old, new = getattr(before, name, None), getattr(after, name, None)
        if old != new:
            label = str(model_field.verbose_name)
            out.append(f"{label}: «{_short(old)}» → «{_short(new)}»")
    return out or [_UNCHANGED]


_UNCHANGED = "salvato senza modifiche ai contenuti"


def _short(value) -> str:
    if value is None or value == "":
        return "vuoto"
    if isinstance(value, Decimal):
        return scoring.fmt(value)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


def changes_since(
    *, cycle: Cycle, since: dt.datetime, targets: dict[int, Target] | None = None
) -> list[AttentionItem]:
    """Every change recorded by django-simple-history after ``since`` on the cycle's values,
    targets, indicators, objectives and Relazione (two queries per model: the records after
    ``since``, and the records before them to compare with)."""
    if targets is None:
        targets = {
            t.pk: t
            for t in Target.objects.filter(indicator__objective__cycle=cycle).select_related(
                "unit", "indicator__objective"
            )
        }
    indicators = {i.pk: i for t in targets.values() for i in [t.indicator]}
    objectives = {
        o.pk: o for o in Objective.objects.filter(cycle=cycle).only("id", "title", "cycle_id")
    }
    specs = [
        (Actual, Q(target__indicator__objective__cycle=cycle), "Valore"),
        (Target, Q(indicator__objective__cycle=cycle), "Target"),
        (Indicator, Q(objective__cycle=cycle), "Indicatore"),
        (Objective, Q(cycle=cycle), "Obiettivo"),
        (Section, Q(relazione__cycle=cycle), "Sezione della Relazione"),
        (ContextTable, Q(relazione__cycle=cycle), "Tabella della Relazione"),
        (Relazione, Q(cycle=cycle), "Frontespizio della Relazione"),
        # the structure and the measurement rules: they change computed figures too
        (Cycle, Q(pk=cycle.pk), "Regole di misurazione del ciclo"),
        (MeasurementPeriod, Q(cycle=cycle), "Periodo di misurazione"),
        (Unit, Q(cycle=cycle), "Unità organizzativa"),
        (Position, Q(cycle=cycle), "Posizione"),
        (Perspective, Q(cycle=cycle), "Prospettiva"),
        (StrategicObjective, Q(cycle=cycle), "Obiettivo strategico"),
        (PlanDocument, Q(cycle=cycle), "Documento di programmazione"),
    ]
    out: list[AttentionItem] = []
    for model, scope, what in specs:
        history = model.history.model
        ids = model.objects.filter(scope).values("id")  # a subquery: the cycle's objects
        after = list(
            history.objects.filter(id__in=ids, history_date__gt=since)
            .select_related("history_user")
            .order_by("history_date", "history_id")
        )
        if not after:
            continue
        changed_ids = {record.id for record in after}
        before_by_id: dict[int, object] = {}
        for record in history.objects.filter(id__in=changed_ids, history_date__lte=since).order_by(
            "history_date", "history_id"
        ):
            before_by_id[record.id] = record
        for record in after:
            previous = before_by_id.get(record.id)
            if record.history_type == "-":
                changes = ["eliminato"]
            else:
                changes = _diff(model, previous, record)
            before_by_id[record.id] = record
            if model is Cycle and changes == [_UNCHANGED]:
                continue  # a change of state only (a transition)
            objective_id, subject = _subject(model, record, targets, indicators, objectives)
            out.append(
                AttentionItem(
                    "modifica",
                    f"{what}: {subject}",
                    "; ".join(changes),
                    objective_id,
                    record.history_date,
                    record.history_user.get_username() if record.history_user else "",
                )
            )
    out.sort(key=lambda item: item.when)
    return out


def _subject(model, record, targets, indicators, objectives) -> tuple[int | None, str]:
    if model is Actual:
        target = targets.get(record.target_id)
        return (target.indicator.objective_id, _target_label(target)) if target else (None, "")
    if model is Target:
        target = targets.get(record.id)
        return (target.indicator.objective_id, _target_label(target)) if target else (None, "")
    if model is Indicator:
        indicator = indicators.get(record.id)
        return (record.objective_id, indicator.name[:200] if indicator else record.name[:200])
    if model is Objective:
        return record.id, record.title[:200]
    if model is Section:
        return None, record.title
    if model is ContextTable:
        return None, record.title
    if model is Cycle:
        return None, str(record.year)
    if model is Perspective:
        return None, f"{record.code}. {record.name}"[:200]
    if model is StrategicObjective:
        return None, f"{record.code} – {record.title}"[:200]
    if model in (MeasurementPeriod, Unit):
        return None, record.name
    return None, getattr(record, "title", "")


# ------------------------------------------------------------------ objective by objective


@dataclass
class ReviewRow:
    target: Target
    result: scoring.RowResult | None
    value: str


@dataclass
class ReviewObjective:
    objective: Objective
    result: scoring.NodeResult | None
    rows: list[ReviewRow] = field(default_factory=list)
    decision: ObjectiveReview | None = None
    remarks: list[Remark] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    @property
    def achievement(self) -> str:
        if self.objective.status == Objective.Status.NEUTRALIZED:
            return "neutralizzato"
        return scoring.fmt_pct(self.result.achievement if self.result else None)

    @property
    def label(self) -> str:
        objective = self.objective
        code = objective.code or (
            objective.strategic_objective.code if objective.strategic_objective else ""
        )
        return f"{code} – {objective.title}" if code else objective.title

    @property
    def state(self) -> str:
        if any(r.status == Remark.Status.OPEN for r in self.remarks):
            return "remark"
        if self.decision is not None:
            return self.decision.decision
        return "todo"


KIND_TITLES = {
    Objective.Kind.STRATEGIC: "Obiettivi strategici",
    Objective.Kind.OPERATIONAL: "Obiettivi operativi",
    Objective.Kind.INDIVIDUAL: "Obiettivi individuali",
}


def review_objectives(
    *,
    cycle: Cycle,
    scored: ScoredCycle,
    display: dict[str, dict],
    remarks_: list[Remark],
    flags: dict[int, set[str]],
) -> list[tuple[str, list[ReviewObjective]]]:
    """The cycle's objectives grouped by kind, each with its rows (value and achievement as the
    engine computes them), the OIV's latest decision and the remarks on it."""
    decisions = latest_decisions(cycle=cycle)
    by_objective: dict[int, list[Remark]] = defaultdict(list)
    for remark in remarks_:
        if remark.objective_id:
            by_objective[remark.objective_id].append(remark)
    objectives = list(
        Objective.objects.filter(cycle=cycle)
        .select_related("strategic_objective", "position")
        .order_by("kind", "position__order", "order", "id")
    )
    blocks = {
        o.pk: ReviewObjective(
            objective=o,
            result=scored.objectives.get(f"o{o.pk}"),
            decision=decisions.get(o.pk),
            remarks=by_objective.get(o.pk, []),
            flags=flags.get(o.pk, set()),
        )
        for o in objectives
    }
    for target in (
        Target.objects.filter(indicator__objective__cycle=cycle)
        .select_related("unit", "indicator")
        .order_by("indicator__order", "indicator_id", "order", "id")
    ):
        block = blocks.get(target.indicator.objective_id)
        if block is None:
            continue
        key = f"t{target.pk}"
        block.rows.append(
            ReviewRow(target, scored.rows.get(key), (display.get(key) or {}).get("value", ""))
        )
    grouped: dict[str, list[ReviewObjective]] = defaultdict(list)
    for objective in objectives:
        grouped[objective.kind].append(blocks[objective.pk])
    return [(KIND_TITLES[kind], grouped[kind]) for kind in KIND_TITLES if grouped.get(kind)]


# --------------------------------------------------------------------------- versions


def versions(*, cycle: Cycle) -> list[RelazioneVersion]:
    return list(
        RelazioneVersion.objects.filter(cycle=cycle)
        .select_related("validated_by", "published_by", "cycle")
        .defer("html", "tree_json", "data_csv", "data_json", "validation_html")
        .order_by("number")
    )


def latest_version(*, cycle: Cycle) -> RelazioneVersion | None:
    return (
        RelazioneVersion.objects.filter(cycle=cycle)
        .defer("html", "tree_json", "data_csv", "data_json", "validation_html")
        .order_by("-number")
        .first()
    )


def public_versions(*, year: int) -> list[RelazioneVersion]:
    """The published versions of a year's Relazione, latest first (the archive)."""
    return list(
        RelazioneVersion.objects.filter(cycle__year=year, published_at__isnull=False)
        .select_related("cycle__organization")
        .defer("html", "tree_json", "data_csv", "data_json", "validation_html")
        .order_by("-number")
    )


def public_version(*, year: int, number: int | None = None) -> RelazioneVersion | None:
    """A published version (the latest without ``number``), with its content."""
    found = RelazioneVersion.objects.filter(
        cycle__year=year, published_at__isnull=False
    ).select_related("cycle__organization")
    if number is not None:
        return found.filter(number=number).first()
    return found.order_by("-number").first()


def version_get(*, cycle: Cycle, number: int) -> RelazioneVersion | None:
    return (
        RelazioneVersion.objects.filter(cycle=cycle, number=number)
        .select_related("cycle__organization", "validated_by", "published_by")
        .first()
    )


def years_with_public_versions() -> dict[int, int]:
    """Year -> number of the latest published version."""
    return dict(
        RelazioneVersion.objects.filter(published_at__isnull=False)
        .values_list("cycle__year")
        .annotate(latest=Max("number"))
        .values_list("cycle__year", "latest")
    )


def reopened(cycle_id: int) -> tuple[frozenset[int], frozenset[str]]:
    """The objectives and sections reopened by the cycle's latest return (one query); installed
    into organization.editability when the app is ready."""
    data = (
        CycleTransition.objects.filter(cycle_id=cycle_id, action=CycleTransition.Action.RETURN)
        .order_by("-at", "-id")
        .values_list("data", flat=True)
        .first()
    ) or {}
    return (
        frozenset(int(i) for i in data.get("objective_ids") or []),
        frozenset(str(k) for k in data.get("section_keys") or []),
    )
