"""The Relazione sulla Performance as a document: everything its templates need (the public
page, the staff preview, the PDF, the frozen version), arranged in the reference document's order
with formulas and footnotes.

Every figure is the scoring engine's (``performance.selectors.cycle_score``, once per document);
this module only arranges them. The narrative (Premessa, contesto, processo...) comes from
``reports.models``; a missing section is left out. Queries: a fixed number (the engine's plus
five), whatever the size of the plan.

- ``relazione_context(cycle, preview=...)``: the templates' context (a fresh dict each call).
- ``build(cycle)``: the same with the cycle's score and its open data (``Document``).
- ``built_once()``: within it, the document of a cycle is built once and shared (the freezing of
  a version renders the HTML, the open data and the PDF from one build).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from organization.models import Cycle, PlanDocument
from performance import scoring
from performance.selectors import cycle_score
from reports.models import Section
from reports.relazione import charts, open_data, rendering
from reports.relazione import selectors as report_selectors

METHOD_LABELS = {
    "own_rows": "media delle righe dell'unità",
    "subtree_rows": "media di tutte le righe delle unità sottostanti",
    "objectives": "media per obiettivo, poi degli obiettivi",
    "children": "media delle unità sottostanti",
}
UNIT_KIND_LABELS = {
    "ente": "Ente",
    "group": "Raggruppamento",
    "area": "Area",
    "servizio": "Servizio",
    "ufficio": "Ufficio",
    "azienda_speciale": "Azienda speciale",
}
SECTION_TITLES = dict(Section.Key.choices)
CONTEXT_EXTERNAL = ("contesto-normativo", "contesto-economico")
CONTEXT_ADMIN = (
    "organico",
    "azienda-speciale",
    "partecipazioni",
    "articolazione-territoriale",
    "risorse-economiche",
)
BASELINE_LIMIT = 10


# ------------------------------------------------------------------------------ small pieces


@dataclass(frozen=True)
class Figure:
    """An achievement as shown: Italian text, band, and the machine value for data attributes."""

    value: Decimal | None
    band: str = "nd"
    band_label: str = "non misurato"
    ref: str = ""  # score.find() reference: "unit:affari-generali", "perspective:1"...

    @property
    def text(self) -> str:
        return scoring.fmt_pct(self.value)

    @property
    def data(self) -> str:
        return open_data.plain(self.value)


def _figure(result: scoring.NodeResult | scoring.RowResult | None, ref: str = "") -> Figure:
    if result is None or result.achievement is None:
        return Figure(None, ref=ref)
    band = result.band
    return Figure(
        result.achievement,
        band.key if band else "nd",
        band.label if band else "",
        ref,
    )


@dataclass(frozen=True)
class FootRef:
    number: int
    note_id: str
    ref_id: str


@dataclass
class Footnote:
    number: int
    id: str
    text: str
    kind: str  # "nota" | "rettifica"
    refs: list[str] = field(default_factory=list)


class Footnotes:
    """Numbered notes in order of first citation; a note cited twice gets one number and a link
    back to each place that cites it."""

    def __init__(self) -> None:
        self.items: list[Footnote] = []
        self._by_key: dict[tuple[str, str], Footnote] = {}

    def cite(self, key: tuple[str, str], text: str, kind: str = "nota") -> FootRef:
        note = self._by_key.get(key)
        if note is None:
            number = len(self.items) + 1
            note = Footnote(number, f"nota-{number}", text, kind)
            self.items.append(note)
            self._by_key[key] = note
        ref_id = f"rif-{note.number}-{len(note.refs) + 1}"
        note.refs.append(ref_id)
        return FootRef(note.number, note.id, ref_id)


@dataclass
class TableRow:
    key: str
    indicator: str
    target: str
    value: str
    figure: Figure
    formula: str = ""
    excluded_reason: str = ""
    override: FootRef | None = None
    notes_refs: list[FootRef] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unit_name: str = ""


@dataclass
class ObjectiveBlock:
    key: str
    title: str
    code: str = ""
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class Group:
    """A strategic objective (code) with its objectives; in 3.1 also its perspective."""

    key: str
    code: str
    title: str
    figure: Figure | None = None
    formula: str = ""
    objectives: list[ObjectiveBlock] = field(default_factory=list)

    @property
    def span(self) -> int:
        return sum(len(o.rows) for o in self.objectives)


@dataclass
class PerspectiveBlock:
    code: str
    name: str
    figure: Figure
    formula: str
    groups: list[Group] = field(default_factory=list)


@dataclass
class UnitBlock:
    key: str
    name: str
    kind: str
    depth: int
    figure: Figure
    formula: str
    method: str
    groups: list[Group] = field(default_factory=list)
    children: list[UnitBlock] = field(default_factory=list)
    excluded: list[scoring.Exclusion] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return UNIT_KIND_LABELS.get(self.kind, self.kind)

    @property
    def heading_level(self) -> int:
        return min(3 + self.depth, 6)

    @property
    def row_count(self) -> int:
        return sum(g.span for g in self.groups)


@dataclass
class PositionBlock:
    key: str
    title: str
    holder: str
    kind: str
    figure: Figure
    formula: str
    objectives: list[ObjectiveBlock] = field(default_factory=list)

    @property
    def has_codes(self) -> bool:
        return any(o.code for o in self.objectives)


@dataclass
class ChartRow:
    label: str
    cells: list[str] = field(default_factory=list)
    figure: Figure | None = None


@dataclass
class Chart:
    """An SVG chart and its data (the text alternative: a table with the same figures)."""

    id: str
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[ChartRow]
    caption: str = ""


# ---------------------------------------------------------------------------- the document


class _Builder:
    """Turns the engine's score and the display fields into the page's blocks, citing
    footnotes in document order."""

    def __init__(self, cycle: Cycle, score: scoring.CycleScore, display: dict[str, dict]):
        self.cycle = cycle
        self.score = score
        self.display = display
        self.notes = Footnotes()
        self.by_indicator: dict[str, list[dict]] = {}
        for info in sorted(display.values(), key=lambda i: (i["order"], i["id"])):
            self.by_indicator.setdefault(info["indicator_key"], []).append(info)
        self.unit_names = (
            {n.key: n.name for n in score.units.walk()} if score.units is not None else {}
        )
        self.goal_titles: dict[str, str] = {}
        for node in score.strategic.walk():
            if node.kind == "strategic_objective":
                self.goal_titles[node.code] = node.name
        for node in score.operational.children:
            self.goal_titles.setdefault(node.code, node.name)

    # -- rows

    def _info(self, result: scoring.RowResult) -> tuple[dict | None, list[dict]]:
        info = self.display.get(result.key)
        if info is not None:
            return info, [info]
        if result.key.startswith("ente:"):
            parts = self.by_indicator.get(result.key.split(":", 1)[1], [])
            return (parts[0] if parts else None), parts
        return None, []

    def row(self, result: scoring.RowResult, *, where: str = "ente") -> TableRow:
        """A table row; ``where`` is the table ("ente", "unit", "position"): it decides whether
        the Note column names the responsible office or unit."""
        info, parts = self._info(result)
        if info is None:
            return TableRow(result.key, result.label, "", "", _figure(result), result.formula)
        if len(parts) > 1:
            value = "; ".join(
                f"{p['value']} ({p['unit_name'] or 'Ente'})" for p in parts if p["value"]
            )
        else:
            value = info["value"]
        row = TableRow(
            key=result.key,
            indicator=info["indicator"],
            target=info["text"],
            value=value,
            figure=_figure(result),
            unit_name=", ".join(p["unit_name"] for p in parts if p["unit_name"]),
        )
        if result.achievement is None:
            row.excluded_reason = result.excluded_reason or result.formula
        elif result.override:
            row.override = self.notes.cite(
                ("rettifica", result.key), f"Rettifica: {result.formula.rstrip('.')}.", "rettifica"
            )
        else:
            row.formula = result.formula
        for part in parts:
            if part["footnote"]:
                row.notes_refs.append(self.notes.cite(("nota", part["key"]), part["footnote"]))
        responsible = {
            "ente": info["office_name"] or row.unit_name,
            "unit": info["office_name"],
        }.get(where)
        if responsible:
            row.notes.append(responsible)
        if info["original_text"]:
            revised = f" (rivisto con: {info['revised_by']})" if info["revised_by"] else ""
            row.notes.append(f"Target originario: {info['original_text']}{revised}")
        for text in (info["baseline_text"], info["indicator_notes"], info["actual_note"]):
            if text and text not in row.notes:
                row.notes.append(text)
        # a note already contained in a longer one ("n. ore 2018 = 524") is said once
        row.notes = [n for n in row.notes if not any(n != m and n in m for m in row.notes)]
        return row

    def _objective_blocks(self, rows: Iterable[scoring.RowResult], **kw) -> list[ObjectiveBlock]:
        blocks: dict[str, ObjectiveBlock] = {}
        for result in rows:
            info, _ = self._info(result)
            key = result.objective_key or result.key
            block = blocks.get(key)
            if block is None:
                title = info["objective"] if info else result.label
                code = (info["strategic_code"] or info["objective_code"] or "") if info else ""
                block = blocks[key] = ObjectiveBlock(key, title, code)
            block.rows.append(self.row(result, **kw))
        return list(blocks.values())

    def _groups_by_code(self, rows: Iterable[scoring.RowResult]) -> list[Group]:
        by_code: dict[str, list[scoring.RowResult]] = {}
        for result in rows:
            info, _ = self._info(result)
            code = (info or {}).get("strategic_code") or ""
            by_code.setdefault(code, []).append(result)
        return [
            Group(
                key=f"codice-{code or 'nessuno'}",
                code=code,
                title=self.goal_titles.get(code, "Senza obiettivo strategico"),
                objectives=self._objective_blocks(results, where="unit"),
            )
            for code, results in by_code.items()
        ]

    # -- sections

    def strategic(self) -> list[PerspectiveBlock]:
        out = []
        for perspective in self.score.strategic.children:
            block = PerspectiveBlock(
                perspective.code,
                perspective.name,
                _figure(perspective, f"perspective:{perspective.code}"),
                perspective.formula,
            )
            for goal in perspective.children:
                group = Group(
                    goal.key,
                    goal.code,
                    goal.name,
                    _figure(goal, f"strategic-objective:{goal.code}"),
                    goal.formula,
                )
                for objective in goal.children:
                    if objective.rows:  # an objective without indicators has no table row
                        group.objectives.append(
                            ObjectiveBlock(
                                objective.key,
                                objective.name,
                                goal.code,
                                [self.row(r) for r in objective.rows],
                            )
                        )
                if group.objectives:
                    block.groups.append(group)
            out.append(block)
        return out

    def operational(self) -> list[Group]:
        out = []
        for goal in self.score.operational.children:
            group = Group(goal.key, goal.code, goal.name, _figure(goal), goal.formula)
            for objective in goal.children:
                if objective.rows:
                    group.objectives.append(
                        ObjectiveBlock(
                            objective.key,
                            objective.name,
                            goal.code,
                            [self.row(r) for r in objective.rows],
                        )
                    )
            if group.objectives:
                out.append(group)
        return out

    def units(self) -> list[UnitBlock]:
        if self.score.units is None:
            return []

        def build(node: scoring.NodeResult, depth: int) -> UnitBlock | None:
            children = [b for c in node.children if (b := build(c, depth + 1)) is not None]
            if node.achievement is None and not children and not node.rows:
                return None
            return UnitBlock(
                key=node.key,
                name=node.name,
                kind=node.kind,
                depth=depth,
                figure=_figure(node, f"unit:{node.key}"),
                formula=node.formula,
                method=METHOD_LABELS.get(node.method, node.method),
                groups=self._groups_by_code(node.rows),
                children=children,
                excluded=node.excluded,
            )

        return [b for c in self.score.units.children if (b := build(c, 0)) is not None]

    def positions(self) -> list[PositionBlock]:
        out = []
        for node in self.score.individual:
            holder, kind = "", ""
            for result in node.rows:
                info = self.display.get(result.key)
                if info:
                    holder, kind = info["position_holder"] or "", info["position_kind"] or ""
                    break
            out.append(
                PositionBlock(
                    key=node.key,
                    title=node.name,
                    holder=holder,
                    kind=kind,
                    figure=_figure(node, f"position:{node.key}"),
                    formula=node.formula,
                    objectives=self._objective_blocks(node.rows, where="position"),
                )
            )
        return out


def _summary(score: scoring.CycleScore) -> dict:
    units = []
    if score.units is not None:

        def walk(node: scoring.NodeResult, depth: int) -> None:
            if node.achievement is None:
                return
            units.append(
                {"name": node.name, "depth": depth, "figure": _figure(node, f"unit:{node.key}")}
            )
            for child in node.children:
                walk(child, depth + 1)

        for child in score.units.children:
            walk(child, 0)
    return {
        "perspectives": [
            {"code": p.code, "name": p.name, "figure": _figure(p, f"perspective:{p.code}")}
            for p in score.strategic.children
        ],
        "strategic": _figure(score.strategic, "strategic"),
        "operational": _figure(score.operational, "operational"),
        "units": units,
    }


def _albero(score: scoring.CycleScore) -> list[dict]:
    """Perspective -> strategic objective (code) -> its objectives: the strategic ones of table
    3.1 and the operational ones of the Ente's table."""
    operational = {goal.code: goal for goal in score.operational.children}
    out = []
    for perspective in score.strategic.children:
        goals = []
        for goal in perspective.children:
            op = operational.get(goal.code)
            goals.append(
                {
                    "code": goal.code,
                    "title": goal.name,
                    "figure": _figure(goal, f"strategic-objective:{goal.code}"),
                    "strategic": [
                        {"key": o.key, "title": o.name, "figure": _figure(o)} for o in goal.children
                    ],
                    "operational": [
                        {"key": o.key, "title": o.name, "figure": _figure(o)}
                        for o in (op.children if op else [])
                    ],
                }
            )
        out.append(
            {
                "code": perspective.code,
                "name": perspective.name,
                "figure": _figure(perspective, f"perspective:{perspective.code}"),
                "goals": goals,
            }
        )
    return out


