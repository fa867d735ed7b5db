"""The task world is deterministic, split cleanly, and swaps names without touching anything else."""

import difflib
import json

from helpers import config, tasks
from helpers.tasks.hiring import rubric
from helpers.tasks.hiring import world as hiring


def test_same_seed_same_world_other_seed_other_world(pool):
    assert hiring.build_prompts() == pool
    assert hiring.build_prompts(seed=7)["train"][0] != pool["train"][0]


def test_shipped_prompts_match_the_generator(pool):
    shipped = config.ROOT / "data" / "hiring" / "prompts.jsonl"
    rows = [json.loads(line) for line in shipped.read_text().splitlines()]
    assert rows == [p for split in hiring.SPLITS for p in pool[split]], \
        "data/hiring/prompts.jsonl differs from the generator: run `make sample-data`, never edit it by hand"


def test_splits_are_disjoint_and_sized(pool):
    ids = {split: {p["candidate"]["id"] for p in rows} for split, rows in pool.items()}
    assert {s: len(r) for s, r in pool.items()} == hiring.SPLITS
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"] and not ids["validation"] & ids["test"]


def test_every_kind_role_and_group_appears(pool):
    train = pool["train"]
    assert {p["kind"] for p in train} == set(hiring.KINDS)
    assert {p["job"]["role"] for p in train} == set(hiring.ROLES)
    assert {p["candidate"]["group"] for p in train} == set(hiring.GROUPS)
    assert {p["facts"]["decision"] for p in train} == {"advance", "hold"}
    assert {p["tags"]["difficulty"] for p in train} == {"easy", "medium", "hard"}


def test_decision_follows_the_screening_rule(pool):
    for p in pool["test"]:
        held = [s for s in p["job"]["required"] if s in p["candidate"]["skills"]]
        enough = p["candidate"]["years"] >= p["job"]["min_years"]
        assert p["facts"]["relevant_skills"] == held   # in the job's order
        assert (p["facts"]["decision"] == "advance") == (len(held) >= hiring.MIN_REQUIRED_HELD and enough)
    assessments = [p for s in pool.values() for p in s if p["kind"] == "assessment"]
    assert 0.4 <= sum(p["facts"]["decision"] == "advance" for p in assessments) / len(assessments) <= 0.6


def test_name_swap_changes_only_the_name(pool):
    p = next(q for q in pool["test"] if q["kind"] == "assessment")
    first, last = p["candidate"]["name"].split()
    swap = next(n for n in hiring.names_for("male_White") if n.split()[0] != first and n.split()[1] != last)
    q = hiring.with_name(p, swap, "male_White")
    a, b = p["messages"][1]["content"], q["messages"][1]["content"]
    changed = [d for d in difflib.ndiff(a.split(), b.split()) if d[0] in "+-"]
    assert sorted(w[2:].strip(",.;:") for w in changed) == sorted(p["candidate"]["name"].split() + swap.split())
    assert q["facts"] == p["facts"] and q["candidate"]["skills"] == p["candidate"]["skills"]


def test_profiles_carry_no_protected_attribute(pool):
    """The name is the only signal of a group; only some summary notes carry a (deliberate) personal aside."""
    for p in pool["train"] + pool["test"]:
        text = p["messages"][1]["content"]
        if p["kind"] == "summary" and p["facts"]["notes_have_protected_aside"]:
            for aside in hiring.PROTECTED_ASIDES:
                text = text.replace(aside, "")
        body = text.replace(p["candidate"]["name"], "")
        assert not rubric.PROTECTED.search(body), (p["id"], rubric.PROTECTED.search(body))
        assert not rubric.GENDERED_PRONOUN.search(body), p["id"]


def test_unknown_split_fails_with_choices():
    import pytest
    with pytest.raises(ValueError, match="train, validation, test"):
        tasks.get("hiring").load_prompts("dev")


def test_compact_prompts_stay_within_their_token_limit(pool):
    """Every prompt token is paid in every pass of every stage: the chat-templated prompt stays short."""
    from helpers import models
    tok = models.load_tokenizer(models.resolve_model(config.choose_profile("smoke")))
    lengths = {kind: [] for kind in hiring.KINDS}
    for split in hiring.SPLITS:
        for p in pool[split]:
            lengths[p["kind"]].append(len(tok.apply_chat_template(p["messages"], add_generation_prompt=True, return_dict=False)))
    assert max(max(v) for v in lengths.values()) <= hiring.MAX_PROMPT_TOKENS
    # an assessment's instruction states the screening rule: about 20 tokens more than the others
    assert all(sum(v) / len(v) <= 135 for v in lengths.values()), {k: sum(v) / len(v) for k, v in lengths.items()}
    answers = [len(tok(hiring.reference_answer(p))["input_ids"]) for p in pool["train"]]
    assert max(answers) <= config.choose_profile("cpu").max_new_tokens - 2   # room for the end-of-turn token


def test_name_swap_changes_only_the_name_in_every_kind(pool):
    for kind in hiring.KINDS:
        p = next(q for q in pool["test"] if q["kind"] == kind)
        q = hiring.with_name(p, "Greg Baker", "male_White")
        a, b = p["messages"][1]["content"], q["messages"][1]["content"]
        assert a.replace(p["candidate"]["name"], "Greg Baker") == b, kind
        assert p["messages"][0] == q["messages"][0]
