"""What every target rule is made of: the engine's numbers and values, and the `Rule` class.

Pure Python, no ORM (the scoring engine, `performance/scoring.py`, is built on it). A rule kind
is one module of this package with one `Rule` subclass; `performance/rules/__init__.py` lists
them in `RULES`. A rule holds, for its kind:

- ``validate``: the target's machine-readable form checked and normalized (Decimals, dates);
  a `ScoringError` names the key it is about (``error.field``), its message is Italian;
- ``score``: the achievement of a value with the formula that produced it;
- ``summary``: the target in words ("≥ 4", "entro il 31/07/2019");
- ``params``: its parameters, each with its plan-form field and its import/export column;
- ``inputs``, ``parse_entry``, ``input_texts``, ``display``: the entry form's inputs for a
  value, how they are read, a stored value shown in them and in words;
- ``import_name``, ``aliases``, ``value_hint``: its name in the import/export files, the other
  names read, how to write its value in a values sheet.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the entry form's reading (rules/inputs.py) and the cycle's rules
    from performance.rules.inputs import EntryParse, InputSpec
    from performance.scoring import Rules

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class ScoringError(ValueError):
    """A target or a value that no rule can score; the message is Italian and names the field.

    ``field`` is the key of the target's form it is about ("threshold", "due"...; "kind" for
    the rule itself), None for a value or a cycle's rules."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def dec(value: object, field_name: str = "valore", *, field: str | None = None) -> Decimal:
    """A Decimal from int/float/str/Decimal (Italian decimal comma accepted): the one reader of
    the numbers of stored rules and values (what people type: `performance.parsing`).
    ``field`` goes in the error (see `ScoringError`)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise ScoringError(f"{field_name}: numero mancante", field=field)
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        text = str(value).strip().replace(" ", "")
        if "," in text:
            text = text.replace(".", "").replace(",", ".")
        if not text.isascii() or "_" in text:
            # Decimal() reads any Unicode digit ("١٢٣", "１２３") and Python's "1_000": not a
            # number anyone writes in a plan or a spreadsheet
            raise ScoringError(f"{field_name}: «{value}» non è un numero", field=field)
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ScoringError(f"{field_name}: «{value}» non è un numero", field=field) from None
    if not result.is_finite():
        raise ScoringError(f"{field_name}: «{value}» non è un numero finito", field=field)
    return result


def fmt(value: Decimal | int | None, decimals: int | None = None) -> str:
    """Italian number: 79,75 / 1.245 / 392,4. ``decimals`` fixes the number of decimals."""
    if value is None:
        return "n.d."
    if not value:
        # A zero: its sign shows ("-0") but 0 == -0, so it must not share a cache entry.
        return _fmt(value, decimals)
    try:
        return _fmt_cached(value, decimals)
    except TypeError:  # unhashable (a signalling NaN): the plain path raises what it raises
        return _fmt(value, decimals)


def _fmt(value: Decimal | int, decimals: int | None) -> str:
    value = Decimal(value)
    if decimals is not None:
        value = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        text = f"{value:,.{decimals}f}"
    else:
        value = value.normalize()
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        text = f"{value:,.{places}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


# Formulas repeat the same few thousand figures: equal non-zero numbers (whatever their exponent
# or type: 5, 5.0, Decimal("5.00")) give the same text, so the text is computed once per value.
_fmt_cached = functools.lru_cache(maxsize=16384)(_fmt)


def fmt_pct(value: Decimal | None) -> str:
    return "n.d." if value is None else f"{fmt(value)}%"


@functools.lru_cache(maxsize=4096)
def fmt_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def as_date(value: object, *, field: str | None = None) -> dt.date | None:
    """A date from a date or an ISO text (stored rules and values); None stays None."""
    if value is None or isinstance(value, dt.date):
        return value  # type: ignore[return-value]
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ScoringError(f"data: «{value}» non è una data (AAAA-MM-GG)", field=field) from None


def clamp(value: Decimal) -> Decimal:
    return max(ZERO, min(HUNDRED, value))


_CENT = Decimal("0.01")


def r2(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class Value:
    """A measured value: a number, a date, done/not done, k of n, or the parts of a multi target."""

    number: Decimal | None = None
    date: dt.date | None = None
    done: bool | None = None
    k: Decimal | None = None
    n: Decimal | None = None
    parts: tuple[Value | None, ...] | None = None

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Value | None:
        if not data:
            return None
        parts = data.get("parts")
        number = data.get("value", data.get("number"))
        return cls(
            number=None if number is None else dec(number),
            date=as_date(data.get("date")),
            done=data.get("done"),
            k=None if data.get("k") is None else dec(data["k"], "k"),
            n=None if data.get("n") is None else dec(data["n"], "n"),
            parts=None if parts is None else tuple(cls.from_dict(p) for p in parts),
        )

    def is_empty(self) -> bool:
        return (
            self.number is None
            and self.date is None
            and self.done is None
            and self.k is None
            and not self.parts
        )


@dataclass(frozen=True)
class RuleResult:
    pct: Decimal  # unrounded, 0–100
    formula: str


def need_number(value: Value) -> Decimal:
    if value.number is None:
        raise ScoringError("valore: manca il numero rilevato")
    return value.number


def spec_number(spec: Mapping, key: str, default: object = None) -> Decimal | None:
    """A number of a (raw) target's form, None if it is not one."""
    try:
        return dec(spec.get(key, default), key)
    except ScoringError:
        return None


