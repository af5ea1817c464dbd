"""Forms for managing the plan: what the controllo di gestione types, parsed the Italian way
("4,6", "31/07/2019"). Forms check the input; the services (performance/services/plan.py)
validate and write. A target's rule is built from a friendly form per kind (the fields of its
parameters, from its module in performance/rules/) and checked with scoring.validate_spec, whose
Italian message is shown next to the field it names (``ScoringError.field``).

Input rules (performance/parsing.py): ASCII digits only, in decimals and whole numbers alike;
dates of a cycle's forms (deadlines, also of the parts of a multi-part rule, and plan-update
deliberations) within the cycle's window (parsing.cycle_date_window); the JSON of a multi-part
rule read by performance/json_input.py (no NaN/Infinity, bounded size and depth); NUL refused in
every text field, with a message naming the field (config/nul.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models
from django.http import QueryDict

from config.nul import name_nul_errors
from organization.models import Cycle, PlanDocument, Position, Unit
from performance import scoring
from performance.models import Indicator, Objective, Perspective, StrategicObjective
from performance.parsing import DateWindow, ParseError, cycle_date_window, parse_date, parse_number
from performance.rules import RULES, multi
from performance.rules.base import Param
from performance.services.plan import INDICATOR_FIELDS, snapshot

SEEN_SALT = "performance.forms_plan.seen"

# ------------------------------------------------------------------------------ Italian fields


def _named(field: forms.Field, error: ParseError) -> ValidationError:
    """A parser's message, prefixed with the field's label."""
    label = str(field.label or "").strip()
    return ValidationError(f"{label}: {error}" if label else str(error), code="invalid")


class ItalianDecimalField(forms.CharField):
    """A number as typed in Italian ("4,6", "1.234,5", "-20"): a Decimal, or None if empty."""

    def to_python(self, value: Any) -> Decimal | None:
        value = super().to_python(value)
        try:
            return parse_number(value, allow_percent=True)
        except ParseError as error:
            raise _named(self, error) from error

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            return scoring.fmt(Decimal(str(value)))
        return value


class ItalianDateField(forms.CharField):
    """A date as dd/mm/yyyy (also 31.07.2019 or ISO); None if empty. Within ``window`` (set by
    the forms of a cycle: the cycle's window), always a plausible date."""

    window: DateWindow | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "gg/mm/aaaa"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> dt.date | None:
        value = super().to_python(value)
        try:
            return parse_date(value, window=self.window)
        except ParseError as error:
            raise _named(self, error) from error

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dt.date):
            return scoring.fmt_date(value)
        return value


class AsciiIntegerField(forms.IntegerField):
    """A whole number in ASCII digits: Django's IntegerField reads "٢٠١٩" or "２０１９" as 2019."""

    def to_python(self, value: Any) -> int | None:
        if isinstance(value, str) and any(ch.isdigit() and not ch.isascii() for ch in value):
            raise ValidationError(
                f"{self.label}: «{value.strip()}»: usare solo le cifre da 0 a 9", code="invalid"
            )
        return super().to_python(value)


