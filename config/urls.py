from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

admin.site.site_header = "Ciclo Performance – amministrazione"
admin.site.site_title = "Ciclo Performance"

urlpatterns = [
    path("", TemplateView.as_view(template_name="public/index.html"), name="public-index"),
    path("accedi/", auth_views.LoginView.as_view(), name="login"),
    path("esci/", auth_views.LogoutView.as_view(), name="logout"),
    path("lavoro/", include("performance.urls")),
    path("admin/", admin.site.urls),
]
