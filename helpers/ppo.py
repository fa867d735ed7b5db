"""PPO for RLHF: the loop around the mathematics of helpers/ppo_math.py (rollouts, one update, checkpoints, and the
policy and critic models). TRL removed its PPOTrainer (last shipped as `trl.experimental.ppo` in trl 1.12) and no
maintained library offers it for language models, so 03 writes one update out and then calls `PPO.train_step`.

The names follow "The N Implementation Details of RLHF with PPO" (Huang et al., 2024) and Ziegler et al. (2019).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import config
from .generation import eos_ids
from .ppo_math import (
    AdaptiveKLController,
    entropy_from_logits,
    explained_variance,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    response_mask,
    token_rewards,
    value_loss,
)
from .sampler import SamplerCopy
from .trunk import FrozenTrunk, last_hidden_state, token_logprobs

# ------------------------------------------------------------------ the loop: rollouts, update, checkpoints



@dataclass
class PPOConfig:
    steps: int = 40                  # PPO steps: one rollout batch and `ppo_epochs` passes over it each
    batch_size: int = 16             # prompts (and responses) per rollout
    minibatch_size: int = 4          # responses per gradient step
    ppo_epochs: int = 2              # passes over each rollout batch
    learning_rate: float = 1e-4      # policy LoRA
    critic_learning_rate: float = 1e-4
    kl_coef: float = 0.05            # beta in r_t = -beta * KL_t (+ score on the last token)
    kl_target: float | None = None   # set it to adapt beta so that the KL per response tracks it (Ziegler et al.)
    kl_horizon: int | None = None    # responses over which beta may change by ~e^0.2; None: half the run's responses
                                     # (Ziegler's 10000 suits runs of 100k+ responses, not ours)
    kl_estimator: str = "k1"
    gamma: float = 1.0
    lam: float = 0.95
    clip: float = 0.2
    clip_value: float = 0.2
    max_grad_norm: float = 1.0
    max_new_tokens: int = 64
    temperature: float = 1.0         # logprobs are taken at the same temperature; no top-p/top-k, which would
                                     # make the sampled distribution differ from the one the loss sees
    no_eos_penalty: float = 1.0      # taken off the score of a response that never ends
    logprobs_from_rollout: bool = True   # old log pi and entropy from the logits generate sampled from: one pass fewer
                                     # (fp32 only, without `trunk` or `sampler_copy`: `sampled_logprobs_usable`)
    value_head: bool = False         # critic = a linear head on hidden states (no critic model); `trunk` needs it
    trunk: bool = False              # the blocks below the LoRA blocks run once a rollout (helpers/trunk.py): the old
                                     # policy, the reference, the values and every epoch run only the top blocks
    sampler_copy: bool = False       # sample rollouts from a plain copy, LoRA merged in before each (helpers/sampler.py)
    checkpoint_every: int = 10
    seed: int = 0


@dataclass
class Rollout:
    query: torch.Tensor          # (B, Lq) left-padded prompt ids
    query_mask: torch.Tensor
    response: torch.Tensor       # (B, Lr) sampled ids, padded after the end
    mask: torch.Tensor           # (B, Lr) 1 on real response tokens (through the first EOS)
    ended: torch.Tensor          # (B,) produced EOS
    texts: list[str]             # the responses as text, without the EOS
    prompts: list[list[dict]]    # the chat messages they answer
    stats: dict = field(default_factory=dict)


@torch.no_grad()
def rollout(policy, tokenizer, prompts: list[list[dict]], cfg: PPOConfig, generator_seed: int,
            keep_sampling_logprobs: bool = False) -> Rollout:
    """Sample one response per prompt from the current policy (KV cache on), and mark where each one ends.

    Sampling must follow exactly the distribution the loss scores (softmax of logits / temperature), so the model's
    own generation_config (which may carry a repetition penalty, min_p, ...) is set aside for a bare one.
    `keep_sampling_logprobs` also stores the log-probabilities generate sampled from (a check; costs memory)."""
    from transformers import GenerationConfig
    if tokenizer.padding_side != "left":
        raise ValueError("rollouts need a left-padding tokenizer (models.load_tokenizer(..., padding_side='left'))")
    device = next(policy.parameters()).device
    enc = tokenizer.apply_chat_template(prompts, add_generation_prompt=True, padding=True, return_tensors="pt",
                                        return_dict=True).to(device)
    eos = eos_ids(policy, tokenizer)
    bare = GenerationConfig(do_sample=True, temperature=cfg.temperature, top_k=0, top_p=1.0,
                            max_new_tokens=cfg.max_new_tokens, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=policy.generation_config.bos_token_id, use_cache=True,
                            output_scores=keep_sampling_logprobs, return_dict_in_generate=True)
    inner = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
    saved, was_training = inner.generation_config, policy.training
    inner.generation_config = bare
    policy.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(generator_seed)
            with config.autocast_for(policy):
                out = policy.generate(**enc, generation_config=bare)
    finally:
        inner.generation_config = saved
        policy.train(was_training)
    response = out.sequences[:, enc["input_ids"].shape[1]:]
    mask, ended = response_mask(response, eos)
    stats = {}
    if keep_sampling_logprobs:
        scores = torch.stack(out.scores, dim=1).float()          # (B, Lr, V), after temperature and any processor
        logp_all = torch.log_softmax(scores, -1)
        stats["sampling_logprobs"] = logp_all.gather(-1, response.unsqueeze(-1)).squeeze(-1)
        stats["sampling_entropy"] = entropy_from_logits(scores)
        del scores, logp_all
    is_eos = torch.isin(response, torch.tensor(eos, device=response.device))
    texts = [tokenizer.decode(r[m.bool() & ~e], skip_special_tokens=True).strip()
             for r, m, e in zip(response, mask, is_eos)]
    return Rollout(enc["input_ids"], enc["attention_mask"], response, mask, ended, texts, prompts, stats)


def sampled_logprobs_usable(model, cfg: PPOConfig) -> bool:
    """Whether a log-ratio may take log pi from the logits generate sampled from (`cfg.logprobs_from_rollout`): only
    in fp32 compute. In bf16 or fp16 the cached decoding and a scoring pass round differently, so the two sides of a
    ratio (PPO's, or the KL to the reference) would differ by rounding alone: both sides are then scored by the
    same pass."""
    return cfg.logprobs_from_rollout and config.choose_precision(next(model.parameters()).device.type).dtype_name == "float32"


def _inputs(r: Rollout, idx=slice(None)):
    ids = torch.cat([r.query[idx], r.response[idx]], dim=1)
    attn = torch.cat([r.query_mask[idx], r.mask[idx]], dim=1)
    position_ids = (attn.cumsum(dim=1) - 1).clamp(min=0)     # left padding: positions start at each prompt's start
    return ids, attn, position_ids


def response_logprobs(model, r: Rollout, temperature: float, idx=slice(None), with_entropy: bool = False,
                      with_hidden: bool = False):
    """log pi(token) of each response token given everything before it, at the sampling temperature; and its
    entropy, and (`with_hidden`) the last hidden state at the same positions: the state before each response token,
    which a value head reads. Every block runs, under the precision policy; the LM head runs in fp32 on the response
    positions only (`trunk.token_logprobs`, the same computation as PPO's kept-trunk passes)."""
    ids, attn, pos = _inputs(r, idx)
    n = r.response.shape[1]
    with config.autocast_for(model):
        hidden = last_hidden_state(model, ids, attn, pos)[:, -(n + 1):-1]
    logp, entropy = token_logprobs(model, hidden, r.response[idx], temperature, with_entropy)
    if with_hidden:
        return logp, entropy, hidden.float()
    return logp, entropy


def critic_values(critic, r: Rollout, idx=slice(None)) -> torch.Tensor:
    """V(state before each response token): the critic's head applied to every position, not only the last.
    The critic is a sequence-classification model (a reward model's copy): its backbone, then its `score` head."""
    ids, attn, pos = _inputs(r, idx)
    seq_cls = critic.get_base_model() if hasattr(critic, "get_base_model") else critic
    with config.autocast_for(critic):
        hidden = seq_cls.model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False).last_hidden_state
    q = r.query.shape[1]
    return seq_cls.score(hidden[:, q - 1:-1].to(seq_cls.score.weight.dtype)).squeeze(-1).float()


class PPO:
    """PPO with a LoRA policy (the reference is the same model with adapters disabled), a critic, and a scorer
    `score_fn(prompts, texts) -> tensor` (the reward model, or any function of the text in tests).

    `evaluators`: {name: fn(prompts, texts) -> list of floats}, the task's own measures (the gold rubric, a helpfulness
    score, whether a simulated customer accepts); their means are logged every step as `eval_<name>`. They are only
    watched, never trained on."""

    def __init__(self, policy, critic, tokenizer, score_fn: Callable[[list[list[dict]], list[str]], torch.Tensor],
                 cfg: PPOConfig, out_dir: Path | None = None, evaluators: dict[str, Callable] | None = None):
        if cfg.trunk and not cfg.value_head:
            raise ValueError("PPOConfig(trunk=True) needs value_head=True: a critic model would run its own full passes")
        if cfg.value_head:   # no critic model: a linear value head on hidden states the policy's passes compute anyway
            critic = ValueHead(policy.config.hidden_size).to(next(policy.parameters()).device)
        self.trunk = FrozenTrunk(policy) if cfg.trunk else None
        self.sampler = SamplerCopy(policy) if cfg.sampler_copy else None
        self.policy, self.critic, self.tokenizer, self.score_fn, self.cfg = policy, critic, tokenizer, score_fn, cfg
        self.evaluators = dict(evaluators or {})
        self.out_dir = Path(out_dir) if out_dir else None
        self.opt_policy = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.learning_rate)
        self.opt_critic = torch.optim.AdamW([p for p in critic.parameters() if p.requires_grad],
                                            lr=cfg.critic_learning_rate)
        self.kl = AdaptiveKLController(cfg.kl_coef, cfg.kl_target,
                                       cfg.kl_horizon or max(1, cfg.steps * cfg.batch_size // 2))
        self.step = 0
        self.history: list[dict] = []

    # one PPO step ---------------------------------------------------------------------------------------------
    def train_step(self, prompts: list[list[dict]]) -> dict:
        cfg = self.cfg
        started = time.perf_counter()
        sampler = self.sampler.sync() if self.sampler else self.policy
        from_rollout = sampled_logprobs_usable(self.policy, cfg) and not cfg.trunk and not self.sampler
        r = rollout(sampler, self.tokenizer, prompts, cfg, generator_seed=cfg.seed * 1_000_003 + self.step,
                    keep_sampling_logprobs=from_rollout)
        with torch.no_grad():
            self.policy.eval()
            self.critic.eval()
            kept = self.trunk.bottom(*_inputs(r)) if cfg.trunk else None   # the frozen blocks, once a rollout
            old_logp, entropy, ref_logp, values, features = [], [], [], [], []
            for start in range(0, len(prompts), cfg.minibatch_size):   # in minibatches: bounded memory
                mb = torch.arange(start, min(start + cfg.minibatch_size, len(prompts)))
                if cfg.trunk:    # old policy, value head on its hidden states, reference: the top blocks only
                    lp, ent, hidden = self._top_logprobs(r, kept, mb, with_entropy=True)
                    old_logp.append(lp)
                    entropy.append(ent)
                    values.append(self.critic(hidden))
                    with self.policy.disable_adapter():
                        ref_logp.append(self._top_logprobs(r, kept, mb)[0])
                    continue
                if not from_rollout:     # score the rollout again
                    lp, ent = response_logprobs(self.policy, r, cfg.temperature, idx=mb, with_entropy=True)
                    old_logp.append(lp)
                    entropy.append(ent)
                with self.policy.disable_adapter():
                    if cfg.value_head:   # the reference pass also gives the value head its features
                        ref, _, feats = response_logprobs(self.policy, r, cfg.temperature, idx=mb, with_hidden=True)
                        features.append(feats)
                        values.append(self.critic(feats))
                    else:
                        ref, _ = response_logprobs(self.policy, r, cfg.temperature, idx=mb)
                ref_logp.append(ref)
                if not cfg.value_head:
                    values.append(critic_values(self.critic, r, idx=mb))
            if from_rollout:         # what generate sampled from is the old policy's log pi
                old_logp, entropy = [r.stats["sampling_logprobs"]], [r.stats["sampling_entropy"]]
            old_logp, entropy, ref_logp, values = (torch.cat(t) for t in (old_logp, entropy, ref_logp, values))
            features = torch.cat(features) if features else None
            scores = self.score_fn(prompts, r.texts).to(values.device).float()
            rewards, kl = token_rewards(scores, old_logp, ref_logp, r.mask, self.kl.value, r.ended,
                                        cfg.no_eos_penalty, cfg.kl_estimator)
            advantages, returns = gae(rewards, values, r.mask, cfg.gamma, cfg.lam)
            advantages = masked_whiten(advantages, r.mask)
        self.policy.train()
        self.critic.train()
        acc = {"policy_loss": [], "value_loss": [], "clipfrac": [], "approx_kl": [], "value_clipfrac": []}
        n = len(prompts)
        g = torch.Generator().manual_seed(cfg.seed + self.step)
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(n, generator=g)
            for start in range(0, n, cfg.minibatch_size):
                mb = order[start:start + cfg.minibatch_size]
                m = r.mask[mb]
                if cfg.trunk:
                    new_logp, _, hidden = self._top_logprobs(r, kept, mb)
                else:
                    new_logp, _ = response_logprobs(self.policy, r, cfg.temperature, idx=mb)
                p_loss, p_stats = policy_loss(new_logp, old_logp[mb], advantages[mb], m, cfg.clip)
                if not acc["policy_loss"]:   # before any update the ratio is 1 but for numerical noise: how much
                    ratio_error = masked_mean((new_logp.detach() - old_logp[mb]).exp().sub(1).abs(), m).item()
                self.opt_policy.zero_grad(set_to_none=True)
                p_loss.backward()
                torch.nn.utils.clip_grad_norm_([p for p in self.policy.parameters() if p.requires_grad], cfg.max_grad_norm)
                self.opt_policy.step()
                if cfg.trunk:      # the value head reads the policy's hidden states; its loss does not move the policy
                    v = self.critic(hidden.detach())
                elif cfg.value_head:
                    v = self.critic(features[mb])
                else:
                    v = critic_values(self.critic, r, idx=mb)
                v_loss, v_stats = value_loss(v, values[mb], returns[mb], m, cfg.clip_value)
                self.opt_critic.zero_grad(set_to_none=True)
                v_loss.backward()
                torch.nn.utils.clip_grad_norm_([p for p in self.critic.parameters() if p.requires_grad], cfg.max_grad_norm)
                self.opt_critic.step()
                for k, val in {"policy_loss": p_loss.item(), "value_loss": v_loss.item(), **p_stats, **v_stats}.items():
                    acc[k].append(val)
        kl_per_response = (kl * r.mask).sum(dim=1)
        stats = {
            "step": self.step + 1,
            "reward": scores.mean().item(),                       # the scorer alone, before the KL penalty
            "reward_with_penalty": (rewards.sum(dim=1)).mean().item(),
            "kl": kl_per_response.mean().item(),                  # summed over each response, averaged
            "kl_coef": self.kl.value,
            "entropy": masked_mean(entropy, r.mask).item(),
            "response_tokens": r.mask.sum(dim=1).float().mean().item(),
            "ended": r.ended.float().mean().item(),
            "explained_variance": explained_variance(values, returns, r.mask),
            "ratio_error_at_start": ratio_error,                  # mean |ratio - 1| before the first update: precision noise
            **{k: sum(v) / len(v) for k, v in acc.items()},
            **{f"eval_{name}": sum(vals) / len(vals) for name, fn in self.evaluators.items()
               for vals in [list(fn(prompts, r.texts))]},
            "seconds": time.perf_counter() - started,
        }
        self.kl.update(stats["kl"], n)
        self.step += 1
        self.history.append(stats)
        if self.out_dir and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self.save_checkpoint()
        return stats

    def _top_logprobs(self, r: Rollout, kept, idx, with_entropy: bool = False):
        """log pi of rows `idx`'s response tokens (and entropy, and the hidden states a value head reads) from the kept
        trunk: the top blocks only, under the precision policy, the LM head in fp32."""
        n = r.response.shape[1]
        with config.autocast_for(self.policy):
            hidden = self.trunk.top(kept, idx)[:, -(n + 1):-1]
        logp, entropy = token_logprobs(self.policy, hidden, r.response[idx], self.cfg.temperature, with_entropy)
        return logp, entropy, hidden.float()

    # checkpoints ----------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Adapters, optimizers, KL coefficient, history and RNG state; written to a temporary folder, then renamed,
        so an interruption never leaves a half-written checkpoint that looks complete."""
        import shutil
        final = self.out_dir / f"checkpoint-{self.step:05d}"
        tmp = self.out_dir / f".tmp-checkpoint-{self.step:05d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.policy.save_pretrained(tmp / "policy")
        if self.cfg.value_head:
            torch.save(self.critic.state_dict(), tmp / "value_head.pt")
        else:
            self.critic.save_pretrained(tmp / "critic")
        torch.save({"step": self.step, "kl_coef": self.kl.value, "kl_horizon": self.kl.horizon, "history": self.history,
                    "opt_policy": self.opt_policy.state_dict(), "opt_critic": self.opt_critic.state_dict(),
                    "config": asdict(self.cfg)}, tmp / "state.pt")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        return final

    def resume(self, checkpoint: Path) -> None:
        """Continue from a checkpoint: load adapters into the existing models, and the optimizers and counters."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file
        state = torch.load(Path(checkpoint) / "state.pt", weights_only=True)
        changed = {k: (v, getattr(self.cfg, k)) for k, v in state["config"].items()
                   if k not in ("steps", "checkpoint_every") and getattr(self.cfg, k, v) != v}
        if changed:
            raise ValueError(f"{checkpoint} was made with other settings {changed}: resuming would not continue "
                             "that run; start a new output folder or restore the settings")
        if self.cfg.value_head:
            self.critic.load_state_dict(torch.load(Path(checkpoint) / "value_head.pt", weights_only=True))
        for model, sub in ((self.policy, "policy"),) + ((self.critic, "critic"),) * (not self.cfg.value_head):
            result = set_peft_model_state_dict(model, load_file(str(Path(checkpoint) / sub / "adapter_model.safetensors")))
            if result.unexpected_keys:
                raise ValueError(f"{checkpoint}/{sub} does not fit this model: {result.unexpected_keys[:3]}...")
        self.opt_policy.load_state_dict(state["opt_policy"])
        self.opt_critic.load_state_dict(state["opt_critic"])
        self.step, self.kl.value, self.history = state["step"], state["kl_coef"], state["history"]
        self.kl.horizon = state["kl_horizon"]


def prompt_batch(prompts: list, step: int, batch_size: int, seed: int = 0) -> list:
    """The prompts of PPO step `step` (0-based): passes over the prompts, each in its own seeded shuffle. A function
    of the step alone, so a resumed run trains on exactly the prompts the interrupted one would have."""
    import random
    n = len(prompts)
    if n == 0:
        raise ValueError("no prompts to train on")
    out = []
    for i in range(step * batch_size, (step + 1) * batch_size):
        epoch, pos = divmod(i, n)
        order = list(range(n))
        random.Random(seed * 7919 + epoch).shuffle(order)
        out.append(prompts[order[pos]])
    return out


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted(Path(out_dir).glob("checkpoint-*")) if Path(out_dir).exists() else []
    return found[-1] if found else None


def policy_model(source: str, precision, r: int = 16, top_layers: int | None = None):
    """The starting policy with fresh LoRA adapters (no dropout, so a rollout's log-probs are reproducible in the
    update), on the top `top_layers` blocks only (None or 0: all), so the backward pass stops there. The reference
    policy is the same object under `policy.disable_adapter()`: no second copy."""
    from peft import LoraConfig, get_peft_model

    from . import models
    model = models.load_model(source, "policy", precision)
    targets, layers = models.lora_targets(model, top_layers)
    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=2 * r, lora_dropout=0.0,
                                            target_modules=targets, layers_to_transform=layers))


