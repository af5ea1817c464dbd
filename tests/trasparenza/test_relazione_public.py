"""The public Relazione (Amministrazione Trasparente), its staff preview, its charts and its open
data. Every figure the page shows carries its machine value in a data attribute
(``data-node="unit:affari-generali" data-achievement="79.75"``): the tests read them back from the
HTML and compare them with the scoring engine's."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from organization import roles
from organization.models import Cycle, Unit
from performance import scoring
from performance.selectors import cycle_score
from reports.models import ContextTable, Relazione, Section
from reports.relazione import charts, open_data
from tests.factories import CycleFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
YEAR = 2019
PAGE = f"/trasparenza/performance/{YEAR}/"
PREVIEW = f"/lavoro/{YEAR}/relazione/anteprima/"


# ------------------------------------------------------------------------------------ helpers


class Page(HTMLParser):
    """What the tests read from the HTML: data attributes, ids, links, headings, texts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[tuple[str, str]] = []
        self.rows: list[tuple[str, str]] = []
        self.objectives: list[tuple[str, str]] = []
        self.counts: dict[str, str] = {}
        self.ids: set[str] = set()
        self.links: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self.svgs: list[dict] = []
        self.svg_texts: dict[str, str] = {}
        self.classes: dict[str, list[str]] = {}
        self.texts: list[str] = []
        self._stack: list[tuple[str, dict]] = []
        self._heading: list[str] | None = None
        self._capture: list[tuple[str, list[str], int]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if "data-node" in a:
            self.nodes.append((a["data-node"], a.get("data-achievement", "")))
        if "data-row" in a:
            self.rows.append((a["data-row"], a.get("data-achievement", "")))
        if "data-objective" in a:
            self.objectives.append((a["data-objective"], a.get("data-achievement", "")))
        if "data-count" in a:
            self._capture.append(("count:" + a["data-count"], [], len(self._stack)))
        if tag == "a" and "href" in a:
            self.links.append((a["href"], a))
        if tag == "svg":
            self.svgs.append(a)
        for name in (a.get("class") or "").split():
            if name in ("excluded-reason", "discrepancy", "rettifica", "footnote"):
                self._capture.append((name, [], len(self._stack)))
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = []
        if tag in ("title", "desc") and "id" in a:
            self._capture.append(("svg:" + a["id"], [], len(self._stack)))
        if tag not in ("br", "img", "input", "meta", "link", "hr", "rect", "line"):
            self._stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break
        done = [c for c in self._capture if c[2] >= len(self._stack)]
        for name, parts, _ in done:
            text = " ".join("".join(parts).split())
            if name.startswith("count:"):
                self.counts[name[6:]] = text
            elif name.startswith("svg:"):
                self.svg_texts[name[4:]] = text
            else:
                self.classes.setdefault(name, []).append(text)
        self._capture = [c for c in self._capture if c[2] < len(self._stack)]

    def handle_data(self, data):
        self.texts.append(data)
        if self._heading is not None:
            self._heading.append(data)
        for _, parts, _ in self._capture:
            parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())


def publish(cycle: Cycle) -> Cycle:
    cycle.status = Cycle.Status.PUBLISHED
    cycle.save()
    return cycle


def user(username: str, group: str | None = None, unit: Unit | None = None):
    roles.roles_sync()
    account = UserFactory(username=username)
    if group:
        account.groups.add(Group.objects.get(name=group))
    if unit is not None:
        unit.referents.add(account)
    return account


def client_for(account=None) -> Client:
    client = Client()
    if account is not None:
        client.force_login(account)
    return client


def all_nodes(score: scoring.CycleScore) -> list[scoring.NodeResult]:
    trees = [score.strategic, score.operational, *score.individual]
    if score.units is not None:
        trees.append(score.units)
    return [node for tree in trees for node in tree.walk()]


def all_rows(score: scoring.CycleScore) -> dict[str, scoring.RowResult]:
    return {row.key: row for node in all_nodes(score) for row in node.rows}


def dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@pytest.fixture
def published(cycle_2019) -> Cycle:
    return publish(cycle_2019)


@pytest.fixture
def score(cycle_2019) -> scoring.CycleScore:
    return cycle_score(cycle=cycle_2019)


