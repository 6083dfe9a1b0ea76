"""`eie evaluate`: the command-line front of sim/evaluate.py (hooked into eie_hw/cli.py)."""

from __future__ import annotations

from eie_hw.output import add_force_argument, check_output_path, write_json


def add_evaluate_parser(sub) -> None:
    from .run import BACKENDS
    p = sub.add_parser(
        "evaluate", help="accuracy of a compressed model on a labelled data set, on any "
                         "backend",
        description="Run the test split of a labelled data set (an .npz with x_train, "
                    "y_train, x_test, y_test, as `eie train --dataset` reads; default: the "
                    "bundled digits) through the model compressed in DIR and report top-1 "
                    "(and top-5 with more than 5 classes) accuracy of the hardware backend, "
                    "the golden model and the compressed float model, next to the original "
                    "model's with --reference; hardware backends add cycles per inference "
                    "and load-balance efficiency.",
        epilog="example: eie evaluate build/demo/train/compressed --backend verilator "
               "--reference build/demo/train/dense.npz --json eval.json")
    p.add_argument("model_dir", metavar="DIR", help="output directory of `eie compress`")
    p.add_argument("--dataset", metavar="DATA.npz", help="labelled data set (default: digits)")
    p.add_argument("--backend", choices=BACKENDS, default="golden")
    p.add_argument("--samples", type=int, metavar="N",
                   help="evaluate the first N test samples (default: all)")
    p.add_argument("--reference", metavar="MODEL",
                   help="the original float model (.npz, .safetensors or .onnx) for its "
                        "accuracy beside the compressed one's")
    p.add_argument("--json", metavar="OUT.json", help="write the report here")
    add_force_argument(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import sys

    from .evaluate import evaluate, format_report
    if args.json is not None:
        check_output_path(args.json, folder=False, force=args.force, flag="--json")
    report = evaluate(args.model_dir, args.dataset, args.backend, args.samples,
                      args.reference, progress_bar=sys.stderr.isatty())
    print(format_report(report), end="")
    if args.json is not None:
        write_json(args.json, report, flag="--json")
        print(f"wrote {args.json}")
    return 0
