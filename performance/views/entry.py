"""Workspace views: entry (see performance/urls.py)."""

urlpatterns: list = []