@pytest.fixture
def relazione(cycle_2019) -> Relazione:
    """A Relazione with every narrative section, a context table and two signatories."""
    relazione = Relazione.objects.create(
        cycle=cycle_2019,
        title="La Relazione sulla performance 2019",
        subtitle="Allegato alla deliberazione di Giunta Camerale del 29.07.2020",
        signatories=[
            {"role": "Il Segretario Generale", "name": "Luigi Boldrin"},
            {"role": "Il Presidente", "name": "Franco Bosi"},
        ],
    )
    for order, (key, label) in enumerate(Section.Key.choices):
        body = f"Testo della sezione {label}."
        if key == Section.Key.CRITICITA_OPPORTUNITA:
            body = (
                "Il Piano è stato realizzato nella misura del {{strategici}} e del {{operativi}}."
            )
        Section.objects.create(relazione=relazione, key=key, title=label, body=body, order=order)
    ContextTable.objects.create(
        relazione=relazione,
        key="numeri",
        section_key=Section.Key.CONTESTO_ECONOMICO,
        title="I numeri della circoscrizione territoriale",
        columns=["Voce", "Valore"],
        rows=[["Comuni", "186"], ["Imprese attive", "41.275"]],
        footnotes=["Fonte: InfoCamere"],
    )
    return relazione


def page(url: str = PAGE, account=None):
    response = client_for(account).get(url)
    return response, Page(response.content.decode()) if response.status_code == 200 else None


# ------------------------------------------------------------------------ access and routing


