"""Writes: the cycle's workflow, from planning to the publication of the validated Relazione.

    planning → monitoring → reporting → submitted ⇄ returned → validated → published
                                ↑                                              │
                                └──────────── errata corrige (new version) ────┘

Every transition is a service: keyword-only, it checks the user's role (PermissionDenied), then
the preconditions (TransitionRefused with every unmet one, in Italian), runs in one transaction
with the cycle's row locked, and writes the audit record (CycleTransition: who, when, from, to,
comment) and the cycle's history (django-simple-history). ``transition_options`` tells the UI,
for the current state, what can be done next, by whom, and why not yet.

Who: controllo di gestione (and Amministratore) starts monitoring and reporting, records the
review of the consistency report, submits, answers the remarks, publishes and opens an errata;
the OIV writes remarks, accepts objectives, returns and validates. Nobody else acts.

Validation freezes a ``RelazioneVersion``: the computed tree, the Relazione document (HTML), its
open data, its PDF (``reports.relazione.pdf.render_relazione_pdf``; without it the version is still
valid,
with the reason recorded) and the documento di validazione (HTML and PDF), each with its SHA-256,
optionally signed (PAdES, reports.workflow.signing). Afterwards nothing but its publication is
written.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from organization import editability, permissions
from organization.models import Cycle, MeasurementPeriod
from performance import scoring
from performance.models import Objective, Target
from performance.selectors import cycle_score, scored_targets
from reports.models import ContextTable, Relazione, Section
from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    RelazioneVersion,
    Remark,
    RemarkAnswer,
)
from reports.relazione import document, open_data
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione import selectors as relazione_selectors
from reports.workflow import integrity, selectors, signing, version_storage
from reports.workflow.integrity import canonical_json as _canonical

logger = logging.getLogger(__name__)

Status = Cycle.Status
Action = CycleTransition.Action
User = AbstractBaseUser | AnonymousUser

CONTROLLO = "Controllo di gestione"
OIV = "OIV"
MISSING_LISTED = 10  # missing values named in the precondition's message


class TransitionRefused(ValidationError):
    """The transition's preconditions are not met: ``reasons`` lists each, in Italian."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(self.reasons, code="refused")


# ------------------------------------------------------------------------------- helpers


def _name(user: User | None) -> str:
    if user is None or not user.is_authenticated:
        return ""
    return user.get_full_name() or user.get_username()


def _real(user: User | None):
    return user if user is not None and user.is_authenticated else None


def _require_controllo(user: User | None, what: str) -> None:
    if user is None or not permissions.is_controllo(user):
        raise PermissionDenied(f"Solo il controllo di gestione può {what}.")


def _require_oiv(user: User | None, what: str) -> None:
    if user is None or not permissions.is_oiv(user):
        raise PermissionDenied(f"Solo l'OIV può {what}.")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _date(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M") if value else ""


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _lock(cycle: Cycle) -> Cycle:
    return Cycle.objects.select_for_update().select_related("organization").get(pk=cycle.pk)


def _record(
    *,
    cycle: Cycle,
    user: User | None,
    action: str,
    comment: str = "",
    data: dict | None = None,
) -> CycleTransition:
    """The audit record and, when the action changes the state (STEPS), the cycle's new
    state with its history. Inside the caller's transaction, with ``cycle`` locked."""
    from_status = cycle.status
    to_status = STEP[action].to_status or from_status
    round_ = selectors.current_round(cycle=cycle)
    if action in (Action.SUBMIT, Action.RESUBMIT):
        round_ += 1  # this is the new submission
    record = CycleTransition.objects.create(
        cycle=cycle,
        action=action,
        from_status=from_status,
        to_status=to_status,
        user=_real(user),
        user_name=_name(user),
        comment=(comment or "").strip(),
        round=round_,
        data=data or {},
    )
    if to_status != from_status:
        cycle.status = to_status
        cycle._history_user = _real(user)
        cycle._change_reason = Action(action).label
        cycle.save(update_fields=["status", "updated_at"])
        services_pdf.pdf_public_forget(year=cycle.year)  # published or not any more
    return record


def _refuse_state(cycle: Cycle, allowed: tuple[str, ...], why: str) -> None:
    """TransitionRefused unless the cycle is in one of the ``allowed`` states; ``why`` (Italian)
    follows the cycle's state in the message."""
    if cycle.status not in allowed:
        raise TransitionRefused(
            [f"Il ciclo {cycle.year} è nello stato «{cycle.get_status_display()}»: {why}"]
        )


def _require(user: User | None, action: str) -> None:
    """PermissionDenied unless ``user`` has the role that does ``action``."""
    step = STEP[action]
    require = _require_controllo if step.role == CONTROLLO else _require_oiv
    require(user, step.what)


def _check(cycle: Cycle, action: str, check: Callable[[Cycle], list[str]] | None = None) -> None:
    """TransitionRefused unless ``cycle`` is in a state ``action`` starts from and meets the
    preconditions (``check(cycle) -> reasons``; the step's own precondition by default)."""
    step = STEP[action]
    check = check or step.precondition
    states = " o ".join(f"«{Status(s).label}»" for s in step.allowed_from)
    _refuse_state(
        cycle,
        step.allowed_from,
        f"{step.state_what or step.what} è possibile solo nello stato {states}.",
    )
    reasons = check(cycle) if check is not None else []
    if reasons:
        raise TransitionRefused(reasons)


def _transition(
    *,
    cycle: Cycle,
    user: User | None,
    action: str,
    check: Callable[[Cycle], list[str]] | None = None,
    comment: str = "",
    data: dict | Callable[[Cycle], dict] | None = None,
) -> CycleTransition:
    """Check the user's role, lock the cycle, check its state and the preconditions, record the
    transition (STEPS says who, from and to, and what is checked). ``data``: a dict or a
    function of the locked cycle."""
    _require(user, action)
    with transaction.atomic():
        locked = _lock(cycle)
        _check(locked, action, check)
        payload = data(locked) if callable(data) else data
        record = _record(cycle=locked, user=user, action=action, comment=comment, data=payload)
    cycle.status = locked.status
    return record


# -------------------------------------------------------------------------- preconditions


def start_monitoring_reasons(cycle: Cycle) -> list[str]:
    reasons = []
    if not scored_targets(cycle=cycle).exists():
        reasons.append("Il Piano non ha ancora target da misurare: inserire obiettivi e target.")
    if not MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).exists():
        reasons.append("Manca il periodo di misurazione consuntivo (di fine anno).")
    return reasons


