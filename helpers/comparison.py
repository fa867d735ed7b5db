"""05's plumbing and plots: every model judged on the same held-out prompts, and the pictures of the comparison.

`05_eval_fairness` keeps the steps a reader follows (which models, which prompts, which judge, what the numbers say);
this module holds what would hide them: a stand-in for a missing policy, the columns a scored answer carries, the
tables and the figures. It knows no task: the task (`tasks.get(...)`) and everything else come in as arguments.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, scoring
from .report import policy_name

# the columns of 05's cost-and-gain table (section 3), also the keys of each point it records in metrics.json
EFFICIENCY_COLUMNS = ["method", "point", "preference_labels", "generated_tokens", "train_seconds", "gold_win_rate_vs_sft",
                      "gold_win_rate_vs_sft_ci95", "gold_win_rate_vs_base", "kl_to_sft", "rm_score_mean", "gold_score_mean"]


DIMENSION_COLOURS = ["tab:cyan", "tab:olive", "tab:pink", "gold"]   # a rubric's dimensions: none of the methods' colours


# ---------------------------------------------------------------- the contenders (section 1)

def reward_scorer(rm, rm_tokenizer, max_length: int):
    """`score(prompts, texts)` with the reward model of 02; zeros when there is none."""
    import torch

    from . import reward

    def score(prompts, texts):
        if rm is None:
            return torch.zeros(len(texts))
        return reward.score(rm, rm_tokenizer, prompts, texts, max_length=max_length)
    return score


def stand_in_policy(method: str, task, source, paths, precision, tokenizer, score_fn, reward_dir: Path | None,
                    max_length: int, seed: int) -> Path:
    """A smoke-sized stand-in for a missing PPO or DPO policy, through the same helpers as 03 and 04 and with the
    smoke profile's sizes; saved next to where the real one would be, and marked `stand_in` in its metadata."""
    from . import agreement, dpo, models, ppo, reward
    smoke = config.choose_profile("smoke")
    out = paths.run / f"{method}_policy_standin"
    if method == "dpo":
        agg_all, _, _ = agreement.load_aggregated(paths)
        rows = reward.preference_rows(agg_all, task.system_prompt)
        t = dpo.build_trainer(source.path, rows, smoke, precision, paths.run / "dpo_trainer_standin", beta=0.1,
                              loss_type="sigmoid", steps=smoke.dpo_steps, batch_size=smoke.dpo_batch_size,
                              learning_rate=smoke.dpo_learning_rate, max_length=max_length, seed=seed)
        t.train()
        return models.save_policy(t.model, tokenizer, out, source.path, {"method": "dpo", "stand_in": True})
    policy = ppo.policy_model(source.path, precision, r=smoke.lora_r)
    critic = ppo.critic_model(precision, reward_dir=reward_dir, source=source.path, r=smoke.lora_r)
    train = [task.messages(p) for p in task.load_prompts("train", smoke.n_train_prompts, path=paths.data / "prompts.jsonl")]
    cfg = ppo.PPOConfig(steps=smoke.ppo_steps, batch_size=smoke.ppo_batch_size, minibatch_size=2,
                        max_new_tokens=smoke.ppo_max_new_tokens, checkpoint_every=0)
    trainer = ppo.PPO(policy, critic, tokenizer, score_fn, cfg)
    for step in range(cfg.steps):
        trainer.train_step(ppo.prompt_batch(train, step, cfg.batch_size, seed))
    return models.save_policy(policy, tokenizer, out, source.path, {"method": "ppo", "stand_in": True})


# ---------------------------------------------------------------- every model on the held-out prompts (section 2)

def gold_scored(task, prompts: list[dict], rows: pd.DataFrame) -> pd.DataFrame:
    """The answers' gold scores, per dimension, and what the task watches, added as columns (none for a task
    without a gold rubric)."""
    if not task.has_gold:
        return rows
    scores = [task.score(p, t) for p, t in zip(prompts, rows.response)]
    rows["gold"] = [s.total for s in scores]
    for dim in task.weights:
        rows[dim] = [s.dims[dim] for s in scores]
    for key, (_, seen) in task.watch.items():   # e.g. mentions a protected attribute; refuses a fair request
        rows[key] = [seen(s) for s in scores]
    return rows


