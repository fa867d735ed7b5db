"""The notebooks' plots, out of the way of the text: each function knows no task, takes data frames, arrays and labels,
and returns the matplotlib Figure.

A function given `ax` draws into that panel of a larger figure (made with `plt.subplots`); without one it makes its
own. `save` lays a figure out and writes it. Nothing here shows a figure: the notebook does (`plt.show()`, or
`display()` for a plot that updates while a loop runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

REFERENCE = {"color": "grey", "ls": "--", "lw": 1}   # a chance level or a zero line
TARGET = {"color": "green", "ls": ":", "lw": 1}      # a level we aim for

# One colour per model everywhere, in every notebook's figures: a label is matched by its first word, any case
# ("PPO", "ppo policy", "RLOO", "DPO beta 0.1"); other labels get matplotlib's cycle.
METHOD_COLOURS = {"untuned": "#8c564b", "base": "#8c564b", "sft": "#7f7f7f", "ppo": "#1f77b4", "rloo": "#ff7f0e",
                  "dpo": "#2ca02c", "reward_model": "#9467bd", "reward_model_clean": "#c5b0d5", "reward": "#9467bd"}


def method_colour(label) -> str | None:
    """The colour of the model a label names (METHOD_COLOURS), else None."""
    if label is None:
        return None
    words = str(label).strip().lower().replace("-", " ").split()
    if not words:
        return None
    key = str(label).strip().lower().replace(" ", "_")
    return METHOD_COLOURS.get(key) or METHOD_COLOURS.get(words[0])


def shades(method: str, n: int) -> list:
    """n colours for n variants of one method (a DPO sweep): the method's own colour first, then darker shades of
    its hue, so that no variant takes another method's colour."""
    import matplotlib.colors as mcolors
    base = np.array(mcolors.to_rgb(method_colour(method) or "grey"))
    return [tuple(base * (1 - 0.6 * i / max(1, n - 1))) if i else tuple(base) for i in range(n)]


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5, 3.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _legend(ax: Axes, fontsize: float | None = None) -> None:
    """A legend only when something carries a label."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize)


def _levels(ax: Axes, hline: float | None, hline_label: str | None, target: float | None) -> None:
    if hline is not None:
        ax.axhline(hline, label=hline_label, **REFERENCE)
    if target is not None:
        ax.axhline(target, **TARGET)


def lines(series: pd.Series | Mapping[str, pd.Series], ax: Axes | None = None, *, title: str = "", xlabel: str = "step",
          ylabel: str | None = None, style: str | Sequence[str] = "o-", alpha: float = 1.0, ylim=None,
          hline: float | None = None, hline_label: str | None = None, target: float | None = None,
          legend_size: float | None = None, colors: Sequence | None = None) -> Figure:
    """Each series against its index, labelled by its key (one series: no label); `style` is one matplotlib format or
    one per series; colours: `colors`, else the method a label names; `hline` draws a reference level (grey, dashed),
    `target` a level aimed for (green, dotted)."""
    ax = _axes(ax)
    series = {None: series} if isinstance(series, pd.Series) else series
    styles = [style] * len(series) if isinstance(style, str) else list(style)
    colors = list(colors) if colors is not None else [method_colour(label) for label in series]
    for (label, s), fmt, colour in zip(series.items(), styles, colors):
        ax.plot(s.index, s.values, fmt, label=label, alpha=alpha, color=colour)
    _levels(ax, hline, hline_label, target)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(ylim)
    _legend(ax, legend_size)
    return ax.figure


def metric_grid(log: pd.DataFrame, panels: Sequence[tuple[str, str]], *, x: str = "step",
                smooth: Mapping[str, int] | None = None, group: tuple[str, str] | None = None, ncols: int = 5,
                title: str | None = None) -> Figure:
    """A training log as a grid of small panels, one per (column, title); a column missing from the log leaves its
    panel empty. `smooth` {column: window} adds the running mean over `window` rows; `group` (prefix, title) draws
    every column starting with the prefix into one more panel. Panels left over are switched off."""
    smooth = smooth or {}
    n = len(panels) + (1 if group else 0)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax, (key, label) in zip(flat, panels):
        if key in log:
            ax.plot(log[x], log[key], "o-", ms=3, alpha=0.4 if key in smooth else 1.0)
            window = smooth.get(key)
            if window and len(log) >= window:
                ax.plot(log[x], log[key].rolling(window).mean(), "-", color="C3", lw=2,
                        label=f"mean of the last {window} steps")
                ax.legend(fontsize=7)
        ax.set(title=label, xlabel=x)
    if group:
        prefix, label = group
        ax = flat[len(panels)]
        for key in (k for k in log if k.startswith(prefix)):
            ax.plot(log[x], log[key], "o-", ms=3, label=key[len(prefix):])
        ax.set(title=label, xlabel=x)
        _legend(ax, 7)
    for ax in flat[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bars(values: pd.Series | Mapping[str, float], ax: Axes | None = None, *, title: str = "", ylabel: str | None = None,
         colors: Sequence[str] | None = None, errors: Mapping[str, Sequence[float]] | None = None, ylim=None,
         hline: float | None = None) -> Figure:
    """One bar per label; `errors` {label: (lo, hi)} draws an interval on those bars; `hline` a reference level."""
    ax = _axes(ax)
    values = pd.Series(values, dtype=float)
    ax.bar(list(values.index), values.values, color=colors or [method_colour(k) or f"C{i}" for i, k in enumerate(values.index)])
    _levels(ax, hline, None, None)
    for label, (lo, hi) in (errors or {}).items():
        i, v = list(values.index).index(label), values[label]
        ax.errorbar([i], [v], yerr=[[v - lo], [hi - v]], fmt="none", color="k", capsize=4)
    ax.set(title=title, ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(ylim)
    return ax.figure


def histograms(samples: np.ndarray | Mapping[str, np.ndarray], ax: Axes | None = None, *, bins: int = 10,
               title: str = "", xlabel: str | None = None, ylabel: str | None = None, alpha: float = 0.6,
               vline: float | None = None) -> Figure:
    """Overlaid histograms on shared bin edges, labelled by their keys (one array: no label); `vline` a reference."""
    ax = _axes(ax)
    samples = samples if isinstance(samples, Mapping) else {None: samples}
    pooled = np.concatenate([np.asarray(v, float) for v in samples.values()]) if samples else np.array([])
    edges = np.histogram_bin_edges(pooled, bins=bins) if len(pooled) else bins
    for label, v in samples.items():
        ax.hist(v, bins=edges, alpha=alpha, label=label, color=method_colour(label))
    if vline is not None:
        ax.axvline(vline, color="grey", ls="--")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    _legend(ax)
    return ax.figure


def scatter(x, y, ax: Axes | None = None, *, title: str = "", xlabel: str | None = None, ylabel: str | None = None,
            size: float = 10, alpha: float = 0.6) -> Figure:
    """y against x, one dot a point."""
    ax = _axes(ax)
    ax.scatter(x, y, s=size, alpha=alpha)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax.figure


def reliability(table: pd.DataFrame | None, ax: Axes | None = None, *, title: str = "Reliability",
                xlabel: str = "predicted probability", ylabel: str = "observed rate") -> Figure:
    """A reliability diagram from a table with columns predicted, observed and n (one row a bin), dots sized by n,
    against the diagonal of perfect calibration; None draws the diagonal alone."""
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    if table is not None:
        ax.scatter(table.predicted, table.observed, s=20 + 6 * table.n)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=title)
    return ax.figure


def intervals(points: pd.DataFrame | None, x: str, y: str, ci: str, ax: Axes | None = None, *, title: str = "",
              xlabel: str | None = None, ylabel: str | None = None, hline: float | None = None,
              target: float | None = None) -> Figure:
    """One dot per row of `points` at (row[x], row[y]) with the interval row[ci] = (lo, hi) on y, labelled by the
    row's index; None or an empty frame draws the levels alone (`hline` grey dashed, `target` green dotted)."""
    ax = _axes(ax)
    for name, p in (points.iterrows() if points is not None else []):
        lo, hi = p[ci]
        ax.errorbar(p[x], p[y], yerr=[[p[y] - lo], [hi - p[y]]], fmt="o", capsize=3, label=name)
    _levels(ax, hline, None, target)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    _legend(ax, 8)
    return ax.figure


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Figure:
    """Lay the figure out and write it (PNG at `dpi`)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return fig
