"""An actual value (the fields of an `Actual`: ``value_number``, ``value_date``, ``value_done``,
``value_k``, ``value_n``, ``value_parts``) as the engine's `Value` (`value_from_actual`) and as
Italian text (`actual_text`: what the plan's tables and the Relazione show when nothing was
written). The kind-aware forms (the entry form's "realizzato il 18/03/2019") are the rules'
``display`` (rules/inputs.py, `value_display`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from performance.rules.base import ScoringError, Value, as_date, dec, fmt, fmt_date


def value_from_actual(actual: Mapping[str, Any]) -> Value | None:
    """The engine's Value from an Actual's fields (a model's __dict__ or a .values() row)."""
    parts = actual.get("value_parts")
    value = Value(
        number=actual.get("value_number"),
        date=actual.get("value_date"),
        done=actual.get("value_done"),
        k=actual.get("value_k"),
        n=actual.get("value_n"),
        parts=None if parts is None else tuple(Value.from_dict(p) for p in parts),
    )
    return None if value.is_empty() else value


def figure_text(
    number: Any = None,
    date: Any = None,
    done: Any = None,
    k: Any = None,
    n: Any = None,
    *,
    percent: bool = False,
) -> str:
    """One stored value (or part) in Italian: "4,6" ("4,6%" with ``percent``), "18/03/2019",
    "realizzato", "13 su 14"; a malformed stored one as it is."""
    try:
        if number is not None:
            text = fmt(dec(number))
            return f"{text}%" if percent else text
        if date is not None:
            parsed = as_date(date)
            return fmt_date(parsed) if parsed else ""
        if done is not None:
            return "realizzato" if done else "non realizzato"
        if k is not None:
            k_text = fmt(dec(k, "k"))
            return f"{k_text} su {fmt(dec(n, 'n'))}" if n is not None else k_text
        return ""
    except ScoringError:
        return " ".join(str(v) for v in (number, date, done, k, n) if v is not None)


def actual_text(
    *,
    text: str = "",
    number: Any = None,
    date: Any = None,
    done: Any = None,
    k: Any = None,
    n: Any = None,
    parts: Sequence[Mapping | None] | None = None,
    percent: bool = False,
) -> str:
    """The actual as written; when nothing was written, its value in Italian (the parts
    separated by «;»)."""
    if text:
        return text
    if parts:
        return "; ".join(
            figure_text(
                p.get("value", p.get("number")),
                p.get("date"),
                p.get("done"),
                p.get("k"),
                p.get("n"),
                percent=percent,
            )
            for p in parts
            if p
        )
    return figure_text(number, date, done, k, n, percent=percent)
