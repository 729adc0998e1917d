"""A run's plots (PNG) and its self-contained HTML report."""

from .html import render_report, write_report
from .plots import history_columns, plot_confusion_matrix, plot_learning_curves, plot_misclassified

__all__ = [
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_misclassified",
    "history_columns",
    "render_report",
    "write_report",
]
