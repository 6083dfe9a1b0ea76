"""Races and interrupts against one output folder (issue: nothing lost, nothing wrong).

    python bench/bench_reliability.py [--races 50] [--interrupts 20] [--seed 0]

Races: two `eie compress` of different models into the same folder at once. Interrupts:
one `eie compress` killed at a random moment (SIGINT, SIGTERM or SIGKILL). After each,
the folder must load with every check (`sim.run.simulate`, golden backend) and give the
outputs of one of the two models, or of the model it held before; nothing may be left
beside it except after SIGKILL, whose leftovers the next run must tidy.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eie_hw.errors import EIEError  # noqa: E402
from sim.run import simulate  # noqa: E402

CONFIG = ["--pes", "32", "--act-entries", "64", "--bias-entries", "64",
          "--spmat-words", "4096", "--ptr-entries", "4096"]


def _compress_cmd(model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "eie_hw.cli", "compress", str(model), "-o", str(out),
            *CONFIG]


def _models(work: Path, rng) -> list[Path]:
    paths = []
    for name in ("a", "b"):
        arrays = {"fc1.weight": rng.normal(0, 0.3, (1024, 512)).astype(np.float32),
                  "fc1.bias": rng.normal(0, 0.1, 1024).astype(np.float32),
                  "fc2.weight": rng.normal(0, 0.3, (64, 1024)).astype(np.float32)}
        paths.append(work / f"{name}.npz")
        np.savez(paths[-1], **arrays)
    return paths


def _outputs(folder: Path, x) -> tuple:
    return tuple(simulate(folder, x)["outputs"])


def _state(folder: Path, x, known: dict) -> str:
    """Which known model the folder holds ('a', 'b'), or what is wrong with it."""
    try:
        outputs = _outputs(folder, x)
    except EIEError as exc:
        return f"refused: {exc}"
    for name, reference in known.items():
        if outputs == reference:
            return name
    return "WRONG OUTPUTS"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def races(n: int, models, out: Path, x, known, rng) -> dict:
    tally = {"a": 0, "b": 0, "bad": 0, "in_use": 0, "both_ok": 0}
    for _ in range(n):
        first, second = (models if rng.random() < 0.5 else models[::-1])
        procs = [subprocess.Popen(_compress_cmd(m, out), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for m in (first, second)]
        results = [(p.wait(), p.stderr.read()) for p in procs]
        statuses = [r[0] for r in results]
        tally["in_use"] += sum("in use" in r[1] for r in results)
        tally["both_ok"] += statuses == [0, 0]
        state = _state(out, x, known)
        ok = state in known and set(statuses) <= {0, 2} and 0 in statuses \
            and not _leftovers(out)
        tally[state if ok else "bad"] += 1
        if not ok:
            print(f"race: statuses {statuses}, state {state}, leftovers {_leftovers(out)}",
                  file=sys.stderr)
    return tally


def interrupts(n: int, models, out: Path, x, known, rng, duration: float) -> dict:
    tally = {"ok": 0, "bad": 0, "completed_anyway": 0, "kill_leftovers_tidied": 0}
    kinds = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
    for i in range(n):
        before = _state(out, x, known)
        kind = kinds[i % len(kinds)]
        proc = subprocess.Popen(_compress_cmd(models[i % 2], out),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Start the clock at the first progress line: before it, Python is still
        # importing and nothing can be at risk.
        proc.stderr.readline()
        time.sleep(rng.uniform(0, duration))
        proc.send_signal(kind)
        proc.stderr.read()
        status = proc.wait()
        state = _state(out, x, known)
        tally["completed_anyway"] += status == 0
        leftovers = _leftovers(out)
        ok = state in known and (state == before or status == 0)
        if leftovers and kind != signal.SIGKILL:
            ok = False
        if leftovers:     # the next run into the folder must tidy them
            subprocess.run(_compress_cmd(models[i % 2], out), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tidied = not _leftovers(out)
            tally["kill_leftovers_tidied"] += tidied
            ok = ok and tidied
        tally["ok" if ok else "bad"] += 1
        if not ok:
            print(f"interrupt {kind.name}: status {status}, before {before}, after {state}, "
                  f"leftovers {leftovers}", file=sys.stderr)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=50)
    parser.add_argument("--interrupts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = _models(work, np.random.default_rng(args.seed))
        x = np.random.default_rng(1).normal(0, 1, 512).astype(np.float32)
        known = {}
        for name, model in zip("ab", models):
            proc = subprocess.Popen(_compress_cmd(model, work / name), text=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            proc.stderr.readline()
            started = time.perf_counter()
            proc.stderr.read()
            assert proc.wait() == 0
            duration = time.perf_counter() - started     # from the first progress line
            known[name] = _outputs(work / name, x)
        assert known["a"] != known["b"]
        out = work / "out"
        subprocess.run(_compress_cmd(models[0], out), check=True, stdout=subprocess.DEVNULL)
        print(f"one compress works for {duration:.2f} s after its imports")
        race = races(args.races, models, out, x, known, rng)
        print(f"{args.races} races: {race}")
        stop = interrupts(args.interrupts, models, out, x, known, rng, duration)
        print(f"{args.interrupts} interrupts: {stop}")
    return 0 if race["bad"] == 0 and stop["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
