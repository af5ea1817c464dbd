"""Reading JSON that a user or a client sends: the live preview's body (views/entry.py) and the
parts of a multi-part rule typed in the target form (forms_plan.py).

Python's json.loads would accept what later becomes a server error: ``NaN``, ``Infinity`` (an
OverflowError as soon as it meets int()), 50,000 nested arrays (RecursionError), an integer of
4,000 digits (too large for every column and for int() → str()). ``loads`` refuses them, and
anything over its size, with ``JSONInputError`` and an Italian message; the caller checks the
types of what it reads.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BYTES = 64 * 1024
MAX_DEPTH = 20  # nesting of arrays and objects (a multi-part rule needs 4)
MAX_NUMBER_DIGITS = 30  # a number literal longer than this is not a plan's figure or an id


class JSONInputError(ValueError):
    """Malformed JSON; the message is Italian."""


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(f"«{name}» non è un numero ammesso")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise JSONInputError("numero troppo grande")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 10:
        raise JSONInputError("numero troppo lungo")
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise JSONInputError("numero troppo grande")
    return value


def _depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` arrays/objects (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def loads(data: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``data`` (UTF-8 if bytes), or JSONInputError."""
    if len(data) > max_bytes:
        raise JSONInputError(f"testo troppo grande (al massimo {max_bytes // 1024} KB)")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONInputError("il testo non è in UTF-8") from None
    try:
        value = json.loads(
            data, parse_constant=_refuse_constant, parse_int=_int, parse_float=_float
        )
    except JSONInputError:
        raise
    except json.JSONDecodeError as error:
        raise JSONInputError(
            f"JSON non valido (riga {error.lineno}, colonna {error.colno})"
        ) from None
    except RecursionError:
        raise JSONInputError(f"troppi livelli annidati (al massimo {max_depth})") from None
    except ValueError:  # e.g. int() of too many digits, before parse_int sees them
        raise JSONInputError("JSON non valido") from None
    if not _depth_within(value, max_depth):
        raise JSONInputError(f"troppi livelli annidati (al massimo {max_depth})")
    return value
