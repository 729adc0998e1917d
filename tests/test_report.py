"""Plots (PNG files) and the HTML report of a run directory."""

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import yaml
from PIL import Image

from convolab.errors import ConvolabError
from convolab.evaluate import compute_metrics
from convolab.report import (plot_confusion_matrix, plot_learning_curves, plot_misclassified,
                             write_report)

CLASSES = ["zero", "one", "<b>&", "three"]


def _write_history(path, epochs=5, columns=("accuracy", "loss", "lr", "val_accuracy",
                                            "val_loss")):
    lines = [",".join(("epoch",) + tuple(columns))]
    for e in range(epochs):
        values = {"accuracy": 0.7 + 0.05 * e, "loss": 1.0 / (e + 1), "lr": 0.001 * (e + 1),
                  "val_accuracy": 0.68 + 0.05 * e, "val_loss": 1.1 / (e + 1)}
        lines.append(",".join([str(e)] + [repr(values[c]) for c in columns]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _fake_predictions(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES))) + 1.2 * np.eye(len(CLASSES))[y_true]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    x = rng.integers(0, 256, size=(n, 12, 12, 1), dtype=np.uint8)
    return x, y_true, probs


def _open_png(path):
    path = Path(path)
    assert path.is_file() and path.stat().st_size > 2000
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        pixels = np.asarray(img.convert("L"))
    assert pixels.std() > 5  # something was drawn
    return img.size


def _no_temp_files(folder):
    assert not [p.name for p in Path(folder).iterdir() if p.name.startswith(".")]


def test_learning_curves_with_and_without_lr(tmp_path):
    full = plot_learning_curves(_write_history(tmp_path / "h1.csv"), tmp_path / "full.png")
    assert full == tmp_path / "full.png"
    width, height = _open_png(full)
    assert 900 < width < 1600 and 300 < height < 600

    train_only = _write_history(tmp_path / "h2.csv", columns=("accuracy", "loss"))
    narrow_w, narrow_h = _open_png(plot_learning_curves(train_only, tmp_path / "narrow.png"))
    assert narrow_w < width and narrow_h == height  # no learning-rate panel
    _no_temp_files(tmp_path)


def test_learning_curves_reject_missing_or_empty_history(tmp_path):
    with pytest.raises(ConvolabError, match="does not exist"):
        plot_learning_curves(tmp_path / "missing.csv", tmp_path / "x.png")
    header_only = tmp_path / "history.csv"
    header_only.write_text("epoch,accuracy,loss\n")
    with pytest.raises(ConvolabError, match="no epochs"):
        plot_learning_curves(header_only, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_confusion_matrix_grows_with_the_classes(tmp_path):
    small = plot_confusion_matrix([[5, 1], [0, 7]], ["a", "b"], tmp_path / "cm2.png")
    w2, h2 = _open_png(small)
    many = [f"class {k}" for k in range(12)]
    cm = np.diag(np.arange(1, 13)) + 1
    w12, h12 = _open_png(plot_confusion_matrix(cm, many, tmp_path / "cm12.png",
                                               normalize=False))
    assert 400 < w2 < 1000 and 400 < h2 < 1000
    assert w12 > w2 and h12 > h2


def test_confusion_matrix_with_an_empty_row_and_a_wrong_shape(tmp_path):
    _open_png(plot_confusion_matrix([[3, 0, 0], [0, 0, 0], [1, 0, 2]], ["a", "b", "c"],
                                    tmp_path / "cm.png"))
    with pytest.raises(ConvolabError, match="3 class names"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b", "c"], tmp_path / "bad.png")


def test_misclassified_grid(tmp_path):
    x, y_true, probs = _fake_predictions()
    y_pred = probs.argmax(axis=1)
    mistakes = int((y_true != y_pred).sum())
    assert 6 < mistakes < 60
    w_all, h_all = _open_png(plot_misclassified(x, y_true, y_pred, probs, CLASSES,
                                                tmp_path / "all.png"))
    w_few, h_few = _open_png(plot_misclassified(x, y_true, y_pred, probs, CLASSES,
                                                tmp_path / "few.png", max_images=3))
    assert w_few < w_all and h_few < h_all
    rgb = np.repeat(x, 3, axis=3)
    _open_png(plot_misclassified(rgb, y_true, y_pred, probs, CLASSES, tmp_path / "rgb.png"))


def test_misclassified_without_mistakes_says_so(tmp_path):
    x, y_true, probs = _fake_predictions(10)
    out = plot_misclassified(x, y_true, y_true, probs, CLASSES, tmp_path / "none.png")
    width, height = _open_png(out)
    assert width < 600 and height < 300


def _fake_run(run_dir, with_optional_files=True):
    """A run directory as training writes it, from fake predictions."""
    x, y_true, probs = _fake_predictions()
    y_pred = probs.argmax(axis=1)
    metrics = compute_metrics(y_true, probs, CLASSES)
    metrics.update(model="seed-cnn", dataset="mnist", train_seconds=75.2, epochs_run=5,
                   best_epoch=4)
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    plots = run_dir / "plots"
    plot_learning_curves(_write_history(run_dir / "history.csv"), plots / "learning_curves.png")
    plot_confusion_matrix(metrics["confusion_matrix"], CLASSES, plots / "confusion_matrix.png")
    plot_misclassified(x, y_true, y_pred, probs, CLASSES, plots / "misclassified.png")
    plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b"], plots / "extra" / "my plot.png")
    if with_optional_files:
        config = {"data": {"name": "mnist"}, "model": {"name": "seed-cnn"},
                  "train": {"epochs": 5, "lr": 0.003}}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
        (run_dir / "environment.json").write_text(json.dumps(
            {"keras": "3.15.1", "backend": "tensorflow", "cpu": {"cores": 2}}))
    return metrics


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])
        if tag in ("script", "link", "iframe"):
            self.scripts += 1


