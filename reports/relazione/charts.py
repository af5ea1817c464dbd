"""Small server-side SVG charts for the Relazione: no JavaScript, no plotting library.

Each function returns the markup of one inline ``<svg role="img">`` with a ``<title>`` and a
``<desc>`` referenced by ``aria-labelledby``; the page shows the same data in a table beside the
chart (the text alternative). Labels sit above their bar so that long names stay readable on a
phone; the drawing scales with its container (``viewBox``). Colours are written as attributes
(the chart prints and converts to PDF without the page's stylesheet) and repeated as classes
(``bar band-raggiunto``) for styling; values are always written next to the bars, so colour is
never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH = 400
PAD = 6
VALUE_SPACE = 58  # room on the right for the value written after a bar
LABEL_HEIGHT = 17
BAR_HEIGHT = 14
ITEM_GAP = 9
AXIS_HEIGHT = 20
FONT = 'font-family="Titillium Web, Geneva, Tahoma, sans-serif"'
MAX_LABEL = 56

COLOURS = {
    "raggiunto": "#00704a",
    "parziale": "#995300",
    "non_raggiunto": "#b3213c",
    "nd": "#65727f",
    "migliora": "#00704a",
    "peggiora": "#b3213c",
    "neutro": "#0b5394",
}
TEXT = "#1a1a1a"
MUTED = "#5c6f82"


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` on the chart's scale, ``text`` as written next to it ("79,75%")."""

    label: str
    value: Decimal | float | int | None
    text: str
    tone: str = "neutro"  # a COLOURS key (a band key, "migliora", "peggiora"...)
    level: int = 0  # indentation of the label (a tree of units)


@dataclass(frozen=True)
class Segment:
    tone: str
    label: str
    count: int


@dataclass(frozen=True)
class Stack:
    """One stacked bar: its segments side by side (e.g. objectives by achievement band)."""

    label: str
    segments: tuple[Segment, ...]

    @property
    def total(self) -> int:
        return sum(s.count for s in self.segments)


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _clip(label: str, limit: int = MAX_LABEL) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _wrap(label: str, limit: int = MAX_LABEL, lines: int = 2) -> list[str]:
    """The label on at most ``lines`` lines of ``limit`` characters (word wrap; the last line is
    clipped with an ellipsis)."""
    words = " ".join(str(label).split()).split(" ")
    out: list[str] = []
    current = ""
    for index, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if len(candidate) <= limit or not current:
            current = candidate
            continue
        if len(out) == lines - 1:
            current = _clip(" ".join([current, *words[index:]]), limit)
            break
        out.append(current)
        current = word
    out.append(_clip(current, limit))
    return out


def _colour(tone: str) -> str:
    return COLOURS.get(tone, COLOURS["neutro"])


