"""actual_record: create and update a value with optimistic locking, validation against the
target's rule, overrides, and the audit trail."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models.query import QuerySet
from django.utils import timezone

from performance.models import Actual
from performance.services import StaleActualError, actual_record
from tests.factories import (
    CycleFactory,
    IndicatorFactory,
    MeasurementPeriodFactory,
    ObjectiveFactory,
    TargetFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

STALE_MESSAGE = (
    "Il valore è stato modificato da un altro utente dopo l'apertura del modulo: "
    "ricaricare e confrontare i valori prima di salvare."
)


@pytest.fixture
def cycle():
    return CycleFactory(year=2032)


@pytest.fixture
def period(cycle):
    return MeasurementPeriodFactory(cycle=cycle, key="consuntivo")


def make_target(cycle, rule, text="target"):
    indicator = IndicatorFactory(objective=ObjectiveFactory(cycle=cycle))
    return TargetFactory(indicator=indicator, rule=rule, text=text)


@pytest.fixture
def target(cycle):
    return make_target(cycle, {"kind": "at_least", "threshold": "10"}, "≥ 10")


@pytest.fixture
def user():
    return UserFactory(username="referente")


@pytest.fixture
def other_user():
    return UserFactory(username="controllo")


def record(target, period, user, version, **kwargs):
    return actual_record(
        target=target, period=period, user=user, expected_version=version, **kwargs
    )


# --------------------------------------------------------------------- create and update


def test_create(target, period, user):
    before = timezone.now()
    actual = record(
        target,
        period,
        user,
        None,
        number=Decimal("8"),
        text="8 pratiche",
        note="dato Gedoc",
        source="Gedoc",
        measured_on=dt.date(2032, 12, 31),
    )
    actual.refresh_from_db()
    assert actual.version == 1
    assert actual.recorded_by == user
    assert timezone.is_aware(actual.recorded_at)
    assert before <= actual.recorded_at <= timezone.now()
    assert actual.value_number == Decimal("8")
    assert (actual.text, actual.note, actual.source) == ("8 pratiche", "dato Gedoc", "Gedoc")
    assert actual.measured_on == dt.date(2032, 12, 31)
    assert actual.override_pct is None
    assert (actual.target, actual.period) == (target, period)


def test_create_with_expected_version_zero(target, period, user):
    assert record(target, period, user, 0, number=Decimal("3")).version == 1


def test_update_with_the_right_version(target, period, user, other_user):
    first = record(target, period, user, None, number=Decimal("8"))
    second = record(target, period, other_user, 1, number=Decimal("12"), note="corretto")
    assert second.pk == first.pk
    assert Actual.objects.filter(target=target).count() == 1
    stored = Actual.objects.get(pk=first.pk)
    assert stored.version == 2
    assert stored.value_number == Decimal("12")
    assert stored.note == "corretto"
    assert stored.recorded_by == other_user
    assert record(target, period, user, 2, number=Decimal("13")).version == 3


def test_stale_version_is_refused_with_the_current_value(target, period, user, other_user):
    record(target, period, user, None, number=Decimal("8"))
    record(target, period, other_user, 1, number=Decimal("12"))
    history = Actual.history.count()
    with pytest.raises(StaleActualError) as raised:
        record(target, period, user, 1, number=Decimal("99"))
    error = raised.value
    assert isinstance(error, ValidationError)
    assert error.code == "stale"
    assert error.messages == [STALE_MESSAGE]
    assert error.current.version == 2
    assert error.current.value_number == Decimal("12")
    assert error.current.recorded_by == other_user
    stored = Actual.objects.get(target=target, period=period)
    assert (stored.version, stored.value_number) == (2, Decimal("12"))
    assert Actual.history.count() == history


def test_no_expected_version_when_a_value_exists_is_stale(target, period, user):
    record(target, period, user, None, number=Decimal("8"))
    with pytest.raises(StaleActualError) as raised:
        record(target, period, user, None, number=Decimal("9"))
    assert raised.value.current.value_number == Decimal("8")
    assert Actual.objects.get(target=target).value_number == Decimal("8")


def test_expected_version_of_a_value_that_does_not_exist(target, period, user):
    with pytest.raises(ValidationError) as raised:
        record(target, period, user, 3, number=Decimal("8"))
    assert not isinstance(raised.value, StaleActualError)
    assert raised.value.messages == ["Il valore atteso non esiste più: ricaricare il modulo."]
    assert not Actual.objects.filter(target=target).exists()


def test_concurrent_write_between_read_and_compare_and_set(target, period, user, monkeypatch):
    """Another writer bumps the version after the row was read: the compare-and-set claims
    nothing and the error carries the other writer's value."""
    actual = record(target, period, user, None, number=Decimal("8"))
    original_update = QuerySet.update

    def racing_update(self, **kwargs):
        if self.model is Actual and set(kwargs) == {"version"}:
            original_update(
                Actual.objects.filter(pk=actual.pk), version=7, value_number=Decimal("50")
            )
        return original_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", racing_update)
    with pytest.raises(StaleActualError) as raised:
        record(target, period, user, 1, number=Decimal("9"))
    assert raised.value.current.version == 7
    assert raised.value.current.value_number == Decimal("50")
    monkeypatch.undo()
    # the refused call wrote nothing (the simulated writer shared its transaction, so it is
    # rolled back with it)
    stored = Actual.objects.get(pk=actual.pk)
    assert (stored.version, stored.value_number) == (1, Decimal("8"))
    assert Actual.history.filter(id=actual.pk).count() == 1


