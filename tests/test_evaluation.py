"""Held-out answers sampled once: a read gives what sampling gives, and any change to the weights samples afresh."""

import pytest
import torch
from conftest import smoke_model

from helpers import config, evaluation, models, ppo, publish, report

PRECISION = config.choose_precision("cpu")
PROMPTS = [[{"role": "user", "content": q}] for q in
           ("Describe a good interview.", "What is a resume?", "Name a skill.", "Say hello to the team.")]
CFG = ppo.PPOConfig(max_new_tokens=12, temperature=0.7)


def length_score(prompts, texts):
    return torch.tensor([len(t) / 100 for t in texts])


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    base = smoke_model()
    model = ppo.policy_model(base, PRECISION, r=4)
    with torch.no_grad():                       # an adapter that changes the outputs (LoRA's B starts at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model, models.load_tokenizer(base, padding_side="left"), base


def test_a_saved_answer_set_is_read_back_and_equals_a_fresh_sample(policy, tmp_path, monkeypatch):
    model, tok, _ = policy
    first = evaluation.test_samples(model, tok, PROMPTS, CFG, length_score, tmp_path, seed=3, scorer="len", batch_size=2)
    fresh = evaluation.sample_and_score(model, tok, PROMPTS, CFG, length_score, seed=3, batch_size=2)
    assert first == fresh

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again although the same answers were saved")
    monkeypatch.setattr(evaluation, "sample_and_score", no_sampling)
    log, stage = [], report.Stage("05_eval_fairness", tmp_path / "metrics.json")
    assert evaluation.test_samples(model, tok, PROMPTS, CFG, length_score, tmp_path, seed=3, scorer="len",
                                   batch_size=2, desc="again", log=log) == first
    assert [(e["desc"], e["read"]) for e in log] == [("again", True)] and log[0]["seconds"] > 0
    stage.finish()   # the stage's time says what the read-back saved, so a table of times does not flatter it
    recorded = report.read(tmp_path / "metrics.json")["stages"]["05_eval_fairness"]
    assert recorded["seconds_saved_by_reuse"] == pytest.approx(log[0]["seconds"], abs=0.1)
    assert "s of sampling reused" in publish.stage_seconds(recorded)
    # another seed, decoding, prompt set, scorer or the base model instead of the adapter: a different key
    for changed in ({"seed": 4}, {"scorer": "other"}, {"batch_size": 4}, {"reference": True}):
        args = {"seed": 3, "scorer": "len", "batch_size": 2, **changed}
        with pytest.raises(AssertionError, match="sampled again"):
            evaluation.test_samples(model, tok, PROMPTS, CFG, length_score, tmp_path, **args)
    with pytest.raises(AssertionError, match="sampled again"):
        evaluation.test_samples(model, tok, PROMPTS[:3], CFG, length_score, tmp_path, seed=3, scorer="len", batch_size=2)
    with pytest.raises(AssertionError, match="sampled again"):
        evaluation.test_samples(model, tok, PROMPTS, ppo.PPOConfig(max_new_tokens=12, temperature=1.0), length_score,
                                tmp_path, seed=3, scorer="len", batch_size=2)


def test_the_fingerprint_follows_the_active_weights_not_the_adapter_name(policy, tmp_path):
    model, tok, base = policy
    adapted, reference = evaluation.weights_fingerprint(model), evaluation.weights_fingerprint(model, adapters=False)
    assert adapted != reference
    folder = models.save_policy(model, tok, tmp_path / "policy", base, {"method": "test"})
    # 05's way: one model, each method's adapter loaded under its own name
    reloaded, _ = models.load_policy(folder, PRECISION)
    reloaded.load_adapter(str(folder), adapter_name="ppo")
    reloaded.set_adapter("ppo")
    assert evaluation.weights_fingerprint(reloaded) == adapted
    assert evaluation.weights_fingerprint(reloaded, adapters=False) == reference
    with torch.no_grad():
        next(p for n, p in reloaded.named_parameters() if "lora_B" in n and ".ppo." in n).add_(1e-3)
    assert evaluation.weights_fingerprint(reloaded) != adapted
    assert evaluation.weights_fingerprint(reloaded, adapters=False) == reference


def test_a_saved_scorer_is_keyed_by_its_files(tmp_path):
    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "adapter_model.safetensors").write_bytes(b"\x00\x01weights")
    (tmp_path / "rm" / "adapter_config.json").write_text('{"r": 16}')
    key = evaluation.files_fingerprint(tmp_path / "rm")
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in (tmp_path / "rm").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert evaluation.files_fingerprint(copy) == key
    (copy / "adapter_model.safetensors").write_bytes(b"\x00\x02weights")
    assert evaluation.files_fingerprint(copy) != key
