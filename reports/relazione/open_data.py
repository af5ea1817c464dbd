"""The open data of a cycle's Relazione (CC-BY 4.0, docs/open-data.md): every objective,
indicator, target, value, achievement and roll-up with its formula, as flat records, and their two
files, dati.csv and dati.json. One writer for the public files (reports.trasparenza), the PDF's
attachments (reports.relazione.pdf) and the frozen versions (reports.workflow.services).

- ``records(cycle, score=...)``: the score and its records (typed values).
- ``csv_text(records)``: dati.csv; ``payload(cycle, score, records, source=...)``: dati.json's
  object, ``json_text(...)`` its text as frozen and attached (without the generation time).
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal

from organization.models import Cycle
from performance import scoring
from performance.selectors import cycle_score
from reports.relazione import selectors as report_selectors

LICENSE = {
    "id": "CC-BY-4.0",
    "name": "Creative Commons Attribuzione 4.0 Internazionale (CC BY 4.0)",
    "url": "https://creativecommons.org/licenses/by/4.0/deed.it",
}
LICENSE_LINK = '<https://creativecommons.org/licenses/by/4.0/>; rel="license"'


# (name, description) — docs/open-data.md documents the same list; tests keep them in step.
COLUMNS: list[tuple[str, str]] = [
    ("anno", "anno del ciclo della performance"),
    ("ambito", "albero di appartenenza: strategico, operativo_ente, unita, individuale"),
    (
        "tipo",
        "totale | prospettiva | obiettivo_strategico | obiettivo | unita | posizione | target",
    ),
    ("chiave", "identificativo stabile nel file (con ambito e chiave_padre)"),
    ("chiave_padre", "chiave dell'elemento che lo contiene"),
    ("codice", "codice (prospettiva, obiettivo strategico)"),
    ("denominazione", "nome dell'elemento (per un target: indicatore e unità)"),
    ("tipo_unita", "per le unità: ente, group, area, servizio, ufficio, azienda_speciale"),
    ("unita_organizzativa", "per i target: unità a cui è assegnato (vuoto: Ente)"),
    ("obiettivo", "per i target: obiettivo di appartenenza"),
    ("codice_obiettivo_strategico", "per i target: codice dell'obiettivo strategico collegato"),
    ("indicatore", "per i target: indicatore"),
    ("unita_di_misura", "per i target: unità di misura dell'indicatore"),
    ("target", "target come approvato (testo)"),
    ("target_originario", "target prima della revisione del Piano, se rivisto"),
    ("regola", "regola di calcolo del target (at_least, at_most, deadline, ...)"),
    ("valore_rilevato", "valore rilevato a consuntivo come scritto"),
    ("valore_numerico", "valore rilevato numerico (punto decimale)"),
    ("data_rilevata", "valore rilevato come data (AAAA-MM-GG)"),
    ("valore_partenza", "valore di partenza dell'indicatore (punto decimale)"),
    ("anno_partenza", "anno del valore di partenza"),
    (
        "raggiungimento",
        "percentuale di raggiungimento 0-100 (punto decimale); vuoto se non misurato",
    ),
    ("fascia", "fascia di raggiungimento (raggiunto, parziale, non_raggiunto)"),
    ("formula", "come è stata calcolata la percentuale (testo, in formato italiano)"),
    ("metodo", "per gli aggregati: own_rows, subtree_rows, objectives, children"),
    ("numero_elementi", "per gli aggregati: numero di elementi nella media"),
    ("somma", "per gli aggregati a pesi uguali: somma delle percentuali"),
    ("escluso_motivo", "motivo per cui la riga o l'elemento non entra nelle medie"),
    (
        "rettifica",
        "per i target: true se la percentuale è una rettifica motivata, altrimenti false",
    ),
    ("rettifica_motivazione", "motivazione della rettifica"),
    ("valore_regola", "percentuale che la regola darebbe senza rettifica (2 decimali)"),
    ("nota", "nota a piè di pagina del target"),
]
COLUMN_NAMES = [name for name, _ in COLUMNS]
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _r2(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def records(
    cycle: Cycle, *, score: scoring.CycleScore | None = None
) -> tuple[scoring.CycleScore, list[dict]]:
    """Every node and row of the cycle's score as flat records (values typed: Decimal, date,
    bool, str, None); ``csv_text``/``payload`` serialize them. ``score``: the cycle's, if at
    hand (computed otherwise)."""
    score = score if score is not None else cycle_score(cycle=cycle)
    display = report_selectors.target_display_fields(cycle=cycle)
    by_indicator: dict[str, list[dict]] = {}
    for info in sorted(display.values(), key=lambda i: (i["order"], i["id"])):
        by_indicator.setdefault(info["indicator_key"], []).append(info)
    year = cycle.year
    out: list[dict] = []

    def node_record(scope: str, node: scoring.NodeResult, parent: str, kind: str) -> None:
        out.append(
            {
                "anno": year,
                "ambito": scope,
                "tipo": kind,
                "chiave": node.key,
                "chiave_padre": parent,
                "codice": node.code or "",
                "denominazione": node.name,
                "tipo_unita": node.kind if kind == "unita" else "",
                "raggiungimento": node.achievement,
                "fascia": node.band.key if node.band else "",
                "formula": node.formula,
                "metodo": node.method,
                "numero_elementi": node.count,
                "somma": node.total,
                "escluso_motivo": "; ".join(f"{e.label}: {e.reason}" for e in node.excluded),
            }
        )

    def row_record(scope: str, row: scoring.RowResult, parent: str) -> None:
        info = display.get(row.key)
        if info is None and row.key.startswith("ente:"):
            infos = by_indicator.get(row.key.split(":", 1)[1], [])
            info = infos[0] if infos else None
        info = info or {}
        derived = row.key.startswith("ente:")
        out.append(
            {
                "anno": year,
                "ambito": scope,
                "tipo": "target",
                "chiave": row.key,
                "chiave_padre": parent,
                "denominazione": row.label,
                "unita_organizzativa": "" if derived else (info.get("unit_name") or ""),
                "obiettivo": info.get("objective", ""),
                "codice_obiettivo_strategico": info.get("strategic_code") or "",
                "indicatore": info.get("indicator", ""),
                "unita_di_misura": info.get("unit_of_measure", ""),
                "target": info.get("text", ""),
                "target_originario": info.get("original_text", ""),
                "regola": info.get("rule_kind", ""),
                "valore_rilevato": "" if derived else info.get("value", ""),
                "valore_numerico": None if derived else info.get("actual_number"),
                "data_rilevata": None if derived else info.get("actual_date"),
                "valore_partenza": info.get("baseline_value"),
                "anno_partenza": info.get("baseline_year"),
                "raggiungimento": row.achievement,
                "fascia": row.band.key if row.band else "",
                "formula": row.formula,
                "escluso_motivo": row.excluded_reason,
                "rettifica": row.override,
                "rettifica_motivazione": row.override_reason,
                "valore_regola": _r2(row.rule_value),
                "nota": "" if derived else info.get("footnote", ""),
            }
        )

    def tree(scope: str, node: scoring.NodeResult, parent: str) -> None:
        kind = {
            "strategic": "totale",
            "operational": "totale",
            "perspective": "prospettiva",
            "strategic_objective": "obiettivo_strategico",
            "objective": "obiettivo",
            "position": "posizione",
        }.get(node.kind, "unita")
        node_record(scope, node, parent, kind)
        for row in node.rows:
            row_record(scope, row, node.key)
        for child in node.children:
            tree(scope, child, node.key)

    tree("strategico", score.strategic, "")
    tree("operativo_ente", score.operational, "")
    if score.units is not None:
        tree("unita", score.units, "")
    for position in score.individual:
        tree("individuale", position, "")
    for record in out:
        for name in COLUMN_NAMES:
            record.setdefault(name, None)
    return score, out


def plain(value: Decimal | None) -> str:
    """A Decimal with a dot and no exponent ("79.75", "100"): data attributes and open data."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    if text and text[0] in "=+-@\t\r" and not _NUMBER.match(text):
        return "'" + text
    return text


