"""A run's plots (PNG) and its self-contained HTML report."""

from .html import render_report, write_report
from .plots import plot_confusion_matrix, plot_learning_curves, plot_misclassified, read_history

__all__ = [
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_misclassified",
    "read_history",
    "render_report",
    "write_report",
]
