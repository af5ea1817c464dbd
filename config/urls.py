from django.contrib import admin
from django.urls import path

admin.site.site_header = "Ciclo Performance – amministrazione"
admin.site.site_title = "Ciclo Performance"

urlpatterns = [
    path("admin/", admin.site.urls),
]
