"""`convolab show`: pictures of what a trained Keras model learned and where it looks.

    show_filters("runs/default")                          # runs/default/plots/filters.png
    show_feature_maps("runs/default", "test:0")           # .../feature_maps-test-0.png
    show_saliency("runs/default", "digit.png")            # .../saliency-digit.png
    show_top_losses("runs/default", n=16)                 # .../top_losses.png

Any Keras model works (sequential or not); the computations behind the pictures are
functions of their own (`saliency_maps`, `top_losses`). Each `show_*` writes its PNG
atomically and re-renders the run's report.html, which shows every PNG under plots/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConvolabError, did_you_mean
from ..report.plots import _short
from ..run import MODEL_FILE, PLOTS_DIR, Run
from . import figures
from .gradients import gradients
from .inputs import check_image_arg, load_input

KINDS = ("filters", "feature-maps", "saliency", "top-losses")
#: Images in the top-losses grid unless --n says otherwise.
DEFAULT_TOP_LOSSES = 16
#: Probabilities are clipped to this before the log of the loss.
EPSILON = 1e-7


def _layer_kind(layer) -> str:
    return type(layer).__name__


def _spatial(layer) -> bool:
    """True for a layer whose output is a stack of feature maps (N, H, W, C)."""
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def conv_layers(run: Run, why: str = "it has no filters or feature maps to show") -> list:
    """The model's Conv2D layers, in order, or a ConvolabError (saying `why`) if it has none."""
    layers = [layer for layer in run.model.layers if _layer_kind(layer) == "Conv2D"]
    base = None if layers else _transfer_base(run.model)
    if base is not None:
        raise ConvolabError(f"{run.path} is a transfer run: its convolutions are inside the "
                            f"{base.name} base, so {why}; `convolab show saliency` shows "
                            f"where the base looks")
    if not layers:
        raise ConvolabError(f"the model of {run.path} ({run.path / MODEL_FILE}) has no Conv2D "
                            f"layer, so {why}; train a CNN such as seed-cnn")
    return layers


def _out_path(run: Run, out: str | os.PathLike | None, name: str) -> Path:
    path = Path(out) if out is not None else run.path / PLOTS_DIR / name
    if path.suffix.lower() != ".png":
        raise ConvolabError(f"--out {path} must end in .png (the picture is a PNG image)")
    if path.is_dir():
        raise ConvolabError(f"--out {path} is a folder; give a file name ending in .png")
    return path


def _write(run: Run, fig, path: Path) -> Path:
    """Save `fig` and re-render the run's report so it shows the new picture."""
    from ..report.html import write_report

    figures.save_png(fig, path)
    write_report(run.path)
    return path


# ----------------------------------------------------------------------------- filters


def show_filters(run_dir: str | Path, out: str | os.PathLike | None = None) -> Path:
    """Every conv layer's kernels as grids (deeper layers: mean over input channels)."""
    import keras

    run = Run.load(run_dir)
    path = _out_path(run, out, "filters.png")
    layers = [(layer.name, keras.ops.convert_to_numpy(layer.kernel))
              for layer in conv_layers(run)]
    return _write(run, figures.kernels_figure(layers), path)


# ----------------------------------------------------------------------------- feature maps