def _open(chart_id: str, title: str, desc: str, height: float, css: str) -> list[str]:
    chart_id = escape(chart_id, quote=True)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css, quote=True)}" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _label(x: float, y: float, text: str, *, full: str = "", size: int = 13) -> str:
    tooltip = f"<title>{escape(full)}</title>" if full and full != text else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" {FONT} font-size="{size}" fill="{TEXT}">'
        f"{tooltip}{escape(text)}</text>"
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    desc: str,
    maximum: float = 100,
    guides: Sequence[tuple[float, str]] = ((70, "70%"), (90, "90%"), (100, "100%")),
) -> str:
    """Horizontal bars on a 0–``maximum`` scale, label above each bar, value after it.

    ``guides`` are dashed vertical lines (the achievement bands' thresholds). A bar without a
    value is drawn as an empty outline with its text ("n.d.").
    """
    if not bars:
        return ""
    plot = WIDTH - 2 * PAD - VALUE_SPACE
    labels = [_wrap(bar.label, MAX_LABEL - 2 * bar.level) for bar in bars]
    height = (
        AXIS_HEIGHT
        + sum(LABEL_HEIGHT * len(lines) + BAR_HEIGHT + ITEM_GAP for lines in labels)
        + PAD
    )
    out = _open(chart_id, title, desc, height, "chart-bars")
    bottom = height - PAD
    for value, text in guides:
        x = PAD + plot * min(max(float(value), 0.0), maximum) / maximum
        out.append(
            f'<line x1="{_n(x)}" y1="{AXIS_HEIGHT - 4}" x2="{_n(x)}" y2="{_n(bottom)}" '
            f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="3 3" class="guide"/>'
        )
        out.append(
            f'<text x="{_n(x)}" y="{AXIS_HEIGHT - 7}" {FONT} font-size="11" fill="{MUTED}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    out.append(
        f'<line x1="{PAD}" y1="{AXIS_HEIGHT - 4}" x2="{PAD}" y2="{_n(bottom)}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    top = float(AXIS_HEIGHT)
    for bar, lines in zip(bars, labels, strict=True):
        for number, line in enumerate(lines):
            out.append(
                _label(
                    PAD + 4 + 12 * bar.level, top + 12 + LABEL_HEIGHT * number, line, full=bar.label
                )
            )
        y = top + LABEL_HEIGHT * len(lines)
        top = y + BAR_HEIGHT + ITEM_GAP
        colour = _colour(bar.tone)
        tone = escape(bar.tone, quote=True)
        if bar.value is None:
            out.append(
                f'<rect x="{PAD}" y="{_n(y)}" width="{_n(plot)}" height="{BAR_HEIGHT}" '
                f'fill="none" stroke="{MUTED}" stroke-dasharray="2 2" class="bar bar-nd"/>'
            )
            end = PAD + plot
        else:
            share = min(max(float(bar.value), 0.0), maximum) / maximum
            width = plot * share
            out.append(
                f'<rect x="{PAD}" y="{_n(y)}" width="{_n(width)}" height="{BAR_HEIGHT}" '
                f'fill="{colour}" class="bar band-{tone}"/>'
            )
            end = PAD + width
        out.append(
            f'<text x="{_n(end + 4)}" y="{_n(y + BAR_HEIGHT - 3)}" {FONT} font-size="12" '
            f'font-weight="600" fill="{TEXT}">{escape(bar.text)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def stacked_bars(
    stacks: Sequence[Stack],
    *,
    chart_id: str,
    title: str,
    desc: str,
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """One full-width bar per stack, split by count; counts written inside wide segments, the
    legend (tone, label) below."""
    stacks = [s for s in stacks if s.total > 0]
    if not stacks:
        return ""
    plot = WIDTH - 2 * PAD
    step = LABEL_HEIGHT + BAR_HEIGHT + 6 + ITEM_GAP
    legend_height = 22 * len(legend)
    height = PAD + step * len(stacks) + legend_height + PAD
    out = _open(chart_id, title, desc, height, "chart-stacked")
    for index, stack in enumerate(stacks):
        top = PAD + index * step
        out.append(_label(PAD, top + 12, _clip(f"{stack.label} ({stack.total})"), full=stack.label))
        y = top + LABEL_HEIGHT
        x = float(PAD)
        for segment in stack.segments:
            if segment.count <= 0:
                continue
            width = plot * segment.count / stack.total
            tone = escape(segment.tone, quote=True)
            out.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{BAR_HEIGHT + 6}" '
                f'fill="{_colour(segment.tone)}" stroke="#fff" stroke-width="1" '
                f'class="bar band-{tone}"><title>{escape(segment.label)}: {segment.count}</title>'
                f"</rect>"
            )
            if width >= 22:
                out.append(
                    f'<text x="{_n(x + width / 2)}" y="{_n(y + BAR_HEIGHT + 1)}" {FONT} '
                    f'font-size="12" font-weight="600" fill="#fff" text-anchor="middle">'
                    f"{segment.count}</text>"
                )
            x += width
    top = PAD + step * len(stacks)
    for index, (tone, label) in enumerate(legend):
        y = top + 22 * index
        out.append(
            f'<rect x="{PAD}" y="{_n(y + 3)}" width="14" height="14" fill="{_colour(tone)}" '
            f'class="key band-{escape(tone, quote=True)}"/>'
        )
        out.append(_label(PAD + 20, y + 15, label, size=12))
    out.append("</svg>")
    return "\n".join(out)


def diverging_bars(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    desc: str,
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """Bars left (negative) or right (positive) of a zero line, on a symmetric scale set by the
    largest absolute value: for changes in percent against a baseline."""
    bars = [b for b in bars if b.value is not None]
    if not bars:
        return ""
    largest = max(abs(float(b.value)) for b in bars) or 1.0  # type: ignore[arg-type]
    plot = WIDTH - 2 * PAD - 2 * VALUE_SPACE
    half = plot / 2
    zero = PAD + VALUE_SPACE + half
    labels = [_wrap(bar.label) for bar in bars]
    bottom = PAD + sum(LABEL_HEIGHT * len(lines) + BAR_HEIGHT + ITEM_GAP for lines in labels)
    height = bottom + 22 * len(legend) + PAD
    out = _open(chart_id, title, desc, height, "chart-diverging")
    top = float(PAD)
    for bar, lines in zip(bars, labels, strict=True):
        for number, line in enumerate(lines):
            out.append(_label(PAD, top + 12 + LABEL_HEIGHT * number, line, full=bar.label))
        y = top + LABEL_HEIGHT * len(lines)
        top = y + BAR_HEIGHT + ITEM_GAP
        out.append(  # the zero line, beside each bar only (labels run across it)
            f'<line x1="{_n(zero)}" y1="{_n(y - 3)}" x2="{_n(zero)}" '
            f'y2="{_n(y + BAR_HEIGHT + 3)}" stroke="{MUTED}" stroke-width="1" class="zero"/>'
        )
        value = float(bar.value)  # type: ignore[arg-type]
        width = half * abs(value) / largest
        x = zero if value >= 0 else zero - width
        tone = escape(bar.tone, quote=True)
        out.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{BAR_HEIGHT}" '
            f'fill="{_colour(bar.tone)}" class="bar tone-{tone}"/>'
        )
        if value >= 0:
            text_x, anchor = zero + width + 4, "start"
        else:
            text_x, anchor = zero - width - 4, "end"
        out.append(
            f'<text x="{_n(text_x)}" y="{_n(y + BAR_HEIGHT - 3)}" {FONT} font-size="12" '
            f'font-weight="600" fill="{TEXT}" text-anchor="{anchor}">{escape(bar.text)}</text>'
        )
    for index, (tone, label) in enumerate(legend):
        y = bottom + 4 + 22 * index
        out.append(
            f'<rect x="{PAD}" y="{_n(y + 3)}" width="14" height="14" fill="{_colour(tone)}" '
            f'class="key tone-{escape(tone, quote=True)}"/>'
        )
        out.append(_label(PAD + 20, y + 15, label, size=12))
    out.append("</svg>")
    return "\n".join(out)
