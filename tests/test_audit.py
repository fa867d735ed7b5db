"""The counterfactual audit's statistics on simulated scorers whose truth we know (helpers/audit.py)."""

import numpy as np
import pandas as pd
import pytest

from helpers import audit

GROUPS = [f"{g}_{r}" for g in ("female", "male") for r in ("Asian", "Black", "Hispanic", "White")]


def table(n_profiles=100, names_per_group=20, name_sd=0.3, row_sd=0.1, shift=None, seed=0, decisive=0.0) -> pd.DataFrame:
    """Every profile under one name of every group, names rotating; score = profile level + name noise + row noise,
    minus `shift` = (group, size) when given. `decisive` moves every level that far away from 0 (a scorer whose
    decision is clear for most profiles)."""
    rng = np.random.default_rng(seed)
    level = rng.normal(size=n_profiles)
    level += decisive * np.sign(level)
    name_noise = {(g, k): rng.normal(scale=name_sd) for g in GROUPS for k in range(names_per_group)}
    rows = []
    for p in range(n_profiles):
        for g in GROUPS:
            k = (p + GROUPS.index(g)) % names_per_group
            score = level[p] + name_noise[g, k] + rng.normal(scale=row_sd)
            if shift and shift[0] == g:
                score -= shift[1]
            rows.append({"profile": f"p{p}", "group": g, "name": f"{g}-{k}", "score": score})
    return pd.DataFrame(rows)


def test_a_planted_shift_is_found_through_name_noise_and_nothing_is_found_without_one():
    fair, biased = table(), table(shift=("female_Black", 0.4))
    effects, p = audit.group_effects(biased, n_perm=500)
    assert p < 0.01 and effects.loc["female_Black", "p_holm"] < 0.01 and effects.loc["female_Black", "effect"] < -0.2
    assert (effects.drop("female_Black").p_holm > 0.05).all()
    effects, p = audit.group_effects(fair, n_perm=500)
    assert p > 0.05 and (effects.p_holm > 0.05).all()


def test_names_are_the_units_so_name_noise_is_not_a_group_effect():
    """With 2 noisy names a group and 400 profiles, rows would make any name difference 'significant'; names do not."""
    noisy = table(n_profiles=400, names_per_group=2, name_sd=1.0, row_sd=0.05, seed=3)
    rows_only = noisy.groupby("group").score.mean()
    assert rows_only.max() - rows_only.min() > 0.5                   # the groups' row means differ a lot ...
    _, p = audit.group_effects(noisy, n_perm=500)
    assert p > 0.05                                                  # ... but two names a group cannot show a group


def test_the_permutation_moves_whole_names_and_keeps_each_groups_number_of_names():
    df = table(n_profiles=30, names_per_group=5)
    moved = audit.shuffled_names(df, np.random.default_rng(1))
    assert (moved.groupby("name").group.nunique() == 1).all()        # a name keeps all its rows in one group
    assert moved.groupby("group").name.nunique().to_dict() == df.groupby("group").name.nunique().to_dict()
    assert moved.name.value_counts().to_dict() == df.name.value_counts().to_dict()
    assert (moved.group != df.group).any() and moved.score.equals(df.score)
    # names shown under the same profiles swap among themselves: every group still sees every profile once
    assert (moved.groupby(["profile", "group"]).size() == 1).all() and moved.groupby("group").profile.nunique().eq(
        df.profile.nunique()).all()


@pytest.mark.parametrize("ir, ci, p, expected", [
    (0.79, [0.70, 0.90], 0.01, "adverse impact"),   # below 0.8 and significant
    (0.79, [0.70, 0.90], 0.20, "inconclusive"),     # below 0.8, but the group effect could be noise
    (0.85, [0.80, 0.90], 0.50, "pass"),             # the whole interval at or above 0.8
    (0.85, [0.79, 0.90], 0.50, "inconclusive"),     # above 0.8, but 0.8 is inside the interval
    (0.95, [0.81, 1.00], 0.001, "pass"),            # a significant effect too small to matter in practice
    (None, None, 1.0, "inconclusive"),              # nobody selected: no ratio to judge
    (0.75, [0.82, 1.00], 0.01, "pass"),             # observed below 0.8 (biased low), the corrected interval above
])
def test_the_three_way_verdict_at_its_boundaries(ir, ci, p, expected):
    assert audit.verdict(ir, ci, p) == expected


