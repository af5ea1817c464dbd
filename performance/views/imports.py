"""Workspace views: imports (see performance/urls.py)."""

urlpatterns: list = []
