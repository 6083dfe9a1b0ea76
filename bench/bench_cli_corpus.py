"""The CLI fuzz corpus (tests/cli_corpus.py) as a tally, for any version of eie.

    python bench/bench_cli_corpus.py                         # this checkout
    PYTHONPATH=/path/to/old/checkout python bench/bench_cli_corpus.py

tests/test_cli_fuzz.py asserts every case; this script counts instead, so that an older
version (which fails many cases, some by running for minutes) can be measured too: each
case runs in-process with a 30 s bound and is tallied as a clean error (exit status 2),
a traceback, another exit status (the bad input was accepted), or over the bound.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from eie_hw.cli import main  # noqa: E402  (first: tests/eie_hw must not shadow it)

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from cli_corpus import CASES, SMALL, TAMPERS, make_files  # noqa: E402

BOUND_S = 30


class _OverBound(BaseException):
    pass


def _alarm(signum, frame):
    raise _OverBound()


def run(argv: list[str]) -> str:
    """'clean', 'traceback: <type>', 'accepted (status N)' or 'over the bound'."""
    signal.alarm(BOUND_S)
    try:
        with contextlib.redirect_stderr(io.StringIO()), \
                contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
    except SystemExit as exc:
        status = exc.code
    except _OverBound:
        return "over the bound"
    except BaseException as exc:          # what a user would see as a traceback
        return f"traceback: {type(exc).__name__}"
    finally:
        signal.alarm(0)
    return "clean" if status == 2 else f"accepted (status {status})"


def main_() -> int:
    import eie_hw
    signal.signal(signal.SIGALRM, _alarm)
    root = Path(tempfile.mkdtemp())
    # Older versions take `-o ""` as the current folder: let them write into the scratch
    # folder, never into the checkout the script is run from.
    previous_cwd = os.getcwd()
    os.chdir(root)
    files = make_files(root / "files")
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        for name, model in (("good", files["model"]), ("other", files["other_model"])):
            files[name] = root / name
            assert main(["compress", str(model), "-o", str(files[name]), *SMALL]) == 0
    results = {}
    for index, (case, template) in enumerate(CASES):
        paths = {**files, "out": root / f"out{index}"}
        results[case] = run([part.format(**{k: str(v) for k, v in paths.items()})
                             for part in template])
    damaged = {}
    for name, tamper in [*TAMPERS.items(), ("model.eie of another model", None)]:
        folder = root / f"damaged{len(damaged)}"
        shutil.copytree(files["good"], folder)
        if tamper is None:
            shutil.copy(files["other"] / "model.eie", folder / "model.eie")
        else:
            tamper(folder)
        damaged[name] = run(["simulate", str(folder), "--input", str(files["x"])])
    os.chdir(previous_cwd)
    shutil.rmtree(root, ignore_errors=True)
    print(f"eie from {Path(eie_hw.__file__).parent.parent}")
    for title, tally in (("bad command lines", results), ("damaged model folders", damaged)):
        kinds = Counter(v.split(":")[0].split(" (")[0] for v in tally.values())
        print(f"{title}: {len(tally)}: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
        for case, verdict in tally.items():
            if verdict != "clean":
                print(f"  {case}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
