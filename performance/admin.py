from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ExportForm, ImportForm
from simple_history.admin import SimpleHistoryAdmin

from organization import concurrency, permissions
from organization.admin_lock import CycleLockedAdmin, CycleLockedInline, LockPath
from organization.models import Cycle
from performance.models import (
    Actual,
    Indicator,
    Objective,
    PendingImport,
    Perspective,
    StatedFigure,
    StrategicObjective,
    Target,
)
from performance.services.imports import (
    ADMIN_FORMATS,
    ImportFileError,
    PlanResource,
    ValuesResource,
)
from performance.services.imports.pending import (
    MISSING,
    ImportRefused,
    pending_claim,
    pending_create,
    pending_finish,
    pending_get,
    pending_path,
)

# How each model of the plan and of the values reaches its cycle (and objective), for the
# cycle's read-only rule (organization.admin_lock, organization.editability).
PERSPECTIVE_LOCK = LockPath(cycle="cycle_id")
STRATEGIC_OBJECTIVE_LOCK = LockPath(cycle="cycle_id")
OBJECTIVE_LOCK = LockPath(cycle="cycle_id", objective="pk")
INDICATOR_LOCK = LockPath(cycle="objective.cycle_id", objective="objective_id")
TARGET_LOCK = LockPath(cycle="indicator.objective.cycle_id", objective="indicator.objective_id")
ACTUAL_LOCK = LockPath(
    cycle="target.indicator.objective.cycle_id", objective="target.indicator.objective_id"
)
STATED_FIGURE_LOCK = LockPath(cycle="cycle_id")


class StrategicObjectiveInline(CycleLockedInline, admin.TabularInline):
    parent_lock = PERSPECTIVE_LOCK
    model = StrategicObjective
    extra = 0
    fields = ["code", "title", "weight", "order"]
    show_change_link = True


@admin.register(Perspective)
class PerspectiveAdmin(CycleLockedAdmin, admin.ModelAdmin):
    cycle_lock = PERSPECTIVE_LOCK
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
class StrategicObjectiveAdmin(CycleLockedAdmin, admin.ModelAdmin):
    cycle_lock = STRATEGIC_OBJECTIVE_LOCK
    list_display = ["code", "title", "perspective", "cycle"]
    list_filter = ["cycle", "perspective"]
    search_fields = ["code", "title"]
    list_select_related = ["perspective", "cycle__organization"]


class IndicatorInline(CycleLockedInline, admin.StackedInline):
    parent_lock = OBJECTIVE_LOCK
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
class ObjectiveAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = OBJECTIVE_LOCK
    list_display = ["short_title", "kind", "strategic_objective", "position", "status", "cycle"]
    list_filter = ["kind", "status", "cycle", "strategic_objective__perspective"]
    search_fields = ["title", "code", "indicators__name"]
    list_select_related = ["strategic_objective", "position", "cycle__organization"]
    autocomplete_fields = ["strategic_objective", "position"]
    inlines = [IndicatorInline]

    @admin.display(description="titolo")
    def short_title(self, obj: Objective) -> str:
        return obj.title[:100]


class TargetInline(CycleLockedInline, admin.StackedInline):
    parent_lock = INDICATOR_LOCK
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
class IndicatorAdmin(CycleLockedAdmin, SimpleHistoryAdmin):
    cycle_lock = INDICATOR_LOCK
    list_display = ["short_name", "objective", "unit_of_measure", "direction"]
    list_filter = ["direction", "objective__kind", "objective__cycle"]
    search_fields = ["name", "objective__title", "source"]
    list_select_related = ["objective"]
    autocomplete_fields = ["objective"]
    inlines = [TargetInline]

    @admin.display(description="indicatore")
    def short_name(self, obj: Indicator) -> str:
        return obj.name[:100]


class ActualInline(CycleLockedInline, admin.StackedInline):
    parent_lock = TARGET_LOCK
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


class CycleImportForm(ImportForm):
    cycle = forms.ModelChoiceField(queryset=Cycle.objects.order_by("-year"), label="Ciclo")


class CycleConfirmImportForm(ConfirmImportForm):
    cycle = forms.ModelChoiceField(queryset=Cycle.objects.all(), widget=forms.HiddenInput)
    pending_token = forms.CharField(widget=forms.HiddenInput)  # the PendingImport to claim