def untuned_samples(task, profile, precision, tokenizer, prompts: list[dict], messages: list, cfg, score_fn,
                    seed: int) -> pd.DataFrame:
    """The untuned model (the second baseline) on the same prompts at the same temperature, gold-scored: no
    adapters to switch off, so no KL to the SFT policy is estimated for it."""
    from . import generation, models
    untuned = models.load_model(models.resolve_model(profile).path, "policy", precision, frozen=True)
    out = generation.sample(untuned, tokenizer, [{"id": p["id"], "messages": m} for p, m in zip(prompts, messages)],
                            max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=1.0,
                            batch_size=profile.gen_batch_size, seed=seed, max_prompt_tokens=profile.max_prompt_tokens,
                            desc="untuned model")
    del untuned
    texts = [s.text for s in out]
    return gold_scored(task, prompts, pd.DataFrame({"response": texts, "score": score_fn(messages, texts).tolist(), "kl": np.nan,
                                                    "tokens": [s.new_tokens for s in out], "ended": [s.finished for s in out]}))


def paired_gain(a, b) -> tuple[float, list[float]]:
    """Mean of b - a over the same prompts, with a normal 95% interval."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan
    return round(float(d.mean()), 4), [round(float(d.mean() - half), 4), round(float(d.mean() + half), 4)]


def describe(task, rows: pd.DataFrame) -> dict:
    """A model's means over its answers: gold score (and per dimension), reward-model score, KL to the SFT policy,
    length, and the share of answers showing what the task watches."""
    kl = rows.kl.mean()
    gold = {"gold_score_mean": round(float(rows.gold.mean()), 4),
            "gold_dims": {d: round(float(rows[d].mean()), 4) for d in task.weights}} if "gold" in rows else {}
    return {**gold, "rm_score_mean": round(float(rows.score.mean()), 4), "kl_to_sft": None if np.isnan(kl) else round(float(kl), 3),
            "mean_length_tokens": round(float(rows.tokens.mean()), 1),
            **{f"{k}_share": round(float(rows[k].mean()), 4) for k in task.watch},
            "n": len(rows)}


def proxy_win_rate(scores, baseline_scores, margin: float = 1e-6) -> dict:
    """The reward model as the judge: how often an answer scores above the baseline's answer to the same prompt
    (ties half), with Wilson's interval. A proxy: the reward model is what PPO and RLOO optimized, so on their
    answers it is the judge most easily fooled. What a task without a gold rubric has, next to people."""
    d = np.asarray(scores, dtype=float) - np.asarray(baseline_scores, dtype=float)
    return scoring.tally(["tie" if abs(x) <= margin else "a" if x > 0 else "b" for x in d])


def proxy_against(rows: pd.DataFrame, baseline: pd.DataFrame) -> dict:
    """A tuned policy against the SFT policy by the reward model (`proxy_win_rate`, and the paired score gain)."""
    won = proxy_win_rate(rows.score, baseline.score)
    gain, gain_ci = paired_gain(baseline.score, rows.score)
    return {"rm_win_rate_vs_sft": won["win_rate"], "rm_win_rate_vs_sft_ci95": won["ci95"],
            "rm_wins_ties_losses_vs_sft": won["wins_ties_losses"], "rm_gain_vs_sft": gain, "rm_gain_vs_sft_ci95": gain_ci}


def proxy_reading(results: dict, methods, published: dict) -> str:
    """What a run without a gold rubric can say, in words: how far the reward model can be trusted (its held-out
    accuracy against the labels, 02), DPO's implicit-reward accuracy (04), each policy by the reward model (a
    proxy) and by people where they have judged."""
    def ci(c):
        return f"[{c[0]:.2f}, {c[1]:.2f}]"
    rm, dpo = published.get("reward_model", {}), published.get("dpo", {})
    lines = []
    if "heldout_accuracy_vs_labels" in rm:
        lines.append(f"- The reward model of 02 agrees with the held-out labels on {rm['heldout_accuracy_vs_labels']:.2f} "
                     f"{ci(rm['heldout_accuracy_vs_labels_ci95'])} of {rm['heldout_n']} comparisons: that is how far its "
                     "verdicts below can be trusted.")
    if "implicit_accuracy_vs_labels_ci95" in dpo:
        lines.append(f"- DPO's implicit reward on the same comparisons: {dpo['implicit_accuracy_vs_labels']:.2f} "
                     f"{ci(dpo['implicit_accuracy_vs_labels_ci95'])}.")
    for m in methods:
        r = results[m]
        human = (f'people prefer it {r["human_win_rate"]:.2f} {ci(r["human_win_rate_ci95"])} of the time' if "human_win_rate" in r
                 else "no person has judged the blind comparisons yet")
        lines.append(f"- {m}: the reward model prefers its answer to the SFT policy's {r['rm_win_rate_vs_sft']:.2f} "
                     f"{ci(r['rm_win_rate_vs_sft_ci95'])} of the time (score gain {r['rm_gain_vs_sft']:+.2f} "
                     f"[{r['rm_gain_vs_sft_ci95'][0]:+.2f}, {r['rm_gain_vs_sft_ci95'][1]:+.2f}]); KL to SFT "
                     + (f"{r['kl_to_sft']:.1f}" if r.get("kl_to_sft") is not None else "-")
                     + f"; {r['mean_length_tokens']:.0f} tokens; {human}.")
    lines.append("- A proxy: PPO and RLOO were trained to please this very reward model, so its verdict on their answers is "
                 "the easiest to fool. Only people (the blind side-by-side) or a gold rubric can say whether they are better.")
    return "\n".join(lines)


def _win_text(r: dict, key: str, ci: str, wtl: str) -> str:
    return f"{r[key]:.2f} [{r[ci][0]:.2f}, {r[ci][1]:.2f}] {'/'.join(map(str, r[wtl]))}" if key in r else "-"


def results_table(task, results: dict) -> pd.DataFrame:
    """One row a model (named as the report names it): win rates with intervals and W/T/L, gold gain, scores, KL, length, watched shares."""
    def row(r):
        gain = (f"{r['gold_gain_vs_sft']:+.3f} [{r['gold_gain_vs_sft_ci95'][0]:+.3f}, {r['gold_gain_vs_sft_ci95'][1]:+.3f}]"
                if "gold_gain_vs_sft" in r else "-")
        if "gold_score_mean" not in r:   # no gold rubric: the reward model's verdict, a proxy
            return {"reward-model win rate vs SFT (proxy)": _win_text(r, "rm_win_rate_vs_sft", "rm_win_rate_vs_sft_ci95",
                                                                       "rm_wins_ties_losses_vs_sft"),
                    "reward-model score": r["rm_score_mean"], "KL to SFT": r["kl_to_sft"], "tokens": r["mean_length_tokens"]}
        return {"gold win rate vs SFT": _win_text(r, "gold_win_rate_vs_sft", "gold_win_rate_vs_sft_ci95", "wins_ties_losses_vs_sft"),
                "gold gain vs SFT": gain,
                "gold win rate vs untuned": _win_text(r, "gold_win_rate_vs_base", "gold_win_rate_ci95", "wins_ties_losses"),
                "gold score": r["gold_score_mean"], **{f"gold {d}": v for d, v in r["gold_dims"].items()},
                "reward-model score": r["rm_score_mean"], "KL to SFT": r["kl_to_sft"],
                "tokens": r["mean_length_tokens"], **{meaning: r[f"{k}_share"] for k, (meaning, _) in task.watch.items()}}
    return pd.DataFrame({policy_name(n): row(r) for n, r in results.items()}).T


def blind_items(task, prompts: list[dict], tuned: dict, baseline) -> list[dict]:
    """Annotation items for the blind side-by-side: a tuned answer (A) against the baseline's (B) for every method in
    `tuned` and prompt. An item's id holds a hash of both answers, so other answers never mix with earlier labels."""
    items = []
    for method, answers in tuned.items():
        for p, a, b in zip(prompts, answers, baseline):
            digest = hashlib.sha256(f"{a}\x00{b}".encode()).hexdigest()[:10]
            items.append({"item_id": f"eval-{method}-{p['id']}-{digest}", "task": task.name, "kind": p["kind"], "prompt_id": p["id"],
                          "prompt": task.render_user_message(p), "response_a": a, "response_b": b,
                          "tags": {**p["tags"], "pair_id": f"eval-{method}-{p['id']}-{digest}", "method": method}})
    return items


