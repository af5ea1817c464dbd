from django.contrib import admin
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from performance.models import (
    Actual,
    Indicator,
    Objective,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)


class StrategicObjectiveInline(admin.TabularInline):
    model = StrategicObjective
    extra = 0
    fields = ["code", "title", "weight", "order"]
    show_change_link = True


@admin.register(Perspective)
class PerspectiveAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "weight", "cycle"]
    list_filter = ["cycle"]
    search_fields = ["name", "code"]
    list_select_related = ["cycle__organization"]
    inlines = [StrategicObjectiveInline]

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            obj.cycle = form.instance.cycle
            obj.save()
        formset.save_m2m()
        for obj in formset.deleted_objects:
            obj.delete()


@admin.register(StrategicObjective)
class StrategicObjectiveAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "perspective", "cycle"]
    list_filter = ["cycle", "perspective"]
    search_fields = ["code", "title"]
    list_select_related = ["perspective", "cycle__organization"]


class IndicatorInline(admin.StackedInline):
    model = Indicator
    extra = 0
    fields = [
        ("name", "unit_of_measure", "direction"),
        ("baseline_value", "baseline_year", "baseline_text"),
        ("source", "order"),
        "notes",
    ]
    show_change_link = True


@admin.register(Objective)
class ObjectiveAdmin(SimpleHistoryAdmin):
    list_display = ["short_title", "kind", "strategic_objective", "position", "status", "cycle"]
    list_filter = ["kind", "status", "cycle", "strategic_objective__perspective"]
    search_fields = ["title", "code", "indicators__name"]
    list_select_related = ["strategic_objective", "position", "cycle__organization"]
    autocomplete_fields = ["strategic_objective", "position"]
    inlines = [IndicatorInline]

    @admin.display(description="titolo")
    def short_title(self, obj: Objective) -> str:
        return obj.title[:100]


class TargetInline(admin.StackedInline):
    model = Target
    extra = 0
    fields = [
        ("unit", "office", "status", "weight", "order"),
        ("text", "rule"),
        ("original_text", "original_rule", "revised_by"),
        ("exclusion_reason", "is_duplicate", "published_pct"),
        ("footnote", "notes"),
    ]
    autocomplete_fields = ["unit", "office"]
    show_change_link = True


@admin.register(Indicator)
class IndicatorAdmin(SimpleHistoryAdmin):
    list_display = ["short_name", "objective", "unit_of_measure", "direction"]
    list_filter = ["direction", "objective__kind", "objective__cycle"]
    search_fields = ["name", "objective__title", "source"]
    list_select_related = ["objective"]
    autocomplete_fields = ["objective"]
    inlines = [TargetInline]

    @admin.display(description="indicatore")
    def short_name(self, obj: Indicator) -> str:
        return obj.name[:100]


class ActualInline(admin.StackedInline):
    model = Actual
    extra = 0
    fields = [
        ("period", "version"),
        ("value_number", "value_date", "value_done", "value_k", "value_n"),
        ("value_parts", "text"),
        ("override_pct", "override_reason"),
        ("note", "source", "measured_on"),
        ("recorded_by", "recorded_at"),
    ]
    readonly_fields = ["version", "recorded_by", "recorded_at"]


@admin.register(Target)
class TargetAdmin(SimpleHistoryAdmin):
    list_display = ["text", "indicator_name", "unit", "status", "published_pct"]
    list_filter = ["status", "is_duplicate", "unit", "indicator__objective__kind"]
    search_fields = ["text", "indicator__name", "indicator__objective__title", "notes"]
    list_select_related = ["indicator", "unit"]
    autocomplete_fields = ["indicator", "unit", "office"]
    inlines = [ActualInline]

    @admin.display(description="indicatore")
    def indicator_name(self, obj: Target) -> str:
        return obj.indicator.name[:80]


@admin.register(Actual)
class ActualAdmin(SimpleHistoryAdmin):
    list_display = ["target", "period", "text", "value_number", "value_date", "override_pct"]
    list_filter = ["period", "target__unit"]
    search_fields = ["target__text", "target__indicator__name", "text", "note"]
    list_select_related = ["target__unit", "period"]
    autocomplete_fields = ["target"]
    readonly_fields = ["version", "recorded_by", "recorded_at"]

    def save_model(self, request, obj, form, change):
        obj.recorded_by = request.user
        obj.recorded_at = timezone.now()
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)


@admin.register(StatedFigure)
class StatedFigureAdmin(admin.ModelAdmin):
    list_display = ["ref", "label", "node", "value", "sum", "count", "cycle"]
    list_filter = ["cycle", "ref"]
    search_fields = ["label", "node", "ref"]
