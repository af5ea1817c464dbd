"""The cycle's workflow (reports.workflow.views): staff pages under /lavoro/, the published
versions under /trasparenza/performance/. Included from config/urls.py at the site root,
namespace "workflow"."""

from django.urls import path

from reports.workflow import views

app_name = "workflow"

L = "lavoro/<int:year>/"
T = "trasparenza/performance/<int:year>/versioni/"

urlpatterns = [
    # staff
    path(f"{L}ciclo/", views.panel, name="panel"),
    path(f"{L}ciclo/esclusioni/<int:pk>/", views.exclude, name="exclude"),
    path(f"{L}ciclo/versioni/<int:number>/", views.version, name="version"),
    path(f"{L}ciclo/versioni/<int:number>/relazione.pdf", views.version_pdf, name="version-pdf"),
    path(f"{L}ciclo/versioni/<int:number>/validazione/", views.validation, name="validation"),
    path(
        f"{L}ciclo/versioni/<int:number>/validazione.pdf",
        views.validation_pdf,
        name="validation-pdf",
    ),
    path(f"{L}ciclo/<slug:action>/", views.transition, name="transition"),
    path(f"{L}revisione/", views.review, name="review"),
    path(f"{L}revisione/accetta-tutti/", views.accept_all, name="accept-all"),
    path(f"{L}revisione/obiettivi/<int:pk>/accetta/", views.accept, name="accept"),
    path(f"{L}revisione/osservazioni/", views.remark_create, name="remark-create"),
    path(
        f"{L}revisione/osservazioni/<int:pk>/risposta/",
        views.remark_answer,
        name="remark-answer",
    ),
    path(
        f"{L}revisione/osservazioni/<int:pk>/chiudi/",
        views.remark_resolve,
        name="remark-resolve",
    ),
    # public
    path(T, views.public_archive, name="public-archive"),
    path(f"{T}<int:number>/", views.public_version, name="public-version"),
    path(f"{T}<int:number>/relazione.pdf", views.public_version_pdf, name="public-version-pdf"),
    path(f"{T}<int:number>/dati.csv", views.public_version_csv, name="public-version-csv"),
    path(f"{T}<int:number>/dati.json", views.public_version_json, name="public-version-json"),
    path(f"{T}<int:number>/validazione/", views.public_validation, name="public-validation"),
    path(
        f"{T}<int:number>/validazione.pdf",
        views.public_validation_pdf,
        name="public-validation-pdf",
    ),
]