def _band_legend(rules: scoring.Rules) -> list[tuple[str, str, str]]:
    """(key, label, range) of the cycle's bands, best first: "> 90%", "≥ 70% e ≤ 90%", "< 70%"."""
    out = []
    previous: scoring.Band | None = None
    for band in rules.bands:
        low = f"{'≥' if band.inclusive else '>'} {scoring.fmt(band.minimum)}%"
        high = (
            f"{'<' if previous.inclusive else '≤'} {scoring.fmt(previous.minimum)}%"
            if previous is not None
            else ""
        )
        if not high:
            text = low
        elif band.minimum == 0 and band.inclusive:
            text = high
        else:
            text = f"{low} e {high}"
        out.append((band.key, band.label, text))
        previous = band
    return out


def _charts(
    score: scoring.CycleScore, rules: scoring.Rules, display: dict[str, dict]
) -> dict[str, Chart | None]:
    bars = [
        charts.Bar(
            f"{p.code}. {p.name}",
            p.achievement,
            scoring.fmt_pct(p.achievement),
            p.band.key if p.band else "nd",
        )
        for p in score.strategic.children
    ]
    bars.append(
        charts.Bar(
            "Totale obiettivi strategici",
            score.strategic.achievement,
            scoring.fmt_pct(score.strategic.achievement),
            score.strategic.band.key if score.strategic.band else "nd",
        )
    )
    perspectives = Chart(
        id="grafico-prospettive",
        title="Raggiungimento per prospettiva",
        svg=mark_safe(
            charts.bar_chart(
                bars,
                chart_id="grafico-prospettive",
                title="Raggiungimento degli obiettivi strategici per prospettiva",
                desc="Barre orizzontali da 0 a 100%: una per prospettiva e il totale. "
                "I valori sono riportati anche nella tabella che segue.",
            )
        ),
        columns=["Prospettiva", "% di raggiungimento"],
        rows=[
            ChartRow(f"{p.code}. {p.name}", figure=_figure(p, f"perspective:{p.code}"))
            for p in score.strategic.children
        ]
        + [ChartRow("Totale obiettivi strategici", figure=_figure(score.strategic, "strategic"))],
    )

    unit_chart = None
    if score.units is not None:
        nodes: list[tuple[scoring.NodeResult, int]] = []

        def walk(node: scoring.NodeResult, depth: int) -> None:
            if node.achievement is None:
                return
            nodes.append((node, depth))
            for child in node.children:
                walk(child, depth + 1)

        walk(score.units, 0)
        if nodes:
            unit_chart = Chart(
                id="grafico-unita",
                title="Raggiungimento per unità organizzativa e area",
                svg=mark_safe(
                    charts.bar_chart(
                        [
                            charts.Bar(
                                n.name,
                                n.achievement,
                                scoring.fmt_pct(n.achievement),
                                n.band.key if n.band else "nd",
                                level=depth,
                            )
                            for n, depth in nodes
                        ],
                        chart_id="grafico-unita",
                        title="Raggiungimento degli obiettivi operativi per unità organizzativa",
                        desc="Barre orizzontali da 0 a 100%, nell'ordine dell'organigramma "
                        "(le unità interne sono rientrate). Gli stessi valori sono nella tabella "
                        "che segue.",
                    )
                ),
                columns=["Unità organizzativa", "% di raggiungimento"],
                rows=[
                    ChartRow("\u2003" * depth + n.name, figure=_figure(n, f"unit:{n.key}"))
                    for n, depth in nodes
                ],
            )

    legend = _band_legend(rules)
    stacks = []
    table_rows: list[ChartRow] = []
    for label, tree in (
        ("Obiettivi strategici", score.strategic),
        ("Obiettivi operativi", score.operational),
    ):
        objectives = [n for n in tree.walk() if n.kind == "objective" and n.achievement is not None]
        counts = {key: 0 for key, _, _ in legend}
        for node in objectives:
            if node.band is not None:
                counts[node.band.key] = counts.get(node.band.key, 0) + 1
        stacks.append(
            charts.Stack(
                label, tuple(charts.Segment(k, lbl, counts.get(k, 0)) for k, lbl, _ in legend)
            )
        )
        table_rows.append(
            ChartRow(label, [*[str(counts.get(k, 0)) for k, _, _ in legend], str(len(objectives))])
        )
    bands = Chart(
        id="grafico-fasce",
        title="Obiettivi per fascia di raggiungimento",
        svg=mark_safe(
            charts.stacked_bars(
                stacks,
                chart_id="grafico-fasce",
                title="Distribuzione degli obiettivi per fascia di raggiungimento",
                desc="Una barra per gli obiettivi strategici e una per gli operativi, divise per "
                "fascia; il numero di obiettivi è scritto in ogni parte e nella tabella che segue.",
                legend=[(k, f"{lbl} ({rng})") for k, lbl, rng in legend],
            )
        ),
        columns=["Obiettivi", *[f"{lbl} ({rng})" for _, lbl, rng in legend], "Totale"],
        rows=table_rows,
    )

    return {
        "perspectives": perspectives,
        "units": unit_chart,
        "bands": bands,
        "baseline": _baseline_chart(score, display),
    }


