"""The preconditions of the steps: the Italian reasons why a step cannot be done yet."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from organization.models import Cycle, MeasurementPeriod
from performance import scoring
from performance.models import Objective
from performance.selectors import cycle_score, scored_targets
from reports.models import Relazione
from reports.workflow import selectors
from reports.workflow.services.base import MISSING_LISTED, _date, _plural
from reports.workflow.services.freezing import cycle_tree

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
