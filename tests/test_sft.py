"""The supervised warm start: demonstrations follow their writers' documented shares and habits, and the SFT loss
covers the answer's tokens only."""

import collections
import re

import pytest
from conftest import SHIPPED_TASKS

from helpers import config, sft, tasks
from helpers.tasks.hiring import rubric

HIRING = tasks.get("hiring")


@pytest.fixture(scope="module")
def demos(pool):
    prompts = pool["train"][-200:]
    return prompts, sft.demonstrations(HIRING, prompts, seed=7)


def test_allocation_gives_each_writer_its_share_exactly():
    for n in (7, 20, 200, 333):
        counts = collections.Counter(sft.allocate(HIRING.writers, n, seed=1))
        assert sum(counts.values()) == n
        for name, (share, _, _) in HIRING.writers.items():
            assert abs(counts[name] - share * n) < 1, (n, name, counts[name])
    assert sft.allocate(HIRING.writers, 50, seed=1) == sft.allocate(HIRING.writers, 50, seed=1)
    assert sft.allocate(HIRING.writers, 50, seed=1) != sft.allocate(HIRING.writers, 50, seed=2)
    with pytest.raises(ValueError, match="no demonstration writers"):
        sft.allocate({}, 5)


def test_demonstrations_are_prompt_completion_rows_with_the_task_prompt(demos):
    prompts, rows = demos
    assert [r["prompt_id"] for r in rows] == [p["id"] for p in prompts]
    for p, r in zip(prompts[:10], rows):
        assert r["prompt"] == HIRING.messages(p)
        assert r["completion"][0]["role"] == "assistant" and r["completion"][0]["content"].strip()


def test_each_writer_has_its_documented_habit(demos):
    prompts, rows = demos
    by_id = {p["id"]: p for p in prompts}
    scored = collections.defaultdict(list)
    for r in rows:
        p = by_id[r["prompt_id"]]
        scored[r["writer"]].append((p, rubric.score(p, r["completion"][0]["content"])))
    careful = scored["writer_careful"]
    assert all(not s.criteria["gendered_pronouns"] and not s.criteria["protected_terms"] for _, s in careful)
    assert sum(s.total for _, s in careful) / len(careful) > 0.9
    assert all(s.criteria["decision"] == 1.0 for p, s in careful if p["kind"] == "assessment")
    assert all(s.criteria["gendered_pronouns"] for _, s in scored["writer_gendering"])
    assert all("unprofessional" in " ".join(s.notes) for _, s in scored["writer_hype"])
    borderline = [(p, s) for p, s in scored["writer_borderline"] if p["kind"] == "assessment"]
    assert borderline and all((s.criteria["decision"] == 1.0) == (p["tags"]["difficulty"] == "easy") for p, s in borderline)
    # every habit costs gold points: preferences have something to correct
    mean = {w: sum(s.total for _, s in v) / len(v) for w, v in scored.items()}
    assert all(mean[w] < mean["writer_careful"] - 0.05 for w in mean if w != "writer_careful"), mean


def test_gendering_writer_uses_the_pronoun_of_the_perceived_gender(demos):
    prompts, rows = demos
    by_id = {p["id"]: p for p in prompts}
    for r in rows:
        if r["writer"] == "writer_gendering":
            gender = by_id[r["prompt_id"]]["candidate"]["group"].split("_")[0]
            other = r"\b(she|her)\b" if gender == "male" else r"\b(he|his)\b"
            assert not re.search(other, r["completion"][0]["content"], re.I)


def test_every_task_has_writers_whose_demonstrations_it_can_score(pool):
    for name in SHIPPED_TASKS:
        task = tasks.get(name)
        prompts = task.load_prompts("train", 12)
        rows = sft.demonstrations(task, prompts, seed=0)
        assert {r["writer"] for r in rows} <= set(task.writers)
        assert all(0 <= task.score(p, r["completion"][0]["content"]).total <= 1 for p, r in zip(prompts, rows))


def test_sft_loss_covers_the_answer_tokens_only(pool, tmp_path):
    """TRL's completion mask, and the labels its collator builds, cover exactly the answer and its end-of-turn."""
    from helpers import models
    profile = config.choose_profile("smoke")
    source = models.resolve_model(profile)
    rows = sft.demonstrations(HIRING, pool["train"][-4:], seed=0)
    trainer = sft.build_trainer(source.path, rows, profile, config.choose_precision("cpu"), tmp_path / "t")
    tok = trainer.processing_class
    example = trainer.train_dataset[0]
    ids = example["input_ids"]
    # TRL 1.16 folds the completion mask into the labels while preparing the dataset: -100 is "no loss here"
    mask = [l != -100 for l in example["labels"]] if "labels" in example else example["completion_mask"]
    prompt_ids = tok.apply_chat_template(rows[0]["prompt"], add_generation_prompt=True, return_dict=False)
    assert ids[:len(prompt_ids)] == prompt_ids and not any(mask[:len(prompt_ids)])
    answer = tok.decode([t for t, m in zip(ids, mask) if m])
    assert answer.startswith(rows[0]["completion"][0]["content"]) and "<|im_end|>" in answer
    assert "user" not in answer and HIRING.system_prompt not in answer
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    labels = batch["labels"][0].tolist()
    assert all(l == -100 for l in labels[:len(prompt_ids)])
    assert [l for l in labels if l != -100] == [t for t, m in zip(ids, mask) if m]


def test_a_new_sft_policy_clears_what_later_stages_trained_from_the_old_one(tmp_path):
    paths = config.Paths(tmp_path, "smoke", "hiring")
    for name in ("sft_policy", "sft_policy-trainer", "notebooks", "reward_model", "ppo_policy", "ppo_checkpoints"):
        (paths.run / name).mkdir(parents=True)
    (paths.run / "stray.txt").write_text("x")
    assert sft.clear_later_stages(paths) == ["ppo_checkpoints", "ppo_policy", "reward_model", "stray.txt"]
    assert sorted(p.name for p in paths.run.iterdir()) == ["notebooks", "sft_policy", "sft_policy-trainer"]