def _baseline_chart(score: scoring.CycleScore, display: dict[str, dict]) -> Chart | None:
    """Indicators with a numeric baseline: change of the final value against it, the ~10 largest
    changes. An indicator with several targets uses its Ente-level target, or none."""
    measured = {}
    for tree in (score.strategic, score.operational, score.units, *score.individual):
        if tree is None:
            continue
        for row in tree.all_rows():
            measured[row.key] = row.achievement is not None
    by_indicator: dict[str, list[dict]] = {}
    for info in display.values():
        by_indicator.setdefault(info["indicator_key"], []).append(info)
    items = []
    for infos in by_indicator.values():
        head = infos[0]
        base = head["baseline_value"]
        if base is None or base == 0:
            continue
        chosen = [i for i in infos if i["unit_id"] is None] if len(infos) > 1 else infos
        if len(chosen) != 1:
            continue
        info = chosen[0]
        actual = info["actual_number"]
        if actual is None or not measured.get(info["key"]):
            continue
        change = (Decimal(actual) - Decimal(base)) / abs(Decimal(base)) * 100
        change = change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        better = change > 0 if info["direction"] != "lower" else change < 0
        tone = "neutro" if change == 0 else ("migliora" if better else "peggiora")
        items.append((abs(change), info, Decimal(base), Decimal(actual), change, tone))
    if not items:
        return None
    items.sort(key=lambda item: (-item[0], item[1]["indicator"]))
    items = items[:BASELINE_LIMIT]

    def signed(value: Decimal) -> str:
        return ("+" if value > 0 else "") + scoring.fmt(value, 1) + "%"

    bars = []
    rows: list[ChartRow] = []
    for _, info, base, actual, change, tone in items:
        label = info["indicator"]
        if info["unit_name"]:
            label = f"{label} ({info['unit_name']})"
        bars.append(charts.Bar(label, change, signed(change), tone))
        year = f" ({info['baseline_year']})" if info["baseline_year"] else ""
        rows.append(
            ChartRow(
                label,
                [
                    scoring.fmt(base.normalize()) + year,
                    scoring.fmt(actual.normalize()),
                    signed(change),
                    {"migliora": "miglioramento", "peggiora": "peggioramento"}.get(
                        tone, "invariato"
                    ),
                ],
            )
        )
    return Chart(
        id="grafico-confronto",
        title="Confronto con l'anno precedente",
        svg=mark_safe(
            charts.diverging_bars(
                bars,
                chart_id="grafico-confronto",
                title="Variazione percentuale rispetto al valore di partenza",
                desc=f"Le {len(bars)} variazioni più ampie tra il valore rilevato e il valore di "
                "partenza degli indicatori; a destra gli aumenti, a sinistra le diminuzioni. "
                "I valori sono nella tabella che segue.",
                legend=[
                    ("migliora", "nella direzione desiderata dall'indicatore"),
                    ("peggiora", "nella direzione opposta"),
                ],
            )
        ),
        columns=["Indicatore", "Valore di partenza", "Valore rilevato", "Variazione", "Esito"],
        rows=rows,
        caption=f"Indicatori con un valore di partenza numerico: le {len(bars)} variazioni più "
        "ampie.",
    )


