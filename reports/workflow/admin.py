"""Admin of the workflow (imported by reports/admin.py): the OIV's members are edited here; the
audit trail, the remarks and the frozen versions are read-only (they are written by
reports.workflow.services only)."""

from django.contrib import admin

from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    OivMember,
    RelazioneVersion,
    Remark,
    RemarkAnswer,
)


@admin.register(OivMember)
class OivMemberAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "organization", "is_active", "order"]
    list_filter = ["organization", "is_active"]
    search_fields = ["name", "role"]
    list_select_related = ["organization"]
    autocomplete_fields = []


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never changed from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CycleTransition)
class CycleTransitionAdmin(ReadOnlyAdmin):
    list_display = ["cycle", "action", "from_status", "to_status", "user_name", "at"]
    list_filter = ["action", "cycle__year"]
    search_fields = ["comment", "user_name"]
    list_select_related = ["cycle__organization"]


class RemarkAnswerInline(admin.TabularInline):
    model = RemarkAnswer
    extra = 0
    fields = ["author_name", "at", "text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Remark)
class RemarkAdmin(ReadOnlyAdmin):
    list_display = ["subject", "cycle", "round", "status", "reopen", "author_name", "created_at"]
    list_filter = ["status", "reopen", "cycle__year"]
    search_fields = ["subject", "text"]
    list_select_related = ["cycle__organization"]
    inlines = [RemarkAnswerInline]


@admin.register(ObjectiveReview)
class ObjectiveReviewAdmin(ReadOnlyAdmin):
    list_display = ["objective", "cycle", "round", "decision", "reviewer", "at"]
    list_filter = ["decision", "cycle__year"]
    list_select_related = ["cycle__organization", "objective", "reviewer"]


@admin.register(RelazioneVersion)
class RelazioneVersionAdmin(ReadOnlyAdmin):
    """A frozen version: every field read-only, no add, no delete."""

    list_display = ["cycle", "number", "kind", "decision", "validated_at", "published_at"]
    list_filter = ["kind", "cycle__year"]
    list_select_related = ["cycle__organization"]
    exclude = ["html", "tree_json", "data_csv", "data_json", "validation_html"]
