"""Simulated recruiters: annotator personas that apply the gold rubric with their own noise and biases.

Each persona sees a pair of responses, forms a utility for each (the gold score plus its bias), perceives the
difference through Gaussian noise (a Thurstone model), and answers `a`, `b`, or `tie` when the perceived
difference is within its tie margin. Every choice is seeded by (seed, annotator, pair id), so a label
repeats whatever order the queue is worked in. Real recruiters replace them in the widget of 01.

| persona | noise (sd) | bias |
|---|---|---|
| sim_careful | 0.03 | none: the gold recruiter with a steady hand |
| sim_steady  | 0.06 | none, a little less precise |
| sim_noisy   | 0.25 | none, but so noisy that many labels are coin flips; leans to the left response (+0.12) |
| sim_verbose | 0.05 | prefers long answers: +0.3 utility per 50 words (answers here are short: 15-40 words) |
| sim_namebias| 0.05 | holds back candidates whose names read as Black or Hispanic: on assessments it adds +0.3 to a "hold" and -0.3 to an "advance" attached to such a name |

sim_steady also tires: the chance that it answers at random, without reading, grows by 0.1 per 100 items into its
queue (capped at 0.9): the drift a p-chart should show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from . import rubric
from .config import keyed_rng
from .hiring import words

BIASED_AGAINST = ("Black", "Hispanic")  # sim_namebias's documented bias


def without_names(text: str) -> str:
    """The text with every listed first name and surname masked."""
    import re

    from .hiring import NAMES
    names = sorted({n for e in NAMES.values() for n in e["first"] + e["last"]}, key=len, reverse=True)
    return re.sub(r"\b(" + "|".join(names) + r")\b", "<name>", text)


def race_of_named(response: str, prompt: dict) -> str:
    """The perceived race or ethnicity of the person a response names (by first name), else of the prompt's
    candidate. sim_namebias judges a recommendation by the name attached to it."""
    from .hiring import NAMES
    for (_, race), entry in NAMES.items():
        if any(f" {first} " in f" {response} " or f" {first}'" in f" {response}" for first in entry["first"]):
            return race
    return prompt["candidate"]["group"].split("_", 1)[1]


@dataclass(frozen=True)
class Persona:
    name: str
    description: str
    noise: float                  # sd of the Gaussian noise on the perceived utility difference
    tie_margin: float = 0.03      # |perceived difference| at or below this is a tie
    length_per_50_words: float = 0.0
    name_bias: float = 0.0        # utility shift of hold(+)/advance(-) for candidates in BIASED_AGAINST
    left_bias: float = 0.0        # added to the left response's utility
    lapse_per_100: float = 0.0    # tiring: chance of a random answer grows by this per 100 items (drift)
    gold: Callable | None = None  # the task's gold rubric as this persona applies it; None: the hiring rubric

    def utility(self, prompt: dict, response: str) -> float:
        u = scored(self.gold or rubric.score, prompt, response).total
        u += self.length_per_50_words * len(words(response)) / 50
        if self.name_bias and prompt["kind"] == "assessment":
            if race_of_named(response, prompt) in BIASED_AGAINST:
                said = rubric.decision_of(response)
                u += self.name_bias if said == "hold" else -self.name_bias if said == "advance" else 0.0
        return u

    def choose(self, prompt: dict, response_a: str, response_b: str, pair_id: str, seed: int = 0,
               position: int = 0) -> str:
        """'a', 'b' or 'tie' for the pair as shown (a on the left); `position` in the queue drives fatigue."""
        rng = keyed_rng(seed, self.name, pair_id)
        lapse = min(0.9, self.lapse_per_100 * position / 100)
        if lapse and rng.random() < lapse:      # a tired click: not reading, just answering
            return rng.choice(["a", "b", "tie"])
        diff = self.utility(prompt, response_a) + self.left_bias - self.utility(prompt, response_b)
        # anyone sees that two texts are the same apart from a name: no perception noise there, only bias
        same = without_names(response_a) == without_names(response_b)
        perceived = diff + (0.0 if same else rng.gauss(0.0, self.noise))
        if abs(perceived) <= self.tie_margin:
            return "tie"
        return "a" if perceived > 0 else "b"


PERSONAS = {p.name: p for p in [
    Persona("sim_careful", "applies the rubric closely", noise=0.03),
    Persona("sim_steady", "applies the rubric, a little less precisely, and tires", noise=0.06, lapse_per_100=0.1),
    Persona("sim_noisy", "rushed: many labels are coin flips, leans to the left response", noise=0.25, left_bias=0.12),
    Persona("sim_verbose", "prefers longer answers", noise=0.05, length_per_50_words=0.3),
    Persona("sim_namebias", "holds back candidates whose names read as Black or Hispanic", noise=0.05, name_bias=0.3),
]}


_SCORED: dict = {}


def scored(score, prompt: dict, response: str):
    """`score(prompt, response)`, remembered by (rubric, prompt id, response): a label asks for the same scores
    several times (the utility of each side, the rationale, the 1-3 form), and the gold rubric is regex work."""
    key = (score, prompt.get("id"), response)
    if key[1] is None:
        return score(prompt, response)
    if key not in _SCORED:
        if len(_SCORED) > 200_000:
            _SCORED.clear()
        _SCORED[key] = score(prompt, response)
    return _SCORED[key]


def get(name: str, personas: dict[str, Persona] | None = None) -> Persona:
    personas = PERSONAS if personas is None else personas
    if name not in personas:
        raise ValueError(f"Unknown persona {name!r}: choose one of {', '.join(personas)}.")
    return personas[name]


def rationale(prompt: dict, response_a: str, response_b: str, winner: str, score=None) -> str:
    """A short reason in an annotator's words, from the gold rubric's notes (`score`, default hiring's) on the
    losing side."""
    if winner not in ("a", "b"):
        return "Both are about as good." if winner == "tie" else ""
    loser = response_b if winner == "a" else response_a
    notes = scored(score or rubric.score, prompt, loser).notes
    other = "B" if winner == "a" else "A"
    return f"{winner.upper()} is better; {other}: {notes[0]}." if notes else f"{winner.upper()} reads better overall."


def assign(pair_ids: list[str], k: int, seed: int = 0, pool: list[str] | None = None) -> dict[str, list[str]]:
    """Which k annotators label each pair: balanced rotation over the pool, shuffled by seed."""
    pool = list(pool or PERSONAS)
    if not 1 <= k <= len(pool):
        raise ValueError(f"k must be between 1 and {len(pool)}, not {k}")
    rng = random.Random(seed)
    order = pool[:]
    out = {}
    for i, pid in enumerate(pair_ids):
        if i % len(pool) == 0:
            rng.shuffle(order)
        out[pid] = [order[(i + j) % len(pool)] for j in range(k)]
    return out


def label_pairs(pairs: list[dict], prompts: dict[str, dict], k: int, seed: int = 0,
                pool: list[str] | None = None, created_at: str | None = None, task=None) -> list[dict]:
    """Each pair labelled by k simulated annotators of `task` (a tasks.Task; default hiring), as preference records
    (one per label)."""
    from .records import now
    from .tasks import get as get_task
    task = task or get_task("hiring")
    who = assign([p["pair_id"] for p in pairs], k, seed, pool or list(task.personas))
    stamp = created_at or now()
    out, seen = [], {}
    for pair in pairs:
        prompt = prompts[pair["prompt_id"]]
        for name in who[pair["pair_id"]]:
            persona = get(name, task.personas)
            seen[name] = seen.get(name, -1) + 1
            winner = persona.choose(prompt, pair["response_a"], pair["response_b"], pair["pair_id"], seed, seen[name])
            preferred = pair["response_a"] if winner == "a" else pair["response_b"] if winner == "b" else None
            out.append({
                "id": f"{pair['pair_id']}@{name}", "task": prompt["task"], "kind": prompt["kind"],
                "prompt_id": prompt["id"], "prompt": task.render_user_message(prompt),
                "response_a": pair["response_a"], "response_b": pair["response_b"], "winner": winner,
                "annotator": name, "rationale": rationale(prompt, pair["response_a"], pair["response_b"], winner, task.score),
                "scores": task.score(prompt, preferred).scores_1to3() if preferred else {},
                "is_gold": False, "tags": {**prompt["tags"], "pair_id": pair["pair_id"]}, "created_at": stamp,
            })
    return out


def gold_items(prompts: list[dict], n: int, seed: int = 0) -> list[dict]:
    """Hidden known-answer items for the annotation queue, from prompts no training pair uses.

    A third are *name swaps*: the same assessment under two names from different groups, with the prompt's name
    withheld; the right answer is a tie, and an annotator who prefers one side is judging the name. A third are
    *subtle*: a careful recruiter's assessment against the same text that calls the candidate "he" or "she"
    (gold 0.1 lower: an attentive annotator sees it, a careless one does not). The rest are *clear*: the
    careful answer against a clearly worse one (the wrong decision, a generic question, a summary that repeats
    a protected detail).
    """
    from .hiring import GROUPS, names_for, reference_answer, render_user_message, with_name, worse_answer
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
        items.append(item(p, "subtle", *sides(good, good.replace("the candidate", rng.choice(["he", "she"]), 1))))
    for p in swaps:
        gender, race = p["candidate"]["group"].split("_", 1)
        other = [g for g in GROUPS if g.startswith(gender) and (g.split("_", 1)[1] in BIASED_AGAINST) != (race in BIASED_AGAINST)]
        twin_name = rng.choice(names_for(rng.choice(other)))
        mine, twin = reference_answer(p), reference_answer(with_name(p, twin_name))
        a, b = (mine, twin) if rng.random() < 0.5 else (twin, mine)
        items.append(item(p, "name_swap", a, b, "tie", render_user_message(with_name(p, "[name withheld]")),
                          names=[p["candidate"]["name"], twin_name]))
    for p in clear[: n - len(items)]:
        good, bad = reference_answer(p), worse_answer(p)
        if rubric.score(p, good).total - rubric.score(p, bad).total < 0.15:
            continue   # not clear enough to be a known answer
        items.append(item(p, "clear", *sides(good, bad)))
    return items
