"""factory_boy factories for small hand-built plans (use them instead of the 2019 cycle when a
few objects are enough)."""

import datetime as dt
import functools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from organization.models import (
    Cycle,
    MeasurementPeriod,
    Organization,
    PlanDocument,
    Position,
    Unit,
)
from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StrategicObjective,
    Target,
)

PASSWORD = "prova-password-lunga-1"


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per session (hashing for every user would take 0.3 s each)."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"utente{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.LazyFunction(password_hash)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Camera di Commercio di Prova {n}")
    short_name = factory.Sequence(lambda n: f"CCIAA Prova {n}")


class CycleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cycle

    organization = factory.SubFactory(OrganizationFactory)
    year = factory.Sequence(lambda n: 2030 + n)
    title = factory.LazyAttribute(lambda o: f"Piano della Performance {o.year}")
    rules = factory.LazyFunction(dict)


class PlanDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanDocument

    cycle = factory.SubFactory(CycleFactory)
    key = factory.Sequence(lambda n: f"documento-{n}")
    kind = PlanDocument.Kind.PIANO
    title = factory.Sequence(lambda n: f"Piano della Performance n. {n}")
    body = "Giunta Camerale"
    number = factory.Sequence(str)
    date = factory.LazyAttribute(lambda o: dt.date(o.cycle.year, 2, 25))


class MeasurementPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeasurementPeriod

    cycle = factory.SubFactory(CycleFactory)
    key = factory.Sequence(lambda n: f"periodo-{n}")
    name = factory.LazyAttribute(lambda o: f"Consuntivo al 31.12.{o.cycle.year}")
    end_date = factory.LazyAttribute(lambda o: dt.date(o.cycle.year, 12, 31))
    is_final = True


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    cycle = factory.SubFactory(CycleFactory)
    parent = None
    key = factory.Sequence(lambda n: f"unita-{n}")
    name = factory.Sequence(lambda n: f"Servizio {n}")
    kind = Unit.Kind.SERVIZIO
    order = factory.Sequence(int)


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    cycle = factory.SubFactory(CycleFactory)
    key = factory.Sequence(lambda n: f"posizione-{n}")
    kind = Position.Kind.POSIZIONE_ORGANIZZATIVA
    title = factory.Sequence(lambda n: f"Posizione organizzativa {n}")
    holder = ""
    unit = None
    order = factory.Sequence(int)


class PerspectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Perspective

    cycle = factory.SubFactory(CycleFactory)
    code = factory.Sequence(lambda n: str(n + 1))
    name = factory.Sequence(lambda n: f"Prospettiva {n}")
    order = factory.Sequence(int)


class StrategicObjectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StrategicObjective

    perspective = factory.SubFactory(PerspectiveFactory)
    cycle = factory.SelfAttribute("perspective.cycle")
    code = factory.Sequence(lambda n: f"S{n}")
    title = factory.Sequence(lambda n: f"Obiettivo strategico {n}")
    order = factory.Sequence(int)


class ObjectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Objective

    cycle = factory.SubFactory(CycleFactory)
    kind = Objective.Kind.OPERATIONAL
    strategic_objective = None
    position = None
    title = factory.Sequence(lambda n: f"Obiettivo {n}")
    order = factory.Sequence(int)


class IndicatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Indicator

    objective = factory.SubFactory(ObjectiveFactory)
    name = factory.Sequence(lambda n: f"Indicatore {n}")
    order = factory.Sequence(int)


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    indicator = factory.SubFactory(IndicatorFactory)
    unit = None
    text = "≥ 10"
    rule = factory.LazyFunction(lambda: {"kind": "at_least", "threshold": "10"})
    order = factory.Sequence(int)


def _final_period(actual) -> MeasurementPeriod:
    cycle = actual.target.indicator.objective.cycle
    existing = MeasurementPeriod.objects.filter(cycle=cycle, is_final=True).first()
    return existing or MeasurementPeriodFactory(cycle=cycle)


class ActualFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Actual

    target = factory.SubFactory(TargetFactory)
    period = factory.LazyAttribute(_final_period)
    value_number = Decimal("10")
    recorded_at = factory.LazyFunction(timezone.now)
    version = 1
