"""Parsing what Italian staff type: "4,6", "82,7%", "1.234,5", "18/03/2019", "18.3.2019",
"sì", "13 su 14". Every parser raises `ParseError` with an Italian message; none raises anything
else, whatever the input (property-tested).

What is accepted, beyond the formats:

- **ASCII digits only** (0–9): Python's int() and Decimal() read any Unicode digit ("١٢٣",
  "１２３" would be 123), which nobody means to type in an Italian form or spreadsheet;
- **plausible dates**: within ``PLAUSIBLE_DATES`` (1900–2100) always, and within a cycle's
  window (``cycle_date_window``) where the caller knows the cycle (values, target deadlines).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class DateWindow:
    """The dates a parser accepts, first and last included; ``scope`` says whose window it is
    in the message ("per il ciclo 2019")."""

    first: dt.date
    last: dt.date
    scope: str = ""

    def check(self, value: dt.date, text: object) -> dt.date:
        if self.first <= value <= self.last:
            return value
        scope = f" {self.scope}" if self.scope else ""
        raise ParseError(
            f"«{text}» è fuori dall'intervallo ammesso{scope}: "
            f"dal {_italian(self.first)} al {_italian(self.last)}"
        )


def _italian(value: dt.date) -> str:
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"  # strftime: "1" for year 1


# Any date typed or imported: a year outside 1900–2100 is a typo ("01/01/0001", "31/12/9999").
PLAUSIBLE_DATES = DateWindow(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
# A cycle's dates (values, target deadlines, plan updates): from 1 January of the year before
# the cycle (a plan approved in December, a deadline carried over) to 31 December of two years
# after (late values and the Relazione are recorded in the following year; a few targets fall
# due the year after that). The 2019 data span 2018–2020.
CYCLE_YEARS_BEFORE = 1
CYCLE_YEARS_AFTER = 2


def cycle_date_window(year: int) -> DateWindow:
    """The dates accepted for the cycle of ``year`` (see CYCLE_YEARS_BEFORE / _AFTER)."""
    return DateWindow(
        dt.date(year - CYCLE_YEARS_BEFORE, 1, 1),
        dt.date(year + CYCLE_YEARS_AFTER, 12, 31),
        f"per il ciclo {year}",
    )


def _refuse_other_digits(text: object, raw: str) -> None:
    """A digit that is not 0–9 (Arabic-Indic, full-width, superscript...): an explicit refusal."""
    if any(ch.isdigit() and not ch.isascii() for ch in raw):
        raise ParseError(f"«{text}»: usare solo le cifre da 0 a 9")


_SPACES = re.compile(r"[\s\u00a0\u202f]+")
# [0-9], not \d: \d matches every Unicode digit
_NUMBER = re.compile(
    r"^[+-]?([0-9]+|[0-9]{1,3}(\.[0-9]{3})+)(,[0-9]+)?$|^[+-]?[0-9]*\.[0-9]+$|^[+-]?[0-9]+,[0-9]+$"
)


def parse_number(text: object, *, allow_percent: bool = True) -> Decimal | None:
    """An Italian decimal number; None for an empty input.

    Accepts "4,6", "-13,06", "1.234,5", "1234.5" (dot as decimal separator only when there is
    one dot not followed by exactly three digits), "82,7%", "+5", "− 19,5" (typographic minus).
    """
    if text is None:
        return None
    if isinstance(text, bool):
        raise ParseError("non è un numero")
    if isinstance(text, int | Decimal | float):
        value = Decimal(str(text)) if isinstance(text, float) else Decimal(text)
        if not value.is_finite():  # NaN, Infinity (a float or Decimal cell)
            raise ParseError(f"«{text}» non è un numero")
        return value
    raw = _SPACES.sub("", str(text)).replace("\u2212", "-").replace("\u2013", "-")
    if raw == "":
        return None
    _refuse_other_digits(text, raw)
    if raw.endswith("%"):
        if not allow_percent:
            raise ParseError(f"«{text}»: qui non va il simbolo %")
        raw = raw[:-1]
    if len(raw) > 40 or not _NUMBER.match(raw):
        raise ParseError(f"«{text}» non è un numero (esempi: 4,6 oppure 1.234,5)")
    if "," in raw:
        normalized = raw.replace(".", "").replace(",", ".")
    elif raw.count(".") == 1 and not re.search(r"\.[0-9]{3}$", raw):
        normalized = raw  # 1234.5
    else:
        normalized = raw.replace(".", "")  # 1.234 or 1.234.567 (thousands)
    try:
        value = Decimal(normalized)
    except InvalidOperation:
        raise ParseError(f"«{text}» non è un numero") from None
    if not value.is_finite():
        raise ParseError(f"«{text}» non è un numero")
    return value


_DATE_PATTERNS = (
    re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$"),  # 18/03/2019, 18.3.2019
)
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$")


def parse_date(text: object, *, window: DateWindow | None = None) -> dt.date | None:
    """A date as dd/mm/yyyy (also with dots or dashes) or ISO yyyy-mm-dd; None if empty.

    The date must be within ``window`` (a cycle's, see cycle_date_window) and always within
    PLAUSIBLE_DATES; a date or datetime object (a spreadsheet cell) is checked the same way."""
    if text is None:
        return None
    if isinstance(text, dt.datetime):
        return _within(text.date(), _italian(text), window)
    if isinstance(text, dt.date):
        return _within(text, _italian(text), window)
    raw = _SPACES.sub("", str(text))
    if raw == "":
        return None
    _refuse_other_digits(text, raw)
    if len(raw) <= 12:
        match = _ISO_DATE.match(raw)
        if match:
            year, month, day = (int(g) for g in match.groups())
        else:
            for pattern in _DATE_PATTERNS:
                match = pattern.match(raw)
                if match:
                    day, month, year = (int(g) for g in match.groups())
                    break
        if match:
            try:
                value = dt.date(year, month, day)
            except ValueError:
                raise ParseError(f"«{text}» non è una data esistente") from None
            return _within(value, text, window)
    raise ParseError(f"«{text}» non è una data (formato gg/mm/aaaa)")


def _within(value: dt.date, text: object, window: DateWindow | None) -> dt.date:
    if window is not None:
        window.check(value, text)  # the narrower one first: its message says whose it is
    return PLAUSIBLE_DATES.check(value, text)


_TRUE = {"si", "sì", "s", "x", "1", "true", "vero", "realizzato", "fatto", "yes"}
_FALSE = {"no", "n", "0", "false", "falso", "non realizzato", "="}


def parse_bool(text: object) -> bool | None:
    if text is None or isinstance(text, bool):
        return text  # type: ignore[return-value]
    raw = " ".join(str(text).strip().lower().split())
    if raw == "":
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ParseError(f"«{text}»: rispondere sì o no")


_K_OF_N = re.compile(r"^([0-9]+(?:,[0-9]+)?)\s*(?:su|/|di)\s*([0-9]+(?:,[0-9]+)?)$")


def parse_k_of_n(text: object) -> tuple[Decimal, Decimal | None] | None:
    """ "13 su 14", "13/14" -> (13, 14); "13" -> (13, None); empty -> None."""
    if text is None:
        return None
    raw = " ".join(str(text).strip().lower().split())
    if raw == "":
        return None
    _refuse_other_digits(text, raw)
    match = _K_OF_N.match(raw)
    if match:
        k = parse_number(match.group(1), allow_percent=False)
        n = parse_number(match.group(2), allow_percent=False)
        assert k is not None and n is not None
        if n <= 0:
            raise ParseError(f"«{text}»: il totale deve essere maggiore di 0")
        if k < 0:
            raise ParseError(f"«{text}»: k non può essere negativo")
        return k, n
    k = parse_number(raw, allow_percent=False)
    if k is None or k < 0:
        raise ParseError(f"«{text}»: scrivere quanti su quanti, es. 13 su 14")
    return k, None
