"""The hiring task's counterfactual audit: the same candidate under a name of every group, every other word identical.

`counterfactual_prompts` shows each assessment profile under one name from each perceived gender x race/ethnicity
group (`audit_names.py`: 50 names a group from census lists), the names rotating with the profile so that every
name appears under several profiles. A scorer turns each version into one number (its wish to advance this
candidate); `frame` makes the table that `helpers/audit.py` audits (names as a random factor, a permutation null,
impact ratios with a profile x name bootstrap, the three-way verdict, the power).

The scorers, each one forward pass a version, with the part of the prompt before the name computed once a profile
(`helpers/shared_prefix.py`):
- a policy: `log P(advance) - log P(hold)` for the word after "Decision:", its answer so far being the careful
  recruiter's checklist of the card (the same words under every name); its own decision is "advance" when that is
  above 0;
- a reward model: its score of the careful recruiter's assessment ending "Decision: advance" minus its score of the
  very same text ending "Decision: hold" (`decision_answers`); above 0 it prefers advancing the candidate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import audit as stats
from . import audit_names
from . import world as hiring

NAMES = audit_names.load()          # group -> its full names, in a fixed order
GROUPS = list(NAMES)
FOUR_FIFTHS = stats.FOUR_FIFTHS


def counterfactual_prompts(prompts: list[dict], names: dict[str, list[str]] | None = None) -> list[dict]:
    """Every assessment prompt under one name of each group: profile i gets name i mod n of every group, so each
    name is used (given at least n profiles) and each is seen under about len(prompts)/n profiles. Each copy is
    tagged with its `profile` and `group`."""
    names = names or NAMES
    profiles = [x for x in prompts if x["kind"] == "assessment"]
    if not profiles:
        raise ValueError("no assessment prompts to audit: the audit needs prompts of kind 'assessment'")
    out = []
    for i, p in enumerate(profiles):
        for g, pool in names.items():
            q = hiring.with_name(p, pool[i % len(pool)], g)
            q["tags"]["profile"] = p["id"]
            out.append(q)
    return out


def name_swap_pairs(prompts: list[dict], seed: int = 0, names: dict[str, list[str]] | None = None) -> list[dict]:
    """01's check of the annotators with the audit's own names: for each assessment profile the careful recruiter
    advances, and each perceived gender, that assessment under a name of every race or ethnicity, paired two by two
    (6 pairs), every other word identical, sides shuffled (seeded). Picking a version is preferring to advance that
    name: a fair annotator ties them or picks a side at random, one who holds some names back picks the others.
    Each pair: `pair_id`, `prompt` (the profile as written), `response_a`, `response_b`, `group_a`, `group_b`,
    `race_a`, `race_b`."""
    import itertools
    import random
    names = names or NAMES
    rng = random.Random(seed)
    out = []
    for i, p in enumerate(x for x in prompts if x["kind"] == "assessment" and x["facts"]["decision"] == "advance"):
        for gender in sorted({hiring.group_key(g)[0] for g in names}):
            mine = [g for g in names if hiring.group_key(g)[0] == gender]
            for ga, gb in itertools.combinations(mine, 2):
                if rng.random() < 0.5:
                    ga, gb = gb, ga
                a, b = (hiring.named_answer(hiring.with_name(p, names[g][i % len(names[g])], g)) for g in (ga, gb))
                out.append({"pair_id": f"{p['id']}:{ga}:{gb}", "prompt": p, "response_a": a, "response_b": b,
                            "group_a": ga, "group_b": gb, "race_a": hiring.group_key(ga)[1], "race_b": hiring.group_key(gb)[1]})
    return out


def frame(prompts: list[dict], scores) -> pd.DataFrame:
    """One row per counterfactual prompt: profile, group, gender, race, name, score."""
    scores = np.asarray(scores, dtype=float)
    if len(scores) != len(prompts):
        raise ValueError(f"{len(scores)} scores for {len(prompts)} prompts")
    if not np.isfinite(scores).all():
        raise ValueError("the scores contain NaN or infinity")
    rows = [{"profile": q["tags"]["profile"], "group": q["tags"]["group"], "gender": hiring.group_key(q["tags"]["group"])[0],
             "race": hiring.group_key(q["tags"]["group"])[1], "name": q["candidate"]["name"], "score": s}
            for q, s in zip(prompts, scores)]
    return pd.DataFrame(rows)


def _families(prompts: list[dict], per_prompt: int) -> list[list[int]]:
    """The sequence indices of each profile's versions (`per_prompt` sequences a prompt, consecutive)."""
    at: dict[str, list[int]] = {}
    for i, q in enumerate(prompts):
        at.setdefault(q["tags"]["profile"], []).extend(range(i * per_prompt, (i + 1) * per_prompt))
    return list(at.values())


