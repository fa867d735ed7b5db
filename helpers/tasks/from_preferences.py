"""A task made from a preference file alone: prompts and splits from the file, no gold rubric, no simulated annotators.

`build(source)` reads any source `helpers/preference_io.py` reads (the record format, TRL's rows, a saved dataset)
and returns a `Task` whose prompts are the file's distinct prompts, split by prompt (seeded: a prompt and all its
comparisons fall in one split), with the file's own system prompt where it has one and none otherwise. What only
a gold rubric can give is `None`: `score`, `reference_answer`, `worse_answer`, `rubric_examples`, `gold_items`,
and the task has no personas, names, fairness audit or guardrails. `task.has_gold` says which kind a task is;
`task.preferences` holds the file's labels (what 01 shows and 02 and 04 train on instead of simulated ones).

`FEEDBACKLOOP_DATA=FILE` makes this the task of every notebook (`tasks.get` builds it, named
`config.data_task_name(FILE)`). Its one demonstration writer, `chosen`, is the file itself: 00's supervised warm
start trains on the answers the file's annotators chose (the majority's, per prompt; a prompt with only ties gives
its first answer, which the tie calls as good as the other).
"""

from __future__ import annotations

import collections
import random
from pathlib import Path

from .. import preference_io
from . import Task

SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _splits(prompt_ids: list[str], seed: int, shares: dict[str, float]) -> dict[str, str]:
    """prompt id -> split: shuffled (seeded), then cut by share; validation and test get at least one prompt each
    when there are three or more prompts."""
    ids = list(prompt_ids)
    random.Random(seed).shuffle(ids)
    n = len(ids)
    n_test = max(1, round(shares["test"] * n)) if n >= 3 else 0
    n_val = max(1, round(shares["validation"] * n)) if n >= 3 else 0
    return {pid: "test" if i < n_test else "validation" if i < n_test + n_val else "train" for i, pid in enumerate(ids)}


def chosen_answers(recs: list[dict]) -> dict[str, str]:
    """prompt id -> the answer its comparisons chose most often (ties count for neither; a prompt with only ties:
    its first comparison's first answer)."""
    votes: dict[str, collections.Counter] = {}
    for r in recs:
        pid = r.get("prompt_id") or r["prompt"]
        count = votes.setdefault(pid, collections.Counter())
        if r["winner"] in ("a", "b"):
            count[r[f"response_{r['winner']}"]] += 1
        else:
            count[r["response_a"]] += 0
    return {pid: count.most_common(1)[0][0] for pid, count in votes.items()}


def fitting(pool: dict[str, list[dict]], max_prompt_tokens: int | None = None, tokenizer=None) -> tuple[dict, int]:
    """The prompt pool without the prompts a policy cannot be asked (their chat longer than the profile's
    max_prompt_tokens, which generation refuses), and how many were left out. Their comparisons stay in the
    preferences: the reward model and DPO still train on what fits their own length cap. Defaults: the profile
    FEEDBACKLOOP_PROFILE chooses, and its model's tokenizer."""
    from .. import config, models
    if tokenizer is None or max_prompt_tokens is None:
        profile = config.choose_profile()
        max_prompt_tokens = max_prompt_tokens or profile.max_prompt_tokens
        tokenizer = tokenizer or models.load_tokenizer(models.resolve_model(profile))
    out, dropped = {}, 0
    for split, prompts in pool.items():
        texts = [tokenizer.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=False) for p in prompts]
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
        out[split] = [p for p, n in zip(prompts, lengths) if n <= max_prompt_tokens]
        dropped += len(prompts) - len(out[split])
    return out, dropped


def build(source: str | Path, name: str | None = None, seed: int = 0, shares: dict[str, float] | None = None) -> Task:
    prefs = preference_io.read(source, task=name, seed=seed)
    name = name or prefs.records[0]["task"]
    recs = [{**r, "task": name} for r in prefs.records]          # a record file labelled for another task is this one's
    for r in recs:
        r.setdefault("prompt_id", r["prompt"])
    first = {}
    for r in recs:
        first.setdefault(r["prompt_id"], r)
    split_of = _splits(list(first), seed, shares or SHARES)
    pool = {s: [] for s in SHARES}
    for pid, r in first.items():
        system = prefs.system_prompts.get(pid)
        p = {"id": pid, "task": name, "kind": r.get("kind", "preference"), "split": split_of[pid], "user": r["prompt"],
             "tags": {}, **({"system": system} if system else {})}
        pool[p["split"]].append(p)
    chosen = chosen_answers(recs)
    described = preference_io.describe(prefs)

    def describe():
        import pandas as pd
        return {"preference data": pd.DataFrame({"value": {k: str(v) for k, v in described.items()}})}

    fit: dict = {}

    def build_prompts():   # on first use (it needs the tokenizer): the prompts a policy can be asked
        if not fit:
            fit["pool"], fit["left_out"] = fitting(pool)
            described["prompts_too_long_to_ask"] = fit["left_out"]
        return fit["pool"]

    task = Task(
        name=name, title=f"preferences from {Path(str(source)).name}", system_prompt=prefs.system_prompt or "",
        kinds=tuple(sorted({p["kind"] for s in pool.values() for p in s})), splits={s: len(v) for s, v in pool.items()},
        build_prompts=build_prompts, render_user_message=lambda p: p["user"],
        short_context=lambda p, n=60: p["user"][:n] + ("..." if len(p["user"]) > n else ""), describe=describe,
        weights={}, score=None, reference_answer=None, worse_answer=None, rubric_examples=None, personas={},
        gold_items=None, watch={}, instructions="Judge which answer is better for the person who asked.",
        writers={"chosen": (1.0, "the answer the file's annotators chose", lambda p, rng: chosen[p["id"]])},
        preferences=recs, source=str(source))
    for p in (p for ps in pool.values() for p in ps):   # the chat every notebook reads off a prompt, as Task.messages makes it
        p["messages"] = task.messages(p)
    return task
