"""The simulated recruiters behave as documented: careful ones agree with gold, biased ones show their bias."""

import random

from conftest import good_assessment

from helpers import annotators, tasks
from helpers.tasks.hiring import personas

HIRING = tasks.get("hiring")


def _assessment_pairs(pool, n=200):
    """Pairs (right decision vs wrong decision) over assessment prompts, with pair ids."""
    out = []
    for p in [q for q in pool["train"] if q["kind"] == "assessment"][:n]:
        good = good_assessment(p)
        other = "hold" if p["facts"]["decision"] == "advance" else "advance"
        out.append((p, good, good.replace(f"Decision: {p['facts']['decision']}", f"Decision: {other}")))
    return out


def test_labels_repeat_whatever_the_order(pool):
    pairs = _assessment_pairs(pool, 40)
    persona = annotators.get("sim_noisy", personas.PERSONAS)
    first = [persona.choose(p, a, b, p["id"], seed=3) for p, a, b in pairs]
    shuffled = list(range(len(pairs)))
    random.Random(0).shuffle(shuffled)
    again = {i: persona.choose(pairs[i][0], pairs[i][1], pairs[i][2], pairs[i][0]["id"], seed=3) for i in shuffled}
    assert first == [again[i] for i in range(len(pairs))]


def test_careful_agrees_with_gold_and_noisy_does_not(pool):
    pairs = _assessment_pairs(pool)
    def accuracy(name):
        persona = annotators.get(name, personas.PERSONAS)
        return sum(persona.choose(p, a, b, p["id"]) == HIRING.prefer(p, a, b) for p, a, b in pairs) / len(pairs)
    careful, noisy = accuracy("sim_careful"), accuracy("sim_noisy")
    assert careful >= 0.95
    assert noisy <= careful - 0.1


def test_verbose_prefers_longer_answers(pool):
    pairs = []
    for p, good, _ in _assessment_pairs(pool, 150):
        padded = good.replace("\nDecision", " The candidate's profile is described in the posting above, "
                              "and the role is described in the job posting. The team would review the "
                              "profile again with the hiring manager, and the recruiter would share the "
                              "summary with the interview panel before the call.\nDecision")
        pairs.append((p, padded, good) if len(pairs) % 2 else (p, good, padded))
    def longer_rate(name):
        persona = annotators.get(name, personas.PERSONAS)
        wins = [persona.choose(p, a, b, p["id"] + name) for p, a, b in pairs]
        return sum((w == "a") == (len(a) > len(b)) and w != "tie" for (p, a, b), w in zip(pairs, wins)) / len(pairs)
    assert longer_rate("sim_verbose") >= 0.8
    assert longer_rate("sim_careful") <= 0.55


def test_namebias_holds_back_black_and_hispanic_names(pool):
    """Same profile, same two answers ('advance' vs 'hold'); only the candidate's name changes."""
    from helpers.tasks.hiring import world as hiring
    base = [p for p in pool["train"] if p["kind"] == "assessment" and p["facts"]["decision"] == "advance"][:60]
    def hold_rate(name, group):
        persona, picks = annotators.get(name, personas.PERSONAS), []
        for i, p in enumerate(base):
            q = hiring.with_name(p, hiring.names_for(group)[i % 5], group)
            adv = good_assessment(q)
            hold = adv.replace("Decision: advance", "Decision: hold")
            picks.append(persona.choose(q, adv, hold, q["id"]) == "b")
        return sum(picks) / len(picks)
    biased_gap = hold_rate("sim_namebias", "male_Black") - hold_rate("sim_namebias", "male_White")
    careful_gap = hold_rate("sim_careful", "male_Black") - hold_rate("sim_careful", "male_White")
    assert biased_gap >= 0.5
    assert abs(careful_gap) <= 0.05


def test_assignment_is_balanced():
    who = annotators.assign([f"p{i}" for i in range(100)], k=3, seed=1, pool=list(personas.PERSONAS))
    counts = {}
    for names in who.values():
        assert len(set(names)) == 3
        for n in names:
            counts[n] = counts.get(n, 0) + 1
    assert set(counts) == set(personas.PERSONAS)
    assert max(counts.values()) - min(counts.values()) <= 3


def test_label_pairs_makes_valid_records(pool):
    from helpers import records
    prompts = {p["id"]: p for p in pool["train"][:10]}
    pairs = records.make_pairs({pid: [good_assessment(p), good_assessment(p) + " Extra."] for pid, p in prompts.items()},
                               pairs_per_prompt=1, seed=0)
    out = annotators.label_pairs(pairs, prompts, 3, HIRING, seed=0)
    assert len(out) == 30
    for r in out:
        records.validate(r)
        assert (r["scores"] == {}) == (r["winner"] == "tie")
