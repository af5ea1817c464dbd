from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import views as site_views

admin.site.site_header = "Ciclo Performance – amministrazione"
admin.site.site_title = "Ciclo Performance"

urlpatterns = [
    path("", include("reports.trasparenza.urls")),
    path("", include("reports.relazione.urls_pdf")),
    path("", include("reports.workflow.urls")),
    path("accedi/", auth_views.LoginView.as_view(), name="login"),
    path("esci/", auth_views.LogoutView.as_view(), name="logout"),
    path("lavoro/", include("performance.urls")),
    path("lavoro/", include("reports.relazione.urls")),
    path("admin/", admin.site.urls),
    path("salute/", site_views.health, name="health"),
]

handler400 = site_views.error_400
handler403 = site_views.error_403
handler404 = site_views.error_404
handler500 = site_views.error_500