def test_home_redirects_to_the_transparency_index(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("public:index") == "/trasparenza/performance/"


def test_index_lists_only_published_years(cycle_2019):
    CycleFactory(year=2031, organization=cycle_2019.organization)  # planning: not public
    response = Client().get(reverse("public:index"))
    assert response.status_code == 200
    assert PAGE not in response.content.decode()
    assert "/trasparenza/performance/2031/" not in response.content.decode()

    publish(cycle_2019)
    html = Client().get(reverse("public:index")).content.decode()
    assert f'href="{PAGE}"' in html
    assert f'href="{PAGE}dati.csv"' in html and f'href="{PAGE}dati.json"' in html
    assert "/trasparenza/performance/2031/" not in html
    assert "CC BY 4.0" in html


@pytest.mark.parametrize("suffix", ["", "dati.csv", "dati.json"])
def test_a_cycle_not_published_is_404_for_anonymous(cycle_2019, suffix):
    assert cycle_2019.status != Cycle.Status.PUBLISHED
    assert Client().get(PAGE + suffix).status_code == 404
    assert Client().get(f"/trasparenza/performance/1999/{suffix}").status_code == 404


@pytest.mark.parametrize("status", ["validated", "submitted", "reporting"])
def test_only_the_published_status_is_public(cycle_2019, status):
    cycle_2019.status = status
    cycle_2019.save()
    assert Client().get(PAGE).status_code == 404


@pytest.mark.parametrize("persona", ["controllo", "oiv", "referente"])
def test_staff_preview_any_cycle_with_a_draft_banner(cycle_2019, personas, persona):
    # the personas of tests/personas.py; the referent is Promozione's
    account = personas[{"referente": "referente-altro"}.get(persona, persona)]
    response, html = page(PREVIEW, account)
    assert response.status_code == 200
    assert "bozza-banner" in response.content.decode()
    assert "Bozza" in html.text
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "is-draft" in response.content.decode()


def test_preview_is_refused_to_others(cycle_2019, personas):
    anonymous = Client().get(PREVIEW)
    assert anonymous.status_code == 302 and "/accedi/" in anonymous["Location"]
    assert client_for(personas.no_role).get(PREVIEW).status_code == 403
    other = CycleFactory(year=2032, organization=cycle_2019.organization)
    unit = Unit.objects.create(cycle=other, key="altro", name="Altro", kind="servizio")
    foreign = user("referente-altrove", roles.REFERENTE, unit)
    assert client_for(foreign).get(PREVIEW).status_code == 403


def test_preview_of_a_published_cycle_links_the_public_page(published, personas):
    response, html = page(PREVIEW, personas.controllo)
    assert response.status_code == 200
    assert "Anteprima" in html.text and "is-draft" not in response.content.decode()


# ------------------------------------------------------------------------------- the document

GENERATED_HEADINGS = [
    "1. I principali risultati raggiunti",
    "3. Rendicontazione della performance organizzativa",
    "I risultati raggiunti",
    "Le criticità e le opportunità",
    "3.0 Albero della performance",
    "3.1 Rendicontazione degli obiettivi strategici",
    "3.2 Rendicontazione degli obiettivi operativi",
    "Obiettivi operativi di Ente",
    "Obiettivi individuali",
    "Confronto con l'anno precedente",
    "Note sul calcolo",
    "Dati aperti",
    "Note",
]


def test_every_section_heading_is_present_in_the_reference_order(published, relazione):
    response, html = page()
    assert response.status_code == 200
    expected = [
        "La Relazione sulla performance 2019",
        "Sommario",
        "Premessa",
        "1. I principali risultati raggiunti",
        "2. Analisi del contesto e delle risorse",
        "2.1 Il contesto esterno di riferimento",
        "Il contesto normativo",
        "Il contesto economico",
        "2.2 L'amministrazione",
        "Organizzazione e risorse umane",
        "Azienda speciale",
        "Partecipazioni societarie",
        "Articolazione territoriale",
        "Risorse economiche",
        "3. Rendicontazione della performance organizzativa",
        "I risultati raggiunti",
        "Le criticità e le opportunità",
        "3.0 Albero della performance",
        "3.1 Rendicontazione degli obiettivi strategici",
        "3.2 Rendicontazione degli obiettivi operativi",
        "Obiettivi individuali",
        "Confronto con l'anno precedente",
        "5. Il processo di misurazione e valutazione",
        "5.1 Punti di forza e di debolezza",
        "Piano di miglioramento",
        "Note sul calcolo",
        "Firme",
        "Dati aperti",
        "Note",
    ]
    positions = [html.headings.index(h) for h in expected]
    assert positions == sorted(positions), html.headings
    for key, label in Section.Key.choices:
        if key != Section.Key.CRITICITA_OPPORTUNITA:
            assert f"Testo della sezione {label}." in html.text, key
    # the table of contents points at sections that exist
    toc = [href[1:] for href, _ in html.links if href.startswith("#") and href != "#contenuto"]
    assert {"premessa", "contesto-esterno", "albero", "note-sul-calcolo"} <= set(toc)
    assert set(toc) <= html.ids


def test_without_a_relazione_the_narrative_is_left_out(published):
    assert not Relazione.objects.filter(cycle=published).exists()
    response, html = page()
    assert response.status_code == 200
    for heading in GENERATED_HEADINGS:
        assert heading in html.headings, heading
    for missing in ("Premessa", "2. Analisi del contesto e delle risorse", "Firme"):
        assert missing not in html.headings
    assert not any(h.startswith("5.") for h in html.headings)
    assert "La Relazione sulla performance 2019" in html.headings
    # without the narrative, criticità e opportunità still states the engine's figures
    assert "98,1%" in html.text and "93,04%" in html.text


def test_narrative_tokens_get_the_engines_figures(published, relazione):
    _, html = page()
    assert "nella misura del 98,1% e del 93,04%" in html.text
    assert "{{" not in html.text


def test_context_table_follows_its_section_with_caption_and_headers(published, relazione):
    response, html = page()
    content, text = response.content.decode(), html.text
    section = text.index("Testo della sezione Il contesto economico.")
    table = text.index("I numeri della circoscrizione territoriale")
    assert section < table < text.index("2.2 L'amministrazione", section)
    assert (
        '<caption id="tabella-numeri">I numeri della circoscrizione territoriale</caption>'
        in content
    )
    assert '<th scope="col">Voce</th>' in content
    assert '<th scope="row">Comuni</th>' in content and "Fonte: InfoCamere" in text


def test_signatories_and_title_page(published, relazione):
    _, html = page()
    assert "Il Segretario Generale" in html.text and "Luigi Boldrin" in html.text
    assert "Il Presidente" in html.text and "Franco Bosi" in html.text
    assert "Allegato alla deliberazione di Giunta Camerale del 29.07.2020" in html.text
    assert "Piano della Performance 2019/2021 n. 8 del 25.02.2019" in html.text


def test_the_reference_narrative_loads_and_renders(published):
    services = pytest.importorskip("reports.relazione.services")
    data = yaml.safe_load((ROOT / "fixtures" / "relazione-2019.yaml").read_text())
    services.relazione_load(cycle=published, data=data)
    response, html = page()
    assert response.status_code == 200
    assert "Premessa" in html.headings
    assert "nella misura complessiva del 98,1% per gli obiettivi strategici" in html.text
    assert "Luigi Boldrin" in html.text


# --------------------------------------------------------------------- figures = the engine's


def test_every_figure_shown_equals_the_engines(published, relazione, score):
    _, html = page()
    assert html.nodes, "no figure carries data-node"
    for ref, shown in html.nodes:
        node = score.find(ref)
        assert node is not None, ref
        assert dec(shown) == node.achievement, (ref, shown, node.achievement)
    shown_refs = {ref for ref, _ in html.nodes}
    expected = {"strategic", "operational"}
    expected |= {f"perspective:{p.code}" for p in score.strategic.children}
    expected |= {
        f"strategic-objective:{g.code}" for p in score.strategic.children for g in p.children
    }
    expected |= {f"position:{p.key}" for p in score.individual}
    expected |= {f"unit:{n.key}" for n in score.units.walk() if n.achievement is not None}
    assert expected <= shown_refs, expected - shown_refs


def test_every_row_and_objective_figure_equals_the_engines(published, score):
    _, html = page()
    rows = all_rows(score)
    assert len({key for key, _ in html.rows}) == len(rows)
    for key, shown in html.rows:
        assert dec(shown) == rows[key].achievement, key
    objectives = {n.key: n for n in all_nodes(score) if n.kind == "objective"}
    assert html.objectives
    for key, shown in html.objectives:
        assert dec(shown) == objectives[key].achievement, key


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        ("unit:affari-generali", "79,75%"),
        ("unit:staff-sg", "83,4%"),
        ("perspective:1", "99,9%"),
        ("strategic", "98,1%"),
        ("operational", "93,04%"),
        ("position:po-promozione", "75,92%"),
    ],
)
def test_italian_number_format(published, ref, text):
    content = page()[0].content.decode()
    assert re.search(rf'data-node="{re.escape(ref)}" data-achievement="[0-9.]+">{text}<', content)


