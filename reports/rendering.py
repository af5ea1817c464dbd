"""Markdown to sanitized HTML for the narrative sections (python-markdown, then nh3's allowlist:
whatever staff type, no script, style or event handler reaches the page)."""

import functools
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

from performance.scoring import fmt_pct

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


@functools.lru_cache(maxsize=512)
def render_markdown(text: str) -> SafeString:
    """The sanitized HTML of a Markdown text. A pure function of the text, so it is computed once
    per distinct text (the public page renders the same sections at every request)."""
    html = markdown.markdown(text or "", extensions=["tables", "sane_lists"], output_format="html")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return mark_safe(clean)


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


def render_section(section, figures: Mapping[str, object] | None = None) -> SafeString:
    """A section's body as sanitized HTML, with the engine's figures in place of the tokens.

    ``section`` is a Section (or anything with a ``body``); ``figures`` maps the token names to
    numbers, e.g. ``{"strategici": Decimal("98.10"), "operativi": Decimal("93.04")}``
    (see reports.selectors.relazione_figures).
    """
    return render_markdown(substitute_figures(section.body, figures))
