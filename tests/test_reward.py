"""The reward model's plumbing: TRL's loss is the Bradley-Terry loss, training works, save -> reload scores alike."""

import math

import pytest
import torch
from conftest import smoke_model

from helpers import config, reward

PROFILE = config.PROFILES["smoke"].replace(lora_r=8)


def _toy_rows(n, offset=0):
    rows = []
    for i in range(offset, offset + n):
        prompt = [{"role": "user", "content": f"Assess candidate {i} for the data role."}]
        rows.append({"prompt": prompt,
                     "chosen": [{"role": "assistant", "content": f"Candidate {i} has 5 years of SQL; advance."}],
                     "rejected": [{"role": "assistant", "content": "lol whatever!!! so amazing!!!"}]})
    return rows


def test_bradley_terry_by_hand():
    """-log sigmoid(r_chosen - r_rejected), averaged: the loss every pairwise reward model minimizes."""
    chosen, rejected = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 0.5, 1.0])
    by_hand = sum(-math.log(1 / (1 + math.exp(-(c - r)))) for c, r in zip(chosen.tolist(), rejected.tolist())) / 3
    assert torch.nn.functional.logsigmoid(chosen - rejected).neg().mean().item() == pytest.approx(by_hand)
    assert by_hand == pytest.approx((math.log1p(math.exp(-1)) + math.log(2) + math.log1p(math.exp(2))) / 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    precision = config.choose_precision("cpu")
    base = smoke_model()
    out = tmp_path_factory.mktemp("rm")
    trainer = reward.build_trainer(base, _toy_rows(32), PROFILE, precision, out / "trainer", quantize=True, steps=8,
                                   batch_size=4, learning_rate=1e-3, max_length=256, seed=0)
    trainer.args.disable_tqdm = True
    trainer.train()
    return trainer, trainer.processing_class, base, out


def test_lora_reaches_only_the_top_blocks_and_the_head_is_trained_in_full(trained):
    trainer = trained[0]
    n_layers = trainer.model.config.num_hidden_layers
    lora_layers = {int(n.split(".layers.")[1].split(".")[0]) for n, p in trainer.model.named_parameters()
                   if p.requires_grad and "lora_" in n}
    assert lora_layers == set(range(n_layers - PROFILE.rm_lora_layers, n_layers))
    head = [n for n, p in trainer.model.named_parameters() if p.requires_grad and "score" in n]
    assert head and all(p.dtype == torch.float32 for p in trainer.model.parameters() if p.requires_grad)


def test_calibration_by_hand():
    table, ece = reward.calibration([0.1, 0.15, 0.9, 0.95], [0, 1, 1, 1], n_bins=10)
    # bins 1 (0.1, 0.15 -> mean 0.125, observed 0.5) and 9 (0.9, 0.95 -> 0.925 vs 1.0)
    assert table.n.tolist() == [2, 2]
    assert ece == pytest.approx((2 * 0.375 + 2 * 0.075) / 4)
    assert reward.calibration([0.0, 1.0], [0, 1])[1] == 0.0
    with pytest.raises(ValueError):
        reward.calibration([1.5], [1])


def test_trl_loss_is_bradley_terry_on_the_models_own_scores(trained):
    trainer, tokenizer, _, _ = trained
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    batch = {k: v.to(trainer.model.device) for k, v in batch.items()}
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch)).item()
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    chosen, rejected = logits.chunk(2)
    assert loss == pytest.approx(torch.nn.functional.logsigmoid(chosen - rejected).neg().mean().item(), rel=1e-5)


def test_training_learns_a_separable_preference(trained):
    trainer, tokenizer, _, _ = trained
    held_out = _toy_rows(16, offset=1000)
    prompts = [r["prompt"] for r in held_out]
    good = reward.score(trainer.model, tokenizer, prompts, [r["chosen"][0]["content"] for r in held_out])
    bad = reward.score(trainer.model, tokenizer, prompts, [r["rejected"][0]["content"] for r in held_out])
    assert (good > bad).float().mean().item() >= 0.9


def test_save_and_reload_scores_the_same(trained):
    trainer, tokenizer, base, out = trained
    texts = ["Candidate 7 has 5 years of SQL; advance.", "lol whatever!!!", "Decision: hold"]
    prompts = [[{"role": "user", "content": "Assess candidate 7."}]] * 3
    before = reward.score(trainer.model, tokenizer, prompts, texts)
    path = reward.save(trainer.model, tokenizer, out / "saved", base, quantized=True)
    model, tok = reward.load(path, config.choose_precision("cpu"))
    after = reward.score(model, tok, prompts, texts)
    assert torch.allclose(before, after, atol=1e-5), (before, after)
    assert before.std() > 0.1   # a trained head, not a constant


def test_missing_or_headless_reward_model_fails_clearly(tmp_path, trained):
    with pytest.raises(reward.RewardModelMissing, match="run 02_reward_model.ipynb"):
        reward.load(tmp_path / "nowhere")
    trainer, tokenizer, base, out = trained
    headless = tmp_path / "headless"
    trainer.model.save_pretrained(headless, selected_adapters=None)
    from safetensors.torch import load_file, save_file
    weights = load_file(headless / "adapter_model.safetensors")
    save_file({k: v for k, v in weights.items() if "score" not in k}, headless / "adapter_model.safetensors")
    (headless / reward.META).write_text('{"base": "%s", "quantized": true}' % base)
    with pytest.raises(reward.RewardModelMissing, match="no score head"):
        reward.load(headless)


def test_scoring_sees_the_same_tokens_trl_trained_on(trained):
    """A reward read from different tokens than training used would make every held-out number wrong."""
    trainer, tokenizer, _, _ = trained
    row = _toy_rows(32)[0]
    text = reward.conversation_texts(tokenizer, [row["prompt"]], [row["chosen"][0]["content"]])[0]
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == trainer.train_dataset[0]["chosen_ids"]


def test_pair_scores_scores_each_distinct_answer_once(monkeypatch):
    import torch

    from helpers import reward
    seen = []

    def fake_score(model, tokenizer, prompts, responses, max_length=1024):
        seen.extend(zip([p[-1]["content"] for p in prompts], responses))
        return torch.tensor([len(p[-1]["content"]) + 100 * len(r) for p, r in zip(prompts, responses)], dtype=torch.float)

    monkeypatch.setattr(reward, "score", fake_score)
    answers = ["one", "three", "fifteen"]
    records = [{"prompt": "P", "response_a": a, "response_b": b} for i, a in enumerate(answers) for b in answers[i + 1:]]
    records.append({"prompt": "Q!", "response_a": "one", "response_b": "three"})   # same answer, other prompt: scored again
    a, b = reward.pair_scores(None, None, records, "system")
    assert list(a) == [1 + 100 * len(r["response_a"]) + (r["prompt"] == "Q!") for r in records]
    assert list(b) == [1 + 100 * len(r["response_b"]) + (r["prompt"] == "Q!") for r in records]
    assert len(seen) == len(set(seen)) == 5
