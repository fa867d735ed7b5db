"""The counterfactual audit's statistics on simulated scorers whose truth we know (helpers/audit.py)."""

import numpy as np
import pandas as pd
import pytest

from helpers import audit

GROUPS = [f"{g}_{r}" for g in ("female", "male") for r in ("Asian", "Black", "Hispanic", "White")]


def table(n_profiles=100, names_per_group=20, name_sd=0.3, row_sd=0.1, shift=None, seed=0) -> pd.DataFrame:
    """Every profile under one name of every group, names rotating; score = profile level + name noise + row noise,
    minus `shift` = (group, size) when given."""
    rng = np.random.default_rng(seed)
    level = rng.normal(size=n_profiles)
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