# ------------------------------------------------------------------ consistency report


_FIELD_NAMES = {"valore": "la percentuale", "somma": "la somma", "numero": "il numero"}


def _anchor_for(node: str) -> str:
    kind, _, key = node.partition(":")
    if kind == "unit":
        return f"#unita-{key}" if key != "ente" else "#obiettivi-operativi"
    if kind == "position":
        return f"#posizione-{key}"
    if kind in ("perspective", "strategic-objective", "strategic"):
        return "#obiettivi-strategici"
    if kind == "operational":
        return "#obiettivi-operativi"
    if kind == "count":
        return "#risultati-raggiunti"
    return ""


def _discrepancies(score: scoring.CycleScore) -> list[dict]:
    out = []
    for check in score.discrepancies:
        percent = check.field == "valore" and not check.stated.node.startswith("count:")
        suffix = "%" if percent else ""
        stated = f"{scoring.fmt(check.stated_value)}{suffix}"
        computed = (
            "nessuna cifra" if check.computed is None else f"{scoring.fmt(check.computed)}{suffix}"
        )
        how = f" ({check.formula})" if check.formula else ""
        what = _FIELD_NAMES.get(check.field, check.field)
        out.append(
            {
                "ref": check.stated.ref,
                "label": check.stated.label,
                "text": f"il documento di origine indica {what} {stated}, "
                f"il calcolo dà {computed}{how}.",
                "anchor": _anchor_for(check.stated.node),
            }
        )
    return out


