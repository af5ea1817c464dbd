"""Freezing a version: the computed tree and its digests, the document, its open data and PDF
(signed when configured), what changed from the previous version, and the versions' integrity."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from organization.models import Cycle
from performance import scoring
from performance.selectors import cycle_score
from reports.models import ContextTable, Relazione, Section
from reports.models.workflow import (
    RelazioneVersion,
)
from reports.relazione import document, open_data
from reports.workflow import integrity, signing
from reports.workflow.integrity import canonical_json as _canonical
from reports.workflow.services.base import Status, TransitionRefused, logger, sha256

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


# ------------------------------------------------------------------------------ integrity


Integrity = integrity.Integrity


def version_verify(*, version: RelazioneVersion) -> Integrity:
    """Recompute every digest of a frozen version from what is stored (database and files):
    reports.workflow.integrity.verify, nothing taken from the cache. The problems name the version
    and
    the part (the file's name)."""
    return integrity.verify(version=version)
