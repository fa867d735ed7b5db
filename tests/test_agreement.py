"""Agreement statistics against published hand-worked examples, and the annotator checks on known behaviour."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers import agreement


def test_cohen_kappa_worked_example():
    """Two raters, 50 items: both 'a' 20, both 'b' 15, a/b 5, b/a 10 -> p_o = 0.7, p_e = 0.5, kappa = 0.4
    (the worked example of Cohen's kappa in most textbooks)."""
    rows = [("a", "a")] * 20 + [("b", "b")] * 15 + [("a", "b")] * 5 + [("b", "a")] * 10
    table = pd.DataFrame(rows, columns=["r1", "r2"])
    k = agreement.cohen_pairwise(table).loc["r1", "r2"]
    p_o, p_e = 35 / 50, (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)
    assert k == pytest.approx((p_o - p_e) / (1 - p_e)) == pytest.approx(0.4)


def test_fleiss_kappa_worked_example():
    """Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa = 0.210."""
    from statsmodels.stats.inter_rater import fleiss_kappa
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    n, k = counts.sum(axis=1)[0], counts.sum()
    p_j = counts.sum(axis=0) / k
    p_i = ((counts ** 2).sum(axis=1) - n) / (n * (n - 1))
    by_hand = (p_i.mean() - (p_j ** 2).sum()) / (1 - (p_j ** 2).sum())
    assert fleiss_kappa(counts) == pytest.approx(by_hand) == pytest.approx(0.210, abs=5e-4)


def test_our_fleiss_wrapper_matches_on_three_categories():
    table = pd.DataFrame({"r1": ["a", "a", "b", "tie", "a"], "r2": ["a", "b", "b", "tie", "a"],
                          "r3": ["a", "a", "b", "a", "b"]})
    # by hand: P_i = 1, 1/3, 1, 1/3, 1/3 -> P-bar = 0.6; p_j = 8/15, 5/15, 2/15 -> P_e = 93/225
    kappa, n = agreement.fleiss(table)
    assert n == 5 and kappa == pytest.approx((0.6 - 93 / 225) / (1 - 93 / 225))


def test_krippendorff_alpha_worked_example():
    """Krippendorff (2011), 'Computing Krippendorff's alpha-reliability', nominal example: 4 coders, 12 units
    with missing values -> alpha = 0.743."""
    import krippendorff
    nan = np.nan
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
                     [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]])
    assert krippendorff.alpha(reliability_data=data, level_of_measurement="nominal") == pytest.approx(0.743, abs=5e-4)


def test_our_alpha_wrapper_handles_missing_labels():
    table = pd.DataFrame({"r1": ["a", "a", "b", "tie", None], "r2": ["a", "b", "b", "tie", "a"],
                          "r3": [None, "a", "b", "a", "a"]})
    a = agreement.krippendorff_alpha(table)
    assert -1 <= a <= 1
    perfect = pd.DataFrame({"r1": ["a", "b", "tie", "a"], "r2": ["a", "b", "tie", "a"]})
    assert agreement.krippendorff_alpha(perfect) == pytest.approx(1.0)
    lo, hi = agreement.bootstrap_alpha(table, n=200)
    assert lo <= hi


def test_the_fast_bootstrap_alpha_is_the_packages_alpha_of_each_resample():
    rng = np.random.default_rng(3)
    table = pd.DataFrame(rng.choice(["a", "b", "tie", None], size=(60, 5), p=[0.4, 0.3, 0.1, 0.2]),
                         columns=[f"r{i}" for i in range(5)])
    per_item = agreement.item_coincidences(table)
    assert agreement.alpha_from_coincidences(per_item.sum(axis=0)) == pytest.approx(agreement.krippendorff_alpha(table))
    for _ in range(5):
        draw = rng.integers(0, len(table), len(table))
        weights = np.bincount(draw, minlength=len(table))
        resampled = table.iloc[draw].reset_index(drop=True)
        assert agreement.alpha_from_coincidences(np.tensordot(weights, per_item, axes=1)) == pytest.approx(
            agreement.krippendorff_alpha(resampled))
    lo, hi = agreement.bootstrap_alpha(table, n=300, seed=1)
    assert lo < agreement.krippendorff_alpha(table) < hi


@pytest.mark.parametrize("k, word", [(-0.1, "poor"), (0.1, "slight"), (0.3, "fair"), (0.5, "moderate"),
                                     (0.7, "substantial"), (0.9, "almost perfect")])
def test_landis_koch(k, word):
    assert agreement.landis_koch(k) == word


def test_aggregate_majority_and_split():
    def rec(pair, who, winner):
        return {"id": f"{pair}@{who}", "task": "hiring", "kind": "assessment", "prompt_id": "p", "prompt": "x",
                "response_a": "A", "response_b": "B", "winner": winner, "annotator": who, "is_gold": False,
                "tags": {"pair_id": pair}, "created_at": "2026-01-01T00:00:00+00:00"}
    recs = [rec("p1", "x", "a"), rec("p1", "y", "a"), rec("p1", "z", "b"),
            rec("p2", "x", "a"), rec("p2", "y", "b"), rec("p2", "z", "tie"),
            rec("p3", "x", "b"), rec("p3", "y", "b"), rec("p3", "z", "a")]
    out, counts = agreement.aggregate(recs)
    assert [r["winner"] for r in out] == ["a", "tie", "b"]
    assert counts["split"] == 1 and counts["majority"] == 2
    out, _ = agreement.aggregate(recs, exclude=("z",))
    assert [r["winner"] for r in out] == ["a", "tie", "b"] and out[1]["tags"]["resolution"] == "split"


