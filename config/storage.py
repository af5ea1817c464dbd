"""The static files storage of production: WhiteNoise's compressed manifest (hashed names, cached
for a year, gzip/brotli), tolerant of the static prefix and of folders.

``static("")`` (the prefix, e.g. for a PDF renderer's base URL) and ``static("fonts")`` (a
folder, e.g. for a script that loads fonts from it) have no manifest entry: the strict manifest
would raise ValueError and turn the page into a server error. They resolve to themselves; a
missing *file* still raises, as it should (a broken reference found at the first render).
"""

from pathlib import Path

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            if not name.strip("/") or Path(self.path(name)).is_dir():
                return name
            raise
