"""The staff workspace (/lavoro/). Each views module owns its URL patterns."""

from django.urls import path

from performance.views import entry, home, imports, plan, tables

app_name = "workspace"

urlpatterns = [
    path("", home.home, name="home"),
    *entry.urlpatterns,
    *tables.urlpatterns,
    *plan.urlpatterns,
    *imports.urlpatterns,
]