# --------------------------------------------------------------------------- the page


def _narrative(sections: dict[str, Section], figures: dict[str, Decimal | None]) -> dict[str, dict]:
    render_section = getattr(rendering, "render_section", None)
    out = {}
    for key, section in sections.items():
        if render_section is not None:
            html = render_section(section, figures)
        else:  # pragma: no cover - the helper predates render_section
            html = rendering.render_markdown(section.body)
        out[key] = {
            "key": key,
            "title": section.title or SECTION_TITLES.get(key, key),
            "html": html,
        }
    return out


def _context_tables(tables: dict[str, list]) -> dict[str, list[dict]]:
    def cell(value) -> str:
        if isinstance(value, bool) or value is None:
            return "" if value is None else ("sì" if value else "no")
        if isinstance(value, int | float | Decimal):
            return scoring.fmt(Decimal(str(value)))
        return str(value)

    return {
        key: [
            {
                "key": t.key,
                "title": t.title,
                "columns": [cell(c) for c in t.columns or []],
                "rows": [[cell(c) for c in row] for row in t.rows or []],
                "footnotes": [cell(f) for f in t.footnotes or []],
            }
            for t in items
        ]
        for key, items in tables.items()
    }


def _toc(narrative: dict, has: dict[str, bool]) -> list[dict]:
    def item(anchor: str, label: str, children: list | None = None) -> dict:
        return {"anchor": anchor, "label": label, "children": children or []}

    toc = [item("frontespizio", "Frontespizio")]
    if "premessa" in narrative:
        toc.append(item("premessa", narrative["premessa"]["title"]))
    toc.append(item("risultati-principali", "1. I principali risultati raggiunti"))
    external = [k for k in CONTEXT_EXTERNAL if k in narrative or has.get(f"tables:{k}")]
    admin = [
        k for k in ("amministrazione", *CONTEXT_ADMIN) if k in narrative or has.get(f"tables:{k}")
    ]
    if external or admin:
        children = []
        if external:
            children.append(item("contesto-esterno", "2.1 Il contesto esterno di riferimento"))
        if admin:
            children.append(item("amministrazione", "2.2 L'amministrazione"))
        toc.append(item("contesto", "2. Analisi del contesto e delle risorse", children))
    toc.append(
        item(
            "performance-organizzativa",
            "3. Rendicontazione della performance organizzativa",
            [
                item("risultati-raggiunti", "I risultati raggiunti"),
                item("criticita-opportunita", "Le criticità e le opportunità"),
                item("albero", "3.0 Albero della performance"),
                item("obiettivi-strategici", "3.1 Rendicontazione degli obiettivi strategici"),
                item("obiettivi-operativi", "3.2 Rendicontazione degli obiettivi operativi"),
                item("obiettivi-individuali", "Obiettivi individuali"),
                item("confronto-anno-precedente", "Confronto con l'anno precedente"),
            ],
        )
    )
    process = [
        k
        for k in ("processo-misurazione", "punti-forza-debolezza", "piano-miglioramento")
        if k in narrative
    ]
    if process:
        children = []
        if "punti-forza-debolezza" in narrative:
            children.append(
                item(
                    "punti-forza-debolezza",
                    "5.1 " + narrative["punti-forza-debolezza"]["title"],
                )
            )
        toc.append(
            item("processo-misurazione", "5. Il processo di misurazione e valutazione", children)
        )
    toc.append(item("note-sul-calcolo", "Note sul calcolo"))
    if has.get("signatories"):
        toc.append(item("firme", "Firme"))
    toc.append(item("dati-aperti", "Dati aperti"))
    if has.get("footnotes"):
        toc.append(item("note", "Note"))
    return toc


