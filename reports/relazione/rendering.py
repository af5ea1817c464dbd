"""Markdown to sanitized HTML for the narrative sections (python-markdown, then nh3's allowlist:
whatever staff type, no script, style or event handler reaches the page).

Bounded work. Python-Markdown has inputs that cost time quadratic in their length (every "["
scans forward for its "]", every "<" for its ">", every line of a paragraph is searched for again
by the block processors) and one that exhausts the stack (lists nested hundreds deep:
RecursionError). So a text is rendered only within bounds checked first in linear time
(``markdown_problem``): at most MAX_CHARS characters, MAX_NESTING levels of lists and quotes,
MAX_BRACKETS "[", MAX_ANGLES "<", MAX_BACKTICKS "`" and MAX_BLOCK_LINES lines per paragraph; and
a link's text and address are looked for within LINK_SCAN characters (BoundedLinks). Each
quadratic path then costs at most (its bounded number of triggers) x (a bounded length), and the
nesting stays far below the recursion limit: the worst inputs within the bounds
(tests/relazione/test_hardening_markdown.py) render in well under a second per section, instead of
minutes. The sanitized output is refused when its elements nest deeper than MAX_HTML_DEPTH (raw
HTML typed in the text: WeasyPrint lays out recursively). A text beyond a bound, or one the
converter fails on, is not rendered: saving refuses it with the reason in Italian
(check_markdown, reports.relazione.services) and ``render_section`` shows a notice naming the
section in
its place, so the page, the OIV review and the PDF of a Relazione saved before these bounds
still render.
"""

import functools
import hashlib
import logging
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import markdown
import nh3
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from performance.scoring import fmt_pct

logger = logging.getLogger(__name__)

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h3",
    "h4",
    "h5",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
    "a",
    "sup",
    "sub",
    "abbr",
    "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"scope"}}

# ------------------------------------------------------------------------- bounds of a text

MAX_CHARS = 30_000  # the longest section of 2019 has 18.050
MAX_NESTING = 8  # lists and block quotes inside each other (indentation, "- ", "1. ", ">")
MAX_BRACKETS = 100  # "[": one per link
MAX_ANGLES = 100  # "<": one per tag such as <br>
MAX_BACKTICKS = 100  # "`": code spans
MAX_BLOCK_LINES = 200  # lines of a paragraph, list or table without a blank line
MAX_HTML_DEPTH = 32  # elements inside each other in the sanitized output

# A line's prefix of indentation, quote markers and list markers ("  > - 1. text").
_PREFIX = re.compile(r"(?:[ \t]|>|(?:[-*+]|\d{1,9}[.)])(?=[ \t]|$))*")
_MARKER = re.compile(r"[-*+]|\d{1,9}[.)]")
_INDENTATION = re.compile(r"[ \t]+")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>")
_VOID = {"br", "hr", "img", "wbr"}


# How far a "[" looks for its "]", and a "](" for its ")": Python-Markdown scans to the end of the
# paragraph, so every "[" would cost the paragraph's length; a longer link text or address stays
# literal text.
LINK_SCAN = 2_000
_LINK_PROCESSORS = (
    "reference",
    "link",
    "image_link",
    "image_reference",
    "short_reference",
    "short_image_ref",
)


class _BoundedScan:
    """Python-Markdown's link processors, each seeing at most LINK_SCAN characters after the
    bracket (the indices they return are valid in the whole text)."""

    def getText(self, data: str, index: int):
        return super().getText(data[: index + LINK_SCAN], index)

    def getLink(self, data: str, index: int):
        return super().getLink(data[: index + LINK_SCAN], index)


@functools.cache
def _bounded(cls: type) -> type:
    return type(f"Bounded{cls.__name__}", (_BoundedScan, cls), {})


class BoundedLinks(markdown.Extension):
    """The link and reference processors with bounded scans, in their places and priorities."""

    def extendMarkdown(self, md) -> None:
        for name in _LINK_PROCESSORS:
            processor = md.inlinePatterns[name]
            processor.__class__ = _bounded(type(processor))


