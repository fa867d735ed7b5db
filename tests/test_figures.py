"""Figures that make their point honestly: a judge nobody asked draws no bar, and a legend names judges, not methods."""

import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers import comparison  # noqa: E402


def _win_rates(tmp_path, n_judges, human):
    task = types.SimpleNamespace(has_gold=False)
    results = {m: {"rm_win_rate_vs_sft": w, "rm_win_rate_vs_sft_ci95": [w - 0.05, w + 0.05],
                   **({"human_win_rate": 0.5, "human_win_rate_ci95": [0.3, 0.7]} if human else {})}
               for m, w in (("ppo", 0.95), ("rloo", 0.61), ("dpo", 0.51))}
    plt.close("all")
    comparison.plot_win_rates(task, results, ["ppo", "rloo", "dpo"], ["sft", "ppo", "rloo", "dpo"], 184, n_judges,
                              tmp_path / "w.png")
    ax = plt.gcf().axes[0]
    return ax, [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_judge_nobody_asked_draws_no_bar_and_the_legend_names_the_judges(tmp_path):
    ax, labels = _win_rates(tmp_path, n_judges=0, human=False)
    assert labels == ["reward model (a proxy)"] and len(ax.patches) == 3          # one bar a method
    assert len({p.get_facecolor() for p in ax.patches}) == 3                      # each in its method's colour
    ax, labels = _win_rates(tmp_path, n_judges=5, human=True)
    assert labels == ["reward model (a proxy)", "simulated judges (5, blind)"] and len(ax.patches) == 6
    legend_colours = {h.get_facecolor()[:3] for h in ax.get_legend().legend_handles}
    assert legend_colours == {matplotlib.colors.to_rgb("grey")}                   # not the first method's colour
    assert (tmp_path / "w.png").exists()


def test_variants_of_one_method_get_shades_of_its_colour_never_another_methods():
    from helpers import plots
    dpo = plots.shades("dpo", 4)
    assert dpo[0] == matplotlib.colors.to_rgb(plots.method_colour("dpo")) and len(set(dpo)) == 4
    others = {matplotlib.colors.to_rgb(plots.method_colour(m)) for m in ("ppo", "rloo", "sft", "base", "reward_model")}
    assert not others & set(dpo) and plots.shades("dpo", 1) == dpo[:1]
    plt.close("all")
    fig = plots.lines({"sigmoid-beta0.1": __import__("pandas").Series([1.0, 0.5])}, colors=dpo[:1])
    assert fig.axes[0].lines[0].get_color() == dpo[0]          # the name says no method; the colour says DPO


def test_a_histogram_named_for_a_method_is_drawn_in_that_methods_colour():
    import numpy as np

    from helpers import plots
    plt.close("all")
    fig = plots.histograms({"DPO (sigmoid-beta0.1)": np.array([-1.0, 0.2, 0.5, 1.5])}, bins=4)
    bars = fig.axes[0].patches
    assert bars and {p.get_facecolor()[:3] for p in bars} == {matplotlib.colors.to_rgb(plots.method_colour("dpo"))}


def test_the_untuned_model_is_called_untuned_and_the_judges_say_who_they_were(tmp_path):
    task = types.SimpleNamespace(has_gold=True, weights={"accuracy": 0.5, "tone": 0.5})
    results = {m: {"gold_win_rate_vs_sft": 0.5, "gold_win_rate_vs_sft_ci95": [0.4, 0.6], "human_win_rate": 0.5,
                   "human_win_rate_ci95": [0.3, 0.7], "gold_dims": {"accuracy": 0.9, "tone": 1.0}}
               for m in ("sft", "dpo", "base")}
    plt.close("all")
    comparison.plot_win_rates(task, results, ["dpo"], ["sft", "dpo", "base"], 200, 2, tmp_path / "w.png", people=True)
    left, right = plt.gcf().axes
    assert [t.get_text() for t in right.get_xticklabels()] == ["SFT", "dpo", "untuned"]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["gold recruiter", "people (2, blind)"]
    assert right.get_ylim()[1] > max(p.get_height() for p in right.patches)   # room for the legend above the bars
