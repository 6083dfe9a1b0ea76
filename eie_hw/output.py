"""The one place that writes an output folder or report file.

Every command that writes a folder (compress, generate, synth, sweep, demo) writes it
through `output_folder`: the work goes into a temporary sibling (`.NAME.eie-tmp-PID`),
which replaces the target in one rename when the work is complete. An interrupt, a crash
or a full disk therefore leaves the previous folder exactly as it was, and a re-run with
fewer PEs cannot leave stale per-PE folders behind. A lock file beside the target
(`.NAME.eie-lock`) makes a second run into the same folder stop at once with "in use".

A folder is ours when it holds the marker `MARKER` (or, from versions before the marker,
the files those versions wrote, e.g. a `manifest.json`); anything else, and a plain
file, is replaced only with `force=True` (`--force`). Single files (JSON reports, trained models) go through `write_file`:
a temporary sibling and `os.replace`. `check_output_path` lets a command refuse a bad
path before it starts minutes of work.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
from pathlib import Path

from .errors import EIEError

MARKER = ".eie-output.json"
# What the folders of versions before the marker hold (all names of one entry): compress,
# generate, sweep, demo, synth.
LEGACY_MARKERS = (("manifest.json",), ("files.f", "config.mk"), ("sweep.json",),
                  ("hardware.json", "train"), ("report.json", "rtl", "synth"))
_TMP = ".eie-tmp-"
_OLD = ".eie-old-"
_LOCK = ".eie-lock"


def _hint(flag: str) -> str:
    return f"choose another {flag}" if flag else "choose another path"


def check_output_path(path, *, folder: bool, force: bool = False,
                      flag: str = "-o") -> Path:
    """The output path as a Path, or one EIEError naming what is wrong with it.

    Checks only what can be known before the work: an empty name, a folder where a file
    goes (or the reverse), a foreign folder, a parent that cannot be created or written.
    """
    if path is None or str(path).strip() == "":
        raise EIEError(f"{flag or 'the output path'} is empty: give a "
                       f"{'folder' if folder else 'file'} name")
    target = Path(path)
    if folder:
        if target.is_file() and not force:
            raise EIEError(f"{target} is a file, not a folder: {_hint(flag)} or add --force "
                           f"to replace the file")
        if target.is_dir() and not force and not is_ours(target):
            raise EIEError(f"{target} exists and was not written by eie (no {MARKER}): "
                           f"{_hint(flag)} or add --force to replace it")
    elif target.is_dir():
        raise EIEError(f"{target} is a folder; {flag or 'this option'} takes a file name, "
                       f"e.g. {target / 'report.json'}")
    _check_parent(target, flag)
    return target


def _check_parent(target: Path, flag: str) -> None:
    parent = target.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise EIEError(f"cannot write {target}: {ancestor} is a file, not a folder: "
                               f"{_hint(flag)}")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise EIEError(f"cannot write {target}: no write permission in {ancestor}: "
                               f"{_hint(flag)}")
            return


def is_ours(folder: Path) -> bool:
    """Written by eie (or empty): safe to replace without --force."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return (not names or MARKER in names
            or any(all(name in names for name in marker) for marker in LEGACY_MARKERS))


# ----------------------------------------------------------------------------- lock

class _Lock:
    """An exclusive, non-blocking flock on `.NAME.eie-lock` beside the target."""

    def __init__(self, target: Path):
        self.path = target.parent / f".{target.name}{_LOCK}"
        self.fd = None

    def acquire(self) -> None:
        import fcntl
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                target = self.path.parent / self.path.name[1:-len(_LOCK)]
                raise EIEError(f"{target} is in use: another eie process (pid {holder}) is "
                               f"writing it; wait for it to finish or choose another "
                               f"output") from None
            # The holder before us may have unlinked the file between our open and our
            # lock: then we hold a lock nobody else can see, so start again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


# ----------------------------------------------------------------------------- swap

def _renameat2():
    """Linux's atomic exchange of two paths, or None where it is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                     ctypes.c_uint]
    return func


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    func = _renameat2()
    if func is None:
        return False
    result = func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _commit(staging: Path, target: Path) -> None:
    """Put `staging` where `target` is, in one step where the system allows."""
    if not target.exists() and not target.is_symlink():
        os.rename(staging, target)
        return
    if target.is_dir() and not target.is_symlink() and _exchange(staging, target):
        _remove(staging)                     # now holds the previous folder
        return
    # Two renames; a crash between them leaves `.NAME.eie-old-PID`, which the next run
    # into this target puts back (see _recover).
    old = target.parent / f".{target.name}{_OLD}{os.getpid()}"
    os.rename(target, old)
    os.rename(staging, target)
    _remove(old)


def _recover(target: Path) -> None:
    """Tidy what an earlier, killed run left beside `target` (we hold its lock)."""
    prefix = f".{target.name}"
    leftovers = sorted(target.parent.glob(f"{prefix}{_OLD}*"), key=os.path.getmtime)
    if leftovers and not target.exists():
        os.rename(leftovers.pop(), target)
    for path in leftovers + list(target.parent.glob(f"{prefix}{_TMP}*")):
        _remove(path)


def _write_marker(staging: Path, command: str) -> None:
    from . import __version__
    (staging / MARKER).write_text(json.dumps({"tool": "eie", "command": command,
                                              "version": __version__}) + "\n")


@contextlib.contextmanager
def output_folder(path, command: str, *, force: bool = False, flag: str = "-o"):
    """Yield a fresh staging folder; on success it replaces `path` in one rename.

    On any exception (KeyboardInterrupt included) the staging folder is removed and
    `path` is left as it was. OS errors while writing become one EIEError line.
    """
    target = check_output_path(path, folder=True, force=force, flag=flag)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = _Lock(target)
    lock.acquire()
    staging = target.parent / f".{target.name}{_TMP}{os.getpid()}"
    try:
        _recover(target)
        staging.mkdir()
        try:
            yield staging
            _write_marker(staging, command)
            _commit(staging, target)
        except OSError as exc:
            raise EIEError(_os_message(exc, target)) from None
        finally:
            _remove(staging)
    finally:
        lock.release()


def _os_message(exc: OSError, target: Path) -> str:
    reason = exc.strerror or str(exc)
    where = exc.filename or target
    if exc.errno == errno.ENOSPC:
        return f"cannot write {where}: the disk is full; {target} is unchanged"
    return f"cannot write {where}: {reason}; {target} is unchanged"


def write_file(path, data, *, flag: str = "") -> Path:
    """Write bytes or text to `path` through a temporary sibling and one rename."""
    target = check_output_path(path, folder=False, flag=flag)
    tmp = target.parent / f".{target.name}{_TMP}{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, target)
    except OSError as exc:
        raise EIEError(_os_message(exc, target)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def write_json(path, document, *, flag: str = "", indent: int | None = 1) -> Path:
    return write_file(path, json.dumps(document, indent=indent) + "\n", flag=flag)


FORCE_HELP = ("replace an output that eie did not write (a foreign folder or a file), and "
              "go beyond the size limits (over 1,024 PEs, more PEs than the model has rows, "
              "over 1 GiB of on-chip memory, over 10,000 sweep points)")


def add_force_argument(parser) -> None:
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
