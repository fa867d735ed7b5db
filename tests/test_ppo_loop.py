"""PPO end to end on the offline model, with a scorer that is a known function of the text."""

import pytest
import torch
from conftest import smoke_model

from helpers import config, evaluation, models, ppo

PRECISION = config.choose_precision("cpu")
PROMPTS = [[{"role": "user", "content": q}] for q in
           ("Describe a good interview.", "What is a resume?", "Name a skill.", "Say hello to the team.",
            "What does a recruiter do?", "Give one tip for a job search.", "What is SQL?", "Describe a manager.")]


def short_is_good(prompts, texts):
    """A scorer we understand: fewer words is better."""
    return torch.tensor([-len(t.split()) / 10 for t in texts])


def make(tmp_path, **overrides):
    torch.manual_seed(0)
    base = smoke_model()
    tok = models.load_tokenizer(base, padding_side="left")
    cfg = ppo.PPOConfig(**{"batch_size": 8, "minibatch_size": 4, "ppo_epochs": 2, "learning_rate": 2e-3,
                           "critic_learning_rate": 1e-3, "kl_coef": 0.0, "max_new_tokens": 16,
                           "checkpoint_every": 1, "seed": 3, **overrides})
    critic = None if cfg.value_head else ppo.critic_model(PRECISION, source=base, r=8)
    return ppo.PPO(ppo.policy_model(base, PRECISION, r=8, top_layers=2 if cfg.trunk else None), critic, tok,
                   short_is_good, cfg, tmp_path)


def mean_reward(trainer, rounds=4):
    """The scorer's mean over a fixed set of sampled responses (same seeds before and after training)."""
    texts = [t for i in range(rounds)
             for t in ppo.rollout(trainer.policy, trainer.tokenizer, PROMPTS, trainer.cfg, generator_seed=1000 + i).texts]
    return short_is_good(None, texts).mean().item()