def test_formulas_are_shown(published, score):
    _, html = page()
    for formula in (
        "638/8 = 79,75%",
        "859/9 = 95,45%",
        "1.857/19 = 97,74%",
        "(75 + 79,75 + 95,45)/3 = 83,4%",
        "4.931/53 = 93,04%",
        "392,40/4 = 98,1%",
        "(99,9 + 96 + 96,5 + 100)/4 = 98,1%",
        "1.698/17 = 99,9%",
        "1.190/12 = 99,17%",
        "300/4 = 75%",
        "13/14 = 92,86% ≈ 93%",
    ):
        assert formula in html.text, formula
    for node in all_nodes(score):
        if node.kind in ("perspective", "position", "strategic", "operational", "area", "group"):
            assert node.formula in html.text, node.key


def test_counts_are_the_engines(published, score):
    _, html = page()
    assert {k: int(v) for k, v in html.counts.items()} == score.counts


def test_excluded_rows_show_their_reason(published, score):
    _, html = page()
    shown = " ".join(html.classes.get("excluded-reason", []))
    excluded = [r for r in all_rows(score).values() if r.achievement is None]
    assert excluded
    for row in excluded:
        assert row.excluded_reason in shown, row.key
    assert "riga ripetuta due volte" in shown
    assert "neutralizzato: Obiettivo eliminato in sede di aggiornamento" in shown


def test_overrides_are_marked_rettifica_with_their_justification(published, score):
    _, html = page()
    overrides = score.overrides()
    assert len(overrides) == 12
    notes = html.classes.get("footnote", [])
    for row in overrides:
        assert any(row.formula in note for note in notes), row.key
    assert len(html.classes.get("rettifica", [])) >= len(overrides)


