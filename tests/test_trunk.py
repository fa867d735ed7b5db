"""PPO's passes on one frozen trunk (helpers/trunk.py) and the precision policy they run under (config.Precision)."""

import contextlib

import pytest
import torch
from conftest import smoke_model

from helpers import config, models, ppo, trunk

PROMPTS = [[{"role": "user", "content": q}] for q in
           ("Describe a good interview.", "What is a resume?", "Name a skill.", "What is SQL?")]


def short_is_good(prompts, texts):
    return torch.tensor([-len(t.split()) / 10 for t in texts])


def policy_and_rollout(precision, top_layers=2, seed=1):
    torch.manual_seed(0)
    base = smoke_model()
    tok = models.load_tokenizer(base, padding_side="left")
    policy = ppo.policy_model(base, precision, r=8, top_layers=top_layers)
    with torch.no_grad():   # adapters away from zero, so the adapter-on and adapter-off passes differ
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    cfg = ppo.PPOConfig(max_new_tokens=12, value_head=True, trunk=True)
    return policy, tok, cfg, ppo.rollout(policy, tok, PROMPTS, cfg, generator_seed=seed)


def test_the_split_is_the_first_block_with_an_adapter(fp32):
    policy, *_ = policy_and_rollout(fp32, top_layers=2)
    n = policy.config.num_hidden_layers
    assert trunk.FrozenTrunk(policy).split == n - 2
    assert trunk.FrozenTrunk(ppo.policy_model(smoke_model(), fp32, r=8)).split == 0    # LoRA everywhere: nothing kept


def test_kept_trunk_logprobs_and_values_equal_a_full_forward_pass(fp32):
    """fp32: the top blocks run from the kept output give the log-probabilities and hidden states a plain forward
    pass of the whole model gives (transformers' own forward, adapters on and off)."""
    policy, tok, cfg, r = policy_and_rollout(fp32)
    t = trunk.FrozenTrunk(policy)
    ids, attn, pos = ppo._inputs(r)
    n = r.response.shape[1]
    kept = t.bottom(ids, attn, pos)
    head = ppo.ValueHead(policy.config.hidden_size)
    torch.nn.init.normal_(head.linear.weight)
    for adapters in (True, False):
        with torch.no_grad(), (contextlib.nullcontext() if adapters else policy.disable_adapter()):
            hidden = t.top(kept)[:, -(n + 1):-1]
            logp, _ = trunk.token_logprobs(policy, hidden, r.response)
            out = policy(input_ids=ids, attention_mask=attn, position_ids=pos, output_hidden_states=True)
            plain = torch.log_softmax(out.logits[:, -(n + 1):-1].float(), -1).gather(-1, r.response.unsqueeze(-1)).squeeze(-1)
            plain_hidden = out.hidden_states[-1][:, -(n + 1):-1]
        m = r.mask.bool()
        assert (logp - plain).abs()[m].max().item() < 1e-4, adapters
        assert (head(hidden) - head(plain_hidden)).abs()[m].max().item() < 1e-4, adapters


def test_the_ratio_is_one_before_any_update_under_the_default_precision():
    """Both sides of PPO's ratio come from the same top-block pass and an fp32 head: at the first minibatch of the
    first step, before the optimizer has moved anything, |ratio - 1| stays below 1e-3 whatever the precision."""
    precision = config.choose_precision("cpu")
    policy, tok, cfg, _ = policy_and_rollout(precision)
    trainer = ppo.PPO(policy, None, tok, short_is_good, ppo.PPOConfig(batch_size=4, minibatch_size=2, max_new_tokens=12,
                                                                      value_head=True, trunk=True, seed=3))
    stats = trainer.train_step(PROMPTS)
    assert stats["ratio_error_at_start"] < 1e-3, (precision.dtype_name, stats["ratio_error_at_start"])


def test_the_trunk_needs_a_value_head(fp32):
    policy, tok, *_ = policy_and_rollout(fp32)
    with pytest.raises(ValueError, match="value_head"):
        ppo.PPO(policy, ppo.ValueHead(8), tok, short_is_good, ppo.PPOConfig(trunk=True, value_head=False))


def test_the_forced_fp32_path_still_trains(fp32):
    """FEEDBACKLOOP_PRECISION=fp32 (config.choose_precision) still runs PPO's trunk path, in fp32 weights and compute."""
    policy, tok, cfg, _ = policy_and_rollout(fp32)
    assert next(policy.parameters()).dtype == torch.float32 and fp32.dtype_name == "float32"
    with config.autocast_for(policy):
        assert not torch.is_autocast_enabled("cpu")
    trainer = ppo.PPO(policy, None, tok, short_is_good, ppo.PPOConfig(batch_size=4, minibatch_size=2, max_new_tokens=12,
                                                                      value_head=True, trunk=True, seed=3))
    stats = trainer.train_step(PROMPTS)
    assert stats["ratio_error_at_start"] < 1e-6 and all(v == v for v in stats.values())   # no NaN


def test_the_sampler_copy_computes_what_the_policy_computes_after_each_sync(fp32):
    """helpers/sampler.py: after `sync` the plain copy gives the policy's logits (fp32: the same weights, merged), with
    the adapter as trained now, and the base model's where the adapters are off."""
    from helpers.sampler import SamplerCopy
    policy, tok, cfg, r = policy_and_rollout(fp32)
    copy = SamplerCopy(policy)
    ids, attn, pos = ppo._inputs(r)

    def logits(model):
        with torch.no_grad():
            return model(input_ids=ids, attention_mask=attn, position_ids=pos).logits
    m = attn.bool()
    assert (logits(copy.sync()) - logits(policy)).abs()[m].max().item() < 1e-3
    with torch.no_grad():                      # the adapter trains on: the next sync carries the change
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)
    assert (logits(copy.sync()) - logits(policy)).abs()[m].max().item() < 1e-3
    with policy.disable_adapter():
        assert (logits(copy.sync()) - logits(policy)).abs()[m].max().item() < 1e-3


def test_an_untrained_adapter_has_no_kl_to_its_reference_under_the_default_precision():
    """Fresh LoRA (B = 0) is its own reference: the evaluation's KL must be 0 but for float noise. Under bf16 that holds
    only when both sides come from the same pass (`ppo.sampled_logprobs_usable`), not from generate's logits."""
    from helpers import evaluation
    precision = config.choose_precision("cpu")
    base = smoke_model()
    policy = ppo.policy_model(base, precision, r=8)
    rows = evaluation.sample_and_score(policy, models.load_tokenizer(base, padding_side="left"), PROMPTS,
                                       ppo.PPOConfig(max_new_tokens=12), short_is_good, seed=1, batch_size=4)
    assert max(abs(r["kl"]) for r in rows) < 1e-3, (precision.dtype_name, [r["kl"] for r in rows])
