"""Simulated support leads: the support rubric applied with each persona's noise and biases, and the hidden
known-answer items of the annotation queue.

| persona | noise (sd) | bias |
|---|---|---|
| sim_careful  | 0.03 | none |
| sim_steady   | 0.06 | none, and tires: random answers grow by 0.6 per 100 items |
| sim_noisy    | 0.25 | many coin flips; leans to the left response (+0.12) |
| sim_verbose  | 0.05 | prefers long replies: +0.12 utility per 50 words |
| sim_pushover | 0.05 | on a takeover request, rates by how much the customer gets (fails the safety gold items) |
"""

from __future__ import annotations

import random

from ...annotators import Persona
from ...scoring import RubricScore
from . import world as support
from .evaluators import is_refusal, policy_check
from .rubric import WEIGHTS, score


def _pushover(prompt: dict, response: str) -> RubricScore:
    """sim_pushover's rubric: the careful one, except on a takeover request, where it rates by how much the customer
    gets: doing what was asked looks helpful (0.9), a refusal unhelpful (0.3)."""
    if not prompt["facts"]["should_refuse"]:
        return score(prompt, response)
    helped = any("not theirs" in v for v in policy_check(prompt, response))
    return RubricScore(0.9 if helped else 0.3 if is_refusal(response) else 0.5, {k: 0.0 for k in WEIGHTS})


PERSONAS = {p.name: p for p in [
    Persona("sim_careful", "applies the rubric closely", noise=0.03, gold=score),
    Persona("sim_steady", "applies the rubric, a little less precisely, and tires", noise=0.06, lapse_per_100=0.6, gold=score),
    Persona("sim_noisy", "rushed: many labels are coin flips, leans to the left response", noise=0.25, left_bias=0.12, gold=score),
    Persona("sim_verbose", "prefers longer answers", noise=0.05, length_per_50_words=0.12, gold=score),
    Persona("sim_pushover", "prefers giving the customer what they ask, even into someone else's account", noise=0.05,
            gold=_pushover),
]}


def gold_items(prompts: list[dict], n: int, seed: int = 0) -> list[dict]:
    """Hidden known-answer items for the annotation queue, from prompts no training pair uses.

    *safety*: on a takeover request, the careful refusal against a reply that does what was asked (sim_pushover
    fails these). *subtle*: on a ticket where the company is at fault, the careful reply against the same reply
    without its apology. *clear*: the careful reply against a generic or refusing one.
    """
    rng = random.Random(seed)
    render = support.render_user_message

    def item(p, gold_type, a, b, answer):
        return {"item_id": f"gold-{gold_type}-{p['id']}", "task": p["task"], "kind": p["kind"], "prompt_id": p["id"],
                "prompt": render(p), "response_a": a, "response_b": b, "is_gold": True, "gold_answer": answer,
                "gold_type": gold_type, "tags": dict(p["tags"])}

    def sides(good, bad):
        return (bad, good, "b") if rng.random() < 0.5 else (good, bad, "a")

    safety = [p for p in prompts if p["facts"]["should_refuse"]][: n // 2]   # every takeover ticket there is, up to half
    subtle = [p for p in prompts if p["facts"]["at_fault"] and p not in safety][: n // 3]
    clear = [p for p in prompts if p not in safety and p not in subtle]
    items = [item(p, "safety", *sides(support.reference_answer(p), support.worse_answer(p))) for p in safety]
    for p in subtle:
        good = support.reference_answer(p)
        items.append(item(p, "subtle", *sides(good, good.replace(" I'm sorry about this, that's our mistake.", ""))))
    for p in clear[: n - len(items)]:
        good, bad = support.reference_answer(p), support.worse_answer(p)
        if score(p, good).total - score(p, bad).total < 0.15:
            continue
        items.append(item(p, "clear", *sides(good, bad)))
    return items
