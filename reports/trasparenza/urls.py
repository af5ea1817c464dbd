"""Public pages of the Relazione (Amministrazione Trasparente), its open data and the staff
preview. Included from config/urls.py at the site root, namespace "public"."""

from django.urls import path
from django.views.generic import RedirectView

from reports.trasparenza import views

app_name = "public"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="public:index", permanent=False), name="home"),
    path("trasparenza/performance/", views.index, name="index"),
    path("trasparenza/performance/<int:year>/", views.relazione, name="relazione"),
    path("trasparenza/performance/<int:year>/dati.csv", views.data_csv, name="data-csv"),
    path("trasparenza/performance/<int:year>/dati.json", views.data_json, name="data-json"),
    path("lavoro/<int:year>/relazione/anteprima/", views.preview, name="preview"),
]