def start_reporting_reasons(cycle: Cycle, today: dt.date | None = None) -> list[str]:
    final = MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).first()
    if final is None:
        return ["Manca il periodo di misurazione consuntivo (di fine anno)."]
    today = today or timezone.localdate()
    if today <= final.end_date:
        return [
            f"Il periodo «{final.name}» termina il {final.end_date:%d/%m/%Y}: la "
            "rendicontazione si avvia dal giorno successivo."
        ]
    return []


def consistency_reasons(cycle: Cycle, score: scoring.CycleScore | None = None) -> list[str]:
    """Is the consistency report reviewed, and unchanged since?"""
    review = selectors.consistency_review(cycle=cycle)
    score = score or cycle_score(cycle=cycle)
    current = selectors.discrepancy_messages(score)
    if review is None:
        return [
            "Il rapporto di coerenza non è stato verificato: esaminare "
            + (
                _plural(len(current), "incongruenza", "incongruenze")
                if current
                else "il rapporto (nessuna incongruenza)"
            )
            + " e registrare la verifica."
        ]
    if (review.data or {}).get("discrepancies") != current:
        return [
            f"Il rapporto di coerenza è cambiato dopo la verifica del {_date(review.at)}"
            f"{' (' + review.user_name + ')' if review.user_name else ''}: verificarlo di nuovo."
        ]
    return []


def submit_reasons(cycle: Cycle, *, resubmit: bool = False) -> list[str]:
    """Everything that prevents sending the Relazione to the OIV, in Italian."""
    reasons = []
    if not MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).exists():
        reasons.append("Manca il periodo di misurazione consuntivo (di fine anno).")
    missing = selectors.missing_values(cycle=cycle)
    if missing:
        names = "; ".join(m.label for m in missing[:MISSING_LISTED])
        more = len(missing) - MISSING_LISTED
        reasons.append(
            f"{_plural(len(missing), 'indicatore', 'indicatori')} senza valore a consuntivo né "
            f"motivo di esclusione: {names}"
            + (f"; e altri {more}" if more > 0 else "")
            + ". Registrare il valore, oppure escludere la riga indicandone il motivo."
        )
    if not Relazione.objects.filter(cycle=cycle).exists():
        reasons.append("La Relazione del ciclo non è ancora stata redatta.")
    reasons += consistency_reasons(cycle)
    if resubmit:
        unanswered = selectors.open_remarks(cycle=cycle).count()
        if unanswered:
            reasons.append(
                f"{_plural(unanswered, 'osservazione', 'osservazioni')} dell'OIV senza "
                "risposta: rispondere a ciascuna prima del nuovo invio."
            )
    return reasons


def return_reasons(cycle: Cycle) -> list[str]:
    round_ = selectors.current_round(cycle=cycle)
    if not selectors.open_remarks(cycle=cycle, round=round_).exists():
        return [
            "Per restituire la Relazione serve almeno un'osservazione aperta su un obiettivo o "
            "su una sezione (scriverla nel pannello di revisione)."
        ]
    return []


def validate_reasons(cycle: Cycle) -> list[str]:
    reasons = []
    open_ = selectors.open_remarks(cycle=cycle).count()
    if open_:
        reasons.append(
            f"{_plural(open_, 'osservazione aperta', 'osservazioni aperte')}: chiuderle, oppure "
            "restituire la Relazione perché vi si risponda."
        )
    if not selectors.oiv_members(cycle=cycle):
        reasons.append(
            "Nessun componente dell'OIV in carica è registrato: indicarli in Amministrazione › "
            "Componenti dell'OIV (compaiono nel documento di validazione)."
        )
    if not Relazione.objects.filter(cycle=cycle).exists():
        reasons.append("La Relazione del ciclo non è stata redatta.")
    reasons += tree_changed_reasons(cycle)
    return reasons


def tree_changed_reasons(cycle: Cycle, *, tree_sha256: str = "") -> list[str]:
    """The computed figures are no longer those the OIV received with the latest submission
    (something that changes them was changed afterwards, by whatever route): what the OIV
    would validate is not what it reviewed. ``tree_sha256``: the digest now, when known."""
    submitted = selectors.submitted_tree_sha256(cycle=cycle)
    if not submitted:
        return []
    current = tree_sha256 or cycle_tree(cycle=cycle)[1]
    if current == submitted:
        return []
    submission = selectors.latest_submission(cycle=cycle)
    return [
        "Le cifre calcolate non sono più quelle inviate all'OIV il "
        f"{_date(submission.at if submission else None)}: qualcosa che le determina è stato "
        "modificato dopo l'invio (vedere «Modifiche dopo l'invio all'OIV» nella revisione). "
        "Restituire la Relazione con un'osservazione, perché il controllo di gestione verifichi "
        "e la invii di nuovo."
    ]