# ------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (
            {"kind": "deadline", "due": "2032-07-31"},
            {"number": Decimal("5")},
            "valore: manca la data di realizzazione",
        ),
        (
            {"kind": "rating", "threshold": "4.4", "scale_min": "1", "scale_max": "5"},
            {"number": Decimal("6")},
            "valore: 6 è fuori dalla scala 1–5",
        ),
        (
            {"kind": "rating", "threshold": "4.4", "scale_min": "1", "scale_max": "5"},
            {"number": Decimal("0.5")},
            "valore: 0,5 è fuori dalla scala 1–5",
        ),
        (
            {"kind": "at_least", "threshold": "10"},
            {"date": dt.date(2032, 5, 1)},
            "valore: manca il numero rilevato",
        ),
        (
            {"kind": "milestone"},
            {"number": Decimal("1")},
            "valore: indicare se la fase è stata realizzata",
        ),
        (
            {"kind": "k_of_n", "n": "14"},
            {"k": Decimal("-1")},
            "valore: k non può essere negativo e n deve essere maggiore di 0",
        ),
        (
            {
                "kind": "multi",
                "parts": [{"kind": "milestone"}, {"kind": "milestone"}],
            },
            {"parts": [None, {}]},
            "valore: nessuna parte rilevata",
        ),
    ],
    ids=[
        "number-for-deadline",
        "rating-above",
        "rating-below",
        "date-for-count",
        "milestone",
        "negative-k",
        "multi-empty",
    ],
)
def test_a_value_the_rule_cannot_score_is_refused(cycle, period, user, rule, value, message):
    target = make_target(cycle, rule)
    with pytest.raises(ValidationError) as raised:
        record(target, period, user, None, **value)
    assert raised.value.message_dict == {"value": [message]}
    assert not Actual.objects.filter(target=target).exists()
    assert not Actual.history.filter(target_id=target.pk).exists()


def test_a_refused_value_leaves_the_stored_one(cycle, period, user):
    target = make_target(cycle, {"kind": "deadline", "due": "2032-07-31"})
    record(target, period, user, None, date=dt.date(2032, 7, 30))
    with pytest.raises(ValidationError):
        record(target, period, user, 1, number=Decimal("5"))
    stored = Actual.objects.get(target=target)
    assert (stored.version, stored.value_date, stored.value_number) == (
        1,
        dt.date(2032, 7, 30),
        None,
    )


@pytest.mark.parametrize(
    ("rule", "value", "field", "expected"),
    [
        (
            {"kind": "deadline", "due": "2032-07-31"},
            {"date": dt.date(2032, 8, 2)},
            "value_date",
            dt.date(2032, 8, 2),
        ),
        ({"kind": "deadline", "due": "2032-07-31"}, {"done": False}, "value_done", False),
        (
            {"kind": "k_of_n", "n": "14"},
            {"k": Decimal("13"), "n": Decimal("14")},
            "value_k",
            Decimal("13"),
        ),
        (
            {
                "kind": "multi",
                "parts": [{"kind": "milestone"}, {"kind": "at_least", "threshold": 2}],
            },
            {"parts": [{"done": True}, {"value": "3"}]},
            "value_parts",
            [{"done": True}, {"value": "3"}],
        ),
    ],
    ids=["date", "not-done", "k-of-n", "multi"],
)
def test_values_of_every_shape_are_stored(cycle, period, user, rule, value, field, expected):
    target = make_target(cycle, rule)
    record(target, period, user, None, **value)
    assert getattr(Actual.objects.get(target=target), field) == expected


def test_a_malformed_part_of_a_multi_value_is_a_validation_error(cycle, period, user):
    target = make_target(
        cycle, {"kind": "multi", "parts": [{"kind": "milestone"}, {"kind": "milestone"}]}
    )
    with pytest.raises(ValidationError) as raised:
        record(target, period, user, None, parts=[{"value": "tre"}, {"done": True}])
    assert raised.value.message_dict == {"value": ["valore: «tre» non è un numero"]}
    assert not Actual.objects.filter(target=target).exists()


# -------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("reason", ["", "   "])
def test_override_without_a_reason_is_refused(target, period, user, reason):
    with pytest.raises(ValidationError) as raised:
        record(target, period, user, None, override_pct=Decimal("80"), override_reason=reason)
    assert raised.value.message_dict == {
        "override_reason": ["La rettifica richiede una motivazione."]
    }
    assert not Actual.objects.filter(target=target).exists()


