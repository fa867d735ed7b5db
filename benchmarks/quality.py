"""`make bench-quality`: does the default precision change what the stages learn? fp32 against the default, side by
side, on the same subset and seeds.

    python -m benchmarks.quality [--demos 160] [--pairs 480] [--test 100]

For each precision, in this process, from the profile's base model:
- SFT on `--demos` demonstrations (one epoch), then one sampled answer to each of `--test` test prompts at the
  evaluation decoding, scored by the gold rubric: mean gold score with its 95% interval;
- a reward model trained on the shipped sample comparisons of the train prompts, labelled by the gold rubric (ties
  dropped), and its accuracy on the held-out prompts' comparisons (every `heldout_every`-th prompt, as 02 holds
  out), Wilson interval;
- DPO on the same pairs (from the base model) and its implicit-reward accuracy on the same held-out comparisons.

Writes reports/quality_precision.json and reports/QUALITY_PRECISION.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench import commit
from helpers import agreement, config, dpo, models, records, reward, scoring, sft, tasks
from helpers.generation import sample


def mean_ci(x) -> list[float]:
    x = np.asarray(x, float)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    return [round(float(x.mean() - half), 4), round(float(x.mean() + half), 4)]


def gold_pairs(task, paths, every: int):
    """The shipped sample's comparisons, one a pair, labelled by the gold rubric (ties dropped): (train, held-out) TRL
    rows, the held-out ones on every `every`-th prompt."""
    recs = records.read_jsonl(paths.data / "sample_preferences.jsonl")
    prompts = {p["id"]: p for p in task.load_prompts("train", path=paths.data / "prompts.jsonl")}
    seen, rows = set(), []
    for r in recs:
        key = r["tags"].get("pair_id", r["id"].split("@")[0])
        if key in seen or r["prompt_id"] not in prompts:
            continue
        seen.add(key)
        p = prompts[r["prompt_id"]]
        verdict = task.prefer(p, r["response_a"], r["response_b"])
        if verdict == "tie":
            continue
        chosen, rejected = (r["response_a"], r["response_b"]) if verdict == "a" else (r["response_b"], r["response_a"])
        rows.append({"prompt_id": p["id"], "prompt": task.messages(p), "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    held = agreement.heldout_prompt_ids([{"prompt_id": r["prompt_id"]} for r in rows], every)
    return [r for r in rows if r["prompt_id"] not in held], [r for r in rows if r["prompt_id"] in held]


def run(precision_name: str, a, profile, task, paths) -> dict:
    os.environ[config.PRECISION_ENV] = precision_name
    precision = config.choose_precision()
    base = models.resolve_model(profile).path
    out, tmp = {"precision": precision.describe()}, Path(tempfile.mkdtemp(prefix=f"feedbackloop-quality-{precision_name}-"))
    config.seed_everything(profile.seed)

    # SFT, then gold on test answers
    start = time.perf_counter()
    demos = sft.demonstrations(task, sft.demo_prompts(task, a.demos, paths), profile.seed)
    sft.train(base, demos, profile.replace(sft_epochs=1), precision, tmp / "sft")
    policy = models.load_model(str(tmp / "sft"), "policy", precision, frozen=True)
    tok = models.load_tokenizer(str(tmp / "sft"), padding_side="left")
    test = task.load_prompts("test", a.test, path=paths.data / "prompts.jsonl")
    answers = sample(policy, tok, [{"id": p["id"], "messages": task.messages(p)} for p in test], k=1,
                     max_new_tokens=profile.max_new_tokens, temperature=profile.eval_temperature, top_p=1.0,
                     batch_size=profile.gen_batch_size, seed=profile.eval_seed, max_prompt_tokens=profile.max_prompt_tokens,
                     desc=f"SFT answers ({precision_name})")
    gold = [task.score(p, s.text).total for p, s in zip(test, answers)]
    out["sft"] = {"demonstrations": len(demos), "test_prompts": len(test), "gold_mean": round(float(np.mean(gold)), 4),
                  "gold_ci95": mean_ci(gold), "seconds": round(time.perf_counter() - start, 1)}
    del policy

    train, held = gold_pairs(task, paths, profile.heldout_every)
    train = train[:a.pairs]
    max_length = profile.max_prompt_tokens + profile.max_new_tokens

    # reward model
    start = time.perf_counter()
    steps = max(1, len(train) // profile.rm_batch_size)
    trainer = reward.build_trainer(base, train, profile, precision, tmp / "rm", steps=steps)
    trainer.train()
    rm = trainer.model
    tok_r = trainer.processing_class
    chosen = reward.score(rm, tok_r, [r["prompt"] for r in held], [r["chosen"][0]["content"] for r in held], max_length=max_length)
    rejected = reward.score(rm, tok_r, [r["prompt"] for r in held], [r["rejected"][0]["content"] for r in held], max_length=max_length)
    right = int((chosen > rejected).sum())
    out["reward_model"] = {"train_pairs": steps * profile.rm_batch_size, "heldout_pairs": len(held),
                           "heldout_accuracy": round(right / len(held), 4), "ci95": scoring.proportion_ci(right, len(held)),
                           "seconds": round(time.perf_counter() - start, 1)}
    del trainer, rm

    # DPO
    start = time.perf_counter()
    steps = max(1, len(train) // profile.dpo_batch_size)
    trainer = dpo.build_trainer(base, train, profile, precision, tmp / "dpo", steps=steps)
    trainer.train()
    implicit = dpo.implicit_rewards(trainer.model, trainer.processing_class, held, beta=0.1, max_length=max_length)
    right = int((implicit["chosen"] > implicit["rejected"]).sum())
    out["dpo"] = {"train_pairs": steps * profile.dpo_batch_size, "heldout_pairs": len(held),
                  "implicit_accuracy": round(right / len(held), 4), "ci95": scoring.proportion_ci(right, len(held)),
                  "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(out), flush=True)
    return out


def overlaps(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def markdown(result: dict) -> str:
    f, d = result["fp32"], result["default"]
    name = d["precision"]["compute"]
    rows = [("SFT: gold score of test answers", "sft", "gold_mean", "gold_ci95"),
            ("reward model: held-out accuracy vs gold", "reward_model", "heldout_accuracy", "ci95"),
            ("DPO: implicit-reward accuracy, held out", "dpo", "implicit_accuracy", "ci95")]
    lines = ["# Quality under the default precision against fp32", "",
             f"Written by `python -m benchmarks.quality` at commit {result['commit']}, profile {result['profile']}, "
             f"on {result['hardware']}. Same subset, same seeds; the default here is {name} "
             f"({d['precision']['reason']}). SFT: {f['sft']['demonstrations']} demonstrations, one epoch, "
             f"{f['sft']['test_prompts']} test answers. Reward model and DPO: {f['reward_model']['train_pairs']} train pairs "
             f"of the shipped sample labelled by the gold rubric, {f['reward_model']['heldout_pairs']} held out.", "",
             f"| measure | fp32 | {name} | intervals overlap |", "|---|---|---|---|"]
    for label, stage, key, ci in rows:
        a, b = f[stage], d[stage]
        lines.append(f"| {label} | {a[key]:.3f} [{a[ci][0]:.3f}, {a[ci][1]:.3f}] | {b[key]:.3f} [{b[ci][0]:.3f}, {b[ci][1]:.3f}] | "
                     f"{'yes' if overlaps(a[ci], b[ci]) else 'NO'} |")
    lines += ["", "| seconds | fp32 | " + name + " |", "|---|---:|---:|"]
    lines += [f"| {stage} | {f[stage]['seconds']:.0f} | {d[stage]['seconds']:.0f} |" for stage in ("sft", "reward_model", "dpo")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demos", type=int, default=160)
    parser.add_argument("--pairs", type=int, default=480)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--out", default=None)
    a = parser.parse_args(argv)
    profile = config.choose_profile(a.profile)
    task = tasks.get("hiring")
    paths = config.paths(profile, "hiring")
    out = Path(a.out) if a.out else config.ROOT / "reports" / ("smoke" if profile.name == "smoke" else "")
    out.mkdir(parents=True, exist_ok=True)
    from helpers.report import hardware
    result = {"commit": commit(), "profile": profile.name, "hardware": hardware(), "torch": torch.__version__,
              "fp32": run("fp32", a, profile, task, paths), "default": run("auto", a, profile, task, paths)}
    (out / "quality_precision.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "QUALITY_PRECISION.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
