"""The task interface: everything the six notebooks need to know about a task, in one object, and the registry.

A notebook does `task = tasks.get(config.choose_task())` and from then on only talks to `task`. Every task is one
folder here, `helpers/tasks/<name>/`, whose `__init__.py` has `build() -> Task`; the folders are the list of tasks
(`config.task_names()`), so adding a task is copying a folder (see docs/adapt.md, "Adapt FeedbackLoop to your task and
model"). Two ship: `hiring/` (world.py, rubric.py, personas.py, fairness.py) and `support/` (world.py, rubric.py,
personas.py, evaluators.py). A task's folder may use the generic modules of helpers/; no generic module imports a
task's folder (tests/test_layout.py checks it).

What a task provides (fields of `Task`):

    world        system_prompt, kinds (the kinds of prompt, the `kind` of a record), splits, build_prompts(seed),
                 render_user_message(p), short_context(p), describe() -> {title: table} for 00
    gold rubric  weights (its dimensions), score(p, response) -> scoring.RubricScore, reference_answer(p) and
                 worse_answer(p) (replies of known quality), rubric_examples(prompts) -> (prompt, {label: reply})
    annotators   personas (annotators.Persona), gold_items(prompts, n, seed) (hidden known-answer checks),
                 instructions (what a person in the annotation widget is asked)
    watch        {name: (what it means, fn(RubricScore) -> bool, or NaN where it does not apply)}: the shares 00 and
                 05 report for every model (the mean over the answers it applies to)
    dealbreaker  optional fn(RubricScore) -> str | None: what makes an answer unsendable however it is written (for
                 hiring a factual error or the wrong decision); 02 reports the reward model's accuracy on the pairs
                 it decides
    evaluators   {name: fn(p, response) -> float}: logged every PPO step (03) and averaged per model (05)
    audits       optional abilities, None where they do not apply:
                 names      the name groups of the world (00 shows them; the fairness audit draws from them)
                 fairness   a module with the counterfactual name-swap audit (05)
                 guardrails a module with refusal_rates and conversations (05's safety section)

Methods shared by every task: load_prompts, messages, prefer, win_rate, write_prompts.

`from_preferences.build(source)` makes a task from a preference file alone (no folder, no gold rubric:
`task.has_gold` is False, and what needs the rubric says so): `FEEDBACKLOOP_DATA=FILE` makes it the task of every
notebook, named `data-<file name>` (docs/own_preferences.md).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

from ..config import DATA_PREFIX, choose_task, data_source, task_names
from ..records import save_rows
from ..scoring import win_rate


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    system_prompt: str
    kinds: tuple[str, ...]
    splits: dict[str, int]
    build_prompts: Callable[[], dict[str, list[dict]]]
    render_user_message: Callable[[dict], str]
    short_context: Callable[..., str]
    describe: Callable[[], dict]
    weights: dict[str, float]
    score: Callable | None                       # None: no gold rubric (a task made from a preference file)
    reference_answer: Callable[[dict], str] | None
    worse_answer: Callable[[dict], str] | None
    rubric_examples: Callable[[list[dict]], tuple[dict, dict[str, str]]] | None
    personas: dict
    gold_items: Callable[[list[dict], int, int], list[dict]] | None
    watch: dict[str, tuple[str, Callable]]
    instructions: str                # what a human judge in the annotation widget is asked
    evaluators: dict[str, Callable[[dict, str], float]] = field(default_factory=dict)
    names: dict | None = None
    fairness: ModuleType | None = None   # the counterfactual name-swap audit (05), where a task has one
    favoured_names: tuple[str, ...] = ()   # first names a name-biased annotator favours (01's name-swap check)
    guardrails: ModuleType | None = None
    writers: dict = field(default_factory=dict)   # name -> (share, description, write(p, rng)): 00's demonstrations
    demo_prompts: Callable[[int, int], list[dict]] | None = None   # fn(n, seed) -> fresh prompts for 00's demonstrations
    #                                                                (None: the last n of the train split)
    dim_help: dict = field(default_factory=dict)  # dimension -> what it means, in words for the annotation widget
    verdict_of: Callable[[str], str | None] | None = None   # an answer's verdict word (hiring: advance/hold), for 04's balance
    dealbreaker: Callable | None = None   # fn(RubricScore) -> what makes an answer unsendable (a factual error...) or None
    preferences: list | None = None   # a task made from a preference file: its records (tasks/from_preferences.py)
    source: str | None = None         # ... and the file, folder or Hub id they were read from

    @property
    def has_gold(self) -> bool:
        """Whether the task has a gold rubric (a programmatic judge); a task made from a preference file has not."""
        return self.score is not None

    def no_gold(self, what: str) -> str:
        """The one line a notebook prints where it skips `what` for want of a gold rubric."""
        return f"{what}: skipped, for want of a gold rubric (this task was made from a preference file, {self.title})."

    def _needs_gold(self, what: str) -> None:
        if not self.has_gold:
            raise ValueError(f"{what} needs a gold rubric, and the task {self.name!r} has none (it was made from a "
                             "preference file): judge with the reward model or with people instead")

    # ---- shared by every task
    def load_prompts(self, split: str, n: int | None = None, path: Path | None = None) -> list[dict]:
        """The first n prompts of a split, from the shipped file when present (else generated, identically)."""
        if split not in self.splits:
            raise ValueError(f"Unknown split {split!r} for the {self.name} task: choose one of {', '.join(self.splits)}.")
        if path is not None and Path(path).exists():
            rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
            rows = [r for r in rows if r["split"] == split]
            if rows and rows[0].get("task") != self.name:
                raise ValueError(f"{path} holds {rows[0].get('task')!r} prompts, not {self.name!r} ones.")
        else:
            rows = self.build_prompts()[split]
        return rows[:n] if n is not None else rows

    def write_prompts(self, path: Path) -> int:
        pool = self.build_prompts()
        rows = [p for split in self.splits for p in pool[split]]
        save_rows(rows, path)
        return len(rows)

    def messages(self, p: dict) -> list[dict]:
        """The chat the model sees: the prompt's own system prompt (`p["system"]`), else the task's, when there is
        one, and the rendered user message."""
        system = p.get("system", self.system_prompt)
        return ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": self.render_user_message(p)}]

    def prefer(self, p: dict, a: str, b: str, margin: float = 0.02) -> str:
        """The gold preference between two responses: 'a', 'b' or 'tie' (scores within `margin`)."""
        self._needs_gold("a gold preference")
        sa, sb = self.score(p, a).total, self.score(p, b).total
        return "tie" if abs(sa - sb) <= margin else "a" if sa > sb else "b"

    def win_rate(self, prompts: list[dict], responses: list[str], baseline: list[str], margin: float = 0.02) -> dict:
        """How often the gold rubric prefers each response to the baseline's (ties half), with Wilson's 95% interval."""
        self._needs_gold("a gold win rate")
        return win_rate(prompts, responses, baseline, self.prefer, margin)

    def known_pairs(self, n: int) -> list[dict]:
        """n TRL preference rows of known quality (the careful answer chosen over the worse one) on the first train
        prompts: what the memory and speed benchmarks of 02 and 04 train on, at this task's lengths. A task made from
        a preference file gives its own n shortest decided comparisons (repeated if it has fewer): the ones most likely
        to fit a profile's maximum length, which a trainer would otherwise drop."""
        if self.preferences is not None:
            by_id = {p["id"]: p for split in self.splits for p in self.load_prompts(split)}
            decided = sorted((r for r in self.preferences if r["winner"] in ("a", "b")),
                             key=lambda r: len(r["prompt"]) + max(len(r["response_a"]), len(r["response_b"])))
            if not decided:
                raise ValueError(f"{self.source}: every comparison is a tie; there is nothing to train on")
            rows = [decided[i % len(decided)] for i in range(n)]
            return [{"prompt": self.messages(by_id[r["prompt_id"]]),
                     "chosen": [{"role": "assistant", "content": r[f"response_{r['winner']}"]}],
                     "rejected": [{"role": "assistant", "content": r["response_b" if r["winner"] == "a" else "response_a"]}]}
                    for r in rows]
        self._needs_gold("pairs of known quality")
        prompts = self.build_prompts()["train"][:n]
        return [{"prompt": self.messages(p), "chosen": [{"role": "assistant", "content": self.reference_answer(p)}],
                 "rejected": [{"role": "assistant", "content": self.worse_answer(p)}]} for p in prompts]

    def rollout_evaluators(self, prompts: list[dict]) -> dict[str, Callable]:
        """The evaluators as PPO sees them: fn(chats, texts) -> list of floats, the prompt found by its user message."""
        by_user = {self.render_user_message(p): p for p in prompts}

        def wrap(fn):
            return lambda chats, texts: [float(fn(by_user[c[-1]["content"]], t)) for c, t in zip(chats, texts)]
        return {name: wrap(fn) for name, fn in self.evaluators.items()}


