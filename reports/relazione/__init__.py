"""The Relazione sulla Performance as a document: its narrative (services, forms, editing views),
the document built from the score (document.py), its open data (open_data.py), its PDF (pdf.py,
pdf_jobs.py). Imports organization and performance; never the workflow or the public pages."""