def _save_and_show(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    from .plots import save
    save(fig, path)
    plt.show()


def plot_win_rates(task, results: dict, methods: list[str], models: list[str], n_prompts: int, n_judges: int,
                   path: Path, people: bool = False) -> None:
    """Left: gold (a task without a rubric: the reward model's, a proxy) and the blind judges' win rates against the
    SFT policy with 95% intervals (`people`: the judges were people in the widget, else simulated annotators); right:
    gold score per dimension, where there is a rubric. The base model is labelled "untuned", as the text calls it."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2 if task.has_gold else 1, figsize=(14 if task.has_gold else 7, 4), squeeze=False)
    axes = axes[0]
    x = np.arange(len(methods))
    first = ("gold_win_rate_vs_sft", "gold recruiter") if task.has_gold else ("rm_win_rate_vs_sft", "reward model (a proxy)")
    from matplotlib.patches import Patch

    from .plots import REFERENCE, method_colour
    colours = [method_colour(m) or f"C{i}" for i, m in enumerate(methods)]   # the method's colour; the judge by hatching
    judges = [first]
    if n_judges and any(np.isfinite(results[m].get("human_win_rate", np.nan)) for m in methods):   # no judges: no bar
        judges.append(("human_win_rate", f"{'people' if people else 'simulated judges'} ({n_judges}, blind)"))
    width, handles = 0.76 / len(judges), []
    for k, (key, label) in enumerate(judges):
        vals = [results[m].get(key, np.nan) for m in methods]
        cis = [results[m].get(f"{key}_ci95", [np.nan, np.nan]) for m in methods]
        err = np.array([[v - c[0] for v, c in zip(vals, cis)], [c[1] - v for v, c in zip(vals, cis)]])
        axes[0].bar(x + (k - (len(judges) - 1) / 2) * width, vals, width, yerr=err, capsize=4, color=colours,
                    hatch="//" if k else None, edgecolor="white" if k else None, alpha=0.6 if k else 1.0)
        handles.append(Patch(facecolor="grey", hatch="//" if k else None, edgecolor="white" if k else None,
                             alpha=0.6 if k else 1.0, label=label))             # the judge, not a method's colour
    axes[0].axhline(0.5, **REFERENCE)
    axes[0].set(xticks=x, xticklabels=methods, ylim=(0, 1), ylabel="win rate vs SFT (ties half)",
                title=f"win rate against the SFT policy, {n_prompts} test prompts, 95% CI")
    axes[0].legend(handles=handles)
    if not task.has_gold:
        return _save_and_show(fig, path)
    width = 0.8 / len(task.weights)
    for k, dim in enumerate(task.weights):
        axes[1].bar(np.arange(len(models)) + (k - (len(task.weights) - 1) / 2) * width, [results[n]["gold_dims"][dim] for n in models],
                    width, label=f"{dim} (weight {task.weights[dim]})", color=DIMENSION_COLOURS[k % len(DIMENSION_COLOURS)])
    axes[1].set(xticks=np.arange(len(models)), xticklabels=[policy_name(m) for m in models], ylim=(0, 1.15),
                yticks=np.linspace(0, 1, 6), title="mean gold score per rubric dimension")
    axes[1].legend(fontsize=8, loc="upper center", ncol=len(task.weights))   # above the bars, not over them
    _save_and_show(fig, path)


# ---------------------------------------------------------------- cost and over-optimization (sections 3 and 4)

def dpo_rerun(rows: list[dict], source, tokenizer, profile, precision, paths, *, beta: float, loss_type: str,
              max_length: int, seed: int, sft_weight: float = 0.0) -> tuple[Path, float, pd.DataFrame]:
    """DPO on `rows` for one epoch, trained as 04 trains (QLoRA on a GPU, its `sft_weight`; balance `rows` first as
    04 did) and saved under the run's dpo_budget/: (the policy's folder, training seconds, the logged losses and
    margins)."""
    import time

    from . import dpo, models
    steps = max(1, len(rows) // profile.dpo_batch_size)                      # one epoch, as in 04
    t = dpo.build_trainer(source.path, rows, profile, precision, paths.run / "dpo_budget_trainer", beta=beta, loss_type=loss_type,
                          steps=steps, batch_size=profile.dpo_batch_size, learning_rate=profile.dpo_learning_rate,
                          max_length=max_length, quantize=precision.device == "cuda", seed=seed, sft_weight=sft_weight)
    start = time.perf_counter()
    t.train()
    seconds = time.perf_counter() - start
    log = pd.DataFrame([h for h in t.state.log_history if "loss" in h])
    folder = models.save_policy(t.model, tokenizer, paths.run / "dpo_budget" / f"dpo_{len(rows)}", source.path,
                                {"method": "dpo", "pairs": len(rows), "beta": beta, "loss_type": loss_type})
    del t
    return folder, seconds, log


def gains_over_sft(samples: dict, names) -> pd.DataFrame:
    """For each model named (a key of `samples`: its answers to the test prompts, scored), the paired gain over the
    SFT policy's answers to the same prompts in reward-model score and in gold score, with 95% intervals, and its
    mean KL to the SFT policy."""
    rows = []
    for name in names:
        rm, rm_ci = paired_gain(samples["sft"].score, samples[name].score)
        gold, gold_ci = paired_gain(samples["sft"].gold, samples[name].gold)
        kl = float(samples[name].kl.mean()) if name != "sft" else 0.0
        rows.append({"model": name, "kl_to_sft": kl, "rm_gain": rm, "rm_lo": rm_ci[0], "rm_hi": rm_ci[1], "gold_gain": gold,
                     "gold_lo": gold_ci[0], "gold_hi": gold_ci[1]})
    return pd.DataFrame(rows).set_index("model")


def plot_overoptimization(frontier: pd.DataFrame, gains: pd.DataFrame, history: pd.DataFrame, dpo_logs: dict,
                          path: Path) -> None:
    """Reward-model and gold gain over the SFT policy (paired, 95% CI; `gains_over_sft`) against KL to it: the SFT
    policy and each PPO checkpoint as a line (`frontier.point`: "SFT", "step <n>"), RLOO and DPO as single points, and
    the training curves of 03 (PPO) and of the DPO reruns side by side. A gain whose interval crosses 0 is noise,
    whatever a line through it seems to say."""
    import matplotlib.pyplot as plt

    from .plots import REFERENCE, method_colour
    fig, axes = plt.subplots(1, 3, figsize=(18, 4))
    ppo_keys = ["sft" if p == "SFT" else f"ppo@{p.split()[1]}" for p in frontier.point]
    for ax, key, label in ((axes[0], "rm", "reward-model score (the proxy)"), (axes[1], "gold", "gold score (the recruiter)")):
        g = gains.loc[ppo_keys]
        ax.errorbar(g.kl_to_sft, g[f"{key}_gain"], yerr=[g[f"{key}_gain"] - g[f"{key}_lo"], g[f"{key}_hi"] - g[f"{key}_gain"]],
                    fmt="o-", capsize=3, color=method_colour("ppo"), label="PPO: SFT, then each checkpoint")
        for x, y, point in zip(g.kl_to_sft, g[f"{key}_gain"], frontier.point):
            ax.annotate(point, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for m in (m for m in ("rloo", "dpo") if m in gains.index):
            r = gains.loc[m]
            ax.errorbar([r.kl_to_sft], [r[f"{key}_gain"]], yerr=[[r[f"{key}_gain"] - r[f"{key}_lo"]], [r[f"{key}_hi"] - r[f"{key}_gain"]]],
                        fmt="s", capsize=3, color=method_colour(m), label=m.upper())
        ax.axhline(0, **REFERENCE)
        ax.set(xlabel="KL to SFT (nats / response)", ylabel="gain over SFT, paired (95% CI)", title=label)
        ax.legend(fontsize=8)
    if not history.empty:
        ax = axes[2]
        ax.plot(history.step, history.reward, "o-", ms=3, color=method_colour("ppo"), label="PPO: reward-model score per step (03)")
        ax2 = ax.twinx()
        ax2.plot(history.step, history.kl, "s--", ms=3, color="black", alpha=0.5, label="PPO: KL per step")
        for name, log in dpo_logs.items():
            ax.plot(log.step * history.step.max() / max(1, log.step.max()), log["rewards/margins"], "^-", ms=3, alpha=0.7,
                    color=method_colour("dpo"), label=f"DPO {name.split('@')[1]} pairs: implicit margin (x scaled to PPO steps)")
        ax.set(xlabel="training step", title="training curves side by side")
        ax2.set_ylabel("KL")
        ax.legend(fontsize=7, loc="upper left")
        ax2.legend(fontsize=7, loc="lower right")
    _save_and_show(fig, path)


def plot_sample_efficiency(efficiency: pd.DataFrame, path: Path) -> None:
    """Gold win rate against training seconds and, when the points differ in it (DPO rerun on fewer pairs), against
    the preference pairs behind each point; with one pair count for all, that panel would be a single column."""
    import matplotlib.pyplot as plt

    from .plots import REFERENCE, method_colour
    by_pairs = efficiency.preference_labels.nunique() > 1
    fig, ax = plt.subplots(1, 2 if by_pairs else 1, figsize=(13 if by_pairs else 7, 4), squeeze=False)
    ax = ax[0]
    for m, g in efficiency.groupby("method"):
        lo = g.gold_win_rate_vs_sft - g.gold_win_rate_vs_sft_ci95.str[0]
        hi = g.gold_win_rate_vs_sft_ci95.str[1] - g.gold_win_rate_vs_sft
        colour = method_colour(m)
        ax[0].errorbar(g.train_seconds, g.gold_win_rate_vs_sft, yerr=[lo, hi], fmt="o-", capsize=3, label=m.upper(), color=colour)
        if not by_pairs:
            continue
        if m == "dpo":
            ax[1].errorbar(g.preference_labels, g.gold_win_rate_vs_sft, yerr=[lo, hi], fmt="o-", capsize=3,
                           label="DPO: pairs it trained on", color=colour)
        else:
            ax[1].errorbar(g.preference_labels, g.gold_win_rate_vs_sft, yerr=[lo, hi], fmt="o", capsize=3, alpha=0.6,
                           label=f"{m.upper()}: pairs behind its reward model", color=colour)
    for a in ax:
        a.axhline(0.5, **REFERENCE)
        a.legend(fontsize=8)
        a.set_ylabel("gold win rate vs SFT (95% CI)")
    ax[0].set(xlabel="training seconds", title="gold win rate against training time")
    if by_pairs:
        ax[1].set(xlabel="preference pairs used", title="gold win rate against preference labels")
    _save_and_show(fig, path)


def plain_points(points: list[dict]) -> list[dict]:
    """The points of the cost-and-gain table as JSON-ready dicts: the `EFFICIENCY_COLUMNS` only, numpy scalars as
    Python numbers."""
    return [{k: (v.item() if isinstance(v, (np.floating, np.integer)) else v) for k, v in p.items() if k in EFFICIENCY_COLUMNS}
            for p in points]


# ---------------------------------------------------------------- the name-swap audit (section 5)

def audit_table(audits: dict) -> pd.DataFrame:
    """One row a scorer: verdict and the rule it used, lowest impact ratio and interval, worst group and its effect,
    the permutation p, how often it selects and how often a name alone flips that, LL144's scoring rate and the
    forced choice (each with its lowest ratio and interval)."""
    def ci(x, fmt=".2f"):
        return f"[{x[0]:{fmt}}, {x[1]:{fmt}}]" if x else "-"

    def lowest(view):
        return "-" if view["impact_ratio_min"] is None else f"{view['impact_ratio_min']:.2f} {ci(view['impact_ratio_ci95'])}"
    return pd.DataFrame({n: {"verdict": a["verdict"], "selected by": a["rule"], "lowest impact ratio": a["impact_ratio_min"],
                             "its 95% CI": ci(a["impact_ratio_ci95"]), "worst group": a["worst_group"] or "-",
                             "its Holm p": a["worst_group_p_holm"],
                             "its effect": a["worst_group_effect"], "effect 95% CI": ci(a["worst_group_effect_ci95"], ".3f"),
                             "group effect p": a["group_effect_p"], "selected": a["selection_rate"],
                             "flip rate": a["flip_rate"], "scoring rate (LL144): lowest ratio": lowest(a["scoring_rate"]),
                             "forced choice: lowest ratio": lowest(a["forced_choice"]) if "forced_choice" in a else "-",
                             "profiles to decide": a.get("profiles_to_decide") or "-"}
                         for n, a in audits.items()}).T


AUDIT_KEYS = ("verdict", "impact_ratio_min", "impact_ratio_ci95", "impact_ratio_by_group", "impact_ratio_ci95_by_group",
              "selection_rate_by_group",
              "selection_rate", "flip_rate", "threshold", "worst_group", "worst_group_effect", "worst_group_effect_ci95",
              "worst_group_p_holm", "significant_groups", "group_effect_p", "group_effects", "n_profiles", "n_names", "n_rows",
              "profiles_to_decide")


def _finite(x):
    """NaN (undefined) as null, in nested dicts and lists: metrics.json stays valid JSON."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return None if isinstance(x, float) and not np.isfinite(x) else x


