"""The public pages (Amministrazione Trasparente): the Relazione of a published year and its open
data, read only (the frozen version when there is one, reports.workflow)."""
