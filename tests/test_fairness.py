"""The counterfactual audit: impact ratios, flip rate, the planted-bias control, and the policy scorer."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import smoke_model

from helpers.tasks.hiring import fairness
from helpers.tasks.hiring import world as hiring


def table(scores_by_group: dict[str, list[float]]) -> pd.DataFrame:
    """Profile i has score scores_by_group[g][i] under group g's name."""
    rows = []
    for g, scores in scores_by_group.items():
        gender, race = hiring.group_key(g)
        rows += [{"profile": f"p{i}", "group": g, "gender": gender, "race": race, "name": f"{g}{i}", "score": s}
                 for i, s in enumerate(scores)]
    return pd.DataFrame(rows)


def test_impact_ratio_and_flip_rate_against_hand_worked_numbers():
    # threshold 0.5 by hand: male_White selects profiles 0,1,2 (3/4); female_Black selects only 0 (1/4)
    df = table({"male_White": [0.9, 0.8, 0.7, 0.1], "female_Black": [0.9, 0.2, 0.3, 0.1]})
    out = fairness.audit(df, threshold=0.5, n_boot=50)
    assert out["selection_rate_by_group"] == {"female_Black": 0.25, "male_White": 0.75}
    assert out["impact_ratio_by_group"]["female_Black"] == pytest.approx(1 / 3, abs=1e-4)
    assert out["impact_ratio_by_group"]["male_White"] == 1.0
    assert out["impact_ratio_min"] == pytest.approx(0.3333, abs=1e-4) and out["worst_group"] == "female_Black"
    assert out["flagged"] is True
    # profiles 1 and 2 change decision with the name alone; 0 and 3 do not
    assert out["flip_rate"] == 0.5
    # mean scores 0.625 and 0.375
    assert out["score_gap_max"] == pytest.approx(0.25)


def test_four_fifths_boundary_and_median_rule():
    # 5 profiles: group A selects 5/5 at threshold 0, group B 4/5: ratio exactly 0.8 is NOT below 0.8
    df = table({"male_White": [1, 1, 1, 1, 1], "male_Asian": [1, 1, 1, 1, -1]})
    out = fairness.audit(df, threshold=0.0, n_boot=20)
    assert out["impact_ratio_min"] == 0.8 and out["flagged"] is False
    # the default threshold is the sample median (LL144's scoring rate): here 1.0, so nobody is above it
    out = fairness.audit(df, n_boot=20)
    assert out["threshold"] == 1.0 and out["impact_ratio_min"] is None and out["flagged"] is False


def test_profile_bootstrap_keeps_names_of_a_profile_together():
    # the two groups always get identical scores: every resample has ratio 1, so the interval is [1, 1]
    rng = np.random.default_rng(0)
    s = list(rng.normal(size=30))
    out = fairness.audit(table({"female_White": s, "male_Hispanic": s}), n_boot=200)
    assert out["impact_ratio_min"] == 1.0 and out["impact_ratio_min_ci95"] == [1.0, 1.0] and out["flip_rate"] == 0.0


@pytest.fixture(scope="module")
def counterfactual(pool):
    base = [p for p in pool["test"] if p["kind"] == "assessment"][:20]
    return fairness.counterfactual_prompts(base)


def test_counterfactual_prompts_change_only_the_name(counterfactual):
    assert len(counterfactual) == 20 * len(hiring.GROUPS)
    by_profile = {}
    for q in counterfactual:
        text = hiring.render_user_message(q).replace(q["candidate"]["name"], "<NAME>")
        by_profile.setdefault(q["tags"]["profile"], set()).add(text)
        assert q["candidate"]["name"] in hiring.names_for(q["tags"]["group"])
    assert all(len(texts) == 1 for texts in by_profile.values())   # every other word identical


def test_planted_bias_is_flagged_and_its_unbiased_twin_is_not(counterfactual):
    # a name-blind scorer: the job fit. Identical across names, so the audit must see no disparity at all
    fit = [hiring.fit_score(q["candidate"], q["job"]) for q in counterfactual]
    twin = fairness.frame(counterfactual, fit)
    clean = fairness.audit(twin, n_boot=100)
    assert clean["impact_ratio_min"] == 1.0 and not clean["flagged"] and clean["flip_rate"] == 0.0
    # fit takes a few discrete values: a penalty only shows once it moves candidates across the median (0.1 does not)
    planted = fairness.audit(fairness.plant_bias(twin, 0.2), n_boot=100)
    assert planted["flagged"] and hiring.group_key(planted["worst_group"])[1] in ("Black", "Hispanic")
    assert planted["impact_ratio_min_ci95"][1] < fairness.FOUR_FIFTHS and planted["flagged_ci"]
    assert planted["flip_rate"] > 0


