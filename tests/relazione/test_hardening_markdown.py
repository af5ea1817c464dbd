"""Attack run, finding 1: Markdown that hung or crashed the Relazione.

12.000 "[" then 12.000 "]" (24 KB) took 18,6 s to render (quadratic in Python-Markdown), a list
nested 300 deep raised RecursionError (500); once saved, the staff preview, the OIV review and
the PDF request all failed. Now a section's text is refused on save (and in the preview) with a
message naming the section, and a text stored before the bounds existed renders as an Italian
notice in its place, quickly (reports/relazione/rendering.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from performance.dataset import read_dataset
from reports.models import Relazione, Section
from reports.models.pdf import RelazionePdf
from reports.relazione import pdf_jobs as services_pdf
from reports.relazione import rendering
from reports.relazione.services import relazione_load, section_update

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
YEAR = 2019
SECTION_URL = f"/lavoro/{YEAR}/relazione/sezioni/premessa/"
PREVIEW = f"/lavoro/{YEAR}/relazione/anteprima/"
REVIEW = f"/lavoro/{YEAR}/revisione/"
PDF_STAFF = f"/lavoro/{YEAR}/relazione/pdf/"

# What the attack run typed into a section.
BRACKETS = "[" * 12_000 + "]" * 12_000  # 24 KB: 18,6 s to render before
DEEP_LIST = "".join("    " * level + "- voce\n" for level in range(300))  # RecursionError before
PATHOLOGICAL = {"parentesi": BRACKETS, "elenco-300-livelli": DEEP_LIST}
# What each one's message says (after "Il testo della sezione «Premessa» ").
REASONS = {
    "parentesi": "contiene 12.000 parentesi quadre «[», al massimo 100",
    "elenco-300-livelli": "annidati su più di 8 livelli (riga 9)",
}
# A page with a broken section, all of it (scoring the cycle, the other sections, the tables):
# 0,3-0,5 s on a loaded 2-core machine; the 24 KB text alone took 18,6 s to render before.
PAGE_SECONDS = 2.0
NOTICE = "Il testo della sezione «Premessa» non può essere mostrato"


@pytest.fixture
def relazione(cycle_2019) -> Relazione:
    return relazione_load(
        cycle=cycle_2019, data=read_dataset(ROOT / "fixtures" / "relazione-2019.yaml")
    )


@pytest.fixture
def controllo(personas) -> Client:
    return personas.client("controllo")


@pytest.fixture
def oiv(personas) -> Client:
    return personas.client("oiv")


@pytest.fixture(autouse=True)
def _fresh_render_cache(settings):
    """Each test renders for real (the LRU cache of the sanitized HTML starts empty); no PDF
    thread in the background."""
    settings.PDF_RENDER_INLINE_THREAD = False
    rendering.render_markdown.cache_clear()
    yield
    rendering.render_markdown.cache_clear()


def _store(relazione: Relazione, body: str) -> None:
    """As if saved before the bounds existed: straight into the database."""
    Section.objects.filter(relazione=relazione, key="premessa").update(body=body)


def _timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


# ------------------------------------------------------------------------ refused on save


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_saving_refuses_the_text_with_a_message_naming_the_section(name, relazione, controllo):
    before = Section.objects.get(relazione=relazione, key="premessa")
    form = controllo.get(SECTION_URL).context["form"]
    data = {
        "title": "Premessa",
        "body": PATHOLOGICAL[name],
        "expected_updated_at": form.initial["expected_updated_at"].isoformat(),
    }
    response, seconds = _timed(lambda: controllo.post(SECTION_URL, {**data, "action": "save"}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Il testo della sezione «Premessa» " in html
    assert REASONS[name] in html
    assert seconds < PAGE_SECONDS
    after = Section.objects.get(pk=before.pk)
    assert after.body == before.body and after.updated_at == before.updated_at


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_the_preview_refuses_the_text_with_the_same_message(name, relazione, controllo):
    form = controllo.get(SECTION_URL).context["form"]
    data = {
        "title": "Premessa",
        "body": PATHOLOGICAL[name],
        "expected_updated_at": form.initial["expected_updated_at"].isoformat(),
        "action": "preview",
    }
    response, seconds = _timed(lambda: controllo.post(SECTION_URL, data))
    assert response.status_code == 200
    assert response.context["preview"] is None
    html = response.content.decode()
    assert "Il testo della sezione «Premessa» " in html and REASONS[name] in html
    assert seconds < PAGE_SECONDS


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_the_service_refuses_the_text(name, relazione):
    premessa = Section.objects.get(relazione=relazione, key="premessa")
    with pytest.raises(ValidationError) as refused:
        section_update(section=premessa, title="Premessa", body=PATHOLOGICAL[name], user=None)
    (message,) = refused.value.message_dict["body"]
    assert message.startswith("Il testo della sezione «Premessa» ")
    assert REASONS[name] in message


def test_loading_a_relazione_refuses_the_text_with_its_place(cycle_2019):
    data = {"title": "Relazione", "sections": [{"key": "premessa", "body": BRACKETS}]}
    with pytest.raises(ValidationError) as refused:
        relazione_load(cycle=cycle_2019, data=data)
    assert any(
        m.startswith("sections[0].body: il testo della sezione «Premessa» contiene 12.000")
        for m in refused.value.messages
    )
    assert not Relazione.objects.filter(cycle=cycle_2019).exists()


# ---------------------------------------------------------- stored before: a notice, quickly


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_the_staff_preview_shows_a_notice_in_place_of_the_section(name, relazione, controllo):
    _store(relazione, PATHOLOGICAL[name])
    response, seconds = _timed(lambda: controllo.get(PREVIEW))
    assert response.status_code == 200
    html = response.content.decode()
    assert NOTICE in html
    assert "Il contesto normativo" in html  # the other sections are there
    assert seconds < PAGE_SECONDS


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_the_oiv_review_shows_a_notice_in_place_of_the_section(name, relazione, oiv):
    _store(relazione, PATHOLOGICAL[name])
    response, seconds = _timed(lambda: oiv.get(REVIEW))
    assert response.status_code == 200
    assert NOTICE in response.content.decode()
    assert seconds < PAGE_SECONDS


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_the_pdf_request_succeeds_with_the_notice_in_the_document(
    name, relazione, controllo, cycle_2019
):
    import weasyprint  # noqa: F401 - imported once (a second) before the clock starts

    _store(relazione, PATHOLOGICAL[name])
    response, seconds = _timed(lambda: controllo.post(PDF_STAFF))
    assert response.status_code == 302
    assert seconds < PAGE_SECONDS
    job = RelazionePdf.objects.get(cycle=cycle_2019)
    assert response["Location"] == f"{PDF_STAFF}{job.pk}/"
    from reports.relazione import pdf

    source = pdf.relazione_source(cycle=cycle_2019)
    assert NOTICE in source.html
    assert source.digest == job.content_digest


@pytest.mark.slow
def test_the_pdf_renders_with_the_notice(relazione, cycle_2019):
    """WeasyPrint lays out the whole Relazione (seconds, whatever the text): the broken section
    is a notice, the PDF is made."""
    import io

    import pypdf

    _store(relazione, BRACKETS)
    job = services_pdf.pdf_request(cycle=cycle_2019, background=False)
    job = services_pdf.pdf_render(job=job)
    assert job.status == RelazionePdf.Status.DONE, job.error
    reader = pypdf.PdfReader(io.BytesIO(job.file.read()))
    job.file.close()
    text = " ".join((page.extract_text() or "") for page in reader.pages)
    assert "non può essere mostrato" in " ".join(text.split())


# ------------------------------------------------------------------------- the renderer


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_render_section_gives_the_notice_quickly(name):
    html, seconds = _timed(
        lambda: rendering.render_section(
            Section(key="premessa", title="Premessa", body=PATHOLOGICAL[name])
        )
    )
    assert NOTICE in html and 'role="note"' in html
    assert seconds < 0.5


def test_the_worst_texts_within_the_bounds_render_in_well_under_a_second():
    """The quadratic paths of Python-Markdown, each at its bound and at the longest text
    allowed (measured: 0,05-0,4 s each on a loaded 2-core machine; before the bounds, the same
    constructs over a 30.000-character text took from 1 s to over a minute)."""
    size = rendering.MAX_CHARS

    def fill(unit: str, length: int) -> str:
        return (unit * (length // len(unit) + 1))[:length]

    def head(start: str, unit: str) -> str:
        return start + fill(unit, size - len(start))

    def blocks(lines: str) -> str:  # paragraphs of MAX_BLOCK_LINES lines
        block = lines * (rendering.MAX_BLOCK_LINES // lines.count("\n"))
        return fill(block + "\n", size)

    worst = {
        "[ then text": head("[" * rendering.MAX_BRACKETS, "a"),
        "[]( then (": head("[](" * rendering.MAX_BRACKETS, "("),
        '[]( then "': head("[](" * rendering.MAX_BRACKETS, '"'),
        "[a][ then text": head("[a][" * (rendering.MAX_BRACKETS // 2), "a"),
        "<a b then spaces": head("<a b" * rendering.MAX_ANGLES, " "),
        "<http then text": head("<http://" * rendering.MAX_ANGLES, "a"),
        "` in a table": "|a|b|\n|-|-|\n|" + fill("`|", 2 * rendering.MAX_BACKTICKS) + "a|",
        "*** lines": blocks("***\n"),
        "# lines": blocks("# a\n"),
        "setext lines": blocks("a\n=\n"),
        "table rows": fill("|a|b|\n|-|-|\n" + "|a|b|\n" * 198 + "\n", size),
        "lists 8 deep": blocks("- " * 7 + "a\n"),
        "emphasis": fill("**a*", size),
        "escapes": fill("\\*", size),
        "paragraphs": fill("a\n\n", size),
    }
    for name, text in worst.items():
        assert rendering.markdown_problem(text) is None, name
        rendering.render_markdown.cache_clear()
        html, seconds = _timed(lambda text=text: rendering.render_markdown(text))
        assert not isinstance(html, rendering.Refused), name
        assert seconds < 1.0, (name, seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a" * 30_001, "è lungo 30.001 caratteri, più dei 30.000 ammessi"),
        ("<" * 101, "contiene 101 segni «<», al massimo 100"),
        ("`" * 101, "contiene 101 apici inversi «`», al massimo 100"),
        ("riga\n" * 201, "ha più di 200 righe di seguito senza una riga vuota (dalla riga 1;"),
        ("> " * 9 + "citazione", "annidati su più di 8 livelli (riga 1)"),
        ("1. " * 9 + "voce", "annidati su più di 8 livelli (riga 1)"),
        ("\t" * 9 + "rientro", "annidati su più di 8 livelli (riga 1)"),
        ("<blockquote>" * 40 + "x", "ha elementi annidati su più di 32 livelli"),
    ],
)
def test_each_bound_is_refused_with_its_reason(text, reason):
    with pytest.raises(rendering.MarkdownError) as refused:
        rendering.check_markdown(text)
    assert reason in refused.value.reason


def test_texts_at_the_bounds_and_the_2019_sections_are_rendered(relazione):
    within = [
        "a" * rendering.MAX_CHARS,
        "".join("    " * level + "- voce\n" for level in range(8)),  # 8 levels
        "riga\n" * 200 + "\nriga\n" * 200,
        "- - - - - - - - voce",  # 8 lists on one line
    ]
    for text in [
        *within,
        *Section.objects.filter(relazione=relazione).values_list("body", flat=True),
    ]:
        rendering.check_markdown(text)


def test_bounded_link_scans_render_links_as_before():
    import markdown

    text = (
        "Vedi [il decreto](https://www.normattiva.it/uri-res/N2Ls?urn:nir:stato:decreto.legislativo"
        ':2009-10-27;150 "D.Lgs. 150/2009") e [la pagina [annidata]](https://example.org/a_(b)),'
        " [riferimento][rif] e [rif].\n\n[rif]: https://example.org/rif"
    )
    plain = markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    bounded = markdown.markdown(
        text, extensions=["tables", "sane_lists", rendering.BoundedLinks()], output_format="html"
    )
    assert bounded == plain
    assert bounded.count("<a ") == 4
    # A link text longer than the scan stays text (no link, no time spent looking for it).
    long_text = "[" + "a" * (rendering.LINK_SCAN + 10) + "](https://example.org)"
    assert "<a " not in str(rendering.render_markdown(long_text))