def feature_maps(run: Run, pixels: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(layer name, activations (H, W, C)) of each conv and pooling layer for one image."""
    import keras

    conv_layers(run)
    layers = [layer for layer in run.model.layers if _spatial(layer) and
              (_layer_kind(layer) == "Conv2D" or _layer_kind(layer).endswith("Pooling2D"))]
    probe = keras.Model(run.model.inputs[0], [layer.output for layer in layers])
    outputs = probe(np.asarray(pixels, dtype="float32")[None])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer.name, keras.ops.convert_to_numpy(o)[0]) for layer, o in zip(layers, outputs)]


def show_feature_maps(run_dir: str | Path, image: str,
                      out: str | os.PathLike | None = None) -> Path:
    """Grids of the activations of each conv and pooling layer for IMAGE."""
    run = Run.load(run_dir)
    model_input = load_input(run, image)
    path = _out_path(run, out, f"feature_maps-{model_input.stem}.png")
    sections = [(f"{name} {tuple(maps.shape)}", maps, bool(maps.min() < 0))
                for name, maps in feature_maps(run, model_input.pixels)]
    fig = figures.grids_figure(sections, title=f"Feature maps for {model_input.source}")
    return _write(run, fig, path)


# ----------------------------------------------------------------------------- saliency


@dataclass
class Saliency:
    class_index: int
    score: str              # what was differentiated: "logit" or "log-probability"
    saliency: np.ndarray    # (H, W) |d score / d input|, max over channels, scaled to 0..1
    gradcam: np.ndarray     # (H, W) Grad-CAM upsampled to the image, 0..1
    gradcam_layer: str      # the layer whose feature maps Grad-CAM weighs
    probability: float      # the model's probability of that class
    gradcam_grid: tuple = ()  # (h, w) of those feature maps: how coarse Grad-CAM is


def _score_parts(model):
    """(tensor, finish, what): the class scores are finish(tensor), `tensor` being a
    KerasTensor of the model's graph.

    A final Dense softmax layer is split off so that the scores are its logits; otherwise
    the scores are the log of the model's probabilities.
    """
    import keras

    last = model.layers[-1]
    if _layer_kind(last) == "Dense" and getattr(last.activation, "__name__", "") == "softmax":
        def logits(features):
            z = keras.ops.matmul(features, last.kernel)
            return z + last.bias if last.use_bias else z

        return last.input, logits, "logit"
    return model.outputs[0], (lambda p: keras.ops.log(p + EPSILON)), "log-probability"


def _transfer_base(model):
    """The ImageNet base of a transfer model (`transfer.model`), or None."""
    from ..transfer.model import find_base

    try:
        return find_base(model)
    except ConvolabError:
        return None


def _gradcam_split(run: Run, target):
    """(name, model input -> its feature maps, its feature maps -> `target`).

    The feature maps are the last Conv2D layer's or, when the network cannot be cut there
    (a skip connection goes around it), those of the first later layer where it can. In a
    transfer model they are the base's output, its last convolutional stage.
    """
    import keras

    model = run.model
    base = _transfer_base(model)
    if base is not None:
        maps = model.get_layer("avg_pool").input
        return (f"{base.name} ({base.layers[-1].name})", keras.Model(model.inputs[0], maps),
                keras.Model(maps, target))
    layers = model.layers
    last_conv = max(i for i, layer in enumerate(layers) if _layer_kind(layer) == "Conv2D")
    for layer in [layers[last_conv]] + [lay for lay in layers[last_conv + 1:] if _spatial(lay)]:
        try:
            rest = keras.Model(layer.output, target)
        except ValueError:  # not every path to the output starts at this layer
            continue
        return layer.name, keras.Model(model.inputs[0], layer.output), rest
    raise ConvolabError(f"Grad-CAM: the model of {run.path} cannot be cut after its last "
                        f"convolution; saliency needs a CNN whose last feature maps lead to "
                        f"the output alone")


def _upsample(heat: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.float32)


def _unit(a: np.ndarray) -> np.ndarray:
    """`a` scaled to 0..1 by its maximum (all zeros stay zeros)."""
    top = float(a.max())
    return np.clip(a / top, 0.0, 1.0) if top > 0 else np.zeros_like(a)


def saliency_maps(run: Run, pixels: np.ndarray, class_index: int | None = None) -> Saliency:
    """Vanilla gradient saliency and Grad-CAM for one image (H, W, C) and one class
    (default: the predicted one)."""
    import keras

    x = np.asarray(pixels, dtype="float32")[None]              # (1, H, W, C)
    probs = run.predict(x)[0]
    c = int(np.argmax(probs)) if class_index is None else int(class_index)
    if _transfer_base(run.model) is None:
        conv_layers(run, "Grad-CAM has no feature maps to weigh")
    target, finish, score = _score_parts(run.model)
    body = keras.Model(run.model.inputs[0], target)
    grad = gradients(lambda v: finish(body(v)), x, c)[0]        # (H, W, C)
    saliency = _unit(np.abs(grad).max(axis=-1))
    layer_name, features_model, rest = _gradcam_split(run, target)
    features = keras.ops.convert_to_numpy(features_model(x))    # (1, h, w, k)
    dfeat = gradients(lambda a: finish(rest(a)), features, c)[0]  # (h, w, k)
    weights = dfeat.mean(axis=(0, 1))                           # (k,) one per feature map
    cam = np.maximum((features[0] * weights).sum(axis=-1), 0)   # (h, w)
    gradcam = _unit(_upsample(_unit(cam), x.shape[1], x.shape[2]))
    return Saliency(c, score, saliency, gradcam, layer_name, float(probs[c]),
                    tuple(int(n) for n in cam.shape))


def class_index(run: Run, name: str | None) -> int | None:
    """The index of a class given by name (or by index when no class has that name)."""
    if name is None:
        return None
    names = run.class_names
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    raise ConvolabError(f"--class {name!r} is not a class of {run.path}{did_you_mean(name, names)}"
                        f"; use one of {', '.join(names)} or an index from 0 to "
                        f"{len(names) - 1}")


def show_saliency(run_dir: str | Path, image: str, out: str | os.PathLike | None = None,
                  class_name: str | None = None) -> Path:
    """The image, its gradient saliency and its Grad-CAM side by side."""
    run = Run.load(run_dir)
    c = class_index(run, class_name)
    model_input = load_input(run, image)
    path = _out_path(run, out, f"saliency-{model_input.stem}.png")
    maps = saliency_maps(run, model_input.pixels, c)
    name = run.class_names[maps.class_index]
    fig = figures.heatmaps_figure(model_input.pixels, [
        (f"saliency |d {maps.score} / d input|", maps.saliency, False),
        (f"Grad-CAM on {maps.gradcam_layer}, {maps.gradcam_grid[0]}x{maps.gradcam_grid[1]}",
         maps.gradcam, True)],
        f"{model_input.source}: {'class' if class_name else 'predicted class'} {name} "
        f"(p = {maps.probability:.3f})")
    return _write(run, fig, path)


# ----------------------------------------------------------------------------- top losses


@dataclass
class TopLosses:
    indices: np.ndarray     # (n,) test-set indices, highest loss first
    images: np.ndarray      # (n, H, W, C) those test images
    losses: np.ndarray      # (n,) -log p(true class)
    true: np.ndarray        # (n,)
    predicted: np.ndarray   # (n,)
    probability: np.ndarray  # (n,) the probability of the predicted class
    wrong: int              # misclassified images in the whole test set
    total: int


def top_losses(run: Run, n: int = DEFAULT_TOP_LOSSES) -> TopLosses:
    """The n test images with the highest cross-entropy loss."""
    if n < 1:
        raise ConvolabError(f"--n must be at least 1, got {n}")
    ds = run.test_set()
    probs = run.predict(ds.x_test)
    y = np.asarray(ds.y_test).ravel()
    losses = -np.log(np.clip(probs[np.arange(len(y)), y], EPSILON, 1.0))
    order = np.argsort(-losses, kind="stable")[:n]
    pred = probs.argmax(axis=1)
    return TopLosses(order, ds.x_test[order], losses[order], y[order], pred[order],
                     probs[order, pred[order]], int((pred != y).sum()), len(y))


def show_top_losses(run_dir: str | Path, n: int = DEFAULT_TOP_LOSSES,
                    out: str | os.PathLike | None = None) -> Path:
    """A grid of the test images with the highest loss: true → predicted, p, loss."""
    run = Run.load(run_dir)
    path = _out_path(run, out, "top_losses.png")
    top = top_losses(run, n)
    names = run.class_names
    titles = [f"#{i} {_short(names[t], 8)}→{_short(names[p], 8)}\n"
              f"p {q:.2f}, loss {loss:.2f}"
              for i, t, p, q, loss in zip(top.indices, top.true, top.predicted,
                                          top.probability, top.losses)]
    fig = figures.examples_figure(top.images, titles, f"Top {len(top.indices)} losses of "
                                             f"{top.total} test images ({top.wrong} "
                                             f"misclassified): true→predicted, p of the "
                                             f"prediction")
    return _write(run, fig, path)


# ----------------------------------------------------------------------------- dispatch


def show(kind: str, run_dir: str | Path, image: str | None = None,
         out: str | os.PathLike | None = None, class_name: str | None = None,
         n: int | None = None) -> Path:
    """`convolab show KIND RUN_DIR [IMAGE]`: check which arguments KIND takes, draw it."""
    if kind not in KINDS:
        raise ConvolabError(f"`convolab show {kind}`: unknown picture{did_you_mean(kind, KINDS)}; "
                            f"use one of {', '.join(KINDS)}")
    needs_image = kind in ("feature-maps", "saliency")
    if needs_image and image is None:
        raise ConvolabError(f"`convolab show {kind} {run_dir}` needs an IMAGE: an image file or "
                            f"test:INDEX for a test image")
    if not needs_image and image is not None:
        what = "the model's kernels" if kind == "filters" else "the whole test set"
        raise ConvolabError(f"`convolab show {kind}` takes no IMAGE (got {image!r}); it draws "
                            f"{what}")
    if class_name is not None and kind != "saliency":
        raise ConvolabError(f"--class is for `convolab show saliency`, not {kind}")
    if n is not None and kind != "top-losses":
        raise ConvolabError(f"--n is for `convolab show top-losses`, not {kind}")
    Run.load(run_dir)
    if image is not None:
        check_image_arg(image)
    if kind == "filters":
        return show_filters(run_dir, out)
    if kind == "feature-maps":
        return show_feature_maps(run_dir, image, out)
    if kind == "saliency":
        return show_saliency(run_dir, image, out, class_name)
    return show_top_losses(run_dir, DEFAULT_TOP_LOSSES if n is None else n, out)
