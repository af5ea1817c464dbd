"""The documento di validazione: its context and its PDF."""

from __future__ import annotations

import datetime as dt

from organization.models import Cycle
from performance import scoring
from performance.models import Objective
from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    RelazioneVersion,
)
from reports.workflow import selectors
from reports.workflow.services.base import Action
from reports.workflow.services.freezing import Frozen


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