def test_footnotes_are_linked_both_ways(published, relazione):
    response, html = page()
    refs = [(href, a) for href, a in html.links if "fn-back" not in (a.get("class") or "")]
    refs = [(href, a) for href, a in refs if href.startswith("#nota-")]
    backs = [(href, a) for href, a in html.links if "fn-back" in (a.get("class") or "")]
    assert refs and backs
    for href, a in refs:
        assert href[1:] in html.ids, href  # ref -> note
        assert a["id"] in html.ids
        assert f'href="#{a["id"]}"' in response.content.decode()  # note -> back to this ref
    for href, _ in backs:
        assert href[1:] in html.ids, href
    # the target footnotes of the source document (table 3.1) and the 12 overrides
    assert len(html.classes["footnote"]) >= 14 + 12
    assert any("Valore calcolato su 75 questionari" in n for n in html.classes["footnote"])


def test_consistency_report_lists_the_discrepancies_in_italian(published, score):
    _, html = page()
    items = html.classes.get("discrepancy", [])
    assert len(items) == len(score.discrepancies) == 8
    text = " ".join(items)
    assert "il documento di origine indica la percentuale 97,37%, il calcolo dà 97,74%" in text
    assert "indica il numero 43, il calcolo dà 41" in text
    assert "indica la somma 400, il calcolo dà 300" in text


# ------------------------------------------------------------------------------------ charts


def test_charts_have_text_alternatives(published, score):
    response, html = page()
    content = response.content.decode()
    assert len(html.svgs) == 4  # perspectives, units, bands, comparison with the baseline
    for svg in html.svgs:
        assert svg["role"] == "img"
        labels = svg["aria-labelledby"].split()
        assert len(labels) == 2
        for label in labels:
            assert html.svg_texts.get(label), label
    # the same data as a table next to each chart
    assert content.count('<table class="visually-hidden">') == 4
    assert "Dati del grafico «Raggiungimento per prospettiva»" in html.text
    assert "Dati del grafico «Confronto con l'anno precedente»" in html.text
    assert "<script" not in content.split('id="contenuto"')[1].split("</main>")[0]


def test_a_cycle_without_baselines_says_so(published):
    from performance.models import Indicator

    Indicator.objects.filter(objective__cycle=published).update(baseline_value=None)
    _, html = page()
    assert len(html.svgs) == 3
    assert "il confronto con l'anno precedente non è disponibile" in html.text


