"""The on-disk cache of evaluated points and syntheses, in the user's cache folder.

`cache_root()` is `eie_hw.tools.cache_dir("sweep")` (`$EIE_CACHE_DIR/sweep`, else
`~/.cache/eie/sweep` on Linux): `points/<key>.json` per evaluated point or synthesis,
`verilator/<key>/` per point run on the Verilated RTL and `synth/<key>/` per
synthesized configuration. The keys are content hashes of everything that determines a
result (`content_key`), the source code included (`code_fingerprint`), so every sweep of
the user shares the cache: a re-run (after an interrupt, or with more values) evaluates
only what is new, and a point is never reused by changed code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
from pathlib import Path

from eie_hw.errors import EIEError
from eie_hw.tools import CACHE_ENV

# Bump when the evaluation of a point changes, so that old cached points are not reused
# (3: issue 13's pipeline: registered broadcast, three-stage pointer read, registered
# drain check; cycle counts and syntheses from before differ).
EVALUATION_VERSION = 3


def eie_version() -> str:
    from eie_hw import __version__
    return __version__


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the source and data of the packages that compute a point (eie_hw,
    compress, sim).

    The version number stays the same across a developer's edits, and a stale point is a
    silently wrong result (it happened: a changed pipeline's old cycle counts came back
    from the cache), so a point is reused only by the very same code."""
    digest = hashlib.sha256()
    for package in ("eie_hw", "compress", "sim"):
        root = Path(importlib.import_module(package).__file__).parent
        # The data the code reads too (the energy model's calibration, macro libraries).
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json")):
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def content_key(doc: dict) -> str:
    """A hash of `doc` and of the code that computes it (the cache is shared by every
    sweep of this user, so the key must hold everything that determines the result)."""
    text = json.dumps({"v": EVALUATION_VERSION, "eie": eie_version(),
                       "code": code_fingerprint(), **doc}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_root() -> Path:
    from eie_hw.tools import cache_dir
    return cache_dir("sweep")


class PointCache:
    """Results by key, one JSON file each, written through a temporary file and a rename
    (a half-written file from an interrupted run is never read as a result)."""

    def __init__(self, directory: Path | None = None, fresh: bool = False):
        self.directory = Path(directory) if directory is not None else cache_root() / "points"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EIEError(f"cannot use the sweep cache folder {self.directory} "
                           f"({exc.strerror or exc}): set {CACHE_ENV} to a writable "
                           f"folder") from None
        self.fresh = fresh

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str):
        """The cached result of `key`, or None (missing, damaged, or `fresh`)."""
        if self.fresh:
            return None
        try:
            doc = json.loads(self.path(key).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None          # missing, or damaged
        return doc if isinstance(doc, dict) and doc.get("key") == key else None

    def put(self, key: str, doc: dict) -> None:
        path = self.path(key)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)