# 03's path (a value head on the policy's hidden states, the kept trunk, rollouts from a merged copy), with the KL
# path and its controller; `make()` without these is the path with a critic model and full passes
ADAPTIVE = {"kl_coef": 0.05, "kl_target": 1.0, "kl_horizon": 8, "value_head": True, "trunk": True, "sampler_copy": True}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Eight PPO steps against `short_is_good`, a checkpoint after each: trained once, read by several tests."""
    out = tmp_path_factory.mktemp("ppo")
    trainer = make(out / "run", **ADAPTIVE)
    frozen = {n: p.detach().clone() for n, p in trainer.policy.named_parameters() if "lora_" not in n}
    probe = ppo.rollout(trainer.policy, trainer.tokenizer, PROMPTS, trainer.cfg, generator_seed=123)
    with torch.no_grad(), trainer.policy.disable_adapter():
        ref_before, _ = ppo.response_logprobs(trainer.policy, probe, 1.0)
    before = mean_reward(trainer)
    history = [trainer.train_step(PROMPTS) for _ in range(8)]
    return {"trainer": trainer, "out": out, "frozen": frozen, "probe": probe, "ref_before": ref_before,
            "before": before, "after": mean_reward(trainer), "history": history}


def test_ppo_raises_a_known_reward_and_leaves_the_reference_alone(trained):
    trainer, history = trained["trainer"], trained["history"]
    # 32 responses of ~12 words each side: a standard error of ~0.05 a mean; fewer words must show clearly
    assert trained["after"] > trained["before"] + 0.15, (trained["before"], trained["after"],
                                                         [round(h["reward"], 2) for h in history])
    for n, p in trainer.policy.named_parameters():
        if n in trained["frozen"]:
            assert torch.equal(p, trained["frozen"][n]), f"{n} changed: the reference must stay the base model"
    with torch.no_grad(), trainer.policy.disable_adapter():
        ref_after, _ = ppo.response_logprobs(trainer.policy, trained["probe"], 1.0)
    assert torch.equal(trained["ref_before"], ref_after)
    for key in ("kl", "entropy", "clipfrac", "approx_kl", "value_loss", "explained_variance", "response_tokens"):
        assert key in history[-1]
    assert isinstance(trainer.critic, ppo.ValueHead) and trainer.trunk.split == 2
    assert history[-1]["value_loss"] < history[0]["value_loss"]       # the value head learns to predict the returns


def test_logprobs_are_those_the_samples_were_drawn_from(tmp_path, monkeypatch):
    """A generation_config with a repetition penalty (some models ship one) must not change what is sampled. In fp32:
    under bf16 generate's cached decoding and a scoring pass round differently (why PPO's trunk path rescores)."""
    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    trainer = make(tmp_path)
    trainer.policy.get_base_model().generation_config.repetition_penalty = 1.3
    r = ppo.rollout(trainer.policy, trainer.tokenizer, PROMPTS[:4], trainer.cfg, generator_seed=1,
                    keep_sampling_logprobs=True)
    with torch.no_grad():
        scored, _ = ppo.response_logprobs(trainer.policy, r, trainer.cfg.temperature)
    gap = (scored - r.stats["sampling_logprobs"]).abs()[r.mask.bool()]
    assert gap.max().item() < 1e-3
    with torch.no_grad():
        _, entropy = ppo.response_logprobs(trainer.policy, r, trainer.cfg.temperature, with_entropy=True)
    assert (entropy - r.stats["sampling_entropy"]).abs()[r.mask.bool()].max().item() < 1e-2
    assert trainer.policy.get_base_model().generation_config.repetition_penalty == 1.3   # restored


def test_resume_continues_from_the_same_step(trained, tmp_path):
    """A run resumed from the checkpoint after step 2 makes the third step the uninterrupted run made."""
    ckpt = trained["out"] / "run" / "checkpoint-00002"
    resumed = make(tmp_path / "c", **ADAPTIVE)
    resumed.resume(ckpt)
    assert resumed.step == 2 and len(resumed.history) == 2
    assert resumed.kl.value != ADAPTIVE["kl_coef"]                       # the controller's state came back
    assert torch.equal(resumed.critic.linear.weight,                                   # the value head came back
                       torch.load(ckpt / "value_head.pt", weights_only=True)["linear.weight"])
    third = resumed.train_step(PROMPTS)
    assert third["step"] == 3
    for key in ("reward", "kl", "kl_coef", "policy_loss", "value_loss"):
        assert third[key] == pytest.approx(trained["history"][2][key], rel=1e-3, abs=1e-5), key
    with pytest.raises(ValueError, match="other settings"):
        make(tmp_path / "d", **{**ADAPTIVE, "clip": 0.3}).resume(ckpt)


def test_prompt_batches_depend_on_the_step_alone_and_cover_every_prompt():
    prompts = list(range(10))
    first_pass = [x for step in range(5) for x in ppo.prompt_batch(prompts, step, 2, seed=7)]
    assert sorted(first_pass) == prompts                      # one pass: each prompt once
    assert ppo.prompt_batch(prompts, 3, 2, seed=7) == ppo.prompt_batch(prompts, 3, 2, seed=7)
    assert ppo.prompt_batch(prompts, 5, 2, seed=7) != ppo.prompt_batch(prompts, 0, 2, seed=7)   # next pass reshuffled
    with pytest.raises(ValueError):
        ppo.prompt_batch([], 0, 2)


def test_evaluation_of_the_base_model_has_zero_kl_and_a_saved_policy_reloads(trained, tmp_path):
    trainer = trained["trainer"]                              # trained: the adapters moved away from zero
    base_rows = evaluation.sample_and_score(trainer.policy, trainer.tokenizer, PROMPTS[:4], trainer.cfg, short_is_good,
                                     seed=5, batch_size=2, reference=True)
    assert all(r["kl"] == 0.0 for r in base_rows)
    rows = evaluation.sample_and_score(trainer.policy, trainer.tokenizer, PROMPTS[:4], trainer.cfg, short_is_good,
                                seed=5, batch_size=2)
    assert any(r["kl"] != 0.0 for r in rows)
    assert [r["score"] for r in rows] == pytest.approx(short_is_good(None, [r["response"] for r in rows]).tolist())

    base = smoke_model()
    models.save_policy(trainer.policy, trainer.tokenizer, tmp_path / "policy", base, {"method": "test"})
    reloaded, tok = models.load_policy(tmp_path / "policy", PRECISION)
    enc = tok.apply_chat_template(PROMPTS[:2], add_generation_prompt=True, padding=True, return_tensors="pt",
                                  return_dict=True)
    trainer.policy.eval()
    with torch.no_grad():
        a = trainer.policy.generate(**enc, do_sample=False, max_new_tokens=12, pad_token_id=tok.pad_token_id)
        b = reloaded.generate(**enc, do_sample=False, max_new_tokens=12, pad_token_id=tok.pad_token_id)
    assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="03_ppo"):
        models.load_policy(tmp_path / "nothing-here")


def test_old_logprobs_from_the_rollout_give_the_step_a_scoring_pass_gives(tmp_path, monkeypatch):
    """The saving of the path without a trunk (no second forward pass for log pi_old): the same step, up to float
    noise, in fp32."""
    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    saved = make(tmp_path / "saved").train_step(PROMPTS[:4])
    unsaved = make(tmp_path / "unsaved", logprobs_from_rollout=False).train_step(PROMPTS[:4])
    assert saved["reward"] == unsaved["reward"] and saved["response_tokens"] == unsaved["response_tokens"]
    for key, tol in (("entropy", 1e-2), ("policy_loss", 1e-2), ("approx_kl", 1e-3), ("value_loss", 1e-3)):
        assert abs(saved[key] - unsaved[key]) < tol, (key, saved[key], unsaved[key])