_CACHE: dict = {}   # task name (and a data task's source) -> Task


def get(name: str | None = None) -> Task:
    """The task named, else FEEDBACKLOOP_DATA's, else FEEDBACKLOOP_TASK, else hiring: `build()` of the folder
    helpers/tasks/<name>/, or for a data task (`data-...`) `from_preferences.build` of FEEDBACKLOOP_DATA's file."""
    key = choose_task(name)
    if key.startswith(DATA_PREFIX):   # loaded by name, as a task folder is: from_preferences builds on Task
        source = data_source()
        if (key, source) not in _CACHE:
            _CACHE[(key, source)] = importlib.import_module(f"{__name__}.from_preferences").build(source, key)
        return _CACHE[(key, source)]
    if key not in _CACHE:
        task = importlib.import_module(f"{__name__}.{key}").build()
        if not isinstance(task, Task) or task.name != key:
            raise TypeError(f"helpers/tasks/{key}/__init__.py: build() must return a Task named {key!r}")
        _CACHE[key] = task
    return _CACHE[key]


def main(argv: list[str] | None = None) -> None:
    """`python -m helpers.tasks [TASK] [--show N]`: a task as the notebooks see it, and its gold rubric at work on
    the first N training prompts (a careful reply against a worse one). Needs no model."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("task", nargs="?", default=None,
                        help=f"one of {', '.join(task_names())} (default: FEEDBACKLOOP_TASK, else hiring)")
    parser.add_argument("--show", type=int, default=1, help="how many training prompts to show")
    args = parser.parse_args(argv)
    t = get(args.task)
    pool = t.build_prompts()
    print(f"task {t.name}: {t.title}\nsplits {t.splits}; kinds {', '.join(t.kinds)}\n"
          f"gold rubric {t.weights}\nannotators {', '.join(t.personas)}\nevaluators {', '.join(t.evaluators)}\n"
          f"fairness audit: {'yes' if t.fairness else 'no'}; safety section (guardrails): {'yes' if t.guardrails else 'no'}")
    for p in pool["train"][: args.show]:
        good, bad = t.reference_answer(p), t.worse_answer(p)
        print(f"\n==== {p['id']} [{p['kind']}]\n{t.render_user_message(p)}\n"
              f"--- careful reply, gold {t.score(p, good).total:.2f}\n{good}\n"
              f"--- worse reply, gold {t.score(p, bad).total:.2f} ({'; '.join(t.score(p, bad).notes)})\n{bad}")

