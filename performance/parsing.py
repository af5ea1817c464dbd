"""Parsing what Italian staff type: "4,6", "82,7%", "1.234,5", "18/03/2019", "18.3.2019",
"sì", "13 su 14". Every parser raises `ParseError` with an Italian message; none raises anything
else, whatever the input (property-tested)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation


class ParseError(ValueError):
    pass


_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$|^[+-]?\d*\.\d+$|^[+-]?\d+,\d+$")


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
    if raw.endswith("%"):
        if not allow_percent:
            raise ParseError(f"«{text}»: qui non va il simbolo %")
        raw = raw[:-1]
    if len(raw) > 40 or not _NUMBER.match(raw):
        raise ParseError(f"«{text}» non è un numero (esempi: 4,6 oppure 1.234,5)")
    if "," in raw:
        normalized = raw.replace(".", "").replace(",", ".")
    elif raw.count(".") == 1 and not re.search(r"\.\d{3}$", raw):
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
    re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$"),  # 18/03/2019, 18.3.2019, 18-3-2019
)


def parse_date(text: object) -> dt.date | None:
    """A date as dd/mm/yyyy (also with dots or dashes) or ISO yyyy-mm-dd; None if empty."""
    if text is None:
        return None
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    raw = _SPACES.sub("", str(text))
    if raw == "":
        return None
    if len(raw) <= 12:
        match = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", raw)
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
                return dt.date(year, month, day)
            except ValueError:
                raise ParseError(f"«{text}» non è una data esistente") from None
    raise ParseError(f"«{text}» non è una data (formato gg/mm/aaaa)")


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


_K_OF_N = re.compile(r"^(\d+(?:,\d+)?)\s*(?:su|/|di)\s*(\d+(?:,\d+)?)$")


def parse_k_of_n(text: object) -> tuple[Decimal, Decimal | None] | None:
    """ "13 su 14", "13/14" -> (13, 14); "13" -> (13, None); empty -> None."""
    if text is None:
        return None
    raw = " ".join(str(text).strip().lower().split())
    if raw == "":
        return None
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