@pytest.mark.parametrize("pct", [Decimal("-0.01"), Decimal("100.01"), Decimal("150")])
def test_override_outside_0_100_is_refused(target, period, user, pct):
    with pytest.raises(ValidationError) as raised:
        record(target, period, user, None, override_pct=pct, override_reason="delibera OIV")
    assert raised.value.message_dict == {
        "override_pct": ["La percentuale deve essere tra 0 e 100."]
    }
    assert not Actual.objects.filter(target=target).exists()


@pytest.mark.parametrize("pct", [Decimal("0"), Decimal("100")])
def test_override_at_the_bounds_is_accepted(target, period, user, pct):
    actual = record(
        target,
        period,
        user,
        None,
        number=Decimal("5"),
        override_pct=pct,
        override_reason="  validato dall'OIV  ",
    )
    actual.refresh_from_db()
    assert actual.override_pct == pct
    assert actual.override_reason == "validato dall'OIV"


def test_override_without_a_value(target, period, user):
    actual = record(target, period, user, None, override_pct=Decimal("75"), override_reason="x")
    actual.refresh_from_db()
    assert actual.override_pct == 75
    assert actual.value_number is None


def test_a_reason_without_an_override_is_not_kept(target, period, user):
    record(target, period, user, None, number=Decimal("5"), override_reason="dimenticata")
    assert Actual.objects.get(target=target).override_reason == ""


def test_removing_an_override(target, period, user):
    record(
        target,
        period,
        user,
        None,
        number=Decimal("5"),
        override_pct=Decimal("90"),
        override_reason="x",
    )
    record(target, period, user, 1, number=Decimal("5"))
    stored = Actual.objects.get(target=target)
    assert (stored.override_pct, stored.override_reason, stored.version) == (None, "", 2)


# ------------------------------------------------------------------------------- the period


def test_period_of_another_cycle_is_refused(target, user):
    other_period = MeasurementPeriodFactory(cycle=CycleFactory(year=2033))
    with pytest.raises(ValidationError) as raised:
        record(target, other_period, user, None, number=Decimal("8"))
    assert raised.value.messages == ["Il periodo non appartiene al ciclo del target."]
    assert not Actual.objects.filter(target=target).exists()


def test_each_period_has_its_own_value(cycle, target, period, user):
    interim = MeasurementPeriodFactory(
        cycle=cycle, key="monitoraggio", end_date=dt.date(2032, 6, 30), is_final=False
    )
    record(target, interim, user, None, number=Decimal("4"))
    record(target, period, user, None, number=Decimal("11"))
    values = dict(Actual.objects.filter(target=target).values_list("period__key", "value_number"))
    assert values == {"monitoraggio": Decimal("4"), "consuntivo": Decimal("11")}


# --------------------------------------------------------------------------------- history


def test_history_records_who_and_the_old_and_new_values(target, period, user, other_user):
    actual = record(target, period, user, None, number=Decimal("8"), note="prima")
    record(target, period, other_user, 1, number=Decimal("12"), note="dopo")
    new, old = actual.history.order_by("-history_id")
    assert (old.history_type, new.history_type) == ("+", "~")
    assert old.history_user == user
    assert new.history_user == other_user
    assert (old.value_number, old.note, old.version) == (Decimal("8"), "prima", 1)
    assert (new.value_number, new.note, new.version) == (Decimal("12"), "dopo", 2)
    delta = new.diff_against(old)
    changes = {c.field: (c.old, c.new) for c in delta.changes}
    assert changes["value_number"] == (Decimal("8"), Decimal("12"))
    assert changes["note"] == ("prima", "dopo")
    assert changes["version"] == (1, 2)
    assert changes["recorded_by"] == (user.pk, other_user.pk)
    assert set(delta.changed_fields) == {
        "value_number",
        "note",
        "version",
        "recorded_by",
        "recorded_at",
    }


def test_history_has_one_entry_per_save(target, period, user):
    for version in (None, 1, 2):
        record(target, period, user, version, number=Decimal(version or 0))
    assert Actual.history.filter(target_id=target.pk).count() == 3
    assert list(
        Actual.history.filter(target_id=target.pk)
        .order_by("history_id")
        .values_list("version", flat=True)
    ) == [1, 2, 3]


def test_the_typed_keyword_arguments_of_a_value_are_the_fields_of_actual_value():
    """actual_record(**value) is typed by ActualValueArgs and checked by ActualValue: the two
    name the same fields with the same types."""
    import dataclasses
    import typing

    from performance.services import actuals

    fields = {
        f.name: f.type
        for f in dataclasses.fields(actuals.ActualValue)  # annotations as strings (PEP 563)
    }
    args = actuals.ActualValueArgs.__annotations__
    assert set(fields) == set(args)
    hints = typing.get_type_hints(actuals.ActualValueArgs)
    for name, annotation in fields.items():
        assert eval(annotation, vars(actuals)) == hints[name], name
