"""The models of the ``reports`` app (tables ``reports_*``): the Relazione's narrative
(``relazione``), its stored PDFs (``pdf``), the OIV workflow and the frozen versions
(``workflow``)."""

from reports.models.pdf import RelazionePdf, relazione_pdf_path
from reports.models.relazione import ContextTable, Relazione, Section
from reports.models.workflow import (
    CycleTransition,
    ObjectiveReview,
    OivMember,
    RelazioneVersion,
    Remark,
    RemarkAnswer,
    version_file_path,
)

__all__ = [
    "ContextTable",
    "CycleTransition",
    "ObjectiveReview",
    "OivMember",
    "Relazione",
    "RelazionePdf",
    "RelazioneVersion",
    "Remark",
    "RemarkAnswer",
    "Section",
    "relazione_pdf_path",
    "version_file_path",
]
