"""Staff pages of the Relazione (/lavoro/<year>/relazione/…), included under "lavoro/"."""

from django.urls import path

from reports.relazione import views_edit

app_name = "reports"

urlpatterns = [
    path("<int:year>/relazione/", views_edit.relazione_edit, name="relazione-edit"),
    path(
        "<int:year>/relazione/sezioni/<slug:key>/",
        views_edit.section_edit,
        name="relazione-section",
    ),
    path(
        "<int:year>/relazione/tabelle/<slug:key>/",
        views_edit.table_edit,
        name="relazione-table",
    ),
]
