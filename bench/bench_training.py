"""Training front end benchmark: dense training time, Deep Compression, DSD over seeds.

    python bench/bench_training.py                       # everything
    python bench/bench_training.py --skip-dsd --seeds 0  # the demo's path only

1. `train_and_compress` (what `eie demo` calls) for each seed: the 64-300-100-10 MLP
   trained on the bundled digits, then Deep Compression; wall-clock time of each step;
   test accuracy dense / pruned / quantized; then `eie compress` (compress_file) on the
   pre-quantized model for the 16-PE demo configuration: Deep Compression ratio and the
   real on-disk ratio of `model.eie`, from compress/report.py.
2. DSD against dense training of the same length over seeds 0-4 (`dsd_experiment`).

All figures are printed and written as JSON (`--json`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.datasets import load_dataset  # noqa: E402
from compress.deep_compression import DEMO_HW, train_and_compress  # noqa: E402
from compress.pipeline import CompressOptions, compress_file  # noqa: E402
from compress.dsd import DSDOptions, dsd_experiment  # noqa: E402
from eie_hw.config import EIEConfig  # noqa: E402
from sim.golden import GoldenModel  # noqa: E402


def _pm(values, scale=100.0, digits=2) -> str:
    values = np.asarray(values, dtype=np.float64) * scale
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} +/- {std:.{digits}f}"


def bench_deep_compression(seeds, out_dir: Path) -> dict:
    config = EIEConfig(**DEMO_HW)
    data = load_dataset()
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        summary = train_and_compress(out_dir / f"seed{seed}", seed=seed, dataset=data)
        wall = time.perf_counter() - t0
        # What train_and_compress(hw_config=...) does, keeping the images for the golden
        # model: the fixed-point accuracy the hardware must reproduce.
        packed = compress_file(summary["paths"]["quantized"], out_dir / f"seed{seed}" / "eie",
                               config, CompressOptions())
        summary["compression"] = packed.report["total"]
        golden = GoldenModel(packed.images).run(inputs_float=data.x_test)
        acc = summary["accuracy"]
        acc["golden_fixed_point"] = float(np.mean(np.argmax(golden.outputs, axis=1)
                                                  == data.y_test))
        comp = summary["compression"]
        runs.append({"seed": seed, "wall_seconds": round(wall, 2), **summary})
        print(f"seed {seed}: {wall:.1f} s (train {summary['seconds']['train']:.1f}, prune+"
              f"retrain {summary['seconds']['prune_retrain']:.1f}, share+fine-tune "
              f"{summary['seconds']['share_finetune']:.1f}); accuracy dense "
              f"{100 * acc['dense']:.2f} %, pruned {100 * acc['pruned']:.2f} %, quantized "
              f"{100 * acc['quantized']:.2f} % (delta "
              f"{100 * (acc['quantized'] - acc['dense']):+.2f}), golden fixed point "
              f"{100 * acc['golden_fixed_point']:.2f} %; kept "
              f"{summary['weights_kept']} of {summary['weights']}; DC ratio "
              f"{comp['deep_compression_ratio']:.1f}x, on-disk {comp['on_disk_ratio']:.1f}x "
              f"({comp['model_eie_bytes']} B)", flush=True)
    col = {key: [r["accuracy"][key] for r in runs] for key in runs[0]["accuracy"]}
    delta = [r["accuracy"]["quantized"] - r["accuracy"]["dense"] for r in runs]
    summary = {
        "accuracy": {key: _pm(v) for key, v in col.items()},
        "quantized_minus_dense_points": _pm(delta),
        "worst_quantized_minus_dense_points": round(100 * min(delta), 2),
        "deep_compression_ratio": _pm([r["compression"]["deep_compression_ratio"] for r in runs],
                                      1.0, 1),
        "on_disk_ratio": _pm([r["compression"]["on_disk_ratio"] for r in runs], 1.0, 1),
        "wall_seconds": _pm([r["wall_seconds"] for r in runs], 1.0, 1),
        "train_seconds": _pm([r["seconds"]["train"] for r in runs], 1.0, 1),
    }
    print("summary over seeds:", json.dumps(summary, indent=1), flush=True)
    return {"config": DEMO_HW, "runs": runs, "summary": summary}


def bench_dsd(seeds, options: DSDOptions) -> dict:
    t0 = time.perf_counter()
    report = dsd_experiment(load_dataset(), seeds, options,
                            progress=lambda m: print(m, flush=True))
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    s = report["summary"]
    print(f"DSD: dense phase {_pm(s['dsd_dense_phase']['values'])} %, sparse "
          f"{_pm(s['dsd_sparse_phase']['values'])} %, re-dense {_pm(s['dsd_final']['values'])} %; "
          f"dense same length {_pm(s['dense_final']['values'])} %, dense with lr drop "
          f"{_pm(s['dense_lr_drop_final']['values'])} %", flush=True)
    print(report["verdict"], flush=True)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9",
                   help="seeds of the Deep Compression runs")
    p.add_argument("--dsd-seeds", default="0,1,2,3,4")
    p.add_argument("--skip-dsd", action="store_true")
    p.add_argument("--skip-deep-compression", action="store_true")
    p.add_argument("--dsd-epochs", type=int, default=10, help="epochs per DSD phase")
    p.add_argument("--dsd-sparsity", type=float, default=0.5)
    p.add_argument("--dsd-optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--out", default=None, help="directory for the models (default: temp)")
    p.add_argument("--json", default="build/bench_training.json")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    result = {"machine": f"{platform.machine()}, {platform.python_version()}, numpy "
                         f"{np.__version__}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seeds": seeds}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        if not args.skip_deep_compression:
            result["deep_compression"] = bench_deep_compression(seeds, out)
    if not args.skip_dsd:
        options = DSDOptions(epochs=args.dsd_epochs, sparsity=args.dsd_sparsity,
                             optimizer=args.dsd_optimizer)
        result["dsd"] = bench_dsd([int(s) for s in args.dsd_seeds.split(",")], options)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
