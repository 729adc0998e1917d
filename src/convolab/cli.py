"""The `convolab` command line: parses input, calls the library, formats output.

A user mistake (ConvolabError) prints one line to stderr and exits with status 2;
no traceback.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import warnings

from .errors import ConvolabError

EXIT_USER_ERROR = 2


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by `train` and `config`: each maps to one config field."""
    p.add_argument("config_file", nargs="?", help="YAML config file (overrides the preset)")
    p.add_argument("--preset", help="config preset to start from (see `convolab config --list`)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="mnist, fashion_mnist, digits, folder:PATH or npz:PATH")
    g.add_argument("--from", dest="source_dir", metavar="DIR",
                   help="folder holding the dataset's files (tried before downloading)")
    g.add_argument("--train-samples", type=int, metavar="N", help="stratified subset of train")
    g.add_argument("--validation-split", type=float, metavar="F",
                   help="fraction of train held out (default 0.1)")
    g.add_argument("--image-size", type=int, metavar="PX",
                   help="resize every image to PX x PX (e.g. 28 for the 8x8 digits)")
    g = p.add_argument_group("model")
    g.add_argument("--model", help="preset name (see `convolab models`) or a YAML spec file")
    g.add_argument("--dropout", type=float, metavar="R", help="Dropout rate (0 removes)")
    g.add_argument("--l1", type=float, metavar="X", help="L1 penalty on every kernel")
    g.add_argument("--l2", type=float, metavar="X", help="L2 penalty on every kernel")
    g.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="add (or with --no-batchnorm remove) BatchNormalization")
    g.add_argument("--crop", type=int, metavar="PX",
                   help="cut PX pixels from every image border inside the model")
    g = p.add_argument_group("transfer learning (see `convolab backbones`)")
    g.add_argument("--backbone", metavar="NAME",
                   help="fine-tune this ImageNet base with a new head (instead of --model)")
    g.add_argument("--weights", metavar="imagenet|none|PATH",
                   help="the base's weights (default imagenet)")
    g.add_argument("--base-size", type=int, metavar="PX",
                   help="the base's input size; images are resized inside the model "
                        "(default: the base's own, e.g. 224)")
    g.add_argument("--freeze-epochs", type=int, metavar="N",
                   help="phase 1: epochs with the base frozen (default 3)")
    g.add_argument("--unfreeze", metavar="none|all|N",
                   help="phase 2: none (linear probe, the default), all, or the top N blocks")
    g.add_argument("--fine-tune-lr", type=float, metavar="LR",
                   help="phase 2 learning rate (default 1e-4)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", help="sgd, adam, adamw or rmsprop")
    g.add_argument("--lr", type=float, help="(peak) learning rate")
    g.add_argument("--lr-schedule", help="constant, step-exp, cosine, one-cycle or plateau")
    g.add_argument("--label-smoothing", type=float, metavar="S")
    g.add_argument("--ema", type=float, metavar="MOMENTUM",
                   help="keep a moving average of the weights (e.g. 0.99); the saved model uses it")
    g.add_argument("--distribute", action="store_true", default=None,
                   help="split each batch across the local devices (GPUs; TensorFlow or JAX)")
    g.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement; keep the best")
    g.add_argument("--monitor", help="metric for checkpoint/early stopping (default val_loss)")
    g.add_argument("--seed", type=int)
    g = p.add_argument_group("augmentation (ImageDataGenerator parameters, training only)")
    g.add_argument("--augment", action="store_true", help="turn augmentation on")
    g.add_argument("--rotation-range", type=float, metavar="DEG")
    g.add_argument("--width-shift-range", type=float, metavar="FRAC")
    g.add_argument("--height-shift-range", type=float, metavar="FRAC")
    g.add_argument("--shear-range", type=float, metavar="DEG")
    g.add_argument("--zoom-range", type=float, metavar="FRAC")
    g.add_argument("--horizontal-flip", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--fill-mode", help="nearest, constant, reflect or wrap")
    g.add_argument("--elastic-alpha", type=float, metavar="PX",
                   help="elastic distortion strength in pixels (Simard: 34; 0 = off)")
    g.add_argument("--elastic-sigma", type=float, metavar="PX",
                   help="smoothness of the elastic distortion in pixels (default 4)")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="run directory (default runs/<model>-<data>-<time>)")
    g.add_argument("--save-h5", action="store_true", default=None,
                   help="also write best_model.h5")
    g.add_argument("--tensorboard", action="store_true", default=None,
                   help="write TensorBoard logs")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set any config field, e.g. --set train.momentum=0.8 (repeatable)")


