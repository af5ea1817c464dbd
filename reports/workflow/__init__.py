"""The OIV workflow: the cycle's states and their steps (services/), the review, freezing and
the frozen versions (integrity, signing, version storage), the documento di validazione, their
views. Reads the Relazione (reports.relazione); never the public pages."""