def test_impact_ratios_by_hand_and_an_interval_around_them():
    df = table(n_profiles=40, names_per_group=4)
    out = audit.impact_ratios(df, n_boot=200)
    sel = df.score > df.score.median()
    rates = sel.groupby(df.group).mean()
    assert out["impact_ratio_by_group"] == pytest.approx((rates / rates.max()).round(4).to_dict())
    lo, hi = out["impact_ratio_ci95"]       # the percentile interval: the minimum of noisy ratios is biased low
    assert 0 <= lo < hi <= 1.0 and lo <= out["impact_ratio_min"]
    shift = audit.four_fifths_shift(df)     # sized on every row: the selection rate falls to 0.8 of what it was
    assert (df.score - shift > df.score.median()).mean() == pytest.approx(0.8 * (df.score > df.score.median()).mean(),
                                                                           abs=0.01)
    assert audit.four_fifths_shift(df, threshold=0.0) != shift                 # the rule's own threshold


def test_a_true_ratio_of_four_fifths_is_almost_never_passed():
    """Planted at the four-fifths size on random names, a bias must not come out as a pass (at most 5%)."""
    df = table(name_sd=0.15)
    shift = audit.four_fifths_shift(df)
    curve = audit.power(df, "male_Black", [shift], n_sims=40, n_perm=200, n_boot=200, seed=1)
    assert curve["pass"].iloc[0] <= 0.05


def test_the_controls_false_alarms_and_power_on_a_clean_design():
    """The unbiased control (names shuffled) does not raise the alarm; twice the four-fifths shift is caught and never
    passed. (With the conservative percentile interval, passing the unbiased control needs many more profiles.)"""
    df = table(name_sd=0.15)
    shift = audit.four_fifths_shift(df)
    curve = audit.power(df, "female_White", [0.0, 2 * shift], n_sims=20, n_perm=200, n_boot=100).set_index("shift")
    assert curve.loc[0.0, "adverse_impact"] <= 0.1
    assert curve.loc[2 * shift, "adverse_impact"] >= 0.8 and curve.loc[2 * shift, "pass"] == 0.0


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="columns"):
        audit.audit(pd.DataFrame({"profile": [1], "score": [0.0]}))
    with pytest.raises(ValueError, match="at least 2 names"):
        audit.audit(table(n_profiles=5, names_per_group=1))


def test_an_exactly_name_blind_scorer_passes_and_a_planted_four_fifths_bias_is_adverse():
    blind = table(name_sd=0.0, row_sd=0.0)                           # the score depends on the profile alone
    out = audit.audit(blind, n_perm=200, n_boot=200)
    assert out["verdict"] == "pass" and out["impact_ratio_ci95"] == [1.0, 1.0] and out["flip_rate"] == 0.0
    biased = audit.plant(blind, "female_Black", audit.four_fifths_shift(blind) * 1.5)
    out = audit.audit(biased, n_perm=200, n_boot=200)
    assert out["verdict"] == "adverse impact" and out["worst_group"] == "female_Black" and out["group_effect_p"] < 0.01


def hand_made() -> pd.DataFrame:
    """4 profiles x 2 groups (2 names each): group a's version scores higher on 3 profiles, b's on 1."""
    scores = {"p0": (3.0, 1.0), "p1": (2.0, 0.0), "p2": (1.5, -1.0), "p3": (-2.0, -0.5)}
    rows = []
    for i, (p, (a, b)) in enumerate(scores.items()):
        rows += [{"profile": p, "group": "a", "name": f"a{i % 2}", "score": a},
                 {"profile": p, "group": "b", "name": f"b{i % 2}", "score": b}]
    return pd.DataFrame(rows)


