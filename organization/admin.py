from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from organization.models import (
    Cycle,
    MeasurementPeriod,
    Organization,
    PlanDocument,
    Position,
    Unit,
)
from performance.admin_lock import cycle_scope

# Addresses typed without a scheme are https (Django 6's default; silences its deprecation).
HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}

# Inputs of the scoring that the services change only while the whole cycle is open
# (performance.services.plan.cycle_rules_update, unit_update): read-only in the admin otherwise.
# The rest of a cycle's organization (names, referents, documents, periods) stays editable.
CYCLE_LOCKED_FIELDS = ("rules",)
UNIT_LOCKED_FIELDS = ("aggregation", "weight")


def _closed(request, cycle_id: int | None) -> bool:
    return cycle_id is not None and not cycle_scope(request, cycle_id).everything


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ["short_name", "name", "tax_code"]
    search_fields = ["name", "short_name", "tax_code"]


class PlanDocumentInline(admin.TabularInline):
    formfield_overrides = HTTPS_URLS
    model = PlanDocument
    extra = 0
    fields = ["key", "kind", "title", "body", "number", "date"]


class MeasurementPeriodInline(admin.TabularInline):
    model = MeasurementPeriod
    extra = 0
    fields = ["key", "name", "end_date", "is_final"]


@admin.register(Cycle)
class CycleAdmin(SimpleHistoryAdmin):
    list_display = ["year", "organization", "title", "status", "updated_at"]
    list_filter = ["status", "organization"]
    search_fields = ["title", "organization__name"]
    list_select_related = ["organization"]
    inlines = [PlanDocumentInline, MeasurementPeriodInline]

    def get_readonly_fields(self, request, obj=None):
        # The state changes only through the workflow's services (reports.services_workflow:
        # preconditions, audit trail, frozen versions, errata corrige), never by hand here.
        fields = (*super().get_readonly_fields(request, obj), "status")
        return fields + CYCLE_LOCKED_FIELDS if obj and _closed(request, obj.pk) else fields


@admin.register(PlanDocument)
class PlanDocumentAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ["title", "kind", "number", "date", "cycle"]
    list_filter = ["kind", "cycle"]
    search_fields = ["title", "number"]
    list_select_related = ["cycle__organization"]


@admin.register(MeasurementPeriod)
class MeasurementPeriodAdmin(admin.ModelAdmin):
    list_display = ["name", "end_date", "is_final", "cycle"]
    list_filter = ["is_final", "cycle"]
    search_fields = ["name"]
    list_select_related = ["cycle__organization"]


class ChildUnitInline(admin.TabularInline):
    model = Unit
    fk_name = "parent"
    extra = 0
    fields = ["key", "name", "kind", "aggregation", "weight", "offices", "order"]
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + UNIT_LOCKED_FIELDS if obj and _closed(request, obj.cycle_id) else fields


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "parent", "aggregation", "offices", "cycle"]
    list_filter = ["kind", "aggregation", "cycle"]
    search_fields = ["name", "key"]
    list_select_related = ["parent", "cycle__organization"]
    autocomplete_fields = ["parent", "referents"]
    inlines = [ChildUnitInline]

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + UNIT_LOCKED_FIELDS if obj and _closed(request, obj.cycle_id) else fields


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "holder", "unit", "cycle"]
    list_filter = ["kind", "cycle"]
    search_fields = ["title", "holder"]
    list_select_related = ["unit", "cycle__organization"]
    autocomplete_fields = ["unit"]