class MarkdownError(ValueError):
    """A text beyond a bound, or one the converter failed on (check_markdown). ``reason``
    completes the sentence "Il testo della sezione «…» …" (Italian, no final full stop)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _nesting(line: str) -> int:
    """Levels a line's prefix opens: each ">", each list marker, each 4 columns of a run of
    indentation (the single space after a marker opens none)."""
    prefix = _PREFIX.match(line).group(0)
    indentation = sum((len(run) + 3 * run.count("\t")) // 4 for run in _INDENTATION.findall(prefix))
    return prefix.count(">") + len(_MARKER.findall(prefix)) + indentation


def markdown_problem(text: str) -> str | None:
    """Why ``text`` is not rendered (see the module's docstring; every bound it breaks, the first
    line for the per-line ones), or None. Linear in the text."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")  # as Python-Markdown reads it
    problems = []
    if len(text) > MAX_CHARS:
        problems.append(
            f"è lungo {_number(len(text))} caratteri, più dei {_number(MAX_CHARS)} ammessi "
            "(abbreviarlo o dividerlo)"
        )
    counted = (
        ("[", MAX_BRACKETS, "parentesi quadre «[»", "servono per i collegamenti [testo](url)"),
        ("<", MAX_ANGLES, "segni «<»", "servono per i tag come <br>; il segno di minore è &lt;"),
        ("`", MAX_BACKTICKS, "apici inversi «`»", "servono per il testo in codice"),
    )
    for char, limit, name, use in counted:
        count = text.count(char)
        if count > limit:
            problems.append(f"contiene {_number(count)} {name}, al massimo {limit} ({use})")
    run = 0
    long_block = deep = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t"):  # blank for Python-Markdown (a no-break space is not)
            run = 0
            continue
        run += 1
        if run > MAX_BLOCK_LINES and long_block is None:
            long_block = number - run + 1
        if deep is None and _nesting(line) > MAX_NESTING:
            deep = number
        if long_block is not None and deep is not None:
            break
    if deep is not None:
        problems.append(
            f"ha elenchi, citazioni o rientri annidati su più di {MAX_NESTING} livelli "
            f"(riga {_number(deep)})"
        )
    if long_block is not None:
        problems.append(
            f"ha più di {MAX_BLOCK_LINES} righe di seguito senza una riga vuota (dalla riga "
            f"{_number(long_block)}; separare paragrafi, elenchi e tabelle con una riga vuota)"
        )
    return "; ".join(problems) or None


def _html_depth(html: str) -> int:
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID or match.group(0).endswith("/>"):
            continue
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


class Refused(SafeString):
    """What ``render_markdown`` gives for a text it does not render: a short notice (allowed tags
    only), with the Italian ``reason`` (see MarkdownError)."""

    reason: str


def _refused(reason: str) -> Refused:
    notice = Refused(format_html("<p><strong>Testo non mostrato</strong>: {}.</p>", reason))
    notice.reason = reason
    return notice


@functools.lru_cache(maxsize=512)
def render_markdown(text: str) -> SafeString:
    """The sanitized HTML of a Markdown text. A pure function of the text, so it is computed once
    per distinct text (the public page renders the same sections at every request).

    Never raises: a text beyond a bound, or one the converter fails on, gives a Refused notice
    (remembered like any other result)."""
    problem = markdown_problem(text)
    if problem:
        return _refused(problem)
    try:
        html = markdown.markdown(
            text or "", extensions=["tables", "sane_lists", BoundedLinks()], output_format="html"
        )
        clean = nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer",
        )
    except Exception as error:  # RecursionError or a defect of the converter: said, not a 500
        logger.warning("Markdown not rendered: %s: %s", type(error).__name__, error)
        return _refused(
            f"non può essere convertito ({type(error).__name__}): semplificarne la struttura"
        )
    if _html_depth(clean) > MAX_HTML_DEPTH:
        return _refused(
            f"ha elementi annidati su più di {MAX_HTML_DEPTH} livelli (tag HTML uno dentro l'altro)"
        )
    return mark_safe(clean)