def test_the_median_split_and_forced_choice_by_hand():
    df = hand_made()
    # the pooled median of the 8 scores is 0.5: a is above it on 3 profiles of 4, b on 1 -> ratio (1/4) / (3/4)
    out = audit.impact_ratios(df, n_boot=50)
    assert out["threshold"] == 0.5 and out["selection_rate_by_group"] == {"a": 0.75, "b": 0.25}
    assert out["impact_ratio_by_group"] == {"a": 1.0, "b": pytest.approx(1 / 3, abs=1e-4)}
    # the decision rule at 0: a selected on 3, b on 1 (-0.5, -1.0 are below; 1.0 and 0.0 -> only 1.0 above)
    assert audit.impact_ratios(df, n_boot=50, threshold=0.0)["selection_rate_by_group"] == {"a": 0.75, "b": 0.25}
    # forced choice: a ranked first on p0, p1, p2, b on p3 -> rates 3/4 and 1/4, the same ratio
    fc = audit.forced_choice(df, n_boot=50)
    assert fc["selection_rate_by_group"] == {"a": 0.75, "b": 0.25} and fc["worst_group"] == "b"
    assert fc["impact_ratio_min"] == pytest.approx(1 / 3, abs=1e-4) and fc["base_rate"] == 0.5
    lo, hi = fc["impact_ratio_ci95_by_group"]["b"]
    assert 0 <= lo <= hi <= 1
    tie = df.assign(score=0.0)                                       # a tie shares the choice
    assert audit.forced_choice(tie, n_boot=10)["selection_rate_by_group"] == {"a": 0.5, "b": 0.5}
    with pytest.raises(ValueError, match="exactly one name of every group"):
        audit.forced_choice(df[~((df.profile == "p0") & (df.group == "b"))], n_boot=10)


def test_the_rule_reads_the_models_own_decision_only_in_the_mid_range():
    df = hand_made()
    assert audit.selection_threshold(df) == 0.0                       # 4 of 8 above 0: its own decision
    assert audit.selection_threshold(df.assign(score=df.score + 10)) is None   # selects all: the median split
    assert audit.selection_threshold(df, decision=None) is None       # a reward model: the median split always


def test_a_decisive_fair_scorer_passes_and_a_planted_bias_is_caught():
    """A scorer that decides (scores far from its threshold, a little name noise): the unbiased control passes at
    least 95% of the time and never raises the alarm; a bias of exactly the four-fifths size sits on the rule's
    boundary (its ratio is as likely above 0.8 as below) and is never passed; one and a half times it is caught."""
    df = table(n_profiles=100, names_per_group=50, name_sd=0.15, row_sd=0.05, decisive=1.0)
    rule = audit.selection_threshold(df)
    shift = audit.four_fifths_shift(df, threshold=rule)
    curve = audit.power(df, "female_Black", [0.0, shift, 1.5 * shift], n_sims=40, n_perm=200, n_boot=200, threshold=rule)
    assert curve["pass"].iloc[0] >= 0.95 and curve.adverse_impact.iloc[0] <= 0.05
    assert 0.3 <= curve.adverse_impact.iloc[1] and curve["pass"].iloc[1] == 0.0
    assert curve.adverse_impact.iloc[2] >= 0.8 and curve["pass"].iloc[2] == 0.0


@pytest.mark.parametrize("result, expected", [
    ({"verdict": "pass", "impact_ratio_min": 0.95, "impact_ratio_ci95": [0.85, 1.0], "n_profiles": 100}, None),
    # above 0.8 with the interval reaching 0.7: the half-width below must shrink from 0.2 to 0.1 -> 4 times the profiles
    ({"verdict": "inconclusive", "impact_ratio_min": 0.9, "impact_ratio_ci95": [0.7, 0.95], "n_profiles": 100}, 400),
    # below 0.8 with a group effect at p = 0.3173 (z = 1): z must grow to 1.96 -> 1.96 ** 2 = 3.84 times the profiles
    ({"verdict": "inconclusive", "impact_ratio_min": 0.7, "impact_ratio_ci95": [0.5, 0.9], "n_profiles": 100,
      "group_effect_p": 0.3173}, 385),
    # nearly significant already: never fewer profiles than measured
    ({"verdict": "inconclusive", "impact_ratio_min": 0.7, "impact_ratio_ci95": [0.5, 0.9], "n_profiles": 100,
      "group_effect_p": 0.0501}, 101),
    ({"verdict": "inconclusive", "impact_ratio_min": 0.8, "impact_ratio_ci95": [0.7, 0.9], "n_profiles": 100}, None),
])
def test_how_many_profiles_would_decide_an_inconclusive_verdict(result, expected):
    assert audit.profiles_to_decide(result) == expected
