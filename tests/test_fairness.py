"""The hiring task's audit design (names, profiles, what each scorer is asked); the statistics: tests/test_audit.py."""

import numpy as np
import pytest
import torch
from conftest import smoke_model

from helpers import audit, models
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
    with pytest.raises(ValueError, match="as many of each are needed"):
        audit_names.load(bad)


@pytest.fixture(scope="module")
def counterfactual(pool):
    base = [p for p in pool["test"] if p["kind"] == "assessment"][:100]       # 05's size: every name under 2 profiles
    return fairness.counterfactual_prompts(base)


def test_every_profile_sees_every_group_and_every_name_is_used(counterfactual):
    df = fairness.frame(counterfactual, np.zeros(len(counterfactual)))
    assert len(df) == 100 * len(fairness.GROUPS)
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


def test_01s_audit_name_pairs_find_the_name_biased_annotator_and_only_it(pool):
    from helpers import agreement, tasks
    from helpers.tasks.hiring import personas
    task = tasks.get("hiring")
    profiles = [p for p in pool["test"] if p["kind"] == "assessment"][:30]
    pairs = fairness.name_swap_pairs(profiles, seed=0)
    assert pairs and all(q["prompt"]["facts"]["decision"] == "advance" for q in pairs)
    assert {q["race_a"] for q in pairs} | {q["race_b"] for q in pairs} == {"White", "Black", "Hispanic", "Asian"}
    assert 0.3 < np.mean([q["race_a"] < q["race_b"] for q in pairs]) < 0.7                 # sides shuffled
    for q in pairs:
        na = next(n for n in fairness.NAMES[q["group_a"]] if n in q["response_a"])
        nb = next(n for n in fairness.NAMES[q["group_b"]] if n in q["response_b"])
        assert q["race_a"] != q["race_b"] and hiring.group_key(q["group_a"])[0] == hiring.group_key(q["group_b"])[0]
        assert q["response_a"].replace(na, "<N>") == q["response_b"].replace(nb, "<N>")   # only the name differs
        assert [personas.race_of_named(q[f"response_{s}"], q["prompt"]) for s in "ab"] == [q["race_a"], q["race_b"]]
    choices = [{"annotator": name, "race_a": q["race_a"], "race_b": q["race_b"],
                "winner": persona.choose(q["prompt"], q["response_a"], q["response_b"], q["pair_id"], 0)}
               for name, persona in task.personas.items() for q in pairs]
    table = agreement.side_preference(choices, "race")
    judged = {a for (a, _), r in table.iterrows() if r.p_holm < 0.05}
    assert judged == {"sim_namebias"}
    assert table.loc[("sim_namebias", "Black"), "picked_share"] < 0.2 < 0.8 < table.loc[("sim_namebias", "White"), "picked_share"]


def test_the_audit_names_do_not_change_how_the_worlds_names_read():
    from helpers.tasks.hiring import personas
    nobody = {"candidate": {"group": "female_nobody"}}
    for (_, race), entry in hiring.NAMES.items():
        for first in entry["first"]:
            for last in entry["last"]:
                assert personas.race_of_named(f"{first} {last} has 5 years as an analyst.", nobody) == race


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


@pytest.mark.parametrize("evidence", [True, False])
def test_advance_logodds_matches_a_hand_computed_forward_pass(tok, counterfactual, fp32, evidence):
    model = models.load_model(smoke_model(), "policy", fp32).eval()     # an exact comparison: the fp32 path
    qs = counterfactual[:3]
    fast = fairness.advance_logodds(model, tok, qs, evidence=evidence)                                  # one token each
    slow = fairness.advance_logodds(model, tok, qs, evidence=evidence, options=("advance", "hold"))    # several tokens
    for q, f, s in zip(qs, fast, slow):
        # with evidence, the answer so far is the careful recruiter's checklist, the same under every name
        head = fairness.decision_answers(q)[0].rsplit("Decision:", 1)[0] if evidence else ""
        ctx = tok.apply_chat_template(q["messages"], tokenize=False, add_generation_prompt=True) + head + "Decision:"

        def logp(option, ctx=ctx):
            ids = tok(ctx, add_special_tokens=False).input_ids
            cont = tok(option, add_special_tokens=False).input_ids
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([ids + cont])).logits[0].float(), -1)
            return sum(lp[len(ids) - 1 + k, t].item() for k, t in enumerate(cont))
        assert f == pytest.approx(logp(" advance") - logp(" hold"), abs=2e-3)
        assert s == pytest.approx(logp("advance") - logp("hold"), abs=2e-3)


def test_reward_margin_matches_the_reward_models_own_scores(tok, counterfactual, fp32):
    from helpers import reward
    torch.manual_seed(0)
    rm = models.load_model(smoke_model(), "reward", fp32).eval()         # an exact comparison: the fp32 path
    qs = counterfactual[:2]
    got = fairness.reward_margin(rm, tok, qs)
    pairs = [fairness.decision_answers(q) for q in qs]
    adv = reward.score(rm, tok, [q["messages"] for q in qs], [a for a, _ in pairs])
    hold = reward.score(rm, tok, [q["messages"] for q in qs], [h for _, h in pairs])
    np.testing.assert_allclose(got, (adv - hold).numpy(), atol=2e-3)