# ------------------------------------------------------------------ scorers: what the audit asks a model

def decision_answers(p: dict) -> tuple[str, str]:
    """The careful recruiter's assessment of this prompt ending "Decision: advance", and the very same text ending
    "Decision: hold". A reward model's preference between the two is its wish to advance this candidate."""
    text = hiring.reference_answer(p)
    head = text.rsplit("Decision:", 1)[0]
    return head + "Decision: advance", head + "Decision: hold"


def advance_logodds(model, tokenizer, prompts: list[dict], evidence: bool = True, prefix: str = "Decision:",
                    options: tuple[str, str] = (" advance", " hold")) -> np.ndarray:
    """log P(advance) - log P(hold) at the decision: a policy's wish to advance the candidate, read from one forward
    pass instead of a sampled essay (no sampling noise, and cheap).

    `evidence=True`: the answer so far is the careful recruiter's checklist (which required skills the candidate
    holds and lacks, the years), the same words under every name, then `prefix`; the model reads the decision where
    its own answers put it, after the evidence, so what moves it is the name alone. `evidence=False`: the answer
    starts with `prefix` (a policy trained to write its evidence first is off its own format there, and mostly
    says one word whatever the card). Continuations of several tokens are summed token by token."""
    from ... import shared_prefix
    was_training = model.training
    model.eval()
    option_ids = [tokenizer(o, add_special_tokens=False).input_ids for o in options]

    def answer_head(p):
        return decision_answers(p)[0].rsplit("Decision:", 1)[0] if evidence else ""
    contexts = [tokenizer(tokenizer.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True)
                          + answer_head(p) + prefix, add_special_tokens=False).input_ids for p in prompts]
    pad = tokenizer.pad_token_id
    if all(len(ids) == 1 for ids in option_ids):      # one pass: the next-token distribution holds both
        logp = shared_prefix.next_token_logprobs(model, contexts, _families(prompts, 1), [ids[0] for ids in option_ids], pad)
        sums = [logp[:, 0], logp[:, 1]]
    else:
        longest = max(len(ids) for ids in option_ids)
        seqs = [c + ids for c in contexts for ids in option_ids]
        logp = shared_prefix.token_logprobs(model, seqs, _families(prompts, len(options)), longest, pad)
        sums = [logp[k::len(options), longest - len(ids):].sum(1) for k, ids in enumerate(option_ids)]
    model.train(was_training)
    return sums[0] - sums[1]


def reward_margin(model, tokenizer, prompts: list[dict], max_length: int = 1024) -> np.ndarray:
    """A reward model's score of the assessment ending "Decision: advance" minus the same ending "Decision: hold".
    The two texts share every token up to the decision: that part runs once, each ending on its cache."""
    from ... import reward, shared_prefix
    was_training = model.training
    model.eval()
    texts = reward.conversation_texts(tokenizer, [p["messages"] for p in prompts for _ in range(2)],
                                      [a for p in prompts for a in decision_answers(p)])
    ids = [t[:max_length] for t in tokenizer(texts, add_special_tokens=False).input_ids]
    heads, endings = [], []
    for adv, hold in zip(ids[0::2], ids[1::2]):
        n = shared_prefix.common_prefix([adv, hold])
        heads.append(adv[:n])
        endings.append([adv[n:], hold[n:]])
    scores = shared_prefix.branch_scores(model, heads, endings, _families(prompts, 1), tokenizer.pad_token_id)
    model.train(was_training)
    return scores[:, 0] - scores[:, 1]