def validate_warnings(cycle: Cycle) -> list[str]:
    decisions = selectors.latest_decisions(cycle=cycle)
    since = selectors.first_submission(cycle=cycle)
    objective_ids = set(Objective.objects.filter(cycle=cycle).values_list("id", flat=True))
    unreviewed = [
        pk
        for pk in objective_ids
        if pk not in decisions or (since is not None and decisions[pk].at < since.at)
    ]
    if unreviewed:
        return [
            _plural(
                len(unreviewed), "obiettivo non ancora esaminato", "obiettivi non ancora esaminati"
            )
            + " in questa versione (la validazione resta possibile)."
        ]
    return []


def publish_reasons(cycle: Cycle) -> list[str]:
    version = selectors.latest_version(cycle=cycle)
    if version is None:
        return ["Nessuna versione validata da pubblicare."]
    if version.published_at is not None:
        return [f"La versione {version.number} è già pubblicata."]
    return []


# ------------------------------------------------------------------------ what can be done


@dataclass
class TransitionOption:
    action: str
    label: str  # the button
    description: str
    actor: str  # who may do it
    permitted: bool  # this user has the role
    reasons: list[str] = field(default_factory=list)  # unmet preconditions
    warnings: list[str] = field(default_factory=list)
    url_name: str = ""

    @property
    def allowed(self) -> bool:
        return self.permitted and not self.reasons


NEXT_ACTOR = {
    Status.PLANNING: (CONTROLLO, "completa il Piano e avvia il monitoraggio."),
    Status.MONITORING: (
        "Referenti di unità e controllo di gestione",
        "registrano i valori; a fine periodo il controllo di gestione avvia la rendicontazione.",
    ),
    Status.REPORTING: (
        CONTROLLO,
        "completa valori e Relazione, verifica il rapporto di coerenza e invia all'OIV.",
    ),
    Status.SUBMITTED: (OIV, "esamina la Relazione: la restituisce con osservazioni o la valida."),
    Status.RETURNED: (
        CONTROLLO,
        "risponde alle osservazioni, corregge ciò che l'OIV ha riaperto e invia di nuovo.",
    ),
    Status.VALIDATED: (CONTROLLO, "pubblica la versione validata."),
    Status.PUBLISHED: (
        "Nessuno",
        "la Relazione è pubblicata; una correzione si fa con un'errata corrige (controllo di "
        "gestione).",
    ),
}


class _Facts:
    """What the options of a state read about the cycle, computed once when first asked for."""

    def __init__(self, cycle: Cycle) -> None:
        self.cycle = cycle
        self._score: scoring.CycleScore | None = None

    @property
    def score(self) -> scoring.CycleScore:
        if self._score is None:
            self._score = cycle_score(cycle=self.cycle)
        return self._score


def transition_options(*, cycle: Cycle, user: User) -> list[TransitionOption]:
    """The steps possible from the cycle's state (STEPS, in their order), with whether this
    user may press them and the Italian reasons why not yet."""
    facts = _Facts(cycle)
    has_role = {CONTROLLO: permissions.is_controllo(user), OIV: permissions.is_oiv(user)}
    out: list[TransitionOption] = []
    for step in STEPS:
        if cycle.status not in step.allowed_from:
            continue
        description = step.description
        out.append(
            TransitionOption(
                step.action,
                step.label,
                description(facts) if callable(description) else description,
                step.role,
                has_role[step.role],
                step.precondition(cycle) if step.precondition is not None else [],
                step.warnings(facts) if step.warnings is not None else [],
            )
        )
    for option in out:
        if not option.permitted:
            option.warnings.insert(0, f"Azione riservata a: {option.actor}.")
    return out


# ----------------------------------------------------------------------------- transitions