def test_p_chart_limits():
    """Two annotators, 50 gold items each; one is right throughout, the other stops being right at item 40."""
    items = {f"g{i}": {"is_gold": True, "gold_answer": "a", "gold_type": "clear"} for i in range(50)}
    labels = [{"item_id": f"g{i}", "repeat": 0, "position": i, "winner": "a", "annotator": "fresh", "left_side": "a"} for i in range(50)]
    labels += [{"item_id": f"g{i}", "repeat": 0, "position": i, "winner": "a" if i < 40 else "b", "annotator": "tired", "left_side": "a"}
               for i in range(50)]
    chart = agreement.p_chart(labels, items, batch=10)
    assert list(chart.n) == [10] * 10
    assert chart.center.iloc[0] == pytest.approx(0.9)
    sigma = math.sqrt(0.9 * 0.1 / 10)
    assert chart.lcl.iloc[0] == pytest.approx(0.9 - 3 * sigma)
    assert chart[chart.below].annotator.tolist() == ["tired"] and chart[chart.below].positions.tolist() == ["41-50"]
    report = agreement.annotator_report(labels, items, batch=10)
    assert report.loc["tired", "drift_batches"] == 1 and report.loc["fresh", "drift_batches"] == 0
    flagged, _ = agreement.flags(report)
    assert any("drift" in why for why in flagged["tired"]) and "fresh" not in flagged


def test_heldout_prompts_are_every_nth_sorted_id_as_02_holds_them_out():
    recs = [{"prompt_id": f"p{i:02d}"} for i in (5, 1, 3, 2, 4, 0, 1, 6, 7)]
    assert agreement.heldout_prompt_ids(recs, 4) == {"p00", "p04"}
    assert agreement.heldout_prompt_ids(recs, every=3) == {"p00", "p03", "p06"}


def test_the_shipped_sample_is_cleaned_with_this_tasks_flags_not_hirings(tmp_path):
    """Without 01's files, 02/04/05 aggregate the shipped sample and leave out the annotators *this task's*
    published run flagged (a bug once read hiring's flags for support)."""
    import json

    from helpers import config
    votes = {"careful": "a", "steady": "a", "pushover": "b"}
    sample = [{"id": f"pair{i}@{who}", "task": "support", "kind": "technical", "prompt_id": f"support-train-{i:04d}",
               "prompt": "...", "response_a": "A", "response_b": "B", "winner": w, "annotator": who, "is_gold": False,
               "tags": {"pair_id": f"pair{i}"}, "created_at": "2026-12-01T00:00:00+00:00"} for i in range(3) for who, w in votes.items()]
    (tmp_path / "data" / "support").mkdir(parents=True)
    (tmp_path / "data" / "support" / "sample_preferences.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sample))
    for task, flagged in (("hiring", ["careful", "steady"]), ("support", ["pushover"])):
        where = config.Paths(tmp_path, "cpu", task).reports
        where.mkdir(parents=True, exist_ok=True)
        (where / "metrics.json").write_text(json.dumps({"annotation": {"flagged_annotators": {n: ["why"] for n in flagged}}}))
    everyone, clean, source = agreement.load_aggregated(config.Paths(tmp_path, "smoke", "support"))
    assert source == "the shipped sample" and len(everyone) == len(clean) == 3
    assert {r["winner"] for r in everyone} == {"a"} and {r["winner"] for r in clean} == {"a"}
    assert all(r["tags"]["annotators"] == ["careful", "steady"] for r in clean)   # support's flag, not hiring's


def test_side_preference_finds_an_annotator_who_picks_by_the_attribute_and_holm_corrects():
    rng = np.random.default_rng(0)
    choices = []
    for i in range(200):
        xa, xb = ("x", "y") if i % 2 else ("y", "x")
        choices.append({"annotator": "fair", "k_a": xa, "k_b": xb, "winner": "ab"[int(rng.integers(2))]})
        choices.append({"annotator": "biased", "k_a": xa, "k_b": xb, "winner": "a" if xa == "x" else "b"})
        choices.append({"annotator": "ties", "k_a": xa, "k_b": xb, "winner": "tie"})
    t = agreement.side_preference(choices, "k")
    assert t.loc[("biased", "x"), "picked_share"] == 1.0 and t.loc[("biased", "y"), "picked_share"] == 0.0
    assert t.loc[("biased", "x"), "p_holm"] < 1e-10 and t.loc[("fair", "x"), "p_holm"] > 0.05
    assert 0.4 < t.loc[("fair", "x"), "picked_share"] < 0.6 and t.loc[("fair", "x"), "decided"] == 200
    assert t.loc[("ties", "x"), "decided"] == 0 and t.loc[("ties", "x"), "tie_rate"] == 1.0
    assert np.isnan(t.loc[("ties", "x"), "picked_share"])
    assert (t.p_holm >= t.p - 1e-12).all()
