"""Filters of the workspace tables: a plain GET form (no django-filter).

Why not django-filter: half of the filters (status, achievement band) are figures of the scoring
engine, computed per request, not database columns, so a FilterSet over a queryset could apply
only part of them and the rest would need a second mechanism anyway. The form validates the query
string and hands plain values (``selectors.TableFilters``) to the selectors, which filter the rows
they build; invalid values are ignored (the table is then unfiltered on that field), with the
error shown next to the field.
"""

from django import forms

from performance import selectors

KIND_CHOICES = [
    ("", "Tutti i tipi"),
    ("strategico", "Strategico"),
    ("operativo", "Operativo"),
    ("individuale", "Individuale"),
]


class TableFilterForm(forms.Form):
    """The filters of the objectives and indicators tables of a cycle."""

    tipo = forms.ChoiceField(label="Tipo di obiettivo", choices=KIND_CHOICES, required=False)
    prospettiva = forms.TypedChoiceField(
        label="Prospettiva", coerce=int, empty_value=None, required=False
    )
    unita = forms.TypedChoiceField(
        label="Unità organizzativa",
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Comprende le unità sottostanti.",
    )
    stato = forms.ChoiceField(label="Stato", required=False)
    fascia = forms.ChoiceField(label="Fascia di raggiungimento", required=False)
    cerca = forms.CharField(label="Cerca nel testo", max_length=200, required=False)

    def __init__(self, data=None, *, choices: dict, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["prospettiva"].choices = [
            ("", "Tutte le prospettive"),
            *choices["perspectives"],
        ]
        self.fields["unita"].choices = [
            ("", "Tutte le unità"),
            *((pk, "\u00a0\u00a0" * depth + name) for pk, name, depth in choices["units"]),
        ]
        self.fields["stato"].choices = [("", "Tutti gli stati"), *selectors.ROW_STATUSES.items()]
        self.fields["fascia"].choices = [("", "Tutte le fasce"), *choices["bands"]]

    def filters(self) -> selectors.TableFilters:
        """The valid filters (a field with an invalid value does not filter)."""
        if not self.is_bound:
            return selectors.TableFilters()
        self.is_valid()
        data = {
            name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors
        }
        return selectors.TableFilters(
            kind=data.get("tipo") or "",
            perspective=data.get("prospettiva"),
            unit=data.get("unita"),
            status=data.get("stato") or "",
            band=data.get("fascia") or "",
            text=(data.get("cerca") or "").strip(),
        )

    @property
    def active(self) -> bool:
        filters = self.filters()
        return any(
            (
                filters.kind,
                filters.perspective is not None,
                filters.unit is not None,
                filters.status,
                filters.band,
                filters.text,
            )
        )
