"""What every gold rubric shares: the score it returns, how words are counted, and how a win rate is read.

A task's rubric (helpers/tasks/<task>/rubric.py) returns a `RubricScore`; the helpers here know no task.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

# a skill like C++, C# or Node.js, an amount like $39.99, an e-mail address; a full stop inside a word, never at its end
WORD = re.compile(r"[A-Za-z0-9+#/'%$@-]+(?:\.[A-Za-z0-9+#/'%$@-]+)*")


@dataclass
class RubricScore:
    total: float
    dims: dict[str, float]
    criteria: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def scores_1to3(self) -> dict[str, int]:
        """The dimensions on the 1-3 scale the annotation records use."""
        return {k: 1 + int(round(2 * v)) for k, v in self.dims.items()}


def words(text: str | None) -> list[str]:
    """The words of a text, as every rubric and table counts them."""
    return WORD.findall(text or "")


def shouted(text: str) -> int:
    """Words of 5 letters or more in capitals ("AMAZING"): shouting, which a professional tone leaves out."""
    return len(re.findall(r"\b[A-Z]{5,}\b", text or ""))


def repetition(text: str) -> float:
    """Share of word trigrams that repeat an earlier one (small models loop)."""
    w = [x.lower() for x in words(text)]
    grams = list(zip(w, w[1:], w[2:]))
    return 0.0 if len(grams) < 2 else 1 - len(set(grams)) / len(grams)


def length_score(n_words: int, band: tuple[int, int]) -> float:
    """1 inside the band of words, falling linearly below it and (more slowly) above it."""
    lo, hi = band
    if n_words < lo:
        return n_words / lo
    if n_words > hi:
        return max(0.0, 1 - (n_words - hi) / (1.5 * hi))
    return 1.0


def proportion_ci(successes: float, n: int) -> list[float]:
    """Wilson's 95% interval of a proportion (NaNs when n is 0): the interval every rate in the project carries."""
    if not n:
        return [math.nan, math.nan]
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(successes, n, method="wilson")
    return [round(float(lo), 4), round(float(hi), 4)]


def tally(verdicts: list[str]) -> dict:
    """A win rate from verdicts 'a' (win), 'tie' (half a win) or 'b' (loss), with its Wilson interval."""
    wins, ties, n = verdicts.count("a"), verdicts.count("tie"), len(verdicts)
    if not n:
        raise ValueError("no verdicts to count")
    return {"win_rate": round((wins + 0.5 * ties) / n, 4), "ci95": proportion_ci(wins + 0.5 * ties, n),
            "wins_ties_losses": [wins, ties, n - wins - ties], "n": n}


def win_rate(prompts: list[dict], responses: list[str], baseline: list[str], judge: Callable[..., str],
             margin: float = 0.02) -> dict:
    """How often `judge(prompt, a, b, margin)` ('a', 'b' or 'tie') prefers each response to the baseline's answer to
    the same prompt: ties count half, with Wilson's 95% interval (n = number of prompts)."""
    if not (len(prompts) == len(responses) == len(baseline)) or not prompts:
        raise ValueError(f"need one response and one baseline per prompt: {len(prompts)} prompts, "
                         f"{len(responses)} responses, {len(baseline)} baseline responses")
    return tally([judge(p, a, b, margin) for p, a, b in zip(prompts, responses, baseline)])