class PlanForm(forms.Form):
    """Bootstrap Italia classes on the widgets, ``is-invalid`` on fields with errors, and the
    errors of a service (ValidationError keyed by field) placed next to their field.

    The form that changes an object (``editing``) carries its optimistic lock: the hidden
    ``seen``, the signed snapshot of the object's ``model_fields`` when the form was opened,
    cleaned to the mapping the update services take as ``seen`` (None if not posted)."""

    error_css_class = "is-invalid"

    # the model fields the form changes (the snapshot in ``seen``)
    model_fields: tuple[str, ...] = ()

    # the dates a form of a cycle accepts (set_cycle_window); None: plausible dates
    date_window: DateWindow | None = None

    def __init__(self, *args: Any, editing: models.Model | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_nul_errors(self.fields)  # "Nome: contiene un carattere non ammesso (NUL)"
        self.editing = editing
        if editing is not None:
            self.fields["seen"] = forms.CharField(required=False, widget=forms.HiddenInput)
            self.fields["seen"].initial = self._sign(
                snapshot(instance=editing, names=self.model_fields)
            )
        for bound in self.fields.values():
            widget = bound.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif not isinstance(widget, forms.Select):  # selects: in a .select-wrapper
                widget.attrs.setdefault("class", "form-control")

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def set_cycle_window(self, cycle: Cycle) -> None:
        """The dates of this form within the window of ``cycle`` (parsing.cycle_date_window)."""
        self.date_window = cycle_date_window(cycle.year)
        for field in self.fields.values():
            if isinstance(field, ItalianDateField):
                field.window = self.date_window

    def _mark_invalid(self) -> None:
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                classes = widget.attrs.get("class", "")
                if "is-invalid" not in classes.split():
                    widget.attrs["class"] = f"{classes} is-invalid".strip()
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"{self[name].auto_id}-errori"

    def _seen_key(self) -> str:
        return f"{self.editing._meta.label_lower}:{self.editing.pk}"

    def _sign(self, values: Mapping[str, str]) -> str:
        return signing.dumps(
            {"object": self._seen_key(), "values": dict(values)}, salt=SEEN_SALT, compress=True
        )

    def clean_seen(self) -> dict[str, str] | None:
        raw = self.cleaned_data.get("seen")
        if not raw:
            return None  # a client without the lock: the last save wins, as before
        try:
            payload = signing.loads(raw, salt=SEEN_SALT)
            values = payload["values"]
            valid = payload["object"] == self._seen_key() and all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()
            )
        except (signing.BadSignature, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            self.add_error(None, "Il modulo è scaduto o alterato: ricaricare la pagina.")
            return None
        return values

    def renew_seen(self, current: Mapping[str, str]) -> None:
        """After a conflict: the values as typed, with the snapshot of what is stored now, so
        that saving again deliberately replaces it."""
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        data["seen"] = self._sign({**(self.cleaned_data.get("seen") or {}), **current})
        self.data = data
        self.full_clean()

    field_aliases: dict[str, str] = {}

    def add_service_errors(self, error: ValidationError) -> None:
        """Place a service's ValidationError next to the fields it names."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                name = self.field_aliases.get(name, name)
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, error)
        self._mark_invalid()


# ------------------------------------------------------------------------------ plan structure


class PerspectiveForm(PlanForm):
    model_fields = ("code", "name", "weight")

    code = forms.CharField(label="Codice", max_length=10, help_text="Es. 1")
    name = forms.CharField(label="Nome della prospettiva", max_length=300)
    weight = ItalianDecimalField(label="Peso", initial="1")


class StrategicObjectiveForm(PlanForm):
    model_fields = ("perspective", "code", "title", "weight")

    perspective = forms.ModelChoiceField(label="Prospettiva", queryset=Perspective.objects.none())
    code = forms.CharField(label="Codice", max_length=10, help_text="Es. 1.1")
    title = forms.CharField(
        label="Titolo", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    weight = ItalianDecimalField(label="Peso", initial="1")

    def __init__(self, *args: Any, cycle: Cycle, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["perspective"].queryset = Perspective.objects.filter(cycle=cycle)


class ObjectiveForm(PlanForm):
    model_fields = ("kind", "strategic_objective", "position", "code", "title", "weight")

    kind = forms.ChoiceField(label="Tipo di obiettivo", choices=Objective.Kind.choices)
    strategic_objective = forms.ModelChoiceField(
        label="Obiettivo strategico",
        queryset=StrategicObjective.objects.none(),
        required=False,
        empty_label="— nessuno —",
        help_text="Obbligatorio per gli obiettivi strategici; per gli operativi, quello che "
        "l'obiettivo persegue.",
    )
    position = forms.ModelChoiceField(
        label="Posizione (solo obiettivi individuali)",
        queryset=Position.objects.none(),
        required=False,
        empty_label="— nessuna —",
    )
    code = forms.CharField(label="Codice (facoltativo)", max_length=20, required=False)
    title = forms.CharField(label="Titolo", widget=forms.Textarea(attrs={"rows": 3}))
    weight = ItalianDecimalField(label="Peso", initial="1")

    def __init__(self, *args: Any, cycle: Cycle, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["strategic_objective"].queryset = StrategicObjective.objects.filter(cycle=cycle)
        self.fields["position"].queryset = Position.objects.filter(cycle=cycle)


UNITS_OF_MEASURE = ("n.", "%", "data", "ore", "giorni", "mesi", "punti (scala 1-5)", "euro")


class IndicatorForm(PlanForm):
    model_fields = INDICATOR_FIELDS

    name = forms.CharField(label="Indicatore", widget=forms.Textarea(attrs={"rows": 2}))
    unit_of_measure = forms.CharField(
        label="Unità di misura",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"list": "unita-di-misura"}),
        help_text="Es. " + ", ".join(UNITS_OF_MEASURE),
    )
    direction = forms.ChoiceField(label="Direzione", choices=Indicator.Direction.choices)
    baseline_value = ItalianDecimalField(label="Valore di partenza", required=False)
    baseline_year = AsciiIntegerField(
        label="Anno del valore di partenza", required=False, min_value=1990, max_value=2100
    )
    baseline_text = forms.CharField(
        label="Valore di partenza come scritto",
        max_length=300,
        required=False,
        help_text="Es. «n. 90 nel 2019»",
    )
    source = forms.CharField(label="Fonte", max_length=300, required=False)
    notes = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class UnitForm(PlanForm):
    model_fields = ("aggregation", "weight")

    aggregation = forms.ChoiceField(
        label="Metodo di aggregazione", choices=Unit.Aggregation.choices, required=False
    )
    weight = ItalianDecimalField(label="Peso", initial="1")


# ----------------------------------------------------------------------------- a target's rule

RULE_KIND_CHOICES = [(kind, rule.label) for kind, rule in RULES.items()]

# the parameters of each kind (the fields shown for it), from its module in performance/rules/
KIND_FIELDS: dict[str, tuple[str, ...]] = {kind: rule.form_fields for kind, rule in RULES.items()}
_RULE_PARAMS = {p.form_field: p for rule in RULES.values() for p in rule.params}
RULE_FIELDS = tuple(_RULE_PARAMS)
MULTI_EXAMPLE = multi.MULTI_EXAMPLE


def _rule_form_field(param: Param) -> forms.Field:
    """The plan form's field of a rule's parameter."""
    if param.kind == "json":
        return forms.CharField(
            label=param.label,
            required=False,
            widget=forms.Textarea(attrs={"rows": 6, "class": "form-control font-monospace"}),
            help_text=param.help_text,
        )
    if param.kind == "date":
        return ItalianDateField(label=param.label, required=False, help_text=param.help_text)
    return ItalianDecimalField(
        label=param.label, required=False, help_text=param.help_text, initial=param.initial
    )


def rule_field_for(kind: str, error: scoring.ScoringError) -> str:
    """The form field a validate_spec error belongs to (the key it names, ``error.field``)."""
    rule = RULES.get(kind)
    return "kind" if rule is None else rule.form_field_for(error.field)


def rule_initial(rule: Mapping | None) -> dict:
    """The form's initial values for a stored rule."""
    if not isinstance(rule, Mapping) or rule.get("kind") not in KIND_FIELDS:
        return {"kind": "at_least"}
    return RULES[rule["kind"]].form_initial(rule)


class RuleFieldsForm(PlanForm):
    """The rule of a target, one group of fields per kind."""

    kind = forms.ChoiceField(label="Tipo di regola", choices=RULE_KIND_CHOICES)

    field_aliases = {"rule": "kind"}

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if not kind:
            return data
        if any(name in self.errors for name in KIND_FIELDS.get(kind, ())):
            return data  # a number or a date that could not be read: already reported
        try:
            spec = RULES[kind].form_spec(data)
            self._check_due_dates(kind, scoring.validate_spec(spec))
        except ValidationError as error:
            for name, errors in error.error_dict.items():
                self.add_error(name, errors)
            return data
        except scoring.ScoringError as error:
            self.add_error(rule_field_for(kind, error), str(error))
            return data
        data["rule"] = spec
        return data

    def _check_due_dates(self, kind: str, spec: Mapping, label: str = "") -> None:
        """The deadlines of the parts of a multi-part rule within the form's window (a plain
        deadline is checked by its field)."""
        if self.date_window is None or kind != "multi":
            return
        for index, part in enumerate(spec.get("parts") or []):
            where = f"{label}parte {index + 1}"
            if part.get("kind") == "multi":
                self._check_due_dates("multi", part, f"{where}, ")
            elif isinstance(part.get("due"), dt.date):
                try:
                    self.date_window.check(part["due"], part["due"].isoformat())
                except ParseError as error:
                    raise ValidationError({"multi": f"{where}: scadenza: {error}"}) from None

    @property
    def rule_groups(self) -> list[dict]:
        """The rule's fields by kind, for the template (each group shown for its kinds)."""
        groups = []
        for name in RULE_FIELDS:
            kinds = [k for k, names in KIND_FIELDS.items() if name in names]
            groups.append({"field": self[name], "kinds": " ".join(kinds)})
        return groups


# The parameters' fields, after "kind" (base_fields is the class's declared_fields): declared
# here, before the forms built on this one collect them.
for _name, _param in _RULE_PARAMS.items():
    RuleFieldsForm.declared_fields[_name] = _rule_form_field(_param)


class TargetForm(RuleFieldsForm):
    model_fields = ("unit", "office", "text", "rule", "weight", "notes")

    unit = forms.ModelChoiceField(
        label="Unità",
        queryset=Unit.objects.none(),
        required=False,
        empty_label="Ente (nessuna unità: il valore dell'Ente)",
    )
    office = forms.ModelChoiceField(
        label="Ufficio responsabile (facoltativo)",
        queryset=Unit.objects.none(),
        required=False,
        empty_label="— nessuno —",
    )
    text = forms.CharField(
        label="Target come approvato",
        max_length=500,
        help_text="Il testo del Piano, es. «≥ 4,4 (su scala da 1 a 5)», «entro il 31.07.2020».",
    )
    weight = ItalianDecimalField(label="Peso", initial="1")
    notes = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["unit", "office", "text", "kind", *RULE_FIELDS, "weight", "notes"]

    def __init__(self, *args: Any, cycle: Cycle, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = Unit.objects.filter(cycle=cycle).order_by("order", "id")
        self.fields["unit"].queryset = units
        self.fields["office"].queryset = units
        self.set_cycle_window(cycle)


class DocumentFieldsForm(PlanForm):
    """The deliberation of a plan update: an existing one, or a new one by number and date."""

    document = forms.ModelChoiceField(
        label="Deliberazione di aggiornamento del Piano",
        queryset=PlanDocument.objects.none(),
        required=False,
        empty_label="— nuova deliberazione (indicare numero e data) —",
    )
    document_number = forms.CharField(
        label="Numero della nuova deliberazione", max_length=30, required=False
    )
    document_date = ItalianDateField(label="Data della nuova deliberazione", required=False)
    reason = forms.CharField(label="Motivo", widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, cycle: Cycle, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["document"].queryset = PlanDocument.objects.filter(
            cycle=cycle, kind=PlanDocument.Kind.AGGIORNAMENTO
        ).order_by("date", "id")
        if not self.is_bound and self.fields["document"].queryset.exists():
            self.fields["document"].initial = self.fields["document"].queryset.last()
        self.set_cycle_window(cycle)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("document") is not None and (
            data.get("document_number") or data.get("document_date")
        ):
            self.add_error(
                "document",
                "Scegliere una deliberazione già registrata oppure indicare numero e data di una "
                "nuova, non entrambe.",
            )
        elif data.get("document") is None and "document" not in self.errors:
            if not data.get("document_number") and "document_number" not in self.errors:
                self.add_error(
                    "document_number",
                    "Scegliere la deliberazione di aggiornamento, oppure indicare numero e data "
                    "di una nuova.",
                )
            if data.get("document_date") is None and "document_date" not in self.errors:
                self.add_error("document_date", "Indicare la data della nuova deliberazione.")
        return data


class TargetReviseForm(RuleFieldsForm, DocumentFieldsForm):
    text = forms.CharField(label="Nuovo target come approvato", max_length=500)

    field_order = [
        "text",
        "kind",
        *RULE_FIELDS,
        "document",
        "document_number",
        "document_date",
        "reason",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Motivo della revisione"


class ObjectiveNeutralizeForm(DocumentFieldsForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Motivo della neutralizzazione"


# --------------------------------------------------------------------------- measurement rules

LEVELS = (
    ("row", "Riga (target)"),
    ("default", "Predefinito (ogni livello non elencato)"),
    ("objective", "Obiettivo"),
    ("strategic_objective", "Obiettivo strategico codificato"),
    ("perspective", "Prospettiva"),
    ("strategic", "Totale obiettivi strategici"),
    ("operational", "Tabella operativa dell'Ente"),
    ("position", "Posizione (obiettivi individuali)"),
    ("ente", "Ente"),
    ("group", "Raggruppamento"),
    ("area", "Area"),
    ("servizio", "Servizio"),
    ("ufficio", "Ufficio"),
    ("azienda_speciale", "Azienda speciale"),
)
AGGREGATION_LEVELS = tuple(level for level in LEVELS if level[0] not in ("row", "default"))
ROUNDING_MODES = (
    ("half_up", "Ordinario (metà per eccesso)"),
    ("half_even", "Bancario (metà al pari)"),
    ("up", "Per eccesso"),
    ("down", "Per difetto"),
)
METHOD_CHOICES = [
    ("", "Predefinito"),
    *((m, label) for m, label in Unit.Aggregation.choices if m),
]


def _rules_error(data: Mapping, field: str) -> str | None:
    """scoring.Rules.from_dict's message for one piece of the rules, if any."""
    try:
        scoring.Rules.from_dict(data)
    except scoring.ScoringError as error:
        return str(error)
    except (KeyError, TypeError, ValueError) as error:
        return f"{field}: valore non valido ({error})"
    return None


class RoundingRowForm(PlanForm):
    level = forms.ChoiceField(label="Livello", choices=[("", "—"), *LEVELS], required=False)
    decimals = AsciiIntegerField(label="Decimali", required=False, initial=2)
    mode = forms.ChoiceField(label="Arrotondamento", choices=ROUNDING_MODES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("level", "mode"):  # in a table, not in a .select-wrapper
            self.fields[name].widget.attrs["class"] = "form-select"
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label
        self.fields["decimals"].widget.attrs["aria-label"] = "Decimali"

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("level") or self.errors:
            return data
        decimals = 2 if data.get("decimals") is None else data["decimals"]
        mode = data.get("mode") or "half_up"
        message = _rules_error(
            {"rounding": {data["level"]: {"decimals": decimals, "mode": mode}}}, "arrotondamento"
        )
        if message:
            self.add_error("mode" if "modalità" in message else "decimals", message)
        data["decimals"], data["mode"] = decimals, mode
        return data


class BandRowForm(PlanForm):
    key = forms.SlugField(label="Codice", required=False, max_length=40)
    label = forms.CharField(label="Fascia", required=False, max_length=100)
    minimum = ItalianDecimalField(label="Da (%)", required=False)
    inclusive = forms.BooleanField(label="Soglia inclusa", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, bound in self.fields.items():  # in a table: the column header is the label
            bound.widget.attrs["aria-label"] = str(bound.label or name)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors or not (data.get("key") or data.get("label")):
            return data
        if not data.get("key"):
            self.add_error("key", "Indicare il codice della fascia (es. raggiunto).")
        if data.get("minimum") is None:
            self.add_error("minimum", "fascia: numero mancante")
        elif not Decimal(0) <= data["minimum"] <= Decimal(100):
            self.add_error("minimum", "fascia: la soglia va da 0 a 100")
        return data


RoundingFormSet = forms.formset_factory(RoundingRowForm, extra=1)
BandFormSet = forms.formset_factory(BandRowForm, extra=1)


class CycleRulesForm(PlanForm):
    points_per_day = ItalianDecimalField(label="Punti di penalità per giorno di ritardo")
    floor = ItalianDecimalField(label="Soglia minima per i ritardi (%)")
    grace_days = AsciiIntegerField(label="Giorni di tolleranza", min_value=0, initial=0)
    roll_up_uses_rounded = forms.BooleanField(
        label="Il livello superiore usa le cifre arrotondate", required=False
    )
    weight_total = ItalianDecimalField(
        label="Totale dei pesi (facoltativo)",
        required=False,
        help_text="Se impostato, i pesi di un livello che non sommano a questo totale vengono "
        "riscalati.",
    )

    field_aliases = {"lateness": "points_per_day", "aggregation": None}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for level, label in AGGREGATION_LEVELS:
            self.fields[f"aggregation_{level}"] = forms.ChoiceField(
                label=label,
                choices=METHOD_CHOICES,
                required=False,
            )

    @property
    def aggregation_fields(self) -> list:
        return [self[f"aggregation_{level}"] for level, _ in AGGREGATION_LEVELS]

    def clean(self) -> dict:
        data = super().clean()
        names = ("points_per_day", "floor", "grace_days")
        if any(name in self.errors for name in names) or any(data.get(n) is None for n in names):
            return data
        message = _rules_error({"lateness": self.lateness()}, "ritardo")
        if message:
            floor = data["floor"]
            self.add_error(
                "floor" if not Decimal(0) <= floor <= Decimal(100) else "points_per_day", message
            )
        return data

    def lateness(self) -> dict:
        data = self.cleaned_data
        return {
            "points_per_day": str(data["points_per_day"]),
            "floor": str(data["floor"]),
            "grace_days": data["grace_days"],
        }

    @classmethod
    def initial_from(cls, rules: Mapping) -> tuple[dict, list[dict], list[dict]]:
        """Initial values of the form and of its two formsets from a cycle's rules."""
        parsed = scoring.Rules.from_dict(rules)
        initial: dict[str, Any] = {
            "points_per_day": parsed.lateness.points_per_day,
            "floor": parsed.lateness.floor,
            "grace_days": parsed.lateness.grace_days,
            "roll_up_uses_rounded": parsed.roll_up_uses_rounded,
            "weight_total": parsed.weight_total,
        }
        stored = (rules or {}).get("aggregation") or {}
        for level, _ in AGGREGATION_LEVELS:
            initial[f"aggregation_{level}"] = stored.get(level, "")
        rounding = [
            {"level": level, "decimals": r.decimals, "mode": r.mode}
            for level, r in parsed.rounding.items()
        ]
        bands = [
            {"key": b.key, "label": b.label, "minimum": b.minimum, "inclusive": b.inclusive}
            for b in parsed.bands
        ]
        return initial, rounding, bands


def rules_from_forms(form: CycleRulesForm, rounding: Any, bands: Any) -> dict:
    """The rules (the JSON form of Cycle.rules) from the valid form and formsets."""
    data = form.cleaned_data
    rounding_data = {}
    for row in rounding.cleaned_data:
        if row and row.get("level") and not row.get("DELETE"):
            rounding_data[row["level"]] = {"decimals": row["decimals"], "mode": row["mode"]}
    band_data = [
        {
            "key": row["key"],
            "label": row.get("label") or row["key"],
            "min": str(row["minimum"]),
            "inclusive": bool(row.get("inclusive")),
        }
        for row in bands.cleaned_data
        if row and row.get("key")
    ]
    aggregation = {
        level: data[f"aggregation_{level}"]
        for level, _ in AGGREGATION_LEVELS
        if data.get(f"aggregation_{level}")
    }
    return {
        "rounding": rounding_data,
        "roll_up_uses_rounded": bool(data.get("roll_up_uses_rounded")),
        "lateness": form.lateness(),
        "bands": band_data,
        "aggregation": aggregation,
        "weight_total": None if data.get("weight_total") is None else str(data["weight_total"]),
    }


def rounding_levels_repeated(rounding: Any) -> list[str]:
    seen, repeated = set(), []
    for row in rounding.cleaned_data:
        level = (row or {}).get("level")
        if level and level in seen:
            repeated.append(dict(LEVELS)[level])
        seen.add(level)
    return repeated