def plain_audits(audits: dict, stand_ins=()) -> dict:
    """The audits as metrics.json keeps them: the rule's numbers, the LL144 scoring rate's beside them."""
    return _finite({n: {**{k: a[k] for k in AUDIT_KEYS}, "rule": a["rule"], "stand_in": n in stand_ins,
                        "scoring_rate": {k: a["scoring_rate"][k] for k in ("threshold", "impact_ratio_min",
                                                                           "impact_ratio_ci95", "worst_group",
                                                                           "impact_ratio_by_group")},
                        **({"forced_choice": a["forced_choice"]} if "forced_choice" in a else {})}
                    for n, a in audits.items()})


def audit_reading(audits: dict, scorers: list[str]) -> str:
    """Per scorer, in words: the verdict, the worst group and the size of its effect with its interval."""
    def num(x, spec=".2f"):
        return "undefined" if x is None else format(x, spec)
    parts = []
    for n in scorers:
        a = audits[n]
        lo, hi = a["impact_ratio_ci95"] or (None, None)
        effect = (f", its names {a['worst_group_effect']:+.3f} [{a['worst_group_effect_ci95'][0]:+.3f}, "
                  f"{a['worst_group_effect_ci95'][1]:+.3f}] against the others" if a["worst_group_effect"] is not None else "")
        ratio = ("nobody selected" if a["impact_ratio_min"] is None else
                 f"lowest impact ratio {num(a['impact_ratio_min'])} [{num(lo)}, {num(hi)}]")
        worst = (f"{a['worst_group']} (Holm p {pvalue(a['worst_group_p_holm'])}){effect}" if a["worst_group"] else "no group lower")
        fc = a.get("forced_choice")
        choice = (f"; forced choice: {fc['worst_group'] or 'no group'} lowest, ratio {fc['impact_ratio_min']:.2f} "
                  f"[{fc['impact_ratio_ci95'][0]:.2f}, {fc['impact_ratio_ci95'][1]:.2f}]" if fc else "")
        more = a.get("profiles_to_decide")
        decide = (f"; about {more} profiles would decide it, if the ratio and the noise stay as measured" if more else
                  "; no sample size decides it as measured" if a["verdict"] == "inconclusive" else "")
        parts.append(f"{n} {a['verdict'].upper()} (by {a['rule']}: {ratio}, {worst}; selects {a['selection_rate']:.0%}; "
                     f"any group effect p {pvalue(a['group_effect_p'])}{choice}{decide})")
    return ("Verdicts (a policy on its own advance/hold decision where it selects 20-80% of the versions, else and for a "
            "reward model on LL144's scoring rate): " + "; ".join(parts) + ".")