class FormatImportExportMixin(ImportExportMixin):
    """Import and export of the plan (targets) or of the values in the admin, with the same
    Resources as the workspace pages (performance.services.imports.resources): the file is read
    within the limits of the pages (``ADMIN_FORMATS``), the import is for the cycle chosen in
    the form, runs django-import-export's dry run and then the confirmation, all or nothing, and
    the Resource refuses it, with the Italian reason, when the cycle's state does not allow it
    (submitted to the OIV, validated, published: the rule of CycleLockedAdmin) or the user may not
    import that format. The export writes the selected rows in the format of the exports."""

    import_form_class = CycleImportForm
    confirm_form_class = CycleConfirmImportForm
    export_form_class = ExportForm  # the formats' columns (the selectable one has inline JS)
    import_formats = ADMIN_FORMATS
    export_formats = [base_formats.XLSX, base_formats.ODS, base_formats.CSV]
    skip_admin_log = True  # the rows are not objects of one model; the history records them

    def has_import_permission(self, request):
        """The controllo di gestione only, as on the workspace pages (the OIV neither imports
        nor exports; the Resource also checks the user and the cycle's state)."""
        return permissions.is_controllo(request.user)

    def has_export_permission(self, request):
        return permissions.is_controllo(request.user)

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        cleaned = getattr(form, "cleaned_data", {}) if form is not None else {}
        return {"cycle": cleaned.get("cycle"), "user": request.user}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {}

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportFileError):  # a limit, the format...: the Italian reason
            for message in e.messages:
                form.add_error("import_file", message)
            return
        super().add_data_read_fail_error_to_form(form, e)

    def get_confirm_form_initial(self, request, import_form):
        """After a dry run without errors: the file also becomes a PendingImport, as on the
        workspace pages, whose token the confirmation carries and claims."""
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            cycle = import_form.cleaned_data["cycle"]
            initial["cycle"] = cycle.pk
            upload = import_form.cleaned_data["import_file"]
            upload.seek(0)
            pending = pending_create(
                user=request.user,
                cycle=cycle,
                kind=self.pending_kind,
                filename=upload.name,
                content=upload.read(),
            )
            initial["pending_token"] = pending.token
        return initial

    def _changelist(self):
        return HttpResponseRedirect(
            reverse(
                "admin:{}_{}_changelist".format(*self.get_model_info()),
                current_app=self.admin_site.name,
            )
        )

    def process_import(self, request, **kwargs):
        """The confirmation claims the PendingImport of the dry run first (one conditional
        update, performance.services.imports.pending.pending_claim): of two confirmations of the
        same file exactly one applies it, the other gets the Italian reason ("Importazione già
        applicata", "già in corso") and writes nothing. The writes and the row's "applied" are
        committed together."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)  # the form with its errors
        pending = pending_get(
            token=confirm_form.cleaned_data["pending_token"],
            user=request.user,
            cycle=confirm_form.cleaned_data["cycle"],
        )
        if pending is None or pending.kind != self.pending_kind:
            messages.error(request, MISSING)
            return self._changelist()
        try:
            pending_claim(pending)
        except ImportRefused as error:
            for message in error.messages:
                messages.error(request, message)
            return self._changelist()
        request._pending_import = pending
        try:
            with transaction.atomic():
                response = super().process_import(request, **kwargs)
        except BaseException as error:
            pending_finish(
                pending, state=PendingImport.State.FAILED, outcome=f"errore: {type(error).__name__}"
            )
            raise
        finally:
            pending_path(pending).unlink(missing_ok=True)
        if pending.state == PendingImport.State.APPLYING:  # not applied (invalid rows now)
            pending_finish(pending, state=PendingImport.State.FAILED, outcome="righe non valide")
        return response

    def process_result(self, result, request):
        pending = getattr(request, "_pending_import", None)
        if pending is not None and not (result.has_errors() or result.has_validation_errors()):
            totals = ", ".join(f"{key}: {value}" for key, value in result.totals.items() if value)
            pending_finish(
                pending, state=PendingImport.State.APPLIED, outcome=f"amministrazione; {totals}"
            )
        return super().process_result(result, request)


@admin.register(Target)
class TargetAdmin(CycleLockedAdmin, FormatImportExportMixin, SimpleHistoryAdmin):
    cycle_lock = TARGET_LOCK
    list_display = ["text", "indicator_name", "unit", "status", "published_pct"]
    list_filter = ["status", "is_duplicate", "unit", "indicator__objective__kind"]
    search_fields = ["text", "indicator__name", "indicator__objective__title", "notes"]
    list_select_related = ["indicator", "unit"]
    autocomplete_fields = ["indicator", "unit", "office"]
    inlines = [ActualInline]
    resource_classes = [PlanResource]
    pending_kind = PendingImport.Kind.PLAN

    @admin.display(description="indicatore")
    def indicator_name(self, obj: Target) -> str:
        return obj.indicator.name[:80]


class ActualAdminForm(forms.ModelForm):
    """The admin's form of a value with the optimistic locking of the entry form
    (performance.services.entry): the version seen when the page was opened travels with the
    POST, and a value changed since then (by a referent, an import, another admin) is not
    overwritten."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):  # the model comes from ActualAdmin (modelform_factory)
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["seen_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            seen = cleaned.get("seen_version")
            current = Actual.objects.filter(pk=self.instance.pk).values_list("version", flat=True)
            current = current.first()
            if seen is None or current != seen:
                raise concurrency.StaleError(
                    "Valore rilevato: è stato modificato da un altro utente dopo l'apertura di "
                    f"questa pagina (versione {current}, la pagina mostrava la versione "
                    f"{seen if seen is not None else '?'}). Nulla è stato salvato: ricaricare la "
                    "pagina per vedere il valore attuale.",
                    current=current,
                )
        return cleaned


@admin.register(Actual)
class ActualAdmin(CycleLockedAdmin, FormatImportExportMixin, SimpleHistoryAdmin):
    cycle_lock = ACTUAL_LOCK
    form = ActualAdminForm
    resource_classes = [ValuesResource]
    pending_kind = PendingImport.Kind.VALUES
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
class StatedFigureAdmin(CycleLockedAdmin, admin.ModelAdmin):
    cycle_lock = STATED_FIGURE_LOCK
    list_display = ["ref", "label", "node", "value", "sum", "count", "cycle"]
    list_filter = ["cycle", "ref"]
    search_fields = ["label", "node", "ref"]


@admin.register(PendingImport)
class PendingImportAdmin(admin.ModelAdmin):
    """Imports waiting for confirmation and their outcome: written by the import pages only
    (performance.services.imports.pending); the token, which confirms one, is not shown."""

    list_display = ["created_at", "original_name", "kind", "cycle", "user", "state", "finished_at"]
    list_filter = ["state", "kind", "cycle"]
    search_fields = ["original_name", "sha256", "user__username"]
    list_select_related = ["cycle__organization", "user"]
    exclude = ["token"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
