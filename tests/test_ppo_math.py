"""The arithmetic of a PPO update, against hand-worked numbers (helpers/ppo_math.py)."""

import pytest
import torch

from helpers import ppo_math


def test_gae_matches_a_worked_example_and_ignores_padding():
    # gamma 0.9, lambda 0.8; the reward arrives on the last token
    # t=2: delta = 1 - 0.7 = 0.3                      A2 = 0.3
    # t=1: delta = 0.9 * 0.7 - 0.6 = 0.03             A1 = 0.03 + 0.72 * 0.3 = 0.246
    # t=0: delta = 0.9 * 0.6 - 0.5 = 0.04             A0 = 0.04 + 0.72 * 0.246 = 0.21712
    rewards = torch.tensor([[0.0, 0.0, 1.0, 9.0, 9.0]])
    values = torch.tensor([[0.5, 0.6, 0.7, 5.0, 5.0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    adv, ret = ppo_math.gae(rewards, values, mask, gamma=0.9, lam=0.8)
    assert adv.tolist()[0] == pytest.approx([0.21712, 0.246, 0.3, 0.0, 0.0])
    assert ret.tolist()[0] == pytest.approx([0.71712, 0.846, 1.0, 0.0, 0.0])
    # lambda = 1, gamma = 1: the advantage is the return-to-go minus the value (Monte Carlo)
    adv1, _ = ppo_math.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert adv1.tolist()[0][:3] == pytest.approx([0.5, 0.4, 0.3])


def test_clipped_policy_loss_inside_and_outside_the_clip_range():
    mask = torch.ones(1, 1)
    def loss(ratio, adv):
        return ppo_math.policy_loss(torch.log(torch.tensor([[ratio]])), torch.zeros(1, 1), torch.tensor([[adv]]), mask, clip=0.2)
    inside, stats = loss(1.1, 2.0)
    assert inside.item() == pytest.approx(-2.2) and stats["clipfrac"] == 0.0
    above, stats = loss(1.5, 2.0)       # good action pushed too far: the gain is capped at 1.2 * A
    assert above.item() == pytest.approx(-2.4) and stats["clipfrac"] == 1.0
    below, _ = loss(0.5, -1.0)          # bad action already made rarer: capped at 0.8 * A
    assert below.item() == pytest.approx(0.8)
    pessimistic, stats = loss(1.5, -1.0)  # bad action made more likely: never clipped, the full 1.5 * A counts
    assert pessimistic.item() == pytest.approx(1.5) and stats["clipfrac"] == 0.0


def test_policy_loss_gradient_vanishes_where_clipped():
    logp = torch.log(torch.tensor([[1.5, 1.1]])).requires_grad_()
    loss, _ = ppo_math.policy_loss(logp, torch.zeros(1, 2), torch.tensor([[2.0, 2.0]]), torch.ones(1, 2), clip=0.2)
    loss.backward()
    assert logp.grad[0, 0].item() == 0.0 and logp.grad[0, 1].item() != 0.0


def test_value_loss_is_clipped_around_the_rollout_values():
    mask = torch.ones(1, 1)
    loss, _ = ppo_math.value_loss(torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]]), mask, clip=0.2)
    # V moved 2.0 from the rollout's 0.0: clipped to 0.2, (0.2 - 2)^2 = 3.24 beats (2 - 2)^2 = 0
    assert loss.item() == pytest.approx(0.5 * 3.24)


def test_kl_estimators_and_the_kl_penalty_in_the_rewards():
    logp, ref = torch.tensor([[-1.0, -2.0, -0.5]]), torch.tensor([[-1.5, -1.0, -0.5]])
    assert ppo_math.kl_per_token(logp, ref, "k1").tolist()[0] == pytest.approx([0.5, -1.0, 0.0])
    k3 = ppo_math.kl_per_token(logp, ref, "k3")
    # k3 = (q/p - 1) - log(q/p) with log(q/p) = ref - logp
    assert k3.tolist()[0] == pytest.approx([torch.exp(torch.tensor(-0.5)).item() - 1 + 0.5,
                                            torch.exp(torch.tensor(1.0)).item() - 1 - 1.0, 0.0])
    assert (k3 >= 0).all()
    with pytest.raises(ValueError):
        ppo_math.kl_per_token(logp, ref, "k2")
    mask = torch.tensor([[1, 1, 0]])
    rewards, kl = ppo_math.token_rewards(torch.tensor([3.0]), logp, ref, mask, kl_coef=0.1)
    # -0.1 * k1 on real tokens; the score on the last real token (index 1); padding 0
    assert rewards.tolist()[0] == pytest.approx([-0.05, 0.1 + 3.0, 0.0])
    assert kl.tolist()[0] == pytest.approx([0.5, -1.0, 0.0])
    penalized, _ = ppo_math.token_rewards(torch.tensor([3.0]), logp, ref, mask, kl_coef=0.1,
                                     ended=torch.tensor([False]), no_eos_penalty=1.0)
    assert penalized[0, 1].item() == pytest.approx(0.1 + 2.0)


def test_whitening_uses_real_tokens_only():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, 5.0, -100.0, -100.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    w = ppo_math.masked_whiten(x, mask)
    real = w[mask.bool()]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert real.std().item() == pytest.approx(1.0, abs=1e-4)      # unbiased std, like masked_var
    assert w[~mask.bool()].abs().max().item() == 0.0
    assert ppo_math.masked_mean(x, mask).item() == pytest.approx(3.0)


def test_response_mask_stops_after_the_first_eos():
    eos = 2
    tokens = torch.tensor([[5, 7, 2, 2, 2], [5, 6, 7, 8, 9], [2, 3, 4, 2, 0]])
    mask, ended = ppo_math.response_mask(tokens, eos)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert ended.tolist() == [True, False, True]


def test_explained_variance_and_adaptive_kl():
    returns, mask = torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.ones(1, 4)
    assert ppo_math.explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert ppo_math.explained_variance(torch.full_like(returns, 2.5), returns, mask) == pytest.approx(0.0)
    ctl = ppo_math.AdaptiveKLController(0.1, target=6.0, horizon=100)
    assert ctl.update(12.0, n_steps=10) == pytest.approx(0.1 * (1 + 0.2 * 0.1))   # error clipped to +0.2
    assert ctl.update(3.0, n_steps=10) < 0.1 * 1.02
    fixed = ppo_math.AdaptiveKLController(0.05)
    assert fixed.update(100.0, 10) == 0.05


def test_losses_ignore_whatever_sits_on_padding():
    mask = torch.tensor([[1, 1, 0]])
    logp = torch.tensor([[-1.0, -2.0, float("inf")]])
    old = torch.tensor([[-1.1, -1.9, float("-inf")]])
    adv = torch.tensor([[0.5, -0.5, float("nan")]])
    loss, _ = ppo_math.policy_loss(logp, old, adv, mask)
    clean, _ = ppo_math.policy_loss(logp[:, :2], old[:, :2], adv[:, :2], torch.ones(1, 2))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(clean.item())
    rewards, kl = ppo_math.token_rewards(torch.tensor([1.0]), logp, old, mask, kl_coef=0.1, estimator="k3")
    assert torch.isfinite(rewards).all() and torch.isfinite(kl).all()
    assert torch.isfinite(ppo_math.masked_whiten(adv, mask)).all()
