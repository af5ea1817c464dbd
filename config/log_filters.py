"""Logging filters of the site (LOGGING in config/settings.py).

``ClientErrorsWithoutTraceback``: Django logs a refused request with the exception's traceback
(django.request: every 403 raised as PermissionDenied, a 400 from a malformed request;
django.security.*: DisallowedHost and the other suspicious operations). A client's error is not
a defect: one line is enough, with the exception's type and message in place of the traceback.
Server errors (5xx) keep their traceback.
"""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.exc_info and isinstance(status, int) and status < 500:
            error = record.exc_info[1]
            detail = " ".join(str(error).split())
            summary = type(error).__name__ + (f": {detail}" if detail else "")
            record.msg = f"{record.getMessage()} ({summary})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
