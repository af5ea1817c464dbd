"""The OIV's review: remarks (and their answers), objectives accepted, targets excluded."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from organization import editability
from organization.models import Cycle
from performance.models import Objective, Target
from reports.models.workflow import (
    ObjectiveReview,
    Remark,
    RemarkAnswer,
)
from reports.relazione import selectors as relazione_selectors
from reports.workflow import selectors
from reports.workflow.services.base import (
    Status,
    TransitionRefused,
    User,
    _lock,
    _name,
    _real,
    _refuse_state,
    _require_controllo,
    _require_oiv,
)

# ------------------------------------------------------------------------ remarks, review


def _lock_for_review(cycle: Cycle, user: User, what: str) -> tuple[Cycle, int]:
    """The cycle locked (inside the caller's transaction) and the round of the OIV's review;
    PermissionDenied unless ``user`` is of the OIV, TransitionRefused unless the Relazione is
    with the OIV."""
    locked = _lock(cycle)
    _require_oiv(user, what)
    _refuse_state(
        locked, (Status.SUBMITTED,), "l'OIV esamina la Relazione solo quando gli è stata inviata."
    )
    return locked, selectors.current_round(cycle=locked)


def _unresolved(remark: Remark) -> Remark:
    """The remark read again and locked; TransitionRefused if it is already closed."""
    current = Remark.objects.select_for_update().get(pk=remark.pk)
    if current.status == Remark.Status.RESOLVED:
        raise TransitionRefused(["L'osservazione è già chiusa."])
    return current


def remark_create(
    *,
    cycle: Cycle,
    user: User,
    text: str,
    objective: Objective | None = None,
    section_key: str = "",
    reopen: bool = False,
) -> Remark:
    """A remark of the OIV on an objective, on a part of the Relazione (section key or
    editability.FRONT_MATTER) or on the whole (neither; it cannot reopen anything)."""
    text = (text or "").strip()
    section_key = (section_key or "").strip()
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = "Scrivere l'osservazione."
    if objective is not None and objective.cycle_id != cycle.pk:
        errors["objective"] = "L'obiettivo non appartiene al ciclo."
    valid_sections = {key for key, _ in relazione_selectors.section_choices()}
    if section_key and section_key not in valid_sections:
        errors["section_key"] = f"Parte della Relazione «{section_key}» sconosciuta."
    if objective is not None and section_key:
        errors["section_key"] = (
            "Indicare un obiettivo oppure una parte della Relazione, non entrambi."
        )
    if reopen and objective is None and not section_key:
        errors["reopen"] = (
            "Un'osservazione generale non riapre nulla: indicare l'obiettivo o la parte della "
            "Relazione da riaprire."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked, round_ = _lock_for_review(cycle, user, "scrivere osservazioni")
        if objective is not None:
            subject = f"Obiettivo: {objective.title}"[:500]
        elif section_key:
            subject = f"Relazione: {relazione_selectors.section_label(section_key)}"[:500]
        else:
            subject = "Relazione nel suo complesso"
        remark = Remark.objects.create(
            cycle=locked,
            round=round_,
            objective=objective,
            section_key=section_key,
            subject=subject,
            author=_real(user),
            author_name=_name(user),
            text=text,
            reopen=reopen,
        )
        if objective is not None:
            ObjectiveReview.objects.create(
                cycle=locked,
                objective=objective,
                round=round_,
                decision=ObjectiveReview.Decision.REMARK,
                reviewer=_real(user),
            )
    return remark


def objective_accept(*, cycle: Cycle, objective: Objective, user: User) -> ObjectiveReview:
    """The OIV accepts an objective as reported."""
    if objective.cycle_id != cycle.pk:
        raise ValidationError({"objective": "L'obiettivo non appartiene al ciclo."})
    with transaction.atomic():
        locked, round_ = _lock_for_review(cycle, user, "esaminare gli obiettivi")
        return ObjectiveReview.objects.create(
            cycle=locked,
            objective=objective,
            round=round_,
            decision=ObjectiveReview.Decision.ACCEPTED,
            reviewer=_real(user),
        )


def objectives_accept_all(*, cycle: Cycle, user: User) -> int:
    """Accept every objective not yet examined in this version (nor with an open remark)."""
    with transaction.atomic():
        locked, round_ = _lock_for_review(cycle, user, "esaminare gli obiettivi")
        decisions = selectors.latest_decisions(cycle=locked)
        since = selectors.first_submission(cycle=locked)
        with_open = set(
            selectors.open_remarks(cycle=locked)
            .exclude(objective__isnull=True)
            .values_list("objective_id", flat=True)
        )
        todo = [
            pk
            for pk in Objective.objects.filter(cycle=locked).values_list("id", flat=True)
            if pk not in with_open
            and (pk not in decisions or (since is not None and decisions[pk].at < since.at))
        ]
        ObjectiveReview.objects.bulk_create(
            ObjectiveReview(
                cycle=locked,
                objective_id=pk,
                round=round_,
                decision=ObjectiveReview.Decision.ACCEPTED,
                reviewer=_real(user),
            )
            for pk in todo
        )
    return len(todo)


def remark_answer(*, remark: Remark, user: User, text: str) -> RemarkAnswer:
    """Staff answer a remark (while the Relazione is back with them)."""
    _require_controllo(user, "rispondere alle osservazioni dell'OIV")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Scrivere la risposta."})
    with transaction.atomic():
        locked = _lock(remark.cycle)
        _refuse_state(
            locked,
            (Status.RETURNED,),
            "si risponde alle osservazioni quando l'OIV restituisce la Relazione.",
        )
        current = _unresolved(remark)
        answer = RemarkAnswer.objects.create(
            remark=current, author=_real(user), author_name=_name(user), text=text
        )
        if current.status == Remark.Status.OPEN:
            Remark.objects.filter(pk=current.pk).update(status=Remark.Status.ANSWERED)
    remark.refresh_from_db()
    return answer


def remark_resolve(*, remark: Remark, user: User) -> Remark:
    """The OIV closes a remark (answered, or no longer relevant)."""
    with transaction.atomic():
        _lock_for_review(remark.cycle, user, "chiudere le osservazioni")
        current = _unresolved(remark)
        Remark.objects.filter(pk=current.pk).update(
            status=Remark.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=_real(user)
        )
    remark.refresh_from_db()
    return remark


def target_exclude(*, target: Target, user: User, reason: str) -> Target:
    """Exclude a row from the measurement with its reason (the remedy of a row that will have
    no value: it leaves every average and is listed with the reason, never counted as 0)."""
    _require_controllo(user, "escludere una riga dalla misurazione")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Indicare il motivo dell'esclusione."})
    objective = target.indicator.objective
    with transaction.atomic():
        editability.ensure_editable(objective.cycle_id, objective=objective.pk)
        current = Target.objects.select_for_update().get(pk=target.pk)
        current.status = Target.Status.EXCLUDED
        current.exclusion_reason = reason
        current._history_user = _real(user)
        change = f"Esclusione dalla misurazione: {reason}"
        current._change_reason = change if len(change) <= 100 else change[:99] + "…"
        current.save(update_fields=["status", "exclusion_reason"])
    return current
