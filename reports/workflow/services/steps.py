"""The workflow's steps as one table (STEPS: slug, label, role, from/to states, precondition,
service, success message), the check every transition runs through and what the UI may offer next
(transition_options, NEXT_ACTOR).

The steps' services live in their own modules and reach the table through this module at call
time (``steps.STEP``), so the package imports this module first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.urls import reverse

from organization import permissions
from organization.models import Cycle
from performance import scoring
from performance.selectors import cycle_score
from reports.models.workflow import (
    CycleTransition,
    RelazioneVersion,
)
from reports.workflow.services.base import (
    CONTROLLO,
    OIV,
    Action,
    Status,
    TransitionRefused,
    User,
    _lock,
    _record,
    _refuse_state,
    _require_controllo,
    _require_oiv,
)
from reports.workflow.services.preconditions import (
    consistency_reasons,
    publish_reasons,
    return_reasons,
    start_monitoring_reasons,
    start_reporting_reasons,
    submit_reasons,
    validate_reasons,
    validate_warnings,
)
from reports.workflow.services.publication import cycle_publish, errata_open
from reports.workflow.services.transitions import (
    consistency_review_record,
    cycle_resubmit,
    cycle_return,
    cycle_start_monitoring,
    cycle_start_reporting,
    cycle_submit,
)
from reports.workflow.services.validation import cycle_validate


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
