"""Every subcommand on a corpus of bad inputs (tests/cli_corpus.py): exit status 2, one
error line, no traceback, and no folder or file it was given changed.

The cases run in-process through `eie_hw.cli.main`, so an uncaught exception fails the
case at once (it would be a traceback for the user).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from cli_corpus import CASES, SMALL, TAMPERS, make_files
from eie_hw.cli import main


def tree_digest(root: Path) -> str:
    """Names, sizes and contents of everything under `root` (hidden files included)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    files = make_files(root / "files")
    for name, model in (("good", files["model"]), ("other", files["other_model"])):
        files[name] = root / name
        assert main(["compress", str(model), "-o", str(files[name]), *SMALL]) == 0
    return files


def run_bad(argv: list[str], capsys) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as exc:            # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    return status, err


def _fill(template: list[str], paths: dict) -> list[str]:
    return [part.format(**{k: str(v) for k, v in paths.items()}) for part in template]


def _check_error(status, err: str, argv) -> None:
    assert status == 2, f"exit status {status} for {argv}:\n{err}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()
             and not line.startswith("[eie ") and not line.startswith("usage:")
             and not line.startswith("  ")]
    assert len(lines) == 1, f"expected one error line for {argv}, got:\n{err}"
    assert "pickle" not in err.lower().replace("pickle.npz", ""), err


@pytest.mark.parametrize("case_id, template", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clean_error(case_id, template, corpus, tmp_path, capsys,
                                      monkeypatch):
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path / "cache"))
    # A command that took `-o ""` as "." would write here, not into the checkout.
    monkeypatch.chdir(tmp_path)
    paths = {**corpus, "out": tmp_path / "out"}
    before = {name: tree_digest(corpus[name]) for name in ("root", "good", "other")}
    argv = _fill(template, paths)
    status, err = run_bad(argv, capsys)
    _check_error(status, err, argv)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "cache")
    assert left == [], f"a failed command left {left}"
    for name, digest in before.items():
        assert tree_digest(corpus[name]) == digest, f"{name} changed"


@pytest.mark.parametrize("tamper", sorted(TAMPERS), ids=sorted(TAMPERS))
def test_tampered_folder_is_refused(tamper, corpus, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(corpus["good"], folder)
    TAMPERS[tamper](folder)
    digest = tree_digest(folder)
    argv = ["simulate", str(folder), "--input", str(corpus["x"])]
    status, err = run_bad(argv, capsys)
    _check_error(status, err, argv)
    assert tree_digest(folder) == digest


def test_model_file_of_another_model_is_refused(corpus, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(corpus["good"], folder)
    shutil.copy(corpus["other"] / "model.eie", folder / "model.eie")
    status, err = run_bad(["simulate", str(folder), "--input", str(corpus["x"])], capsys)
    _check_error(status, err, "swap")
    assert "model.eie" in err


def test_corpus_is_large_enough():
    assert len(CASES) + len(TAMPERS) >= 150
    commands = {template[0] for _, template in CASES}
    assert commands == {"compress", "simulate", "generate", "synth", "sweep", "train", "dsd",
                        "demo", "evaluate", "power"}


def test_the_untouched_folder_still_simulates(corpus, capsys):
    assert main(["simulate", str(corpus["good"]), "--input", str(corpus["x"])]) == 0
