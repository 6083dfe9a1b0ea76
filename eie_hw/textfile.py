"""Reading a text view (a Liberty or LEF file), gzipped or not, with one clear error."""

from __future__ import annotations

import gzip
from pathlib import Path

from .errors import EIEError


def read_text(path, what: str, fix: str) -> str:
    """The text of `path` (gunzipped when it ends in .gz); any failure is one EIEError
    naming `what` the file is and the `fix`. Undecodable bytes are replaced: the parsers
    that read these files report what they cannot understand."""
    path = Path(path)
    if not path.is_file():
        raise EIEError(f"{what} {path} does not exist: {fix}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", errors="replace") as f:
                return f.read()
        return path.read_text(errors="replace")
    except (OSError, EOFError) as exc:      # gzip.BadGzipFile is an OSError
        raise EIEError(f"cannot read {what} {path} ({exc}): {fix}") from None
