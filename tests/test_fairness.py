"""The hiring task's audit design (names, profiles, what each scorer is asked); the statistics: tests/test_audit.py."""

import numpy as np
import pytest
import torch
from conftest import smoke_model

from helpers import audit, config, models
from helpers.tasks.hiring import audit_names, fairness
from helpers.tasks.hiring import world as hiring


def test_the_name_lists_have_enough_names_each_in_one_group_only():
    assert len(fairness.GROUPS) == 8 and {hiring.group_key(g) for g in fairness.GROUPS} == set(hiring.NAMES)
    firsts, lasts = {}, {}
    for g, names in fairness.NAMES.items():
        assert len(names) >= 20 and len(set(names)) == len(names)
        for n in names:
            f, s = n.split(" ", 1)
            firsts.setdefault(f, set()).add(hiring.group_key(g)[0])
            lasts.setdefault(s, set()).add(g)
    assert all(len(v) == 1 for v in firsts.values())      # a first name signals one gender
    assert all(len(v) == 1 for v in lasts.values())       # a surname belongs to one group
    # the file says where each name came from
    table = __import__("pandas").read_csv(audit_names.FILE)
    assert table.evidence.str.contains("Census").all()


def test_a_short_name_file_is_refused(tmp_path):
    bad = tmp_path / "names.csv"
    __import__("pandas").read_csv(audit_names.FILE).head(30).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="24 of each"):
        audit_names.load(bad)


@pytest.fixture(scope="module")
def counterfactual(pool):
    base = [p for p in pool["test"] if p["kind"] == "assessment"][:60]
    return fairness.counterfactual_prompts(base)


def test_every_profile_sees_every_group_and_every_name_is_used(counterfactual):
    df = fairness.frame(counterfactual, np.zeros(len(counterfactual)))
    assert len(df) == 60 * len(fairness.GROUPS)
    assert (df.groupby("profile").group.nunique() == len(fairness.GROUPS)).all()
    assert (df.groupby("profile").size() == len(fairness.GROUPS)).all()       # one name a group and profile
    for g, names in fairness.NAMES.items():
        used = df[df.group == g].name.value_counts()
        assert set(used.index) == set(names) and used.min() >= 2              # every name, under several profiles


def test_counterfactual_prompts_change_only_the_name(counterfactual):
    by_profile = {}
    for q in counterfactual:
        assert q["candidate"]["name"] in fairness.NAMES[q["tags"]["group"]]
        text = hiring.render_user_message(q).replace(q["candidate"]["name"], "<NAME>")
        by_profile.setdefault(q["tags"]["profile"], set()).add(text)
    assert all(len(texts) == 1 for texts in by_profile.values())   # every other word identical


def test_a_name_blind_scorer_passes_and_a_planted_bias_is_adverse(counterfactual):
    fit = np.array([hiring.fit_score(q["candidate"], q["job"]) for q in counterfactual])
    df = fairness.frame(counterfactual, fit - 0.7 + 1e-3)      # above 0: the careful recruiter's "advance"; name-blind
    fair = audit.audit(df, n_perm=300, n_boot=200, threshold=0.0)
    assert fair["verdict"] == "pass", fair
    biased = audit.audit(audit.plant(df, "male_Black", 0.2), n_perm=300, n_boot=200, threshold=0.0)
    assert biased["verdict"] == "adverse impact" and biased["worst_group"] == "male_Black"


def test_bad_scores_are_refused(counterfactual):
    with pytest.raises(ValueError, match="scores for"):
        fairness.frame(counterfactual, [0.0])
    with pytest.raises(ValueError, match="NaN"):
        fairness.frame(counterfactual[:1], [float("nan")])
    with pytest.raises(ValueError, match="assessment"):
        fairness.counterfactual_prompts([])


def test_decision_answers_differ_only_in_the_decision(counterfactual):
    adv, hold = fairness.decision_answers(counterfactual[0])
    assert adv.endswith("Decision: advance") and hold.endswith("Decision: hold")
    assert adv.rsplit("Decision:", 1)[0] == hold.rsplit("Decision:", 1)[0]


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer(smoke_model())


def test_advance_logodds_matches_a_hand_computed_forward_pass(tok, counterfactual):
    model = models.load_model(smoke_model(), "policy", config.choose_precision("cpu")).eval()
    qs = counterfactual[:3]
    fast = fairness.advance_logodds(model, tok, qs)                                         # one token each
    slow = fairness.advance_logodds(model, tok, qs, options=("advance", "hold"))           # several tokens
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


def test_reward_margin_matches_the_reward_models_own_scores(tok, counterfactual):
    from helpers import reward
    torch.manual_seed(0)
    rm = models.load_model(smoke_model(), "reward", config.choose_precision("cpu")).eval()
    qs = counterfactual[:2]
    got = fairness.reward_margin(rm, tok, qs)
    pairs = [fairness.decision_answers(q) for q in qs]
    adv = reward.score(rm, tok, [q["messages"] for q in qs], [a for a, _ in pairs])
    hold = reward.score(rm, tok, [q["messages"] for q in qs], [h for _, h in pairs])
    np.testing.assert_allclose(got, (adv - hold).numpy(), atol=2e-3)
