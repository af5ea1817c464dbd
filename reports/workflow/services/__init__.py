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

The package: ``steps`` (the STEPS table, the check every transition runs through, what can be done
next), ``preconditions``, ``transitions`` (monitoring to return), ``review`` (remarks, objectives,
exclusions), ``freezing`` (the frozen version, its digests and integrity), ``validation`` and
``validation_document``, ``publication`` (publication and errata corrige), ``base`` (roles, the
refusal, the lock and the audit record). Callers import the package
(``from reports.workflow import services as workflow``); the names below are its interface."""

# steps first: the steps' services reach the table through it at call time
# isort: split
from reports.workflow.services.steps import (
    NEXT_ACTOR,
    STEP,
    STEP_BY_SLUG,
    STEPS,
    Step,
    TransitionOption,
    transition_options,
)

# isort: split
from reports.models.workflow import CycleTransition, RelazioneVersion
from reports.workflow.integrity import canonical_json as _canonical
from reports.workflow.services.base import (
    CONTROLLO,
    MISSING_LISTED,
    OIV,
    Action,
    Status,
    TransitionRefused,
    User,
    _lock,
    sha256,
)
from reports.workflow.services.freezing import (
    Frozen,
    Integrity,
    _public_view,
    cycle_tree,
    freeze,
    relazione_digests,
    version_changes,
    version_verify,
)
from reports.workflow.services.preconditions import (
    consistency_reasons,
    publish_reasons,
    return_reasons,
    start_monitoring_reasons,
    start_reporting_reasons,
    submit_reasons,
    tree_changed_reasons,
    validate_reasons,
    validate_warnings,
)
from reports.workflow.services.publication import (
    cycle_publish,
    errata_open,
)
from reports.workflow.services.review import (
    objective_accept,
    objectives_accept_all,
    remark_answer,
    remark_create,
    remark_resolve,
    target_exclude,
)
from reports.workflow.services.transitions import (
    consistency_review_record,
    cycle_resubmit,
    cycle_return,
    cycle_start_monitoring,
    cycle_start_reporting,
    cycle_submit,
)
from reports.workflow.services.validation import (
    STORAGE_REFUSED,
    cycle_validate,
)
from reports.workflow.services.validation_document import (
    validation_context,
)

__all__ = [
    "CONTROLLO",
    "MISSING_LISTED",
    "NEXT_ACTOR",
    "OIV",
    "STEP",
    "STEPS",
    "STEP_BY_SLUG",
    "STORAGE_REFUSED",
    "Action",
    "CycleTransition",
    "Frozen",
    "Integrity",
    "RelazioneVersion",
    "Status",
    "Step",
    "TransitionOption",
    "TransitionRefused",
    "User",
    "_canonical",
    "_lock",
    "_public_view",
    "consistency_reasons",
    "consistency_review_record",
    "cycle_publish",
    "cycle_resubmit",
    "cycle_return",
    "cycle_start_monitoring",
    "cycle_start_reporting",
    "cycle_submit",
    "cycle_tree",
    "cycle_validate",
    "errata_open",
    "freeze",
    "objective_accept",
    "objectives_accept_all",
    "publish_reasons",
    "relazione_digests",
    "remark_answer",
    "remark_create",
    "remark_resolve",
    "return_reasons",
    "sha256",
    "start_monitoring_reasons",
    "start_reporting_reasons",
    "submit_reasons",
    "target_exclude",
    "transition_options",
    "tree_changed_reasons",
    "validate_reasons",
    "validate_warnings",
    "validation_context",
    "version_changes",
    "version_verify",
]