def _json_value(value):
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def csv_text(records: list[dict]) -> str:
    """dati.csv: the header and one line per record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMN_NAMES)
    for record in records:
        writer.writerow([_csv_cell(record[name]) for name in COLUMN_NAMES])
    return buffer.getvalue()


def payload(
    cycle: Cycle,
    score: scoring.CycleScore,
    records: list[dict],
    *,
    source: str,
    generated_at: str | None = None,
) -> dict:
    """dati.json's object; ``generated_at`` only in the public file (the PDF and the frozen
    version have their own date)."""
    head = {
        "title": f"Relazione sulla performance {cycle.year} – {cycle.organization}: dati",
        "organization": str(cycle.organization),
        "organization_name": cycle.organization.name,
        "year": cycle.year,
        "license": LICENSE["id"],
        "license_name": LICENSE["name"],
        "license_url": LICENSE["url"],
        "source": source,
        "documentation": "docs/open-data.md",
    }
    if generated_at is not None:
        head["generated_at"] = generated_at
    return {
        **head,
        "decimal_separator": ".",
        "columns": [{"name": n, "description": d} for n, d in COLUMNS],
        "totals": {
            "strategic": {
                "achievement": _json_value(score.strategic.achievement),
                "formula": score.strategic.formula,
            },
            "operational": {
                "achievement": _json_value(score.operational.achievement),
                "formula": score.operational.formula,
            },
        },
        "counts": score.counts,
        "discrepancies": [
            {
                "ref": c.stated.ref,
                "label": c.stated.label,
                "node": c.stated.node,
                "field": c.field,
                "stated": _json_value(c.stated_value),
                "computed": _json_value(c.computed),
                "formula": c.formula,
            }
            for c in score.discrepancies
        ],
        "records": [{name: _json_value(r[name]) for name in COLUMN_NAMES} for r in records],
    }


def json_text(cycle: Cycle, score: scoring.CycleScore, records: list[dict], *, source: str) -> str:
    """dati.json as attached to the PDF and frozen in a version (no generation time)."""
    return json.dumps(payload(cycle, score, records, source=source), ensure_ascii=False, indent=1)