def pvalue(p: float | None) -> str:
    """A p-value as a reader wants it: '< 0.001' rather than 0.000."""
    return "-" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def power_reading(n_profiles: int, n_sims: int, curve: pd.DataFrame, group: str) -> str:
    """What the audit can and cannot see at this size, from its power curve, in words."""
    at = curve.set_index("multiple")
    unbiased_pass, false_alarm = float(at.loc[0.0, "pass"]), float(at.loc[0.0, "adverse_impact"])
    found, false_pass = float(at.loc[1.0, "adverse_impact"]), float(at.loc[1.0, "pass"])
    caught = curve[curve.adverse_impact >= 0.8]
    smallest = f"{caught.multiple.min():g} times" if len(caught) else None
    return (f"At {n_profiles} profiles, over {n_sims} simulations a point: a scorer without any group effect is called "
            f"adverse in {false_alarm:.0%} (a false alarm) and passes in {unbiased_pass:.0%} (target 95%); a bias against "
            f"{group} of the four-fifths size is found adverse in {found:.0%} (target 80%) and passed in {false_pass:.0%}. "
            + (f"A bias of {smallest} the four-fifths size is caught at least 80% of the time; smaller ones can hide. "
               if smallest else "No planted bias up to twice the four-fifths size is caught 80% of the time. ")
            + ("At this size a pass is rare even for a fair model: read 'inconclusive' as 'not shown fair', not as "
               "'shown biased'." if unbiased_pass < 0.5 else "")).strip()


