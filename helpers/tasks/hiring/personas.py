"""Simulated recruiters: the hiring rubric applied with each persona's noise and biases, and the hidden
known-answer items of the annotation queue.

Each persona sees a pair of responses, forms a utility for each (the gold score plus its bias), perceives the
difference through Gaussian noise (a Thurstone model, helpers/annotators.py), and answers `a`, `b`, or `tie`.

| persona | noise (sd) | bias |
|---|---|---|
| sim_careful | 0.03 | none: the gold recruiter with a steady hand |
| sim_steady  | 0.06 | none, a little less precise |
| sim_noisy   | 0.7  | none, but so noisy that many labels are coin flips; leans to the left response (+0.12) |
| sim_verbose | 0.05 | prefers long answers: +0.3 utility per 50 words (answers here are short: 15-40 words) |
| sim_namebias| 0.05 | holds back candidates whose names read as Black or Hispanic (see below) |

sim_namebias, on assessments, adds +0.45 to a "hold" and -0.45 to an "advance" attached to such a name: enough to
overturn what the rubric charges for a wrong decision (about 0.65 of the score), so it prefers a wrong "hold".

The noise is on the scale of the rubric's gaps: a factual error or a wrong decision costs half or more of an answer's
score, tone and detail a tenth or two; sim_noisy (0.7) still reverses about one in six of those large gaps and is a
coin flip on the small ones.

sim_steady also tires: the chance that it answers at random, without reading, grows by 0.1 per 100 items into its
queue (capped at 0.9): the drift a p-chart should show.
"""

from __future__ import annotations

import random
import re

from ...annotators import Persona
from . import audit_names, rubric
from .world import GROUPS, NAMES, gendered, named_answer, names_for, reference_answer, render_user_message, with_name, worse_answer

BIASED_AGAINST = ("Black", "Hispanic")  # sim_namebias's documented bias
# the fairness audit's full names (fairness.py): the race or ethnicity a surname reads as, for 01's check of the
# annotators with the audit's own names. Checked before the world's first names; none of them is a world name.
_AUDIT_RACE = {n: g.split("_", 1)[1] for g, names in audit_names.load().items() for n in names}
_AUDIT = re.compile(r"\b(" + "|".join(map(re.escape, sorted(_AUDIT_RACE, key=len, reverse=True))) + r")\b")
_NAMES = sorted({n for e in NAMES.values() for n in e["first"] + e["last"]} | {w for n in _AUDIT_RACE for w in n.split()},
                key=len, reverse=True)
_NAME = re.compile(r"\b(" + "|".join(map(re.escape, _NAMES)) + r")\b")


def without_names(text: str) -> str:
    """The text with every listed first name and surname masked."""
    return _NAME.sub("<name>", text)


def race_of_named(response: str, prompt: dict) -> str:
    """The perceived race or ethnicity of the person a response names (a full name of the fairness audit, by its
    surname; else a first name of the world's), else of the prompt's candidate. sim_namebias judges a
    recommendation by the name attached to it."""
    hit = _AUDIT.search(response)
    if hit:
        return _AUDIT_RACE[hit.group(1)]
    for (_, race), entry in NAMES.items():
        if any(f" {first} " in f" {response} " or f" {first}'" in f" {response}" for first in entry["first"]):
            return race
    return prompt["candidate"]["group"].split("_", 1)[1]


def holds_back(shift: float):
    """sim_namebias's bias: +shift to a "hold", -shift to an "advance" for a candidate whose name reads as one of
    BIASED_AGAINST (assessments only)."""
    def bias(prompt: dict, response: str) -> float:
        if prompt["kind"] != "assessment" or race_of_named(response, prompt) not in BIASED_AGAINST:
            return 0.0
        said = rubric.decision_of(response)
        return shift if said == "hold" else -shift if said == "advance" else 0.0
    return bias


def _persona(name: str, description: str, noise: float, **kw) -> Persona:
    return Persona(name, description, noise, gold=rubric.score, mask=without_names, **kw)


PERSONAS = {p.name: p for p in [
    _persona("sim_careful", "applies the rubric closely", noise=0.03),
    _persona("sim_steady", "applies the rubric, a little less precisely, and tires", noise=0.06, lapse_per_100=0.1),
    _persona("sim_noisy", "rushed: many labels are coin flips, leans to the left response", noise=0.7, left_bias=0.12),
    _persona("sim_verbose", "prefers longer answers", noise=0.05, length_per_50_words=0.3),
    _persona("sim_namebias", "holds back candidates whose names read as Black or Hispanic", noise=0.05,
             bias=holds_back(0.45)),
]}


def gold_items(prompts: list[dict], n: int, seed: int = 0) -> list[dict]:
    """Hidden known-answer items for the annotation queue, from prompts no training pair uses.

    A third are *name swaps*: the same assessment under two names from different groups, with the prompt's name
    withheld; the right answer is a tie, and an annotator who prefers one side is judging the name. A third are
    *subtle*: a careful recruiter's assessment against the same text that calls the candidate "he" or "she"
    (gold 0.1 lower: an attentive annotator sees it, a careless one does not). The rest are *clear*: the
    careful answer against a clearly worse one (the wrong decision, a generic question, a summary that repeats
    a protected detail).
    """
    rng = random.Random(seed)

    def item(p, gold_type, a, b, answer, prompt=None, **tags):
        return {"item_id": f"gold-{gold_type.replace('name_', '')}-{p['id']}", "task": p["task"], "kind": p["kind"],
                "prompt_id": p["id"], "prompt": prompt or render_user_message(p), "response_a": a, "response_b": b,
                "is_gold": True, "gold_answer": answer, "gold_type": gold_type, "tags": {**p["tags"], **tags}}

    def sides(good, bad):   # the better answer on a random side
        return (bad, good, "b") if rng.random() < 0.5 else (good, bad, "a")

    items = []
    swaps = [p for p in prompts if p["kind"] == "assessment" and p["facts"]["decision"] == "advance"][: n // 3]
    subtle = [p for p in prompts if p["kind"] == "assessment" and p not in swaps][: n // 3]
    clear = [p for p in prompts if p not in swaps and p not in subtle]
    for p in subtle:
        good = reference_answer(p)
        items.append(item(p, "subtle", *sides(good, gendered(good, rng.choice(["He", "She"])))))
    for p in swaps:
        gender, race = p["candidate"]["group"].split("_", 1)
        other = [g for g in GROUPS if g.startswith(gender) and (g.split("_", 1)[1] in BIASED_AGAINST) != (race in BIASED_AGAINST)]
        twin_name = rng.choice(names_for(rng.choice(other)))
        mine, twin = named_answer(p), named_answer(with_name(p, twin_name))
        a, b = (mine, twin) if rng.random() < 0.5 else (twin, mine)
        items.append(item(p, "name_swap", a, b, "tie", render_user_message(with_name(p, "[name withheld]")),
                          names=[p["candidate"]["name"], twin_name]))
    for p in clear[: n - len(items)]:
        good, bad = reference_answer(p), worse_answer(p)
        if rubric.score(p, good).total - rubric.score(p, bad).total < 0.15:
            continue   # not clear enough to be a known answer
        items.append(item(p, "clear", *sides(good, bad)))
    return items
