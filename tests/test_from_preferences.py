"""A task made from a preference file: prompts and splits from the file, and no gold rubric to lean on."""

import pytest
from test_preference_io import QA, SYSTEM, conversational, standard

from helpers.tasks import from_preferences


def test_prompts_and_splits_come_from_the_file_held_out_by_prompt(tmp_path):
    task = from_preferences.build(standard(tmp_path / "tickets.jsonl"))
    pool = task.build_prompts()
    assert task.name == "tickets" and sum(task.splits.values()) == 4 and task.splits["test"] >= 1
    assert task.splits["validation"] >= 1
    split_of = {p["id"]: s for s, ps in pool.items() for p in ps}
    assert len(split_of) == 4 and {p["user"] for ps in pool.values() for p in ps} == {q for q, _, _ in QA}
    assert all(r["prompt_id"] in split_of for r in task.preferences)     # every comparison has its prompt's split
    assert from_preferences.build(standard(tmp_path / "tickets.jsonl")).build_prompts() == pool   # seeded
    assert task.load_prompts("train") == pool["train"]


def test_the_files_system_prompt_is_used_and_none_is_invented(tmp_path):
    with_system = from_preferences.build(conversational(tmp_path / "a.jsonl"))
    p = with_system.build_prompts()["train"][0]
    assert with_system.messages(p) == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p["user"]}]
    without = from_preferences.build(standard(tmp_path / "b.jsonl"))
    q = without.build_prompts()["train"][0]
    assert without.system_prompt == "" and without.messages(q) == [{"role": "user", "content": q["user"]}]


def test_what_needs_a_gold_rubric_says_so(tmp_path):
    task = from_preferences.build(standard(tmp_path / "t.jsonl"))
    assert not task.has_gold and task.score is None and task.personas == {} and task.fairness is None
    with pytest.raises(ValueError, match="needs a gold rubric, and the task 't' has none"):
        task.win_rate([], [], [])
    assert task.describe()["preference data"].loc["rows", "value"] == str(len(QA))


def test_feedbackloop_data_makes_the_file_the_task_of_every_notebook(tmp_path, monkeypatch):
    from helpers import config, sft, tasks
    source = standard(tmp_path / "My Tickets.v2.jsonl")
    monkeypatch.delenv("FEEDBACKLOOP_TASK", raising=False)
    monkeypatch.setenv("FEEDBACKLOOP_DATA", str(source))
    assert config.choose_task() == "data-my_tickets_v2" == config.data_task_name(source)
    task = tasks.get()
    assert task.name == "data-my_tickets_v2" and not task.has_gold and tasks.get() is task
    assert {r["task"] for r in task.preferences} == {task.name}
    paths = config.paths("smoke")
    assert paths.generated.parts[-2:] == ("data-my_tickets_v2", "smoke") and paths.reports.name == "data-my_tickets_v2"
    p = task.load_prompts("train")[0]
    assert p["messages"] == task.messages(p)                          # what 00 and 03 read off a prompt
    # the warm start's demonstrations are the answers the file chose
    demos = sft.demonstrations(task, task.load_prompts("train"), seed=0)
    best = {q: c for q, c, _ in QA}
    assert demos and all(d["writer"] == "chosen" and d["completion"][0]["content"] == best[d["prompt"][-1]["content"]]
                         for d in demos)
    monkeypatch.setenv("FEEDBACKLOOP_TASK", "hiring")
    with pytest.raises(ValueError, match="both set"):
        config.choose_task()
    monkeypatch.delenv("FEEDBACKLOOP_TASK")
    monkeypatch.delenv("FEEDBACKLOOP_DATA")
    assert config.choose_task() == "hiring"
    with pytest.raises(ValueError, match="set FEEDBACKLOOP_DATA to that file"):
        config.choose_task("data-my_tickets_v2")


def test_a_prompt_with_only_ties_demonstrates_its_first_answer():
    recs = [{"prompt_id": "p", "prompt": "q", "response_a": "x", "response_b": "y", "winner": "tie"},
            {"prompt_id": "r", "prompt": "q2", "response_a": "u", "response_b": "v", "winner": "b"},
            {"prompt_id": "r", "prompt": "q2", "response_a": "v", "response_b": "w", "winner": "a"},
            {"prompt_id": "r", "prompt": "q2", "response_a": "u", "response_b": "w", "winner": "a"}]
    assert from_preferences.chosen_answers(recs) == {"p": "x", "r": "v"}


def test_a_data_task_holds_out_its_own_splits_and_benchmarks_on_its_own_pairs(tmp_path):
    from helpers import agreement
    task = from_preferences.build(standard(tmp_path / "t.jsonl"))
    held = agreement.heldout_prompt_ids(task.preferences, every=4, task=task)
    pool = task.build_prompts()
    assert held == {p["id"] for s in ("validation", "test") for p in pool[s]} and held
    rows = task.known_pairs(25)                                   # more than the file's 20 comparisons: repeated
    best = {q: c for q, c, _ in QA}
    assert len(rows) == 25 and all(r["chosen"][0]["content"] == best[r["prompt"][-1]["content"]] for r in rows)


def test_a_prompt_too_long_to_ask_is_left_out_of_the_pool_and_its_comparisons_stay(tmp_path):
    class Tok:   # a word is a token
        def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
            return " ".join(m["content"] for m in messages)

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [t.split() for t in texts]}
    pool = {"train": [{"id": "short", "messages": [{"role": "user", "content": "one two"}]},
                      {"id": "long", "messages": [{"role": "user", "content": "one two three four five"}]}],
            "validation": [], "test": []}
    kept, left_out = from_preferences.fitting(pool, max_prompt_tokens=3, tokenizer=Tok())
    assert [p["id"] for p in kept["train"]] == ["short"] and left_out == 1
    task = from_preferences.build(standard(tmp_path / "prefs.jsonl"), "data-prefs")
    assert len(task.preferences) == len(QA)   # the labels are the file's, whatever the pool keeps