#: (argparse dest, config section or None for top level, field)
FLAG_FIELDS = [
    ("dataset", "data", "name"), ("source_dir", "data", "source_dir"),
    ("train_samples", "data", "train_samples"), ("validation_split", "data", "validation_split"),
    ("image_size", "data", "image_size"),
    ("model", "model", "name"), ("dropout", "model", "dropout"), ("l1", "model", "l1"),
    ("l2", "model", "l2"), ("batchnorm", "model", "batchnorm"), ("crop", "model", "crop"),
    ("backbone", "model", "backbone"), ("weights", "model", "weights"),
    ("base_size", "model", "base_size"), ("freeze_epochs", "transfer", "freeze_epochs"),
    ("unfreeze", "transfer", "unfreeze"), ("fine_tune_lr", "transfer", "fine_tune_lr"),
    ("epochs", "train", "epochs"), ("batch_size", "train", "batch_size"),
    ("optimizer", "train", "optimizer"), ("lr", "train", "lr"),
    ("lr_schedule", "train", "lr_schedule"), ("label_smoothing", "train", "label_smoothing"),
    ("ema", "train", "ema"), ("distribute", "train", "distribute"),
    ("early_stopping", "train", "early_stopping"), ("monitor", "train", "monitor"),
    ("rotation_range", "augment", "rotation_range"),
    ("width_shift_range", "augment", "width_shift_range"),
    ("height_shift_range", "augment", "height_shift_range"),
    ("shear_range", "augment", "shear_range"), ("zoom_range", "augment", "zoom_range"),
    ("horizontal_flip", "augment", "horizontal_flip"), ("fill_mode", "augment", "fill_mode"),
    ("elastic_alpha", "augment", "elastic_alpha"), ("elastic_sigma", "augment", "elastic_sigma"),
    ("seed", None, "seed"), ("out", None, "out"), ("save_h5", None, "save_h5"),
    ("tensorboard", None, "tensorboard"),
]
AUGMENT_FLAGS = ("rotation_range", "width_shift_range", "height_shift_range", "shear_range",
                 "zoom_range", "horizontal_flip", "fill_mode", "elastic_alpha", "elastic_sigma")


def config_from_args(args):
    """Resolve defaults < --preset < CONFIG.yaml < flags < --set into a Config."""
    from .config import parse_set, resolve_config

    overrides: dict = {}
    for dest, section, name in FLAG_FIELDS:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if section is None:
            overrides[name] = value
        else:
            overrides.setdefault(section, {})[name] = value
    # Any augmentation parameter turns augmentation on, except a flag that turns a thing off.
    if args.augment or any(getattr(args, f) not in (None, False) for f in AUGMENT_FLAGS):
        overrides.setdefault("augment", {})["enabled"] = True
    for key, value in parse_set(args.set).items():
        if isinstance(value, dict):
            overrides.setdefault(key, {}).update(value)
        else:
            overrides[key] = value
    return resolve_config(preset=args.preset, file=args.config_file, overrides=overrides)


def cmd_train(args) -> int:
    from .training import train

    if args.resume:
        given = [f"--{dest.replace('_', '-')}" for dest, _, _ in FLAG_FIELDS
                 if getattr(args, dest, None) is not None]
        given += [flag for flag, on in (("CONFIG.yaml", args.config_file),
                                        ("--preset", args.preset), ("--augment", args.augment),
                                        ("--set", args.set)) if on]
        if given:
            raise ConvolabError(f"--resume continues with the run's saved config; drop "
                                f"{', '.join(given)} (or start a new run with them)")
        run = train(resume=args.resume, verbose=0 if args.quiet else "auto",
                    lang=default_language(args.lang))
    else:
        config = config_from_args(args)
        run = train(config, verbose=0 if args.quiet else "auto",
                    lang=default_language(args.lang))
    m = run.metrics
    print(f"test accuracy {m['test_accuracy']:.4f}  test loss {m['test_loss']:.4f}  "
          f"train time {m['train_seconds']:.1f} s  epochs {m['epochs_run']} "
          f"(best {m['best_epoch']})")
    if m.get("timing"):
        print(format_timing(m["timing"]))
    print(f"run directory: {run.path}")
    print(f"report: {run.path / 'report.html'}")
    return 0


