"""Workspace views: tables (see performance/urls.py)."""

urlpatterns: list = []