def cycle_start_monitoring(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    return _transition(
        cycle=cycle,
        user=user,
        action=Action.START_MONITORING,
        comment=comment,
    )


def cycle_start_reporting(
    *, cycle: Cycle, user: User, comment: str = "", today: dt.date | None = None
) -> CycleTransition:
    return _transition(
        cycle=cycle,
        user=user,
        action=Action.START_REPORTING,
        check=lambda c: start_reporting_reasons(c, today),
        comment=comment,
    )


def consistency_review_record(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Record that the consistency report was reviewed, with the discrepancies it listed: the
    submission requires a review whose list is still the current one."""

    def data(locked: Cycle) -> dict:
        return {"discrepancies": selectors.discrepancy_messages(cycle_score(cycle=locked))}

    return _transition(
        cycle=cycle, user=user, action=Action.CONSISTENCY_REVIEW, comment=comment, data=data
    )


def _submission_data(locked: Cycle) -> dict:
    """What a submission records: the digest of the computed tree the OIV receives (the review
    and the validation compare it with the tree as it is then)."""
    _, digest = cycle_tree(cycle=locked)
    return {"tree_sha256": digest}


def cycle_submit(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Send the Relazione to the OIV: from now on plan, values and Relazione are read-only."""
    return _transition(
        cycle=cycle,
        user=user,
        action=Action.SUBMIT,
        comment=comment,
        data=_submission_data,
    )


def cycle_resubmit(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """Send the Relazione back to the OIV after answering its remarks."""
    return _transition(
        cycle=cycle,
        user=user,
        action=Action.RESUBMIT,
        comment=comment,
        data=_submission_data,
    )


def cycle_return(*, cycle: Cycle, user: User, comment: str = "") -> CycleTransition:
    """The OIV returns the Relazione with its open remarks; only the objectives and sections of
    the remarks marked "reopen" become editable (recorded in the transition's data)."""

    def data(locked: Cycle) -> dict:
        round_ = selectors.current_round(cycle=locked)
        reopened = Remark.objects.filter(
            cycle=locked, round=round_, reopen=True, status=Remark.Status.OPEN
        ).values_list("objective_id", "section_key")
        return {
            "objective_ids": sorted({o for o, _ in reopened if o}),
            "section_keys": sorted({s for _, s in reopened if s}),
            "remarks": selectors.open_remarks(cycle=locked, round=round_).count(),
        }

    return _transition(
        cycle=cycle,
        user=user,
        action=Action.RETURN,
        comment=comment,
        data=data,
    )


def cycle_publish(*, cycle: Cycle, user: User, comment: str = "") -> RelazioneVersion:
    """Publish the latest validated version: the only write on a frozen version (its
    publication date and who published it)."""
    _require(user, Action.PUBLISH)
    with transaction.atomic():
        locked = _lock(cycle)
        _check(locked, Action.PUBLISH)
        version = RelazioneVersion.objects.select_for_update().filter(cycle=locked).latest("number")
        now = timezone.now()
        RelazioneVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
            published_at=now, published_by=_real(user)
        )
        _record(
            cycle=locked,
            user=user,
            action=Action.PUBLISH,
            comment=comment,
            data={"version": version.number, "sha256": version.digest},
        )
    cycle.status = locked.status
    version.refresh_from_db()
    return version


def errata_open(*, cycle: Cycle, user: User, note: str) -> CycleTransition:
    """A correction after publication: the cycle goes back to "reporting" (everything editable
    again), with ``note`` saying what is to be corrected and why; the validation that follows
    freezes a new version (errata corrige) that carries the note and the list of differences,
    while the published one stays public until the new one is published, then readable in the
    archive."""
    _require(user, Action.ERRATA)  # before the note is looked at
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Indicare che cosa si corregge e perché."})
    return _transition(cycle=cycle, user=user, action=Action.ERRATA, comment=note)


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


# ---------------------------------------------------------------------------- validation


@dataclass
class Frozen:
    """What validation freezes, rendered before the transaction."""

    html: str
    html_sha256: str
    tree: dict
    tree_sha256: str
    data_csv: str
    data_json: str
    pdf: bytes | None
    pdf_sha256: str
    pdf_error: str
    pdf_signed: bool
    pdf_signer: str
    score: scoring.CycleScore


def _public_view(cycle: Cycle) -> Cycle:
    """The cycle as the frozen document shows it: as published (not a draft). Never saved."""
    view = copy.copy(cycle)
    view.status = Status.PUBLISHED
    return view


def relazione_digests(*, cycle: Cycle) -> dict:
    """Digests of the narrative: per section, per context table, of the front matter (to say
    what changed between two versions)."""
    relazione = Relazione.objects.filter(cycle=cycle).first()
    if relazione is None:
        return {}
    front = _canonical(
        [relazione.title, relazione.subtitle, relazione.signatories, relazione.approval_document_id]
    )
    return {
        "frontespizio": {"title": "Frontespizio", "sha256": sha256(front)},
        "sections": {
            s.key: {"title": s.title, "sha256": sha256(_canonical([s.title, s.body]))}
            for s in Section.objects.filter(relazione=relazione).order_by("order", "id")
        },
        "tables": {
            t.key: {
                "title": t.title,
                "sha256": sha256(_canonical([t.title, t.columns, t.rows, t.footnotes])),
            }
            for t in ContextTable.objects.filter(relazione=relazione).order_by("order", "id")
        },
    }


def cycle_tree(*, cycle: Cycle, score: scoring.CycleScore | None = None) -> tuple[dict, str]:
    """The computed tree as frozen (scoring.cycle_to_dict plus the narrative's digests), in its
    canonical JSON form, and its SHA-256."""
    score = score or cycle_score(cycle=cycle)
    tree = {**scoring.cycle_to_dict(score), "relazione": relazione_digests(cycle=cycle)}
    text = _canonical(tree)
    return json.loads(text), sha256(text)


def _sign(content: bytes, *, reason: str, location: str) -> tuple[bytes, bool, str]:
    if not signing.signing_configured():
        return content, False, ""
    try:
        signed = signing.sign_pdf(content, reason=reason, location=location)
    except signing.SigningError as error:
        raise TransitionRefused(
            [
                f"La firma digitale (PAdES) configurata non è riuscita: {error}. Nulla è stato "
                "validato: correggere la configurazione e ripetere."
            ]
        ) from error
    return signed.content, True, signed.signer


def freeze(*, cycle: Cycle, number: int) -> Frozen:
    """Render what validation freezes: the Relazione document as it will be published (HTML,
    with the open-data links of this version), the computed tree, the open data and the PDF
    (reports.relazione.pdf.render_relazione_pdf, imported lazily: if it is missing or fails, the
    version has no PDF and the reason is recorded). The document and its open data are built
    once, for the HTML, the data files and the PDF alike (document.built_once)."""
    with document.built_once():
        return _freeze(cycle=cycle, number=number)


def _freeze(*, cycle: Cycle, number: int) -> Frozen:
    view = _public_view(cycle)
    built = document.build(view)
    context = built.context()
    context["csv_url"] = reverse("workflow:public-version-csv", args=[cycle.year, number])
    context["json_url"] = reverse("workflow:public-version-json", args=[cycle.year, number])
    html = render_to_string("reports/relazione/_relazione_document.html", context)
    score = built.score
    tree, tree_digest = cycle_tree(cycle=cycle, score=score)
    source = reverse("workflow:public-version", args=[cycle.year, number])
    data_csv = open_data.csv_text(built.records)
    data_json = open_data.json_text(view, score, built.records, source=source)
    pdf_bytes: bytes | None = None
    pdf_error = ""
    try:
        from reports.relazione.pdf import render_relazione_pdf

        pdf_bytes = render_relazione_pdf(cycle=view)
    except Exception as error:  # missing module, WeasyPrint failure...: no PDF, said why
        logger.exception("PDF of the Relazione %s (version %s) not rendered", cycle.year, number)
        pdf_error = f"{type(error).__name__}: {error}"[:2000]
    signed, signer = False, ""
    if pdf_bytes is not None:
        pdf_bytes, signed, signer = _sign(
            pdf_bytes,
            reason=f"Relazione sulla performance {cycle.year}, versione {number}",
            location=str(cycle.organization),
        )
    return Frozen(
        html=html,
        html_sha256=sha256(html),
        tree=tree,
        tree_sha256=tree_digest,
        data_csv=data_csv,
        data_json=data_json,
        pdf=pdf_bytes,
        pdf_sha256=sha256(pdf_bytes) if pdf_bytes is not None else "",
        pdf_error=pdf_error,
        pdf_signed=signed,
        pdf_signer=signer,
        score=score,
    )


def _flat(tree: dict) -> dict[tuple[str, str], tuple[str, Any]]:
    """(scope, key) -> (name, achievement) for every node and row of a frozen tree."""
    out: dict[tuple[str, str], tuple[str, Any]] = {}

    def visit(node: dict, scope: str) -> None:
        if not isinstance(node, dict):
            return
        if "key" in node:
            out[(scope, str(node["key"]))] = (node.get("name", ""), node.get("achievement"))
        for child in node.get("children") or []:
            visit(child, scope)

    strategic = tree.get("strategic") or {}
    out[("strategic", "totale")] = ("Totale obiettivi strategici", strategic.get("achievement"))
    for perspective in strategic.get("perspectives") or []:
        visit(perspective, "strategic")
    visit(tree.get("operational") or {}, "operational")
    visit(tree.get("units") or {}, "units")
    for position in tree.get("individual") or []:
        visit(position, "individual")
    return out


_SCOPES = {
    "strategic": "obiettivi strategici",
    "operational": "obiettivi operativi",
    "units": "unità",
    "individual": "obiettivi individuali",
}


def _pct(value: Any) -> str:
    if value is None:
        return "n.d."
    return scoring.fmt_pct(scoring.dec(value))


def version_changes(previous: dict, current: dict) -> list[dict]:
    """What changed between two frozen trees: figures, rows added or removed, narrative."""
    out: list[dict] = []
    before, after = _flat(previous), _flat(current)
    for key, (name, value) in after.items():
        scope = _SCOPES.get(key[0], key[0])
        if key not in before:
            out.append({"kind": "added", "text": f"Aggiunto ({scope}): {name} – {_pct(value)}"})
        elif before[key][1] != value:
            out.append(
                {
                    "kind": "figure",
                    "text": f"{name} ({scope}): {_pct(before[key][1])} → {_pct(value)}",
                }
            )
    for key, (name, value) in before.items():
        if key not in after:
            scope = _SCOPES.get(key[0], key[0])
            out.append({"kind": "removed", "text": f"Tolto ({scope}): {name} – {_pct(value)}"})
    old_text, new_text = previous.get("relazione") or {}, current.get("relazione") or {}
    for group, label in (("sections", "Sezione"), ("tables", "Tabella")):
        old_items, new_items = old_text.get(group) or {}, new_text.get(group) or {}
        for key, item in new_items.items():
            if (old_items.get(key) or {}).get("sha256") != item.get("sha256"):
                out.append({"kind": "text", "text": f"{label} modificata: {item.get('title')}"})
    if (old_text.get("frontespizio") or {}).get("sha256") != (
        new_text.get("frontespizio") or {}
    ).get("sha256"):
        out.append({"kind": "text", "text": "Frontespizio modificato"})
    if len(previous.get("discrepancies") or []) != len(current.get("discrepancies") or []):
        out.append(
            {
                "kind": "figure",
                "text": "Incongruenze del rapporto di coerenza: "
                f"{len(previous.get('discrepancies') or [])} → "
                f"{len(current.get('discrepancies') or [])}",
            }
        )
    return out


def _render_validation_pdf(html: str) -> bytes:
    import weasyprint

    from reports.relazione import pdf

    fetcher = pdf.url_fetcher_for(
        None, refused="Indirizzo non consentito nel documento di validazione"
    )
    document_pdf = weasyprint.HTML(string=html, url_fetcher=fetcher)
    return document_pdf.write_pdf(pdf_variant="pdf/a-3u")


def validation_context(
    *,
    cycle: Cycle,
    number: int,
    kind: str,
    frozen: Frozen,
    decision: str,
    decision_text: str,
    members: list[dict],
    validated_at: dt.datetime,
    validator: str,
    errata_note: str,
) -> dict:
    submission = selectors.first_submission(cycle=cycle)
    remarks = selectors.remarks(cycle=cycle)
    since = reporting = selectors.reporting_started_at(cycle=cycle)
    if since is not None:
        remarks = [r for r in remarks if r.created_at >= since]
    rounds = CycleTransition.objects.filter(
        cycle=cycle, action__in=[Action.SUBMIT, Action.RESUBMIT]
    )
    returns = CycleTransition.objects.filter(cycle=cycle, action=Action.RETURN)
    if reporting is not None:
        rounds, returns = rounds.filter(at__gte=reporting), returns.filter(at__gte=reporting)
    decisions = selectors.latest_decisions(cycle=cycle)
    accepted = sum(1 for d in decisions.values() if d.decision == ObjectiveReview.Decision.ACCEPTED)
    score = frozen.score
    excluded = len(
        {
            row.key
            for tree in (score.strategic, score.operational, score.units, *score.individual)
            if tree is not None
            for row in tree.all_rows()
            if row.achievement is None
        }
    )
    return {
        "cycle": cycle,
        "organization": cycle.organization,
        "year": cycle.year,
        "number": number,
        "kind": kind,
        "kind_label": RelazioneVersion.Kind(kind).label,
        "errata_note": errata_note,
        "decision": decision,
        "decision_label": RelazioneVersion.Decision(decision).label,
        "decision_text": decision_text,
        "members": members,
        "validated_at": validated_at,
        "validator": validator,
        "submitted_at": submission.at if submission else None,
        "submissions": rounds.count(),
        "returns": returns.count(),
        "remarks": remarks,
        "remarks_answered": sum(1 for r in remarks if r.answers.all()),
        "objectives": Objective.objects.filter(cycle=cycle).count(),
        "objectives_accepted": accepted,
        "overrides": len(score.overrides()),
        "excluded": excluded,
        "discrepancies": len(score.discrepancies),
        "strategic": scoring.fmt_pct(score.strategic.achievement),
        "operational": scoring.fmt_pct(score.operational.achievement),
        "html_sha256": frozen.html_sha256,
        "tree_sha256": frozen.tree_sha256,
        "pdf_sha256": frozen.pdf_sha256,
        "pdf_error": frozen.pdf_error,
    }


STORAGE_REFUSED = (
    "Non è stato possibile salvare i file della versione (PDF della Relazione e documento di "
    "validazione) nell'archivio dei documenti: nulla è stato validato. Avvisare "
    "l'amministratore del sistema (spazio su disco, permessi o disponibilità della cartella dei "
    "documenti) e ripetere la validazione."
)


def _storage_prepare(*, year: int) -> None:
    """Before the seconds of rendering: remove what an interrupted validation left in the
    year's versions folder (reports.workflow.version_storage.orphans_clean) and check that the
    folder
    takes a file (TransitionRefused with STORAGE_REFUSED otherwise)."""
    try:
        version_storage.orphans_clean(year=year)
    except OSError:
        logger.warning("Relazione %s: orphan version files not cleaned", year, exc_info=True)
    try:
        version_storage.probe(year=year)
    except OSError as error:
        logger.exception("Relazione %s: the versions folder does not take files", year)
        raise TransitionRefused([STORAGE_REFUSED]) from error


def cycle_validate(
    *,
    cycle: Cycle,
    user: User,
    decision: str = RelazioneVersion.Decision.VALID,
    decision_text: str = "",
    comment: str = "",
) -> RelazioneVersion:
    """The OIV validates the Relazione (art. 14 c. 4 lett. c D.Lgs. 150/2009): the documento di
    validazione (HTML and PDF) with the decision, the date and the members, and the frozen
    version that will be published. The rendering (seconds) happens before the transaction; in
    the transaction the state, the preconditions and the data's digest are checked again."""
    _require(user, Action.VALIDATE)
    decision_text = (decision_text or "").strip()
    if decision not in RelazioneVersion.Decision.values:
        raise ValidationError({"decision": "Scegliere l'esito della validazione."})
    if decision == RelazioneVersion.Decision.VALID_WITH_REMARKS and not decision_text:
        raise ValidationError(
            {"decision_text": "Indicare le osservazioni che accompagnano la validazione."}
        )
    current = Cycle.objects.select_related("organization").get(pk=cycle.pk)
    _check(current, Action.VALIDATE)
    previous = RelazioneVersion.objects.filter(cycle=current).order_by("-number").first()
    number = previous.number + 1 if previous else 1
    kind = RelazioneVersion.Kind.ERRATA if previous else RelazioneVersion.Kind.ORIGINAL
    errata = selectors.last_transition(cycle=current, actions=[Action.ERRATA])
    errata_note = errata.comment if (previous and errata) else ""
    _storage_prepare(year=current.year)

    frozen = freeze(cycle=current, number=number)
    members = [{"name": m.name, "role": m.role} for m in selectors.oiv_members(cycle=current)]
    validated_at = timezone.now()
    context = validation_context(
        cycle=current,
        number=number,
        kind=kind,
        frozen=frozen,
        decision=decision,
        decision_text=decision_text,
        members=members,
        validated_at=validated_at,
        validator=_name(user),
        errata_note=errata_note,
    )
    validation_html = render_to_string("reports/workflow/validation_body.html", context)
    validation_pdf, validation_error = None, ""
    try:
        document = render_to_string(
            "reports/workflow/validation_document.html", {**context, "body": validation_html}
        )
        validation_pdf = _render_validation_pdf(document)
    except Exception as error:
        logger.exception("Documento di validazione %s v%s: PDF not rendered", current.year, number)
        validation_error = f"{type(error).__name__}: {error}"[:2000]
    validation_signed = False
    if validation_pdf is not None:
        validation_pdf, validation_signed, _ = _sign(
            validation_pdf,
            reason=f"Documento di validazione della Relazione sulla performance {current.year}",
            location=str(current.organization),
        )
    changes = version_changes(previous.tree_json, frozen.tree) if previous else []

    version = RelazioneVersion(
        cycle=current,
        number=number,
        kind=kind,
        previous=previous,
        errata_note=errata_note,
        changes=changes,
        tree_json=frozen.tree,
        tree_sha256=frozen.tree_sha256,
        html=frozen.html,
        html_sha256=frozen.html_sha256,
        data_csv=frozen.data_csv,
        data_json=frozen.data_json,
        data_csv_sha256=sha256(frozen.data_csv),
        data_json_sha256=sha256(frozen.data_json),
        pdf_sha256=frozen.pdf_sha256,
        pdf_size=len(frozen.pdf) if frozen.pdf is not None else None,
        pdf_signed=frozen.pdf_signed,
        pdf_signer=frozen.pdf_signer,
        pdf_error=frozen.pdf_error,
        decision=decision,
        decision_text=decision_text,
        validated_at=validated_at,
        validated_by=_real(user),
        oiv_members=members,
        validation_html=validation_html,
        validation_html_sha256=sha256(validation_html),
        validation_pdf_sha256=sha256(validation_pdf) if validation_pdf is not None else "",
        validation_pdf_signed=validation_signed,
        validation_pdf_error=validation_error,
        created_at=validated_at,
    )
    # The files under temporary names now, at their own names once the row is committed
    # (reports.workflow.version_storage): never a file of a version without its row, nor a suffixed
    # name.
    pending: list[version_storage.Pending] = []
    outermost = not transaction.get_connection().in_atomic_block
    try:
        files = [
            ("pdf", version.pdf_name, frozen.pdf),
            ("validation_pdf", version.validation_pdf_name, validation_pdf),
        ]
        try:
            for field_name, filename, content in files:
                if content is not None:
                    name = version_storage.file_name(version, field_name, filename)
                    pending.append(version_storage.write_temporary(name, content))
                    setattr(version, field_name, name)
        except OSError as error:
            logger.exception("Relazione %s v%s: version files not written", current.year, number)
            raise TransitionRefused([STORAGE_REFUSED]) from error
        with transaction.atomic():
            locked = _lock(current)
            _check(locked, Action.VALIDATE)
            latest = RelazioneVersion.objects.filter(cycle=locked).order_by("-number").first()
            if (latest.number if latest else 0) != number - 1:
                raise TransitionRefused(["Un'altra validazione è stata registrata nel frattempo."])
            _, digest = cycle_tree(cycle=locked)
            if digest != frozen.tree_sha256:
                raise TransitionRefused(
                    ["I dati del ciclo sono cambiati durante la validazione: ripeterla."]
                )
            try:
                version_storage.claim(pending)
            except version_storage.NameTaken as taken:
                logger.error("Relazione %s v%s: %s is a version's", locked.year, number, taken)
                raise TransitionRefused(
                    [
                        f"Il file «{taken.name}» esiste già e appartiene a un'altra versione: "
                        "nulla è stato validato. Verificare le versioni (manage.py "
                        "verify_versions) e avvisare l'amministratore del sistema."
                    ]
                ) from taken
            version.cycle = locked
            version.save()
            now = timezone.now()
            Remark.objects.filter(cycle=locked, status=Remark.Status.ANSWERED).update(
                status=Remark.Status.RESOLVED, resolved_at=now, resolved_by=_real(user)
            )
            _record(
                cycle=locked,
                user=user,
                action=Action.VALIDATE,
                comment=comment or decision_text,
                data={
                    "version": number,
                    "decision": decision,
                    "sha256": version.digest,
                    "html_sha256": version.html_sha256,
                    "tree_sha256": version.tree_sha256,
                },
            )
            if outermost:
                transaction.on_commit(lambda: version_storage.move_into_place(pending))
        if not outermost:
            # Inside a caller's transaction (a script, the test suite) the commit is the
            # caller's: the files move now; an outer rollback leaves orphans for orphans_clean.
            version_storage.move_into_place(pending)
    except BaseException:
        version_storage.discard(pending)
        raise
    cycle.status = Status.VALIDATED
    return version


# ------------------------------------------------------------------------------ integrity


Integrity = integrity.Integrity


def version_verify(*, version: RelazioneVersion) -> Integrity:
    """Recompute every digest of a frozen version from what is stored (database and files):
    reports.workflow.integrity.verify, nothing taken from the cache. The problems name the version
    and
    the part (the file's name)."""
    return integrity.verify(version=version)


# ------------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class Step:
    """A step of the workflow, everything about it in one row: the audit record's action, the
    URL's slug, the button (label, description, the fields its form posts), who may do it (role),
    from which states to which (``to_status`` None: the state does not change), the precondition
    (the Italian reasons why not yet, checked by the service and shown by the panel), the service
    the view calls, the message after it and where the view goes then (``done_url``, the panel or
    the review otherwise). ``what`` names it in the refusals ("Solo … può {what}.", "{what} è
    possibile solo nello stato …"; ``state_what`` in the latter when it is worded differently)."""

    action: str  # CycleTransition.Action
    slug: str
    label: str
    description: str | Callable[[_Facts], str]
    role: str  # CONTROLLO or OIV
    allowed_from: tuple[str, ...]
    to_status: str | None
    what: str
    success: str
    service: Callable[..., Any]  # (cycle=, user=, post=) -> the service's result
    precondition: Callable[[Cycle], list[str]] | None = None
    warnings: Callable[[_Facts], list[str]] | None = None
    state_what: str = ""
    form: str = "comment"  # the form's fields: "comment", "validation", "errata"
    busy: str = ""  # said while the step runs (seconds)
    done_url: Callable[[Cycle, Any], str] | None = None


def _with_comment(service: Callable[..., Any]) -> Callable[..., Any]:
    def run(*, cycle: Cycle, user: User, post) -> Any:
        return service(cycle=cycle, user=user, comment=post.get("comment", ""))

    return run


def _validate(*, cycle: Cycle, user: User, post) -> RelazioneVersion:
    return cycle_validate(
        cycle=cycle,
        user=user,
        decision=post.get("decision", ""),
        decision_text=post.get("decision_text", ""),
    )


def _errata(*, cycle: Cycle, user: User, post) -> CycleTransition:
    return errata_open(cycle=cycle, user=user, note=post.get("note", ""))


def _consistency_description(facts: _Facts) -> str:
    return (
        f"Dichiara esaminate le {len(facts.score.discrepancies)} incongruenze tra le cifre "
        "dichiarate e quelle calcolate (la cifra calcolata prevale)."
    )


def _consistency_warnings(facts: _Facts) -> list[str]:
    done = not consistency_reasons(facts.cycle, facts.score)
    return ["Verifica già registrata e ancora valida."] if done else []


STEPS: tuple[Step, ...] = (
    Step(
        Action.START_MONITORING,
        slug="avvia-monitoraggio",
        label="Avvia il monitoraggio",
        description="Il Piano è approvato: i referenti registrano i valori.",
        role=CONTROLLO,
        allowed_from=(Status.PLANNING,),
        to_status=Status.MONITORING,
        what="avviare il monitoraggio",
        precondition=start_monitoring_reasons,
        service=_with_comment(cycle_start_monitoring),
        success="Monitoraggio avviato: i referenti possono registrare i valori.",
    ),
    Step(
        Action.START_REPORTING,
        slug="avvia-rendicontazione",
        label="Avvia la rendicontazione",
        description="A fine anno: si completano i valori a consuntivo e la Relazione.",
        role=CONTROLLO,
        allowed_from=(Status.MONITORING,),
        to_status=Status.REPORTING,
        what="avviare la rendicontazione",
        precondition=start_reporting_reasons,
        service=_with_comment(cycle_start_reporting),
        success="Rendicontazione avviata.",
    ),
    Step(
        Action.CONSISTENCY_REVIEW,
        slug="verifica-coerenza",
        label="Registra la verifica del rapporto di coerenza",
        description=_consistency_description,
        role=CONTROLLO,
        allowed_from=(Status.REPORTING, Status.RETURNED),
        to_status=None,
        what="registrare la verifica del rapporto di coerenza",
        state_what="verificare il rapporto di coerenza",
        warnings=_consistency_warnings,
        service=_with_comment(consistency_review_record),
        success="Verifica del rapporto di coerenza registrata.",
    ),
    Step(
        Action.SUBMIT,
        slug="invia",
        label="Invia all'OIV",
        description="Da questo momento Piano, valori e Relazione sono in sola lettura.",
        role=CONTROLLO,
        allowed_from=(Status.REPORTING,),
        to_status=Status.SUBMITTED,
        what="inviare la Relazione all'OIV",
        precondition=submit_reasons,
        service=_with_comment(cycle_submit),
        success="Relazione inviata all'OIV: Piano, valori e Relazione sono ora in sola lettura.",
    ),
    Step(
        Action.RESUBMIT,
        slug="reinvia",
        label="Invia di nuovo all'OIV",
        description="Da questo momento Piano, valori e Relazione sono in sola lettura.",
        role=CONTROLLO,
        allowed_from=(Status.RETURNED,),
        to_status=Status.SUBMITTED,
        what="inviare di nuovo la Relazione all'OIV",
        precondition=lambda cycle: submit_reasons(cycle, resubmit=True),
        service=_with_comment(cycle_resubmit),
        success="Relazione inviata di nuovo all'OIV.",
    ),
    Step(
        Action.RETURN,
        slug="restituisci",
        label="Restituisci con osservazioni",
        description="Riapre solo gli obiettivi e le sezioni indicati nelle osservazioni «da "
        "riaprire».",
        role=OIV,
        allowed_from=(Status.SUBMITTED,),
        to_status=Status.RETURNED,
        what="restituire la Relazione",
        precondition=return_reasons,
        service=_with_comment(cycle_return),
        success="Relazione restituita con osservazioni: sono riaperti solo gli oggetti indicati.",
    ),
    Step(
        Action.VALIDATE,
        slug="valida",
        label="Valida la Relazione",
        description="Produce il documento di validazione e congela la versione che sarà "
        "pubblicata.",
        role=OIV,
        allowed_from=(Status.SUBMITTED,),
        to_status=Status.VALIDATED,
        what="validare la Relazione",
        state_what="validare",
        precondition=validate_reasons,
        warnings=lambda facts: validate_warnings(facts.cycle),
        service=_validate,
        success="Relazione validata: documento di validazione e versione congelata creati.",
        form="validation",
        busy="Validazione in corso: si generano la versione congelata della Relazione, il suo "
        "PDF e il documento di validazione. Può richiedere una decina di secondi: non chiudere "
        "la pagina.",
        done_url=lambda cycle, version: reverse(
            "workflow:validation", args=[cycle.year, version.number]
        ),
    ),
    Step(
        Action.PUBLISH,
        slug="pubblica",
        label="Pubblica",
        description="Rende pubblica la versione validata in Amministrazione trasparente.",
        role=CONTROLLO,
        allowed_from=(Status.VALIDATED,),
        to_status=Status.PUBLISHED,
        what="pubblicare la Relazione",
        state_what="pubblicare",
        precondition=publish_reasons,
        service=_with_comment(cycle_publish),
        success="Relazione pubblicata.",
    ),
    Step(
        Action.ERRATA,
        slug="errata",
        label="Apri un'errata corrige",
        description="Riporta il ciclo in rendicontazione per una correzione: servirà una nuova "
        "validazione e la nuova versione sarà pubblicata accanto a quella attuale, che resta "
        "consultabile.",
        role=CONTROLLO,
        allowed_from=(Status.PUBLISHED,),
        to_status=Status.REPORTING,
        what="aprire un'errata corrige",
        service=_errata,
        success="Errata corrige aperta: il ciclo è tornato in rendicontazione.",
        form="errata",
    ),
)
STEP: dict[str, Step] = {step.action: step for step in STEPS}
STEP_BY_SLUG: dict[str, Step] = {step.slug: step for step in STEPS}