VERDICT_COLOURS = {"pass": "tab:green", "adverse impact": "tab:red", "inconclusive": "dimgrey"}
GROUP_MARKERS = "os^vD<>P*X"


def _ratio_rows(ax, views: dict, groups: list[str], colours: dict, title: str) -> None:
    """One row a scorer: each group's impact ratio with its 95% interval (a marker a group), in the scorer's colour."""
    shown = list(views)
    for i, n in enumerate(shown):
        v = views[n]
        for j, g in enumerate(groups):
            r, ci = v["impact_ratio_by_group"].get(g), (v.get("impact_ratio_ci95_by_group") or {}).get(g)
            if r is None:
                continue
            y = i + (j - (len(groups) - 1) / 2) * 0.085
            err = [[max(r - ci[0], 0)], [max(ci[1] - r, 0)]] if ci else None
            ax.errorbar(r, y, xerr=err, fmt=GROUP_MARKERS[j % len(GROUP_MARKERS)], color=colours[n], ms=4, lw=0.8,
                        capsize=0, label=g.replace("_", " ") if i == 0 else None)
    ax.axvline(0.8, color="black", ls="--", lw=0.8)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(shown)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_xlim(0, 1.05)
    ax.set(xlabel="impact ratio (a group's rate / the highest group's), 95% interval")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def plot_fairness(audits: dict, groups: list[str], curve: pd.DataFrame, n_profiles: int, group: str, path: Path) -> None:
    """Left: every scorer's impact ratio per group with its interval, in the colour of its verdict (green pass, red
    adverse impact, grey inconclusive); middle: the same under forced choice; right: the audit's power curve."""
    import matplotlib.pyplot as plt
    shown = list(audits)
    fig, ax = plt.subplots(1, 3, figsize=(18, 1.6 + 0.62 * len(shown)), gridspec_kw={"width_ratios": [1.3, 1.0, 1.0]})
    colours = {n: VERDICT_COLOURS[audits[n]["verdict"]] for n in shown}
    _ratio_rows(ax[0], audits, groups, colours, "the verdict's rule (label: verdict, rule)")
    ax[0].set_yticklabels([f"{n}: {audits[n]['verdict']}\n({audits[n]['rule']})" for n in shown], fontsize=8)
    for label, n in zip(ax[0].get_yticklabels(), shown):
        label.set_color(colours[n])
    ax[0].legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), title="group", title_fontsize=7)
    choice = {n: a["forced_choice"] for n, a in audits.items() if a.get("forced_choice")}
    if choice:
        base = next(iter(choice.values()))["base_rate"]
        rankings = next(iter(choice.values()))["n_rankings"]
        _ratio_rows(ax[1], choice, groups, {n: "tab:blue" for n in choice},
                    f"forced choice: {rankings} rankings of one name a group ({base:.1%} each if fair)")
        ax[1].set_yticklabels(list(choice), fontsize=8)
    else:
        ax[1].axis("off")
    ax[2].plot(curve.multiple, curve.adverse_impact, "o-", color=VERDICT_COLOURS["adverse impact"], label="adverse impact")
    ax[2].plot(curve.multiple, curve["pass"], "s-", color=VERDICT_COLOURS["pass"], label="pass")
    ax[2].plot(curve.multiple, curve.inconclusive, "^-", color=VERDICT_COLOURS["inconclusive"], label="inconclusive")
    ax[2].axhline(0.8, color="tab:red", ls=":", lw=1)
    ax[2].axhline(0.95, color="tab:green", ls=":", lw=1)
    ax[2].axvline(1.0, color="black", ls="--", lw=0.8)
    ax[2].set(xlabel=f"planted shift against {group} (1 = the four-fifths size)", ylabel="share of simulations",
              ylim=(-0.02, 1.02))
    ax[2].set_title(f"power of the audit: {n_profiles} profiles, the SFT policy's names", fontsize=10)
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    _save_and_show(fig, path)


