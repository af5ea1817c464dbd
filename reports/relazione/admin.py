from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from organization.admin_lock import CycleLockedAdmin, CycleLockedInline, LockPath
from organization.editability import FRONT_MATTER
from reports.models import ContextTable, Relazione, Section

# How the Relazione and its parts reach their cycle and section, for the cycle's read-only rule
# (organization.admin_lock, organization.editability): the Relazione's own fields are its front
# matter; a context table follows the section it is shown after. The inlines of a Relazione hold
# rows of different sections: they are editable only while the whole cycle is (a section the OIV
# reopened is changed from its own page).
RELAZIONE_LOCK = LockPath(cycle="cycle_id", section_key=FRONT_MATTER)
RELAZIONE_ROWS_LOCK = LockPath(cycle="cycle_id")
SECTION_LOCK = LockPath(cycle="relazione.cycle_id", section="key")
CONTEXT_TABLE_LOCK = LockPath(cycle="relazione.cycle_id", section="section_key")


class SectionInline(CycleLockedInline, admin.StackedInline):
    parent_lock = RELAZIONE_ROWS_LOCK
    model = Section
    extra = 0
    fields = ["key", "title", "body", "order", "updated_by"]
    readonly_fields = ["updated_by"]
    show_change_link = True


class ContextTableInline(CycleLockedInline, admin.StackedInline):
    parent_lock = RELAZIONE_ROWS_LOCK
    model = ContextTable
    extra = 0
    fields = ["key", "section_key", "title", "columns", "rows", "footnotes", "order"]
    show_change_link = True


@admin.register(Relazione)
class RelazioneAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = RELAZIONE_LOCK
    list_display = ["title", "cycle", "approval_document", "updated_at"]
    list_filter = ["cycle__year", "cycle__organization"]
    search_fields = ["title", "subtitle", "cycle__organization__name"]
    list_select_related = ["cycle__organization", "approval_document"]
    inlines = [SectionInline, ContextTableInline]

    def save_formset(self, request, form, formset, change):
        """Sections edited inline record who changed them (the edit pages do the same)."""
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, Section):
                instance.updated_by = request.user
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


@admin.register(Section)
class SectionAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = SECTION_LOCK
    list_display = ["title", "key", "relazione", "updated_at", "updated_by"]
    list_filter = ["key", "relazione__cycle__year"]
    search_fields = ["title", "body"]
    list_select_related = ["relazione__cycle", "updated_by"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ContextTable)
class ContextTableAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = CONTEXT_TABLE_LOCK
    list_display = ["title", "key", "section_key", "relazione", "updated_at"]
    list_filter = ["section_key", "relazione__cycle__year"]
    search_fields = ["title", "key"]
    list_select_related = ["relazione__cycle"]
    readonly_fields = ["updated_at"]