def test_bar_chart_is_proportional_and_escaped():
    svg = charts.bar_chart(
        [
            charts.Bar('Servizio <A> & "B"', Decimal("50"), "50%", "non_raggiunto"),
            charts.Bar("Area", Decimal("100"), "100%", "raggiunto", level=1),
            charts.Bar("Nessun valore", None, "n.d.", "nd"),
        ],
        chart_id="g1",
        title="Titolo <x>",
        desc="Descrizione",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and 'aria-labelledby="g1-title g1-desc"' in svg
    assert '<title id="g1-title">Titolo &lt;x&gt;</title>' in svg
    assert "Servizio &lt;A&gt; &amp; &quot;B&quot;" in svg and "<A>" not in svg
    pattern = r'<rect x="[0-9.]+" y="[0-9.]+" width="([0-9.]+)" height="14" fill="#'
    widths = [float(w) for w in re.findall(pattern, svg)]
    assert len(widths) == 2 and widths[1] == pytest.approx(2 * widths[0])
    assert 'fill="none"' in svg  # the bar without a value is an outline
    assert charts.bar_chart([], chart_id="x", title="t", desc="d") == ""


def test_long_labels_wrap_on_two_lines_with_the_full_text_as_tooltip():
    label = (
        "Servizi alle dirette dipendenze del Segretario Generale e altre unità con un nome "
        "davvero molto lungo, che non sta in due righe del grafico"
    )
    svg = charts.bar_chart(
        [charts.Bar(label, 80, "80%", "parziale")], chart_id="w", title="t", desc="d"
    )
    lines = re.findall(
        r"<text [^>]*font-size=\"13\"[^>]*>(?:<title>[^<]*</title>)?([^<]*)</text>", svg
    )
    assert len(lines) == 2 and all(len(line) <= charts.MAX_LABEL for line in lines)
    assert lines[0].startswith("Servizi alle dirette") and lines[1].endswith("…")
    assert f"<title>{label}</title>" in svg


def test_stacked_and_diverging_charts():
    stacked = charts.stacked_bars(
        [
            charts.Stack(
                "Obiettivi operativi",
                (charts.Segment("raggiunto", "Raggiunto", 3), charts.Segment("parziale", "P", 1)),
            )
        ],
        chart_id="s",
        title="t",
        desc="d",
        legend=[("raggiunto", "Raggiunto"), ("parziale", "P")],
    )
    assert "Obiettivi operativi (4)" in stacked and "<title>Raggiunto: 3</title>" in stacked
    widths = [float(w) for w in re.findall(r'width="([0-9.]+)" height="20"', stacked)]
    assert widths[0] == pytest.approx(3 * widths[1], rel=0.01)
    diverging = charts.diverging_bars(
        [charts.Bar("su", 50, "+50%", "migliora"), charts.Bar("giù", -100, "-100%", "peggiora")],
        chart_id="d",
        title="t",
        desc="d",
    )
    zero = float(re.search(r'<line x1="([0-9.]+)"', diverging).group(1))
    bars = re.findall(r'<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"', diverging)
    (x_up, w_up), (x_down, w_down) = [(float(x), float(w)) for x, w in bars[:2]]
    assert x_up == pytest.approx(zero) and x_down + w_down == pytest.approx(zero)
    assert w_down == pytest.approx(2 * w_up)
    assert 'text-anchor="end"' in diverging


# --------------------------------------------------------------------------------- open data


def documented_columns() -> list[str]:
    text = (ROOT / "docs" / "open-data.md").read_text()
    section = text.split("## Colonne", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)


def csv_records(client: Client | None = None) -> tuple[list[str], list[dict]]:
    response = (client or Client()).get(PAGE + "dati.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return reader.fieldnames, list(reader)


def test_csv_parses_with_the_documented_columns(published):
    header, records = csv_records()
    assert header == documented_columns() == open_data.COLUMN_NAMES
    assert records and all(len(r) == len(header) for r in records)
    assert {r["ambito"] for r in records} == {
        "strategico",
        "operativo_ente",
        "unita",
        "individuale",
    }


def test_csv_uses_dot_decimals_iso_dates_and_the_engines_achievements(published, score):
    _, records = csv_records()
    number = re.compile(r"^-?\d+(\.\d+)?$")
    for record in records:
        for column in ("raggiungimento", "valore_numerico", "valore_partenza", "somma"):
            assert record[column] == "" or number.match(record[column]), (column, record[column])
        assert record["data_rilevata"] == "" or re.match(
            r"^\d{4}-\d{2}-\d{2}$", record["data_rilevata"]
        )
    assert any(r["data_rilevata"] == "2019-03-18" for r in records)
    assert any(r["valore_numerico"] == "4.6" for r in records)

    rows = all_rows(score)
    trees = {
        "strategico": score.strategic,
        "operativo_ente": score.operational,
        "unita": score.units,
    }
    for record in records:
        shown = dec(record["raggiungimento"])
        if record["tipo"] == "target":
            assert shown == rows[record["chiave"]].achievement, record["chiave"]
        elif record["ambito"] == "individuale":
            node = score.find(f"position:{record['chiave']}")
            assert shown == node.achievement
        else:
            node = next(n for n in trees[record["ambito"]].walk() if n.key == record["chiave"])
            assert shown == node.achievement, record["chiave"]
            assert record["formula"] == node.formula
    totals = {r["chiave"]: r for r in records if r["tipo"] == "totale"}
    assert totals["strategic"]["raggiungimento"] == "98.1"
    assert totals["operational"]["raggiungimento"] == "93.04"
    affari = next(r for r in records if r["ambito"] == "unita" and r["chiave"] == "affari-generali")
    assert (affari["raggiungimento"], affari["formula"]) == ("79.75", "638/8 = 79,75%")
    assert (affari["somma"], affari["numero_elementi"]) == ("638", "8")
    overrides = [r for r in records if r["rettifica"] == "true"]
    assert overrides and all(r["rettifica_motivazione"] for r in overrides)


def test_csv_cells_cannot_become_spreadsheet_formulas(published):
    _, records = csv_records()
    number = re.compile(r"^[+-]?\d+(\.\d+)?$")
    for record in records:
        for value in record.values():
            if value and value[0] in "=+-@":
                assert number.match(value), value
    assert any(v.startswith("'-13,06 ≤") for r in records for v in r.values())
    cell = open_data._csv_cell
    assert cell("=SUM(A1)") == "'=SUM(A1)"
    assert cell("@foo") == "'@foo" and cell("+39 02") == "'+39 02" and cell("- 13,06") == "'- 13,06"
    assert cell("-13.06") == "-13.06" and cell(Decimal("-13.0600")) == "-13.06"
    assert cell(True) == "true" and cell(None) == ""


def test_json_has_the_license_and_the_same_figures(published, score):
    response = Client().get(PAGE + "dati.json")
    assert response.status_code == 200
    assert response["Link"] == '<https://creativecommons.org/licenses/by/4.0/>; rel="license"'
    data = json.loads(response.content)
    assert data["license"] == "CC-BY-4.0"
    assert data["license_url"].startswith("https://creativecommons.org/licenses/by/4.0")
    assert [c["name"] for c in data["columns"]] == documented_columns()
    assert data["totals"]["strategic"]["achievement"] == 98.1
    assert data["totals"]["operational"]["achievement"] == 93.04
    assert data["counts"] == score.counts
    assert len(data["discrepancies"]) == len(score.discrepancies)
    _, records = csv_records()
    assert len(data["records"]) == len(records)
    for from_json, from_csv in zip(data["records"], records, strict=True):
        assert from_json["chiave"] == from_csv["chiave"]
        value = from_json["raggiungimento"]
        assert (Decimal(str(value)) if value is not None else None) == dec(
            from_csv["raggiungimento"]
        )
    dates = [r["data_rilevata"] for r in data["records"] if r["data_rilevata"]]
    assert dates and all(re.match(r"^\d{4}-\d{2}-\d{2}$", d) for d in dates)


def test_the_page_mentions_the_license_and_links_the_data(published):
    _, html = page()
    assert "Creative Commons Attribuzione 4.0" in html.text
    assert any(href == PAGE + "dati.csv" for href, _ in html.links)
    assert any(href == PAGE + "dati.json" for href, _ in html.links)


# ------------------------------------------------------------------------------------ queries


def bigger_dataset(dataset: dict, year: int, copies: int = 3) -> dict:
    """The 2019 dataset with ``copies`` times the units (each copy with its own operational
    objectives and targets) under another year."""
    data = copy.deepcopy(dataset)
    data["cycle"] = {**data["cycle"], "year": year}
    root = data["units"][0]
    original_children = copy.deepcopy(root["children"])
    original_operational = copy.deepcopy(data["operational"])

    def renamed_unit(unit: dict, suffix: str) -> dict:
        unit = {**unit, "key": f"{unit['key']}{suffix}", "name": f"{unit['name']}{suffix}"}
        unit["children"] = [renamed_unit(c, suffix) for c in unit.get("children") or []]
        return unit

    for n in range(2, copies + 1):
        suffix = f"-{n}"
        root["children"] += [renamed_unit(u, suffix) for u in copy.deepcopy(original_children)]
        for objective in copy.deepcopy(original_operational):
            for indicator in objective.get("indicators") or []:
                for target in indicator.get("targets") or []:
                    for field in ("unit", "office"):
                        if target.get(field):
                            target[field] = f"{target[field]}{suffix}"
            data["operational"].append(objective)
    data["stated"] = []
    return data


def count_queries(url: str) -> int:
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_query_count_is_bounded_and_does_not_grow_with_the_plan(
    published, relazione, dataset_2019, django_assert_max_num_queries
):
    from performance.services import cycle_load

    with django_assert_max_num_queries(20):
        assert Client().get(PAGE).status_code == 200
    small = count_queries(PAGE)

    cycle = cycle_load(data=bigger_dataset(dataset_2019, 2021))
    publish(cycle)
    assert (
        Unit.objects.filter(cycle=cycle).count() > 2 * Unit.objects.filter(cycle=published).count()
    )
    big_url = "/trasparenza/performance/2021/"
    with django_assert_max_num_queries(20):
        response = Client().get(big_url)
    assert response.status_code == 200
    assert 'data-node="unit:affari-generali-3"' in response.content.decode()
    assert count_queries(big_url) == small
    assert count_queries(big_url + "dati.csv") == count_queries(PAGE + "dati.csv") <= 20