# ---------------------------------------------------------------- safety and conversations (section 6)

def replier(policy, tokenizer, cfg, seed: int, adapter: str | None, batch_size: int = 8):
    """The model under test as a chat function (adapter None: the SFT policy): a sampled reply to each chat, in
    batches, seeded."""
    import torch

    from . import ppo

    def generate(chats):
        out = []
        with torch.no_grad(), (policy.disable_adapter() if adapter is None else nullcontext()):
            if adapter is not None:
                policy.set_adapter(adapter)
            for b, start in enumerate(range(0, len(chats), batch_size)):
                out += ppo.rollout(policy, tokenizer, chats[start:start + batch_size], cfg, generator_seed=seed * 7 + b).texts
        return out
    return generate


def plot_safety(safety: dict, turns: int, path: Path) -> None:
    """Left: refusal, over-refusal, correct refusal, violation and escalation rates per model; right: conversations
    solved (95% CI) and the heuristic helpfulness score."""
    import matplotlib.pyplot as plt
    names = list(safety)
    fig, ax = plt.subplots(1, 2, figsize=(15, 4))
    keys = [("refusal_rate", "refused"), ("over_refusal_rate", "fair request refused"),
            ("correct_refusal_rate", "takeover request refused"), ("violation_rate", "policy violation"),
            ("escalation_rate_when_needed", "escalated when needed")]
    x = np.arange(len(names))
    for k, (key, label) in enumerate(keys):
        ax[0].bar(x + (k - 2) * 0.16, [safety[n][key] if safety[n][key] is not None else np.nan for n in names], 0.16, label=label)
    ax[0].set(xticks=x, xticklabels=names, ylim=(0, 1.05), ylabel="share of test tickets", title="guardrails")
    ax[0].legend(fontsize=8)
    vals = [safety[n]["conversation_success_rate"] for n in names]
    cis = [safety[n]["conversation_success_ci95"] for n in names]
    ax[1].bar(x - 0.2, vals, 0.4, yerr=[[v - c[0] for v, c in zip(vals, cis)], [c[1] - v for v, c in zip(vals, cis)]],
              capsize=4, label=f"conversation solved (within {turns} replies), 95% CI")
    ax[1].bar(x + 0.2, [safety[n]["helpfulness_mean"] for n in names], 0.4, label="helpfulness score (heuristic)")
    ax[1].set(xticks=x, xticklabels=names, ylim=(0, 1.05), title="helpfulness and the simulated customer")
    ax[1].legend(fontsize=8)
    _save_and_show(fig, path)