def format_timing(timing: dict) -> str:
    """One line: the command's phases, with the training time split into its parts."""
    command, training = timing.get("command", {}), timing.get("training", {})
    parts = []
    for name, seconds in command.items():
        if name == "total":
            continue
        text = f"{name} {seconds:.1f}"
        if name == "train" and training:
            inner = ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in training.items()
                              if k != "total")
            text += f" ({inner})"
        parts.append(text)
    return "seconds: " + ", ".join(parts)


def cmd_config(args) -> int:
    import yaml

    from .config import list_presets

    if args.list:
        print("\n".join(list_presets()))
        return 0
    print(yaml.safe_dump(config_from_args(args).to_dict(), sort_keys=False), end="")
    return 0


def cmd_lr_find(args) -> int:
    from .tune.lr_find import lr_find, summary_line

    sweep = {name: value for name, value in (("steps", args.steps), ("start_lr", args.start_lr),
                                             ("end_lr", args.end_lr)) if value is not None}
    result = lr_find(config_from_args(args), out_dir=args.out,
                     say=None if args.quiet else print, **sweep)
    print(summary_line(result))
    print(f"plot: {result['files']['png']}")
    print(f"data: {result['files']['json']}")
    return 0


def cmd_data(args) -> int:
    from . import data

    if args.action == "list":
        for entry in data.list_datasets():
            print(f"{entry['name']:<16} {entry['description']}")
        return 0
    if not args.name:
        raise ConvolabError(f"`convolab data {args.action}` needs a dataset name, e.g. mnist")
    if args.action == "fetch":
        info = data.fetch_dataset(args.name, source_dir=args.source_dir)
        where = f" in {info['cache_dir']}" if info.get("cache_dir") else ""
        print(f"{info['name']}: ready{where} (from {info['source']})")
        return 0
    info = data.dataset_info(args.name, source_dir=args.source_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        print(f"{key:<18} {value}")
    return 0


def cmd_models(args) -> int:
    from .models import create_model, list_models

    if args.show:
        try:
            shape = tuple(int(s) for s in args.input_shape.lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape) <= 0:
            raise ConvolabError(f"--input-shape {args.input_shape!r} must look like HxWxC, "
                                f"e.g. 28x28x1 or 32x32x3")
        model = create_model(args.show, input_shape=shape, num_classes=args.num_classes)
        model.summary()
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "type", "description")
    for entry in list_models():
        table.add_row(entry["name"], entry["type"], entry["description"])
    Console().print(table)
    return 0


def cmd_backbones(args) -> int:
    from .transfer.backbones import describe, list_backbones

    print(f"{'name':<20}{'input':>6}{'min':>5}  {'preprocessing':<14}{'top-1':>7}  weights")
    for backbone in list_backbones():
        d = describe(backbone)
        print(f"{d['name']:<20}{d['default_size']:>6}{d['min_size']:>5}  "
              f"{d['preprocessing']:<14}{d['imagenet_top1']:>6.1f}%  {d['weights_source']}")
    return 0


TTA_HELP = ("test-time augmentation: shifts (the image and its 1-pixel shifts, 5 views "
            "averaged) or shifts-flip (also mirrored, 10 views; not for digits)")


