"""Workspace views: plan (see performance/urls.py)."""

urlpatterns: list = []