class ValueHead(torch.nn.Module):
    """The cheap critic (`PPOConfig.value_head`): V = w . h + b on the hidden state h the reference pass already
    computes (the frozen starting policy's last layer). No critic model to hold, run or backpropagate through: the
    values cost one small matrix product. Starts at V = 0 (advantages are then the rewards to go)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden).squeeze(-1)


def critic_model(precision, reward_dir: Path | None = None, source: str | None = None, r: int = 16):
    """The value function. From a saved reward model (its adapter and head, trainable: it already knows what a
    good answer is, as in InstructGPT), or fresh on `source`. Full precision on a CPU: bitsandbytes's CPU fast
    path repacks 4-bit weights during no-grad forwards, which we do not mix with training."""
    from peft import LoraConfig, get_peft_model

    from . import models, reward
    quantize = precision.device == "cuda"
    if reward_dir is not None:
        model, _ = reward.load(reward_dir, precision, trainable=True, quantize=quantize)
    else:
        base = models.load_model(source, "reward", precision, quantize_4bit=quantize)
        model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=r, lora_alpha=2 * r, lora_dropout=0.0,
                                                target_modules="all-linear", modules_to_save=["score"]))
    # peft upcasts LoRA weights, not the trained copy of the head: in fp16 plain AdamW would turn it into NaN
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return model