def cmd_evaluate(args) -> int:
    from .run import Run

    metrics = Run.load(args.run_dir).evaluate(dataset=args.dataset, tta=args.tta)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    tta = f" (test-time augmentation: {args.tta})" if args.tta else ""
    print(f"dataset {metrics['dataset']}{tta}: test accuracy {metrics['test_accuracy']:.4f}, "
          f"test loss {metrics['test_loss']:.4f}, macro F1 {metrics['macro_f1']:.4f}")
    print(f"{'class':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for row in metrics["per_class"]:
        print(f"{row['class']:<14}{row['precision']:>10.4f}{row['recall']:>10.4f}"
              f"{row['f1']:>10.4f}{row['support']:>9d}")
    return 0


def cmd_predict(args) -> int:
    from .run import Run

    run = Run.load(args.run_dir)
    results, errors = run.predict_files(args.images, top_k=args.top_k, tta=args.tta)
    if args.json:
        print(json.dumps({"predictions": results,
                          "errors": [{"path": p, "error": e} for p, e in errors]}, indent=2))
    else:
        for r in results:
            top = ", ".join(f"{label} {p:.3f}" for label, p in r["top"])
            print(f"{r['path']}: {r['label']} ({r['probability']:.3f})   top: {top}")
    for path, message in errors:
        print(f"convolab: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR if errors else 0


def cmd_imagenet(args) -> int:
    from .transfer.classify import classify_photos

    results, errors = classify_photos(args.photos, backbone=args.backbone, top_k=args.top_k,
                                      weights=args.weights)
    if args.json:
        print(json.dumps({"predictions": results,
                          "errors": [{"path": p, "error": e} for p, e in errors]}, indent=2))
    else:
        for r in results:
            top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"])
            print(f"{r['path']}: {top}")
    for path, message in errors:
        print(f"convolab: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR if errors else 0


def cmd_export(args) -> int:
    from .export import export_run

    result = export_run(args.run_dir, args.format, args.out, check_samples=args.check_samples,
                        force=args.force)
    if result.max_abs_diff is None:
        check = "not checked against Keras (--check-samples 0)"
    else:
        check = (f"max abs difference from Keras {result.max_abs_diff:.3g} on "
                 f"{result.samples} test images")
    print(f"{result.format}: {result.path} ({check}; {result.seconds:.1f} s)")
    return 0


def cmd_invariance(args) -> int:
    from .evidence.invariance import SWEEPS, measure_invariance
    from .evidence.tables import print_table

    result = measure_invariance(args.run_dirs, samples=args.samples, seed=args.seed,
                                shifts=args.shifts, angles=args.angles, scales=args.scales,
                                out=args.out)
    for sweep, _, _ in SWEEPS:
        print_table(f"test accuracy under {sweep}", *result.table(sweep))
    print(f"results: {result.out} (invariance.json, invariance.md, invariance.png)")
    return 0


def cmd_compare(args) -> int:
    from .evidence.compare import TABLE_HEADERS, compare
    from .evidence.tables import print_table

    def start(out, total):
        if args.quiet:
            return
        print(f"{total} run(s) in {out} (the same command with --out {out} continues it)",
              flush=True)

    def progress(index, total, run):
        if args.quiet:
            return
        print(f"[{index}/{total}] {run.dataset} {run.variant} seed {run.seed}: {run.status}, "
              f"test accuracy {run.test_accuracy:.4f}, train {run.train_seconds:.1f} s",
              flush=True)

    result = compare(args.datasets, args.variants, seeds=args.seeds, epochs=args.epochs,
                     train_samples=args.train_samples or None, out=args.out,
                     on_start=start, on_run=progress)
    print_table("regularizer ablation (mean ± std over seeds)", TABLE_HEADERS,
                result.table_rows(), text_columns=2)
    print(f"results: {result.out} (compare.json, compare.md, compare.png)")
    return 0


def cmd_tune(args) -> int:
    from .tune.space import load_space
    from .tune.study import TuneOptions, default_study_dir, tune

    if args.out:
        raise ConvolabError("tune writes each trial's run directory under its study folder; "
                            "drop --out (choose the folder with --study DIR)")
    base = config_from_args(args)
    options = TuneOptions(study_dir=str(args.study or default_study_dir(base)),
                          trials=args.trials, timeout=args.timeout, storage=args.storage,
                          workers=args.workers, sampler=args.sampler, pruner=args.pruner,
                          monitor=args.monitor or "val_accuracy", grace=args.grace,
                          lang=default_language(args.lang))
    options.check()  # before the space, whose checks build configs
    space = load_space(args.space, base)
    summary = tune(base, space, options, say=None if args.quiet else print)
    if args.quiet and summary["best"]:
        print(f"best trial {summary['best']['number']}: {options.monitor} "
              f"{summary['best']['value']:.4f}; {options.study_dir}/study.md")
    return 0


def cmd_serve(args) -> int:
    from .serve.server import serve

    serve(args.run_dirs, host=args.host, port=args.port, max_body_mb=args.max_body_mb,
          max_batch=args.max_batch, use_onnx=not args.no_onnx,
          say=(lambda *a, **k: None) if args.quiet else print)
    return 0


def _explain_train_numpy_parser() -> argparse.ArgumentParser:
    """The flags of `convolab explain train-numpy` (see cmd_explain)."""
    from .explain import train_numpy as tn

    p = OneLineParser(prog="convolab explain train-numpy",
                      description="Train the NumPy reference CNN (seed-cnn, every forward and "
                                  "backward pass written in NumPy) on MNIST and save its "
                                  "weights.")
    p.add_argument("--epochs", type=int, default=tn.DEFAULT_EPOCHS, help="(default %(default)s)")
    p.add_argument("--batch-size", type=int, default=tn.DEFAULT_BATCH_SIZE,
                   help="(default %(default)s)")
    p.add_argument("--lr", type=float, default=tn.DEFAULT_LR, help="(default %(default)s)")
    p.add_argument("--optimizer", choices=tn.OPTIMIZERS, default=tn.DEFAULT_OPTIMIZER,
                   help="adam (Keras defaults) or sgd (momentum 0.9) (default %(default)s)")
    p.add_argument("--train-samples", type=int, metavar="N",
                   help="stratified subset of the 60,000 training images")
    p.add_argument("--seed", type=int, default=0, help="(default %(default)s)")
    p.add_argument("--out", metavar="FILE.npz",
                   help="weights file (default runs/numpy-seed-cnn-mnist-<time>.npz)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    return p


def _explain_image_parser() -> argparse.ArgumentParser:
    """The arguments of `convolab explain RUN_DIR IMAGE` after RUN_DIR (see cmd_explain)."""
    p = OneLineParser(prog="convolab explain RUN_DIR IMAGE",
                      description="Walk one image through a trained CNN layer by layer, in "
                                  "NumPy with the run's weights, and write it as a page.")
    p.add_argument("image", metavar="IMAGE", help="an image file, or test:INDEX for the "
                                                  "INDEX-th test image")
    p.add_argument("--position", type=int, nargs=2, metavar=("ROW", "COL"),
                   help="output position of the first convolution to write out (default: "
                        "its largest value)")
    p.add_argument("--html", metavar="FILE", help="page (default RUN_DIR/explain/<image>.html)")
    p.add_argument("--no-terminal", action="store_true", help="write the page only")
    p.add_argument("--lang", default=None, metavar="en|es",
                   help="the page's language (default: $CONVOLAB_LANG, else en)")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    return p


def default_language(lang: str | None) -> str:
    """--lang, else $CONVOLAB_LANG, else English; checked."""
    from .i18n import DEFAULT_LANGUAGE, check_language

    if lang:
        return check_language(lang)
    return check_language(os.environ.get("CONVOLAB_LANG") or DEFAULT_LANGUAGE,
                          "CONVOLAB_LANG")


def explain_form_parser(target: str) -> argparse.ArgumentParser:
    """The parser of the rest of an `explain` line, by its first word (see cmd_explain)."""
    return _explain_train_numpy_parser() if target == "train-numpy" else _explain_image_parser()


def cmd_explain(args) -> int:
    # `explain` holds forms told apart by their first word, e.g.
    #   convolab explain train-numpy [flags]     train the NumPy reference CNN
    #   convolab explain RUN_DIR IMAGE [flags]   walk one image through a trained CNN
    # The `explain` parser reads only that word (`target`) and keeps the other words
    # unparsed (`rest`); each form parses `rest` with its own parser, so the forms' flags
    # never clash and a form such as `explain RUN_DIR IMAGE [flags]` fits beside this one.
    form = explain_form_parser(args.target)
    if args.target == "train-numpy":
        from .explain.train_numpy import train_numpy_command

        opts = vars(form.parse_args(args.rest))
        opts.pop("verbose")
        opts["quiet"] = opts["quiet"] or args.quiet
        train_numpy_command(**opts)
        return 0
    from .explain.walk_command import check_target, explain_command

    check_target(args.target)
    opts = form.parse_args(args.rest)
    result, page = explain_command(args.target, opts.image, position=opts.position,
                                   html=opts.html, terminal=not opts.no_terminal,
                                   lang=default_language(opts.lang))
    print(f"{result.source}: {result.predicted_name} "
          f"({result.probabilities[result.predicted]:.3f}); page: {page}")
    return 0


def cmd_show(args) -> int:
    from .explain.pictures import show

    print(show(args.kind, args.run_dir, args.image, out=args.out, class_name=args.class_name,
               n=args.n))
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other convolab error."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"convolab: error: {self.prog}: {message} "
                                   f"(see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="convolab", description="Train, evaluate and use Keras CNN image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true",
                        help="no progress output (results and errors only)")
    common.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own log lines (or set CONVOLAB_VERBOSE=1)")

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        """A subcommand's parser, with the flags every command takes."""
        return sub.add_parser(name, parents=[common], **kwargs)

    p = add("train", help="train a model and write a run directory")
    _add_train_flags(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--lang", metavar="en|es",
                   help="the language of report.html (default: $CONVOLAB_LANG, else en)")
    p.set_defaults(func=cmd_train)

    p = add("config", help="print the resolved config (same flags as train)")
    _add_train_flags(p)
    p.add_argument("--list", action="store_true", help="list the config presets")
    p.set_defaults(func=cmd_config)

    p = add("lr-find", help="learning-rate range test: suggest a --lr for a config (same "
                            "flags as train)",
            description="Train a fresh copy of the config's model while the learning rate "
                        "grows exponentially every step; suggest a learning rate from the "
                        "loss curve. --out DIR is the folder for lr_find.json and "
                        "lr_find.png (default runs/lr-find-<model>-<data>-<time>); no run "
                        "directory is written.")
    _add_train_flags(p)
    p.add_argument("--steps", type=int, metavar="N",
                   help="most training steps (default: one epoch, kept within 100 to 300)")
    p.add_argument("--start-lr", type=float, metavar="X", help="first learning rate "
                                                                  "(default 1e-7)")
    p.add_argument("--end-lr", type=float, metavar="X", help="last learning rate (default 10)")
    p.set_defaults(func=cmd_lr_find)

    p = add("data", help="fetch or describe a dataset")
    p.add_argument("action", choices=["fetch", "info", "list"])
    p.add_argument("name", nargs="?", help="mnist, fashion_mnist, digits, folder:PATH, npz:PATH")
    p.add_argument("--from", dest="source_dir", metavar="DIR",
                   help="folder holding the dataset's files (IDX, IDX.gz or npz)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)

    p = add("models", help="list model presets or show one's summary")
    p.add_argument("--show", metavar="NAME", help="preset name or YAML spec file")
    p.add_argument("--input-shape", default="28x28x1", help="HxWxC for --show")
    p.add_argument("--num-classes", type=int, default=10)
    p.set_defaults(func=cmd_models)

    p = add("backbones", help="list the ImageNet bases for transfer learning (--backbone)")
    p.set_defaults(func=cmd_backbones)

    p = add("evaluate", help="recompute a run's test metrics")
    p.add_argument("run_dir")
    p.add_argument("--dataset", help="evaluate on another dataset with the same image shape")
    p.add_argument("--tta", metavar="KIND", help=TTA_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = add("predict", help="classify image files or folders with a trained run")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--tta", metavar="KIND", help=TTA_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = add("imagenet", help="classify photos into the 1000 ImageNet classes (real weights)")
    p.add_argument("photos", nargs="+", metavar="PHOTO_OR_FOLDER")
    p.add_argument("--backbone", default="efficientnet_lite0",
                   help="any of `convolab backbones` (default %(default)s; the Lite ones "
                        "need only a package index, the others the Keras weights host or "
                        "--weights)")
    p.add_argument("--weights", metavar="imagenet|PATH", default=None,
                   help="a local weights file of the whole classifier, with its top")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_imagenet)

    p = add("export", help="export a run's model to ONNX or a TF SavedModel")
    p.add_argument("run_dir")
    p.add_argument("--format", required=True, help="onnx or tf_saved_model")
    p.add_argument("--out", metavar="PATH",
                   help="default RUN_DIR/export/model.onnx or RUN_DIR/export/saved_model")
    p.add_argument("--check-samples", type=int, metavar="N",
                   help="compare with Keras on the first N test images (default: all; 0: none)")
    p.add_argument("--force", action="store_true", help="overwrite an existing export")
    p.set_defaults(func=cmd_export)

    from .evidence import compare as cmp
    from .evidence import invariance as inv

    p = add("invariance", help="test accuracy of runs under shifted, rotated and scaled "
                               "test images")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--samples", type=int, default=inv.DEFAULT_SAMPLES,
                   help="test images (seeded subset; 0: all) (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset (default 0)")
    p.add_argument("--shifts", type=int, nargs="+", default=inv.DEFAULT_SHIFTS, metavar="PX",
                   help="shifts in pixels, each right/left/down/up (default 0..8)")
    p.add_argument("--angles", type=float, nargs="+", default=inv.DEFAULT_ANGLES,
                   metavar="DEG", help="rotations, counter-clockwise (default -60..60 step 10)")
    p.add_argument("--scales", type=float, nargs="+", default=inv.DEFAULT_SCALES,
                   metavar="F", help="size factors (default 0.5..1.5 step 0.1)")
    p.add_argument("--out", metavar="DIR", help="default RUN_DIR/invariance for one run, "
                                                "runs/invariance-<time> for several")
    p.set_defaults(func=cmd_invariance)

    p = add("compare", help="ablation of the regularizers: variants x datasets x seeds, "
                            "resumable")
    p.add_argument("--datasets", nargs="+", default=list(cmp.DEFAULT_DATASETS), metavar="NAME")
    p.add_argument("--variants", nargs="+", default=list(cmp.VARIANTS), metavar="NAME",
                   help=f"any of {', '.join(cmp.VARIANTS)} (default: all six)")
    p.add_argument("--seeds", type=int, default=cmp.DEFAULT_SEEDS,
                   help="seeds per variant (default %(default)s)")
    p.add_argument("--epochs", type=int, default=cmp.DEFAULT_EPOCHS,
                   help="(default %(default)s)")
    p.add_argument("--train-samples", type=int, default=cmp.DEFAULT_TRAIN_SAMPLES, metavar="N",
                   help="stratified training subset; 0: all (default %(default)s)")
    p.add_argument("--out", metavar="DIR", help="runs and results; the same DIR again skips "
                                                "finished runs (default runs/compare-<time>)")
    p.set_defaults(func=cmd_compare)

    from .tune import study as tn

    p = add("tune", help="search learning rate, batch size, epochs, regularization (any "
                         "config field) with Optuna; resumable, pruned, several workers",
            description="Run an Optuna study: each trial trains the config (same flags as "
                        "train) with values drawn from --space, scored on the validation "
                        "split by --monitor (val_accuracy or val_loss; default val_accuracy). "
                        "The same command continues a study.")
    _add_train_flags(p)
    p.add_argument("--space", metavar="SPACE.yaml",
                   help="the fields to search and their ranges (default: lr, batch size, "
                        "epochs, dropout and L2)")
    p.add_argument("--trials", type=int, default=20,
                   help="trials the study should have in all (default %(default)s)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="start no new trial after S seconds")
    p.add_argument("--study", metavar="DIR",
                   help="the study folder (default studies/<model>-<dataset>)")
    p.add_argument("--storage", metavar="URL",
                   help="a database shared by several machines, e.g. "
                        "postgresql://user:pw@host/db (default: a journal file in the folder)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on this machine (default %(default)s)")
    p.add_argument("--sampler", default="tpe", help=f"{', '.join(tn.SAMPLERS)} "
                                                    f"(default %(default)s)")
    p.add_argument("--pruner", default="median", help=f"{', '.join(tn.PRUNERS)} "
                                                      f"(default %(default)s)")
    p.add_argument("--lang", metavar="en|es",
                   help="the language of the reports (default: $CONVOLAB_LANG, else en)")
    p.add_argument("--grace", type=float, default=tn.st.DEFAULT_GRACE_SECONDS, metavar="S",
                   help="a trial silent for S seconds lost its worker and runs again "
                        "(default %(default)s)")
    p.set_defaults(func=cmd_tune)

    from .serve.limits import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES

    p = add("serve", help="serve runs over HTTP: the prediction API (TensorFlow Serving's "
                          "REST shape) and its /docs")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="(default %(default)s)")
    p.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20,
                   metavar="MB", help="largest request body (default %(default)g MB; 413 "
                                      "above)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, metavar="N",
                   help="most instances in one predict request (default %(default)s)")
    p.add_argument("--no-onnx", action="store_true",
                   help="predict through Keras even where the run has an ONNX export")
    p.set_defaults(func=cmd_serve)

    p = add("explain", help="look inside a CNN: `explain RUN_DIR IMAGE` walks an image "
                            "through it; `explain train-numpy` trains the NumPy reference CNN",
            description="`convolab explain RUN_DIR IMAGE [flags]` walks one image through a "
                        "trained CNN layer by layer (see `convolab explain RUN_DIR --help`); "
                        "`convolab explain train-numpy [flags]` trains the NumPy reference "
                        "CNN (see `convolab explain train-numpy --help`).")
    p.add_argument("target", metavar="RUN_DIR|train-numpy", help="a run directory or train-numpy")
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="...",
                   help="that form's arguments and flags")
    p.set_defaults(func=cmd_explain)

    p = add("show", help="draw a trained model's filters, feature maps, saliency or top "
                         "losses as a PNG")
    p.add_argument("kind", choices=["filters", "feature-maps", "saliency", "top-losses"])
    p.add_argument("run_dir")
    p.add_argument("image", nargs="?", metavar="IMAGE",
                   help="feature-maps and saliency: an image file or test:INDEX")
    p.add_argument("--out", metavar="FILE.png", help="default RUN_DIR/plots/<kind>[-<image>].png")
    p.add_argument("--class", dest="class_name", metavar="CLASS",
                   help="saliency: the class to explain (default: the predicted one)")
    p.add_argument("--n", type=int, help="top-losses: how many images (default 16)")
    p.set_defaults(func=cmd_show)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """convolab's own warnings as one line; anyone else's in Python's usual form."""
    if issubclass(category, UserWarning) and f"{os.sep}convolab{os.sep}" in filename:
        print(f"convolab: warning: {message}", file=file or sys.stderr)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOWWARNING = warnings.showwarning


def _quiet_native_logs(verbose: bool) -> None:
    """TensorFlow's start-up chatter off stderr unless asked for (see native_logs.py).

    TF_CPP_MIN_LOG_LEVEL is left as the user has it: it does not silence those lines, and
    at 1 or 2 the end of every `fit` with validation took 1-1.7 s longer (measured with a
    10,000-image seed-cnn run, TensorFlow 2.21 CPU).
    """
    from . import native_logs

    if verbose:
        os.environ["CONVOLAB_VERBOSE"] = "1"
        return
    native_logs.quiet_import()


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    _quiet_native_logs(getattr(args, "verbose", False) or "--verbose" in words)
    from .progress import set_quiet

    set_quiet(getattr(args, "quiet", False))
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = args.func(args)
    except ConvolabError as exc:
        print(f"convolab: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        hint = (" (continue training with `convolab train --resume RUN_DIR`)"
                if args.command == "train" else "")
        print(f"convolab: interrupted{hint}", file=sys.stderr)
        return 130
    if args.command == "train":
        print(f"wall time {time.perf_counter() - started:.1f} s (this command, from its start)")
    return code


def run() -> None:
    """The `convolab` console script: `main()`, then exit.

    Before exiting, every object is moved out of the garbage collector's reach
    (`gc.freeze`): the collection Python runs at exit walks every object TensorFlow and
    Keras created, which took ~2 s on a 2-core CPU and gained nothing; the operating system
    frees the memory at once. Files are all closed by then.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
