"""Simulated annotators: personas that apply a task's gold rubric with their own noise and biases.

Each persona sees a pair of responses, forms a utility for each (the gold score plus its biases), perceives the
difference through Gaussian noise (a Thurstone model), and answers `a`, `b`, or `tie` when the perceived
difference is within its tie margin. Every choice is seeded by (seed, annotator, pair id), so a label
repeats whatever order the queue is worked in. Real people replace them in the widget of 01.

A task's personas live in its folder (helpers/tasks/<task>/personas.py); this module knows no task. The biases
every task can use are fields of `Persona` (noise, position, length, fatigue); a task's own bias (the hiring
task's name-biased recruiter) is a function of (prompt, response) passed as `bias`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .config import keyed_rng
from .scoring import words


@dataclass(frozen=True)
class Persona:
    name: str
    description: str
    noise: float                  # sd of the Gaussian noise on the perceived utility difference
    gold: Callable                # the task's gold rubric as this persona applies it: score(prompt, response)
    tie_margin: float = 0.03      # |perceived difference| at or below this is a tie
    length_per_50_words: float = 0.0
    left_bias: float = 0.0        # added to the left response's utility
    lapse_per_100: float = 0.0    # tiring: chance of a random answer grows by this per 100 items (drift)
    bias: Callable[[dict, str], float] | None = None  # the task's own bias: a utility shift for (prompt, response)
    mask: Callable[[str], str] | None = None  # what it ignores when telling two texts apart (a candidate's name)

    def utility(self, prompt: dict, response: str) -> float:
        u = scored(self.gold, prompt, response).total
        u += self.length_per_50_words * len(words(response)) / 50
        if self.bias is not None:
            u += self.bias(prompt, response)
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
        mask = self.mask or (lambda t: t)
        same = mask(response_a) == mask(response_b)
        perceived = diff + (0.0 if same else rng.gauss(0.0, self.noise))
        if abs(perceived) <= self.tie_margin:
            return "tie"
        return "a" if perceived > 0 else "b"


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


def get(name: str, personas: dict[str, Persona]) -> Persona:
    if name not in personas:
        raise ValueError(f"Unknown persona {name!r}: choose one of {', '.join(personas)}.")
    return personas[name]


def rationale(prompt: dict, response_a: str, response_b: str, winner: str, score: Callable) -> str:
    """A short reason in an annotator's words, from the gold rubric's notes (`score`) on the losing side."""
    if winner not in ("a", "b"):
        return "Both are about as good." if winner == "tie" else ""
    loser = response_b if winner == "a" else response_a
    notes = scored(score, prompt, loser).notes
    other = "B" if winner == "a" else "A"
    return f"{winner.upper()} is better; {other}: {notes[0]}." if notes else f"{winner.upper()} reads better overall."


def assign(pair_ids: list[str], k: int, seed: int, pool: list[str]) -> dict[str, list[str]]:
    """Which k annotators of the pool label each pair: balanced rotation over the pool, shuffled by seed."""
    pool = list(pool)
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


def label_pairs(pairs: list[dict], prompts: dict[str, dict], k: int, task, seed: int = 0,
                pool: list[str] | None = None, created_at: str | None = None) -> list[dict]:
    """Each pair labelled by k simulated annotators of `task` (a tasks.Task), as preference records (one per
    label)."""
    from .records import now
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
