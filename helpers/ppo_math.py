"""PPO's mathematics for RLHF, written out (helpers/ppo.py is the loop around it): TRL removed its PPOTrainer (last
shipped as `trl.experimental.ppo` in trl 1.12), and no maintained library offers it for language models, so these
functions are the reference a reader can follow; tests/test_ppo_math.py checks each on hand-made tensors.

They hold the arithmetic of one PPO update on tensors of shape (batch, response tokens), each with a `mask`
that is 1 on the response's real tokens (up to and including its first EOS) and 0 on padding and anything after:

    1. per-token rewards  r_t = -kl_coef * KL_t, plus the reward model's score on the last real token
    2. advantages by GAE   delta_t = r_t + gamma * V_{t+1} - V_t,  A_t = delta_t + gamma * lam * A_{t+1}
    3. the clipped surrogate policy loss and the clipped value loss, averaged over real tokens only

The names follow "The N Implementation Details of RLHF with PPO" (Huang et al., 2024) and Ziegler et al. (2019).
"""

from __future__ import annotations

import math

import torch


def masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x on real tokens, 0 elsewhere; `where`, not a product, so an inf or NaN on padding cannot leak in."""
    return torch.where(mask.bool(), x, torch.zeros_like(x))


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    n = mask.to(x.dtype)
    if dim is None:
        return masked(x, mask).sum() / n.sum().clamp(min=1)
    return masked(x, mask).sum(dim) / n.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance of the real tokens (Bessel's correction, as the reference implementations use)."""
    mean = masked_mean(x, mask)
    n = mask.sum()
    var = masked_mean((x - mean) ** 2, mask)
    return var * n / (n - 1) if n > 1 else var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / std over the real tokens; padding stays 0. `shift_mean=False` only rescales (used for rewards)."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return masked(out, mask)


def response_mask(tokens: torch.Tensor, eos_ids: int | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of real response tokens (up to and including the first EOS) and whether each response ended with EOS.
    Generation pads finished sequences, often with the EOS id itself, so everything after the first EOS is out."""
    eos_ids = [eos_ids] if isinstance(eos_ids, int) else list(eos_ids)
    is_eos = torch.isin(tokens, torch.tensor(eos_ids, device=tokens.device))
    ended = is_eos.any(dim=1)
    after_first_eos = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return (~after_first_eos).long(), ended


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from tokens sampled by the policy.

    k1 = log p - log q: unbiased, can be negative on a token, what PPO-RLHF puts in the reward.
    k3 = (q/p - 1) - log(q/p): unbiased and never negative, lower variance (Schulman, "Approximating KL divergence").
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}: use 'k1' or 'k3'")


def token_rewards(score: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                  kl_coef: float, ended: torch.Tensor | None = None, no_eos_penalty: float = 0.0,
                  estimator: str = "k1") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: the KL penalty on every real token, plus the sequence score on its last real token.
    A response that never produced EOS has `no_eos_penalty` taken off its score. Returns (rewards, kl)."""
    kl = masked(kl_per_token(logprobs, ref_logprobs, estimator), mask)
    rewards = -kl_coef * kl
    score = score.to(rewards.dtype)
    if ended is not None and no_eos_penalty:
        score = torch.where(ended, score, score - no_eos_penalty)
    last = (mask.sum(dim=1) - 1).clamp(min=0)
    rewards[torch.arange(len(score)), last] += score
    return masked(rewards, mask), kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over each response; the value after the last real token is 0.
    Returns (advantages, returns = advantages + values), both 0 on padding."""
    values = masked(values, mask)
    mask = mask.to(values.dtype)
    advantages = torch.zeros_like(values)
    next_value = torch.zeros(values.shape[0], dtype=values.dtype, device=values.device)
    next_adv = torch.zeros_like(next_value)
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        # on padding nothing happens: carry the later values through unchanged
        advantages[:, t] = adv * mask[:, t]
        next_value = torch.where(mask[:, t] > 0, values[:, t], next_value)
        next_adv = torch.where(mask[:, t] > 0, adv, next_adv)
    return advantages, masked(advantages + values, mask)


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip: float = 0.2) -> tuple[torch.Tensor, dict]:
    """The clipped surrogate: -mean(min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A)) over real tokens.
    Also the share of tokens where clipping bit, and the approximate KL between the new and the old policy."""
    log_ratio = masked(logprobs - old_logprobs, mask)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((clipped > unclipped).float(), mask).item(),
                 "approx_kl": masked_mean(0.5 * log_ratio ** 2, mask).item()}
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2) -> tuple[torch.Tensor, dict]:
    """0.5 * mean(max((V - R)^2, (V_clipped - R)^2)), V_clipped kept within `clip` of the rollout's value."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    losses = torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)
    loss = 0.5 * masked_mean(losses, mask)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean(((clipped_values - returns) ** 2 > (values - returns) ** 2).float(),
                                               mask).item()}
    return loss, stats


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns): 1 is a perfect critic, 0 no better than a constant, < 0 worse."""
    var_returns = masked_var(returns, mask)
    if var_returns <= 0:
        return float("nan")
    return float(1 - masked_var(returns - values, mask) / var_returns)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each token's predictive distribution, in nats."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


class AdaptiveKLController:
    """Ziegler et al. (2019): nudge the KL coefficient so that the observed KL tracks `target`.
    coef <- coef * (1 + clip((KL / target - 1), -0.2, 0.2) * n_steps / horizon)."""

    def __init__(self, init: float, target: float | None = None, horizon: int = 10000):
        self.value, self.target, self.horizon = init, target, horizon

    def update(self, observed_kl: float, n_steps: int) -> float:
        if self.target is not None and math.isfinite(observed_kl):
            error = max(-0.2, min(0.2, observed_kl / self.target - 1))
            self.value *= 1 + error * n_steps / self.horizon
        return self.value
