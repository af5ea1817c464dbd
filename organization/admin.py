from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from organization.admin_lock import CycleLockedAdmin, CycleLockedInline, LockPath
from organization.models import (
    Cycle,
    MeasurementPeriod,
    Organization,
    PlanDocument,
    Position,
    Unit,
)

# Addresses typed without a scheme are https (Django 6's default; silences its deprecation).
HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}

# The cycle's read-only rule (organization.editability, organization.admin_lock): from the
# submission to the OIV on, everything of a cycle that the computed figures or the Relazione
# depend on (its measurement rules, documents, periods, units and their tree, positions) is
# read-only here as in the services, with the reason; none is reopened by a return with remarks.
CYCLE_LOCK = LockPath(cycle="pk")
IN_CYCLE_LOCK = LockPath(cycle="cycle_id")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ["short_name", "name", "tax_code"]
    search_fields = ["name", "short_name", "tax_code"]


class PlanDocumentInline(CycleLockedInline, admin.TabularInline):
    parent_lock = CYCLE_LOCK
    formfield_overrides = HTTPS_URLS
    model = PlanDocument
    extra = 0
    fields = ["key", "kind", "title", "body", "number", "date"]


class MeasurementPeriodInline(CycleLockedInline, admin.TabularInline):
    parent_lock = CYCLE_LOCK
    model = MeasurementPeriod
    extra = 0
    fields = ["key", "name", "end_date", "is_final"]


@admin.register(Cycle)
class CycleAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = CYCLE_LOCK
    list_display = ["year", "organization", "title", "status", "updated_at"]
    list_filter = ["status", "organization"]
    search_fields = ["title", "organization__name"]
    list_select_related = ["organization"]
    inlines = [PlanDocumentInline, MeasurementPeriodInline]

    def get_readonly_fields(self, request, obj=None):
        # The state changes only through the workflow's services (reports.workflow.services:
        # preconditions, audit trail, frozen versions, errata corrige), never by hand here.
        return (*super().get_readonly_fields(request, obj), "status")

    def save_model(self, request, obj, form, change):
        if change:  # a revert from the history brings back an old state too: keep today's
            obj.status = Cycle.objects.filter(pk=obj.pk).values_list("status", flat=True).get()
        super().save_model(request, obj, form, change)


@admin.register(PlanDocument)
class PlanDocumentAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = IN_CYCLE_LOCK
    formfield_overrides = HTTPS_URLS
    list_display = ["title", "kind", "number", "date", "cycle"]
    list_filter = ["kind", "cycle"]
    search_fields = ["title", "number"]
    list_select_related = ["cycle__organization"]


@admin.register(MeasurementPeriod)
class MeasurementPeriodAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = IN_CYCLE_LOCK
    list_display = ["name", "end_date", "is_final", "cycle"]
    list_filter = ["is_final", "cycle"]
    search_fields = ["name"]
    list_select_related = ["cycle__organization"]


class ChildUnitInline(CycleLockedInline, admin.TabularInline):
    parent_lock = IN_CYCLE_LOCK
    model = Unit
    fk_name = "parent"
    extra = 0
    fields = ["key", "name", "kind", "aggregation", "weight", "offices", "order"]
    show_change_link = True


@admin.register(Unit)
class UnitAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = IN_CYCLE_LOCK
    list_display = ["name", "kind", "parent", "aggregation", "offices", "cycle"]
    list_filter = ["kind", "aggregation", "cycle"]
    search_fields = ["name", "key"]
    list_select_related = ["parent", "cycle__organization"]
    autocomplete_fields = ["parent", "referents"]
    inlines = [ChildUnitInline]


@admin.register(Position)
class PositionAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = IN_CYCLE_LOCK
    list_display = ["title", "kind", "holder", "unit", "cycle"]
    list_filter = ["kind", "cycle"]
    search_fields = ["title", "holder"]
    list_select_related = ["unit", "cycle__organization"]
    autocomplete_fields = ["unit"]