def _context(cycle: Cycle, score: scoring.CycleScore, *, preview: bool) -> dict:
    """Everything the Relazione's templates need, computed once."""
    rules = scoring.Rules.from_dict(cycle.rules)
    relazione = report_selectors.relazione_get(cycle=cycle)
    sections = report_selectors.relazione_sections(cycle=cycle)
    tables = report_selectors.relazione_context_tables(cycle=cycle)
    display = report_selectors.target_display_fields(cycle=cycle)
    documents = report_selectors.cycle_documents(cycle=cycle)

    narrative = _narrative(sections, report_selectors.relazione_figures(score))
    builder = _Builder(cycle, score, display)
    strategic = builder.strategic()
    operational = builder.operational()
    units = builder.units()
    positions = builder.positions()
    chart_set = _charts(score, rules, display)
    context_tables = _context_tables(tables)

    def blocks(keys: Iterable[str]) -> list[dict]:
        return [
            {"key": k, "section": narrative.get(k), "tables": context_tables.get(k, [])}
            for k in keys
            if k in narrative or k in context_tables
        ]

    approval = relazione.approval_document if relazione else None
    if approval is None:
        approval = next((d for d in documents if d.kind == PlanDocument.Kind.RELAZIONE), None)
    plan_documents = [
        d
        for d in documents
        if d.kind
        in (PlanDocument.Kind.PIANO, PlanDocument.Kind.AGGIORNAMENTO, PlanDocument.Kind.SMVP)
    ]
    signatories = [
        s for s in (relazione.signatories if relazione else []) or [] if isinstance(s, dict)
    ]
    strategic_total = score.strategic
    total_line = ""
    if strategic_total.total is not None and strategic_total.achievement is not None:
        total_line = (
            f"{scoring.fmt(strategic_total.total, 2)}/{strategic_total.count} = "
            f"{scoring.fmt_pct(strategic_total.achievement)}"
        )
    excluded_rows = sorted(
        {
            (r.label, r.excluded_reason)
            for tree in (score.operational, score.units)
            if tree is not None
            for r in tree.all_rows()
            if r.achievement is None
        }
    )
    has = {
        "signatories": bool(signatories),
        "footnotes": bool(builder.notes.items),
        **{f"tables:{k}": True for k in context_tables},
    }
    year = cycle.year
    return {
        "cycle": cycle,
        "year": year,
        "organization": cycle.organization,
        "organization_name": str(cycle.organization),
        "preview": preview,
        "is_draft": cycle.status != Cycle.Status.PUBLISHED,
        "relazione": relazione,
        "title": (
            relazione.title
            if relazione and relazione.title
            else f"La Relazione sulla performance {year}"
        ),
        "subtitle": relazione.subtitle if relazione else "",
        "approval": approval,
        "plan_documents": plan_documents,
        "signatories": signatories,
        # keys with "_" for the templates ("criticita_opportunita")
        "narrative": {k.replace("-", "_"): v for k, v in narrative.items()},
        "context_tables": {k.replace("-", "_"): v for k, v in context_tables.items()},
        "context_external": blocks(CONTEXT_EXTERNAL),
        "context_admin": blocks(CONTEXT_ADMIN),
        "has_context": any(
            k in narrative or k in context_tables
            for k in (*CONTEXT_EXTERNAL, "amministrazione", *CONTEXT_ADMIN)
        ),
        "score": score,
        "summary": _summary(score),
        "counts": {
            "strategic_total": score.counts.get("strategic:total", 0),
            "strategic_full": score.counts.get("strategic:full", 0),
            "operational_total": score.counts.get("operational:total", 0),
            "operational_full": score.counts.get("operational:full", 0),
        },
        "strategic_figure": _figure(score.strategic, "strategic"),
        "operational_figure": _figure(score.operational, "operational"),
        "strategic_formula": score.strategic.formula,
        "strategic_total_line": total_line,
        "operational_formula": score.operational.formula,
        "ente_figure": _figure(score.units, f"unit:{score.units.key}") if score.units else None,
        "ente_formula": score.units.formula if score.units else "",
        "albero": _albero(score),
        "band_legend": _band_legend(rules),
        "strategic_table": strategic,
        "operational_table": operational,
        "unit_blocks": units,
        "positions": positions,
        "charts": chart_set,
        "discrepancies": _discrepancies(score),
        "overrides_count": len(score.overrides()),
        "excluded_rows": excluded_rows,
        "footnotes": builder.notes.items,
        "toc": _toc(narrative, has),
        "license": open_data.LICENSE,
        "csv_url": reverse("public:data-csv", args=[year]),
        "json_url": reverse("public:data-json", args=[year]),
    }