def test_report_shows_metrics_plots_and_escaped_names(tmp_path):
    run = tmp_path / "run"
    metrics = _fake_run(run)

    out = write_report(run)

    assert out == run / "report.html"
    page = out.read_text(encoding="utf-8")
    assert f"{100 * metrics['test_accuracy']:.2f}%" in page
    assert f"{metrics['test_loss']:.4f}" in page
    assert "seed-cnn on mnist" in page
    assert "1 min 15 s" in page
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page
    assert "lr: 0.003" in page and "tensorflow" in page and "cpu.cores" in page
    parser = _Images()
    parser.feed(page)
    assert parser.srcs[:3] == ["plots/learning_curves.png", "plots/confusion_matrix.png",
                               "plots/misclassified.png"]
    assert parser.srcs[3] == "plots/extra/my%20plot.png"
    for src in parser.srcs:
        assert (run / unquote(src)).is_file()
    assert parser.scripts == 0 and "http" not in page
    _no_temp_files(run)


def test_report_tolerates_missing_optional_files(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    page = write_report(run).read_text(encoding="utf-8")
    assert "50.00%" in page
    assert "config.yaml not found" in page
    assert "No plots" in page and "No per-class scores" in page


def test_report_takes_names_from_the_config(tmp_path):
    run = tmp_path / "run"
    _fake_run(run)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["model"], metrics["dataset"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"data": {"name": "fashion_mnist"}, "model": {"name": "lenet<5>"}}))
    page = write_report(run).read_text(encoding="utf-8")
    assert "lenet&lt;5&gt; on fashion_mnist" in page


def test_report_without_metrics_names_the_run_dir(tmp_path):
    run = tmp_path / "unfinished-run"
    run.mkdir()
    with pytest.raises(ConvolabError, match="unfinished-run.*metrics.json"):
        write_report(run)
    assert not (run / "report.html").exists()
    with pytest.raises(ConvolabError, match="does not exist"):
        write_report(tmp_path / "nowhere")


def test_phase_boundaries_of_a_transfer_history():
    from convolab.report.plots import phase_boundaries

    assert phase_boundaries(None, [1, 2, 3]) == []
    assert phase_boundaries([1, 1, 1], [1, 2, 3]) == []
    assert phase_boundaries([1, 1, 2, 2], [1, 2, 3, 4]) == [2.5]


def test_learning_curves_mark_where_fine_tuning_begins(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate\n"
                       "0,1,1.0,0.5,1.1,0.4,0.003\n1,2,0.8,0.6,0.9,0.5,0.0001\n"
                       "2,2,0.6,0.7,0.8,0.6,0.0001\n")
    path = plot_learning_curves(history, tmp_path / "curves.png")
    assert path.is_file() and path.stat().st_size > 0


def test_report_in_spanish_and_the_run_keeps_its_language(tmp_path):
    from convolab.report import render_report, write_report

    run_dir = tmp_path / "run"
    _fake_run(run_dir)
    page = render_report(run_dir, "es")
    assert '<html lang="es">' in page and "exactitud en test" in page
    assert "Resultados por clase" in page and "Matriz de confusión" in page
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["report_language"] = "es"  # what `convolab train --lang es` records
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    write_report(run_dir)  # as `explain` and `show` rewrite it: the run's own language
    assert '<html lang="es">' in (run_dir / "report.html").read_text()
    assert '<html lang="en">' in render_report(run_dir, "en")
