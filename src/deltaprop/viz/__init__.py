"""Seeing training: plots (matplotlib, the ``[plot]`` extra, imported only when a plot is
drawn) and the backprop step-through page (plain HTML, no extra needed).

Every plot function returns the matplotlib Figure and, given ``path``, writes it as a PNG:

- :func:`plot_history`: learning curves (train/val loss and metrics, learning rate);
- :func:`plot_histories`: several runs overlaid (by epoch or by training time);
- :func:`plot_decision_boundary`: a classifier's regions on 2-feature data;
- :func:`plot_weight_histograms`: weights (or gradients) per parameter;
- :func:`plot_gradient_flow`: per-layer series over epochs, log scale.

:func:`backprop_page` writes one self-contained HTML file that steps through the forward pass,
the loss, the backward pass node by node and the weight update of a small network on one
example, with every number from the engine.
"""

from .backprop_page import backprop_page
from .plots import plot_gradient_flow, plot_histories, plot_history
from .plots_model import plot_decision_boundary, plot_weight_histograms

__all__ = [
    "backprop_page",
    "plot_decision_boundary",
    "plot_gradient_flow",
    "plot_histories",
    "plot_history",
    "plot_weight_histograms",
]
