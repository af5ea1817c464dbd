"""The PDF of the Relazione (reports.relazione.views_pdf): the public file and the staff's preview.
Included from config/urls.py at the site root, namespace "pdf"."""

from django.urls import path

from reports.relazione import views_pdf

app_name = "pdf"

urlpatterns = [
    path(
        "trasparenza/performance/<int:year>/relazione.pdf",
        views_pdf.relazione_pdf,
        name="relazione-pdf",
    ),
    path("lavoro/<int:year>/relazione/pdf/", views_pdf.staff, name="staff"),
    path("lavoro/<int:year>/relazione/pdf/<int:pk>/", views_pdf.progress, name="progress"),
    path("lavoro/<int:year>/relazione/pdf/<int:pk>/stato.json", views_pdf.status, name="status"),
    path("lavoro/<int:year>/relazione/pdf/<int:pk>/scarica/", views_pdf.download, name="download"),
]