@dataclass(frozen=True)
class Param:
    """A parameter of a rule: its key in the target's form, the name of what it is (in the
    engine's messages), its field in the plan form, its column in the import/export files.

    ``kind`` is "number" or "date"; ``required``: an empty one is kept (validate says what is
    missing) rather than left out; ``default``: the value of an empty one."""

    key: str
    name: str
    form_field: str
    column: str
    label: str
    kind: str = "number"
    required: bool = True
    default: int | None = None
    help_text: str = ""
    initial: str | None = None

    def read(self, spec: Mapping) -> Any:
        """The parameter of a (raw) target's form, checked: a Decimal or a date."""
        if self.kind == "date":
            due = as_date(spec.get(self.key), field=self.key)
            if due is None:
                raise ScoringError(f"{self.name}: data mancante", field=self.key)
            return due
        raw = spec.get(self.key) if self.default is None else spec.get(self.key, self.default)
        return dec(raw, self.name, field=self.key)


# The parameters shared by several kinds (one plan-form field, one column each).
THRESHOLD = Param(
    "threshold",
    "soglia",
    "threshold",
    "soglia",
    "Soglia",
    help_text="Per «almeno», «al più» e «giudizio su scala». Es. 65 oppure 4,4",
)


def _number_text(value: Any) -> str:
    try:
        return fmt(dec(value))
    except ScoringError:
        return str(value)


class Rule:
    """A target rule kind (subclass per kind, one instance in `RULES`)."""

    kind: ClassVar[str]
    label: ClassVar[str]  # the plan form's choice
    import_name: ClassVar[str]  # the name in the import/export files
    aliases: ClassVar[tuple[str, ...]] = ()  # other names read in the import files
    value_hint: ClassVar[str] = ""  # how to write a value in a values sheet
    params: ClassVar[tuple[Param, ...]] = ()
    entry_input: ClassVar[str] = "number"  # number | date | done | k_of_n | parts
    # a target of this kind and a value for it as typed in the entry form (by input name):
    # documentation, and what tests/performance/test_rules_registry.py walks every place with
    example: ClassVar[Mapping[str, Any]] = {}
    example_inputs: ClassVar[Mapping[str, str]] = {}

    # ------------------------------------------------------------------------- the engine
    def validate(self, spec: Mapping) -> dict:
        """The target's form checked; returned normalized (Decimals, dates)."""
        out: dict = {"kind": self.kind}
        for param in self.params:
            if param.required or spec.get(param.key) is not None:
                out[param.key] = param.read(spec)
        self.check(out)
        return out

    def check(self, spec: dict) -> None:
        """What the parameters must satisfy together (raise `ScoringError`)."""

    def score(self, spec: dict, value: Value, rules: Rules) -> RuleResult:
        raise NotImplementedError

    # ------------------------------------------------------------------------ in words
    number = staticmethod(_number_text)

    def summary(self, rule: Mapping) -> str:
        """The rule in words (KeyError, TypeError, ValueError: shown as "regola «kind»")."""
        raise NotImplementedError

    # ------------------------------------------------------------------------ plan form
    @property
    def form_fields(self) -> tuple[str, ...]:
        return tuple(param.form_field for param in self.params)

    def form_field_for(self, key: str | None) -> str:
        """The plan-form field of a key of the target's form (the one a ScoringError names)."""
        for param in self.params:
            if param.key == key:
                return param.form_field
        return "kind"

    def form_spec(self, data: Mapping) -> dict:
        """The target's form from the plan form's cleaned data."""
        spec: dict = {"kind": self.kind}
        for param in self.params:
            value = data.get(param.form_field)
            if value is None and param.default is not None:
                value = param.default
            if value is not None or param.required:
                spec[param.key] = value
        return spec

    def form_initial(self, rule: Mapping) -> dict:
        """The plan form's initial values for a stored rule."""
        initial: dict[str, Any] = {"kind": self.kind}
        for param in self.params:
            raw = rule.get(param.key)
            if param.kind == "date":
                if raw:
                    try:
                        initial[param.form_field] = dt.date.fromisoformat(str(raw))
                    except ValueError:
                        initial[param.form_field] = str(raw)
            elif raw is not None:
                try:
                    initial[param.form_field] = dec(raw)
                except ScoringError:
                    initial[param.form_field] = raw
        return initial

    # ------------------------------------------------------------------- import / export
    def export_columns(self, spec: dict, parameters: Sequence[str] = ()) -> dict[str, Any]:
        """The readable columns of a validated target's form (without "regola"); ``parameters``:
        every kind's parameter columns, in the order of the files."""
        return {param.column: spec[param.key] for param in self.params if param.key in spec}

    def value_hint_of(self, rule: Mapping) -> str:
        """How to write the value of a target with this (stored) rule, in a values sheet."""
        return self.value_hint

    # ----------------------------------------------------------------------- entry form
    def inputs(self, spec: Mapping, prefix: str, lead: str) -> list[InputSpec]:
        from performance.rules.inputs import number_input

        return [number_input(prefix, lead, "con la virgola: 4,6 o 82,7%")]

    def parse_entry(self, spec: Mapping, inputs: Mapping[str, Any], entry: EntryParse) -> None:
        """Read the inputs of a value into ``entry`` (fields, texts as typed, errors)."""
        from performance.rules.inputs import parse_number_input

        parse_number_input(inputs, entry)

    def input_texts(self, spec: Mapping, value: Value, prefix: str) -> dict[str, Any]:
        """The inputs (by name) that show ``value`` as a user would type it."""
        return {} if value.number is None else {f"{prefix}value": fmt(value.number)}

    def display(self, spec: Mapping, value: Value) -> str:
        """A value in words, Italian formats ("13 su 14", "18/03/2019", "non realizzato")."""
        if value.date is not None:
            return fmt_date(value.date)
        if value.number is not None:
            return fmt(value.number)
        return "—"
