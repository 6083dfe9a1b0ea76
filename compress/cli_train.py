"""`eie train` and `eie dsd`: argparse parsers and commands (registered in eie_hw/cli.py).

    eie train [--dataset PATH] [--hidden 300,100] [--epochs N] [--optimizer adam|sgd]
              [--seed S] [--deep-compression [--density D,...]] -o OUT.npz
    eie dsd   [--dataset PATH] [--seeds 0,1,2] [--epochs N] [--sparsity F] -o REPORT.json
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from eie_hw.errors import EIEError
from eie_hw.output import check_output_path, write_json
from eie_hw.progress import say as _progress
from .pipeline import parse_layer_value


def _int_list(text: str, what: str, allow_empty: bool = False) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise EIEError(f"{what} {text!r} must be comma-separated integers, e.g. 300,100")
    if not values and not allow_empty:
        raise EIEError(f"{what} is empty: give comma-separated integers, e.g. 300,100")
    return values


def parse_densities(items: list[str] | None, names: list[str]):
    """`--density` values: `0.1` (all layers), `0.08,0.09,0.26` (in layer order) or
    repeated `LAYER=D`; None when not given (the default schedule)."""
    if not items:
        return None
    per_layer, plain = {}, []
    for item in items:
        for part in item.split(","):
            name, number = parse_layer_value(
                part.strip(), float, "--density",
                "a number, a comma-separated list (one per layer) or LAYER=D")
            if name is None:
                plain.append(number)
            else:
                per_layer[name] = number
    if plain and per_layer:
        raise EIEError("--density takes either plain values or LAYER=D items, not both")
    if per_layer:
        return per_layer
    if len(plain) == 1:
        return plain[0]
    if len(plain) != len(names):
        raise EIEError(f"--density gives {len(plain)} values for {len(names)} layers "
                       f"({', '.join(names)}): give one per layer or one for all")
    return plain


def _add_common(p) -> None:
    p.add_argument("--dataset", metavar="PATH",
                   help=".npz with x_train, y_train, x_test, y_test (default: the bundled "
                        "8x8 digits of scikit-learn)")
    p.add_argument("--hidden", default="300,100", metavar="N,N",
                   help="hidden layer widths (default 300,100: LeNet-300-100 shape)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, metavar="LR",
                   help="learning rate (default: 1e-3 for adam, 0.05 for sgd)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument("--weight-decay", type=float, default=1e-4, metavar="L2",
                   help="L2 regularization added to the weight gradients (default 1e-4)")


def add_train_parser(sub):
    p = sub.add_parser(
        "train", help="train an MLP (optionally Deep-Compress it) for `eie compress`",
        description="Train a ReLU MLP with softmax cross-entropy on a data set and write it "
                    "as the .npz model `eie compress` reads. With --deep-compression, also "
                    "prune it iteratively with retraining, share weights with k-means and "
                    "fine-tune the centroids, and write the pre-quantized model "
                    "(OUT.quantized.npz) that `eie compress` Huffman-codes and packs.")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz",
                   help="dense float model (fc1.weight, fc1.bias, ...)")
    _add_common(p)
    p.add_argument("--epochs", type=int, default=30, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="initialization and shuffling seed (fixed seed: same result)")
    p.add_argument("--from", dest="source", metavar="FILE",
                   help="skip training: start from a trained model, an .npz as written by "
                        "this command or a PyTorch state_dict (.pt/.pth, needs torch)")
    p.add_argument("--deep-compression", action="store_true",
                   help="prune + retrain, k-means weight sharing, centroid fine-tuning")
    p.add_argument("--density", action="append", metavar="D[,D...]|LAYER=D",
                   help="weights kept after pruning: one value, one per layer, or LAYER=D "
                        "(default 0.10,0.03,0.25 for 64-300-100-10, the paper's "
                        "0.08,0.09,0.26 for other three-layer networks, else 0.1)")
    p.add_argument("--prune-rounds", type=int, default=4, metavar="N")
    p.add_argument("--retrain-epochs", type=int, default=10, metavar="N",
                   help="retraining epochs after each pruning round")
    p.add_argument("--retrain-lr", type=float, default=1e-3, metavar="LR",
                   help="learning rate of the retraining after pruning")
    p.add_argument("--finetune-epochs", type=int, default=5, metavar="N",
                   help="centroid fine-tuning epochs")
    p.add_argument("--quantized", metavar="PATH",
                   help="pre-quantized model (default OUT.quantized.npz)")
    p.add_argument("--report", metavar="PATH",
                   help="JSON report of accuracies (default OUT.json)")
    p.set_defaults(func=cmd_train)
    return p


def _output_paths(args) -> tuple[Path, Path, Path]:
    """The dense model, the pre-quantized model and the report, all checked up front."""
    check_output_path(args.output, folder=False, flag="-o")
    out = Path(args.output)
    stem = out.with_suffix("") if out.suffix == ".npz" else out
    out = Path(f"{stem}.npz")
    quant_path = Path(args.quantized) if args.quantized else Path(f"{stem}.quantized.npz")
    report_path = Path(args.report) if args.report else Path(f"{stem}.json")
    for path, flag in ((out, "-o"), (quant_path, "--quantized"), (report_path, "--report")):
        check_output_path(path, folder=False, flag=flag)
    return out, quant_path, report_path


def _dense_model(args, data):
    """The trained (or loaded, with --from) dense model and its training history."""
    from .train import MLP, import_state_dict, train

    if args.source:
        source = Path(args.source)
        model = (MLP.load_npz(source) if source.suffix == ".npz" else
                 import_state_dict(source))
        if model.sizes[0] != data.n_features or model.sizes[-1] < data.n_classes:
            raise EIEError(f"model {source} is {'-'.join(map(str, model.sizes))} but the "
                           f"data set has {data.n_features} features and {data.n_classes} "
                           f"classes")
        _progress(f"loaded {source}: {'-'.join(map(str, model.sizes))}")
        return model, []
    hidden = _int_list(args.hidden, "--hidden", allow_empty=True)
    model = MLP([data.n_features, *hidden, data.n_classes], seed=args.seed)
    _progress(f"training {'-'.join(map(str, model.sizes))} MLP, {args.epochs} epochs, "
              f"{args.optimizer}")
    history = train(model, data, args.epochs, args.lr, args.batch_size, args.optimizer,
                    progress=_progress, label="training", weight_decay=args.weight_decay,
                    progress_every=5)
    return model, history


def _deep_compress(args, model, data, quant_path: Path, report: dict) -> None:
    from .deep_compression import DeepCompressionOptions, deep_compress, save_quantized_npz

    options = DeepCompressionOptions(
        densities=parse_densities(args.density, model.names), rounds=args.prune_rounds,
        retrain_epochs=args.retrain_epochs, retrain_lr=args.retrain_lr,
        finetune_epochs=args.finetune_epochs, optimizer=args.optimizer,
        batch_size=args.batch_size, weight_decay=args.weight_decay, seed=args.seed)
    result = deep_compress(model, data, options, progress=_progress)
    save_quantized_npz(result.layers, quant_path)
    report["accuracy"] = result.accuracy
    report["densities"] = dict(zip(model.names, result.densities))
    report["deep_compression"] = {"options": asdict(options), "history": result.history,
                                  "seconds": result.seconds}
    report["paths"]["quantized"] = str(quant_path)
    a = result.accuracy
    kept = ", ".join(f"{n} {100 * d:.1f} %" for n, d in zip(model.names, result.densities))
    print(f"Deep Compression: densities {kept}; test accuracy dense "
          f"{100 * a['dense']:.2f} %, pruned {100 * a['pruned']:.2f} %, quantized "
          f"{100 * a['quantized']:.2f} %")
    print(f"pre-quantized model written to {quant_path}; next: eie compress "
          f"{quant_path} -o DIR")


def cmd_train(args) -> int:
    from .datasets import load_dataset
    from .train import accuracy

    out, quant_path, report_path = _output_paths(args)
    if args.density and not args.deep_compression:
        raise EIEError("--density sets the pruning of --deep-compression: add "
                       "--deep-compression, or prune later with `eie compress --density`")
    _int_list(args.hidden, "--hidden", allow_empty=True)       # a typo fails before data
    t0 = time.perf_counter()
    data = load_dataset(args.dataset)
    _progress(f"data set {data.summary()}")
    model, history = _dense_model(args, data)
    dense_acc = accuracy(model, data.x_test, data.y_test)
    model.save_npz(out)
    report = {"dataset": data.name, "sizes": model.sizes, "seed": args.seed,
              "optimizer": args.optimizer, "epochs": args.epochs,
              "accuracy": {"dense": dense_acc}, "history": history,
              "paths": {"dense": str(out)}}
    print(f"dense model {'-'.join(map(str, model.sizes))}: test accuracy "
          f"{100 * dense_acc:.2f} %, written to {out}")
    if args.deep_compression:
        _deep_compress(args, model, data, quant_path, report)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    report["paths"]["report"] = str(report_path)
    write_json(report_path, report)
    print(f"report written to {report_path}")
    return 0


def add_dsd_parser(sub):
    p = sub.add_parser(
        "dsd", help="DSD (dense-sparse-dense) training against plain dense training",
        description="For each seed: train dense, then sparse with a fixed magnitude mask, "
                    "then dense again at 1/10 the learning rate with the pruned weights "
                    "restarting at zero; compare the test accuracy after each phase with "
                    "plain dense training of the same length. Writes a JSON report.")
    p.add_argument("-o", "--output", required=True, metavar="REPORT.json")
    _add_common(p)
    p.add_argument("--seeds", default="0,1,2", metavar="S,S,...")
    p.add_argument("--epochs", type=int, default=10, metavar="N",
                   help="epochs per phase (each variant trains 3 x N)")
    p.add_argument("--sparsity", type=float, default=0.5, metavar="F",
                   help="fraction of each layer's weights pruned in the sparse phase")
    p.set_defaults(func=cmd_dsd)
    return p


def cmd_dsd(args) -> int:
    from .datasets import load_dataset
    from .dsd import DSDOptions, dsd_experiment

    check_output_path(args.output, folder=False, flag="-o")
    seeds = _int_list(args.seeds, "--seeds")
    options = DSDOptions(hidden=tuple(_int_list(args.hidden, "--hidden", allow_empty=True)),
                         epochs=args.epochs, sparsity=args.sparsity,
                         optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size,
                         weight_decay=args.weight_decay)
    data = load_dataset(args.dataset)
    _progress(f"data set {data.summary()}; DSD over seeds {seeds}")
    report = dsd_experiment(data, seeds, options, progress=_progress)
    write_json(args.output, report)
    s = report["summary"]

    def fmt(key):
        return f"{100 * s[key]['mean']:.2f} +/- {100 * s[key]['std']:.2f} %"
    print(f"test accuracy over {len(seeds)} seeds (mean +/- std):")
    print(f"  DSD: dense phase {fmt('dsd_dense_phase')}, sparse phase "
          f"{fmt('dsd_sparse_phase')}, re-dense {fmt('dsd_final')}")
    print(f"  dense training, same length: {fmt('dense_final')}; "
          f"with the same final lr drop: {fmt('dense_lr_drop_final')}")
    print(f"  {report['verdict']}")
    print(f"report written to {args.output}")
    return 0