@dataclass
class Document:
    """A cycle's Relazione built once: its score, the templates' context, the open data (made
    from the same score when first asked for)."""

    cycle: Cycle
    score: scoring.CycleScore
    _context: dict
    _records: list[dict] | None = None

    def context(self) -> dict:
        """The templates' context, a fresh dict (callers add their own keys: the frozen version
        its open-data links, the PDF its attachments)."""
        return dict(self._context)

    @property
    def records(self) -> list[dict]:
        if self._records is None:
            _, self._records = open_data.records(self.cycle, score=self.score)
        return self._records


_built: ContextVar[dict | None] = ContextVar("relazione_documents", default=None)


@contextmanager
def built_once() -> Iterator[None]:
    """Within the block, ``build`` of the same cycle object returns the same document."""
    token = _built.set({})
    try:
        yield
    finally:
        _built.reset(token)


def build(cycle: Cycle, *, preview: bool = False) -> Document:
    memo = _built.get()
    key = (id(cycle), preview)
    if memo is not None and key in memo and memo[key].cycle is cycle:
        return memo[key]
    score = cycle_score(cycle=cycle)
    document = Document(cycle, score, _context(cycle, score, preview=preview))
    if memo is not None:
        memo[key] = document
    return document


def relazione_context(cycle: Cycle, *, preview: bool = False) -> dict:
    """Everything the Relazione's templates need (the public page, the preview, the PDF)."""
    return build(cycle, preview=preview).context()
