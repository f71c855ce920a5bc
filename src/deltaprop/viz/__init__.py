"""Plots (matplotlib, the ``[plot]`` extra, imported only when a plot is drawn).

Every function returns the matplotlib Figure and, given ``path``, writes it as a PNG:

- :func:`plot_history`: learning curves (train/val loss and metrics, learning rate);
- :func:`plot_histories`: several runs overlaid (by epoch or by training time);
- :func:`plot_decision_boundary`: a classifier's regions on 2-feature data;
- :func:`plot_weight_histograms`: weights (or gradients) per parameter;
- :func:`plot_gradient_flow`: per-layer series over epochs, log scale.
"""

from .plots import plot_gradient_flow, plot_histories, plot_history
from .plots_model import plot_decision_boundary, plot_weight_histograms

__all__ = [
    "plot_decision_boundary",
    "plot_gradient_flow",
    "plot_histories",
    "plot_history",
    "plot_weight_histograms",
]
