"""Benchmarks (run as scripts, e.g. ``.venv/bin/python bench/scoring.py``)."""