def _render(text: str) -> SafeString:
    """render_markdown, without remembering a text over MAX_CHARS (the cache holds 512 texts:
    never 512 huge ones)."""
    if len(text) > MAX_CHARS and (problem := markdown_problem(text)):
        return _refused(problem)
    return render_markdown(text)


def check_markdown(text: str) -> None:
    """MarkdownError if ``text`` would not be rendered (for the forms: before saving)."""
    html = _render(substitute_figures(text, {}))
    if isinstance(html, Refused):
        raise MarkdownError(html.reason)


# ------------------------------------------------------------------ figures of the engine in text

# The only placeholders a section body may contain, each filled with a percentage the scoring
# engine computes (never typed by staff): see fixtures/relazione-2019.yaml.
FIGURE_TOKENS = {
    "strategici": "raggiungimento complessivo degli obiettivi strategici",
    "operativi": "raggiungimento complessivo degli obiettivi operativi dell'Ente",
}
_TOKEN = re.compile(r"\{\{\s*(" + "|".join(map(re.escape, FIGURE_TOKENS)) + r")\s*\}\}")


def _figure_text(value: object) -> str:
    """An engine figure as an Italian percentage ("98,1%"); "n.d." when it is missing."""
    if value is None:
        return "n.d."
    if isinstance(value, str):
        return value
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "n.d."
    if not number.is_finite():
        return "n.d."
    return fmt_pct(number)


def substitute_figures(text: str, figures: Mapping[str, object] | None) -> str:
    """Replace the whitelisted tokens ({{strategici}}, {{operativi}}) with the figures.

    Plain string substitution, no template engine: any other ``{{ … }}`` or ``{% … %}`` stays
    literal text, and a whitelisted token without a figure becomes "n.d.".
    """
    figures = figures or {}
    return _TOKEN.sub(lambda match: _figure_text(figures.get(match.group(1))), text or "")


def section_name(section) -> str:
    """The title of a section, or its key's label, for the messages."""
    title = (getattr(section, "title", "") or "").strip()
    if title:
        return title
    key = getattr(section, "key", "") or ""
    if key:
        from reports.models import Section

        try:
            return str(Section.Key(key).label)
        except ValueError:
            return key
    return "senza titolo"


def section_problem_message(section, reason: str) -> str:
    """The sentence of a refused save: "Il testo della sezione «Premessa» contiene …"."""
    return f"Il testo della sezione «{section_name(section)}» {reason}."


@functools.lru_cache(maxsize=256)
def _log_once(name: str, reason: str, digest: str) -> None:
    logger.warning("Section «%s» not rendered (text %s): %s", name, digest[:12], reason)


def render_section(section, figures: Mapping[str, object] | None = None) -> SafeString:
    """A section's body as sanitized HTML, with the engine's figures in place of the tokens.

    ``section`` is a Section (or anything with a ``body``); ``figures`` maps the token names to
    numbers, e.g. ``{"strategici": Decimal("98.10"), "operativi": Decimal("93.04")}``
    (see reports.relazione.selectors.relazione_figures). A body that is not rendered (beyond a
    bound, e.g.
    saved before the bounds existed) gives an Italian notice naming the section in its place,
    never a server error.
    """
    body = section.body or ""
    html = _render(substitute_figures(body, figures))
    if not isinstance(html, Refused):
        return html
    name = section_name(section)
    _log_once(name, html.reason, hashlib.sha256(body.encode()).hexdigest())
    return format_html(
        '<p class="alert alert-warning" role="note">Il testo della sezione «{}» non può essere '
        "mostrato: {}. Va corretto nell'area di lavoro (Relazione, sezione «{}»).</p>",
        name,
        html.reason,
        name,
    )
