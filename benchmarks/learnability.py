"""Can the 135M model learn the hiring decision? SFT on careful assessments only, judged on test assessments.

    python -m benchmarks.learnability --card job_order --demos 320 --layers 8     # one configuration, one process
    python -m benchmarks.learnability --report                                    # the table and the figure

Each run fine-tunes the profile's base model (TRL's SFTTrainer through helpers.sft, LoRA on the top `--layers` blocks,
0 = all) on `--demos` careful assessments (every decision taught is right: it follows world.SCREENING_RULE), written in
the `--answer` format for prompts rendered with the `--card` form, then answers the pool's test assessments greedily
and at the evaluation temperature. It appends one row to reports/learnability.jsonl: decision accuracy, how often the
required skills the answer lists as held and as missing are exactly right, the false-gap rate (a held required skill
named as missing) and the seconds it took. `--report` writes reports/LEARNABILITY.md and reports/learnability.png.

Card forms (the candidate's line of the prompt):
    listed      the candidate's skills in a random order (how the task rendered them until these runs)
    job_order   the required skills the candidate holds first, in the job's order, then the others (the task's card now)
Answer formats (the prompt's instruction, world.INSTRUCTIONS, states the screening rule for both):
    evidence    evidence first: "Holds A, B and C (3 of 4 required); missing D. 5 yrs, 4+ asked. Decision: advance"
    walk        the task's careful assessment (world.checklist): the job's required skills one by one, then the count
                and the years against the rule: "Has A, has B, no C, has D: 3 of 4 required. 5 yrs, 4+ asked: enough
                years. Decision: advance"
Before the task adopted the walk, its assessments were a sentence of prose; with prose, LoRA on the top 8 blocks and
316 demonstrations, an earlier probe decided right 0.56 greedy (issue notes, not in this table).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from helpers import config, models, sft
from helpers.generation import sample
from helpers.scoring import proportion_ci
from helpers.tasks.hiring import rubric, world

OUT = config.ROOT / "reports" / "learnability.jsonl"


def carded(p: dict, card: str) -> dict:
    """The prompt with the candidate's skills in the card's order (the task's instruction states the rule)."""
    q = copy.deepcopy(p)
    if card == "job_order":
        req = q["job"]["required"]
        q["candidate"]["skills"] = [s for s in req if s in q["candidate"]["skills"]] + \
            [s for s in q["candidate"]["skills"] if s not in req]
    elif card == "listed":
        config.keyed_rng("card", p["id"]).shuffle(q["candidate"]["skills"])
    else:
        raise ValueError(f"unknown card form {card!r}")
    q["messages"] = world.messages(q)
    return q


def _and(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def evidence_answer(p: dict) -> str:
    """The careful recruiter's evidence-first assessment."""
    c, f, job = p["candidate"], p["facts"], p["job"]
    held, missing, n = f["relevant_skills"], f["missing_skills"], len(job["required"])
    if not missing:
        skills = f"Holds all {n} required: {_and(held)}."
    elif not held:
        skills = f"Holds none of the {n} required; missing {_and(missing)}."
    else:
        skills = f"Holds {_and(held)} ({len(held)} of {n} required); missing {_and(missing)}."
    years = f"{c['years']} yr{'' if c['years'] == 1 else 's'}"
    return f"{skills} {years}, {job['min_years']}+ asked.\nDecision: {f['decision']}"


def listed_as(text: str) -> tuple[set, set]:
    """The skills an evidence-format answer lists as held (before 'missing') and as missing (after it); a walk answer's
    by each skill's own cue."""
    if re.match(r"\s*(has|no)\b", text, re.I):
        framed = rubric.skill_mentions(text.split("\n")[0])
        return {s for s, f in framed if f == "held"}, {s for s, f in framed if f == "missing"}
    parts = re.split(r"\bmissing\b", text.split("\n")[0], maxsplit=1, flags=re.I)
    head, tail = parts[0], (parts[1] if len(parts) > 1 else "")
    tail = re.split(r"\.(?:\s|$)", tail, maxsplit=1)[0]
    return set(rubric.mentioned_skills(head)), set(rubric.mentioned_skills(tail))


def lookups(prompts: list[dict], texts: list[str]) -> dict:
    """How each required skill is marked against the card: the share of held ones the answers call held, and of missing
    ones they call missing (a policy that writes "has" for every skill scores 1 and 0), and the share usable as it
    stands by the gold rubric."""
    held_hits = held_n = miss_hits = miss_n = usable = 0
    for p, t in zip(prompts, texts):
        framed = dict(rubric.skill_mentions(t.split("\n")[0]))
        for skill in p["job"]["required"]:
            if skill in p["candidate"]["skills"]:
                held_n += 1
                held_hits += framed.get(skill) == "held"
            else:
                miss_n += 1
                miss_hits += framed.get(skill) == "missing"
        usable += rubric.score(p, t).criteria["usable"]
    return {"held_called_held": round(held_hits / max(held_n, 1), 4), "missing_called_missing": round(miss_hits / max(miss_n, 1), 4),
            "usable": round(usable / max(len(texts), 1), 4)}


def measure(prompts: list[dict], texts: list[str]) -> dict:
    right = held_ok = missing_ok = false_gap = said = 0
    for p, t in zip(prompts, texts):
        d = rubric.decision_of(t)
        said += d is not None
        right += d == p["facts"]["decision"]
        held, missing = listed_as(t)
        held_ok += held == set(p["facts"]["relevant_skills"])
        missing_ok += missing == set(p["facts"]["missing_skills"])
        false_gap += bool(missing & set(p["candidate"]["skills"]))
    n = len(prompts)
    return {"decision_accuracy": round(right / n, 4), "decided": round(said / n, 4), "held_exact": round(held_ok / n, 4),
            "missing_exact": round(missing_ok / n, 4), "false_gap_rate": round(false_gap / n, 4), "n": n,
            **lookups(prompts, texts)}


def run(args) -> dict:
    profile, precision = config.choose_profile(), config.choose_precision()
    config.seed_everything(profile.seed)
    train = [carded(p, args.card) for p in world.generate(args.demos, seed=args.seed, kind="assessment")]
    test = [carded(p, args.card) for p in world.build_prompts()["test"] if p["kind"] == "assessment"]
    write = {"evidence": evidence_answer, "walk": world.checklist}[args.answer]
    rows = [{"prompt_id": p["id"], "kind": p["kind"], "writer": "writer_careful", "prompt": p["messages"],
             "completion": [{"role": "assistant", "content": write(p)}]} for p in train]
    prof = profile.__class__(**{**profile.__dict__, "sft_lora_layers": args.layers, "sft_epochs": args.epochs})
    base = models.resolve_model(profile)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "policy"
        log = sft.train(base.path, rows, prof, precision, folder, base.name)
        sft_seconds = time.perf_counter() - start
        model = models.load_model(str(folder), "policy", precision, frozen=True)
        tok = models.load_tokenizer(str(folder))
        out = {}
        for mode, greedy in (("greedy", True), ("t0.7", False)):
            got = sample(model, tok, test, max_new_tokens=profile.max_new_tokens, temperature=profile.eval_temperature,
                         top_p=profile.top_p, batch_size=profile.gen_batch_size, seed=profile.seed,
                         max_prompt_tokens=profile.max_prompt_tokens, greedy=greedy, desc=mode)
            out[mode] = {**measure(test, [g.text for g in got]), "examples": [g.text for g in got[:5]]}
            if greedy:   # every greedy answer, to read where the decision goes wrong (skills, years, or the rule)
                out[mode]["answers"] = {p["id"]: g.text for p, g in zip(test, got)}
    return {"card": args.card, "answer": args.answer, "demos": args.demos, "layers": args.layers, "epochs": args.epochs,
            "profile": profile.name, "precision": precision.describe(), "sft_seconds": round(sft_seconds, 1),
            "final_loss": log["log"][-1]["loss"] if log["log"] else None, "seconds": round(time.perf_counter() - start, 1),
            **out}


def reward_curve(args) -> list[dict]:
    """The reward model's held-out accuracy against gold, overall and on the pairs a dealbreaker decides (a factual
    error or the wrong decision on one side only), against the number of training pairs. The pairs: `--k` answers of
    the `--policy` SFT model to `--prompts` generated prompts of every kind (6 comparisons a prompt, as 01 draws
    them), labelled by the gold rubric (ties dropped); the held-out pairs come from `--heldout` other prompts."""
    from helpers import records, reward, tasks
    task, profile, precision = tasks.get("hiring"), config.choose_profile(), config.choose_precision()
    config.seed_everything(profile.seed)
    model = models.load_model(args.policy, "policy", precision, frozen=True)
    tok = models.load_tokenizer(args.policy)
    train_p = world.generate(args.prompts, seed=args.seed + 1)
    held_p = world.generate(args.heldout, seed=args.seed + 2, start=200_000)
    prompts = {p["id"]: p for p in train_p + held_p}
    got = sample(model, tok, train_p + held_p, k=args.k, max_new_tokens=profile.max_new_tokens,
                 temperature=profile.temperature, top_p=profile.top_p, batch_size=profile.gen_batch_size,
                 seed=profile.seed, max_prompt_tokens=profile.max_prompt_tokens, desc="answers")
    del model
    by_prompt: dict = {}
    for g in got:
        by_prompt.setdefault(g.prompt_id, []).append(g.text)

    def labelled(ids):
        out = []
        for r in records.make_pairs({i: by_prompt[i] for i in ids}, 6, profile.seed):
            p = prompts[r["prompt_id"]]
            a, b = rubric.score(p, r["response_a"]), rubric.score(p, r["response_b"])
            if abs(a.total - b.total) < 1e-9:
                continue
            good, bad = (r["response_a"], r["response_b"]) if a.total > b.total else (r["response_b"], r["response_a"])
            breaks = [rubric.dealbreaker(x) for x in (a, b)]
            out.append({"prompt": task.messages(p), "chosen": [{"role": "assistant", "content": good}],
                        "rejected": [{"role": "assistant", "content": bad}], "dealbreaker": bool(breaks[0]) != bool(breaks[1])})
        return out
    train, held = labelled([p["id"] for p in train_p]), labelled([p["id"] for p in held_p])
    usable = sum(rubric.score(prompts[g.prompt_id], g.text).criteria["usable"] for g in got) / len(got)
    rows = []
    for n in sorted(int(x) for x in args.pairs.split(",")):
        if n > len(train):
            print(f"only {len(train)} labelled training pairs: skipping {n}")
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            steps = max(1, round(args.rm_epochs * n / profile.rm_batch_size))
            trainer = reward.build_trainer(args.policy, train[:n], profile, precision, Path(tmp), steps=steps)
            trainer.train()
            ra, rb = reward.score(trainer.model, trainer.processing_class, [r["prompt"] for r in held],
                                  [r["chosen"][0]["content"] for r in held]), \
                reward.score(trainer.model, trainer.processing_class, [r["prompt"] for r in held],
                             [r["rejected"][0]["content"] for r in held])
        hit = (ra > rb).numpy()
        brk = np.array([r["dealbreaker"] for r in held], bool)
        rows.append({"kind": "reward", "policy": args.policy, "train_pairs": n, "steps": steps, "epochs": args.rm_epochs,
                     "heldout_pairs": len(held), "heldout_accuracy": round(float(hit.mean()), 4),
                     "heldout_dealbreaker_pairs": int(brk.sum()),
                     "heldout_accuracy_on_dealbreakers": round(float(hit[brk].mean()), 4) if brk.any() else None,
                     "answers_usable": round(usable, 4), "seconds": round(time.perf_counter() - start, 1)})
        print(rows[-1])
    return rows


def rl_gold(args) -> list[dict]:
    """Can RL teach what SFT did not (the look-up of a missing skill)? PPO (helpers/ppo.py, 03's settings: value head,
    kept trunk, merged sampler copy) from the `--policy` SFT model on generated assessments, with the gold rubric
    itself as the reward: the ceiling a perfect reward model would give. Judged greedy on the pool's test assessments
    before and after, and every `--rl-eval-every` steps."""
    import torch

    from helpers import ppo, tasks
    task, profile, precision = tasks.get("hiring"), config.choose_profile(), config.choose_precision()
    config.seed_everything(profile.seed)
    train_p = world.generate(args.prompts, seed=args.seed + 3, kind="assessment", start=300_000)
    test = [p for p in world.build_prompts()["test"] if p["kind"] == "assessment"]
    gold = task.rollout_evaluators(train_p)["gold"]
    tok = models.load_tokenizer(args.policy, padding_side="left")
    policy = ppo.policy_model(args.policy, precision, r=profile.lora_r, top_layers=args.layers or None)
    cfg = ppo.PPOConfig(steps=args.rl_steps, batch_size=args.rl_batch, minibatch_size=max(2, args.rl_batch // 2),
                        ppo_epochs=2, learning_rate=args.rl_lr, critic_learning_rate=args.rl_lr, max_grad_norm=1.0,
                        value_head=True, trunk=True, sampler_copy=True, kl_coef=args.rl_kl, kl_target=None,
                        kl_estimator="k1", gamma=1.0, lam=0.95, clip=0.2, clip_value=0.2,
                        max_new_tokens=profile.max_new_tokens, no_eos_penalty=1.0, temperature=1.0, seed=profile.seed)
    trainer = ppo.PPO(policy, None, tok, lambda chats, texts: torch.tensor(gold(chats, texts)), cfg)
    chats = [task.messages(p) for p in train_p]

    def judge(step, seconds):
        got = sample(policy, tok, test, max_new_tokens=profile.max_new_tokens, batch_size=profile.gen_batch_size,
                     seed=profile.seed, max_prompt_tokens=profile.max_prompt_tokens, greedy=True, desc=f"step {step}")
        texts = [g.text for g in got]
        m = measure(test, texts)
        m.pop("n")
        return {"kind": "rl_gold", "policy": args.policy, "step": step, "episodes": step * args.rl_batch,
                "gold_mean": round(sum(rubric.score(p, t).total for p, t in zip(test, texts)) / len(test), 4),
                **m, "seconds": round(seconds, 1), "lr": args.rl_lr, "kl_coef": args.rl_kl,
                "examples": texts[:3]}
    rows, start = [judge(0, 0.0)], time.perf_counter()
    print(rows[-1])
    for step in range(args.rl_steps):
        trainer.train_step(ppo.prompt_batch(chats, step, args.rl_batch, profile.seed))
        if (step + 1) % args.rl_eval_every == 0 or step + 1 == args.rl_steps:
            rows.append({**judge(step + 1, time.perf_counter() - start), "kl": trainer.history[-1].get("kl"),
                         "reward": trainer.history[-1].get("reward")})
            print({k: v for k, v in rows[-1].items() if k != "examples"})
    return rows


def report() -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(x) for x in OUT.read_text().splitlines() if x.strip()]
    sft_rows = [r for r in rows if r.get("kind") not in ("reward", "rl_gold")]
    rm_rows, rl_rows = [r for r in rows if r.get("kind") == "reward"], [r for r in rows if r.get("kind") == "rl_gold"]
    lines = ["# Learnability of the hiring judgement", "",
             "Written by `python -m benchmarks.learnability --report` from reports/learnability.jsonl (one row a run, "
             "with the commit it ran from). Profile cpu, SmolLM2-135M-Instruct, this machine's CPU.", "",
             "## The SFT policy's decision: careful assessments only, judged on the pool's test assessments", "",
             "Decision accuracy, exact lists of the required skills held and missing, the false-gap rate (a held skill "
             "named missing), greedy / temperature 0.7; then, greedy, how each required skill is marked against the "
             "card (held ones called held, missing ones called missing: a policy that calls everything held scores 1 "
             "and 0, and decides by the years alone) and the share usable as it stands (gold rubric). For rows written "
             "before these three columns existed they are computed here from the row's saved greedy answers, with this "
             "commit's rubric.", "",
             "| card | answer | demos | LoRA blocks | epochs | decision acc | held exact | missing exact | false gaps | "
             "held called held | missing called missing | usable | SFT s | commit |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    test = {p["id"]: p for p in world.build_prompts()["test"]}
    for r in sft_rows:
        g, t = r["greedy"], r["t0.7"]
        if "missing_called_missing" not in g and "answers" in g:   # rows written before lookups() existed
            g.update(lookups([test[i] for i in g["answers"]], list(g["answers"].values())))
        look = (f"{g['held_called_held']:.2f} | {g['missing_called_missing']:.2f} | {g['usable']:.2f}"
                if "missing_called_missing" in g else "- | - | -")
        lines.append(f"| {r['card']} | {r['answer']} | {r['demos']} | {r['layers'] or 'all'} | {r['epochs']:g} | "
                     f"{g['decision_accuracy']:.2f} / {t['decision_accuracy']:.2f} | {g['held_exact']:.2f} / "
                     f"{t['held_exact']:.2f} | {g['missing_exact']:.2f} / {t['missing_exact']:.2f} | "
                     f"{g['false_gap_rate']:.2f} / {t['false_gap_rate']:.2f} | {look} | {r['sft_seconds']:.0f} | "
                     f"{r.get('commit', '')} |")
    if rm_rows:
        lines += ["", "## The reward model: held-out accuracy against gold by the number of training pairs", "",
                  "Pairs of the SFT policy's own answers (4 a prompt, 6 comparisons a prompt), labelled by the gold "
                  "rubric; a dealbreaker pair has a factual error or the wrong decision on one side only. The interval "
                  "treats held-out pairs as independent; six come from each prompt, so it is somewhat too narrow.", "",
                  "| policy | training pairs | epochs | held-out accuracy [95% Wilson interval] | on dealbreaker pairs | "
                  "held-out pairs (dealbreaker) | s | commit |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in rm_rows:
            brk = "-" if r["heldout_accuracy_on_dealbreakers"] is None else f"{r['heldout_accuracy_on_dealbreakers']:.2f}"
            lo, hi = proportion_ci(r["heldout_accuracy"] * r["heldout_pairs"], r["heldout_pairs"])
            lines.append(f"| {Path(r['policy']).name} | {r['train_pairs']} | {r['epochs']:g} | "
                         f"{r['heldout_accuracy']:.2f} [{lo:.2f}, {hi:.2f}] | "
                         f"{brk} | {r['heldout_pairs']} ({r['heldout_dealbreaker_pairs']}) | {r['seconds']:.0f} | {r['commit']} |")
    if rl_rows:
        lines += ["", "## PPO with the gold rubric as the reward: what a perfect reward model would teach", "",
                  "From an SFT policy of the table above, on generated assessments; judged greedy on the test assessments.",
                  "", "| policy | episodes | gold mean | decision acc | held called held | missing called missing | usable | "
                  "KL | s | commit |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in rl_rows:
            kl = "-" if r.get("kl") is None else f"{r['kl']:.2f}"
            lines.append(f"| {Path(r['policy']).name} | {r['episodes']} | {r['gold_mean']:.3f} | {r['decision_accuracy']:.2f} | "
                         f"{r['held_called_held']:.2f} | {r['missing_called_missing']:.2f} | {r['usable']:.2f} | {kl} | "
                         f"{r['seconds']:.0f} | {r['commit']} |")
    (config.ROOT / "reports" / "LEARNABILITY.md").write_text("\n".join(lines) + "\n")
    fig, axes = plt.subplots(1, 2 if rm_rows else 1, figsize=(12 if rm_rows else 7, 4.5), squeeze=False)
    ax = axes[0][0]
    series = {}
    for r in sft_rows:
        g = r["greedy"]
        series.setdefault((r["card"], r["answer"], r["layers"]), []).append(
            (r["demos"], g["decision_accuracy"], g.get("missing_called_missing", float("nan"))))
    for (card, answer, layers), pts in sorted(series.items()):
        pts.sort()
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{card} card, {answer}, LoRA {layers or 'all'}")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], marker="x", ls=":", color=line.get_color())
    ax.axhline(0.7, color="grey", ls="--", lw=1)
    demos = sorted({r["demos"] for r in sft_rows})
    ax.set(xlabel="careful demonstrations (assessments)", ylabel="share of test assessments (greedy)", ylim=(0, 1.02),
           xticks=demos, title="SFT: o decision right, x missing skill called missing")
    ax.legend(fontsize=7)
    if rm_rows:
        ax = axes[0][1]
        by_n = sorted(rm_rows, key=lambda r: r["train_pairs"])
        pts = [(r["train_pairs"], r["heldout_accuracy"], r["heldout_accuracy_on_dealbreakers"] or float("nan")) for r in by_n]
        ci = [proportion_ci(r["heldout_accuracy"] * r["heldout_pairs"], r["heldout_pairs"]) for r in by_n]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=np.array([[p[1] - lo, hi - p[1]] for p, (lo, hi) in zip(pts, ci)]).T,
                    marker="o", capsize=3, label="all held-out pairs (95% Wilson interval)")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], marker="s", label="pairs a dealbreaker decides")
        ax.axhline(0.8, color="grey", ls="--", lw=1)
        ax.set(xscale="log", xlabel="training pairs (gold labels)", ylabel="held-out accuracy vs gold", ylim=(0.4, 1),
               title="Reward model: does it learn the recruiter?")
        ax.set_xticks([p[0] for p in pts], [str(p[0]) for p in pts])      # the sizes measured, not powers of ten
        ax.minorticks_off()
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(config.ROOT / "reports" / "learnability.png", dpi=120)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--card", default="job_order", choices=("listed", "job_order"))
    ap.add_argument("--answer", default="walk", choices=("evidence", "walk"))
    ap.add_argument("--demos", type=int, default=320)
    ap.add_argument("--layers", type=int, default=8, help="LoRA on the top N blocks, 0 = all")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", default=None, help="save the SFT policy in this folder (for --reward-curve)")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--reward-curve", action="store_true", help="the reward model's accuracy against training pairs")
    ap.add_argument("--policy", default=None, help="--reward-curve: the SFT policy whose answers are compared")
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument("--heldout", type=int, default=60)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--pairs", default="200,400,800,1600")
    ap.add_argument("--rm-epochs", type=float, default=1.0)
    ap.add_argument("--rl-gold", action="store_true", help="PPO from --policy with the gold rubric as the reward")
    ap.add_argument("--rl-steps", type=int, default=24)
    ap.add_argument("--rl-batch", type=int, default=16)
    ap.add_argument("--rl-lr", type=float, default=5e-4)
    ap.add_argument("--rl-kl", type=float, default=0.02)
    ap.add_argument("--rl-eval-every", type=int, default=8)
    args = ap.parse_args(argv)
    if args.report:
        return report()
    from benchmarks.bench import commit
    made = reward_curve(args) if args.reward_curve else rl_gold(args) if args.rl_gold else [run(args)]
    new = [{**r, "commit": commit()} for r in made]
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("a") as f:
        for row in new:
            f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in new[-1].items() if k not in ("precision", "greedy", "t0.7")}, indent=1))


if __name__ == "__main__":
    main()