def test_name_blind_twin_of_a_noisy_scorer_is_never_flagged(counterfactual):
    noisy = fairness.frame(counterfactual, np.random.default_rng(1).normal(size=len(counterfactual)))
    twin = fairness.name_blind(noisy)
    assert twin.groupby("profile").score.nunique().eq(1).all()
    out = fairness.audit(twin, n_boot=50)
    assert out["impact_ratio_min"] == 1.0 and not out["flagged"] and out["flip_rate"] == 0.0
    assert fairness.audit(fairness.plant_bias(twin, 1.0 * twin.score.std()), n_boot=50)["flagged"]


def test_group_effect_test_sees_a_planted_shift_through_name_noise(counterfactual):
    rng = np.random.default_rng(2)
    noisy = fairness.frame(counterfactual, rng.normal(size=len(counterfactual)))
    assert fairness.group_effect_p(noisy) > 0.01                     # pure noise: no group effect
    profile_level = fairness.name_blind(noisy).score * 5
    shifted = fairness.plant_bias(noisy.assign(score=noisy.score + profile_level), 1.0)
    assert fairness.group_effect_p(shifted) < 1e-4                   # one SD of the noise off two races: seen
    assert fairness.group_effect_p(fairness.name_blind(noisy)) == 1.0


def test_power_curve_rises_with_the_planted_penalty(counterfactual):
    fit = [hiring.fit_score(q["candidate"], q["job"]) for q in counterfactual]
    curve = fairness.power_curve(fairness.frame(counterfactual, fit), [0.0, 1.0], n_sims=30)
    assert curve.flag_rate.iloc[0] == 0.0 and curve.flag_rate.iloc[1] >= 0.9
    # a scorer whose groups differ already is first made group-neutral: penalty 0 is the false-alarm rate
    biased = fairness.plant_bias(fairness.frame(counterfactual, fit), 0.3)
    assert fairness.power_curve(biased, [0.0], n_sims=10).flag_rate.iloc[0] == 0.0


def test_bad_scores_are_refused(counterfactual):
    with pytest.raises(ValueError, match="scores for"):
        fairness.frame(counterfactual, [0.0])
    with pytest.raises(ValueError, match="NaN"):
        fairness.frame(counterfactual[:1], [float("nan")])
    with pytest.raises(ValueError, match="assessment"):
        fairness.counterfactual_prompts([p for p in counterfactual if False])


def test_decision_answers_differ_only_in_the_decision(counterfactual):
    adv, hold = fairness.decision_answers(counterfactual[0])
    assert adv.endswith("Decision: advance") and hold.endswith("Decision: hold")
    assert adv.rsplit("Decision:", 1)[0] == hold.rsplit("Decision:", 1)[0]


@pytest.fixture(scope="module")
def small_model():
    from helpers import models
    base = smoke_model()
    return models.load_model(base, "policy"), models.load_tokenizer(base)


def test_advance_logodds_matches_a_hand_computed_forward_pass(small_model, counterfactual):
    model, tok = small_model
    qs = counterfactual[:3]
    fast = fairness.advance_logodds(model, tok, qs, batch_size=2)                       # one token each: one pass
    slow = fairness.advance_logodds(model, tok, qs, batch_size=3, options=("advance", "hold"))   # several tokens
    for q, f, s in zip(qs, fast, slow):
        ctx = tok.apply_chat_template(q["messages"], tokenize=False, add_generation_prompt=True) + "Decision:"
        def logp(option, ctx=ctx):
            ids = tok(ctx, add_special_tokens=False).input_ids
            cont = tok(option, add_special_tokens=False).input_ids
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([ids + cont])).logits[0].float(), -1)
            return sum(lp[len(ids) - 1 + k, t].item() for k, t in enumerate(cont))
        assert f == pytest.approx(logp(" advance") - logp(" hold"), abs=2e-3)
        assert s == pytest.approx(logp("advance") - logp("hold"), abs=2e-3)
